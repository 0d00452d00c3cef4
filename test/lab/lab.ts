/**
 * TypeScript driver for the real-network lab (lab/lab.sh): client, router and server network
 * namespaces joined by provider links a and b (client side) and s1 and s2 (server side).
 * Every lab gets its own name prefix, so concurrent test files never collide, and every lab is
 * torn down on process exit or SIGINT/SIGTERM even when a test forgets to.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AgentCommand, AgentMessage } from './udp-agent.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const LAB_SCRIPT = join(REPO_ROOT, 'lab/lab.sh');
const AGENT_SCRIPT = join(REPO_ROOT, 'test/lab/udp-agent.ts');

export type LabNamespace = 'client' | 'router' | 'server';
/** Client-side provider links a and b; server-side links s1 and s2. */
export type LabLink = 'a' | 'b' | 's1' | 's2';
export type LabFamily = 'v4' | 'v6';
/** c2s: client to server; s2c: server to client. */
export type LabDirection = 'c2s' | 's2c' | 'both';

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
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Availability = { ok: true } | { ok: false; reason: string };

const EXIT_TOOLS_MISSING = 69;
const EXIT_NOT_ROOT = 77;

function run(file: string, args: string[]): Promise<ExecResult> {
  return new Promise((resolvePromise) => {
    execFile(file, args, { cwd: REPO_ROOT, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

const liveLabs = new Set<Lab>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.downSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const lab of liveLabs) lab.downSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

let labCounter = 0;

export class Lab {
  readonly prefix: string;
  readonly nat: boolean;
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

  /** Whether a lab can be built here; the reason is meant for `t.skip(reason)`. */
  static available(): Availability {
    if (process.platform !== 'linux') return { ok: false, reason: 'the lab needs Linux network namespaces' };
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      return { ok: false, reason: 'the lab needs root (network namespaces, veths, nftables)' };
    }
    const missing = ['ip', 'nft', 'tc', 'conntrack'].filter((tool) => !hasCommand(tool));
    if (missing.length > 0) {
      return { ok: false, reason: `missing ${missing.join(', ')}: run scripts/setup-system.sh as root` };
    }
    if (!existsSync(LAB_SCRIPT)) return { ok: false, reason: `${LAB_SCRIPT} not found` };
    return { ok: true };
  }

  static async up(options: LabOptions = {}): Promise<Lab> {
    const prefix = options.prefix ?? `braid${process.pid}_${labCounter++}`;
    const args = ['--prefix', prefix, 'up'];
    if (options.nat) args.push('--nat');
    if (options.rate) args.push('--rate', options.rate);
    installExitHooks();
    const result = await run(LAB_SCRIPT, args);
    if (result.code !== 0) {
      const why =
        result.code === EXIT_NOT_ROOT
          ? 'not root'
          : result.code === EXIT_TOOLS_MISSING
            ? 'tools missing'
            : 'failed';
      throw new Error(`lab up ${why} (exit ${result.code}): ${result.stderr.trim()}`);
    }
    const env = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) env.set(line.slice(0, at), line.slice(at + 1));
    }
    const lab = new Lab(prefix, env);
    liveLabs.add(lab);
    return lab;
  }

  /** Runs a command inside a namespace and collects its output; never rejects. */
  exec(ns: LabNamespace, command: string[]): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.namespaces[ns], ...command]);
  }

  /** Starts a long-running process inside a namespace, with the repository as working directory. */
  spawnIn(ns: LabNamespace, command: string[], options: SpawnOptions = {}): ChildProcess {
    // `ip netns exec` execs the command in place, so the child's pid is the command's pid.
    return spawn('ip', ['netns', 'exec', this.namespaces[ns], ...command], { cwd: REPO_ROOT, ...options });
  }

  /** Runs a TypeScript (or JavaScript) file with this Node and the tsx loader inside a namespace. */
  nodeIn(ns: LabNamespace, script: string, args: string[] = [], options: SpawnOptions = {}): ChildProcess {
    return this.spawnIn(
      ns,
      [process.execPath, '--import', 'tsx', resolve(REPO_ROOT, script), ...args],
      options,
    );
  }

  /** Starts a UDP agent (real sockets) inside a namespace. */
  async udpAgent(ns: LabNamespace): Promise<UdpAgent> {
    return UdpAgent.start(this.nodeIn(ns, AGENT_SCRIPT, [], { stdio: ['pipe', 'pipe', 'inherit'] }));
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

  /** Tears the lab down: processes inside it, namespaces, veths, nftables. Idempotent. */
  async down(): Promise<void> {
    if (this.isDown) return;
    const result = await run(LAB_SCRIPT, ['--prefix', this.prefix, 'down']);
    if (result.code !== 0) throw new Error(`lab down failed: ${result.stderr.trim()}`);
    this.isDown = true;
    liveLabs.delete(this);
  }

  /** Synchronous teardown for exit handlers. */
  downSync(): void {
    if (this.isDown) return;
    spawnSync(LAB_SCRIPT, ['--prefix', this.prefix, 'down'], { stdio: 'ignore' });
    this.isDown = true;
    liveLabs.delete(this);
  }

  private async lab(...args: string[]): Promise<void> {
    if (this.isDown) throw new Error(`lab ${this.prefix} is down`);
    const result = await run(LAB_SCRIPT, ['--prefix', this.prefix, ...args]);
    if (result.code !== 0) throw new Error(`lab ${args.join(' ')} failed: ${result.stderr.trim()}`);
  }
}

export type Received = Extract<AgentMessage, { op: 'recv' }>;

/** The host-side handle of a udp-agent process running in a lab namespace. */
export class UdpAgent {
  readonly received: Received[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: AgentMessage) => void }>();
  private readonly waiters = new Set<() => void>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let message: AgentMessage;
      try {
        message = JSON.parse(line) as AgentMessage;
      } catch {
        return;
      }
      if (message.op === 'recv') {
        this.received.push(message);
        for (const wake of this.waiters) wake();
        return;
      }
      const entry = this.pending.get(message.id);
      if (entry) {
        this.pending.delete(message.id);
        entry.resolve(message);
      }
    });
    child.on('exit', () => {
      this.exited = true;
      for (const [id, entry] of this.pending) entry.resolve({ op: 'error', id, message: 'agent exited' });
      this.pending.clear();
    });
  }

  static async start(child: ChildProcess): Promise<UdpAgent> {
    const agent = new UdpAgent(child);
    // A first round trip proves the loader and node_modules resolve inside the namespace.
    await agent.command({ op: 'close', id: 0, socket: 0 }).catch(() => {});
    if (agent.exited) throw new Error('udp agent exited at start');
    return agent;
  }

  /** Binds a socket; returns its id and port. An echoing socket answers `echo <from> <port> <data>`. */
  async bind(address: string, port = 0, echo = false): Promise<{ socket: number; port: number }> {
    const reply = await this.command({ op: 'bind', id: 0, address, port, echo });
    return { socket: reply.socket!, port: reply.port! };
  }

  /** Sends one datagram; rejects when the kernel refuses it (no route, address gone). */
  async send(socket: number, to: string, port: number, data: string): Promise<void> {
    await this.command({ op: 'send', id: 0, socket, to, port, data });
  }

  async closeSocket(socket: number): Promise<void> {
    await this.command({ op: 'close', id: 0, socket });
  }

  /** Resolves with the first datagram (already received or arriving) that matches, or undefined. */
  waitFor(match: (m: Received) => boolean, timeoutMs: number): Promise<Received | undefined> {
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolvePromise) => {
      const wake = () => {
        const hit = this.received.find(match);
        if (hit) finish(hit);
      };
      const finish = (value: Received | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolvePromise(value);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      this.waiters.add(wake);
    });
  }

  close(): void {
    this.child.stdin?.end();
    if (!this.exited) this.child.kill('SIGTERM');
  }

  private command(command: AgentCommand): Promise<Extract<AgentMessage, { op: 'ok' }>> {
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      if (this.exited) {
        reject(new Error('agent exited'));
        return;
      }
      this.pending.set(id, {
        resolve: (message) => {
          if (message.op === 'ok') resolvePromise(message);
          else if (message.op === 'error') reject(new Error(message.message));
        },
      });
      this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }
}
