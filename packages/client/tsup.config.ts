import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Node and bundler builds: dependencies stay external, the internal protocol is inlined.
    entry: {
      node: 'src/node.ts',
      browser: 'src/browser.ts',
      msgpack: 'src/msgpack.ts',
      persistence: 'src/persistence.ts',
    },
    format: ['esm', 'cjs'],
    target: 'node20',
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
    noExternal: ['@tether/protocol', 'nanoid'],
    external: ['ws', 'msgpackr', 'eventsource-parser'],
  },
  {
    // One self-contained ESM file a page loads with <script type="module">, no bundler.
    entry: { 'tether-client': 'src/browser.ts', persistence: 'src/persistence.ts' },
    outDir: 'dist/browser',
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    dts: false,
    noExternal: [/.*/],
  },
]);
