/**
 * The page of `braid report EVENTS` (commands/report.ts) and of `braid demo`: an `--events`
 * log (JSON lines, `{time, name, data}`) turned into one self-contained HTML page: a
 * timeline of every session's paths (state over time, the active path, failover gaps
 * shaded), an RTT chart, and the event list.
 * The SVG is drawn here, so the page needs no network and no script to show it; a
 * little inline script adds a time cursor.
 */
import { formatBytes } from '../shared/format.js';
import { type BraidEvent, EventName } from './tracker.js';

interface Segment {
  start: number;
  end: number;
  state: string;
}

interface PathTrack {
  session: number;
  path: number;
  label: string;
  segments: Segment[];
  rtt: Array<[number, number]>;
  /** Times of congestion events (window cuts) on this path. */
  congestion: number[];
}

interface FailoverMark {
  time: number;
  session: number;
  from: unknown;
  to: unknown;
  reason: string;
}

interface SessionTrack {
  id: number;
  role: string;
  start: number;
  end: number | undefined;
  closeError: string | undefined;
  bytesSent: number;
  bytesReceived: number;
  keyUpdates: number[];
  gaps: Array<[number, number]>;
  failovers: number;
  /** Suspended stretches (no working path; docs/persistence.md), to resumption or the session's end. */
  suspensions: Array<[number, number]>;
}

export interface Timeline {
  start: number;
  end: number;
  sessions: SessionTrack[];
  paths: PathTrack[];
  failovers: FailoverMark[];
  events: BraidEvent[];
  skipped: number;
}

export function parseEventLog(text: string): { events: BraidEvent[]; skipped: number } {
  const events: BraidEvent[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as BraidEvent;
      if (typeof value.time !== 'number' || typeof value.name !== 'string') throw new Error('not an event');
      events.push({ time: value.time, name: value.name, data: value.data ?? {} });
    } catch {
      skipped++;
    }
  }
  events.sort((a, b) => a.time - b.time);
  return { events, skipped };
}

const PATH_STATE_EVENTS: Record<string, string> = {
  [EventName.pathAdded]: '',
  [EventName.pathValidated]: '',
  [EventName.pathActive]: 'active',
  [EventName.pathStandby]: 'standby',
  [EventName.pathFailed]: 'failed',
  [EventName.pathRemoved]: 'removed',
};

export function buildTimeline(events: BraidEvent[], skipped = 0): Timeline {
  // From the first session event: a process may start well before its first session.
  const start = events.find((e) => typeof e.data.session === 'number')?.time ?? events[0]?.time ?? 0;
  const end = events.at(-1)?.time ?? start;
  const sessions = new Map<number, SessionTrack>();
  const paths = new Map<string, PathTrack>();
  const failovers: FailoverMark[] = [];
  const activeSince = new Map<number, Set<number>>();
  const gapOpen = new Map<number, number>();
  const suspendedSince = new Map<number, number>();

  const sessionOf = (id: number, time: number): SessionTrack => {
    let s = sessions.get(id);
    if (!s) {
      s = {
        id,
        role: '?',
        start: time,
        end: undefined,
        closeError: undefined,
        bytesSent: 0,
        bytesReceived: 0,
        keyUpdates: [],
        gaps: [],
        failovers: 0,
        suspensions: [],
      };
      sessions.set(id, s);
    }
    return s;
  };
  const pathOf = (session: number, path: number, data: Record<string, unknown>): PathTrack => {
    const key = `${session}/${path}`;
    let p = paths.get(key);
    if (!p) {
      p = { session, path, label: `s${session} p${path}`, segments: [], rtt: [], congestion: [] };
      paths.set(key, p);
    }
    if (typeof data.local === 'string' && typeof data.remote === 'string') {
      p.label = `s${session} p${path}  ${data.local} → ${data.remote}`;
    }
    return p;
  };
  const setState = (track: PathTrack, time: number, state: string): void => {
    const last = track.segments.at(-1);
    if (last && last.end === Number.POSITIVE_INFINITY) {
      if (last.state === state) return;
      last.end = time;
    }
    if (state !== 'removed') track.segments.push({ start: time, end: Number.POSITIVE_INFINITY, state });
  };

  /** Adds a gap, merged with any it overlaps (a failover event and the states that show it are one gap). */
  const addGap = (session: SessionTrack, from: number, to: number): void => {
    const overlapping = session.gaps.filter(([f, t]) => f <= to && from <= t);
    session.gaps = session.gaps.filter((g) => !overlapping.includes(g));
    const merged: [number, number] = [
      Math.min(from, ...overlapping.map(([f]) => f)),
      Math.max(to, ...overlapping.map(([, t]) => t)),
    ];
    session.gaps.push(merged);
    session.gaps.sort((a, b) => a[0] - b[0]);
  };

  for (const event of events) {
    const data = event.data as Record<string, unknown>;
    const sessionId = typeof data.session === 'number' ? data.session : undefined;
    if (sessionId === undefined) continue;
    const session = sessionOf(sessionId, event.time);
    if (event.name === EventName.sessionStarted) {
      session.start = event.time;
      session.role = String(data.role ?? '?');
    } else if (event.name === EventName.sessionSuspended) {
      if (!suspendedSince.has(sessionId)) suspendedSince.set(sessionId, event.time);
    } else if (event.name === EventName.sessionResumed) {
      const from = suspendedSince.get(sessionId);
      if (from !== undefined) session.suspensions.push([from, event.time]);
      suspendedSince.delete(sessionId);
    } else if (event.name === EventName.sessionKeyUpdate) {
      session.keyUpdates.push(event.time);
    } else if (event.name === EventName.sessionClosed) {
      session.end = event.time;
      const error = data.error as { message?: string } | null;
      session.closeError = error?.message;
      session.bytesSent = Number(data.bytesSent ?? 0);
      session.bytesReceived = Number(data.bytesReceived ?? 0);
      for (const track of paths.values())
        if (track.session === sessionId) setState(track, event.time, 'removed');
      const open = gapOpen.get(sessionId);
      if (open !== undefined) {
        addGap(session, open, event.time);
        gapOpen.delete(sessionId);
      }
      const suspended = suspendedSince.get(sessionId);
      if (suspended !== undefined) {
        session.suspensions.push([suspended, event.time]);
        suspendedSince.delete(sessionId);
      }
    } else if (event.name === EventName.failover || event.name === EventName.deliveryGap) {
      if (event.name === EventName.failover) {
        session.failovers++;
        failovers.push({
          time: event.time,
          session: sessionId,
          from: data.from,
          to: data.to,
          reason: String(data.reason ?? '?'),
        });
      }
      // A gap measured where the data arrives (the engine's event marks the switch itself).
      const gap = Number(data.gapMs);
      if (Number.isFinite(gap) && gap > 0) addGap(session, event.time - gap, event.time);
    } else if (typeof data.path === 'number') {
      const track = pathOf(sessionId, data.path, data);
      if (typeof data.srtt === 'number') track.rtt.push([event.time, data.srtt]);
      if (event.name === EventName.pathCongestion) {
        track.congestion.push(event.time);
        continue;
      }
      if (event.name === EventName.pathMetrics) {
        if (typeof data.bytesSent === 'number')
          session.bytesSent = Math.max(session.bytesSent, data.bytesSent);
        if (typeof data.bytesReceived === 'number') {
          session.bytesReceived = Math.max(session.bytesReceived, data.bytesReceived);
        }
        if (track.segments.length === 0 && typeof data.state === 'string')
          setState(track, event.time, data.state);
        continue;
      }
      if (!(event.name in PATH_STATE_EVENTS)) continue;
      const state = PATH_STATE_EVENTS[event.name] || String(data.state ?? 'validating');
      setState(track, event.time, state);
      // Failover gaps: time in which a session that had an active path has none.
      const active = activeSince.get(sessionId) ?? new Set<number>();
      activeSince.set(sessionId, active);
      const hadActive = active.size > 0;
      if (state === 'active') active.add(data.path);
      else active.delete(data.path);
      if (hadActive && active.size === 0 && state !== 'removed') gapOpen.set(sessionId, event.time);
      if (active.size > 0 && gapOpen.has(sessionId)) {
        addGap(session, gapOpen.get(sessionId)!, event.time);
        gapOpen.delete(sessionId);
      }
    }
  }
  for (const [id, at] of gapOpen) {
    const session = sessions.get(id);
    if (session) addGap(session, at, end);
  }
  for (const [id, at] of suspendedSince) sessions.get(id)?.suspensions.push([at, end]);
  for (const track of paths.values()) {
    const last = track.segments.at(-1);
    if (last && last.end === Number.POSITIVE_INFINITY) last.end = end;
  }
  return {
    start,
    end,
    sessions: [...sessions.values()],
    paths: [...paths.values()].sort((a, b) => a.session - b.session || a.path - b.path),
    failovers,
    events,
    skipped,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STATE_COLORS: Record<string, string> = {
  validating: '#e0b400',
  active: '#2e9d48',
  standby: '#5b8fd9',
  failed: '#d23c3c',
};
const LINE_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function renderReport(timeline: Timeline, title: string): string {
  // Room for the longest path label (about 7 px per character at 12 px), the plot keeps 800 px.
  const longest = Math.max(0, ...timeline.paths.map((p) => p.label.length));
  const left = Math.max(300, Math.ceil(longest * 7) + 30);
  const width = left + 820;
  const right = 20;
  const laneHeight = 22;
  const plotWidth = width - left - right;
  const span = Math.max(timeline.end - timeline.start, 1);
  const x = (t: number): number => left + ((t - timeline.start) / span) * plotWidth;
  const seconds = (t: number): string => ((t - timeline.start) / 1000).toFixed(3);

  const lanesTop = 30;
  const lanesHeight = Math.max(timeline.paths.length, 1) * laneHeight;
  const rttTop = lanesTop + lanesHeight + 50;
  const rttHeight = 200;
  const height = rttTop + rttHeight + 50;
  const svg: string[] = [];
  svg.push(
    `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="18" font-weight="bold">Paths over time (colour = state; dashed = failover; shaded = failover gap; hatched = suspended)</text>`,
    '<defs><pattern id="suspended-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#7b52ab" fill-opacity="0.12"/><line x1="0" y1="0" x2="0" y2="6" stroke="#7b52ab" stroke-width="2" stroke-opacity="0.5"/></pattern></defs>',
  );
  // Time grid.
  const ticks = 10;
  for (let i = 0; i <= ticks; i++) {
    const t = timeline.start + (span * i) / ticks;
    const gx = x(t).toFixed(1);
    svg.push(
      `<line class="grid" x1="${gx}" y1="${lanesTop}" x2="${gx}" y2="${rttTop + rttHeight}" stroke="#e4e4e4"/>`,
      `<text x="${gx}" y="${rttTop + rttHeight + 16}" text-anchor="middle" fill="#555">${seconds(t)} s</text>`,
    );
  }
  // A session's gaps and suspensions shade its own lanes only (the paths are sorted by session,
  // so they are adjacent); with one session, the RTT plot below too.
  const shadedBand = (sessionId: number): { top: number; height: number } | undefined => {
    if (timeline.sessions.length === 1) return { top: lanesTop, height: rttTop + rttHeight - lanesTop };
    const lanes = timeline.paths.flatMap((track, i) => (track.session === sessionId ? [i] : []));
    if (lanes.length === 0) return undefined;
    const first = lanes[0]!;
    return { top: lanesTop + first * laneHeight, height: (lanes.at(-1)! - first + 1) * laneHeight };
  };
  // Failover gaps, behind everything else.
  for (const session of timeline.sessions) {
    const band = shadedBand(session.id);
    if (!band) continue;
    for (const [from, to] of session.gaps) {
      svg.push(
        `<rect class="failover-gap" x="${x(from).toFixed(1)}" y="${band.top}" width="${Math.max(x(to) - x(from), 2).toFixed(1)}" height="${band.height}" fill="#d23c3c" fill-opacity="0.15"><title>session ${session.id}: no active path for ${(to - from).toFixed(0)} ms</title></rect>`,
      );
    }
  }
  // Suspended stretches: the session had no working path and was waiting to resume.
  for (const session of timeline.sessions) {
    const band = shadedBand(session.id);
    if (!band) continue;
    for (const [from, to] of session.suspensions) {
      svg.push(
        `<rect class="suspended" x="${x(from).toFixed(1)}" y="${band.top}" width="${Math.max(x(to) - x(from), 2).toFixed(1)}" height="${band.height}" fill="url(#suspended-hatch)"><title>session ${session.id}: suspended for ${(to - from).toFixed(0)} ms</title></rect>`,
      );
    }
  }
  timeline.paths.forEach((track, i) => {
    const y = lanesTop + i * laneHeight;
    svg.push(
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escapeHtml(track.label)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${plotWidth}" height="${laneHeight - 6}" fill="#f4f4f4"/>`,
    );
    for (const segment of track.segments) {
      const w = Math.max(x(segment.end) - x(segment.start), 1.5);
      svg.push(
        `<rect class="path-state state-${segment.state}" x="${x(segment.start).toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${laneHeight - 6}" fill="${STATE_COLORS[segment.state] ?? '#999'}"><title>${escapeHtml(track.label)}: ${segment.state} from ${seconds(segment.start)} s to ${seconds(segment.end)} s</title></rect>`,
      );
    }
    for (const t of track.congestion) {
      svg.push(
        `<path class="congestion" d="M${x(t).toFixed(1)},${y + 4} l-4,-5 h8 z" fill="#222"><title>${escapeHtml(track.label)}: congestion event at ${seconds(t)} s</title></path>`,
      );
    }
  });
  for (const mark of timeline.failovers) {
    const fx = x(mark.time).toFixed(1);
    svg.push(
      `<line class="failover-mark" x1="${fx}" y1="${lanesTop - 10}" x2="${fx}" y2="${rttTop + rttHeight}" stroke="#d23c3c" stroke-width="2" stroke-dasharray="6,3"><title>session ${mark.session}: failover from path ${escapeHtml(String(mark.from))} to path ${escapeHtml(String(mark.to))} at ${seconds(mark.time)} s (${escapeHtml(mark.reason)})</title></line>`,
    );
  }
  for (const session of timeline.sessions) {
    for (const t of session.keyUpdates) {
      svg.push(
        `<line class="key-update" x1="${x(t).toFixed(1)}" y1="${lanesTop - 6}" x2="${x(t).toFixed(1)}" y2="${lanesTop}" stroke="#333"><title>session ${session.id}: key update at ${seconds(t)} s</title></line>`,
      );
    }
    if (session.end !== undefined) {
      svg.push(
        `<line class="session-end" x1="${x(session.end).toFixed(1)}" y1="${lanesTop}" x2="${x(session.end).toFixed(1)}" y2="${lanesTop + lanesHeight}" stroke="#000" stroke-dasharray="3,3"><title>session ${session.id} closed at ${seconds(session.end)} s${session.closeError ? `: ${escapeHtml(session.closeError)}` : ''}</title></line>`,
      );
    }
  }
  // RTT chart.
  const rtts = timeline.paths.flatMap((p) => p.rtt.map(([, r]) => r));
  const maxRtt = Math.max(...rtts, 1);
  const yRtt = (ms: number): number => rttTop + rttHeight - (ms / maxRtt) * rttHeight;
  svg.push(
    `<text x="${left}" y="${rttTop - 10}" font-weight="bold">Smoothed RTT per path (ms)</text>`,
    `<rect x="${left}" y="${rttTop}" width="${plotWidth}" height="${rttHeight}" fill="none" stroke="#bbb"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const ms = (maxRtt * i) / 4;
    svg.push(
      `<text x="${left - 6}" y="${yRtt(ms) + 4}" text-anchor="end" fill="#555">${ms.toFixed(ms < 10 ? 2 : 0)}</text>`,
    );
  }
  timeline.paths.forEach((track, i) => {
    if (track.rtt.length === 0) return;
    const color = LINE_COLORS[i % LINE_COLORS.length];
    const points = track.rtt.map(([t, r]) => `${x(t).toFixed(1)},${yRtt(r).toFixed(1)}`).join(' ');
    svg.push(
      `<polyline class="rtt-line" points="${points}" fill="none" stroke="${color}" stroke-width="1.5"><title>${escapeHtml(track.label)}</title></polyline>`,
    );
    const y = lanesTop + i * laneHeight;
    svg.push(`<rect x="6" y="${y + 7}" width="10" height="8" fill="${color}"/>`);
  });
  svg.push(
    `<line id="cursor" x1="0" y1="${lanesTop}" x2="0" y2="${rttTop + rttHeight}" stroke="#000" stroke-width="0.5" visibility="hidden"/>`,
    `<text id="cursor-label" x="0" y="${lanesTop - 8}" visibility="hidden"></text>`,
    '</svg>',
  );

  const legend = Object.entries(STATE_COLORS)
    .map(([state, color]) => `<span><i style="background:${color}"></i>${state}</span>`)
    .join(' ');
  const sessionRows = timeline.sessions
    .map((s) => {
      const duration = ((s.end ?? timeline.end) - s.start) / 1000;
      const gapTotal = s.gaps.reduce((a, [f, t]) => a + (t - f), 0);
      const pathCount = timeline.paths.filter((p) => p.session === s.id).length;
      const suspendedTotal = s.suspensions.reduce((a, [f, t]) => a + (t - f), 0);
      return `<tr><td>${s.id}</td><td>${escapeHtml(s.role)}</td><td>${duration.toFixed(2)} s</td><td>${pathCount}</td><td>${formatBytes(s.bytesSent)}</td><td>${formatBytes(s.bytesReceived)}</td><td>${s.keyUpdates.length}</td><td>${s.failovers}</td><td>${s.gaps.length} (${gapTotal.toFixed(0)} ms)</td><td>${s.suspensions.length} (${suspendedTotal.toFixed(0)} ms)</td><td>${s.end === undefined ? 'open at end of log' : escapeHtml(s.closeError ?? 'clean')}</td></tr>`;
    })
    .join('\n');
  const shown = timeline.events.filter((e) => e.name !== EventName.pathMetrics).slice(0, 2000);
  const eventRows = shown
    .map(
      (e) =>
        `<tr><td>${seconds(e.time)}</td><td>${escapeHtml(e.name)}</td><td><code>${escapeHtml(JSON.stringify(e.data))}</code></td></tr>`,
    )
    .join('\n');
  const started = new Date(timeline.start).toISOString();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: sans-serif; margin: 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
.meta { color: #555; margin-bottom: 12px; }
.legend span { margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
code { font-size: 12px; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<div class="meta">log starts ${started}; ${((timeline.end - timeline.start) / 1000).toFixed(3)} s; ${timeline.sessions.length} session(s), ${timeline.paths.length} path(s), ${timeline.events.length} events${timeline.skipped ? `, ${timeline.skipped} unreadable lines skipped` : ''}</div>
<div class="legend">${legend} <span><i style="background:#d23c3c;opacity:.3"></i>failover gap</span> <span><i style="background:#d23c3c;width:3px"></i>failover (the engine switched paths)</span> <span>▾ congestion event</span> <span><i style="background:#7b52ab;opacity:.4"></i>suspended</span></div>
${svg.join('\n')}
<h2>Sessions</h2>
<table id="sessions"><tr><th>session</th><th>role</th><th>duration</th><th>paths</th><th>sent</th><th>received</th><th>key updates</th><th>failovers</th><th>gaps</th><th>suspended</th><th>end</th></tr>
${sessionRows}
</table>
<details><summary>${shown.length} events (periodic path metrics omitted)</summary>
<table id="events"><tr><th>time (s)</th><th>name</th><th>data</th></tr>
${eventRows}
</table></details>
<script>
(() => {
  const svg = document.getElementById('timeline');
  const cursor = document.getElementById('cursor');
  const label = document.getElementById('cursor-label');
  const left = ${left}, width = ${plotWidth}, span = ${span};
  svg.addEventListener('mousemove', (event) => {
    const box = svg.getBoundingClientRect();
    const px = event.clientX - box.left;
    if (px < left || px > left + width) return;
    cursor.setAttribute('x1', px); cursor.setAttribute('x2', px);
    label.setAttribute('x', px + 4);
    label.textContent = (((px - left) / width) * span / 1000).toFixed(3) + ' s';
    cursor.setAttribute('visibility', 'visible'); label.setAttribute('visibility', 'visible');
  });
})();
</script>
</body>
</html>
`;
}
