// Hand-written SVG charts (no library): grouped bars, horizontal bars and a donut.
const NS = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#1d4ed8', '#f59e0b', '#16a34a', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

function niceMax(v) {
  if (v <= 4) return 4; // small counts: whole-number ticks
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** Grouped vertical bars. data: [{label, values:[...]}], series: names (legend). */
export function barChart(data, { series = [''], width = 560, height = 200, title = '' } = {}) {
  const pad = { l: 36, r: 8, t: 8, b: 24 };
  const max = niceMax(Math.max(0, ...data.flatMap((d) => d.values)));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  for (let i = 0; i <= 4; i += 1) {
    const y = pad.t + ih - (ih * i) / 4;
    svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: 'axis' }),
      s('text', { x: pad.l - 4, y: y + 4, 'text-anchor': 'end' }, Math.round((max * i) / 4)));
  }
  const gw = iw / Math.max(1, data.length);
  const bw = Math.max(1, (gw * 0.8) / series.length);
  const every = Math.ceil(data.length / 16);
  data.forEach((d, i) => {
    d.values.forEach((v, j) => {
      const bh = (ih * v) / max;
      const rect = s('rect', { x: pad.l + i * gw + gw * 0.1 + j * bw, y: pad.t + ih - bh, width: bw - 1, height: bh, fill: PALETTE[j % PALETTE.length] });
      rect.append(s('title', {}, `${d.label} ${series[j] || ''}: ${v}`));
      svg.append(rect);
    });
    if (i % every === 0) svg.append(s('text', { x: pad.l + i * gw + gw / 2, y: height - 8, 'text-anchor': 'middle' }, d.label));
  });
  return svg;
}

/** Horizontal bars with labels: data [{label, value}]. */
export function hbarChart(data, { width = 360, row = 22, format = (v) => v } = {}) {
  const height = Math.max(row, data.length * row) + 4;
  const max = niceMax(Math.max(0, ...data.map((d) => d.value)));
  const lw = 110;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img' });
  data.forEach((d, i) => {
    const y = i * row + 2;
    const w = ((width - lw - 50) * d.value) / max;
    svg.append(s('text', { x: lw - 6, y: y + row * 0.65, 'text-anchor': 'end' }, d.label),
      s('rect', { x: lw, y: y + 3, width: Math.max(0, w), height: row - 8, fill: d.color || PALETTE[0], rx: 2 }),
      s('text', { x: lw + w + 4, y: y + row * 0.65 }, format(d.value)));
  });
  return svg;
}

/** Donut with a legend: data [{label, value}]. */
export function donutChart(data, { size = 160, center = '' } = {}) {
  const total = data.reduce((a, d) => a + d.value, 0);
  const r = size / 2 - 10;
  const c = size / 2;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${size} ${size}`, role: 'img', style: `max-width:${size}px` });
  let angle = -Math.PI / 2;
  if (total === 0) svg.append(s('circle', { cx: c, cy: c, r, fill: 'none', stroke: '#e5eaf1', 'stroke-width': 18 }));
  data.forEach((d, i) => {
    if (!d.value) return;
    const a2 = angle + (2 * Math.PI * d.value) / total;
    const large = a2 - angle > Math.PI ? 1 : 0;
    const path = d.value === total
      ? s('circle', { cx: c, cy: c, r, fill: 'none', stroke: PALETTE[i % PALETTE.length], 'stroke-width': 18 })
      : s('path', {
        d: `M ${c + r * Math.cos(angle)} ${c + r * Math.sin(angle)} A ${r} ${r} 0 ${large} 1 ${c + r * Math.cos(a2)} ${c + r * Math.sin(a2)}`,
        fill: 'none', stroke: PALETTE[i % PALETTE.length], 'stroke-width': 18,
      });
    path.append(s('title', {}, `${d.label}: ${d.value}`));
    svg.append(path);
    angle = a2;
  });
  svg.append(s('text', { x: c, y: c + 5, 'text-anchor': 'middle', style: 'font-size:16px;font-weight:700;fill:#1b2433' }, center || total));
  return svg;
}

export function legend(labels) {
  const box = document.createElement('div');
  box.className = 'legend';
  labels.forEach((l, i) => {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.style.background = PALETTE[i % PALETTE.length];
    item.append(sw, document.createTextNode(l));
    box.append(item);
  });
  return box;
}

function uptimeColour(u) {
  if (u === null || u === undefined) return '#cbd5e1';
  if (u >= 0.99) return '#16a34a';
  if (u >= 0.9) return '#f59e0b';
  return '#dc2626';
}

/**
 * Uptime per bucket as bars on a 0–100 % axis, coloured by level; grey where nothing is known.
 * data: [{label, uptime (0..1 or null), title}].
 */
export function uptimeChart(data, { width = 560, height = 180, title = '' } = {}) {
  const pad = { l: 40, r: 8, t: 8, b: 24 };
  const svg = s('svg', { class: 'chart uptime', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  for (let i = 0; i <= 4; i += 1) {
    const y = pad.t + ih - (ih * i) / 4;
    svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: 'axis' }),
      s('text', { x: pad.l - 4, y: y + 4, 'text-anchor': 'end' }, `${i * 25}%`));
  }
  const gw = iw / Math.max(1, data.length);
  const every = Math.ceil(data.length / 12);
  data.forEach((d, i) => {
    const known = d.uptime !== null && d.uptime !== undefined;
    const bh = known ? Math.max(1, ih * d.uptime) : ih;
    const rect = s('rect', {
      x: pad.l + i * gw + gw * 0.1, y: pad.t + ih - bh, width: Math.max(1, gw * 0.8), height: bh,
      fill: uptimeColour(d.uptime), 'fill-opacity': known ? 1 : 0.35, 'data-uptime': known ? d.uptime : '',
    });
    rect.append(s('title', {}, d.title || `${d.label}: ${known ? `${Math.round(d.uptime * 1000) / 10}%` : '—'}`));
    svg.append(rect);
    if (i % every === 0) svg.append(s('text', { x: pad.l + i * gw + gw / 2, y: height - 8, 'text-anchor': 'middle' }, d.label));
  });
  return svg;
}

/** A small strip of uptime cells (one per bucket) for a table row. */
export function uptimeStrip(values, { width = 144, height = 16 } = {}) {
  const svg = s('svg', { class: 'strip', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  const w = width / Math.max(1, values.length);
  values.forEach((u, i) => {
    const cell = s('rect', { x: i * w, y: 0, width: Math.max(1, w - 1), height, fill: uptimeColour(u) });
    cell.append(s('title', {}, u === null || u === undefined ? '—' : `${Math.round(u * 1000) / 10}%`));
    svg.append(cell);
  });
  return svg;
}
