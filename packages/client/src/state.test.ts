import { describe, expect, it } from 'vitest';
import { type ClientState, type ClientStateEvent, nextState } from './state.js';

describe('client state machine', () => {
  it('follows the documented transitions', () => {
    const path: Array<[ClientState, ClientStateEvent, ClientState]> = [
      ['closed', 'connect', 'connecting'],
      ['connecting', 'opened', 'open'],
      ['open', 'dropped', 'reconnecting'],
      ['reconnecting', 'opened', 'open'],
      ['open', 'closed', 'closed'],
      ['connecting', 'dropped', 'reconnecting'],
      ['reconnecting', 'closed', 'closed'],
      ['connecting', 'closed', 'closed'],
    ];
    for (const [from, event, to] of path) expect(nextState(from, event)).toBe(to);
  });

  it('ignores events that do not apply', () => {
    expect(nextState('closed', 'dropped')).toBeUndefined();
    expect(nextState('closed', 'opened')).toBeUndefined();
    expect(nextState('open', 'connect')).toBeUndefined();
    expect(nextState('reconnecting', 'connect')).toBeUndefined();
    // Attempts while reconnecting stay inside the state: no pass through "connecting".
    expect(nextState('reconnecting', 'dropped')).toBeUndefined();
  });
});
