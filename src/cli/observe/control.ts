/**
 * The local control socket of a running `braid` process: a Unix socket 0600 in a directory
 * only its owner may write to (one Braid creates is 0700; an existing one is refused, never
 * chmodded, when group or others may write to it). Each connection sends one
 * JSON request per line (`{"method":"status"}`) and gets one JSON line back.
 *
 * Default place: `$XDG_RUNTIME_DIR/braid/<command>-<pid>.sock`; for a service, the directory
 * systemd made for it (`$RUNTIME_DIRECTORY`, from RuntimeDirectory=braid) or, for root without a
 * runtime directory, the system-wide `/run/braid/`; else `$XDG_CONFIG_HOME/braid/run/`.
 * `braid status` without --control asks every socket in the user's directory and in the
 * system-wide one, so services and root's processes are found too.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { CliError, ExitCode } from '../shared/errors.js';
import { configDir } from '../shared/keys.js';

export interface ControlRequest {
  method: string;
  [key: string]: unknown;
}

export type ControlHandler = (request: ControlRequest) => unknown;

const MAX_REQUEST_BYTES = 64 * 1024;

/** Where services and root's processes put their control sockets (`BRAID_SYSTEM_CONTROL_DIR` moves it). */
export function systemControlDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BRAID_SYSTEM_CONTROL_DIR || '/run/braid';
}

export function defaultControlDir(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = typeof process.getuid === 'function' ? process.getuid() : undefined,
): string {
  // systemd sets RUNTIME_DIRECTORY (colon-separated when several) for a unit with RuntimeDirectory=.
  const serviceDir = env.RUNTIME_DIRECTORY?.split(':')[0];
  if (serviceDir) return serviceDir;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'braid');
  // Root outside a login session (sudo, cron, a service without RuntimeDirectory=).
  if (uid === 0) return systemControlDir(env);
  return join(configDir(env), 'run');
}

/** The directories `braid status` searches: the caller's own, then the system-wide one. */
export function controlSearchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...new Set([defaultControlDir(env), systemControlDir(env)])];
}

/**
 * Creates `dir` 0700 if it is missing. A directory that already exists is the operator's:
 * its mode is never changed (it may be a shared system directory), but one that others
 * could write to is refused, as ssh's StrictModes refuses a loose home directory, since
 * whoever can write there can replace the socket with their own.
 */
export function ensurePrivateDir(dir: string): void {
  const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new CliError(`${dir} is not a directory; choose another --control path`);
  if (created !== undefined) {
    // Ours from birth: the umask may only have removed bits, never added any, but say so explicitly.
    if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
    return;
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) {
    throw new CliError(
      `bad ownership for directory ${dir}: it belongs to uid ${stat.uid}, who could replace the control socket; ` +
        'choose a directory of your own with --control',
    );
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new CliError(
      `bad permissions ${(stat.mode & 0o7777).toString(8).padStart(4, '0')} for directory ${dir}: ` +
        `other users could replace the control socket. Fix with: chmod go-w ${dir}, ` +
        'or choose another directory with --control',
    );
  }
}

export interface ControlServer {
  path: string;
  close(): void;
}

export async function startControlServer(path: string, handler: ControlHandler): Promise<ControlServer> {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  ensurePrivateDir(dir);
  if (existsSync(path)) {
    // A socket left by a process that was killed; a live one would answer.
    if (await isAlive(path)) {
      throw new CliError(
        `control socket ${path} is in use by another braid process`,
        ExitCode.ADDRESS_IN_USE,
      );
    }
    unlinkSync(path);
  }
  const server: Server = createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES) {
        socket.end(`${JSON.stringify({ error: 'request too large' })}\n`);
        return;
      }
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        socket.write(`${JSON.stringify(answer(line, handler))}\n`);
        newline = buffer.indexOf('\n');
      }
    });
  });
  // The umask makes the socket 0600 from birth: no window in which others could connect.
  const previousMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(previousMask);
  }
  chmodSync(path, 0o600);
  server.unref();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    server.close();
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
  process.once('exit', close);
  return { path, close };
}

function answer(line: string, handler: ControlHandler): unknown {
  let request: ControlRequest;
  try {
    request = JSON.parse(line) as ControlRequest;
  } catch {
    return { error: 'the request is not JSON' };
  }
  if (request === null || typeof request !== 'object' || typeof request.method !== 'string') {
    return { error: 'the request needs a "method"' };
  }
  try {
    return handler(request);
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends one request and resolves with the parsed answer. */
export function queryControl(path: string, request: ControlRequest, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve(JSON.parse(buffer.slice(0, newline)));
      } catch {
        reject(new Error(`${path} answered something that is not JSON`));
      }
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Control sockets in `dir` (newest process last is not guaranteed; sorted by name). A directory
 * that exists but may not be read (EACCES: another user's, e.g. root's /run/braid) is reported
 * through `onDenied`, so the caller can say so instead of answering "nothing runs".
 */
export function listControlSockets(dir: string, onDenied?: (dir: string) => void): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EACCES') onDenied?.(dir);
    return [];
  }
  return names
    .filter((n) => n.endsWith('.sock'))
    .sort()
    .map((n) => join(dir, n));
}
