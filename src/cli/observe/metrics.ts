/**
 * `--metrics HOST:PORT`: Prometheus text exposition (format 0.0.4) at /metrics,
 * read from the process's SessionTracker, and /healthz for load balancers and probes.
 */
import { createServer, type Server } from 'node:http';
import { formatHostPort } from '../shared/args.js';
import { CliError, ExitCode } from '../shared/errors.js';
import type { PathStatusState, SessionTracker } from './tracker.js';

/** Upper bounds of the RTT histogram, seconds. */
export const RTT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const PATH_STATES: PathStatusState[] = ['validating', 'active', 'standby', 'failed', 'suspended'];

export class RttHistogram {
  readonly counts = new Array<number>(RTT_BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < RTT_BUCKETS.length; i++) if (seconds <= RTT_BUCKETS[i]!) this.counts[i]!++;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(tracker: SessionTracker, rtt: RttHistogram): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: Array<[string, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const sessions = tracker.sessions();
  const totals = tracker.totals();
  metric('braid_info', 'gauge', 'The braid command serving these metrics.', [
    [`{command="${escapeLabel(tracker.command)}"}`, 1],
  ]);
  metric('braid_sessions', 'gauge', 'Sessions open now.', [['', sessions.length]]);
  metric('braid_sessions_suspended', 'gauge', 'Open sessions suspended now: no path works for them.', [
    ['', sessions.filter((s) => s.state === 'suspended').length],
  ]);
  metric(
    'braid_session_suspended_seconds',
    'gauge',
    'How long the longest-suspended open session has been suspended (0 when none is).',
    [['', Math.max(0, ...sessions.map((s) => s.suspendedMs ?? 0)) / 1000]],
  );
  metric('braid_sessions_started_total', 'counter', 'Sessions started since the process began.', [
    ['', totals.sessionsStarted],
  ]);
  const byState = new Map<string, number>(PATH_STATES.map((s) => [s, 0]));
  for (const s of sessions) for (const p of s.paths) byState.set(p.state, (byState.get(p.state) ?? 0) + 1);
  byState.delete('removed');
  metric(
    'braid_paths',
    'gauge',
    'Paths of the open sessions, by state.',
    [...byState].map(([state, n]) => [`{state="${state}"}`, n]),
  );
  const byReason = (counts: Record<string, number>): Array<[string, number]> =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([reason, n]) => [`{reason="${escapeLabel(reason)}"}`, n]);
  metric('braid_suspensions_total', 'counter', 'Times a session was suspended.', [['', totals.suspensions]]);
  metric('braid_resumptions_total', 'counter', 'Times a suspended session resumed.', [
    ['', totals.resumptions],
  ]);
  metric(
    'braid_sessions_closed_total',
    'counter',
    'Sessions closed, by cause: clean, session_expired (suspended past the persistence timeout), …',
    Object.entries(totals.sessionsClosed)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([cause, n]) => [`{cause="${escapeLabel(cause)}"}`, n]),
  );
  metric(
    'braid_failovers_total',
    'counter',
    'Times a session moved its active path off a failed one, by reason.',
    byReason(totals.failovers),
  );
  metric(
    'braid_congestion_events_total',
    'counter',
    'Congestion events that cut the congestion window of a path, by cause.',
    byReason(totals.congestionEvents),
  );
  metric('braid_bytes_sent_total', 'counter', 'UDP payload bytes sent by all sessions.', [
    ['', totals.bytesSent],
  ]);
  metric('braid_bytes_received_total', 'counter', 'UDP payload bytes received by all sessions.', [
    ['', totals.bytesReceived],
  ]);
  metric('braid_packets_lost_total', 'counter', 'Packets declared lost by loss detection.', [
    ['', totals.packetsLost],
  ]);
  metric(
    'braid_drops_total',
    'counter',
    'Datagrams dropped without effect, by reason.',
    byReason(totals.drops),
  );
  const udp = tracker.udpForwards();
  metric('braid_udp_flows', 'gauge', 'UDP forward flows held now.', [['', udp.flows]]);
  metric('braid_udp_flows_opened_total', 'counter', 'UDP forward flows opened.', [['', udp.flowsOpened]]);
  metric(
    'braid_udp_flows_closed_total',
    'counter',
    'UDP forward flows closed, by cause: peer (its CLOSE frame), expired (idle), evicted (flow limit).',
    [
      ['{cause="evicted"}', udp.flowsEvicted],
      ['{cause="expired"}', udp.flowsExpired],
      ['{cause="peer"}', udp.flowsClosedByPeer],
    ],
  );
  metric('braid_udp_datagrams_sent_total', 'counter', 'UDP datagrams forwarded into a session.', [
    ['', udp.datagramsSent],
  ]);
  metric('braid_udp_datagrams_received_total', 'counter', 'UDP datagrams forwarded out of a session.', [
    ['', udp.datagramsReceived],
  ]);
  metric('braid_udp_drops_total', 'counter', 'UDP datagrams a forward dropped, by reason.', [
    ['{reason="malformed"}', udp.droppedMalformed],
    ['{reason="no-session"}', udp.droppedNoSession],
    ['{reason="oversize"}', udp.droppedOversize],
    ['{reason="queue-full"}', udp.droppedQueueFull],
    ['{reason="suspended"}', udp.droppedSuspended],
    ['{reason="unknown-flow"}', udp.droppedUnknownFlow],
  ]);
  lines.push(
    '# HELP braid_path_rtt_seconds Smoothed RTT of each live path, sampled once a second.',
    '# TYPE braid_path_rtt_seconds histogram',
  );
  RTT_BUCKETS.forEach((bound, i) => {
    lines.push(`braid_path_rtt_seconds_bucket{le="${bound}"} ${rtt.counts[i]}`);
  });
  lines.push(`braid_path_rtt_seconds_bucket{le="+Inf"} ${rtt.count}`);
  lines.push(`braid_path_rtt_seconds_sum ${rtt.sum}`, `braid_path_rtt_seconds_count ${rtt.count}`);
  return `${lines.join('\n')}\n`;
}

/** What /healthz answers: 200 only while 'serving' (503 while starting and while draining). */
export interface Health {
  state: 'starting' | 'serving' | 'draining';
}

export async function startMetricsServer(
  host: string,
  port: number,
  tracker: SessionTracker,
  health: Health = { state: 'serving' },
): Promise<{ server: Server; url: string }> {
  const rtt = new RttHistogram();
  tracker.on('sample', (rtts) => {
    for (const ms of rtts) rtt.observe(ms / 1000);
  });
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      response.writeHead(health.state === 'serving' ? 200 : 503, {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
      });
      response.end(`${health.state}\n`);
      return;
    }
    if (path !== '/metrics') {
      response
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('metrics are at /metrics, health at /healthz\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    response.end(renderMetrics(tracker, rtt));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = formatHostPort(host, port);
      reject(
        error.code === 'EADDRINUSE'
          ? new CliError(`--metrics ${where}: the port is already in use`, ExitCode.ADDRESS_IN_USE)
          : new CliError(`--metrics ${where}: ${error.code ?? error.message}`),
      );
    });
    server.listen({ host, port }, () => resolve());
  });
  server.unref();
  const bound = server.address() as { address: string; port: number };
  return { server, url: `http://${formatHostPort(bound.address, bound.port)}/metrics` };
}
