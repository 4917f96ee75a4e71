import { createRequire } from 'node:module';
import type { Codec } from './codec.js';
import { ErrorCode } from './codes.js';
import { TetherError } from './errors.js';
import { createMsgpackCodec, type MsgpackLibrary } from './msgpack-core.js';

// msgpackr is an optional peer dependency: apps that stay on JSON do not install it (nor its
// optional native build). `require` finds it where the app installed it, in ESM and CommonJS
// builds alike, and only when a msgpack codec is asked for.
const requireFromHere = createRequire(import.meta.url);

let loaded: Codec | null | undefined;

function isMissing(err: unknown): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes("'msgpackr'");
}

/**
 * The msgpack codec when msgpackr is installed, undefined when it is not (any other failure to
 * load it is thrown). The module is loaded once.
 *
 * @example
 * const codecs = [jsonCodec, ...(optionalMsgpackCodec() ?? [])];
 */
export function optionalMsgpackCodec(): Codec | undefined {
  if (loaded === undefined) {
    try {
      loaded = createMsgpackCodec(requireFromHere('msgpackr') as MsgpackLibrary);
    } catch (err) {
      if (!isMissing(err)) throw err;
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/**
 * The msgpack codec, or a `TetherError` (`UNSUPPORTED_PROTOCOL`) saying to install msgpackr.
 *
 * @example
 * export const msgpackCodec = requireMsgpackCodec();
 */
export function requireMsgpackCodec(): Codec {
  const codec = optionalMsgpackCodec();
  if (codec) return codec;
  throw new TetherError(
    ErrorCode.UnsupportedProtocol,
    'the msgpack codec needs the msgpackr package, an optional peer dependency: npm install msgpackr',
    { missing: 'msgpackr' },
  );
}
