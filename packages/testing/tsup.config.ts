import { defineConfig } from 'tsup';

// Node-only package: ESM + CJS + type declarations. The server and client are peers: they stay
// imports (in the .d.ts too), so the pair a test builds uses the same copies as the app under test.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  target: 'node20',
  platform: 'node',
  // Resolve the peers through node_modules (their built .d.ts), not the workspace source paths,
  // so their types are referenced rather than inlined.
  dts: { compilerOptions: { paths: {} } },
  sourcemap: true,
  clean: true,
  external: ['@tether/server', '@tether/client'],
});
