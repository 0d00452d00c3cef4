/**
 * Shared pieces of the real-socket end-to-end tests: a deterministic pseudo-random
 * byte source generated chunk by chunk, a hashing sink, and a one-stream transfer
 * whose receiver reports back what it got.
 */
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BraidStream } from '../../src/api/stream.js';
import { readAll } from './api-pair.js';

export const MiB = 1024 * 1024;
const CHUNK_SIZE = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK_SIZE);

/** Reads a positive byte count from the environment (for local debugging), else the default. */
export function bytesFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

/**
 * `totalBytes` of AES-128-CTR keystream keyed by `seed`: reproducible, incompressible,
 * and produced on demand so even hundreds of MiB are never held in memory. Every chunk
 * is a fresh buffer because a Braid stream keeps written chunks until they are acknowledged.
 */
export class PatternSource extends Readable {
  readonly #cipher;
  readonly #hash: Hash = createHash('sha256');
  #remaining: number;
  #digest: string | undefined;

  constructor(seed: string, totalBytes: number) {
    super({ highWaterMark: CHUNK_SIZE });
    const key = createHash('sha256').update(seed).digest().subarray(0, 16);
    this.#cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    this.#remaining = totalBytes;
  }

  /** SHA-256 (hex) of everything produced; available once the source has ended. */
  get digest(): string {
    if (this.#digest === undefined) throw new Error('PatternSource has not ended yet');
    return this.#digest;
  }

  override _read(): void {
    if (this.#remaining === 0) {
      this.#digest = this.#hash.digest('hex');
      this.push(null);
      return;
    }
    const size = Math.min(CHUNK_SIZE, this.#remaining);
    const chunk = this.#cipher.update(size === CHUNK_SIZE ? ZEROS : ZEROS.subarray(0, size));
    this.#remaining -= size;
    this.#hash.update(chunk);
    this.push(chunk);
  }
}

/** Hashes what is written to it and counts the bytes. */
export class HashSink extends Writable {
  readonly #hash: Hash = createHash('sha256');
  bytes = 0;
  #digest: string | undefined;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#digest = this.#hash.digest('hex');
    callback();
  }

  get digest(): string {
    if (this.#digest === undefined) throw new Error('HashSink has not finished yet');
    return this.#digest;
  }
}

/** What a receiving end reports back on the same stream after the sender's FIN. */
export interface ReceiptReport {
  bytes: number;
  sha256: string;
}

/**
 * Server side of `sendAndVerify`: drains the stream into a hash with backpressure,
 * then answers with the byte count and digest and closes its side.
 */
export function answerWithReceipt(stream: BraidStream): void {
  const sink = new HashSink();
  pipeline(stream, sink).then(
    () => stream.end(JSON.stringify({ bytes: sink.bytes, sha256: sink.digest } satisfies ReceiptReport)),
    (error: Error) => stream.destroy(error),
  );
}

/**
 * Client side: pipes `totalBytes` of the `seed` pattern into the stream, waits for the
 * receiver's report and returns both ends' digests for the caller to compare.
 */
export async function sendAndVerify(
  stream: BraidStream,
  seed: string,
  totalBytes: number,
): Promise<{ sent: string; received: ReceiptReport }> {
  const source = new PatternSource(seed, totalBytes);
  const [, reply] = await Promise.all([pipeline(source, stream), readAll(stream)]);
  const received = JSON.parse(reply.toString('utf8')) as ReceiptReport;
  return { sent: source.digest, received };
}

export function formatRate(bytes: number, seconds: number): string {
  const mbit = (bytes * 8) / seconds / 1e6;
  return `${(bytes / MiB).toFixed(1)} MiB in ${seconds.toFixed(2)} s = ${(bytes / MiB / seconds).toFixed(1)} MiB/s (${mbit.toFixed(0)} Mbit/s)`;
}
