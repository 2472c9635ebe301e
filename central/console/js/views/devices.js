// Camera and door status, and the remote door open (the API audits it with the reason given).
import { capabilities, get, items, post } from '../api.js';
import { fmtTime, t, tv } from '../i18n.js';
import { dataTable, h, modal, showError, stat, tag, toast } from '../ui.js';

const ALARM_STATES = new Set(['forced_open', 'held_open', 'fault', 'fire_release']);

export function cameraState(c) {
  return String(c.status ?? c.state ?? (c.online === true ? 'online' : c.online === false ? 'offline' : 'unknown'));
}

/** Devices (GET /devices) joined with their last reported status (GET /device-status). */
export async function deviceStatus() {
  const [devs, sts] = await Promise.all([get('/devices'), get('/device-status')]);
  const status = new Map(items(sts).map((x) => [`${x.device_type}:${x.device_code}`, x]));
  const withStatus = (d) => {
    const st = status.get(`${d.type}:${d.code}`);
    return { ...d, name: d.name || d.code, status: st ? st.status : 'unknown', state: st ? st.status : 'unknown', last_seen_at: st?.last_seen_at, changed_at: st?.changed_at };
  };
  const all = items(devs).map(withStatus);
  const cameras = all.filter((d) => d.type === 'camera');
  const doors = all.filter((d) => d.type === 'door');
  return {
    cameras,
    doors,
    camerasOnline: cameras.filter((c) => c.status === 'online').length,
    doorsAlarm: doors.filter((d) => ALARM_STATES.has(d.state)).length,
  };
}

export const DOOR_OPEN = '/doors/{device_id}/open';
export const DOOR_COMMANDS = '/doors/commands';

/** The remote-open button, disabled with a reason where the server has no door-command endpoint. */
export async function openDoorButton(door, small = true) {
  const caps = await capabilities();
  const ok = caps.has('POST', DOOR_OPEN);
  return h('button', {
    class: `btn ${small ? 'small' : ''}`, type: 'button', dataset: { door: door.id }, disabled: !ok,
    title: ok ? t('devices.open') : t('devices.noDoorApi'), onclick: () => openDoorDialog(door).catch(showError),
  }, t('devices.open'));
}

export async function openDoorDialog(door) {
  const reason = h('input', { type: 'text', id: 'open-reason', maxlength: 200, placeholder: t('devices.reasonPlaceholder') });
  await modal(`${t('devices.open')} · ${door.name || door.id}`, h('div', { class: 'form' },
    h('label', { for: 'open-reason' }, `${t('devices.reason')} *`), reason,
    h('div', { class: 'full muted' }, t('devices.auditedHint'))), [{
    id: 'confirm-open', label: t('devices.open'), kind: 'danger',
    run: async () => {
      if (!reason.value.trim()) { reason.focus(); return undefined; }
      let sent;
      try {
        sent = await post(`/doors/${encodeURIComponent(door.id)}/open`, { reason: reason.value.trim() });
      } catch (err) { showError(err); return undefined; }
      toast(t('devices.opened'), 'ok');
      confirmExecuted(sent).catch(() => undefined);
      return true;
    },
  }]);
}

const COMMAND_TAG = { executed: 'ok', sent: 'pending', pending: 'pending' };
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Follow a sent command until the door reports it (the edge's door event carries its id). */
async function confirmExecuted(sent) {
  if (!sent || !sent.id) return;
  for (let i = 0; i < 20; i += 1) {
    await sleep(500);
    const cmd = items(await get(DOOR_COMMANDS, { site_id: sent.site_id })).find((c) => c.id === sent.id);
    if (cmd && cmd.status === 'executed') { toast(t('devices.openConfirmed'), 'ok'); return; }
    if (cmd && cmd.status !== 'sent') break;
  }
  toast(t('devices.openUnconfirmed'));
}

/** Recent remote door commands with their status (who, why, whether the door confirmed). */
async function commandsPanel(doors) {
  const names = new Map(doors.map((d) => [d.id, d.name]));
  const cmds = items(await get(DOOR_COMMANDS));
  return h('div', { class: 'panel', style: { marginTop: '12px' } }, h('h2', {}, t('devices.commands')), dataTable([
    { key: 'issued_at', label: t('field.time'), render: (c) => fmtTime(c.issued_at) },
    { key: 'door_code', label: t('devices.door'), render: (c) => names.get(c.device_id) || c.door_code },
    { key: 'requested_by', label: t('devices.requestedBy') },
    { key: 'reason', label: t('field.reason') },
    { key: 'status', label: t('field.status'), render: (c) => tag(COMMAND_TAG[c.status] || 'offline', tv('doorCommand', c.status)) },
  ], cmds));
}

export async function render(main, { user }) {
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, t('nav.devices'))));
  const st = await deviceStatus();
  main.append(h('div', { class: 'grid4', style: { marginBottom: '12px' } },
    stat(t('devices.cameras'), st.cameras.length),
    stat(t('devices.camerasOnline'), st.camerasOnline, st.camerasOnline < st.cameras.length ? 'warn' : ''),
    stat(t('devices.doors'), st.doors.length),
    stat(t('devices.doorsAlarm'), st.doorsAlarm, st.doorsAlarm ? 'bad' : '')));
  const canOpen = ['guard', 'property_manager', 'admin'].includes(user.role);
  const buttons = new Map();
  if (canOpen) for (const d of st.doors) buttons.set(d.id, await openDoorButton(d));
  main.append(h('div', { class: 'grid2' },
    h('div', { class: 'panel' }, h('h2', {}, t('devices.cameras')), dataTable([
      { key: 'name', label: t('field.name'), render: (c) => c.name || c.id },
      { key: 'code', label: t('field.code') },
      { key: 'direction', label: t('field.direction'), render: (c) => tv('direction', c.direction) },
      { key: 'status', label: t('field.status'), render: (c) => tag(cameraState(c), tv('cameraStatus', cameraState(c))) },
      { key: 'last_seen_at', label: t('field.lastSeen'), render: (c) => fmtTime(c.last_seen_at) },
    ], st.cameras)),
    h('div', { class: 'panel' }, h('h2', {}, t('devices.doors')), dataTable([
      { key: 'name', label: t('field.name'), render: (d) => d.name || d.id },
      { key: 'code', label: t('field.code') },
      { key: 'state', label: t('field.status'), render: (d) => tag(d.state, tv('doorState', d.state)) },
      { key: '_actions', label: '', render: (d) => buttons.get(d.id) || '' },
    ], st.doors))));
  const caps = await capabilities();
  if (canOpen && caps.has('GET', DOOR_COMMANDS)) main.append(await commandsPanel(st.doors));
  const timer = setInterval(async () => {
    // Status changes arrive as events; a light poll keeps this page honest without a reload.
    try {
      const fresh = await deviceStatus();
      if (JSON.stringify(fresh.doors.map((d) => d.state)) !== JSON.stringify(st.doors.map((d) => d.state))
        || fresh.camerasOnline !== st.camerasOnline) {
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      }
    } catch { /* keep the last view */ }
  }, 10000);
  return () => clearInterval(timer);
}
