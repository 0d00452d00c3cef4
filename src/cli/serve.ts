/**
 * `braid serve`: a foreground daemon. Accepts sessions from authorized client keys,
 * answers stream-open requests (forward to an allowed TCP target, or echo), and
 * handles signals: SIGINT/SIGTERM close every session gracefully, SIGHUP reloads the
 * authorized keys and the allow-list from the config file and flags.
 */
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { encodeKey, fingerprint } from '../crypto/identity.js';
import { AddressInUseError, type BraidStream, createServer, type Session } from '../index.js';
import { AllowList, parseAllowEntry } from './allow-list.js';
import {
  booleanFlag,
  formatHostPort,
  listFlag,
  type ParsedArgs,
  parseArgs,
  parseHostPort,
  stringFlag,
} from './args.js';
import { DEFAULT_PORT } from './client.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import {
  ByteReader,
  encodeResponse,
  ForwardStatus,
  type ForwardStatusValue,
  RequestKind,
  readRequest,
} from './forward-protocol.js';
import { defaultKeyPath, loadAuthorizedKeys, loadKey } from './keys.js';

export const SERVE_USAGE = `usage: braid serve [options]

Runs a Braid server in the foreground until SIGINT or SIGTERM.

options:
  --listen ADDR:PORT        UDP address to listen on; repeat for several addresses (one port).
                            Default: every address, port ${DEFAULT_PORT}. '*:PORT' = every address.
  --config FILE             read options from FILE: one option per line, as the flags
                            without '--' (e.g. 'allow web=127.0.0.1:80'); '#' starts a comment.
                            Flags add to the file ('listen' and 'authorized-keys' flags replace it).
  --key FILE                server identity (default: $XDG_CONFIG_HOME/braid/id_braid)
  --authorized-keys FILE    client public keys allowed to connect, one per line
  --allow-any               accept any client key (needed when no --authorized-keys is given)
  --allow [NAME=]HOST:PORT  a TCP target clients may reach; repeatable. HOST may be '*' and
                            PORT may be '*' in unnamed entries. Nothing is allowed by default.
  --echo                    answer 'braid cat' without --to by echoing the stream back
  -h, --help                show this help

signals: SIGINT/SIGTERM close sessions gracefully and exit 0; SIGHUP reloads
the authorized keys and the allow-list (on a bad file the old settings stay).`;

const SPECS = {
  listen: { type: 'string', multiple: true },
  config: { type: 'string' },
  key: { type: 'string' },
  'authorized-keys': { type: 'string' },
  'allow-any': { type: 'boolean' },
  allow: { type: 'string', multiple: true },
  echo: { type: 'boolean' },
} as const;

interface ServeSettings {
  listen: Array<{ host: string; port: number }>;
  keyPath: string;
  authorizedKeys: 'any' | Uint8Array[];
  authorizedKeysSource: string;
  allowList: AllowList;
  echo: boolean;
}

/** Reads the config file into the same shape as the flags, so one path validates both. */
function readConfigFile(path: string): ParsedArgs {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  const argv: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [name, ...values] = line.split(/\s+/);
    const spec = (SPECS as Record<string, { type: string }>)[name!];
    if (!spec || name === 'config') throw new UsageError(`${path}:${i + 1}: unknown option '${name}'`);
    if (spec.type === 'boolean' ? values.length !== 0 : values.length !== 1) {
      throw new UsageError(
        `${path}:${i + 1}: '${name}' ${spec.type === 'boolean' ? 'takes no value' : 'takes one value'}`,
      );
    }
    argv.push(`--${name}`, ...values);
  });
  return parseArgs(argv, SPECS, SERVE_USAGE);
}

function settingsFrom(args: ParsedArgs): ServeSettings {
  const configPath = stringFlag(args, 'config');
  const file = configPath ? readConfigFile(configPath) : undefined;
  const pick = (name: string): string[] => {
    const fromFlags = listFlag(args, name);
    return fromFlags.length > 0 ? fromFlags : file ? listFlag(file, name) : [];
  };
  const merged = (name: string): string[] => [...(file ? listFlag(file, name) : []), ...listFlag(args, name)];
  const flag = (name: string): boolean => booleanFlag(args, name) || (file ? booleanFlag(file, name) : false);

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
  return {
    listen,
    keyPath: pick('key')[0] ?? defaultKeyPath(),
    authorizedKeys: keysPath ? loadAuthorizedKeys(keysPath) : 'any',
    authorizedKeysSource: keysPath ?? 'any key (--allow-any)',
    allowList: new AllowList(merged('allow').map(parseAllowEntry)),
    echo: flag('echo'),
  };
}

const TCP_CONNECT_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 10_000;

export async function runServe(argv: string[], log: (line: string) => void): Promise<number> {
  const args = parseArgs(argv, SPECS, SERVE_USAGE);
  if (args.help) {
    console.log(SERVE_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${args.positionals[0]}'`, SERVE_USAGE);
  }
  let settings = settingsFrom(args);
  const staticKey = loadKey(settings.keyPath);

  const server = createServer({ staticKey, authorizedKeys: settings.authorizedKeys }, (session) =>
    onSession(session),
  );
  const port = settings.listen[0]?.port ?? DEFAULT_PORT;
  const hosts = settings.listen.filter((l) => l.host !== '').map((l) => l.host);
  try {
    await server.listen(hosts.length > 0 ? { hosts, port } : { port });
  } catch (error) {
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
    `clients: ${settings.authorizedKeysSource}; allow-list: ${settings.allowList.entries.length} entries; echo ${settings.echo ? 'on' : 'off'}`,
  );

  function onSession(session: Session): void {
    const who = session.remoteKey ? fingerprint(session.remoteKey) : '?';
    const from = session.remoteAddress;
    log(`session from ${who} at ${from ? formatHostPort(from.address, from.port) : '?'}`);
    session.on('close', (error) => log(`session ${who} closed${error ? `: ${error.message}` : ''}`));
    session.on('stream', (stream) => {
      handleStream(stream, who).catch((error: Error) => {
        log(`session ${who} stream ${stream.id}: ${error.message}`);
        stream.destroy();
      });
    });
  }

  async function handleStream(stream: BraidStream, who: string): Promise<void> {
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
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (socket.connecting) {
        const reason = `cannot connect to ${destination}: ${error.code ?? error.message}`;
        refuse(stream, ForwardStatus.CONNECT_FAILED, reason);
        log(`${prefix}: ${reason}`);
      } else {
        stream.destroy();
      }
    });
    socket.once('connect', () => {
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
      log(`${signal}: closing ${server.sessions.size} session(s)`);
      process.off('SIGHUP', reload);
      server.close(0, 'server shutting down', 2000).then(() => {
        log('stopped');
        resolve(ExitCode.OK);
      });
    };
    const reload = (): void => {
      try {
        const next = settingsFrom(args);
        server.setAuthorizedKeys(next.authorizedKeys);
        settings = { ...next, listen: settings.listen, keyPath: settings.keyPath };
        log(
          `SIGHUP: reloaded; clients: ${next.authorizedKeys === 'any' ? 'any' : `${next.authorizedKeys.length} key(s)`}; ` +
            `allow-list: ${next.allowList.entries.length} entries; echo ${next.echo ? 'on' : 'off'}`,
        );
      } catch (error) {
        log(`SIGHUP: reload failed, keeping the old settings: ${(error as Error).message}`);
      }
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', reload);
    log('ready');
  });
}
