// `braid --help` and every subcommand's help: present, answered with exit 0, and in agreement
// with the flags the subcommand really accepts (both ways: every accepted flag is documented,
// every documented flag is accepted). The agreement is checked in-process, against the same
// tables main.ts dispatches with; one real process checks the binary's answers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { COMMANDS, main } from '../../src/cli/main.js';
import { EXIT_CODES_HELP, ExitCode } from '../../src/cli/shared/errors.js';
import { makeHome, runBraid } from '../../testing/harness/braid-command.js';

const home = makeHome();
after(() => home.cleanup());

/** Runs main() in this process and captures what it prints. */
async function captured(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = '';
  let err = '';
  console.log = (...args: unknown[]) => {
    out += `${args.join(' ')}\n`;
  };
  console.error = (...args: unknown[]) => {
    err += `${args.join(' ')}\n`;
  };
  try {
    return { code: await main(argv), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('braid --help lists every command, the global log options and the exit codes', async () => {
  const result = await runBraid(['--help'], home.env);
  assert.equal(result.code, 0);
  for (const command of Object.keys(COMMANDS)) {
    assert.match(result.stdout, new RegExp(`^  ${command}\\b`, 'm'), `${command} is listed`);
  }
  assert.match(result.stdout, /--log-level LEVEL/);
  assert.match(result.stdout, /--log-format FORMAT/);
  assert.ok(result.stdout.includes(EXIT_CODES_HELP), 'the exit codes');
  // No command at all: the same help, as a usage error.
  const bare = await runBraid([], home.env);
  assert.equal(bare.code, 2);
  assert.equal(bare.stdout, result.stdout);
});

test('every subcommand answers --help, -h and help COMMAND with its usage, exit 0', async () => {
  for (const [command, { usage }] of Object.entries(COMMANDS)) {
    for (const argv of [
      [command, '--help'],
      [command, '-h'],
      ['help', command],
    ]) {
      const result = await captured(argv);
      assert.equal(result.code, 0, `${argv.join(' ')}: ${result.err}`);
      assert.equal(result.out, `${usage}\n`, argv.join(' '));
    }
    assert.match(
      usage,
      new RegExp(`^usage: braid ${command}\\b`),
      `${command} usage starts with its synopsis`,
    );
    assert.match(usage, /\n\n/, `${command} usage explains more than a synopsis`);
  }
});

test("each subcommand's help documents exactly the flags it accepts", () => {
  for (const [command, { usage, flags }] of Object.entries(COMMANDS)) {
    for (const [name, spec] of Object.entries(flags)) {
      assert.ok(usage.includes(`--${name}`), `braid ${command} --help documents --${name}`);
      if (spec.short) assert.match(usage, new RegExp(`(^|[\\s\\[])-${spec.short}\\b`, 'm'), `-${spec.short}`);
    }
    // Option lines of the help: '  --name ...' or '  -x, --name ...'.
    const documented = [...usage.matchAll(/^ {2}(?:-[A-Za-z], )?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!);
    for (const name of documented) {
      if (name === 'help') continue;
      // braid receive passes every serve option on; its own is --dir.
      const accepted = command === 'receive' ? name in COMMANDS.serve!.flags || name in flags : name in flags;
      assert.ok(accepted, `braid ${command} accepts the documented --${name}`);
    }
  }
});

test('the README documents the same exit codes as the code and --help', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const line = /^Exit codes: (.*(?:\n(?!\n).*)*)/m.exec(readme)?.[1] ?? '';
  for (const code of Object.values(ExitCode)) {
    assert.match(line, new RegExp(`(^|, |\n)${code} `), `README lists exit code ${code}`);
    assert.match(EXIT_CODES_HELP, new RegExp(`\\b${code} [a-z]`), `--help lists exit code ${code}`);
  }
});
