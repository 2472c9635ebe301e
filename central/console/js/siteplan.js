// The site plan widget: an uploaded image with cameras and doors placed on it (positions in
// percent of the image, so they survive resizing), coloured by status, and an optional path.
import { blobUrl, get, put, request } from './api.js';
import { t, tv } from './i18n.js';
import { h } from './ui.js';
import { deviceStatus } from './views/devices.js';

export async function loadPlan() {
  try {
    return await get('/console/siteplan');
  } catch (err) {
    if (err.status === 404) return { image: false, markers: {} };
    throw err;
  }
}

export async function uploadPlanImage(file) {
  const fd = new FormData();
  fd.append('image', file);
  return request('PUT', '/console/siteplan/image', { body: fd });
}

export async function saveMarkers(markers) {
  return put('/console/siteplan/markers', { markers });
}

/**
 * devices: [{id, kind: 'camera'|'door', name, state}]; markers: {id: {x, y}} in percent.
 * onPlace(id, x, y) is called in edit mode when a device is dropped on the plan.
 */
export async function planView(plan, devices, { editing = null, path = [] } = {}) {
  const box = h('div', { class: 'plan', id: 'site-plan' });
  if (plan.image) {
    const img = h('img', { alt: t('plan.title') });
    img.src = await blobUrl('/console/siteplan/image');
    box.append(img);
  } else {
    box.append(h('div', { class: 'empty' }, t('plan.noImage')));
  }
  for (const d of devices) {
    const m = plan.markers?.[d.id];
    if (!m) continue;
    box.append(h('div', {
      class: `marker ${d.kind} ${d.state}`, title: `${d.name} · ${tv(d.kind === 'door' ? 'doorState' : 'cameraStatus', d.state)}`,
      style: { left: `${m.x}%`, top: `${m.y}%` }, dataset: { id: d.id, state: d.state },
    }, h('span', {}, d.name)));
  }
  if (path.length > 1) {
    const pts = path.map((p) => plan.markers?.[p]).filter(Boolean);
    if (pts.length > 1) {
      const NS = 'http://www.w3.org/2000/svg';
      const svg = document.createElementNS(NS, 'svg');
      svg.setAttribute('class', 'path');
      svg.setAttribute('viewBox', '0 0 100 100');
      svg.setAttribute('preserveAspectRatio', 'none');
      const line = document.createElementNS(NS, 'polyline');
      line.setAttribute('points', pts.map((p) => `${p.x},${p.y}`).join(' '));
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', '#dc2626');
      line.setAttribute('stroke-width', '0.6');
      line.setAttribute('stroke-dasharray', '1.5 1');
      svg.append(line);
      box.append(svg);
    }
  }
  if (editing) {
    box.style.cursor = 'crosshair';
    box.addEventListener('click', (e) => {
      if (!editing.current) return;
      const r = box.getBoundingClientRect();
      const x = Math.round(((e.clientX - r.left) / r.width) * 1000) / 10;
      const y = Math.round(((e.clientY - r.top) / r.height) * 1000) / 10;
      editing.place(editing.current, x, y);
    });
  }
  return box;
}

export async function devicesForPlan() {
  const st = await deviceStatus();
  return [
    ...st.cameras.map((c) => ({ id: `camera:${c.code}`, kind: 'camera', name: c.name, state: c.status, raw: c })),
    ...st.doors.map((d) => ({ id: `door:${d.code}`, kind: 'door', name: d.name, state: d.state, raw: d })),
  ];
}
