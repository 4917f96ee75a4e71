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
  return typeof frame === 'string' ? new TextEncoder().encode(frame).byteLength : frame.byteLength;
}
