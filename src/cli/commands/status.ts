/**
 * `braid status`: asks running braid processes, over their control sockets, for
 * their sessions and paths, and prints them as a table (or JSON).
 */
import { unlinkSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from '../command.js';
import { controlSearchDirs, listControlSockets, queryControl } from '../observe/control.js';
import type { SessionStatus, Totals } from '../observe/tracker.js';
import { booleanFlag, type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';
import { formatBytes, formatDuration, formatMs, formatRate, table } from '../shared/format.js';

const STATUS_USAGE = `usage: braid status [--control PATH] [--watch] [--interval SECONDS] [--json]

Shows the sessions and paths of the running braid processes (serve, tunnel, socks):
addresses, state (a suspended session with since-when and why), RTT, loss,
throughput, bytes and age. Without --control it asks every control socket in
$XDG_RUNTIME_DIR/braid/ (or $XDG_CONFIG_HOME/braid/run/) and in the system-wide
/run/braid/ (services, and root's processes; BRAID_SYSTEM_CONTROL_DIR moves it).

  --control PATH            ask only the process behind this control socket
  --watch                   redraw every --interval seconds (default 1) until Ctrl-C
  --interval SECONDS        refresh interval for --watch
  --json                    print the raw answers as JSON (one line per refresh)
  -h, --help                show this help`;

export interface ProcessStatus {
  control: string;
  command: string;
  pid: number;
  uptimeMs: number;
  sessions: SessionStatus[];
  totals: Totals;
  [key: string]: unknown;
}

interface Collected {
  found: ProcessStatus[];
  dirs: string[];
  /** Directories and sockets that exist but belong to another user (EACCES). */
  denied: string[];
}

async function collect(explicit: string | undefined): Promise<Collected> {
  const dirs = controlSearchDirs();
  const denied: string[] = [];
  const paths = explicit ? [explicit] : dirs.flatMap((dir) => listControlSockets(dir, (d) => denied.push(d)));
  const found: ProcessStatus[] = [];
  for (const path of paths) {
    try {
      const answer = (await queryControl(path, { method: 'status' })) as ProcessStatus & { error?: string };
      if (answer.error) throw new Error(answer.error);
      found.push({ ...answer, control: path });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (explicit) {
        throw new CliError(`cannot ask ${path}: ${code ?? (error as Error).message}`);
      }
      if (code === 'EACCES') denied.push(path);
      if ((code === 'ECONNREFUSED' || code === 'ENOENT') && !pidAlive(basename(path))) {
        // Left behind by a process that was killed: nobody will ever answer there.
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      }
    }
  }
  return { found, dirs, denied };
}

function pidAlive(socketName: string): boolean {
  const pid = Number(/-(\d+)\.sock$/.exec(socketName)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An absolute time an operator can compare with the logs: UTC, to the second. */
function formatClock(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function sum(counts: Record<string, number> | undefined): number {
  return Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
}

export function renderStatus(processes: ProcessStatus[]): string {
  const out: string[] = [];
  for (const p of processes) {
    out.push(
      `braid ${p.command}  pid ${p.pid}  up ${formatDuration(p.uptimeMs)}  ${p.control}`,
      `  ${p.sessions.length} session(s) open, ${p.totals.sessionsStarted} started; ` +
        `sent ${formatBytes(p.totals.bytesSent)}, received ${formatBytes(p.totals.bytesReceived)}, ` +
        `${p.totals.packetsLost} packets lost, ${sum(p.totals.failovers)} failovers`,
    );
    const suspended = p.sessions.filter((s) => s.suspendedMs !== undefined).length;
    if (suspended > 0 || (p.totals.suspensions ?? 0) > 0) {
      out.push(
        `  ${suspended} suspended now; ${p.totals.suspensions ?? 0} suspensions, ` +
          `${p.totals.resumptions ?? 0} resumptions, ${p.totals.sessionsClosed?.session_expired ?? 0} expired`,
      );
    }
    const drops = Object.entries(p.totals.drops ?? {}).filter(([, n]) => n > 0);
    if (drops.length > 0) {
      drops.sort((a, b) => b[1] - a[1]);
      out.push(`  dropped: ${drops.map(([reason, n]) => `${reason} ${n}`).join(', ')}`);
    }
    for (const s of p.sessions) {
      out.push('');
      out.push(
        ...table(
          [
            ['SESSION', 'ROLE', 'PEER', 'STATE', 'AGE', 'LAST HEARD', 'SENT', 'RECEIVED', 'KEY UPDATES'],
            [
              `#${s.id}`,
              s.role,
              s.peerFingerprint ?? '-',
              s.suspendedMs !== undefined ? `suspended ${formatDuration(s.suspendedMs)}` : s.state,
              formatDuration(s.ageMs),
              s.silentMs !== undefined ? `${formatDuration(s.silentMs)} ago` : '-',
              formatBytes(s.bytesSent),
              formatBytes(s.bytesReceived),
              String(s.keyUpdates),
            ],
          ],
          '  ',
        ),
      );
      if (s.suspendedSince !== undefined) {
        out.push(
          `  suspended since ${formatClock(s.suspendedSince)} (${formatDuration(s.suspendedMs ?? 0)}): ` +
            `${s.lastError ?? 'no working path'}; kept until it resumes or its persistence timeout ends it`,
        );
      } else if (s.lastError) {
        out.push(`  last error: ${s.lastError} (resumed since)`);
      }
      if (s.backend) out.push(`  back-end: ${s.backend}`);
      const rows = [
        ['PATH', 'LOCAL', 'REMOTE', 'STATE', 'RTT', 'MIN RTT', 'LOSS', 'OUT', 'IN', 'SENT', 'RECEIVED'],
      ];
      for (const path of s.paths) {
        // A suspended session's paths carry nothing: their last RTT and loss would be stale.
        const measured = path.state !== 'suspended';
        rows.push([
          String(path.id),
          path.local,
          path.remote,
          path.state,
          measured ? formatMs(path.srttMs) : '-',
          formatMs(path.minRttMs),
          measured ? `${(path.loss * 100).toFixed(1)}%` : '-',
          formatRate(path.sendRate),
          formatRate(path.receiveRate),
          formatBytes(path.bytesSent),
          formatBytes(path.bytesReceived),
        ]);
      }
      out.push(...table(rows, '    '));
    }
    out.push('');
  }
  return out.join('\n');
}

const STATUS_FLAGS: Record<string, FlagSpec> = {
  control: { type: 'string' },
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  json: { type: 'boolean' },
};

async function runStatus(argv: string[]): Promise<number> {
  const args = parseArgs(argv, STATUS_FLAGS, STATUS_USAGE);
  if (args.help) {
    console.log(STATUS_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
  const intervalText = stringFlag(args, 'interval') ?? '1';
  const interval = Number(intervalText);
  if (!Number.isFinite(interval) || interval < 0.1) {
    throw new UsageError(`--interval needs a number of seconds (at least 0.1), got '${intervalText}'`);
  }
  const json = booleanFlag(args, 'json');
  const watch = booleanFlag(args, 'watch');
  const explicit = stringFlag(args, 'control');

  const once = async (): Promise<number> => {
    const { found, dirs, denied } = await collect(explicit);
    if (json) {
      process.stdout.write(`${JSON.stringify(found)}\n`);
    } else if (found.length === 0) {
      process.stdout.write(
        `no running braid process answers in ${dirs.join(' or ')} (start braid serve, tunnel or socks, or give --control PATH)\n`,
      );
    } else {
      if (watch && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
      process.stdout.write(`${renderStatus(found)}\n`);
    }
    if (denied.length > 0 && !json) {
      // Control sockets are owner-only: another user's processes (a service, root's) are not ours to ask.
      process.stderr.write(
        `braid status: not allowed to ask ${denied.join(', ')} (another user's); run braid status as that user or root\n`,
      );
    }
    return found.length > 0 ? ExitCode.OK : ExitCode.FAILURE;
  };

  if (!watch) return once();
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  while (!stop) {
    await once();
    const until = Date.now() + interval * 1000;
    while (!stop && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }
  return ExitCode.OK;
}

export const command: Command = {
  usage: STATUS_USAGE,
  flags: STATUS_FLAGS,
  synopsis: '[--watch]',
  summary: 'sessions and paths of the running braid processes (ss/mtr-like)',
  run: runStatus,
};
