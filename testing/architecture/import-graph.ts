/**
 * The repository's import graph, read from the sources themselves, for the architecture tests
 * (test/architecture/): which file imports which, and the import cycles between files.
 *
 * Every module reference counts, whatever it carries: `import`, `import type`, a side-effect
 * `import '…'`, `export … from`, `export * from`, a dynamic `import(…)` and a type-position
 * `import('…').T`. TypeScript's own pre-processor finds them, so comments and string or
 * template contents that merely look like imports are not mistaken for them. Only relative
 * specifiers make edges; packages (`node:…`, `typescript`) are outside the graph.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import ts from 'typescript';

/** One import statement: `from` imports `to` (both repository-relative, `/`-separated). */
export interface ImportEdge {
  from: string;
  to: string;
  /** The specifier as written, e.g. `../engine/types.js`. */
  specifier: string;
}

/** A file-level import cycle. */
export interface ImportCycle {
  /** Every file of the strongly connected component, sorted. */
  files: string[];
  /** One shortest cycle through the component's first file, closing on it: a → b → a. */
  path: string[];
}

const toPosix = (path: string): string => path.split(sep).join('/');

/** The module specifiers `text` imports or re-exports from, in order of appearance. */
export function importSpecifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName);
}

/**
 * The repository-relative file a relative `specifier` in `from` names: a `.js` specifier names
 * its `.ts` source, an extensionless one its `.ts` file or its folder's `index.ts`. Undefined for
 * a package specifier. A name that resolves to no file is returned as written (the typechecker
 * reports it).
 */
export function resolveImport(root: string, from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const target = normalize(join(dirname(from), specifier));
  const candidates = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, join(target, 'index.ts')];
  const found = candidates.find(
    (path) => existsSync(join(root, path)) && statSync(join(root, path)).isFile(),
  );
  return toPosix(found ?? target);
}

/** The `.ts` files under `dir` (repository-relative, recursively), sorted. */
export function tsFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(join(root, path), { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(toPosix(child));
    }
  };
  walk(dir);
  return out.sort();
}

/** Every relative import of every `.ts` file under `dirs`. */
export function importEdges(root: string, dirs: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of dirs.flatMap((dir) => tsFiles(root, dir))) {
    for (const specifier of importSpecifiers(readFileSync(join(root, file), 'utf8'))) {
      const to = resolveImport(root, file, specifier);
      if (to !== undefined) edges.push({ from: file, to, specifier });
    }
  }
  return edges;
}

/**
 * The import cycles of a graph given as file → files it imports (Tarjan's strongly connected
 * components): each component of two or more files, or a file importing itself, once.
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): ImportCycle[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: ImportCycle[] = [];
  const next = (file: string): readonly string[] => graph.get(file) ?? [];

  const connect = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const target of next(file)) {
      if (!index.has(target)) {
        connect(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || next(file).includes(file)) {
      const files = component.sort();
      cycles.push({ files, path: shortestCycle(files[0]!, new Set(files), next) });
    }
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) connect(file);
  return cycles.sort((a, b) => (a.files[0]! < b.files[0]! ? -1 : 1));
}

/** Breadth-first: the shortest path from `start` back to itself inside `members`. */
function shortestCycle(
  start: string,
  members: ReadonlySet<string>,
  next: (file: string) => readonly string[],
): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const file = queue[head]!;
    for (const target of next(file)) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [start];
        for (let at = file; at !== start; at = parent.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!parent.has(target)) {
        parent.set(target, file);
        queue.push(target);
      }
    }
  }
  return [start];
}

/** A graph of file → imported files from edges (each target once, in order of appearance). */
export function graphOf(edges: readonly ImportEdge[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const { from, to } of edges) {
    const targets = graph.get(from) ?? [];
    if (!targets.includes(to)) targets.push(to);
    graph.set(from, targets);
  }
  return graph;
}
