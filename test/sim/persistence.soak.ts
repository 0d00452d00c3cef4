// Long soak of the persistence exploration (test/sim/persistence.test.ts): BRAID_SOAK_SEEDS seeds
// (default 20,000) from BRAID_SOAK_FIRST (default 1), each with a total outage longer than the
// failure timeout. Run with `npm run test:soak`.
import { test } from 'node:test';
import { randomOutageScenario, runEngineCase } from '../../testing/sim/engine-explore.js';
import { explore } from '../../testing/sim/explore.js';

const COUNT = Number(process.env.BRAID_SOAK_SEEDS ?? 20_000);
const FIRST = Number(process.env.BRAID_SOAK_FIRST ?? 1);

test(`persistence soak: ${COUNT} random seeds with a total outage each`, { timeout: 0 }, async () => {
  await explore({
    seeds: Array.from({ length: COUNT }, (_, i) => FIRST + i),
    generate: (rng) => randomOutageScenario(rng, 5000),
    run: (c) => {
      runEngineCase(c, { idleTimeout: 5000 });
    },
    replayFile: 'test/sim/persistence.test.ts',
  });
});
