import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// The chaos suite's own config (`pnpm test:chaos`): the test process runs clients from the
// sources, the nodes it forks run the built packages (chaos/node.mjs), so build first.
export default defineConfig({
  resolve: {
    alias: {
      '@tether/protocol/msgpack': here('../packages/protocol/src/msgpack-codec.ts'),
      '@tether/protocol': here('../packages/protocol/src/index.ts'),
      '@tether/server/msgpack': here('../packages/server/src/msgpack.ts'),
      '@tether/server': here('../packages/server/src/index.ts'),
      '@tether/client/msgpack': here('../packages/client/src/msgpack.ts'),
      '@tether/client': here('../packages/client/src/node.ts'),
      '@tether/test-utils': here('../packages/test-utils/src/index.ts'),
      '@tether/testing': here('../packages/testing/src/index.ts'),
    },
  },
  test: {
    name: 'chaos',
    root: here('.'),
    include: ['*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
