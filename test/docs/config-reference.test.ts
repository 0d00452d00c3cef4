// docs/operations.md against the flag tables: "Configuration files" lists, for every command that
// takes --config, exactly the keys its file accepts (each flag, plus the key of its SERVER
// argument), marking on/off and repeatable options as the specs do; "Reloading and log rotation"
// names exactly the options SIGHUP applies. A flag added without its row fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RELOADABLE } from '../../src/cli/commands/serve.js';
import { COMMANDS } from '../../src/cli/main.js';

const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8').replace(
  /^```[\s\S]*?^```$/gm,
  '',
);

/** From `marker` to the next heading of its level or above. */
function section(text: string, marker: string): string {
  const start = text.indexOf(marker);
  assert.ok(start >= 0, `docs/operations.md has "${marker.trim()}"`);
  const level = marker.trim().indexOf(' ');
  const next = text.slice(start + marker.length).search(new RegExp(`\\n#{2,${level}} `));
  return text.slice(start, next < 0 ? undefined : start + marker.length + next);
}

const reference = section(doc, '\n## Configuration files\n');

test('the config reference lists every key of every command that takes --config, and no other', () => {
  const withConfig = Object.entries(COMMANDS).filter(([, c]) => Object.values(c.flags).some((s) => s.config));
  assert.ok(withConfig.length >= 4, 'serve, tunnel, socks, cat at least');
  const documented = [...reference.matchAll(/^### `braid (\S+)`$/gm)].map((m) => m[1]);
  assert.deepEqual(
    documented,
    withConfig.map(([name]) => name),
    'one table per command, in the order of braid --help',
  );
  for (const [name, command] of withConfig) {
    const table = section(reference, `\n### \`braid ${name}\`\n`);
    const rows = new Map(
      [...table.matchAll(/^\| `([a-z0-9-]+)` +\| ([^|]*?(?:\\\|[^|]*?)*) +\| ([^|]*?) +\|/gm)].map(
        ([, key, value, repeatable]) => [key!, { value: value!, repeatable: repeatable! }],
      ),
    );
    const expected = new Map<string, { value: string; repeatable: string }>();
    for (const [flag, spec] of Object.entries(command.flags)) {
      if (spec.config) {
        if (spec.config.positional) expected.set(spec.config.positional, { value: 'SERVER', repeatable: '' });
        continue;
      }
      const repeatable = spec.multiple ? (spec.addsToFile ? 'yes, flags add' : 'yes') : '';
      expected.set(flag, { value: spec.type === 'boolean' ? '(none)' : 'a value', repeatable });
    }
    assert.deepEqual([...rows.keys()].sort(), [...expected.keys()].sort(), `braid ${name}: the same keys`);
    for (const [key, want] of expected) {
      const row = rows.get(key)!;
      assert.equal(row.repeatable, want.repeatable, `braid ${name} ${key}: repeatable`);
      if (want.value === '(none)') assert.equal(row.value, '(none)', `braid ${name} ${key} takes no value`);
      else assert.ok(row.value !== '(none)' && row.value !== '', `braid ${name} ${key} takes a value`);
    }
  }
});

test('the reload section names exactly the options SIGHUP applies', () => {
  const reload = section(doc, '\n## Reloading and log rotation\n');
  const applied = /\*\*Applied at once:\*\*([\s\S]*?)\n- \*\*/.exec(reload);
  assert.ok(applied, 'an "Applied at once" item');
  const named = [...applied[1]!.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
  assert.deepEqual([...new Set(named)].sort(), [...RELOADABLE].sort());
});
