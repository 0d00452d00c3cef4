/**
 * Layer-3 tunnels between the lab's client and server namespaces (src/cli/demo/lab.ts), for the
 * VPN benchmark (bench/vpn.ts) and the VPN lab tests: wireguard-go configured with
 * wireguard-tools' `wg`, and `braid vpn`, both over the same provider links. Each returns the
 * inner addresses, the inner MTU and a stop function; the measuring helpers (iperf3, ping, the
 * longest gap of a flow, which provider carries a tunnel) work on either.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab, LabLink, LabNamespace } from '../../src/cli/demo/lab.js';
import { Daemon, type Home, makeHome, runBraid } from './braid-command.js';

export type TunnelKind = 'wireguard-go' | 'braid vpn';

export interface LabTunnel {
  kind: TunnelKind;
  /** Inner IPv4 addresses, without prefix length. */
  clientInner4: string;
  serverInner4: string;
  /** The tunnel interface's MTU (the client's). */
  mtu: number;
  interfaces: { client: string; server: string };
  /** Stops both ends and removes their keys; idempotent. */
  stop(): Promise<void>;
}

/** The PersistentKeepalive a typical WireGuard user sets (wg(8) suggests 25 s behind NAT). */
export const WIREGUARD_KEEPALIVE_SECONDS = 25;
const WIREGUARD_PORT = 51820;
/** wireguard-go's default MTU (the tunnel device's, 1420 = 1500 − 80 of IPv6 + UDP + WireGuard). */
const WIREGUARD_MTU = 1420;
const WIREGUARD_INNER = { server: '10.77.0.1', client: '10.77.0.2', prefixLength: 24 };
const START_TIMEOUT_MS = 15_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Why wireguard-go cannot run here, or undefined when it can (the lab's own checks apart). */
export function wireguardUnavailable(): string | undefined {
  const missing = ['wireguard-go', 'wg'].filter((tool) => !hasCommand(tool));
  return missing.length > 0
    ? `missing ${missing.join(', ')} (Debian wireguard-go and wireguard-tools; scripts/setup-system.sh installs them)`
    : undefined;
}

/** Why `braid vpn` cannot run here (this checkout has no such command), or undefined. */
export async function braidVpnUnavailable(): Promise<string | undefined> {
  const home = makeHome();
  try {
    const help = await runBraid(['vpn', '--help'], home.env);
    return help.code === 0 ? undefined : `braid vpn is not available: ${help.stderr.trim().split('\n')[0]}`;
  } finally {
    home.cleanup();
  }
}

function capture(file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout.trim());
    });
    // `wg genkey` reads nothing and may be gone before we close its input: ignore EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

async function mustExec(lab: Lab, ns: LabNamespace, command: string[]): Promise<string> {
  const result = await lab.exec(ns, command);
  if (result.code !== 0) throw new Error(`${ns}: ${command.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Pings `address` from `ns` until it answers (the tunnel's handshake done), or throws. */
export async function waitForInnerPing(lab: Lab, ns: LabNamespace, address: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const ping = await lab.exec(ns, ['ping', '-c', '1', '-W', '1', address]);
    if (ping.code === 0) return;
    if (Date.now() > deadline) throw new Error(`${address} does not answer pings from ${ns}`);
  }
}

let tunnelCounter = 0;

/**
 * Interface names unique on this host: wireguard-go's control sockets live in the host-wide
 * /var/run/wireguard/NAME.sock, whatever the namespace.
 */
function uniqueInterfaceName(stem: string, end: 'c' | 's'): string {
  return `${stem}${process.pid.toString(36)}${(tunnelCounter++).toString(36)}${end}`.slice(0, 15);
}

/**
 * wireguard-go between the lab's client and server: the server listens on all its addresses
 * (port 51820), the client's peer endpoint is the server's link-s1 IPv4 address, its source
 * whatever the routing table picks (provider a, the preferred default route), with
 * PersistentKeepalive `keepaliveSeconds`. Keys come from `wg genkey`.
 */
export async function startWireGuard(
  lab: Lab,
  options: { keepaliveSeconds?: number } = {},
): Promise<LabTunnel> {
  const keepalive = options.keepaliveSeconds ?? WIREGUARD_KEEPALIVE_SECONDS;
  const keyDir = mkdtempSync(join(tmpdir(), 'braid-wg-'));
  const names = { client: uniqueInterfaceName('wg', 'c'), server: uniqueInterfaceName('wg', 's') };
  const daemons: ReturnType<Lab['spawnIn']>[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(
      daemons.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    rmSync(keyDir, { recursive: true, force: true });
  };
  try {
    const keys = { client: '', server: '' };
    const publicKeys = { client: '', server: '' };
    for (const end of ['client', 'server'] as const) {
      const privateKey = await capture('wg', ['genkey']);
      keys[end] = join(keyDir, `${end}.key`);
      writeFileSync(keys[end], `${privateKey}\n`, { mode: 0o600 });
      publicKeys[end] = await capture('wg', ['pubkey'], `${privateKey}\n`);
    }
    for (const end of ['server', 'client'] as const) {
      // -f: foreground, so the process is ours to stop (and lab.sh down finds it in the namespace).
      const child = lab.spawnIn(end, ['wireguard-go', '-f', names[end]], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
      });
      daemons.push(child);
      await waitForWireGuardSocket(names[end], child);
    }
    const { server, client, prefixLength } = WIREGUARD_INNER;
    await mustExec(lab, 'server', [
      'wg',
      'set',
      names.server,
      'listen-port',
      String(WIREGUARD_PORT),
      'private-key',
      keys.server,
      'peer',
      publicKeys.client,
      'allowed-ips',
      `${client}/32`,
    ]);
    await mustExec(lab, 'client', [
      'wg',
      'set',
      names.client,
      'private-key',
      keys.client,
      'peer',
      publicKeys.server,
      'allowed-ips',
      `${server}/32`,
      'endpoint',
      `${lab.addresses.server1.v4}:${WIREGUARD_PORT}`,
      'persistent-keepalive',
      String(keepalive),
    ]);
    for (const [end, address] of [
      ['server', server],
      ['client', client],
    ] as const) {
      await mustExec(lab, end, ['ip', 'address', 'add', `${address}/${prefixLength}`, 'dev', names[end]]);
      await mustExec(lab, end, ['ip', 'link', 'set', names[end], 'mtu', String(WIREGUARD_MTU), 'up']);
    }
    await waitForInnerPing(lab, 'client', server);
    return {
      kind: 'wireguard-go',
      clientInner4: client,
      serverInner4: server,
      mtu: WIREGUARD_MTU,
      interfaces: names,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

async function waitForWireGuardSocket(name: string, child: ReturnType<Lab['spawnIn']>): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (isSocket(`/var/run/wireguard/${name}.sock`)) return;
    if (child.exitCode !== null)
      throw new Error(`wireguard-go ${name} exited (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`wireguard-go ${name} made no control socket: ${stderr}`);
    await sleep(20);
  }
}

/** One `ready interface=NAME inner4=A.B.C.D/len inner6=… mtu=N` line of `braid vpn`. */
export interface VpnReady {
  interface: string;
  inner4: string;
  inner6: string;
  mtu: number;
}

export function parseVpnReady(line: string): VpnReady | undefined {
  const match = /^ready interface=(\S+) inner4=(\S+) inner6=(\S+) mtu=(\d+)/.exec(line.trim());
  if (!match) return undefined;
  return { interface: match[1]!, inner4: match[2]!, inner6: match[3]!, mtu: Number(match[4]) };
}

const BRAID_VPN_PORT = 4500;
const BRAID_INNER_IPV4 = '10.78.0.0/24';

export interface BraidVpnTunnel extends LabTunnel {
  server: Daemon;
  client: Daemon;
  serverReady: VpnReady;
  clientReady: VpnReady;
  homes: { server: Home; client: Home };
}

/**
 * `braid vpn` between the lab's client and server: the server listens on both its IPv4
 * addresses (links s1 and s2), the client binds both its providers' IPv4 addresses (unless
 * `clientArgs` says otherwise) and connects to the server's link-s1 address. `serverArgs` and
 * `clientArgs` are added to each command line (e.g. --control, --metrics).
 */
export async function startBraidVpn(
  lab: Lab,
  options: { serverArgs?: string[]; clientArgs?: string[]; clientLocals?: string[] } = {},
): Promise<BraidVpnTunnel> {
  const { clientA, clientB, server1, server2 } = lab.addresses;
  const homes = { server: makeHome(), client: makeHome() };
  const names = { client: uniqueInterfaceName('bv', 'c'), server: uniqueInterfaceName('bv', 's') };
  const started: Daemon[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const daemon of started.reverse()) await daemon.stop();
    homes.server.cleanup();
    homes.client.cleanup();
  };
  try {
    await Promise.all([runBraid(['keygen'], homes.server.env), runBraid(['keygen'], homes.client.env)]);
    const keyOf = (home: Home) => join(home.configDir, 'id_braid');
    const authorized = join(homes.server.dir, 'authorized_keys');
    writeFileSync(authorized, readFileSync(`${keyOf(homes.client)}.pub`));
    const serverKey = readFileSync(`${keyOf(homes.server)}.pub`, 'utf8').trim();
    const server = new Daemon(
      [
        'vpn',
        'serve',
        '--listen',
        `${server1.v4}:${BRAID_VPN_PORT}`,
        '--listen',
        `${server2.v4}:${BRAID_VPN_PORT}`,
        '--key',
        keyOf(homes.server),
        '--authorized-keys',
        authorized,
        '--inner-ipv4',
        BRAID_INNER_IPV4,
        '--interface',
        names.server,
        ...(options.serverArgs ?? []),
      ],
      homes.server.env,
      ['ip', 'netns', 'exec', lab.namespaces.server],
    );
    started.push(server);
    const [serverLine] = await server.waitForStdout(/^ready .*$/m, START_TIMEOUT_MS);
    const serverReady = parseVpnReady(serverLine);
    if (!serverReady) throw new Error(`braid vpn serve printed an unreadable ready line: ${serverLine}`);
    const locals = options.clientLocals ?? [clientA.v4, clientB.v4];
    const client = new Daemon(
      [
        'vpn',
        'connect',
        `${server1.v4}:${BRAID_VPN_PORT}`,
        '--key',
        keyOf(homes.client),
        '--server-key',
        serverKey,
        '--interface',
        names.client,
        ...locals.flatMap((local) => ['--local-address', local]),
        ...(options.clientArgs ?? []),
      ],
      homes.client.env,
      ['ip', 'netns', 'exec', lab.namespaces.client],
    );
    started.push(client);
    const [clientLine] = await client.waitForStdout(/^ready .*$/m, START_TIMEOUT_MS);
    const clientReady = parseVpnReady(clientLine);
    if (!clientReady) throw new Error(`braid vpn connect printed an unreadable ready line: ${clientLine}`);
    const serverInner4 = serverReady.inner4.split('/')[0]!;
    await waitForInnerPing(lab, 'client', serverInner4);
    return {
      kind: 'braid vpn',
      clientInner4: clientReady.inner4.split('/')[0]!,
      serverInner4,
      mtu: clientReady.mtu,
      interfaces: { client: clientReady.interface, server: serverReady.interface },
      server,
      client,
      serverReady,
      clientReady,
      homes,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Bytes the client has sent on each provider link so far (its veths' counters). */
async function providerTxBytes(lab: Lab): Promise<Record<'a' | 'b', number>> {
  const read = async (dev: string) =>
    Number(await mustExec(lab, 'client', ['cat', `/sys/class/net/${dev}/statistics/tx_bytes`]));
  const [a, b] = await Promise.all([read('pa'), read('pb')]);
  return { a, b };
}

/**
 * The client provider link that carries `tunnel` now: the one whose sent bytes grow most while
 * 50 inner pings of 1000 bytes go through it.
 */
export async function activeProvider(lab: Lab, tunnel: LabTunnel): Promise<LabLink> {
  const before = await providerTxBytes(lab);
  await mustExec(lab, 'client', [
    'ping',
    '-q',
    '-c',
    '50',
    '-i',
    '0.01',
    '-s',
    '1000',
    '-W',
    '1',
    tunnel.serverInner4,
  ]);
  const after = await providerTxBytes(lab);
  const grewA = after.a - before.a;
  const grewB = after.b - before.b;
  if (Math.max(grewA, grewB) < 50_000)
    throw new Error(`neither provider carried the pings (a +${grewA} B, b +${grewB} B)`);
  return grewA >= grewB ? 'a' : 'b';
}

export interface PingSummary {
  sent: number;
  received: number;
  minMs: number;
  avgMs: number;
  maxMs: number;
  mdevMs: number;
}

/** `ping -c count -i interval` from the client; min/avg/max/mdev as ping(8) prints them. */
export async function pingFromClient(
  lab: Lab,
  address: string,
  count: number,
  intervalSeconds = 0.02,
): Promise<PingSummary> {
  const result = await lab.exec('client', [
    'ping',
    '-q',
    '-c',
    String(count),
    '-i',
    String(intervalSeconds),
    '-W',
    '1',
    address,
  ]);
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(result.stdout);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(result.stdout);
  if (!counts || !rtt) throw new Error(`ping ${address}: ${result.stdout}${result.stderr}`);
  return {
    sent: Number(counts[1]),
    received: Number(counts[2]),
    minMs: Number(rtt[1]),
    avgMs: Number(rtt[2]),
    maxMs: Number(rtt[3]),
    mdevMs: Number(rtt[4]),
  };
}

/** What this harness reads of iperf3's --json report. */
export interface IperfReport {
  start?: { connected?: Array<{ local_host: string; remote_host: string }> };
  intervals: Array<{
    sum: { start: number; end: number; bytes: number; bits_per_second: number; packets?: number };
  }>;
  end: {
    sum_sent?: { bytes: number; bits_per_second: number };
    sum_received?: { bytes: number; bits_per_second: number };
    sum?: { bytes: number; bits_per_second: number; lost_percent?: number; packets?: number };
  };
  error?: string;
}

/**
 * Runs an iperf3 client in the client namespace; throws with iperf3's own error when it fails,
 * or when it has not finished after `deadlineSeconds` (killed then, so a flow stuck on a dead
 * control connection fails the caller instead of hanging it).
 */
export async function iperfClient(lab: Lab, args: string[], deadlineSeconds = 120): Promise<IperfReport> {
  const result = await lab.exec('client', [
    'timeout',
    '--signal=KILL',
    String(deadlineSeconds),
    'iperf3',
    '--json',
    ...args,
  ]);
  let report: IperfReport;
  try {
    report = JSON.parse(result.stdout) as IperfReport;
  } catch {
    throw new Error(`iperf3 ${args.join(' ')}: exit ${result.code}: ${result.stdout}${result.stderr}`);
  }
  if (result.code !== 0 || report.error)
    throw new Error(`iperf3 ${args.join(' ')}: ${report.error ?? `exit ${result.code}`}`);
  return report;
}

/**
 * The longest run of consecutive intervals, starting at or after `fromSeconds`, in which no byte
 * arrived, in ms (a multiple of the interval length: its resolution); 0 when none was empty.
 */
export function longestGapMs(report: IperfReport, fromSeconds = 0): number {
  let longest = 0;
  let runStart: number | undefined;
  for (const { sum } of report.intervals) {
    if (sum.end <= fromSeconds) continue;
    if (sum.bytes === 0) {
      runStart ??= sum.start;
      longest = Math.max(longest, sum.end - runStart);
    } else {
      runStart = undefined;
    }
  }
  return Math.round(longest * 1000);
}
