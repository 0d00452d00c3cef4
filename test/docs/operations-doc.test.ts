// docs/operations.md against the code: the metrics reference lists exactly the metrics the
// process exports, with their types and label names, so neither can drift from the other.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RttHistogram, renderMetrics } from '../../src/cli/observe/metrics.js';
import { SessionTracker } from '../../src/cli/observe/tracker.js';

// Fenced code is left out: a shell comment there would read as a heading.
const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8').replace(
  /^```[\s\S]*?^```$/gm,
  '',
);

/** The body of one `## ` section of the document. */
function section(heading: string): string {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/operations.md has a section "${heading}"`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

interface Exported {
  type: string;
  labels: Set<string>;
}

/** What /metrics exports: each family's type (from # TYPE) and the label names of its samples. */
function exported(): Map<string, Exported> {
  const tracker = new SessionTracker('serve');
  // One drop, so the drops family has a sample that shows its label.
  tracker.watchEndpointDrops(() => ({ malformed: 1 }));
  try {
    const text = renderMetrics(tracker, new RttHistogram());
    const families = new Map<string, Exported>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      families.set(name!, { type: type!, labels: new Set() });
    }
    for (const [, sample, labels] of text.matchAll(/^([a-z_]+)(?:\{([^}]*)\})? \S+$/gm)) {
      const family = families.get(sample!) ?? families.get(sample!.replace(/_(bucket|sum|count)$/, ''));
      assert.ok(family, `sample ${sample} belongs to a declared family`);
      for (const [, label] of (labels ?? '').matchAll(/([a-z_]+)="/g)) family.labels.add(label!);
    }
    return families;
  } finally {
    tracker.close();
  }
}

test('the metrics reference lists every exported metric with its type and labels, and no other', () => {
  const rows = [...section('Metrics reference').matchAll(/^\| `([a-z_]+)` +\| ([a-z]+) +\| ([^|]*)\|/gm)];
  const documented = new Map(
    rows.map(([, name, type, labels]) => [
      name!,
      { type: type!, labels: new Set([...labels!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)) },
    ]),
  );
  const actual = exported();
  assert.ok(actual.size >= 10, 'the exposition was parsed');
  assert.deepEqual([...documented.keys()].sort(), [...actual.keys()].sort(), 'the same metric names');
  for (const [name, { type, labels }] of actual) {
    const row = documented.get(name)!;
    assert.equal(row.type, type, `${name} is documented as a ${type}`);
    assert.deepEqual([...row.labels].sort(), [...labels].sort(), `${name} has the documented labels`);
  }
});

test('the operations guide has the agreed sections, in order, and the README links it', () => {
  const headings = [...doc.matchAll(/^#{1,2} (.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(headings, [
    'Operating Braid',
    'Install',
    'Keys',
    'Running as a service',
    'Configuration files',
    'Reloading and log rotation',
    'Tunnels that never give up',
    'ssh over Braid',
    'UDP forwarding',
    'Status, health and logs',
    'Metrics reference',
    'Upgrade',
    'Troubleshooting by symptom',
  ]);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.match(readme, /\]\(docs\/operations\.md\)/);
});
