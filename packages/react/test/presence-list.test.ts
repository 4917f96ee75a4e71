import type { PresenceMember } from '@tether/client';
import { describe, expect, it } from 'vitest';
import { applyPresence } from '../src/presence-list.js';

const ada: PresenceMember = { connId: 'c1', data: 'ada' };
const bob: PresenceMember = { connId: 'c2', data: 'bob' };

describe('applyPresence', () => {
  it('adds a joining member once, even when the list already has it', () => {
    const once = applyPresence([], { type: 'join', member: ada });
    expect(applyPresence(once, { type: 'join', member: ada })).toEqual([ada]);
  });

  it('removes a leaving member, and ignores one it never had', () => {
    expect(applyPresence([ada, bob], { type: 'leave', member: ada })).toEqual([bob]);
    expect(applyPresence([bob], { type: 'leave', member: ada })).toEqual([bob]);
  });

  it('replaces a reconnected member in place', () => {
    const back = { connId: 'c9', data: 'ada' };
    expect(applyPresence([ada, bob], { type: 'reconnect', member: back, previousConnId: 'c1' })).toEqual([
      back,
      bob,
    ]);
    expect(applyPresence([bob], { type: 'reconnect', member: back, previousConnId: 'c1' })).toEqual([
      bob,
      back,
    ]);
  });
});
