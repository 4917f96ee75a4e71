import type { IncomingMessage } from 'node:http';
import { jsonCodec, type ProtocolError } from '@tether/protocol';

/** A stream's token, as the first event gave it: which node holds the stream, which stream, and its secret. */
export interface StreamToken {
  nodeId: string;
  stream: number;
  secret: string;
}

const TOKEN = /^([A-Za-z0-9_-]{1,64})\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{16,128})$/;

/**
 * Makes the token a client puts in the `token` query parameter of its POSTs. The stream number
 * is a per-node counter (so a node can tell a closed stream from one that never existed); the
 * secret is what makes the token unguessable.
 *
 * @example
 * formatToken({ nodeId: 'n1', stream: 7, secret }); // 'n1.7.<secret>'
 */
export function formatToken(token: StreamToken): string {
  return `${token.nodeId}.${token.stream.toString(36)}.${token.secret}`;
}

/** Parses a token; undefined when it cannot be one. */
export function parseToken(value: string | null): StreamToken | undefined {
  const match = value ? TOKEN.exec(value) : null;
  if (!match) return undefined;
  const stream = Number.parseInt(match[2]!, 36);
  if (!Number.isSafeInteger(stream)) return undefined;
  return { nodeId: match[1]!, stream, secret: match[3]! };
}

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' | 'aborted' };

/**
 * Reads a request body of at most `limit` bytes. A larger body is read on and dropped (up to
 * `drainLimit`) so the 413 answer reaches a client that is still sending; past that the request
 * is cut.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  drainLimit = Math.max(limit * 4, 4 * 1024 * 1024),
): Promise<BodyResult> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > drainLimit) {
      req.resume();
      resolve({ ok: false, reason: 'too-large' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > drainLimit) req.destroy();
    });
    req.on('end', () =>
      resolve(
        size <= limit ? { ok: true, body: Buffer.concat(chunks, size) } : { ok: false, reason: 'too-large' },
      ),
    );
    req.on('error', () => resolve({ ok: false, reason: 'aborted' }));
    req.on('close', () => {
      if (!req.complete) resolve({ ok: false, reason: size > limit ? 'too-large' : 'aborted' });
    });
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits a POST body into frames: one JSON protocol message per line (`\n`, an optional `\r`
 * before it is ignored; empty lines are skipped). Every frame is decoded and validated here, so a
 * bad body is refused whole (400) before any of it reaches the connection, which keeps working. A
 * request whose envelope is well formed but whose content is refused passes: the connection
 * answers it with an error reply for its id (docs/protocol.md).
 *
 * @example
 * splitFrames(Buffer.from('{"t":"pong"}\n{"t":"evt","e":"a"}')); // { ok: true, frames: [...] }
 */
export function splitFrames(body: Buffer): { ok: true; frames: string[] } | { ok: false; message: string } {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { ok: false, message: 'the body is not valid UTF-8' };
  }
  const frames: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line.trim() === '') continue;
    try {
      jsonCodec.decode(line);
    } catch (err) {
      // A request with refused content goes through: the connection answers it by id.
      if ((err as ProtocolError).requestId === undefined)
        return { ok: false, message: `line ${i + 1}: ${(err as ProtocolError).message}` };
    }
    frames.push(line);
  }
  return { ok: true, frames };
}
