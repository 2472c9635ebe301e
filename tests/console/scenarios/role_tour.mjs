// Audit tour: each role opens every view its navigation offers and every view it must not see.
// Records error messages a view shows, views that never finish rendering, and screenshots each
// view (<prefix>-<role>-<route>.png, 1366×768) so a reviewer can look at all of them.
import { BASE_URL, login, logout, navTexts, newPage, scenario, shot } from './lib.mjs';

const ALL_ROUTES = JSON.parse(process.env.ALL_ROUTES);
const PREFIX = process.env.TOUR_PREFIX || 'tour';

scenario(async ({ context }) => {
  const page = await newPage(context);
  const out = { seen: {}, errors: {}, forbidden: {}, apiDenied: {} };
  const denied = [];
  page.on('response', (res) => {
    if (res.url().includes('/api/v1/') && res.status() === 403) denied.push(new URL(res.url()).pathname);
  });
  for (const role of ['admin', 'property_manager', 'guard', 'police', 'grid_worker']) {
    await login(page, role);
    const routes = await navTexts(page);
    out.seen[role] = routes;
    for (const route of routes) {
      denied.length = 0;
      await page.goto(`${BASE_URL}/#/${route}`);
      await page.waitForSelector(`.view[data-route="${route}"][data-ready="1"]`);
      await page.waitForLoadState('networkidle');
      const errs = await page.$$eval('.view .errors, .view .empty.errors', (es) => es.map((e) => e.textContent.trim()).filter(Boolean));
      if (errs.length) out.errors[`${role}:${route}`] = errs;
      if (denied.length) out.apiDenied[`${role}:${route}`] = [...new Set(denied)];
      out.buttons ||= {};
      out.buttons[`${role}:${route}`] = await page.$$eval('.view [data-action], .view #new-item', (bs) => [...new Set(bs.map((b) => b.dataset.action || b.id))]);
      await shot(page, `${PREFIX}-${role}-${route}`);
    }
    // Every view not in this role's navigation answers "not permitted".
    for (const route of ALL_ROUTES.filter((r) => !routes.includes(r))) {
      await page.goto(`${BASE_URL}/#/${route}`);
      await page.waitForSelector('#forbidden');
      (out.forbidden[role] ||= []).push(route);
    }
    await logout(page);
  }
  return out;
});
