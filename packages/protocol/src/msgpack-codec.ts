import { Packr, Unpackr } from 'msgpackr';
import type { Codec } from './codec.js';
import { createMsgpackCodec } from './msgpack-core.js';

/**
 * The binary codec (`tether.v1.msgpack`), with msgpackr imported statically: the entry for
 * bundlers and browsers, where a missing msgpackr fails the build and names the package. Lives
 * behind its own import path so that JSON-only bundles do not carry msgpackr. Node entry points
 * load msgpackr optionally instead (`msgpack-node.ts`).
 *
 * @example
 * import { msgpackCodec } from '@tether/client/msgpack';
 * new TetherClient(url, { codec: msgpackCodec });
 */
export const msgpackCodec: Codec = createMsgpackCodec({ Packr, Unpackr });
