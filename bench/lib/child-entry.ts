// Child-process side of runInChild: `node --import tsx child-entry.ts <module path> <export name>`.
// Waits for the start message, runs the exported function and sends back its result. Exits
// explicitly afterwards so sockets the function forgot to close cannot keep it alive.
import { pathToFileURL } from 'node:url';
import { Mailbox } from './mailbox.js';
import type { Channel, FromChild, ToChild } from './protocol.js';

function send(message: FromChild): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      resolve();
      return;
    }
    process.send(message, undefined, {}, () => resolve());
  });
}

async function main(): Promise<void> {
  const [modulePath, exportName] = process.argv.slice(2);
  if (process.send === undefined || modulePath === undefined || exportName === undefined) {
    process.stderr.write('child-entry: must be spawned by runInChild with an IPC channel\n');
    process.exit(2);
  }
  const mailbox = new Mailbox();
  let startInput: ((input: unknown) => void) | undefined;
  const started = new Promise<unknown>((resolve) => {
    startInput = resolve;
  });
  process.on('message', (message: ToChild) => {
    if (message.type === 'start') startInput?.(message.input);
    else if (message.type === 'message') mailbox.push(message.data);
  });
  process.on('disconnect', () => {
    mailbox.close('parent disconnected');
    // Orphaned: nobody will read a result.
    process.exit(1);
  });
  const channel: Channel = {
    post: (data) => {
      void send({ type: 'message', data });
    },
    next: (timeoutMs) => mailbox.next(timeoutMs),
  };
  try {
    const module = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
    const fn = module[exportName];
    if (typeof fn !== 'function') throw new Error(`${modulePath} has no exported function ${exportName}`);
    const input = await started;
    const value: unknown = await fn(input, channel);
    await send({ type: 'result', value });
    process.exit(0);
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    await send({ type: 'error', message: err.message, stack: err.stack });
    process.exit(1);
  }
}

void main();
