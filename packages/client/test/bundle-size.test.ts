import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'tsup';
import { describe, expect, it } from 'vitest';

/** Budget of the core browser client, gzipped. msgpack stays behind `@tether/client/msgpack`. */
const BUDGET = 7 * 1024;

const clientRoot = fileURLToPath(new URL('..', import.meta.url));

describe('browser bundle', () => {
  it(`stays under ${BUDGET} bytes gzipped, without msgpackr`, async () => {
    // Built from the sources with the browser settings of tsup.config.ts, so the check never
    // reads a stale dist/.
    const outDir = await mkdtemp(join(tmpdir(), 'tether-bundle-'));
    try {
      await build({
        config: false,
        entry: { 'tether-client': join(clientRoot, 'src/browser.ts') },
        outDir,
        format: ['esm'],
        platform: 'browser',
        target: 'es2022',
        minify: true,
        dts: false,
        sourcemap: false,
        noExternal: [/.*/],
        silent: true,
      });
      const code = await readFile(join(outDir, 'tether-client.js'));
      const gzipped = gzipSync(code, { level: 9 }).length;
      console.info(`browser client: ${code.length} B minified, ${gzipped} B gzipped (budget ${BUDGET} B)`);
      expect(gzipped).toBeLessThanOrEqual(BUDGET);
      // msgpackr would add about 12 KB: it must not be in the core bundle.
      expect(code.toString()).not.toMatch(/msgpackr|useRecords/);
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  }, 60_000);
});
