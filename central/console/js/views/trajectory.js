// Police: person search and trajectories across the rings, drawn on the site plan and listed
// in time order. Looking at someone's movements is audited; the officer gives a reason.
import { get, items, setReason } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { clear, dataTable, h, showError, tag } from '../ui.js';
import { devicesForPlan, loadPlan, planView } from '../siteplan.js';

function localDay(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export async function render(main, { params }) {
  const q = h('input', { type: 'search', id: 'person-search', placeholder: t('traj.search') });
  const reason = h('input', { type: 'text', id: 'query-reason', placeholder: t('traj.reason'), maxlength: 200, style: { width: '260px' } });
  // The officer's local calendar days (toISOString would give the UTC date: yesterday until 08:00 in China).
  const from = h('input', { type: 'date', id: 'traj-from', value: localDay(new Date(Date.now() - 7 * 86400000)) });
  const to = h('input', { type: 'date', id: 'traj-to', value: localDay(new Date()) });
  const results = h('div', { class: 'panel', style: { width: '320px' } });
  const detail = h('div', { class: 'grow' });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.trajectory')), q, reason, from, to),
    h('div', { class: 'row', style: { alignItems: 'flex-start' } }, results, detail));

  const search = async () => {
    setReason(reason.value);
    try {
      const rows = items(await get('/persons', { q: q.value || undefined, limit: 30 }));
      clear(results).append(h('h2', {}, t('traj.results')), rows.length ? null : h('div', { class: 'muted' }, t('common.empty')),
        ...rows.map((p) => h('div', { class: 'row' }, h('span', { class: 'grow' }, `${p.name} ${p.id_number || ''}`),
          h('button', { class: 'btn small', type: 'button', dataset: { person: p.id }, onclick: () => show(p.id, p.name) }, t('traj.show')))));
    } catch (err) { showError(err); }
  };
  let debounce;
  q.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(search, 300); });

  async function show(personId, name) {
    setReason(reason.value);
    clear(detail).append(h('div', { class: 'muted' }, t('common.loading')));
    try {
      const res = await get('/events/trajectory', {
        person_id: personId, since: new Date(`${from.value}T00:00:00`).toISOString(), until: new Date(`${to.value}T23:59:59`).toISOString(),
      });
      const points = items(res).sort((a, b) => String(a.captured_at || a.at).localeCompare(String(b.captured_at || b.at)));
      const [plan, devices] = await Promise.all([loadPlan(), devicesForPlan()]);
      const path = points.map((p) => (p.door_id ? `door:${p.door_id}` : `camera:${p.camera_id}`));
      clear(detail).append(
        h('div', { class: 'panel' }, h('h2', {}, `${name || personId} · ${t('traj.points', { n: points.length })}`), await planView(plan, devices, { path })),
        h('div', { class: 'panel' }, dataTable([
          { key: 'at', label: t('field.time'), render: (p) => fmtTime(p.captured_at || p.at) },
          { key: 'ring', label: t('field.ring'), render: (p) => (p.ring ? tv('ring', p.ring) : '') },
          { key: 'zone_id', label: t('field.zone'), render: (p) => p.zone_name || p.zone_id || '' },
          { key: 'camera_id', label: t('alerts.camera'), render: (p) => p.camera_name || p.camera_id || '' },
          { key: 'direction', label: t('field.direction'), render: (p) => tag(p.direction || '', tv('direction', p.direction || '')) },
        ], points, { empty: t('traj.none') })));
    } catch (err) {
      clear(detail).append(h('div', { class: 'empty errors' }, err.message));
    }
  }
  await search();
  if (params.get('person')) await show(params.get('person'));
}
