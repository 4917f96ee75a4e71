/**
 * base64url of a value's JSON: how `auth` travels in a URL. Works the same in browsers and
 * Node (no Buffer).
 *
 * @example
 * base64UrlJson({ token: 'abc' }); // 'eyJ0b2tlbiI6ImFiYyJ9'
 */
export function base64UrlJson(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Size in bytes of a frame as it will travel. */
export function frameSize(frame: string | Uint8Array): number {
  if (typeof frame !== 'string') return frame.byteLength;
  // UTF-8 length without allocating: ASCII is one byte, the rest counted exactly.
  let size = 0;
  for (let i = 0; i < frame.length; i++) {
    const code = frame.charCodeAt(i);
    if (code < 0x80) size += 1;
    else if (code < 0x800) size += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      size += 4;
      i++;
    } else size += 3;
  }
  return size;
}
