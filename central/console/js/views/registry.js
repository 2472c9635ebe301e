// Table-and-form views for the registry and configuration resources. Each route is one
// resource spec: API path, columns, the create/edit form, and row actions.
import { blobUrl, del, get, items, patch, post, put, site } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, dataTable, h, modal, showError, tag, toast } from '../ui.js';
import { bucketsChart, cameraTable, cameraUptimeDialog, fetchUptime, pctText } from '../uptime.js';

const yes = (v) => (v ? '✓' : '');
const sel = (group, values) => values.map((v) => [v, tv(group, v)]);
const ROLES = ['admin', 'property_manager', 'guard', 'police', 'grid_worker'];
const PERSON_KINDS = ['owner', 'tenant', 'family', 'staff', 'visitor'];
const HOUSE_USAGE = ['owner_occupied', 'rental', 'vacant'];
const RULE_TYPES = ['stranger', 'watchlist', 'tailgating', 'liveness', 'door', 'absence', 'special_leaving', 'vehicle_watch'];
const WATCH = ['key_person', 'drug', 'mental_illness', 'wanted', 'parolee', 'other'];
const ZONE_KINDS = ['gate', 'road', 'building', 'unit', 'shop', 'household', 'parking', 'other'];

function col(key, render) { return { key, label: t(`field.${key}`), render }; }
function enumCol(key, group) { return { key, label: t(`field.${key}`), render: (r) => (r[key] ? tag(r[key], tv(group, r[key])) : '') }; }
function refCol(key) { return { key, ref: key, label: t(`field.${key}`) }; }
function fld(name, extra = {}) { return { name, label: t(`field.${name}`), ...extra }; }

// Option lists (and table labels) filled from other resources.
const LOOKUPS = {
  building_id: ['/buildings', (b) => `${b.number}${b.name ? ` ${b.name}` : ''}`],
  house_id: ['/houses', (x) => x.address || `${x.unit ? `${x.unit}-` : ''}${x.room}`],
  household_id: ['/households', (x) => x.name || x.id],
  zone_id: ['/zones', (z) => `${z.name} (${tv('ring', z.ring)})`],
};

async function lookupRows(name) {
  const [path] = LOOKUPS[name];
  return items(await get(path, { limit: 500 }));
}

/** 扫码入户: the grid worker scans the rental house's QR (a scanner types it into the field) and reports occupants. */
function visitPanel(reload) {
  const f = buildForm([
    { name: 'token', label: t('visit.token'), required: true, hint: t('visit.tokenHint') },
    { name: 'occupants_reported', label: t('visit.occupants'), type: 'number' },
    { name: 'note', label: t('review.note') },
  ], {
    id: 'visit-form', submitLabel: t('visit.record'),
    onSubmit: async (v) => {
      const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
      await post('/reconciliation/visits', body);
      toast(t('visit.recorded'), 'ok');
      f.inputs.token.value = '';
      reload();
    },
  });
  return h('div', { class: 'panel', style: { maxWidth: '720px' } }, h('h2', {}, t('visit.title')), f.form);
}

/** Camera uptime over the last 24 hours: all cameras by hour, and each camera as a strip. */
function uptimeHeader() {
  const box = h('div', { class: 'panel', id: 'cameras-uptime', style: { marginBottom: '12px' } }, h('h2', {}, t('uptime.title')));
  (async () => {
    try {
      const [report, devices] = await Promise.all([fetchUptime({ hours: 24 }), get('/devices').then(items)]);
      const names = new Map(devices.filter((d) => d.type === 'camera').map((d) => [d.code, d.name || d.code]));
      box.append(h('div', { class: 'grid2' },
        h('div', {}, h('div', { class: 'muted' }, `${t('uptime.overall')} · ${t('uptime.last24h')}: `, h('b', { id: 'uptime-overall' }, pctText(report.uptime))),
          bucketsChart(report.overall, false, { height: 150, title: t('uptime.title') })),
        h('div', {}, cameraTable(report, names))));
    } catch (err) {
      box.append(h('div', { class: 'muted' }, err.message));
    }
  })();
  return box;
}

/** Consent withdrawal: templates are deleted (and revoked at every gate); the person gets a PIN and a QR instead. */
async function withdrawConsent(p, reload) {
  const reason = h('input', { type: 'text', id: 'withdraw-reason', maxlength: 200 });
  const res = await modal(`${t('action.withdraw')} · ${p.name}`, h('div', { class: 'form' },
    h('label', { for: 'withdraw-reason' }, t('field.reason')), reason,
    h('div', { class: 'full muted' }, t('enrol.withdrawHint'))), [{
    id: 'confirm-withdraw', label: t('action.withdraw'), kind: 'danger',
    run: async () => {
      try { return await post(`/persons/${encodeURIComponent(p.id)}/consent/withdraw`, { reason: reason.value }); } catch (err) { showError(err); return undefined; }
    },
  }]);
  if (!res) return;
  const img = h('img', { alt: 'QR', class: 'hidden' });
  blobUrl(`/visitor-passes/${encodeURIComponent(res.pass_id)}/qr.png`).then((u) => { img.src = u; img.classList.remove('hidden'); }).catch(() => {});
  reload();
  await modal(t('enrol.newCredential'), h('div', { class: 'qr', id: 'withdraw-result' },
    h('div', {}, t('enrol.templatesDeleted', { n: res.templates_deleted })),
    h('h2', {}, `PIN: ${res.pin}`), img,
    h('div', { class: 'muted' }, `${t('visitors.validUntil')}: ${fmtTime(res.valid_until)}`)));
}

export const SPECS = {
  persons: {
    path: '/persons', search: 'q', site: true, edit: 'patch', del: true,
    columns: [col('name'), col('id_number'), enumCol('kind', 'personKind'), refCol('household_id'), col('phone'),
      col('special_care', (p) => [p.elderly_alone && t('field.elderly_alone'), p.minor && t('field.minor'), p.dementia && t('field.dementia')].filter(Boolean).join('、')),
      col('watchlist_category', (p) => (p.watchlist_category ? tag('high', tv('watch', p.watchlist_category)) : '')), col('has_face', (p) => yes(p.has_face)), enumCol('status', 'personStatus')],
    form: [fld('name', { required: true }), fld('id_number'), fld('gender', { type: 'select', options: sel('gender', ['male', 'female']) }), fld('birth_date', { type: 'date' }), fld('phone'),
      fld('kind', { type: 'select', required: true, options: sel('personKind', PERSON_KINDS), value: 'owner' }), fld('household_id', { type: 'lookup' }),
      fld('elderly_alone', { type: 'checkbox' }), fld('dementia', { type: 'checkbox' }), fld('watchlist_category', { type: 'select', options: sel('watch', WATCH) }), fld('notes', { type: 'textarea' })],
    actions: [['enrol', (p) => { location.hash = `#/enrol?person=${encodeURIComponent(p.id)}`; }, ['property_manager', 'admin']],
      ['withdraw', (p, reload) => withdrawConsent(p, reload), ['property_manager', 'admin']],
      ['trajectory', (p) => { location.hash = `#/trajectory?person=${encodeURIComponent(p.id)}`; }, ['police', 'admin']]],
  },
  buildings: {
    path: '/buildings', site: true, edit: 'patch', del: true,
    columns: [col('number'), col('name'), col('floors'), col('units')],
    form: [fld('number', { required: true }), fld('name'), fld('floors', { type: 'number' }), fld('units', { type: 'number' })],
  },
  houses: {
    // grid workers add and correct houses; only property staff delete them (as the API allows)
    path: '/houses', edit: 'patch', del: ['property_manager', 'admin'],
    columns: [col('address'), refCol('building_id'), col('unit'), col('floor'), col('room'), enumCol('usage', 'houseKind'), col('owner_name'), col('area_m2')],
    form: [fld('building_id', { type: 'lookup', required: true }), fld('unit'), fld('floor', { type: 'number', required: true }), fld('room', { required: true }),
      fld('usage', { type: 'select', options: sel('houseKind', HOUSE_USAGE), value: 'owner_occupied' }), fld('area_m2', { type: 'number', step: '0.1' }), fld('owner_name')],
    actions: [['qr', async (x) => {
      const img = h('img', { alt: 'QR', id: 'house-qr' });
      img.src = await blobUrl(`/houses/${encodeURIComponent(x.id)}/qr`, { format: 'png' });
      await modal(`${t('field.qr')} · ${x.address || x.room}`, h('div', { class: 'qr' }, img));
    }]],
  },
  households: {
    path: '/households', edit: 'patch', del: true,
    columns: [col('name'), refCol('house_id'), col('phone'), col('lease_start'), col('lease_end')],
    form: [fld('house_id', { type: 'lookup', required: true }), fld('name'), fld('phone'), fld('lease_start', { type: 'date' }), fld('lease_end', { type: 'date' })],
  },
  units: {
    path: '/organisations', site: true, edit: 'patch', del: true,
    columns: [col('name'), enumCol('kind', 'unitKind'), col('credit_code'), col('contact_name'), col('contact_phone'), refCol('house_id')],
    form: [fld('name', { required: true }), fld('kind', { type: 'select', options: sel('unitKind', ['shop', 'company', 'government', 'other']), value: 'shop' }), fld('credit_code'),
      fld('contact_name'), fld('contact_phone'), fld('house_id', { type: 'lookup' })],
  },
  vehicles: {
    path: '/vehicles', search: 'plate', searchRequired: true, site: true,
    columns: [col('plate'), refCol('household_id'), col('color'), col('description'), col('watchlisted', (v) => (v.watchlisted ? tag('high', t('field.watchlisted')) : '')), col('watch_reason')],
    form: [fld('plate', { required: true }), fld('household_id', { type: 'lookup' }), fld('color'), fld('description'), fld('watchlisted', { type: 'checkbox' }), fld('watch_reason')],
    actions: [['watch', async (v, reload) => {
      const reason = v.watchlisted ? '' : window.prompt(t('field.watch_reason')) ?? '';
      await put(`/vehicles/${encodeURIComponent(v.id)}/watch`, { watchlisted: !v.watchlisted, reason });
      reload();
    }]],
  },
  zones: {
    path: '/zones', site: true,
    columns: [col('code'), col('name'), col('ring', (z) => tv('ring', z.ring)), enumCol('kind', 'zoneKind'), refCol('building_id')],
    form: [fld('code', { required: true }), fld('name', { required: true }), fld('ring', { type: 'select', required: true, options: [1, 2, 3, 4].map((r) => [r, tv('ring', r)]) }),
      fld('kind', { type: 'select', options: sel('zoneKind', ZONE_KINDS), value: 'gate' }), fld('building_id', { type: 'lookup' })],
  },
  cameras: {
    path: '/devices', filter: (d) => d.type === 'camera', fixed: { type: 'camera' }, header: uptimeHeader,
    actions: [['uptime', (d) => cameraUptimeDialog(d)]],
    columns: [col('code'), col('name'), refCol('zone_id'), enumCol('direction', 'direction'), col('node_id'), col('enabled', (d) => yes(d.enabled))],
    form: [fld('zone_id', { type: 'lookup', required: true }), fld('code', { required: true }), fld('name'), fld('direction', { type: 'select', options: sel('direction', ['in', 'out', 'both']), value: 'both' }), fld('node_id', { required: true })],
  },
  doors: {
    path: '/devices', filter: (d) => d.type === 'door', fixed: { type: 'door' },
    columns: [col('code'), col('name'), refCol('zone_id'), enumCol('direction', 'direction'), col('node_id'), col('enabled', (d) => yes(d.enabled))],
    form: [fld('zone_id', { type: 'lookup', required: true }), fld('code', { required: true }), fld('name'), fld('direction', { type: 'select', options: sel('direction', ['in', 'out', 'both']), value: 'both' }), fld('node_id', { required: true })],
  },
  'access-rules': {
    path: '/access-rules', site: true, del: true,
    columns: [col('name'), col('subject', (r) => `${tv('subjectType', r.subject_type)}: ${r.subject_type === 'group' ? tv('personKind', r.subject_value) : r.subject_value}`),
      col('rings', (r) => (r.rings || []).join(', ')), col('zone_codes', (r) => (r.zone_codes || []).join(', ')),
      col('weekdays', (r) => (r.weekdays || []).map((d) => tv('weekday', d)).join(' ')), col('start'), col('end'), col('valid_until'), col('enabled', (r) => yes(r.enabled))],
    form: [fld('name'), fld('subject_type', { type: 'select', required: true, options: sel('subjectType', ['group', 'household', 'building', 'person']), value: 'group' }),
      fld('subject_value', { required: true, hint: t('field.subjectHint') }), fld('rings', { type: 'csvint', hint: '1,2,3' }), fld('zone_codes', { type: 'csv' }),
      fld('weekdays', { type: 'csvint', hint: t('field.weekdaysHint') }), fld('start', { type: 'time' }), fld('end', { type: 'time' }),
      fld('valid_from', { type: 'datetime-local' }), fld('valid_until', { type: 'datetime-local' }), fld('enabled', { type: 'checkbox', value: true })],
  },
  tasks: {
    path: () => `/reconciliation/sites/${encodeURIComponent(site.id)}/tasks`, noCreate: true, header: visitPanel,
    columns: [refCol('house_id'), enumCol('kind', 'taskKind'), col('status', (x) => tag(x.overdue ? 'overdue' : x.status, tv('taskStatus', x.overdue ? 'overdue' : x.status))),
      col('due_at', (x) => fmtTime(x.due_at)), col('done_at', (x) => fmtTime(x.done_at)), col('candidate_id')],
    form: [],
  },
  users: {
    // edit: role, sites, active and a new password (the API ends the user's sessions on any change)
    path: '/users', edit: 'patch',
    editForm: [fld('display_name'), fld('role', { type: 'select', required: true, options: sel('role', ROLES) }),
      fld('site_ids', { type: 'csv', hint: t('field.siteIdsHint') }), fld('active', { type: 'checkbox' }),
      fld('password', { type: 'password', hint: t('field.passwordKeep') })],
    columns: [col('username'), col('display_name'), enumCol('role', 'role'), col('site_ids'), col('active', (u) => yes(u.active))],
    form: [fld('username', { required: true }), fld('display_name'), fld('role', { type: 'select', required: true, options: sel('role', ROLES) }),
      fld('site_ids', { type: 'csv', hint: t('field.siteIdsHint') }), fld('password', { type: 'password', required: true })],
  },
  sites: {
    path: '/sites', edit: 'patch', noSiteParam: true,
    columns: [col('name'), col('code'), col('division_code'), col('division_name'), col('street'), col('community'), col('address'), col('id')],
    form: [fld('name', { required: true }), fld('code', { required: true }), fld('division_code'), fld('division_name'), fld('street'), fld('community'), fld('address')],
  },
  'alert-rules': {
    path: '/alert-rules', site: true, edit: 'put', del: true,
    columns: [col('name'), enumCol('type', 'ruleType'), enumCol('severity', 'severity'), col('camera_codes', (r) => (r.camera_codes || []).join(', ')),
      col('params', (r) => Object.entries(r.params || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')), col('dedup_s'), col('escalate_after_s'), col('enabled', (r) => yes(r.enabled))],
    form: [fld('name', { required: true }), fld('type', { type: 'select', required: true, options: sel('ruleType', RULE_TYPES) }),
      fld('severity', { type: 'select', options: sel('severity', ['info', 'low', 'medium', 'high', 'critical']), value: 'high' }),
      fld('camera_codes', { type: 'csv', hint: t('field.cameraCodesHint') }), fld('params', { type: 'json', hint: t('field.paramsHint') }),
      fld('periods', { type: 'json', empty: [], hint: t('field.periodsHint') }),
      fld('dedup_s', { type: 'number', value: 300 }), fld('escalate_after_s', { type: 'number' }), fld('enabled', { type: 'checkbox', value: true })],
  },
};

async function resolveLookups(fields) {
  const out = [];
  for (const f of fields) {
    if (f.type !== 'lookup') { out.push(f); continue; }
    try {
      const rows = await lookupRows(f.name);
      out.push({ ...f, type: 'select', options: rows.map((r) => [r.id, LOOKUPS[f.name][1](r)]) });
    } catch {
      out.push({ ...f, type: 'text' });
    }
  }
  return out;
}

function asFormValue(v) {
  if (Array.isArray(v)) return v.join(',');
  if (v && typeof v === 'object') return JSON.stringify(v);
  return v;
}

export async function editDialog(spec, title, row, reload) {
  const formSpec = row && spec.editForm ? spec.editForm : spec.form;
  const fields = (await resolveLookups(formSpec)).map((f) => ({ ...f, value: row ? asFormValue(row[f.name]) : f.value }));
  const f = buildForm(fields, {
    id: 'resource-form',
    onSubmit: async (values) => {
      const body = Object.fromEntries(Object.entries({ ...values, ...(spec.fixed || {}) }).filter(([, v]) => v !== null));
      if (spec.site && !row) body.site_id = site.id;
      if (row && spec.edit === 'put') return (await put(`${spec.path}/${encodeURIComponent(row.id)}`, { ...body, site_id: row.site_id })) || true;
      if (row) return (await patch(`${spec.path}/${encodeURIComponent(row.id)}`, body)) || true;
      return (await post(spec.path, body)) || true;
    },
  });
  const saved = await modal(title, f.form, [{ id: 'save', label: t('common.save'), kind: 'primary', run: () => f.submit() }]);
  if (saved) { toast(t('common.saved'), 'ok'); reload(); }
}

async function refLabels(columns) {
  const maps = {};
  await Promise.all(columns.filter((c) => c.ref).map(async (c) => {
    try {
      const rows = await lookupRows(c.ref);
      maps[c.ref] = new Map(rows.map((r) => [r.id, LOOKUPS[c.ref][1](r)]));
    } catch { maps[c.ref] = new Map(); }
  }));
  return columns.map((c) => (c.ref ? { ...c, render: (r) => (r[c.key] ? maps[c.ref].get(r[c.key]) || r[c.key] : '') } : c));
}

export async function render(main, { user, route }) {
  const spec = SPECS[route];
  const search = spec.search ? h('input', { type: 'search', id: 'search', placeholder: t('common.search') }) : null;
  const box = h('div');
  const reload = async () => {
    if (spec.searchRequired && !search.value) {
      // The API searches by plate; there is no "list everything" for vehicles.
      clear(box).append(h('div', { class: 'empty' }, t('common.searchFirst')));
      return;
    }
    try {
      const params = { limit: 200 };
      if (spec.search && search.value) params[spec.search] = search.value;
      if (spec.noSiteParam) params.site_id = undefined;
      const path = typeof spec.path === 'function' ? spec.path() : spec.path;
      let rows = items(await get(path, params));
      if (spec.filter) rows = rows.filter(spec.filter);
      const actions = (spec.actions || []).filter(([, , roles]) => !roles || roles.includes(user.role));
      const columns = await refLabels(spec.columns);
      columns.push({ key: '_actions', label: '', render: (r) => [
        spec.edit ? h('button', { class: 'btn small', type: 'button', dataset: { action: 'edit' }, onclick: () => editDialog(spec, t('common.edit'), r, reload).catch(showError) }, t('common.edit')) : null,
        ...actions.map(([name, fn]) => h('button', { class: 'btn small', type: 'button', dataset: { action: name }, onclick: () => Promise.resolve(fn(r, reload)).catch(showError) }, t(`action.${name}`))),
        (spec.del === true || (Array.isArray(spec.del) && spec.del.includes(user.role))) ? h('button', { class: 'btn small', type: 'button', dataset: { action: 'delete' }, onclick: async () => {
          if (!window.confirm(t('common.confirmDelete'))) return;
          try { await del(`${spec.path}/${encodeURIComponent(r.id)}`); reload(); } catch (err) { showError(err); }
        } }, t('common.delete')) : null,
      ] });
      clear(box).append(h('div', { class: 'muted', style: { marginBottom: '6px' } }, t('common.count', { n: rows.length })), dataTable(columns, rows));
    } catch (err) {
      clear(box).append(h('div', { class: 'empty errors' }, err.status === 403 ? t('common.forbidden') : err.message));
    }
  };
  let debounce;
  search?.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(reload, 300); });
  if (spec.header) main.append(spec.header(() => reload()));
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t(`nav.${route}`)), search, h('span', { class: 'grow' }),
    spec.noCreate ? null : h('button', { class: 'btn primary', type: 'button', id: 'new-item', onclick: () => editDialog(spec, t('common.new'), null, reload).catch(showError) }, t('common.new'))), box);
  await reload();
}
