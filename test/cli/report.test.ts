import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../../artifacts/', import.meta.url).pathname;
const home = makeHome();
const eventsPath = join(home.dir, 'run.jsonl');

before(async () => {
  await runBraid(['keygen'], home.env);
});

after(() => home.cleanup());

/**
 * A log with two paths of one session, the active one failing and the standby taking
 * over after a gap, with a congestion event before: the shape a multihomed run writes.
 */
function failoverLog(): string {
  const t0 = 1_700_000_000_000;
  const event = (ms: number, name: string, data: Record<string, unknown>): string =>
    JSON.stringify({ time: t0 + ms, name, data: { session: 1, ...data } });
  const path = (id: number, state: string, srtt: number | null) => ({
    path: id,
    local: id === 0 ? '10.0.1.2:5000' : '10.0.2.2:5000',
    remote: '192.0.2.1:4433',
    state,
    srtt,
  });
  const lines = [
    event(0, 'braid:session:started', { role: 'client' }),
    event(5, 'braid:session:handshake', { peer: 'abcd-efgh' }),
    event(5, 'braid:path:added', path(0, 'active', 12)),
    event(5, 'braid:path:validated', path(0, 'active', 12)),
    event(5, 'braid:path:active', path(0, 'active', 12)),
    event(200, 'braid:path:added', path(1, 'validating', null)),
    event(260, 'braid:path:validated', path(1, 'standby', 30)),
    event(260, 'braid:path:standby', path(1, 'standby', 30)),
  ];
  for (let ms = 1000; ms <= 3000; ms += 250) {
    lines.push(event(ms, 'braid:path:metrics', path(0, 'active', 12 + (ms % 7))));
    lines.push(event(ms, 'braid:path:metrics', path(1, 'standby', 30 + (ms % 5))));
  }
  lines.push(
    event(2000, 'braid:session:key_update', { phase: 1 }),
    event(3100, 'braid:path:failed', path(0, 'failed', 12)),
    event(3450, 'braid:path:active', path(1, 'active', 31)),
    event(2500, 'braid:path:congestion', { ...path(0, 'active', 14), reason: 'loss', cwnd: 24000 }),
    event(3450, 'braid:path:failover', {
      from: 0,
      to: 1,
      reason: 'unresponsive',
      fromLocal: '10.0.1.2:5000',
      fromRemote: '192.0.2.1:4433',
      toLocal: '10.0.2.2:5000',
      toRemote: '192.0.2.1:4433',
    }),
  );
  for (let ms = 3500; ms <= 5000; ms += 250)
    lines.push(event(ms, 'braid:path:metrics', path(1, 'active', 31)));
  lines.push(event(5200, 'braid:session:closed', { error: null, bytesSent: 123456, bytesReceived: 654321 }));
  lines.push('not json: skipped');
  return `${lines.join('\n')}\n`;
}

/** Decodes enough of a PNG to tell a rendered page from a blank one: distinct colours in the pixels. */
function distinctColours(png: Buffer): number {
  assert.ok(
    png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
    'PNG signature',
  );
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, '8-bit samples');
      channels = { 2: 3, 6: 4 }[data[9]!] ?? 0;
      assert.ok(channels > 0, `colour type ${data[9]}`);
    }
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const previous = Buffer.alloc(stride);
  const current = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? current[i - channels]! : 0;
      const b = previous[i]!;
      const c = i >= channels ? previous[i - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      current[i] = (line[i]! + predictor) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const i = x * channels;
      colours.add((current[i]! << 16) | (current[i + 1]! << 8) | current[i + 2]!);
    }
    current.copy(previous);
  }
  return colours.size;
}

test('report turns a real run of serve --events into a page with the timeline', async () => {
  const server = await startServer(home, ['--allow-any', '--echo', '--no-control', '--events', eventsPath]);
  try {
    const echoed = await runBraid(['cat', server.url], home.env, { input: 'y'.repeat(100_000) });
    assert.equal(echoed.code, 0, echoed.stderr);
  } finally {
    await server.daemon.stop();
  }
  const out = join(home.dir, 'page.html');
  const result = await runBraid(['report', eventsPath, '-o', out], home.env);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), out);
  const html = readFileSync(out, 'utf8');
  assert.match(html, /<svg id="timeline"/);
  assert.match(html, /class="path-state state-active"/);
  assert.match(html, /class="rtt-line"/);
  assert.match(html, /braid:session:closed/);
  assert.doesNotMatch(html, /(src|href)="https?:/, 'self-contained: nothing loaded from the network');
});

test('report draws paths, RTT, the active path and failover gaps; Chromium renders it', async (t) => {
  const log = join(home.dir, 'failover.jsonl');
  writeFileSync(log, failoverLog());
  const result = await runBraid(['report', log], home.env);
  assert.equal(result.code, 0, result.stderr);
  const page = join(home.dir, 'failover.html');
  assert.equal(result.stdout.trim(), page);
  assert.match(result.stderr, /1 lines of .* were not events and were skipped/);
  const html = readFileSync(page, 'utf8');
  assert.equal(
    (html.match(/class="failover-gap"/g) ?? []).length,
    1,
    'the failover event and the states show one gap',
  );
  assert.match(html, /<td>1<\/td><td>1 \(350 ms\)<\/td>/, 'one failover, one gap of 350 ms in the summary');
  assert.match(html, /no active path for 350 ms/);
  assert.match(html, /s1 p1 {2}10\.0\.2\.2:5000 → 192\.0\.2\.1:4433/);
  assert.match(html, /class="path-state state-failed"/);
  assert.match(html, /class="path-state state-standby"/);
  assert.match(html, /class="key-update"/);
  assert.equal((html.match(/class="failover-mark"/g) ?? []).length, 1);
  assert.match(html, /session 1: failover from path 0 to path 1 at 3\.450 s \(unresponsive\)/);
  assert.equal((html.match(/class="congestion"/g) ?? []).length, 1);

  const empty = await runBraid(['report', join(home.dir, 'missing.jsonl')], home.env);
  assert.equal(empty.code, 1);

  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (scripts/setup-system.sh installs it)`);
    return;
  }
  const profile = join(home.dir, 'chromium-profile');
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
  ];
  const dom = await run(CHROMIUM, [...flags, '--dump-dom', `file://${page}`], {
    timeout: 20_000,
    maxBuffer: 1 << 24,
  });
  assert.match(dom.stdout, /<svg id="timeline"[^>]*>/);
  assert.ok((dom.stdout.match(/class="path-state/g) ?? []).length >= 4, 'state segments in the rendered DOM');
  assert.match(dom.stdout, /<polyline class="rtt-line"/);
  assert.match(dom.stdout, /<line class="failover-mark"/);

  mkdirSync(ARTIFACTS, { recursive: true });
  const screenshot = join(ARTIFACTS, 'braid-report.png');
  await run(CHROMIUM, [...flags, `--screenshot=${screenshot}`, '--window-size=1200,800', `file://${page}`], {
    timeout: 20_000,
  });
  const png = readFileSync(screenshot);
  assert.ok(png.length > 5000, `screenshot of ${png.length} bytes`);
  const colours = distinctColours(png);
  assert.ok(colours > 20, `the screenshot shows a drawing (${colours} distinct colours), not a blank page`);
});
