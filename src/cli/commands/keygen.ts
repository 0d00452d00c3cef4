/** `braid keygen`: creates the static key pair that identifies this machine. */
import { encodeKey, fingerprint } from '../../crypto/identity.js';
import type { Command } from '../command.js';
import { booleanFlag, type FlagSpec, parseArgs, stringFlag } from '../shared/args.js';
import { ExitCode, UsageError } from '../shared/errors.js';
import { defaultKeyPath, writeNewKey } from '../shared/keys.js';

const KEYGEN_USAGE = `usage: braid keygen [--key FILE] [--force]

Creates an X25519 key pair: the private key in FILE (mode 0600), the public key in
FILE.pub, and prints the public key and its fingerprint. Give the public key to the
operators of servers you use (their --authorized-keys), or to clients of your server
(in a braid://<public-key>@host:port target).

  --key FILE     where to write (default: $XDG_CONFIG_HOME/braid/id_braid, else ~/.config/braid/id_braid)
  --force        replace an existing key (the old identity is lost)
  -h, --help     show this help`;

const KEYGEN_FLAGS: Record<string, FlagSpec> = { key: { type: 'string' }, force: { type: 'boolean' } };

function runKeygen(argv: string[], log: (line: string) => void): number {
  const args = parseArgs(argv, KEYGEN_FLAGS, KEYGEN_USAGE);
  if (args.help) {
    console.log(KEYGEN_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${args.positionals[0]}'`, KEYGEN_USAGE);
  }
  const { path, keyPair } = writeNewKey(
    stringFlag(args, 'key') ?? defaultKeyPath(),
    booleanFlag(args, 'force'),
  );
  log(`wrote ${path} (private, mode 0600) and ${path}.pub`);
  console.log(`public key   ${encodeKey(keyPair.publicKey)}`);
  console.log(`fingerprint  ${fingerprint(keyPair.publicKey)}`);
  return ExitCode.OK;
}

export const command: Command = {
  usage: KEYGEN_USAGE,
  flags: KEYGEN_FLAGS,
  synopsis: '',
  summary: "create this machine's key pair",
  run: runKeygen,
};
