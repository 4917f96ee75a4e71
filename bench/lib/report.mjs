// Tables (terminal + Markdown) and the SVG bar chart. No dependencies.
import { median } from './util.mjs';

export const STACK_NAMES = { ws: 'raw ws', socketio: 'Socket.IO', tether: 'Tether' };
const COLORS = { ws: '#7f7f7f', socketio: '#3867b3', tether: '#e07020' };

export function summarize(stackResult, key) {
  const vals = (stackResult?.runs ?? []).map((r) => r[key]).filter((v) => Number.isFinite(v));
  if (!vals.length) return null;
  return { med: median(vals), min: Math.min(...vals), max: Math.max(...vals), n: vals.length };
}

function sig(x) {
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toLocaleString('en');
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** The unit of a table row, chosen once from its medians so every cell of the row agrees. */
function unitFor(kind, meds) {
  const m = Math.max(0, ...meds.filter(Number.isFinite));
  switch (kind) {
    case 'rate':
      return m >= 1e6
        ? { div: 1e6, suf: ' M/s' }
        : m >= 1e4
          ? { div: 1e3, suf: ' k/s' }
          : { div: 1, suf: '/s' };
    case 'us':
      return { div: 1, suf: ' µs' };
    case 'lat':
      return m >= 1000 ? { div: 1000, suf: ' ms' } : { div: 1, suf: ' µs' };
    case 'bytes':
      return { div: 1024, suf: ' KB' };
    case 'count':
      return { div: 1, suf: '', int: true };
    default:
      return { div: 1, suf: '' };
  }
}
const num = (u, v) => (u.int ? Math.round(v).toLocaleString('en') : sig(v / u.div));

export function cellText(s, u) {
  if (!s) return '';
  let t = `${num(u, s.med)}${u.suf}`;
  if (s.n > 1) t += ` (${num(u, s.min)}–${num(u, s.max)})`;
  return t;
}

function statusText(r) {
  if (!r) return 'not run';
  if (r.status === 'unavailable') return 'not available';
  if (r.status === 'skipped') return 'skipped';
  if (!r.runs.length) return 'failed';
  return null;
}

/** Rows of one scenario: [metric label, then per stack: value cell, ratio-to-ws cell (non-ws stacks)]. */
export function scenarioRows(sc, stacks) {
  const header = ['metric'];
  for (const s of stacks) {
    header.push(STACK_NAMES[s]);
    if (s !== 'ws' && stacks.includes('ws')) header.push('× ws');
  }
  const rows = [];
  for (const m of sc.metrics) {
    const sums = Object.fromEntries(stacks.map((s) => [s, summarize(sc.stacks[s], m.key)]));
    const u = unitFor(
      m.kind,
      Object.values(sums).map((x) => x?.med),
    );
    const row = [`${m.label} (${m.better === 'higher' ? '↑' : '↓'})`];
    for (const s of stacks) {
      row.push(statusText(sc.stacks[s]) ?? (cellText(sums[s], u) || '–'));
      if (s !== 'ws' && stacks.includes('ws')) {
        const base = sums.ws?.med;
        row.push(sums[s] && base ? `${(sums[s].med / base).toFixed(2)}×` : '');
      }
    }
    rows.push(row);
  }
  return { header, rows };
}

export function textTable({ header, rows }) {
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  const line = (r) =>
    r.map((c, i) => (c ?? '').padEnd(w[i] + (c ?? '').length - [...(c ?? '')].length)).join('  ');
  return [line(header), w.map((x) => '─'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable({ header, rows }) {
  const esc = (c) => String(c ?? '').replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function problemsOf(sc, stacks) {
  const out = [];
  for (const s of stacks) {
    const r = sc.stacks[s];
    if (!r) continue;
    if (r.status === 'unavailable') out.push(`${STACK_NAMES[s]}: not available (${r.reason})`);
    for (const e of r.errors ?? []) out.push(`${STACK_NAMES[s]}: run ${e.run} failed: ${e.error}`);
    for (const n of new Set(r.notes ?? [])) out.push(`${STACK_NAMES[s]}: ${n}`);
  }
  return out;
}

/** "Other processes used N% of the machine's CPU": the noise indicator of each stack's runs. */
export function loadLine(sc, stacks) {
  const parts = [];
  for (const s of stacks) {
    const f = sc.stacks[s]?.foreign;
    if (!f?.length) continue;
    const pct = (x) => `${Math.round(x * 100)}%`;
    parts.push(
      `${STACK_NAMES[s]} ${pct(median(f))}${f.length > 1 ? ` (${pct(Math.min(...f))}–${pct(Math.max(...f))})` : ''}`,
    );
  }
  return parts.length
    ? `CPU used by other processes on the machine during the runs (median): ${parts.join(', ')}.`
    : null;
}

// ---------------------------------------------------------------- SVG

const escXml = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

export function svgChart(scenarios, stacks, { title }) {
  const W = 900;
  const labelW = 110;
  const barMax = 560;
  const barH = 16;
  const gap = 6;
  const panels = [];
  for (const sc of scenarios) {
    for (const m of sc.metrics.filter((x) => x.chart)) {
      const sums = Object.fromEntries(stacks.map((s) => [s, summarize(sc.stacks[s], m.key)]));
      if (!Object.values(sums).some(Boolean)) continue;
      panels.push({ sc, m, sums });
    }
  }
  const panelH = (n) => 26 + n * (barH + gap) + 10;
  let y = 56;
  const parts = [];
  for (const { sc, m, sums } of panels) {
    const u = unitFor(
      m.kind,
      Object.values(sums).map((x) => x?.med),
    );
    const top = Math.max(
      ...Object.values(sums)
        .filter(Boolean)
        .map((s) => s.max),
    );
    const scale = top > 0 ? barMax / top : 0;
    parts.push(
      `<text x="10" y="${y + 16}" class="t">${escXml(`${sc.short} · ${m.label}`)} <tspan class="h">(${m.better} is better)</tspan></text>`,
    );
    let by = y + 26;
    for (const s of stacks) {
      const st = sums[s];
      parts.push(
        `<text x="${labelW - 8}" y="${by + barH - 4}" class="l" text-anchor="end">${escXml(STACK_NAMES[s])}</text>`,
      );
      if (!st) {
        const why = statusText(sc.stacks[s]) ?? 'no data';
        parts.push(`<text x="${labelW + 4}" y="${by + barH - 4}" class="na">${escXml(why)}</text>`);
      } else {
        const w = Math.max(1, st.med * scale);
        parts.push(
          `<rect x="${labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[s]}" rx="2"/>`,
        );
        if (st.n > 1) {
          const x0 = labelW + st.min * scale;
          const x1 = labelW + st.max * scale;
          const cy = by + barH / 2;
          parts.push(
            `<path d="M${x0.toFixed(1)} ${cy}H${x1.toFixed(1)}M${x0.toFixed(1)} ${cy - 4}V${cy + 4}M${x1.toFixed(1)} ${cy - 4}V${cy + 4}" class="w"/>`,
          );
        }
        const base = sums.ws?.med;
        const ratio = s !== 'ws' && base ? ` · ${(st.med / base).toFixed(2)}× ws` : '';
        const tx = labelW + Math.max(w, st.max * scale) + 6;
        parts.push(
          `<text x="${tx.toFixed(1)}" y="${by + barH - 4}" class="v">${escXml(`${num(u, st.med)}${u.suf}${ratio}`)}</text>`,
        );
      }
      by += barH + gap;
    }
    y += panelH(stacks.length);
  }
  const H = y + 24;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<style>.t{font-size:13px;font-weight:600;fill:#222}.h{font-weight:400;fill:#777}.l{font-size:12px;fill:#333}.v{font-size:11px;fill:#222}.na{font-size:11px;fill:#999;font-style:italic}.w{stroke:#111;stroke-width:1;fill:none}.s{font-size:11px;fill:#666}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="24" font-size="16" font-weight="700" fill="#111">${escXml(title)}</text>
<text x="10" y="42" class="s">Bars: median of runs; whiskers: min–max. Ratios are to raw ws.</text>
${parts.join('\n')}
</svg>
`;
}
