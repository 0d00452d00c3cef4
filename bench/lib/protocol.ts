// Messages exchanged between a bench parent and a child over Node's JSON IPC channel.

/** What a child-run function receives to talk with its parent while it runs. */
export interface Channel {
  post(data: unknown): void;
  next(timeoutMs?: number): Promise<unknown>;
}

export type ChildFunction<Input, Output> = (input: Input, channel: Channel) => Promise<Output>;

export type ToChild = { type: 'start'; input: unknown } | { type: 'message'; data: unknown };

export type FromChild =
  | { type: 'message'; data: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; message: string; stack?: string };
