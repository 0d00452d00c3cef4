import { once } from 'node:events';
import { type ConnectOptions, connect } from '../../src/api/connect.js';
import { type BraidServer, createServer, type ServerOptions } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';

export interface Pair {
  server: BraidServer;
  client: Session;
  /** The server side of `client`. */
  serverSession: Session;
  port: number;
  close(): Promise<void>;
}

/** A listening server on 127.0.0.1 and one connected client session. */
export async function startPair(
  serverOptions: ServerOptions = {},
  clientOptions: ConnectOptions = {},
  onSession?: (session: Session) => void,
): Promise<Pair> {
  const server = createServer(serverOptions, onSession);
  await server.listen({ host: '127.0.0.1', port: 0 });
  const port = server.address()!.port;
  const accepted = once(server, 'session') as Promise<[Session]>;
  const client = await connect({ host: '127.0.0.1', port }, { timeout: 5000, ...clientOptions });
  const [serverSession] = await accepted;
  return {
    server,
    client,
    serverSession,
    port,
    async close() {
      await client.close().catch(() => undefined);
      await server.close(0, '', 500);
    },
  };
}

/**
 * Collects a readable side until 'end'. Not `for await`: a finished async iterator
 * destroys a Duplex, which would abort our still-open writable side.
 */
export function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/**
 * The 'close' event's argument. Not events.once(): it also listens for 'error',
 * which a session emits (to listeners only) right before an erroneous 'close'.
 */
export function closeEvent(session: Session): Promise<Error | undefined> {
  return new Promise((resolve) => session.once('close', resolve));
}

/** Polls `condition` every 10 ms; rejects after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
