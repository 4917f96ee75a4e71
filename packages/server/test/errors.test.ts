import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCode, TetherError } from '../src/index.js';

// Each package ships its own build with its own copy of the protocol (and so of TetherError).
// The suite runs against sources, where every package shares one copy: the built files are what
// an app installs, so they are loaded here as they are published (`pnpm build` runs first).
const built = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const clientBuild = built('client/dist/node.js');
const redisBusBuild = built('redis-bus/dist/index.js');

describe('TetherError across package copies', () => {
  it('is the built packages that are loaded, each with its own class', async () => {
    expect(existsSync(clientBuild), 'run `pnpm build` first').toBe(true);
    expect(existsSync(redisBusBuild), 'run `pnpm build` first').toBe(true);
    const client = (await import(clientBuild)) as { TetherError: typeof TetherError };
    expect(client.TetherError).not.toBe(TetherError);
  });

  it('an error made by the built client is instanceof the server TetherError', async () => {
    const client = (await import(clientBuild)) as { TetherError: typeof TetherError };
    const made = new client.TetherError(ErrorCode.Timeout, 'no reply');
    expect(made).toBeInstanceOf(TetherError);
    expect(made instanceof TetherError).toBe(true);
    expect((made as TetherError).code).toBe('TIMEOUT');
    // Plain errors are not let through by the brand check.
    expect(new Error('x') instanceof TetherError).toBe(false);
    expect({ code: 'TIMEOUT' } instanceof TetherError).toBe(false);
  });

  it('an error made by the built redis-bus is instanceof the server TetherError', async () => {
    const { RedisBus } = (await import(redisBusBuild)) as typeof import('@tether/redis-bus');
    // Connects lazily: a closed bus refuses without any connection being made.
    const bus = new RedisBus({ url: 'redis://127.0.0.1:1' });
    await bus.close();
    const err = await bus.get('k').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TetherError);
    expect((err as TetherError).code).toBe(ErrorCode.BusUnavailable);
  });
});
