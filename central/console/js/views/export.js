// Police: 一标三实 export (standard addresses, persons, houses, units) as CSV or JSON for the police platform.
import { download, site, upload } from '../api.js';
import { t, tv } from '../i18n.js';
import { clear, h, progressBar, showError, toast } from '../ui.js';

const SETS = ['addresses', 'persons', 'houses', 'units'];
const base = () => `/reconciliation/sites/${encodeURIComponent(site.id)}`;

export async function render(main) {
  const set = h('select', { id: 'export-set' }, SETS.map((s) => h('option', { value: s }, tv('exportSet', s))));
  const fmt = h('select', { id: 'export-format' }, h('option', { value: 'csv' }, 'CSV'), h('option', { value: 'json' }, 'JSON'));
  const out = h('div');
  const bar = progressBar();
  bar.el.classList.add('hidden');
  const go = async () => {
    clear(out);
    try {
      const name = await download(`${base()}/export`, { kind: set.value, format: fmt.value, site_id: undefined }, `yibiao-sanshi-${set.value}.${fmt.value}`);
      out.append(h('div', {}, t('export.saved', { name })));
    } catch (err) { showError(err); }
  };
  const file = h('input', { type: 'file', id: 'platform-file', accept: '.csv,.json' });
  const importBtn = h('button', { class: 'btn', type: 'button', onclick: async () => {
    if (!file.files[0]) return;
    const fd = new FormData();
    fd.append('file', file.files[0]);
    bar.el.classList.remove('hidden');
    try {
      const fmtIn = file.files[0].name.toLowerCase().endsWith('.csv') ? 'csv' : 'json';
      const res = await upload(`${base()}/import`, fd, { params: { format: fmtIn, site_id: undefined }, onProgress: (f) => bar.set(f) });
      bar.set(1);
      toast(t('export.imported'), 'ok');
      clear(out).append(h('pre', { class: 'muted' }, JSON.stringify(res, null, 1)));
    } catch (err) { showError(err); }
  } }, t('export.import'));
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.export'))),
    h('div', { class: 'panel' }, h('h2', {}, t('export.title')), h('p', { class: 'muted' }, t('export.hint')),
      h('div', { class: 'row' }, set, fmt, h('button', { class: 'btn primary', type: 'button', id: 'export-go', onclick: go }, t('export.download'))), out),
    h('div', { class: 'panel' }, h('h2', {}, t('export.importTitle')), h('p', { class: 'muted' }, t('export.importHint')),
      h('div', { class: 'row' }, file, importBtn), bar.el));
}
