/**
 * The public API's typed errors. They are defined below the shell (src/errors/errors.ts) so
 * that the shell (src/endpoint/) raises the same classes without importing the API layer.
 */
export * from '../errors/errors.js';
