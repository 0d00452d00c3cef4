/**
 * A real OpenSSH server in a lab namespace (src/cli/demo/lab.ts) and the matching client command
 * line, for the lab tests that run unmodified ssh through Braid (test/cli/lab-apps.test.ts
 * through `braid tunnel`, test/lab/vpn-apps.test.ts through `braid vpn`). Host and client keys
 * are made for the run; the client checks the host key strictly and never prompts.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabNamespace } from '../../src/cli/demo/lab.js';

export const SSHD = '/usr/sbin/sshd';
const HOST_KEY_ALIAS = 'braid-lab-sshd';

export interface LabSshd {
  /** The client's private key, the known-hosts file naming the generated host key. */
  key: string;
  knownHosts: string;
  process: ChildProcess;
}

function keygen(path: string, comment: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'ssh-keygen',
      ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path],
      (error, _, stderr) => (error ? reject(new Error(`ssh-keygen: ${stderr}`)) : resolve()),
    );
  });
}

/**
 * Starts sshd in `ns` listening on `listen` (HOST:PORT), with its keys and configuration in a
 * new `ssh` directory under `dir`; it runs until killed (or the lab goes down).
 */
export async function startLabSshd(
  lab: Lab,
  ns: LabNamespace,
  dir: string,
  listen: string,
): Promise<LabSshd> {
  const sshDir = join(dir, 'ssh');
  mkdirSync(sshDir, { mode: 0o700 });
  const hostKey = join(sshDir, 'host_ed25519');
  const key = join(sshDir, 'id_ed25519');
  const knownHosts = join(sshDir, 'known_hosts');
  await Promise.all([keygen(hostKey, 'braid lab host'), keygen(key, 'braid lab client')]);
  writeFileSync(join(sshDir, 'authorized_keys'), readFileSync(`${key}.pub`));
  // The client checks the host key strictly, against exactly the key generated above.
  writeFileSync(knownHosts, `${HOST_KEY_ALIAS} ${readFileSync(`${hostKey}.pub`, 'utf8')}`);
  const sshdConfig = join(sshDir, 'sshd_config');
  writeFileSync(
    sshdConfig,
    [
      `ListenAddress ${listen}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(sshDir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The test's directories live under /tmp (world-writable), which StrictModes refuses.
      'StrictModes no',
      'PidFile none',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // Debian's sshd wants its privilege-separation directory (systemd usually makes it).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const process = lab.spawnIn(ns, [SSHD, '-D', '-e', '-f', sshdConfig], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return { key, knownHosts, process };
}

/** An OpenSSH client to `host`:`port` as root: our key only, the generated host key strictly, no prompts. */
export function sshCommand(sshd: LabSshd, host: string, port: number): string[] {
  return [
    'ssh',
    '-F',
    '/dev/null',
    '-p',
    String(port),
    '-i',
    sshd.key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${sshd.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    `HostKeyAlias=${HOST_KEY_ALIAS}`,
    `root@${host}`,
  ];
}
