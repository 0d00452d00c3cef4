/**
 * Datagrams to an AF_UNIX datagram socket, which neither node:net nor node:dgram can send:
 * what a service manager's notification socket (systemd's NOTIFY_SOCKET) needs. Sent by the
 * braid_udp addon; where it is missing (or older than this function) there is no portable way,
 * and the reason says so instead.
 */
import { loadAddon } from '../native/addons.js';

interface NotifyAddon {
  notifyDatagram?(path: string, message: Uint8Array): void;
}

/** Sends one datagram to `path` ('@name' is an abstract socket); throws the system error. */
export type UnixDatagramSend = (path: string, message: Uint8Array) => void;

/** The sender, or why there is none. */
export function unixDatagramSender(): { send?: UnixDatagramSend; error?: string } {
  if (process.platform !== 'linux') return { error: `not Linux (${process.platform})` };
  const { module, error } = loadAddon<NotifyAddon>('braid_udp');
  if (!module) return { error: error ?? 'braid_udp addon unavailable' };
  const notify = module.notifyDatagram;
  if (typeof notify !== 'function') {
    return { error: 'the braid_udp addon predates notifyDatagram (npm run build:native)' };
  }
  return { send: (path, message) => notify(path, message) };
}
