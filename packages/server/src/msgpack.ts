import type { Codec } from '@tether/protocol';
import { requireMsgpackCodec } from '@tether/protocol/msgpack-node';

/**
 * The binary codec (`tether.v1.msgpack`) on msgpackr, which the app installs itself (an optional
 * peer dependency: `npm install msgpackr`). Without it, importing this entry throws a
 * `TetherError` with code `UNSUPPORTED_PROTOCOL` that says so; apps on JSON never load it.
 *
 * @example
 * import { msgpackCodec } from '@tether/server/msgpack';
 * new TetherServer({ server: http, codecs: [msgpackCodec] }); // msgpack clients only
 */
export const msgpackCodec: Codec = requireMsgpackCodec();
