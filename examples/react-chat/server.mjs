#!/usr/bin/env node
// `pnpm --filter @tether/example-react-chat start`: builds the page, then serves it and Tether on
// PORT (default 3000).
import { startReactChat } from './app.mjs';

const chat = await startReactChat({ port: Number(process.env.PORT ?? 3000) });
console.log(`react chat example on http://localhost:${chat.port}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await chat.close();
    process.exit(0);
  });
}
