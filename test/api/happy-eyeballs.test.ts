// The Happy Eyeballs schedule (RFC 8305), driven deterministically: a fake clock, resolver
// answers and attempt outcomes in, the actions out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HappyEyeballs,
  type HappyEyeballsAction,
  interleaveFamilies,
  MIN_CONNECTION_ATTEMPT_DELAY,
} from '../../src/api/happy-eyeballs.js';

/** Runs the machine's timers up to `until`, collecting actions with their times. */
function runUntil(
  race: HappyEyeballs,
  from: number,
  until: number,
  log: Array<[number, HappyEyeballsAction]>,
) {
  collect(race, from, log);
  for (let deadline = race.nextDeadline(); deadline !== undefined && deadline <= until; ) {
    race.onTimeout(deadline);
    collect(race, deadline, log);
    const next = race.nextDeadline();
    if (next === deadline) break;
    deadline = next;
  }
}

function collect(race: HappyEyeballs, at: number, log: Array<[number, HappyEyeballsAction]>) {
  for (let action = race.poll(); action; action = race.poll()) log.push([at, action]);
}

const starts = (log: Array<[number, HappyEyeballsAction]>) =>
  log.filter(([, a]) => a.type === 'start').map(([t, a]) => [t, (a as { address: string }).address]);

test('interleaving: IPv6 first, then alternating families, resolver order kept, duplicates dropped', () => {
  assert.deepEqual(
    interleaveFamilies(['192.0.2.1', '2001:db8::1', '192.0.2.2', '2001:db8::2', '2001:db8::3', '192.0.2.1']),
    ['2001:db8::1', '192.0.2.1', '2001:db8::2', '192.0.2.2', '2001:db8::3'],
  );
  assert.deepEqual(interleaveFamilies(['2001:db8::1', '2001:db8::2', '192.0.2.1'], 2), [
    '2001:db8::1',
    '2001:db8::2',
    '192.0.2.1',
  ]);
  assert.deepEqual(interleaveFamilies(['192.0.2.1', '192.0.2.2']), ['192.0.2.1', '192.0.2.2']);
});

test('attempts start one connection-attempt delay apart, and the first success cancels the rest', () => {
  const race = new HappyEyeballs({ connectionAttemptDelay: 250 }, []);
  const log: Array<[number, HappyEyeballsAction]> = [];
  race.addAddresses(['192.0.2.1', '2001:db8::1', '192.0.2.2', '2001:db8::2'], 0);
  runUntil(race, 0, 600, log);
  assert.deepEqual(starts(log), [
    [0, '2001:db8::1'],
    [250, '192.0.2.1'],
    [500, '2001:db8::2'],
  ]);
  race.attemptSucceeded('192.0.2.1');
  collect(race, 610, log);
  assert.deepEqual(
    log.slice(3).map(([, a]) => a),
    [
      { type: 'cancel', address: '2001:db8::1' },
      { type: 'cancel', address: '2001:db8::2' },
      { type: 'won', address: '192.0.2.1' },
    ],
  );
  assert.equal(race.nextDeadline(), undefined, 'the untried address is ignored');
  assert.equal(
    race.attemptRecords.find((a) => a.address === '2001:db8::1')?.error?.startsWith('cancelled'),
    true,
  );
});

test('a failed attempt starts the next at once, but never within 10 ms of the previous start', () => {
  const race = new HappyEyeballs({ connectionAttemptDelay: 250 }, []);
  const log: Array<[number, HappyEyeballsAction]> = [];
  race.addAddresses(['2001:db8::1', '192.0.2.1', '2001:db8::2'], 0);
  collect(race, 0, log);
  race.attemptFailed('2001:db8::1', 'no route', 3); // fails 3 ms after its start
  collect(race, 3, log);
  assert.deepEqual(starts(log), [[0, '2001:db8::1']], 'not before the 10 ms floor');
  assert.equal(race.nextDeadline(), MIN_CONNECTION_ATTEMPT_DELAY);
  runUntil(race, 3, 100, log);
  race.attemptFailed('192.0.2.1', 'refused', 80);
  collect(race, 80, log);
  assert.deepEqual(starts(log), [
    [0, '2001:db8::1'],
    [10, '192.0.2.1'],
    [80, '2001:db8::2'],
  ]);
});

test('an A answer waits the resolution delay for AAAA; AAAA first starts at once', () => {
  const aFirst = new HappyEyeballs({ resolutionDelay: 50 }, [6, 4]);
  const log: Array<[number, HappyEyeballsAction]> = [];
  aFirst.addAddresses(['192.0.2.1'], 5, 4);
  collect(aFirst, 5, log);
  assert.equal(log.length, 0, 'nothing before the AAAA answer or the delay');
  assert.equal(aFirst.nextDeadline(), 55);
  aFirst.addAddresses(['2001:db8::1'], 30, 6); // AAAA within the delay: IPv6 goes first
  collect(aFirst, 30, log);
  assert.deepEqual(starts(log), [[30, '2001:db8::1']]);

  const late = new HappyEyeballs({ resolutionDelay: 50, connectionAttemptDelay: 250 }, [6, 4]);
  const lateLog: Array<[number, HappyEyeballsAction]> = [];
  late.addAddresses(['192.0.2.1', '192.0.2.2'], 0, 4);
  runUntil(late, 0, 60, lateLog);
  assert.deepEqual(starts(lateLog), [[50, '192.0.2.1']], 'the delay ran out: IPv4 starts alone');
  late.addAddresses(['2001:db8::1'], 100, 6); // AAAA arrives late: joins next, alternating families
  runUntil(late, 100, 600, lateLog);
  assert.deepEqual(starts(lateLog), [
    [50, '192.0.2.1'],
    [300, '2001:db8::1'],
    [550, '192.0.2.2'],
  ]);

  const v6First = new HappyEyeballs({}, [6, 4]);
  const v6Log: Array<[number, HappyEyeballsAction]> = [];
  v6First.addAddresses(['2001:db8::1'], 7, 6);
  collect(v6First, 7, v6Log);
  assert.deepEqual(starts(v6Log), [[7, '2001:db8::1']]);
});

test('every attempt failing ends the race with each address and its own error', () => {
  const race = new HappyEyeballs({ connectionAttemptDelay: 100 }, [6, 4]);
  const log: Array<[number, HappyEyeballsAction]> = [];
  race.addAddresses(['2001:db8::1'], 0, 6);
  collect(race, 0, log);
  race.attemptFailed('2001:db8::1', 'unauthorized key', 20);
  collect(race, 20, log);
  assert.ok(!log.some(([, a]) => a.type === 'failed'), 'the A answer is still pending');
  race.addAddresses(['192.0.2.1'], 40, 4);
  collect(race, 40, log);
  race.attemptFailed('192.0.2.1', 'no answer', 90);
  collect(race, 90, log);
  assert.deepEqual(log.at(-1)?.[1], {
    type: 'failed',
    attempts: [
      { address: '2001:db8::1', error: 'unauthorized key' },
      { address: '192.0.2.1', error: 'no answer' },
    ],
  });
});

test('no address at all, and abort while attempts run', () => {
  const empty = new HappyEyeballs({}, [6, 4]);
  empty.resolutionFailed(6, 'ENOTFOUND', 1);
  empty.resolutionFailed(4, 'ENOTFOUND', 2);
  assert.deepEqual(empty.poll(), { type: 'failed', attempts: [] });
  assert.deepEqual(empty.resolutionFailures, ['AAAA: ENOTFOUND', 'A: ENOTFOUND']);

  const race = new HappyEyeballs({}, []);
  race.addAddresses(['192.0.2.1'], 0);
  race.poll();
  race.abort('no answer within 10 ms');
  assert.deepEqual(race.poll(), { type: 'cancel', address: '192.0.2.1' });
  assert.deepEqual(race.poll(), {
    type: 'failed',
    attempts: [{ address: '192.0.2.1', error: 'no answer within 10 ms' }],
  });
  assert.equal(race.finished, true);
});
