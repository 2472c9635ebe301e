// Admin: the audit log (who looked at or changed whose data, when and why) with filters,
// and a check of the tamper-evident hash chain.
import { get, items } from '../api.js';
import { fmtTime, t } from '../i18n.js';
import { clear, dataTable, h, showError, tag } from '../ui.js';

export async function render(main) {
  const actor = h('input', { type: 'search', id: 'audit-actor', placeholder: t('audit.actor') });
  const action = h('input', { type: 'search', id: 'audit-action', placeholder: t('audit.action') });
  const objectType = h('input', { type: 'search', id: 'audit-object', placeholder: t('audit.objectType') });
  const since = h('input', { type: 'date', id: 'audit-since' });
  const until = h('input', { type: 'date', id: 'audit-until' });
  const chain = h('span', { id: 'audit-chain' });
  const box = h('div');
  const load = async () => {
    try {
      const rows = items(await get('/audit', {
        actor: actor.value || undefined, action: action.value || undefined, object_type: objectType.value || undefined,
        since: since.value ? new Date(`${since.value}T00:00:00`).toISOString() : undefined,
        until: until.value ? new Date(`${until.value}T23:59:59`).toISOString() : undefined, limit: 500,
      }));
      clear(box).append(dataTable([
        { key: 'seq', label: '#' },
        { key: 'at', label: t('field.time'), render: (r) => fmtTime(r.at) },
        { key: 'actor', label: t('audit.actor'), render: (r) => `${r.actor_username || r.actor || ''}${r.actor_role ? ` (${r.actor_role})` : ''}` },
        { key: 'action', label: t('audit.action') },
        { key: 'object', label: t('audit.object'), render: (r) => `${r.object_type || ''} ${r.object_id || ''}` },
        { key: 'reason', label: t('audit.reason') },
        { key: 'site_id', label: t('field.site') },
      ], rows));
    } catch (err) {
      clear(box).append(h('div', { class: 'empty errors' }, err.message));
    }
  };
  const verify = async () => {
    try {
      const v = await get('/audit/verify');
      clear(chain).append(v.ok ?? v.valid ? tag('ok', `✓ ${t('audit.chainOk', { n: v.checked ?? v.count ?? '' })}`) : tag('high', `✗ ${t('audit.chainBroken')} ${v.first_bad_seq ?? v.broken_at ?? ''}`));
    } catch (err) { showError(err); }
  };
  for (const el of [actor, action, objectType, since, until]) el.addEventListener('change', load);
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.audit')), actor, action, objectType, since, until,
    h('button', { class: 'btn', type: 'button', onclick: load }, t('common.search')),
    h('span', { class: 'grow' }), chain, h('button', { class: 'btn', type: 'button', id: 'audit-verify', onclick: verify }, t('audit.verify'))), box);
  await load();
}
