import { transportSuite } from './transport-suite.js';

// One suite, every transport: what works over WebSocket must work the same over SSE.
transportSuite('websocket');
transportSuite('sse');
