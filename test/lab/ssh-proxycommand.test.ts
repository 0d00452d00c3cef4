// The real OpenSSH client through `braid stdio` as its ProxyCommand, to a real sshd behind
// `braid serve`, in the namespace lab: the client is multihomed (providers a and b). A remote
// command that prints a line every 100 ms spans a blackhole of the active provider and must
// finish with every line, in order; afterwards the server holds no session (stdio closed it when
// ssh exited). Root only (skips otherwise); ssh and sshd come from scripts/setup-system.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { Lab, type LabLink } from '../../src/cli/demo/lab.js';
import { queryControl } from '../../src/cli/observe/control.js';
import { COMMAND, Daemon, makeHome, runBraid } from '../../testing/harness/braid-command.js';
import { type LabSshd, SSHD, sshCommand, startLabSshd } from '../../testing/harness/lab-sshd.js';

const missing = ['ssh', 'ssh-keygen'].filter(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0,
);
if (!existsSync(SSHD)) missing.push('sshd');
const availability = Lab.available();
const skip = !availability.ok
  ? availability.reason
  : missing.length > 0
    ? `missing ${missing.join(', ')} (scripts/setup-system.sh installs them)`
    : false;

/** Ports inside the lab's own namespaces: nothing else listens there. */
const SSHD_PORT = 2222;
const BRAID_PORT = 4433;

const serverHome = makeHome();
const clientHome = makeHome();
let lab: Lab;
let serve: Daemon;
let sshd: LabSshd;
let serverControl = '';
let proxyCommand = '';

interface PathStatus {
  local: string;
  remote: string;
  state: string;
}

/** The server's sessions and their paths, from its control socket (what braid status shows). */
async function serverSessions(): Promise<Array<{ paths: PathStatus[] }>> {
  const status = (await queryControl(serverControl, { method: 'status' })) as {
    sessions: Array<{ paths: PathStatus[] }>;
  };
  return status.sessions;
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out: ${what}; sessions ${JSON.stringify(await serverSessions())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ssh with braid stdio as its ProxyCommand, in the lab', { skip }, () => {
  before(async () => {
    lab = await Lab.up();
    const { clientA, clientB, server1, server2 } = lab.addresses;
    const [started] = await Promise.all([
      startLabSshd(lab, 'server', serverHome.dir, `127.0.0.1:${SSHD_PORT}`),
      runBraid(['keygen'], serverHome.env),
      runBraid(['keygen'], clientHome.env),
    ]);
    sshd = started;
    const authorized = join(serverHome.dir, 'clients');
    writeFileSync(authorized, readFileSync(join(clientHome.configDir, 'id_braid.pub')));
    serverControl = join(serverHome.dir, 'serve.sock');
    serve = new Daemon(
      [
        'serve',
        '--listen',
        `${server1.v4}:${BRAID_PORT}`,
        '--listen',
        `${server2.v4}:${BRAID_PORT}`,
        '--authorized-keys',
        authorized,
        '--allow',
        `ssh=127.0.0.1:${SSHD_PORT}`,
        '--control',
        serverControl,
      ],
      serverHome.env,
      ['ip', 'netns', 'exec', lab.namespaces.server],
    );
    const [, serverKey] = (await serve.waitFor(/server key (\S+)/)) as [string, string];
    await serve.waitFor(/ready/);
    // What a user writes in ProxyCommand, with `braid` spelled as this checkout runs it.
    proxyCommand = [
      process.execPath,
      ...COMMAND,
      'stdio',
      `braid://${serverKey}@${server1.v4}:${BRAID_PORT}`,
      '--local-address',
      clientA.v4,
      '--local-address',
      clientB.v4,
      '--to',
      'ssh',
    ].join(' ');
  });

  after(async () => {
    await serve?.stop();
    sshd?.process.kill('SIGTERM');
    await lab?.down();
    serverHome.cleanup();
    clientHome.cleanup();
  });

  test('a command spans a blackhole of the active provider; no ghost session afterwards', async () => {
    const LINES = 60;
    // The host name is only what ssh calls it: ProxyCommand decides where the bytes go.
    const ssh = sshCommand(sshd, 'braid-lab', 22);
    const child = lab.spawnIn(
      'client',
      [
        ...ssh.slice(0, -1),
        '-o',
        `ProxyCommand=${proxyCommand}`,
        ssh.at(-1)!,
        `for i in $(seq 1 ${LINES}); do echo "line $i"; sleep 0.1; done`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: clientHome.env },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const lines: Array<{ text: string; at: number }> = [];
    createInterface({ input: child.stdout! }).on('line', (text) => {
      lines.push({ text, at: performance.now() });
    });
    try {
      // Once the server sees the session with a warm standby path, its active path's provider
      // (the client end of that path) is blackholed while the command still prints.
      const active = await waitFor(async () => {
        const [session] = await serverSessions();
        const paths = session?.paths ?? [];
        if (lines.length === 0 || !paths.some((p) => p.state === 'standby')) return undefined;
        return paths.find((p) => p.state === 'active');
      }, 'one session with an active path and a standby');
      const link: LabLink = active.remote.startsWith(`${lab.addresses.clientA.v4}:`) ? 'a' : 'b';
      const faultAt = performance.now();
      const linesBefore = lines.length;
      await lab.blackhole(link, 'both');
      const code = await exited;
      assert.equal(code, 0, `ssh exit code; stderr: ${stderr}`);
      assert.ok(linesBefore < LINES, `the blackhole came before the command ended (${linesBefore} lines)`);
      assert.deepEqual(
        lines.map((l) => l.text),
        Array.from({ length: LINES }, (_, i) => `line ${i + 1}`),
        'every line, once, in order',
      );
      let longest = 0;
      for (let i = 1; i < lines.length; i++) {
        if (lines[i]!.at > faultAt)
          longest = Math.max(longest, lines[i]!.at - Math.max(lines[i - 1]!.at, faultAt));
      }
      console.log(
        `ssh via braid stdio (lab): longest pause in output after the blackhole ${longest.toFixed(0)} ms (lines every 100 ms)`,
      );
      // ssh sent its ProxyCommand SIGHUP on exit: braid stdio closed the session with a CLOSE,
      // which the server acts on at once (an abandoned session would stay for its idle timeout).
      await waitFor(
        async () => ((await serverSessions()).length === 0 ? true : undefined),
        'the server forgets the session once ssh has exited',
        3000,
      );
    } finally {
      child.kill('SIGKILL');
      await lab.heal();
    }
  });
});
