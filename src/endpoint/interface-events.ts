/**
 * Kernel notifications that the host's addresses or links changed, so the interface poller
 * (interfaces.ts) re-reads at once instead of at its next tick.
 *
 * On Linux this is a NETLINK_ROUTE socket subscribed to the address and link groups, read by
 * native/braid_netlink.cc; it only says "something changed" and the poller re-reads the list,
 * so a lost notification (the kernel reports an overflow, which counts as a change) or a
 * missing addon costs latency, never correctness: the periodic poll still runs.
 */
import { loadAddon } from '../native/addons.js';

/** Something that wakes the poller when the host's interfaces may have changed. */
export interface InterfaceChangeSource {
  /** Starts calling `onChange`; returns why it cannot (the poller then relies on its timer). */
  start(onChange: () => void): string | undefined;
  stop(): void;
  /** 'netlink' while running, else 'none'. */
  readonly kind: 'netlink' | 'none';
}

/** What the netlink addon counted since its watch started. */
export interface NetlinkStats {
  running: boolean;
  notifications: number;
  overflows: number;
  wakeups: number;
}

interface NetlinkAddon {
  start(callback: () => void): void;
  stop(): void;
  stats(): NetlinkStats;
}

/** Kernel notifications counted by the addon since the watch started (zeros when not running). */
export function netlinkStats(): NetlinkStats {
  const { module } = loadAddon<NetlinkAddon>('braid_netlink');
  return module?.stats() ?? { running: false, notifications: 0, overflows: 0, wakeups: 0 };
}

/** The netlink source (Linux, addon built, not disabled by BRAID_NETLINK=0). */
export class NetlinkChangeSource implements InterfaceChangeSource {
  private running = false;

  get kind(): 'netlink' | 'none' {
    return this.running ? 'netlink' : 'none';
  }

  start(onChange: () => void): string | undefined {
    if (this.running) return undefined;
    if (process.platform !== 'linux') return `netlink is Linux-only (${process.platform})`;
    if (process.env.BRAID_NETLINK === '0') return 'disabled by BRAID_NETLINK=0';
    const { module, error } = loadAddon<NetlinkAddon>('braid_netlink');
    if (!module) return error;
    try {
      module.start(onChange);
    } catch (e) {
      return (e as Error).message;
    }
    this.running = true;
    return undefined;
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    loadAddon<NetlinkAddon>('braid_netlink').module?.stop();
  }
}
