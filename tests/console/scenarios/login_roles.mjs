// Logs in as each role, records the navigation each one gets, screenshots its home view,
// switches to English and back, and checks that a guard cannot open the police queue.
import { BASE_URL, assert, login, logout, navTexts, newPage, scenario, shot } from './lib.mjs';

scenario(async ({ context }) => {
  const page = await newPage(context);
  const nav = {};
  const home = {};
  for (const role of ['admin', 'property_manager', 'guard', 'police', 'grid_worker']) {
    await login(page, role);
    nav[role] = await navTexts(page);
    home[role] = await page.evaluate(() => location.hash);
    assert((await page.textContent('#who-role')).length > 0, `${role}: role shown`);
    await shot(page, `home-${role}`);
    await logout(page);
  }

  // A wrong password is refused with a message, not a blank page.
  await page.fill('#login-username', 'guard_1');
  await page.fill('#login-password', 'wrong password');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  const loginError = await page.textContent('#login-error');

  // The guard: no police entries in the navigation, the queue route shows "not permitted",
  // and the API itself refuses the guard's token.
  await login(page, 'guard');
  await page.goto(`${BASE_URL}/#/review`);
  await page.waitForSelector('#forbidden');
  const forbiddenText = await page.textContent('#forbidden h1');
  await shot(page, 'guard-review-forbidden');
  const apiStatus = await page.evaluate(async () => {
    const siteId = sessionStorage.getItem('anju.site');
    const res = await fetch(`/api/v1/reconciliation/sites/${siteId}/candidates`, { headers: { Authorization: `Bearer ${sessionStorage.getItem('anju.token')}` } });
    return res.status;
  });

  // Language switch: English labels, then back to Chinese (remembered across reloads).
  await page.goto(`${BASE_URL}/#/alerts`);
  await page.waitForSelector('#alert-list');
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.querySelector('#nav a[data-route="alerts"] .label')?.textContent === 'Alert wall');
  const englishNav = await page.textContent('#nav a[data-route="alerts"] .label');
  await shot(page, 'guard-alerts-en');
  await page.reload();
  await page.waitForSelector('#nav');
  const stillEnglish = await page.evaluate(() => document.documentElement.lang);
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.querySelector('#nav a[data-route="alerts"] .label')?.textContent === '告警墙');
  const chineseNav = await page.textContent('#nav a[data-route="alerts"] .label');
  return { nav, home, loginError, forbiddenText, apiStatus, englishNav, stillEnglish, chineseNav };
});
