// MPTCP baseline receiver (run under `mptcpize run`): a plain Node TCP server on the wildcard
// address (an MP_JOIN needs a listener on the address it joins) that hashes the first connection's
// bytes. Same JSON-lines protocol as test/lab/failover-server.ts: stdout {event:'listening', port}
// then {event:'received', bytes, sha256, gapMs, gapFromStartMs}; stdin {faultStart, faultEnd}.
// Usage: tcp-receiver.ts
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { gapAfter } from './gap.js';

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
process.stdin.on('end', () => process.exit(0));

const server = createServer((socket) => {
  const hash = createHash('sha256');
  const arrivals: number[] = [];
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    arrivals.push(wallNow());
    hash.update(chunk);
    bytes += chunk.length;
  });
  socket.on('end', () => {
    emit({
      event: 'received',
      bytes,
      sha256: hash.digest('hex'),
      ...(fault && {
        gapMs: gapAfter(fault.end, arrivals),
        gapFromStartMs: gapAfter(fault.start, arrivals),
      }),
    });
    socket.end();
  });
  socket.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
});
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
server.listen({ host: '::', port: 0 }, () => {
  const address = server.address();
  emit({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
