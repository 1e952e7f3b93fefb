// Issue 16 (built-in HTTPS and the check page) in Chromium: the console served over TLS with
// the embedded CA's server certificate, trusted by the browser through an NSS database holding
// certdesk's CA (no ignoreHTTPSErrors); a certificate issued and picked up over TLS; the check
// page (second TLS listener) with the .p12 presented through Playwright's clientCertificates:
// installed, old (after a reissue), none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { chromium } from 'playwright-core';
import { BIN, SITE_ROOT, hydrated, cliIn, newDataDir, setUpOrganisation } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
const dataDir = newDataDir();
const home = mkdtempSync(join(tmpdir(), 'certdesk-e2e-home-'));
let child;
let browser;
let base;
let check;
let caPem;

async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function waitForPort(port) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await new Promise((ok) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); ok(true); });
      s.once('error', () => ok(false));
    });
    if (up) return;
    if (child.exitCode !== null) throw new Error(`certdesk exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** /ca/ca.pem as an administrator fetches it on the first visit (before trusting anything). */
async function fetchCa(url) {
  return new Promise((ok, fail) => {
    https.get(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => ok(body));
    }).once('error', fail);
  });
}

before(async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  await cliIn(dataDir, 'users', 'add', 'taro0001', '佐藤 太郎', 'sato@example.co.jp');
  const port = await freePort();
  const checkPort = await freePort();
  base = `https://localhost:${port}`;
  check = `https://localhost:${checkPort}/check`;
  child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--public-url', base,
    '--check-listen', `127.0.0.1:${checkPort}`, '--site-root', SITE_ROOT], {
    env: { ...process.env, CERTDESK_DATA_DIR: dataDir, CERTDESK_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(port);
  await waitForPort(checkPort);
  caPem = await fetchCa(`${base}/ca/ca.pem`);
  assert.match(caPem, /BEGIN CERTIFICATE/);
  // Chromium on Linux trusts the NSS database in $HOME/.pki/nssdb: certdesk's CA goes there,
  // as a staff PC trusts it after installing /ca/ca.pem.
  const nss = join(home, '.pki', 'nssdb');
  mkdirSync(nss, { recursive: true });
  writeFileSync(join(home, 'ca.pem'), caPem);
  execFileSync('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password']);
  execFileSync('certutil', ['-A', '-d', `sql:${nss}`, '-n', 'certdesk CA', '-t', 'C,,', '-i', join(home, 'ca.pem')]);
  // Playwright presents client certificates through a TLS proxy inside this Node process,
  // which checks the server against Node's roots: give its contexts certdesk's CA as well
  // (still verified; Node 20 has no API to add a root to the defaults).
  const createSecureContext = tls.createSecureContext;
  tls.createSecureContext = (options = {}) =>
    createSecureContext({ ...options, ca: [...tls.rootCertificates, caPem] });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    env: { ...process.env, HOME: home },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

async function runAction(page, button, reason) {
  await page.getByTestId(button).click();
  const dialog = page.getByTestId('dialog');
  await dialog.waitFor();
  if (reason !== undefined) await dialog.getByTestId('reason').selectOption(reason);
  await dialog.getByTestId('confirm').click();
  await dialog.getByTestId('run-finished').waitFor({ timeout: 30_000 });
  await dialog.getByTestId('close-dialog').click();
  await dialog.waitFor({ state: 'detached' });
}

/** The check page as a browser presenting `pfx` (or nothing) sees it: data-verdict and h2. */
async function checkWith(pfx) {
  const options = pfx
    ? { clientCertificates: [{ origin: new URL(check).origin, pfxPath: pfx.file, passphrase: pfx.password }] }
    : {};
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const response = await page.goto(check);
  assert.equal(response.status(), 200);
  const verdict = await page.locator('body').getAttribute('data-verdict');
  const title = await page.locator('#verdict-ja').textContent();
  const text = await page.locator('body').textContent();
  await context.close();
  return { verdict, title, text };
}

test('console over HTTPS trusting certdesk CA, then the check page: installed, old, none', async () => {
  const context = await browser.newContext({ acceptDownloads: true, ignoreHTTPSErrors: false });
  const admin = await context.newPage();
  // Every request over TLS succeeds (the favicon is another change's business).
  const errors = [];
  admin.on('requestfailed', (r) => errors.push(`${r.url()}: ${r.failure()?.errorText}`));
  admin.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.url()}: ${r.status()}`);
  });
  await admin.goto(`${base}/login`);
  await hydrated(admin);
  await admin.fill('#field-login_id', 'master01');
  await admin.fill('#field-password', PASSWORD);
  await admin.getByTestId('login-form').locator('button[type=submit]').click();
  await admin.waitForURL(`${base}/`);
  await hydrated(admin);

  await admin.goto(`${base}/certificates`);
  await hydrated(admin);
  await runAction(admin, 'issue-taro0001');

  await admin.goto(`${base}/distribution`);
  await hydrated(admin);
  const row = admin.locator('tr[data-login="taro0001"]');
  await row.locator('input[type=checkbox]').check();
  await admin.getByTestId('bulk-pickup').click();
  const result = admin.getByTestId('delivery-result');
  await result.waitFor();
  const number = (await result.getByTestId('pickup-number').textContent()).trim();
  const pickupPassword = (await result.getByTestId('password').textContent()).trim();
  await admin.getByTestId('close-dialog').click();
  assert.deepEqual(errors, [], 'no failed request over TLS');

  // The user picks the .p12 up over TLS; the pickup page shows the check page's address.
  const userContext = await browser.newContext({ acceptDownloads: true });
  const user = await userContext.newPage();
  await user.goto(`${base}/pickup`);
  await hydrated(user);
  assert.equal((await user.getByTestId('check-page-url').textContent()).trim(), check);
  await user.fill('#field-group_id', 'G0001');
  await user.fill('#field-number', number);
  await user.fill('#field-password', pickupPassword);
  const download = user.waitForEvent('download');
  await user.getByTestId('pickup-submit').click();
  const file = join(home, 'taro0001.p12');
  await (await download).saveAs(file);
  await userContext.close();
  const pfx = { file, password: pickupPassword };

  let seen = await checkWith(pfx);
  assert.equal(seen.verdict, 'current', seen.text);
  assert.equal(seen.title, '証明書は正しくインストールされています');
  assert.match(seen.text, /taro0001/);

  // Reissued: the picked-up certificate is now the old one.
  await admin.goto(`${base}/certificates`);
  await hydrated(admin);
  await runAction(admin, 'reissue-taro0001', 'superseded');
  seen = await checkWith(pfx);
  assert.equal(seen.verdict, 'superseded', seen.text);
  assert.match(seen.text, /certmgr\.msc/);

  seen = await checkWith(null);
  assert.equal(seen.verdict, 'none', seen.text);
  assert.match(seen.text, /\.p12/);
  await context.close();
});
