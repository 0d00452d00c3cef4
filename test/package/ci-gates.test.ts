// CI runs exactly the README's test command, and that command gates everything a change can
// break besides the tests: types (tests run through tsx, which strips them), lint, the build,
// and the package as users install it (test/package/pack-install.test.ts, run by the suite).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

test("the README's test command is what .ci/run runs, last", () => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(read('README.md'))?.[1] ?? '';
  const testLine = firstBlock.split('\n').find((line) => line.startsWith('npm test'));
  assert.ok(testLine, "the README's first lines give the test command");
  const command = testLine.split('#')[0]!.trim();
  const steps = read('.ci/run')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  assert.equal(steps.at(-1), command);
});

test('npm test gates typecheck, lint and build before the whole suite', () => {
  const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  const chain = scripts.test!.split('&&').map((step) => step.trim());
  assert.deepEqual(chain, [
    'npm run typecheck',
    'npm run lint',
    'npm run build',
    'node scripts/run-tests.mjs',
  ]);
  assert.equal(scripts.typecheck, 'tsc -p tsconfig.json --noEmit');
  assert.equal(scripts.lint, 'biome check .');
  assert.match(scripts.build!, /^node scripts\/build-dist\.mjs/);
  // The suite without a filter includes the pack-and-install test.
  assert.ok(readFileSync(new URL('./pack-install.test.ts', import.meta.url), 'utf8').includes("'pack'"));
});
