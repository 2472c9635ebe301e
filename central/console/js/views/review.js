// Police: the reconciliation review queue (一标三实). Each candidate shows its evidence
// (days seen, nights, doors, linked house, thumbnail where allowed) and the decision buttons.
import { blobUrl, get, items, post } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, h, modal, showError, tag, toast } from '../ui.js';

const BASE = '/reconciliation/candidates';

function evidenceList(c) {
  const e = c.evidence || {};
  const rows = [
    [t('review.daysSeen'), e.days_seen ?? c.days_seen],
    [t('review.nights'), e.night_count ?? e.nights ?? c.nights],
    [t('review.doors'), (e.doors || e.door_ids || c.doors || []).join?.(', ')],
    [t('review.house'), c.house_label || c.house_id || e.house_id],
    [t('review.firstSeen'), fmtTime(e.first_seen_at || c.first_seen_at)],
    [t('review.lastSeen'), fmtTime(e.last_seen_at || c.last_seen_at)],
    [t('review.person'), c.person_name || c.person_id],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  return h('dl', { class: 'form' }, rows.map(([k, v]) => [h('label', {}, k), h('div', {}, String(v))]));
}

async function decide(c, action, body, reload) {
  try {
    await post(`${BASE}/${encodeURIComponent(c.id)}/${action}`, body);
    toast(t(`review.done.${action}`), 'ok');
    reload();
    return true;
  } catch (err) { showError(err); return undefined; }
}

function confirmDialog(c, reload) {
  const isMoved = (c.kind || c.type) === 'moved_away';
  const f = buildForm(isMoved
    ? [{ name: 'note', label: t('review.note'), type: 'textarea' }]
    : [
      { name: 'name', label: t('field.name') },
      { name: 'household_id', label: t('field.household_id') },
      { name: 'follow_up', label: t('review.followUp'), type: 'select', options: [['visit_task', t('review.visitTask')], ['enrol', t('review.startEnrol')]], value: 'visit_task' },
      { name: 'note', label: t('review.note'), type: 'textarea' },
    ], { id: 'confirm-form' });
  return modal(`${t('review.confirm')} · ${tv('candidateKind', c.kind || c.type)}`, f.form, [{
    id: 'confirm-candidate', label: t('review.confirm'), kind: 'primary',
    run: () => { const v = f.values(); return decide(c, 'confirm', Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null)), reload); },
  }]);
}

function rejectDialog(c, reload) {
  const f = buildForm([
    { name: 'reason', label: t('review.reason'), type: 'select', required: true, value: 'known_visitor',
      options: [['known_visitor', t('review.knownVisitor')], ['worker', t('review.worker')], ['false_match', t('review.falseMatch')], ['other', t('review.other')]] },
    { name: 'note', label: t('review.note'), type: 'textarea' },
  ], { id: 'reject-form' });
  return modal(t('review.reject'), f.form, [{ id: 'reject-candidate', label: t('review.reject'), kind: 'danger', run: () => decide(c, 'reject', f.values(), reload) }]);
}

function mergeDialog(c, others, reload) {
  const f = buildForm([{ name: 'into_id', label: t('review.mergeInto'), type: 'select', required: true,
    options: others.filter((o) => o.id !== c.id).map((o) => [o.id, `${o.label || o.cluster_id || o.id} (${(o.score ?? o.confidence ?? 0).toFixed?.(2) ?? ''})`]) }], { id: 'merge-form' });
  return modal(t('review.merge'), f.form, [{ id: 'merge-candidate', label: t('review.merge'), kind: 'primary', run: () => decide(c, 'merge', f.values(), reload) }]);
}

function card(c, all, reload) {
  const img = h('img', { alt: t('review.thumbnail'), class: 'hidden', style: { width: '120px', height: '120px', objectFit: 'cover', borderRadius: '6px' } });
  const thumb = c.thumbnail_url || (c.has_thumbnail ? `${BASE}/${c.id}/thumbnail` : null);
  if (thumb) blobUrl(thumb).then((u) => { img.src = u; img.classList.remove('hidden'); }).catch(() => {});
  const score = c.score ?? c.confidence;
  return h('div', { class: 'panel candidate', id: `candidate-${c.id}`, dataset: { id: c.id } },
    h('div', { class: 'row' }, h('h2', { class: 'grow' }, `${tv('candidateKind', c.kind || c.type)} · ${c.label || c.cluster_id || c.person_name || c.id}`),
      score !== undefined ? tag(score >= 0.8 ? 'high' : score >= 0.5 ? 'medium' : 'low', `${t('review.confidence')} ${Number(score).toFixed(2)}`) : null,
      tag(c.status || 'pending', tv('candidateStatus', c.status || 'pending'))),
    h('div', { class: 'row', style: { alignItems: 'flex-start' } }, img, h('div', { class: 'grow' }, evidenceList(c))),
    (c.status || 'pending') === 'pending' ? h('div', { class: 'row' },
      h('button', { class: 'btn primary', type: 'button', dataset: { action: 'confirm' }, onclick: () => confirmDialog(c, reload) }, t('review.confirm')),
      h('button', { class: 'btn', type: 'button', dataset: { action: 'reject' }, onclick: () => rejectDialog(c, reload) }, t('review.reject')),
      (c.kind || c.type) !== 'moved_away' ? h('button', { class: 'btn', type: 'button', dataset: { action: 'merge' }, onclick: () => mergeDialog(c, all, reload) }, t('review.merge')) : null) : null);
}

export async function render(main) {
  const kind = h('select', { id: 'review-kind' }, h('option', { value: '' }, t('review.allKinds')),
    ['unregistered', 'moved_away'].map((k) => h('option', { value: k }, tv('candidateKind', k))));
  const status = h('select', { id: 'review-status' }, ['pending', 'confirmed', 'rejected', 'merged'].map((s) => h('option', { value: s }, tv('candidateStatus', s))));
  const box = h('div', { id: 'review-queue' });
  const reload = async () => {
    try {
      const rows = items(await get(BASE, { kind: kind.value || undefined, status: status.value, limit: 100 }));
      clear(box);
      if (!rows.length) box.append(h('div', { class: 'empty' }, t('review.empty')));
      else box.append(...rows.map((c) => card(c, rows, reload)));
    } catch (err) {
      clear(box).append(h('div', { class: 'empty errors' }, err.status === 403 ? t('common.forbidden') : err.message));
    }
  };
  kind.addEventListener('change', reload);
  status.addEventListener('change', reload);
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.review')), kind, status), box);
  await reload();
}
