// `braid demo` as root: network namespaces from lab/lab.sh (client with two providers, router,
// two-address server), a real fault on the active provider, and nothing left behind afterwards,
// also after Ctrl-C. Skips cleanly when not root or the lab tools are missing.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { labAvailability } from '../../src/cli/demo/netns.js';
import { COMMAND, makeHome, runBraid } from '../../testing/harness/braid-command.js';

const availability = labAvailability();
const skip = availability.ok ? false : availability.reason;
const home = makeHome();
after(() => home.cleanup());

/** Namespaces and agents a demo process (by pid) may have left. */
function leftovers(pid: number): string[] {
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  const found = namespaces
    .split('\n')
    .filter((line) => line.startsWith(`braiddemo${pid}-`))
    .map((line) => `namespace ${line.split(' ')[0]}`);
  // Our agents carry this test's home in their --events path.
  const agents = spawnSync('pgrep', ['-f', 'demo --agent'], { encoding: 'utf8' }).stdout.trim();
  for (const agentPid of agents ? agents.split('\n') : []) {
    try {
      if (readFileSync(`/proc/${agentPid}/cmdline`, 'utf8').includes(home.dir))
        found.push(`agent ${agentPid}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

describe('braid demo in network namespaces', { skip }, () => {
  for (const [fault, mib] of [
    ['blackhole', '8'],
    ['link-down', '4'],
  ] as const) {
    test(`fails over after a ${fault} of the active provider and tears the lab down`, async () => {
      const out = join(home.dir, `demo-${fault}`);
      const result = await runBraid(
        ['demo', '--netns', '--fault', fault, '--mib', mib, '--out', out],
        home.env,
        {
          timeoutMs: 60_000,
        },
      );
      assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
      const stdout = result.stdout;
      assert.match(stdout, /^lab {5}network namespaces braiddemo\d+-\{client,router,server\}/);
      assert.match(stdout, /client {2}bound 192\.0\.2\.10 and 198\.51\.100\.10 in braiddemo\d+-client/);
      // The fault hits whichever provider is active by then (an event-loop stall under load can
      // move the session earlier), and the client ends up on the other one.
      const hit = (
        fault === 'blackhole'
          ? /fault {3}blackholed provider ([ab]) /
          : /fault {3}took provider link ([ab]) down/
      ).exec(stdout);
      assert.ok(hit, stdout);
      // Either end may find the path dead first.
      assert.match(
        stdout,
        /failover {2}the (client|server) found path \d+ \S+ → \S+ failed \(unresponsive\)/,
      );
      const survivor = hit[1] === 'a' ? '198\\.51\\.100\\.10' : '192\\.0\\.2\\.10';
      assert.match(
        stdout,
        new RegExp(`client {4}active on path \\d+ ${survivor}:\\d+ → 203\\.0\\.113\\.(10|138):\\d+`),
      );
      assert.match(stdout, new RegExp(`moved\\s+${mib}\\.00 MiB`));
      assert.match(stdout, /equal at both ends/);
      const gap = /failover gap (\d+) ms/.exec(stdout);
      assert.ok(gap, stdout);
      assert.ok(Number(gap[1]) < 3000, `failover gap ${gap[1]} ms`);
      console.log(`braid demo (namespaces, ${fault}) failover gap: ${gap[1]} ms`);
      assert.match(stdout, /demo ok/);
      const events = readFileSync(join(out, 'events.jsonl'), 'utf8');
      // Both agents wrote into one log, each under its own session id.
      assert.match(events, /"name":"braid:session:started","data":\{"session":1,"role":"client"\}/);
      assert.match(events, /"name":"braid:session:started","data":\{"session":2,"role":"server"\}/);
      assert.match(events, /"name":"braid:path:failover","data":\{"session":[12],"from":\d+,/);
      const pid = Number(/braiddemo(\d+)-/.exec(stdout)![1]);
      assert.deepEqual(leftovers(pid), [], 'nothing left behind');
    });
  }

  test('Ctrl-C mid-transfer tears the namespaces and agents down', async () => {
    const child = spawn(
      process.execPath,
      [
        ...COMMAND,
        'demo',
        '--netns',
        '--mib',
        '16',
        '--rate',
        '20',
        '--fault-at',
        '5',
        '--out',
        join(home.dir, 'demo-int'),
      ],
      { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no fault within 30 s:\n${stdout}`)), 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        // Interrupt after the fault, while the session runs on the standby.
        if (/^failover /m.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.match(stdout, /SIGINT: tearing down the demo/);
    assert.deepEqual(leftovers(child.pid!), [], 'nothing left behind');
  });
});
