/**
 * The TUN device of `braid vpn` (Linux): packets through the native addon (native/braid_tun.cc,
 * non-blocking, read when libuv says the device is readable), configuration through the `ip`
 * command (iproute2), which every Linux host that can run a VPN has and whose errors an operator
 * can read and repeat by hand.
 *
 * The device is marked with the interface alias VPN_INTERFACE_ALIAS before it gets an address,
 * so the interface poller (src/endpoint/interfaces.ts) never offers an inner address as a Braid
 * locator: a path through the tunnel to the tunnel's own peer would carry itself.
 */
import { execFile } from 'node:child_process';
import { VPN_INTERFACE_ALIAS } from '../endpoint/interfaces.js';
import { loadAddon } from '../native/addons.js';
import { errnoCode } from '../native/errno.js';

interface NativeTun {
  name(): string;
  write(packet: Uint8Array): number;
  setRef(referenced: boolean): void;
  readErrors(): number;
  close(): void;
}

interface TunAddon {
  TunDevice: new (
    name: string,
    arena: Uint8Array,
    lengths: Uint32Array,
    slotSize: number,
    onPackets: (count: number) => void,
  ) => NativeTun;
}

/** Bytes of one read slot: larger than any MTU braid vpn sets (a longer packet is cut and then dropped as malformed). */
const SLOT_SIZE = 4096;
/** Packets read per readiness callback at most. */
const SLOTS = 64;

export interface TunStats {
  packetsRead: number;
  packetsWritten: number;
  /** Packets the device refused (queue full, device gone): dropped. */
  writeDrops: number;
  readErrors: number;
}

export type PacketHandler = (packet: Uint8Array) => void;

/** Runs `ip ARGS`; rejects with ip's own message. */
export function runIp(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const reason = String(stderr).trim() || error.message;
      reject(new Error(`ip ${args.join(' ')}: ${reason}`));
    });
  });
}

export class TunDevice {
  readonly #native: NativeTun;
  readonly #stats = { packetsRead: 0, packetsWritten: 0, writeDrops: 0 };

  private constructor(native: NativeTun) {
    this.#native = native;
  }

  /**
   * Creates the device (`name` may be '' for the kernel's tunN). `onPacket` gets views into a
   * read arena, valid only during the call. Throws an Error saying what to do on failure.
   */
  static open(name: string, onPacket: PacketHandler): TunDevice {
    if (process.platform !== 'linux') {
      throw new Error(
        `braid vpn needs Linux (a TUN device through /dev/net/tun); this is ${process.platform}`,
      );
    }
    const { module, error } = loadAddon<TunAddon>('braid_tun');
    if (!module) throw new Error(`braid vpn needs the TUN addon: ${error}`);
    const arena = new Uint8Array(SLOT_SIZE * SLOTS);
    const lengths = new Uint32Array(SLOTS);
    let device: TunDevice | undefined;
    try {
      const native = new module.TunDevice(name, arena, lengths, SLOT_SIZE, (count) => {
        if (!device) return;
        device.#stats.packetsRead += count;
        for (let i = 0; i < count; i++) {
          onPacket(arena.subarray(i * SLOT_SIZE, i * SLOT_SIZE + lengths[i]!));
        }
      });
      device = new TunDevice(native);
      return device;
    } catch (failure) {
      const errno = (failure as { errno?: unknown }).errno;
      const code = typeof errno === 'number' ? errnoCode(errno) : undefined;
      if (code === 'EPERM' || code === 'EACCES') {
        throw new Error(
          'cannot create a TUN device: permission denied (braid vpn needs CAP_NET_ADMIN: run it as root)',
        );
      }
      if (code === 'EBUSY')
        throw new Error(`cannot create TUN device ${name}: an interface of that name exists`);
      throw new Error(`cannot create a TUN device: ${(failure as Error).message}`);
    }
  }

  get name(): string {
    return this.#native.name();
  }

  /**
   * Marks the device as Braid's, sets its MTU, brings it up, then adds `addresses`
   * (`address/len`: the kernel adds the on-link route of each prefix) and routes (`prefix`).
   */
  async configure(options: {
    mtu: number;
    addresses: readonly string[];
    routes?: readonly string[];
  }): Promise<void> {
    const dev = this.name;
    await runIp(['link', 'set', 'dev', dev, 'alias', VPN_INTERFACE_ALIAS]);
    await runIp(['link', 'set', 'dev', dev, 'mtu', String(options.mtu), 'up']);
    for (const address of options.addresses) {
      // nodad: the address is ours alone on a point-to-point device; DAD would only delay it.
      const args = address.includes(':')
        ? ['-6', 'address', 'add', address, 'dev', dev, 'nodad']
        : ['address', 'add', address, 'dev', dev];
      await runIp(args);
    }
    for (const route of options.routes ?? []) await this.addRoute(route);
  }

  addRoute(prefix: string): Promise<void> {
    return runIp([...(prefix.includes(':') ? ['-6'] : []), 'route', 'replace', prefix, 'dev', this.name]);
  }

  deleteRoute(prefix: string): Promise<void> {
    return runIp([...(prefix.includes(':') ? ['-6'] : []), 'route', 'del', prefix, 'dev', this.name]);
  }

  setMtu(mtu: number): Promise<void> {
    return runIp(['link', 'set', 'dev', this.name, 'mtu', String(mtu)]);
  }

  /** Writes one packet; false (and counted) when the device refused it. */
  write(packet: Uint8Array): boolean {
    const result = this.#native.write(packet);
    if (result < 0) {
      this.#stats.writeDrops++;
      return false;
    }
    this.#stats.packetsWritten++;
    return true;
  }

  get stats(): TunStats {
    return { ...this.#stats, readErrors: this.#native.readErrors() };
  }

  /** Closing the last descriptor removes the device, its addresses and routes. */
  close(): void {
    this.#native.close();
  }
}
