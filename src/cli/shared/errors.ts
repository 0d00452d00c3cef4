/**
 * Exit codes of the `braid` command (documented in `braid --help` and the README),
 * and the error that carries one out of a subcommand.
 */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  KEY_FILE: 3,
  HOST_KEY: 4,
  FORWARD_REFUSED: 5,
  ADDRESS_IN_USE: 6,
  UNREACHABLE: 7,
  UNAUTHORIZED: 8,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `exit codes:
  0 success                    5 the server refused a forward (the reason is printed)
  1 other failure              6 a local address is already in use
  2 usage error (bad flags)    7 the server could not be reached (every address tried is listed)
  3 key file missing, unreadable or too open
  4 host key unknown (--strict) or changed   8 the server refused our key`;

/** A failure a person can act on: the message says what happened and what to do. */
export class CliError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.FAILURE) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Bad flags or arguments: reported with the subcommand's usage and exit code 2. */
export class UsageError extends CliError {
  readonly usage: string | undefined;
  constructor(message: string, usage?: string) {
    super(message, ExitCode.USAGE);
    this.name = 'UsageError';
    this.usage = usage;
  }
}
