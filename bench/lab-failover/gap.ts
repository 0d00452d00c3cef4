/**
 * The failover gap, as test/lab/failover-server.ts measures it for Braid: the longest stretch
 * after the fault without newly delivered bytes, the first stretch counted from the fault itself
 * (bytes already in flight before the fault may arrive just after it without meaning the
 * surviving path works). Arrivals are wall-clock milliseconds of each delivery to the application.
 */
export function gapAfter(faultAt: number, arrivals: readonly number[]): number {
  let gap = 0;
  let previous = faultAt;
  for (const at of arrivals) {
    if (at <= faultAt) continue;
    gap = Math.max(gap, at - previous);
    previous = at;
  }
  return gap;
}
