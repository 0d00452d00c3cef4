/**
 * Names for the errno values Braid's native addons report. The addons report numbers only:
 * a send status carries the errno of the datagrams it dropped, and a thrown system error
 * (native/napi_errno.h) carries `errno` (negative, as on Node's own errors) and `syscall` but
 * no `code`. The names come from here, one table for every addon, from the platform's own list.
 */
import { constants } from 'node:os';

const names = new Map<number, string>();
// Where two names share a value (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP) the first is libuv's,
// the one node:dgram reports: both socket back-ends then count the same errno by the same code.
for (const [name, value] of Object.entries(constants.errno)) if (!names.has(value)) names.set(value, name);

/** The Node-style code (`EADDRINUSE`...) for an errno of either sign; `ERRNO_<n>` if the platform has no name. */
export function errnoCode(errno: number): string {
  const value = Math.abs(errno);
  return names.get(value) ?? `ERRNO_${value}`;
}

/**
 * `error` as thrown by an addon, with the `code` its `errno` names filled in. Anything that is
 * not an addon system error (no numeric errno, or a code already) is returned as it is.
 */
export function withErrnoCode(error: unknown): unknown {
  const e = error as NodeJS.ErrnoException;
  if (e instanceof Error && typeof e.errno === 'number' && e.code === undefined) e.code = errnoCode(e.errno);
  return error;
}
