// braid(1): generated from the help texts, valid roff (groff reports no warning), and what
// `man -l` shows holds every line of `braid --help` and of every `braid COMMAND --help`.
// The package ships it: build-dist writes dist/man/braid.1, package.json installs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { COMMANDS, manPageText, USAGE } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'braid-man-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const page = join(dir, 'braid.1');
writeFileSync(page, manPageText());

const has = (tool: string): boolean =>
  spawnSync(tool, ['--version'], { stdio: 'ignore' }).error === undefined;

test('groff reads the man page without a warning', {
  skip: !has('groff') && 'groff is not installed',
}, () => {
  const result = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', page], { encoding: 'utf8' });
  assert.equal(result.status, 0);
  assert.equal(result.stderr, '', 'no warnings');
});

test('man -l shows every line of every help text', { skip: !has('man') && 'man is not installed' }, () => {
  const result = spawnSync('man', ['-l', page], {
    encoding: 'utf8',
    // Wide enough that no help line is wrapped; plain text, no pager.
    env: { ...process.env, MANWIDTH: '250', MANPAGER: 'cat', PAGER: 'cat', MAN_KEEP_FORMATTING: '' },
  });
  assert.equal(result.status, 0, result.stderr);
  // Bold and underline by overstrike, in case the formatter adds them.
  const shown = new Set(
    result.stdout
      .replace(new RegExp(`.${String.fromCharCode(8)}`, 'g'), '')
      .split('\n')
      .map((line) => line.trim()),
  );
  assert.match(result.stdout, /^BRAID\(1\)/);
  for (const [name, text] of [['--help', USAGE], ...Object.entries(COMMANDS).map(([n, c]) => [n, c.usage])]) {
    for (const line of text!.split('\n')) {
      if (line.trim() === '') continue;
      assert.ok(shown.has(line.trim()), `braid ${name}: ${JSON.stringify(line)} is in the man page`);
    }
  }
});

test('the package installs the man page that build-dist writes', () => {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    man: string[];
    files: string[];
  };
  assert.deepEqual(manifest.man, ['./dist/man/braid.1']);
  assert.ok(manifest.files.includes('dist/man/braid.1'), 'shipped');
  const build = readFileSync(new URL('../../scripts/build-dist.mjs', import.meta.url), 'utf8');
  assert.match(build, /writeFileSync\(resolve\(root, 'dist\/man\/braid\.1'\), manPageText\(\)\)/);
});
