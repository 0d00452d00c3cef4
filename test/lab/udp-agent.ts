/**
 * A UDP agent run inside a lab namespace (`node --import tsx test/lab/udp-agent.ts`), driven by
 * JSON lines on stdin and reporting on stdout, so a test in the host namespace can send and
 * observe real datagrams on each side of the lab separately.
 *
 * Commands: {op:'bind', id, address, port?, echo?}, {op:'send', id, socket, to, port, data},
 * {op:'close', id, socket}. Replies: {op:'ok', id, socket?, port?} or {op:'error', id, message}.
 * Events: {op:'recv', socket, local, from, fromPort, data}. An echoing socket answers every
 * datagram with `echo <from> <fromPort> <data>`, so the sender learns the address it was seen as.
 * UdpAgent, below, is the test's handle on one (`UdpAgent.start(lab, 'client')`).
 */
import type { ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Lab, LabNamespace } from '../../src/cli/demo/lab.js';

export type AgentCommand =
  | { op: 'bind'; id: number; address: string; port?: number; echo?: boolean }
  | { op: 'send'; id: number; socket: number; to: string; port: number; data: string }
  | { op: 'close'; id: number; socket: number };

export type AgentMessage =
  | { op: 'ok'; id: number; socket?: number; port?: number }
  | { op: 'error'; id: number; message: string }
  | { op: 'recv'; socket: number; local: string; from: string; fromPort: number; data: string };

function report(message: AgentMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function main(): void {
  const sockets = new Map<number, Socket>();
  let nextSocket = 1;

  const handle = (command: AgentCommand): void => {
    const fail = (error: unknown) =>
      report({
        op: 'error',
        id: command.id,
        message: error instanceof Error ? error.message : String(error),
      });
    try {
      if (command.op === 'bind') {
        const socketId = nextSocket++;
        const socket = isIPv6(command.address)
          ? createSocket({ type: 'udp6', ipv6Only: true })
          : createSocket({ type: 'udp4' });
        socket.on('message', (data, remote) => {
          const text = data.toString('utf8');
          report({
            op: 'recv',
            socket: socketId,
            local: command.address,
            from: remote.address,
            fromPort: remote.port,
            data: text,
          });
          if (command.echo) {
            // Errors here (a path just cut) are what the lab is for; the sender sees the silence.
            socket.send(
              `echo ${remote.address} ${remote.port} ${text}`,
              remote.port,
              remote.address,
              () => {},
            );
          }
        });
        socket.once('error', fail);
        socket.bind({ address: command.address, port: command.port ?? 0 }, () => {
          socket.off('error', fail);
          socket.on('error', () => {});
          sockets.set(socketId, socket);
          report({ op: 'ok', id: command.id, socket: socketId, port: socket.address().port });
        });
        return;
      }
      const socket = sockets.get(command.socket);
      if (!socket) throw new Error(`no socket ${command.socket}`);
      if (command.op === 'send') {
        socket.send(command.data, command.port, command.to, (error) => {
          if (error) fail(error);
          else report({ op: 'ok', id: command.id });
        });
      } else {
        socket.close();
        sockets.delete(command.socket);
        report({ op: 'ok', id: command.id });
      }
    } catch (error) {
      fail(error);
    }
  };

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    try {
      handle(JSON.parse(line) as AgentCommand);
    } catch (error) {
      report({ op: 'error', id: -1, message: `bad command: ${String(error)}` });
    }
  });
  // The driver closing stdin (or dying) ends the agent.
  lines.on('close', () => process.exit(0));
}

export type Received = Extract<AgentMessage, { op: 'recv' }>;

/** The host-side handle of a udp-agent process running in a lab namespace. */
export class UdpAgent {
  readonly received: Received[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: AgentMessage) => void }>();
  private readonly waiters = new Set<() => void>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let message: AgentMessage;
      try {
        message = JSON.parse(line) as AgentMessage;
      } catch {
        return;
      }
      if (message.op === 'recv') {
        this.received.push(message);
        for (const wake of this.waiters) wake();
        return;
      }
      const entry = this.pending.get(message.id);
      if (entry) {
        this.pending.delete(message.id);
        entry.resolve(message);
      }
    });
    child.on('exit', () => {
      this.exited = true;
      for (const [id, entry] of this.pending) entry.resolve({ op: 'error', id, message: 'agent exited' });
      this.pending.clear();
    });
  }

  /** Starts an agent (this file) inside a namespace of the lab. */
  static async start(lab: Lab, ns: LabNamespace): Promise<UdpAgent> {
    const agent = new UdpAgent(
      lab.nodeIn(ns, fileURLToPath(import.meta.url), [], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    // A first round trip proves the loader and node_modules resolve inside the namespace.
    await agent.command({ op: 'close', id: 0, socket: 0 }).catch(() => {});
    if (agent.exited) throw new Error('udp agent exited at start');
    return agent;
  }

  /** Binds a socket; returns its id and port. An echoing socket answers `echo <from> <port> <data>`. */
  async bind(address: string, port = 0, echo = false): Promise<{ socket: number; port: number }> {
    const reply = await this.command({ op: 'bind', id: 0, address, port, echo });
    return { socket: reply.socket!, port: reply.port! };
  }

  /** Sends one datagram; rejects when the kernel refuses it (no route, address gone). */
  async send(socket: number, to: string, port: number, data: string): Promise<void> {
    await this.command({ op: 'send', id: 0, socket, to, port, data });
  }

  async closeSocket(socket: number): Promise<void> {
    await this.command({ op: 'close', id: 0, socket });
  }

  /** Resolves with the first datagram (already received or arriving) that matches, or undefined. */
  waitFor(match: (m: Received) => boolean, timeoutMs: number): Promise<Received | undefined> {
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolvePromise) => {
      const wake = () => {
        const hit = this.received.find(match);
        if (hit) finish(hit);
      };
      const finish = (value: Received | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolvePromise(value);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      this.waiters.add(wake);
    });
  }

  close(): void {
    this.child.stdin?.end();
    if (!this.exited) this.child.kill('SIGTERM');
  }

  private command(command: AgentCommand): Promise<Extract<AgentMessage, { op: 'ok' }>> {
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      if (this.exited) {
        reject(new Error('agent exited'));
        return;
      }
      this.pending.set(id, {
        resolve: (message) => {
          if (message.op === 'ok') resolvePromise(message);
          else if (message.op === 'error') reject(new Error(message.message));
        },
      });
      this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
