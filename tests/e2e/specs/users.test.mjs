// Issue 3's scenario through the pages: upload a Shift_JIS file with Japanese names, see the
// preview with one deliberate error (row and column named, nothing written), fix the file,
// import, and find the users in the list with their names intact. Then the list's search and
// filters, and the same file again through the command line (no change).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
const fixtures = resolve(import.meta.dirname, '..', '..', 'fixtures');
const BAD = join(fixtures, 'users-sample-sjis-error.csv');
const GOOD = join(fixtures, 'users-sample-sjis.csv');
// The names in the fixture (tests/fixtures/README.md), as the list must show them.
const NAMES = JSON.parse(readFileSync(join(fixtures, 'users-sample.json'), 'utf8'));

let browser;
let server;
const dataDir = newDataDir();

before(async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  browser = await launchBrowser();
  server = await startServer([], { dataDir });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a Shift_JIS file: preview with one error, fix, import, names intact in the list', async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.base}/login`);
  await hydrated(page);
  await page.fill('#field-login_id', 'master01');
  await page.fill('#field-password', PASSWORD);
  await page.getByTestId('login-form').locator('button[type=submit]').click();
  await page.waitForURL(`${server.base}/`);

  await page.goto(`${server.base}/users`);
  await hydrated(page);
  await page.getByTestId('users-table').waitFor();
  assert.equal(await page.locator('[data-testid=users-table] tbody tr').count(), 1);

  // The file with one bad e-mail address: the preview names row 4, column 3, E-VAL-006.
  await page.getByTestId('import-file').setInputFiles(BAD);
  await page.getByTestId('import-preview-button').click();
  const preview = page.getByTestId('import-preview');
  await preview.waitFor();
  assert.equal(await page.getByTestId('import-encoding').textContent(), 'Shift_JIS (CP932)');
  assert.equal(await page.getByTestId('import-problem-count').textContent(), '1');
  const problem = page.locator('[data-testid=import-problems] tbody tr');
  assert.equal(await problem.count(), 1);
  assert.deepEqual(
    [await problem.getAttribute('data-row'), await problem.getAttribute('data-column'), await problem.getAttribute('data-code')],
    ['4', '3', 'E-VAL-006'],
  );
  assert.match(await problem.textContent(), /メールアドレス/);
  assert.ok(await page.getByTestId('import-commit').isDisabled(), 'a file with a problem cannot be imported');
  assert.equal(await page.locator('[data-testid=users-table] tbody tr').count(), 1, 'nothing written');

  // The fixed file: five rows to add, no problem; import; the list shows the names intact.
  await page.getByTestId('import-file').setInputFiles(GOOD);
  await page.getByTestId('import-preview-button').click();
  await page.locator('[data-testid=import-problem-count]', { hasText: '0' }).waitFor();
  assert.equal(await page.getByTestId('import-adds').textContent(), String(NAMES.length));
  await page.getByTestId('import-commit').click();
  await page.getByTestId('import-done').waitFor();
  await page.locator('[data-testid=users-table] tbody tr').nth(NAMES.length).waitFor();
  for (const { login_id, name } of NAMES) {
    assert.equal(await page.locator(`[data-testid=users-table] tr[data-login="${login_id}"] [data-testid=user-name]`).textContent(), name);
  }

  // Search by a Japanese name, and the role filter.
  await page.getByTestId('user-search').fill(NAMES[0].name.slice(0, 2));
  await page.locator('[data-testid=users-table] tbody tr').first().waitFor();
  assert.equal(await page.locator(`[data-testid=users-table] tr[data-login="${NAMES[0].login_id}"]`).count(), 1);
  await page.getByTestId('user-search').fill('');
  await page.getByTestId('role-filter').selectOption('master');
  await page.locator('[data-testid=users-table] tbody tr').nth(1).waitFor({ state: 'detached' });
  assert.equal(await page.locator('[data-testid=users-table] tbody tr').count(), 1);
  await page.getByTestId('role-filter').selectOption('');

  // The Audit log records the import with the file's hash.
  await page.goto(`${server.base}/audit`);
  await hydrated(page);
  assert.match(await page.locator('main').textContent(), /CSVからの一括登録/);
  await page.context().close();
});

test('the same file through the command line changes nothing', async () => {
  const { stdout } = await cliIn(dataDir, 'users', 'import', GOOD, '--yes');
  assert.match(stdout, /Shift_JIS \(CP932\)/);
  assert.match(stdout, /Imported: 0 added, 0 updated, 5 unchanged\./);
  // The bad file is refused with its row, column and code, and exit code 1.
  await assert.rejects(cliIn(dataDir, 'users', 'import', BAD, '--yes'), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stderr, /row 4, column C \(メールアドレス\), cell C4: E-VAL-006/);
    assert.match(e.stderr, /E-CSV-020/);
    return true;
  });
});

test('add with a field error shown under the field, edit, lock, and delete refused for the last master', async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.base}/login`);
  await hydrated(page);
  await page.fill('#field-login_id', 'master01');
  await page.fill('#field-password', PASSWORD);
  await page.getByTestId('login-form').locator('button[type=submit]').click();
  await page.waitForURL(`${server.base}/`);
  await page.goto(`${server.base}/users`);
  await hydrated(page);
  await page.getByTestId('users-table').waitFor();

  await page.getByTestId('add-user').click();
  const dialog = page.getByTestId('dialog');
  await dialog.locator('#field-login_id').fill('kimura01');
  await dialog.locator('#field-name').fill('木村 拓也');
  await dialog.locator('#field-email').fill('kimura@');
  await dialog.getByTestId('save-user').click();
  await dialog.locator('.field-invalid #field-email, .field-error:has-text("E-VAL-006")').first().waitFor();
  assert.match(await dialog.locator('.field-error').nth(2).textContent(), /E-VAL-006/);
  await dialog.locator('#field-email').fill('kimura@example.co.jp');
  await dialog.getByTestId('save-user').click();
  await dialog.waitFor({ state: 'detached' });
  await page.locator('tr[data-login="kimura01"] [data-testid=user-name]', { hasText: '木村 拓也' }).waitFor();

  // Edit the role; lock; the row shows it.
  await page.getByTestId('edit-kimura01').click();
  await dialog.getByTestId('role').selectOption('admin');
  await dialog.getByTestId('save-user').click();
  await dialog.waitFor({ state: 'detached' });
  await page.locator('tr[data-login="kimura01"][data-role="admin"]').waitFor();
  await page.getByTestId('lock-kimura01').click();
  await page.locator('tr[data-login="kimura01"][data-locked="true"]').waitFor();

  // The last master cannot be deleted: the error shows in the dialog.
  await page.getByTestId('delete-master01').click();
  await dialog.getByTestId('confirm-delete').click();
  await dialog.locator('.error-banner[data-code="E-AUTH-004"], .error-banner[data-code="E-USER-004"]').waitFor();
  await page.context().close();
});
