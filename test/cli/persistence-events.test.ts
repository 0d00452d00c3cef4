// Suspension in the operator tools: the tracker logs braid:session:suspended / resumed from the
// library's diagnostics channels, and `braid report` shades the suspended stretch.
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { buildTimeline, renderReport } from '../../src/cli/observe/report.js';
import { type BraidEvent, EventName, SessionTracker } from '../../src/cli/observe/tracker.js';

test('the tracker logs suspended and resumed for a tracked session', () => {
  const tracker = new SessionTracker('test');
  const events: BraidEvent[] = [];
  tracker.on('event', (e) => events.push(e));
  try {
    const session = Object.assign(new EventEmitter(), { role: 'client', paths: [], stats: {} });
    diagnosticsChannel.channel('braid:session:created').publish({ session });
    diagnosticsChannel.channel('braid:session:suspended').publish({ session });
    diagnosticsChannel.channel('braid:session:resumed').publish({ session });
    const names = events.map((e) => e.name);
    assert.deepEqual(names, [EventName.sessionStarted, EventName.sessionSuspended, EventName.sessionResumed]);
    assert.equal(events[1]!.data.session, events[0]!.data.session);
  } finally {
    tracker.close();
  }
});

test('braid report draws the suspended stretch and counts it per session', () => {
  const t0 = 1_700_000_000_000;
  const event = (ms: number, name: string, data: Record<string, unknown> = {}): BraidEvent => ({
    time: t0 + ms,
    name,
    data: { session: 1, ...data },
  });
  const timeline = buildTimeline([
    event(0, EventName.sessionStarted, { role: 'client' }),
    event(1000, EventName.sessionSuspended),
    event(31_000, EventName.sessionResumed),
    event(40_000, EventName.sessionSuspended),
    event(45_000, EventName.sessionClosed, { error: { message: 'expired' } }),
  ]);
  assert.deepEqual(timeline.sessions[0]!.suspensions, [
    [t0 + 1000, t0 + 31_000],
    [t0 + 40_000, t0 + 45_000],
  ]);
  const html = renderReport(timeline, 'test');
  assert.equal(html.match(/class="suspended"/g)?.length, 2);
  assert.match(html, /session 1: suspended for 30000 ms/);
  assert.match(html, /<td>2 \(35000 ms\)<\/td>/);
});

test("braid report hatches one session's suspension over its own lanes only", () => {
  const t0 = 1_700_000_000_000;
  const event = (
    ms: number,
    session: number,
    name: string,
    data: Record<string, unknown> = {},
  ): BraidEvent => ({
    time: t0 + ms,
    name,
    data: { session, ...data },
  });
  const path = (remote: string) => ({ path: 0, local: '127.0.0.1:4433', remote, state: 'active' });
  const timeline = buildTimeline([
    event(0, 1, EventName.sessionStarted, { role: 'server' }),
    event(0, 1, EventName.pathActive, path('127.0.0.1:5001')),
    event(10, 2, EventName.sessionStarted, { role: 'server' }),
    event(10, 2, EventName.pathActive, path('127.0.0.1:5002')),
    event(1000, 2, EventName.sessionSuspended),
    event(5000, 2, EventName.sessionResumed),
    event(6000, 1, EventName.sessionClosed, { error: null }),
    event(6000, 2, EventName.sessionClosed, { error: null }),
  ]);
  const html = renderReport(timeline, 'two sessions');
  const verticalSpan = (rect: string): [number, number] => {
    const y = Number(/ y="([\d.]+)"/.exec(rect)?.[1]);
    return [y, y + Number(/ height="([\d.]+)"/.exec(rect)?.[1])];
  };
  const laneOf = (session: number): [number, number] => {
    const rect = html.match(new RegExp(`<rect class="path-state[^>]*><title>s${session} p0 `))?.[0];
    assert.ok(rect, `session ${session} has a lane`);
    return verticalSpan(rect);
  };
  const hatches = html.match(/<rect class="suspended"[^>]*>/g) ?? [];
  assert.equal(hatches.length, 1);
  const [top, bottom] = verticalSpan(hatches[0]!);
  const [ownTop, ownBottom] = laneOf(2);
  assert.ok(top <= ownTop && bottom >= ownBottom, "the hatch covers the suspended session's lane");
  const [otherTop, otherBottom] = laneOf(1);
  assert.ok(bottom <= otherTop || top >= otherBottom, "the hatch leaves the other session's lane alone");
});
