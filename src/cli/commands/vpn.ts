/**
 * `braid vpn serve` / `braid vpn connect`: a TUN device on each side whose inner addresses are
 * stable identifiers, inner IP packets carried as Braid datagrams over one session that keeps
 * every Braid property (multihoming, failover, NAT rebinding, suspension and resumption).
 * Design, security and limits: docs/vpn.md.
 */
import { encodeKey, fingerprint } from '../../crypto/identity.js';
import { AddressInUseError, type BraidStream, createServer, type Session } from '../../index.js';
import {
  clientInnerIPv6,
  DEFAULT_INNER_IPV4,
  IPv4Pool,
  serverInnerIPv6,
  ulaPrefix,
} from '../../vpn/inner-addresses.js';
import {
  formatPrefix,
  type IpPrefix,
  ipText,
  maskBytes,
  PrefixSet,
  parsePrefix,
} from '../../vpn/ip-prefix.js';
import { TunDevice } from '../../vpn/tun-device.js';
import { type VpnPeer, VpnRouter } from '../../vpn/vpn-router.js';
import type { Command } from '../command.js';
import {
  booleanFlag,
  type FlagSpec,
  formatHostPort,
  listFlag,
  type ParsedArgs,
  parseArgs,
  parseHostPort,
  stringFlag,
} from '../shared/args.js';
import { connectToServer, DEFAULT_PORT, parseServerTarget, type ServerTarget } from '../shared/client.js';
import { CLIENT_SPECS, clientOptionsFrom, untilSignal } from '../shared/client-options.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';
import {
  ByteReader,
  encodeRequest,
  encodeResponse,
  ForwardStatus,
  RequestKind,
  readRequest,
  readResponse,
} from '../shared/forward-protocol.js';
import { defaultKeyPath, loadAuthorizedKeyLines, loadKey } from '../shared/keys.js';
import type { Logger } from '../shared/log.js';

const VPN_USAGE = `usage: braid vpn serve [options]
       braid vpn connect SERVER[:PORT] --server-key KEY [options]

A TUN interface whose inner addresses are stable identifiers: they never change
when the addresses underneath (the locators) do, so every inner TCP and UDP flow
survives failover, roaming and outages the Braid session survives. Linux only;
needs root (CAP_NET_ADMIN). Each side prints one line to stdout when its
interface is up and routed:
  ready interface=NAME inner4=A.B.C.D/LEN inner6=FDXX::/LEN mtu=N

both:
  --key FILE                our identity (default: $XDG_CONFIG_HOME/braid/id_braid)
  --interface NAME          the TUN interface's name (default braid0)
  --config FILE             read options from FILE: one per line, as the flags without
                            '--' (e.g. 'inner-ipv4 10.77.0.0/16', 'server HOST:PORT' for
                            connect); '#' starts a comment. The command line replaces the
                            file's values.

serve:
  --listen ADDR:PORT        UDP address to listen on; repeat for several (one port).
                            Default: every address, port ${DEFAULT_PORT}
  --authorized-keys FILE    client keys allowed in, one per line, each optionally followed
                            by allowed-ips=CIDR[,CIDR...]: inner prefixes that key may use
                            as source besides its own inner addresses (e.g. a network
                            behind it; routed to it). Checked on every packet both ways.
  --no-strict-modes         accept an authorized-keys file others may write to
  --inner-ipv4 CIDR         the inner IPv4 range (default ${DEFAULT_INNER_IPV4}); the server
                            is its first address, each client the one its key hashes to
  --inner-ipv6 PREFIX       the inner IPv6 prefix, /64 or shorter (default: a ULA /64
                            derived from the server key); clients get addresses derived
                            from both keys: the same on every connection

connect:
  --server-key KEY          the server's public key (pinned); or give SERVER as
                            braid://KEY@host[:port]
  --known-hosts FILE        remembered server keys, when no key is pinned
  --strict                  refuse a server whose key is neither pinned nor known
  --connect-timeout MS      handshake timeout per server address (default 5000)
  --local-address IP        bind this local address; repeat for several (multihoming)
  --backup-address IP       a local address used only while no other path works
  --congestion-control CC   cubic or bbr (newreno also works)
  -h, --help                show this help

example: braid vpn serve --authorized-keys ~/.config/braid/authorized_keys
         braid vpn connect server.example --server-key <key>`;

const VPN_FLAGS: Record<string, FlagSpec> = {
  ...CLIENT_SPECS,
  interface: { type: 'string' },
  config: { type: 'string', config: { positional: 'server' } },
  listen: { type: 'string', multiple: true },
  'authorized-keys': { type: 'string' },
  'no-strict-modes': { type: 'boolean' },
  'inner-ipv4': { type: 'string' },
  'inner-ipv6': { type: 'string' },
  'server-key': { type: 'string' },
};

const DEFAULT_INTERFACE = 'braid0';
/** IPv6's minimum link MTU (RFC 8200 §5); larger inner packets than a datagram ride in pieces. */
const MIN_TUN_MTU = 1280;
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 5000];

/** The TUN MTU for a session: what one datagram holds, but never below IPv6's minimum. */
export function tunMtu(maxDatagramSize: number): number {
  return Math.max(MIN_TUN_MTU, maxDatagramSize);
}

function prefixFlag(args: ParsedArgs, name: string, version: 4 | 6): IpPrefix | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) return undefined;
  let prefix: IpPrefix;
  try {
    prefix = parsePrefix(text);
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`, VPN_USAGE);
  }
  if (prefix.version !== version)
    throw new UsageError(`--${name} must be an IPv${version} prefix`, VPN_USAGE);
  return prefix;
}

function interfaceName(args: ParsedArgs): string {
  const name = stringFlag(args, 'interface') ?? DEFAULT_INTERFACE;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) {
    throw new UsageError(
      `--interface '${name}' is not a valid interface name (1–15 of A-Z a-z 0-9 _ . -)`,
      VPN_USAGE,
    );
  }
  return name;
}

function openTun(name: string, onPacket: (packet: Uint8Array) => void): TunDevice {
  try {
    return TunDevice.open(name, onPacket);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

async function configureTun(tun: TunDevice, options: Parameters<TunDevice['configure']>[0]): Promise<void> {
  try {
    await tun.configure(options);
  } catch (error) {
    tun.close();
    throw new CliError(`cannot configure ${tun.name}: ${(error as Error).message}`);
  }
}

function readyLine(name: string, inner4: string, inner6: string, mtu: number): string {
  return `ready interface=${name} inner4=${inner4} inner6=${inner6} mtu=${mtu}`;
}

interface VpnKey {
  key: Uint8Array;
  /** Extra allowed inner prefixes (allowed-ips=...). */
  extra: IpPrefix[];
}

function loadVpnKeys(path: string, strictModes: boolean): VpnKey[] {
  return loadAuthorizedKeyLines(path, strictModes).map(({ key, rest, line }) => {
    const extra: IpPrefix[] = [];
    for (const word of rest) {
      if (!word.startsWith('allowed-ips=')) break; // the comment starts
      for (const text of word.slice('allowed-ips='.length).split(',')) {
        try {
          extra.push(parsePrefix(text));
        } catch (error) {
          throw new CliError(`${path}:${line}: ${(error as Error).message}`, ExitCode.KEY_FILE);
        }
      }
    }
    return { key, extra };
  });
}

/** The assignment the server sends a client, as `name=value` words. */
export interface VpnAssignment {
  inner4: string;
  inner6: string;
  server4: string;
  server6: string;
}

export function encodeAssignment(assignment: VpnAssignment): string {
  return Object.entries(assignment)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}

export function decodeAssignment(text: string): VpnAssignment {
  const fields = new Map(text.split(/\s+/).map((word) => word.split('=', 2) as [string, string]));
  const need = (name: string, version: 4 | 6, withLength: boolean): string => {
    const value = fields.get(name);
    try {
      if (value === undefined) throw new RangeError('missing');
      const prefix = parsePrefix(value, { host: true });
      if (prefix.version !== version || value.includes('/') !== withLength)
        throw new RangeError('wrong form');
    } catch {
      throw new CliError(`the server sent an unusable vpn assignment (${name}): '${text}'`);
    }
    return value!;
  };
  return {
    inner4: need('inner4', 4, true),
    inner6: need('inner6', 6, true),
    server4: need('server4', 4, false),
    server6: need('server6', 6, false),
  };
}

async function runVpn(argv: string[], log: Logger): Promise<number> {
  const [mode, ...rest] = argv;
  const args = parseArgs(rest, VPN_FLAGS, VPN_USAGE);
  if (args.help || mode === '--help' || mode === '-h' || mode === undefined) {
    console.log(VPN_USAGE);
    return mode === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (mode === 'serve') return serveVpn(args, log);
  if (mode === 'connect') return connectVpn(args, log);
  throw new UsageError(`braid vpn needs 'serve' or 'connect', got '${mode}'`, VPN_USAGE);
}

async function serveVpn(args: ParsedArgs, log: Logger): Promise<number> {
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument '${args.positionals[0]}'`, VPN_USAGE);
  for (const clientOnly of ['server-key', 'known-hosts', 'strict', 'connect-timeout', 'local-address']) {
    if (args.flags.has(clientOnly))
      throw new UsageError(`--${clientOnly} is for braid vpn connect`, VPN_USAGE);
  }
  const keysPath = stringFlag(args, 'authorized-keys');
  if (!keysPath) throw new UsageError('braid vpn serve needs --authorized-keys FILE', VPN_USAGE);
  const listen = listFlag(args, 'listen').map((text) => parseHostPort(text, '--listen', true));
  if (new Set(listen.map((l) => l.port)).size > 1) {
    throw new UsageError('every --listen address must use the same port', VPN_USAGE);
  }
  const name = interfaceName(args);
  const staticKey = loadKey(stringFlag(args, 'key') ?? defaultKeyPath());
  const keys = loadVpnKeys(keysPath, !booleanFlag(args, 'no-strict-modes'));
  const pool = new IPv4Pool(prefixFlag(args, 'inner-ipv4', 4) ?? parsePrefix(DEFAULT_INNER_IPV4));
  const prefix6 = prefixFlag(args, 'inner-ipv6', 6) ?? ulaPrefix(staticKey.publicKey);
  if (prefix6.length > 64) throw new UsageError('--inner-ipv6 must be /64 or shorter', VPN_USAGE);
  const server4 = ipText(pool.server);
  const server6 = ipText(serverInnerIPv6(prefix6));
  const inner4 = `${server4}/${pool.range.length}`;
  const inner6 = `${server6}/${prefix6.length}`;
  const mtu = MIN_TUN_MTU;

  const tun = openTun(name, (packet) => router.fromTun(packet));
  const router = new VpnRouter((packet) => tun.write(packet));
  await configureTun(tun, { mtu, addresses: [inner4, inner6] });

  /** IPv4 addresses given out in this process, by key: a key keeps its address while the server runs. */
  const assigned4 = new Map<string, string>();
  const peersByKey = new Map<string, VpnPeer>();
  const server = createServer({ staticKey, authorizedKeys: keys.map((k) => k.key) }, (session) =>
    onSession(session),
  );
  try {
    const hosts = listen.map((l) => l.host).filter((h) => h !== '*' && h !== '');
    await server.listen({ ...(hosts.length > 0 && { hosts }), port: listen[0]?.port ?? DEFAULT_PORT });
  } catch (error) {
    tun.close();
    if (error instanceof AddressInUseError) {
      throw new CliError(
        `UDP ${formatHostPort(error.address, error.port)} is already in use; choose another with --listen`,
        ExitCode.ADDRESS_IN_USE,
      );
    }
    throw error;
  }
  for (const address of server.addresses())
    log(`listening on ${formatHostPort(address.address, address.port)} (udp)`);
  log(`server key ${encodeKey(staticKey.publicKey)} (fingerprint ${fingerprint(staticKey.publicKey)})`);

  function onSession(session: Session): void {
    const who = session.remoteKey ? fingerprint(session.remoteKey) : '?';
    session.on('stream', (stream) => {
      const reader = new ByteReader(stream);
      readRequest(reader)
        .then((request) => {
          if (request.kind !== RequestKind.VPN) {
            stream.end(
              encodeResponse({
                status: ForwardStatus.UNAVAILABLE,
                reason: 'this is a braid vpn server: vpn only',
              }),
            );
            stream.resume();
            return;
          }
          admit(session, who, stream);
        })
        .catch((error: Error) => {
          log(`session ${who}: bad request: ${error.message}`);
          stream.destroy();
        });
    });
    session.on('close', (error) => log(`session ${who} closed${error ? `: ${error.message}` : ''}`));
  }

  function admit(session: Session, who: string, stream: BraidStream): void {
    const clientKey = session.remoteKey!;
    const keyText = encodeKey(clientKey);
    const entry = keys.find((k) => encodeKey(k.key) === keyText);
    let address4 = assigned4.get(keyText);
    if (address4 === undefined) {
      const taken = new Set(assigned4.values());
      const bytes = pool.assign(staticKey.publicKey, clientKey, (a) => taken.has(a));
      if (!bytes) {
        stream.end(
          encodeResponse({ status: ForwardStatus.UNAVAILABLE, reason: 'the inner IPv4 range is full' }),
        );
        log(`session ${who}: refused: the inner IPv4 range is full`);
        return;
      }
      address4 = ipText(bytes);
      assigned4.set(keyText, address4);
    }
    const address6 = ipText(clientInnerIPv6(prefix6, staticKey.publicKey, clientKey));
    const extra = entry?.extra ?? [];
    const peer: VpnPeer = {
      link: session,
      allowed: new PrefixSet([parsePrefix(address4), parsePrefix(address6), ...extra]),
      label: who,
    };
    // A newer session of the same key takes its place (the client reconnected).
    const previous = peersByKey.get(keyText);
    if (previous) router.removePeer(previous);
    peersByKey.set(keyText, peer);
    router.addPeer(peer);
    const onDatagram = (data: Buffer): void => router.fromPeer(peer, data);
    session.on('datagram', onDatagram);
    const leave = (): void => {
      session.off('datagram', onDatagram);
      router.removePeer(peer);
      if (peersByKey.get(keyText) === peer) {
        peersByKey.delete(keyText);
        for (const prefix of extra) tun.deleteRoute(formatPrefix(prefix)).catch(() => undefined);
      }
    };
    stream.on('close', leave);
    session.once('close', leave);
    stream.on('error', () => undefined);
    stream.resume();
    Promise.all(extra.map((prefix) => tun.addRoute(formatPrefix(prefix))))
      .catch((error: Error) => log(`session ${who}: cannot route its allowed-ips: ${error.message}`))
      .then(() => {
        const assignment: VpnAssignment = {
          inner4: `${address4}/${pool.range.length}`,
          inner6: `${address6}/${prefix6.length}`,
          server4,
          server6,
        };
        stream.write(encodeResponse({ status: ForwardStatus.OK, reason: encodeAssignment(assignment) }));
        log(
          `session ${who}: vpn ${assignment.inner4} ${assignment.inner6}${extra.length > 0 ? ` allowed-ips ${extra.map(formatPrefix).join(',')}` : ''}`,
        );
      });
  }

  console.log(readyLine(tun.name, inner4, inner6, mtu));
  const signal = await untilSignal();
  log(`${signal}: closing ${server.sessions.size} session(s)`);
  await server.close(0, 'server shutting down', 2000);
  tun.close();
  logCounters(log, router);
  return ExitCode.OK;
}

function logCounters(log: Logger, router: VpnRouter): void {
  const c = router.counters;
  log(
    `packets: ${c.fromTun} from the interface, ${c.toPeers} sent; ${c.fromPeers} received, ${c.toTun} to the interface; ` +
      `${c.mssClamped} MSS clamped; drops ${JSON.stringify(c.drops)}`,
  );
}

function serverTarget(args: ParsedArgs): ServerTarget {
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', VPN_USAGE);
  const text = args.positionals[0]!;
  const serverKey = stringFlag(args, 'server-key');
  if (serverKey === undefined) return parseServerTarget(text);
  if (text.startsWith('braid://'))
    throw new UsageError('give the server key once: --server-key or braid://', VPN_USAGE);
  return parseServerTarget(`braid://${serverKey}@${text}`);
}

async function connectVpn(args: ParsedArgs, log: Logger): Promise<number> {
  for (const serverOnly of ['listen', 'authorized-keys', 'no-strict-modes', 'inner-ipv4', 'inner-ipv6']) {
    if (args.flags.has(serverOnly)) throw new UsageError(`--${serverOnly} is for braid vpn serve`, VPN_USAGE);
  }
  const target = serverTarget(args);
  const name = interfaceName(args);
  const options = clientOptionsFrom(args, VPN_USAGE, log);
  const tun = openTun(name, (packet) => router.fromTun(packet));
  const router = new VpnRouter((packet) => tun.write(packet));
  let stopping = false;
  let configured: VpnAssignment | undefined;
  let current: Session | undefined;
  const stopped = untilSignal().then((signal) => {
    stopping = true;
    log(`${signal}: leaving the vpn`);
  });

  /** One session: join, carry packets until it closes. Resolves when it closed. */
  async function join(session: Session): Promise<void> {
    const stream = await session.openStream();
    stream.on('error', () => undefined);
    stream.write(encodeRequest({ kind: RequestKind.VPN, target: '' }));
    const reader = new ByteReader(stream);
    const response = await readResponse(reader);
    if (response.status !== ForwardStatus.OK) {
      throw new CliError(`the server refused the vpn: ${response.reason}`, ExitCode.FORWARD_REFUSED);
    }
    const assignment = decodeAssignment(response.reason);
    const mtu = tunMtu(session.maxDatagramSize);
    if (!configured) {
      await configureTun(tun, { mtu, addresses: [assignment.inner4, assignment.inner6] });
      configured = assignment;
      console.log(readyLine(tun.name, assignment.inner4, assignment.inner6, mtu));
    } else if (configured.inner4 !== assignment.inner4 || configured.inner6 !== assignment.inner6) {
      // Only when the server's range changed or its IPv4 addresses were taken: say so, and follow.
      log(
        `the server moved us from ${configured.inner4} ${configured.inner6} to ${assignment.inner4} ${assignment.inner6}`,
      );
      await configureTun(tun, { mtu, addresses: [assignment.inner4, assignment.inner6] }).catch(
        () => undefined,
      );
      configured = assignment;
    }
    const peer: VpnPeer = {
      link: session,
      // The server may send from anywhere in the inner ranges (itself and other clients), and only there.
      allowed: new PrefixSet([assignment.inner4, assignment.inner6].map(innerNetwork)),
      label: target.label,
    };
    router.addPeer(peer);
    const onDatagram = (data: Buffer): void => router.fromPeer(peer, data);
    session.on('datagram', onDatagram);
    session.on('suspended', () =>
      log('the session is suspended: no path works; inner packets are dropped until one does'),
    );
    session.on('resumed', () => log('the session is back'));
    await new Promise<void>((resolve) => {
      session.once('close', () => resolve());
      stream.on('close', () => resolve());
    });
    session.off('datagram', onDatagram);
    router.removePeer(peer);
  }

  let attempt = 0;
  while (!stopping) {
    try {
      current = await Promise.race([connectToServer(target, options), stopped.then(() => undefined)]);
      if (!current) break;
      attempt = 0;
      await Promise.race([join(current), stopped]);
      if (!stopping) log(`session to ${target.label} closed; reconnecting`);
    } catch (error) {
      if (!configured) {
        tun.close();
        await current?.close(0, 'client exiting').catch(() => undefined);
        throw error;
      }
      log(`cannot reach ${target.label}: ${(error as Error).message.split('\n')[0]}`);
    }
    if (stopping) break;
    const delay = RECONNECT_DELAYS_MS[Math.min(attempt++, RECONNECT_DELAYS_MS.length - 1)]!;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, delay)), stopped]);
  }
  await current?.close(0, 'client exiting').catch(() => undefined);
  tun.close();
  logCounters(log, router);
  return ExitCode.OK;
}

/** The network of an `address/len`. */
function innerNetwork(text: string): IpPrefix {
  const host = parsePrefix(text, { host: true });
  return { ...host, bytes: maskBytes(host.bytes, host.length) };
}

export const command: Command = {
  usage: VPN_USAGE,
  flags: VPN_FLAGS,
  synopsis: 'serve|connect ...',
  summary: 'a TUN interface whose inner addresses survive every address change (Linux, root)',
  run: runVpn,
};
