/**
 * One name table for the errno values the addons report (src/native/errno.ts), and the one
 * shape of an addon's thrown system error (native/napi_errno.h): errno (negative) and syscall,
 * the code named on the JS side.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { test } from 'node:test';
import { loadAddon } from '../../src/native/addons.js';
import { errnoCode, withErrnoCode } from '../../src/native/errno.js';

test('errnoCode names an errno of either sign, as node:dgram would', () => {
  assert.equal(errnoCode(constants.errno.EADDRINUSE), 'EADDRINUSE');
  assert.equal(errnoCode(-constants.errno.ENETUNREACH), 'ENETUNREACH');
  // Shared values get libuv's name, the one the dgram back-end reports.
  assert.equal(errnoCode(constants.errno.EAGAIN), 'EAGAIN');
  assert.equal(errnoCode(constants.errno.ENOTSUP), 'ENOTSUP');
  assert.equal(errnoCode(100_000), 'ERRNO_100000');
});

test('withErrnoCode fills in the code of an errno error and leaves anything else alone', () => {
  const error = Object.assign(new Error('socket failed: Too many open files'), {
    errno: -constants.errno.EMFILE,
    syscall: 'socket',
  });
  assert.equal(withErrnoCode(error), error);
  assert.equal((error as NodeJS.ErrnoException).code, 'EMFILE');
  const named = Object.assign(new Error('x'), { errno: -1, code: 'EPERM' });
  assert.equal((withErrnoCode(named) as NodeJS.ErrnoException).code, 'EPERM');
  const plain = new RangeError('bad arguments');
  assert.equal((withErrnoCode(plain) as NodeJS.ErrnoException).code, undefined);
  assert.equal(withErrnoCode('not an error'), 'not an error');
});

const skip =
  (process.platform !== 'linux' || process.env.BRAID_NATIVE_UDP === '0') &&
  'the UDP addon is Linux-only (or BRAID_NATIVE_UDP=0)';

interface UdpAddon {
  NativeUdpSocket: new (
    family: 4 | 6,
    arena: Uint8Array,
    meta: Uint8Array,
    slotSize: number,
    onReceive: () => void,
    onDrain: () => void,
  ) => { bind(host: string, port: number, ipv6Only: boolean): unknown; close(): void };
}

test('an addon system error carries errno and syscall; JS names its code', { skip }, () => {
  const { module, error } = loadAddon<UdpAddon>('braid_udp');
  assert.ok(module, error);
  const noop = (): void => {};
  const socket = new module.NativeUdpSocket(
    4,
    new Uint8Array(65_536),
    new Uint8Array(64),
    65_536,
    noop,
    noop,
  );
  try {
    assert.throws(
      () => socket.bind('not an address', 0, false),
      (thrown: NodeJS.ErrnoException) => {
        assert.equal(thrown.errno, -constants.errno.EINVAL);
        assert.equal(thrown.syscall, 'bind');
        assert.equal(thrown.code, undefined);
        assert.match(thrown.message, /^bind failed: /);
        assert.equal((withErrnoCode(thrown) as NodeJS.ErrnoException).code, 'EINVAL');
        return true;
      },
    );
  } finally {
    socket.close();
  }
});
