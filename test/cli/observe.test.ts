import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const eventsPath = join(serverHome.dir, 'events.jsonl');
let server: Awaited<ReturnType<typeof startServer>>;
let metricsUrl = '';
let tunnel: Daemon | undefined;

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  server = await startServer(serverHome, [
    '--allow-any',
    '--echo',
    '--metrics',
    '127.0.0.1:0',
    '--events',
    eventsPath,
  ]);
  [, metricsUrl] = (await server.daemon.waitFor(/metrics on (http:\S+)/)) as [string, string];
});

after(async () => {
  await tunnel?.stop();
  await server?.daemon.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

function scrape(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (c: string) => {
        body += c;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }),
      );
    }).on('error', reject);
  });
}

function metricValue(body: string, name: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `metric ${name} is exposed:\n${body}`);
  return Number(line.slice(name.length + 1));
}

test('logs are JSON lines off a terminal; --log-level filters; a fatal error ends the log as a record', async () => {
  const env = { ...serverHome.env, BRAID_LOG_FORMAT: '' };
  const busy = createTcpServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const busyPort = (busy.address() as { port: number }).port;
  try {
    const all = await runBraid(
      [
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--allow-any',
        '--no-control',
        '--metrics',
        `127.0.0.1:${busyPort}`,
      ],
      env,
    );
    assert.equal(all.code, 6, all.stderr);
    const records = all.stderr
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { level: string; msg: string; command: string; pid: number; time: string },
      );
    assert.ok(records.some((r) => r.level === 'info' && /^listening on 127\.0\.0\.1:\d+/.test(r.msg)));
    const last = records.at(-1)!;
    assert.equal(last.level, 'error');
    assert.match(last.msg, new RegExp(`--metrics 127\\.0\\.0\\.1:${busyPort}: the port is already in use`));
    assert.equal((last as unknown as { exitCode: number }).exitCode, 6);
    assert.equal(last.command, 'serve');
    assert.ok(!Number.isNaN(Date.parse(last.time)));

    const quiet = await runBraid(
      [
        'serve',
        '--log-level',
        'warn',
        '--listen',
        '127.0.0.1:0',
        '--allow-any',
        '--no-control',
        '--metrics',
        `127.0.0.1:${busyPort}`,
      ],
      env,
    );
    assert.equal(quiet.code, 6);
    const lines = quiet.stderr.trim().split('\n');
    assert.equal(lines.length, 1, quiet.stderr);
    assert.equal(JSON.parse(lines[0]!).level, 'error');

    const text = await runBraid(['report', join(serverHome.dir, 'missing.jsonl'), '--log-format=text'], env);
    assert.equal(text.code, 1);
    assert.match(text.stderr, /^braid report: cannot read .*missing\.jsonl: ENOENT\n$/);

    const badLevel = await runBraid(['status', '--log-level', 'loud'], env);
    assert.equal(badLevel.code, 2);
    assert.match(badLevel.stderr, /log level 'loud' is not one of debug, info, warn, error, silent/);
  } finally {
    busy.close();
  }
});

test('status reads sessions and paths from the control sockets (owner only); ping times round trips', async () => {
  const tunnelControl = join(clientHome.dir, 'run', 'my-tunnel.sock');
  tunnel = new Daemon(
    ['tunnel', server.url, '-L', '0:127.0.0.1:9', '--control', tunnelControl, '--metrics', '127.0.0.1:0'],
    clientHome.env,
  );
  await tunnel.waitFor(/ready/);
  const echoed = await runBraid(['cat', server.url], clientHome.env, { input: 'x'.repeat(50_000) });
  assert.equal(echoed.code, 0, echoed.stderr);

  const [, serverSocket] = (await server.daemon.waitFor(/control socket (\S+)/)) as [string, string];
  assert.equal(statSync(serverSocket).mode & 0o777, 0o600);
  assert.equal(statSync(join(serverSocket, '..')).mode & 0o777, 0o700);
  assert.match(serverSocket, /\/run\/braid\/serve-\d+\.sock$/);

  // Without --control: every socket in $XDG_RUNTIME_DIR/braid of this user.
  const json = await runBraid(['status', '--json'], serverHome.env);
  assert.equal(json.code, 0, json.stderr);
  const [status] = JSON.parse(json.stdout) as Array<{
    command: string;
    sessions: Array<{ role: string; paths: Array<{ state: string; srttMs: number; remote: string }> }>;
    totals: { sessionsStarted: number; bytesReceived: number };
  }>;
  assert.equal(status!.command, 'serve');
  assert.ok(status!.totals.sessionsStarted >= 2, 'the tunnel and the cat session');
  assert.ok(status!.totals.bytesReceived > 50_000);
  const live = status!.sessions.find((s) => s.paths.length > 0)!;
  assert.equal(live.role, 'server');
  assert.equal(live.paths[0]!.state, 'active');
  assert.ok(live.paths[0]!.srttMs > 0);

  const table = await runBraid(['status', '--control', tunnelControl], clientHome.env);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^braid tunnel {2}pid \d+/);
  assert.match(table.stdout, /PATH +LOCAL +REMOTE +STATE +RTT +MIN RTT +LOSS +OUT +IN +SENT +RECEIVED/);
  assert.match(
    table.stdout,
    new RegExp(`\\n +0 +\\S+:\\d+ +127\\.0\\.0\\.1:${server.port} +active +[\\d.]+ ms`),
  );

  // --watch redraws until interrupted.
  const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const watch = spawn(process.execPath, ['--import', 'tsx', MAIN, 'status', '--watch', '--interval', '0.2'], {
    env: serverHome.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let watched = '';
  watch.stdout.on('data', (c: Buffer) => {
    watched += c.toString();
  });
  const watchExit = new Promise((resolve) => watch.on('exit', resolve));
  for (let i = 0; i < 100 && (watched.match(/braid serve {2}pid/g) ?? []).length < 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  watch.kill('SIGINT');
  assert.equal(await watchExit, 0);
  assert.ok((watched.match(/braid serve {2}pid/g) ?? []).length >= 3, watched);

  const none = await runBraid(['status'], clientHome.env);
  assert.equal(none.code, 1, 'the tunnel socket is not in the default directory');
  assert.match(none.stdout, /no running braid process answers/);

  const [ping, multihomed] = await Promise.all([
    runBraid(['ping', server.url, '-c', '3', '-i', '50'], clientHome.env),
    runBraid(
      [
        'ping',
        server.url,
        '-c',
        '3',
        '-i',
        '50',
        '--local-address',
        '127.0.0.5',
        '--local-address',
        '127.0.0.6',
      ],
      clientHome.env,
    ),
  ]);
  // Two local addresses: a path from each (the second a warm standby, or active after a move).
  assert.equal(multihomed.code, 0, multihomed.stderr);
  // (On a loaded machine an event-loop stall may move the session off the first path: then
  // ping reports that failover, and the first path is gone.)
  assert.match(
    multihomed.stdout,
    /^path \d+ {2}127\.0\.0\.5:\d+ → 127\.0\.0\.1:\d+ {2}(active|standby) |^failover: path \d+ 127\.0\.0\.5:/m,
  );
  assert.match(multihomed.stdout, /^path \d+ {2}127\.0\.0\.6:\d+ → 127\.0\.0\.1:\d+ {2}(active|standby) /m);
  assert.equal(ping.code, 0, ping.stderr);
  assert.match(ping.stdout, /seq=3 {2}stream [\d.]+ ms {2}datagram [\d.]+ ms {2}path 0 srtt [\d.]+ ms/);
  assert.match(ping.stdout, /3 probes; stream 3 replies, min\/avg\/max\/mdev = /);
  assert.match(ping.stdout, /path 0 {2}\S+:\d+ → 127\.0\.0\.1:\d+ {2}active {2}srtt [\d.]+ ms {2}min/);
});

test('--metrics serves Prometheus text; --events writes qlog-shaped JSON lines', async () => {
  // RTT samples are taken once a second.
  let body = '';
  for (let i = 0; i < 30; i++) {
    const scraped = await scrape(metricsUrl);
    assert.equal(scraped.status, 200);
    assert.match(scraped.type, /^text\/plain; version=0\.0\.4/);
    body = scraped.body;
    if (metricValue(body, 'braid_path_rtt_seconds_count') > 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(metricValue(body, 'braid_sessions'), 1, 'the tunnel session is open');
  assert.equal(metricValue(body, 'braid_paths{state="active"}'), 1);
  assert.equal(metricValue(body, 'braid_paths{state="failed"}'), 0);
  // Nothing failed, but on a loaded machine an event-loop stall can move a session (the
  // documented cost of fast detection): every counted failover must then be in the event log.
  let failovers = 0;
  for (const reason of ['unresponsive', 'address-removed', 'peer-address-removed', 'peer-moved']) {
    const value = metricValue(body, `braid_failovers_total{reason="${reason}"}`);
    assert.ok(Number.isInteger(value) && value >= 0, `braid_failovers_total{reason="${reason}"} = ${value}`);
    failovers += value;
  }
  assert.equal(metricValue(body, 'braid_congestion_events_total{reason="loss"}'), 0);
  assert.ok(metricValue(body, 'braid_sessions_started_total') >= 2);
  assert.ok(metricValue(body, 'braid_bytes_received_total') > 50_000);
  assert.ok(metricValue(body, 'braid_path_rtt_seconds_count') > 0);
  assert.equal(
    metricValue(body, 'braid_path_rtt_seconds_bucket{le="+Inf"}'),
    metricValue(body, 'braid_path_rtt_seconds_count'),
  );
  assert.match(body, /# TYPE braid_path_rtt_seconds histogram/);
  assert.match(body, /# TYPE braid_drops_total counter/);
  assert.equal((await scrape(metricsUrl.replace('/metrics', '/nope'))).status, 404);

  await tunnel!.stop();
  tunnel = undefined;
  const readEvents = (): Array<{ time: number; name: string; data: Record<string, unknown> }> =>
    readFileSync(eventsPath, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
  // Every session the server saw (tunnel, cat, ping) has ended in the log.
  let events = readEvents();
  for (let i = 0; i < 50; i++) {
    const count = (name: string): number => events.filter((e) => e.name === name).length;
    if (count('braid:session:closed') === count('braid:session:started')) break;
    await new Promise((r) => setTimeout(r, 100));
    events = readEvents();
  }
  assert.ok(
    events.filter((e) => e.name === 'braid:path:failover').length >= failovers,
    `${failovers} failovers counted, each one logged`,
  );
  const names = new Set(events.map((e) => e.name));
  for (const name of [
    'braid:process:started',
    'braid:session:started',
    'braid:session:handshake',
    'braid:path:added',
    'braid:path:validated',
    'braid:path:active',
    'braid:path:metrics',
    'braid:session:closed',
  ]) {
    assert.ok(names.has(name), `${name} in ${[...names].join(', ')}`);
  }
  for (const event of events) {
    assert.equal(typeof event.time, 'number');
    assert.match(event.name, /^braid:(process|session|path):[a-z_]+$/);
  }
  const active = events.find((e) => e.name === 'braid:path:active')!;
  assert.equal(typeof active.data.session, 'number');
  assert.match(String(active.data.remote), /^127\.0\.0\.1:\d+$/);
});
