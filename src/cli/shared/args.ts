/**
 * A small flag parser: `--name value`, `--name=value`, `-x value`, boolean flags,
 * repeatable flags and positionals. Unknown flags are usage errors, never ignored.
 * A flag whose spec has `config` names a config file with the same options (readConfigFile),
 * so every command that declares one gets config files without code of its own.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { CliError, UsageError } from './errors.js';

export interface FlagSpec {
  /** 'string' takes a value; 'boolean' does not. */
  type: 'string' | 'boolean';
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
  /** One-letter alias, e.g. 'L' for -L. */
  short?: string;
  /**
   * The flag names a config file (`--config FILE`); `positional` is the key that may give the
   * command's first argument in the file (e.g. 'server' for `braid tunnel SERVER`).
   */
  config?: { positional?: string };
  /** With a config file: values on the command line are added to the file's instead of replacing them. */
  addsToFile?: boolean;
}

/**
 * The log options every command takes. main.ts applies them before the command runs, so a
 * config file may set them too (configuredLogOptions) and the command's own parse skips them.
 */
export const LOG_CONFIG_KEYS = ['log-level', 'log-format'] as const;
export type LogConfigKey = (typeof LOG_CONFIG_KEYS)[number];

/** A log option read from a config file, with the file:line to name in an error. */
export interface ConfiguredValue {
  value: string;
  where: string;
}

export interface ParsedArgs {
  flags: Map<string, string[]>;
  positionals: string[];
  help: boolean;
}

/**
 * Parses argv; where a config flag is given (and --help is not), its file is read too. For
 * each option the command line replaces the file's values (adds to them where the spec says
 * `addsToFile`); a boolean set in either place is set.
 */
export function parseArgs(argv: string[], specs: Record<string, FlagSpec>, usage: string): ParsedArgs {
  const parsed = parseArgv(argv, specs, usage);
  if (parsed.help) return parsed;
  for (const [name, spec] of Object.entries(specs)) {
    const path = parsed.flags.get(name)?.[0];
    if (!spec.config || path === undefined) continue;
    const file = readConfigFile(path, specs, spec.config.positional);
    for (const [option, values] of file.flags) {
      const fromArgv = parsed.flags.get(option);
      if (fromArgv === undefined) parsed.flags.set(option, values);
      else if (specs[option]!.addsToFile) parsed.flags.set(option, [...values, ...fromArgv]);
    }
    parsed.positionals.unshift(...file.positionals);
  }
  return parsed;
}

/**
 * Reads a config file: one option per line, its flag name without '--', then its value (the
 * rest of the line; none for a boolean). Blank lines and comments ('#' at the start of a line
 * or after a space) are skipped. Anything else is an error naming the file and line.
 */
export function readConfigFile(
  path: string,
  specs: Record<string, FlagSpec>,
  positional?: string,
): { flags: Map<string, string[]>; positionals: string[]; log: Map<LogConfigKey, ConfiguredValue> } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const log = new Map<LogConfigKey, ConfiguredValue>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') return;
    const where = `${path}:${index + 1}`;
    const space = line.search(/\s/);
    const name = space < 0 ? line : line.slice(0, space);
    const value = space < 0 ? undefined : line.slice(space).trim();
    if (name === positional) {
      if (value === undefined) throw new UsageError(`${where}: '${name}' needs a value`);
      if (positionals.length > 0) throw new UsageError(`${where}: '${name}' given twice`);
      positionals.push(value);
      return;
    }
    if ((LOG_CONFIG_KEYS as readonly string[]).includes(name)) {
      if (value === undefined) throw new UsageError(`${where}: '${name}' needs a value`);
      if (log.has(name as LogConfigKey)) throw new UsageError(`${where}: '${name}' given twice`);
      log.set(name as LogConfigKey, { value, where });
      return;
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined || spec.config) {
      const long = Object.entries(specs).find(([, s]) => s.short !== undefined && s.short === name)?.[0];
      const hint = long
        ? ` (write the long name, '${long}')`
        : spec?.config
          ? ' (config files do not nest)'
          : '';
      throw new UsageError(`${where}: unknown option '${name}'${hint}`);
    }
    if (spec.type === 'boolean' && value !== undefined) {
      throw new UsageError(`${where}: '${name}' takes no value`);
    }
    if (spec.type === 'string' && value === undefined)
      throw new UsageError(`${where}: '${name}' needs a value`);
    const list = flags.get(name) ?? [];
    if (list.length > 0 && !spec.multiple) throw new UsageError(`${where}: '${name}' given twice`);
    list.push(value ?? 'true');
    flags.set(name, list);
  });
  return { flags, positionals, log };
}

/**
 * The log options set by the config file a command line names (`--config FILE`), read before
 * the command runs so its logger is right from the first line. A file that cannot be read or
 * parsed yields nothing here: the command's own parse reports it, with its usage.
 */
export function configuredLogOptions(
  argv: string[],
  specs: Record<string, FlagSpec>,
): Map<LogConfigKey, ConfiguredValue> {
  for (let i = 0; i < argv.length; i++) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(argv[i]!);
    if (argv[i] === '--') break;
    const spec = match && Object.hasOwn(specs, match[1]!) ? specs[match[1]!] : undefined;
    if (!spec?.config) continue;
    const path = match![2] ?? argv[i + 1];
    if (path === undefined) break;
    try {
      return readConfigFile(path, specs, spec.config.positional).log;
    } catch {
      break;
    }
  }
  return new Map();
}

function parseArgv(argv: string[], specs: Record<string, FlagSpec>, usage: string): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  let help = false;
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      name = byShort.get(arg.slice(1, 2));
      if (arg.length > 2) inline = arg.slice(2);
    }
    const spec = name === undefined ? undefined : specs[name];
    if (name === undefined || spec === undefined) throw new UsageError(`unknown option '${arg}'`, usage);
    let value: string;
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`option '--${name}' takes no value`, usage);
      value = 'true';
    } else if (inline !== undefined) {
      value = inline;
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`option '--${name}' needs a value`, usage);
      value = next;
      i++;
    }
    const list = flags.get(name) ?? [];
    if (list.length > 0 && !spec.multiple) throw new UsageError(`option '--${name}' given twice`, usage);
    list.push(value);
    flags.set(name, list);
  }
  return { flags, positionals, help };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.[0];
}

export function listFlag(args: ParsedArgs, name: string): string[] {
  return args.flags.get(name) ?? [];
}

export function booleanFlag(args: ParsedArgs, name: string): boolean {
  return args.flags.has(name);
}

export function positiveIntFlag(args: ParsedArgs, name: string, fallback: number, usage: string): number {
  const text = stringFlag(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`option '--${name}' needs a positive integer, got '${text}'`, usage);
  }
  return value;
}

/**
 * The advice for an IPv6 address written without brackets. Its last group may be the port
 * (`::1:6433` meaning `[::1]:6433`) or part of the address (`[::1:6433]`); when both readings
 * are addresses, both are offered, the port reading first, since that is what most people
 * mean. `defaultPort`: the port used when none is written (the whole text is then the host).
 */
export function ipv6BracketingHint(text: string, defaultPort?: number): string {
  const colon = text.lastIndexOf(':');
  const head = text.slice(0, colon);
  const tail = text.slice(colon + 1);
  const tailIsPort = /^\d{1,5}$/.test(tail) && Number(tail) >= 1 && Number(tail) <= 65535 && isIP(head) === 6;
  const portReading = `[${head}]:${tail}`;
  const addressReading = defaultPort === undefined ? `[${text}]:PORT` : `[${text}] (port ${defaultPort})`;
  if (tailIsPort && isIP(text) === 6) {
    return (
      `write IPv6 addresses in brackets: ${portReading} if ${tail} is the port, ` +
      `or ${addressReading} if it is part of the address`
    );
  }
  if (tailIsPort) return `write IPv6 addresses in brackets: ${portReading}`;
  return `write IPv6 addresses in brackets: ${addressReading}`;
}

/** Parses `host:port`, `[v6]:port`; the port must be 0–65535 (0 only when allowZero). */
export function parseHostPort(
  text: string,
  what: string,
  allowZero: boolean,
): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  let host: string;
  let portText: string;
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
  } else {
    const colon = text.lastIndexOf(':');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (colon <= 0 || host.includes(':')) {
      const hint = host.includes(':') ? `; ${ipv6BracketingHint(text)}` : '';
      throw new UsageError(`${what} '${text}' must be host:port or [ipv6]:port${hint}`);
    }
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535 || (port === 0 && !allowZero)) {
    throw new UsageError(`${what} '${text}' has an invalid port (1–65535)`);
  }
  return { host, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
