// A child process of `npm run bench -- sessions`: one UDP socket and one engine endpoint that
// open many sessions to the server and then keep them idle (keepalives only). One socket for
// all of them keeps the client side cheap, so the server is what the bench measures.
// Protocol with the parent (IPC): it sends { type: 'open', ... }; this process answers
// { type: 'established', ... } once every session is confirmed or failed, then idles until
// 'exit'.
import { createEngine, generateKeyPair } from '../../src/api/engine-factory.js';
import { UdpEndpoint } from '../../src/endpoint/udp-endpoint.js';
import type { EngineConnection } from '../../src/engine/types.js';
import { socketAddress } from '../../src/net/address.js';

export interface OpenRequest {
  type: 'open';
  sessions: number;
  /** Handshakes in flight at once from this process. */
  concurrency: number;
  port: number;
  serverKey: string;
}

export interface EstablishedReport {
  type: 'established';
  confirmed: number;
  failed: number;
  firstFailure: string | undefined;
  milliseconds: number;
}

async function open(request: OpenRequest): Promise<void> {
  const engine = createEngine({ staticKey: generateKeyPair() });
  const server = socketAddress('127.0.0.1', request.port);
  const serverKey = new Uint8Array(Buffer.from(request.serverKey, 'hex'));
  const pending = new Set<EngineConnection>();
  let started = 0;
  let confirmed = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const start = performance.now();
  const sessions: EngineConnection[] = [];

  let udp: UdpEndpoint | undefined;
  const startMore = (): void => {
    while (udp && started < request.sessions && pending.size < request.concurrency) {
      const connection = udp.connect(server, { serverKey });
      started++;
      pending.add(connection);
      sessions.push(connection);
    }
    udp?.scheduleFlush();
    if (confirmed + failed === request.sessions) {
      const report: EstablishedReport = {
        type: 'established',
        confirmed,
        failed,
        firstFailure,
        milliseconds: performance.now() - start,
      };
      process.send?.(report);
    }
  };
  udp = await UdpEndpoint.bind(engine, [{ host: '127.0.0.1', port: 0 }], {
    onConnectionEvent(connection, event) {
      if (event.type === 'handshake-confirmed' && pending.delete(connection)) {
        confirmed++;
        startMore();
      } else if (event.type === 'closed' && pending.delete(connection)) {
        failed++;
        firstFailure ??= `${event.info.code}: ${event.info.reason}`;
        startMore();
      }
    },
  });
  startMore();
}

if (process.send) {
  process.on('message', (message: OpenRequest | 'exit') => {
    if (message === 'exit') process.exit(0);
    else if (message.type === 'open') void open(message);
  });
  process.send({ type: 'ready' });
}
