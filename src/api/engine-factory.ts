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

export const createEngine: EngineFactory = (options) => new Endpoint(options);
