import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The page lives in web/; `vite build` writes dist/app/, and `vite build --mode development` writes
// dist/dev/ with React's development build (where StrictMode mounts every component twice: the
// mode alone does not switch React's build, NODE_ENV does). app.mjs serves either beside Tether.
export default defineConfig(({ mode }) => ({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  plugins: [react()],
  define: mode === 'development' ? { 'process.env.NODE_ENV': JSON.stringify('development') } : {},
  build: {
    outDir: fileURLToPath(new URL(mode === 'development' ? './dist/dev' : './dist/app', import.meta.url)),
    emptyOutDir: true,
    minify: mode !== 'development',
  },
}));
