#!/usr/bin/env node
// Builds the native addons (native/braid_udp.cc: batched UDP I/O; native/braid_netlink.cc: interface
// change notifications; native/braid_tun.cc: the TUN device of `braid vpn`; native/braid_crypto.cc: per-packet AEAD on Node's OpenSSL) with node-gyp, and
// the netns lab's impairment element (lab/impair.c, a plain C program) as build/impair. Run by `npm ci` /
// `npm install` (the package's install script) and by `npm run build:native`.
// Never fails the install: where the addon cannot be built (not Linux, no compiler, no headers)
// it says so, and Braid uses node:dgram and sodium-native instead (src/native/addons.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');

function log(message) {
  process.stderr.write(`build-native: ${message}\n`);
}

if (process.platform !== 'linux') {
  log(`skipped on ${process.platform}: the batched UDP addon is Linux-only; Braid uses node:dgram`);
  process.exit(0);
}
if (process.env.BRAID_NATIVE_UDP === '0') {
  log('skipped (BRAID_NATIVE_UDP=0); Braid uses node:dgram');
  process.exit(0);
}

/** node-gyp: the one npm runs scripts with, else the copy bundled with npm, else PATH. */
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const npmDirs = [join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm')];
  try {
    npmDirs.push(dirname(createRequire(import.meta.url).resolve('npm/package.json')));
  } catch {
    // npm not resolvable as a module: fine.
  }
  for (const dir of npmDirs) {
    const bin = join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(bin)) return [process.execPath, bin];
  }
  return ['node-gyp'];
}

const args = ['rebuild', '--release'];
// Build against the headers installed with this Node (no download: the machine may be offline).
const prefixHeaders = join(dirname(process.execPath), '..', 'include', 'node', 'node_api.h');
if (!process.env.npm_config_nodedir && existsSync(prefixHeaders)) {
  args.push(`--nodedir=${resolve(dirname(process.execPath), '..')}`);
}
const [command, ...prefix] = findNodeGyp();
const started = Date.now();
const result = spawnSync(command, [...prefix, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });

// After node-gyp, whose rebuild empties build/. lab/lab.sh compiles it on demand too, so a failure
// here only costs the lab that step.
function buildImpairmentElement() {
  const source = join(root, 'lab', 'impair.c');
  if (!existsSync(source)) return;
  const output = join(root, 'build', 'impair');
  mkdirSync(dirname(output), { recursive: true });
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-std=gnu11', '-o', output, source], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (cc.status === 0) log(`built ${output}`);
  else log(`could not build the lab's impairment element: ${cc.error?.message ?? String(cc.stderr).trim()}`);
}
buildImpairmentElement();

const built = ['braid_udp.node', 'braid_netlink.node', 'braid_tun.node', 'braid_crypto.node'].map((name) =>
  join(root, 'build', 'Release', name),
);
if (result.status === 0 && built.every((file) => existsSync(file))) {
  log(`built ${built.join(', ')} in ${Date.now() - started} ms`);
  process.exit(0);
}
const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
log(
  `could not build the addon (${result.error?.message ?? `exit ${result.status}`}); Braid uses node:dgram.`,
);
if (output) log(`last lines of node-gyp:\n${output}`);
process.exit(strict ? 1 : 0);
