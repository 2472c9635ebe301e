// Police: 一标三实 export (standard addresses, persons, houses, units) as CSV or JSON for the police platform.
import { download, request, waitJob } from '../api.js';
import { t, tv } from '../i18n.js';
import { clear, h, progressBar, showError, toast } from '../ui.js';

const SETS = ['addresses', 'persons', 'houses', 'units'];

export async function render(main) {
  const set = h('select', { id: 'export-set' }, SETS.map((s) => h('option', { value: s }, tv('exportSet', s))));
  const fmt = h('select', { id: 'export-format' }, h('option', { value: 'csv' }, 'CSV'), h('option', { value: 'json' }, 'JSON'));
  const out = h('div');
  const bar = progressBar();
  bar.el.classList.add('hidden');
  const go = async () => {
    clear(out);
    try {
      const name = await download(`/reconciliation/export/${set.value}`, { format: fmt.value }, `yibiao-sanshi-${set.value}.${fmt.value}`);
      out.append(h('div', {}, t('export.saved', { name })));
    } catch (err) { showError(err); }
  };
  const file = h('input', { type: 'file', id: 'platform-file', accept: '.csv,.json' });
  const importBtn = h('button', { class: 'btn', type: 'button', onclick: async () => {
    if (!file.files[0]) return;
    const fd = new FormData();
    fd.append('file', file.files[0]);
    try {
      const job = await request('POST', '/reconciliation/import', { body: fd });
      const id = job.job_id ?? job.id;
      if (id !== undefined && job.status !== 'done') {
        bar.el.classList.remove('hidden');
        await waitJob(id, (f) => bar.set(f));
      }
      toast(t('export.imported'), 'ok');
    } catch (err) { showError(err); }
  } }, t('export.import'));
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.export'))),
    h('div', { class: 'panel' }, h('h2', {}, t('export.title')), h('p', { class: 'muted' }, t('export.hint')),
      h('div', { class: 'row' }, set, fmt, h('button', { class: 'btn primary', type: 'button', id: 'export-go', onclick: go }, t('export.download'))), out),
    h('div', { class: 'panel' }, h('h2', {}, t('export.importTitle')), h('p', { class: 'muted' }, t('export.importHint')),
      h('div', { class: 'row' }, file, importBtn), bar.el));
}
