// Table-and-form views for the registry and configuration resources. Each route is one
// resource spec: API path, columns, the create/edit form, and row actions.
import { del, get, items, patch, post } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, dataTable, h, modal, showError, tag, toast } from '../ui.js';

const yes = (v) => (v ? '✓' : '');
const sel = (group, values) => values.map((v) => [v, tv(group, v)]);
const ROLES = ['admin', 'property_manager', 'guard', 'police', 'grid_worker'];
const PERSON_KINDS = ['owner', 'tenant', 'family', 'staff', 'visitor'];
const HOUSE_KINDS = ['owner_occupied', 'rental', 'vacant'];
const ALERT_KINDS = ['stranger', 'watchlist_hit', 'tailgating', 'liveness_failure', 'door_forced', 'door_held', 'absence', 'lost_person', 'vehicle_watch'];

function time(key) { return { key, label: t(`field.${key}`), render: (r) => fmtTime(r[key]) }; }
function col(key, render) { return { key, label: t(`field.${key}`), render }; }
function enumCol(key, group) { return { key, label: t(`field.${key}`), render: (r) => (r[key] ? tag(r[key], tv(group, r[key])) : '') }; }
function fld(name, extra = {}) { return { name, label: t(`field.${name}`), ...extra }; }

// Option lists filled from other resources when the form opens.
const LOOKUPS = {
  address_id: ['/addresses', (a) => a.label || a.full_address || [a.building, a.unit, a.room].filter(Boolean).join('-') || a.id],
  house_id: ['/houses', (x) => x.label || x.address_label || x.id],
  household_id: ['/households', (x) => x.label || x.name || x.id],
  zone_id: ['/zones', (z) => `${z.name || z.id} (${t('field.ring')} ${z.ring ?? '?'})`],
};

export const SPECS = {
  persons: {
    path: '/persons', search: true,
    columns: [col('name'), col('id_number_masked', (p) => p.id_number_masked || p.id_number || ''), enumCol('kind', 'personKind'),
      col('household_id', (p) => p.household_label || p.household_id || ''), col('phone'),
      col('special_care', (p) => [p.elderly_alone && t('field.elderly_alone'), p.minor && t('field.minor'), p.dementia && t('field.dementia')].filter(Boolean).join('、')),
      col('watchlist_category'), col('has_face', (p) => yes(p.has_face ?? p.face_enrolled)), col('consent', (p) => yes(p.consent_given ?? p.has_consent))],
    form: [fld('name', { required: true }), fld('id_number'), fld('phone'), fld('kind', { type: 'select', required: true, options: sel('personKind', PERSON_KINDS) }),
      fld('household_id', { type: 'lookup' }), fld('birth_date', { type: 'date' }), fld('elderly_alone', { type: 'checkbox' }), fld('dementia', { type: 'checkbox' }),
      fld('watchlist_category')],
    actions: [['enrol', (p) => { location.hash = `#/enrol?person=${encodeURIComponent(p.id)}`; }], ['trajectory', (p) => { location.hash = `#/trajectory?person=${encodeURIComponent(p.id)}`; }, ['police', 'admin']]],
  },
  addresses: {
    path: '/addresses', search: true,
    columns: [col('label', (a) => a.label || a.full_address || ''), col('district'), col('street'), col('community'), col('compound'), col('building'), col('unit'), col('floor'), col('room')],
    form: [fld('district'), fld('street'), fld('community'), fld('compound'), fld('building', { required: true }), fld('unit'), fld('floor', { type: 'number' }), fld('room', { required: true })],
  },
  houses: {
    path: '/houses', search: true,
    columns: [col('label', (x) => x.label || x.address_label || x.address_id || ''), enumCol('kind', 'houseKind'), col('owner_name'), col('last_visit_at', (x) => fmtTime(x.last_visit_at)), col('qr', (x) => (x.kind === 'rental' ? '▣' : ''))],
    form: [fld('address_id', { type: 'lookup', required: true }), fld('kind', { type: 'select', required: true, options: sel('houseKind', HOUSE_KINDS) }), fld('owner_name'), fld('area_m2', { type: 'number' })],
  },
  households: {
    path: '/households', search: true,
    columns: [col('label', (x) => x.label || x.name || ''), col('house_id', (x) => x.house_label || x.house_id || ''), col('members', (x) => x.member_count ?? (x.members || []).length), col('lease_end', (x) => x.lease_end || '')],
    form: [fld('name', { required: true }), fld('house_id', { type: 'lookup', required: true }), fld('lease_end', { type: 'date' })],
  },
  units: {
    path: '/units', search: true,
    columns: [col('name'), enumCol('kind', 'unitKind'), col('credit_code'), col('contact_name'), col('phone'), col('address_id', (x) => x.address_label || x.address_id || '')],
    form: [fld('name', { required: true }), fld('kind', { type: 'select', options: sel('unitKind', ['shop', 'company', 'other']) }), fld('credit_code'), fld('contact_name'), fld('phone'), fld('address_id', { type: 'lookup' })],
  },
  vehicles: {
    path: '/vehicles', search: true,
    columns: [col('plate'), col('household_id', (v) => v.household_label || v.household_id || ''), col('color'), col('watchlisted', (v) => (v.watchlisted ? tag('high', t('field.watchlisted')) : '')), col('note')],
    form: [fld('plate', { required: true }), fld('household_id', { type: 'lookup' }), fld('color'), fld('watchlisted', { type: 'checkbox' }), fld('note')],
  },
  zones: {
    path: '/zones',
    columns: [col('name'), col('ring'), col('kind', (z) => tv('zoneKind', z.kind)), col('parent_id'), col('grid')],
    form: [fld('name', { required: true }), fld('ring', { type: 'select', required: true, options: [1, 2, 3, 4].map((r) => [r, tv('ring', r)]) }), fld('kind', { type: 'select', options: sel('zoneKind', ['gate', 'road', 'building', 'unit', 'shop', 'household', 'grid']) }), fld('parent_id')],
  },
  cameras: {
    path: '/cameras',
    columns: [col('name'), col('zone_id'), enumCol('direction', 'direction'), col('node_id'), col('status', (c) => tag(c.status || 'unknown', tv('cameraStatus', c.status || 'unknown'))), col('snapshot_policy', (c) => tv('snapshotPolicy', c.snapshot_policy || ''))],
    form: [fld('name', { required: true }), fld('zone_id', { type: 'lookup', required: true }), fld('direction', { type: 'select', options: sel('direction', ['in', 'out', 'both']) }), fld('node_id'), fld('rtsp_url')],
  },
  doors: {
    path: '/doors',
    columns: [col('name'), col('zone_id'), col('node_id'), col('state', (d) => tag(d.state || d.status || 'unknown', tv('doorState', d.state || d.status || 'unknown'))), col('camera_ids')],
    form: [fld('name', { required: true }), fld('zone_id', { type: 'lookup', required: true }), fld('node_id'), fld('camera_ids', { type: 'csv' })],
  },
  'access-rules': {
    path: '/access-rules',
    columns: [col('name'), col('group'), col('zone_id'), col('weekdays', (r) => (r.weekdays || []).map((d) => tv('weekday', d)).join(' ')), col('start_time'), col('end_time'), col('valid_until', (r) => r.valid_until || '')],
    form: [fld('name', { required: true }), fld('group', { type: 'select', required: true, options: sel('personKind', [...PERSON_KINDS, 'all']) }), fld('zone_id', { type: 'lookup', required: true }),
      fld('weekdays', { type: 'csv', hint: t('field.weekdaysHint') }), fld('start_time', { type: 'time' }), fld('end_time', { type: 'time' }), fld('valid_until', { type: 'date' })],
  },
  tasks: {
    path: '/tasks',
    columns: [col('house_id', (x) => x.house_label || x.house_id || ''), enumCol('status', 'taskStatus'), col('reason'), col('due_at', (x) => fmtTime(x.due_at)), col('assignee')],
    form: [fld('house_id', { type: 'lookup', required: true }), fld('reason'), fld('due_at', { type: 'datetime-local' })],
    actions: [['done', async (x, reload) => { await post(`/tasks/${encodeURIComponent(x.id)}/complete`, {}); reload(); }]],
  },
  users: {
    path: '/users',
    columns: [col('username'), col('display_name'), enumCol('role', 'role'), col('site_ids'), col('active', (u) => yes(u.active))],
    form: [fld('username', { required: true }), fld('display_name', { required: true }), fld('role', { type: 'select', required: true, options: sel('role', ROLES) }),
      fld('site_ids', { type: 'csv' }), fld('password', { type: 'password' })],
  },
  'alert-rules': {
    path: '/alert-rules',
    columns: [col('name'), enumCol('kind', 'alertKind'), enumCol('severity', 'severity'), col('ring'), col('threshold', (r) => r.threshold ?? r.count_threshold ?? r.days ?? ''), col('schedule', (r) => r.schedule || r.time_window || ''), col('enabled', (r) => yes(r.enabled))],
    form: [fld('name', { required: true }), fld('kind', { type: 'select', required: true, options: sel('alertKind', ALERT_KINDS) }), fld('severity', { type: 'select', options: sel('severity', ['low', 'medium', 'high', 'critical']) }),
      fld('ring', { type: 'number' }), fld('threshold', { type: 'number' }), fld('schedule'), fld('enabled', { type: 'checkbox', value: true })],
  },
};

async function resolveLookups(fields) {
  const out = [];
  for (const f of fields) {
    if (f.type !== 'lookup') { out.push(f); continue; }
    const lk = LOOKUPS[f.name];
    try {
      const rows = items(await get(lk[0], { limit: 500 }));
      out.push({ ...f, type: 'select', options: rows.map((r) => [r.id, lk[1](r)]) });
    } catch {
      out.push({ ...f, type: 'text' });
    }
  }
  return out;
}

export async function editDialog(spec, title, row, reload) {
  const fields = (await resolveLookups(spec.form)).map((f) => ({ ...f, value: row ? row[f.name] : f.value }));
  const f = buildForm(fields, {
    id: 'resource-form',
    onSubmit: async (values) => {
      const body = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null));
      const res = row ? await patch(`${spec.path}/${encodeURIComponent(row.id)}`, body) : await post(spec.path, body);
      return res || true;
    },
  });
  const saved = await modal(title, f.form, [{ id: 'save', label: t('common.save'), kind: 'primary', run: () => f.submit() }]);
  if (saved) { toast(t('common.saved'), 'ok'); reload(); }
}

export async function render(main, { user, route }) {
  const spec = SPECS[route];
  const search = spec.search ? h('input', { type: 'search', id: 'search', placeholder: t('common.search') }) : null;
  const box = h('div');
  const reload = async () => {
    try {
      const rows = items(await get(spec.path, { q: search?.value || undefined, limit: 200 }));
      const actions = (spec.actions || []).filter(([, , roles]) => !roles || roles.includes(user.role));
      const columns = [...spec.columns];
      columns.push({ key: '_actions', label: '', render: (r) => [
        h('button', { class: 'btn small', type: 'button', onclick: () => editDialog(spec, t('common.edit'), r, reload).catch(showError) }, t('common.edit')),
        ...actions.map(([name, fn]) => h('button', { class: 'btn small', type: 'button', dataset: { action: name }, onclick: () => Promise.resolve(fn(r, reload)).catch(showError) }, t(`action.${name}`))),
        h('button', { class: 'btn small', type: 'button', onclick: async () => {
          if (!window.confirm(t('common.confirmDelete'))) return;
          try { await del(`${spec.path}/${encodeURIComponent(r.id)}`); reload(); } catch (err) { showError(err); }
        } }, t('common.delete')),
      ] });
      clear(box).append(h('div', { class: 'muted', style: { marginBottom: '6px' } }, t('common.count', { n: rows.length })), dataTable(columns, rows));
    } catch (err) {
      clear(box).append(h('div', { class: 'empty errors' }, err.status === 403 ? t('common.forbidden') : err.message));
    }
  };
  let debounce;
  search?.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(reload, 300); });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t(`nav.${route}`)), search, h('span', { class: 'grow' }),
    h('button', { class: 'btn primary', type: 'button', id: 'new-item', onclick: () => editDialog(spec, t('common.new'), null, reload).catch(showError) }, t('common.new'))), box);
  await reload();
}
