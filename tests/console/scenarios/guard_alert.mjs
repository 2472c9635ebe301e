// The guard's alert wall: waits for the live feed, then (when pytest has published a
// tailgating event through the gateway) measures how long the pop-up took to appear,
// checks the sound was played and the snapshot is shown, acknowledges it with a note and sees the wall update.
import { assert, login, newPage, readLine, scenario, shot } from './lib.mjs';

const NOTE = '已到北门核实：业主带访客进入，已补登记';

scenario(async ({ context }) => {
  const page = await newPage(context);
  await page.addInitScript(() => {
    window.__plays = 0;
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function countedPlay() { window.__plays += 1; return play.call(this); };
  });
  await login(page, 'guard');
  await page.waitForSelector('#live-dot[data-state="open"]');
  await page.waitForSelector('#device-status .tag');
  const deviceText = await page.textContent('#device-status');
  await page.evaluate(() => {
    window.__popupAt = null;
    new MutationObserver(() => {
      if (!window.__popupAt && document.querySelector('.popup[data-kind="tailgating"]')) window.__popupAt = Date.now();
    }).observe(document.getElementById('popups'), { childList: true, subtree: true });
  });
  await shot(page, 'guard-alert-wall');
  process.stdout.write('READY\n');

  const go = await readLine();
  const publishedAt = Number(go.split(' ')[1]);
  const popup = await page.waitForSelector('.popup[data-kind="tailgating"]', { timeout: 20000 });
  const popupAt = await page.evaluate(() => window.__popupAt);
  const title = await popup.$eval('h2', (e) => e.textContent);
  const evidence = await popup.$eval('.meta', (e) => e.textContent);
  const plays = await page.evaluate(() => window.__plays);
  // The edge attached a snapshot: the pop-up shows it (fetched with the token, as a blob: URL).
  await page.waitForFunction(() => {
    const img = document.querySelector('.popup[data-kind="tailgating"] img');
    return img && !img.classList.contains('hidden') && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 20000 });
  const snapshot = await popup.$eval('img', (e) => ({ src: e.src, width: e.naturalWidth, height: e.naturalHeight }));
  await shot(page, 'guard-tailgating-popup');

  await page.fill('.popup[data-kind="tailgating"] .ack-note', NOTE);
  await page.click('.popup[data-kind="tailgating"] .ack');
  await page.waitForSelector('.popup[data-kind="tailgating"]', { state: 'detached' });
  await page.selectOption('#alert-filter', 'all');
  const card = await page.waitForSelector('.alert-card.acked[data-kind="tailgating"]');
  const cardText = await card.textContent();
  assert(cardText.includes(NOTE), `acknowledged card shows the note: ${cardText}`);
  await shot(page, 'guard-alert-acknowledged');

  // A medium-severity alert (liveness failure) goes on the wall without a pop-up or sound.
  await page.selectOption('#alert-filter', 'open');
  process.stdout.write('READY2\n');
  await readLine();
  await page.waitForSelector('.alert-card[data-kind="liveness"]', { timeout: 20000 });
  const quietPopup = await page.$('.popup[data-kind="liveness"]');
  const playsAfter = await page.evaluate(() => window.__plays);
  const badge = await page.textContent('#alert-badge');
  await shot(page, 'guard-alert-wall-medium');

  // The feed drops (network blip, central restart): an urgent alert raised meanwhile still pops
  // up once the console reconnects and catches up.
  await page.evaluate(() => { window.anjuFeed.retry = 3000; window.anjuFeed.ws.close(); });
  await page.waitForSelector('#live-dot[data-state="closed"]');
  process.stdout.write('OFFLINE\n');
  await readLine();
  const late = await page.waitForSelector('.popup[data-kind="tailgating"]', { timeout: 30000 });
  const lateId = await late.getAttribute('data-id');
  await page.waitForSelector('#live-dot[data-state="open"]');
  return {
    latencyMs: popupAt - publishedAt, title, evidence, plays, snapshot, note: NOTE, cardText, deviceText,
    quietPopup: quietPopup !== null, quietPlays: playsAfter - plays, badge, lateId,
  };
});
