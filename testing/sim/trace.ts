/**
 * Datagram trace: one compact line per event (send, drop with reason, deliver, fault),
 * hashed as it is written so `digest()` identifies a run without keeping every line.
 *
 * Line shapes (time in ms with 3 decimals, `h` is FNV-1a of the payload):
 *   12.000 send #17 192.0.2.10:5000>203.0.113.5:443 1200 h=9f3a01bc A.wifi
 *   32.000 deliver #17 192.0.2.10:5000>203.0.113.5:443 1200 h=9f3a01bc B.eth
 *   20.000 drop #18 192.0.2.10:5000>203.0.113.5:443 1200 h=77c0a1e2 loss A.wifi/out
 *   3000.000 fault blackhole A.wifi out
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface TraceOptions {
  /**
   * Lines kept in memory for `lines()` / `writeTo()`; older lines are discarded first
   * (the digest still covers every line). Default: unlimited.
   */
  maxLines?: number;
}

/** 32-bit FNV-1a of the bytes, as 8 hex digits: cheap enough to run on every traced datagram. */
export function payloadHash(data: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private readonly kept: string[] = [];
  /** Index of the oldest kept line once the ring is full. */
  private head = 0;
  private readonly maxLines: number;
  /** Lines recorded since the start (including discarded ones). */
  count = 0;

  constructor(options: TraceOptions = {}) {
    this.maxLines = options.maxLines ?? Number.POSITIVE_INFINITY;
  }

  record(line: string): void {
    this.hash.update(line);
    this.hash.update('\n');
    this.count++;
    if (this.maxLines <= 0) return;
    if (this.kept.length < this.maxLines) {
      this.kept.push(line);
    } else {
      this.kept[this.head] = line;
      this.head = (this.head + 1) % this.kept.length;
    }
  }

  /** SHA-256 (hex) over every line recorded so far; recording may continue afterwards. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }

  /** The kept lines, oldest first. */
  lines(): string[] {
    return this.head === 0
      ? this.kept.slice()
      : [...this.kept.slice(this.head), ...this.kept.slice(0, this.head)];
  }

  text(): string {
    const lines = this.lines();
    const omitted = this.count - lines.length;
    const header = omitted > 0 ? `# ${omitted} earlier lines omitted\n` : '';
    return `${header}${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`;
  }

  /** Writes the kept lines (and the digest) to `path`, creating directories as needed. */
  writeTo(path: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${this.text()}# digest ${this.digest()} lines ${this.count}\n`);
  }
}
