/**
 * `braid tunnel SERVER -L [bind:]port:target ...`: each accepted local TCP connection
 * becomes one stream to the server, which connects it to `target` if its allow-list
 * permits. The local TCP connections never see the network underneath change.
 * `-L udp:…` and `-R udp:…` carry UDP datagrams as session datagrams (udp-forward.ts).
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import {
  createServer as createTcpServer,
  isIP,
  type Socket,
  type Server as TcpServer,
  connect as tcpConnect,
} from 'node:net';
import { Writable } from 'node:stream';
import type { BraidStream, Session } from '../../index.js';
import type { Command } from '../command.js';
import { OBSERVE_HELP, OBSERVE_SPECS, startObservability } from '../observe/observability.js';
import {
  booleanFlag,
  type FlagSpec,
  formatHostPort,
  listFlag,
  parseArgs,
  parseHostPort,
  positiveIntFlag,
} from '../shared/args.js';
import { openForward, parseServerTarget } from '../shared/client.js';
import {
  CLIENT_OPTIONS_HELP,
  CLIENT_SPECS,
  clientOptionsFrom,
  untilSignal,
} from '../shared/client-options.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';
import {
  ByteReader,
  connectFailureStatus,
  encodeResponse,
  ForwardStatus,
  type ForwardStatusValue,
  RequestKind,
  readRequest,
  TARGET_CONNECTION_FAILED,
} from '../shared/forward-protocol.js';
import type { Logger } from '../shared/log.js';
import { RECONNECT_HELP, RECONNECT_SPECS, SessionKeeper } from '../shared/session-keeper.js';
import {
  bindUdp,
  DEFAULT_MAX_UDP_FLOWS,
  DEFAULT_UDP_IDLE_TIMEOUT_S,
  newUdpForwardStats,
  type UdpIngressHandle,
  UdpRelay,
} from '../shared/udp-forward.js';

const TUNNEL_USAGE = `usage: braid tunnel SERVER [-L [udp:][BIND:]PORT:TARGET ...] [-R [udp:][BIND:]PORT:HOST:PORT ...] [options]

Forwards TCP and UDP ports through one Braid session: local ports to targets the
server allows (-L), and ports on the server back to this side (-R). When the server cannot
be reached, refuses our key or the session ends, the tunnel tries again until it is stopped;
a TCP connection to a -L port made meanwhile waits for the session (at most 30 s).

  -L, --local [BIND:]PORT:TARGET
                            listen on BIND:PORT (default bind 127.0.0.1; PORT 0 picks one)
                            and forward each connection to TARGET, an allow-list name of the
                            server (e.g. web) or HOST:PORT as the server sees it. Repeatable.
  -R, --remote [BIND:]PORT:HOST:PORT
                            ask the server to listen on BIND:PORT (default 127.0.0.1 there;
                            needs braid serve --allow-reverse) and carry each connection back
                            here, to HOST:PORT as this machine sees it. Repeatable. The
                            forwards are set up again whenever the session is re-established.
  udp:                      before a -L or -R spec: forward UDP instead of TCP, one session
                            datagram per UDP datagram (at most about 1150 bytes; larger ones
                            are dropped and counted), e.g. -L udp:5353:dns or
                            -R udp:0:127.0.0.1:53. 'tcp:' is the default.
  --udp-idle-timeout S      forget a UDP flow (one source address) after S seconds without a
                            datagram either way (default ${DEFAULT_UDP_IDLE_TIMEOUT_S})
  --max-udp-flows N         UDP flows the session may hold at once; beyond, the least recently
                            used goes (default ${DEFAULT_MAX_UDP_FLOWS})
${RECONNECT_HELP}
${OBSERVE_HELP}
${CLIENT_OPTIONS_HELP}

example: braid tunnel braid://<key>@server.example -L 8080:web -L 2222:127.0.0.1:22 -R 9000:127.0.0.1:3000
         braid tunnel braid://<key>@server.example -L udp:5353:dns -L udp:51820:10.0.0.1:51820`;

export interface LocalForward {
  bindHost: string;
  port: number;
  target: string;
  protocol: 'tcp' | 'udp';
}

/** Splits off a leading `udp:` or `tcp:` (the default). */
function splitProtocol(text: string): { protocol: 'tcp' | 'udp'; spec: string } {
  const match = /^(tcp|udp):(.*)$/i.exec(text);
  if (!match) return { protocol: 'tcp', spec: text };
  return { protocol: match[1]!.toLowerCase() as 'tcp' | 'udp', spec: match[2]! };
}

export function parseLocalForward(text: string): LocalForward {
  const bad = (): UsageError =>
    new UsageError(
      `-L '${text}' must be [BIND:]PORT:TARGET (udp:[BIND:]PORT:TARGET for UDP), e.g. 8080:web, 127.0.0.1:8080:10.0.0.5:80 or udp:5353:dns`,
    );
  const { protocol, spec } = splitProtocol(text);
  let bindHost = '127.0.0.1';
  let rest = spec;
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (bracketed) {
    bindHost = bracketed[1]!;
    rest = bracketed[2]!;
  } else {
    const colon = rest.indexOf(':');
    if (colon < 0) throw bad();
    const first = rest.slice(0, colon);
    if (!/^\d+$/.test(first)) {
      bindHost = first;
      rest = rest.slice(colon + 1);
    }
  }
  const colon = rest.indexOf(':');
  if (colon < 0) throw bad();
  const portText = rest.slice(0, colon);
  const target = rest.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535 || target === '' || bindHost === '') throw bad();
  return { bindHost, port, target, protocol };
}

function listen(server: TcpServer, forward: LocalForward): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = formatHostPort(forward.bindHost, forward.port);
      if (error.code === 'EADDRINUSE') {
        reject(
          new CliError(
            `cannot listen on ${where}: the port is already in use; pick another port for -L`,
            ExitCode.ADDRESS_IN_USE,
          ),
        );
      } else {
        reject(new CliError(`cannot listen on ${where}: ${error.code ?? error.message}`));
      }
    });
    server.listen({ host: forward.bindHost, port: forward.port }, () => resolve());
  });
}

export interface RemoteForward {
  /** What the server is asked to listen on, `host:port` (also the key of its connect-backs). */
  spec: string;
  host: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

export function parseRemoteForward(text: string): RemoteForward {
  const forward = parseLocalForward(text);
  let destination: { host: string; port: number };
  try {
    destination = parseHostPort(forward.target, '-R target', false);
  } catch {
    throw new UsageError(
      `-R '${text}' must be [BIND:]PORT:HOST:PORT (udp:[BIND:]PORT:HOST:PORT for UDP), e.g. 9000:127.0.0.1:3000 or udp:5300:127.0.0.1:53`,
    );
  }
  return { spec: formatHostPort(forward.bindHost, forward.port), ...destination, protocol: forward.protocol };
}

const TUNNEL_FLAGS: Record<string, FlagSpec> = {
  ...CLIENT_SPECS,
  ...OBSERVE_SPECS,
  ...RECONNECT_SPECS,
  local: { type: 'string', multiple: true, short: 'L' },
  remote: { type: 'string', multiple: true, short: 'R' },
  'udp-idle-timeout': { type: 'string' },
  'max-udp-flows': { type: 'string' },
};

async function runTunnel(argv: string[], log: Logger): Promise<number> {
  const args = parseArgs(argv, TUNNEL_FLAGS, TUNNEL_USAGE);
  if (args.help) {
    console.log(TUNNEL_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', TUNNEL_USAGE);
  const allLocals = listFlag(args, 'local').map(parseLocalForward);
  const allRemotes = listFlag(args, 'remote').map(parseRemoteForward);
  if (allLocals.length === 0 && allRemotes.length === 0) {
    throw new UsageError('give at least one -L or -R forward', TUNNEL_USAGE);
  }
  const forwards = allLocals.filter((f) => f.protocol === 'tcp');
  const remotes = allRemotes.filter((r) => r.protocol === 'tcp');
  const udpLocals = allLocals.filter((f) => f.protocol === 'udp');
  const udpRemotes = allRemotes.filter((r) => r.protocol === 'udp');
  const udpLimits = {
    idleTimeoutMs: 1000 * positiveIntFlag(args, 'udp-idle-timeout', DEFAULT_UDP_IDLE_TIMEOUT_S, TUNNEL_USAGE),
    maxFlows: positiveIntFlag(args, 'max-udp-flows', DEFAULT_MAX_UDP_FLOWS, TUNNEL_USAGE),
  };
  const udpStats = newUdpForwardStats();
  /** One bound socket per -L udp forward; its datagrams go to the current session's association. */
  const udpListeners: Array<{ forward: LocalForward; socket: UdpSocket; ingress?: UdpIngressHandle }> = [];
  const target = parseServerTarget(args.positionals[0]!);
  const clientOptions = clientOptionsFrom(args, TUNNEL_USAGE, log);
  const reverseBound = new Map<string, string>();
  const listeners: TcpServer[] = [];
  const observability = await startObservability(args, 'tunnel', log, () => ({
    server: target.label,
    localForwards: forwards.map((f, i) => {
      const address = listeners[i]?.address() as { address: string; port: number } | null;
      return {
        listen: address ? formatHostPort(address.address, address.port) : undefined,
        target: f.target,
      };
    }),
    remoteForwards: remotes.map((r) => ({
      requested: r.spec,
      bound: reverseBound.get(r.spec),
      target: formatHostPort(r.host, r.port),
    })),
    udpForwards: [
      ...udpListeners.map(({ forward, socket }) => {
        const address = socket.address();
        return { listen: `udp ${formatHostPort(address.address, address.port)}`, target: forward.target };
      }),
      ...udpRemotes.map((r) => ({
        requested: `udp ${r.spec}`,
        bound: reverseBound.get(`udp ${r.spec}`),
        target: formatHostPort(r.host, r.port),
      })),
    ],
    udp: udpStats,
  }));
  observability.tracker.watchUdpForwards(udpStats);
  /** Sets up every -R forward and every UDP forward on a new session, and answers its connect-backs. */
  async function setUpReverse(session: Session): Promise<void> {
    reverseBound.clear();
    const sessionBound = remotes.length + udpLocals.length + udpRemotes.length;
    if (sessionBound === 0) return;
    session.on('stream', (stream) => {
      answerConnectBack(stream).catch((error: Error) => {
        log(`reverse connection failed: ${error.message}`);
        stream.destroy();
      });
    });
    session.once('close', () => {
      reverseBound.clear();
      for (const listener of udpListeners) listener.ingress = undefined;
    });
    if (udpLocals.length + udpRemotes.length > 0) await setUpUdp(session);
    for (const remote of remotes) {
      const { reason, reader } = await openForward(session, {
        kind: RequestKind.REVERSE,
        target: remote.spec,
      });
      // The request stream stays open: it holds the server's listener.
      reader.pipeRest(new Writable({ write: (_c, _e, done) => done() }));
      reverseBound.set(remote.spec, reason);
      log(`reverse forward: server ${reason} → ${formatHostPort(remote.host, remote.port)} here`);
    }
  }

  /** Each UDP forward is one association, named by its request stream, which stays open. */
  async function setUpUdp(session: Session): Promise<void> {
    const relay = new UdpRelay(session, udpLimits, udpStats);
    for (const listener of udpListeners) {
      const { stream, reader } = await openForward(session, {
        kind: RequestKind.UDP_FORWARD,
        target: listener.forward.target,
      });
      const ingress = relay.addIngress(stream.id, (payload, host, port) =>
        listener.socket.send(payload, port, host),
      );
      listener.ingress = ingress;
      const stop = (): void => {
        relay.removeAssociation(stream.id);
        if (listener.ingress === ingress) listener.ingress = undefined;
      };
      reader.pipeRest(new Writable({ write: (_c, _e, done) => done() }).on('finish', stop));
      stream.on('close', stop);
    }
    for (const remote of udpRemotes) {
      const address = isIP(remote.host) ? remote.host : (await lookup(remote.host)).address;
      const { stream, reader, reason } = await openForward(session, {
        kind: RequestKind.UDP_REVERSE,
        target: remote.spec,
      });
      relay.addEgress(stream.id, address, remote.port);
      reader.pipeRest(
        new Writable({ write: (_c, _e, done) => done() }).on('finish', () =>
          relay.removeAssociation(stream.id),
        ),
      );
      reverseBound.set(`udp ${remote.spec}`, reason);
      log(`reverse forward: server udp ${reason} → ${formatHostPort(remote.host, remote.port)} here`);
    }
  }

  const keeper = new SessionKeeper(target, clientOptions, {
    exitOnFailure: booleanFlag(args, 'exit-on-failure'),
    onSession: setUpReverse,
  });

  async function answerConnectBack(stream: BraidStream): Promise<void> {
    const reader = new ByteReader(stream);
    const request = await readRequest(reader);
    const answer = (status: ForwardStatusValue, reason: string): void => {
      stream.end(encodeResponse({ status, reason }));
      stream.resume();
    };
    const remote = remotes.find((r) => r.spec === request.target);
    if (request.kind !== RequestKind.REVERSE_CONNECT || !remote) {
      answer(ForwardStatus.NOT_ALLOWED, `this client has no reverse forward '${request.target}'`);
      return;
    }
    const destination = formatHostPort(remote.host, remote.port);
    const socket = tcpConnect({ host: remote.host, port: remote.port, allowHalfOpen: true });
    // Not socket.connecting: Node clears it before a failed connect's 'error' is emitted.
    let connected = false;
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) {
        answer(
          connectFailureStatus(error.code),
          `cannot connect to ${destination}: ${error.code ?? error.message}`,
        );
        log(`reverse connection to ${destination} failed: ${error.code ?? error.message}`);
      } else {
        stream.destroy(Object.assign(new Error(error.message), { errorCode: TARGET_CONNECTION_FAILED }));
      }
    });
    socket.once('connect', () => {
      connected = true;
      stream.write(encodeResponse({ status: ForwardStatus.OK, reason: '' }));
      reader.pipeRest(socket);
      socket.pipe(stream);
      stream.on('error', () => socket.destroy());
      socket.on('close', (hadError) => {
        if (hadError) stream.destroy();
      });
    });
  }

  function relay(socket: Socket, forward: LocalForward): void {
    socket.on('error', () => undefined);
    keeper
      .get()
      .then((session) => openForward(session, { kind: RequestKind.FORWARD, target: forward.target }))
      .then(({ stream, reader }) => {
        socket.pipe(stream);
        reader.pipeRest(socket);
        stream.on('error', () => socket.destroy());
        // A clean TCP close has already ended the stream through the pipe; only errors reset it.
        socket.on('close', (hadError) => {
          if (hadError) stream.destroy();
        });
        socket.resume();
      })
      .catch((error: Error) => {
        log(`connection to ${forward.target} failed: ${error.message}`);
        socket.destroy();
      });
  }

  const signal = untilSignal();
  try {
    for (const forward of forwards) {
      const server = createTcpServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
        relay(socket, forward),
      );
      listeners.push(server);
      await listen(server, forward);
    }
    for (const forward of udpLocals) {
      const socket = await bindUdp(forward.bindHost, forward.port).catch((error: NodeJS.ErrnoException) => {
        const where = `udp ${formatHostPort(forward.bindHost, forward.port)}`;
        throw error.code === 'EADDRINUSE'
          ? new CliError(
              `cannot listen on ${where}: the port is already in use; pick another port for -L`,
              ExitCode.ADDRESS_IN_USE,
            )
          : new CliError(`cannot listen on ${where}: ${error.code ?? error.message}`);
      });
      const listener: (typeof udpListeners)[number] = { forward, socket };
      socket.on('message', (payload, source) => {
        if (listener.ingress) listener.ingress.fromSource(payload, source.address, source.port);
        else udpStats.droppedNoSession++;
      });
      udpListeners.push(listener);
    }
    forwards.forEach((forward, i) => {
      const address = listeners[i]!.address() as { address: string; port: number };
      log(
        `forwarding ${formatHostPort(address.address, address.port)} → ${forward.target} via ${target.label}`,
      );
    });
    for (const { forward, socket } of udpListeners) {
      const address = socket.address();
      log(
        `forwarding udp ${formatHostPort(address.address, address.port)} → ${forward.target} via ${target.label}`,
      );
    }
    // Ready once the server has accepted a session (and every -R and UDP forward), not before.
    const first = await Promise.race([keeper.start().then(() => undefined), signal]);
    if (first === undefined) {
      log('ready');
      observability.ready(() => `forwarding via ${target.label}`);
    }
    const stoppedBy = first ?? (await Promise.race([signal, keeper.failed]));
    log(`${stoppedBy}: closing`);
    observability.drain(`${stoppedBy}: closing`);
    return ExitCode.OK;
  } finally {
    for (const server of listeners) server.close();
    for (const { socket } of udpListeners) socket.close();
    await keeper.close();
    observability.close();
  }
}

export const command: Command = {
  usage: TUNNEL_USAGE,
  flags: TUNNEL_FLAGS,
  synopsis: 'SERVER -L P:TARGET',
  summary: 'forward local TCP and UDP ports through a session (-R: server ports back here)',
  run: runTunnel,
};
