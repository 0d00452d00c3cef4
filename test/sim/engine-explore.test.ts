// Random exploration with the real engine: ≥500 seeds in the default suite, each judged by
// the properties. A failure prints the seed and a replay command and writes the trace to
// artifacts/ (see docs/simulator.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type EngineCaseSummary,
  randomEngineScenario,
  runEngineCase,
} from '../../testing/sim/engine-explore.js';
import { explore } from '../../testing/sim/explore.js';

const SEEDS = Number(process.env.BRAID_EXPLORE_SEEDS ?? 500);

test(`random exploration: ${SEEDS} seeds with the real engine hold every property`, async () => {
  const summaries: EngineCaseSummary[] = [];
  const started = performance.now();
  await explore({
    seeds: SEEDS,
    generate: (rng) => randomEngineScenario(rng),
    run: (c) => {
      summaries.push(runEngineCase(c));
    },
    replayFile: 'test/sim/engine-explore.test.ts',
  });
  const complete = summaries.filter((s) => s.complete).length;
  const closes: Record<string, number> = {};
  for (const s of summaries) for (const c of s.closes) closes[c] = (closes[c] ?? 0) + 1;
  const packets = summaries.reduce((n, s) => n + s.packets, 0);
  const wall = (performance.now() - started) / 1000;
  console.log(
    `explored ${summaries.length} seeds in ${wall.toFixed(1)} s: ${complete} complete, ` +
      `network closes ${JSON.stringify(closes)}, ${packets} datagrams`,
  );
  // Only handshakes that never completed may fail; that must stay rare.
  if (summaries.length >= 100)
    assert.ok(complete >= summaries.length * 0.9, `${complete}/${summaries.length} complete`);
});
