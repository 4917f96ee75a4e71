import { describe, expect, it } from 'vitest';
import { decodeBody, decodeFrame, encodeBody } from './codec.js';

describe('codec', () => {
  it('encodes a publication once and rebuilds the delivery from it', () => {
    const body = encodeBody({
      room: 'r 1',
      event: 'e',
      data: { a: [1, 'x y'] },
      history: false,
      except: ['c1'],
    });
    expect(decodeBody(body, 'EP', 4)).toEqual({
      room: 'r 1',
      event: 'e',
      data: { a: [1, 'x y'] },
      epoch: 'EP',
      offset: 4,
      except: ['c1'],
    });
  });

  it('marks volatile messages and drops an empty except list', () => {
    const body = encodeBody({
      room: 'r',
      event: 'e',
      data: null,
      history: false,
      volatile: true,
      except: [],
    });
    expect(decodeBody(body, 'EP', 0)).toEqual({
      room: 'r',
      event: 'e',
      data: null,
      epoch: 'EP',
      offset: 0,
      volatile: true,
    });
  });

  it('carries urgent and conflate', () => {
    const body = encodeBody({
      room: 'r',
      event: 'e',
      data: 1,
      history: false,
      urgent: true,
      conflate: 'pos',
    });
    expect(decodeBody(body, 'EP', 2)).toEqual({
      room: 'r',
      event: 'e',
      data: 1,
      epoch: 'EP',
      offset: 2,
      urgent: true,
      conflate: 'pos',
    });
    const plain = decodeBody(
      encodeBody({ room: 'r', event: 'e', data: 1, history: false, urgent: false }),
      'EP',
      3,
    );
    expect('urgent' in plain || 'conflate' in plain).toBe(false);
  });

  it('keeps undefined data undefined', () => {
    expect(
      decodeBody(encodeBody({ room: 'r', event: 'e', data: undefined, history: false }), 'EP', 1).data,
    ).toBeUndefined();
  });

  it('parses the "<offset> <epoch> <body>" frame of the room channel', () => {
    const body = encodeBody({ room: 'r', event: 'e', data: 'has spaces in it', history: false });
    expect(decodeFrame(`12 Ab-_9 ${body}`)).toEqual({
      room: 'r',
      event: 'e',
      data: 'has spaces in it',
      epoch: 'Ab-_9',
      offset: 12,
    });
  });

  it('refuses frames it did not write', () => {
    for (const frame of ['', 'x', '1 ep', 'x ep {}', '-1 ep {}', '1 ep {not json', '1.5 ep {}']) {
      expect(decodeFrame(frame)).toBeUndefined();
    }
  });
});
