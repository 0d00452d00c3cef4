// Where control sockets live, and that braid status finds a service's and root's processes
// besides the caller's own (issue 17): a real braid serve started the way a systemd unit with
// RuntimeDirectory=braid starts it, found by another user's braid status through the
// system-wide directory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { controlSearchDirs, defaultControlDir, systemControlDir } from '../../src/cli/observe/control.js';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

test('the default control directory: a service, a user, and root outside a login session', () => {
  assert.equal(systemControlDir({}), '/run/braid');
  assert.equal(defaultControlDir({ RUNTIME_DIRECTORY: '/run/braid' }, 998), '/run/braid');
  assert.equal(defaultControlDir({ RUNTIME_DIRECTORY: '/run/braid:/run/other' }, 998), '/run/braid');
  assert.equal(defaultControlDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/braid');
  assert.equal(defaultControlDir({ XDG_RUNTIME_DIR: '/run/user/0' }, 0), '/run/user/0/braid');
  assert.equal(defaultControlDir({ HOME: '/root' }, 0), '/run/braid');
  assert.equal(defaultControlDir({ XDG_CONFIG_HOME: '/home/u/.config' }, 1000), '/home/u/.config/braid/run');
  assert.deepEqual(controlSearchDirs({ XDG_RUNTIME_DIR: '/run/user/1000' }), [
    '/run/user/1000/braid',
    '/run/braid',
  ]);
});

const NOBODY = 65534;
const canDropRoot =
  process.getuid?.() === 0 && spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;

test("braid status finds a service's control socket in the system-wide directory", async () => {
  const serviceHome = makeHome();
  const operatorHome = makeHome();
  const systemDir = join(serviceHome.dir, 'system-run');
  try {
    await runBraid(['keygen'], serviceHome.env);
    // As systemd runs a unit with RuntimeDirectory=braid: no login session, RUNTIME_DIRECTORY set.
    const serviceEnv: NodeJS.ProcessEnv = { ...serviceHome.env, RUNTIME_DIRECTORY: systemDir };
    delete serviceEnv.XDG_RUNTIME_DIR;
    mkdirSync(systemDir, { mode: 0o755 });
    const server = await startServer({ ...serviceHome, env: serviceEnv }, ['--allow-any']);
    try {
      const [, socket] = (await server.daemon.waitFor(/control socket (\S+)/)) as [string, string];
      assert.equal(socket, join(systemDir, `serve-${server.daemon.child.pid}.sock`));

      // Another user's status: its own directory is empty, the system-wide one holds the service.
      const operatorEnv = { ...operatorHome.env, BRAID_SYSTEM_CONTROL_DIR: systemDir };
      const json = await runBraid(['status', '--json'], operatorEnv);
      assert.equal(json.code, 0, json.stderr);
      const found = JSON.parse(json.stdout) as Array<{ command: string; pid: number; control: string }>;
      assert.deepEqual(
        found.map((p) => [p.command, p.pid, p.control]),
        [['serve', server.daemon.child.pid, socket]],
      );

      if (canDropRoot) {
        // An ordinary user may list the directory but not ask the owner-only socket: told so.
        chmodSync(serviceHome.dir, 0o755);
        const nobodyDir = join(serviceHome.dir, 'nobody'); // missing: nothing of its own runs
        const denied = await runBraid(
          ['status'],
          {
            ...operatorEnv,
            HOME: nobodyDir,
            XDG_CONFIG_HOME: nobodyDir,
            XDG_RUNTIME_DIR: join(nobodyDir, 'run'),
          },
          { wrapper: ['setpriv', '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups'] },
        );
        assert.equal(denied.code, 1, denied.stderr);
        assert.match(denied.stdout, /no running braid process answers/);
        assert.ok(
          denied.stderr.includes(
            `not allowed to ask ${socket} (another user's); run braid status as that user or root`,
          ),
          denied.stderr,
        );
      }
    } finally {
      await server.daemon.stop();
    }
    const none = await runBraid(['status'], { ...operatorHome.env, BRAID_SYSTEM_CONTROL_DIR: systemDir });
    assert.equal(none.code, 1);
    assert.match(none.stdout, new RegExp(`no running braid process answers in \\S+ or ${systemDir}`));
  } finally {
    serviceHome.cleanup();
    operatorHome.cleanup();
  }
});
