// Status, metrics and logs tell the truth during an outage (issue 17): a real client and server on
// loopback; the client is frozen (SIGSTOP, a laptop asleep), so the server hears nothing and really
// suspends, and both resume when it wakes. (A relay whose forwarding stops would not cut the session:
// the client fails over to the address the server advertises.) Then the client is killed with
// SIGKILL and the server forgets its session by the documented rule (suspended past the persistence
// timeout: docs/persistence.md §2).
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

/** Short, so the test is quick: suspended after ~1.5 s of silence, forgotten 20 s later. */
const IDLE_TIMEOUT_S = 1.5;
const PERSISTENCE_TIMEOUT_S = 20;

const serverHome = makeHome();
const clientHome = makeHome();
// JSON log records carry the level, so the test sees the lines are info, not debug.
const serverEnv = { ...serverHome.env, BRAID_LOG_FORMAT: 'json' };
let server: Awaited<ReturnType<typeof startServer>>;
let tunnel: Daemon | undefined;
let metricsUrl = '';

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  server = await startServer({ ...serverHome, env: serverEnv }, [
    '--allow-any',
    '--echo',
    '--idle-timeout',
    String(IDLE_TIMEOUT_S),
    '--persistence-timeout',
    String(PERSISTENCE_TIMEOUT_S),
    '--metrics',
    '127.0.0.1:0',
  ]);
  [, metricsUrl] = (await server.daemon.waitFor(/metrics on (http:[^"\s]+)/)) as [string, string];
});

after(async () => {
  tunnel?.child.kill('SIGCONT');
  await tunnel?.stop('SIGKILL');
  await server?.daemon.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

interface StatusAnswer {
  command: string;
  sessions: Array<{
    id: number;
    state: string;
    suspendedSince?: number;
    suspendedMs?: number;
    lastError?: string;
    paths: Array<{ state: string }>;
  }>;
  totals: { suspensions: number; resumptions: number; sessionsClosed: Record<string, number> };
}

async function serverStatus(): Promise<StatusAnswer> {
  const answer = await runBraid(['status', '--json'], serverHome.env);
  assert.equal(answer.code, 0, answer.stderr);
  const [status] = JSON.parse(answer.stdout) as StatusAnswer[];
  assert.equal(status!.command, 'serve');
  return status!;
}

function scrape(): Promise<string> {
  return new Promise((resolve, reject) => {
    get(metricsUrl, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (c: string) => {
        body += c;
      });
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function metric(body: string, name: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `metric ${name} is exposed:\n${body}`);
  return Number(line.slice(name.length + 1));
}

function logRecords(daemon: Daemon): Array<{ level: string; msg: string; [key: string]: unknown }> {
  return daemon.stderr
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

test('a suspended session is shown suspended, with since-when and why, in status, metrics and logs', async () => {
  const tunnelControl = join(clientHome.dir, 'run', 'tunnel.sock');
  tunnel = new Daemon(
    ['tunnel', server.url, '-L', '0:127.0.0.1:9', '--control', tunnelControl],
    clientHome.env,
  );
  await tunnel.waitFor(/ready/);
  const before = await serverStatus();
  assert.equal(before.sessions.length, 1);
  assert.equal(before.sessions[0]!.state, 'established');
  assert.equal(before.sessions[0]!.paths[0]!.state, 'active');

  // The outage: the client is frozen, so the server hears nothing and suspends at its failure timeout.
  const frozenAt = Date.now();
  tunnel.child.kill('SIGSTOP');
  await server.daemon.waitFor(/session #\d+ suspended: no packet from the peer/);

  const status = await serverStatus();
  const session = status.sessions[0]!;
  assert.equal(session.state, 'suspended');
  assert.ok(session.suspendedSince! >= frozenAt, 'suspended since the outage began');
  assert.ok(session.suspendedMs! >= 0);
  assert.match(session.lastError!, /no packet from the peer for the failure timeout/);
  assert.deepEqual(
    session.paths.map((p) => p.state),
    session.paths.map(() => 'suspended'),
    'no path of a suspended session is shown active',
  );
  assert.equal(status.totals.suspensions, 1);

  const table = await runBraid(['status'], serverHome.env);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /#\d+ +server +\S+ +suspended \d+s /);
  assert.match(
    table.stdout,
    /suspended since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+s\): no packet from the peer/,
  );
  assert.match(
    table.stdout,
    /\n +0 +\S+ +\S+ +suspended +- +\S+ ms +- +/,
    'no RTT or LOSS 0.0% for a dead path',
  );
  assert.doesNotMatch(table.stdout, /established|active/);

  const body = await scrape();
  assert.equal(metric(body, 'braid_sessions'), 1);
  assert.equal(metric(body, 'braid_sessions_suspended'), 1);
  assert.equal(metric(body, 'braid_paths{state="active"}'), 0);
  assert.ok(metric(body, 'braid_paths{state="suspended"}') >= 1);
  assert.ok(metric(body, 'braid_session_suspended_seconds') >= 0);
  assert.equal(metric(body, 'braid_suspensions_total'), 1);

  const suspendedLine = logRecords(server.daemon).find((r) => / suspended: /.test(r.msg));
  assert.equal(suspendedLine?.level, 'info');
  assert.equal(suspendedLine?.reason, 'failure-timeout');

  // The client wakes: it learns it was suspended too, both sides resume, and say so.
  tunnel.child.kill('SIGCONT');
  await server.daemon.waitFor(/session #\d+ resumed after [\d.]+ s/, 15_000);
  await tunnel.waitFor(/session #\d+ suspended: (no packet from the peer|the peer stopped hearing us)/);
  await tunnel.waitFor(/session #\d+ resumed after [\d.]+ s/, 15_000);
  const clientTable = await runBraid(['status', '--control', tunnelControl], clientHome.env);
  assert.equal(clientTable.code, 0, clientTable.stderr);
  assert.match(clientTable.stdout, /#\d+ +client +\S+ +established /);
  assert.match(clientTable.stdout, /last error: .* \(resumed since\)/);
  const resumed = await serverStatus();
  assert.equal(resumed.sessions[0]!.state, 'established');
  assert.equal(resumed.sessions[0]!.suspendedMs, undefined);
  assert.match(resumed.sessions[0]!.lastError!, /no packet from the peer/);
  assert.equal(resumed.totals.resumptions, 1);
  const resumedTable = await runBraid(['status'], serverHome.env);
  assert.match(resumedTable.stdout, /last error: no packet from the peer .* \(resumed since\)/);
  assert.equal(logRecords(server.daemon).find((r) => / resumed after /.test(r.msg))?.level, 'info');
});

test('the server forgets a killed client by the rule: suspended past the persistence timeout', async () => {
  assert.ok(tunnel, 'the first test left its tunnel running');
  const live = await serverStatus();
  assert.equal(live.sessions.length, 1);
  assert.equal(live.sessions[0]!.state, 'established');
  const killedAt = Date.now();
  await tunnel.stop('SIGKILL');
  tunnel = undefined;

  // Silent for the failure timeout: suspended (its second suspension), listed as such meanwhile.
  const suspensions = (): number =>
    logRecords(server.daemon).filter((r) => / suspended: /.test(r.msg)).length;
  for (let i = 0; i < 100 && suspensions() < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(suspensions(), 2, server.daemon.stderr);
  const status = await serverStatus();
  assert.equal(status.sessions.length, 1);
  assert.equal(status.sessions[0]!.state, 'suspended');

  // Then the persistence timeout: the session expires and leaves status and metrics.
  await server.daemon.waitFor(
    /closed: the session was suspended longer than its persistence timeout/,
    30_000,
  );
  const forgottenAfter = Date.now() - killedAt;
  assert.ok(
    forgottenAfter >= (IDLE_TIMEOUT_S + PERSISTENCE_TIMEOUT_S) * 1000 - 1000,
    `forgotten after ${forgottenAfter} ms, not before the rule says`,
  );
  const after = await serverStatus();
  assert.equal(after.sessions.length, 0);
  assert.equal(after.totals.sessionsClosed.session_expired, 1);
  const body = await scrape();
  assert.equal(metric(body, 'braid_sessions'), 0);
  assert.equal(metric(body, 'braid_sessions_closed_total{cause="session_expired"}'), 1);
});
