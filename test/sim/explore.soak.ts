// Long soak of the real-engine exploration: BRAID_SOAK_SEEDS seeds (default 20,000),
// starting at BRAID_SOAK_FIRST (default 1). Run with `npm run test:soak`.
import { test } from 'node:test';
import { randomEngineScenario, runEngineCase } from '../../testing/sim/engine-explore.js';
import { explore } from '../../testing/sim/explore.js';

const COUNT = Number(process.env.BRAID_SOAK_SEEDS ?? 20_000);
const FIRST = Number(process.env.BRAID_SOAK_FIRST ?? 1);

test(`soak: ${COUNT} random seeds with the real engine`, { timeout: 0 }, async () => {
  await explore({
    seeds: Array.from({ length: COUNT }, (_, i) => FIRST + i),
    generate: (rng) => randomEngineScenario(rng),
    run: (c) => {
      runEngineCase(c);
    },
    replayFile: 'test/sim/engine-explore.test.ts',
  });
});
