// Face enrolment in three steps: choose the person, record consent (a guardian's for
// under-14s), upload a photo and read the quality feedback. The API refuses a face
// template without consent; this view only walks people through it in order.
import { get, items, post, upload, waitJob } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { buildForm, clear, dataTable, h, progressBar, showError, toast } from '../ui.js';

function personLabel(p) {
  return `${p.name}${p.id_number ? ` · ${p.id_number}` : ''}${p.has_face ? ' · ☺' : ''}`;
}

export async function consentState(personId) {
  const list = items(await get(`/persons/${encodeURIComponent(personId)}/consents`));
  return list.find((c) => !c.withdrawn_at) || null;
}

function qualityReport(res) {
  const tpl = res.template || null;
  const warnings = res.warnings || [];
  const dups = res.duplicates || [];
  const reasons = res.reasons || [];
  return h('div', { class: 'panel', id: 'quality-feedback', dataset: { ok: tpl ? '1' : '0' } },
    h('h2', {}, tpl ? `✓ ${t('enrol.accepted')}` : `✗ ${t('enrol.rejected')}`),
    tpl ? h('div', {}, `${t('enrol.quality')}: ${Number(tpl.quality).toFixed(2)} · ${t('enrol.model')}: ${tpl.model_id}`) : null,
    reasons.length ? h('ul', { class: 'errors' }, reasons.map((r) => h('li', {}, r))) : null,
    warnings.length ? h('ul', {}, warnings.map((w) => h('li', {}, w))) : null,
    dups.length ? h('div', { class: 'errors', id: 'duplicate-warning' }, `${t('enrol.duplicate')}: `,
      dups.map((d) => `${d.person_id} (${Number(d.score).toFixed(2)})`).join(', ')) : null);
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
      consentBox.append(h('div', { id: 'consent-ok' }, `✓ ${t('enrol.consentOn')} ${fmtTime(c.granted_at)} · ${tv('consentMethod', c.method)}`,
        c.guardian_name ? ` · ${t('field.guardian_name')}: ${c.guardian_name}` : ''));
      drawPhoto();
      return;
    }
    const f = buildForm([
      { name: 'method', label: t('field.method'), type: 'select', required: true, options: ['paper', 'electronic'].map((m) => [m, tv('consentMethod', m)]), value: 'paper' },
      { name: 'granted_by', label: t('field.granted_by'), type: 'select', required: true, options: [['self', t('enrol.bySelf')], ['guardian', t('enrol.byGuardian')]], value: 'self' },
      { name: 'guardian_name', label: t('field.guardian_name'), hint: t('enrol.guardianHint') },
      { name: 'guardian_relation', label: t('field.guardian_relation') },
      { name: 'guardian_id_number', label: t('field.guardian_id_number') },
      { name: 'document_ref', label: t('field.document_ref') },
      { name: 'agreed', label: t('enrol.agreed'), type: 'checkbox', required: true },
    ], {
      id: 'consent-form', submitLabel: t('enrol.recordConsent'),
      onSubmit: async (v) => {
        if (!v.agreed) throw Object.assign(new Error(t('enrol.mustAgree')), { fields: { agreed: t('enrol.mustAgree') } });
        const { agreed, ...rest } = v;
        const body = Object.fromEntries(Object.entries(rest).filter(([, x]) => x !== null));
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
        const res = await upload(`/persons/${encodeURIComponent(person.id)}/faces`, fd, { params: { site_id: undefined } });
        clear(out).append(qualityReport(res || {}));
      } catch (err) {
        const reasons = Object.entries(err.fields || {}).map(([k, m]) => `${k}: ${m}`);
        clear(out).append(qualityReport({ reasons: reasons.length ? [err.message.split(' (')[0], ...reasons] : [err.message] }));
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
      fd.append('archive', bulkFile.files[0]);
      bar.el.classList.remove('hidden');
      try {
        const job = await upload('/enrolment/bulk', fd, { onProgress: (f) => bar.set(f, `${t('common.uploading')} ${Math.round(f * 100)}%`) });
        const done = await waitJob(job.id, (f, j) => bar.set(f, `${j.done + j.failed}/${j.total}`));
        bar.set(1, `${done.done + done.failed}/${done.total}`);
        let report = [];
        if (Array.isArray(done.report)) report = done.report;
        else try { report = JSON.parse(done.report || '[]'); } catch { report = []; }
        clear(bulkOut).append(h('div', { id: 'bulk-summary' }, t('enrol.bulkDone', { ok: done.done, bad: done.failed })),
          done.error ? h('div', { class: 'errors' }, done.error) : null,
          report.length ? dataTable([
            { key: 'file', label: t('enrol.file') },
            { key: 'result', label: t('import.reason'), render: (r) => (r.error ? h('span', { class: 'errors' }, r.error) : `✓ ${t('enrol.quality')} ${Number(r.quality).toFixed(2)}`) },
          ], report) : null);
      } catch (err) { showError(err); }
    } }, t('enrol.bulkStart'))), bar.el, bulkOut);

  await drawConsent();
  if (params.get('person')) {
    try { await choose(await get(`/persons/${encodeURIComponent(params.get('person'))}`)); } catch (err) { showError(err); }
  } else {
    await find();
  }
}
