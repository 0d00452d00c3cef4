/**
 * Linux MPTCP in the namespace lab, set up as a fair baseline needs: MPTCP enabled, the in-kernel path manager's limits raised on both ends, the server
 * announcing its second address (`signal`) and the client opening subflows from its second
 * provider to every announced address (`subflow fullmesh`); the server listens on `::`. Shared
 * by the benches that compare Braid with MPTCP (failover, aggregate).
 */
import { spawnSync } from 'node:child_process';
import { Lab, type LabLink } from '../../src/cli/demo/lab.js';

export interface Subflow {
  local: string;
  remote: string;
  /** Bytes the peer acknowledged on this subflow (ss -i bytes_acked), when shown. */
  bytesAcked?: number;
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export async function mustExec(lab: Lab, ns: 'client' | 'server', command: string[]): Promise<string> {
  const out = await lab.exec(ns, command);
  if (out.code !== 0) throw new Error(`${ns}: ${command.join(' ')} failed: ${out.stderr.trim()}`);
  return out.stdout;
}

/** The in-kernel path manager set up for a fair baseline: server signals s2, client adds b as fullmesh. */
export async function configureMptcp(lab: Lab): Promise<Record<string, string>> {
  const { clientB, server2 } = lab.addresses;
  for (const ns of ['client', 'server'] as const) {
    await mustExec(lab, ns, ['sysctl', '-q', '-w', 'net.mptcp.enabled=1']);
    await mustExec(lab, ns, ['ip', 'mptcp', 'limits', 'set', 'subflow', '4', 'add_addr_accepted', '4']);
  }
  await mustExec(lab, 'server', ['ip', 'mptcp', 'endpoint', 'add', server2.v4, 'dev', 's2', 'signal']);
  await mustExec(lab, 'client', [
    'ip',
    'mptcp',
    'endpoint',
    'add',
    clientB.v4,
    'dev',
    'pb',
    'subflow',
    'fullmesh',
  ]);
  const show = async (ns: 'client' | 'server') =>
    `${(await mustExec(lab, ns, ['ip', 'mptcp', 'limits', 'show'])).trim()}; ${(
      await mustExec(lab, ns, ['ip', 'mptcp', 'endpoint', 'show'])
    ).trim()}`;
  return { client: await show('client'), server: await show('server') };
}

/** Established MPTCP subflows (TCP sockets with the mptcp ULP) from the client to the port, per `ss -tin`. */
export async function subflowsTo(lab: Lab, port: number): Promise<Subflow[]> {
  const out = await lab.exec('client', ['ss', '-tniH', 'state', 'established', `dport = :${port}`]);
  const subflows: Subflow[] = [];
  let current: Subflow | undefined;
  for (const line of out.stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      // Socket line (state column omitted by the filter): Recv-Q Send-Q Local Peer.
      const fields = line.trim().split(/\s+/);
      current = { local: fields[2] ?? '?', remote: fields[3] ?? '?' };
    } else if (current && line.includes('tcp-ulp-mptcp')) {
      const acked = /bytes_acked:(\d+)/.exec(line);
      if (acked) current.bytesAcked = Number(acked[1]);
      subflows.push(current);
      current = undefined;
    }
  }
  return subflows;
}

/**
 * Why a lab bench against MPTCP cannot run here (not root, lab tools or mptcpize missing), or
 * undefined when it can. The bench then prints a skip record instead of failing.
 */
export function labBenchUnavailable(): string | undefined {
  const availability = Lab.available();
  if (!availability.ok) return `needs the lab: ${availability.reason}`;
  if (!hasCommand('mptcpize'))
    return 'mptcpize not found (Debian package mptcpize): run scripts/setup-system.sh as root';
  return undefined;
}

/** Polls `ss -tin` until the connection to `port` has two or more subflows, or `timeoutMs` passed. */
export async function waitForSubflows(lab: Lab, port: number, timeoutMs: number): Promise<Subflow[]> {
  let subflows = await subflowsTo(lab, port);
  const deadline = Date.now() + timeoutMs;
  while (subflows.length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    subflows = await subflowsTo(lab, port);
  }
  return subflows;
}

/** Which client provider link an address belongs to. */
export function linkOf(lab: Lab, local: string | undefined): LabLink | undefined {
  const address = local?.replace(/^::ffff:/, '');
  if (address === lab.addresses.clientA.v4 || address === lab.addresses.clientA.v6) return 'a';
  if (address === lab.addresses.clientB.v4 || address === lab.addresses.clientB.v6) return 'b';
  return undefined;
}
