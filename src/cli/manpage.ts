/**
 * The braid(1) man page, generated from the same help texts `braid --help` and
 * `braid COMMAND --help` print, so the two cannot differ. scripts/build-dist.mjs writes it to
 * dist/man/braid.1, which the package ships (package.json "man").
 */
import type { Command } from './command.js';

/**
 * Text as roff reads it literally: backslashes and hyphens escaped, non-ASCII characters as
 * \[uXXXX] (so no input encoding is assumed), and a line starting with a control character
 * protected by \&.
 */
function roff(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const escaped = line
        .replace(/\\/g, '\\e')
        .replace(/-/g, '\\-')
        .replace(
          /[^\x20-\x7e]/gu,
          (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`,
        );
      return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
    })
    .join('\n');
}

/** A help text as a preformatted block: its columns are laid out for a fixed-width terminal. */
function block(text: string): string {
  return `.nf\n${roff(text)}\n.fi`;
}

export function renderManPage(
  commands: Readonly<Record<string, Command>>,
  usage: string,
  version: string,
  description: string,
): string {
  const sections = Object.entries(commands).map(
    ([name, command]) =>
      `.SS "braid ${name}"\n${roff(command.summary.replace(/\n/g, ' '))}\n.PP\n${block(command.usage)}`,
  );
  return [
    `.TH BRAID 1 "" "braid ${version}" "User Commands"`,
    '.SH NAME',
    `braid \\- ${roff(description)}`,
    '.SH SYNOPSIS',
    '.B braid',
    '.I command',
    '.RI [ options ]',
    '.SH DESCRIPTION',
    'Each command is described below with the text of',
    '.BR "braid " "\\fIcommand\\fP \\-\\-help" ,',
    'which',
    '.BI "braid help " command',
    'prints too.',
    '.PP',
    block(usage),
    '.SH COMMANDS',
    ...sections,
    '.SH FILES',
    '.TP',
    '.I $XDG_CONFIG_HOME/braid/id_braid',
    'this machine\u2019s key pair (else ~/.config/braid/id_braid; the public key in id_braid.pub)',
    '.TP',
    '.I $XDG_CONFIG_HOME/braid/known_hosts',
    'server keys learned on first use',
    '.TP',
    '.I $XDG_RUNTIME_DIR/braid/',
    'the control sockets braid status asks',
    '.SH SEE ALSO',
    'docs/operations.md and README.md in the package.',
    '',
  ]
    .join('\n')
    .replace(/\u2019/g, '\\[u2019]');
}
