// The deterministic network simulator (docs/simulator.md).
export { ScenarioError, SimError } from './errors.js';
export { EventQueue, type Scheduled } from './event-queue.js';
export {
  type ExploreCase,
  ExploreFailure,
  type ExploreOptions,
  explore,
  type RandomScenario,
  type RandomScenarioOptions,
  randomScenario,
} from './explore.js';
export {
  type BurstLoss,
  DEFAULT_LINK,
  type Direction,
  type DirectionSelector,
  type LinkParams,
  type PacketBurstLoss,
  type RateSchedule,
  rateAt,
  type TimedBurstLoss,
  validateLinkParams,
} from './link.js';
export {
  DEFAULT_FIREWALL,
  DEFAULT_NAT,
  Firewall,
  type FirewallConfig,
  Nat,
  type NatConfig,
  type NatFiltering,
  type NatMapping,
} from './middlebox.js';
export {
  type CapturedDatagram,
  type DropReason,
  type LinkSpec,
  resolveLinkSpec,
  SimHost,
  SimInterface,
  type SimNode,
  type SimStats,
  Simulator,
  type SimulatorOptions,
} from './network.js';
export {
  type Arrival,
  EchoNode,
  makePacket,
  packetIntact,
  packetSeq,
  Recorder,
  ScriptedNode,
  SequenceSender,
  type SequenceSenderOptions,
  WindowReceiver,
  WindowSender,
  type WindowSenderOptions,
} from './nodes.js';
export { IPV4_UDP_OVERHEAD, type ProfileSpec, profileLinks, simLinkOf } from './profiles.js';
export { Rng, seedFromEnv } from './rng.js';
export {
  type FaultSpec,
  type FirewallSpec,
  type HostSpec,
  type NatSpec,
  type ScenarioSpec,
  scenario,
  validateScenario,
} from './scenario.js';
export { payloadHash, Trace, type TraceOptions } from './trace.js';
