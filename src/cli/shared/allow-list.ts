/**
 * The server's forward allow-list. Entries are `[name=]host:port`; host may be `*`
 * (any host) and port may be `*` (any port) in unnamed entries. A request names
 * either an entry (`web`) or a literal `host:port`, which must match some entry.
 */
import { formatHostPort, parseHostPort } from './args.js';
import { UsageError } from './errors.js';

export interface AllowEntry {
  name: string | undefined;
  host: string;
  /** undefined = any port. */
  port: number | undefined;
}

export function parseAllowEntry(text: string): AllowEntry {
  const eq = text.indexOf('=');
  const name = eq < 0 ? undefined : text.slice(0, eq);
  const rest = eq < 0 ? text : text.slice(eq + 1);
  if (name !== undefined && !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new UsageError(`allow entry '${text}': a name uses letters, digits, '.', '_' or '-'`);
  }
  if (rest.endsWith(':*')) {
    if (name !== undefined) throw new UsageError(`allow entry '${text}': a named target needs a port`);
    const host = rest.slice(0, -2).replace(/^\[(.*)\]$/, '$1');
    if (host === '') throw new UsageError(`allow entry '${text}' must be [name=]host:port`);
    return { name, host, port: undefined };
  }
  const { host, port } = parseHostPort(rest, `allow entry '${text}':`, false);
  if (name !== undefined && host === '*') {
    throw new UsageError(`allow entry '${text}': a named target needs a concrete host`);
  }
  return { name, host, port };
}

export type AllowDecision =
  | { allowed: true; host: string; port: number }
  | { allowed: false; reason: string };

export class AllowList {
  readonly entries: readonly AllowEntry[];
  constructor(entries: AllowEntry[]) {
    this.entries = entries;
  }

  decide(target: string): AllowDecision {
    const named = this.entries.find((e) => e.name === target);
    if (named) return { allowed: true, host: named.host, port: named.port! };
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseHostPort(target, 'target', false));
    } catch {
      return {
        allowed: false,
        reason: `'${target}' is neither an allowed name nor host:port${this.#namesHint()}`,
      };
    }
    const match = this.entries.some(
      (e) =>
        (e.host === '*' || e.host.toLowerCase() === host.toLowerCase()) &&
        (e.port === undefined || e.port === port),
    );
    if (match) return { allowed: true, host, port };
    return {
      allowed: false,
      reason: `${formatHostPort(host, port)} is not in this server's allow-list${this.#namesHint()}`,
    };
  }

  #namesHint(): string {
    const names = this.entries.flatMap((e) => (e.name ? [e.name] : []));
    return names.length > 0 ? ` (allowed names: ${names.join(', ')})` : '';
  }
}
