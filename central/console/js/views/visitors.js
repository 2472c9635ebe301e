// Visitors: register against a host household with a validity window, issue the signed QR pass, print it.
import { blobUrl, get, items, post } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, dataTable, h, modal, showError, tag } from '../ui.js';

function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

export async function todaysVisitors() {
  const from = startOfToday();
  const to = new Date(from.getTime() + 86400000);
  const res = await get('/visitors', { valid_on: from.toISOString().slice(0, 10), from: from.toISOString(), to: to.toISOString() });
  // Keep only today's even if the server ignores the filter.
  return items(res).filter((v) => {
    const a = new Date(v.valid_from || v.created_at || 0);
    const b = new Date(v.valid_until || v.valid_to || a);
    return a < to && b >= from;
  });
}

function localInput(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function showPass(visitor) {
  const id = visitor.id;
  const img = h('img', { alt: t('visitors.qr'), id: 'pass-qr' });
  const card = h('div', { class: 'qr', id: 'pass-card' },
    h('h2', {}, `${t('visitors.pass')} · ${visitor.name || ''}`), img,
    h('div', {}, `${t('visitors.validFrom')}: ${fmtTime(visitor.valid_from)}`),
    h('div', {}, `${t('visitors.validUntil')}: ${fmtTime(visitor.valid_until)}`),
    visitor.pass_id ? h('div', { class: 'muted' }, `ID ${visitor.pass_id}`) : null);
  try {
    img.src = await blobUrl(visitor.pass_url || `/visitors/${encodeURIComponent(id)}/pass.png`);
  } catch (err) { showError(err); }
  await modal(t('visitors.pass'), card, [{ id: 'print-pass', label: t('visitors.print'), kind: 'primary', run: () => { printPass(card); return undefined; } }]);
}

function printPass(card) {
  // Print only the pass: a hidden iframe holds a copy of it.
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

export async function render(main, { user }) {
  const canIssue = ['guard', 'property_manager', 'admin'].includes(user.role);
  const listBox = h('div');
  const onlyToday = h('input', { type: 'checkbox', id: 'visitors-today', checked: true });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.visitors')),
    h('label', {}, onlyToday, ' ', t('visitors.today')), h('span', { class: 'grow' }),
    canIssue ? h('button', { class: 'btn primary', type: 'button', id: 'new-visitor', onclick: () => issue() }, t('visitors.new')) : null),
  listBox);

  const load = async () => {
    const rows = onlyToday.checked ? await todaysVisitors() : items(await get('/visitors', { limit: 200 }));
    clear(listBox).append(dataTable([
      { key: 'name', label: t('field.name') },
      { key: 'phone', label: t('field.phone') },
      { key: 'household_id', label: t('field.hostHousehold'), render: (v) => v.host_label || v.household_id || '' },
      { key: 'valid_from', label: t('visitors.validFrom'), render: (v) => fmtTime(v.valid_from) },
      { key: 'valid_until', label: t('visitors.validUntil'), render: (v) => fmtTime(v.valid_until) },
      { key: 'status', label: t('field.status'), render: (v) => tag(v.status || '', tv('visitorStatus', v.status || '')) },
      { key: '_actions', label: '', render: (v) => h('button', { class: 'btn small', type: 'button', onclick: () => showPass(v) }, t('visitors.pass')) },
    ], rows));
  };
  onlyToday.addEventListener('change', () => load().catch(showError));

  async function issue() {
    let households = [];
    try { households = items(await get('/households', { limit: 500 })); } catch { /* typed id instead */ }
    const now = new Date();
    const later = new Date(now.getTime() + 4 * 3600000);
    const fields = [
      { name: 'name', label: t('field.name'), required: true },
      { name: 'phone', label: t('field.phone') },
      { name: 'id_number', label: t('field.idNumber') },
      households.length
        ? { name: 'household_id', label: t('field.hostHousehold'), type: 'select', required: true, options: households.map((x) => [x.id, x.label || x.name || x.address_label || x.id]) }
        : { name: 'household_id', label: t('field.hostHousehold'), required: true },
      { name: 'purpose', label: t('field.purpose') },
      { name: 'valid_from', label: t('visitors.validFrom'), type: 'datetime-local', required: true, value: localInput(now) },
      { name: 'valid_until', label: t('visitors.validUntil'), type: 'datetime-local', required: true, value: localInput(later) },
    ];
    const f = buildForm(fields, { id: 'visitor-form', onSubmit: async (values) => post('/visitors', values) });
    const created = await modal(t('visitors.new'), f.form, [{ id: 'issue-pass', label: t('visitors.issue'), kind: 'primary', run: () => f.submit() }]);
    if (created) {
      await load();
      await showPass(created);
    }
  }
  await load();
}
