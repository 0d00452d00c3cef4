import { Bbr } from './bbr.js';
import type { CongestionController } from './controller.js';
import { Cubic } from './cubic.js';
import { NewReno } from './new-reno.js';

export {
  BBR_BTLBW_FILTER_ROUNDS,
  BBR_CWND_GAIN,
  BBR_HIGH_GAIN,
  BBR_PACING_GAIN_CYCLE,
  BBR_PROBE_RTT_MS,
  BBR_RTPROP_FILTER_MS,
  Bbr,
  type BbrState,
  WindowedMaxFilter,
} from './bbr.js';
export type { CongestionController } from './controller.js';
export { DEFAULT_MAX_DATAGRAM_SIZE, initialWindow, minimumWindow } from './controller.js';
export { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic } from './cubic.js';
export { type CoupledPath, LiaController } from './lia.js';
export { NewReno } from './new-reno.js';

export type CongestionControlKind = 'cubic' | 'newreno' | 'bbr';

export const CONGESTION_CONTROL_KINDS: readonly CongestionControlKind[] = ['cubic', 'newreno', 'bbr'];

export function createCongestionController(
  kind: CongestionControlKind,
  maxDatagramSize: number,
): CongestionController {
  switch (kind) {
    case 'newreno':
      return new NewReno(maxDatagramSize);
    case 'bbr':
      return new Bbr(maxDatagramSize);
    default:
      return new Cubic(maxDatagramSize);
  }
}
