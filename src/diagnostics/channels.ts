import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * node:diagnostics_channel channels. Messages are built only when a channel has
 * subscribers, so observability costs nothing when nobody listens.
 *
 * - braid:session:created   { session }                 a client connect started or a server accepted a handshake
 * - braid:session:handshake { session, remoteKey }
 * - braid:session:closed    { session, error }          error is undefined for a clean close
 * - braid:session:suspended { session, reason }         no path has worked for the failure timeout
 *                           ('failure-timeout'), or the peer said it is suspended ('peer-suspended')
 * - braid:session:resumed   { session }                 back on fresh keys and connection IDs
 * - braid:path:updated      { session, path }
 * - braid:path:failover     { session, from, to, reason } the session moved its sending to another path
 * - braid:path:congestion   { session, path, reason }     a congestion event cut the path's window
 * - braid:endpoint:drop     { reason, local?, remote?, error?, datagrams? }  datagrams the shell could not send
 * - braid:endpoint:closed   { backend, local, stats, sockets }  a shell closed its sockets: its counters
 *                           (UdpEndpointStats) and each socket back-end's own (GSO fallbacks, queued sends...)
 */
export const channels = {
  sessionCreated: diagnosticsChannel.channel('braid:session:created'),
  sessionHandshake: diagnosticsChannel.channel('braid:session:handshake'),
  sessionClosed: diagnosticsChannel.channel('braid:session:closed'),
  sessionSuspended: diagnosticsChannel.channel('braid:session:suspended'),
  sessionResumed: diagnosticsChannel.channel('braid:session:resumed'),
  pathUpdated: diagnosticsChannel.channel('braid:path:updated'),
  pathFailover: diagnosticsChannel.channel('braid:path:failover'),
  pathCongestion: diagnosticsChannel.channel('braid:path:congestion'),
  endpointDrop: diagnosticsChannel.channel('braid:endpoint:drop'),
  endpointClosed: diagnosticsChannel.channel('braid:endpoint:closed'),
} as const;

export type DiagnosticsChannelName =
  | 'braid:session:created'
  | 'braid:session:handshake'
  | 'braid:session:closed'
  | 'braid:session:suspended'
  | 'braid:session:resumed'
  | 'braid:path:updated'
  | 'braid:path:failover'
  | 'braid:path:congestion'
  | 'braid:endpoint:drop'
  | 'braid:endpoint:closed';

/** Publishes `build()` only when someone subscribes: the message object is never allocated otherwise. */
export function publish(channel: diagnosticsChannel.Channel, build: () => unknown): void {
  if (channel.hasSubscribers) channel.publish(build());
}
