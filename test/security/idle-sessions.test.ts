import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { SESSION_FIXED_COST } from '../../src/engine/session-limits.js';

/**
 * 2 000 in the figure docs/security.md states; BRAID_IDLE_SESSIONS=10000 for more (several
 * minutes on a loaded 2-core host), since the cost per session hardly depends on how many.
 */
const SESSIONS = Number(process.env.BRAID_IDLE_SESSIONS ?? 2000);
/** What the memory budget counts for an idle session (SESSION_FIXED_COST): the estimate must hold. */
const BOUND_PER_SESSION = SESSION_FIXED_COST;

test('idle sessions from one key (10 k with BRAID_IDLE_SESSIONS): all established, each ≤ SESSION_FIXED_COST', {
  timeout: 300_000,
}, async () => {
  const child = fork(new URL('./fixtures/idle-sessions.ts', import.meta.url), [String(SESSIONS)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [result] = (await once(child, 'message')) as [
    {
      sessions: number;
      established: number;
      perSession: number;
      heapPerSession: number;
      arrayBuffersPerSession: number;
    },
  ];
  await once(child, 'exit');
  console.log(
    `${result.sessions} idle sessions: ${(result.perSession / 1024).toFixed(1)} KiB each: ` +
      `${(result.heapPerSession / 1024).toFixed(1)} KiB heap + ${(result.arrayBuffersPerSession / 1024).toFixed(1)} KiB array buffers`,
  );
  assert.equal(result.established, SESSIONS);
  assert.equal(result.sessions, SESSIONS);
  assert.ok(result.perSession <= BOUND_PER_SESSION, `${result.perSession} B per idle session`);
});
