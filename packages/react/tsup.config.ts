import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  target: 'es2022',
  // The hooks run in client components only: frameworks with server components (Next.js) need the
  // directive to keep the provider and hooks out of the server graph.
  banner: { js: "'use client';" },
  // The client's types stay a package import (`@tether/client`), never a copy of its sources:
  // the workspace paths of the base tsconfig would otherwise inline them.
  dts: { compilerOptions: { paths: {} } },
  clean: true,
  sourcemap: true,
  external: ['react', '@tether/client'],
});
