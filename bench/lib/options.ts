/** Command-line option helpers shared by the benches. */

/** `value` as a positive number, `fallback` when absent; a clear error naming `--name` otherwise. */
export function positiveOption(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new RangeError(`--${name} must be a positive number, got ${value}`);
  return n;
}
