// Lab failover receiver: a Braid server on the given hosts that hashes every stream it receives.
// Speaks JSON lines: stdout {event:'listening', port, key} then {event:'received', bytes, sha256,
// gapMs, gapFromStartMs} per finished stream; stdin {faultStart, faultEnd} (epoch ms) brackets the
// lab command that applied the fault, so it can measure the failover gap from its own arrival times.
// Usage: failover-server.ts HOST [HOST...]
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { createServer } from '../../src/api/server.js';

const hosts = process.argv.slice(2);
if (hosts.length === 0) {
  console.error('usage: failover-server.ts HOST [HOST...]');
  process.exit(2);
}

/** Wall-clock milliseconds with sub-ms precision, comparable across processes on this host. */
const wallNow = (): number => performance.timeOrigin + performance.now();
const emit = (message: object): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};

let fault: { start: number; end: number } | undefined;
createInterface({ input: process.stdin }).on('line', (line) => {
  try {
    const message = JSON.parse(line) as { faultStart?: number; faultEnd?: number };
    if (typeof message.faultStart === 'number' && typeof message.faultEnd === 'number') {
      fault = { start: message.faultStart, end: message.faultEnd };
    }
  } catch {
    // Not ours: ignore.
  }
});
// The test closes our stdin when it is done with us.
process.stdin.on('end', () => {
  void server.close(0, '', 200).finally(() => process.exit(0));
});

/**
 * The failover gap: the longest stretch after the fault without newly delivered bytes,
 * counted from the fault itself for the first stretch (bytes already in flight before the
 * fault may arrive just after it without meaning the new path works).
 */
function gapAfter(faultAt: number, arrivals: number[]): number {
  let gap = 0;
  let previous = faultAt;
  for (const at of arrivals) {
    if (at <= faultAt) continue;
    gap = Math.max(gap, at - previous);
    previous = at;
  }
  return gap;
}

const keyPair = generateKeyPair();
const server = createServer({ staticKey: keyPair }, (session) => {
  session.on('stream', (stream) => {
    const hash = createHash('sha256');
    const arrivals: number[] = [];
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      arrivals.push(wallNow());
      hash.update(chunk);
      bytes += chunk.length;
    });
    stream.on('end', () => {
      emit({
        event: 'received',
        bytes,
        sha256: hash.digest('hex'),
        ...(fault && {
          gapMs: gapAfter(fault.end, arrivals),
          gapFromStartMs: gapAfter(fault.start, arrivals),
        }),
      });
      stream.end();
    });
    stream.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
  });
  session.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
});
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
await server.listen({ hosts, port: 0 });
emit({
  event: 'listening',
  port: server.address()!.port,
  key: Buffer.from(keyPair.publicKey).toString('hex'),
});
