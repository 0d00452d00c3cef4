import { NoiseError } from './errors.js';

export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';
export type PreMessageToken = 'e' | 's';

export interface HandshakePattern {
  /** Full pattern name including modifiers, e.g. `IKpsk2` or `NNpsk0+psk2`. */
  readonly name: string;
  readonly preInitiator: readonly PreMessageToken[];
  readonly preResponder: readonly PreMessageToken[];
  /** messages[i] is sent by the initiator when i is even (or always, for one-way patterns). */
  readonly messages: readonly (readonly Token[])[];
  readonly oneWay: boolean;
  readonly hasPsk: boolean;
}

interface BasePattern {
  pre: [PreMessageToken[], PreMessageToken[]];
  messages: Token[][];
}

const p = (
  preInitiator: PreMessageToken[],
  preResponder: PreMessageToken[],
  ...messages: Token[][]
): BasePattern => ({
  pre: [preInitiator, preResponder],
  messages,
});

/** Noise §7.4 (one-way), §7.5 (fundamental interactive) and §18 (deferred) patterns. */
const BASE_PATTERNS: Record<string, BasePattern> = {
  N: p([], ['s'], ['e', 'es']),
  K: p(['s'], ['s'], ['e', 'es', 'ss']),
  X: p([], ['s'], ['e', 'es', 's', 'ss']),

  NN: p([], [], ['e'], ['e', 'ee']),
  NK: p([], ['s'], ['e', 'es'], ['e', 'ee']),
  NX: p([], [], ['e'], ['e', 'ee', 's', 'es']),
  KN: p(['s'], [], ['e'], ['e', 'ee', 'se']),
  KK: p(['s'], ['s'], ['e', 'es', 'ss'], ['e', 'ee', 'se']),
  KX: p(['s'], [], ['e'], ['e', 'ee', 'se', 's', 'es']),
  XN: p([], [], ['e'], ['e', 'ee'], ['s', 'se']),
  XK: p([], ['s'], ['e', 'es'], ['e', 'ee'], ['s', 'se']),
  XX: p([], [], ['e'], ['e', 'ee', 's', 'es'], ['s', 'se']),
  IN: p([], [], ['e', 's'], ['e', 'ee', 'se']),
  IK: p([], ['s'], ['e', 'es', 's', 'ss'], ['e', 'ee', 'se']),
  IX: p([], [], ['e', 's'], ['e', 'ee', 'se', 's', 'es']),

  NK1: p([], ['s'], ['e'], ['e', 'ee', 'es']),
  NX1: p([], [], ['e'], ['e', 'ee', 's'], ['es']),
  X1N: p([], [], ['e'], ['e', 'ee'], ['s'], ['se']),
  X1K: p([], ['s'], ['e', 'es'], ['e', 'ee'], ['s'], ['se']),
  XK1: p([], ['s'], ['e'], ['e', 'ee', 'es'], ['s', 'se']),
  X1K1: p([], ['s'], ['e'], ['e', 'ee', 'es'], ['s'], ['se']),
  X1X: p([], [], ['e'], ['e', 'ee', 's', 'es'], ['s'], ['se']),
  XX1: p([], [], ['e'], ['e', 'ee', 's'], ['es', 's', 'se']),
  X1X1: p([], [], ['e'], ['e', 'ee', 's'], ['es', 's'], ['se']),
  K1N: p(['s'], [], ['e'], ['e', 'ee'], ['se']),
  K1K: p(['s'], ['s'], ['e', 'es'], ['e', 'ee'], ['se']),
  KK1: p(['s'], ['s'], ['e'], ['e', 'ee', 'se', 'es']),
  K1K1: p(['s'], ['s'], ['e'], ['e', 'ee', 'es'], ['se']),
  K1X: p(['s'], [], ['e'], ['e', 'ee', 's', 'es'], ['se']),
  KX1: p(['s'], [], ['e'], ['e', 'ee', 'se', 's'], ['es']),
  K1X1: p(['s'], [], ['e'], ['e', 'ee', 's'], ['se', 'es']),
  I1N: p([], [], ['e', 's'], ['e', 'ee'], ['se']),
  I1K: p([], ['s'], ['e', 'es', 's'], ['e', 'ee'], ['se']),
  IK1: p([], ['s'], ['e', 's'], ['e', 'ee', 'se', 'es']),
  I1K1: p([], ['s'], ['e', 's'], ['e', 'ee', 'es'], ['se']),
  I1X: p([], [], ['e', 's'], ['e', 'ee', 's', 'es'], ['se']),
  IX1: p([], [], ['e', 's'], ['e', 'ee', 'se', 's'], ['es']),
  I1X1: p([], [], ['e', 's'], ['e', 'ee', 's'], ['se', 'es']),
};

const BASE_NAMES_LONGEST_FIRST = Object.keys(BASE_PATTERNS).sort((a, b) => b.length - a.length);

export function supportedBasePatterns(): string[] {
  return Object.keys(BASE_PATTERNS);
}

/**
 * Parses a pattern name with modifiers (Noise §8 and §9.2): `XXpsk3`, `NNpsk0+psk2`.
 * `pskN` puts a psk token at the start of message 0 (N = 0) or at the end of message N-1.
 */
export function parsePattern(name: string): HandshakePattern {
  const baseName = BASE_NAMES_LONGEST_FIRST.find(
    (candidate) =>
      name.startsWith(candidate) &&
      (name.length === candidate.length || /^[a-z]/.test(name.slice(candidate.length))),
  );
  if (!baseName) throw new NoiseError(`unsupported handshake pattern: ${name}`, 'BRAID_ERR_NOISE_CONFIG');
  const base = BASE_PATTERNS[baseName];
  const messages = base.messages.map((m) => [...m]);
  const modifierText = name.slice(baseName.length);
  const modifiers = modifierText === '' ? [] : modifierText.split('+');
  for (const modifier of modifiers) {
    const psk = /^psk(\d+)$/.exec(modifier);
    if (!psk) throw new NoiseError(`unsupported pattern modifier: ${modifier}`, 'BRAID_ERR_NOISE_CONFIG');
    const position = Number(psk[1]);
    if (position > messages.length) {
      throw new NoiseError(`${modifier} is beyond the last message of ${baseName}`, 'BRAID_ERR_NOISE_CONFIG');
    }
    if (position === 0) messages[0].unshift('psk');
    else messages[position - 1].push('psk');
  }
  return {
    name,
    preInitiator: base.pre[0],
    preResponder: base.pre[1],
    messages,
    oneWay: baseName.length === 1,
    hasPsk: modifiers.length > 0,
  };
}
