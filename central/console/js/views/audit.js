// Admin: the audit log (who looked at or changed whose data, when and why) with filters,
// and a check of the tamper-evident hash chain.
import { get, items } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { clear, dataTable, h, showError, tag } from '../ui.js';

export async function render(main) {
  let users = [];
  try { users = items(await get('/users', { site_id: undefined })); } catch { /* police: no user list */ }
  const actor = h('select', { id: 'audit-actor' }, h('option', { value: '' }, t('audit.anyActor')),
    users.map((u) => h('option', { value: u.id }, `${u.display_name || u.username} (${tv('role', u.role)})`)));
  const objectId = h('input', { type: 'search', id: 'audit-object', placeholder: t('audit.objectId') });
  const action = h('input', { type: 'search', id: 'audit-action', placeholder: t('audit.action') });
  const since = h('input', { type: 'date', id: 'audit-since' });
  const until = h('input', { type: 'date', id: 'audit-until' });
  const chain = h('span', { id: 'audit-chain' });
  const box = h('div');
  const load = async () => {
    try {
      // Not limited to the current site: user and system records carry none (police see only their sites).
      let rows = items(await get('/audit', { actor_id: actor.value || undefined, object_id: objectId.value || undefined, limit: 1000, site_id: undefined }));
      // Action text and dates narrow the page here; the API filters by actor, object and site.
      if (action.value) rows = rows.filter((r) => String(r.action).includes(action.value));
      if (since.value) rows = rows.filter((r) => new Date(r.at) >= new Date(`${since.value}T00:00:00`));
      if (until.value) rows = rows.filter((r) => new Date(r.at) <= new Date(`${until.value}T23:59:59`));
      clear(box).append(h('div', { class: 'muted', style: { marginBottom: '6px' } }, t('common.count', { n: rows.length })), dataTable([
        { key: 'seq', label: '#' },
        { key: 'at', label: t('field.time'), render: (r) => fmtTime(r.at) },
        { key: 'actor', label: t('audit.actor'), render: (r) => `${r.actor_username || r.actor_name || r.actor_id || ''}${r.actor_role ? ` (${tv('role', r.actor_role)})` : ''}` },
        { key: 'action', label: t('audit.action') },
        { key: 'object', label: t('audit.object'), render: (r) => `${r.object_type || ''} ${r.object_id || ''}` },
        { key: 'reason', label: t('audit.reason') },
        { key: 'hash', label: 'hash', render: (r) => String(r.hash || '').slice(0, 10) },
      ], rows));
    } catch (err) {
      clear(box).append(h('div', { class: 'empty errors' }, err.message));
    }
  };
  const verify = async () => {
    try {
      const v = await get('/audit/verify');
      const ok = v.ok ?? v.valid ?? v.intact;
      clear(chain).append(ok ? tag('ok', `✓ ${t('audit.chainOk', { n: v.checked ?? v.count ?? v.records ?? '' })}`) : tag('high', `✗ ${t('audit.chainBroken')} ${v.first_bad_seq ?? v.broken_at ?? ''}`));
    } catch (err) { showError(err); }
  };
  actor.addEventListener('change', load);
  for (const el of [objectId, action, since, until]) el.addEventListener('change', load);
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.audit')), actor, objectId, action, since, until,
    h('span', { class: 'grow' }), chain, h('button', { class: 'btn', type: 'button', id: 'audit-verify', onclick: verify }, t('audit.verify'))), box);
  await load();
}
