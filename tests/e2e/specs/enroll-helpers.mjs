// Helpers of the self-service enrolment specs and bench (issue 17): opening an enrolment the
// way an administrator does, and enrolling through the real /enroll page as an employee does.
// (Not a test file: node --test runs only *.test.mjs.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cliIn, hydrated, launchBrowser, newDataDir, setUpOrganisation, signIn, startServer } from '../harness.mjs';

export const MASTER_PASSWORD = 'correct horse battery';

/**
 * Opens an enrolment for `loginId` and returns its slip: {groupId, number, code}.
 * Through the CLI (`certdesk enrolments open LOGIN_ID`), which prints the slip.
 */
export async function openEnrolmentFor(dataDir, loginId) {
  const { stdout } = await cliIn(dataDir, 'enrolments', 'open', loginId);
  const number = stdout.match(/(?:登録番号|number)\D*?([0-9][0-9-]{5,})/i)?.[1];
  const code = stdout.match(/(?:登録コード|code)[^A-Za-z0-9]*([A-Za-z0-9-]{6,})/i)?.[1];
  const groupId = stdout.match(/(?:グループID|group ID)[^A-Za-z0-9]*([A-Za-z0-9]+)/i)?.[1] ?? 'G0001';
  assert.ok(number && code, `an enrolment slip in:\n${stdout}`);
  return { groupId, number, code };
}

/** An organisation with `users` employees (emp0000...), served at http://127.0.0.1. */
export async function prepareOrganisation({ keyType = 'rsa2048', users = 1 } = {}) {
  process.env.CERTDESK_MASTER_PASSWORD = MASTER_PASSWORD;
  const dataDir = newDataDir();
  await setUpOrganisation(dataDir);
  for (let i = 0; i < users; i++) {
    await cliIn(dataDir, 'users', 'add', `emp${String(i).padStart(4, '0')}`, `社員 ${i}`, `emp${i}@example.co.jp`);
  }
  const server = await startServer([], { dataDir });
  if (keyType !== 'rsa2048') await setKeyType(server.base, keyType);
  return { ...server, dataDir };
}

/** A master sets the issuing profile's key type on the Settings page. */
export async function setKeyType(base, keyType) {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await signIn(page, base, MASTER_PASSWORD);
    await page.goto(`${base}/settings`);
    await hydrated(page);
    const form = page.getByTestId('profile-form');
    await form.locator('#field-key_type').selectOption(keyType);
    await form.locator('button[type=submit]').click();
    await form.getByTestId('profile-saved').waitFor();
  } finally {
    await browser.close();
  }
}

/** Opens the enrolment of the i-th employee of `prepareOrganisation`. */
export async function openEnrolment(org, i) {
  const loginId = `emp${String(i).padStart(4, '0')}`;
  return { loginId, ...(await openEnrolmentFor(org.dataDir, loginId)) };
}

/**
 * Enrols on `${base}/enroll` in `page` (a context that accepts downloads): types the slip,
 * clicks "enrol", then chooses a password (typed twice, or generated) and saves. Returns the
 * saved file, the password, the server's answer and the time from the click to the download.
 */
export async function enrolThroughThePage(page, base, { groupId, number, code, password, generated = false, dir }) {
  await page.goto(`${base}/enroll`);
  await page.waitForSelector('#enroll[data-state="ready"]', { timeout: 30_000 });
  await page.fill('#group_id', groupId);
  await page.fill('#number', number);
  await page.fill('#code', code);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/enroll') && r.request().method() === 'POST');
  const t0 = Date.now();
  await page.click('#enrol');
  await page.waitForSelector('#step-save:not([hidden])', { timeout: 30_000 });
  const issued = await (await answer).json();
  if (generated) {
    await page.check('input[name="password-choice"][value="generated"]');
    password = (await page.locator('#generated-password').textContent()).trim();
  } else {
    await page.fill('#password', password);
    await page.fill('#password2', password);
  }
  const download = page.waitForEvent('download');
  await page.click('#save');
  const saved = await download;
  const elapsedMs = Date.now() - t0;
  await page.waitForSelector('#enroll[data-state="done"]', { timeout: 30_000 });
  const file = dir ? join(dir, saved.suggestedFilename()) : null;
  if (file) await saved.saveAs(file);
  return { file, password, issued, elapsedMs, suggested: saved.suggestedFilename() };
}
