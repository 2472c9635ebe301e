// Console entry: login, the shell (top bar, role navigation) and hash routing.
import { login, session, setUnauthorisedHandler, site, sitesForUser } from './api.js';
import { initI18n, lang, setLang, t, tv } from './i18n.js';
import { canSee, homeFor, routesFor, ROUTES, watchesAlerts } from './roles.js';
import { clear, h, showError } from './ui.js';
import { feed } from './alertfeed.js';

const app = document.getElementById('app');
let cleanup = null;

function langSwitch() {
  const other = lang() === 'zh-CN' ? 'en' : 'zh-CN';
  return h('button', {
    type: 'button', class: 'btn small', id: 'lang-switch',
    onclick: async () => { await setLang(other); start(); },
  }, other === 'en' ? 'English' : '中文');
}

function renderLogin(message) {
  feed.stop();
  clear(app);
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', placeholder: t('login.username'), required: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', placeholder: t('login.password'), required: true });
  const err = h('div', { class: 'errors', id: 'login-error' }, message || '');
  const btn = h('button', { class: 'btn primary', type: 'submit', id: 'login-submit' }, t('login.submit'));
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      btn.disabled = true;
      try {
        const u = await login(user.value.trim(), pass.value);
        location.hash = `#/${homeFor(u.role)}`;
        start();
      } catch (ex) {
        err.textContent = ex.status === 401 || ex.status === 400 ? t('login.failed') : ex.message;
      } finally {
        btn.disabled = false;
      }
    },
  }, h('h1', {}, t('app.title')), user, pass, err, btn, h('div', { class: 'lang' }, langSwitch()));
  app.append(h('div', { class: 'login' }, form));
  user.focus();
}

let sites = [];

function siteSwitch() {
  if (sites.length === 0) return null;
  if (sites.length === 1) return h('span', { id: 'site-name' }, sites[0].name);
  return h('select', {
    id: 'site-switch',
    onchange: (e) => { site.set(e.target.value); feed.stop(); start(); },
  }, sites.map((s) => h('option', { value: s.id, selected: s.id === site.id }, s.name)));
}

function renderShell(user) {
  clear(app);
  const groups = {};
  for (const [route, group] of routesFor(user.role)) (groups[group] ||= []).push(route);
  const nav = h('nav', { class: 'nav', id: 'nav' }, Object.entries(groups).map(([g, routes]) => [
    h('div', { class: 'group' }, t(`nav.group.${g}`)),
    routes.map((r) => h('a', { href: `#/${r}`, dataset: { route: r } }, h('span', { class: 'label' }, t(`nav.${r}`)),
      r === 'alerts' ? h('span', { class: 'badge hidden', id: 'alert-badge' }) : null)),
  ]));
  const live = h('span', { class: 'live', id: 'live-dot', title: t('alerts.live') });
  const top = h('header', { class: 'topbar' },
    h('div', { class: 'brand' }, h('img', { src: '/console/favicon.svg', alt: '' }), t('app.title')),
    h('div', { class: 'who' },
      siteSwitch(),
      watchesAlerts(user.role) ? live : null,
      h('span', { id: 'who-name' }, user.display_name || user.full_name || user.username || ''),
      h('span', { class: 'tag', id: 'who-role' }, tv('role', user.role)),
      langSwitch(),
      h('button', { type: 'button', id: 'logout', onclick: () => { session.clear(); renderLogin(); } }, t('login.logout'))));
  const main = h('main', { class: 'main', id: 'main' });
  app.append(h('div', { class: 'shell' }, top, nav, main));
  if (watchesAlerts(user.role)) feed.start(live);
}

async function route() {
  const user = session.user;
  if (!user || !session.token) { renderLogin(); return; }
  const main = document.getElementById('main');
  if (!main) return;
  const [path, qs] = location.hash.replace(/^#\/?/, '').split('?');
  const name = path || homeFor(user.role);
  const params = new URLSearchParams(qs || '');
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.route === name));
  if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
  document.getElementById('toasts')?.replaceChildren();
  clear(main);
  const known = ROUTES.find(([r]) => r === name);
  if (!known || !canSee(user.role, name)) {
    main.append(h('div', { class: 'forbidden', id: 'forbidden' },
      h('h1', {}, known ? t('common.forbidden') : t('common.notFound')),
      h('p', { class: 'muted' }, known ? t('common.forbiddenHint') : ''),
      h('a', { href: `#/${homeFor(user.role)}` }, t('common.backHome'))));
    return;
  }
  document.title = `${t(`nav.${name}`)} · ${t('app.title')}`;
  // Each navigation renders into its own container: a slow view that finishes after the user
  // has moved on writes into a detached element instead of over the new view.
  const view = h('div', { class: 'view', dataset: { route: name } });
  main.append(view);
  try {
    const mod = await import(`./views/${known[2]}.js`);
    const done = (await mod.render(view, { user, route: name, params })) || null;
    view.dataset.ready = '1'; // the view's first render is complete (tests and screenshots wait on it)
    if (view.isConnected) cleanup = done;
    else if (done) done();
  } catch (err) {
    if (!view.isConnected) return;
    showError(err);
    view.append(h('div', { class: 'empty errors' }, err.message || String(err)));
  }
}

async function start() {
  await initI18n();
  const user = session.user;
  if (!user || !session.token) { renderLogin(); return; }
  try {
    sites = await sitesForUser(user);
  } catch { sites = []; }
  if (!site.id || !sites.some((s) => s.id === site.id)) site.set(sites[0]?.id);
  renderShell(user);
  await route();
}

setUnauthorisedHandler(() => { session.clear(); renderLogin(t('login.expired')); });
window.addEventListener('hashchange', route);
start();
