/**
 * Issue 12 item 5: `--control DIR/x.sock` must not chmod a directory Braid did not create
 * (as root, a shared directory lost its mode and sticky bit), and must refuse one that other
 * users could write to, saying what to fix.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { queryControl, startControlServer } from '../../src/cli/observe/control.js';

const root = mkdtempSync(join(tmpdir(), 'braid-control-'));
after(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string): number => statSync(path).mode & 0o7777;

function existingDir(name: string, permissions: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  chmodSync(dir, permissions);
  return dir;
}

test('a shared sticky directory (1777) is refused with the fix, and keeps its mode', async () => {
  const dir = existingDir('shared', 0o1777);
  await assert.rejects(
    startControlServer(join(dir, 'serve.sock'), () => ({})),
    /bad permissions 1777 for directory .*shared: other users could replace the control socket\. Fix with: chmod go-w .*shared/,
  );
  assert.equal(mode(dir), 0o1777);
});

test('a group-writable directory is refused and keeps its mode', async () => {
  const dir = existingDir('group', 0o770);
  await assert.rejects(
    startControlServer(join(dir, 'serve.sock'), () => ({})),
    /bad permissions 0770/,
  );
  assert.equal(mode(dir), 0o770);
});

test('an existing directory others may only read is used as it is, not chmodded', async () => {
  const dir = existingDir('readable', 0o755);
  const control = await startControlServer(join(dir, 'serve.sock'), () => ({ ok: true }));
  try {
    assert.equal(mode(dir), 0o755);
    assert.equal(mode(control.path), 0o600);
    assert.deepEqual(await queryControl(control.path, { method: 'status' }), { ok: true });
  } finally {
    control.close();
  }
});

test('a directory Braid creates is 0700', async () => {
  const dir = join(root, 'new', 'nested');
  const control = await startControlServer(join(dir, 'serve.sock'), () => ({}));
  try {
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(join(root, 'new')), 0o700);
  } finally {
    control.close();
  }
});
