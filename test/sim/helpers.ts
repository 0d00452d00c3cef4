import { socketAddress } from '../../src/net/address.js';
import { type LinkSpec, Simulator } from '../../src/sim/network.js';

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
