/**
 * `npm run bench -- interfaces [--calls N]`: what one poll of the interface watcher
 * (src/endpoint/interfaces.ts) costs on this host — `usableInterfaceAddresses()`, i.e.
 * os.networkInterfaces() plus /proc/net/if_inet6 and the filtering — against the bare
 * os.networkInterfaces() call measured in the same run, and the share of one core that
 * polling at the default interval takes. Run it inside a namespace (`ip netns exec NS npm run
 * bench -- interfaces`) to see a host with other interfaces.
 */
import { networkInterfaces } from 'node:os';
import { DEFAULT_POLL_INTERVAL_MS, usableInterfaceAddresses } from '../src/endpoint/interfaces.js';
import { round } from '../testing/harness/stats.js';
import { result } from './lib/result.js';
import { systemInfo } from './lib/system.js';

function microsPerCall(calls: number, fn: () => unknown): number {
  const started = performance.now();
  for (let i = 0; i < calls; i++) fn();
  return ((performance.now() - started) * 1000) / calls;
}

export async function run(args: string[]): Promise<object> {
  let calls = 2000;
  if (args[0] === '--calls') calls = Number(args[1]);
  if (!Number.isInteger(calls) || calls <= 0 || (args.length > 0 && args[0] !== '--calls')) {
    throw new Error('usage: npm run bench -- interfaces [--calls N]');
  }
  for (let i = 0; i < 200; i++) usableInterfaceAddresses(); // warm up
  const bare = microsPerCall(calls, () => networkInterfaces());
  const poll = microsPerCall(calls, () => usableInterfaceAddresses());
  const addresses = usableInterfaceAddresses();
  return result({
    name: 'one interface poll (usableInterfaceAddresses)',
    value: round(poll),
    unit: 'µs',
    baseline: { name: 'os.networkInterfaces() alone', value: round(bare), unit: 'µs' },
    usableAddresses: addresses.length,
    interfaces: Object.keys(networkInterfaces()).length,
    defaultPollIntervalMs: DEFAULT_POLL_INTERVAL_MS,
    cpuShareAtDefaultInterval: round(poll / 1000 / DEFAULT_POLL_INTERVAL_MS, 5),
    calls,
    system: systemInfo(),
  });
}
