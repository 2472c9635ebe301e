// The live alert feed: one WebSocket per console, shared by every view. High-severity
// alerts of the urgent kinds pop up over whatever view is open, with a sound, until a
// guard acknowledges them (with a note). Reconnects with back-off and catches up from
// the REST list after each reconnect, so nothing raised while offline is missed.
import { alertSocket, blobUrl, get, items, post } from './api.js';
import { fmtTime, lang, t, tv } from './i18n.js';
import { h, showError, toast } from './ui.js';

// Alert types (central's rule types) that pop up with sound when high or critical:
// tailgating, watchlist hit, forced/held door, lost person (a special person leaving).
export const URGENT_KINDS = new Set(['tailgating', 'watchlist', 'door', 'special_leaving']);

export function normAlert(a) {
  const id = a.id ?? a.alert_id;
  const snapshot = a.snapshot_url ?? (a.has_snapshot ? `/alerts/${id}/snapshot` : null);
  const status = String(a.status ?? '').toLowerCase();
  return {
    id,
    kind: a.kind ?? a.type ?? a.rule_kind ?? 'alert',
    severity: String(a.severity ?? 'info').toLowerCase(),
    at: a.last_at ?? a.raised_at ?? a.created_at ?? a.captured_at ?? a.at ?? a.first_at,
    camera: a.camera_name ?? a.camera_code ?? a.camera_id ?? '',
    door: a.door_name ?? a.door_code ?? a.door_id ?? '',
    zone: a.zone_name ?? a.zone_id ?? '',
    person: a.person_name ?? a.person_id ?? (Array.isArray(a.person_ids) ? a.person_ids.join(', ') : ''),
    site: a.site_id ?? '',
    message: (lang() === 'en' ? a.title_en : a.title_zh) ?? a.title_zh ?? a.message ?? a.title ?? '',
    count: a.count ?? a.occurrences ?? 1,
    snapshot,
    acked: !!(a.acknowledged_at || a.acked_at || a.acknowledged || ['acknowledged', 'acked', 'closed', 'resolved'].includes(status)),
    ackNote: a.ack_note ?? a.note ?? '',
    ackBy: a.acknowledged_by ?? a.acked_by ?? '',
    ackAt: a.acknowledged_at ?? a.acked_at ?? null,
    raw: a,
  };
}

export function isUrgent(al) {
  return (al.severity === 'high' || al.severity === 'critical') && (URGENT_KINDS.has(al.kind) || al.severity === 'critical');
}

export async function acknowledge(id, note) {
  return post(`/alerts/${id}/ack`, { note: note || '' });
}

class Feed {
  constructor() {
    this.alerts = new Map();
    this.listeners = new Set();
    this.ws = null;
    this.dot = null;
    this.stopped = true;
    this.retry = 500;
    this.sound = null;
  }

  start(dot) {
    this.dot = dot;
    if (!this.stopped) {
      // The shell was re-rendered (language switch): show the live state on the new indicator.
      const open = this.ws && this.ws.readyState === WebSocket.OPEN;
      dot?.classList.toggle('on', !!open);
      dot?.setAttribute('data-state', open ? 'open' : 'closed');
      return;
    }
    this.stopped = false;
    this.sound = new Audio('/console/sounds/alert.wav');
    this.loadNames();
    this.catchUp();
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    this.ws = null;
    this.alerts.clear();
    document.getElementById('popups')?.replaceChildren();
  }

  async loadNames() {
    // Cameras and doors by their edge code, so evidence reads "北门入口摄像机" rather than a code.
    try {
      for (const d of items(await get('/devices'))) if (d.name) deviceNames.set(d.code, d.name);
      this.emit();
    } catch { /* codes are still shown */ }
  }

  subscribe(fn) { this.listeners.add(fn); fn(this.list()); return () => this.listeners.delete(fn); }

  list() {
    return [...this.alerts.values()].sort((a, b) => String(b.at).localeCompare(String(a.at)));
  }

  emit() {
    const list = this.list();
    const open = list.filter((a) => !a.acked).length;
    const badge = document.getElementById('alert-badge');
    if (badge) { badge.textContent = String(open); badge.classList.toggle('hidden', open === 0); }
    for (const fn of this.listeners) fn(list);
  }

  async catchUp(since = null) {
    try {
      const res = await get('/alerts', { limit: 100 });
      // After a reconnect, urgent alerts raised while the feed was down still pop up.
      for (const a of items(res)) {
        const al = normAlert(a);
        this.upsert(al, since !== null && !this.alerts.has(al.id) && new Date(al.at) >= since);
      }
      this.emit();
    } catch (err) {
      if (err.status !== 403) showError(err);
    }
  }

  connect() {
    if (this.stopped) return;
    const ws = alertSocket();
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      this.dot?.classList.add('on');
      this.dot?.setAttribute('data-state', 'open');
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'ping' || msg.type === 'hello') return;
      const body = msg.alert ?? msg.data ?? msg;
      if (!body || (body.id ?? body.alert_id) === undefined) return;
      this.upsert(normAlert(body), true);
      this.emit();
    };
    ws.onclose = () => {
      this.dot?.classList.remove('on');
      this.dot?.setAttribute('data-state', 'closed');
      if (this.stopped) return;
      const since = new Date(Date.now() - 5000);
      setTimeout(() => { this.catchUp(since); this.connect(); }, this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  upsert(al, live) {
    const prev = this.alerts.get(al.id);
    this.alerts.set(al.id, al);
    if (al.acked) { document.getElementById(`popup-${al.id}`)?.remove(); return; }
    if (live && !prev && isUrgent(al)) this.popup(al);
  }

  markAcked(id, note) {
    const al = this.alerts.get(id);
    if (al) { al.acked = true; al.ackNote = note; }
    document.getElementById(`popup-${id}`)?.remove();
    this.emit();
  }

  popup(al) {
    const box = document.getElementById('popups');
    if (!box || document.getElementById(`popup-${al.id}`)) return;
    const note = h('input', { type: 'text', class: 'ack-note', placeholder: t('alerts.notePlaceholder'), maxlength: 500 });
    const img = h('img', { alt: t('alerts.snapshot'), class: 'hidden' });
    const el = h('div', { class: 'popup', id: `popup-${al.id}`, dataset: { kind: al.kind, id: al.id } },
      h('h2', {}, `⚠ ${tv('alertKind', al.kind)}`),
      al.message ? h('div', {}, al.message) : null,
      img,
      h('div', { class: 'meta' }, evidenceLine(al)),
      note,
      h('div', { class: 'row' },
        h('button', { class: 'btn primary ack', type: 'button', onclick: async () => {
          try {
            await acknowledge(al.id, note.value);
            this.markAcked(al.id, note.value);
            toast(t('alerts.acked'), 'ok');
          } catch (err) { showError(err); }
        } }, t('alerts.ack')),
        h('a', { class: 'btn', href: '#/alerts' }, t('alerts.openWall'))));
    box.prepend(el);
    if (al.snapshot) loadSnapshot(al.snapshot, img);
    this.sound?.play().catch(() => { /* the browser may block sound until the first click */ });
  }
}

const deviceNames = new Map();
const named = (code) => (deviceNames.has(code) ? `${deviceNames.get(code)} (${code})` : code);

export function evidenceLine(al) {
  const parts = [fmtTime(al.at)];
  if (al.camera) parts.push(`${t('alerts.camera')}: ${named(al.camera)}`);
  if (al.door) parts.push(`${t('alerts.door')}: ${named(al.door)}`);
  if (al.zone) parts.push(`${t('field.zone')}: ${al.zone}`);
  if (al.person) parts.push(`${t('alerts.person')}: ${al.person}`);
  if (al.count > 1) parts.push(`×${al.count}`);
  return parts.join(' · ');
}

export async function loadSnapshot(path, img) {
  try {
    img.src = await blobUrl(path);
    img.classList.remove('hidden');
  } catch {
    // Snapshots exist only where the policy allows them; absence is normal.
  }
}

export const feed = new Feed();
// Diagnostics for support staff (and the browser tests): the live feed's state in devtools.
window.anjuFeed = feed;
