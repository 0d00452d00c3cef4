/**
 * Loads Braid's optional native addons (native/*.cc, built at install by
 * scripts/build-native.mjs). Each is optional: a missing or unloadable addon is reported
 * with its reason and the caller uses its portable path (node:dgram, sodium-native).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type AddonName = 'braid_udp' | 'braid_netlink' | 'braid_tun' | 'braid_crypto';

const cache = new Map<AddonName, { module?: unknown; error?: string }>();

/** The addon's exports, or the reason it is unavailable. Cached: each addon is looked up once. */
export function loadAddon<T>(name: AddonName): { module?: T; error?: string } {
  let entry = cache.get(name);
  if (entry === undefined) {
    entry = find(name);
    cache.set(name, entry);
  }
  return entry as { module?: T; error?: string };
}

function find(name: AddonName): { module?: unknown; error?: string } {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/native (tsx) or dist/src/native (built): the addons are in the package's build/.
  const candidates = [
    join(here, '..', '..', 'build', 'Release', `${name}.node`),
    join(here, '..', '..', '..', 'build', 'Release', `${name}.node`),
  ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) return { error: `${name} addon not built (npm run build:native)` };
  try {
    return { module: createRequire(import.meta.url)(path) };
  } catch (error) {
    return { error: `${name} addon failed to load: ${(error as Error).message}` };
  }
}
