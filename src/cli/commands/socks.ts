/**
 * `braid socks SERVER`: a local SOCKS5 proxy (RFC 1928, CONNECT only) whose
 * connections exit at the Braid server, subject to its allow-list. Optional
 * username/password authentication (RFC 1929).
 */
import { createServer as createTcpServer, type Socket } from 'node:net';
import { constantTimeEqual } from '../../crypto/identity.js';
import type { Command } from '../command.js';
import { OBSERVE_HELP, OBSERVE_SPECS, startObservability } from '../observe/observability.js';
import {
  booleanFlag,
  type FlagSpec,
  formatHostPort,
  parseArgs,
  parseHostPort,
  positiveIntFlag,
  stringFlag,
} from '../shared/args.js';
import { ForwardRefusedError, openForward, parseServerTarget } from '../shared/client.js';
import {
  CLIENT_OPTIONS_HELP,
  CLIENT_SPECS,
  clientOptionsFrom,
  untilSignal,
} from '../shared/client-options.js';
import { CliError, ExitCode, UsageError } from '../shared/errors.js';
import { ByteReader, ForwardStatus, RequestKind } from '../shared/forward-protocol.js';
import type { Logger } from '../shared/log.js';
import { RECONNECT_HELP, RECONNECT_SPECS, SessionKeeper } from '../shared/session-keeper.js';

const DEFAULT_NEGOTIATION_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_CONNECTIONS = 512;
/** A SOCKS5 request is at most 262 bytes (+ 513 for RFC 1929): more before our reply is abuse. */
const MAX_NEGOTIATION_BYTES = 4096;

const SOCKS_USAGE = `usage: braid socks SERVER [--listen 127.0.0.1:1080] [--auth USER:PASS] [options]

A SOCKS5 proxy (CONNECT; IPv4, IPv6 and domain names) whose connections leave
from the Braid server, where its allow-list applies (e.g. braid serve --allow '*:443').
When the server cannot be reached, refuses our key or the session ends, the proxy tries
again until it is stopped; a request made meanwhile waits for the session (at most 30 s).

  --listen ADDR:PORT        where the proxy listens (default 127.0.0.1:1080; port 0 picks one)
  --auth USER:PASS          require RFC 1929 username/password (or set BRAID_SOCKS_AUTH)
  --negotiation-timeout MS  close a client that has not finished its SOCKS5 request in MS
                            milliseconds (default ${DEFAULT_NEGOTIATION_TIMEOUT_MS})
  --max-connections N       client connections at once; more are closed at once (default ${DEFAULT_MAX_CONNECTIONS})
${RECONNECT_HELP}
${OBSERVE_HELP}
${CLIENT_OPTIONS_HELP}

example: curl --socks5-hostname 127.0.0.1:1080 http://intranet.example/`;

const SOCKS_VERSION = 5;
const Method = { NO_AUTH: 0x00, USER_PASS: 0x02, NONE_ACCEPTABLE: 0xff } as const;
/** RFC 1928 section 6 reply codes. */
const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

function reply(code: number): Buffer {
  // BND.ADDR/BND.PORT: 0.0.0.0:0, the bound address at the exit is not ours to tell.
  return Buffer.from([SOCKS_VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser prints the canonical compressed form, which allow-lists are written in.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Reads the SOCKS5 greeting, authentication and request; resolves with `host:port` or undefined (already answered). */
async function negotiate(
  socket: Socket,
  reader: ByteReader,
  auth: { user: Buffer; pass: Buffer } | undefined,
): Promise<string | undefined> {
  const [version, methodCount] = await reader.read(2);
  if (version !== SOCKS_VERSION) {
    // SOCKS4 and anything else: no reply format we could use, so just close.
    socket.destroy();
    return undefined;
  }
  const methods = await reader.read(methodCount!);
  const wanted = auth ? Method.USER_PASS : Method.NO_AUTH;
  if (!methods.includes(wanted)) {
    socket.end(Buffer.from([SOCKS_VERSION, Method.NONE_ACCEPTABLE]));
    return undefined;
  }
  socket.write(Buffer.from([SOCKS_VERSION, wanted]));
  if (auth) {
    const [authVersion, userLength] = await reader.read(2);
    if (authVersion !== 0x01) {
      socket.end(Buffer.from([0x01, 0x01]));
      return undefined;
    }
    const user = await reader.read(userLength!);
    const [passLength] = await reader.read(1);
    const pass = await reader.read(passLength!);
    const ok = constantTimeEqual(user, auth.user) && constantTimeEqual(pass, auth.pass);
    if (!ok) {
      socket.end(Buffer.from([0x01, 0x01]));
      return undefined;
    }
    socket.write(Buffer.from([0x01, 0x00]));
  }
  const [requestVersion, command, , addressType] = await reader.read(4);
  if (requestVersion !== SOCKS_VERSION) {
    socket.end(reply(Reply.GENERAL_FAILURE));
    return undefined;
  }
  let host: string;
  if (addressType === 0x01) host = [...(await reader.read(4))].join('.');
  else if (addressType === 0x04) host = ipv6Text(await reader.read(16));
  else if (addressType === 0x03) {
    const [length] = await reader.read(1);
    host = (await reader.read(length!)).toString('latin1');
    // A host name, nothing else: no ':', '/', spaces or NULs smuggled into the server's target.
    if (!isHostName(host)) {
      await reader.read(2);
      socket.end(reply(Reply.HOST_UNREACHABLE));
      return undefined;
    }
  } else {
    socket.end(reply(Reply.ADDRESS_TYPE_NOT_SUPPORTED));
    return undefined;
  }
  const port = (await reader.read(2)).readUInt16BE(0);
  if (command !== 0x01) {
    socket.end(reply(Reply.COMMAND_NOT_SUPPORTED));
    return undefined;
  }
  return formatHostPort(host, port);
}

/** Letters, digits, '-', '_' and dots, at most 253 bytes: what DNS and /etc/hosts names use. */
function isHostName(text: string): boolean {
  return text.length > 0 && text.length <= 253 && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(text);
}

function replyFor(error: unknown): number {
  if (!(error instanceof ForwardRefusedError)) return Reply.GENERAL_FAILURE;
  if (error.status === ForwardStatus.NOT_ALLOWED) return Reply.NOT_ALLOWED;
  if (error.status === ForwardStatus.TARGET_REFUSED) return Reply.CONNECTION_REFUSED;
  if (error.status === ForwardStatus.TARGET_UNRESOLVED || error.status === ForwardStatus.CONNECT_FAILED) {
    return Reply.HOST_UNREACHABLE;
  }
  return Reply.GENERAL_FAILURE;
}

const SOCKS_FLAGS: Record<string, FlagSpec> = {
  ...CLIENT_SPECS,
  ...OBSERVE_SPECS,
  ...RECONNECT_SPECS,
  listen: { type: 'string' },
  auth: { type: 'string' },
  'negotiation-timeout': { type: 'string' },
  'max-connections': { type: 'string' },
};

async function runSocks(argv: string[], log: Logger): Promise<number> {
  const args = parseArgs(argv, SOCKS_FLAGS, SOCKS_USAGE);
  if (args.help) {
    console.log(SOCKS_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', SOCKS_USAGE);
  const listenAt = parseHostPort(stringFlag(args, 'listen') ?? '127.0.0.1:1080', '--listen', true);
  // An empty BRAID_SOCKS_AUTH is unset, as an empty variable usually is.
  const authText = stringFlag(args, 'auth') ?? (process.env.BRAID_SOCKS_AUTH || undefined);
  let auth: { user: Buffer; pass: Buffer } | undefined;
  if (authText !== undefined) {
    const colon = authText.indexOf(':');
    if (colon <= 0 || colon === authText.length - 1 || authText.length > 511) {
      throw new UsageError('--auth must be USER:PASS (each 1–255 bytes)', SOCKS_USAGE);
    }
    auth = { user: Buffer.from(authText.slice(0, colon)), pass: Buffer.from(authText.slice(colon + 1)) };
  }
  const negotiationTimeoutMs = positiveIntFlag(
    args,
    'negotiation-timeout',
    DEFAULT_NEGOTIATION_TIMEOUT_MS,
    SOCKS_USAGE,
  );
  const maxConnections = positiveIntFlag(args, 'max-connections', DEFAULT_MAX_CONNECTIONS, SOCKS_USAGE);
  const target = parseServerTarget(args.positionals[0]!);
  const keeper = new SessionKeeper(target, clientOptionsFrom(args, SOCKS_USAGE, log), {
    exitOnFailure: booleanFlag(args, 'exit-on-failure'),
  });

  let turnedAway = 0;
  const proxy = createTcpServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    handle(socket).catch((error: Error) => {
      log(`socks connection failed: ${error.message}`);
      socket.destroy();
    });
  });
  // Beyond it, Node closes new connections as they arrive; counted, and logged now and then.
  proxy.maxConnections = maxConnections;
  proxy.on('drop', () => {
    if (turnedAway++ % 1000 === 0) {
      log(`socks: ${maxConnections} connections open; turned away ${turnedAway} so far (--max-connections)`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once('error', (error: NodeJS.ErrnoException) => {
      const where = formatHostPort(listenAt.host, listenAt.port);
      reject(
        error.code === 'EADDRINUSE'
          ? new CliError(
              `cannot listen on ${where}: the port is already in use; pick another with --listen`,
              ExitCode.ADDRESS_IN_USE,
            )
          : new CliError(`cannot listen on ${where}: ${error.code ?? error.message}`),
      );
    });
    proxy.listen({ host: listenAt.host, port: listenAt.port }, () => resolve());
  });
  let observability: Awaited<ReturnType<typeof startObservability>>;
  try {
    observability = await startObservability(args, 'socks', log, () => ({
      server: target.label,
      listen: formatHostPort(
        listenAt.host,
        (proxy.address() as { port: number } | null)?.port ?? listenAt.port,
      ),
    }));
  } catch (error) {
    proxy.close();
    throw error;
  }
  async function handle(socket: Socket): Promise<void> {
    const reader = new ByteReader(socket, MAX_NEGOTIATION_BYTES);
    // The whole negotiation, not each read: a slow-loris client is closed all the same.
    const timer = setTimeout(() => socket.destroy(), negotiationTimeoutMs);
    let destination: string | undefined;
    try {
      destination = await negotiate(socket, reader, auth);
    } finally {
      clearTimeout(timer);
    }
    if (destination === undefined) return;
    let opened: Awaited<ReturnType<typeof openForward>>;
    try {
      const session = await keeper.get();
      opened = await openForward(session, { kind: RequestKind.FORWARD, target: destination });
    } catch (error) {
      socket.end(reply(replyFor(error)));
      log(`CONNECT ${destination} failed: ${(error as Error).message}`);
      return;
    }
    const { stream, reader: streamReader } = opened;
    socket.write(reply(Reply.SUCCEEDED));
    reader.pipeRest(stream);
    streamReader.pipeRest(socket);
    stream.on('error', () => socket.destroy());
    socket.on('close', (hadError) => {
      if (hadError) stream.destroy();
    });
  }

  const signal = untilSignal();
  try {
    const bound = proxy.address() as { address: string; port: number };
    log(
      `socks5 proxy on ${formatHostPort(bound.address, bound.port)} via ${target.label}${auth ? ' (username/password required)' : ''}`,
    );
    // Ready once the server has accepted a session, not before.
    const first = await Promise.race([keeper.start().then(() => undefined), signal]);
    if (first === undefined) {
      log('ready');
      observability.ready(() => `socks5 proxy via ${target.label}`);
    }
    const stoppedBy = first ?? (await Promise.race([signal, keeper.failed]));
    log(`${stoppedBy}: closing`);
    observability.drain(`${stoppedBy}: closing`);
    return ExitCode.OK;
  } finally {
    proxy.close();
    await keeper.close();
    observability.close();
  }
}

export const command: Command = {
  usage: SOCKS_USAGE,
  flags: SOCKS_FLAGS,
  synopsis: 'SERVER',
  summary: 'a local SOCKS5 proxy whose connections exit at the server',
  run: runSocks,
};
