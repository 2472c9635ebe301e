// Dashboards: in/out per hour and per day, people present by ring, alerts by type and how
// fast they were acknowledged, camera uptime, visitors, and the 平安小区 indicators.
// Aggregated here from the API's own lists (events, alerts, cameras, visitors, houses, tasks).
import { get, items, site } from '../api.js';
import { t, tv } from '../i18n.js';
import { barChart, donutChart, hbarChart, legend } from '../charts.js';
import { h, stat } from '../ui.js';
import { deviceStatus } from './devices.js';
import { bucketsChart, cameraTable, fetchUptime, pctText } from '../uptime.js';

const DAY = 86400000;

async function safe(path, params) {
  try { return items(await get(path, params)); } catch { return null; }
}

/** Pass events of the window, following the API's cursor (bounded so a huge site stays responsive). */
async function passEvents(since, maxPages = 20) {
  const out = [];
  let cursor;
  for (let i = 0; i < maxPages; i += 1) {
    const page = await get('/events', { since, kind: 'pass', limit: 500, cursor });
    out.push(...items(page));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

function pct(n, d) { return d ? `${Math.round((100 * n) / d)}%` : '—'; }

export function aggregate({ events, alerts, cameras, visitors, houses, tasks, households = [], zoneNames = new Map(), now = new Date() }) {
  const today0 = new Date(now); today0.setHours(0, 0, 0, 0);
  const hours = Array.from({ length: 24 }, (_, i) => ({ label: String(i), values: [0, 0] }));
  const days = Array.from({ length: 7 }, (_, i) => {
    const d = new Date(today0.getTime() - (6 - i) * DAY);
    return { label: `${d.getMonth() + 1}/${d.getDate()}`, key: d.toDateString(), values: [0, 0] };
  });
  const lastSeen = new Map();
  for (const e of events) {
    if (e.kind !== 'pass') continue;
    const at = new Date(e.captured_at);
    const dir = e.direction === 'in' ? 0 : e.direction === 'out' ? 1 : null;
    if (dir === null) continue;
    if (at >= today0) hours[at.getHours()].values[dir] += 1;
    const day = days.find((d) => d.key === at.toDateString());
    if (day) day.values[dir] += 1;
    const prev = lastSeen.get(e.person_id);
    if (!prev || new Date(prev.captured_at) < at) lastSeen.set(e.person_id, e);
  }
  // Present = last pass seen going in; counted in the ring and the zone (grid) of that camera.
  const byRing = new Map();
  const byZone = new Map();
  for (const e of lastSeen.values()) {
    if (e.direction !== 'in') continue;
    const k = e.ring ?? 0;
    byRing.set(k, (byRing.get(k) || 0) + 1);
    if (e.zone_id) byZone.set(e.zone_id, (byZone.get(e.zone_id) || 0) + 1);
  }
  const visitDays = days.map((d) => ({ label: d.label, values: [visitors.filter((v) => new Date(v.entered_at || 0).toDateString() === d.key).length] }));
  const byType = new Map();
  const ackSecs = [];
  for (const a of alerts) {
    const k = a.type ?? a.kind;
    byType.set(k, (byType.get(k) || 0) + 1);
    const from = a.first_at ?? a.created_at;
    if (a.acknowledged_at && from) ackSecs.push((new Date(a.acknowledged_at) - new Date(from)) / 1000);
  }
  ackSecs.sort((x, y) => x - y);
  const median = ackSecs.length ? ackSecs[Math.floor(ackSecs.length / 2)] : null;
  const inTime = ackSecs.filter((s) => s <= 300).length;
  const rentals = houses ? houses.filter((x) => (x.usage ?? x.kind) === 'rental') : [];
  const visited = rentals.filter((x) => x.last_visit_at && now - new Date(x.last_visit_at) < 30 * DAY).length;
  const occupied = new Set(households.map((x) => x.house_id));
  const registered = rentals.filter((x) => occupied.has(x.id)).length;
  const camsOnline = cameras.filter((c) => c.status === 'online').length;
  return {
    hours, days,
    zones: [...byZone.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([z, v]) => ({ label: zoneNames.get(z) || z, value: v })),
    visitDays,
    rings: [...byRing.entries()].sort((a, b) => a[0] - b[0]).map(([r, v]) => ({ label: r ? tv('ring', r) : t('dash.ringUnknown'), value: v })),
    alertTypes: [...byType.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ label: tv('alertKind', k), value: v })),
    // how long acknowledgement took: under 1 min, 1–5, 5–15, 15–60, over 60 min, not yet
    ackTimes: [[60, 'dash.ack1'], [300, 'dash.ack5'], [900, 'dash.ack15'], [3600, 'dash.ack60'], [Infinity, 'dash.ackMore']]
      .map(([limit, key], i, all) => ({ label: t(key), value: ackSecs.filter((x) => x <= limit && (i === 0 || x > all[i - 1][0])).length }))
      .concat([{ label: t('dash.ackOpen'), value: alerts.length - ackSecs.length, color: '#94a3b8' }]),
    ackMedian: median, ackInTime: pct(inTime, alerts.length), acked: ackSecs.length, alertsTotal: alerts.length,
    camsOnline, camsTotal: cameras.length, uptime: pct(camsOnline, cameras.length),
    visitorsToday: visitors.filter((v) => new Date(v.entered_at || v.valid_from || 0) >= today0).length,
    rentalTotal: rentals.length, rentalRegistered: pct(registered, rentals.length), rentalVisited: pct(visited, rentals.length),
    tasksOverdue: (tasks || []).filter((x) => x.overdue ?? (x.status === 'open' && x.due_at && new Date(x.due_at) < now)).length,
  };
}

function fmtSecs(s) {
  if (s === null || s === undefined) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export async function render(main, { user } = {}) {
  const since = new Date(Date.now() - 7 * DAY).toISOString();
  const [events, alerts, cameras, visitors, houses, tasks, households, zones, uptime] = await Promise.all([
    passEvents(since).catch(() => null),
    safe('/alerts', { limit: 500 }),
    deviceStatus().then((st) => st.cameras).catch(() => null),
    safe('/visits', { since, until: new Date(Date.now() + 60000).toISOString() }),
    safe('/houses', { limit: 500 }),
    // visit tasks are police / grid-worker data (the API refuses property staff): not asked for then
    ['police', 'grid_worker', 'admin'].includes(user?.role) ? safe(`/reconciliation/sites/${encodeURIComponent(site.id)}/tasks`, { site_id: undefined }) : null,
    safe('/households', { limit: 500 }),
    safe('/zones'),
    fetchUptime({ hours: 24 }).catch(() => null),
  ]);
  const cameraNames = new Map((cameras || []).map((c) => [c.code, c.name || c.code]));
  const zoneNames = new Map((zones || []).map((z) => [z.code, z.name]));
  const st = aggregate({ events: events || [], alerts: alerts || [], cameras: cameras || [], visitors: visitors || [], houses, tasks, households: households || [], zoneNames });
  const missing = [['events', events], ['alerts', alerts], ['cameras', cameras], ['visitors', visitors], ['uptime', uptime]].filter(([, v]) => v === null).map(([k]) => k);
  main.append(
    h('div', { class: 'toolbar' }, h('h1', {}, t('nav.dashboard')), h('span', { class: 'muted' }, t('dash.window')),
      missing.length ? h('span', { class: 'errors' }, `${t('dash.missing')}: ${missing.join(', ')}`) : null),
    h('div', { class: 'panel', id: 'ping-an' }, h('h2', {}, t('dash.pingAn')), h('div', { class: 'grid4' },
      // uptime over the last 24 h where the status history has it, else the share online now
      uptime && uptime.uptime !== null
        ? stat(t('dash.cameraCoverage'), pctText(uptime.uptime), uptime.uptime < 0.99 ? 'warn' : '')
        : stat(t('dash.cameraCoverage'), st.uptime, st.camsOnline < st.camsTotal ? 'warn' : ''),
      stat(t('dash.rentalRegistered'), st.rentalRegistered),
      stat(t('dash.rentalVisited'), st.rentalVisited, st.tasksOverdue ? 'warn' : ''),
      stat(t('dash.alertsInTime'), st.ackInTime))),
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, t('dash.inOutHour')), legend([t('dash.in'), t('dash.out')]), barChart(st.hours, { series: [t('dash.in'), t('dash.out')] })),
      h('div', { class: 'panel' }, h('h2', {}, t('dash.inOutDay')), legend([t('dash.in'), t('dash.out')]), barChart(st.days, { series: [t('dash.in'), t('dash.out')] }))),
    h('div', { class: 'grid3' },
      h('div', { class: 'panel' }, h('h2', {}, t('dash.presentByRing')), st.rings.length ? donutChart(st.rings) : h('div', { class: 'empty' }, t('common.empty')), legend(st.rings.map((r) => `${r.label} ${r.value}`))),
      h('div', { class: 'panel' }, h('h2', {}, t('dash.alertsByType')), st.alertTypes.length ? hbarChart(st.alertTypes) : h('div', { class: 'empty' }, t('common.empty')),
        h('div', { class: 'muted' }, `${t('dash.ackMedian')}: ${fmtSecs(st.ackMedian)} · ${t('dash.acked')} ${st.acked}/${st.alertsTotal}`),
        st.alertsTotal ? [h('h3', {}, t('dash.ackTimes')), hbarChart(st.ackTimes, { row: 18 })] : null),
      h('div', { class: 'panel' }, h('h2', {}, t('dash.presentByZone')), st.zones.length ? hbarChart(st.zones) : h('div', { class: 'empty' }, t('common.empty')))),
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, t('dash.visitsPerDay')), barChart(st.visitDays, { series: [t('dash.visits')], height: 160 })),
      h('div', { class: 'panel' }, h('h2', {}, t('dash.devicesVisitors')), h('div', { class: 'grid2' },
        stat(t('dash.cameraUptime'), `${st.camsOnline}/${st.camsTotal}`),
        stat(t('dash.uptime24h'), uptime ? pctText(uptime.uptime) : '—', uptime && uptime.uptime !== null && uptime.uptime < 0.99 ? 'warn' : ''),
        stat(t('dash.visitorsToday'), st.visitorsToday),
        stat(t('dash.rentals'), st.rentalTotal),
        stat(t('dash.tasksOverdue'), tasks === null ? '—' : st.tasksOverdue, st.tasksOverdue ? 'bad' : '')))),
    h('div', { class: 'grid2', id: 'dash-uptime' },
      h('div', { class: 'panel' }, h('h2', {}, t('dash.cameraUptimeChart')),
        uptime ? bucketsChart(uptime.overall, false, { height: 160, title: t('dash.cameraUptimeChart') }) : h('div', { class: 'empty' }, t('uptime.noData'))),
      h('div', { class: 'panel' }, h('h2', {}, t('uptime.perCamera')), uptime ? cameraTable(uptime, cameraNames) : h('div', { class: 'empty' }, t('uptime.noData')))));
}
