// Translations: zh-CN by default, English on request; the choice is remembered per browser.
// Dictionaries are flat JSON files served by central (no CDN).
const LANG_KEY = 'anju.lang';
export const LANGS = ['zh-CN', 'en'];
let dict = {};
let fallback = {};
let current = 'zh-CN';

async function fetchDict(lang) {
  const res = await fetch(`/console/i18n/${lang}.json`);
  if (!res.ok) throw new Error(`i18n ${lang}: HTTP ${res.status}`);
  return res.json();
}

export async function initI18n() {
  const saved = localStorage.getItem(LANG_KEY);
  current = LANGS.includes(saved) ? saved : 'zh-CN';
  fallback = await fetchDict('zh-CN');
  dict = current === 'zh-CN' ? fallback : await fetchDict(current);
  document.documentElement.lang = current;
}

export function lang() { return current; }

export async function setLang(next) {
  if (!LANGS.includes(next)) return;
  localStorage.setItem(LANG_KEY, next);
  await initI18n();
}

/** t('alerts.ack', {n: 3}) → the string with {n} replaced; unknown keys show the key itself. */
export function t(key, vars) {
  let s = dict[key] ?? fallback[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** Enumerated values (alert kinds, roles, statuses): a translation when known, else the raw value. */
export function tv(group, value) {
  if (value === null || value === undefined || value === '') return '';
  const key = `${group}.${value}`;
  const s = dict[key] ?? fallback[key];
  return s ?? String(value);
}

export function fmtTime(iso, withDate = true) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const opts = withDate
    ? { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
    : { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
  return d.toLocaleString(current, opts);
}
