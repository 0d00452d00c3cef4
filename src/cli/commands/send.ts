/**
 * `braid send FILE SERVER`: sends one file to a server that accepts files
 * (`braid serve --receive-dir DIR` or `braid receive`). About once a second it marks a stream
 * checkpoint (BraidStream#checkpoint); the receiver confirms it once those bytes are on its
 * disk. After an interruption — a lost network (the session suspends and resumes on its own),
 * or a crash of either process — running the same command again continues from the last
 * confirmed checkpoint, once the SHA-256 of the receiver's prefix matches this file's. The
 * whole file's SHA-256 is checked by the receiver at the end.
 */
import { once } from 'node:events';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from '../command.js';
import { booleanFlag, type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { connectToServer, openForward, parseServerTarget } from '../shared/client.js';
import { CLIENT_OPTIONS_HELP, CLIENT_SPECS, clientOptionsFrom } from '../shared/client-options.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';
import { fileDataStart, hashFile, type ResumePoint } from '../shared/file-transfer.js';
import { formatBytes, formatDuration, formatRate } from '../shared/format.js';
import { RequestKind } from '../shared/forward-protocol.js';

const SEND_USAGE = `usage: braid send FILE SERVER [--name NAME] [--limit-rate RATE] [options]

Sends FILE to a braid server that accepts files (braid serve --receive-dir DIR, or
braid receive). If an earlier send of the same file was interrupted, the server
keeps what arrived and this send continues from there (after checking the SHA-256
of that prefix). The receiver verifies the SHA-256 of the whole file at the end.
A progress bar with the rate and the time left (ETA) is drawn when stderr is a terminal.

  --name NAME               the file's name at the server (default: FILE's base name)
  --limit-rate RATE         at most RATE bytes per second (suffixes k, m, g: 1024-based)
  --json                    print the result as one JSON object on stdout (keys: type "sent",
                            name, size, sent, resumedAt, seconds, sha256, verified); no progress
                            bar. On failure stdout stays empty: the exit code and stderr say why
${CLIENT_OPTIONS_HELP}`;

const CHUNK = 64 * 1024;
/** A checkpoint at most this often (it costs the receiver an fsync)... */
const CHECKPOINT_INTERVAL_MS = 1000;
/** ...and only after this much new data. */
const CHECKPOINT_MIN_BYTES = 64 * 1024;

function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(text);
  const multiplier = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match?.[2]?.toLowerCase() ?? ''];
  const value = match ? Number(match[1]) * multiplier! : Number.NaN;
  if (!Number.isFinite(value) || value < 1) {
    throw new UsageError(
      `--limit-rate '${text}' must be a rate in bytes per second, e.g. 500k or 2m`,
      SEND_USAGE,
    );
  }
  return value;
}

/** The progress bar estimates the time left only after this long. */
const ETA_AFTER_MS = 500;

class Progress {
  readonly #total: number;
  readonly #start: number;
  readonly #started = performance.now();
  readonly #tty: boolean;
  #last = 0;

  constructor(start: number, total: number, wanted: boolean) {
    this.#start = start;
    this.#total = total;
    this.#tty = wanted && process.stderr.isTTY === true;
  }

  update(position: number, force = false): void {
    if (!this.#tty) return;
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const width = 30;
    const fraction = this.#total === 0 ? 1 : position / this.#total;
    const filled = Math.round(fraction * width);
    const elapsedMs = now - this.#started;
    const rate = elapsedMs > 0 ? ((position - this.#start) / elapsedMs) * 1000 : 0;
    // The time left at the average rate since this run began: steadier than the last interval's,
    // and what a --limit-rate holds to. Not before half a second, when the first writes into
    // the buffers would promise far too much; rounded up, so "0s" means done. The finished bar
    // shows how long it took instead.
    const timing =
      position >= this.#total
        ? `in ${formatDuration(elapsedMs)}`
        : elapsedMs >= ETA_AFTER_MS && rate > 0
          ? `ETA ${formatDuration(Math.ceil((this.#total - position) / rate) * 1000)}`
          : 'ETA -';
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ` +
        `${formatBytes(position)} / ${formatBytes(this.#total)}  ${formatRate(rate)}  ${timing}   `,
    );
  }

  done(): void {
    if (this.#tty) process.stderr.write('\n');
  }
}

const SEND_FLAGS: Record<string, FlagSpec> = {
  ...CLIENT_SPECS,
  name: { type: 'string' },
  'limit-rate': { type: 'string' },
  json: { type: 'boolean' },
};

async function runSend(argv: string[], log: (line: string) => void): Promise<number> {
  const args = parseArgs(argv, SEND_FLAGS, SEND_USAGE);
  if (args.help) {
    console.log(SEND_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 2) throw new UsageError('give FILE and SERVER', SEND_USAGE);
  const [path, server] = args.positionals as [string, string];
  const rateText = stringFlag(args, 'limit-rate');
  const rate = rateText === undefined ? undefined : parseRate(rateText);
  const name = stringFlag(args, 'name') ?? basename(path);
  const target = parseServerTarget(server);
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    size = info.size;
  } catch (error) {
    throw new CliError(
      `cannot send ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const sha256 = await hashFile(path);
  const session = await connectToServer(target, clientOptionsFrom(args, SEND_USAGE, log));
  try {
    const offerText = JSON.stringify({ name, size, sha256 });
    const { stream, reader, reason } = await openForward(session, {
      kind: RequestKind.SEND,
      target: offerText,
    });
    const resume = readResumePoint(reason);
    let start = 0;
    if (resume.offset > 0) {
      if (resume.offset <= size && (await hashFile(path, resume.offset)) === resume.prefixSha256) {
        start = resume.offset;
        log(
          `resuming at ${start} of ${size} bytes (the receiver's copy of the first ${start} bytes matches)`,
        );
      } else {
        log(`the receiver's partial copy does not match ${path}; starting over`);
      }
    }
    const header = Buffer.alloc(8);
    header.writeBigUInt64BE(BigInt(start));
    stream.write(header);
    log(`sending ${name}: ${size - start} of ${size} bytes to ${target.label}`);

    const json = booleanFlag(args, 'json');
    const progress = new Progress(start, size, !json);
    const handle = await open(path, 'r');
    const began = performance.now();
    let position = start;
    // Checkpoints: stream offsets count the request and start records before the file's bytes.
    const dataStart = fileDataStart(offerText);
    let durable = start;
    let lastCheckpoint = { at: performance.now(), position: start };
    const checkpoint = (): void => {
      lastCheckpoint = { at: performance.now(), position };
      stream.checkpoint().then(
        (offset) => {
          durable = Math.max(durable, start + offset - dataStart);
        },
        () => undefined, // the stream ended first: the final verdict tells what happened
      );
    };
    try {
      while (position < size) {
        if (
          performance.now() - lastCheckpoint.at >= CHECKPOINT_INTERVAL_MS &&
          position - lastCheckpoint.position >= CHECKPOINT_MIN_BYTES
        )
          checkpoint();
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) throw new CliError(`${path} shrank while it was being sent`);
        position += bytesRead;
        if (!stream.write(buffer.subarray(0, bytesRead))) await once(stream, 'drain');
        progress.update(position);
        if (rate !== undefined) {
          const ahead = ((position - start) / rate) * 1000 - (performance.now() - began);
          if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
        }
      }
    } finally {
      await handle.close();
    }
    progress.update(position, true);
    progress.done();
    stream.end();
    const verdict = (await reader.readToEnd(4096)).toString('utf8').trim();
    const seconds = (performance.now() - began) / 1000;
    const sent = size - start;
    if (start < size) log(`the receiver confirmed ${durable} bytes on disk at the last checkpoint`);
    if (verdict === `ok ${sha256}`) {
      if (json) {
        const result = { type: 'sent', name, size, sent, resumedAt: start, seconds, sha256, verified: true };
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return ExitCode.OK;
      }
      process.stdout.write(
        `sent ${sent} bytes${start > 0 ? ` (resumed at ${start})` : ''} of ${name} (${size} bytes) in ` +
          `${seconds.toFixed(2)} s; sha256 ${sha256} verified by the receiver\n`,
      );
      return ExitCode.OK;
    }
    throw new CliError(
      `the receiver did not confirm ${name}: ${verdict.replace(/^error /, '') || 'no answer'}`,
    );
  } finally {
    await session.close(0, 'send done');
  }
}

function readResumePoint(text: string): ResumePoint {
  try {
    const value = JSON.parse(text) as ResumePoint;
    if (Number.isSafeInteger(value.offset) && value.offset >= 0 && typeof value.prefixSha256 === 'string') {
      return value;
    }
  } catch {
    // Reported below.
  }
  throw new CliError(`the receiver answered with a resume point that makes no sense: ${text}`);
}

export const command: Command = {
  usage: SEND_USAGE,
  flags: SEND_FLAGS,
  synopsis: 'FILE SERVER',
  summary: 'send a file (resumable, SHA-256 verified) to a receiving server',
  run: runSend,
};
