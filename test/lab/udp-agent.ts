/**
 * A UDP agent run inside a lab namespace (`node --import tsx test/lab/udp-agent.ts`), driven by
 * JSON lines on stdin and reporting on stdout, so a test in the host namespace can send and
 * observe real datagrams on each side of the lab separately.
 *
 * Commands: {op:'bind', id, address, port?, echo?}, {op:'send', id, socket, to, port, data},
 * {op:'close', id, socket}. Replies: {op:'ok', id, socket?, port?} or {op:'error', id, message}.
 * Events: {op:'recv', socket, local, from, fromPort, data}. An echoing socket answers every
 * datagram with `echo <from> <fromPort> <data>`, so the sender learns the address it was seen as.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

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

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
