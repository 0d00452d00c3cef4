// MPTCP baseline sender (run under `mptcpize run`): connects with a plain Node TCP socket, waits
// for a 'go' line on stdin (the bench first checks with `ss -tin` that the subflows exist), then
// sends random data like the Braid agent it is compared with:
// - `paced BYTES RATE` (bench failover): BYTES at RATE bytes/s exactly as
//   testing/agents/failover-client.ts paces Braid, {event:'midway', at, written} at a quarter;
// - `timed SECONDS` (bench aggregate): as fast as the socket takes them for SECONDS, as
//   bench/lab-aggregate/braid-sender.ts does.
// For downloads, `listen paced BYTES RATE` runs in the server namespace instead: it listens on
// the wildcard address (MP_JOINs arrive on either server address), prints {event:'listening',
// port}, and sends over the first connection a `tcp-receiver.ts connect` makes.
// stdout: {event:'connected', local, remote}, then {event:'done', bytes, sha256, seconds, ...}.
// Usage: tcp-sender.ts SERVER PORT paced BYTES RATE | tcp-sender.ts SERVER PORT timed SECONDS |
//        tcp-sender.ts listen paced BYTES RATE
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { emit, pacedSend } from '../../testing/agents/transfer-agent.js';
import { timedSend } from '../lab-aggregate/goodput.js';

const args = process.argv.slice(2);
const listening = args[0] === 'listen';
const [host, portText, mode, ...rest] = listening ? [undefined, undefined, ...args.slice(1)] : args;
if (!(mode === 'paced' && rest.length === 2) && !(mode === 'timed' && rest.length === 1 && !listening)) {
  console.error(
    'usage: tcp-sender.ts SERVER PORT paced BYTES RATE | tcp-sender.ts SERVER PORT timed SECONDS | tcp-sender.ts listen paced BYTES RATE',
  );
  process.exit(2);
}

const go = new Promise<void>((resolve) => {
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.includes('"go"')) resolve();
  });
});

function fail(error: Error): never {
  emit({ event: 'error', message: error.message });
  process.exit(1);
}

/** The one connection to send over: accepted (downloads) or dialled. */
async function connection(): Promise<Socket> {
  if (listening) {
    const server = createServer({ noDelay: true });
    server.on('error', fail);
    server.listen({ host: '::', port: 0 }, () => {
      const address = server.address();
      emit({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
    });
    // The listener stays open: the subflows' MP_JOINs need it.
    const [accepted] = (await once(server, 'connection')) as [Socket];
    accepted.on('error', fail);
    return accepted;
  }
  const dialled = connect({ host: host!, port: Number(portText), noDelay: true });
  dialled.on('error', fail);
  await once(dialled, 'connect');
  return dialled;
}

const socket = await connection();
emit({ event: 'connected', local: socket.localAddress, remote: socket.remoteAddress });
await go;

const sent =
  mode === 'paced'
    ? await pacedSend(socket, Number(rest[0]), Number(rest[1]))
    : await timedSend(socket, Number(rest[0]));
emit({ event: 'done', ...sent });
process.exit(0);
