// Admin: create a user with a role, add and edit an alert rule (with parameters), read the
// audit log with a filter and verify its hash chain; the sites list; retention.
import { BASE_URL, assert, login, newPage, scenario, shot } from './lib.mjs';

scenario(async ({ context }) => {
  const page = await newPage(context);
  await login(page, 'admin');
  const out = {};

  await page.goto(`${BASE_URL}/#/users`);
  await page.waitForSelector('table.data');
  await page.click('#new-item');
  await page.waitForSelector('#resource-form');
  await page.fill('#resource-form #f-username', 'guard_night');
  await page.fill('#resource-form #f-display_name', '夜班保安');
  await page.selectOption('#resource-form #f-role', 'guard');
  await page.fill('#resource-form #f-site_ids', process.env.SITE_ID);
  await page.fill('#resource-form #f-password', 'night shift password');
  await page.click('button[data-action="save"]');
  await page.waitForSelector('text=guard_night');
  out.users = await page.$$eval('table.data tbody tr', (trs) => trs.map((tr) => tr.textContent));
  await shot(page, 'admin-users');

  // Edit a user: move grid_worker_1 to the police role and switch the account off.
  await page.click('table.data tbody tr:has-text("grid_worker_1") button[data-action="edit"]');
  await page.waitForSelector('#resource-form #f-active');
  out.editHasUsername = (await page.$('#resource-form #f-username')) !== null;
  await page.selectOption('#resource-form #f-role', 'police');
  await page.uncheck('#resource-form #f-active');
  await page.click('button[data-action="save"]');
  await page.waitForSelector('table.data tbody tr:has-text("grid_worker_1"):has-text("社区民警")');
  out.editedRow = await page.textContent('table.data tbody tr:has-text("grid_worker_1")');
  await shot(page, 'admin-users-edited');

  // A form error is shown next to its field (the API's field-level message), nothing saved.
  await page.click('#new-item');
  await page.waitForSelector('#resource-form');
  await page.fill('#resource-form #f-username', 'x');
  await page.selectOption('#resource-form #f-role', 'guard');
  await page.fill('#resource-form #f-password', 'short');
  await page.click('button[data-action="save"]');
  await page.waitForFunction(() => [...document.querySelectorAll('#resource-form .err')].some((e) => e.textContent.length > 0));
  out.fieldErrors = await page.$$eval('#resource-form .err', (es) => es.map((e) => e.textContent).filter(Boolean));
  await page.keyboard.press('Escape');

  await page.goto(`${BASE_URL}/#/alert-rules`);
  await page.waitForSelector('#new-item');
  await page.click('#new-item');
  await page.waitForSelector('#resource-form');
  await page.fill('#resource-form #f-name', '一圈陌生人聚集');
  await page.selectOption('#resource-form #f-type', 'stranger');
  await page.selectOption('#resource-form #f-severity', 'medium');
  await page.fill('#resource-form #f-params', '{"ring": 1, "count": 3, "window_s": 600}');
  await page.click('button[data-action="save"]');
  await page.waitForSelector('text=一圈陌生人聚集');
  // Edit: raise the severity.
  await page.click('table.data tbody tr:has-text("一圈陌生人聚集") button[data-action="edit"]');
  await page.waitForSelector('#resource-form');
  await page.selectOption('#resource-form #f-severity', 'high');
  await page.click('button[data-action="save"]');
  await page.waitForSelector('table.data tbody tr:has-text("一圈陌生人聚集") .tag.high');
  out.rules = await page.$$eval('table.data tbody tr', (trs) => trs.map((tr) => tr.textContent));
  await shot(page, 'admin-alert-rules');

  await page.goto(`${BASE_URL}/#/audit`);
  await page.waitForSelector('#audit-actor');
  await page.waitForSelector('table.data');
  out.auditAll = await page.$$eval('table.data tbody tr', (trs) => trs.length);
  await page.fill('#audit-action', 'no-such-action');
  await page.dispatchEvent('#audit-action', 'change');
  await page.waitForSelector('.view .empty');
  await page.fill('#audit-action', 'create');
  await page.dispatchEvent('#audit-action', 'change');
  await page.waitForSelector('table.data');
  out.auditFiltered = await page.$$eval('table.data tbody tr', (trs) => trs.map((tr) => tr.children[3].textContent));
  await page.click('#audit-verify');
  await page.waitForSelector('#audit-chain .tag');
  out.chain = await page.textContent('#audit-chain');
  await shot(page, 'admin-audit');

  await page.goto(`${BASE_URL}/#/sites`);
  await page.waitForSelector('table.data');
  out.sites = await page.$$eval('table.data tbody tr', (trs) => trs.length);
  await page.goto(`${BASE_URL}/#/retention`);
  await page.waitForSelector('#retention-save');
  out.retention = await page.textContent('.view');
  await shot(page, 'admin-retention-first');
  assert(out.users.some((u) => u.includes('夜班保安')), 'new user listed');
  return out;
});
