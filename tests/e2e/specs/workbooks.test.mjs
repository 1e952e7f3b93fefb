// Issue 20 through the page and the command line: a workbook made by Python's openpyxl (a
// third-party producer, pinned and installed by scripts/lib.sh) with a cover sheet, the list on
// its second sheet, full-width login IDs and e-mails. The preview reads the list's sheet, offers
// the other, shows each folded value beside the original; the import records the folded values;
// the .xlsx export downloaded from the page re-imports to "no change" through the CLI; a
// UTF-16 「Unicode テキスト」 file imports like its UTF-8 twin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation, signIn } from '../harness.mjs';

const PASSWORD = 'correct horse battery';

let browser;
let server;
const dataDir = newDataDir();
const work = newDataDir();
const BOOK = join(work, '職員名簿.xlsx');

before(async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  execFileSync('python3', ['-c', `
import sys, openpyxl
wb = openpyxl.Workbook()
cover = wb.active
cover.title = "表紙"
cover["A1"] = "2026年度 職員名簿"
ws = wb.create_sheet("名簿")
ws.append(["ログインID", "氏名", "メールアドレス", "権限"])
ws.append(["ｋｏｂａｙａｓｈｉ０１", "小林 一郎", "kobayashi＠example.co.jp", "一般"])
ws.append(["000123", "髙橋 ゆう", "yu.takahashi@example.co.jp", "管理者"])
ws.append(["sato_hanako", "佐藤 花子", "hanako.sato@example.co.jp", "general"])
wb.save(sys.argv[1])
`, BOOK]);
  browser = await launchBrowser();
  server = await startServer([], { dataDir });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a workbook through the page: its list sheet, folded values shown, imported folded', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await signIn(page, server.base, PASSWORD);
  await page.goto(`${server.base}/users`);
  await hydrated(page);
  await page.getByTestId('users-table').waitFor();

  await page.getByTestId('import-file').setInputFiles(BOOK);
  await page.getByTestId('import-preview-button').click();
  await page.getByTestId('import-preview').waitFor();
  assert.equal(await page.getByTestId('import-encoding').textContent(), 'Excel (.xlsx)');
  assert.equal(await page.getByTestId('import-sheet-name').textContent(), '名簿');
  assert.deepEqual(await page.locator('[data-testid=import-sheet] option').allTextContents(), ['表紙', '名簿']);
  assert.equal(await page.getByTestId('import-problem-count').textContent(), '0');
  assert.equal(await page.getByTestId('import-adds').textContent(), '3');
  const folded = await page.locator('[data-testid=import-folded] li').allTextContents();
  assert.deepEqual(folded, [
    'A2 (ログインID): ｋｏｂａｙａｓｈｉ０１ → kobayashi01',
    'C2 (メールアドレス): kobayashi＠example.co.jp → kobayashi@example.co.jp',
  ]);
  assert.equal(await page.locator('[data-testid=import-rows] tr[data-login="000123"]').count(), 1, 'leading zeros kept');

  // Choosing the cover sheet previews it: it holds no user list, refused with its code.
  await page.getByTestId('import-sheet').selectOption('表紙');
  await page.locator('.error-banner', { hasText: 'E-CSV-005' }).waitFor();

  // Back to the list's sheet (preview again with no choice), import.
  await page.getByTestId('import-file').setInputFiles(BOOK);
  await page.getByTestId('import-preview-button').click();
  await page.locator('[data-testid=import-adds]', { hasText: '3' }).waitFor();
  await page.getByTestId('import-commit').click();
  await page.getByTestId('import-done').waitFor();
  await page.locator('[data-testid=users-table] tr[data-login="kobayashi01"]').waitFor();
  assert.equal(await page.locator('[data-testid=users-table] tr[data-login="000123"]').count(), 1);

  // The .xlsx export from the page, as a person downloads it.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-xlsx').click(),
  ]);
  const exported = join(work, 'certdesk-users.xlsx');
  await download.saveAs(exported);
  assert.equal(readFileSync(exported).subarray(0, 2).toString(), 'PK');
  await context.close();

  // Re-imported through the command line: no change.
  const { stdout } = await cliIn(dataDir, 'users', 'import', exported, '--yes');
  assert.match(stdout, /Excel \(\.xlsx\)/);
  assert.match(stdout, /Imported: 0 added, 0 updated, 4 unchanged\./);
});

test('the command line reads the workbook, its folded values, and refuses a bad cell by its name', async () => {
  const { stdout } = await cliIn(dataDir, 'users', 'import', BOOK, '--sheet', '名簿');
  assert.match(stdout, /sheet: 名簿/);
  assert.match(stdout, /A2 \(ログインID\): ｋｏｂａｙａｓｈｉ０１ → kobayashi01/);
  assert.match(stdout, /unchanged 3/);

  const bad = join(work, 'bad.xlsx');
  execFileSync('python3', ['-c', `
import sys, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
ws.append(["login_id", "name", "email", "role"])
ws.append([123456, "数 値", "n@example.co.jp", "general"])
wb.save(sys.argv[1])
`, bad]);
  await assert.rejects(cliIn(dataDir, 'users', 'import', bad, '--yes'), (e) => {
    assert.equal(e.code, 1);
    assert.match(e.stderr, /row 2, column A \(login_id\), cell A2: E-CSV-022/);
    return true;
  });
});

test('a UTF-16 「Unicode テキスト」 file imports like its UTF-8 twin', async () => {
  const rows = 'login_id\tname\temail\trole\r\nutf16user\t宇 十六\tu16@example.co.jp\tgeneral\r\n';
  const utf8 = join(work, 'twin-utf8.txt');
  const utf16 = join(work, 'twin-utf16.txt');
  writeFileSync(utf8, rows, 'utf8');
  writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(rows, 'utf16le')]));
  const a = await cliIn(dataDir, 'users', 'import', utf16, '--yes');
  assert.match(a.stdout, /UTF-16 LE \(BOM\)/);
  assert.match(a.stdout, /Imported: 1 added, 0 updated, 0 unchanged\./);
  const b = await cliIn(dataDir, 'users', 'import', utf8, '--yes');
  assert.match(b.stdout, /Imported: 0 added, 0 updated, 1 unchanged\./);
});
