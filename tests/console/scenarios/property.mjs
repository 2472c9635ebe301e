// Property staff: enrol a person (consent first, then a photo with quality feedback), issue a
// visitor QR pass, import a spreadsheet with row errors, and place devices on the site plan.
import { BASE_URL, assert, login, newPage, scenario, shot } from './lib.mjs';

const env = process.env;

scenario(async ({ context }) => {
  const page = await newPage(context);
  await login(page, 'property_manager');
  const out = {};

  // --- enrolment: find the person, consent, a photo without a face, then a real one
  await page.goto(`${BASE_URL}/#/enrol`);
  await page.fill('#enrol-search', env.PERSON_NAME);
  await page.click(`button[data-person="${env.PERSON_ID}"]`);
  await page.waitForSelector('#consent-form');
  out.uploadBeforeConsent = await page.$('#enrol-file') !== null;
  await page.selectOption('#consent-form #f-method', 'paper');
  await page.fill('#consent-form #f-document_ref', 'TY-2026-0042');
  await page.check('#consent-form #f-agreed');
  await page.click('#consent-form button[type=submit]');
  await page.waitForSelector('#consent-ok');
  out.consentText = await page.textContent('#consent-ok');
  await page.setInputFiles('#enrol-file', env.PHOTO_BAD);
  await page.click('#enrol-upload');
  await page.waitForSelector('#quality-feedback', { timeout: 120000 });
  out.badOk = await page.getAttribute('#quality-feedback', 'data-ok');
  out.badText = await page.textContent('#quality-feedback');
  await shot(page, 'property-enrol-rejected');
  await page.setInputFiles('#enrol-file', env.PHOTO_GOOD);
  await page.click('#enrol-upload');
  await page.waitForSelector('#quality-feedback[data-ok="1"]', { timeout: 120000 });
  out.goodText = await page.textContent('#quality-feedback');
  await shot(page, 'property-enrol-accepted');

  // Bulk enrolment from a ZIP: a job with progress and a per-file report.
  await page.setInputFiles('#bulk-file', env.BULK_ZIP);
  await page.click('#bulk-start');
  await page.waitForSelector('#bulk-summary', { timeout: 120000 });
  out.bulkProgress = await page.getAttribute('#enrol-bulk [role=progressbar]', 'aria-valuenow');
  out.bulkText = await page.textContent('#enrol-bulk');
  await shot(page, 'property-bulk-enrolment');

  // --- visitor pass
  await page.goto(`${BASE_URL}/#/visitors`);
  await page.click('#new-visitor');
  await page.waitForSelector('#visitor-form');
  await page.fill('#visitor-form #f-name', '李访客');
  await page.fill('#visitor-form #f-phone', '13800138000');
  await page.fill('#visitor-form #f-purpose', '探亲');
  await page.click('button[data-action="issue-pass"]');
  await page.waitForSelector('#pass-card');
  await page.waitForFunction(() => {
    const img = document.querySelector('#pass-qr');
    return img && img.complete && img.naturalWidth > 100;
  });
  out.passId = await page.getAttribute('#pass-card', 'data-pass');
  out.passText = await page.textContent('#pass-card');
  out.qrSize = await page.$eval('#pass-qr', (img) => img.naturalWidth);
  out.canPrint = await page.$('button[data-action="print-pass"]') !== null;
  await shot(page, 'property-visitor-pass');
  await page.keyboard.press('Escape');
  await page.goto(`${BASE_URL}/#/dashboard`);

  // --- import with row errors (nothing written), then the corrected file
  await page.goto(`${BASE_URL}/#/import`);
  await page.waitForSelector('#import-start');
  await page.selectOption('#import-kind', 'persons');
  await page.setInputFiles('#import-file', env.CSV_BAD);
  await page.click('#import-start');
  await page.waitForSelector('#import-errors');
  out.importErrors = await page.$$eval('#import-errors tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  out.progress = await page.getAttribute('#import-progress', 'aria-valuenow');
  await shot(page, 'property-import-errors');
  await page.setInputFiles('#import-file', env.CSV_GOOD);
  await page.click('#import-start');
  await page.waitForSelector('#import-ok');
  out.importOk = await page.textContent('#import-ok');

  // --- registry views
  await page.goto(`${BASE_URL}/#/persons`);
  await page.waitForSelector('table.data');
  out.personsRows = await page.$$eval('table.data tbody tr', (trs) => trs.length);
  await shot(page, 'property-persons');
  // Withdraw 王小明's consent: the face template goes, a PIN/QR replaces it.
  await page.click(`tr[data-id="${env.PERSON_ID}"] button[data-action="withdraw"]`);
  await page.fill('#withdraw-reason', '本人要求撤回');
  await page.click('button[data-action="confirm-withdraw"]');
  await page.waitForSelector('#withdraw-result');
  out.withdrawText = await page.textContent('#withdraw-result');
  await shot(page, 'property-consent-withdrawn');
  await page.keyboard.press('Escape');
  // Vehicles: register a plate for the household, then put it on the watch list.
  await page.goto(`${BASE_URL}/#/vehicles`);
  await page.click('#new-item');
  await page.waitForSelector('#resource-form');
  await page.fill('#resource-form #f-plate', '浙A12345');
  await page.fill('#resource-form #f-color', '白');
  await page.click('button[data-action="save"]');
  await page.waitForSelector('#resource-form', { state: 'detached' });
  await page.fill('#search', '浙A12345');
  await page.waitForSelector('table.data tbody tr:has-text("浙A12345")');
  page.once('dialog', (d) => d.accept('被盗车辆协查'));
  await page.click('table.data tbody tr:has-text("浙A12345") button[data-action="watch"]');
  await page.waitForSelector('table.data tbody tr:has-text("浙A12345") .tag.high');
  await shot(page, 'property-vehicles');

  // Access rule: tenants through rings 1 and 3 on weekdays, 06:00-23:00.
  await page.goto(`${BASE_URL}/#/access-rules`);
  await page.click('#new-item');
  await page.waitForSelector('#resource-form');
  await page.fill('#resource-form #f-name', '租户工作日通行');
  await page.selectOption('#resource-form #f-subject_type', 'group');
  await page.fill('#resource-form #f-subject_value', 'tenant');
  await page.fill('#resource-form #f-rings', '1,3');
  await page.fill('#resource-form #f-weekdays', '0,1,2,3,4');
  await page.fill('#resource-form #f-start', '06:00');
  await page.fill('#resource-form #f-end', '23:00');
  await page.click('button[data-action="save"]');
  await page.waitForSelector('table.data tbody tr:has-text("租户工作日通行")');
  out.ruleRow = await page.textContent('table.data tbody tr:has-text("租户工作日通行")');
  await shot(page, 'property-access-rules');

  await page.goto(`${BASE_URL}/#/houses`);
  await page.waitForSelector('table.data');
  await shot(page, 'property-houses');
  // The rental house's QR (for the door; grid workers scan it on visits).
  await page.click('table.data tbody tr:has-text("502") button[data-action="qr"]');
  await page.waitForFunction(() => {
    const img = document.querySelector('#house-qr');
    return img && img.complete && img.naturalWidth > 50;
  });
  out.houseQr = await page.$eval('#house-qr', (img) => img.naturalWidth);
  await page.keyboard.press('Escape');

  // --- site plan: upload the plan image, place the camera and the door
  await page.goto(`${BASE_URL}/#/siteplan`);
  await page.setInputFiles('#plan-file', env.PLAN_IMAGE);
  await page.click('#plan-upload');
  await page.waitForSelector('#site-plan img');
  for (const [id, x, y] of [['camera:cam-north-in', 0.2, 0.3], ['door:door-north', 0.25, 0.35]]) {
    await page.click(`button[data-place="${id}"]`);
    await page.waitForSelector(`button.primary[data-place="${id}"]`);
    const box = await (await page.waitForSelector('#site-plan img')).boundingBox();
    await page.mouse.click(box.x + box.width * x, box.y + box.height * y);
    await page.waitForSelector(`#site-plan .marker[data-id="${id}"]`);
  }
  out.markers = await page.$$eval('#site-plan .marker', (ms) => ms.map((m) => [m.dataset.id, m.dataset.state]));
  await shot(page, 'property-siteplan');

  await page.goto(`${BASE_URL}/#/dashboard`);
  await page.waitForSelector('#ping-an');
  await page.waitForSelector('svg.chart');
  out.charts = await page.$$eval('svg.chart', (s) => s.length);
  await shot(page, 'property-dashboard');
  assert(out.passId, 'a pass was issued');
  return out;
});
