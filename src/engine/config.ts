import { canonicalIp } from '../net/address.js';
import { CONGESTION_CONTROL_KINDS } from '../paths/congestion/index.js';
import type { MultipathOptions, MultipathPolicy, TransportConfig } from './types.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Bytes of outgoing datagrams one session queues at most (besides the count limit): part of
 * maxSessionBuffer, so a large maxUdpPayloadSize cannot multiply the queue's memory.
 */
export const DATAGRAM_QUEUE_BYTES = 256 * KiB;
/** The least a session's streams may buffer for sending together (see sessionSendBudget). */
const MIN_SESSION_SEND_BUDGET = 64 * KiB;

/**
 * Defaults chosen for a general-purpose library: windows large enough for ~1 Gbit/s at
 * 50 ms RTT once auto-tuned, and one stated bound on what a session buffers: at most
 * maxSessionBuffer (16 MiB) in the engine, both directions and every stream together —
 * receive (reassembly and unread data) is held to maxConnectionWindow by flow control,
 * sending to the rest (sessionSendBudget) by backpressure on writes. The Node stream
 * adapters add up to two highWaterMarks per open stream on top (docs/security.md).
 */
export const DEFAULT_TRANSPORT_CONFIG: Readonly<TransportConfig> = Object.freeze({
  idleTimeout: 30_000,
  initialStreamWindow: 256 * KiB,
  maxStreamWindow: 8 * MiB,
  initialConnectionWindow: 1 * MiB,
  maxConnectionWindow: 8 * MiB,
  maxSessionBuffer: 16 * MiB,
  maxConcurrentBidiStreams: 100,
  maxConcurrentUniStreams: 100,
  sendBufferSize: 4 * MiB,
  sendBufferAutoTune: true,
  maxDatagramFrameSize: 1200,
  // 1200 bytes fits every IPv6 path (minimum MTU 1280 minus headers), as in QUIC. Above it
  // (1452: a 1500-byte Ethernet MTU minus IPv6 and UDP headers), PMTU discovery raises each path
  // up to it (docs/protocol.md §11.6); off by default until the failover and multipath
  // simulator scenarios are re-tuned for packets of two sizes (docs/multihoming.md).
  maxUdpPayloadSize: 1200,
  keyUpdateInterval: 1 << 22,
  // The peer's PTO includes our max_ack_delay, and failover waits for 2 PTOs: RFC 9000's
  // 25 ms made failure detection take ~115 ms on a 1 ms path; 3 ms gives ~35 ms
  // (npm run bench -- failover; docs/multihoming.md). With ackFrequency 10 this adds ACKs
  // only on lightly loaded paths.
  maxAckDelay: 3,
  // Every second packet (RFC 9000's default) costs the receiver a sendmsg per two
  // packets and the sender as many ACKs to open; on a 2-core host that halves goodput.
  // Ten keeps loss detection prompt (reordering still acks at once). See docs/performance.md.
  ackFrequency: 10,
  handshakeTimeout: 10_000,
  // BBR: paced at the measured bottleneck rate, not slowed by random loss. In the lab it holds
  // lte, wifi-bad and satellite links at Linux TCP CUBIC's goodput or above, where CUBIC here
  // falls to 15-20 % of it (docs/performance.md).
  congestionControl: 'bbr',
  pathValidationLifetime: 300_000,
  // See docs/multihoming.md: a dead path of an idle session is noticed within about one
  // interval plus three PTOs, well inside 2× the interval; one ~40-byte PING per second.
  keepaliveInterval: 1000,
  // As often as the keepalive: the warm standby is known good (or failed) before it is needed.
  // LOW_POWER_TRANSPORT checks it far less often (it is re-checked at suspicion anyway).
  standbyCheckInterval: 1000,
  backupAddresses: Object.freeze([]),
  // Long enough to outlast a link that comes back for a moment (a flapping radio); short enough
  // that a healed preferred path carries the traffic again within ~5 s (retried every second,
  // then this, then one confirming round trip).
  moveBackDelay: 2000,
  // docs/persistence.md: long enough for a commute, a flight or a laptop's lunch break; the
  // server holds a suspended session's buffers that long, so operators may lower it.
  persistenceTimeout: 4 * 60 * 60 * 1000,
  // A returning path is used within about this long (plus a round trip), for one ~1200-byte
  // datagram per candidate address pair per interval while suspended (npm run bench -- resume).
  resumeInterval: 1000,
  multipath: Object.freeze({ policy: 'failover' }),
});

/**
 * The low-power setting (docs/multihoming.md, "Idle cost"): for a mobile device whose radio
 * should sleep. An idle session costs at most 144 packets an hour, both directions and both
 * paths together (WireGuard's 25 s persistent keepalive: 144 one-way packets an hour), and a
 * dead active path is still left within 2 × keepaliveInterval. Use it on both ends (the server
 * gives up a standby the client checks less often than its own setting expects), and only where
 * NAT mappings outlive a minute (RFC 4787 asks for at least 2 minutes; some keep UDP 30 s).
 */
export const LOW_POWER_TRANSPORT: Readonly<
  Pick<
    TransportConfig,
    'keepaliveInterval' | 'standbyCheckInterval' | 'idleTimeout' | 'pathValidationLifetime'
  >
> = Object.freeze({
  // One PING and its ACK a minute on the active path: 120 packets an hour.
  keepaliveInterval: 60_000,
  // The warm standby's challenge and answer every 6 minutes: 20 an hour.
  standbyCheckInterval: 360_000,
  // Longer than two keepalive intervals, so one lost keepalive round never ends the session.
  idleTimeout: 180_000,
  // A path nobody sends on (the server's side of the client's warm standby) is revalidated hourly,
  // not every 5 minutes; paths that carry keepalives are renewed by their ACKs.
  pathValidationLifetime: 3_600_000,
});

/** Stream frames and datagrams up to this many bytes go on two paths under `redundant`. */
export const DEFAULT_REDUNDANT_MAX_BYTES = 1024;

/** MultipathOptions with every default filled in. */
export interface ResolvedMultipath {
  policy: MultipathPolicy;
  lazy: { afterMs: number; afterBytes: number } | undefined;
  redundantMaxBytes: number;
}

const POLICIES: readonly MultipathPolicy[] = ['failover', 'aggregate', 'redundant'];

/**
 * Validates multipath options (`field` names them in errors, e.g. 'transport.multipath' or
 * 'multipath') and fills defaults. A lazy threshold that is not given never triggers.
 */
export function resolveMultipath(value: unknown, field = 'transport.multipath'): ResolvedMultipath {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(field, 'must be an object like { policy: "aggregate" }');
  }
  const options = value as MultipathOptions;
  for (const key of Object.keys(options)) {
    if (key !== 'policy' && key !== 'lazy' && key !== 'redundantMaxBytes') {
      throw new ConfigError(`${field}.${key}`, 'is not a multipath option (policy, lazy, redundantMaxBytes)');
    }
  }
  const policy = options.policy ?? 'failover';
  if (!POLICIES.includes(policy)) {
    throw new ConfigError(`${field}.policy`, `must be one of ${POLICIES.join(', ')}, got ${String(policy)}`);
  }
  let lazy: ResolvedMultipath['lazy'];
  if (options.lazy !== undefined) {
    const l = options.lazy as Record<string, unknown> | null;
    if (l === null || typeof l !== 'object' || Array.isArray(l)) {
      throw new ConfigError(`${field}.lazy`, 'must be an object { afterMs?, afterBytes? }');
    }
    for (const key of Object.keys(l)) {
      if (key !== 'afterMs' && key !== 'afterBytes')
        throw new ConfigError(`${field}.lazy.${key}`, 'is not a lazy option (afterMs, afterBytes)');
    }
    if (l.afterMs === undefined && l.afterBytes === undefined) {
      throw new ConfigError(`${field}.lazy`, 'needs afterMs, afterBytes or both');
    }
    lazy = {
      afterMs:
        l.afterMs === undefined
          ? Number.POSITIVE_INFINITY
          : positiveInteger(`${field}.lazy.afterMs`, l.afterMs, 0, 2 ** 31),
      afterBytes:
        l.afterBytes === undefined
          ? Number.POSITIVE_INFINITY
          : positiveInteger(`${field}.lazy.afterBytes`, l.afterBytes, 0, 2 ** 53 - 1),
    };
  }
  const redundantMaxBytes =
    options.redundantMaxBytes === undefined
      ? DEFAULT_REDUNDANT_MAX_BYTES
      : positiveInteger(`${field}.redundantMaxBytes`, options.redundantMaxBytes, 1, 65535);
  return { policy, lazy, redundantMaxBytes };
}

export class ConfigError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

function positiveInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(field, `must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function checkBackupAddresses(value: unknown): void {
  if (!Array.isArray(value))
    throw new ConfigError('transport.backupAddresses', 'must be an array of IP addresses');
  for (const [i, address] of value.entries()) {
    if (typeof address !== 'string' || canonicalIp(address) === undefined)
      throw new ConfigError(
        `transport.backupAddresses[${i}]`,
        `must be an IP address, got ${String(address)}`,
      );
  }
}

/**
 * Bytes all of a session's send buffers may hold together: what maxSessionBuffer leaves
 * after the receive window's ceiling and the datagram queue.
 */
export function sessionSendBudget(config: TransportConfig): number {
  return config.maxSessionBuffer - config.maxConnectionWindow - DATAGRAM_QUEUE_BYTES;
}

/** Merges user overrides onto the defaults and validates every field, naming the bad one. */
export function resolveTransportConfig(overrides: Partial<TransportConfig> = {}): TransportConfig {
  if (overrides === null || typeof overrides !== 'object') {
    throw new ConfigError('transport', 'must be an object');
  }
  const c: TransportConfig = { ...DEFAULT_TRANSPORT_CONFIG, ...overrides };
  // A send buffer size set by hand is kept unless auto-tuning is asked for too.
  if (overrides.sendBufferAutoTune === undefined)
    c.sendBufferAutoTune = overrides.sendBufferSize === undefined;
  const limit = 2 ** 53 - 1;
  positiveInteger('transport.idleTimeout', c.idleTimeout, 0, 2 ** 31);
  positiveInteger('transport.initialStreamWindow', c.initialStreamWindow, 1, limit);
  positiveInteger('transport.maxStreamWindow', c.maxStreamWindow, c.initialStreamWindow, limit);
  positiveInteger('transport.initialConnectionWindow', c.initialConnectionWindow, 1, limit);
  positiveInteger('transport.maxConnectionWindow', c.maxConnectionWindow, c.initialConnectionWindow, limit);
  positiveInteger('transport.maxConcurrentBidiStreams', c.maxConcurrentBidiStreams, 0, 2 ** 40);
  positiveInteger('transport.maxConcurrentUniStreams', c.maxConcurrentUniStreams, 0, 2 ** 40);
  positiveInteger('transport.sendBufferSize', c.sendBufferSize, 1, limit);
  if (typeof c.sendBufferAutoTune !== 'boolean')
    throw new ConfigError(
      'transport.sendBufferAutoTune',
      `must be true or false, got ${String(c.sendBufferAutoTune)}`,
    );
  positiveInteger('transport.maxSessionBuffer', c.maxSessionBuffer, 1, limit);
  const leastSessionBuffer = c.maxConnectionWindow + DATAGRAM_QUEUE_BYTES + MIN_SESSION_SEND_BUDGET;
  if (c.maxSessionBuffer < leastSessionBuffer) {
    throw new ConfigError(
      'transport.maxSessionBuffer',
      `must be at least maxConnectionWindow + 320 KiB (${leastSessionBuffer}), got ${c.maxSessionBuffer}: raise it or lower maxConnectionWindow`,
    );
  }
  positiveInteger('transport.maxDatagramFrameSize', c.maxDatagramFrameSize, 0, 65535);
  positiveInteger('transport.maxUdpPayloadSize', c.maxUdpPayloadSize, 1200, 65527);
  positiveInteger('transport.keyUpdateInterval', c.keyUpdateInterval, 16, 2 ** 40);
  positiveInteger('transport.maxAckDelay', c.maxAckDelay, 0, 2 ** 14);
  positiveInteger('transport.ackFrequency', c.ackFrequency, 1, 1000);
  positiveInteger('transport.handshakeTimeout', c.handshakeTimeout, 100, 2 ** 31);
  positiveInteger('transport.pathValidationLifetime', c.pathValidationLifetime, 1000, 2 ** 31);
  positiveInteger('transport.keepaliveInterval', c.keepaliveInterval, 0, 2 ** 31);
  positiveInteger('transport.standbyCheckInterval', c.standbyCheckInterval, 1, 2 ** 31);
  positiveInteger('transport.moveBackDelay', c.moveBackDelay, 0, 2 ** 31);
  checkBackupAddresses(c.backupAddresses);
  resolveMultipath(c.multipath);
  positiveInteger('transport.persistenceTimeout', c.persistenceTimeout, 0, 2 ** 40);
  positiveInteger('transport.resumeInterval', c.resumeInterval, 100, 2 ** 31);
  if (!(CONGESTION_CONTROL_KINDS as readonly unknown[]).includes(c.congestionControl)) {
    throw new ConfigError(
      'transport.congestionControl',
      `must be one of ${CONGESTION_CONTROL_KINDS.map((k) => `'${k}'`).join(', ')}, got ${String(c.congestionControl)}`,
    );
  }
  return c;
}
