// Random exploration (as test/sim/engine-explore.test.ts: random topologies, link faults, loss
// and delay spikes, NAT rebinding, random workloads) with the multipath policies that send on
// several paths at once, so their scheduling, coupling, copies and failure handling meet the
// same faults failover does. Every property must hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type EngineCaseSummary,
  randomEngineScenario,
  runEngineCase,
} from '../../testing/sim/engine-explore.js';
import { explore } from '../../testing/sim/explore.js';

const SEEDS = Number(process.env.BRAID_EXPLORE_SEEDS ?? 100);
/** First seed of the range (longer sweeps resume after a failing seed). */
const FIRST = Number(process.env.BRAID_EXPLORE_FIRST ?? 1);
/**
 * Seeds beyond the suite's range that once failed, run every time. 498: a PTO on the only path
 * of a downloading client with nothing to resend sent no probe under a multipath plan, so a NAT
 * rebinding was never noticed (idle timeout). 7743, 18226 (redundant): the client's active path
 * lost its validation (its re-check went unanswered during an outage) and, under the 3× limit
 * with only ACKs coming back, could send nothing, not even its challenge; no PTO ever fired, so
 * it never moved to the standby that answered again (30 s without progress). 4671 (aggregate):
 * an ACK deadline stuck in the past once the peer's ACK of our ACK removed the late packet it
 * was for (timer livelock).
 */
const REGRESSIONS = [498, 4671, 7743, 18226];

for (const policy of ['aggregate', 'redundant'] as const) {
  test(`random exploration with multipath.policy '${policy}': ${SEEDS} seeds from ${FIRST} hold every property`, async () => {
    const summaries: EngineCaseSummary[] = [];
    await explore({
      seeds: [
        ...Array.from({ length: SEEDS }, (_, i) => FIRST + i),
        ...REGRESSIONS.filter((seed) => seed < FIRST || seed >= FIRST + SEEDS),
      ],
      generate: (rng) => randomEngineScenario(rng),
      run: (c) => {
        summaries.push(runEngineCase(c, { multipath: { policy } }));
      },
      replayFile: 'test/sim/policies-explore.test.ts',
    });
    const complete = summaries.filter((s) => s.complete).length;
    console.log(`${policy}: ${complete}/${summaries.length} seeds complete`);
    if (summaries.length >= 50)
      assert.ok(complete >= summaries.length * 0.9, `${complete}/${summaries.length} complete`);
  });
}
