import { defineConfig } from 'tsup';

// Node-only package: ESM + CJS + type declarations. pg and @tether/server stay imports (a
// dependency and a peer).
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  external: ['pg', '@tether/server'],
});
