// Face enrolment in three steps: choose the person, record consent (a guardian's for
// under-14s), upload a photo and read the quality feedback. The API refuses a face
// template without consent; this view only walks people through it in order.
import { get, items, post, request, waitJob } from '../api.js';
import { fmtTime, t } from '../i18n.js';
import { buildForm, clear, h, progressBar, showError, toast } from '../ui.js';

function personLabel(p) {
  return `${p.name}${p.id_number_masked ? ` · ${p.id_number_masked}` : ''}${p.household_label ? ` · ${p.household_label}` : ''}`;
}

export async function consentState(personId) {
  try {
    const res = await get(`/persons/${encodeURIComponent(personId)}/consent`);
    const list = items(res).length ? items(res) : [res];
    const active = list.find((c) => c && (c.active ?? !c.withdrawn_at) && (c.given_at || c.id));
    return active || null;
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

function qualityReport(res) {
  const q = res.quality ?? res.quality_score;
  const reasons = res.reasons || res.quality_reasons || [];
  const ok = res.accepted ?? res.ok ?? (res.template_id != null || res.id != null);
  const dup = res.duplicate_of || res.duplicate || null;
  return h('div', { class: 'panel', id: 'quality-feedback' },
    h('h2', {}, ok ? `✓ ${t('enrol.accepted')}` : `✗ ${t('enrol.rejected')}`),
    q !== undefined && q !== null ? h('div', {}, `${t('enrol.quality')}: ${Number(q).toFixed(2)}`) : null,
    reasons.length ? h('ul', {}, reasons.map((r) => h('li', {}, typeof r === 'string' ? r : r.message || r.code))) : null,
    dup ? h('div', { class: 'errors' }, `${t('enrol.duplicate')}: ${dup.name || dup.person_id || dup}`) : null);
}

export async function render(main, { params }) {
  const personBox = h('div', { class: 'panel', id: 'enrol-person' });
  const consentBox = h('div', { class: 'panel', id: 'enrol-consent' });
  const photoBox = h('div', { class: 'panel', id: 'enrol-photo' });
  const bulkBox = h('div', { class: 'panel', id: 'enrol-bulk' });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.enrol'))),
    h('div', { class: 'grid2' }, h('div', {}, personBox, consentBox), h('div', {}, photoBox, bulkBox)));
  let person = null;

  const search = h('input', { type: 'search', id: 'enrol-search', placeholder: t('enrol.searchPerson') });
  const results = h('div');
  personBox.append(h('h2', {}, `1. ${t('enrol.step1')}`), search, results);
  const find = async () => {
    try {
      const rows = items(await get('/persons', { q: search.value || undefined, limit: 20 }));
      clear(results).append(...rows.map((p) => h('div', { class: 'row' },
        h('span', { class: 'grow' }, personLabel(p)),
        h('button', { class: 'btn small', type: 'button', dataset: { person: p.id }, onclick: () => choose(p) }, t('enrol.choose')))));
    } catch (err) { showError(err); }
  };
  let debounce;
  search.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(find, 250); });

  async function choose(p) {
    person = p;
    clear(results).append(h('div', { class: 'row', id: 'enrol-chosen' }, h('strong', {}, personLabel(p))));
    await drawConsent();
  }

  async function drawConsent() {
    clear(consentBox).append(h('h2', {}, `2. ${t('enrol.step2')}`));
    clear(photoBox).append(h('h2', {}, `3. ${t('enrol.step3')}`));
    if (!person) return;
    const c = await consentState(person.id);
    if (c) {
      consentBox.append(h('div', { id: 'consent-ok' }, `✓ ${t('enrol.consentOn')} ${fmtTime(c.given_at || c.created_at)}`,
        c.guardian_name ? ` · ${t('field.guardian_name')}: ${c.guardian_name}` : ''));
      drawPhoto();
      return;
    }
    const f = buildForm([
      { name: 'scope', label: t('field.scope'), type: 'select', required: true, options: [['face_access', t('enrol.scopeFace')]], value: 'face_access' },
      { name: 'method', label: t('field.method'), type: 'select', required: true, options: [['paper', t('enrol.methodPaper')], ['in_person', t('enrol.methodInPerson')], ['app', t('enrol.methodApp')]], value: 'paper' },
      { name: 'guardian_name', label: t('field.guardian_name'), hint: t('enrol.guardianHint') },
      { name: 'guardian_id_number', label: t('field.guardian_id_number') },
      { name: 'agreed', label: t('enrol.agreed'), type: 'checkbox', required: true },
    ], {
      id: 'consent-form', submitLabel: t('enrol.recordConsent'),
      onSubmit: async (v) => {
        if (!v.agreed) throw Object.assign(new Error(t('enrol.mustAgree')), { fields: { agreed: t('enrol.mustAgree') } });
        const body = { scope: v.scope, method: v.method };
        if (v.guardian_name) body.guardian_name = v.guardian_name;
        if (v.guardian_id_number) body.guardian_id_number = v.guardian_id_number;
        await post(`/persons/${encodeURIComponent(person.id)}/consent`, body);
        toast(t('enrol.consentSaved'), 'ok');
        await drawConsent();
      },
    });
    consentBox.append(h('p', { class: 'muted' }, t('enrol.consentText')), f.form);
    photoBox.append(h('div', { class: 'muted' }, t('enrol.needConsent')));
  }

  function drawPhoto() {
    const file = h('input', { type: 'file', id: 'enrol-file', accept: 'image/jpeg,image/png' });
    const preview = h('img', { class: 'hidden', style: { maxWidth: '200px', maxHeight: '200px' }, alt: '' });
    const out = h('div');
    const btn = h('button', { class: 'btn primary', type: 'button', id: 'enrol-upload', onclick: async () => {
      if (!file.files[0]) { file.focus(); return; }
      btn.disabled = true;
      const fd = new FormData();
      fd.append('photo', file.files[0]);
      try {
        const res = await request('POST', `/persons/${encodeURIComponent(person.id)}/enrol`, { body: fd });
        clear(out).append(qualityReport(res || {}));
      } catch (err) {
        clear(out).append(qualityReport({ accepted: false, reasons: [err.message] }));
      } finally { btn.disabled = false; }
    } }, t('enrol.upload'));
    file.addEventListener('change', () => {
      if (file.files[0]) { preview.src = URL.createObjectURL(file.files[0]); preview.classList.remove('hidden'); }
    });
    photoBox.append(h('div', { class: 'row' }, file, btn), preview, out);
  }

  // Bulk enrolment: a zip of photos named by ID number or a spreadsheet with photos; a job with progress.
  const bulkFile = h('input', { type: 'file', id: 'bulk-file', accept: '.zip,.xlsx' });
  const bar = progressBar();
  bar.el.classList.add('hidden');
  const bulkOut = h('div');
  bulkBox.append(h('h2', {}, t('enrol.bulk')), h('p', { class: 'muted' }, t('enrol.bulkHint')),
    h('div', { class: 'row' }, bulkFile, h('button', { class: 'btn', type: 'button', id: 'bulk-start', onclick: async () => {
      if (!bulkFile.files[0]) return;
      const fd = new FormData();
      fd.append('file', bulkFile.files[0]);
      try {
        const job = await request('POST', '/enrolments/bulk', { body: fd });
        bar.el.classList.remove('hidden');
        const done = await waitJob(job.job_id || job.id, (f, j) => bar.set(f, `${j.done ?? 0}/${j.total ?? '?'}`));
        const errs = done.errors || done.result?.errors || [];
        clear(bulkOut).append(h('div', {}, t('enrol.bulkDone', { ok: done.succeeded ?? done.result?.enrolled ?? '?', bad: errs.length })),
          errs.length ? h('ul', { class: 'errors' }, errs.slice(0, 50).map((e) => h('li', {}, `${e.row ?? e.file ?? ''}: ${e.message ?? e}`))) : null);
      } catch (err) { showError(err); }
    } }, t('enrol.bulkStart'))), bar.el, bulkOut);

  await drawConsent();
  if (params.get('person')) {
    try { await choose(await get(`/persons/${encodeURIComponent(params.get('person'))}`)); } catch (err) { showError(err); }
  } else {
    await find();
  }
}
