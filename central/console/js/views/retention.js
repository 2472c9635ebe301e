// Admin: how long each kind of record is kept, for every site (global) or for one site.
// The deployment's configuration gives the defaults and the ceilings; every change is audited
// with its old and new values, and the change history is shown under the form.
import { get, items, put } from '../api.js';
import { fmtTime, lang, t, tv } from '../i18n.js';
import { clear, dataTable, h, showError, tag, toast } from '../ui.js';

const GLOBAL = '';

async function siteOptions() {
  try { return items(await get('/sites', { site_id: undefined })); } catch { return []; }
}

function label(p) { return lang() === 'en' ? p.label_en : p.label_zh; }

function historyRows(records) {
  const rows = [];
  for (const r of records) {
    let detail = {};
    try { detail = typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail || {}; } catch { detail = {}; }
    for (const [field, c] of Object.entries(detail.changes || {})) {
      rows.push({ id: `${r.seq}-${field}`, at: r.at, actor: r.actor_name || r.actor_username || '', field, old: c.old, new: c.new, reason: r.reason || '' });
    }
  }
  return rows;
}

export async function render(main) {
  const sites = await siteOptions();
  const scope = h('select', { id: 'retention-scope' }, h('option', { value: GLOBAL }, t('retention.global')),
    sites.map((s) => h('option', { value: s.id }, `${t('retention.site')}: ${s.name}`)));
  const box = h('div', { id: 'retention-box' });
  const history = h('div', { id: 'retention-history' });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.retention')), scope),
    h('p', { class: 'muted' }, t('retention.hint')), box,
    h('div', { class: 'panel', style: { marginTop: '12px' } }, h('h2', {}, t('retention.history')), history));

  async function loadHistory() {
    const objectId = scope.value || '*';
    let records = [];
    try { records = items(await get('/audit', { object_id: objectId, limit: 200, site_id: undefined })); } catch (err) { showError(err); }
    const rows = historyRows(records.filter((r) => r.action === 'retention.update'));
    const labels = new Map((box.periods || []).map((p) => [p.field, label(p)]));
    history.dataset.scope = objectId;  // which scope the rows belong to (tests wait on it)
    clear(history).append(dataTable([
      { key: 'at', label: t('field.time'), render: (r) => fmtTime(r.at) },
      { key: 'actor', label: t('audit.actor') },
      { key: 'field', label: t('retention.kind'), render: (r) => labels.get(r.field) || r.field },
      { key: 'change', label: t('retention.change'), render: (r) => `${r.old} → ${r.new} ${t('retention.days')}` },
      { key: 'reason', label: t('field.reason') },
    ], rows, { empty: t('retention.noChanges') }));
  }

  async function load() {
    delete history.dataset.scope;
    delete box.dataset.scope;
    let data;
    try {
      data = await get('/retention', { site_id: scope.value || undefined });
    } catch (err) {
      clear(box).append(h('div', { class: 'panel errors' }, err.message));
      return;
    }
    box.periods = data.periods;
    const isSite = !!scope.value;
    const inputs = {};
    const inherit = {};
    const errs = {};
    const rows = data.periods.map((p) => {
      const disabled = isSite && p.global_only;
      inputs[p.field] = h('input', { type: 'number', id: `ret-${p.field}`, min: p.min, max: p.max, step: 1, value: p.days, disabled, style: { width: '90px' } });
      const own = isSite ? p.source === 'site' : p.source === 'global';
      inherit[p.field] = h('input', { type: 'checkbox', id: `ret-inherit-${p.field}`, checked: !own, disabled,
        onchange: (e) => { if (!e.target.checked) inputs[p.field].focus(); } });
      inputs[p.field].addEventListener('input', () => { inherit[p.field].checked = false; });
      errs[p.field] = h('div', { class: 'err', id: `ret-err-${p.field}` });
      return { ...p, id: p.field };
    });
    const table = dataTable([
      { key: 'label', label: t('retention.kind'), render: (p) => [h('div', {}, label(p)), h('div', { class: 'muted small' }, lang() === 'en' ? p.label_zh : p.label_en)] },
      { key: 'days', label: t('retention.days'), render: (p) => [inputs[p.field], errs[p.field]] },
      { key: 'range', label: t('retention.range'), render: (p) => `${p.min}–${p.max}` },
      { key: 'source', label: t('retention.source'), render: (p) => tag(`src-${p.source}`, tv('retentionSource', p.source)) },
      { key: 'inherit', label: isSite ? t('retention.inheritGlobal') : t('retention.inheritConfig'), render: (p) => (isSite && p.global_only ? h('span', { class: 'muted' }, t('retention.globalOnly')) : inherit[p.field]) },
    ], rows);
    const reason = h('input', { type: 'text', id: 'retention-reason', maxlength: 500, placeholder: t('retention.reason'), style: { minWidth: '320px' } });
    const save = h('button', { class: 'btn primary', type: 'button', id: 'retention-save', onclick: async () => {
      Object.values(errs).forEach((e) => { e.textContent = ''; });
      const periods = {};
      for (const p of data.periods) {
        if (isSite && p.global_only) continue;
        const own = isSite ? p.source === 'site' : p.source === 'global';
        if (inherit[p.field].checked) { if (own) periods[p.field] = null; continue; }
        const v = inputs[p.field].value === '' ? NaN : Number(inputs[p.field].value);
        if (!own || v !== p.days) periods[p.field] = Number.isFinite(v) ? v : inputs[p.field].value;
      }
      if (!Object.keys(periods).length) { toast(t('retention.nothing')); return; }
      try {
        await put('/retention', { site_id: scope.value || null, periods, reason: reason.value.trim() });
        toast(t('common.saved'), 'ok');
        await load();
      } catch (err) {
        const fields = err.fields || {};
        let shown = false;
        for (const [k, msg] of Object.entries(fields)) {
          const key = k.split('.').pop();
          if (errs[key]) { errs[key].textContent = msg; shown = true; }
        }
        if (!shown) showError(err);
      }
    } }, t('common.save'));
    clear(box).append(h('div', { class: 'panel' },
      h('div', { class: 'muted', style: { marginBottom: '6px' } }, isSite ? t('retention.siteHint') : t('retention.globalHint')),
      table, h('div', { class: 'row', style: { marginTop: '10px' } }, reason, h('span', { class: 'grow' }), save)));
    box.dataset.scope = scope.value || '*'; // the form shown belongs to this scope
    await loadHistory();
  }
  scope.addEventListener('change', load);
  await load();
}
