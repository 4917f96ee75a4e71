export { msgpackCodec } from '@tether/protocol/msgpack';
