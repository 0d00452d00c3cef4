// Config files (--config FILE, one option per line as the flag name) for every command that
// takes them, with real processes: every option is read from the file (serve's observability
// options were once ignored there), the command line replaces the file's values, and an
// unknown key is a usage error naming the file and line.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createTcpServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon, type Home, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
let server: Awaited<ReturnType<typeof startServer>>;
let echoTarget: string;
const echo = createTcpServer((socket) => socket.pipe(socket));

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoTarget = `127.0.0.1:${(echo.address() as AddressInfo).port}`;
  const config = join(serverHome.dir, 'serve.conf');
  writeFileSync(config, `allow-any\necho\nallow echo=${echoTarget}\nno-control\n`);
  server = await startServer(serverHome, ['--config', config]);
});

after(async () => {
  await server?.daemon.stop();
  echo.close();
  serverHome.cleanup();
  clientHome.cleanup();
});

function writeConfig(home: Home, name: string, text: string): string {
  const path = join(home.dir, name);
  writeFileSync(path, text);
  return path;
}

test('serve reads metrics, events and control from its config file', async () => {
  const home = makeHome();
  try {
    await runBraid(['keygen'], home.env);
    const events = join(home.dir, 'events.jsonl');
    const control = join(home.dir, 'serve.sock');
    const config = writeConfig(
      home,
      'serve.conf',
      `# a service's whole configuration\nlisten 127.0.0.1:0\nallow-any\nmetrics 127.0.0.1:0\nevents ${events}\ncontrol ${control}\n`,
    );
    const daemon = new Daemon(['serve', '--config', config], home.env);
    try {
      const [, url] = await daemon.waitFor(/metrics on (http:\/\/\S+\/metrics)/);
      await daemon.waitFor(/ready/);
      assert.match(daemon.stderr, new RegExp(`event log ${events}`));
      assert.match(daemon.stderr, new RegExp(`control socket ${control}`));
      const metrics = await fetch(url!);
      assert.equal(metrics.status, 200);
      assert.ok(existsSync(control), 'the control socket from the file');
      assert.match(readFileSync(events, 'utf8'), /braid:process:started/);
    } finally {
      assert.equal(await daemon.stop(), 0);
    }

    // no-control in the file: no control socket at all.
    const quiet = writeConfig(home, 'quiet.conf', 'listen 127.0.0.1:0\nallow-any\nno-control\n');
    const second = new Daemon(['serve', '--config', quiet], home.env);
    try {
      await second.waitFor(/ready/);
      assert.doesNotMatch(second.stderr, /control socket/);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  } finally {
    home.cleanup();
  }
});

test('tunnel takes its server, forwards and client options from --config; a flag replaces the file', async () => {
  const config = writeConfig(
    clientHome,
    'tunnel.conf',
    `server ${server.url}\nlocal 127.0.0.1:0:echo\nconnect-timeout 3000\nno-control\n`,
  );
  const tunnel = new Daemon(['tunnel', '--config', config], clientHome.env);
  try {
    const [, port] = await tunnel.waitFor(/forwarding 127\.0\.0\.1:(\d+) → echo/);
    await tunnel.waitFor(/ready/);
    const socket = tcpConnect(Number(port), '127.0.0.1');
    socket.end('through the tunnel');
    let received = '';
    for await (const chunk of socket) received += chunk;
    assert.equal(received, 'through the tunnel');
  } finally {
    assert.equal(await tunnel.stop(), 0);
  }
  // The command line's -L replaces the file's: only the flag's forward is set up.
  const replaced = new Daemon(['tunnel', '--config', config, '-L', '127.0.0.1:0:elsewhere'], clientHome.env);
  try {
    await replaced.waitFor(/ready/);
    assert.match(replaced.stderr, /→ elsewhere via/);
    assert.doesNotMatch(replaced.stderr, /→ echo via/);
  } finally {
    await replaced.stop();
  }
});

test('socks takes --listen and the server from --config', async () => {
  const config = writeConfig(
    clientHome,
    'socks.conf',
    `server ${server.url}\nlisten 127.0.0.1:0\nmax-connections 4\nno-control\n`,
  );
  const socks = new Daemon(['socks', '--config', config], clientHome.env);
  try {
    await socks.waitFor(/socks5 proxy on 127\.0\.0\.1:\d+ via/);
    await socks.waitFor(/ready/);
  } finally {
    assert.equal(await socks.stop(), 0);
  }
});

test('cat takes the server and --to from --config', async () => {
  const config = writeConfig(clientHome, 'cat.conf', `server ${server.url}\nto echo\n`);
  const result = await runBraid(['cat', '--config', config], clientHome.env, { input: 'over cat' });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'over cat');
});

test('an unknown or malformed key is a usage error with file:line, for every command', async () => {
  const cases: Array<{ argv: string[]; text: string; message: RegExp }> = [
    {
      argv: ['serve'],
      text: 'allow-any\n\n# fine so far\nlisten-on 127.0.0.1:0\n',
      message: /serve\.bad:4: unknown option 'listen-on'/,
    },
    { argv: ['serve'], text: 'echo yes\n', message: /:1: 'echo' takes no value/ },
    {
      argv: ['serve'],
      text: 'config other.conf\n',
      message: /:1: unknown option 'config' \(config files do not nest\)/,
    },
    {
      argv: ['tunnel'],
      text: `server ${server.url}\nL 8080:web\n`,
      message: /:2: unknown option 'L' \(write the long name, 'local'\)/,
    },
    { argv: ['tunnel'], text: 'local\n', message: /:1: 'local' needs a value/ },
    {
      argv: ['socks'],
      text: 'listen 127.0.0.1:0\nlisten 127.0.0.1:1\n',
      message: /:2: 'listen' given twice/,
    },
    { argv: ['cat'], text: 'server a\nserver b\n', message: /:2: 'server' given twice/ },
    { argv: ['cat'], text: 'too much\n', message: /:1: unknown option 'too'/ },
  ];
  for (const { argv, text, message } of cases) {
    const path = writeConfig(clientHome, 'serve.bad', text);
    const result = await runBraid([...argv, '--config', path], clientHome.env);
    assert.equal(result.code, 2, `${argv[0]} ${text}: ${result.stderr}`);
    assert.match(result.stderr, message, argv[0]);
    assert.ok(result.stderr.includes(path), 'names the file');
  }
  const missing = await runBraid(['tunnel', '--config', join(clientHome.dir, 'absent.conf')], clientHome.env);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /cannot read config file .*absent\.conf/);
});

test('a config file sets the log options; the command line and then the file beat the environment', async () => {
  // The home's environment says BRAID_LOG_FORMAT=text; the file says json.
  const config = writeConfig(
    serverHome,
    'logging.conf',
    'listen 127.0.0.1:0\nallow-any\nno-control\nlog-format json\n',
  );
  const json = new Daemon(['serve', '--config', config], serverHome.env);
  try {
    await json.waitFor(/ready/);
    const lines = json.stderr.trim().split('\n');
    for (const line of lines) assert.equal(JSON.parse(line).command, 'serve', line);
  } finally {
    assert.equal(await json.stop(), 0);
  }

  // The command line replaces the file's value.
  const text = new Daemon(['serve', '--config', config, '--log-format', 'text'], serverHome.env);
  try {
    await text.waitFor(/ready/);
    assert.doesNotMatch(text.stderr, /^\{/m);
  } finally {
    assert.equal(await text.stop(), 0);
  }

  const bad = writeConfig(serverHome, 'loud.conf', 'allow-any\nlog-level loud\n');
  const result = await runBraid(['serve', '--config', bad], serverHome.env);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /loud\.conf:2: log level 'loud' is not one of/);
  const twice = writeConfig(serverHome, 'twice.conf', 'log-level warn\nlog-level info\n');
  const repeated = await runBraid(['serve', '--config', twice], serverHome.env);
  assert.equal(repeated.code, 2, repeated.stderr);
  assert.match(repeated.stderr, /twice\.conf:2: 'log-level' given twice/);
});
