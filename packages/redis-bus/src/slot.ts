/**
 * Redis Cluster hash slots, computed the way Redis does (CRC16-XMODEM of the key's hash tag,
 * modulo 16384). RedisBus does not route anything with this (ioredis does): it only needs to
 * know which shard owns a channel, to name a probe channel on every shard and to know which
 * rooms a recovered shard serves.
 */

/** Number of hash slots in a Redis Cluster. */
export const SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/**
 * The part of a key Redis hashes: the text between the first `{` and the next `}` when that
 * is not empty, otherwise the whole key.
 *
 * @example
 * hashTag('tether:{order:42}:log'); // 'order:42'
 * hashTag('plain'); // 'plain'
 */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close <= open + 1) return key;
  return key.slice(open + 1, close);
}

/**
 * The cluster hash slot of a key or shard channel, as `CLUSTER KEYSLOT` answers.
 *
 * @example
 * keySlot('foo'); // 12182
 * keySlot('tether:{foo}:ch'); // 12182
 */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashTag(key))) % SLOTS;
}
