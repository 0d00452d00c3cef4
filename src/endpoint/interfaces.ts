/**
 * Local interface discovery and change watching for the Node shell.
 *
 * Node has no interface-change event, so one process-wide poller reads
 * `os.networkInterfaces()` (libuv's getifaddrs: only interfaces that are UP and RUNNING, so a
 * link going down removes its addresses) plus, on Linux, the IPv6 address flags in
 * /proc/net/if_inet6, and tells its subscribers when the usable set changed. The poller slows
 * itself down so that polling never takes more than POLL_BUDGET of one core, however many
 * interfaces the host has (figures in docs/multihoming.md, "Address discovery").
 *
 * Usable addresses: loopback and global scope (src/net/address-scope.ts; private ranges and
 * ULAs count as global). Skipped: link-local (an address frame carries no scope id), and
 * IPv6 addresses that are tentative (DAD not finished: binding them fails) or whose DAD
 * failed. Deprecated IPv6 addresses are kept: sessions already on them may go on (RFC 4862
 * §5.5.4), and the kernel's source selection avoids them for new attempts. Interfaces marked as
 * `braid vpn` devices (VPN_INTERFACE_ALIAS) are skipped whole: their addresses are identifiers.
 */
import { readFileSync } from 'node:fs';
import { SocketAddress as NodeSocketAddress } from 'node:net';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { type AddressScope, addressScope } from '../net/address-scope.js';
import { type InterfaceChangeSource, NetlinkChangeSource } from './interface-events.js';

export interface InterfaceAddress {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  /** The interface name, e.g. 'eth0'. */
  readonly interface: string;
  readonly scope: AddressScope;
  /** IPv6 only: the preferred lifetime ran out (still usable, not preferred). */
  readonly deprecated: boolean;
}

/** Linux IFA_F_* flags (the low byte is what /proc/net/if_inet6 shows). */
const IFA_F_DADFAILED = 0x08;
const IFA_F_DEPRECATED = 0x20;
const IFA_F_TENTATIVE = 0x40;

/**
 * The interface alias (`ip link set dev NAME alias ...`) that marks `braid vpn`'s TUN devices: their
 * addresses are inner identifiers, never locators, so they are not usable addresses here.
 */
export const VPN_INTERFACE_ALIAS = 'braid-vpn';

/** Whether interface `name` carries VPN_INTERFACE_ALIAS (Linux sysfs; false elsewhere). */
export function isVpnInterface(name: string): boolean {
  try {
    return readFileSync(`/sys/class/net/${name}/ifalias`, 'latin1').trim() === VPN_INTERFACE_ALIAS;
  } catch {
    return false;
  }
}

/** Default time between two polls of the interface list. */
export const DEFAULT_POLL_INTERVAL_MS = 250;
/**
 * At most this share of one core goes to polling: the interval grows with the (smoothed) cost of
 * a poll, so a host with thousands of interfaces is not polled at the default pace.
 */
const POLL_BUDGET = 0.01;
/** Kernel notifications answered by a poll at once, whatever the budget: a burst of this many... */
const EVENT_POLL_BURST = 4;
/** ...refilled one per this many ms. */
const EVENT_POLL_REFILL_MS = 1000;
/** Weight of the newest sample in the smoothed poll cost (one slow poll, e.g. during GC, barely counts). */
const COST_SMOOTHING = 0.2;

/**
 * Parses /proc/net/if_inet6 ("<32 hex address> <ifindex> <prefixlen> <scope> <flags> <name>")
 * into flags by canonical address. Empty where the file does not exist (not Linux).
 */
export function parseIPv6Flags(text: string): Map<string, number> {
  const flags = new Map<string, number>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6 || !/^[0-9a-f]{32}$/i.test(fields[0]!)) continue;
    const hex = fields[0]!;
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
    try {
      const canonical = new NodeSocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
      flags.set(canonical, Number.parseInt(fields[4]!, 16));
    } catch {
      // Not an address we can parse: ignore the line.
    }
  }
  return flags;
}

function readIPv6Flags(): Map<string, number> {
  try {
    return parseIPv6Flags(readFileSync('/proc/net/if_inet6', 'latin1'));
  } catch {
    return new Map();
  }
}

/**
 * The usable local addresses from an interface table (default: this host's, read now), in
 * interface order. `ipv6Flags` as from parseIPv6Flags (default: read now, Linux only).
 */
export function usableInterfaceAddresses(
  table: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
  ipv6Flags: ReadonlyMap<string, number> = readIPv6Flags(),
  isInnerInterface: (name: string) => boolean = isVpnInterface,
): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  const seen = new Set<string>();
  for (const [name, infos] of Object.entries(table)) {
    // A braid vpn device: its addresses are inner identifiers (a path over them would tunnel itself).
    if (isInnerInterface(name)) continue;
    for (const info of infos ?? []) {
      const family = info.family === 'IPv6' ? 'IPv6' : 'IPv4';
      const scope = addressScope(info.address);
      if (scope !== 'loopback' && scope !== 'global') continue;
      const flags = family === 'IPv6' ? (ipv6Flags.get(info.address) ?? 0) : 0;
      if (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) continue;
      if (seen.has(info.address)) continue; // the same address on two interfaces: one socket
      seen.add(info.address);
      out.push({
        address: info.address,
        family,
        interface: name,
        scope,
        deprecated: (flags & IFA_F_DEPRECATED) !== 0,
      });
    }
  }
  return out;
}

export type InterfaceListener = (addresses: readonly InterfaceAddress[]) => void;

interface Subscription {
  intervalMs: number;
  listener: InterfaceListener;
}

/** A change key: interface, address and deprecation of every usable address, in order. */
function signature(addresses: readonly InterfaceAddress[]): string {
  return addresses.map((a) => `${a.interface}/${a.address}/${a.deprecated ? 'd' : ''}`).join(',');
}

/**
 * The process-wide interface poller: one unref'd timer for every endpoint, running only while
 * someone subscribes, at the shortest interval asked for (stretched to the CPU budget). While
 * someone subscribes it also listens to kernel change notifications (netlink, where available)
 * and polls as soon as one arrives, within the same CPU budget; the timer stays as the safety net.
 */
export class InterfaceWatcher {
  static readonly shared = new InterfaceWatcher();

  /** Duration of the last poll in microseconds, and its moving average. */
  lastPollMicros = 0;
  smoothedPollMicros = 0;
  /** Polls done and changes seen since the process started. */
  polls = 0;
  changes = 0;
  private readonly subscriptions = new Set<Subscription>();
  /** Called after every poll a change report started, whether or not the address set changed. */
  private readonly changeListeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private current: InterfaceAddress[] = [];
  private currentSignature = '';
  private lastPollAt = Number.NEGATIVE_INFINITY;
  private eventAllowance = EVENT_POLL_BURST;
  private eventAllowanceAt = 0;
  private eventPoll: NodeJS.Timeout | undefined;
  /** Why kernel notifications are not used (undefined while they are, or before anyone subscribed). */
  changeEventsUnavailable: string | undefined;
  /** Polls started by a kernel notification. */
  eventPolls = 0;

  constructor(
    private readonly read: () => InterfaceAddress[] = () => usableInterfaceAddresses(),
    private readonly changeSource: InterfaceChangeSource = new NetlinkChangeSource(),
  ) {}

  /** 'netlink' when kernel notifications wake the poller, 'polling' when only the timer does. */
  get changeDetection(): 'netlink' | 'polling' {
    return this.changeSource.kind === 'netlink' ? 'netlink' : 'polling';
  }

  /** The usable addresses as of the last poll (polls now if nobody is subscribed). */
  addresses(): readonly InterfaceAddress[] {
    if (this.subscriptions.size === 0) this.poll(false);
    return this.current;
  }

  /**
   * Calls `listener` with the new set whenever it changes (polled every `intervalMs` or
   * slower). Returns the unsubscribe function.
   */
  subscribe(intervalMs: number, listener: InterfaceListener): () => void {
    const subscription: Subscription = { intervalMs, listener };
    if (this.subscriptions.size === 0) this.poll(false);
    this.startWatch();
    this.subscriptions.add(subscription);
    this.schedule();
    return () => {
      if (!this.subscriptions.delete(subscription) || this.subscriptions.size > 0) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.stopWatchIfUnused();
    };
  }

  /**
   * Calls `listener` after each poll that a change report (kernel notification or reportChange)
   * started, whether or not the address set changed: a link that came up or a route that was
   * added changes no address, yet a path may work again. No periodic polling for it. Returns
   * the unsubscribe function.
   */
  subscribeChanges(listener: () => void): () => void {
    this.startWatch();
    this.changeListeners.add(listener);
    return () => {
      if (this.changeListeners.delete(listener)) this.stopWatchIfUnused();
    };
  }

  private get watched(): boolean {
    return this.subscriptions.size > 0 || this.changeListeners.size > 0;
  }

  private startWatch(): void {
    if (this.watched) return;
    this.changeEventsUnavailable = this.changeSource.start(() => this.reportChange());
  }

  private stopWatchIfUnused(): void {
    if (this.watched) return;
    if (this.eventPoll) clearTimeout(this.eventPoll);
    this.eventPoll = undefined;
    this.changeSource.stop();
  }

  /**
   * Links, addresses or routes changed (the kernel's notification, or a caller that knows):
   * poll at once while the burst allowance lasts (EVENT_POLL_BURST polls, refilled one a
   * second), then as soon as the CPU budget allows after the last poll, and tell the change
   * listeners. So a roaming host's removal and addition, a few hundred ms apart, are both seen
   * at once, and a storm of notifications (a flapping link, mass renumbering) costs at most one
   * extra poll a second beyond the budget.
   */
  reportChange(): void {
    if (this.eventPoll || !this.watched) return;
    const now = performance.now();
    this.eventAllowance = Math.min(
      EVENT_POLL_BURST,
      this.eventAllowance + (now - this.eventAllowanceAt) / EVENT_POLL_REFILL_MS,
    );
    this.eventAllowanceAt = now;
    let wait = 0;
    if (this.eventAllowance >= 1) this.eventAllowance--;
    else wait = Math.max(0, this.lastPollAt + this.smoothedPollMicros / 1000 / POLL_BUDGET - now);
    this.eventPoll = setTimeout(() => {
      this.eventPoll = undefined;
      if (!this.watched) return;
      this.eventPolls++;
      this.poll();
      for (const listener of [...this.changeListeners]) {
        try {
          listener();
        } catch {
          // A listener's failure must not stop the others.
        }
      }
    }, wait);
    this.eventPoll.unref();
  }

  /** Reads the interfaces now and notifies subscribers if the set changed. */
  poll(notify = true): void {
    const started = performance.now();
    this.lastPollAt = started;
    const next = this.read();
    this.lastPollMicros = (performance.now() - started) * 1000;
    // The first poll of a process is cold (module and JIT warm-up, first /proc read), often
    // 10-50x a warm one: the smoothed cost starts from the second.
    this.smoothedPollMicros =
      this.polls <= 1
        ? this.lastPollMicros
        : this.smoothedPollMicros + COST_SMOOTHING * (this.lastPollMicros - this.smoothedPollMicros);
    this.polls++;
    const nextSignature = signature(next);
    if (nextSignature === this.currentSignature) return;
    this.current = next;
    this.currentSignature = nextSignature;
    this.changes++;
    if (!notify) return;
    for (const subscription of [...this.subscriptions]) {
      try {
        subscription.listener(next);
      } catch {
        // A listener's failure must not stop the others (each handles its own errors).
      }
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.subscriptions.size === 0) {
      this.timer = undefined;
      return;
    }
    let interval = Number.POSITIVE_INFINITY;
    for (const s of this.subscriptions) interval = Math.min(interval, s.intervalMs);
    const budgeted = this.smoothedPollMicros / 1000 / POLL_BUDGET;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.poll();
        this.schedule();
      },
      Math.max(interval, budgeted),
    );
    this.timer.unref();
  }
}
