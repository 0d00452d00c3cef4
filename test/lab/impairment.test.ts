/**
 * Calibration of the lab's impairment element (lab/impair.c, docs/lab.md): what it is told to do
 * is what a real packet meets. Delay by ping and by a UDP echo, loss counted by nftables where
 * datagrams leave the client and enter the server over ≥ 10k packets, rate at the server's interface, reordering by sequence numbers,
 * the MTU clamp, and 200 Mbit/s of 1200-byte packets without a packet of its own loss. Part of
 * `npm test` (run alone, after the other files: scripts/run-tests.mjs); needs root, the lab's
 * tools, ping and iperf3 (scripts/setup-system.sh), skipped with the reason otherwise. About a
 * minute. BRAID_LAB_VERBOSE=1 prints each measured figure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Lab, type LabNamespace } from '../../src/cli/demo/lab.js';
import { LabProcess } from '../../src/cli/demo/lab-process.js';
import { burstLoss } from '../../src/cli/demo/path-profiles.js';

const hasCommand = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
const availability = Lab.available({ conntrack: false });
const skip = !availability.ok
  ? availability.reason
  : !hasCommand('ping') || !hasCommand('iperf3')
    ? 'ping and iperf3 needed: run scripts/setup-system.sh as root'
    : false;

const PROBE = 'test/lab/udp-probe.ts';
const ECHO_PORT = 7007;
const SINK_PORT = 7008;
const IPERF_PORT = 5201;
/** Pings per link and attempt, 20 ms apart. */
const PINGS = 50;
/** UDP echo round trips per measurement, 10 ms apart. */
const UDP_PINGS = 200;
/** UDP payload of a 1200-byte IPv4 packet. */
const PAYLOAD_1200 = 1200 - 28;
const verbose = process.env.BRAID_LAB_VERBOSE === '1';
const note = (message: string) => {
  if (verbose) process.stderr.write(`[calibration] ${message}\n`);
};

// About a minute on a quiet machine; a busy one slows every step, and repeats the rate checks.
describe('impairment element calibration', { skip, timeout: 300_000 }, () => {
  let lab: Lab;
  let echo: LabProcess;
  let sink: LabProcess;
  let iperfServer: LabProcess;
  const started: LabProcess[] = [];

  const start = (name: string, ns: LabNamespace, command: string[]): LabProcess => {
    const helper = new LabProcess(name, lab.spawnIn(ns, command, { stdio: ['pipe', 'pipe', 'pipe'] }));
    started.push(helper);
    return helper;
  };
  // Only the element runs at real-time priority. A real-time instrument would starve every test
  // beside it, and the kernel's own deferred packet processing too (which then looks like loss);
  // the timing instruments and the fast sender get a larger fair share instead (nice −10), which
  // shortens their wake-ups on a busy machine but leaves every other process its turn. Each of
  // them sleeps between sends, so none takes more CPU than its traffic needs.
  const FAVOURED = ['nice', '-n', '-10'];
  /** The 200 Mbit/s sender (about a fifth of a core, in bursts) must not fall short on a busy machine. */
  const FAVOURED_MOST = ['nice', '-n', '-20'];
  const probe = (name: string, ns: LabNamespace, args: string[], favoured = false) =>
    start(name, ns, [...(favoured ? FAVOURED : []), process.execPath, '--import', 'tsx', PROBE, ...args]);

  /**
   * Datagrams to the calibration's ports counted by nftables where they leave the client and
   * where they enter the server. Not the kernels' UDP counters: those count a datagram as it is
   * read, so whatever a busy receiver (iperf3's server closing its socket) left unread would look
   * lost in the lab.
   */
  const COUNTED_PORTS = `{ ${SINK_PORT}, ${IPERF_PORT} }`;
  const countDatagrams = async () => {
    const results = await Promise.all([
      lab.exec('client', [
        'nft',
        `add table inet calibration; add counter inet calibration datagrams; add chain inet calibration out { type filter hook output priority 0; }; add rule inet calibration out udp dport ${COUNTED_PORTS} counter name datagrams`,
      ]),
      lab.exec('server', [
        'nft',
        `add table inet calibration; add counter inet calibration datagrams; add chain inet calibration in { type filter hook input priority 0; }; add rule inet calibration in udp dport ${COUNTED_PORTS} counter name datagrams`,
      ]),
    ]);
    for (const result of results) assert.equal(result.code, 0, `nft: ${result.stderr}`);
  };
  const datagramsCounted = async (ns: LabNamespace): Promise<number> => {
    const out = await lab.exec(ns, ['nft', '-j', 'list', 'counter', 'inet', 'calibration', 'datagrams']);
    const listing = JSON.parse(out.stdout) as { nftables: Array<{ counter?: { packets: number } }> };
    const counter = listing.nftables.find((entry) => entry.counter)?.counter;
    assert.ok(counter, `no calibration counter in ${ns}: ${out.stdout}${out.stderr}`);
    return counter.packets;
  };

  /**
   * Runs `traffic` (client → server) and returns how many datagrams left the client and how many
   * entered the server.
   */
  const countThrough = async (traffic: () => Promise<void>) => {
    const [sent0, arrived0] = await Promise.all([datagramsCounted('client'), datagramsCounted('server')]);
    await traffic();
    const sent = (await datagramsCounted('client')) - sent0;
    // The last packets' delay, and on a busy machine the kernel's deferred packet processing:
    // count until the server's counter stops moving (200 ms without a change, 5 s at most).
    let arrived = (await datagramsCounted('server')) - arrived0;
    for (let still = 0, waited = 0; still < 200 && waited < 5000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = (await datagramsCounted('server')) - arrived0;
      still = now === arrived ? still + 50 : 0;
      arrived = now;
    }
    return { sent, arrived };
  };

  const sendDatagrams = async (count: number, ratePps: number, size = 200) => {
    const sender = probe('sender', 'client', [
      'send',
      lab.addresses.clientA.v4,
      lab.addresses.server1.v4,
      String(SINK_PORT),
      String(count),
      String(ratePps),
      String(size),
    ]);
    await sender.next('done', 60_000);
  };

  const sinkReport = async () => {
    const since = sink.messages.length;
    sink.send({ event: 'report' });
    return sink.next('report', 5000, since);
  };

  const pingRtts = async (from: string, to: string, count: number, extra: string[] = []) => {
    const out = await lab.exec('client', [
      'ping',
      ...(to.includes(':') ? ['-6'] : ['-4']),
      '-n',
      '-c',
      String(count),
      '-i',
      '0.02',
      '-W',
      '2',
      '-I',
      from,
      ...extra,
      to,
    ]);
    return {
      output: out.stdout + out.stderr,
      rtts: [...out.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])),
    };
  };

  const median = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    return sorted[Math.floor(sorted.length / 2)]!;
  };

  before(async () => {
    lab = await Lab.up({ impair: true });
    await countDatagrams();
    const { server1 } = lab.addresses;
    echo = probe('echo', 'server', ['echo', server1.v4, String(ECHO_PORT)], true);
    sink = probe('sink', 'server', ['sink', server1.v4, String(SINK_PORT)]);
    iperfServer = start('iperf3 server', 'server', [
      'iperf3',
      '-s',
      '-B',
      server1.v4,
      '-p',
      String(IPERF_PORT),
    ]);
    await Promise.all([echo.next('ready', 15_000), sink.next('ready', 15_000)]);
    void iperfServer;
  });

  after(async () => {
    for (const helper of started) helper.stop();
    await lab?.down();
  });

  test('round-trip time by ping and by a UDP echo is the configured delay (±1 ms), per direction and link', async () => {
    const { clientA, clientB, server1 } = lab.addresses;
    const udpEcho = async () => {
      const udp = probe(
        'udp ping',
        'client',
        ['ping', clientA.v4, server1.v4, String(ECHO_PORT), String(UDP_PINGS), '10'],
        true,
      );
      const rtts = (await udp.next('done', 30_000)).rttsMs as number[];
      assert.ok(rtts.length >= UDP_PINGS - 1, `UDP echo answered ${rtts.length} of ${UDP_PINGS}`);
      return { least: Math.min(...rtts), median: median(rtts) };
    };
    // A JavaScript echo and prober add their own event-loop latency (under a millisecond, tens of
    // milliseconds on a busy machine) to a round trip, and never take any off: the element's delay
    // (no jitter here) is the least round trip with it less the least without it. An element
    // releasing early shows in that figure, one late throughout too; one late now and then shows
    // in ping's median, which kernel timestamps keep free of scheduling delay.
    const udpBase = await udpEcho();
    // Asymmetric on a, so each direction's delay counts; IPv6 over b.
    await lab.impair('a', 'c2s', { delayMs: 12 });
    await lab.impair('a', 's2c', { delayMs: 8 });
    await lab.impair('b', 'both', { delayMs: 25 });
    // The element runs at real-time priority, yet on this kind of machine (a virtual machine on a
    // shared host) it is now and then not run for milliseconds, up to 96 ms seen, with or without
    // a CPU hog in the guest: the host had not run the virtual CPU. A stretch of that moves the
    // median of a second of pings. Such a window shows in the element's own clock (packets that
    // left over 1 ms after their release time) and is measured again, up to three times; a median
    // off the configured delay while the element kept its times fails at once, since then the
    // delay itself is wrong.
    const lateReleases = async () =>
      Object.values(await lab.impairmentStats()).reduce((sum, device) => sum + device.lateOver1ms, 0);
    let a = { output: '', rtts: [0] };
    let b = a;
    let late = 0;
    for (let attempt = 1; ; attempt++) {
      const lateBefore = await lateReleases();
      a = await pingRtts(clientA.v4, server1.v4, PINGS);
      b = await pingRtts(clientB.v6, server1.v6, PINGS);
      assert.equal(a.rtts.length, PINGS, a.output);
      assert.equal(b.rtts.length, PINGS, b.output);
      late = (await lateReleases()) - lateBefore;
      const within = Math.abs(median(a.rtts) - 20) <= 1 && Math.abs(median(b.rtts) - 50) <= 1;
      note(
        `attempt ${attempt}: ping a ${median(a.rtts)} ms (20 set), ping b v6 ${median(b.rtts)} ms (50 set), ${late} packets released over 1 ms late`,
      );
      if (within || late === 0 || attempt === 3) break;
    }
    const udpImpaired = await udpEcho();
    const udpAdded = udpImpaired.least - udpBase.least;
    note(
      `UDP echo a ${udpAdded.toFixed(2)} ms over its ${udpBase.least.toFixed(2)} ms without impairment (medians ${udpImpaired.median.toFixed(2)} and ${udpBase.median.toFixed(2)} ms)`,
    );
    assert.ok(
      Math.abs(median(a.rtts) - 20) <= 1,
      `ping RTT on a: median ${median(a.rtts)} ms, configured 20; ${late} packets released over 1 ms late`,
    );
    assert.ok(
      Math.abs(median(b.rtts) - 50) <= 1,
      `ping RTT on b: median ${median(b.rtts)} ms, configured 50; ${late} packets released over 1 ms late`,
    );
    assert.ok(Math.abs(udpAdded - 20) <= 1, `UDP echo RTT on a: ${udpAdded} ms added, configured 20`);
    await lab.clearImpairment();
  });

  test('random loss over 10k packets is the configured rate (±20 % relative)', async () => {
    await lab.impair('a', 'c2s', { loss: 0.05 });
    const { sent, arrived } = await countThrough(() => sendDatagrams(10_000, 5000));
    const loss = 1 - arrived / sent;
    note(`random loss ${(loss * 100).toFixed(2)} % of ${sent} (5 % set)`);
    assert.ok(sent >= 10_000, `sent only ${sent}`);
    assert.ok(Math.abs(loss - 0.05) <= 0.01, `measured loss ${loss}, configured 0.05`);
    await lab.clearImpairment();
  });

  test('Gilbert–Elliott loss over 20k packets has the configured rate (±20 %) and comes in bursts', async () => {
    // 10 % in bursts of 3 on average: bursts make the count noisier than independent loss, so
    // twice the packets keep the ±20 % window above four standard deviations.
    await lab.impair('a', 'c2s', { burstLoss: burstLoss(0.1, 3) });
    const before = (await lab.impairmentStats())['a:c2s'];
    await sinkReport(); // a fresh count
    const { sent, arrived } = await countThrough(() => sendDatagrams(20_000, 5000));
    const report = await sinkReport();
    const after = (await lab.impairmentStats())['a:c2s'];
    const loss = 1 - arrived / sent;
    const meanBurst = Number(report.gapPackets) / Number(report.gapRuns);
    note(
      `bursty loss ${(loss * 100).toFixed(2)} % of ${sent}, mean burst ${meanBurst.toFixed(2)} (10 %, 3 set)`,
    );
    assert.ok(sent >= 20_000, `sent only ${sent}`);
    assert.ok(Math.abs(loss - 0.1) <= 0.02, `measured loss ${loss}, configured 0.1`);
    assert.equal(after.dropBurst - before.dropBurst, sent - arrived, 'every loss is a burst-state drop');
    assert.equal(report.outOfOrder, 0);
    // Independent loss of 10 % would make runs of 1.1 packets on average.
    assert.ok(meanBurst >= 2.4 && meanBurst <= 3.6, `mean loss burst ${meanBurst} packets, configured 3`);
    await lab.clearImpairment();
  });

  test('jitter reorders only when asked to, and spreads the delay either way', async () => {
    await lab.impair('a', 'c2s', { delayMs: 5, jitterMs: 10, reorder: true });
    await sinkReport(); // a fresh count
    await countThrough(() => sendDatagrams(2000, 2000));
    const reordered = await sinkReport();
    await lab.impair('a', 'c2s', { reorder: false });
    await countThrough(() => sendDatagrams(2000, 2000));
    const inOrder = await sinkReport();
    const spread = await pingRtts(lab.addresses.clientA.v4, lab.addresses.server1.v4, 40);
    const rtts = spread.rtts;
    note(
      `out of order: ${reordered.outOfOrder} with reorder, ${inOrder.outOfOrder} without; ping RTT ${Math.min(...rtts)}–${Math.max(...rtts)} ms`,
    );
    assert.ok(Number(reordered.outOfOrder) > 100, `only ${reordered.outOfOrder} of 2000 reordered`);
    assert.equal(inOrder.outOfOrder, 0, 'jitter without reordering reordered packets');
    assert.ok(Math.max(...rtts) - Math.min(...rtts) >= 5, `no jitter visible: RTTs ${rtts.join(', ')}`);
    assert.ok(Math.min(...rtts) >= 5, 'the base delay was lost');
    await lab.clearImpairment();
  });

  test('duplication sends the configured share twice', async () => {
    await lab.impair('a', 'c2s', { duplicate: 0.1 });
    const { sent, arrived } = await countThrough(() => sendDatagrams(5000, 5000));
    const extra = arrived / sent - 1;
    note(`duplicated ${(extra * 100).toFixed(2)} % (10 % set)`);
    assert.ok(Math.abs(extra - 0.1) <= 0.02, `duplicated ${extra}, configured 0.1`);
    await lab.clearImpairment();
  });

  test('rate limit with a finite queue delivers the configured rate (±5 %)', async (t) => {
    const rateBps = 50e6;
    // A queue long enough to ride out a pause of the (unprivileged) sender on a busy machine:
    // the bottleneck must never run dry while it is measured.
    const queueMs = 400;
    await lab.impair('a', 'c2s', { rateBps, queueMs });
    const sample = async () => {
      // The counters' instant is the middle of two clock readings around them; of five readings
      // the most tightly bracketed, so a shell descheduled on a busy machine does not skew it.
      const out = await lab.exec('server', [
        'sh',
        '-c',
        'for i in 1 2 3 4 5; do date +%s%N; cat /sys/class/net/s1/statistics/rx_bytes /sys/class/net/s1/statistics/rx_packets; date +%s%N; done',
      ]);
      const values = out.stdout.trim().split('\n').map(Number);
      const readings = [0, 4, 8, 12, 16].map((i) => {
        const [start, bytes, packets, end] = values.slice(i, i + 4) as [number, number, number, number];
        return { seconds: (start + end) / 2e9, spread: end - start, bytes, packets };
      });
      return readings.reduce((best, reading) => (reading.spread < best.spread ? reading : best));
    };
    // The bottleneck's rate is only measurable while it has something to send: a window in which
    // the element reports it idle for more than 1 % (the unprivileged sender, or the kernel's
    // deferred forwarding to the element, paused longer than the queue) is measured again, up to
    // three times; a machine that busy cannot measure a rate, and the test says so by skipping.
    const ATTEMPTS = 3;
    for (let attempt = 1; ; attempt++) {
      const before = (await lab.impairmentStats())['a:c2s'];
      const client = start('iperf3 client', 'client', [
        ...FAVOURED,
        'iperf3',
        '-c',
        lab.addresses.server1.v4,
        '-B',
        lab.addresses.clientA.v4,
        '-p',
        String(IPERF_PORT),
        '-u',
        '-b',
        '80M/32',
        '-l',
        String(PAYLOAD_1200),
        '-t',
        '6',
      ]);
      // 80 Mbit/s into 50 fill the queue in under a second: the window opens once it overflows
      // (the sender may take a while to start on a busy machine), and lasts three seconds.
      for (let waited = 0; waited < 5000; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        if ((await lab.impairmentStats())['a:c2s'].dropQueue > before.dropQueue) break;
      }
      const windowStart = (await lab.impairmentStats())['a:c2s'];
      const first = await sample();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const second = await sample();
      const windowEnd = (await lab.impairmentStats())['a:c2s'];
      await client.settle(10_000);
      const after = (await lab.impairmentStats())['a:c2s'];
      // The interface counts Ethernet frames; the element's rate is of IP packets.
      const ipBytes = second.bytes - first.bytes - 14 * (second.packets - first.packets);
      const seconds = second.seconds - first.seconds;
      const measured = (ipBytes * 8) / seconds;
      const idleShare = (windowEnd.idleMs - windowStart.idleMs) / 1000 / seconds;
      note(
        `attempt ${attempt}: rate ${(measured / 1e6).toFixed(2)} Mbit/s (50 set), bottleneck idle ${(idleShare * 100).toFixed(1)} % of the window; queue drops ${after.dropQueue - before.dropQueue}, longest backlog ${after.maxBacklogMs} ms`,
      );
      assert.ok(after.maxBacklogMs <= queueMs + 1, `queue held ${after.maxBacklogMs} ms, limit ${queueMs}`);
      if (idleShare <= 0.01) {
        assert.ok(after.dropQueue > before.dropQueue, 'an overfull queue must drop');
        assert.ok(
          Math.abs(measured / rateBps - 1) <= 0.05,
          `measured ${measured} bit/s, configured ${rateBps}`,
        );
        break;
      }
      if (attempt === ATTEMPTS) {
        t.skip(
          `machine too busy to feed the bottleneck: idle ${(idleShare * 100).toFixed(1)} % of the window in attempt ${ATTEMPTS}`,
        );
        break;
      }
    }
    await lab.clearImpairment();
  });

  test('the MTU clamp drops oversize packets silently and passes the rest', async () => {
    const { clientA, server1 } = lab.addresses;
    await lab.impair('a', 'c2s', { mtu: 1280 });
    const before = (await lab.impairmentStats())['a:c2s'];
    // -M do: DF set and no local fragmentation; 1252 B of ICMP payload make a 1280-byte packet.
    const fits = await pingRtts(clientA.v4, server1.v4, 3, ['-M', 'do', '-s', '1252']);
    const oversize = await pingRtts(clientA.v4, server1.v4, 3, ['-M', 'do', '-s', '1253']);
    const after = (await lab.impairmentStats())['a:c2s'];
    assert.equal(fits.rtts.length, 3, fits.output);
    assert.equal(oversize.rtts.length, 0, oversize.output);
    assert.equal(after.dropMtu - before.dropMtu, 3);
    assert.doesNotMatch(oversize.output, /frag|too long|mtu/i, 'a black hole sends no ICMP');
    await lab.clearImpairment();
  });

  test('carries 200 Mbit/s of 1200-byte packets without losing one', async (t) => {
    // iperf3 is the traffic source (Node cannot offer 20k packets/s on a busy machine): favoured
    // most, in bursts of 32 datagrams with sleeps between them, aiming a little above 200 Mbit/s
    // so scheduling gaps do not leave it short.
    await lab.impair('a', 'c2s', { delayMs: 5 });
    // Offering 200 Mbit/s is the precondition, not what is checked: on a machine too busy to give
    // the sender its fifth of a core, the run is repeated (every run's datagrams must all arrive),
    // and after three the test skips with the rate it got.
    const ATTEMPTS = 3;
    for (let attempt = 1; ; attempt++) {
      const before = (await lab.impairmentStats())['a:c2s'];
      let report: { end?: { sum?: { bits_per_second?: number } } } = {};
      const { sent, arrived } = await countThrough(async () => {
        const out = await lab.exec('client', [
          ...FAVOURED_MOST,
          'iperf3',
          '-c',
          lab.addresses.server1.v4,
          '-B',
          lab.addresses.clientA.v4,
          '-p',
          String(IPERF_PORT),
          '-u',
          '-b',
          '210M/32',
          '-l',
          String(PAYLOAD_1200),
          '-t',
          '3',
          '-J',
        ]);
        report = JSON.parse(out.stdout);
      });
      const after = (await lab.impairmentStats())['a:c2s'];
      const offered = Number(report.end?.sum?.bits_per_second);
      note(
        `attempt ${attempt}: offered ${(offered / 1e6).toFixed(1)} Mbit/s; ${sent} sent, ${arrived} arrived`,
      );
      if (arrived !== sent) {
        // Where they went: the element's counters, each interface's drops, the kernel's backlog drops.
        const drops = await Promise.all(
          (['client', 'router', 'server'] as const).map(async (ns) => {
            const out = await lab.exec(ns, [
              'sh',
              '-c',
              'for d in /sys/class/net/*; do echo "$(basename $d) rx_dropped $(cat $d/statistics/rx_dropped) tx_dropped $(cat $d/statistics/tx_dropped)"; done',
            ]);
            return `${ns}: ${out.stdout.trim().replaceAll('\n', '; ')}`;
          }),
        );
        const softnet = await lab.exec('router', ['cat', '/proc/net/softnet_stat']);
        assert.fail(
          `${sent - arrived} of ${sent} datagrams lost in the lab at ${offered} bit/s; element ${JSON.stringify({ before, after })}; ${drops.join(' | ')}; softnet ${softnet.stdout}`,
        );
      }
      assert.equal(after.rx - before.rx, after.tx - before.tx, 'the element forwarded all it read');
      if (offered >= 195e6) break;
      if (attempt === ATTEMPTS) {
        t.skip(
          `machine too busy: iperf3 offered only ${(offered / 1e6).toFixed(1)} Mbit/s in attempt ${ATTEMPTS}`,
        );
        break;
      }
    }
    await lab.clearImpairment();
  });

  test('bad settings get a clear error and change nothing', async () => {
    await assert.rejects(lab.impair('a', 'c2s', { loss: 1.5 }), /loss must be within/);
    await assert.rejects(lab.applyProfile('a', 'dialup'), /unknown path profile 'dialup'/);
    await lab.impair('a', 'c2s', { delayMs: 3 });
    const rtts = (await pingRtts(lab.addresses.clientA.v4, lab.addresses.server1.v4, 5)).rtts;
    assert.ok(median(rtts) >= 3 && median(rtts) < 4, `RTT ${median(rtts)} after a rejected change`);
    await lab.clearImpairment();
  });
});
