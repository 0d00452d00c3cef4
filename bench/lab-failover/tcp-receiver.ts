// MPTCP baseline receiver (run under `mptcpize run`): a plain Node TCP server on the wildcard
// address (an MP_JOIN needs a listener on the address it joins) that hashes the first connection's
// bytes. Same JSON-lines protocol as test/lab/failover-server.ts: stdout {event:'listening', port}
// then {event:'received', bytes, sha256, gapMs, gapFromStartMs}; stdin {faultStart, faultEnd}.
// Usage: tcp-receiver.ts
import { createServer } from 'node:net';
import { emit, receiveAndReport, watchFault } from '../../test/lab/transfer-agent.js';

const fault = watchFault();
process.stdin.on('end', () => process.exit(0));

const server = createServer((socket) => receiveAndReport(socket, fault));
server.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
server.listen({ host: '::', port: 0 }, () => {
  const address = server.address();
  emit({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
