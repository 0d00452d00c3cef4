/**
 * Receive-side flow control for one stream or the whole connection: tracks the
 * limit we advertised, checks the peer against it, and decides when to advertise
 * more (MAX_STREAM_DATA / MAX_DATA). The window auto-tunes: when the application
 * drains it faster than once per two round trips, the window doubles (up to max),
 * so a fast transfer is not throttled by a small initial window.
 */
export class ReceiveWindow {
  private windowSize: number;
  private readonly initialWindow: number;
  private readonly maxWindow: number;
  private advertised: number;
  private consumed = 0;
  private highest = 0;
  /** When the current window started being consumed (previous update, or first consumption). */
  private epochStart: number | undefined;

  constructor(initial: number, max: number) {
    this.windowSize = initial;
    this.initialWindow = initial;
    this.maxWindow = Math.max(initial, max);
    this.advertised = initial;
  }

  /** The limit we advertised (absolute offset). */
  get limit(): number {
    return this.advertised;
  }

  get window(): number {
    return this.windowSize;
  }

  get consumedBytes(): number {
    return this.consumed;
  }

  get highestReceived(): number {
    return this.highest;
  }

  /** The peer sent up to highestOffset. false when that exceeds our limit (FLOW_CONTROL_ERROR). */
  onReceived(highestOffset: number): boolean {
    if (highestOffset > this.advertised) return false;
    if (highestOffset > this.highest) this.highest = highestOffset;
    return true;
  }

  /**
   * The application consumed `bytes`. Returns the new limit to advertise once at
   * least half the window was consumed since the last update, else undefined.
   * `shrink` (the server is over its memory budget): the window falls back to its initial
   * size instead of growing, so the peer is granted less from now on.
   */
  onConsumed(bytes: number, now: number, srtt: number | undefined, shrink = false): number | undefined {
    if (bytes <= 0) return undefined;
    this.consumed += bytes;
    if (this.epochStart === undefined) this.epochStart = now;
    if (shrink) this.windowSize = this.initialWindow;
    if (this.advertised - this.consumed > this.windowSize / 2) return undefined;
    if (
      !shrink &&
      srtt !== undefined &&
      now - this.epochStart < 2 * srtt &&
      this.windowSize < this.maxWindow
    ) {
      this.windowSize = Math.min(this.windowSize * 2, this.maxWindow);
    }
    this.epochStart = now;
    const next = this.consumed + this.windowSize;
    if (next <= this.advertised) return undefined;
    this.advertised = next;
    return next;
  }
}

/** Send-side credit: the limit the peer granted (MAX_DATA / MAX_STREAM_DATA). */
export class SendCredit {
  limit: number;

  constructor(initial: number) {
    this.limit = initial;
  }

  /** Raises the limit; decreases are ignored (frames may be reordered). Returns true if it grew. */
  raise(max: number): boolean {
    if (max <= this.limit) return false;
    this.limit = max;
    return true;
  }

  /** Credit left after `used` bytes. */
  available(used: number): number {
    return used >= this.limit ? 0 : this.limit - used;
  }
}

/**
 * Bytes all send buffers of one session may hold together (its share of maxSessionBuffer):
 * a write beyond it is refused like a write beyond the stream's own buffer, and the
 * streams refused that way are told 'stream-writable' when acknowledgements free room.
 */
export class SendBudget {
  private heldBytes = 0;
  /**
   * What auto-tuning lets one stream's send buffer hold (0: its configured size only): raised
   * from the bandwidth-delay product of the paths in use, never above `limit` (see autoTune).
   */
  private tunedStreamBytes = 0;

  constructor(
    readonly limit: number,
    /** Whether autoTune may raise stream send buffers at all (TransportConfig.sendBufferAutoTune). */
    private readonly autoTuning = false,
  ) {}

  /** A stream's send buffer holds at least this much (on top of its configured size). */
  get tunedStreamBuffer(): number {
    return this.tunedStreamBytes;
  }

  /**
   * Sizes stream send buffers from `bandwidthDelayProduct` bytes, as Linux's tcp_wmem
   * auto-tuning does: twice the product (the application refills one window while the other is
   * in flight), within the session's limit. Only grows, so a write once accepted is never
   * refused in hindsight and a short dip in the estimate does not starve a transfer. True if
   * it grew (refused writers may go on).
   */
  autoTune(bandwidthDelayProduct: number): boolean {
    if (!this.autoTuning) return false;
    const target = Math.min(this.limit, Math.ceil(2 * bandwidthDelayProduct));
    if (!(target > this.tunedStreamBytes)) return false;
    this.tunedStreamBytes = target;
    return true;
  }

  get held(): number {
    return this.heldBytes;
  }

  get available(): number {
    return this.heldBytes >= this.limit ? 0 : this.limit - this.heldBytes;
  }

  hold(bytes: number): void {
    this.heldBytes += bytes;
  }

  release(bytes: number): void {
    this.heldBytes = Math.max(0, this.heldBytes - bytes);
  }
}

/** The budget of a send side used on its own (unit tests, tools): no session-wide bound. */
export const UNBOUNDED_SEND_BUDGET_LIMIT = Number.MAX_SAFE_INTEGER;
