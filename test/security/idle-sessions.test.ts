import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';

/**
 * 10 000 in the figure docs/security.md states (BRAID_IDLE_SESSIONS=10000, ~4 min on a loaded
 * 2-core host); fewer by default, since the cost per session does not depend on how many.
 */
const SESSIONS = Number(process.env.BRAID_IDLE_SESSIONS ?? 2000);
/** What docs/security.md states an idle server session costs, with a margin for V8's variance. */
const BOUND_PER_SESSION = 160 * 1024;

test('idle sessions from one key (10 k with BRAID_IDLE_SESSIONS): all established, each ≤ 160 KiB', {
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
