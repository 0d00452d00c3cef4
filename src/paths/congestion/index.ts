import type { CongestionController } from './controller.js';
import { Cubic } from './cubic.js';
import { NewReno } from './new-reno.js';

export type { CongestionController } from './controller.js';
export { DEFAULT_MAX_DATAGRAM_SIZE, initialWindow, minimumWindow } from './controller.js';
export { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic } from './cubic.js';
export { type CoupledPath, LiaController } from './lia.js';
export { NewReno } from './new-reno.js';

export type CongestionControlKind = 'cubic' | 'newreno';

export function createCongestionController(
  kind: CongestionControlKind,
  maxDatagramSize: number,
): CongestionController {
  return kind === 'newreno' ? new NewReno(maxDatagramSize) : new Cubic(maxDatagramSize);
}
