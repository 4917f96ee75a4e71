import { describe, expect, it } from 'vitest';
import { decodeMember, encodeMember, LocalMembers } from './presence.js';

describe('presence entries', () => {
  it('round-trips node and data', () => {
    const value = encodeMember('node-a', { connId: 'c1', data: { name: 'Ann' } });
    expect(decodeMember('c1', value)).toEqual({
      nodeId: 'node-a',
      member: { connId: 'c1', data: { name: 'Ann' } },
    });
  });

  it('ignores values it did not write', () => {
    for (const value of ['', 'x', '1', 'null', '{"d":1}', '{"n":3}'])
      expect(decodeMember('c', value)).toBeUndefined();
  });
});

describe('LocalMembers', () => {
  it('keeps entries per node and room, ready to write back', () => {
    const local = new LocalMembers();
    local.add('a', 'r1', 'c1', 'v1');
    local.add('a', 'r1', 'c2', 'v2');
    local.add('a', 'r2', 'c3', 'v3');
    local.add('b', 'r1', 'c4', 'v4');
    expect(local.rooms('a')).toEqual([
      ['r1', ['c1', 'v1', 'c2', 'v2']],
      ['r2', ['c3', 'v3']],
    ]);
    expect([...local.allRooms()].sort()).toEqual(['r1', 'r2']);
    local.remove('r1', 'c1');
    local.remove('r2', 'c3');
    local.remove('r9', 'c9');
    expect(local.rooms('a')).toEqual([['r1', ['c2', 'v2']]]);
    expect(local.takeNode('b')).toEqual([['r1', ['c4']]]);
    expect(local.rooms('b')).toEqual([]);
    expect(local.takeNode('nobody')).toEqual([]);
  });
});
