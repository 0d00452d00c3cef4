// A kernel change source the test drives by hand: the real InterfaceWatcher runs on top of it,
// and a test says when "the kernel" reported a change.
import type { InterfaceChangeSource } from '../../src/endpoint/interface-events.js';

export class FakeSource implements InterfaceChangeSource {
  onChange: (() => void) | undefined;
  starts = 0;
  stops = 0;
  get kind(): 'netlink' | 'none' {
    return this.onChange ? 'netlink' : 'none';
  }
  start(onChange: () => void): string | undefined {
    this.starts++;
    this.onChange = onChange;
    return undefined;
  }
  stop(): void {
    this.stops++;
    this.onChange = undefined;
  }
}
