/** `braid report EVENTS`: an `--events` log to one self-contained HTML page (observe/report.ts). */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from '../command.js';
import { buildTimeline, parseEventLog, renderReport } from '../observe/report.js';
import { type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';

const REPORT_USAGE = `usage: braid report EVENTS [-o FILE]

Reads an event log written by --events (braid serve, tunnel or socks) and writes a
self-contained HTML page (no network needed) with a timeline: each path's state over
time, the active path, failover gaps, RTT, key updates and session ends.

  -o, --output FILE         where to write the page (default: EVENTS with .html)
  -h, --help                show this help`;

const REPORT_FLAGS: Record<string, FlagSpec> = { output: { type: 'string', short: 'o' } };

async function runReport(argv: string[], log: (line: string) => void): Promise<number> {
  const args = parseArgs(argv, REPORT_FLAGS, REPORT_USAGE);
  if (args.help) {
    console.log(REPORT_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one EVENTS file', REPORT_USAGE);
  const input = args.positionals[0]!;
  const output = stringFlag(args, 'output') ?? `${input.replace(/\.(jsonl|json|log|ndjson)$/, '')}.html`;
  let text: string;
  try {
    text = readFileSync(input, 'utf8');
  } catch (error) {
    throw new CliError(
      `cannot read ${input}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const { events, skipped } = parseEventLog(text);
  if (events.length === 0) {
    throw new CliError(
      `${input} holds no events (write one with --events FILE on braid serve, tunnel or socks)`,
    );
  }
  const timeline = buildTimeline(events, skipped);
  try {
    writeFileSync(output, renderReport(timeline, `braid report: ${input}`));
  } catch (error) {
    throw new CliError(
      `cannot write ${output}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (skipped > 0) log(`${skipped} lines of ${input} were not events and were skipped`);
  process.stdout.write(`${output}\n`);
  return ExitCode.OK;
}

export const command: Command = {
  usage: REPORT_USAGE,
  flags: REPORT_FLAGS,
  synopsis: 'EVENTS [-o FILE]',
  summary: 'turn an --events log into an HTML timeline',
  run: runReport,
};
