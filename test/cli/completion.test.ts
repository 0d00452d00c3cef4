// `braid completion bash|zsh`: the bash script is printed by the real command, sourced in a
// real bash and its completion function called as bash would, for every command; the zsh
// script is checked to name every command and flag (and parsed by zsh where it is installed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { COMMANDS } from '../../src/cli/main.js';
import { makeHome, runBraid } from '../../testing/harness/braid-command.js';

const home = makeHome();
const script = join(home.dir, 'braid.bash');
after(() => home.cleanup());

before(async () => {
  const result = await runBraid(['completion', 'bash'], home.env);
  assert.equal(result.code, 0, result.stderr);
  writeFileSync(script, result.stdout);
});

/** What bash offers for the command line `words`, the cursor on the last word. */
function complete(words: string[], cwd = home.dir): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const result = spawnSync(
    'bash',
    [
      '-c',
      `source '${script}' && COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length - 1} && _braid && ` +
        `printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { cwd, encoding: 'utf8' },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '');
  return result.stdout.split('\n').filter((line) => line !== '');
}

const sorted = (words: Iterable<string>): string[] => [...words].sort();

test('bash: the first word completes to the commands', () => {
  assert.deepEqual(sorted(complete(['braid', 'se'])), ['send', 'serve']);
  assert.deepEqual(
    sorted(complete(['braid', ''])),
    sorted([...Object.keys(COMMANDS), 'help', 'version', '--help', '--version']),
  );
  assert.deepEqual(sorted(complete(['braid', 'help', 'st'])), ['status', 'stdio']);
  assert.deepEqual(complete(['braid', 'completion', '']), ['bash', 'zsh']);
});

test("bash: each command's flags are exactly those its parser accepts", () => {
  for (const [name, command] of Object.entries(COMMANDS)) {
    const flags = name === 'receive' ? { ...COMMANDS.serve!.flags, ...command.flags } : command.flags;
    const expected = ['--help', '-h', '--log-level', '--log-format'];
    for (const [flag, spec] of Object.entries(flags)) {
      expected.push(`--${flag}`);
      if (spec.short) expected.push(`-${spec.short}`);
    }
    assert.deepEqual(sorted(complete(['braid', name, '-'])), sorted(expected), `braid ${name} -<TAB>`);
  }
  assert.deepEqual(complete(['braid', 'ping', '--js']), ['--json']);
});

test('bash: values: file names after a flag that takes one, the log levels after --log-level', () => {
  const dir = join(home.dir, 'files');
  mkdirSync(dir);
  writeFileSync(join(dir, 'forward.conf'), '');
  writeFileSync(join(dir, 'other'), '');
  assert.deepEqual(complete(['braid', 'tunnel', '--config', 'forw'], dir), ['forward.conf']);
  assert.deepEqual(complete(['braid', 'send', 'oth'], dir), ['other'], 'positionals complete to files');
  assert.deepEqual(complete(['braid', 'serve', '--log-level', 'w'], dir), ['warn']);
  assert.deepEqual(complete(['braid', 'status', '--log-format', ''], dir), ['json', 'text']);
  // A flag without a value is followed by flags again, not by its value.
  assert.deepEqual(complete(['braid', 'keygen', '--force', '--k'], dir), ['--key']);
});

test('zsh: the script names every command and every flag', async () => {
  const result = await runBraid(['completion', 'zsh'], home.env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^#compdef braid\n/);
  for (const [name, command] of Object.entries(COMMANDS)) {
    assert.match(result.stdout, new RegExp(`'${name}:`), `${name} is described`);
    const line = new RegExp(`^ {4}${name}\\) (.*)$`, 'm').exec(result.stdout)?.[1] ?? '';
    if (name === 'completion') continue;
    for (const [flag, spec] of Object.entries(command.flags)) {
      assert.ok(line.includes(`--${flag}`), `braid ${name} --${flag} in zsh`);
      if (spec.short) assert.ok(line.includes(`{-${spec.short},--${flag}}`), `-${spec.short}`);
    }
  }
  const zsh = spawnSync('zsh', ['-n'], { input: result.stdout, encoding: 'utf8' });
  if (zsh.error === undefined) assert.equal(zsh.status, 0, zsh.stderr);
});

test('braid completion without a known shell is a usage error', async () => {
  const result = await runBraid(['completion', 'fish'], home.env);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /no completion for 'fish': give bash or zsh/);
});
