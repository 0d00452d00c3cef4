import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TransportError, WireError } from '../../src/wire/errors.js';
import {
  DEFAULT_TRANSPORT_PARAMETERS,
  decodeTransportParameters,
  encodeTransportParameters,
  TransportParameterId,
} from '../../src/wire/transport-params.js';
import { transportParamsArb } from '../../testing/harness/wire-arbitraries.js';

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
const isParamError = (err: unknown) =>
  err instanceof WireError && err.code === TransportError.TRANSPORT_PARAMETER_ERROR;

describe('transport parameters', () => {
  test('empty input decodes to the defaults', () => {
    assert.deepEqual(decodeTransportParameters(new Uint8Array(0)), { ...DEFAULT_TRANSPORT_PARAMETERS });
    assert.equal(DEFAULT_TRANSPORT_PARAMETERS.idleTimeout, 0);
    assert.equal(DEFAULT_TRANSPORT_PARAMETERS.maxUdpPayloadSize, 65527);
    assert.equal(DEFAULT_TRANSPORT_PARAMETERS.maxAckDelay, 25);
    assert.equal(DEFAULT_TRANSPORT_PARAMETERS.activeConnectionIdLimit, 2);
    assert.equal(DEFAULT_TRANSPORT_PARAMETERS.maxDatagramFrameSize, 0);
  });

  test('exact bytes: defaults are omitted, ids in ascending order', () => {
    const bytes = encodeTransportParameters({
      idleTimeout: 30000,
      maxAckDelay: 25,
      disableActiveMigration: true,
      initialSourceConnectionId: hex('0102'),
      maxDatagramFrameSize: 1200,
    });
    assert.equal(
      Buffer.from(bytes).toString('hex'),
      '01 04 80007530 0c 00 0f 02 0102 20 02 44b0'.replace(/\s+/g, ''),
    );
  });

  test('round trip fills defaults for absent fields', () => {
    fc.assert(
      fc.property(transportParamsArb, (p) => {
        const decoded = decodeTransportParameters(encodeTransportParameters(p));
        assert.deepEqual(decoded, { ...DEFAULT_TRANSPORT_PARAMETERS, ...p });
      }),
      { numRuns: 2000 },
    );
  });

  test('unknown ids are skipped', () => {
    const decoded = decodeTransportParameters(hex('0a 01 03  4123 02 abcd  08 01 05'));
    assert.equal(decoded.initialMaxStreamsBidi, 5);
  });

  test('an integer parameter must fill its length exactly', () => {
    assert.throws(() => decodeTransportParameters(hex('04 02 05 00')), isParamError);
    assert.throws(() => decodeTransportParameters(hex('04 01 4005')), isParamError);
    assert.throws(() => decodeTransportParameters(hex('04 00')), isParamError);
  });

  test('duplicates, out-of-range values, bad lengths and truncation are TRANSPORT_PARAMETER_ERROR', () => {
    const bad = [
      '08 01 05 08 01 06', // duplicate
      '4123 00 4123 00', // duplicate unknown id
      '03 02 44af', // max_udp_payload_size 1199
      '03 04 80010000', // max_udp_payload_size 65536
      '0b 04 80004000', // max_ack_delay 2^14
      '0e 01 01', // active_connection_id_limit 1
      '08 08 c008000000000001', // initial_max_streams_bidi > 2^51
      '02 0f 000102030405060708090a0b0c0d0e', // 15-byte reset token
      `0f 15 ${'00'.repeat(21)}`, // 21-byte CID
      '0c 01 00', // flag with a value
      '04 05 01', // truncated
      '04', // truncated
    ];
    for (const b of bad) assert.throws(() => decodeTransportParameters(hex(b)), isParamError, b);
  });

  test('a client must not send server-only parameters', () => {
    const token = encodeTransportParameters({ statelessResetToken: new Uint8Array(16) });
    const odcid = encodeTransportParameters({ originalDestinationConnectionId: hex('0102') });
    const retry = encodeTransportParameters({ retrySourceConnectionId: hex('0102') });
    for (const b of [token, odcid, retry]) {
      assert.throws(() => decodeTransportParameters(b, 'client'), isParamError);
      decodeTransportParameters(b, 'server');
    }
    const iscid = encodeTransportParameters({ initialSourceConnectionId: hex('01') });
    assert.deepEqual(decodeTransportParameters(iscid, 'client').initialSourceConnectionId, hex('01'));
  });

  test('multipath_policy (0x48) is client-only, multipath_policies (0x49) server-only', () => {
    const policy = encodeTransportParameters({ multipathPolicy: 1 });
    const policies = encodeTransportParameters({ multipathPolicies: 7 });
    assert.equal(Buffer.from(policy).toString('hex'), '4048 01 01'.replace(/ /g, ''));
    assert.equal(Buffer.from(policies).toString('hex'), '4049 01 07'.replace(/ /g, ''));
    assert.equal(decodeTransportParameters(policy, 'client').multipathPolicy, 1);
    assert.equal(decodeTransportParameters(policies, 'server').multipathPolicies, 7);
    assert.throws(() => decodeTransportParameters(policy, 'server'), isParamError);
    assert.throws(() => decodeTransportParameters(policies, 'client'), isParamError);
    // Absent: failover requested; a server that runs failover only.
    const none = decodeTransportParameters(new Uint8Array(0));
    assert.equal(none.multipathPolicy, 0);
    assert.equal(none.multipathPolicies, 1);
    assert.equal(encodeTransportParameters({ multipathPolicy: 0, multipathPolicies: 1 }).length, 0);
  });

  test('the encoder refuses values the decoder would reject', () => {
    assert.throws(() => encodeTransportParameters({ maxUdpPayloadSize: 1000 }), RangeError);
    assert.throws(() => encodeTransportParameters({ activeConnectionIdLimit: 1 }), RangeError);
    assert.throws(() => encodeTransportParameters({ statelessResetToken: new Uint8Array(3) }), RangeError);
    assert.throws(() => encodeTransportParameters({ idleTimeout: -1 }), RangeError);
  });

  test('ids follow RFC 9000 where meanings match', () => {
    assert.equal(TransportParameterId.IDLE_TIMEOUT, 0x01);
    assert.equal(TransportParameterId.INITIAL_SOURCE_CONNECTION_ID, 0x0f);
    assert.equal(TransportParameterId.MAX_DATAGRAM_FRAME_SIZE, 0x20);
  });
});
