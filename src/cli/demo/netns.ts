/**
 * `braid demo` in network namespaces: lab/lab.sh builds a client with two providers (a, b),
 * a router and a two-address server; a server agent and a client agent (agent.ts) run
 * inside their namespaces, and the fault is real: a silent nftables drop in the router, or
 * the provider link taken down. Needs root, Linux and iproute2 + nftables; `labAvailability`
 * says why not otherwise, and the demo falls back to loopback addresses.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fingerprint } from '../../crypto/identity.js';
import type { KeyPair } from '../../index.js';
import { describePath, type PathRow } from './transfer.js';

export type DemoFault = 'blackhole' | 'link-down';

/** The lab could not be built here (e.g. no namespaces in this container): the demo falls back. */
export class LabUnavailableError extends Error {}

/** One lab per demo process, named after it, so a signal handler can always tear it down. */
export function demoLabPrefix(): string {
  return `braiddemo${process.pid}`;
}

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

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Whether the namespace variant can run here; the reason is one line for the person watching. */
export function labAvailability(): { ok: true; script: string } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ok: false, reason: 'not root (network namespaces need root: sudo npm run demo)' };
  }
  const missing = ['ip', 'nft', 'tc'].filter((tool) => !hasCommand(tool));
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `${missing.join(', ')} not installed (run scripts/setup-system.sh as root, then the demo again)`,
    };
  }
  const script = findLabScript();
  if (!script) return { ok: false, reason: 'lab/lab.sh is not part of this installation' };
  return { ok: true, script };
}

interface LabAddresses {
  clientA: string;
  clientB: string;
  server1: string;
  server2: string;
}

/** One lab of lab.sh: built by `up`, torn down by `down` (or `downSync` from a signal handler). */
export class DemoLab {
  #down = false;

  private constructor(
    readonly script: string,
    readonly prefix: string,
    readonly addresses: LabAddresses,
    readonly namespaces: { client: string; server: string },
  ) {}

  static async up(script: string): Promise<DemoLab> {
    const prefix = demoLabPrefix();
    const { code, stdout, stderr } = await run(script, ['--prefix', prefix, 'up']);
    if (code !== 0) {
      spawnSync(script, ['--prefix', prefix, 'down'], { stdio: 'ignore' });
      const why = stderr.trim().split('\n').at(-1) || `exit ${code}`;
      throw new LabUnavailableError(`could not build network namespaces (${why})`);
    }
    const env = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) env.set(line.slice(0, at), line.slice(at + 1));
    }
    const get = (key: string): string => {
      const value = env.get(`BRAID_LAB_${key}`);
      if (value === undefined) throw new Error(`lab.sh up did not print BRAID_LAB_${key}`);
      return value;
    };
    return new DemoLab(
      script,
      prefix,
      { clientA: get('A_V4'), clientB: get('B_V4'), server1: get('S1_V4'), server2: get('S2_V4') },
      { client: get('NS_CLIENT'), server: get('NS_SERVER') },
    );
  }

  async command(...args: string[]): Promise<void> {
    const { code, stderr } = await run(this.script, ['--prefix', this.prefix, ...args]);
    if (code !== 0) throw new Error(`lab.sh ${args.join(' ')} failed: ${stderr.trim()}`);
  }

  async down(): Promise<void> {
    if (this.#down) return;
    this.#down = true;
    await run(this.script, ['--prefix', this.prefix, 'down']);
  }

  downSync(): void {
    if (this.#down) return;
    this.#down = true;
    tearDownLabSync(this.script);
  }
}

/** lab.sh commands still running, so a signal handler can stop them before tearing down. */
const runningCommands = new Set<ChildProcess>();

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      runningCommands.delete(child);
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    runningCommands.add(child);
  });
}

/** For signal handlers: stops a lab build in progress and removes whatever it built. */
export function tearDownLabSync(script: string): void {
  for (const child of runningCommands) child.kill('SIGKILL');
  spawnSync(script, ['--prefix', demoLabPrefix(), 'down'], { stdio: 'ignore' });
}

type Message = { event: string; [key: string]: unknown };

/** A demo agent inside a namespace: JSON lines out, commands in; stderr kept for errors. */
export class AgentProcess {
  readonly #child: ChildProcess;
  readonly #listeners = new Set<(message: Message) => void>();
  #stderr = '';
  #exit: number | null | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    namespace: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    cwd: string,
  ) {
    // The agent runs the way this process runs: the same node, loader flags and entry point.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
    this.#child = spawn(
      'ip',
      ['netns', 'exec', namespace, process.execPath, ...execArgv, process.argv[1]!, 'demo', ...args],
      { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      let message: Message;
      try {
        message = JSON.parse(line) as Message;
      } catch {
        this.#stderr += `${line}\n`;
        return;
      }
      for (const listener of [...this.#listeners]) listener(message);
    });
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.#child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.#child.on('exit', (code) => {
        this.#exit = code;
        for (const listener of [...this.#listeners]) listener({ event: '__exit' });
        resolve();
      });
    });
  }

  on(event: string, handler: (message: Message) => void): void {
    this.#listeners.add((message) => {
      if (message.event === event) handler(message);
    });
  }

  /** The next message of `event`; rejects on an agent error, its exit, or the timeout. */
  next(event: string, timeoutMs: number): Promise<Message> {
    return new Promise((resolve, reject) => {
      const listener = (message: Message): void => {
        if (message.event === event) finish(() => resolve(message));
        else if (message.event === 'error')
          finish(() => reject(new Error(`${this.name}: ${String(message.message)}`)));
        else if (message.event === '__exit') {
          finish(() =>
            reject(
              new Error(`${this.name} exited (${this.#exit}) before '${event}': ${this.#stderr.trim()}`),
            ),
          );
        }
      };
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        settle();
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`${this.name}: no '${event}' within ${timeoutMs} ms ${this.#stderr.trim()}`)),
          ),
        timeoutMs,
      );
      this.#listeners.add(listener);
      if (this.#exit !== undefined) listener({ event: '__exit' });
    });
  }

  send(message: object): void {
    this.#child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** Closes stdin (the agent's cue to shut down) and waits; kills it after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    this.#child.stdin!.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.#exit === undefined) this.#child.kill('SIGKILL');
  }
}

const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex');

/** What demo.ts needs from either variant. */
export interface DemoWorldHooks {
  line(text: string): void;
  path(row: PathRow, at: number): void;
  /** The engine of one end reported a failover (the other end may only follow it). */
  failover(side: 'client' | 'server', from: PathRow, to: PathRow, reason: string, at: number): void;
  progress(received: number): void;
}

export interface DemoWorld {
  /** The paths of the client's session, as last seen. */
  paths(): PathRow[];
  /** Starts the client's transfer; `sent` resolves with its digest and the server's reply. */
  transfer(): {
    sent: Promise<{ digest: string; reply: string }>;
    received: Promise<{ bytes: number; digest: string }>;
  };
  /** Rejects if the client's session closes or an agent fails. */
  readonly failed: Promise<never>;
  /** Breaks the path `active`; resolves with a description once the fault is in place. */
  fault(active: PathRow): Promise<string>;
  /** The receiver's longest delivery pause after `faultAt` (wall ms), and when it ended. */
  gap(faultAt: number): Promise<{ gapMs: number; endedAt: number } | undefined>;
  close(): Promise<void>;
  /** Synchronous teardown for a signal handler. */
  abort(): void;
}

export interface NetnsDemoOptions {
  script: string;
  bytes: number;
  rateMbit: number;
  fault: DemoFault;
  eventsPath: string;
  serverKey: KeyPair;
  clientKey: KeyPair;
}

/** Builds the lab and starts both agents; resolves once the client has a warm standby. */
export async function startNetnsWorld(options: NetnsDemoOptions, hooks: DemoWorldHooks): Promise<DemoWorld> {
  const lab = await DemoLab.up(options.script);
  const agents: AgentProcess[] = [];
  const abort = (): void => {
    for (const agent of agents) agent.kill();
    lab.downSync();
  };
  try {
    const { clientA, clientB, server1, server2 } = lab.addresses;
    hooks.line(
      `lab     network namespaces ${lab.prefix}-{client,router,server} (lab/lab.sh): client on providers a ${clientA} and b ${clientB}, server on ${server1} and ${server2}`,
    );
    const cwd = dirname(dirname(options.script));
    const server = new AgentProcess(
      'server agent',
      lab.namespaces.server,
      ['--agent', 'server', '--hosts', `${server1},${server2}`, '--events', options.eventsPath],
      {
        BRAID_DEMO_KEY: `${hex(options.serverKey.privateKey)}:${hex(options.serverKey.publicKey)}`,
        BRAID_DEMO_PEER: hex(options.clientKey.publicKey),
      },
      cwd,
    );
    agents.push(server);
    const { port } = (await server.next('listening', 15_000)) as unknown as { port: number };
    hooks.line(
      `server  listening on ${server1}:${port} and ${server2}:${port} in ${lab.namespaces.server}, key ${fingerprint(options.serverKey.publicKey)}`,
    );
    const client = new AgentProcess(
      'client agent',
      lab.namespaces.client,
      [
        '--agent',
        'client',
        '--server',
        `${server1}:${port}`,
        '--locals',
        `${clientA},${clientB}`,
        '--bytes',
        String(options.bytes),
        '--rate',
        String(options.rateMbit),
        '--events',
        options.eventsPath,
      ],
      {
        BRAID_DEMO_KEY: `${hex(options.clientKey.privateKey)}:${hex(options.clientKey.publicKey)}`,
        BRAID_DEMO_PEER: hex(options.serverKey.publicKey),
      },
      cwd,
    );
    agents.push(client);
    let paths: PathRow[] = [];
    client.on('paths', (m) => {
      paths = m.paths as PathRow[];
    });
    client.on('path', (m) => hooks.path(m.path as PathRow, Number(m.at)));
    for (const [side, agent] of [
      ['client', client],
      ['server', server],
    ] as const) {
      agent.on('failover', (m) =>
        hooks.failover(side, m.from as PathRow, m.to as PathRow, String(m.reason), Number(m.at)),
      );
    }
    server.on('progress', (m) => hooks.progress(Number(m.received)));
    const connected = await client.next('connected', 15_000);
    paths = connected.paths as PathRow[];
    hooks.line(
      `client  bound ${clientA} and ${clientB} in ${lab.namespaces.client}; connected in ${Number(connected.ms).toFixed(1)} ms (Noise IK, server key pinned)`,
    );
    for (const path of paths) hooks.line(`path    ${describePath(path)}  ${path.state}`);
    const ready = await client.next('ready', 15_000);
    if (!ready.standby) throw new Error('no standby path was validated within 5 s');

    const failed = new Promise<never>((_, reject) => {
      client.on('closed', (m) =>
        reject(
          new Error(`the session closed during the transfer${m.message ? `: ${String(m.message)}` : ''}`),
        ),
      );
      client.on('error', (m) => reject(new Error(`client agent: ${String(m.message)}`)));
      server.on('error', (m) => reject(new Error(`server agent: ${String(m.message)}`)));
      for (const agent of agents) {
        void agent.exited.then(() => reject(new Error(`the ${agent.name} exited during the transfer`)));
      }
    });
    failed.catch(() => undefined);

    return {
      paths: () => paths,
      failed,
      transfer() {
        const sent = client.next('sent', 24 * 3600_000);
        const received = server.next('received', 24 * 3600_000);
        client.send({ event: 'send' });
        return {
          sent: sent as unknown as Promise<{ digest: string; reply: string }>,
          received: received as unknown as Promise<{ bytes: number; digest: string }>,
        };
      },
      async fault(active) {
        const link = active.localIp === clientA ? 'a' : 'b';
        if (options.fault === 'link-down') {
          await lab.command('link', link, 'down');
          return `took provider link ${link} down (${active.localIp}; ${describePath(active)})`;
        }
        await lab.command('blackhole', link, 'both');
        return `blackholed provider ${link} (${active.localIp} ⇄ router, both ways, silent nftables drop; ${describePath(active)})`;
      },
      async gap(faultAt) {
        const answer = server.next('gap', 5000);
        server.send({ event: 'gap', faultAt });
        return ((await answer).gap as { gapMs: number; endedAt: number } | null) ?? undefined;
      },
      async close() {
        await Promise.all(agents.map((agent) => agent.stop()));
        await lab.down();
      },
      abort,
    };
  } catch (error) {
    for (const agent of agents) agent.kill();
    await lab.down();
    throw error;
  }
}
