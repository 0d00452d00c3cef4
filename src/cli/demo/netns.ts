/**
 * `braid demo` in network namespaces: lab/lab.sh (through lab.ts) builds a client with two
 * providers (a, b), a router and a two-address server; a server agent and a client agent
 * (agent.ts) run inside their namespaces, and the fault is real: a silent nftables drop in
 * the router, or the provider link taken down. Needs root, Linux and iproute2 + nftables;
 * `labAvailability` says why not otherwise, and the demo falls back to loopback addresses.
 */
import { fingerprint } from '../../crypto/identity.js';
import type { KeyPair } from '../../index.js';
import { Lab, LabUpError } from './lab.js';
import { LabProcess } from './lab-process.js';
import { describePath, type PathRow } from './transfer.js';

export type DemoFault = 'blackhole' | 'link-down';

/** The lab could not be built here (e.g. no namespaces in this container): the demo falls back. */
export class LabUnavailableError extends Error {}

/** One lab per demo process, named after it, so a signal handler can always tear it down. */
export function demoLabPrefix(): string {
  return `braiddemo${process.pid}`;
}

/** Whether the namespace variant can run here; the reason is one line for the person watching. */
export function labAvailability(): { ok: true; script: string } | { ok: false; reason: string } {
  // The demo never rebinds NAT, so conntrack is not needed.
  const availability = Lab.available({ conntrack: false });
  if (availability.ok) return availability;
  switch (availability.cause) {
    case 'platform':
      return { ok: false, reason: 'network namespaces need Linux' };
    case 'root':
      return { ok: false, reason: 'not root (network namespaces need root: sudo npm run demo)' };
    case 'tools':
      return {
        ok: false,
        reason: `${availability.missing.join(', ')} not installed (run scripts/setup-system.sh as root, then the demo again)`,
      };
    case 'script':
      return { ok: false, reason: availability.reason };
  }
}

/** Builds the demo's lab; a failure of lab.sh itself is a LabUnavailableError (the demo falls back). */
async function upDemoLab(): Promise<Lab> {
  try {
    return await Lab.up({ prefix: demoLabPrefix() });
  } catch (error) {
    if (!(error instanceof LabUpError)) throw error;
    const why = error.stderr.trim().split('\n').at(-1) || `exit ${error.exitCode}`;
    throw new LabUnavailableError(`could not build network namespaces (${why})`);
  }
}

/** A demo agent (`braid demo --agent ...`) in a namespace, run the way this process runs. */
function startAgent(
  lab: Lab,
  name: string,
  ns: 'client' | 'server',
  args: string[],
  env: NodeJS.ProcessEnv,
): LabProcess {
  // The same node, loader flags and entry point.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  const child = lab.spawnIn(ns, [process.execPath, ...execArgv, process.argv[1]!, 'demo', ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new LabProcess(name, child);
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
  bytes: number;
  rateMbit: number;
  fault: DemoFault;
  eventsPath: string;
  serverKey: KeyPair;
  clientKey: KeyPair;
}

/** Builds the lab and starts both agents; resolves once the client has a warm standby. */
export async function startNetnsWorld(options: NetnsDemoOptions, hooks: DemoWorldHooks): Promise<DemoWorld> {
  const lab = await upDemoLab();
  const agents: LabProcess[] = [];
  const abort = (): void => {
    for (const agent of agents) agent.kill();
    lab.downSync();
  };
  try {
    const [clientA, clientB, server1, server2] = [
      lab.addresses.clientA.v4,
      lab.addresses.clientB.v4,
      lab.addresses.server1.v4,
      lab.addresses.server2.v4,
    ];
    hooks.line(
      `lab     network namespaces ${lab.prefix}-{client,router,server} (lab/lab.sh): client on providers a ${clientA} and b ${clientB}, server on ${server1} and ${server2}`,
    );
    const server = startAgent(
      lab,
      'server agent',
      'server',
      ['--agent', 'server', '--hosts', `${server1},${server2}`, '--events', options.eventsPath],
      {
        BRAID_DEMO_KEY: `${hex(options.serverKey.privateKey)}:${hex(options.serverKey.publicKey)}`,
        BRAID_DEMO_PEER: hex(options.clientKey.publicKey),
      },
    );
    agents.push(server);
    const { port } = (await server.next('listening', 15_000)) as unknown as { port: number };
    hooks.line(
      `server  listening on ${server1}:${port} and ${server2}:${port} in ${lab.namespaces.server}, key ${fingerprint(options.serverKey.publicKey)}`,
    );
    const client = startAgent(
      lab,
      'client agent',
      'client',
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
          await lab.linkDown(link);
          return `took provider link ${link} down (${active.localIp}; ${describePath(active)})`;
        }
        await lab.blackhole(link, 'both');
        return `blackholed provider ${link} (${active.localIp} ⇄ router, both ways, silent nftables drop; ${describePath(active)})`;
      },
      async gap(faultAt) {
        // Asked twice (from the fault's end and from its start): only a later answer counts.
        const answer = server.next('gap', 5000, server.messages.length);
        server.send({ event: 'gap', faultAt });
        return ((await answer).gap as { gapMs: number; endedAt: number } | null) ?? undefined;
      },
      async close() {
        await Promise.all(agents.map((agent) => agent.close()));
        await lab.down().catch(() => undefined);
      },
      abort,
    };
  } catch (error) {
    for (const agent of agents) agent.kill();
    await lab.down().catch(() => undefined);
    throw error;
  }
}
