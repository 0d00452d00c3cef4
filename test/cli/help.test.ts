import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { makeHome, runBraid } from './helpers.js';

const home = makeHome();
after(() => home.cleanup());

const COMMANDS = [
  'keygen',
  'serve',
  'tunnel',
  'socks',
  'cat',
  'send',
  'receive',
  'status',
  'ping',
  'report',
  'demo',
];

test('braid --help lists every command, the global log options and the exit codes', async () => {
  const result = await runBraid(['--help'], home.env);
  assert.equal(result.code, 0);
  for (const command of COMMANDS) assert.match(result.stdout, new RegExp(`^  ${command}\\b`, 'm'));
  assert.match(result.stdout, /--log-level LEVEL/);
  assert.match(result.stdout, /exit codes:/);
});

test('every subcommand answers --help with its usage, and help COMMAND shows the same', async () => {
  for (const command of COMMANDS) {
    const result = await runBraid([command, '--help'], home.env);
    assert.equal(result.code, 0, `${command}: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^usage: braid ${command}\\b`), command);
  }
  const viaHelp = await runBraid(['help', 'send'], home.env);
  assert.match(viaHelp.stdout, /^usage: braid send FILE SERVER/);
  for (const [command, flag] of [
    ['serve', '--metrics HOST:PORT'],
    ['serve', '--allow-reverse'],
    ['serve', '--receive-dir DIR'],
    ['tunnel', '-R \\[BIND:\\]PORT:HOST:PORT'],
    ['tunnel', '--events FILE'],
    ['socks', '--control PATH'],
  ] as const) {
    const result = await runBraid([command, '--help'], home.env);
    assert.match(result.stdout, new RegExp(flag), `${command} documents ${flag}`);
  }
});
