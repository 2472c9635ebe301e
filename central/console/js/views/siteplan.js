// The site plan: the compound's uploaded plan image with cameras and doors on it, coloured by
// status. Property staff and admins upload the image and place devices by clicking.
import { t, tv } from '../i18n.js';
import { clear, h, showError, tag, toast } from '../ui.js';
import { devicesForPlan, loadPlan, planView, saveMarkers, uploadPlanImage } from '../siteplan.js';

export async function render(main, { user }) {
  const canEdit = ['property_manager', 'admin'].includes(user.role);
  const holder = h('div', { class: 'grow' });
  const side = h('div', { class: 'panel', style: { flex: '0 0 300px', maxHeight: 'calc(100vh - 130px)', overflowY: 'auto' } });
  let plan = await loadPlan();
  let devices = await devicesForPlan();
  const editing = canEdit ? {
    current: null,
    place: async (id, x, y) => {
      plan.markers = { ...(plan.markers || {}), [id]: { x, y } };
      try { await saveMarkers(plan.markers); toast(t('common.saved'), 'ok'); } catch (err) { showError(err); }
      editing.current = null;
      draw();
    },
  } : null;

  async function draw() {
    clear(holder).append(await planView(plan, devices, { editing }));
    clear(side).append(h('h2', {}, t('plan.devices')),
      ...(devices.length ? [] : [h('div', { class: 'muted' }, t('common.empty'))]),
      ...devices.map((d) => h('div', { class: 'row', style: { marginBottom: '4px' } },
        h('span', { class: 'grow' }, `${d.kind === 'door' ? '▮' : '◉'} ${d.name}`),
        tag(d.state, tv(d.kind === 'door' ? 'doorState' : 'cameraStatus', d.state)),
        canEdit ? h('button', { class: `btn small ${editing.current === d.id ? 'primary' : ''}`, type: 'button', dataset: { place: d.id },
          onclick: (e) => {
            editing.current = d.id;
            side.querySelectorAll('button[data-place]').forEach((b) => b.classList.toggle('primary', b === e.currentTarget));
            toast(t('plan.clickToPlace'));
          } },
        plan.markers?.[d.id] ? t('plan.move') : t('plan.place')) : null)));
  }

  const file = h('input', { type: 'file', id: 'plan-file', accept: 'image/png,image/jpeg' });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.siteplan')),
    h('span', { class: 'legend' }, tag('online', tv('cameraStatus', 'online')), tag('offline', tv('cameraStatus', 'offline')), tag('forced', tv('doorState', 'forced'))),
    h('span', { class: 'grow' }),
    canEdit ? [file, h('button', { class: 'btn', type: 'button', id: 'plan-upload', onclick: async () => {
      if (!file.files[0]) { file.focus(); return; }
      try { await uploadPlanImage(file.files[0]); plan = await loadPlan(); await draw(); toast(t('common.saved'), 'ok'); } catch (err) { showError(err); }
    } }, t('plan.upload'))] : null),
  h('div', { class: 'row', style: { alignItems: 'flex-start' } }, holder, side));
  await draw();
  const timer = setInterval(async () => {
    try { devices = await devicesForPlan(); await draw(); } catch { /* keep last state */ }
  }, 15000);
  return () => clearInterval(timer);
}
