// Visitors: register against a host household with a validity window, issue the signed QR
// pass and print it; today's visit records (entries and exits seen by the gates).
import { blobUrl, get, items, post, site } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, dataTable, h, modal, showError, tag } from '../ui.js';

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

export async function render(main, { user }) {
  const canIssue = ['guard', 'property_manager', 'admin'].includes(user.role);
  const listBox = h('div', { id: 'visits' });
  const passId = h('input', { type: 'search', id: 'pass-lookup', placeholder: t('visitors.passId') });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.visitors')), passId,
    h('button', { class: 'btn', type: 'button', onclick: async () => {
      if (!passId.value.trim()) return;
      try { await showPass(await get(`/visitor-passes/${encodeURIComponent(passId.value.trim())}`)); } catch (err) { showError(err); }
    } }, t('visitors.lookup')),
    h('span', { class: 'grow' }),
    canIssue ? h('button', { class: 'btn primary', type: 'button', id: 'new-visitor', onclick: () => issueDialog(load).catch(showError) }, t('visitors.new')) : null),
  h('h2', {}, t('visitors.todayVisits')), listBox);

  async function load() {
    const rows = await todaysVisitors();
    clear(listBox).append(dataTable([
      { key: 'entered_at', label: t('visitors.entered'), render: (v) => fmtTime(v.entered_at) },
      { key: 'entry_camera_id', label: t('alerts.camera') },
      { key: 'left_at', label: t('visitors.left'), render: (v) => (v.left_at ? fmtTime(v.left_at) : tag('open', t('visitors.inside'))) },
      { key: 'host_household_id', label: t('field.hostHousehold') },
      { key: '_actions', label: '', render: (v) => h('button', { class: 'btn small', type: 'button', onclick: async () => {
        try { await showPass(await get(`/visitor-passes/${encodeURIComponent(v.pass_id)}`)); } catch (err) { showError(err); }
      } }, t('visitors.pass')) },
    ], rows, { empty: t('visitors.noneToday') }));
  }
  await load();
}
