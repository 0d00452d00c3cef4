/**
 * The TypeScript driver of the real-network lab (lab/lab.sh): client, router and server network
 * namespaces joined by provider links a and b (client side) and s1 and s2 (server side). It
 * ships for `braid demo` as root (demo/netns.ts); the lab tests and benches use it too.
 * Every lab gets its own name prefix, so concurrent runs never collide, and every lab, one
 * still being built included, is torn down on process exit or SIGINT/SIGTERM even when its
 * user forgets to.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BurstLossProfile,
  type DirectionProfile,
  type PathProfile,
  pathProfile,
} from './path-profiles.js';

/** lab/lab.sh of this checkout or package (src/cli/demo or dist/src/cli/demo lie three or four levels below). */
export function findLabScript(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'lab', 'lab.sh');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** lab/lab.sh, or undefined in an installation without it. */
export const LAB_SCRIPT = findLabScript();
/** The directory holding lab/ (the repository in a checkout): lab processes run there. */
export const LAB_ROOT = LAB_SCRIPT ? dirname(dirname(LAB_SCRIPT)) : process.cwd();

export type LabNamespace = 'client' | 'router' | 'server';
/** Client-side provider links a and b; server-side links s1 and s2. */
export type LabLink = 'a' | 'b' | 's1' | 's2';
export type LabFamily = 'v4' | 'v6';
/** c2s: client to server; s2c: server to client. */
export type LabDirection = 'c2s' | 's2c' | 'both';

/** The provider links the impairment element sits on. */
export type ImpairedLink = 'a' | 'b';

/**
 * Raw settings of the impairment element for one direction of one provider link (lab/impair.c);
 * a field left out keeps its current value. The fields of a DirectionProfile, plus duplication
 * and a queue in bytes.
 */
export interface Impairment {
  /** One-way delay, ms. */
  delayMs?: number;
  /** Extra per-packet delay drawn uniformly from [0, jitterMs], ms. */
  jitterMs?: number;
  /** Whether jitter may reorder packets. */
  reorder?: boolean;
  /** Independent random loss probability per packet. */
  loss?: number;
  /** Gilbert–Elliott bursty loss, or null for none. */
  burstLoss?: BurstLossProfile | null;
  /** Bottleneck rate in bits per second of IP packets; Infinity for none. */
  rateBps?: number;
  /** Tail-drop queue of the bottleneck in ms of its rate (0 with queueBytes 0: unbounded). */
  queueMs?: number;
  /** The same queue in bytes, for a byte-limited buffer (0: no byte limit). */
  queueBytes?: number;
  /** Probability that a packet is sent twice. */
  duplicate?: number;
  /** Largest IP packet that passes; larger ones vanish with no ICMP (a PMTU black hole); 0: none. */
  mtu?: number;
}

/** The element's counters for one device (one link, one direction), since the lab came up. */
export interface ImpairmentCounters {
  rx: number;
  tx: number;
  dropMtu: number;
  dropLoss: number;
  dropBurst: number;
  dropQueue: number;
  /** Dropped because the element held its maximum number of packets (a misconfiguration). */
  dropOverflow: number;
  duplicated: number;
  writeErrors: number;
  /** The longest bottleneck backlog seen, ms. */
  maxBacklogMs: number;
  /** Time a rate-limited device's bottleneck had nothing to send, summed. */
  idleMs: number;
  /** The latest any packet left after its release time, ms: the element's own timing error. */
  lateMaxMs: number;
  /** Packets that left more than 1 ms after their release time. */
  lateOver1ms: number;
}

export type ImpairmentStats = Record<`${ImpairedLink}:${'c2s' | 's2c'}`, ImpairmentCounters>;

/** The element's key=value arguments for a set of raw settings (lab.sh impair). */
export function impairmentArguments(impairment: Impairment): string[] {
  const args: string[] = [];
  const number = (key: string, value: number, low: number, high: number) => {
    if (!Number.isFinite(value) || value < low || value > high)
      throw new RangeError(`impairment ${key} must be within [${low}, ${high}], got ${value}`);
    args.push(`${key}=${value}`);
  };
  const { delayMs, jitterMs, reorder, loss, burstLoss, rateBps, queueMs, queueBytes, duplicate, mtu } =
    impairment;
  if (delayMs !== undefined) number('delay_ms', delayMs, 0, 60_000);
  if (jitterMs !== undefined) number('jitter_ms', jitterMs, 0, 60_000);
  if (reorder !== undefined) args.push(`reorder=${reorder ? 1 : 0}`);
  if (loss !== undefined) number('loss', loss, 0, 1);
  if (burstLoss === null) args.push('ge_p=0', 'ge_r=0', 'ge_loss_bad=1');
  else if (burstLoss !== undefined) {
    if (burstLoss.p > 0 && !(burstLoss.r > 0)) throw new RangeError('bursty loss needs r > 0');
    number('ge_p', burstLoss.p, 0, 1);
    number('ge_r', burstLoss.r, 0, 1);
    number('ge_loss_bad', burstLoss.lossBad, 0, 1);
  }
  if (rateBps !== undefined) {
    if (rateBps === Number.POSITIVE_INFINITY) args.push('rate_bps=0');
    else number('rate_bps', rateBps, 1, 1e12);
  }
  if (queueMs !== undefined) number('queue_ms', queueMs, 0, 60_000);
  if (queueBytes !== undefined) number('queue_bytes', queueBytes, 0, 1e10);
  if (duplicate !== undefined) number('dup', duplicate, 0, 1);
  if (mtu !== undefined) {
    if (!Number.isInteger(mtu)) throw new RangeError(`impairment mtu must be an integer, got ${mtu}`);
    number('mtu', mtu, 0, 65_536);
  }
  if (args.length === 0) throw new RangeError('an impairment needs at least one setting');
  return args;
}

/** Every setting of one profile direction, so applying it replaces what was there. */
export function impairmentOf(direction: DirectionProfile): Impairment {
  return {
    delayMs: direction.delayMs,
    jitterMs: direction.jitterMs,
    reorder: direction.reorder,
    loss: direction.loss,
    burstLoss: direction.burstLoss,
    rateBps: direction.rateBps,
    queueMs: direction.queueMs,
    queueBytes: 0,
    duplicate: 0,
    mtu: direction.mtu,
  };
}

export interface DualStack {
  v4: string;
  v6: string;
}

export interface LabAddresses {
  /** The client's address on provider a / b. */
  clientA: DualStack;
  clientB: DualStack;
  /** The server's address on link s1 / s2. */
  server1: DualStack;
  server2: DualStack;
  /** The router's address on each link; with NAT, clientA's / clientB's public address. */
  routerA: DualStack;
  routerB: DualStack;
  routerS1: DualStack;
  routerS2: DualStack;
}

export interface LabOptions {
  /** Masquerade the client behind the router's address on each provider (tcp/udp ports mapped). */
  nat?: boolean;
  /** tbf rate limit on both ends of provider links a and b, e.g. '20mbit'. */
  rate?: string;
  /** Namespace name prefix ([A-Za-z0-9_], at most 32); unique per process by default. */
  prefix?: string;
  /**
   * Route provider links a and b through the impairment element (lab/impair.c), which starts
   * with no impairment; implied by `profiles`.
   */
  impair?: boolean;
  /** Path profiles (src/cli/demo/path-profiles.ts) to apply to links a and b once up. */
  profiles?: Partial<Record<ImpairedLink, string>>;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Whether a lab can be built here. `cause` lets a caller word its own message (braid demo
 * does); `reason` is meant for `t.skip(reason)`.
 */
export type Availability =
  | { ok: true; script: string }
  | { ok: false; cause: 'platform' | 'root' | 'script'; reason: string }
  | { ok: false; cause: 'tools'; missing: string[]; reason: string };

const EXIT_TOOLS_MISSING = 69;
const EXIT_NOT_ROOT = 77;

/** `lab.sh up` failed: not root, tools missing, or the build itself; `stderr` says why. */
export class LabUpError extends Error {
  constructor(
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    const why =
      exitCode === EXIT_NOT_ROOT ? 'not root' : exitCode === EXIT_TOOLS_MISSING ? 'tools missing' : 'failed';
    super(`lab up ${why} (exit ${exitCode}): ${stderr.trim()}`);
    this.name = 'LabUpError';
  }
}

function labScript(): string {
  if (!LAB_SCRIPT) throw new Error('lab/lab.sh is not part of this installation');
  return LAB_SCRIPT;
}

/** lab.sh commands still running, so a teardown can stop them first (an `up` midway, a fault). */
const runningCommands = new Map<ChildProcess, string>();

/** Runs lab.sh for one prefix and collects its output; never rejects. */
function runLab(prefix: string, args: string[]): Promise<ExecResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      labScript(),
      ['--prefix', prefix, ...args],
      { cwd: LAB_ROOT, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        runningCommands.delete(child);
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
    runningCommands.set(child, prefix);
  });
}

/** Stops the lab.sh commands still running for a prefix, then runs `down` for it. */
function downSyncPrefix(prefix: string): void {
  for (const [child, of] of runningCommands) if (of === prefix) child.kill('SIGKILL');
  spawnSync(labScript(), ['--prefix', prefix, 'down'], { stdio: 'ignore' });
}

function run(file: string, args: string[]): Promise<ExecResult> {
  return new Promise((resolvePromise) => {
    execFile(file, args, { cwd: LAB_ROOT, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

const liveLabs = new Set<Lab>();
/** Prefixes whose `up` is still running. */
const building = new Set<string>();
let exitHooksInstalled = false;

/**
 * Tears down every lab of this process, those still being built included (for signal and
 * exit handlers; braid demo calls it from its own).
 */
export function tearDownLabsSync(): void {
  for (const prefix of building) downSyncPrefix(prefix);
  building.clear();
  for (const lab of liveLabs) lab.downSync();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', tearDownLabsSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      tearDownLabsSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

let labCounter = 0;

export class Lab {
  readonly prefix: string;
  readonly nat: boolean;
  /** Whether links a and b pass through the impairment element. */
  readonly impaired: boolean;
  readonly addresses: LabAddresses;
  readonly namespaces: Record<LabNamespace, string>;
  private isDown = false;

  private constructor(prefix: string, env: Map<string, string>) {
    const get = (key: string): string => {
      const value = env.get(`BRAID_LAB_${key}`);
      if (value === undefined) throw new Error(`lab.sh up did not print BRAID_LAB_${key}`);
      return value;
    };
    const pair = (key: string): DualStack => ({ v4: get(`${key}_V4`), v6: get(`${key}_V6`) });
    const routerPair = (key: string): DualStack => ({
      v4: get(`${key}_V4_ROUTER`),
      v6: get(`${key}_V6_ROUTER`),
    });
    this.prefix = prefix;
    this.nat = get('NAT') === '1';
    this.impaired = get('IMPAIR') === '1';
    this.namespaces = { client: get('NS_CLIENT'), router: get('NS_ROUTER'), server: get('NS_SERVER') };
    this.addresses = {
      clientA: pair('A'),
      clientB: pair('B'),
      server1: pair('S1'),
      server2: pair('S2'),
      routerA: routerPair('A'),
      routerB: routerPair('B'),
      routerS1: routerPair('S1'),
      routerS2: routerPair('S2'),
    };
  }

  /**
   * Whether a lab can be built here: Linux, root, iproute2, nftables, tc, and conntrack unless
   * `conntrack: false` (only `natRebind` needs it).
   */
  static available(options: { conntrack?: boolean } = {}): Availability {
    if (process.platform !== 'linux') {
      return { ok: false, cause: 'platform', reason: 'the lab needs Linux network namespaces' };
    }
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      return { ok: false, cause: 'root', reason: 'the lab needs root (network namespaces, veths, nftables)' };
    }
    const tools = options.conntrack === false ? ['ip', 'nft', 'tc'] : ['ip', 'nft', 'tc', 'conntrack'];
    const missing = tools.filter((tool) => !hasCommand(tool));
    if (missing.length > 0) {
      return {
        ok: false,
        cause: 'tools',
        missing,
        reason: `missing ${missing.join(', ')}: run scripts/setup-system.sh as root`,
      };
    }
    if (!LAB_SCRIPT)
      return { ok: false, cause: 'script', reason: 'lab/lab.sh is not part of this installation' };
    return { ok: true, script: LAB_SCRIPT };
  }

  /** Builds a lab; rejects with a LabUpError when lab.sh fails (and leaves nothing behind). */
  static async up(options: LabOptions = {}): Promise<Lab> {
    const prefix = options.prefix ?? `braid${process.pid}_${labCounter++}`;
    const args = ['up'];
    if (options.nat) args.push('--nat');
    if (options.rate) args.push('--rate', options.rate);
    const profiles = Object.entries(options.profiles ?? {}) as [ImpairedLink, string][];
    // Unknown profile names fail here, before anything is built.
    for (const [, name] of profiles) pathProfile(name);
    if (options.impair || profiles.length > 0) args.push('--impair');
    labScript(); // throws, before anything is built, in an installation without it
    installExitHooks();
    building.add(prefix);
    const result = await runLab(prefix, args);
    if (!building.delete(prefix)) throw new Error(`lab ${prefix} was torn down while being built`);
    if (result.code !== 0) {
      // lab.sh removes what a failed up built; this makes sure, should it have been stopped midway.
      downSyncPrefix(prefix);
      throw new LabUpError(result.code, result.stderr);
    }
    const env = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) env.set(line.slice(0, at), line.slice(at + 1));
    }
    let lab: Lab;
    try {
      lab = new Lab(prefix, env);
    } catch (error) {
      downSyncPrefix(prefix);
      throw error;
    }
    liveLabs.add(lab);
    try {
      for (const [link, name] of profiles) await lab.applyProfile(link, name);
    } catch (error) {
      await lab.down();
      throw error;
    }
    return lab;
  }

  /** Runs a command inside a namespace and collects its output; never rejects. */
  exec(ns: LabNamespace, command: string[]): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.namespaces[ns], ...command]);
  }

  /** Starts a long-running process inside a namespace, with the repository as working directory. */
  spawnIn(ns: LabNamespace, command: string[], options: SpawnOptions = {}): ChildProcess {
    // `ip netns exec` execs the command in place, so the child's pid is the command's pid.
    return spawn('ip', ['netns', 'exec', this.namespaces[ns], ...command], { cwd: LAB_ROOT, ...options });
  }

  /** Runs a TypeScript (or JavaScript) file with this Node and the tsx loader inside a namespace. */
  nodeIn(ns: LabNamespace, script: string, args: string[] = [], options: SpawnOptions = {}): ChildProcess {
    return this.spawnIn(
      ns,
      [process.execPath, '--import', 'tsx', resolve(LAB_ROOT, script), ...args],
      options,
    );
  }

  /** Silently drops traffic on a link in one direction or both (router nftables, no ICMP). */
  blackhole(link: LabLink, direction: LabDirection): Promise<void> {
    return this.lab('blackhole', link, direction);
  }

  /** Removes the blackholes on one link, or all of them. */
  heal(link?: LabLink): Promise<void> {
    return link ? this.lab('heal', link) : this.lab('heal');
  }

  /** Takes both ends of a link down (carrier lost, routes gone). */
  linkDown(link: LabLink): Promise<void> {
    return this.lab('link', link, 'down');
  }

  /** Brings a link back up and restores the endpoint's routes. */
  linkUp(link: LabLink): Promise<void> {
    return this.lab('link', link, 'up');
  }

  /** Removes the endpoint's address on a link (the lab's default one unless given). */
  removeAddress(link: LabLink, family: LabFamily, address?: string): Promise<void> {
    return this.lab('addr', 'del', link, family, ...(address ? [address] : []));
  }

  /** Adds an address on a link with its source-routing rule (the lab's default one unless given). */
  addAddress(link: LabLink, family: LabFamily, address?: string): Promise<void> {
    return this.lab('addr', 'add', link, family, ...(address ? [address] : []));
  }

  /** Gives every NATed flow a new public port (new port range and flushed conntrack). */
  natRebind(): Promise<void> {
    return this.lab('nat-rebind');
  }

  /** tbf rate limit on both ends of a link ('20mbit'), or null to remove it. */
  setRate(link: LabLink, rate: string | null): Promise<void> {
    return this.lab('rate', link, rate ?? 'off');
  }

  /**
   * Changes one direction (or both) of a provider link's impairment at run time; settings left
   * out keep their value. Needs a lab built with `impair` or `profiles`.
   */
  async impair(link: ImpairedLink, direction: LabDirection, impairment: Impairment): Promise<void> {
    await this.lab('impair', link, direction, ...impairmentArguments(impairment));
  }

  /**
   * Applies a named path profile (or a PathProfile) to a provider link: its `up` direction to
   * client → server, `down` to server → client, or only the direction asked for.
   */
  async applyProfile(link: ImpairedLink, profile: string | PathProfile, direction: LabDirection = 'both') {
    const chosen = typeof profile === 'string' ? pathProfile(profile) : profile;
    if (direction !== 's2c') await this.impair(link, 'c2s', impairmentOf(chosen.up));
    if (direction !== 'c2s') await this.impair(link, 's2c', impairmentOf(chosen.down));
  }

  /** Removes every impairment of a link (both directions), or of both links. */
  async clearImpairment(link?: ImpairedLink): Promise<void> {
    for (const each of link ? [link] : (['a', 'b'] as const)) await this.lab('impair', each, 'both', 'reset');
  }

  /** The element's counters per link and direction. */
  async impairmentStats(): Promise<ImpairmentStats> {
    const result = await this.labOutput('impair-stats');
    const parsed = JSON.parse(result) as { devices: Record<string, ImpairmentCounters> };
    const of = (device: string): ImpairmentCounters => {
      const counters = parsed.devices[device];
      if (!counters) throw new Error(`the impairment element reported no device ${device}`);
      return counters;
    };
    return { 'a:c2s': of('ta_c2s'), 'a:s2c': of('ta_s2c'), 'b:c2s': of('tb_c2s'), 'b:s2c': of('tb_s2c') };
  }

  /** Tears the lab down: processes inside it, namespaces, veths, nftables. Idempotent. */
  async down(): Promise<void> {
    if (this.isDown) return;
    const result = await runLab(this.prefix, ['down']);
    if (result.code !== 0) throw new Error(`lab down failed: ${result.stderr.trim()}`);
    this.isDown = true;
    liveLabs.delete(this);
  }

  /** Synchronous teardown for exit and signal handlers: stops its lab.sh commands still running first. */
  downSync(): void {
    if (this.isDown) return;
    downSyncPrefix(this.prefix);
    this.isDown = true;
    liveLabs.delete(this);
  }

  private async lab(...args: string[]): Promise<void> {
    await this.labOutput(...args);
  }

  private async labOutput(...args: string[]): Promise<string> {
    if (this.isDown) throw new Error(`lab ${this.prefix} is down`);
    const result = await runLab(this.prefix, args);
    if (result.code !== 0) throw new Error(`lab ${args.join(' ')} failed: ${result.stderr.trim()}`);
    return result.stdout;
  }
}
