// Police: the reconciliation review queue (一标三实). Each candidate shows its evidence
// (days seen, nights, doors, linked house, recent times, thumbnail where the policy keeps one)
// and the decisions: confirm (register / visit task), reject (known visitor, worker), merge.
import { blobUrl, get, items, post, site } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, h, modal, showError, tag, toast } from '../ui.js';

const base = () => `/reconciliation/sites/${encodeURIComponent(site.id)}`;

function evidenceList(c, houses) {
  const e = c.evidence || {};
  const rows = c.kind === 'moved_away'
    ? [
      [t('review.person'), c.subject_id],
      [t('review.absentDays'), e.absent_days],
      [t('review.lastSeen'), fmtTime(e.last_seen)],
      [t('review.daysSeen'), e.days_seen],
      [t('review.usualRatio'), e.usual_days_ratio],
      [t('field.special_care'), e.special_care ? '✓' : ''],
    ]
    : [
      [t('review.cluster'), e.cluster_label || c.subject_id],
      [t('review.daysSeen'), e.days_seen],
      [t('review.nights'), e.night_days],
      [t('review.doors'), (e.doors || []).join(', ')],
      [t('review.unit'), e.unit],
      [t('review.house'), houses.get(c.house_id) || c.house_id],
      [t('review.cooccurrence'), e.cooccurrence_days],
      [t('review.rental'), e.rental_linked ? '✓' : ''],
      [t('review.firstSeen'), fmtTime(e.first_seen)],
      [t('review.lastSeen'), fmtTime(e.last_seen)],
      [t('review.times'), (e.times || []).slice(-5).map((x) => fmtTime(x)).join('；')],
    ];
  return h('div', { class: 'form' }, rows.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [h('label', {}, k), h('div', {}, String(v))]));
}

async function decide(c, path, body, reload, doneKey) {
  try {
    await post(path, body);
    toast(t(`review.done.${doneKey}`), 'ok');
    reload();
    return true;
  } catch (err) { showError(err); return undefined; }
}

function confirmDialog(c, reload) {
  const moved = c.kind === 'moved_away';
  const f = buildForm(moved
    ? [{ name: 'note', label: t('review.note'), type: 'textarea' }]
    : [
      { name: 'name', label: t('field.name'), hint: t('review.nameHint') },
      { name: 'id_number', label: t('field.id_number') },
      { name: 'phone', label: t('field.phone') },
      { name: 'kind', label: t('field.kind'), type: 'select', options: ['tenant', 'family', 'owner'].map((k) => [k, tv('personKind', k)]), value: 'tenant' },
      { name: 'follow_up', label: t('review.followUp'), type: 'select', required: true, options: [['visit', t('review.visitTask')], ['enrol', t('review.startEnrol')]], value: 'visit' },
      { name: 'note', label: t('review.note'), type: 'textarea' },
    ], { id: 'confirm-form' });
  return modal(`${t('review.confirm')} · ${tv('candidateKind', c.kind)}`, f.form, [{
    id: 'confirm-candidate', label: t('review.confirm'), kind: 'primary',
    run: () => {
      const v = f.values();
      const body = { note: v.note || '' };
      if (!moved) {
        body.follow_up = v.follow_up;
        if (c.house_id) body.house_id = c.house_id;
        if (v.name) body.person = Object.fromEntries(Object.entries({ name: v.name, id_number: v.id_number, phone: v.phone || '', kind: v.kind }).filter(([, x]) => x !== null));
      }
      return decide(c, `/reconciliation/candidates/${encodeURIComponent(c.id)}/confirm`, body, reload, 'confirm');
    },
  }]);
}

function rejectDialog(c, reload) {
  const f = buildForm([
    { name: 'label', label: t('review.reason'), type: 'select', required: true, value: c.kind === 'moved_away' ? 'present' : 'visitor',
      options: [['visitor', t('review.knownVisitor')], ['worker', t('review.worker')], ['present', t('review.stillPresent')]] },
    { name: 'note', label: t('review.note'), type: 'textarea' },
  ], { id: 'reject-form' });
  return modal(t('review.reject'), f.form, [{
    id: 'reject-candidate', label: t('review.reject'), kind: 'danger',
    run: () => { const v = f.values(); return decide(c, `/reconciliation/candidates/${encodeURIComponent(c.id)}/reject`, { label: v.label, note: v.note || '' }, reload, 'reject'); },
  }]);
}

function mergeDialog(c, others, reload) {
  const f = buildForm([{ name: 'other', label: t('review.mergeInto'), type: 'select', required: true,
    options: others.filter((o) => o.id !== c.id && o.kind === c.kind).map((o) => [o.subject_id, `${o.evidence?.cluster_label || o.subject_id} (${Number(o.score).toFixed(2)})`]) },
  { name: 'note', label: t('review.note'), type: 'textarea' }], { id: 'merge-form' });
  return modal(t('review.merge'), f.form, [{
    id: 'merge-candidate', label: t('review.merge'), kind: 'primary',
    run: () => { const v = f.values(); return decide(c, `${base()}/merge`, { cluster_ids: [c.subject_id, v.other], note: v.note || '' }, reload, 'merge'); },
  }]);
}

function card(c, all, reload, houses) {
  const img = h('img', { alt: t('review.thumbnail'), class: 'hidden', style: { width: '112px', height: '112px', objectFit: 'cover', borderRadius: '6px' } });
  if (c.has_thumbnail) blobUrl(`/reconciliation/candidates/${encodeURIComponent(c.id)}/thumbnail`).then((u) => { img.src = u; img.classList.remove('hidden'); }).catch(() => {});
  const score = Number(c.score);
  return h('div', { class: 'panel candidate', id: `candidate-${c.id}`, dataset: { id: c.id, kind: c.kind } },
    h('div', { class: 'row' }, h('h2', { class: 'grow' }, `${tv('candidateKind', c.kind)} · ${c.evidence?.cluster_label || c.subject_id}`),
      tag(score >= 0.8 ? 'high' : score >= 0.5 ? 'medium' : 'low', `${t('review.confidence')} ${score.toFixed(2)}`),
      tag(c.status, tv('candidateStatus', c.status)), h('span', { class: 'muted' }, fmtTime(c.first_flagged_at))),
    h('div', { class: 'row', style: { alignItems: 'flex-start' } }, img, h('div', { class: 'grow' }, evidenceList(c, houses))),
    c.status === 'open' ? h('div', { class: 'row' },
      h('button', { class: 'btn primary', type: 'button', dataset: { action: 'confirm' }, onclick: () => confirmDialog(c, reload) }, t('review.confirm')),
      h('button', { class: 'btn', type: 'button', dataset: { action: 'reject' }, onclick: () => rejectDialog(c, reload) }, t('review.reject')),
      c.kind === 'occupant' && all.filter((o) => o.kind === 'occupant').length > 1
        ? h('button', { class: 'btn', type: 'button', dataset: { action: 'merge' }, onclick: () => mergeDialog(c, all, reload) }, t('review.merge')) : null)
      : h('div', { class: 'muted' }, `${t('review.decision')}: ${c.decision || ''} ${c.decided_by ? `· ${c.decided_by}` : ''} ${fmtTime(c.decided_at)}`));
}

export async function render(main) {
  const kind = h('select', { id: 'review-kind' }, h('option', { value: '' }, t('review.allKinds')),
    ['occupant', 'moved_away'].map((k) => h('option', { value: k }, tv('candidateKind', k))));
  const status = h('select', { id: 'review-status' }, ['open', 'confirmed', 'rejected', 'merged', 'withdrawn'].map((s) => h('option', { value: s }, tv('candidateStatus', s))));
  const box = h('div', { id: 'review-queue' });
  const count = h('span', { class: 'muted', id: 'review-count' });
  const reload = async () => {
    try {
      const rows = items(await get(`${base()}/candidates`, { kind: kind.value || undefined, status: status.value, site_id: undefined }));
      let houses = new Map();
      try { houses = new Map(items(await get('/houses', { limit: 500 })).map((x) => [x.id, x.address || x.room])); } catch { /* ids then */ }
      count.textContent = t('common.count', { n: rows.length });
      clear(box);
      if (!rows.length) box.append(h('div', { class: 'empty' }, t('review.empty')));
      else box.append(...rows.map((c) => card(c, rows, reload, houses)));
    } catch (err) {
      clear(box).append(h('div', { class: 'empty errors' }, err.status === 403 ? t('common.forbidden') : err.message));
    }
  };
  kind.addEventListener('change', reload);
  status.addEventListener('change', reload);
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.review')), kind, status, count), box);
  await reload();
}
