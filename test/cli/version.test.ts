// `braid --version` and `braid version`, run as real processes: the package version from
// package.json, the protocol versions and whether each native addon loaded (and why not).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { BRAID_VERSION_1 } from '../../src/wire/packet.js';
import { makeHome, runBraid } from '../../testing/harness/braid-command.js';

const home = makeHome();
after(() => home.cleanup());
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

test('braid --version names the package version, the protocol version and the native addons', async () => {
  const long = await runBraid(['--version'], home.env);
  assert.equal(long.code, 0, long.stderr);
  const lines = long.stdout.trimEnd().split('\n');
  assert.equal(lines[0], `braid ${manifest.version} (node ${process.versions.node})`);
  assert.match(lines[1]!, /^back-end: (native|partly native|portable) \(/);
  assert.equal(
    lines[2],
    `protocol: 1 (wire version 0x${BRAID_VERSION_1.toString(16)}, stream-open exchange 1)`,
  );
  assert.match(
    lines[3]!,
    /^native addons: braid_udp (loaded|not loaded \(.+\)), braid_crypto (loaded|not loaded \(.+\))$/,
  );
  // The back-end line and the addon line agree.
  assert.equal(
    lines[1]!.startsWith('back-end: native ('),
    lines[3] === 'native addons: braid_udp loaded, braid_crypto loaded',
  );
  for (const alias of [['version'], ['-V']]) {
    const same = await runBraid(alias, home.env);
    assert.equal(same.code, 0);
    assert.equal(same.stdout, long.stdout, `braid ${alias[0]} prints the same`);
  }
});

test('braid version says which addon is not loaded and why', async () => {
  const result = await runBraid(['version'], {
    ...home.env,
    BRAID_NATIVE_UDP: '0',
    BRAID_NATIVE_CRYPTO: '0',
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^native addons: braid_udp not loaded \(BRAID_NATIVE_UDP=0\), braid_crypto not loaded \(BRAID_NATIVE_CRYPTO=0\)$/m,
  );
  assert.match(result.stdout, /^back-end: portable \(/m);
});
