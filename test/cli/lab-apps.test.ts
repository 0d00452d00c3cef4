// Unmodified applications through `braid tunnel` in the namespace lab: the client is multihomed
// (providers a and b, --local-address twice), the server has two addresses. An OpenSSH session
// runs a command that prints a counter every 100 ms while the active provider is silently
// blackholed: its output must stay complete and in order. iperf3 runs through the tunnel too.
// Root only (skips otherwise); sshd and iperf3 come from scripts/setup-system.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { Lab, type LabLink } from '../../src/cli/demo/lab.js';
import { queryControl } from '../../src/cli/observe/control.js';
import { Daemon, makeHome, runBraid } from '../../testing/harness/braid-command.js';
import { type LabSshd, SSHD, sshCommand as sshTo, startLabSshd } from '../../testing/harness/lab-sshd.js';

const missing = ['ssh', 'ssh-keygen', 'iperf3'].filter(
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
const IPERF_PORT = 5201;
const BRAID_PORT = 4433;

const serverHome = makeHome();
const clientHome = makeHome();
let lab: Lab;
const daemons: Daemon[] = [];
const processes: Array<{ kill(signal?: NodeJS.Signals): boolean }> = [];
let tunnel: Daemon;
let tunnelControl = '';
let sshPort = 0;
let iperfPort = 0;
let sshd: LabSshd;
let serverMetrics = '';
let tunnelMetrics = '';

/** Resolves when `pattern` appears in a line of `stream`. */
function lineMatching(stream: NodeJS.ReadableStream, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${pattern} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    lines.on('line', (line) => {
      if (!pattern.test(line)) return;
      clearTimeout(timer);
      resolve();
    });
  });
}

/** An OpenSSH client to the tunnel's ssh forward. */
function sshCommand(): string[] {
  return sshTo(sshd, '127.0.0.1', sshPort);
}

/** The link (provider a or b) of the tunnel's active path. */
async function activeLink(): Promise<LabLink> {
  const active = (await tunnelPaths()).find((p) => p.state === 'active');
  assert.ok(active, 'the tunnel has an active path');
  return active.local.startsWith(`${lab.addresses.clientA.v4}:`) ? 'a' : 'b';
}

interface PathStatus {
  id: number;
  local: string;
  remote: string;
  state: string;
}

/** The tunnel's session paths, from its control socket (what braid status shows). */
async function tunnelPaths(): Promise<PathStatus[]> {
  const status = (await queryControl(tunnelControl, { method: 'status' })) as {
    sessions: Array<{ paths: PathStatus[] }>;
  };
  return status.sessions[0]?.paths ?? [];
}

/** Polls the tunnel's control socket until `condition` holds for its session's paths. */
async function waitForPaths(
  condition: (paths: PathStatus[]) => boolean,
  what: string,
): Promise<PathStatus[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const paths = await tunnelPaths();
    if (condition(paths)) return paths;
    if (Date.now() > deadline) throw new Error(`${what}: paths ${JSON.stringify(paths)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** braid_failovers_total by reason, from a Prometheus text page. */
function failovers(body: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of body.split('\n')) {
    const match = /^braid_failovers_total\{reason="([^"]+)"\} (\d+)$/.exec(line);
    if (match) counts[match[1]!] = Number(match[2]);
  }
  return counts;
}

describe('unmodified applications through braid tunnel in the lab', { skip }, () => {
  before(async () => {
    lab = await Lab.up();
    const { clientA, clientB, server1, server2 } = lab.addresses;
    const inServer = ['ip', 'netns', 'exec', lab.namespaces.server];
    const inClient = ['ip', 'netns', 'exec', lab.namespaces.client];

    // OpenSSH with a host key and a client key made for this test, a private sshd config.
    const [started] = await Promise.all([
      startLabSshd(lab, 'server', serverHome.dir, `127.0.0.1:${SSHD_PORT}`),
      runBraid(['keygen'], serverHome.env),
      runBraid(['keygen'], clientHome.env),
    ]);
    sshd = started;
    processes.push(sshd.process);
    const iperf = lab.spawnIn(
      'server',
      ['iperf3', '--server', '--forceflush', '--bind', '127.0.0.1', '--port', String(IPERF_PORT)],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    processes.push(iperf);
    const iperfReady = lineMatching(iperf.stdout!, /Server listening on/, 10_000);

    // braid serve on both server addresses; only the client's key; the two targets allowed.
    const authorized = join(serverHome.dir, 'clients');
    writeFileSync(authorized, readFileSync(join(clientHome.configDir, 'id_braid.pub')));
    const serve = new Daemon(
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
        '--allow',
        `iperf=127.0.0.1:${IPERF_PORT}`,
        '--metrics',
        '127.0.0.1:0',
      ],
      serverHome.env,
      inServer,
    );
    daemons.push(serve);
    const [, serverKey] = (await serve.waitFor(/server key (\S+)/)) as [string, string];
    // The metrics listen inside the server namespace: scraped through a curl there.
    [, serverMetrics] = (await serve.waitFor(/metrics on (http:\S+)/)) as [string, string];
    await serve.waitFor(/ready/);

    tunnelControl = join(clientHome.dir, 'tunnel.sock');
    tunnel = new Daemon(
      [
        'tunnel',
        `braid://${serverKey}@${server1.v4}:${BRAID_PORT}`,
        '--local-address',
        clientA.v4,
        '--local-address',
        clientB.v4,
        '-L',
        '0:ssh',
        '-L',
        '0:iperf',
        '--control',
        tunnelControl,
        '--events',
        join(clientHome.dir, 'tunnel-events.jsonl'),
        '--metrics',
        '127.0.0.1:0',
      ],
      clientHome.env,
      inClient,
    );
    daemons.push(tunnel);
    [, tunnelMetrics] = (await tunnel.waitFor(/metrics on (http:\S+)/)) as [string, string];
    [, sshPort] = (await tunnel.waitFor(/forwarding 127\.0\.0\.1:(\d+) → ssh/)).map(Number) as [
      number,
      number,
    ];
    [, iperfPort] = (await tunnel.waitFor(/forwarding 127\.0\.0\.1:(\d+) → iperf/)).map(Number) as [
      number,
      number,
    ];
    await tunnel.waitFor(/ready/);
    await iperfReady;
    await waitForPaths((paths) => paths.some((p) => p.state === 'standby'), 'a warm standby path');
  });

  after(async () => {
    for (const daemon of daemons) await daemon.stop();
    for (const child of processes) child.kill('SIGTERM');
    await lab?.down();
    serverHome.cleanup();
    clientHome.cleanup();
  });

  test('iperf3 through the tunnel completes and reports a plausible rate', async () => {
    const result = await lab.exec('client', [
      'iperf3',
      '--client',
      '127.0.0.1',
      '--port',
      String(iperfPort),
      '--time',
      '2',
      '--json',
    ]);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const report = JSON.parse(result.stdout) as {
      end: { sum_received: { bits_per_second: number; bytes: number } };
    };
    const rate = report.end.sum_received.bits_per_second;
    console.log(
      `iperf3 through braid tunnel (lab): ${(rate / 1e6).toFixed(1)} Mbit/s, ${report.end.sum_received.bytes} bytes`,
    );
    // Plausible: more than a trickle, less than the 10 Gbit/s a veth pair could carry at best.
    assert.ok(rate > 1e6 && rate < 1e10, `rate ${rate} bit/s`);
  });

  test('an ssh session keeps printing, complete and in order, while the active provider is blackholed', async () => {
    const LINES = 50;
    const child = lab.spawnIn(
      'client',
      [...sshCommand(), `for i in $(seq 1 ${LINES}); do echo "line $i"; sleep 0.1; done`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    processes.push(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const lines: Array<{ text: string; at: number }> = [];
    const link = await activeLink();
    let faultAt = 0;
    let faulted: Promise<void> | undefined;
    createInterface({ input: child.stdout! }).on('line', (text) => {
      lines.push({ text, at: performance.now() });
      if (lines.length === 10) {
        faultAt = performance.now();
        faulted = lab.blackhole(link, 'both');
      }
    });
    const code = await exited;
    await faulted;
    try {
      assert.equal(code, 0, `ssh exit code; stderr: ${stderr}`);
      assert.ok(faulted, 'the fault was applied mid-command');
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
        `ssh through braid tunnel (lab): longest pause in output after the blackhole ${longest.toFixed(0)} ms (lines every 100 ms)`,
      );
      assert.ok(longest < 3000, `output paused ${longest.toFixed(0)} ms`);

      // The session now runs over the other provider.
      const other = link === 'a' ? lab.addresses.clientB.v4 : lab.addresses.clientA.v4;
      await waitForPaths(
        (paths) => paths.some((p) => p.state === 'active' && p.local.startsWith(`${other}:`)),
        'active on the other provider',
      );
      // The end that found the path dead counts 'unresponsive'; the other may count 'peer-moved'.
      const [server, client] = await Promise.all([
        lab.exec('server', ['curl', '-sS', serverMetrics]).then((r) => failovers(r.stdout)),
        lab.exec('client', ['curl', '-sS', tunnelMetrics]).then((r) => failovers(r.stdout)),
      ]);
      console.log(`failovers counted: server ${JSON.stringify(server)}, tunnel ${JSON.stringify(client)}`);
      assert.ok(
        (server.unresponsive ?? 0) + (client.unresponsive ?? 0) >= 1,
        'a detected failover was counted',
      );
    } finally {
      await lab.heal();
    }
  });

  test('a 16 MiB hashed cat over ssh arrives intact across a blackhole of the active provider', async () => {
    // After the previous test's heal the client sets up a standby on the healed provider again.
    await waitForPaths((paths) => paths.some((p) => p.state === 'standby'), 'a warm standby again');
    const BYTES = 16 * 1024 * 1024;
    const link = await activeLink();
    const child = lab.spawnIn(
      'client',
      [
        ...sshCommand(),
        `f=$(mktemp) && head -c ${BYTES} /dev/urandom > "$f" && sha256sum "$f" >&2 && cat "$f"; rm -f "$f"`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    processes.push(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const hash = createHash('sha256');
    let bytes = 0;
    let faulted: Promise<void> | undefined;
    child.stdout!.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (!faulted && bytes >= BYTES / 4) faulted = lab.blackhole(link, 'both');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    await faulted;
    try {
      assert.equal(code, 0, `ssh exit code; stderr: ${stderr}`);
      assert.ok(faulted, 'the fault was applied mid-transfer');
      assert.equal(bytes, BYTES);
      assert.equal(hash.digest('hex'), /^([0-9a-f]{64}) /m.exec(stderr)?.[1], 'SHA-256 equal at both ends');
    } finally {
      await lab.heal();
    }
  });
});
