/**
 * Key files under the user's config directory ($XDG_CONFIG_HOME/braid, else
 * ~/.config/braid): the identity (`id_braid`, mode 0600, with `id_braid.pub`
 * beside it), the known-hosts file and authorized-keys files.
 *
 * id_braid holds two lines: `private <base64url>` and `public <base64url>`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  constantTimeEqual,
  decodeKey,
  encodeKey,
  fingerprint,
  KeyFormatError,
} from '../../crypto/identity.js';
import { publicKeyFromPrivate } from '../../crypto/noise/dh.js';
import { generateKeyPair, type KeyPair } from '../../index.js';
import { CliError, ExitCode } from './errors.js';

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg?.startsWith('/')) return join(xdg, 'braid');
  return join(env.HOME || homedir(), '.config', 'braid');
}

export function defaultKeyPath(): string {
  return join(configDir(), 'id_braid');
}

export function knownHostsPath(): string {
  return join(configDir(), 'known_hosts');
}

export interface KeygenResult {
  path: string;
  keyPair: KeyPair;
}

/** Writes a fresh key pair; refuses to replace an existing file unless `force`. */
export function writeNewKey(path: string, force: boolean): KeygenResult {
  if (existsSync(path) && !force) {
    throw new CliError(
      `${path} already exists; keeping it. Use --force to replace it (the old identity is lost).`,
      ExitCode.KEY_FILE,
    );
  }
  const keyPair = generateKeyPair();
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const text = `private ${encodeKey(keyPair.privateKey)}\npublic ${encodeKey(keyPair.publicKey)}\n`;
    writeFileSync(path, text, { mode: 0o600 });
    // writeFileSync keeps the mode of a file it overwrites; make it 0600 either way.
    chmodSync(path, 0o600);
    writeFileSync(`${path}.pub`, `${encodeKey(keyPair.publicKey)}\n`, { mode: 0o644 });
  } catch (error) {
    throw new CliError(`cannot write ${path}: ${(error as Error).message}`, ExitCode.KEY_FILE);
  }
  return { path, keyPair };
}

/** The content of a .pub file (one key, nothing else), which has no `private` line. */
function looksLikePublicKey(text: string): boolean {
  const words = text.trim().split(/\s+/);
  if (words.length !== 1) return false;
  try {
    decodeKey(words[0]!);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads an identity file. Refuses files other users could read (like ssh does),
 * with the command that fixes it.
 */
export function loadKey(path: string): KeyPair {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CliError(`no key file at ${path}; create one with: braid keygen`, ExitCode.KEY_FILE);
    }
    throw new CliError(`cannot read key file ${path}: ${(error as Error).message}`, ExitCode.KEY_FILE);
  }
  // Checked before the permissions: a public key is meant to be readable, and a chmod would not help.
  if (looksLikePublicKey(text)) {
    const privatePath = path.endsWith('.pub') ? path.slice(0, -'.pub'.length) : undefined;
    throw new CliError(
      privatePath
        ? `${path} is a public key, not a key pair; give its private key file ${privatePath} instead`
        : `${path} is a public key, not a key pair; give the private key file (braid keygen writes it beside the .pub)`,
      ExitCode.KEY_FILE,
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new CliError(
      `permissions ${(mode & 0o777).toString(8).padStart(4, '0')} for ${path} are too open: ` +
        `other users could read this private key. Fix with: chmod 600 ${path}`,
      ExitCode.KEY_FILE,
    );
  }
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name && value) fields.set(name, value);
  }
  try {
    const privateKey = decodeKey(fields.get('private') ?? '');
    const publicKey = decodeKey(fields.get('public') ?? '');
    if (!constantTimeEqual(publicKeyFromPrivate(privateKey), publicKey)) {
      throw new KeyFormatError('its public key does not belong to its private key');
    }
    return { privateKey, publicKey };
  } catch (error) {
    if (error instanceof KeyFormatError) {
      throw new CliError(
        `${path} is not a braid key file (${error.message}); create a new one with: braid keygen --force`,
        ExitCode.KEY_FILE,
      );
    }
    throw error;
  }
}

/**
 * Reads an authorized-keys file: one base64url public key per line, optionally
 * followed by a comment; blank lines and lines starting with # are ignored.
 *
 * `strictModes` (the default, as ssh's StrictModes): the file and its directory must belong to
 * this user or root and be writable by nobody else, since whoever can write either decides who
 * may connect.
 */
export function loadAuthorizedKeys(path: string, strictModes = true): Uint8Array[] {
  return loadAuthorizedKeyLines(path, strictModes).map((line) => line.key);
}

/** One line of an authorized-keys file: the key, the words after it, and the line number. */
export interface AuthorizedKeyLine {
  key: Uint8Array;
  /** What follows the key, split at whitespace (`braid vpn` reads `name=value` options there). */
  rest: string[];
  line: number;
}

/** loadAuthorizedKeys, keeping what follows each key. */
export function loadAuthorizedKeyLines(path: string, strictModes = true): AuthorizedKeyLine[] {
  let text: string;
  try {
    if (strictModes) checkNotWritableByOthers(path, 'authorized keys');
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read authorized keys ${path}: ${(error as Error).message}`, ExitCode.KEY_FILE);
  }
  const lines: AuthorizedKeyLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [first, ...rest] = line.split(/\s+/);
    try {
      lines.push({ key: decodeKey(first!), rest, line: i + 1 });
    } catch (error) {
      throw new CliError(`${path}:${i + 1}: ${(error as Error).message}`, ExitCode.KEY_FILE);
    }
  });
  return lines;
}

/** Refuses `path` or its directory when another user (not root) owns it or may write to it. */
function checkNotWritableByOthers(path: string, what: string): void {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const optOut = 'or run braid serve --no-strict-modes to skip this check';
  for (const [target, kind] of [
    [path, what],
    [dirname(resolve(path)), `the directory of the ${what}`],
  ] as const) {
    const stat = statSync(target);
    if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) {
      throw new CliError(
        `bad ownership for ${kind} ${target}: it belongs to uid ${stat.uid}, who could change who may connect. ` +
          `Fix with: chown ${uid} ${target}, ${optOut}`,
        ExitCode.KEY_FILE,
      );
    }
    if ((stat.mode & 0o022) !== 0) {
      throw new CliError(
        `bad permissions ${(stat.mode & 0o7777).toString(8).padStart(4, '0')} for ${kind} ${target}: ` +
          `other users could change who may connect. Fix with: chmod go-w ${target}, ${optOut}`,
        ExitCode.KEY_FILE,
      );
    }
  }
}

/** Known hosts: lines `host:port base64url-key`, as learned on first use. */
export class KnownHosts {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  #entries(): Array<{ host: string; key: string; line: number }> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new CliError(`cannot read ${this.path}: ${(error as Error).message}`, ExitCode.HOST_KEY);
    }
    const entries: Array<{ host: string; key: string; line: number }> = [];
    text.split('\n').forEach((raw, i) => {
      const [host, key] = raw.trim().split(/\s+/);
      if (host && key && !host.startsWith('#')) entries.push({ host, key, line: i + 1 });
    });
    return entries;
  }

  /** The remembered key for `hostPort`, with its line number, or undefined. */
  lookup(hostPort: string): { key: Uint8Array; line: number } | undefined {
    const entry = this.#entries().find((e) => e.host === hostPort);
    if (!entry) return undefined;
    try {
      return { key: decodeKey(entry.key), line: entry.line };
    } catch {
      throw new CliError(
        `${this.path}:${entry.line} holds a malformed key for ${hostPort}; remove that line`,
        ExitCode.HOST_KEY,
      );
    }
  }

  add(hostPort: string, key: Uint8Array): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const existing = existsSync(this.path) ? readFileSync(this.path, 'utf8') : '';
    const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
    writeFileSync(this.path, `${existing}${separator}${hostPort} ${encodeKey(key)}\n`, { mode: 0o600 });
  }
}

export function describeKey(key: Uint8Array): string {
  return `${encodeKey(key)} (fingerprint ${fingerprint(key)})`;
}
