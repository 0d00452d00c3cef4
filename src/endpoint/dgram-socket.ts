/** The portable socket back-end: node:dgram, one datagram per call (see datagram-socket.ts). */
import dgram from 'node:dgram';
import type { SocketAddress } from '../net/address.js';
import type { DatagramSocket, DatagramSocketHandlers, OpenSocketOptions } from './socket-types.js';

/**
 * The engine only ever sends to IP literals, so dgram's default lookup (dns.lookup,
 * answered on the next tick) is pure overhead per datagram: answer synchronously.
 */
function literalLookup(
  address: string,
  family: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const familyNumber = typeof family === 'number' ? family : address.includes(':') ? 6 : 4;
  callback(null, address, familyNumber);
}

class DgramSocket implements DatagramSocket {
  readonly backend = 'dgram';
  readonly batching = false;
  readonly maxSegments = 1;
  readonly maxBatchBytes = 65_507;
  readonly blocked = false;
  readonly local: SocketAddress;
  private readonly socket: dgram.Socket;
  private readonly handlers: DatagramSocketHandlers;
  private closed = false;
  /** One callback for every send, no closure per datagram; dgram reports a failed send only here. */
  private readonly onSent = (error: Error | null): void => {
    if (error)
      this.handlers.onSendError((error as NodeJS.ErrnoException).code ?? 'UNKNOWN', 1, undefined, error);
  };

  constructor(socket: dgram.Socket, local: SocketAddress, handlers: DatagramSocketHandlers) {
    this.socket = socket;
    this.local = local;
    this.handlers = handlers;
    socket.on('message', (message, info) => {
      const remote: SocketAddress = {
        address: info.address,
        port: info.port,
        family: info.family === 'IPv6' ? 'IPv6' : 'IPv4',
      };
      handlers.onDatagram(message, remote, undefined);
      handlers.onReadDone();
    });
    socket.on('error', (error) => handlers.onSocketError(error));
  }

  send(data: Uint8Array, offset: number, length: number, segmentSize: number, remote: SocketAddress): void {
    if (this.closed) {
      this.handlers.onSendError('ERR_SOCKET_DGRAM_NOT_RUNNING', 1, remote);
      return;
    }
    const step = segmentSize > 0 ? segmentSize : length;
    for (let at = offset; at < offset + length; at += step) {
      const end = Math.min(at + step, offset + length);
      const datagram = at === 0 && end === data.length ? data : data.subarray(at, end);
      try {
        this.socket.send(datagram, remote.port, remote.address, this.onSent);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
        this.handlers.onSendError(code, 1, remote, error as Error);
      }
    }
  }

  stats(): Record<string, number> {
    return {};
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // Already closed by the runtime.
    }
  }
}

export async function openDgramSocket(options: OpenSocketOptions): Promise<DatagramSocket> {
  const ipv6 = options.host.includes(':');
  const socket = dgram.createSocket({
    type: ipv6 ? 'udp6' : 'udp4',
    ipv6Only: ipv6 && options.ipv6Only,
    lookup: literalLookup,
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.bind({ port: options.port, address: options.host, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  try {
    socket.setRecvBufferSize(options.bufferSize);
    socket.setSendBufferSize(options.bufferSize);
  } catch {
    // Unprivileged processes may be capped by net.core.rmem_max; the default buffers still work.
  }
  const info = socket.address();
  const local: SocketAddress = { address: info.address, port: info.port, family: ipv6 ? 'IPv6' : 'IPv4' };
  return new DgramSocket(socket, local, options.handlers);
}
