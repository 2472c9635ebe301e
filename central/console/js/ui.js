// Small DOM helpers. Text always goes in as text nodes (never parsed as HTML) so hostile
// strings from the registry or the edge can never run as markup.
import { t } from './i18n.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Empties ``el``; ``clear(el).append(...)`` then skips null/false children like ``h`` does. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return { el, append: (...children) => { append(el, children); return el; } };
}

export function toast(message, kind = '') {
  const box = document.getElementById('toasts');
  const el = h('div', { class: `toast ${kind}`, role: 'status' }, message);
  box.append(el);
  while (box.children.length > 3) box.firstChild.remove();  // a burst never covers the page
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 2500);
}

export function showError(err) {
  const msg = err && err.status === 403 ? t('common.forbidden') : (err && err.message) || String(err);
  toast(msg, 'error');
}

export function tag(value, label) {
  const v = String(value ?? '');
  return h('span', { class: `tag ${v}` }, label ?? v);
}

/** A modal; resolves with the value passed to close() or null when dismissed. */
export function modal(title, body, actions = []) {
  return new Promise((resolve) => {
    const back = h('div', { class: 'modal-back' });
    const onKey = (e) => { if (e.key === 'Escape') close(null); };
    // Leaving the view (or pressing Escape) dismisses the dialog.
    const close = (value) => {
      back.remove();
      document.removeEventListener('keydown', onKey);
      window.removeEventListener('hashchange', onHash);
      resolve(value ?? null);
    };
    const onHash = () => close(null);
    document.addEventListener('keydown', onKey);
    window.addEventListener('hashchange', onHash);
    const bar = h('div', { class: 'actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => close(null) }, t('common.close')),
      actions.map((a) => h('button', {
        class: `btn ${a.kind || ''}`, type: 'button', dataset: { action: a.id || '' },
        onclick: async () => { const v = await a.run(close); if (v !== undefined) close(v); },
      }, a.label)));
    const box = h('div', { class: 'modal', role: 'dialog', 'aria-label': title }, h('h2', {}, title), body, bar);
    back.append(box);
    back.addEventListener('click', (e) => { if (e.target === back) close(null); });
    document.body.append(back);
  });
}

/**
 * A form built from field specs: {name, label, type, options:[[value,label]], required, value, hint}.
 * onSubmit receives the values; errors with field names are shown next to the fields.
 */
function parseJson(name, text) {
  try {
    return JSON.parse(text);
  } catch {
    throw Object.assign(new Error(`${name}: JSON`), { fields: { [name]: t('common.badJson') } });
  }
}

export function buildForm(fields, { submitLabel, onSubmit, id } = {}) {
  const form = h('form', { class: 'form', id, novalidate: true });
  const inputs = {};
  const errs = {};
  for (const f of fields) {
    let input;
    const common = { name: f.name, id: `f-${f.name}`, required: f.required, placeholder: f.placeholder };
    if (f.type === 'select') {
      input = h('select', common, f.required ? null : h('option', { value: '' }, '—'),
        (f.options || []).map(([v, l]) => h('option', { value: v, selected: String(f.value ?? '') === String(v) }, l)));
    } else if (f.type === 'textarea') {
      input = h('textarea', common, f.value ?? '');
    } else if (f.type === 'checkbox') {
      input = h('input', { ...common, type: 'checkbox', checked: !!f.value });
    } else {
      const type = ['csv', 'csvint', 'json', 'lookup'].includes(f.type) ? 'text' : f.type || 'text';
      input = h('input', { ...common, type, value: f.value ?? '', accept: f.accept, step: f.step });
    }
    inputs[f.name] = input;
    errs[f.name] = h('div', { class: 'err' });
    form.append(h('label', { for: `f-${f.name}` }, f.label + (f.required ? ' *' : '')), input, errs[f.name]);
    if (f.hint) form.append(h('div', { class: 'err muted' }, f.hint));
  }
  const general = h('div', { class: 'full errors' });
  form.append(general);
  const values = () => {
    const out = {};
    for (const f of fields) {
      const el = inputs[f.name];
      if (f.type === 'checkbox') out[f.name] = el.checked;
      else if (f.type === 'file') out[f.name] = el.files[0] || null;
      else if (f.type === 'number') out[f.name] = el.value === '' ? null : Number(el.value);
      else if (f.type === 'datetime-local') out[f.name] = el.value ? new Date(el.value).toISOString() : null;
      else if (f.type === 'csv') out[f.name] = el.value.split(/[,，\s]+/).filter(Boolean);
      else if (f.type === 'csvint') out[f.name] = el.value.split(/[,，\s]+/).filter(Boolean).map(Number);
      else if (f.type === 'json') out[f.name] = el.value.trim() ? parseJson(f.name, el.value) : (f.empty ?? {});
      else out[f.name] = el.value === '' ? null : el.value;
    }
    return out;
  };
  const showErrors = (err) => {
    Object.values(errs).forEach((e) => { e.textContent = ''; });
    general.textContent = '';
    const fieldErrs = (err && err.fields) || {};
    let shown = false;
    for (const [k, msg] of Object.entries(fieldErrs)) {
      const key = k.split('.').pop();
      if (errs[key]) { errs[key].textContent = msg; shown = true; }
    }
    if (!shown && err) general.textContent = err.status === 403 ? t('common.forbidden') : err.message;
  };
  const submit = async () => {
    showErrors(null);
    try {
      return await onSubmit(values());
    } catch (err) {
      showErrors(err);
      return undefined;
    }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  if (submitLabel) {
    form.append(h('div', { class: 'full row' }, h('span', { class: 'grow' }),
      h('button', { class: 'btn primary', type: 'submit' }, submitLabel)));
  }
  return { form, inputs, values, submit, showErrors };
}

/** columns: [{key, label, render(row)}]; rows: objects. */
export function dataTable(columns, rows, { empty, rowClass } = {}) {
  if (!rows.length) return h('div', { class: 'empty' }, empty || t('common.empty'));
  return h('div', { class: 'tablewrap' }, h('table', { class: 'data' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', { class: rowClass ? rowClass(r) : null, dataset: { id: r.id ?? '' } },
      columns.map((c) => h('td', { class: c.key === '_actions' ? 'actions' : null },
        c.render ? c.render(r) : fmtCell(r[c.key]))))))));
}

export function fmtCell(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.join(', ');
  if (typeof v === 'boolean') return v ? '✓' : '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function progressBar() {
  const inner = h('div');
  const label = h('span', { class: 'muted' });
  const el = h('div', { class: 'row', role: 'progressbar' }, h('div', { class: 'progress grow' }, inner), label);
  return {
    el,
    set(frac, text) {
      inner.style.width = `${Math.round(frac * 100)}%`;
      el.setAttribute('aria-valuenow', String(Math.round(frac * 100)));
      label.textContent = text ?? `${Math.round(frac * 100)}%`;
    },
  };
}

export function stat(label, value, cls = '') {
  return h('div', { class: `stat ${cls}` }, h('div', { class: 'v' }, value), h('div', { class: 'k' }, label));
}
