// Issue 17, the console's side of self-service enrolment: a master opens enrolments for two
// users on the Distribution page (numbers and codes shown once), prints the slips (a page the
// server renders: group ID, number, code, the /enroll address), is refused for a user who holds
// a valid certificate (E-ENROLL-013 in the dialog) and reissues instead; an enrolment locked by
// 5 wrong codes at POST /api/enroll is reset from the page with a new code; one enrolled with a
// real CSR (OpenSSL) shows "key made by the holder" and no server file; the enrolment settings
// save and refuse 0 and 91 days at the field; the dashboard shows the self-renewal count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation, signIn } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
let browser;
let server;
const dataDir = newDataDir();

before(async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  await cliIn(dataDir, 'users', 'add', 'taro0001', '佐藤 太郎', 'sato@example.co.jp');
  await cliIn(dataDir, 'users', 'add', 'hanako02', '鈴木 花子', 'suzuki@example.co.jp');
  await cliIn(dataDir, 'users', 'add', 'jiro0003', '田中 次郎', 'tanaka@example.co.jp');
  // taro0001 holds a valid certificate (made on the server).
  await cliIn(dataDir, 'certs', 'issue', 'taro0001');
  browser = await launchBrowser();
  server = await startServer([], { dataDir });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** POST /api/enroll as the /enroll page's script does (same origin). */
async function enrol(body) {
  const r = await fetch(`${server.base}/api/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.base },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Ticks the users' boxes on the Distribution page. */
async function select(page, ...logins) {
  for (const login of logins) {
    await page.locator(`[data-testid=distribution-table] tr[data-login="${login}"] input[type=checkbox]`).check();
  }
}

/** Opens enrolments for the selection; returns the dialog. */
async function openEnrolments(page, { reissue = false } = {}) {
  await page.getByTestId('bulk-enrol').click();
  const dialog = page.getByTestId('dialog');
  if (reissue) await dialog.getByTestId('enrol-reissue').check();
  await dialog.getByTestId('enrol-open').click();
  await page.locator('[data-testid=enrol-result], [data-testid=dialog] .error-banner').first().waitFor();
  return dialog;
}

async function slipOf(dialog, login) {
  const row = dialog.locator(`[data-testid=enrol-slips] tr[data-login="${login}"]`);
  return {
    number: (await row.getByTestId('enrol-number').textContent()).trim(),
    code: (await row.getByTestId('enrol-code').textContent()).trim(),
    operation: await row.getAttribute('data-operation'),
  };
}

test('enrolment codes: open, print, refuse, reissue, lock and reset, holder key, settings, dashboard', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, PASSWORD);
  await page.goto(`${server.base}/distribution`);
  await hydrated(page);
  await page.getByTestId('enrol-none').waitFor();

  // Two users without certificates: no bundle or pickup for them, enrolment codes yes.
  await select(page, 'hanako02', 'jiro0003');
  assert.equal(await page.getByTestId('bulk-bundle').isDisabled(), true);
  assert.equal(await page.getByTestId('bulk-pickup').isDisabled(), true);
  let dialog = await openEnrolments(page);
  const hanako = await slipOf(dialog, 'hanako02');
  const jiro = await slipOf(dialog, 'jiro0003');
  for (const s of [hanako, jiro]) {
    assert.match(s.number, /^\d{4}-\d{4}-\d{4}$/);
    assert.match(s.code, /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    assert.equal(s.operation, 'issue');
  }
  assert.notEqual(hanako.code, jiro.code);

  // The printable slips: a page of the server, in a new tab.
  const [sheet] = await Promise.all([
    context.waitForEvent('page'),
    dialog.getByTestId('enrol-print').click(),
  ]);
  await sheet.waitForLoadState();
  assert.equal(await sheet.locator('section.slip').count(), 2);
  const slip = sheet.locator('section.slip[data-login="hanako02"]');
  assert.equal((await slip.locator('td.group-id').textContent()).trim(), 'G0001');
  assert.equal((await slip.locator('td.number').textContent()).trim(), hanako.number);
  assert.equal((await slip.locator('td.code').textContent()).trim(), hanako.code);
  assert.equal((await slip.locator('td.enrol-url').textContent()).trim(), `${server.base}/enroll`);
  assert.match(await slip.textContent(), /登録コード.*Enrolment code/s);
  assert.equal(await sheet.locator('button[data-print]').count(), 1);
  await sheet.close();

  // The mail goes out with the number, never the code.
  await dialog.getByTestId('enrol-mail').click();
  assert.match(await dialog.getByTestId('enrol-mailed').textContent(), /2/);
  await dialog.getByTestId('close-dialog').click();
  const listed = page.locator('[data-testid=enrol-table] tr[data-login="hanako02"]');
  await listed.waitFor();
  assert.equal(await listed.getAttribute('data-state'), 'open');
  assert.doesNotMatch(await page.getByTestId('enrol-table').textContent(), new RegExp(hanako.code));

  // taro0001 holds a valid certificate: refused with its code in the dialog, nothing opened.
  await select(page, 'taro0001');
  dialog = await openEnrolments(page);
  const refusal = dialog.locator('.error-banner');
  assert.equal(await refusal.getAttribute('data-code'), 'E-ENROLL-013');
  assert.match(await refusal.textContent(), /taro0001/);
  await dialog.getByTestId('close-dialog').click();
  assert.equal(await page.locator('[data-testid=enrol-table] tr[data-login="taro0001"]').count(), 0);

  // As a reissue it is opened.
  dialog = await openEnrolments(page, { reissue: true });
  const taro = await slipOf(dialog, 'taro0001');
  assert.equal(taro.operation, 'reissue');
  await dialog.getByTestId('close-dialog').click();
  await page.locator('[data-testid=enrol-table] tr[data-login="taro0001"]').waitFor();

  // 5 wrong codes lock hanako02's enrolment (each answered like an unknown number); then even
  // the right code is told "locked".
  for (let i = 0; i < 5; i++) {
    const r = await enrol({ group_id: 'G0001', number: hanako.number, code: 'AAAA-AAAA-AAAA', csr: 'AAAA' });
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.equal(r.body.code, 'E-ENROLL-002');
  }
  let r = await enrol({ group_id: 'G0001', number: hanako.number, code: hanako.code, csr: 'AAAA' });
  assert.equal(r.body.code, 'E-ENROLL-003');
  await page.reload();
  await hydrated(page);
  const locked = page.locator('[data-testid=enrol-table] tr[data-login="hanako02"]');
  assert.equal(await locked.getAttribute('data-state'), 'locked');
  await page.getByTestId('enrol-reset-hanako02').click();
  dialog = page.getByTestId('dialog');
  const again = await slipOf(dialog, 'hanako02');
  assert.equal(again.number, hanako.number);
  assert.notEqual(again.code, hanako.code);
  // Printable again.
  const [resheet] = await Promise.all([context.waitForEvent('page'), dialog.getByTestId('enrol-print').click()]);
  await resheet.waitForLoadState();
  assert.equal((await resheet.locator('td.code').textContent()).trim(), again.code);
  await resheet.close();
  await dialog.getByTestId('close-dialog').click();
  await page.locator('[data-testid=enrol-table] tr[data-login="hanako02"][data-state="open"]').waitFor();
  // The old code no longer opens it (a wrong code now), the new one gets as far as the request.
  r = await enrol({ group_id: 'G0001', number: hanako.number, code: hanako.code, csr: 'AAAA' });
  assert.equal(r.body.code, 'E-ENROLL-002');
  r = await enrol({ group_id: 'G0001', number: hanako.number, code: again.code, csr: 'AAAA' });
  assert.equal(r.body.code, 'E-ENROLL-006');

  // jiro0003 enrols with a key made elsewhere (OpenSSL here, the browser in real life): the
  // page then says the holder made the key and offers no server file.
  const dir = mkdtempSync(join(tmpdir(), 'certdesk-enrol-'));
  await promisify(execFile)('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'),
    '-subj', '/CN=ignored', '-outform', 'DER', '-out', join(dir, 'csr.der')]);
  const csr = readFileSync(join(dir, 'csr.der')).toString('base64');
  r = await enrol({ group_id: 'G0001', number: jiro.number, code: jiro.code.toLowerCase(), csr });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.login_id, 'jiro0003');
  const confirmed = await fetch(`${server.base}/api/enroll/confirm`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.base },
    body: JSON.stringify({ group_id: 'G0001', number: jiro.number, confirm_token: r.body.confirm_token }),
  });
  assert.equal(confirmed.status, 204);
  await page.reload();
  await hydrated(page);
  assert.equal(await page.locator('[data-testid=enrol-table] tr[data-login="jiro0003"]').getAttribute('data-state'), 'used');
  const jiroRow = page.locator('[data-testid=distribution-table] tr[data-login="jiro0003"]');
  await jiroRow.getByTestId('key-holder').waitFor();
  assert.match(await jiroRow.getByTestId('no-server-file').textContent(), /鍵は本人が作成/);
  assert.equal(await jiroRow.getByTestId('single-jiro0003').count(), 0);
  await select(page, 'jiro0003');
  assert.equal(await page.getByTestId('bulk-pickup').isDisabled(), true);

  // Settings: 0 and 91 days are refused at the field, 30 is saved.
  await page.goto(`${server.base}/settings`);
  await hydrated(page);
  const form = page.getByTestId('enrolment-settings-form');
  const days = form.locator('#field-enrolment_validity_days');
  assert.equal(await days.inputValue(), '14');
  for (const bad of ['0', '91']) {
    await days.fill(bad);
    await form.getByTestId('enrolment-settings-save').click();
    await form.locator('[data-testid=enrolment-validity-error] .error-code').waitFor();
    assert.equal((await form.locator('[data-testid=enrolment-validity-error] .error-code').textContent()).trim(), 'E-ENROLL-012');
  }
  await days.fill('30');
  await form.locator('#field-self_renewal').uncheck();
  await form.getByTestId('enrolment-settings-save').click();
  await form.getByTestId('enrolment-settings-saved').waitFor();
  await page.reload();
  await hydrated(page);
  assert.equal(await page.locator('#field-enrolment_validity_days').inputValue(), '30');
  assert.equal(await page.locator('#field-self_renewal').isChecked(), false);

  // The dashboard: how many holders renewed by themselves (none yet), with its label.
  await page.goto(`${server.base}/`);
  await hydrated(page);
  assert.equal((await page.getByTestId('self-renewed-count').textContent()).trim(), '0');
  assert.match(await page.getByTestId('self-renewed').textContent(), /利用者自身が更新した証明書/);
  await context.close();
});
