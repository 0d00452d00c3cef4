/**
 * `braid tunnel SERVER -L [bind:]port:target ...`: each accepted local TCP connection
 * becomes one stream to the server, which connects it to `target` if its allow-list
 * permits. The local TCP connections never see the network underneath change.
 */
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { formatHostPort, listFlag, parseArgs } from './args.js';
import { openForward, parseServerTarget, SessionKeeper } from './client.js';
import { CLIENT_OPTIONS_HELP, CLIENT_SPECS, clientOptionsFrom, untilSignal } from './common.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import { RequestKind } from './forward-protocol.js';

export const TUNNEL_USAGE = `usage: braid tunnel SERVER -L [BIND:]PORT:TARGET [-L ...] [options]

Forwards local TCP ports through one Braid session to targets the server allows.

  -L [BIND:]PORT:TARGET     listen on BIND:PORT (default bind 127.0.0.1; PORT 0 picks one)
                            and forward each connection to TARGET, an allow-list name of the
                            server (e.g. web) or HOST:PORT as the server sees it. Repeatable.
${CLIENT_OPTIONS_HELP}

example: braid tunnel braid://<key>@server.example -L 8080:web -L 2222:127.0.0.1:22`;

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

export async function runTunnel(argv: string[], log: (line: string) => void): Promise<number> {
  const args = parseArgs(
    argv,
    { ...CLIENT_SPECS, local: { type: 'string', multiple: true, short: 'L' } },
    TUNNEL_USAGE,
  );
  if (args.help) {
    console.log(TUNNEL_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', TUNNEL_USAGE);
  const forwards = listFlag(args, 'local').map(parseLocalForward);
  if (forwards.length === 0) throw new UsageError('give at least one -L forward', TUNNEL_USAGE);
  const target = parseServerTarget(args.positionals[0]!);
  const keeper = new SessionKeeper(target, clientOptionsFrom(args, TUNNEL_USAGE, log));

  const listeners: TcpServer[] = [];
  try {
    for (const forward of forwards) {
      const server = createTcpServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
        relay(socket, forward),
      );
      listeners.push(server);
      await listen(server, forward);
    }
    // Connect now, so an unreachable server or a wrong key is reported at start.
    await keeper.get();
  } catch (error) {
    for (const server of listeners) server.close();
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
  for (const server of listeners) server.close();
  await keeper.close();
  return ExitCode.OK;
}
