/** Flags and set-up shared by the client subcommands (tunnel, socks, cat). */
import { isIP } from 'node:net';
import {
  booleanFlag,
  type FlagSpec,
  listFlag,
  type ParsedArgs,
  positiveIntFlag,
  stringFlag,
} from './args.js';
import type { ClientOptions } from './client.js';
import { UsageError } from './errors.js';
import { defaultKeyPath, knownHostsPath, loadKey } from './keys.js';

export const CLIENT_SPECS: Record<string, FlagSpec> = {
  key: { type: 'string' },
  'known-hosts': { type: 'string' },
  'connect-timeout': { type: 'string' },
  strict: { type: 'boolean' },
  'local-address': { type: 'string', multiple: true },
  'congestion-control': { type: 'string' },
};

/** `--congestion-control`'s values (transport.congestionControl; docs/performance.md). */
export const CONGESTION_CONTROL_NAMES = ['cubic', 'bbr', 'newreno'] as const;
export type CongestionControlName = (typeof CONGESTION_CONTROL_NAMES)[number];

/** The congestion controller a flag names, or undefined for the library default. */
export function congestionControlFlag(
  value: string | undefined,
  usage: string,
): CongestionControlName | undefined {
  if (value === undefined) return undefined;
  if (!(CONGESTION_CONTROL_NAMES as readonly string[]).includes(value))
    throw new UsageError(
      `--congestion-control must be one of ${CONGESTION_CONTROL_NAMES.join(', ')}, got '${value}'`,
      usage,
    );
  return value as CongestionControlName;
}

export const CLIENT_OPTIONS_HELP = `  --key FILE                our identity (default: $XDG_CONFIG_HOME/braid/id_braid; see braid keygen)
  --known-hosts FILE        remembered server keys (default: $XDG_CONFIG_HOME/braid/known_hosts)
  --strict                  refuse a server whose key is neither pinned nor already known
  --connect-timeout MS      handshake timeout per server address (default 5000)
  --local-address IP        bind this local address; repeat for several (e.g. one per
                            provider): the session runs on one and keeps a warm standby
                            path over another, so it survives the loss of either
  --congestion-control CC   cubic or bbr (newreno also works): the controller of what this
                            side sends (default: the library's, see docs/performance.md)
  -h, --help                show this help

SERVER is braid://<server-public-key>@host[:port] (the key is pinned) or host[:port]
(the key is learned on first use and checked afterwards). The default port is 4433.`;

export function clientOptionsFrom(
  args: ParsedArgs,
  usage: string,
  log: (line: string) => void,
): ClientOptions {
  return {
    staticKey: loadKey(stringFlag(args, 'key') ?? defaultKeyPath()),
    knownHostsPath: stringFlag(args, 'known-hosts') ?? knownHostsPath(),
    timeout: positiveIntFlag(args, 'connect-timeout', 5000, usage),
    strict: booleanFlag(args, 'strict'),
    congestionControl: congestionControlFlag(stringFlag(args, 'congestion-control'), usage),
    localAddresses: listFlag(args, 'local-address').map((address) => {
      if (isIP(address) === 0) {
        throw new UsageError(`--local-address '${address}' is not an IP address`, usage);
      }
      return address;
    }),
    log,
  };
}

/** Resolves on SIGINT or SIGTERM (so a client can shut down cleanly). */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: string): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
