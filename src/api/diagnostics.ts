/**
 * The public API's diagnostics channels. They are defined below the shell
 * (src/diagnostics/channels.ts) so that the shell (src/endpoint/) publishes on the same
 * channels without importing the API layer.
 */
export * from '../diagnostics/channels.js';
