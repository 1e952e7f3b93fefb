// Issue 18 through the pages: the master enrols a one-time password by reading the Base32
// secret from the page (codes computed here with node's HMAC-SHA-1, RFC 6238), sets the
// step-up window to 1 minute, signs out, signs in with password and code, and exports a
// bundle once the window has passed: the step-up dialog asks for a code and the export then
// runs without choosing the users again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation, signIn } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
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

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    assert.ok(i >= 0, `not Base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 with SHA-1, 6 digits, 30 s, for the step `delta` steps from now. */
function totp(secret, delta = 0) {
  const step = Math.floor(Date.now() / 1000 / 30) + delta;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[19] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

test('enrol, sign in with a code, export a bundle through the step-up dialog', { timeout: 240_000 }, async () => {
  server = await startServer([], { dataDir });
  const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  await signIn(page, server.base, PASSWORD);

  // Issue taro0001's certificate (no one-time password yet: no step-up).
  await page.goto(`${server.base}/certificates`);
  await hydrated(page);
  await page.getByTestId('issue-taro0001').click();
  await page.getByTestId('confirm').click();
  await page.getByTestId('run-finished').waitFor({ timeout: 30_000 });

  // Settings → One-time password: enrol with the secret read from the page.
  await page.goto(`${server.base}/settings`);
  await hydrated(page);
  await page.getByTestId('otp-link').locator('a').click();
  await page.waitForURL(`${server.base}/otp`);
  await hydrated(page);
  assert.equal(await page.getByTestId('otp-status').getAttribute('data-enrolled'), 'false');
  await page.getByTestId('otp-start').click();
  const secretText = (await page.getByTestId('otp-secret').textContent()).trim();
  assert.match(secretText, /^[A-Z2-7 ]{32,40}$/);
  assert.equal(await page.getByTestId('otp-qr').locator('svg').count(), 1, 'the QR code is inline SVG');
  const secret = base32Decode(secretText);
  await page.fill('[data-testid="otp-confirm-code"]', totp(secret));
  await page.getByTestId('otp-confirm').click();
  await page.getByTestId('otp-enrolled').waitFor();
  assert.equal(await page.getByTestId('recovery-codes').locator('li').count(), 10);

  // Step-up window: 1 minute (saved with the fresh code of the enrolment).
  await page.goto(`${server.base}/otp`);
  await hydrated(page);
  await page.fill('#otp-step-up', '1');
  await page.getByTestId('otp-settings').locator('button[type=submit]').first().click();
  await page.getByTestId('otp-settings').getByRole('status').first().waitFor();

  // Sign out, then sign in: the password, then the code (full-width digits are fine).
  await page.getByTestId('sign-out').click();
  await page.waitForURL(`${server.base}/login`);
  await hydrated(page);
  await page.fill('#field-login_id', 'master01');
  await page.fill('#field-password', PASSWORD);
  await page.getByTestId('login-form').locator('button[type=submit]').click();
  await page.getByTestId('otp-form').waitFor();
  // The enrolment used the current step; the next one is within the accepted skew.
  const wide = totp(secret, 1).replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d)));
  await page.fill('[data-testid="otp-code"]', wide);
  await page.getByTestId('otp-submit').click();
  await page.waitForURL(`${server.base}/`);
  await hydrated(page);
  const signedInAt = Date.now();

  // Once the window has passed, the bundle export asks for a code in a dialog.
  await page.goto(`${server.base}/distribution`);
  await hydrated(page);
  await page.locator('tr[data-login="taro0001"] input[type=checkbox]').check();
  await page.waitForTimeout(Math.max(0, signedInAt + 62_000 - Date.now()));
  await page.getByTestId('bulk-bundle').click();
  const dialog = page.getByTestId('step-up-dialog');
  await dialog.waitFor();
  await page.fill('[data-testid="step-up-code"]', totp(secret));
  await page.getByTestId('step-up-submit').click();
  const result = page.getByTestId('delivery-result');
  await result.waitFor({ timeout: 30_000 });
  assert.equal(await result.getAttribute('data-kind'), 'bundle');
  assert.equal(await dialog.count(), 0);
  await page.getByTestId('close-dialog').click();

  // The audit log has the enrolment, the code sign-in and the step-up.
  const audit = await page.request.post(`${server.base}/api/audit_log`, { headers: { origin: server.base } });
  assert.equal(audit.status(), 200);
  const actions = (await audit.json()).map((row) => row.action);
  for (const action of ['otp_enrol', 'otp_sign_in', 'otp_step_up', 'otp_settings_update', 'delivery_bundle']) {
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  }

  // The shell needs no one-time password: the last master's reset from the server's shell,
  // after which the password alone signs in again.
  const { stdout } = await server.cli('users', 'reset-otp', 'master01');
  assert.match(stdout, /Reset the one-time password of 'master01'/);
  await server.cli('users', 'add', 'hana0001', '鈴木 花子', 'hana@example.co.jp');
  await page.getByTestId('sign-out').click();
  await page.waitForURL(`${server.base}/login`);
  await signIn(page, server.base, PASSWORD);
});
