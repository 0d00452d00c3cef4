/**
 * A small flag parser: `--name value`, `--name=value`, `-x value`, boolean flags,
 * repeatable flags and positionals. Unknown flags are usage errors, never ignored.
 */
import { UsageError } from './errors.js';

export interface FlagSpec {
  /** 'string' takes a value; 'boolean' does not. */
  type: 'string' | 'boolean';
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
  /** One-letter alias, e.g. 'L' for -L. */
  short?: string;
}

export interface ParsedArgs {
  flags: Map<string, string[]>;
  positionals: string[];
  help: boolean;
}

export function parseArgs(argv: string[], specs: Record<string, FlagSpec>, usage: string): ParsedArgs {
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
      throw new UsageError(`${what} '${text}' must be host:port or [ipv6]:port`);
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
