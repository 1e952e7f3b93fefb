// Issue 7's pickup flow through the pages: the admin opens a pickup on the Distribution page
// (number and password shown once); the user, not signed in, downloads the .p12 at /pickup,
// downloads it again within the window, and after the window (server restarted with the clock
// two days on) is refused with E-PICKUP-001. The downloaded file is checked by the three
// importers of tests/tools/check-p12.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
const CHECK = resolve(import.meta.dirname, '..', '..', 'tools', 'check-p12.sh');
let browser;
let server;
const dataDir = newDataDir();

before(async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  await cliIn(dataDir, 'users', 'add', 'taro0001', '佐藤 太郎', 'sato@example.co.jp');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Fills the pickup form and submits it; returns the download, or null when the page answered. */
async function pickUp(page, number, password) {
  await page.goto(`${server.base}/pickup`);
  await page.fill('#field-group_id', 'G0001');
  await page.fill('#field-number', number);
  await page.fill('#field-password', password);
  const download = page.waitForEvent('download', { timeout: 10_000 }).catch(() => null);
  // A navigation that turns into a download makes waitForURL fail: then only the download counts.
  const answered = page.waitForURL(/\/pickup\?error=/, { timeout: 10_000 }).then(() => null, () => new Promise(() => {}));
  await page.getByTestId('pickup-submit').click();
  return Promise.race([download, answered]);
}

test('pickup: first download, again within 24 hours, refused after the window', async () => {
  server = await startServer([], { dataDir });
  const admin = await (await browser.newContext({ acceptDownloads: true })).newPage();
  await admin.goto(`${server.base}/login`);
  await hydrated(admin);
  await admin.fill('#field-login_id', 'master01');
  await admin.fill('#field-password', PASSWORD);
  await admin.getByTestId('login-form').locator('button[type=submit]').click();
  await admin.waitForURL(`${server.base}/`);

  // Issue the certificate on the Certificates page.
  await admin.goto(`${server.base}/certificates`);
  await hydrated(admin);
  await admin.getByTestId('issue-taro0001').click();
  await admin.getByTestId('confirm').click();
  await admin.getByTestId('run-finished').waitFor({ timeout: 30_000 });
  await admin.getByTestId('close-dialog').click();

  // Open a pickup on the Distribution page: number and password appear once.
  await admin.goto(`${server.base}/distribution`);
  await hydrated(admin);
  const row = admin.locator('tr[data-login="taro0001"]');
  assert.equal(await row.getAttribute('data-has-key'), 'true');
  assert.match(await row.getByTestId('custody').textContent(), /保管中/);
  await row.locator('input[type=checkbox]').check();
  await admin.getByTestId('bulk-pickup').click();
  const result = admin.getByTestId('delivery-result');
  await result.waitFor();
  const number = (await result.getByTestId('pickup-number').textContent()).trim();
  const password = (await result.getByTestId('password').textContent()).trim();
  assert.match(number, /^\d{4}-\d{4}-\d{4}$/);
  assert.equal(password.length, 16);
  await admin.getByTestId('close-dialog').click();

  // The user, not signed in: a wrong password first, answered like an unknown number (one
  // answer for every refusal, so nothing can be probed).
  const user = await (await browser.newContext({ acceptDownloads: true })).newPage();
  assert.equal(await pickUp(user, number, 'wrong-password'), null);
  await user.locator('.error-banner[data-code="E-PICKUP-001"]').waitFor();
  assert.match(await user.locator('.error-banner').textContent(), /受け取れませんでした/);
  // The group ID and the number stay filled in (also once the page has hydrated), so only
  // the password is typed again; the password is neither kept nor in the address.
  await hydrated(user);
  assert.equal(await user.inputValue('#field-group_id'), 'G0001');
  assert.equal(await user.inputValue('#field-number'), number);
  assert.equal(await user.inputValue('#field-password'), '');
  assert.ok(!user.url().includes('wrong-password'), user.url());

  // First download, checked by OpenSSL, NSS and Python; the friendly name is the profile's.
  const first = await pickUp(user, number, password);
  assert.ok(first, 'the first download');
  assert.equal(first.suggestedFilename(), 'taro0001.p12');
  const file = join(dataDir, 'first.p12');
  await first.saveAs(file);
  await promisify(execFile)('bash', [CHECK, file, password, '株式会社テスト商事 taro0001', 'modern']);

  // Again within 24 hours.
  const second = await pickUp(user, number, password);
  assert.ok(second, `the second download within the window: ${user.url()}`);
  assert.equal(second.suggestedFilename(), 'taro0001.p12');

  // The Distribution page shows the key delivered and the pickup retrieved.
  await admin.reload();
  await hydrated(admin);
  assert.match(await admin.locator('tr[data-login="taro0001"] [data-testid=custody]').textContent(), /配付済み/);

  // Two days later: "not created yet or already retrieved", with its code.
  await server.stop({ keepData: true });
  server = await startServer(['--test-clock-offset-days', '2'], { dataDir });
  const late = await (await browser.newContext({ acceptDownloads: true })).newPage();
  assert.equal(await pickUp(late, number, password), null, 'no third download after the window');
  const banner = late.locator('.error-banner[data-code="E-PICKUP-001"]');
  await banner.waitFor();
  assert.match(await banner.textContent(), /受け取れませんでした/);
});
