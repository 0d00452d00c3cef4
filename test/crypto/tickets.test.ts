import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveResumptionSecret } from '../../src/crypto/resumption.js';
import { SEALED_TICKET_LENGTH, StrikeRegister, TicketSealer } from '../../src/crypto/tickets.js';
import { ResumptionRegistry } from '../../src/engine/persistence/registry.js';
import { seededRandom } from '../../testing/harness/engine-pair.js';

test('a sealed ticket opens only with its key, and only unmodified', () => {
  const sealer = new TicketSealer(seededRandom(1));
  const client = new Uint8Array(32).fill(7);
  const ticket = sealer.seal(client, 5000, 1024);
  assert.equal(ticket.length, SEALED_TICKET_LENGTH);
  const opened = sealer.open(ticket);
  assert.deepEqual(opened?.clientKey, client);
  assert.equal(opened?.expiresAt, 5000);
  assert.equal(opened?.maxEarlyData, 1024);
  for (let i = 0; i < ticket.length; i += 7) {
    const bad = ticket.slice();
    bad[i] ^= 1;
    assert.equal(sealer.open(bad), undefined, `a flipped bit at ${i} is detected`);
  }
  assert.equal(new TicketSealer(seededRandom(2)).open(ticket), undefined, 'another process cannot open it');
  assert.equal(sealer.open(ticket.subarray(1)), undefined);
  assert.notDeepEqual(sealer.seal(client, 5000, 1024), ticket, 'each ticket is unique');
});

test('the strike register admits each ticket once, until it expires, and refuses when full', () => {
  const strikes = new StrikeRegister(2);
  const a = new Uint8Array(16).fill(1);
  const b = new Uint8Array(16).fill(2);
  const c = new Uint8Array(16).fill(3);
  assert.equal(strikes.use(a, 100, 0), true);
  assert.equal(strikes.use(a, 100, 1), false, 'replay');
  assert.equal(strikes.use(b, 100, 1), true);
  assert.equal(strikes.use(c, 100, 2), false, 'full: refused rather than unprotected');
  assert.equal(strikes.use(c, 300, 150), true, 'expired entries make room');
  assert.equal(strikes.use(a, 100, 150), false, 'an expired ticket is refused anyway');
});

test('resumption secrets differ per transcript and per key', () => {
  const k1 = new Uint8Array(32).fill(1);
  const k2 = new Uint8Array(32).fill(2);
  const h = new Uint8Array(32).fill(3);
  const s = deriveResumptionSecret(k1, k2, h);
  assert.equal(s.length, 32);
  assert.notDeepEqual(deriveResumptionSecret(k2, k1, h), s);
  assert.notDeepEqual(deriveResumptionSecret(k1, k2, new Uint8Array(32).fill(4)), s);
});

test('resumption identifiers: live, spent, expired, unknown', () => {
  const registry = new ResumptionRegistry<string>();
  const id = (n: number) => new Uint8Array(16).fill(n);
  registry.register(id(1), 'a');
  registry.register(id(2), 'a');
  registry.register(id(3), 'a');
  assert.deepEqual(registry.lookup(id(1)), { kind: 'live', owner: 'a' });
  registry.spend(id(1));
  registry.expire(id(2));
  registry.forget(id(3));
  assert.equal(registry.lookup(id(1)).kind, 'spent');
  assert.equal(registry.lookup(id(2)).kind, 'expired');
  assert.equal(registry.lookup(id(3)).kind, 'unknown');
  assert.equal(registry.liveCount, 0);
});
