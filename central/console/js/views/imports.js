// Excel/CSV import of residents, houses and organisations, with upload progress and the rows
// that failed (row, column, reason) so the property office can fix them in Excel and retry.
// The import is all-or-nothing: a file with any bad row writes nothing.
import { download, upload } from '../api.js';
import { t, tv } from '../i18n.js';
import { clear, dataTable, h, progressBar, showError, toast } from '../ui.js';

const KINDS = ['persons', 'houses', 'organisations'];

/** Row errors from the API's field list: "rows.3.id_number" → {row: 3, field: 'id_number', message}. */
export function rowErrors(fields) {
  return Object.entries(fields || {}).map(([path, message]) => {
    const m = /^rows?\.(\d+)\.?(.*)$/.exec(path);
    return m ? { row: Number(m[1]), field: m[2], message } : { row: '', field: path, message };
  });
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
    bar.el.classList.remove('hidden');
    bar.set(0, `${t('common.uploading')} 0%`);
    try {
      const res = await upload(`/import/${kind.value}`, fd, {
        onProgress: (f) => bar.set(f * 0.9, f < 1 ? `${t('common.uploading')} ${Math.round(f * 100)}%` : t('import.checking')),
      });
      bar.set(1, '100%');
      out.append(h('div', { class: 'panel', id: 'import-ok' }, h('h2', {}, t('import.finished')),
        h('div', {}, t('import.summary', { created: res.created, rows: res.rows }))));
      toast(t('import.finished'), 'ok');
    } catch (err) {
      bar.set(1, t('import.failed'));
      const rows = rowErrors(err.fields);
      out.append(h('div', { class: 'panel', id: 'import-errors' }, h('h2', { class: 'errors' }, t('import.failed')),
        h('div', {}, err.message.split(' (')[0]),
        rows.length ? h('p', { class: 'muted' }, t('import.nothingWritten', { n: rows.length })) : null,
        rows.length ? dataTable([
          { key: 'row', label: t('import.row') },
          { key: 'field', label: t('import.column') },
          { key: 'message', label: t('import.reason') },
        ], rows) : null));
    } finally { start.disabled = false; }
  } }, t('import.start'));
  const exp = (format) => () => download(`/export/${kind.value}`, { format }, `${kind.value}.${format}`).catch(showError);
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.import'))),
    h('div', { class: 'panel' },
      h('p', { class: 'muted' }, t('import.hint')),
      h('div', { class: 'row' }, kind, file, start,
        h('span', { class: 'grow' }),
        h('button', { class: 'btn', type: 'button', onclick: exp('xlsx') }, t('import.exportXlsx')),
        h('button', { class: 'btn', type: 'button', onclick: exp('csv') }, t('import.exportCsv'))),
      bar.el),
    out);
}
