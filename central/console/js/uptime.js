// Camera uptime from the status history (GET /camera-uptime): charts for the dashboard, the
// cameras view (per camera) and a per-camera dialog.
import { get } from './api.js';
import { t, tv } from './i18n.js';
import { uptimeChart, uptimeStrip } from './charts.js';
import { dataTable, h, modal, tag } from './ui.js';

const HOUR = 3600000;
const DAY = 86400000;

export function pctText(u) {
  return u === null || u === undefined ? '—' : `${Math.round(u * 1000) / 10}%`;
}

/** Hourly uptime for the last `hours` hours (the current hour included), or daily for `days` days. */
export async function fetchUptime({ hours = 24, days = 0, cameraIds } = {}) {
  const now = new Date();
  let since;
  let until;
  if (days) {
    const today0 = new Date(now); today0.setHours(0, 0, 0, 0);
    since = new Date(today0.getTime() - (days - 1) * DAY);
    until = new Date(today0.getTime() + DAY);
  } else {
    const hour0 = new Date(now); hour0.setMinutes(0, 0, 0);
    since = new Date(hour0.getTime() - (hours - 1) * HOUR);
    until = new Date(hour0.getTime() + HOUR);
  }
  return get('/camera-uptime', { since: since.toISOString(), until: until.toISOString(), bucket: days ? 'day' : 'hour', camera_id: cameraIds });
}

function bucketLabel(iso, daily) {
  const d = new Date(iso);
  return daily ? `${d.getMonth() + 1}/${d.getDate()}` : String(d.getHours());
}

export function bucketsChart(buckets, daily, opts = {}) {
  return uptimeChart(buckets.map((b) => ({ label: bucketLabel(b.start, daily), uptime: b.uptime })), opts);
}

/** Per-camera rows: name, a strip of the buckets, the window's uptime and the current status. */
export function cameraTable(report, names = new Map()) {
  return dataTable([
    { key: 'camera_id', label: t('uptime.camera'), render: (c) => names.get(c.camera_id) || c.camera_id },
    { key: 'strip', label: t('uptime.column'), render: (c) => uptimeStrip(c.buckets.map((b) => b.uptime)) },
    { key: 'uptime', label: t('uptime.percent'), render: (c) => h('span', { class: 'uptime-pct', dataset: { camera: c.camera_id } }, pctText(c.uptime)) },
    { key: 'changes', label: t('uptime.changes') },
  ], report.cameras.map((c) => ({ ...c, id: c.camera_id })), { empty: t('uptime.noData') });
}

/** A dialog with one camera's uptime: the last 24 hours by hour and the last 7 days by day. */
export async function cameraUptimeDialog(camera) {
  const [hourly, daily] = await Promise.all([
    fetchUptime({ hours: 24, cameraIds: [camera.code] }),
    fetchUptime({ days: 7, cameraIds: [camera.code] }),
  ]);
  const h24 = hourly.cameras[0];
  const d7 = daily.cameras[0];
  const body = h('div', { id: 'camera-uptime', dataset: { camera: camera.code } },
    h('div', { class: 'row' }, h('span', { class: 'grow' }, `${t('uptime.last24h')}: `, h('b', { id: 'camera-uptime-24h' }, pctText(h24?.uptime))),
      h24 ? tag(h24.status, tv('cameraStatus', h24.status)) : tag('unknown', t('uptime.noData'))),
    h24 ? bucketsChart(h24.buckets, false, { title: t('uptime.last24h') }) : h('div', { class: 'empty' }, t('uptime.noData')),
    h('div', {}, `${t('uptime.last7d')}: `, h('b', {}, pctText(d7?.uptime))),
    d7 ? bucketsChart(d7.buckets, true, { height: 140, title: t('uptime.last7d') }) : null);
  await modal(`${t('uptime.title')} · ${camera.name || camera.code}`, body, []);
}
