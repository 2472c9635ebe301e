// Property staff: the visitor pass list (status, arrival), reprint a pass and revoke another;
// camera uptime on the dashboard and per camera in the cameras view. The guard: today's
// visitors on the alert wall and in the visitors view.
import { BASE_URL, assert, login, logout, newPage, scenario, shot } from './lib.mjs';

const USED = process.env.USED_PASS;
const SPARE = process.env.SPARE_PASS;

const rowState = (page, id) => page.textContent(`#passes tr[data-id="${id}"] .tag`);

scenario(async ({ context }) => {
  const page = await newPage(context);
  const out = {};
  await login(page, 'property_manager');
  await page.goto(`${BASE_URL}/#/visitors`);
  await page.waitForSelector(`#passes tr[data-id="${USED}"]`);
  out.usedState = await rowState(page, USED);
  out.usedRow = await page.textContent(`#passes tr[data-id="${USED}"]`);
  out.spareState = await rowState(page, SPARE);
  out.stats = await page.$$eval('#visitor-stats .stat', (ss) => ss.map((s) => s.textContent));
  await shot(page, 'property-visitors');

  // Reprint: the pass with its QR, ready to print.
  await page.click(`#passes tr[data-id="${USED}"] button[data-action="reprint"]`);
  await page.waitForSelector('#pass-card');
  await page.waitForFunction(() => document.querySelector('#pass-qr')?.naturalWidth > 0);
  out.reprintPass = await page.getAttribute('#pass-card', 'data-pass');
  out.printButton = await page.isVisible('button[data-action="print-pass"]');
  await shot(page, 'property-visitors-reprint');
  await page.keyboard.press('Escape');

  // Revoke the spare pass from the list.
  await page.click(`#passes tr[data-id="${SPARE}"] button[data-action="revoke"]`);
  await page.fill('#revoke-reason', '住户取消来访');
  await page.click('button[data-action="confirm-revoke"]');
  await page.waitForFunction((id) => document.querySelector(`#passes tr[data-id="${id}"] .tag`)?.classList.contains('revoked'), SPARE);
  out.spareAfter = await rowState(page, SPARE);
  out.revokeButtonGone = (await page.$(`#passes tr[data-id="${SPARE}"] button[data-action="revoke"]`)) === null;
  // The status filter narrows the list.
  await page.selectOption('#visitors-status', 'revoked');
  await page.waitForFunction((id) => !document.querySelector(`#passes tr[data-id="${id}"]`), USED);
  out.revokedOnly = await page.$$eval('#passes tbody tr', (trs) => trs.map((tr) => tr.dataset.id));

  // Camera uptime: the dashboard chart and the per-camera table.
  await page.goto(`${BASE_URL}/#/dashboard`);
  await page.waitForSelector('#dash-uptime svg.chart.uptime');
  await page.waitForSelector('#dash-uptime .uptime-pct');
  out.dashUptime = await page.$$eval('#dash-uptime .uptime-pct', (els) => Object.fromEntries(els.map((e) => [e.dataset.camera, e.textContent])));
  out.dashBars = await page.$$eval('#dash-uptime svg.chart.uptime rect[data-uptime]:not([data-uptime=""])', (rs) => rs.length);
  await page.$eval('#dash-uptime', (el) => el.scrollIntoView());
  await shot(page, 'dashboard-uptime');

  await page.goto(`${BASE_URL}/#/cameras`);
  await page.waitForSelector('#cameras-uptime .uptime-pct');
  out.camerasOverall = await page.textContent('#uptime-overall');
  await page.waitForSelector('table.data tbody tr button[data-action="uptime"]');
  await page.click('table.data tbody tr:has-text("cam-north-in") button[data-action="uptime"]');
  await page.waitForSelector('#camera-uptime svg.chart.uptime');
  out.cameraDialog = await page.textContent('#camera-uptime-24h');
  await shot(page, 'property-cameras-uptime');
  await page.keyboard.press('Escape');
  await logout(page);

  // The guard: 今日访客 beside the alert wall, and the visitors view.
  await login(page, 'guard');
  await page.waitForSelector(`#today-visitors [data-pass="${USED}"]`);
  out.guardWall = await page.textContent('#today-visitors');
  await shot(page, 'guard-alerts-today-visitors');
  await page.goto(`${BASE_URL}/#/visitors`);
  await page.waitForSelector(`#passes tr[data-id="${USED}"]`);
  out.guardRows = await page.$$eval('#passes tbody tr', (trs) => trs.map((tr) => tr.textContent));
  out.guardVisits = await page.$$eval('#visits tbody tr', (trs) => trs.length);
  await shot(page, 'guard-visitors');
  assert(out.usedState, 'used pass shown');
  return out;
});
