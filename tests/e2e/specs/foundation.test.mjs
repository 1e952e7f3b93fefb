// Issue 2's scenario: setup -> sign out -> wrong password 5 times -> locked message ->
// unlock through the CLI -> sign in -> the language switch turns the page to English
// in place (a click handled by the hydrated wasm, not a form post or a reload).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, hydrated } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('setup, lockout, CLI unlock, sign-in and the language switch', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();

  // A fresh installation sends every page to the setup page.
  await page.goto(`${server.base}/audit`);
  assert.equal(new URL(page.url()).pathname, '/setup');
  await hydrated(page);
  assert.equal(await page.locator('h1').textContent(), '初期設定');

  // A wrong bank code is reported next to its field, with its code; nothing is created.
  const setupForm = page.getByTestId('setup-form');
  await page.fill('#field-org_name', '株式会社テスト商事');
  await page.fill('#field-group_id', 'G0001');
  await page.fill('#field-bank_code', '12a4');
  await page.fill('#field-login_id', 'master01');
  await page.fill('#field-name', '山田 太郎');
  await page.fill('#field-email', 'taro@example.co.jp');
  await page.fill('#field-password', PASSWORD);
  await page.fill('#field-password_confirm', PASSWORD);
  await setupForm.locator('button[type=submit]').click();
  const bankError = page.locator('#field-bank_code-error');
  await bankError.getByText('E-VAL-003').waitFor();
  assert.match(await bankError.textContent(), /金融機関コードは半角数字4桁/);
  assert.equal(await page.getAttribute('#field-bank_code', 'aria-invalid'), 'true');
  assert.equal(new URL(page.url()).pathname, '/setup');

  await page.fill('#field-bank_code', '0001');
  await setupForm.locator('button[type=submit]').click();
  await page.waitForURL(`${server.base}/`);
  await hydrated(page);
  assert.equal(await page.getByTestId('org-name').textContent(), '株式会社テスト商事');
  assert.match(await page.getByTestId('current-user').textContent(), /山田 太郎/);

  const cookie = (await context.cookies()).find((c) => c.name === 'certdesk_session');
  assert.ok(cookie, 'session cookie set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');

  // The setup page is gone for good.
  await page.goto(`${server.base}/setup`);
  assert.equal(new URL(page.url()).pathname, '/');

  // Sign out.
  await hydrated(page);
  await page.getByTestId('sign-out').click();
  await page.waitForURL(`${server.base}/login`);
  await hydrated(page);

  // Five wrong passwords: four "incorrect", the fifth locks for a while (until when is shown).
  const loginForm = page.getByTestId('login-form');
  const banner = loginForm.locator('.error-banner');
  for (let i = 1; i <= 5; i++) {
    await page.fill('#field-login_id', 'master01');
    await page.fill('#field-password', `wrong password ${i}`);
    await loginForm.locator('button[type=submit]').click();
    const expected = i < 5 ? 'E-AUTH-001' : 'E-AUTH-006';
    await loginForm.locator(`.error-banner[data-code="${expected}"]`).waitFor();
  }
  assert.match(await banner.textContent(), /一時的に閉塞中です(.+ まで、日本時間)/);

  // Locked: even the right password is refused.
  await page.fill('#field-password', PASSWORD);
  await loginForm.locator('button[type=submit]').click();
  await page.waitForTimeout(300);
  await loginForm.locator('.error-banner[data-code="E-AUTH-006"]').waitFor();
  assert.equal(new URL(page.url()).pathname, '/login');

  // The master's unlock, from the server's command line.
  const { stdout } = await server.cli('users', 'unlock', 'master01');
  assert.match(stdout, /Unlocked 'master01'/);

  await page.fill('#field-login_id', 'master01');
  await page.fill('#field-password', PASSWORD);
  await loginForm.locator('button[type=submit]').click();
  await page.waitForURL(`${server.base}/`);
  await hydrated(page);
  assert.equal(await page.locator('h1').textContent(), 'ダッシュボード');
  assert.equal(await page.getByTestId('users-total').textContent(), '1');

  // The language switch is handled in the browser: no navigation, no reload.
  await page.evaluate(() => { window.__noReload = 'still here'; });
  await page.getByTestId('lang-switch').click();
  await page.locator('h1', { hasText: 'Dashboard' }).waitFor();
  assert.equal(await page.evaluate(() => window.__noReload), 'still here');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.locator('nav.mainnav').getByText('Audit log').count(), 1);
  assert.equal(await page.getByTestId('sign-out').textContent(), 'Sign out');

  // The choice survives a reload (cookie), and the audit log recorded the whole story.
  await page.goto(`${server.base}/audit`);
  await hydrated(page);
  assert.equal(await page.locator('h1').textContent(), 'Audit log');
  const actions = await page.locator('[data-testid=audit-table] tbody tr').evaluateAll(
    (rows) => rows.map((r) => r.getAttribute('data-action')).reverse(),
  );
  assert.deepEqual(actions, [
    'setup', 'ca_create', 'crl_publish', 'sign_out',
    'sign_in', 'sign_in', 'sign_in', 'sign_in', 'sign_in', 'lock_temporary',
    'sign_in', 'unlock', 'sign_in',
  ]);
  await context.close();
});

test('a state-changing request from another site is refused with E-AUTH-005', async () => {
  const r = await fetch(`${server.base}/api/sign_in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
    body: 'login_id=master01&password=x',
  });
  assert.equal(r.status, 403);
  const body = await r.json();
  assert.equal(body.code, 'E-AUTH-005');
  assert.ok(body.message.ja.length > 0 && body.message.en.length > 0);
});
