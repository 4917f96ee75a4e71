import { describe, expect, it } from 'vitest';
import { HeartbeatSweep, type HeartbeatTarget } from './heartbeat.js';

function target(log: string[], name: string): HeartbeatTarget {
  return { lastSeen: 0, sendPing: () => log.push(`ping ${name}`), expire: () => log.push(`expire ${name}`) };
}

describe('HeartbeatSweep (fake clock)', () => {
  it('pings every interval and expires a peer silent for interval + timeout', () => {
    let now = 0;
    const sweep = new HeartbeatSweep({ intervalMs: 100, timeoutMs: 60, now: () => now });
    const log: string[] = [];
    const quiet = target(log, 'quiet');
    const chatty = target(log, 'chatty');
    sweep.start();
    sweep.stop(); // drive ticks by hand
    sweep.add(quiet);
    sweep.add(chatty);
    for (now = 15; now <= 300; now += 15) {
      chatty.lastSeen = now; // answers everything
      sweep.tick();
    }
    expect(log.filter((l) => l === 'expire quiet')).toHaveLength(1);
    expect(log).not.toContain('expire chatty');
    expect(log.filter((l) => l === 'ping chatty').length).toBeGreaterThanOrEqual(2);
    expect(sweep.size).toBe(1);
  });

  it('keeps lastSeen as milliseconds since the sweep started (small integers, not timestamps)', () => {
    let now = 1_764_000_000_000;
    const sweep = new HeartbeatSweep({ intervalMs: 100, timeoutMs: 60, now: () => now });
    const log: string[] = [];
    const peer = target(log, 'peer');
    now += 40;
    sweep.tick();
    sweep.add(peer);
    expect(peer.lastSeen).toBe(40);
    expect(sweep.elapsed).toBe(40);
    now += 160; // deadline reached: 200 - 100 - 60 = 40
    sweep.tick();
    expect(log).toContain('expire peer');
  });

  it('uses one tick a quarter of the shorter period, never below 5 ms', () => {
    expect(new HeartbeatSweep({ intervalMs: 25_000, timeoutMs: 20_000 }).tickMs).toBe(5_000);
    expect(new HeartbeatSweep({ intervalMs: 8, timeoutMs: 8 }).tickMs).toBe(5);
  });
});
