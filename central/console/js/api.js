// The one place that talks to the central API (/api/v1). The server is the real
// access check: every call carries the bearer token and a 401 sends the user back
// to the login screen, a 403 is shown as "not permitted".
import { lang } from './i18n.js';

const BASE = '/api/v1';
const TOKEN_KEY = 'anju.token';
const USER_KEY = 'anju.user';

export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.describe(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
  /** Field-level messages from FastAPI/pydantic bodies: {field: message}. */
  get fields() {
    const out = {};
    if (Array.isArray(this.detail)) {
      for (const d of this.detail) {
        const loc = (d.loc || []).filter((p) => p !== 'body' && p !== 'query');
        out[loc.join('.') || '_'] = d.msg;
      }
    } else if (this.detail && Array.isArray(this.detail.fields)) {
      // Central's error body: {code, message, message_en, fields: [{field, message}]}
      for (const f of this.detail.fields) out[f.field] = f.message;
    } else if (this.detail && typeof this.detail === 'object' && this.detail.field) {
      out[this.detail.field] = this.detail.message || this.detail.msg || '';
    }
    return out;
  }
  static describe(detail) {
    if (!detail) return '';
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).filter((p) => p !== 'body').join('.')}: ${d.msg}`).join('; ');
    }
    if (detail.message) {
      const msg = lang() === 'en' && detail.message_en ? detail.message_en : detail.message;
      const fields = (detail.fields || []).map((f) => `${f.field}: ${f.message}`).join('; ');
      return fields ? `${msg} (${fields})` : msg;
    }
    return JSON.stringify(detail);
  }
}

let onUnauthorised = () => {};
// Why the officer is looking (sent as X-Anju-Reason; the API writes it to the audit log).
let reason = '';
export function setReason(text) { reason = (text || '').trim().slice(0, 500); }
export function setUnauthorisedHandler(fn) { onUnauthorised = fn; }

const SITE_KEY = 'anju.site';

/** The compound (site) the console works on; sent as site_id with every GET. */
export const site = {
  get id() { return sessionStorage.getItem(SITE_KEY); },
  set(id) { if (id) sessionStorage.setItem(SITE_KEY, id); else sessionStorage.removeItem(SITE_KEY); },
};

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get user() {
    const raw = sessionStorage.getItem(USER_KEY);
    return raw ? JSON.parse(raw) : null;
  },
  save(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    sessionStorage.removeItem(SITE_KEY);
  },
};

function query(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Low-level request. `body` may be an object (sent as JSON) or FormData. */
export async function request(method, path, { body, params: given, raw = false, auth = true } = {}) {
  let params = given;
  const headers = {};
  if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
  if (reason) headers['X-Anju-Reason'] = encodeURIComponent(reason);
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const url = path.startsWith('/') && !path.startsWith(BASE) ? BASE + path : path;
  if (method === 'GET' && auth && site.id && !(params && 'site_id' in params)) params = { ...(params || {}), site_id: site.id };
  const res = await fetch(url + query(params), { method, headers, body: payload });
  if (res.status === 401 && auth) {
    onUnauthorised();
  }
  if (!res.ok) {
    let detail = null;
    try {
      const j = await res.json();
      detail = j.detail ?? j;
    } catch {
      detail = res.statusText;
    }
    throw new ApiError(res.status, detail);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  return type.includes('json') ? res.json() : res.text();
}

export const get = (path, params) => request('GET', path, { params });
export const post = (path, body, params) => request('POST', path, { body, params });
export const put = (path, body) => request('PUT', path, { body });
export const patch = (path, body) => request('PATCH', path, { body });
export const del = (path) => request('DELETE', path);

/** Lists come as arrays or as {items, total}; always hand back the array. */
export function items(res) {
  if (Array.isArray(res)) return res;
  if (res && Array.isArray(res.items)) return res.items;
  if (res && Array.isArray(res.results)) return res.results;
  return [];
}

/** Fetches a binary resource with the token and returns an object URL (images, PNG passes, exports). */
export async function blobUrl(path, params) {
  const res = await request('GET', path, { params, raw: true });
  return URL.createObjectURL(await res.blob());
}

/** Downloads a file through the authenticated API (exports). */
export async function download(path, params, fallbackName) {
  const res = await request('GET', path, { params, raw: true });
  const cd = res.headers.get('content-disposition') || '';
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  const name = m ? decodeURIComponent(m[1]) : fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}

export async function login(username, password) {
  const res = await request('POST', '/auth/login', { body: { username, password }, auth: false });
  session.save(res.access_token, res.user);
  site.set(res.user.site_ids && res.user.site_ids.length ? res.user.site_ids[0] : null);
  return res.user;
}

/** Sites the user may switch between: their own, or every site for an admin. */
export async function sitesForUser(user) {
  let all = [];
  try {
    all = items(await request('GET', '/sites', { params: { site_id: undefined } }));
  } catch { /* names are a nicety; ids still work */ }
  const names = new Map(all.map((x) => [x.id, x.name]));
  const ids = user.role === 'admin' ? all.map((x) => x.id) : user.site_ids || [];
  return ids.map((id) => ({ id, name: names.get(id) || id }));
}

/** Uploads FormData with upload progress (0..1) reported; resolves with the JSON reply. */
export function upload(path, formData, { params, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const p = { ...(params || {}) };
    if (site.id && !('site_id' in p)) p.site_id = site.id;
    xhr.open('POST', BASE + path + query(p));
    if (session.token) xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
    if (reason) xhr.setRequestHeader('X-Anju-Reason', encodeURIComponent(reason));
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = xhr.responseText; }
      if (xhr.status === 401) onUnauthorised();
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body && (body.detail ?? body)));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network error'));
    xhr.send(formData);
  });
}

/** Polls GET /jobs/{id} until it finishes, reporting progress (0..1) on the way. */
export async function waitJob(jobId, onProgress, intervalMs = 400) {
  for (;;) {
    const job = await get(`/jobs/${jobId}`);
    const total = job.total || 0;
    // central's jobs count successes (done) and failures (failed) separately.
    const done = (job.done ?? job.processed ?? 0) + (job.failed ?? 0);
    const frac = job.progress ?? (total ? done / total : 0);
    onProgress(Math.max(0, Math.min(1, frac)), job);
    const st = String(job.status || job.state || '').toLowerCase();
    if (['done', 'finished', 'succeeded', 'success', 'completed', 'failed', 'error'].includes(st)) return job;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Opens the live alert WebSocket with the session token. */
export function alertSocket() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  return new WebSocket(`${proto}://${location.host}${BASE}/ws/alerts?token=${encodeURIComponent(session.token || '')}`);
}

let caps = null;
/** Which operations this server offers (from its OpenAPI document), e.g. has('POST', '/devices/{device_id}/open'). */
export async function capabilities() {
  if (!caps) {
    caps = fetch('/openapi.json').then((r) => (r.ok ? r.json() : { paths: {} })).then((doc) => {
      const set = new Set();
      for (const [p, ops] of Object.entries(doc.paths || {})) for (const m of Object.keys(ops)) set.add(`${m.toUpperCase()} ${p}`);
      return set;
    }).catch(() => new Set());
  }
  const set = await caps;
  return { has: (method, path) => set.has(`${method} ${BASE}${path}`) };
}
