import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    msgpack: 'src/msgpack.ts',
    prometheus: 'src/prometheus.ts',
    otel: 'src/otel.ts',
  },
  format: ['esm', 'cjs'],
  target: 'node20',
  platform: 'node',
  // Types of the internal protocol are inlined too: paths make them local sources, not a package import.
  dts: {
    compilerOptions: {
      paths: {
        '@tether/protocol': ['../protocol/src/index.ts'],
        '@tether/protocol/msgpack': ['../protocol/src/msgpack-codec.ts'],
        '@tether/protocol/trace': ['../protocol/src/trace.ts'],
      },
    },
  },
  clean: true,
  sourcemap: true,
  // The protocol package is internal: it ships inside each public package.
  noExternal: ['@tether/protocol'],
  external: ['ws', 'msgpackr', 'prom-client', '@opentelemetry/api'],
});
