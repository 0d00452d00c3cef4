/**
 * Named path profiles (src/cli/demo/path-profiles.ts, shared with the netns lab) as simulator
 * links. `simLinkOf` is the one mapping from a profile direction to LinkParams; a scenario
 * names a profile per interface (`profile: 'lte'`) or per direction
 * (`profile: { up: 'lte', down: 'fiber' }`), where `up` is the interface's `out` direction
 * (host → core) and `down` its `in` direction.
 */
import { type DirectionProfile, type PathProfile, pathProfile } from '../../src/cli/demo/path-profiles.js';
import { ScenarioError } from './errors.js';
import type { LinkParams } from './link.js';

/** A profile name for both directions, or one per direction. */
export type ProfileSpec = string | { up: string; down: string };

/** IPv4 + UDP headers: the profiles count IP packets, the simulator UDP payloads. */
export const IPV4_UDP_OVERHEAD = 28;

/**
 * The simulator link for one direction of a profile: delay and jitter as they are (reordering
 * jitter when the profile says so), random and per-packet bursty loss, the rate counted on IP
 * packets (payload + 28 bytes of IPv4 and UDP headers), the queue bounded in ms of that rate
 * (no packet limit of its own), and the MTU as the largest UDP payload under the IP MTU.
 */
export function simLinkOf(direction: DirectionProfile): Partial<LinkParams> {
  return {
    delay: direction.delayMs,
    jitter: direction.jitterMs,
    jitterReorder: direction.reorder,
    loss: direction.loss,
    burstLoss: direction.burstLoss === null ? null : { ...direction.burstLoss },
    bandwidth: direction.rateBps,
    overhead: IPV4_UDP_OVERHEAD,
    // Bounded by queueMs only: a generous packet count that never binds first.
    queue: 1_000_000,
    queueMs: direction.queueMs,
    mtu: direction.mtu - IPV4_UDP_OVERHEAD,
  };
}

function named(name: unknown, path: string): PathProfile {
  if (typeof name !== 'string')
    throw new ScenarioError(`${path} must be a profile name, got ${String(name)}`);
  try {
    return pathProfile(name);
  } catch (error) {
    throw new ScenarioError(`${path}: ${(error as Error).message}`);
  }
}

/**
 * The `out` and `in` link parameters a profile spec stands for (`path` names it in errors).
 * A single name uses that profile's up direction for `out` and its down direction for `in`.
 */
export function profileLinks(
  spec: unknown,
  path: string,
): { out: Partial<LinkParams>; in: Partial<LinkParams> } {
  if (typeof spec === 'string') {
    const profile = named(spec, path);
    return { out: simLinkOf(profile.up), in: simLinkOf(profile.down) };
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new ScenarioError(`${path} must be a profile name or { up, down }, got ${JSON.stringify(spec)}`);
  }
  const { up, down, ...rest } = spec as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined)
    throw new ScenarioError(`${path}.${extra} is not a profile field (known: up, down)`);
  return { out: simLinkOf(named(up, `${path}.up`).up), in: simLinkOf(named(down, `${path}.down`).down) };
}
