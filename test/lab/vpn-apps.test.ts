// Unmodified applications over `braid vpn`'s inner addresses in the namespace lab, through four
// faults in a row on one session: a silent blackhole of the active provider, the client's address
// changing (roaming), the server's address removed, and a 30 s total outage. The client binds
// both providers' addresses, the server listens on both of its own. Two inner TCP
// connections live through all of them: an OpenSSH session echoing a line every 100 ms (every
// line back, once, in order, and echoing while each fault but the outage is still in place) and
// a curl download of a 96 MiB file read at 1 MiB/s, so it is in flight at every fault (SHA-256
// equal at the end). iperf3 -u runs across each fault and must receive while the fault is still
// in place (the outage apart: after it). Root only; skipped with the reason otherwise. About two
// and a half minutes.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { Lab } from '../../src/cli/demo/lab.js';
import { LabProcess } from '../../src/cli/demo/lab-process.js';
import { type Home, makeHome } from '../../testing/harness/braid-command.js';
import { type LabSshd, SSHD, sshCommand, startLabSshd } from '../../testing/harness/lab-sshd.js';
import {
  activeProvider,
  type BraidVpnTunnel,
  braidVpnUnavailable,
  type IperfReport,
  iperfClient,
  startBraidVpn,
} from '../../testing/harness/vpn-lab.js';

const missingTools = ['ssh', 'ssh-keygen', 'iperf3', 'curl', 'ping'].filter(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0,
);
if (!existsSync(SSHD)) missingTools.push('sshd');
const availability = Lab.available({ conntrack: false });
const skip = !availability.ok
  ? availability.reason
  : !existsSync('/dev/net/tun')
    ? 'no /dev/net/tun (the kernel lacks CONFIG_TUN)'
    : missingTools.length > 0
      ? `missing ${missingTools.join(', ')} (scripts/setup-system.sh installs them)`
      : ((await braidVpnUnavailable()) ?? false);

const SSHD_PORT = 2222;
const IPERF_PORT = 5201;
const FILE_BYTES = 96 * 1024 * 1024;
/** The download is read this fast until the faults are over, so it is in flight at each. */
const READ_RATE = 1024 * 1024;
const OUTAGE_MS = 30_000;
/** How long a fault other than the outage stays in place (at least). */
const FAULT_MS = 4000;
/** How long the ssh session may take to echo again while a fault is in place. */
const CATCH_UP_MS = 8000;
/** After a fault is lifted: time for the inner connections to move again (TCP backoff included). */
const RECOVERY_MS = 45_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const began = performance.now();
/** Progress on stdout, so a failure's output shows how far the run got. */
const step = (what: string) =>
  console.log(`vpn-apps +${((performance.now() - began) / 1000).toFixed(1)} s: ${what}`);

let lab: Lab;
let vpn: BraidVpnTunnel;
let sshd: LabSshd;
let home: Home;
const helpers: ChildProcess[] = [];
let httpPort = 0;
let fileSha256 = '';

/** An ssh session running `cat` on the server: a line written every 100 ms comes back. */
class SshEcho {
  readonly child: ChildProcess;
  readonly echoed: string[] = [];
  sent = 0;
  stderr = '';
  private readonly timer: NodeJS.Timeout;
  readonly exited: Promise<number | null>;

  constructor() {
    this.child = lab.spawnIn('client', [...sshCommand(sshd, vpn.serverInner4, SSHD_PORT), 'cat'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    helpers.push(this.child);
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString();
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.echoed.push(line));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
    this.timer = setInterval(() => {
      this.sent++;
      this.child.stdin!.write(`line ${this.sent}\n`);
    }, 100);
  }

  /** Resolves once every line sent so far (and one at least) has come back. */
  async caughtUp(what: string, timeoutMs: number): Promise<void> {
    const target = Math.max(this.sent, 1);
    const deadline = Date.now() + timeoutMs;
    while (this.echoed.length < target) {
      if (Date.now() > deadline)
        throw new Error(`${what}: ssh echoed ${this.echoed.length} of ${target} lines; ${this.stderr}`);
      await sleep(50);
    }
  }

  async finish(): Promise<number | null> {
    clearInterval(this.timer);
    this.child.stdin!.end();
    return this.exited;
  }

  /** Stops writing and the ssh client (after a failure). */
  kill(): void {
    clearInterval(this.timer);
    this.child.kill('SIGTERM');
  }
}

/** curl of the file, its output read at READ_RATE (so the server's TCP waits on us) until `unthrottle`. */
class ThrottledDownload {
  readonly child: ChildProcess;
  readonly hash = createHash('sha256');
  bytes = 0;
  stderr = '';
  private budget = 0;
  private throttled = true;
  private readonly timer: NodeJS.Timeout;
  readonly exited: Promise<number | null>;

  constructor() {
    this.child = lab.spawnIn(
      'client',
      ['curl', '-sS', '--fail', `http://${vpn.serverInner4}:${httpPort}/file`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    helpers.push(this.child);
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString();
    });
    const stdout = this.child.stdout!;
    stdout.on('data', (chunk: Buffer) => {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      this.budget -= chunk.length;
      if (this.throttled && this.budget <= 0) stdout.pause();
    });
    this.timer = setInterval(() => {
      this.budget = Math.min(this.budget + READ_RATE / 10, READ_RATE);
      if (this.budget > 0) stdout.resume();
    }, 100);
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null;
  }

  /** Resolves once more than `bytes` have arrived. */
  async beyond(bytes: number, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.bytes <= bytes) {
      if (Date.now() > deadline || !this.running)
        throw new Error(
          `${what}: curl stuck at ${this.bytes} bytes (exit ${this.child.exitCode}); ${this.stderr}`,
        );
      await sleep(50);
    }
  }

  unthrottle(): void {
    this.throttled = false;
    clearInterval(this.timer);
    this.child.stdout!.resume();
  }

  /** Stops reading and curl (after a failure). */
  kill(): void {
    clearInterval(this.timer);
    this.child.kill('SIGTERM');
  }
}

/**
 * iperf3 -u from server to client for `seconds` (0.5 s intervals) while `fault` runs from 1 s on;
 * returns the report, its intervals on iperf3's clock (which starts a little after ours).
 */
async function udpAcross(seconds: number, fault: () => Promise<void>): Promise<IperfReport> {
  const flow = iperfClient(
    lab,
    [
      '--client',
      vpn.serverInner4,
      '--port',
      String(IPERF_PORT),
      '--udp',
      '--reverse',
      '--bitrate',
      '2M',
      '--length',
      '1000',
      '--time',
      String(seconds),
      '--interval',
      '0.5',
    ],
    seconds + 60,
  );
  try {
    await sleep(1000);
    await fault();
  } catch (error) {
    await flow.catch(() => undefined);
    throw error;
  }
  return flow;
}

/**
 * Applies a fault, lets a second of traffic meet it, runs `during` (which must succeed while the
 * fault is in place) and holds the fault until FAULT_MS have passed; the fault
 * is lifted whatever happened, so no flow is left hanging on it.
 */
async function whileFaulted(
  apply: () => Promise<void>,
  during: () => Promise<void>,
  lift: () => Promise<void>,
): Promise<void> {
  const started = Date.now();
  try {
    await apply();
    await sleep(1000);
    await during();
    await sleep(Math.max(0, FAULT_MS - (Date.now() - started)));
  } finally {
    await lift();
  }
}

/** Bytes iperf3 received in intervals that lie within [from, to] seconds of its clock. */
function receivedBetween(report: IperfReport, from: number, to: number): number {
  return report.intervals
    .filter(({ sum }) => sum.start >= from && sum.end <= to)
    .reduce((bytes, { sum }) => bytes + sum.bytes, 0);
}

describe('unmodified applications over braid vpn across faults in the lab', { skip }, () => {
  before(async () => {
    home = makeHome();
    lab = await Lab.up();
    vpn = await startBraidVpn(lab);
    sshd = await startLabSshd(lab, 'server', home.dir, `0.0.0.0:${SSHD_PORT}`);
    helpers.push(sshd.process);
    const iperf = lab.spawnIn('server', ['iperf3', '--server', '--port', String(IPERF_PORT)], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    helpers.push(iperf);
    // The download's file, random, hashed as written.
    const file = join(home.dir, 'large.bin');
    const fd = openSync(file, 'w');
    const hash = createHash('sha256');
    for (let written = 0; written < FILE_BYTES; written += 1 << 20) {
      const chunk = randomBytes(1 << 20);
      hash.update(chunk);
      writeSync(fd, chunk);
    }
    closeSync(fd);
    fileSha256 = hash.digest('hex');
    const http = new LabProcess(
      'http-files',
      lab.nodeIn('server', 'testing/agents/http-files.ts', ['0.0.0.0', file], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    helpers.push(http.child);
    httpPort = Number((await http.next('listening', 15_000)).port);
  });

  after(async () => {
    for (const child of helpers) child.kill('SIGTERM');
    await vpn?.stop();
    await lab?.down();
    home?.cleanup();
  });

  test('ssh, curl and iperf3 -u keep working through blackhole, roaming, server address loss and a 30 s outage', {
    timeout: 300_000,
  }, async () => {
    const echo = new SshEcho();
    const download = new ThrottledDownload();
    try {
      await echo.caughtUp('start', 15_000);
      await download.beyond(0, 'start', 15_000);

      step('ssh and curl running; blackhole of the active provider');
      // 1. The active provider silently blackholed both ways: ssh echoes and UDP arrives while
      // it still is.
      const blackholed = await activeProvider(lab, vpn);
      let mark = download.bytes;
      const blackholeUdp = await udpAcross(6, () =>
        whileFaulted(
          () => lab.blackhole(blackholed, 'both'),
          () => echo.caughtUp(`blackhole of ${blackholed}, still in place`, CATCH_UP_MS),
          () => lab.heal(),
        ),
      );
      assert.ok(
        receivedBetween(blackholeUdp, 2.5, 4.5) > 0,
        `iperf3 -u received nothing 1.5-3.5 s into the blackhole of ${blackholed}`,
      );
      await download.beyond(mark, 'blackhole', RECOVERY_MS);

      step('roaming');
      // 2. Roaming: the client's address on the active provider replaced by a new one. The
      // client is bound to both providers' first addresses, so it moves to the other provider.
      const roaming = await activeProvider(lab, vpn);
      const newAddress = roaming === 'a' ? '192.0.2.20' : '198.51.100.20';
      mark = download.bytes;
      const roamingUdp = await udpAcross(6, () =>
        whileFaulted(
          async () => {
            await lab.removeAddress(roaming, 'v4');
            await lab.addAddress(roaming, 'v4', newAddress);
          },
          () => echo.caughtUp(`roaming of ${roaming}`, CATCH_UP_MS),
          async () => {
            await lab.removeAddress(roaming, 'v4', newAddress);
            await lab.addAddress(roaming, 'v4');
          },
        ),
      );
      assert.ok(
        receivedBetween(roamingUdp, 2.5, 4.5) > 0,
        `iperf3 -u received nothing 1.5-3.5 s after ${roaming} roamed`,
      );
      await download.beyond(mark, 'roaming', RECOVERY_MS);

      step('server address removal');
      // 3. The server's address the client connected to is removed.
      mark = download.bytes;
      const serverUdp = await udpAcross(6, () =>
        whileFaulted(
          () => lab.removeAddress('s1', 'v4'),
          () => echo.caughtUp('server address removed', CATCH_UP_MS),
          () => lab.addAddress('s1', 'v4'),
        ),
      );
      assert.ok(
        receivedBetween(serverUdp, 2.5, 4.5) > 0,
        'iperf3 -u received nothing 1.5-3.5 s after the server address was removed',
      );
      await download.beyond(mark, 'server address removal', RECOVERY_MS);

      step('30 s outage');
      // 4. A 30 s total outage: both providers blackholed. The inner flows resume after it.
      mark = download.bytes;
      const outageSeconds = OUTAGE_MS / 1000;
      const outageUdp = await udpAcross(outageSeconds + 10, () =>
        whileFaulted(
          async () => {
            await lab.blackhole('a', 'both');
            await lab.blackhole('b', 'both');
          },
          () => sleep(OUTAGE_MS),
          () => lab.heal(),
        ),
      );
      assert.ok(
        receivedBetween(outageUdp, outageSeconds + 3, outageSeconds + 10) > 0,
        'iperf3 -u received nothing after the outage',
      );
      await echo.caughtUp('after the outage', RECOVERY_MS);
      await download.beyond(mark, 'after the outage', RECOVERY_MS);
      assert.ok(download.running, 'the download was still in flight when the last fault was over');

      step('faults over; finishing');
      // Both connections end cleanly, every byte intact.
      download.unthrottle();
      const [sshCode, curlCode] = await Promise.all([echo.finish(), download.exited]);
      assert.equal(sshCode, 0, `ssh exit code; stderr: ${echo.stderr}`);
      assert.deepEqual(
        echo.echoed,
        Array.from({ length: echo.sent }, (_, i) => `line ${i + 1}`),
        'every line echoed once, in order',
      );
      assert.equal(curlCode, 0, `curl exit code; stderr: ${download.stderr}`);
      assert.equal(download.bytes, FILE_BYTES);
      assert.equal(download.hash.digest('hex'), fileSha256, 'SHA-256 equal at both ends');
      console.log(
        `braid vpn (lab): ${echo.sent} ssh lines echoed, ${FILE_BYTES} bytes by curl, across 4 faults`,
      );
    } finally {
      echo.kill();
      download.kill();
    }
  });
});
