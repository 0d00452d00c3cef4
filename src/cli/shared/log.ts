/**
 * The CLI's logger: JSON lines through pino when stderr is not a terminal (for
 * journald, log shippers, `jq`), short human lines on a terminal. The logger is also
 * callable as `log(line)` (level info), which is what most subcommands use.
 */
import pino from 'pino';
import type { ConfiguredValue, LogConfigKey } from './args.js';
import { UsageError } from './errors.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'text';
type Fields = Record<string, unknown>;

export interface Logger {
  (line: string, fields?: Fields): void;
  debug(line: string, fields?: Fields): void;
  info(line: string, fields?: Fields): void;
  warn(line: string, fields?: Fields): void;
  error(line: string, fields?: Fields): void;
  readonly format: LogFormat;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
}

export const LOG_OPTIONS_HELP = `global options (any command):
  --log-level LEVEL         debug, info (default), warn, error or silent (or BRAID_LOG_LEVEL)
  --log-format FORMAT       json (JSON lines, the default when stderr is not a terminal) or text
                            (the default on a terminal); or BRAID_LOG_FORMAT`;

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

function parseLevel(text: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(text)) return text as LogLevel;
  throw new UsageError(`log level '${text}' is not one of ${LOG_LEVELS.join(', ')}`);
}

function parseFormat(text: string): LogFormat {
  if (text === 'json' || text === 'text') return text;
  throw new UsageError(`log format '${text}' must be json or text`);
}

/**
 * Removes `--log-level` and `--log-format` from argv (they may appear anywhere before
 * `--`) and resolves them: the command line first, then the command's config file
 * (`fromConfig`, given the remaining arguments), then the environment, then whether stderr is
 * a terminal.
 */
export function extractLogOptions(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stderrIsTty: boolean,
  fromConfig: (args: string[]) => Map<LogConfigKey, ConfiguredValue> = () => new Map(),
): { args: string[]; options: LoggerOptions } {
  const args: string[] = [];
  let level: string | undefined;
  let format: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const match = /^--(log-level|log-format)(?:=(.*))?$/.exec(arg);
    if (!match) {
      args.push(arg);
      continue;
    }
    let value = match[2];
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`option '--${match[1]}' needs a value`);
    }
    if (match[1] === 'log-level') level = value;
    else format = value;
  }
  const configured = fromConfig(args);
  // A value from a file is named by its file:line when it is wrong.
  const inFile = <T>(key: LogConfigKey, parse: (text: string) => T): T | undefined => {
    const entry = configured.get(key);
    if (entry === undefined) return undefined;
    try {
      return parse(entry.value);
    } catch (error) {
      throw new UsageError(`${entry.where}: ${(error as Error).message}`);
    }
  };
  return {
    args,
    options: {
      level:
        level !== undefined
          ? parseLevel(level)
          : (inFile('log-level', parseLevel) ??
            (env.BRAID_LOG_LEVEL ? parseLevel(env.BRAID_LOG_LEVEL) : 'info')),
      format:
        format !== undefined
          ? parseFormat(format)
          : (inFile('log-format', parseFormat) ??
            (env.BRAID_LOG_FORMAT ? parseFormat(env.BRAID_LOG_FORMAT) : stderrIsTty ? 'text' : 'json')),
    },
  };
}

function fieldsText(fields: Fields | undefined): string {
  if (!fields) return '';
  const parts = Object.entries(fields).map(
    ([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`,
  );
  return parts.length > 0 ? ` (${parts.join(' ')})` : '';
}

export function createLogger(command: string, options: LoggerOptions): Logger {
  let write: (level: Exclude<LogLevel, 'silent'>, line: string, fields?: Fields) => void;
  if (options.format === 'json') {
    // Synchronous writes: a line logged just before exit must not be lost.
    const destination = pino.destination({ dest: 2, sync: true });
    const base = pino(
      {
        level: options.level,
        base: { pid: process.pid, command },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    );
    write = (level, line, fields) => base[level](fields ?? {}, line);
  } else {
    const threshold = RANK[options.level];
    write = (level, line, fields) => {
      if (RANK[level] < threshold) return;
      const tag = level === 'info' ? '' : `${level}: `;
      process.stderr.write(`braid ${command}: ${tag}${line}${fieldsText(fields)}\n`);
    };
  }
  const log = ((line: string, fields?: Fields) => write('info', line, fields)) as Logger;
  Object.assign(log, {
    debug: (line: string, fields?: Fields) => write('debug', line, fields),
    info: (line: string, fields?: Fields) => write('info', line, fields),
    warn: (line: string, fields?: Fields) => write('warn', line, fields),
    error: (line: string, fields?: Fields) => write('error', line, fields),
    format: options.format,
  });
  return log;
}
