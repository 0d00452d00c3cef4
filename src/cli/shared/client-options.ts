/** Flags and set-up shared by the client subcommands (tunnel, socks, cat). */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '../../net/address.js';
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
  config: { type: 'string', config: { positional: 'server' } },
  key: { type: 'string' },
  'known-hosts': { type: 'string' },
  'connect-timeout': { type: 'string' },
  strict: { type: 'boolean' },
  'local-address': { type: 'string', multiple: true },
  'congestion-control': { type: 'string' },
  'backup-address': { type: 'string', multiple: true },
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

export const CLIENT_OPTIONS_HELP = `  --config FILE             read options from FILE: one per line, as the flags without '--'
                            (e.g. 'connect-timeout 2000'; 'server SERVER' gives SERVER); '#'
                            starts a comment. A flag replaces the file's value
  --key FILE                our identity (default: $XDG_CONFIG_HOME/braid/id_braid; see braid keygen)
  --known-hosts FILE        remembered server keys (default: $XDG_CONFIG_HOME/braid/known_hosts)
  --strict                  refuse a server whose key is neither pinned nor already known
  --connect-timeout MS      handshake timeout per server address (default 5000)
  --local-address IP        bind this local address; repeat for several (e.g. one per
                            provider): the session runs on one and keeps a warm standby
                            path over another, so it survives the loss of either
  --congestion-control CC   cubic or bbr (newreno also works): the controller of what this
                            side sends (default: the library's, see docs/performance.md)
  --backup-address IP       a local address that is a backup (e.g. a metered LTE link):
                            data goes there only while no other path works, and comes
                            back once one has worked for 2 s; the server is told. Repeatable
  -h, --help                show this help

SERVER is braid://<server-public-key>@host[:port] (the key is pinned) or host[:port]
(the key is learned on first use and checked afterwards). The default port is 4433.`;

export function clientOptionsFrom(
  args: ParsedArgs,
  usage: string,
  log: (line: string) => void,
): ClientOptions {
  const localAddresses = listFlag(args, 'local-address').map((address) => {
    if (isIP(address) === 0) {
      throw new UsageError(`--local-address '${address}' is not an IP address`, usage);
    }
    return address;
  });
  return {
    staticKey: loadKey(stringFlag(args, 'key') ?? defaultKeyPath()),
    knownHostsPath: stringFlag(args, 'known-hosts') ?? knownHostsPath(),
    timeout: positiveIntFlag(args, 'connect-timeout', 5000, usage),
    strict: booleanFlag(args, 'strict'),
    congestionControl: congestionControlFlag(stringFlag(args, 'congestion-control'), usage),
    localAddresses,
    backupAddresses: backupAddressesFrom(args, localAddresses, '--local-address', usage),
    log,
  };
}

/**
 * `--backup-address` values (client and serve): IP addresses among `bound` (the addresses
 * given with `boundFlag`), or, when none were given, of this host's interfaces.
 */
export function backupAddressesFrom(
  args: ParsedArgs,
  bound: readonly string[],
  boundFlag: string,
  usage: string,
): string[] {
  const hostAddresses = new Set(
    Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => canonicalIp(i.address))),
  );
  return listFlag(args, 'backup-address').map((address) => {
    const canonical = isIP(address) === 0 ? undefined : canonicalIp(address);
    if (canonical === undefined)
      throw new UsageError(`--backup-address '${address}' is not an IP address`, usage);
    if (bound.length > 0 ? !bound.some((b) => canonicalIp(b) === canonical) : !hostAddresses.has(canonical)) {
      throw new UsageError(
        bound.length > 0
          ? `--backup-address ${address} is not one of the ${boundFlag} addresses`
          : `--backup-address ${address} is not an address of this host`,
        usage,
      );
    }
    return canonical;
  });
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
