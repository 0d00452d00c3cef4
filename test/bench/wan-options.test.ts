// `npm run bench -- wan` refuses bad options before it builds a lab, so a typo costs nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../../bench/wan.js';

test('an unknown congestion controller is refused by name', async () => {
  await assert.rejects(run(['--congestion-control', 'cubic,vegas']), /unknown congestion controller 'vegas'/);
});

test('an unknown case and a bad number are refused', async () => {
  await assert.rejects(run(['--cases', 'goodput,teleport']), /unknown case 'teleport'/);
  await assert.rejects(run(['--runs', '0']), /bad value for --runs/);
});
