import { defineConfig } from 'tsup';

// Node-only package: ESM + CJS + type declarations. ioredis and @tether/server stay imports
// (a dependency and a peer); the internal @tether/protocol package is not published, so the
// little of it used here (TetherError, ErrorCode) is bundled in.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  external: ['ioredis', '@tether/server'],
  noExternal: ['@tether/protocol'],
});
