import { describe, expect, it } from 'vitest';
import { TetherClient } from '../src/browser.js';

// Browsers send their cookies themselves and let no page set WebSocket headers: the browser
// build refuses the Node-only `headers` option instead of dropping it without a word.
describe('the browser client', () => {
  it('throws a TypeError for the headers option', () => {
    expect(
      () => new TetherClient('http://127.0.0.1:9/tether', { headers: { cookie: 'a=1' }, autoConnect: false }),
    ).toThrow('headers: Node only');
    expect(new TetherClient('http://127.0.0.1:9/tether', { autoConnect: false }).state).toBe('closed');
  });
});
