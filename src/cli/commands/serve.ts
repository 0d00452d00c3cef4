/**
 * `braid serve`: a foreground daemon. Accepts sessions from authorized client keys,
 * answers stream-open requests (forward to an allowed TCP target, or echo), and
 * handles signals: SIGINT/SIGTERM close every session gracefully, SIGHUP reloads what can
 * change without a restart (see reload below) and reopens the event log.
 */
import { lookup } from 'node:dns/promises';
import { mkdirSync, statSync } from 'node:fs';
import { createServer as createTcpServer, isIP, isIPv4, type Socket, connect as tcpConnect } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { Writable } from 'node:stream';
import { encodeKey, fingerprint } from '../../crypto/identity.js';
import { AddressInUseError, type BraidStream, createServer, type Session } from '../../index.js';
import type { Command } from '../command.js';
import { OBSERVE_HELP, OBSERVE_SPECS, startObservability } from '../observe/observability.js';
import { SessionTracker } from '../observe/tracker.js';
import { AllowList, parseAllowEntry } from '../shared/allow-list.js';
import {
  booleanFlag,
  formatHostPort,
  listFlag,
  type ParsedArgs,
  parseArgs,
  parseHostPort,
  positiveIntFlag,
} from '../shared/args.js';
import { DEFAULT_PORT } from '../shared/client.js';
import {
  backupAddressesFrom,
  type CongestionControlName,
  congestionControlFlag,
} from '../shared/client-options.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';
import { ReceiveDirectory } from '../shared/file-transfer.js';
import {
  ByteReader,
  connectFailureStatus,
  encodeRequest,
  encodeResponse,
  ForwardStatus,
  type ForwardStatusValue,
  PING_DATAGRAM_PREFIX,
  RequestKind,
  readRequest,
  readResponse,
  TARGET_CONNECTION_FAILED,
} from '../shared/forward-protocol.js';
import { defaultKeyPath, loadAuthorizedKeys, loadKey } from '../shared/keys.js';
import type { Logger } from '../shared/log.js';
import {
  bindUdp,
  DEFAULT_MAX_UDP_FLOWS,
  DEFAULT_UDP_IDLE_TIMEOUT_S,
  newUdpForwardStats,
  UdpRelay,
} from '../shared/udp-forward.js';

/** Reverse forwards one session may hold at once, unless --max-reverse says otherwise. */
const DEFAULT_MAX_REVERSE = 8;

const SERVE_USAGE = `usage: braid serve [options]

Runs a Braid server in the foreground until SIGINT or SIGTERM.

options:
  --listen ADDR:PORT        UDP address to listen on; repeat for several addresses (one port).
                            Default: every address, port ${DEFAULT_PORT}. '*:PORT' = every address.
  --backup-address IP       one of the server's addresses that is a backup (e.g. on a metered
                            link): clients are told, and use it only while no other path
                            works. Repeatable
  --config FILE             read options from FILE: one option per line, as the flags
                            without '--' (e.g. 'allow web=127.0.0.1:80'); '#' starts a comment.
                            A flag replaces the file's value ('allow' flags add to the file's).
  --key FILE                server identity (default: $XDG_CONFIG_HOME/braid/id_braid)
  --authorized-keys FILE    client public keys allowed to connect, one per line
  --allow-any               accept any client key (needed when no --authorized-keys is given)
  --no-strict-modes         accept an authorized-keys file (or its directory) that another user
                            owns or may write to; refused by default, as ssh's StrictModes
  --allow [NAME=]HOST:PORT  a target clients may reach, by TCP or UDP (tunnel -L udp:…);
                            repeatable. HOST may be '*' and PORT may be '*' in unnamed
                            entries. Nothing is allowed by default.
  --echo                    answer 'braid cat' without --to by echoing the stream back
  --allow-reverse           let clients ask this server to listen for them (braid tunnel -R);
                            the listener lives as long as the client's session. It binds
                            loopback whatever address the client asks for, unless:
  --gateway-ports           bind reverse forwards where the client asks (as ssh's GatewayPorts
                            clientspecified), e.g. 0.0.0.0 to listen on every address
  --reverse-low-ports       let clients ask for ports below 1024 (refused otherwise)
  --max-reverse N           reverse forwards one session may hold at once, TCP and UDP
                            (default ${DEFAULT_MAX_REVERSE})
  --udp-idle-timeout S      forget a UDP flow after S seconds without a datagram either way
                            (default ${DEFAULT_UDP_IDLE_TIMEOUT_S})
  --max-udp-flows N         UDP flows one session may hold at once; beyond, the least recently
                            used goes (default ${DEFAULT_MAX_UDP_FLOWS})
  --receive-dir DIR         accept files from braid send into DIR (resumable, SHA-256 checked);
                            refused if group or others may write to DIR, unless:
  --shared-receive-dir      accept a receive directory others may write to (the server's own
                            files there are still never opened through a link)
  --retry always|auto|never make clients prove their address with a Retry round trip before
                            any Diffie-Hellman: always, only under handshake load (auto, the
                            default) or never (leaves the server open to handshake floods)
  --retry-threshold N       half-open sessions (handshake done, not yet confirmed) at which
                            --retry auto starts sending Retry (default 64)
  --retry-dh-per-second N   Diffie-Hellman operations a second (IK first flight 5, XX 4) at which
                            --retry auto starts sending Retry (default 2000)
  --freshness-table-size N  client keys whose newest first-flight timestamp is remembered to drop
                            replayed first flights (default 16384)
  --max-sessions N          sessions at once; a client beyond is refused (SESSION_LIMIT). Default: no limit
  --max-sessions-per-key N  sessions at once per client key. Default: no limit
  --memory-budget MIB       what all sessions may cost together: 48 KiB each plus what it buffers
                            (at most 16 MiB); over it new sessions are refused and receive
                            windows shrink. Default 1024 (about 21 800 idle sessions)
  --congestion-control CC   cubic or bbr (newreno also works): the controller of what the
                            server sends (default: the library's, see docs/performance.md)
  --idle-timeout SECONDS    the failure timeout: a session that hears nothing from its client
                            this long is suspended (default 30; the smaller of both sides' applies)
  --persistence-timeout SECONDS
                            how long a suspended session is kept for its client to resume it;
                            then it expires and is forgotten (default 14400, 4 h; the smaller of
                            both sides' applies; 0: no suspension, silent sessions idle out)
${OBSERVE_HELP}
  -h, --help                show this help

signals: SIGINT/SIGTERM close sessions gracefully and exit 0 (/healthz answers 503
meanwhile); SIGHUP reloads the authorized keys, the allow-list, echo and the reverse-forward
options (on a bad file the old settings stay) and reopens the event log. Under systemd
(NOTIFY_SOCKET) it reports readiness, reloads and shutdown, and pings the watchdog.`;

const SERVE_FLAGS = {
  listen: { type: 'string', multiple: true },
  'backup-address': { type: 'string', multiple: true },
  config: { type: 'string', config: {} },
  key: { type: 'string' },
  'authorized-keys': { type: 'string' },
  'allow-any': { type: 'boolean' },
  'no-strict-modes': { type: 'boolean' },
  allow: { type: 'string', multiple: true, addsToFile: true },
  echo: { type: 'boolean' },
  'allow-reverse': { type: 'boolean' },
  'gateway-ports': { type: 'boolean' },
  'reverse-low-ports': { type: 'boolean' },
  'max-reverse': { type: 'string' },
  'receive-dir': { type: 'string' },
  'shared-receive-dir': { type: 'boolean' },
  retry: { type: 'string' },
  'retry-threshold': { type: 'string' },
  'retry-dh-per-second': { type: 'string' },
  'freshness-table-size': { type: 'string' },
  'max-sessions': { type: 'string' },
  'max-sessions-per-key': { type: 'string' },
  'memory-budget': { type: 'string' },
  'congestion-control': { type: 'string' },
  'udp-idle-timeout': { type: 'string' },
  'max-udp-flows': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'persistence-timeout': { type: 'string' },
  ...OBSERVE_SPECS,
} as const;

interface ServeSettings {
  listen: Array<{ host: string; port: number }>;
  backupAddresses: string[];
  keyPath: string;
  authorizedKeys: 'any' | Uint8Array[];
  authorizedKeysSource: string;
  allowList: AllowList;
  echo: boolean;
  allowReverse: boolean;
  gatewayPorts: boolean;
  reverseLowPorts: boolean;
  maxReversePerSession: number;
  receiveDir: string | undefined;
  sharedReceiveDir: boolean;
  retry: 'always' | 'auto' | 'never';
  retryThreshold: number | undefined;
  retryDhPerSecond: number | undefined;
  freshnessTableSize: number | undefined;
  maxSessions: number | undefined;
  maxSessionsPerKey: number | undefined;
  /** Bytes. */
  memoryBudget: number | undefined;
  congestionControl: CongestionControlName | undefined;
  udpIdleTimeoutMs: number;
  maxUdpFlows: number;
  /** Milliseconds. */
  idleTimeout: number | undefined;
  persistenceTimeout: number | undefined;
}

function positiveInteger(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`option '--${name}' needs a positive integer, got '${text}'`, SERVE_USAGE);
  }
  return value;
}

/** A number of seconds (fractions allowed) as milliseconds; zero only where it means "off". */
function secondsOption(name: string, text: string | undefined, zeroAllowed: boolean): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(value) || (value === 0 && !zeroAllowed)) {
    throw new UsageError(
      `option '--${name}' needs a ${zeroAllowed ? '' : 'positive '}number of seconds, got '${text}'`,
      SERVE_USAGE,
    );
  }
  return Math.round(value * 1000);
}

/** The options SIGHUP applies to a running server (docs/operations.md, "Reloading and log rotation"). */
export const RELOADABLE: ReadonlySet<string> = new Set([
  'authorized-keys',
  'allow-any',
  'no-strict-modes',
  'allow',
  'echo',
  'allow-reverse',
  'gateway-ports',
  'reverse-low-ports',
  'max-reverse',
  // Read when a session makes its first UDP forward: these apply to the sessions after the reload.
  'udp-idle-timeout',
  'max-udp-flows',
]);

/** Refusal log lines per second at most; the rest are counted and summed up in the next line. */
const REFUSAL_LOG_PER_SECOND = 10;

function settingsFrom(args: ParsedArgs): ServeSettings {
  const pick = (name: string): string[] => listFlag(args, name);
  const flag = (name: string): boolean => booleanFlag(args, name);

  const listenTexts = pick('listen');
  const listen = listenTexts.map((text) => {
    const { host, port } = parseHostPort(text, '--listen', true);
    return { host: host === '*' ? '' : host, port };
  });
  if (new Set(listen.map((l) => l.port)).size > 1) {
    throw new UsageError('every --listen address must use the same port', SERVE_USAGE);
  }
  const keysPath = pick('authorized-keys')[0];
  const allowAny = flag('allow-any');
  if (keysPath && allowAny)
    throw new UsageError('give --authorized-keys or --allow-any, not both', SERVE_USAGE);
  if (!keysPath && !allowAny) {
    throw new UsageError(
      'say which clients may connect: --authorized-keys FILE, or --allow-any to accept every key',
      SERVE_USAGE,
    );
  }
  const retry = pick('retry')[0] ?? 'auto';
  if (retry !== 'always' && retry !== 'auto' && retry !== 'never') {
    throw new UsageError(`--retry must be always, auto or never, got '${retry}'`, SERVE_USAGE);
  }
  const backupAddresses = backupAddressesFrom(
    args,
    listen.map((l) => l.host).filter((h) => h !== ''),
    '--listen',
    SERVE_USAGE,
  );
  return {
    retry,
    retryThreshold: positiveInteger('retry-threshold', pick('retry-threshold')[0]),
    retryDhPerSecond: positiveInteger('retry-dh-per-second', pick('retry-dh-per-second')[0]),
    freshnessTableSize: positiveInteger('freshness-table-size', pick('freshness-table-size')[0]),
    listen,
    backupAddresses,
    keyPath: pick('key')[0] ?? defaultKeyPath(),
    authorizedKeys: keysPath ? loadAuthorizedKeys(keysPath, !flag('no-strict-modes')) : 'any',
    authorizedKeysSource: keysPath ?? 'any key (--allow-any)',
    allowList: new AllowList(pick('allow').map(parseAllowEntry)),
    echo: flag('echo'),
    allowReverse: flag('allow-reverse'),
    gatewayPorts: flag('gateway-ports'),
    reverseLowPorts: flag('reverse-low-ports'),
    maxReversePerSession: positiveIntFlag(args, 'max-reverse', DEFAULT_MAX_REVERSE, SERVE_USAGE),
    receiveDir: pick('receive-dir')[0],
    sharedReceiveDir: flag('shared-receive-dir'),
    maxSessions: positiveInteger('max-sessions', pick('max-sessions')[0]),
    maxSessionsPerKey: positiveInteger('max-sessions-per-key', pick('max-sessions-per-key')[0]),
    memoryBudget: mebibytes(positiveInteger('memory-budget', pick('memory-budget')[0])),
    congestionControl: congestionControlFlag(pick('congestion-control')[0], SERVE_USAGE),
    udpIdleTimeoutMs:
      1000 * positiveIntFlag(args, 'udp-idle-timeout', DEFAULT_UDP_IDLE_TIMEOUT_S, SERVE_USAGE),
    maxUdpFlows: positiveIntFlag(args, 'max-udp-flows', DEFAULT_MAX_UDP_FLOWS, SERVE_USAGE),
    idleTimeout: secondsOption('idle-timeout', pick('idle-timeout')[0], false),
    persistenceTimeout: secondsOption('persistence-timeout', pick('persistence-timeout')[0], true),
  };
}

function mebibytes(value: number | undefined): number | undefined {
  return value === undefined ? undefined : value * 1024 * 1024;
}

/**
 * Creates the receive directory 0700, or checks an existing one: where group or others may
 * write, another user can plant files and links beside the transfers, so it takes
 * --shared-receive-dir to accept it (as ssh's StrictModes refuses loose directories).
 */
function checkReceiveDir(dir: string, shared: boolean): void {
  let mode: number;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = statSync(dir);
    if (!stat.isDirectory()) throw new Error('not a directory');
    mode = stat.mode;
  } catch (error) {
    throw new CliError(`cannot use --receive-dir ${dir}: ${(error as Error).message}`);
  }
  if ((mode & 0o022) !== 0 && !shared) {
    throw new CliError(
      `bad permissions ${(mode & 0o7777).toString(8).padStart(4, '0')} for receive directory ${dir}: ` +
        `other users could plant files and links where received files are written. Fix with: chmod go-w ${dir}, ` +
        'or accept it with --shared-receive-dir',
    );
  }
}

function isLoopback(host: string): boolean {
  const address = host.toLowerCase().replace(/^::ffff:/, '');
  return address === 'localhost' || address === '::1' || (isIPv4(address) && address.startsWith('127.'));
}

const TCP_CONNECT_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 10_000;

export async function runServe(argv: string[], log: Logger, command = 'serve'): Promise<number> {
  const args = parseArgs(argv, SERVE_FLAGS, SERVE_USAGE);
  if (args.help) {
    console.log(SERVE_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${args.positionals[0]}'`, SERVE_USAGE);
  }
  let settings = settingsFrom(args);
  const staticKey = loadKey(settings.keyPath);
  let receiver: ReceiveDirectory | undefined;
  if (settings.receiveDir !== undefined) {
    const dir = resolvePath(settings.receiveDir);
    checkReceiveDir(dir, settings.sharedReceiveDir);
    receiver = new ReceiveDirectory(dir, log);
  }
  const reverseListeners = new Set<string>();
  /** Reverse forwards each session holds (requested or listening), for --max-reverse. */
  const reverseCounts = new WeakMap<Session, number>();
  // Created before the server listens, so no session escapes the status, metrics and event log.
  const tracker = new SessionTracker(command);

  const server = createServer(
    {
      staticKey,
      authorizedKeys: settings.authorizedKeys,
      retry: settings.retry,
      retryThreshold: settings.retryThreshold,
      retryDhPerSecond: settings.retryDhPerSecond,
      freshnessTableSize: settings.freshnessTableSize,
      maxSessions: settings.maxSessions,
      maxSessionsPerKey: settings.maxSessionsPerKey,
      memoryBudget: settings.memoryBudget,
      transport: {
        ...(settings.congestionControl && { congestionControl: settings.congestionControl }),
        ...(settings.idleTimeout !== undefined && { idleTimeout: settings.idleTimeout }),
        ...(settings.persistenceTimeout !== undefined && { persistenceTimeout: settings.persistenceTimeout }),
      },
      ...(settings.backupAddresses.length > 0 && { backupAddresses: settings.backupAddresses }),
    },
    (session) => onSession(session),
  );
  // The endpoint's drops (junk first flights, bad macs, replays, rate limits) reach --metrics and status.
  tracker.watchEndpointDrops(() => server.stats.drops);
  // A flood of refused clients must not flood the log: a few lines a second, then a count.
  let refusalWindowAt = 0;
  let refusalLines = 0;
  let refusalsUnlogged = 0;
  server.on('refused', (info) => {
    const now = Date.now();
    if (now - refusalWindowAt >= 1000) {
      refusalWindowAt = now;
      refusalLines = 0;
    }
    if (refusalLines >= REFUSAL_LOG_PER_SECOND) {
      refusalsUnlogged++;
      return;
    }
    refusalLines++;
    const from = info.remoteAddress
      ? formatHostPort(info.remoteAddress.address, info.remoteAddress.port)
      : '?';
    const more = refusalsUnlogged > 0 ? ` (${refusalsUnlogged} more refusals not logged)` : '';
    refusalsUnlogged = 0;
    log(`refused session from ${fingerprint(info.remoteKey)} at ${from}: ${info.reason}${more}`);
  });
  const port = settings.listen[0]?.port ?? DEFAULT_PORT;
  const hosts = settings.listen.filter((l) => l.host !== '').map((l) => l.host);
  try {
    await server.listen(hosts.length > 0 ? { hosts, port } : { port });
  } catch (error) {
    tracker.close();
    if (error instanceof AddressInUseError) {
      throw new CliError(
        `UDP ${formatHostPort(error.address, error.port)} is already in use (is another braid serve running?); ` +
          'choose another with --listen',
        ExitCode.ADDRESS_IN_USE,
      );
    }
    throw error;
  }
  const publicKey = encodeKey(staticKey.publicKey);
  for (const address of server.addresses()) {
    log(`listening on ${formatHostPort(address.address, address.port)} (udp)`);
  }
  log(`server key ${publicKey} (fingerprint ${fingerprint(staticKey.publicKey)})`);
  const shown = server.address()!;
  const shownHost = shown.address === '::' || shown.address === '0.0.0.0' ? 'HOST' : shown.address;
  log(`clients connect to braid://${publicKey}@${formatHostPort(shownHost, shown.port)}`);
  log(
    `clients: ${settings.authorizedKeysSource}; allow-list: ${settings.allowList.entries.length} entries; echo ${settings.echo ? 'on' : 'off'}; ` +
      `reverse forwards ${settings.allowReverse ? 'allowed' : 'off'}` +
      (receiver ? `; receiving files into ${receiver.dir}` : ''),
  );

  const observability = await startObservability(
    args,
    command,
    log,
    () => ({
      listen: server.addresses().map((a) => formatHostPort(a.address, a.port)),
      reverseForwards: [...reverseListeners],
      receiveDir: receiver?.dir,
      udp: udpStats,
    }),
    tracker,
  ).catch(async (error: unknown) => {
    await server.close(0, '', 0);
    throw error;
  });

  /** Each session's UDP forwards; made on its first UDP request, dropped when it closes. */
  const relays = new WeakMap<Session, UdpRelay>();
  const udpStats = newUdpForwardStats();
  tracker.watchUdpForwards(udpStats);
  const relayOf = (session: Session): UdpRelay => {
    let relay = relays.get(session);
    if (!relay) {
      relay = new UdpRelay(
        session,
        { idleTimeoutMs: settings.udpIdleTimeoutMs, maxFlows: settings.maxUdpFlows },
        udpStats,
      );
      relays.set(session, relay);
    }
    return relay;
  };

  function onSession(session: Session): void {
    const who = session.remoteKey ? fingerprint(session.remoteKey) : '?';
    const from = session.remoteAddress;
    log(`session from ${who} at ${from ? formatHostPort(from.address, from.port) : '?'}`);
    session.on('close', (error) => log(`session ${who} closed${error ? `: ${error.message}` : ''}`));
    // braid ping's datagram probes; other datagrams have no meaning to the server.
    session.on('datagram', (data) => {
      if (data.subarray(0, PING_DATAGRAM_PREFIX.length).equals(PING_DATAGRAM_PREFIX)) {
        try {
          session.sendDatagram(data);
        } catch {
          // Too large to echo: the prober counts it as lost.
        }
      }
    });
    session.on('stream', (stream) => {
      handleStream(stream, who, session).catch((error: Error) => {
        log(`session ${who} stream ${stream.id}: ${error.message}`);
        stream.destroy();
      });
    });
  }

  async function handleStream(stream: BraidStream, who: string, session: Session): Promise<void> {
    const reader = new ByteReader(stream);
    const timer = setTimeout(() => stream.destroy(), REQUEST_TIMEOUT_MS);
    let request: Awaited<ReturnType<typeof readRequest>>;
    try {
      request = await readRequest(reader);
    } catch (error) {
      refuse(stream, ForwardStatus.BAD_REQUEST, (error as Error).message);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    const prefix = `session ${who} stream ${stream.id}`;
    if (request.kind === RequestKind.PING) {
      stream.write(encodeResponse({ status: ForwardStatus.OK, reason: '' }));
      reader.pipeRest(stream);
      return;
    }
    if (request.kind === RequestKind.REVERSE) {
      openReverse(stream, reader, request.target, who, session);
      return;
    }
    if (request.kind === RequestKind.UDP_FORWARD) {
      await openUdpForward(stream, reader, request.target, prefix, relayOf(session));
      return;
    }
    if (request.kind === RequestKind.UDP_REVERSE) {
      openUdpReverse(stream, reader, request.target, who, session, relayOf(session));
      return;
    }
    if (request.kind === RequestKind.SEND) {
      if (!receiver) {
        refuse(
          stream,
          ForwardStatus.UNAVAILABLE,
          'this server does not accept files (braid serve --receive-dir DIR)',
        );
        log(`${prefix}: file refused (no --receive-dir)`);
        return;
      }
      await receiver.handle(stream, reader, request.target, who);
      return;
    }
    if (request.kind === RequestKind.REVERSE_CONNECT) {
      refuse(stream, ForwardStatus.BAD_REQUEST, 'reverse-connect streams go from the server to the client');
      return;
    }
    if (request.kind === RequestKind.VPN) {
      refuse(stream, ForwardStatus.UNAVAILABLE, 'this server runs no vpn (braid vpn serve does)');
      return;
    }
    if (request.kind === RequestKind.ECHO) {
      if (!settings.echo) {
        refuse(
          stream,
          ForwardStatus.UNAVAILABLE,
          'the echo service is off on this server (braid serve --echo)',
        );
        log(`${prefix}: echo refused (off)`);
        return;
      }
      stream.write(encodeResponse({ status: ForwardStatus.OK, reason: '' }));
      reader.pipeRest(stream);
      log(`${prefix}: echo`);
      return;
    }
    const decision = settings.allowList.decide(request.target);
    if (!decision.allowed) {
      refuse(stream, ForwardStatus.NOT_ALLOWED, decision.reason);
      log(`${prefix}: refused ${request.target}: ${decision.reason}`);
      return;
    }
    const destination = formatHostPort(decision.host, decision.port);
    const socket = tcpConnect({ host: decision.host, port: decision.port, allowHalfOpen: true });
    socket.setTimeout(TCP_CONNECT_TIMEOUT_MS, () => socket.destroy(new Error('connect timed out')));
    // Not socket.connecting: Node clears it before a failed connect's 'error' is emitted.
    let connected = false;
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) {
        const status = connectFailureStatus(error.code);
        const reason =
          status === ForwardStatus.TARGET_REFUSED
            ? `${destination} refused the connection (${error.code})`
            : status === ForwardStatus.TARGET_UNRESOLVED
              ? `the name ${decision.host} does not resolve (${error.code})`
              : `cannot connect to ${destination}: ${error.code ?? error.message}`;
        refuse(stream, status, reason);
        log(`${prefix}: forward ${request.target} failed: ${reason}`);
      } else {
        log(`${prefix}: connection to ${destination} failed: ${error.code ?? error.message}`);
        stream.destroy(Object.assign(new Error(error.message), { errorCode: TARGET_CONNECTION_FAILED }));
      }
    });
    socket.once('connect', () => {
      connected = true;
      socket.setTimeout(0);
      stream.write(encodeResponse({ status: ForwardStatus.OK, reason: '' }));
      log(`${prefix}: forward ${request.target} → ${destination}`);
      reader.pipeRest(socket);
      socket.pipe(stream);
      stream.on('error', () => socket.destroy());
      // A clean TCP close has already ended the stream through the pipe; only errors reset it.
      socket.on('close', (hadError) => {
        if (hadError) stream.destroy();
      });
    });
  }

  /**
   * The checks every reverse forward (TCP or UDP) passes: allowed at all, a valid [BIND:]PORT,
   * low ports, loopback unless --gateway-ports, --max-reverse. Refuses the stream and returns
   * undefined, or returns where to bind and the release of the session's reverse-forward place.
   */
  function reversePlace(
    stream: BraidStream,
    spec: string,
    who: string,
    session: Session,
  ): { bind: { host: string; port: number }; release: () => void } | undefined {
    if (!settings.allowReverse) {
      refuse(
        stream,
        ForwardStatus.NOT_ALLOWED,
        'reverse forwards are off on this server (braid serve --allow-reverse)',
      );
      log(`session ${who}: reverse forward ${spec} refused (off)`);
      return undefined;
    }
    let bind: { host: string; port: number };
    try {
      bind = /^\d+$/.test(spec)
        ? { host: '127.0.0.1', port: Number(spec) }
        : parseHostPort(spec, 'bind', true);
      if (bind.port > 65535) throw new UsageError('port out of range');
    } catch {
      refuse(stream, ForwardStatus.BAD_REQUEST, `'${spec}' is not [BIND:]PORT`);
      return undefined;
    }
    if (bind.port !== 0 && bind.port < 1024 && !settings.reverseLowPorts) {
      const reason = `port ${bind.port} is below 1024; this server allows that only with braid serve --reverse-low-ports`;
      refuse(stream, ForwardStatus.NOT_ALLOWED, reason);
      log(`session ${who}: reverse forward ${spec} refused: port below 1024`);
      return undefined;
    }
    if (!settings.gatewayPorts && !isLoopback(bind.host)) {
      // As ssh without GatewayPorts: the forward still works, for users of this machine only.
      const asked = bind.host;
      bind = { host: asked.includes(':') ? '::1' : '127.0.0.1', port: bind.port };
      log(
        `session ${who}: reverse forward asked for ${spec}; binding ${formatHostPort(bind.host, bind.port)} (braid serve --gateway-ports binds where the client asks)`,
      );
    }
    const held = reverseCounts.get(session) ?? 0;
    if (held >= settings.maxReversePerSession) {
      const reason = `this session already holds ${held} reverse forwards, the most this server allows (braid serve --max-reverse)`;
      refuse(stream, ForwardStatus.UNAVAILABLE, reason);
      log(`session ${who}: reverse forward ${spec} refused: ${held} already held`);
      return undefined;
    }
    reverseCounts.set(session, held + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const count = (reverseCounts.get(session) ?? 1) - 1;
      if (count > 0) reverseCounts.set(session, count);
      else reverseCounts.delete(session);
    };
    return { bind, release };
  }

  /**
   * A reverse forward: listen here for the client; each accepted connection becomes a
   * stream the server opens back to the client. The request stream holds the
   * listener open: when it ends (or the session closes) the listener goes.
   */
  function openReverse(
    stream: BraidStream,
    reader: ByteReader,
    spec: string,
    who: string,
    session: Session,
  ): void {
    const place = reversePlace(stream, spec, who, session);
    if (!place) return;
    const { bind, release } = place;
    const listener = createTcpServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      socket.on('error', () => undefined);
      connectBack(socket).catch((error: Error) => {
        log(`session ${who}: reverse forward ${spec}: ${error.message}`);
        socket.destroy();
      });
    });
    let bound = '';
    const stop = (): void => {
      if (!listener.listening) return;
      release();
      listener.close();
      reverseListeners.delete(bound);
      log(`session ${who}: reverse forward ${bound} closed`);
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    };
    listener.once('error', (error: NodeJS.ErrnoException) => {
      release();
      const reason = `cannot listen on ${formatHostPort(bind.host, bind.port)}: ${error.code ?? error.message}`;
      refuse(stream, ForwardStatus.UNAVAILABLE, reason);
      log(`session ${who}: reverse forward refused: ${reason}`);
    });
    listener.listen({ host: bind.host, port: bind.port }, () => {
      const address = listener.address() as { address: string; port: number };
      bound = formatHostPort(address.address, address.port);
      reverseListeners.add(bound);
      stream.write(encodeResponse({ status: ForwardStatus.OK, reason: bound }));
      log(`session ${who}: reverse forward ${bound} → client`);
      reader.pipeRest(new Writable({ write: (_chunk, _encoding, done) => done() }).on('finish', stop));
      stream.on('close', stop);
      session.once('close', stop);
    });

    async function connectBack(socket: Socket): Promise<void> {
      const back = await session.openStream();
      back.write(encodeRequest({ kind: RequestKind.REVERSE_CONNECT, target: spec }));
      const backReader = new ByteReader(back);
      const response = await readResponse(backReader);
      if (response.status !== ForwardStatus.OK) {
        back.destroy();
        throw new Error(`the client refused: ${response.reason}`);
      }
      backReader.pipeRest(socket);
      socket.pipe(back);
      back.on('error', () => socket.destroy());
      socket.on('close', (hadError) => {
        if (hadError) back.destroy();
      });
      socket.resume();
    }
  }

  /**
   * A UDP forward (kind 7): the target passes the allow-list exactly as a TCP one; then the
   * client's datagrams for this association go to it, one connected socket per flow. The
   * request stream holds the association: when it ends, its flows go.
   */
  async function openUdpForward(
    stream: BraidStream,
    reader: ByteReader,
    target: string,
    prefix: string,
    relay: UdpRelay,
  ): Promise<void> {
    const decision = settings.allowList.decide(target);
    if (!decision.allowed) {
      refuse(stream, ForwardStatus.NOT_ALLOWED, decision.reason);
      log(`${prefix}: refused udp ${target}: ${decision.reason}`);
      return;
    }
    let address: string;
    try {
      address = isIP(decision.host) ? decision.host : (await lookup(decision.host)).address;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = `the name ${decision.host} does not resolve (${code ?? (error as Error).message})`;
      refuse(stream, ForwardStatus.TARGET_UNRESOLVED, reason);
      log(`${prefix}: udp ${target} failed: ${reason}`);
      return;
    }
    const destination = formatHostPort(address, decision.port);
    relay.addEgress(stream.id, address, decision.port);
    stream.write(encodeResponse({ status: ForwardStatus.OK, reason: destination }));
    log(`${prefix}: udp forward ${target} → ${destination}`);
    const stop = (): void => relay.removeAssociation(stream.id);
    reader.pipeRest(new Writable({ write: (_chunk, _encoding, done) => done() }).on('finish', stop));
    stream.on('close', stop);
  }

  /** A UDP reverse forward (kind 8): a UDP listener here whose sources become flows to the client. */
  function openUdpReverse(
    stream: BraidStream,
    reader: ByteReader,
    spec: string,
    who: string,
    session: Session,
    relay: UdpRelay,
  ): void {
    const place = reversePlace(stream, spec, who, session);
    if (!place) return;
    const { bind, release } = place;
    bindUdp(bind.host, bind.port).then(
      (socket) => {
        const address = socket.address();
        const bound = `udp ${formatHostPort(address.address, address.port)}`;
        const ingress = relay.addIngress(stream.id, (payload, host, port) =>
          socket.send(payload, port, host),
        );
        socket.on('message', (payload, source) => ingress.fromSource(payload, source.address, source.port));
        reverseListeners.add(bound);
        let stopped = false;
        const stop = (): void => {
          if (stopped) return;
          stopped = true;
          release();
          relay.removeAssociation(stream.id);
          socket.close();
          reverseListeners.delete(bound);
          log(`session ${who}: reverse forward ${bound} closed`);
          if (!stream.destroyed && !stream.writableEnded) stream.end();
        };
        stream.write(
          encodeResponse({ status: ForwardStatus.OK, reason: formatHostPort(address.address, address.port) }),
        );
        log(`session ${who}: reverse forward ${bound} → client`);
        reader.pipeRest(new Writable({ write: (_chunk, _encoding, done) => done() }).on('finish', stop));
        stream.on('close', stop);
        session.once('close', stop);
      },
      (error: NodeJS.ErrnoException) => {
        release();
        const reason = `cannot listen on udp ${formatHostPort(bind.host, bind.port)}: ${error.code ?? error.message}`;
        refuse(stream, ForwardStatus.UNAVAILABLE, reason);
        log(`session ${who}: reverse forward refused: ${reason}`);
      },
    );
  }

  function refuse(stream: BraidStream, status: ForwardStatusValue, reason: string): void {
    if (stream.destroyed || stream.writableEnded) return;
    stream.end(encodeResponse({ status, reason }));
    // Nothing more will be read: let the peer's remaining bytes go.
    stream.resume();
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      const closing = `${signal}: closing ${server.sessions.size} session(s)`;
      log(closing);
      // /healthz answers 503 from here on, so a balancer stops sending while sessions drain.
      observability.drain(closing);
      server.close(0, 'server shutting down', 2000).then(() => {
        observability.close();
        log('stopped');
        resolve(ExitCode.OK);
      });
    };
    /**
     * SIGHUP: reads the config file again and applies what a running server can change (the
     * options in RELOADABLE, used per session or per stream); a change to any other option is
     * named, as taking effect at the next start. A bad file keeps the old settings.
     */
    const reload = (): void => {
      try {
        const nextArgs = parseArgs(argv, SERVE_FLAGS, SERVE_USAGE);
        const next = settingsFrom(nextArgs);
        const needRestart = Object.keys(SERVE_FLAGS).filter(
          (name) =>
            !RELOADABLE.has(name) &&
            JSON.stringify(listFlag(nextArgs, name)) !== JSON.stringify(listFlag(args, name)),
        );
        if (needRestart.length > 0) {
          log.warn(
            `SIGHUP: ${needRestart.join(', ')} changed; that takes a restart, still using the old value`,
          );
        }
        server.setAuthorizedKeys(next.authorizedKeys);
        settings = {
          ...next,
          listen: settings.listen,
          keyPath: settings.keyPath,
          receiveDir: settings.receiveDir,
          sharedReceiveDir: settings.sharedReceiveDir,
        };
        log(
          `SIGHUP: reloaded; clients: ${next.authorizedKeys === 'any' ? 'any' : `${next.authorizedKeys.length} key(s)`}; ` +
            `allow-list: ${next.allowList.entries.length} entries; echo ${next.echo ? 'on' : 'off'}; reverse forwards ${next.allowReverse ? 'allowed' : 'off'}`,
        );
      } catch (error) {
        log(`SIGHUP: reload failed, keeping the old settings: ${(error as Error).message}`);
      }
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    observability.onReload(reload);
    const listening = server
      .addresses()
      .map((a) => formatHostPort(a.address, a.port))
      .join(', ');
    observability.ready(() => `serving on ${listening}; ${server.sessions.size} session(s)`);
    log('ready');
  });
}

export const command: Command = {
  usage: SERVE_USAGE,
  flags: SERVE_FLAGS,
  synopsis: '',
  summary: 'run a server: accept sessions, forward streams to allowed targets',
  run: runServe,
};
