/**
 * `braid demo`: its flags and help; the demo itself is demo/demo.ts, and `--agent` (what the
 * namespace variant runs in each namespace) is demo/agent.ts.
 */
import type { Command } from '../command.js';
import { runDemoAgent } from '../demo/agent.js';
import { runDemo } from '../demo/demo.js';
import { booleanFlag, type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { ExitCode, UsageError } from '../shared/errors.js';

const DEMO_DEFAULTS = {
  mib: 32,
  rateMbit: 40,
  faultAt: 0.4,
  serverHosts: ['127.0.0.1', '127.0.0.2'] as [string, string],
  clientHosts: ['127.0.0.3', '127.0.0.4'] as [string, string],
};

const DEMO_USAGE = `usage: braid demo [--mib M] [--rate MBIT] [--fault-at PERCENT] [--fault KIND]
                  [--netns | --loopback] [--out DIR]

Multihoming failover, live, on this host. A client streams M MiB to a server over
a session with two paths: it runs on one and keeps a warm standby on the other.
When PERCENT of the data has arrived the active path is broken; the session
detects it and moves to the standby. A status table shows the paths live; the
summary gives the bytes moved, SHA-256 at both ends, the failover gap (fault to
the next in-order byte at the receiver) and an HTML report of the run.

Where it runs:
  As root, with iproute2 and nftables installed (scripts/setup-system.sh), in
  network namespaces built by lab/lab.sh: the client has two providers (a, b),
  the server two addresses behind a router, and the fault is real (a silent
  nftables drop in the router, or the provider link taken down). Otherwise, and
  saying why in one line, over two loopback address pairs in one process (server
  127.0.0.1 and 127.0.0.2, client 127.0.0.3 and 127.0.0.4), the active pair
  blackholed inside the process. The demo never installs packages itself.
  Everything it built is torn down on exit, Ctrl-C included.

  --mib M                   MiB to stream (default ${DEMO_DEFAULTS.mib})
  --rate MBIT               application send rate in Mbit/s, so the run can be
                            watched (default ${DEMO_DEFAULTS.rateMbit}; 0: as fast as possible)
  --fault-at PERCENT        break the active path after PERCENT of the data
                            arrived (default ${DEMO_DEFAULTS.faultAt * 100})
  --fault KIND              blackhole (default: silent drop, both directions) or
                            link-down (namespaces only: the provider link goes down)
  --netns                   insist on network namespaces (exit 1 when unavailable)
  --loopback                use the loopback variant even as root
  --out DIR                 where events.jsonl and report.html go (default: a new
                            directory under the system temp dir)
  -h, --help                show this help

Exit status 0 when every byte arrived once, in order, across the failover.`;

function numberFlag(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (value === '' || !Number.isFinite(v) || v < min || v > max) {
    throw new UsageError(`--${name} needs a number in [${min}, ${max}], got '${value}'`, DEMO_USAGE);
  }
  return v;
}

const DEMO_FLAGS: Record<string, FlagSpec> = {
  mib: { type: 'string' },
  rate: { type: 'string' },
  'fault-at': { type: 'string' },
  fault: { type: 'string' },
  netns: { type: 'boolean' },
  loopback: { type: 'boolean' },
  out: { type: 'string' },
};

/** `braid demo [options]` (and the hidden `--agent` mode its namespace variant starts). */
async function runDemoCommand(argv: string[]): Promise<number> {
  if (argv[0] === '--agent') return runDemoAgent(argv);
  const args = parseArgs(argv, DEMO_FLAGS, DEMO_USAGE);
  if (args.help) {
    console.log(DEMO_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument '${args.positionals[0]}'`, DEMO_USAGE);
  const netns = booleanFlag(args, 'netns');
  const loopback = booleanFlag(args, 'loopback');
  if (netns && loopback) throw new UsageError('give --netns or --loopback, not both', DEMO_USAGE);
  const fault = stringFlag(args, 'fault') ?? 'blackhole';
  if (fault !== 'blackhole' && fault !== 'link-down') {
    throw new UsageError(`--fault is blackhole or link-down, got '${fault}'`, DEMO_USAGE);
  }
  if (fault === 'link-down' && loopback)
    throw new UsageError('--fault link-down needs network namespaces', DEMO_USAGE);
  const result = await runDemo({
    bytes: Math.round(numberFlag(stringFlag(args, 'mib'), 'mib', DEMO_DEFAULTS.mib, 0.0625, 4096) * 1048576),
    rateMbit: numberFlag(stringFlag(args, 'rate'), 'rate', DEMO_DEFAULTS.rateMbit, 0, 100_000),
    faultAt: numberFlag(stringFlag(args, 'fault-at'), 'fault-at', DEMO_DEFAULTS.faultAt * 100, 1, 95) / 100,
    fault,
    mode: netns ? 'netns' : loopback ? 'loopback' : 'auto',
    outDir: stringFlag(args, 'out'),
    serverHosts: DEMO_DEFAULTS.serverHosts,
    clientHosts: DEMO_DEFAULTS.clientHosts,
    tty: process.stdout.isTTY === true,
    write: (text) => process.stdout.write(text),
  });
  return result.ok ? ExitCode.OK : ExitCode.FAILURE;
}

export const command: Command = {
  usage: DEMO_USAGE,
  flags: DEMO_FLAGS,
  synopsis: '',
  summary:
    'watch a session fail over between two paths on this host\n(network namespaces as root, else loopback addresses)',
  run: runDemoCommand,
};
