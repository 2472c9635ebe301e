// Excel/CSV import of residents, houses and units, with progress and the rows that failed
// (row number, column, reason) so the property office can fix them in Excel and retry.
import { download, request, waitJob } from '../api.js';
import { t, tv } from '../i18n.js';
import { clear, dataTable, h, progressBar, showError, toast } from '../ui.js';

const KINDS = ['persons', 'houses', 'units'];

export function rowErrors(job) {
  const r = job.result || {};
  return job.errors || job.row_errors || r.errors || r.row_errors || [];
}

export async function render(main) {
  const kind = h('select', { id: 'import-kind' }, KINDS.map((k) => h('option', { value: k }, tv('importKind', k))));
  const file = h('input', { type: 'file', id: 'import-file', accept: '.xlsx,.csv' });
  const bar = progressBar();
  bar.el.classList.add('hidden');
  bar.el.id = 'import-progress';
  const out = h('div', { id: 'import-result' });
  const start = h('button', { class: 'btn primary', type: 'button', id: 'import-start', onclick: async () => {
    if (!file.files[0]) { file.focus(); return; }
    start.disabled = true;
    clear(out);
    const fd = new FormData();
    fd.append('file', file.files[0]);
    try {
      const job = await request('POST', `/imports/${kind.value}`, { body: fd });
      bar.el.classList.remove('hidden');
      bar.set(0, '0%');
      const id = job.job_id ?? job.id;
      const done = id !== undefined && (job.status === undefined || !['done', 'failed'].includes(job.status))
        ? await waitJob(id, (f, j) => bar.set(f, `${j.done ?? j.processed ?? 0}/${j.total ?? '?'}`))
        : job;
      bar.set(1, '100%');
      const errs = rowErrors(done);
      const r = done.result || done;
      out.append(h('div', { class: 'panel' },
        h('h2', {}, String(done.status || '').toLowerCase() === 'failed' ? t('import.failed') : t('import.finished')),
        h('div', {}, t('import.summary', { created: r.created ?? 0, updated: r.updated ?? 0, bad: errs.length })),
        errs.length ? dataTable([
          { key: 'row', label: t('import.row') },
          { key: 'field', label: t('import.column'), render: (e) => e.field ?? e.column ?? '' },
          { key: 'message', label: t('import.reason'), render: (e) => e.message ?? e.error ?? '' },
        ], errs) : null));
      if (!errs.length) toast(t('import.finished'), 'ok');
    } catch (err) {
      showError(err);
      out.append(h('div', { class: 'errors' }, err.message));
    } finally { start.disabled = false; }
  } }, t('import.start'));
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.import'))),
    h('div', { class: 'panel' },
      h('p', { class: 'muted' }, t('import.hint')),
      h('div', { class: 'row' }, kind, file, start,
        h('span', { class: 'grow' }),
        h('button', { class: 'btn', type: 'button', onclick: () => download(`/exports/${kind.value}`, { format: 'xlsx' }, `${kind.value}.xlsx`).catch(showError) }, t('import.exportXlsx')),
        h('button', { class: 'btn', type: 'button', onclick: () => download(`/exports/${kind.value}`, { format: 'csv' }, `${kind.value}.csv`).catch(showError) }, t('import.exportCsv'))),
      bar.el),
    out);
}
