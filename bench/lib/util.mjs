// Small helpers shared by the orchestrator and the child processes.
import * as hdr from 'hdr-histogram-js';

/** Microseconds on CLOCK_MONOTONIC: comparable across processes of the same machine (Linux). */
export function nowUs() {
  const t = process.hrtime();
  return t[0] * 1e6 + t[1] / 1e3;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nextMacrotask = () => new Promise((r) => setImmediate(r));

/** Run `p` but reject after `ms` with a clear message. */
export function withTimeout(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ~100-byte payloads: JSON.stringify({ seq: 123456, t: 12345678901.234, pad }) is about 100 bytes.
const PAD = 'x'.repeat(62);
export function makePayload(seq) {
  return { seq, t: nowUs(), pad: PAD };
}
export const PAYLOAD_BYTES = JSON.stringify(makePayload(123456)).length;

// Latency histograms in microseconds.
export function newHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}
export const encodeHistogram = (h) => hdr.encodeIntoCompressedBase64(h);
export function mergeHistograms(encoded) {
  const out = newHistogram();
  for (const e of encoded) if (e) out.add(hdr.decodeFromCompressedBase64(e));
  return out;
}

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function cpuUs(u) {
  return u.user + u.system;
}

/** Spread n connections over 127.0.0.2 .. 127.0.0.(k+1). */
export function localAddressFor(i, k) {
  return `127.0.0.${2 + (i % k)}`;
}

/** Resolve once every stream in `streams` emitted 'drain' or 'close' (or after maxMs); no listener left behind. */
export function waitDrain(streams, maxMs = 250) {
  return new Promise((resolve) => {
    let left = streams.length;
    const cleanups = [];
    const done = () => {
      clearTimeout(timer);
      for (const c of cleanups) c();
      resolve();
    };
    const timer = setTimeout(done, maxMs);
    for (const s of streams) {
      const on = () => {
        if (--left === 0) done();
      };
      s.once('drain', on);
      s.once('close', on);
      cleanups.push(() => {
        s.removeListener('drain', on);
        s.removeListener('close', on);
      });
    }
  });
}
