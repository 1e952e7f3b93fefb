// Issue 16 (items 3 and 4) in the browser: a console served under a LAN name asks for the
// one-time setup token on the setup page and is set up with it, every page hydrating under the
// Content-Security-Policy; and the harness's CSP watcher (which every spec runs under) does
// catch a violation, so a clean run means something.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, hydrated, assertNoCspViolations } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
let browser;
let server;

before(async () => {
  browser = await launchBrowser();
  server = await startServer([], { publicHost: 'certdesk.test' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a console reached from the LAN is set up only with the token serve printed', async () => {
  const tokenFile = join(server.dataDir, 'setup-token');
  const token = readFileSync(tokenFile, 'utf8').trim();
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.base}/`);
  assert.equal(new URL(page.url()).pathname, '/setup');
  await hydrated(page);
  const form = page.getByTestId('setup-form');
  assert.ok(await page.getByTestId('setup-token').isVisible(), 'the token field is shown');
  await page.fill('#field-org_name', '株式会社テスト商事');
  await page.fill('#field-group_id', 'G0001');
  await page.fill('#field-bank_code', '0001');
  await page.fill('#field-login_id', 'master01');
  await page.fill('#field-name', '山田 太郎');
  await page.fill('#field-email', 'taro@example.co.jp');
  await page.fill('#field-password', PASSWORD);
  await page.fill('#field-password_confirm', PASSWORD);
  // Without the token: refused next to its field, nothing created.
  await form.locator('button[type=submit]').click();
  await page.waitForSelector('#field-setup_token-error:has-text("E-SETUP-003")');
  assert.equal(new URL(page.url()).pathname, '/setup');
  // A wrong one.
  await page.fill('#field-setup_token', 'AAAAA-AAAAA-AAAAA-AAAAA');
  await form.locator('button[type=submit]').click();
  await page.waitForSelector('#field-setup_token-error:has-text("E-SETUP-004")');
  assert.ok(existsSync(tokenFile));
  // The right one: set up, signed in, the token file gone.
  await page.fill('#field-setup_token', token);
  await form.locator('button[type=submit]').click();
  await page.waitForURL(`${server.base}/`);
  await hydrated(page);
  assert.ok(!existsSync(tokenFile), 'the token is deleted after setup');
  // Every console page hydrates under the CSP (the watcher fails the test otherwise).
  for (const path of ['/users', '/certificates', '/distribution', '/audit', '/settings', '/']) {
    await page.goto(`${server.base}${path}`);
    await hydrated(page);
  }
  await context.close();
});

test('the CSP watcher catches an inline script the policy blocks', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.base}/login`);
  await hydrated(page);
  // Injected the way an XSS would be: an inline script element, which the policy refuses.
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__ran = true;';
    document.body.append(s);
  });
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => window.__ran === true), false, 'the inline script did not run');
  assert.throws(() => assertNoCspViolations(), /Content Security Policy|Refused/);
  await context.close();
});
