/**
 * The package as a user gets it: `npm pack` this checkout (prepack builds dist/), install the
 * tarball into an empty project with `npm install --omit=dev` (no tsx, no TypeScript: only
 * what the package itself depends on; its install script builds the native addons), then use
 * it the ways a user would: an ESM import, a CommonJS require, a TypeScript compile against
 * the shipped types, and the `braid` command (--version, keygen, and a loopback
 * `cat` round trip through `serve --echo`).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NODE_TYPES = join(ROOT, 'node_modules', '@types');

/** npm's lifecycle variables of an enclosing `npm test` must not steer the npm runs below. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? cleanEnv(),
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
        else resolvePromise({ stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** A child's stdout and stderr so far, and a wait for a pattern anywhere in them. */
function watchOutput(child: ChildProcess): {
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
} {
  let seen = '';
  let exited: number | null | undefined;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    wake();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    wake();
  });
  child.once('exit', (code) => {
    exited = code;
    wake();
  });
  return {
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolvePromise, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${seen}`));
        }, timeoutMs);
        function check(): void {
          const match = pattern.exec(seen);
          if (!match && exited === undefined) return;
          clearTimeout(timer);
          waiters.delete(check);
          if (match) resolvePromise(match);
          else reject(new Error(`exited (${exited}) before ${pattern}; output:\n${seen}`));
        }
        waiters.add(check);
        check();
      }),
  };
}

let work: string;
let project: string;
let tarball: string;
const daemons: ChildProcess[] = [];

before(
  async () => {
    work = mkdtempSync(join(tmpdir(), 'braid-pack-'));
    project = join(work, 'project');
    mkdirSync(project);
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: ROOT,
      timeoutMs: 300_000,
    });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string }];
    tarball = join(work, packed.filename);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'braid-user', version: '1.0.0', private: true }),
    );
    await run(
      'npm',
      ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--no-save', tarball],
      { cwd: project, timeoutMs: 400_000 },
    );
  },
  { timeout: 720_000 },
);

after(() => {
  for (const daemon of daemons) daemon.kill();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds dist/, the licence and the addon sources, and no tests or TypeScript sources', async () => {
  const { stdout } = await run('tar', ['tzf', tarball], { cwd: work });
  const files = stdout.split('\n').filter(Boolean);
  for (const needed of [
    'package/dist/src/index.js',
    'package/dist/src/index.d.ts',
    'package/dist/src/cli/main.js',
    'package/bin/braid.js',
    'package/LICENSE',
    'package/binding.gyp',
    'package/native/braid_udp.cc',
    'package/scripts/build-native.mjs',
  ]) {
    assert.ok(files.includes(needed), `${needed} in the tarball`);
  }
  const strays = files.filter(
    (f) => /^package\/(test|testing|bench|src)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
  );
  assert.deepEqual(strays, []);
  assert.match(readFileSync(join(project, 'node_modules', 'braid', 'LICENSE'), 'utf8'), /MIT License/);
  // Installed with --omit=dev: nothing of the build tool chain came along.
  const installed = readdirSync(join(project, 'node_modules'));
  for (const devOnly of ['tsx', 'typescript', '@biomejs']) assert.ok(!installed.includes(devOnly), devOnly);
});

test('an ESM import and a CommonJS require load the same API', async () => {
  writeFileSync(
    join(project, 'esm.mjs'),
    "import { connect, createServer, BraidStream, UnauthorizedKeyError } from 'braid';\n" +
      'console.log([connect, createServer, BraidStream, UnauthorizedKeyError].map((x) => typeof x).join());\n',
  );
  writeFileSync(
    join(project, 'cjs.cjs'),
    "const { connect, createServer, BraidStream, UnauthorizedKeyError } = require('braid');\n" +
      'console.log([connect, createServer, BraidStream, UnauthorizedKeyError].map((x) => typeof x).join());\n',
  );
  const expected = 'function,function,function,function\n';
  assert.equal((await run(process.execPath, ['esm.mjs'], { cwd: project })).stdout, expected);
  assert.equal((await run(process.execPath, ['cjs.cjs'], { cwd: project })).stdout, expected);
});

test('TypeScript compiles against the shipped types, and a type error is caught', async () => {
  const tsconfig = {
    compilerOptions: {
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      strict: true,
      noEmit: true,
      // The user's @types/node: the package's types name Node's (Duplex, EventEmitter, Buffer).
      typeRoots: [NODE_TYPES],
      types: ['node'],
    },
    files: ['user.mts'],
  };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
  const good =
    "import { connect, type Session, type SessionStats, UnauthorizedKeyError } from 'braid';\n" +
    'export async function open(key: Uint8Array): Promise<Session> {\n' +
    "  const session = await connect('127.0.0.1:4433', { serverKey: key, signal: AbortSignal.timeout(1000) });\n" +
    "  const stats: SessionStats = session.stats;\n  const udp: 'native' | 'dgram' = stats.backend.udp;\n" +
    '  void udp;\n  const stream = await session.openStream();\n  stream.end(Buffer.from("hi"));\n' +
    '  return session;\n}\nexport const isRefused = (e: unknown): boolean => e instanceof UnauthorizedKeyError;\n';
  writeFileSync(join(project, 'user.mts'), good);
  await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project, timeoutMs: 300_000 });
  // The types are real: misuse fails to compile.
  writeFileSync(
    join(project, 'user.mts'),
    `${good}export const wrong: number = (null as unknown as Session).role;\n`,
  );
  await assert.rejects(
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project, timeoutMs: 300_000 }),
    /TS2322/,
  );
});

test('the braid command: --version names the back-end, keygen, and a loopback cat --echo round trip', async () => {
  const home = (name: string): NodeJS.ProcessEnv => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    return cleanEnv({
      HOME: dir,
      XDG_CONFIG_HOME: dir,
      XDG_RUNTIME_DIR: join(dir, 'run'),
      BRAID_LOG_FORMAT: 'text',
    });
  };
  const version = await run('npx', ['--no-install', 'braid', '--version'], { cwd: project });
  assert.match(
    version.stdout,
    /^braid \d+\.\d+\.\d+ \(node [\d.]+\)\nback-end: (native|partly native|portable) \(/,
  );

  const serverEnv = home('server');
  const clientEnv = home('client');
  const braid = join(project, 'node_modules', '.bin', 'braid');
  const keygen = await run(braid, ['keygen'], { cwd: project, env: clientEnv });
  assert.match(`${keygen.stdout}${keygen.stderr}`, /[A-Za-z0-9_-]{43}/, 'keygen prints the public key');
  await run(braid, ['keygen'], { cwd: project, env: serverEnv });

  const server = spawn(braid, ['serve', '--listen', '127.0.0.1:0', '--echo', '--allow-any'], {
    cwd: project,
    env: serverEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemons.push(server);
  const output = watchOutput(server);
  const [, port] = await output.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
  const [, serverKey] = await output.waitFor(/server key (\S+)/);
  await output.waitFor(/ready/);

  const payload = `${'round trip through an installed braid\n'.repeat(2000)}`;
  const echoed = await run(braid, ['cat', `braid://${serverKey}@127.0.0.1:${port}`], {
    cwd: project,
    env: clientEnv,
    input: payload,
  });
  assert.equal(echoed.stdout.length, payload.length);
  assert.equal(echoed.stdout, payload);
});
