// Issue 6's scenario through the pages: issue, renew (with the server's clock moved into the
// renewal window by the test-only flag), revoke with a reason, reissue, a bulk run over a
// selection with a result per user, and the detail view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation, signIn as signInAs } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
let browser;
let server;
const dataDir = newDataDir();

before(async () => {
  // Headless install: setup and users from the command line, before the server starts.
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  await cliIn(dataDir, 'users', 'add', 'taro0001', '佐藤 太郎', 'sato@example.co.jp');
  await cliIn(dataDir, 'users', 'add', 'hanako01', '鈴木 花子', 'suzuki@example.co.jp');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function signIn(page) {
  return signInAs(page, server.base, PASSWORD);
}

async function openCertificates(page) {
  await page.goto(`${server.base}/certificates`);
  await hydrated(page);
  await page.getByTestId('certificates-table').waitFor();
}

const row = (page, login) => page.locator(`tr[data-login="${login}"]`);

/** Runs an action from the dialog and returns the result line of `login`. */
async function run(page, button, login, reason) {
  await page.getByTestId(button).click();
  const dialog = page.getByTestId('dialog');
  await dialog.waitFor();
  if (reason !== undefined) await dialog.getByTestId('reason').selectOption(reason);
  await dialog.getByTestId('confirm').click();
  await dialog.getByTestId('run-finished').waitFor({ timeout: 30_000 });
  const line = dialog.locator(`li[data-login="${login}"]`);
  const result = { status: await line.getAttribute('data-status'), code: await line.getAttribute('data-code'), text: await line.textContent() };
  await dialog.getByTestId('close-dialog').click();
  await dialog.waitFor({ state: 'detached' });
  return result;
}

test('issue, renew inside the window, revoke, reissue, bulk and detail through the pages', async () => {
  server = await startServer([], { dataDir });
  let context = await browser.newContext();
  let page = await context.newPage();
  await signIn(page);
  await openCertificates(page);
  assert.equal(await row(page, 'taro0001').getAttribute('data-state'), 'none');

  // Issue.
  let r = await run(page, 'issue-taro0001', 'taro0001');
  assert.equal(r.status, 'done', r.text);
  await row(page, 'taro0001').and(page.locator('[data-state="valid"]')).waitFor();

  // Renewal is refused today: it opens 40 days before expiry, and the result says when.
  r = await run(page, 'renew-taro0001', 'taro0001');
  assert.deepEqual([r.status, r.code], ['failed', 'E-CERT-003']);
  assert.match(r.text, /更新は\d{4}-\d{2}-\d{2}から可能です/);
  await server.stop({ keepData: true });
  await context.close();

  // 330 days later (36 days before expiry) renewal is open.
  server = await startServer(['--test-clock-offset-days', '330'], { dataDir });
  context = await browser.newContext();
  page = await context.newPage();
  await signIn(page);
  await openCertificates(page);
  assert.equal(await row(page, 'taro0001').getByTestId('days-left').textContent(), '35');
  r = await run(page, 'renew-taro0001', 'taro0001');
  assert.equal(r.status, 'done', r.text);
  await row(page, 'taro0001').getByTestId('days-left').getByText('366').or(row(page, 'taro0001').getByTestId('days-left').getByText('365')).waitFor();

  // Revoke: without a reason the dialog shows E-CERT-008; with one, it is done.
  await page.getByTestId('revoke-taro0001').click();
  await page.getByTestId('dialog').getByTestId('confirm').click();
  await page.getByTestId('dialog').locator('.error-banner[data-code="E-CERT-008"]').waitFor();
  await page.getByTestId('close-dialog').click();
  r = await run(page, 'revoke-taro0001', 'taro0001', 'key_compromise');
  assert.equal(r.status, 'done', r.text);
  await row(page, 'taro0001').and(page.locator('[data-state="revoked"]')).waitFor();

  // Issue again, then reissue (revoke + issue in one step).
  r = await run(page, 'issue-taro0001', 'taro0001');
  assert.equal(r.status, 'done', r.text);
  await row(page, 'taro0001').and(page.locator('[data-state="valid"]')).waitFor();
  const before = await row(page, 'taro0001').locator('code').textContent();
  r = await run(page, 'reissue-taro0001', 'taro0001', 'superseded');
  assert.equal(r.status, 'done', r.text);
  await page.waitForFunction((old) => {
    const code = document.querySelector('tr[data-login="taro0001"] code');
    return code && code.textContent !== old;
  }, before);

  // Bulk over everyone: the master and hanako get certificates, taro already has one.
  await page.getByTestId('select-all').check();
  assert.equal(await page.getByTestId('selected-count').textContent(), '3');
  await page.getByTestId('bulk-issue').click();
  const dialog = page.getByTestId('dialog');
  await dialog.getByTestId('confirm').click();
  await dialog.getByTestId('run-finished').waitFor({ timeout: 30_000 });
  const results = await dialog.locator('li').evaluateAll((lis) => lis.map((li) => [li.dataset.login, li.dataset.status, li.dataset.code]));
  assert.deepEqual(results.sort(), [
    ['hanako01', 'done', ''],
    ['master01', 'done', ''],
    ['taro0001', 'failed', 'E-CERT-001'],
  ]);
  assert.equal(await dialog.getByTestId('progress').getAttribute('value'), '3');
  await dialog.getByTestId('close-dialog').click();

  // Detail view: subject, fingerprint, and the history of four certificates.
  await row(page, 'taro0001').locator('a').click();
  await page.getByTestId('certificate-detail').waitFor();
  assert.match(await page.getByTestId('subject').textContent(), /^O=\(0001\)株式会社テスト商事, OU=\(0001\)certdesk CA - G1, CN=taro0001 A004 \d{20}$/);
  assert.match(await page.getByTestId('fingerprint').textContent(), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const states = await page.getByTestId('history').locator('tbody tr td:nth-child(2)').allTextContents();
  assert.deepEqual(states, ['有効', '失効', '失効', '更新済み']);
  await context.close();
});
