// Guard view: the live alert wall, with camera/door status and today's visitors beside it.
import { acknowledge, evidenceLine, feed, loadSnapshot } from '../alertfeed.js';
import { fmtTime, t, tv } from '../i18n.js';
import { clear, h, modal, showError, tag, toast } from '../ui.js';
import { deviceStatus, openDoorButton } from './devices.js';
import { todaysPasses } from './visitors.js';

function card(al) {
  const img = h('img', { alt: t('alerts.snapshot'), class: 'hidden' });
  if (al.snapshot) loadSnapshot(al.snapshot, img);
  return h('div', { class: `alert-card ${al.severity} ${al.acked ? 'acked' : ''}`, id: `alert-${al.id}`, dataset: { kind: al.kind } },
    h('div', { class: 'title' }, tag(al.severity, tv('severity', al.severity)), tv('alertKind', al.kind),
      h('span', { class: 'grow' }), al.acked ? tag('acknowledged', t('alerts.ackedShort')) : null),
    al.message ? h('div', {}, al.message) : null,
    img,
    h('div', { class: 'meta' }, evidenceLine(al)),
    al.acked
      ? h('div', { class: 'meta' }, `${t('alerts.note')}: ${al.ackNote || '—'}${al.ackBy ? ` (${al.ackBy})` : ''}`)
      : h('div', { class: 'row' }, h('button', { class: 'btn small primary ack', type: 'button', onclick: () => ackDialog(al) }, t('alerts.ack'))));
}

async function ackDialog(al) {
  const note = h('textarea', { id: 'ack-note', maxlength: 500, placeholder: t('alerts.notePlaceholder') });
  await modal(`${t('alerts.ack')} · ${tv('alertKind', al.kind)}`, h('div', {}, h('p', { class: 'muted' }, evidenceLine(al)), note), [{
    id: 'confirm-ack', label: t('alerts.ack'), kind: 'primary',
    run: async () => {
      try {
        await acknowledge(al.id, note.value);
        feed.markAcked(al.id, note.value);
        toast(t('alerts.acked'), 'ok');
        return true;
      } catch (err) { showError(err); return undefined; }
    },
  }]);
}

export async function render(main, { user }) {
  const filter = h('select', { id: 'alert-filter' },
    h('option', { value: 'open' }, t('alerts.filterOpen')), h('option', { value: 'all' }, t('alerts.filterAll')));
  const list = h('div', { class: 'list', id: 'alert-list' });
  const side = h('div', { class: 'side-status' });
  main.append(
    h('div', { class: 'toolbar' }, h('h1', {}, t('nav.alerts')), filter, h('span', { class: 'grow' }),
      h('button', { class: 'btn', type: 'button', onclick: () => new Audio('/console/sounds/alert.wav').play().catch(() => {}) }, t('alerts.testSound'))),
    h('div', { class: 'wall' }, list, side));
  let latest = [];
  const draw = () => {
    clear(list);
    const shown = filter.value === 'open' ? latest.filter((a) => !a.acked) : latest;
    if (!shown.length) list.append(h('div', { class: 'empty' }, t('alerts.none')));
    else list.append(...shown.slice(0, 200).map(card));
  };
  filter.addEventListener('change', draw);
  const unsubscribe = feed.subscribe((l) => { latest = l; draw(); });

  const devicesBox = h('div', { class: 'panel', id: 'device-status' }, h('h2', {}, t('devices.title')));
  const visitorsBox = h('div', { class: 'panel', id: 'today-visitors' }, h('h2', {}, t('visitors.today')));
  side.append(devicesBox, visitorsBox);
  const refresh = async () => {
    try {
      const st = await deviceStatus();
      const canOpen = user.role !== 'police';
      const buttons = await Promise.all(st.doors.slice(0, 12).map((d) => (canOpen ? openDoorButton(d) : null)));
      clear(devicesBox).append(h('h2', {}, t('devices.title')),
        h('div', { class: 'row' }, tag('online', `${t('devices.camerasOnline')} ${st.camerasOnline}/${st.cameras.length}`),
          st.doorsAlarm ? tag('forced', `${t('devices.doorsAlarm')} ${st.doorsAlarm}`) : null),
        h('div', {}, st.doors.slice(0, 12).map((d, i) => h('div', { class: 'row' },
          h('span', { class: 'grow' }, d.name || d.id), tag(d.state || 'unknown', tv('doorState', d.state || 'unknown')), buttons[i]))));
    } catch (err) {
      clear(devicesBox).append(h('h2', {}, t('devices.title')), h('div', { class: 'muted' }, err.message));
    }
    try {
      // Passes valid today with their status and arrival (visit records) — who is expected, who came.
      const ps = await todaysPasses();
      const arrived = ps.filter((p) => p.last_entered_at && new Date(p.last_entered_at) >= new Date(new Date().setHours(0, 0, 0, 0)));
      clear(visitorsBox).append(h('h2', {}, `${t('visitors.today')} (${arrived.length}/${ps.length})`),
        ps.length ? null : h('div', { class: 'muted' }, t('visitors.noPasses')),
        ps.slice(0, 10).map((p) => h('div', { class: 'row', dataset: { pass: p.id } },
          h('span', { class: 'grow' }, `${p.visitor_name}${p.host_household_name ? ` → ${p.host_household_name}` : ''}`),
          tag(p.state, tv('passState', p.state)),
          h('span', { class: 'muted' }, p.inside ? t('visitors.inside')
            : p.last_entered_at ? `${fmtTime(p.last_entered_at, false)}${p.last_left_at ? ` → ${fmtTime(p.last_left_at, false)}` : ''}` : t('visitors.notArrived')))),
        h('a', { class: 'btn small', href: '#/visitors' }, t('visitors.all')));
    } catch (err) {
      clear(visitorsBox).append(h('h2', {}, t('visitors.today')), h('div', { class: 'muted' }, err.message));
    }
  };
  refresh();
  const timer = setInterval(refresh, 15000);
  return () => { unsubscribe(); clearInterval(timer); };
}
