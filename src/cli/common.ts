/** Flags and set-up shared by the client subcommands (tunnel, socks, cat). */
import { booleanFlag, type FlagSpec, type ParsedArgs, positiveIntFlag, stringFlag } from './args.js';
import type { ClientOptions } from './client.js';
import { defaultKeyPath, knownHostsPath, loadKey } from './keys.js';

export const CLIENT_SPECS: Record<string, FlagSpec> = {
  key: { type: 'string' },
  'known-hosts': { type: 'string' },
  'connect-timeout': { type: 'string' },
  strict: { type: 'boolean' },
};

export const CLIENT_OPTIONS_HELP = `  --key FILE                our identity (default: $XDG_CONFIG_HOME/braid/id_braid; see braid keygen)
  --known-hosts FILE        remembered server keys (default: $XDG_CONFIG_HOME/braid/known_hosts)
  --strict                  refuse a server whose key is neither pinned nor already known
  --connect-timeout MS      handshake timeout per server address (default 5000)
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
