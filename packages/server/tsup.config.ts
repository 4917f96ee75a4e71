import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', msgpack: 'src/msgpack.ts' },
  format: ['esm', 'cjs'],
  target: 'node20',
  platform: 'node',
  dts: { resolve: ['@tether/protocol'] },
  clean: true,
  sourcemap: true,
  // The protocol package is internal: it ships inside each public package.
  noExternal: ['@tether/protocol'],
  external: ['ws', 'msgpackr', 'prom-client'],
});
