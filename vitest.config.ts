import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Tests run against the TypeScript sources, not dist/, so a change is tested without a build.
// The client resolves to its Node entry, which is what `@tether/client` gives a Node process.
const alias = {
  '@tether/protocol/msgpack': here('./packages/protocol/src/msgpack-codec.ts'),
  '@tether/protocol/trace': here('./packages/protocol/src/trace.ts'),
  '@tether/protocol': here('./packages/protocol/src/index.ts'),
  '@tether/server/msgpack': here('./packages/server/src/msgpack.ts'),
  '@tether/server/prometheus': here('./packages/server/src/prometheus.ts'),
  '@tether/server/otel': here('./packages/server/src/otel.ts'),
  '@tether/server': here('./packages/server/src/index.ts'),
  '@tether/client/msgpack': here('./packages/client/src/msgpack.ts'),
  '@tether/client/persistence': here('./packages/client/src/persistence.ts'),
  '@tether/client': here('./packages/client/src/node.ts'),
  '@tether/redis-bus': here('./packages/redis-bus/src/index.ts'),
  '@tether/test-utils/suites': here('./packages/test-utils/src/suites/index.ts'),
  '@tether/test-utils': here('./packages/test-utils/src/index.ts'),
  '@tether/testing': here('./packages/testing/src/index.ts'),
};

const project = (name: string, extra: { testTimeout?: number; fileParallelism?: boolean } = {}) => ({
  resolve: { alias },
  test: {
    name,
    root: here(`./packages/${name}`),
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    typecheck: {
      enabled: true,
      include: ['test/**/*.test-d.ts'],
      tsconfig: here(`./packages/${name}/tsconfig.json`),
    },
    testTimeout: extra.testTimeout ?? 15_000,
    hookTimeout: 30_000,
    fileParallelism: extra.fileParallelism ?? true,
  },
});

export default defineConfig({
  test: {
    // Two cores here: a couple of files at a time keeps timing-sensitive socket tests honest.
    maxWorkers: 2,
    projects: [
      project('protocol'),
      project('server'),
      project('client'),
      project('redis-bus', { testTimeout: 30_000 }),
      project('postgres', { testTimeout: 30_000 }),
      project('test-utils'),
      project('react'),
      project('testing', { testTimeout: 30_000 }),
      // Packs, installs with npm outside the workspace and uses the tarballs: slow, needs the registry.
      {
        test: {
          name: 'packaging',
          root: here('./packaging'),
          include: ['*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
