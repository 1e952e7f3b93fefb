// Helpers of the self-service enrolment specs and bench (issue 17): opening an enrolment the
// way an administrator does, and enrolling through the real /enroll page as an employee does.
// (Not a test file: node --test runs only *.test.mjs.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cliIn, newDataDir, setUpOrganisation, startServer } from '../harness.mjs';

export const MASTER_PASSWORD = 'correct horse battery';

/**
 * Opens an enrolment for `loginId` as an operator does from the server's shell
 * (`certdesk certs enrol`, the same use case and audit entry as the Distribution page's
 * enrolment-code channel) and returns its slip: {groupId, number, code}.
 */
export async function openEnrolmentFor(dataDir, loginId) {
  const { stdout } = await cliIn(dataDir, 'certs', 'enrol', loginId);
  const [login, groupId, number, code] = stdout.trim().split('\t');
  assert.equal(login, loginId, stdout);
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
  if (keyType !== 'rsa2048') {
    // The issuing profile's key type, as the Settings page saves it (set before the server starts).
    sqlite(dataDir, `INSERT INTO issuing_profile (id, key_type, updated_at) VALUES (1, ?, ?)
      ON CONFLICT (id) DO UPDATE SET key_type = excluded.key_type`, keyType, new Date().toISOString().replace('Z', '000Z'));
  }
  const server = await startServer([], { dataDir });
  return { ...server, dataDir };
}

/** Runs one SQL statement with parameters on the data directory's database (python3's sqlite3). */
function sqlite(dataDir, sql, ...params) {
  const script = 'import sqlite3,sys\nc=sqlite3.connect(sys.argv[1],timeout=10)\nn=c.execute(sys.argv[2],sys.argv[3:]).rowcount\nc.commit()\nsys.exit(0 if n==1 else 1)';
  execFileSync('python3', ['-c', script, join(dataDir, 'certdesk.sqlite3'), sql, ...params]);
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
export async function enrolThroughThePage(page, base, { groupId, number, code, password, generated = false, dir, refusals = false }) {
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
    if (refusals) {
      // Refused in the page before anything is built: each next to its field, coded, ja + en.
      for (const [first, second, field, expected] of [
        ['short-1', 'short-1', 'password', 'E-DIST-001'],
        [password, `${password}x`, 'password2', 'E-WEB-008'],
      ]) {
        await page.fill('#password', first);
        await page.fill('#password2', second);
        await page.click('#save');
        const shown = page.locator(`.error[data-for="${field}"]:not([hidden])`);
        await shown.waitFor();
        assert.equal(await shown.getAttribute('data-code'), expected);
        assert.equal(await shown.locator('span[lang="ja"]').count(), 1);
        assert.equal(await shown.locator('span[lang="en"]').count(), 1);
      }
    }
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
