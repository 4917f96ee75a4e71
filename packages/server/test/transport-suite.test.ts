import { transportSuite } from '@tether/test-utils/suites';
import { kit } from './harness.js';

// One suite, every transport: what works over WebSocket must work the same over SSE.
transportSuite('websocket', kit);
transportSuite('sse', kit);
