/**
 * The receiving side of `braid send`: files land in one directory, written as they
 * arrive to `.NAME.braid-partial` next to a small state file `.NAME.braid-state`
 * ({name, size, sha256, durable}). The sender marks stream checkpoints
 * (BraidStream#checkpoint, docs/persistence.md §4); for each we fsync the partial file, record
 * the offset as `durable` and confirm it, so after a crash of either side (even of this
 * process, even of the machine) the transfer restarts from the last confirmed checkpoint. A
 * sender that comes back is told that offset and the SHA-256 of that prefix, and continues
 * from there. Only when the whole file's SHA-256 matches is it renamed to NAME.
 *
 * The directory may be one where others can create files (`--shared-receive-dir`), so no
 * path of ours is trusted to be what we left there: the partial file is opened once, without
 * following a symbolic link, and written, truncated, synced and hashed through that
 * descriptor; files we create are created exclusively (O_EXCL|O_NOFOLLOW), after unlinking
 * whatever was at their name, so a planted link is removed, never written through.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fdatasyncSync,
  constants as fs,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  read,
  readFileSync,
  renameSync,
  type Stats,
  unlinkSync,
  type WriteStream,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

/** Names of the server's own files beside a transfer: `.NAME` + one of these. */
const PARTIAL_SUFFIX = '.braid-partial';
const STATE_SUFFIX = '.braid-state';
const STATE_TEMPORARY_SUFFIX = '.braid-state.tmp';
const RESERVED_SUFFIXES = [PARTIAL_SUFFIX, STATE_SUFFIX, STATE_TEMPORARY_SUFFIX];
/** A file name is at most 255 bytes (NAME_MAX); the longest we derive is `.NAME.braid-state.tmp`. */
export const MAX_NAME_BYTES = 255 - 1 - STATE_TEMPORARY_SUFFIX.length;

/** Why `name` cannot be received, or undefined when it can. */
export function fileNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    return 'the file name must be a plain name, without directories';
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) {
    return `the file name is ${bytes} bytes in UTF-8; at most ${MAX_NAME_BYTES} fit beside the receiver's .NAME${STATE_TEMPORARY_SUFFIX} file`;
  }
  // With these refused, no name can equal another transfer's partial, state or temporary file.
  const reserved = RESERVED_SUFFIXES.find((suffix) => name.endsWith(suffix));
  if (reserved !== undefined) return `names ending in ${reserved} are reserved for the receiver's own files`;
  return undefined;
}

export function parseOffer(text: string): SendOffer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('the file offer is not JSON');
  }
  const offer = value as Partial<SendOffer>;
  if (typeof offer.name !== 'string') throw new Error('the file offer has no name');
  const problem = fileNameProblem(offer.name);
  if (problem !== undefined) throw new Error(problem);
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
    const partialPath = join(this.dir, `.${offer.name}${PARTIAL_SUFFIX}`);
    const statePath = join(this.dir, `.${offer.name}${STATE_SUFFIX}`);
    const prefix = `${who}: ${offer.name}`;

    const existing = lstatOrUndefined(finalPath);
    if (existing && !lstatOrUndefined(statePath)) {
      const have = existing.isFile() ? await hashExistingFile(finalPath) : undefined;
      if (have !== offer.sha256) {
        refuse(
          stream,
          ForwardStatus.UNAVAILABLE,
          have === undefined
            ? `${offer.name} already exists on the server and is not a regular file; send it under another --name`
            : `${offer.name} already exists on the server with different content; send it under another --name`,
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

    const { fd, resume } = await openPartial(offer, partialPath, statePath);
    const durable = new DurablePrefix(statePath, offer, fd);
    try {
      stream.write(encodeResponse({ status: ForwardStatus.OK, reason: JSON.stringify(resume) }));
      const start = Number((await reader.read(8)).readBigUInt64BE(0));
      if (start !== 0 && start !== resume.offset) {
        stream.end(`error the sender asked to start at ${start}, not at 0 or ${resume.offset}\n`);
        return;
      }
      ftruncateSync(fd, start);
      this.#log(
        start > 0
          ? `${prefix}: resuming at ${start} of ${offer.size} bytes`
          : `${prefix}: receiving ${offer.size} bytes`,
      );

      // Positional writes through our descriptor; it stays open (ours to close) for the sync and hash.
      const file = createWriteStream(partialPath, { fd, start, autoClose: false });
      durable.begin(file, start);
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
      const written = new Promise<void>((resolve) => {
        file.once('finish', resolve);
        file.once('error', () => resolve());
      });
      reader.pipeRest(file);
      const complete = await ended;
      // The pipe ends the file on a clean end; after a reset or a dead session, end it here.
      if (!file.writableEnded) file.end();
      if (!file.writableFinished && !file.errored) await written;
      const size = fstatSync(fd).size;
      if (!complete || size < offer.size) {
        // We are still here: everything we wrote can be made durable, beyond the last checkpoint.
        durable.record(size);
        this.#log(`${prefix}: interrupted at ${size} of ${offer.size} bytes; kept for resume`);
        if (!stream.destroyed) stream.end(`error interrupted at ${size} of ${offer.size} bytes\n`);
        return;
      }
      const got = await hashDescriptor(fd);
      if (size !== offer.size || got !== offer.sha256) {
        unlinkIfPresent(partialPath);
        unlinkIfPresent(statePath);
        const reason =
          size !== offer.size
            ? `${size} bytes instead of ${offer.size}`
            : `sha256 ${got} instead of ${offer.sha256}`;
        this.#log(`${prefix}: verification failed (${reason}); partial copy removed`);
        stream.end(`error verification failed: ${reason}\n`);
        return;
      }
      renameSync(partialPath, finalPath);
      unlinkIfPresent(statePath);
      // The rename went by name: make sure what now bears the name is the file we verified.
      const moved = lstatOrUndefined(finalPath);
      const ours = fstatSync(fd);
      if (!moved || moved.ino !== ours.ino || moved.dev !== ours.dev) {
        if (moved) unlinkIfPresent(finalPath);
        this.#log(
          `${prefix}: the partial file was replaced by something else during the transfer; discarded`,
        );
        stream.end('error the partial file was replaced on the server during the transfer\n');
        return;
      }
      this.#log(`${prefix}: complete, ${size} bytes, sha256 ${got}`);
      stream.end(`ok ${got}\n`);
    } finally {
      durable.close();
    }
  }
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');
const readAt = promisify(read);

/**
 * Opens the partial file to continue it, or creates a fresh one: continued only when the state
 * file matches the offer and the partial file is a regular file of ours with one link (a hard
 * link planted by another user to one of our files would otherwise be written through).
 */
async function openPartial(
  offer: SendOffer,
  partialPath: string,
  statePath: string,
): Promise<{ fd: number; resume: ResumePoint }> {
  const state = readState(statePath);
  if (state && state.size === offer.size && state.sha256 === offer.sha256) {
    const fd = openOrUndefined(partialPath, fs.O_RDWR | fs.O_NOFOLLOW | fs.O_NONBLOCK);
    if (fd !== undefined) {
      const stat = fstatSync(fd);
      if (stat.isFile() && stat.nlink === 1 && isOurs(stat)) {
        // Only the durable prefix is trusted: bytes after the last checkpoint may not have reached
        // the disk before a crash. (A state file from before checkpoints: its length, still checked
        // against the sender's file by the prefix hash.)
        const trusted = Number.isSafeInteger(state.durable) ? Math.min(state.durable!, stat.size) : stat.size;
        const length = Math.min(trusted, offer.size);
        ftruncateSync(fd, length);
        return { fd, resume: { offset: length, prefixSha256: await hashDescriptor(fd, length) } };
      }
      closeSync(fd);
    }
  }
  writeState(statePath, { ...offer, durable: 0 });
  const fd = createFresh(partialPath, fs.O_RDWR);
  return { fd, resume: { offset: 0, prefixSha256: EMPTY_SHA256 } };
}

function isOurs(stat: Stats): boolean {
  return typeof process.getuid !== 'function' || stat.uid === process.getuid();
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function openOrUndefined(path: string, flags: number): number | undefined {
  try {
    return openSync(path, flags);
  } catch {
    return undefined;
  }
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** A new, empty file at `path`: whatever was there (a planted link, a stale file) is unlinked, never opened. */
function createFresh(path: string, access: number): number {
  unlinkIfPresent(path);
  // O_EXCL: if something appears at the name between the unlink and the open, fail rather than reuse it.
  return openSync(path, access | fs.O_CREAT | fs.O_EXCL | fs.O_NOFOLLOW, 0o600);
}

/** The state file, or undefined when it is missing, not a small regular file, or not JSON. */
function readState(path: string): Partial<SendState> | undefined {
  // O_NONBLOCK: a FIFO planted at the name must not hang the server.
  const fd = openOrUndefined(path, fs.O_RDONLY | fs.O_NOFOLLOW | fs.O_NONBLOCK);
  if (fd === undefined) return undefined;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > 4096) return undefined;
    return JSON.parse(readFileSync(fd, 'utf8')) as Partial<SendState>;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** SHA-256 of the regular file at `path` (not followed if it is a link), or undefined. */
async function hashExistingFile(path: string): Promise<string | undefined> {
  const fd = openOrUndefined(path, fs.O_RDONLY | fs.O_NOFOLLOW | fs.O_NONBLOCK);
  if (fd === undefined) return undefined;
  try {
    return fstatSync(fd).isFile() ? await hashDescriptor(fd) : undefined;
  } finally {
    closeSync(fd);
  }
}

/** SHA-256 (hex) of the first `length` bytes of an open file (all of it when undefined). */
async function hashDescriptor(fd: number, length = Number.POSITIVE_INFINITY): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  let position = 0;
  while (position < length) {
    const { bytesRead } = await readAt(fd, buffer, 0, Math.min(buffer.length, length - position), position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

/** Writes the state file atomically and durably (a fresh temporary file, fsync, rename). */
function writeState(path: string, state: SendState): void {
  const temporary = `${path.slice(0, -STATE_SUFFIX.length)}${STATE_TEMPORARY_SUFFIX}`;
  const fd = createFresh(temporary, fs.O_WRONLY);
  try {
    writeSync(fd, `${JSON.stringify(state)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/**
 * The prefix of the partial file that is on disk: `reach(offset)` waits until the write stream
 * has written that far, fsyncs the file and records the offset in the state file. Owns the
 * partial file's descriptor.
 */
class DurablePrefix {
  #file: WriteStream | undefined;
  #start = 0;
  #recorded = 0;
  #closed = false;
  constructor(
    readonly statePath: string,
    readonly offer: SendOffer,
    readonly fd: number,
  ) {}

  begin(file: WriteStream, start: number): void {
    this.#file = file;
    this.#start = start;
    this.#recorded = start;
  }

  /** Resolves true once every byte below `offset` is durable; false if the file closes first. */
  async reach(offset: number): Promise<boolean> {
    const file = this.#file;
    if (!file || offset > this.offer.size || offset < this.#start) return false;
    while (this.#start + file.bytesWritten < offset) {
      if (this.#closed || file.destroyed || file.writableFinished) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    if (this.#closed) return false;
    this.record(offset);
    return true;
  }

  /** Every byte below `offset` has been written to the file: sync it, then record the offset. */
  record(offset: number): void {
    if (this.#closed || offset <= this.#recorded) return;
    fdatasyncSync(this.fd);
    this.#recorded = offset;
    writeState(this.statePath, { ...this.offer, durable: offset });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.fd);
  }
}

function refuse(stream: BraidStream, status: ForwardStatusValue, reason: string): void {
  if (stream.destroyed || stream.writableEnded) return;
  stream.end(encodeResponse({ status, reason }));
  stream.resume();
}
