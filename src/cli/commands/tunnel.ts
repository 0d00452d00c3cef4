/**
 * `braid tunnel SERVER -L [bind:]port:target ...`: each accepted local TCP connection
 * becomes one stream to the server, which connects it to `target` if its allow-list
 * permits. The local TCP connections never see the network underneath change.
 */
import {
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
  connect as tcpConnect,
} from 'node:net';
import { Writable } from 'node:stream';
import type { BraidStream, Session } from '../../index.js';
import type { Command } from '../command.js';
import { OBSERVE_HELP, OBSERVE_SPECS, startObservability } from '../observe/observability.js';
import { type FlagSpec, formatHostPort, listFlag, parseArgs, parseHostPort } from '../shared/args.js';
import { openForward, parseServerTarget, SessionKeeper } from '../shared/client.js';
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

const TUNNEL_USAGE = `usage: braid tunnel SERVER [-L [BIND:]PORT:TARGET ...] [-R [BIND:]PORT:HOST:PORT ...] [options]

Forwards TCP ports through one Braid session: local ports to targets the server
allows (-L), and ports on the server back to this side (-R).

  -L, --local [BIND:]PORT:TARGET
                            listen on BIND:PORT (default bind 127.0.0.1; PORT 0 picks one)
                            and forward each connection to TARGET, an allow-list name of the
                            server (e.g. web) or HOST:PORT as the server sees it. Repeatable.
  -R, --remote [BIND:]PORT:HOST:PORT
                            ask the server to listen on BIND:PORT (default 127.0.0.1 there;
                            needs braid serve --allow-reverse) and carry each connection back
                            here, to HOST:PORT as this machine sees it. Repeatable. The
                            forwards are set up again whenever the session is re-established.
${OBSERVE_HELP}
${CLIENT_OPTIONS_HELP}

example: braid tunnel braid://<key>@server.example -L 8080:web -L 2222:127.0.0.1:22 -R 9000:127.0.0.1:3000`;

export interface LocalForward {
  bindHost: string;
  port: number;
  target: string;
}

export function parseLocalForward(text: string): LocalForward {
  const bad = (): UsageError =>
    new UsageError(`-L '${text}' must be [BIND:]PORT:TARGET, e.g. 8080:web or 127.0.0.1:8080:10.0.0.5:80`);
  let bindHost = '127.0.0.1';
  let rest = text;
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
  return { bindHost, port, target };
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
}

export function parseRemoteForward(text: string): RemoteForward {
  const forward = parseLocalForward(text);
  let destination: { host: string; port: number };
  try {
    destination = parseHostPort(forward.target, '-R target', false);
  } catch {
    throw new UsageError(`-R '${text}' must be [BIND:]PORT:HOST:PORT, e.g. 9000:127.0.0.1:3000`);
  }
  return { spec: formatHostPort(forward.bindHost, forward.port), ...destination };
}

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 5000, 10_000];

const TUNNEL_FLAGS: Record<string, FlagSpec> = {
  ...CLIENT_SPECS,
  ...OBSERVE_SPECS,
  local: { type: 'string', multiple: true, short: 'L' },
  remote: { type: 'string', multiple: true, short: 'R' },
};

async function runTunnel(argv: string[], log: Logger): Promise<number> {
  const args = parseArgs(argv, TUNNEL_FLAGS, TUNNEL_USAGE);
  if (args.help) {
    console.log(TUNNEL_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', TUNNEL_USAGE);
  const forwards = listFlag(args, 'local').map(parseLocalForward);
  const remotes = listFlag(args, 'remote').map(parseRemoteForward);
  if (forwards.length === 0 && remotes.length === 0) {
    throw new UsageError('give at least one -L or -R forward', TUNNEL_USAGE);
  }
  const target = parseServerTarget(args.positionals[0]!);
  const keeper = new SessionKeeper(target, clientOptionsFrom(args, TUNNEL_USAGE, log));
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
  }));
  let stopping = false;
  const registered = new WeakSet<Session>();

  /** Sets up every -R forward on `session` and answers its connect-backs. */
  async function setUpReverse(session: Session): Promise<void> {
    if (remotes.length === 0 || registered.has(session)) return;
    registered.add(session);
    session.on('stream', (stream) => {
      answerConnectBack(stream).catch((error: Error) => {
        log(`reverse connection failed: ${error.message}`);
        stream.destroy();
      });
    });
    session.once('close', () => {
      reverseBound.clear();
      if (!stopping) reconnect(0);
    });
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

  function reconnect(attempt: number): void {
    const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]!;
    setTimeout(() => {
      if (stopping) return;
      keeper
        .get()
        .then(setUpReverse)
        .catch((error: Error) => {
          log(`re-establishing the reverse forwards failed: ${error.message}`);
          if (!stopping) reconnect(attempt + 1);
        });
    }, delay).unref();
  }

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

  try {
    for (const forward of forwards) {
      const server = createTcpServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
        relay(socket, forward),
      );
      listeners.push(server);
      await listen(server, forward);
    }
    // Connect now, so an unreachable server, a wrong key or a refused -R is reported at start.
    await setUpReverse(await keeper.get());
  } catch (error) {
    for (const server of listeners) server.close();
    stopping = true;
    await keeper.close();
    observability.close();
    throw error;
  }
  forwards.forEach((forward, i) => {
    const address = listeners[i]!.address() as { address: string; port: number };
    log(
      `forwarding ${formatHostPort(address.address, address.port)} → ${forward.target} via ${target.label}`,
    );
  });
  log('ready');

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

  const signal = await untilSignal();
  log(`${signal}: closing`);
  stopping = true;
  for (const server of listeners) server.close();
  await keeper.close();
  observability.close();
  return ExitCode.OK;
}

export const command: Command = {
  usage: TUNNEL_USAGE,
  flags: TUNNEL_FLAGS,
  synopsis: 'SERVER -L P:TARGET',
  summary: 'forward local TCP ports through a session (-R: server ports back here)',
  run: runTunnel,
};
