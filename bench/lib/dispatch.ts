// `npm run bench -- <name> [args]`: finds bench/<name>.ts (or bench/baselines/<name>.ts as
// `baselines/<name>`), calls its `run(args)` and prints the returned object as JSON on stdout.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface DispatchIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: DispatchIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

const NAME_PATTERN = /^(baselines\/)?[a-z0-9][a-z0-9-]*$/;

function tsModulesIn(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
      .map((entry) => entry.name.slice(0, -'.ts'.length));
  } catch {
    return [];
  }
}

/** Bench names available under `benchDir`, sorted: top-level modules, then `baselines/<name>`. */
export function listBenches(benchDir: string): string[] {
  const top = tsModulesIn(benchDir).filter((name) => name !== 'index');
  const baselines = tsModulesIn(join(benchDir, 'baselines')).map((name) => `baselines/${name}`);
  return [...top.sort(), ...baselines.sort()];
}

type RunFunction = (args: string[]) => Promise<object>;

function usage(names: string[]): string {
  const lines = names.length > 0 ? names.map((name) => `  ${name}`) : ['  (none yet)'];
  return `usage: npm run bench -- <name> [args]\navailable benches:\n${lines.join('\n')}\n`;
}

/** Runs the dispatcher; returns the process exit code instead of exiting, so it can be tested. */
export async function dispatch(
  argv: string[],
  benchDir: string,
  io: DispatchIo = defaultIo,
): Promise<number> {
  const [name, ...args] = argv;
  const names = listBenches(benchDir);
  if (name === undefined || name === '--help' || name === '-h' || name === '--list') {
    io.stderr(usage(names));
    return EXIT_OK;
  }
  if (!NAME_PATTERN.test(name) || !names.includes(name)) {
    io.stderr(`unknown bench '${name}'\n${usage(names)}`);
    return EXIT_USAGE;
  }
  const modulePath = resolve(benchDir, `${name}.ts`);
  let run: RunFunction;
  try {
    const module = (await import(pathToFileURL(modulePath).href)) as { run?: unknown };
    if (typeof module.run !== 'function') {
      io.stderr(`bench '${name}' does not export run(args)\n`);
      return EXIT_FAILED;
    }
    run = module.run as RunFunction;
  } catch (error) {
    io.stderr(`bench '${name}' failed to load: ${error instanceof Error ? error.stack : String(error)}\n`);
    return EXIT_FAILED;
  }
  try {
    const output = await run(args);
    io.stdout(`${JSON.stringify(output, null, 2)}\n`);
    return EXIT_OK;
  } catch (error) {
    io.stderr(`bench '${name}' failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    return EXIT_FAILED;
  }
}
