import type { Codec } from '@tether/protocol';
import { requireMsgpackCodec } from '@tether/protocol/msgpack-node';

/**
 * `@tether/client/msgpack` on Node: the binary codec on msgpackr, which the app installs itself
 * (an optional peer dependency: `npm install msgpackr`). Without it, importing this entry throws
 * a `TetherError` with code `UNSUPPORTED_PROTOCOL` that says so. Bundlers get `msgpack.ts`, which
 * imports msgpackr statically (a missing msgpackr fails the build, naming it).
 *
 * @example
 * import { msgpackCodec } from '@tether/client/msgpack';
 * const client = new TetherClient(url, { codec: msgpackCodec });
 */
export const msgpackCodec: Codec = requireMsgpackCodec();
