// Which back-end runs is visible: session.stats.backend, braid status, braid --version, and a
// fallback to the portable back-end is stated once per process (a warning), never silently.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { renderStatus } from '../../src/cli/commands/status.js';
import { versionText } from '../../src/cli/main.js';
import {
  type BackendInfo,
  describeBackend,
  formatBackend,
  stateFallbackOnce,
} from '../../src/endpoint/backend.js';
import { startPair } from '../../testing/harness/api-pair.js';
import { socketBackendsUnderTest } from '../../testing/harness/socket-backends.js';

for (const backend of socketBackendsUnderTest()) {
  test(`session.stats.backend names the ${backend} socket back-end at both ends`, async () => {
    const pair = await startPair(
      { staticKey: generateKeyPair(), authorizedKeys: 'any', socketBackend: backend },
      { socketBackend: backend },
    );
    try {
      for (const session of [pair.client, pair.serverSession]) {
        const stats = session.stats;
        assert.equal(stats.backend.udp, backend);
        assert.ok(['openssl', 'sodium'].includes(stats.backend.crypto));
        assert.equal(typeof stats.bytesSent, 'number', 'the engine counters are still there');
      }
      if (backend === 'dgram') assert.ok(pair.client.stats.backend.reasons.includes('udp: requested'));
    } finally {
      await pair.close();
    }
  });
}

test('describeBackend follows the switches and formatBackend says why a part is not native', () => {
  const saved = { udp: process.env.BRAID_NATIVE_UDP, crypto: process.env.BRAID_NATIVE_CRYPTO };
  try {
    process.env.BRAID_NATIVE_UDP = '0';
    process.env.BRAID_NATIVE_CRYPTO = '0';
    const portable = describeBackend();
    assert.deepEqual(portable, {
      udp: 'dgram',
      crypto: 'sodium',
      reasons: ['udp: BRAID_NATIVE_UDP=0', 'crypto: BRAID_NATIVE_CRYPTO=0'],
    });
    assert.equal(
      formatBackend(portable),
      'portable (node:dgram, sodium-native AEAD; udp: BRAID_NATIVE_UDP=0; crypto: BRAID_NATIVE_CRYPTO=0)',
    );
  } finally {
    for (const [name, value] of [
      ['BRAID_NATIVE_UDP', saved.udp],
      ['BRAID_NATIVE_CRYPTO', saved.crypto],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  assert.equal(
    formatBackend({ udp: 'native', crypto: 'openssl', reasons: [] }),
    'native (batched UDP, OpenSSL AEAD)',
  );
});

test('an automatic fallback is stated once per process; an explicit choice is not a fallback', async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as Error & { code?: string }).code === 'BRAID_PORTABLE_BACKEND') warnings.push(warning);
  };
  process.on('warning', onWarning);
  try {
    const missing: BackendInfo = {
      udp: 'dgram',
      crypto: 'sodium',
      reasons: [
        'udp: braid_udp addon not built (npm run build:native)',
        'crypto: braid_crypto addon not built',
      ],
    };
    const chosen: BackendInfo = { udp: 'dgram', crypto: 'openssl', reasons: ['udp: BRAID_NATIVE_UDP=0'] };
    stateFallbackOnce(undefined, chosen);
    stateFallbackOnce('dgram', missing);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(warnings.length, 0, 'asked for: no warning');
    stateFallbackOnce('auto', missing);
    stateFallbackOnce(undefined, missing);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(warnings.length, 1, 'said once');
    assert.match(
      warnings[0]!.message,
      /portable \(node:dgram, sodium-native AEAD; udp: braid_udp addon not built/,
    );
  } finally {
    process.off('warning', onWarning);
  }
});

test('braid --version and braid status show the back-end', () => {
  assert.match(
    versionText(),
    /^braid \d+\.\d+\.\d+ \(node [\d.]+\)\nback-end: (native|partly native|portable) \(/,
  );
  const text = renderStatus([
    {
      control: '/run/braid/serve-1.sock',
      command: 'serve',
      pid: 1,
      uptimeMs: 1000,
      totals: {
        sessionsStarted: 1,
        bytesSent: 0,
        bytesReceived: 0,
        packetsLost: 0,
        failovers: {},
      } as never,
      sessions: [
        {
          id: 1,
          role: 'server',
          state: 'established',
          peerKey: undefined,
          peerFingerprint: undefined,
          startedAt: 0,
          ageMs: 1000,
          bytesSent: 0,
          bytesReceived: 0,
          packetsLost: 0,
          keyUpdates: 0,
          backend: 'native (batched UDP, OpenSSL AEAD)',
          paths: [],
        },
      ],
    },
  ]);
  assert.match(text, /\n {2}back-end: native \(batched UDP, OpenSSL AEAD\)\n/);
});
