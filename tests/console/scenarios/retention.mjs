// Admin: retention periods. Shorten a period for every site, give this site its own value,
// see an out-of-bounds value refused next to its field, read the audited history (old → new),
// then look at the view in English.
import { BASE_URL, assert, login, newPage, scenario, shot } from './lib.mjs';

const SITE = process.env.SITE_ID;

scenario(async ({ context }) => {
  const page = await newPage(context);
  await login(page, 'admin');
  const out = {};
  await page.goto(`${BASE_URL}/#/retention`);
  await page.waitForSelector('#retention-box[data-scope="*"] #retention-save');
  out.labels = await page.$$eval('#retention-box table.data tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
  out.ceiling = await page.getAttribute('#ret-pass_days', 'max');

  // Global: pass records 120 days.
  await page.fill('#ret-pass_days', '120');
  await page.fill('#retention-reason', '个人信息最小化');
  await page.click('#retention-save');
  await page.waitForSelector('#retention-history table.data');
  out.globalSource = await page.textContent('#retention-box tr[data-id="pass_days"] .tag');

  // Out of bounds: shown next to the field, nothing saved.
  await page.fill('#ret-stranger_days', '9999');
  await page.click('#retention-save');
  await page.waitForFunction(() => document.querySelector('#ret-err-stranger_days')?.textContent.length > 0);
  out.boundError = await page.textContent('#ret-err-stranger_days');

  // This site: 30 days for pass records.
  await page.selectOption('#retention-scope', SITE);
  await page.waitForSelector(`#retention-box[data-scope="${SITE}"] tr[data-id="delivery_days"]`);
  await page.waitForFunction(() => document.querySelector('#ret-pass_days')?.value === '120');
  await page.fill('#ret-pass_days', '30');
  await page.click('#retention-save');
  await page.waitForFunction(() => document.querySelector('#retention-box tr[data-id="pass_days"] .tag')?.classList.contains('src-site'));
  await page.waitForSelector(`#retention-history[data-scope="${SITE}"] table.data`);
  out.siteHistory = await page.$$eval('#retention-history table.data tbody tr', (trs) => trs.map((tr) => tr.textContent));
  out.deliveryDisabled = await page.isDisabled('#ret-delivery_days');
  await shot(page, 'admin-retention');

  await page.selectOption('#retention-scope', '');
  await page.waitForSelector('#retention-box[data-scope="*"]');
  await page.waitForFunction(() => document.querySelector('#ret-pass_days')?.value === '120');
  await page.waitForSelector('#retention-history[data-scope="*"] table.data');
  out.globalHistory = await page.$$eval('#retention-history table.data tbody tr', (trs) => trs.map((tr) => tr.textContent));
  await shot(page, 'admin-retention-global');

  await page.click('#lang-switch');
  await page.waitForFunction(() => document.querySelector('#nav a[data-route="retention"] .label')?.textContent !== '数据保留');
  await page.waitForSelector('#retention-save');
  out.english = await page.textContent('#retention-box');
  await shot(page, 'admin-retention-en');
  await page.click('#lang-switch');
  assert(out.siteHistory.length >= 1, 'site history shown');
  return out;
});
