/**
 * The one place the public API meets the concrete engine and key generator;
 * everything else in src/api codes against EngineEndpoint, so tests can inject another.
 */
import { generateKeyPair } from '../crypto/noise/index.js';
import { Endpoint, type EndpointOptions } from '../engine/endpoint.js';
import type { EngineEndpoint } from '../engine/types.js';

export type { EndpointOptions };
export { Endpoint, generateKeyPair };

export type EngineFactory = (options: EndpointOptions) => EngineEndpoint;

let lastWallClock = 0;

/**
 * Milliseconds since the Unix epoch with sub-millisecond precision, strictly increasing across
 * every engine of the process: two connects with one key in the same millisecond still send
 * first-flight timestamps the server sees as newer (docs/protocol.md §7.2.1).
 */
function wallClock(): number {
  lastWallClock = Math.max(performance.timeOrigin + performance.now(), lastWallClock + 0.001);
  return lastWallClock;
}

export const createEngine: EngineFactory = (options) => new Endpoint({ wallClock, ...options });
