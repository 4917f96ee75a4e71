// How much CPU did *other* processes use while a trial ran? Linux /proc only; null elsewhere.
import fs from 'node:fs';

function machineBusyTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total };
}
function procTicks(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
  } catch {
    return 0;
  }
}

/** `longLived`: pids of ours that existed before the trial (redis-server); counted by difference. */
export function startSample(longLived = []) {
  try {
    return {
      m: machineBusyTicks(),
      self: procTicks(process.pid),
      longLived: longLived.map((pid) => [pid, procTicks(pid)]),
    };
  } catch {
    return null;
  }
}

/** Share of the machine's CPU (0..1) used by processes other than ours since `s`. */
export function foreignShare(s, pids) {
  if (!s) return null;
  try {
    const m = machineBusyTicks();
    let ours = pids.reduce((a, p) => a + procTicks(p), 0) + (procTicks(process.pid) - s.self);
    for (const [pid, t0] of s.longLived) ours += procTicks(pid) - t0;
    const total = m.total - s.m.total;
    if (total <= 0) return null;
    return Math.max(0, (m.busy - s.m.busy - ours) / total);
  } catch {
    return null;
  }
}
