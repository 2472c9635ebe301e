// Admin: retention periods per record type (events, snapshots, alerts, visitor records, audit ≥ 183 days).
import { get, put } from '../api.js';
import { t, tv } from '../i18n.js';
import { buildForm, h, toast } from '../ui.js';

export async function render(main) {
  let current;
  try {
    current = await get('/retention');
  } catch (err) {
    main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.retention'))),
      h('div', { class: 'panel errors' }, err.status === 404 ? t('retention.noApi') : err.message));
    return;
  }
  const periods = current.periods || current;
  const keys = Object.keys(periods).filter((k) => typeof periods[k] === 'number');
  const f = buildForm(keys.map((k) => ({
    name: k, label: tv('retention', k), type: 'number', value: periods[k], required: true,
    hint: k === 'audit' || k === 'audit_days' ? t('retention.auditMin') : undefined,
  })), {
    id: 'retention-form', submitLabel: t('common.save'),
    onSubmit: async (v) => {
      await put('/retention', current.periods ? { periods: v } : v);
      toast(t('common.saved'), 'ok');
    },
  });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.retention'))),
    h('div', { class: 'panel', style: { maxWidth: '640px' } }, h('p', { class: 'muted' }, t('retention.hint')), f.form));
}
