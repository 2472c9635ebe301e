// The guard's remote door open: the 远程开门 button on the device status list asks for a reason
// (required), sends the audited command, and follows it until the door confirms it; the recent
// commands panel then lists it as executed.
import { BASE_URL, assert, login, newPage, scenario, shot } from './lib.mjs';

const REASON = '快递员送货，住户电话确认';

scenario(async ({ context }) => {
  const page = await newPage(context);
  await login(page, 'guard');
  await page.goto(`${BASE_URL}/#/devices`);
  const button = `button[data-door="${process.env.DEVICE_ID}"]`;
  await page.waitForSelector(`${button}:not([disabled])`);
  const label = (await page.textContent(button)).trim();
  await page.click(button);
  await page.waitForSelector('#open-reason');
  // Without a reason nothing is sent and the dialog stays open.
  await page.click('button[data-action="confirm-open"]');
  await page.waitForTimeout(300);
  assert(await page.isVisible('#open-reason'), 'the dialog stays open without a reason');
  await page.fill('#open-reason', REASON);
  await shot(page, 'guard-door-open-dialog');
  await page.click('button[data-action="confirm-open"]');
  await page.waitForSelector('.toast:has-text("开门指令已发送")');
  await page.waitForSelector('.toast:has-text("门已打开")', { timeout: 20000 });
  const toasts = await page.$$eval('.toast', (ts) => ts.map((t) => t.textContent));
  await page.goto(`${BASE_URL}/#/alerts`);
  await page.goto(`${BASE_URL}/#/devices`);
  await page.waitForSelector(`table.data tbody tr:has-text("${REASON}")`);
  const rows = await page.$$eval('table.data tbody tr', (trs) => trs.map((tr) => tr.textContent));
  await shot(page, 'guard-door-commands');
  return { label, toasts, rows };
});
