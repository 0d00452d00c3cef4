// braid as a systemd service, without systemd: the units in packaging/systemd pass
// `systemd-analyze verify`, and `braid serve` started exactly as the unit's ExecStart starts it,
// with a NOTIFY_SOCKET whose receiver is this test (an abstract socket, as systemd uses) and a
// WATCHDOG_USEC, says READY=1, pings WATCHDOG=1, wraps a SIGHUP in RELOADING=1/READY=1 (and
// reopens its renamed event log), answers /healthz 200 while serving and 503 while draining,
// and says STOPPING=1 on SIGTERM; `braid tunnel` run as its template unit's ExecStart says READY=1
// once it forwards.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { serviceNotifier } from '../../src/cli/observe/service-manager.js';
import type { Logger } from '../../src/cli/shared/log.js';
import { unixDatagramSender } from '../../src/endpoint/notify-socket.js';
import { COMMAND, Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const UNITS = new URL('../../packaging/systemd/', import.meta.url).pathname;
const BIN = new URL('../../bin/braid.js', import.meta.url).pathname;
const home = makeHome();
const python = spawnSync('python3', ['--version']).status === 0;
const sender = unixDatagramSender();
const noReceiver = !python ? 'python3 (the notification receiver) is not installed' : undefined;
const noSender = sender.error ? `cannot send to a unix datagram socket: ${sender.error}` : undefined;

before(async () => {
  const keygen = await runBraid(['keygen'], home.env);
  assert.equal(keygen.code, 0, keygen.stderr);
});
after(() => home.cleanup());

/** The service manager's side: binds `path` ('@name': abstract) and collects each datagram. */
class NotifyReceiver {
  readonly messages: string[] = [];
  readonly #child: ChildProcess;
  #waiters: Array<() => void> = [];

  constructor(readonly path: string) {
    const script = [
      'import json, socket, sys',
      'path = sys.argv[1]',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      "s.bind('\\0' + path[1:] if path.startswith('@') else path)",
      "print('bound', flush=True)",
      'while True:',
      '    print(json.dumps(s.recv(65536).decode()), flush=True)',
    ].join('\n');
    this.#child = spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      if (line === 'bound') this.messages.push('');
      else this.messages.push(JSON.parse(line) as string);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  async bound(): Promise<void> {
    await this.waitFor((m) => m === '');
  }

  /** Resolves with the first message (index ≥ from) that `match` accepts. */
  waitFor(match: (message: string) => boolean, from = 0, timeoutMs = 20_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no such notification; got ${JSON.stringify(this.messages)}`)),
        timeoutMs,
      );
      const check = (): void => {
        const found = this.messages.slice(from).find(match);
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  close(): void {
    this.#child.kill();
  }
}

const fields = (message: string): string[] => message.split('\n');

/** The ExecStart line of a unit, split into words. */
function execStart(unit: string): string[] {
  const line = readFileSync(join(UNITS, unit), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ExecStart='));
  assert.ok(line, `${unit} has an ExecStart`);
  return line.slice('ExecStart='.length).split(/\s+/);
}

test('the units pass systemd-analyze verify', {
  skip:
    spawnSync('systemd-analyze', ['--version']).status === 0 ? undefined : 'systemd-analyze is not installed',
}, () => {
  // verify wants ExecStart's binary to exist: point it at this checkout's bin/braid.js.
  const dir = join(home.dir, 'units');
  mkdirSync(dir, { recursive: true });
  for (const [unit, as] of [
    ['braid-serve.service', 'braid-serve.service'],
    ['braid-tunnel@.service', 'braid-tunnel@.service'],
    ['braid-tunnel@.service', 'braid-tunnel@office.service'],
  ] as const) {
    const text = readFileSync(join(UNITS, unit), 'utf8').replaceAll('/usr/bin/braid', BIN);
    writeFileSync(join(dir, as), text);
  }
  const result = spawnSync(
    'systemd-analyze',
    ['verify', join(dir, 'braid-serve.service'), join(dir, 'braid-tunnel@office.service')],
    { encoding: 'utf8' },
  );
  assert.equal(result.status, 0, result.stderr);
  // Unknown or misspelt directives are only warnings: none may be printed.
  assert.equal(`${result.stdout}${result.stderr}`.trim(), '');
  for (const unit of ['braid-serve.service', 'braid-tunnel@.service']) {
    const text = readFileSync(join(UNITS, unit), 'utf8');
    for (const directive of [
      'Type=notify',
      'WatchdogSec=',
      'ExecReload=/bin/kill -HUP $MAINPID',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'CapabilityBoundingSet=',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
      'StateDirectory=braid',
      'RuntimeDirectory=braid',
    ]) {
      assert.ok(text.includes(`\n${directive}`), `${unit}: ${directive}`);
    }
  }
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    files: string[];
  };
  assert.ok(manifest.files.includes('packaging/systemd'), 'the units are in the package');
});

test('braid serve, run as its unit runs it, speaks sd_notify and /healthz through reload and drain', {
  skip: noReceiver ?? noSender,
}, async () => {
  const socketName = `@braid-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const receiver = new NotifyReceiver(socketName);
  const events = join(home.dir, 'events.jsonl');
  const config = join(home.dir, 'serve.conf');
  writeFileSync(
    config,
    `listen 127.0.0.1:0\nallow-any\necho\nmetrics 127.0.0.1:0\nevents ${events}\nno-control\n`,
  );
  const [binary, ...args] = execStart('braid-serve.service');
  assert.equal(binary, '/usr/bin/braid');
  const argv = args.map((word) => (word === '/etc/braid/serve.conf' ? config : word));
  assert.deepEqual(argv, ['serve', '--config', config]);
  await receiver.bound();
  const daemon = new Daemon(argv, { ...home.env, NOTIFY_SOCKET: socketName, WATCHDOG_USEC: '400000' });
  let client: ChildProcess | undefined;
  try {
    const [, port] = await daemon.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    const [, key] = await daemon.waitFor(/server key (\S+)/);
    const [, metricsUrl] = await daemon.waitFor(/metrics on (http:\/\/\S+)\/metrics/);
    const url = `braid://${key}@127.0.0.1:${port}`;

    const ready = await receiver.waitFor((m) => fields(m).includes('READY=1'));
    assert.match(ready, /STATUS=serving on 127\.0\.0\.1:\d+; 0 session\(s\)/);
    // Pings at half of WATCHDOG_USEC (200 ms): a few arrive within a second or two.
    const readyAt = receiver.messages.indexOf(ready);
    await receiver.waitFor((m) => fields(m).includes('WATCHDOG=1'), readyAt);
    const firstPing = receiver.messages.findIndex((m, i) => i > readyAt && m.startsWith('WATCHDOG=1'));
    await receiver.waitFor((m) => fields(m).includes('WATCHDOG=1'), firstPing + 1);
    const healthy = await fetch(`${metricsUrl}/healthz`);
    assert.equal(healthy.status, 200);
    assert.equal(await healthy.text(), 'serving\n');

    // logrotate renames the file, then the reload: the new file gets the records.
    renameSync(events, `${events}.1`);
    const beforeReload = receiver.messages.length;
    daemon.child.kill('SIGHUP');
    const reloading = await receiver.waitFor((m) => fields(m).includes('RELOADING=1'), beforeReload);
    assert.match(reloading, /MONOTONIC_USEC=\d+/);
    const reloadingAt = receiver.messages.indexOf(reloading, beforeReload);
    await receiver.waitFor((m) => fields(m).includes('READY=1'), reloadingAt + 1);
    await daemon.waitFor(/SIGHUP: reopened the event log/);
    await daemon.waitFor(/SIGHUP: reloaded/);
    assert.ok(existsSync(events), 'a new event log at the configured path');
    const echoed = await runBraid(['cat', url], home.env, { input: 'after rotation' });
    assert.equal(echoed.code, 0, echoed.stderr);
    assert.match(readFileSync(events, 'utf8'), /"braid:session:/);
    assert.match(readFileSync(`${events}.1`, 'utf8'), /braid:process:started/);

    // A client that never answers keeps the drain going (2 s): /healthz says 503 meanwhile.
    client = spawn(process.execPath, [...COMMAND, 'cat', url], {
      env: home.env,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    await daemon.waitFor(/session from .*\n(.|\n)*session from /);
    client.kill('SIGSTOP');
    const beforeStop = receiver.messages.length;
    daemon.child.kill('SIGTERM');
    const stopping = await receiver.waitFor((m) => fields(m).includes('STOPPING=1'), beforeStop);
    assert.match(stopping, /STATUS=SIGTERM: closing 1 session/);
    const draining = await fetch(`${metricsUrl}/healthz`);
    assert.equal(draining.status, 503);
    assert.equal(await draining.text(), 'draining\n');
    assert.equal(await daemon.exited(), 0);
  } finally {
    client?.kill('SIGKILL');
    await daemon.stop();
    receiver.close();
  }
});

test('braid tunnel, run as its template unit runs it, says READY=1 once forwarding and STOPPING=1', {
  skip: noReceiver ?? noSender,
}, async () => {
  const server = await startServer(home, ['--allow-any', '--echo', '--no-control']);
  const socketName = `@braid-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const receiver = new NotifyReceiver(socketName);
  const config = join(home.dir, 'tunnel-office.conf');
  writeFileSync(config, `server ${server.url}\nlocal 127.0.0.1:0:echo\nno-control\n`);
  const [binary, ...args] = execStart('braid-tunnel@.service');
  assert.equal(binary, '/usr/bin/braid');
  // systemd expands %i to the instance name: braid-tunnel@office.
  const argv = args.map((word) => word.replace('%i', 'office').replace('/etc/braid/', `${home.dir}/`));
  assert.deepEqual(argv, ['tunnel', '--config', config]);
  await receiver.bound();
  const tunnel = new Daemon(argv, { ...home.env, NOTIFY_SOCKET: socketName, WATCHDOG_USEC: '400000' });
  try {
    await tunnel.waitFor(/ready/);
    const ready = await receiver.waitFor((m) => fields(m).includes('READY=1'));
    assert.match(ready, /STATUS=forwarding via /);
    const readyAt = receiver.messages.indexOf(ready);
    await receiver.waitFor((m) => fields(m).includes('WATCHDOG=1'), readyAt);
    tunnel.child.kill('SIGTERM');
    await receiver.waitFor((m) => fields(m).includes('STOPPING=1'), readyAt);
    assert.equal(await tunnel.exited(), 0);
  } finally {
    await tunnel.stop();
    await server.daemon.stop();
    receiver.close();
  }
});

function recordingLogger(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log = Object.assign((_line: string) => undefined, {
    format: 'text' as const,
    debug: () => undefined,
    info: () => undefined,
    warn: (line: string) => warnings.push(line),
    error: () => undefined,
  });
  return { log: log as unknown as Logger, warnings };
}

test('without NOTIFY_SOCKET nothing is sent; without a way to send, one warning and no pretence', () => {
  let sent = 0;
  const counting = { send: () => void sent++ };
  const quiet = recordingLogger();
  const none = serviceNotifier({}, quiet.log, () => 'x', counting);
  none.ready('serving');
  none.stopping('bye');
  assert.equal(sent, 0);
  assert.deepEqual(quiet.warnings, []);

  const missing = recordingLogger();
  const unable = serviceNotifier({ NOTIFY_SOCKET: '@nobody' }, missing.log, () => 'x', {
    error: 'braid_udp addon not built (npm run build:native)',
  });
  unable.ready('serving');
  unable.reloading('reloading');
  unable.stopping('bye');
  assert.equal(missing.warnings.length, 1);
  assert.match(
    missing.warnings[0]!,
    /NOTIFY_SOCKET is set but .*addon not built.*neither readiness nor watchdog/,
  );

  // A manager that went away: said once, however often the pings fail.
  const failing = recordingLogger();
  const broken = serviceNotifier({ NOTIFY_SOCKET: '@gone' }, failing.log, () => 'x', {
    send: () => {
      throw new Error('sendto failed: Connection refused');
    },
  });
  broken.ready('a');
  broken.status('b');
  broken.stopping('c');
  assert.equal(failing.warnings.length, 1);
  assert.match(failing.warnings[0]!, /cannot notify the service manager at @gone: sendto failed/);
});

test('the native sender reaches a filesystem socket and reports a missing one', {
  skip: noReceiver ?? noSender,
}, async () => {
  const path = join(home.dir, 'notify.sock');
  const receiver = new NotifyReceiver(path);
  try {
    await receiver.bound();
    sender.send!(path, Buffer.from('READY=1\nSTATUS=hello'));
    assert.equal(await receiver.waitFor((m) => m !== ''), 'READY=1\nSTATUS=hello');
  } finally {
    receiver.close();
  }
  assert.throws(() => sender.send!(join(home.dir, 'absent.sock'), Buffer.from('READY=1')), /sendto failed/);
  assert.throws(() => sender.send!(`/${'x'.repeat(200)}`, Buffer.from('READY=1')), RangeError);
});
