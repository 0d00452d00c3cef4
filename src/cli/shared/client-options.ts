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
};

export const CLIENT_OPTIONS_HELP = `  --key FILE                our identity (default: $XDG_CONFIG_HOME/braid/id_braid; see braid keygen)
  --known-hosts FILE        remembered server keys (default: $XDG_CONFIG_HOME/braid/known_hosts)
  --strict                  refuse a server whose key is neither pinned nor already known
  --connect-timeout MS      handshake timeout per server address (default 5000)
  --local-address IP        bind this local address; repeat for several (e.g. one per
                            provider): the session runs on one and keeps a warm standby
                            path over another, so it survives the loss of either
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
