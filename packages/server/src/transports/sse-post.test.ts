import { describe, expect, it } from 'vitest';
import { decodePositions, encodePositions } from './sse-native.js';
import { formatToken, parseToken, splitFrames } from './sse-post.js';

describe('stream tokens', () => {
  it('round-trips and refuses anything else', () => {
    const token = { nodeId: 'Ab-_9xYz', stream: 12345, secret: 'pO0jR6yJ9r1Y0YbqQ1lQ8m7x' };
    expect(parseToken(formatToken(token))).toEqual(token);
    expect(parseToken(null)).toBeUndefined();
    expect(parseToken('a.b')).toBeUndefined();
    expect(parseToken('node.1.short')).toBeUndefined();
    expect(parseToken('no de.1.pO0jR6yJ9r1Y0YbqQ1lQ8m7x')).toBeUndefined();
    expect(parseToken('node.1.pO0jR6yJ9r1Y0YbqQ1lQ8m7x.extra')).toBeUndefined();
  });
});

describe('POST bodies', () => {
  it('splits one message per line, skipping empty lines and a CR before LF', () => {
    const body = Buffer.from('{"t":"pong"}\r\n\n{"t":"evt","e":"a","d":1}\n');
    expect(splitFrames(body)).toEqual({ ok: true, frames: ['{"t":"pong"}', '{"t":"evt","e":"a","d":1}'] });
    expect(splitFrames(Buffer.alloc(0))).toEqual({ ok: true, frames: [] });
  });

  it('refuses the whole body when one line is bad, naming the line', () => {
    const result = splitFrames(Buffer.from('{"t":"pong"}\n{"t":"welcome"}'));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(/^line 2:/);
    expect(splitFrames(Buffer.from([0xff, 0xfe])).ok).toBe(false);
  });
});

describe('EventSource ids', () => {
  it('carry every room position and read back only the rooms asked for', () => {
    const id = encodePositions(
      new Map([
        ['a', ['e1', 3]],
        ['b', ['e2', 0]],
      ]),
    );
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
    expect([...decodePositions(id, ['a', 'b'])]).toEqual([
      ['a', ['e1', 3]],
      ['b', ['e2', 0]],
    ]);
    expect([...decodePositions(id, ['b'])]).toEqual([['b', ['e2', 0]]]);
  });

  it('treat malformed ids as no position', () => {
    const bad = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    expect(decodePositions(undefined, ['a']).size).toBe(0);
    expect(decodePositions('%%%', ['a']).size).toBe(0);
    expect(decodePositions(bad({ a: ['e', 1] }), ['a']).size).toBe(0);
    expect(decodePositions(bad([['a', 'e', -1]]), ['a']).size).toBe(0);
    expect(decodePositions(bad([['a', 'e', 1.5]]), ['a']).size).toBe(0);
    expect(decodePositions(bad([['a', 7, 1]]), ['a']).size).toBe(0);
  });
});
