// Random exploration (as test/sim/engine-explore.test.ts: random topologies, link faults, loss
// and delay spikes, NAT rebinding, random workloads) with the multipath policies that send on
// several paths at once, so their scheduling, coupling, copies and failure handling meet the
// same faults failover does. Every property must hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type EngineCaseSummary, randomEngineScenario, runEngineCase } from '../../src/sim/engine-explore.js';
import { explore } from '../../src/sim/explore.js';

const SEEDS = Number(process.env.BRAID_EXPLORE_SEEDS ?? 100);
/**
 * Seeds beyond the suite's range that once failed, run every time. 498: a PTO on the only path
 * of a downloading client with nothing to resend sent no probe under a multipath plan, so a NAT
 * rebinding was never noticed (idle timeout).
 */
const REGRESSIONS = [498];

for (const policy of ['aggregate', 'redundant'] as const) {
  test(`random exploration with multipath.policy '${policy}': ${SEEDS} seeds hold every property`, async () => {
    const summaries: EngineCaseSummary[] = [];
    await explore({
      seeds: [
        ...Array.from({ length: SEEDS }, (_, i) => i + 1),
        ...REGRESSIONS.filter((seed) => seed > SEEDS),
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
