/**
 * The receiving side of `braid send`: files land in one directory, written as they
 * arrive to `.NAME.braid-partial` next to a small state file `.NAME.braid-state`
 * ({name, size, sha256, durable}). The sender marks stream checkpoints
 * (BraidStream#checkpoint, docs/persistence.md §4); for each we fsync the partial file, record
 * the offset as `durable` and confirm it, so after a crash of either side (even of this
 * process, even of the machine) the transfer restarts from the last confirmed checkpoint. A
 * sender that comes back is told that offset and the SHA-256 of that prefix, and continues
 * from there. Only when the whole file's SHA-256 matches is it renamed to NAME.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { BraidStream } from '../../index.js';
import {
  type ByteReader,
  encodeResponse,
  ForwardStatus,
  type ForwardStatusValue,
} from './forward-protocol.js';

export interface SendOffer {
  name: string;
  size: number;
  sha256: string;
}

/** The state file: the offer, and the prefix of the partial file known to be on disk. */
interface SendState extends SendOffer {
  durable?: number;
}

/**
 * Stream bytes before the file's: the request record (4 + offer) and the 8-byte start offset.
 * Checkpoint offsets count stream bytes; both ends use this to turn them into file offsets.
 */
export function fileDataStart(offerText: string): number {
  return 4 + Buffer.byteLength(offerText, 'utf8') + 8;
}

export interface ResumePoint {
  offset: number;
  prefixSha256: string;
}

export function parseOffer(text: string): SendOffer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('the file offer is not JSON');
  }
  const offer = value as Partial<SendOffer>;
  if (
    typeof offer.name !== 'string' ||
    !/^[^/\\\0]{1,255}$/.test(offer.name) ||
    offer.name === '.' ||
    offer.name === '..' ||
    offer.name.endsWith('.braid-partial') ||
    offer.name.endsWith('.braid-state')
  ) {
    throw new Error('the file name must be a plain name, without directories');
  }
  if (typeof offer.size !== 'number' || !Number.isSafeInteger(offer.size) || offer.size < 0) {
    throw new Error('the file size must be a non-negative integer');
  }
  if (typeof offer.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(offer.sha256)) {
    throw new Error('the SHA-256 must be 64 lowercase hex digits');
  }
  return { name: offer.name, size: offer.size, sha256: offer.sha256 };
}

/** SHA-256 (hex) of the first `length` bytes of `path` (the whole file when undefined). */
export async function hashFile(path: string, length?: number): Promise<string> {
  const hash = createHash('sha256');
  if (length === 0) return hash.digest('hex');
  const input = createReadStream(path, length === undefined ? {} : { start: 0, end: length - 1 });
  for await (const chunk of input) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface Transfer {
  stream: BraidStream;
  done: Promise<void>;
}

export class ReceiveDirectory {
  readonly dir: string;
  readonly #log: (line: string) => void;
  readonly #active = new Map<string, Transfer>();

  constructor(dir: string, log: (line: string) => void) {
    this.dir = dir;
    this.#log = log;
  }

  async handle(stream: BraidStream, reader: ByteReader, offerText: string, who: string): Promise<void> {
    let offer: SendOffer;
    try {
      offer = parseOffer(offerText);
    } catch (error) {
      refuse(stream, ForwardStatus.BAD_REQUEST, (error as Error).message);
      return;
    }
    // A sender that was cut off may still own a half-dead stream: end it before reusing its file.
    const previous = this.#active.get(offer.name);
    if (previous) {
      previous.stream.destroy();
      await previous.done;
    }
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const transfer = { stream, done };
    this.#active.set(offer.name, transfer);
    try {
      await this.#receive(stream, reader, offer, offerText, who);
    } finally {
      if (this.#active.get(offer.name) === transfer) this.#active.delete(offer.name);
      finish();
    }
  }

  async #receive(
    stream: BraidStream,
    reader: ByteReader,
    offer: SendOffer,
    offerText: string,
    who: string,
  ): Promise<void> {
    const finalPath = join(this.dir, offer.name);
    const partialPath = join(this.dir, `.${offer.name}.braid-partial`);
    const statePath = join(this.dir, `.${offer.name}.braid-state`);
    const prefix = `${who}: ${offer.name}`;

    if (existsSync(finalPath) && !existsSync(statePath)) {
      const have = await hashFile(finalPath);
      if (have !== offer.sha256) {
        refuse(
          stream,
          ForwardStatus.UNAVAILABLE,
          `${offer.name} already exists on the server with different content; send it under another --name`,
        );
        return;
      }
      stream.write(
        encodeResponse({
          status: ForwardStatus.OK,
          reason: JSON.stringify({ offset: offer.size, prefixSha256: have }),
        }),
      );
      await reader.read(8);
      stream.end(`ok ${have}\n`);
      this.#log(`${prefix}: already complete (sha256 ${have.slice(0, 16)}…)`);
      return;
    }

    const resume = await this.#resumePoint(offer, partialPath, statePath);
    stream.write(encodeResponse({ status: ForwardStatus.OK, reason: JSON.stringify(resume) }));
    const start = Number((await reader.read(8)).readBigUInt64BE(0));
    if (start !== 0 && start !== resume.offset) {
      stream.end(`error the sender asked to start at ${start}, not at 0 or ${resume.offset}\n`);
      return;
    }
    truncateSync(partialPath, start);
    this.#log(
      start > 0
        ? `${prefix}: resuming at ${start} of ${offer.size} bytes`
        : `${prefix}: receiving ${offer.size} bytes`,
    );

    const file = createWriteStream(partialPath, { flags: 'a' });
    const durable = new DurablePrefix(statePath, partialPath, offer, file, start);
    const dataStart = fileDataStart(offerText);
    // The sender's checkpoint: once those bytes are on disk (fsync), record and confirm them.
    stream.on('checkpoint', (offset: number) => {
      void durable.reach(start + offset - dataStart).then((ok) => {
        if (ok && !stream.destroyed) stream.confirmCheckpoint(offset);
      });
    });
    const ended = stream.readableEnded
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => {
          stream.once('end', () => resolve(true));
          stream.once('close', () => resolve(stream.readableEnded));
        });
    reader.pipeRest(file);
    const complete = await ended;
    // The pipe ends the file on a clean end; after a reset or a dead session, end it here.
    if (!file.writableEnded) file.end();
    if (!file.closed) await once(file, 'close');
    const size = statSync(partialPath).size;
    if (!complete || size < offer.size) {
      // We are still here: everything we wrote can be made durable, beyond the last checkpoint.
      durable.record(size);
      this.#log(`${prefix}: interrupted at ${size} of ${offer.size} bytes; kept for resume`);
      if (!stream.destroyed) stream.end(`error interrupted at ${size} of ${offer.size} bytes\n`);
      return;
    }
    const got = await hashFile(partialPath);
    if (size !== offer.size || got !== offer.sha256) {
      unlinkSync(partialPath);
      unlinkSync(statePath);
      const reason =
        size !== offer.size
          ? `${size} bytes instead of ${offer.size}`
          : `sha256 ${got} instead of ${offer.sha256}`;
      this.#log(`${prefix}: verification failed (${reason}); partial copy removed`);
      stream.end(`error verification failed: ${reason}\n`);
      return;
    }
    renameSync(partialPath, finalPath);
    unlinkSync(statePath);
    this.#log(`${prefix}: complete, ${size} bytes, sha256 ${got}`);
    stream.end(`ok ${got}\n`);
  }

  async #resumePoint(offer: SendOffer, partialPath: string, statePath: string): Promise<ResumePoint> {
    let state: Partial<SendState> | undefined;
    try {
      state = JSON.parse(readFileSync(statePath, 'utf8')) as Partial<SendState>;
    } catch {
      state = undefined;
    }
    if (state && state.size === offer.size && state.sha256 === offer.sha256 && existsSync(partialPath)) {
      // Only the durable prefix is trusted: bytes after the last checkpoint may not have reached
      // the disk before a crash. (A state file from before checkpoints: its length, still checked
      // against the sender's file by the prefix hash.)
      const onDisk = statSync(partialPath).size;
      const trusted = Number.isSafeInteger(state.durable) ? Math.min(state.durable!, onDisk) : onDisk;
      const length = Math.min(trusted, offer.size);
      truncateSync(partialPath, length);
      return { offset: length, prefixSha256: await hashFile(partialPath, length) };
    }
    writeState(statePath, { ...offer, durable: 0 });
    closeSync(openSync(partialPath, 'w', 0o600));
    return { offset: 0, prefixSha256: await hashFile(partialPath, 0) };
  }
}

/** Writes the state file atomically and durably (temporary file, fsync, rename). */
function writeState(path: string, state: SendState): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  const fd = openSync(temporary, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/**
 * The prefix of the partial file that is on disk: `reach(offset)` waits until the write stream
 * has written that far, fsyncs the file and records the offset in the state file.
 */
class DurablePrefix {
  #recorded: number;
  constructor(
    readonly statePath: string,
    readonly partialPath: string,
    readonly offer: SendOffer,
    readonly file: WriteStream,
    readonly start: number,
  ) {
    this.#recorded = start;
  }

  /** Resolves true once every byte below `offset` is durable; false if the file closes first. */
  async reach(offset: number): Promise<boolean> {
    if (offset > this.offer.size || offset < this.start) return false;
    while (this.start + this.file.bytesWritten < offset) {
      if (this.file.closed || this.file.destroyed) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    this.record(offset);
    return true;
  }

  /** Every byte below `offset` has been written to the file: sync it, then record the offset. */
  record(offset: number): void {
    if (offset <= this.#recorded) return;
    // fdatasync on any descriptor of the file flushes the file's data.
    const fd = openSync(this.partialPath, 'r');
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.#recorded = offset;
    writeState(this.statePath, { ...this.offer, durable: offset });
  }
}

function refuse(stream: BraidStream, status: ForwardStatusValue, reason: string): void {
  if (stream.destroyed || stream.writableEnded) return;
  stream.end(encodeResponse({ status, reason }));
  stream.resume();
}
