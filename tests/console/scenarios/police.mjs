// Community police: the review queue with evidence, confirm a candidate occupant (registering the
// person and sending a grid-worker visit), then the tasks, trajectory search and 一标三实 export.
import { BASE_URL, assert, login, newPage, scenario, shot } from './lib.mjs';

scenario(async ({ context }) => {
  const page = await newPage(context);
  await login(page, 'police');
  const out = { home: await page.evaluate(() => location.hash) };
  const card = await page.waitForSelector('.candidate[data-kind="occupant"]');
  const id = await card.getAttribute('data-id');
  out.evidence = await card.textContent();
  out.thumbnail = await page.waitForFunction((cid) => {
    const img = document.querySelector(`#candidate-${cid} img`);
    return img && img.complete && img.naturalWidth > 0 ? img.naturalWidth : 0;
  }, id).then((h) => h.jsonValue()).catch(() => 0);
  await shot(page, 'police-review-queue');

  await page.click(`#candidate-${id} button[data-action="confirm"]`);
  await page.waitForSelector('#confirm-form');
  await page.fill('#confirm-form #f-name', '周实住');
  await page.selectOption('#confirm-form #f-kind', 'tenant');
  await page.selectOption('#confirm-form #f-follow_up', 'visit');
  await page.fill('#confirm-form #f-note', '走访核实：3号楼1单元租户，未登记');
  await shot(page, 'police-confirm-dialog');
  await page.click('button[data-action="confirm-candidate"]');
  await page.waitForSelector(`#candidate-${id}`, { state: 'detached' });
  await page.selectOption('#review-status', 'confirmed');
  await page.waitForSelector(`#candidate-${id}`);
  out.confirmedText = await page.textContent(`#candidate-${id}`);
  out.candidateId = id;

  await page.goto(`${BASE_URL}/#/tasks`);
  await page.waitForSelector('table.data');
  out.tasks = await page.$$eval('table.data tbody tr', (trs) => trs.map((tr) => tr.textContent));
  // The verification visit: scan the house's QR at the door (the scanner types the token).
  await page.fill('#visit-form #f-token', process.env.QR_TOKEN);
  await page.fill('#visit-form #f-occupants_reported', '2');
  await page.fill('#visit-form #f-note', '核实：租户周实住及其配偶');
  await page.click('#visit-form button[type=submit]');
  await page.waitForSelector('#visit-form #f-token[value=""], .view .empty');
  await page.waitForFunction(() => !document.querySelector('.view table.data') || document.querySelectorAll('.view table.data tbody tr').length === 0);
  out.tasksAfter = await page.$$eval('.view table.data tbody tr', (trs) => trs.map((tr) => tr.textContent));
  await shot(page, 'police-tasks');

  await page.goto(`${BASE_URL}/#/trajectory`);
  await page.fill('#query-reason', '核查实有人口');
  await page.fill('#person-search', '王大爷');
  await page.waitForFunction(() => document.querySelectorAll('button[data-person]').length === 1);
  await page.click('button[data-person]');
  await page.waitForSelector('#site-plan img');
  await page.waitForSelector('.view table.data');
  out.trajectory = await page.$$eval('.view table.data tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  out.pathDrawn = await page.$('#site-plan svg.path polyline') !== null;
  await shot(page, 'police-trajectory');

  await page.goto(`${BASE_URL}/#/export`);
  await page.selectOption('#export-set', 'persons');
  await page.selectOption('#export-format', 'csv');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-go')]);
  out.exportName = download.suggestedFilename();
  const file = await download.path();
  const fs = await import('node:fs');
  out.exportHead = fs.readFileSync(file, 'utf-8').slice(0, 2000);
  await shot(page, 'police-export');
  assert(out.exportHead.length > 0, 'export has content');
  return out;
});
