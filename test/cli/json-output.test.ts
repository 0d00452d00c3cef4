// `--json` for scripts, on real processes over loopback: `braid ping --json` writes JSON Lines
// (session, one probe per probe, summary last), `braid send --json` one result object; stdout
// holds nothing else, and the keys are the documented ones.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
let server: Awaited<ReturnType<typeof startServer>>;

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  server = await startServer(serverHome, ['--allow-any', '--receive-dir', join(serverHome.dir, 'in')]);
});

after(async () => {
  await server?.daemon.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

const parseLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('braid ping --json writes one JSON object per line: session, probes, summary', async () => {
  const result = await runBraid(['ping', server.url, '-c', '3', '-i', '50', '--json'], clientHome.env);
  assert.equal(result.code, 0, result.stderr);
  const records = parseLines(result.stdout);
  assert.deepEqual(
    records.map((r) => r.type),
    ['session', 'probe', 'probe', 'probe', 'summary'],
  );
  const [session, ...rest] = records;
  assert.deepEqual(Object.keys(session!).sort(), ['setupMs', 'target', 'type']);
  assert.equal(session!.target, server.url.replace(/^braid:\/\/[^@]+@/, ''));
  const probes = rest.slice(0, 3);
  probes.forEach((probe, i) => {
    assert.deepEqual(Object.keys(probe).sort(), [
      'datagram',
      'datagramRttMs',
      'pathId',
      'seq',
      'srttMs',
      'streamRttMs',
      'type',
    ]);
    assert.equal(probe.seq, i + 1);
    assert.equal(typeof probe.streamRttMs, 'number', 'loopback answers every stream probe');
    assert.ok((probe.streamRttMs as number) > 0);
    assert.ok(['replied', 'lost', 'not-sent'].includes(probe.datagram as string));
    assert.equal(probe.datagram === 'replied', typeof probe.datagramRttMs === 'number');
  });
  const summary = rest[3]!;
  assert.deepEqual(Object.keys(summary).sort(), ['datagram', 'paths', 'probes', 'stream', 'target', 'type']);
  assert.equal(summary.probes, 3);
  const stream = summary.stream as Record<string, number>;
  assert.deepEqual(Object.keys(stream).sort(), ['avgMs', 'maxMs', 'mdevMs', 'minMs', 'replies']);
  assert.equal(stream.replies, 3);
  const rtts = probes.map((p) => p.streamRttMs as number);
  assert.equal(stream.minMs, Math.min(...rtts), 'the summary is computed from the probes');
  assert.equal(stream.maxMs, Math.max(...rtts));
  const paths = summary.paths as Array<Record<string, unknown>>;
  assert.ok(paths.length >= 1);
  assert.deepEqual(Object.keys(paths[0]!).sort(), [
    'id',
    'local',
    'minRttMs',
    'packetsLost',
    'packetsSent',
    'remote',
    'rttvarMs',
    'srttMs',
    'state',
  ]);
  assert.match(paths[0]!.remote as string, /^127\.0\.0\.1:\d+$/);
  assert.doesNotMatch(result.stdout, /PING|statistics/, 'no text on stdout');
});

test('braid send --json prints one result object with stable keys', async () => {
  const data = randomBytes(300 * 1024);
  const file = join(clientHome.dir, 'report.bin');
  writeFileSync(file, data);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const result = await runBraid(['send', file, server.url, '--json'], clientHome.env);
  assert.equal(result.code, 0, result.stderr);
  const records = parseLines(result.stdout);
  assert.equal(records.length, 1, 'exactly one line');
  const sent = records[0]!;
  assert.deepEqual(Object.keys(sent).sort(), [
    'name',
    'resumedAt',
    'seconds',
    'sent',
    'sha256',
    'size',
    'type',
    'verified',
  ]);
  assert.deepEqual(
    { ...sent, seconds: 0 },
    {
      type: 'sent',
      name: 'report.bin',
      size: data.length,
      sent: data.length,
      resumedAt: 0,
      seconds: 0,
      sha256,
      verified: true,
    },
  );
  assert.ok((sent.seconds as number) > 0);

  // Again: already complete, nothing sent.
  const again = await runBraid(['send', file, server.url, '--json'], clientHome.env);
  assert.equal(again.code, 0, again.stderr);
  const second = parseLines(again.stdout)[0]!;
  assert.equal(second.sent, 0);
  assert.equal(second.resumedAt, data.length);

  // A failure leaves stdout empty; the exit code says why.
  const missing = await runBraid(
    ['send', join(clientHome.dir, 'absent'), server.url, '--json'],
    clientHome.env,
  );
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /cannot send .*absent: ENOENT/);
});
