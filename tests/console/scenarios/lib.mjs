// Shared helpers for the console's browser scenarios: Debian's Chromium through playwright-core
// (never a downloaded browser), a fresh profile per run, 1366×768, and checks that the page
// made no request outside the central server (no CDN) and threw no script errors.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const BASE_URL = process.env.BASE_URL;
export const USERS = JSON.parse(process.env.USERS || '{}');
export const SCREENSHOTS = process.env.SCREENSHOTS || 'test-output/screenshots';
const origin = new URL(BASE_URL).origin;

export async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'anju-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1366, height: 768 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  const problems = [];
  context.on('request', (req) => {
    const u = req.url();
    if (u.startsWith('data:') || u.startsWith('blob:')) return;
    if (new URL(u).origin !== origin && !u.startsWith(origin.replace('http', 'ws'))) problems.push(`external request: ${u}`);
  });
  context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, problems, close };
}

export async function newPage(context) {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15000);
  return page;
}

export async function login(page, role, lang = null) {
  const [username, password] = USERS[role];
  await page.goto(`${BASE_URL}/`);
  if (lang) await page.evaluate((l) => localStorage.setItem('anju.lang', l), lang);
  if (lang) await page.reload();
  await page.fill('#login-username', username);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#nav');
  await page.waitForSelector('#main > *');
}

export async function logout(page) {
  await page.click('#logout');
  await page.waitForSelector('#login-username');
}

export async function shot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

export async function navTexts(page) {
  return page.$$eval('#nav a', (as) => as.map((a) => a.dataset.route));
}

/** Lines from the test process (pytest) on stdin, one at a time. */
const rl = readline.createInterface({ input: process.stdin });
const queue = [];
const waiters = [];
rl.on('line', (l) => { if (waiters.length) waiters.shift()(l); else queue.push(l); });
export function readLine() {
  return queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r));
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

/** Runs a scenario body; prints its result as the last JSON line, exits non-zero on failure. */
export async function scenario(body) {
  const env = await launch();
  let code = 0;
  try {
    const result = await body(env);
    assert(env.problems.length === 0, env.problems.join('\n'));
    process.stdout.write(`${JSON.stringify(result || {})}\n`);
  } catch (err) {
    process.stderr.write(`${err.stack || err}\n${env.problems.join('\n')}\n`);
    // What the page showed when it failed: a screenshot and the visible text.
    const page = env.context.pages()[0];
    if (page) {
      const name = path.basename(process.argv[1], '.mjs');
      await page.screenshot({ path: path.join(SCREENSHOTS, `failure-${name}.png`) }).catch(() => {});
      const text = await page.evaluate(() => document.body.innerText).catch(() => '');
      process.stderr.write(`--- page text ---\n${text.slice(0, 3000)}\n`);
    }
    code = 1;
  } finally {
    await env.close().catch(() => {});
    rl.close();
  }
  process.exit(code);
}
