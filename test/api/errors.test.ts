import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BraidError,
  ConnectTimeoutError,
  errorFromClose,
  IdleTimeoutError,
  InvalidArgumentError,
  PeerStateLostError,
  ProtocolError,
  SessionClosedError,
  SessionExpiredError,
  UnauthorizedKeyError,
} from '../../src/api/errors.js';
import { checkTransport, parseTarget } from '../../src/api/options.js';
import { TransportError } from '../../src/wire/errors.js';

test('errorFromClose: clean closes give no error; each failure maps to its class and code', () => {
  assert.equal(errorFromClose({ source: 'local', code: 0, application: true, reason: '' }), undefined);
  assert.equal(errorFromClose({ source: 'peer', code: 0, application: false, reason: '' }), undefined);

  const app = errorFromClose({ source: 'peer', code: 42, application: true, reason: 'bye' });
  assert.ok(app instanceof SessionClosedError && app instanceof BraidError);
  assert.equal(app.code, 'BRAID_ERR_SESSION_CLOSED');
  assert.equal(app.applicationCode, 42);
  assert.equal(app.transportCode, undefined);
  assert.equal(app.reason, 'bye');

  const idle = errorFromClose({ source: 'idle-timeout', code: 0, application: false, reason: '' });
  assert.ok(idle instanceof IdleTimeoutError);
  const handshake = errorFromClose({ source: 'handshake-timeout', code: 0, application: false, reason: '' });
  assert.ok(handshake instanceof ConnectTimeoutError);

  const refused = errorFromClose({
    source: 'peer',
    code: TransportError.UNAUTHORIZED_KEY,
    application: false,
    reason: 'client key not authorized',
  });
  assert.ok(refused instanceof UnauthorizedKeyError);
  assert.equal(refused.code, 'BRAID_ERR_UNAUTHORIZED_KEY');

  const protocol = errorFromClose({
    source: 'protocol',
    code: TransportError.FLOW_CONTROL_ERROR,
    application: false,
    reason: 'x',
  });
  assert.ok(protocol instanceof ProtocolError);
  assert.equal(protocol.transportCode, TransportError.FLOW_CONTROL_ERROR);
  assert.match(protocol.message, /FLOW_CONTROL_ERROR/);

  const reset = errorFromClose({ source: 'stateless-reset', code: 0x102, application: false, reason: '' });
  assert.ok(reset instanceof SessionClosedError);
  assert.ok(reset instanceof PeerStateLostError);
  assert.equal(reset.source, 'stateless-reset');
  assert.equal(reset.code, 'BRAID_ERR_PEER_STATE_LOST');

  const expired = errorFromClose({ source: 'expired', code: 0x101, application: false, reason: 'expired' });
  assert.ok(expired instanceof SessionExpiredError);
  assert.ok(expired instanceof SessionClosedError);
  assert.equal(expired.code, 'BRAID_ERR_SESSION_EXPIRED');
  assert.equal(expired.reason, 'expired');
  assert.equal(expired.transportCode, 0x101);
});

test('error names follow their class; codes are stable strings', () => {
  const error = new InvalidArgumentError('timeout', 'must be positive');
  assert.equal(error.name, 'InvalidArgumentError');
  assert.equal(error.code, 'BRAID_ERR_INVALID_ARG');
  assert.equal(error.argument, 'timeout');
  assert.equal(new ConnectTimeoutError(5).code, 'BRAID_ERR_CONNECT_TIMEOUT');
});

test('parseTarget accepts host:port, [v6]:port and objects; rejects the rest by name', () => {
  assert.deepEqual(parseTarget('example.org:443'), { host: 'example.org', port: 443 });
  assert.deepEqual(parseTarget('[2001:db8::1]:9000'), { host: '2001:db8::1', port: 9000 });
  assert.deepEqual(parseTarget({ host: '127.0.0.1', port: 1 }), { host: '127.0.0.1', port: 1 });
  for (const [bad, argument] of [
    ['2001:db8::1:443', 'target'],
    ['host', 'target'],
    [':80', 'target'],
    ['host:0', 'target'],
    ['host:65536', 'target'],
    ['[not-ip]:80', 'target'],
    [{ host: '', port: 80 }, 'target.host'],
    [{ host: 'h', port: 1.5 }, 'target.port'],
    [null, 'target'],
  ] as const) {
    assert.throws(
      () => parseTarget(bad),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === argument,
      JSON.stringify(bad),
    );
  }
});

test('checkTransport names the offending transport field', () => {
  assert.equal(checkTransport(undefined), undefined);
  assert.throws(
    () => checkTransport({ maxUdpPayloadSize: 100 }),
    (error: unknown) =>
      error instanceof InvalidArgumentError && error.argument === 'transport.maxUdpPayloadSize',
  );
  assert.throws(
    () => checkTransport('fast'),
    (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'transport',
  );
});
