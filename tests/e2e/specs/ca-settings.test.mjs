// Issue 5's Settings section through the pages: a bad CA URL is reported next to its field
// with E-CA-020 and nothing is saved; cfssl at a closed loopback port is saved, and "test
// connection" shows the settings step ok and the info step failed with E-CA-001; issuing on
// the Certificates page then fails with E-CA-001 in the dialog and leaves the user without a
// certificate; back on the built-in CA the same issue succeeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation, signIn as signInAs } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
let browser;
let server;
const dataDir = newDataDir();

before(async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  await cliIn(dataDir, 'users', 'add', 'taro0001', '佐藤 太郎', 'sato@example.co.jp');
  browser = await launchBrowser();
  server = await startServer([], { dataDir });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * A loopback port nothing listens on: checked free, then closed. It is picked below Linux's
 * ephemeral range (32768 and up), so a server that another test run starts on port 0 in the
 * meantime cannot take it over.
 */
async function closedPort() {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 20_000);
    const srv = createServer();
    const free = await new Promise((ok) => {
      srv.once('error', () => ok(false));
      srv.listen(port, '127.0.0.1', () => ok(true));
    });
    if (free) {
      await new Promise((ok) => srv.close(ok));
      return port;
    }
  }
}

function signIn(page) {
  return signInAs(page, server.base, PASSWORD);
}

async function openSettings(page) {
  await page.goto(`${server.base}/settings`);
  await hydrated(page);
  await page.getByTestId('ca-backend-form').waitFor();
}

async function openCertificates(page) {
  await page.goto(`${server.base}/certificates`);
  await hydrated(page);
  await page.getByTestId('certificates-table').waitFor();
}

/** Turns the language to `lang` with the header's switch (in place, no reload). */
async function switchLang(page, lang) {
  if ((await page.getAttribute('html', 'lang')) === lang) return;
  await page.getByTestId('lang-switch').click();
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
}

/** Fills the CA form (only the fields given) and saves it; returns the server's answer. */
async function saveCa(page, fields) {
  const form = page.getByTestId('ca-backend-form');
  if (fields.kind !== undefined) await form.locator('#field-kind').selectOption(fields.kind);
  for (const name of ['url', 'profile', 'auth_key']) {
    if (fields[name] !== undefined) await form.locator(`#field-${name}`).fill(fields[name]);
  }
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/save_ca_backend');
  await form.locator('button[type=submit]').click();
  const r = await answer;
  return { status: r.status(), body: await r.text() };
}

const row = (page, login) => page.locator(`tr[data-login="${login}"]`);

/** Runs an action from the dialog and returns the result line of `login`. */
async function run(page, button, login) {
  await page.getByTestId(button).click();
  const dialog = page.getByTestId('dialog');
  await dialog.waitFor();
  await dialog.getByTestId('confirm').click();
  await dialog.getByTestId('run-finished').waitFor({ timeout: 30_000 });
  const line = dialog.locator(`li[data-login="${login}"]`);
  const result = {
    status: await line.getAttribute('data-status'),
    code: await line.getAttribute('data-code'),
    text: await line.textContent(),
    progress: await dialog.getByTestId('progress-text').textContent(),
    barFailed: await dialog.getByTestId('progress').evaluate((p) => p.classList.contains('has-failures')),
  };
  await dialog.getByTestId('close-dialog').click();
  await dialog.waitFor({ state: 'detached' });
  return result;
}

test('a CA URL that is not http(s) is reported next to its field with E-CA-020, nothing saved', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page);
  await openSettings(page);
  const form = page.getByTestId('ca-backend-form');
  assert.equal(await form.locator('#field-kind').inputValue(), 'embedded', 'the built-in CA is the default');

  const answer = await saveCa(page, { kind: 'cfssl', url: 'ftp://x', profile: 'client' });
  assert.equal(answer.status, 422, answer.body);
  assert.equal(JSON.parse(answer.body).code, 'E-CA-020', answer.body);
  assert.equal(await page.getByTestId('ca-backend-saved').count(), 0, 'not shown as saved');

  // The error stands under the URL field, with its code and the Japanese remedy.
  const urlField = form.locator('.field', { has: page.locator('#field-url') });
  const urlError = urlField.locator('.field-error');
  try {
    await urlError.getByText('E-CA-020').waitFor({ timeout: 5_000 });
  } catch {
    assert.fail(`E-CA-020 is not shown next to the CA URL field (the server answered ${answer.body}; `
      + `the error lines on the page: ${JSON.stringify((await page.locator('.field-error, .error-banner').allTextContents()).filter((t) => t.trim()))})`);
  }
  assert.equal(await urlError.locator('.error-code').textContent(), 'E-CA-020');
  assert.match(await urlError.textContent(), /CAのURLは http:\/\/ または https:\/\/ で始めてください/);
  assert.match(await urlField.getAttribute('class'), /\bfield-invalid\b/);
  // Only that field: the profile was fine.
  const profileField = form.locator('.field', { has: page.locator('#field-profile') });
  assert.doesNotMatch(await profileField.getAttribute('class'), /\bfield-invalid\b/);
  assert.equal(await profileField.locator('.field-error').textContent(), '');

  // The same error in English after the language switch.
  await switchLang(page, 'en');
  await urlError.getByText('Start the CA URL with http:// or https://').waitFor();
  assert.equal(await urlError.locator('.error-code').textContent(), 'E-CA-020');
  await switchLang(page, 'ja');

  // Nothing was saved: after a reload the built-in CA is still chosen and the URL empty.
  await openSettings(page);
  assert.equal(await form.locator('#field-kind').inputValue(), 'embedded');
  assert.equal(await form.locator('#field-url').inputValue(), '');
  await context.close();
});

test('cfssl at a closed port: saved, test connection fails at info with E-CA-001, issuing fails, built-in CA issues again', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page);
  await openSettings(page);
  const form = page.getByTestId('ca-backend-form');

  // Save cfssl at a loopback port nothing listens on, profile "client", no HMAC key.
  const url = `http://127.0.0.1:${await closedPort()}`;
  const answer = await saveCa(page, { kind: 'cfssl', url, profile: 'client', auth_key: '' });
  assert.equal(answer.status, 200, answer.body);
  const saved = page.getByTestId('ca-backend-saved');
  await saved.waitFor();
  assert.equal((await saved.textContent()).trim(), '保存しました');
  assert.equal(await page.locator('.field-invalid').count(), 0);

  // The page shows the saved settings after a reload; the HMAC key is "not set".
  await openSettings(page);
  assert.equal(await form.locator('#field-kind').inputValue(), 'cfssl');
  assert.equal(await form.locator('#field-url').inputValue(), url);
  assert.equal(await form.locator('#field-profile').inputValue(), 'client');
  assert.equal(await form.locator('#field-auth_key').inputValue(), '');
  const keyField = form.locator('.field', { has: page.locator('#field-auth_key') });
  assert.equal(await keyField.locator('.hint').textContent(), '未設定です。');

  // Test connection: the settings are read, the info step cannot connect (E-CA-001), and
  // nothing after it is tried.
  await page.getByTestId('ca-test').click();
  const stepList = page.getByTestId('ca-test-steps');
  await stepList.waitFor({ timeout: 30_000 });
  const readSteps = () => stepList.locator('li').evaluateAll((lis) => lis.map((li) => ({
    step: li.dataset.step,
    label: li.querySelector('strong')?.textContent,
    failed: li.classList.contains('error'),
    code: li.querySelector('.error-code')?.textContent ?? null,
    text: li.textContent,
  })));
  let steps = await readSteps();
  assert.deepEqual(steps.map((s) => [s.step, s.failed, s.code]), [
    ['settings', false, null],
    ['info', true, 'E-CA-001'],
  ], JSON.stringify(steps));
  assert.match(steps[0].text, /成功/);
  assert.match(steps[0].text, /設定を読み込みました。/);
  assert.match(steps[1].text, /失敗/);
  assert.match(steps[1].text, /認証局\(CA\)に接続できませんでした\(接続を拒否されました\)。設定のCAのURL/);
  assert.deepEqual(steps.map((s) => s.label), ['設定', '接続とCA証明書'], 'steps are named for people');
  assert.doesNotMatch(steps[1].text, /os error|tcp connect|127\.0\.0\.1/, 'no library text in the message');
  assert.ok(await page.getByTestId('ca-test').isEnabled(), 'the button is usable again');

  // The same steps in English.
  await switchLang(page, 'en');
  await stepList.getByText(/Cannot connect to the CA/).waitFor();
  steps = await readSteps();
  assert.deepEqual(steps.map((s) => [s.step, s.failed, s.code]), [['settings', false, null], ['info', true, 'E-CA-001']]);
  assert.match(steps[0].text, /OK/);
  assert.match(steps[0].text, /Settings read\./);
  assert.match(steps[1].text, /Failed/);
  assert.match(steps[1].text, /Cannot connect to the CA \(connection refused\)\. Check the CA URL in Settings/);
  assert.deepEqual(steps.map((s) => s.label), ['Settings', 'Connection and CA certificate']);
  await switchLang(page, 'ja');

  // Issuing on the Certificates page now fails in the dialog with E-CA-001, in Japanese.
  await openCertificates(page);
  assert.equal(await row(page, 'taro0001').getAttribute('data-state'), 'none');
  let r = await run(page, 'issue-taro0001', 'taro0001');
  assert.deepEqual([r.status, r.code], ['failed', 'E-CA-001'], r.text);
  assert.match(r.text, /^taro0001 E-CA-001 認証局\(CA\)に接続できませんでした\(.+\)。設定のCAのURL/);
  assert.match(r.progress, /失敗: 1/);
  assert.match(r.progress, /: 0 \/ 1/);
  assert.ok(r.barFailed, 'the progress bar shows that an item failed');

  // No certificate for that user: the row (also after a reload) has none.
  assert.equal(await row(page, 'taro0001').getAttribute('data-state'), 'none');
  await openCertificates(page);
  const taro = row(page, 'taro0001');
  assert.equal(await taro.getAttribute('data-state'), 'none');
  assert.equal(await taro.getByTestId('state').textContent(), '未発行');
  assert.equal(await taro.locator('code').count(), 0, 'no serial');
  assert.equal(await page.locator('[data-testid=certificates-table] tr[data-state="valid"]').count(), 0);

  // Back to the built-in CA: saved, and the same issue succeeds.
  await openSettings(page);
  const back = await saveCa(page, { kind: 'embedded' });
  assert.equal(back.status, 200, back.body);
  await page.getByTestId('ca-backend-saved').waitFor();
  await openSettings(page);
  assert.equal(await form.locator('#field-kind').inputValue(), 'embedded');

  await openCertificates(page);
  r = await run(page, 'issue-taro0001', 'taro0001');
  assert.deepEqual([r.status, r.code], ['done', ''], r.text);
  assert.match(r.text, /[0-9a-f]{16,}/i, 'the new serial is shown');
  assert.ok(!r.barFailed, 'nothing failed: the bar keeps its normal colour');
  await row(page, 'taro0001').and(page.locator('[data-state="valid"]')).waitFor();
  await openCertificates(page);
  assert.equal(await row(page, 'taro0001').getAttribute('data-state'), 'valid');
  assert.equal(await row(page, 'taro0001').getByTestId('state').textContent(), '有効');

  // The audit log has the two changes of the CA (the refused URL changed nothing).
  await page.goto(`${server.base}/audit`);
  await hydrated(page);
  const actions = await page.locator('[data-testid=audit-table] tbody tr').evaluateAll(
    (rows) => rows.map((tr) => tr.getAttribute('data-action')));
  assert.equal(actions.filter((a) => a === 'ca_backend_update').length, 2, JSON.stringify(actions));
  await context.close();
});
