// The operator tools count what the engine reports: a lossy active path cuts the congestion
// window (congestion events), then a blackhole makes the session fail over (failover event).
// Real sockets on loopback, in one process; the tracker feeds the event log, the Prometheus
// metrics and the report, so all three are checked against the same run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pacedSend, waitForStandby } from '../../src/cli/demo/transfer.js';
import { RttHistogram, renderMetrics } from '../../src/cli/observe/metrics.js';
import { buildTimeline, renderReport } from '../../src/cli/observe/report.js';
import { type BraidEvent, SessionTracker } from '../../src/cli/observe/tracker.js';
import { connect, createServer, generateKeyPair } from '../../src/index.js';

test('engine failover and congestion events reach the event log, the metrics and the report', async () => {
  const tracker = new SessionTracker('test');
  const events: BraidEvent[] = [];
  tracker.on('event', (event) => events.push(event));
  const serverKey = generateKeyPair();
  let received = 0;
  const server = createServer({ staticKey: serverKey }, (session) => {
    session.on('stream', (stream) => {
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      stream.on('end', () => stream.end('done'));
    });
  });
  await server.listen({ hosts: ['127.0.0.1', '127.0.0.2'], port: 0 });
  // Drop every 20th datagram the client sends on the first pair (loss), then all of them both ways.
  let mode: 'clean' | 'lossy' | 'blackhole' = 'clean';
  let sentOnFirst = 0;
  const session = await connect(
    { host: '127.0.0.1', port: server.address()!.port },
    {
      serverKey: serverKey.publicKey,
      localAddresses: ['127.0.0.3', '127.0.0.4'],
      faultInjector: (direction, local) => {
        if (local.address !== '127.0.0.3' || mode === 'clean') return false;
        if (mode === 'blackhole') return true;
        return direction === 'out' && ++sentOnFirst % 20 === 0;
      },
    },
  );
  try {
    assert.ok(await waitForStandby(session), 'a warm standby path');
    mode = 'lossy';
    const transfer = pacedSend(session, 8 * 1024 * 1024, 80);
    while (received < 2 * 1024 * 1024) await new Promise((r) => setTimeout(r, 10));
    mode = 'blackhole';
    const { reply } = await transfer;
    assert.equal(reply, 'done');
    assert.equal(received, 8 * 1024 * 1024);
  } finally {
    await session.close();
    await server.close(0, '', 200);
    tracker.close();
  }

  const congestion = events.filter((e) => e.name === 'braid:path:congestion');
  assert.ok(congestion.length > 0, 'congestion events were logged');
  assert.equal(congestion[0]!.data.reason, 'loss');
  assert.equal(typeof congestion[0]!.data.cwnd, 'number');
  assert.match(String(congestion[0]!.data.local), /^127\.0\.0\.3:\d+$/);

  const failovers = events.filter((e) => e.name === 'braid:path:failover');
  // Seen from either end, the new path joins the other pair of addresses. (On a loaded machine
  // the lossy stretch may first move the session between the server's addresses: not this one.)
  const detected = failovers.find(
    (e) =>
      e.data.reason === 'unresponsive' && /127\.0\.0\.4:\d+/.test(`${e.data.toLocal} ${e.data.toRemote}`),
  );
  assert.ok(detected, `an end detected the dead path and moved to 127.0.0.4: ${JSON.stringify(failovers)}`);
  assert.notEqual(detected.data.from, detected.data.to);

  const totals = tracker.totals();
  assert.ok(totals.failovers.unresponsive! >= 1);
  assert.equal(
    Object.values(totals.failovers).reduce((a, b) => a + b, 0),
    failovers.length,
    'every failover event counted once',
  );
  assert.equal(totals.congestionEvents.loss, congestion.filter((e) => e.data.reason === 'loss').length);

  const metrics = renderMetrics(tracker, new RttHistogram());
  assert.match(
    metrics,
    new RegExp(`^braid_failovers_total\\{reason="unresponsive"\\} ${totals.failovers.unresponsive}$`, 'm'),
  );
  assert.match(metrics, /^braid_failovers_total\{reason="address-removed"\} 0$/m, 'known reasons start at 0');
  assert.match(
    metrics,
    new RegExp(`^braid_congestion_events_total\\{reason="loss"\\} ${totals.congestionEvents.loss}$`, 'm'),
  );

  const timeline = buildTimeline(events);
  assert.equal(timeline.failovers.length, failovers.length);
  const html = renderReport(timeline, 'tracker test');
  assert.equal((html.match(/class="failover-mark"/g) ?? []).length, failovers.length);
  assert.ok((html.match(/class="congestion"/g) ?? []).length >= congestion.length);
  assert.match(html, /failover from path \d+ to path \d+ at [\d.]+ s \(unresponsive\)/);
});
