import { TransportError, type TransportErrorCode } from '../../wire/errors.js';

/**
 * A protocol violation by the peer detected by the stream layer. `code` is a
 * TransportError value; the connection closes with it.
 */
export class StreamError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string) {
    super(message);
    this.name = 'StreamError';
    this.code = code;
  }
}

/**
 * A local API misuse (write after finish, unknown stream, ...). It must not close
 * the connection: the API layer reports it to the caller.
 */
export class StreamUsageError extends Error {
  readonly code = 'BRAID_ERR_STREAM_STATE';
  constructor(message: string) {
    super(message);
    this.name = 'StreamUsageError';
  }
}

export function finalSizeError(message: string): StreamError {
  return new StreamError(TransportError.FINAL_SIZE_ERROR, message);
}
