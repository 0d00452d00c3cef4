/**
 * The client side shared by `tunnel`, `socks` and `cat`: target syntax, host-key
 * checking (pinned or trust-on-first-use), trying every address of the server, and
 * opening a forward stream.
 *
 * Targets: `braid://<server-public-key>@host[:port]` pins the key (Noise IK);
 * `host[:port]` looks the key up in known_hosts, and learns it on first use.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { decodeKey, encodeKey, fingerprint } from '../../crypto/identity.js';
import {
  type BraidStream,
  ConnectTimeoutError,
  connect,
  HostKeyMismatchError,
  type KeyPair,
  type Session,
  UnauthorizedKeyError,
} from '../../index.js';
import { formatHostPort, ipv6BracketingHint } from './args.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import {
  ByteReader,
  encodeRequest,
  type ForwardRequest,
  ForwardStatus,
  type ForwardStatusValue,
  RequestKind,
  readResponse,
  statusName,
} from './forward-protocol.js';
import { KnownHosts } from './keys.js';

export const DEFAULT_PORT = 4433;

export interface ServerTarget {
  host: string;
  port: number;
  /** Set by the braid:// form. */
  pinnedKey: Uint8Array | undefined;
  /** `host:port` as written in known_hosts and messages. */
  label: string;
}

export function parseServerTarget(text: string): ServerTarget {
  let rest = text;
  let pinnedKey: Uint8Array | undefined;
  if (rest.startsWith('braid://')) {
    rest = rest.slice('braid://'.length).replace(/\/$/, '');
    const at = rest.indexOf('@');
    if (at < 0) throw new UsageError(`'${text}' must look like braid://<server-public-key>@host[:port]`);
    try {
      pinnedKey = decodeKey(rest.slice(0, at));
    } catch (error) {
      throw new UsageError(`the key in '${text}' is not valid: ${(error as Error).message}`);
    }
    rest = rest.slice(at + 1);
  }
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (rest.split(':').length > 2) {
    throw new UsageError(`'${text}': ${ipv6BracketingHint(rest, DEFAULT_PORT)}`);
  } else {
    const [h, p] = rest.split(':');
    host = h!;
    portText = p;
  }
  if (host === '' || /[\s/@]/.test(host)) throw new UsageError(`'${text}' has no valid host`);
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (portText !== undefined && (!/^\d+$/.test(portText) || port < 1 || port > 65535)) {
    throw new UsageError(`'${text}' has an invalid port (1–65535)`);
  }
  return { host, port, pinnedKey, label: formatHostPort(host, port) };
}

export interface ClientOptions {
  staticKey: KeyPair;
  knownHostsPath: string;
  /** Per-address handshake timeout, ms. */
  timeout: number;
  /** Refuse servers whose key is neither pinned nor known. */
  strict: boolean;
  /** Local IPs to bind (multihoming); empty: the system picks one. */
  localAddresses: string[];
  /** Congestion controller of what this side sends; undefined: the library default. */
  congestionControl?: 'cubic' | 'bbr' | 'newreno';
  /** Local IPs that are backups (paths over them carry data only while no other path works). */
  backupAddresses: string[];
  log: (line: string) => void;
}

async function resolveAll(host: string): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  try {
    const found = await lookup(host, { all: true });
    return [...new Set(found.map((a) => a.address))];
  } catch (error) {
    throw new CliError(
      `cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      ExitCode.UNREACHABLE,
    );
  }
}

function changedKeyError(target: ServerTarget, presented: Uint8Array | undefined, source: string): CliError {
  const bar = '@'.repeat(59);
  const seen = presented
    ? `The server at ${target.label} now presents key\n  ${encodeKey(presented)} (fingerprint ${fingerprint(presented)})`
    : `The server at ${target.label} answers, but not as the owner of the expected key.`;
  return new CliError(
    [
      bar,
      '@    WARNING: REMOTE SERVER IDENTIFICATION HAS CHANGED!   @',
      bar,
      'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
      'Someone could be eavesdropping on you right now (man-in-the-middle attack).',
      'It is also possible that the server key has just been changed.',
      seen,
      source,
      `If the change is expected, ${target.pinnedKey ? 'use the new braid:// target' : 'remove that line from the known-hosts file'} and connect again.`,
      'Server key verification failed.',
    ].join('\n'),
    ExitCode.HOST_KEY,
  );
}

/**
 * Resolves once the server has shown it accepted our key (the handshake is confirmed). With a
 * pinned key (IK) connect() hands the session out when the server's reply arrives, and a
 * refusal of our key comes right behind it: without this wait a refused client would report
 * itself ready and then lose its session.
 */
function untilAccepted(session: Session, timeoutMs: number): Promise<void> {
  if (session.handshakeConfirmed) return Promise.resolve();
  if (session.closed) return Promise.reject(session.closeError ?? new Error('the server closed the session'));
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      session.off('confirmed', onConfirmed);
      session.off('close', onClose);
      if (error) {
        void session.close(0, 'handshake not confirmed');
        reject(error);
      } else resolve();
    };
    const onConfirmed = (): void => settle();
    const onClose = (error?: Error): void => settle(error ?? new Error('the server closed the session'));
    const timer = setTimeout(
      () => settle(new Error(`the server did not confirm the handshake within ${timeoutMs} ms`)),
      timeoutMs,
    );
    session.once('confirmed', onConfirmed);
    session.once('close', onClose);
  });
}

/**
 * Connects to the first address of `target` that completes a handshake with the
 * expected key. A pinned or known key that fails the IK handshake is followed by a
 * short XX probe, so a changed key is reported as such instead of as a timeout.
 */
export async function connectToServer(target: ServerTarget, options: ClientOptions): Promise<Session> {
  const knownHosts = new KnownHosts(options.knownHostsPath);
  const known = target.pinnedKey ? undefined : knownHosts.lookup(target.label);
  const expected = target.pinnedKey ?? known?.key;
  const source = target.pinnedKey
    ? `but the braid:// target pins\n  ${encodeKey(target.pinnedKey)} (fingerprint ${fingerprint(target.pinnedKey)})`
    : `but ${knownHosts.path}:${known?.line} remembers\n  ${expected ? `${encodeKey(expected)} (fingerprint ${fingerprint(expected)})` : ''}`;
  const addresses = await resolveAll(target.host);
  const tried: string[] = [];
  for (const address of addresses) {
    const where = formatHostPort(address, target.port);
    // Only local addresses of the server address's family can reach it.
    const locals = options.localAddresses.filter((local) => isIP(local) === isIP(address));
    if (options.localAddresses.length > 0 && locals.length === 0) {
      tried.push(`  ${where}: no --local-address of its family (IPv${isIP(address)})`);
      continue;
    }
    try {
      const session = await connect(
        { host: address, port: target.port },
        {
          staticKey: options.staticKey,
          serverKey: expected,
          timeout: options.timeout,
          ...(locals.length > 0 && { localAddresses: locals }),
          ...(options.congestionControl && { transport: { congestionControl: options.congestionControl } }),
          ...(options.backupAddresses.length > 0 && { backupAddresses: options.backupAddresses }),
        },
      );
      await untilAccepted(session, options.timeout);
      if (!expected) {
        const learned = session.remoteKey!;
        if (options.strict) {
          await session.close(0, 'unknown server key');
          throw new CliError(
            `the key of ${target.label} is unknown: ${encodeKey(learned)} (fingerprint ${fingerprint(learned)}).\n` +
              `If that is the server's key, connect to braid://${encodeKey(learned)}@${target.label}, ` +
              `or once without --strict to remember it in ${knownHosts.path}.`,
            ExitCode.HOST_KEY,
          );
        }
        knownHosts.add(target.label, learned);
        options.log(
          `Permanently added ${target.label} with key ${encodeKey(learned)} (fingerprint ${fingerprint(learned)}) to ${knownHosts.path}`,
        );
      }
      return session;
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (error instanceof UnauthorizedKeyError) {
        throw new CliError(
          `${target.label} refused our key ${encodeKey(options.staticKey.publicKey)} ` +
            `(fingerprint ${fingerprint(options.staticKey.publicKey)}); ask its operator to add it to the authorized keys`,
          ExitCode.UNAUTHORIZED,
        );
      }
      if ((error as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') {
        throw new CliError(
          `cannot bind ${(error as Error).message.replace(/^bind EADDRNOTAVAIL /, '')}: not an address of this host ` +
            '(check --local-address against `ip address`)',
          ExitCode.USAGE,
        );
      }
      // connect() asks a silent address which key it holds (an XX probe under a throwaway key).
      if (error instanceof HostKeyMismatchError) throw changedKeyError(target, error.presentedKey, source);
      // connect() lists every address it tried itself when it tried several.
      const attempts = (error as { attempts?: Array<{ address: string; error: string }> }).attempts;
      if (Array.isArray(attempts) && attempts.length > 0) {
        for (const attempt of attempts) tried.push(`  ${attempt.address}: ${attempt.error}`);
        continue;
      }
      const reason =
        error instanceof ConnectTimeoutError
          ? `no answer within ${options.timeout} ms`
          : (error as Error).message;
      tried.push(`  ${where}: ${reason}`);
    }
  }
  throw new CliError(
    `cannot reach the braid server ${target.label}; tried:\n${tried.join('\n')}\n` +
      'Check that `braid serve` runs there and that UDP to that port is not blocked.',
    ExitCode.UNREACHABLE,
  );
}

/** The server answered a stream-open request with a refusal; `reason` is its explanation. */
export class ForwardRefusedError extends CliError {
  readonly status: ForwardStatusValue;
  readonly reason: string;
  constructor(request: ForwardRequest, status: ForwardStatusValue, reason: string) {
    const what =
      request.kind === RequestKind.ECHO
        ? 'the echo service'
        : request.kind === RequestKind.VPN
          ? 'the vpn'
          : request.kind === RequestKind.SEND
            ? 'the file'
            : request.kind === RequestKind.REVERSE
              ? `the reverse forward '${request.target}'`
              : request.kind === RequestKind.UDP_REVERSE
                ? `the UDP reverse forward '${request.target}'`
                : request.kind === RequestKind.UDP_FORWARD
                  ? `UDP to '${request.target}'`
                  : `'${request.target}'`;
    super(`the server refused ${what} (${statusName(status)}): ${reason}`, ExitCode.FORWARD_REFUSED);
    this.status = status;
    this.reason = reason;
  }
}

/**
 * Opens a stream and performs the stream-open exchange. Resolves with the stream
 * and its reader (use `reader.pipeRest(destination)` for the payload) and the server's
 * reason text (which carries data for some kinds); a refusal becomes a CliError carrying the server's reason.
 */
export async function openForward(
  session: Session,
  request: ForwardRequest,
): Promise<{ stream: BraidStream; reader: ByteReader; reason: string }> {
  const stream = await session.openStream();
  stream.write(encodeRequest(request));
  const reader = new ByteReader(stream);
  let response: Awaited<ReturnType<typeof readResponse>>;
  try {
    response = await readResponse(reader);
  } catch (error) {
    stream.destroy();
    // IK completes the handshake before the server checks our key: its refusal may close the
    // session only once the stream is open.
    if (error instanceof UnauthorizedKeyError) {
      throw new CliError(
        'the server refused our key after the handshake; ask its operator to add it to the authorized keys',
        ExitCode.UNAUTHORIZED,
      );
    }
    throw new CliError(`the server broke the stream-open exchange: ${(error as Error).message}`);
  }
  if (response.status !== ForwardStatus.OK) {
    stream.destroy();
    throw new ForwardRefusedError(request, response.status, response.reason);
  }
  return { stream, reader, reason: response.reason };
}
