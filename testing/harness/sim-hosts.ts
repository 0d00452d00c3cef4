import { socketAddress } from '../../src/net/address.js';
import { type LinkSpec, Simulator } from '../sim/network.js';

export const A_IP = '192.0.2.10';
export const B_IP = '203.0.113.5';
export const A = socketAddress(A_IP, 5000);
export const B = socketAddress(B_IP, 443);

/** Two hosts, A.eth and B.eth, with the given links. */
export function twoHosts(aLink: LinkSpec = {}, bLink: LinkSpec = {}, seed = 1, trace = false): Simulator {
  const sim = new Simulator({ seed, trace });
  sim.addHost('A');
  sim.addHost('B');
  sim.addInterface('A', 'eth', [A_IP], aLink);
  sim.addInterface('B', 'eth', [B_IP], bLink);
  return sim;
}

/**
 * Longest stretch from `faultAt` without a data datagram (>= 1000 bytes) delivered to the
 * receiving side's host, read from the trace (its last field is the receiving
 * `host.interface`). Deliveries from `lookback` ms before the fault start the count.
 */
export function deliveryGap(sim: Simulator, receiverHost: string, faultAt: number, lookback: number): number {
  let gap = 0;
  let last = faultAt;
  for (const line of sim.trace?.lines() ?? []) {
    const p = line.split(' ');
    if (p[1] !== 'deliver' || Number(p[4]) < 1000 || !p[6]!.startsWith(`${receiverHost}.`)) continue;
    const t = Number(p[0]);
    if (t < faultAt - lookback) continue;
    if (t >= faultAt) gap = Math.max(gap, t - last);
    last = Math.max(last, t);
  }
  return gap;
}
