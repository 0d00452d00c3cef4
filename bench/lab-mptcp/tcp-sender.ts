// MPTCP baseline sender (run under `mptcpize run`): connects with a plain Node TCP socket, waits
// for a 'go' line on stdin (the bench first checks with `ss -tin` that the subflows exist), then
// sends random data like the Braid agent it is compared with:
// - `paced BYTES RATE` (bench failover): BYTES at RATE bytes/s exactly as
//   testing/agents/failover-client.ts paces Braid, {event:'midway', at, written} at a quarter;
// - `timed SECONDS` (bench aggregate): as fast as the socket takes them for SECONDS, as
//   bench/lab-aggregate/braid-sender.ts does.
// stdout: {event:'connected', local, remote}, then {event:'done', bytes, sha256, seconds, ...}.
// Usage: tcp-sender.ts SERVER PORT paced BYTES RATE | tcp-sender.ts SERVER PORT timed SECONDS
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { emit, pacedSend } from '../../testing/agents/transfer-agent.js';
import { timedSend } from '../lab-aggregate/goodput.js';

const [host, portText, mode, ...rest] = process.argv.slice(2);
if (!(mode === 'paced' && rest.length === 2) && !(mode === 'timed' && rest.length === 1)) {
  console.error(
    'usage: tcp-sender.ts SERVER PORT paced BYTES RATE | tcp-sender.ts SERVER PORT timed SECONDS',
  );
  process.exit(2);
}

const go = new Promise<void>((resolve) => {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.includes('"go"')) resolve();
  });
});

const socket = connect({ host: host!, port: Number(portText), noDelay: true });
socket.on('error', (error: Error) => {
  emit({ event: 'error', message: error.message });
  process.exit(1);
});
await once(socket, 'connect');
emit({ event: 'connected', local: socket.localAddress, remote: socket.remoteAddress });
await go;

const sent =
  mode === 'paced'
    ? await pacedSend(socket, Number(rest[0]), Number(rest[1]))
    : await timedSend(socket, Number(rest[0]));
emit({ event: 'done', ...sent });
process.exit(0);
