/**
 * `braid demo`: a self-contained tour on this host. A server and a client on
 * loopback open an encrypted session (Noise IK, the server key pinned), move data
 * over several streams at once, exchange datagrams, and print what happened.
 * Needs no root. (The multihomed failover demo arrives with the CLI issue.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fingerprint } from '../crypto/identity.js';
import { connect, createServer, generateKeyPair } from '../index.js';

export interface DemoOptions {
  streams: number;
  bytesPerStream: number;
  out: (line: string) => void;
}

export async function runDemo(options: DemoOptions): Promise<{ ok: boolean }> {
  const { out } = options;
  const serverKey = generateKeyPair();
  const clientKey = generateKeyPair();
  const server = createServer({ staticKey: serverKey, authorizedKeys: [clientKey.publicKey] }, (session) => {
    // Echo every stream back with its SHA-256, so both ends can compare.
    session.on('stream', (stream) => {
      const hash = createHash('sha256');
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      stream.on('end', () => stream.end(`${bytes} ${hash.digest('hex')}`));
    });
    session.on('datagram', (d) => session.sendDatagram(d));
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const port = server.address()!.port;
  out(`server  listening on 127.0.0.1:${port}, key ${fingerprint(serverKey.publicKey)}`);

  const started = performance.now();
  const session = await connect(
    { host: '127.0.0.1', port },
    { staticKey: clientKey, serverKey: serverKey.publicKey, timeout: 5000 },
  );
  out(`client  connected in ${(performance.now() - started).toFixed(1)} ms (Noise IK, server key pinned)`);
  out(`        channel binding ${Buffer.from(session.channelBinding()).toString('hex').slice(0, 32)}…`);

  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: options.streams }, async (_, i) => {
      const stream = await session.openStream();
      const hash = createHash('sha256');
      const reply: Buffer[] = [];
      stream.on('data', (c: Buffer) => reply.push(c));
      const ended = once(stream, 'end');
      let left = options.bytesPerStream;
      while (left > 0) {
        const chunk = randomBytes(Math.min(left, 64 * 1024));
        hash.update(chunk);
        left -= chunk.length;
        if (!stream.write(chunk)) await once(stream, 'drain');
      }
      stream.end();
      await ended;
      const [bytes, digest] = Buffer.concat(reply).toString().split(' ');
      const local = hash.digest('hex');
      return { i, ok: digest === local && Number(bytes) === options.bytesPerStream, digest: local };
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const total = options.streams * options.bytesPerStream;
  for (const r of results)
    out(`stream ${r.i}  sha256 ${r.digest.slice(0, 16)}…  ${r.ok ? 'equal at both ends' : 'MISMATCH'}`);
  out(
    `moved   ${(total / 1048576).toFixed(1)} MiB over ${options.streams} streams in ${seconds.toFixed(2)} s (${((total * 8) / seconds / 1e6).toFixed(0)} Mbit/s, encrypted)`,
  );

  const echoed = once(session, 'datagram');
  session.sendDatagram(Buffer.from('ping'));
  const [datagram] = (await Promise.race([
    echoed,
    new Promise((r) => setTimeout(() => r([undefined]), 2000)),
  ])) as [Buffer | undefined];
  out(`datagram ${datagram ? `echoed: ${datagram.toString()}` : 'not echoed (datagrams are unreliable)'}`);
  const path = session.paths[0];
  if (path) {
    out(
      `path    ${path.local.address}:${path.local.port} → ${path.remote.address}:${path.remote.port}  ${path.state}  srtt ${path.srtt?.toFixed(2)} ms  cwnd ${path.congestionWindow}  lost ${path.packetsLost}/${path.packetsSent}`,
    );
  }
  await session.close();
  await server.close(0, '', 500);
  const ok = results.every((r) => r.ok);
  out(ok ? 'demo    ok: every stream arrived exactly once, in order' : 'demo    FAILED');
  return { ok };
}
