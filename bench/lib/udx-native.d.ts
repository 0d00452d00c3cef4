// Minimal types for the parts of udx-native (which ships none) that the udx baseline uses.
declare module 'udx-native' {
  import type { EventEmitter } from 'node:events';

  interface UdxAddress {
    host: string;
    family: number;
    port: number;
  }

  class UdxSocket extends EventEmitter {
    readonly bound: boolean;
    bind(port?: number, host?: string): void;
    address(): UdxAddress;
    close(): Promise<void>;
    setRecvBufferSize(bytes: number): number;
    setSendBufferSize(bytes: number): number;
  }

  /** A streamx Duplex: write() returns false under backpressure, then 'drain'. */
  class UdxStream extends EventEmitter {
    readonly id: number;
    connect(socket: UdxSocket, remoteId: number, port: number, host?: string): void;
    write(data: Uint8Array): boolean;
    end(data?: Uint8Array): void;
    destroy(error?: Error): void;
  }

  class UDX {
    createSocket(options?: { ipv6Only?: boolean; reuseAddress?: boolean }): UdxSocket;
    createStream(id: number, options?: { framed?: boolean; seq?: number }): UdxStream;
  }

  export default UDX;
  export type { UdxSocket, UdxStream };
}
