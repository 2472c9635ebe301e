// Visitors: register against a host household with a validity window, issue the signed QR
// pass and print it; today's visit records (entries and exits seen by the gates).
import { blobUrl, get, items, post, site } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, dataTable, h, modal, showError, stat, tag, toast } from '../ui.js';

function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

/** Today's visit records (GET /visits). */
export async function todaysVisitors() {
  const from = startOfToday();
  const to = new Date(from.getTime() + 86400000);
  return items(await get('/visits', { since: from.toISOString(), until: to.toISOString() }));
}

/** Passes valid today (GET /visitor-passes) with their last arrival: the guard's 今日访客. */
export async function todaysPasses() {
  const from = startOfToday();
  return passesBetween(from, new Date(from.getTime() + 86400000));
}

function localInput(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function showPass(pass, visitorName = '') {
  const img = h('img', { alt: t('visitors.qr'), id: 'pass-qr' });
  const card = h('div', { class: 'qr', id: 'pass-card', dataset: { pass: pass.id } },
    h('h2', {}, `${t('visitors.pass')}${visitorName ? ` · ${visitorName}` : ''}`), img,
    h('div', {}, `${t('visitors.validFrom')}: ${fmtTime(pass.valid_from)}`),
    h('div', {}, `${t('visitors.validUntil')}: ${fmtTime(pass.valid_until)}`),
    h('div', { class: 'muted' }, `${t('visitors.passId')}: ${pass.id}`),
    tag(pass.status || '', tv('visitorStatus', pass.status || '')));
  try {
    img.src = await blobUrl(`/visitor-passes/${encodeURIComponent(pass.id)}/qr.png`);
  } catch (err) { showError(err); }
  await modal(t('visitors.pass'), card, [{ id: 'print-pass', label: t('visitors.print'), kind: 'primary', run: () => { printPass(card); return undefined; } }]);
}

function printPass(card) {
  // Print only the pass: a hidden iframe holds a copy of it (the QR is a same-origin blob).
  const frame = document.createElement('iframe');
  frame.style.position = 'fixed';
  frame.style.width = '0';
  frame.style.height = '0';
  document.body.append(frame);
  const doc = frame.contentDocument;
  doc.body.append(doc.importNode(card, true));
  frame.contentWindow.focus();
  frame.contentWindow.print();
  setTimeout(() => frame.remove(), 1000);
}

export async function issueDialog(onIssued) {
  let households = [];
  try { households = items(await get('/households', { limit: 500 })); } catch { /* typed id instead */ }
  const now = new Date();
  const later = new Date(now.getTime() + 4 * 3600000);
  const fields = [
    { name: 'name', label: t('field.name'), required: true },
    { name: 'phone', label: t('field.phone') },
    { name: 'plate', label: t('field.plate') },
    households.length
      ? { name: 'host_household_id', label: t('field.hostHousehold'), type: 'select', required: true, options: households.map((x) => [x.id, x.name || x.id]) }
      : { name: 'host_household_id', label: t('field.hostHousehold'), required: true },
    { name: 'purpose', label: t('field.purpose') },
    { name: 'valid_from', label: t('visitors.validFrom'), type: 'datetime-local', required: true, value: localInput(now) },
    { name: 'valid_until', label: t('visitors.validUntil'), type: 'datetime-local', required: true, value: localInput(later) },
  ];
  let name = '';
  const f = buildForm(fields, {
    id: 'visitor-form',
    onSubmit: async (values) => {
      name = values.name || '';
      const body = Object.fromEntries(Object.entries({ ...values, site_id: site.id }).filter(([, v]) => v !== null));
      return post('/visitors', body);
    },
  });
  const created = await modal(t('visitors.new'), f.form, [{ id: 'issue-pass', label: t('visitors.issue'), kind: 'primary', run: () => f.submit() }]);
  if (created) {
    if (onIssued) await onIssued(created);
    await showPass(created, name);
  }
  return created;
}

function dayInput(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Visitor passes whose validity overlaps [from, to) (GET /visitor-passes). */
export async function passesBetween(from, to, { status, household } = {}) {
  return items(await get('/visitor-passes', { since: from.toISOString(), until: to.toISOString(), status: status || undefined, host_household_id: household || undefined, limit: 500 }));
}

async function revokeDialog(p, reload) {
  const reason = h('input', { type: 'text', id: 'revoke-reason', maxlength: 200, placeholder: t('visitors.revokeReason') });
  await modal(`${t('visitors.revoke')} · ${p.visitor_name}`, h('div', { class: 'form' },
    h('label', { for: 'revoke-reason' }, t('visitors.revokeReason')), reason,
    h('div', { class: 'full muted' }, t('visitors.revokeHint'))), [{
    id: 'confirm-revoke', label: t('visitors.revoke'), kind: 'danger',
    run: async () => {
      try {
        await post(`/visitor-passes/${encodeURIComponent(p.id)}/revoke`, { reason: reason.value.trim() });
      } catch (err) { showError(err); return undefined; }
      toast(t('visitors.revoked'), 'ok');
      await reload();
      return true;
    },
  }]);
}

export async function render(main, { user }) {
  const canIssue = ['guard', 'property_manager', 'admin'].includes(user.role);
  const canRevoke = ['guard', 'property_manager', 'admin'].includes(user.role);
  let households = [];
  try { households = items(await get('/households', { limit: 500 })); } catch { /* no household names */ }
  const day = h('input', { type: 'date', id: 'visitors-day', value: dayInput(new Date()) });
  const status = h('select', { id: 'visitors-status' }, h('option', { value: '' }, t('visitors.anyStatus')),
    ['issued', 'used', 'expired', 'revoked'].map((s) => h('option', { value: s }, tv('passState', s))));
  const household = h('select', { id: 'visitors-household' }, h('option', { value: '' }, t('visitors.allHouseholds')),
    households.map((x) => h('option', { value: x.id }, x.name || x.id)));
  const passId = h('input', { type: 'search', id: 'pass-lookup', placeholder: t('visitors.passId') });
  const title = h('h1', {}, t('visitors.today'));
  const stats = h('div', { class: 'grid4', id: 'visitor-stats', style: { marginBottom: '12px' } });
  const passBox = h('div', { id: 'passes' });
  const listBox = h('div', { id: 'visits' });
  main.append(h('div', { class: 'toolbar' }, title, day, status, household, passId,
    h('button', { class: 'btn', type: 'button', onclick: async () => {
      if (!passId.value.trim()) return;
      try { await showPass(await get(`/visitor-passes/${encodeURIComponent(passId.value.trim())}`)); } catch (err) { showError(err); }
    } }, t('visitors.lookup')),
    h('span', { class: 'grow' }),
    canIssue ? h('button', { class: 'btn primary', type: 'button', id: 'new-visitor', onclick: () => issueDialog(load).catch(showError) }, t('visitors.new')) : null),
  stats, h('div', { class: 'panel' }, h('h2', {}, t('visitors.passes')), passBox),
  h('div', { class: 'panel', style: { marginTop: '12px' } }, h('h2', {}, t('visitors.todayVisits')), listBox));

  async function load() {
    const from = day.value ? new Date(`${day.value}T00:00:00`) : startOfToday();
    const to = new Date(from.getTime() + 86400000);
    const isToday = from.getTime() === startOfToday().getTime();
    title.textContent = isToday ? t('visitors.today') : `${t('nav.visitors')} · ${day.value}`;
    const [passes, visits] = await Promise.all([
      passesBetween(from, to, { status: status.value, household: household.value }),
      get('/visits', { since: from.toISOString(), until: to.toISOString() }).then(items),
    ]);
    // Arrivals of the day per pass (a pass may be used more than once).
    const arrivals = new Map();
    for (const v of visits) (arrivals.get(v.pass_id) || arrivals.set(v.pass_id, []).get(v.pass_id)).push(v);
    const names = new Map(households.map((x) => [x.id, x.name || x.id]));
    const count = (s) => passes.filter((p) => p.state === s).length;
    clear(stats).append(
      stat(t('visitors.passesValid'), passes.length),
      stat(t('visitors.arrivedToday'), new Set(visits.map((v) => v.pass_id)).size),
      stat(t('visitors.insideNow'), passes.filter((p) => p.inside).length, passes.some((p) => p.inside) ? 'warn' : ''),
      stat(tv('passState', 'revoked'), count('revoked')));
    clear(passBox).append(dataTable([
      { key: 'visitor_name', label: t('visitors.visitor'), render: (p) => [h('div', {}, p.visitor_name), h('div', { class: 'muted small' }, [p.phone, p.plate].filter(Boolean).join(' · '))] },
      { key: 'host', label: t('field.hostHousehold'), render: (p) => p.host_household_name || names.get(p.host_household_id) || p.host_household_id || '' },
      { key: 'validity', label: t('visitors.validity'), render: (p) => `${fmtTime(p.valid_from)} – ${fmtTime(p.valid_until)}` },
      { key: 'state', label: t('field.status'), render: (p) => tag(p.state, tv('passState', p.state)) },
      { key: 'arrived', label: t('visitors.entered'), render: (p) => {
        const today = arrivals.get(p.id) || [];
        if (today.length) return today.map((v) => h('div', {}, fmtTime(v.entered_at, false)));
        return h('span', { class: 'muted' }, p.last_entered_at ? fmtTime(p.last_entered_at) : t('visitors.notArrived'));
      } },
      { key: 'left', label: t('visitors.left'), render: (p) => (p.inside ? tag('open', t('visitors.inside')) : p.last_left_at ? fmtTime(p.last_left_at, false) : '') },
      { key: '_actions', label: '', render: (p) => [
        h('button', { class: 'btn small', type: 'button', dataset: { action: 'reprint' }, onclick: () => showPass(p, p.visitor_name).catch(showError) }, t('visitors.reprint')),
        canRevoke && (p.state === 'issued' || p.state === 'used')
          ? h('button', { class: 'btn small danger', type: 'button', dataset: { action: 'revoke' }, onclick: () => revokeDialog(p, load).catch(showError) }, t('visitors.revoke')) : null,
      ] },
    ], passes, { empty: t('visitors.noPasses'), rowClass: (p) => `pass-${p.state}` }));
    clear(listBox).append(dataTable([
      { key: 'entered_at', label: t('visitors.entered'), render: (v) => fmtTime(v.entered_at) },
      { key: 'visitor', label: t('visitors.visitor'), render: (v) => passes.find((p) => p.id === v.pass_id)?.visitor_name || '' },
      { key: 'entry_camera_id', label: t('alerts.camera') },
      { key: 'left_at', label: t('visitors.left'), render: (v) => (v.left_at ? fmtTime(v.left_at) : tag('open', t('visitors.inside'))) },
      { key: 'host_household_id', label: t('field.hostHousehold'), render: (v) => names.get(v.host_household_id) || v.host_household_id || '' },
      { key: '_actions', label: '', render: (v) => h('button', { class: 'btn small', type: 'button', onclick: async () => {
        try { await showPass(await get(`/visitor-passes/${encodeURIComponent(v.pass_id)}`)); } catch (err) { showError(err); }
      } }, t('visitors.pass')) },
    ], visits, { empty: t('visitors.noneToday') }));
  }
  for (const el of [day, status, household]) el.addEventListener('change', () => load().catch(showError));
  await load();
}
