import { isIP } from 'node:net';
import { ConfigError, resolveMultipath, resolveTransportConfig } from '../engine/config.js';
import type { MultipathOptions, TransportConfig } from '../engine/types.js';
import { InvalidArgumentError } from './errors.js';

/** An X25519 static key pair: the session identity. */
export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export function checkObject(name: string, value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(name, 'must be an object');
  }
}

export function checkKeyPair(name: string, value: unknown): asserts value is KeyPair {
  const pair = value as Partial<KeyPair> | null;
  if (
    pair === null ||
    typeof pair !== 'object' ||
    !(pair.publicKey instanceof Uint8Array) ||
    !(pair.privateKey instanceof Uint8Array) ||
    pair.publicKey.length !== 32 ||
    pair.privateKey.length !== 32
  ) {
    throw new InvalidArgumentError(name, 'must be { publicKey, privateKey } with two 32-byte Uint8Arrays');
  }
}

export function checkPublicKey(name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    throw new InvalidArgumentError(name, 'must be a 32-byte Uint8Array (X25519 public key)');
  }
}

export function checkPort(name: string, value: unknown, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    throw new InvalidArgumentError(name, `must be an integer in [${allowZero ? 0 : 1}, 65535]`);
  }
  return value;
}

export function checkHost(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253) {
    throw new InvalidArgumentError(name, 'must be a non-empty host name or IP address');
  }
  return value;
}

export function checkIP(name: string, value: unknown): string {
  if (typeof value !== 'string' || isIP(value) === 0) {
    throw new InvalidArgumentError(name, 'must be an IPv4 or IPv6 address');
  }
  return value;
}

/** `backupAddresses` (connect and server options): an array of IP addresses. */
export function checkBackupAddresses(value: unknown): string[] {
  if (!Array.isArray(value))
    throw new InvalidArgumentError('backupAddresses', 'must be an array of IP addresses');
  for (const [i, address] of value.entries()) checkIP(`backupAddresses[${i}]`, address);
  return value as string[];
}

export function checkTimeout(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2 ** 31 - 1) {
    throw new InvalidArgumentError(name, 'must be a positive number of milliseconds');
  }
  return value;
}

export function checkPositiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new InvalidArgumentError(name, 'must be a positive integer');
  }
  return value;
}

/** Validates transport overrides now, so a bad field is reported by name instead of later by the engine. */
export function checkTransport(value: unknown): Partial<TransportConfig> | undefined {
  if (value === undefined) return undefined;
  checkObject('transport', value);
  try {
    resolveTransportConfig(value as Partial<TransportConfig>);
  } catch (error) {
    if (error instanceof ConfigError) throw new InvalidArgumentError(error.field, error.message);
    throw error;
  }
  return value as Partial<TransportConfig>;
}

/** Validates `multipath` options now, naming the bad field (e.g. 'multipath.policy'). */
export function checkMultipath(value: unknown): MultipathOptions | undefined {
  if (value === undefined) return undefined;
  try {
    resolveMultipath(value, 'multipath');
  } catch (error) {
    if (error instanceof ConfigError) throw new InvalidArgumentError(error.field, error.message);
    throw error;
  }
  return value as MultipathOptions;
}

/** Splits `host:port`, `[v6]:port` or `{ host, port }`; validates both parts. */
export function parseTarget(target: unknown): { host: string; port: number } {
  if (typeof target === 'string') {
    const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(target);
    if (bracketed) {
      return {
        host: checkIP('target', bracketed[1]),
        port: checkPort('target', Number(bracketed[2]), false),
      };
    }
    const colon = target.lastIndexOf(':');
    const host = target.slice(0, colon);
    if (colon <= 0 || host.includes(':') || !/^\d+$/.test(target.slice(colon + 1))) {
      throw new InvalidArgumentError('target', "must be 'host:port' or '[ipv6]:port'");
    }
    return { host, port: checkPort('target', Number(target.slice(colon + 1)), false) };
  }
  checkObject('target', target);
  const { host, port } = target as { host?: unknown; port?: unknown };
  return { host: checkHost('target.host', host), port: checkPort('target.port', port, false) };
}
