import { afterEach, describe, expect, it, vi } from 'vitest';
import { configureTracing, namespaceEnabled, tracer } from './trace.js';

describe('namespaceEnabled (the DEBUG syntax)', () => {
  it('matches names, wildcards and exclusions', () => {
    expect(namespaceEnabled(undefined, 'tether:server:conn')).toBe(false);
    expect(namespaceEnabled('', 'tether:server:conn')).toBe(false);
    expect(namespaceEnabled('tether:*', 'tether:server:conn')).toBe(true);
    expect(namespaceEnabled('*', 'tether:client')).toBe(true);
    expect(namespaceEnabled('tether:server:conn', 'tether:server:connx')).toBe(false);
    expect(namespaceEnabled('tether:*,-tether:client:frame', 'tether:client:frame')).toBe(false);
    expect(namespaceEnabled('tether:* -tether:client:frame', 'tether:client')).toBe(true);
    expect(namespaceEnabled('express:*', 'tether:client')).toBe(false);
  });
});

describe('tracer', () => {
  afterEach(() => {
    configureTracing(undefined);
    vi.unstubAllEnvs();
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('writes only while its namespace is on, and follows later configuration', () => {
    const lines: string[] = [];
    configureTracing('tether:a', (ns, format, args) => void lines.push(`${ns} ${format} ${args.join(',')}`));
    const a = tracer('tether:a');
    const b = tracer('tether:b');
    expect([a.on, b.on]).toEqual([true, false]);
    a('x %d', 1);
    b('y');
    configureTracing('tether:b');
    expect([a.on, b.on]).toEqual([false, true]);
    a('z');
    b('w %s', 'q');
    expect(lines).toEqual(['tether:a x %d 1', 'tether:b w %s q']);
  });

  it('reads DEBUG on Node when first used', async () => {
    vi.stubEnv('DEBUG', 'tether:server:*');
    vi.resetModules();
    const fresh = await import('./trace.js');
    expect(fresh.tracer('tether:server:conn').on).toBe(true);
    expect(fresh.tracer('tether:client').on).toBe(false);
  });

  it('reads localStorage.debug where there is no DEBUG (a browser)', async () => {
    vi.stubGlobal('process', { env: {} });
    vi.stubGlobal('localStorage', { getItem: (key: string) => (key === 'debug' ? 'tether:client*' : null) });
    vi.resetModules();
    const fresh = await import('./trace.js');
    expect(fresh.tracer('tether:client:frame').on).toBe(true);
    expect(fresh.tracer('tether:server:conn').on).toBe(false);
  });

  it('is off by default', async () => {
    vi.stubEnv('DEBUG', '');
    vi.resetModules();
    const fresh = await import('./trace.js');
    expect(fresh.tracer('tether:server:conn').on).toBe(false);
  });
});
