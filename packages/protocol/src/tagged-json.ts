/**
 * JSON for values that cross the bus between nodes (room messages, stored replies, node
 * messages) and must arrive as they were sent: bytes and dates survive, where plain JSON would
 * turn a `Uint8Array` into `{"0":1,...}` and a `Date` into a string. Each is written as a
 * one-key object whose key no app payload uses in practice: `{"$tether:bytes":"<base64>"}` and
 * `{"$tether:date":"<ISO 8601>"}`. Reading pays for a revive walk only when the text holds a tag,
 * so payloads without bytes or dates cost one substring search.
 */

const BYTES = '$tether:bytes';
const DATE = '$tether:date';
const MARK = '"$tether:';

// `this` is the holder: JSON.stringify has already called Date's toJSON on `value`.
function tag(this: Record<string, unknown>, key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && value instanceof Uint8Array) {
    return { [BYTES]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  const raw = this[key];
  if (raw instanceof Date) return { [DATE]: Number.isNaN(raw.getTime()) ? null : value };
  return value;
}

function untag(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  const bytes = record[BYTES];
  if (typeof bytes === 'string' && Object.keys(record).length === 1) {
    const buffer = Buffer.from(bytes, 'base64');
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  const date = record[DATE];
  if ((typeof date === 'string' || date === null) && Object.keys(record).length === 1)
    return new Date(date ?? Number.NaN);
  return value;
}

/**
 * `JSON.stringify` that keeps bytes and dates (see the module comment). `undefined` becomes
 * `'null'`, so the result is always a string.
 *
 * @example
 * stringifyTagged({ file: new Uint8Array([1, 2]) }); // '{"file":{"$tether:bytes":"AQI="}}'
 */
export function stringifyTagged(value: unknown): string {
  return JSON.stringify(value, tag) ?? 'null';
}

/**
 * `JSON.parse` that gives back the bytes and dates {@link stringifyTagged} wrote.
 *
 * @example
 * parseTagged('{"at":{"$tether:date":"2026-01-01T00:00:00.000Z"}}'); // { at: Date }
 */
export function parseTagged(text: string): unknown {
  return text.includes(MARK) ? JSON.parse(text, untag) : JSON.parse(text);
}
