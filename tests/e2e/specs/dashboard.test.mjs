// Issue 4's scenario through the pages: certificates at known distances from expiry (issued
// by servers whose clocks are moved with the test-only flag), the dashboard's counts, a count
// followed to its filtered Certificates list, the chart without JavaScript, and "renew all in
// the window" watched until its progress finishes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, hydrated, cliIn, newDataDir, setUpOrganisation, signIn as signInAs } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
const dataDir = newDataDir();
let browser;
let server;

// Days of the server clock at which each user's certificate is issued; the dashboard is
// looked at on day 370, so with 366-day validity: old -4 days (expired), exp7 3 days,
// win 26 days (renewal window), val 366 days; rev is issued and revoked on day 370.
const FINAL_DAY = 370;
const ISSUE_ON = [
  [0, ['old00001']],
  [7, ['exp70001']],
  [30, ['win00001', 'win00002']],
  [FINAL_DAY, ['val00001', 'rev00001']],
];

before(async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await setUpOrganisation(dataDir);
  for (const login of ['old00001', 'exp70001', 'win00001', 'win00002', 'val00001', 'rev00001', 'none0001']) {
    await cliIn(dataDir, 'users', 'add', login, `利用者 ${login}`, `${login}@example.co.jp`);
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function api(base) {
  const r = await fetch(`${base}/api/sign_in`, {
    method: 'POST',
    headers: { origin: base, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login_id: 'master01', password: PASSWORD }),
  });
  assert.equal(r.status, 200);
  const cookie = r.headers.get('set-cookie').split(';')[0];
  return async (fn, body) => {
    const res = await fetch(`${base}/api/${fn}`, {
      method: 'POST',
      headers: { origin: base, cookie, 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
    assert.equal(res.status, 200, `${fn}: ${await res.clone().text()}`);
    return res.json();
  };
}

/** Runs a bulk operation for `logins` and waits until every user is done. */
async function runFor(call, logins, operation, reason = null) {
  const users = await call('certificate_overview');
  const ids = users.filter((u) => logins.includes(u.login_id)).map((u) => u.user_id);
  const job = await call('start_certificate_run', { user_ids: ids, operation, reason });
  for (;;) {
    const s = await call('certificate_run_status', { job_id: job });
    if (s.finished) {
      assert.equal(s.done, logins.length, JSON.stringify(s.items));
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function signIn(page) {
  return signInAs(page, server.base, PASSWORD);
}

const count = (page, bucket) => page.getByTestId(`count-${bucket}`).locator('.count').textContent();

test('dashboard counts, a count to its filtered list, the chart without JavaScript, renew all in the window', async () => {
  for (const [day, logins] of ISSUE_ON) {
    server = await startServer(['--test-clock-offset-days', String(day)], { dataDir });
    const call = await api(server.base);
    await runFor(call, logins, 'issue');
    if (day === FINAL_DAY) {
      await runFor(call, ['rev00001'], 'revoke', 'key_compromise');
    } else {
      await server.stop({ keepData: true });
    }
  }

  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page);

  // Each count, as the fixture was built.
  const expected = { valid: '1', window: '2', expiring7: '1', expired: '1', revoked: '1', none: '2' };
  for (const [bucket, n] of Object.entries(expected)) {
    assert.equal(await count(page, bucket), n, bucket);
  }
  assert.equal(await page.getByTestId('window-count').textContent(), '3');
  const upcoming = await page.getByTestId('upcoming').locator('tbody tr').evaluateAll(
    (rows) => rows.map((r) => [r.dataset.login, r.querySelector('[data-testid="days-left"]').textContent]));
  assert.deepEqual(upcoming.map((r) => r[0]).slice(0, 1).concat(upcoming.map((r) => r[0]).slice(1, 3).sort(), upcoming.map((r) => r[0]).slice(3)),
    ['exp70001', 'win00001', 'win00002', 'val00001']);
  assert.equal(upcoming[0][1], '2', 'a little under 3 days left');
  const chart = page.getByTestId('expiry-chart');
  assert.equal(await chart.getAttribute('role'), 'img');
  assert.equal(await chart.locator('rect.bar').count(), 57);

  // The window count leads to the Certificates page filtered to those users.
  await page.getByTestId('count-window').click();
  await page.waitForURL(`${server.base}/certificates?filter=window`);
  await page.getByTestId('filter-indicator').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="certificates-table"] tbody tr').length === 2);
  const rows = await page.locator('[data-testid="certificates-table"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.login));
  assert.deepEqual(rows, ['win00001', 'win00002']);
  await page.getByTestId('show-all').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="certificates-table"] tbody tr').length === 8);
  assert.equal(await page.getByTestId('filter-indicator').count(), 0);

  // Without JavaScript the dashboard is complete: counts and chart are in the server's HTML.
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  await noJs.addCookies(await context.cookies());
  const plain = await noJs.newPage();
  await plain.goto(`${server.base}/`);
  assert.equal(await plain.getByTestId('count-window').locator('.count').textContent(), '2');
  assert.equal(await plain.getByTestId('expiry-chart').locator('rect.bar').count(), 57);
  assert.match(await plain.locator('#expiry-chart-desc').textContent(), /: 4\./);
  await noJs.close();

  // Renew all in the window: progress per user until it finishes, then the counts move.
  await page.goto(`${server.base}/`);
  await hydrated(page);
  await page.getByTestId('renew-window').click();
  await page.getByTestId('window-confirm').getByTestId('confirm').click();
  const panel = page.getByTestId('run-panel');
  await panel.waitFor();
  await panel.getByTestId('run-finished').waitFor({ timeout: 60_000 });
  assert.equal(await panel.getByTestId('run-done').textContent(), '3');
  assert.equal(await panel.getByTestId('progress').getAttribute('value'), '3');
  const results = await panel.locator('li').evaluateAll((lis) => lis.map((li) => [li.dataset.login, li.dataset.status]));
  assert.deepEqual(results.sort(), [['exp70001', 'done'], ['win00001', 'done'], ['win00002', 'done']]);
  const href = await panel.getByTestId('run-csv').getAttribute('href');
  assert.match(href, /^\/bulk\/\d+\/result\.csv$/);
  const csv = await page.request.get(`${server.base}${href}`);
  assert.equal(csv.status(), 200);
  const text = (await csv.body()).toString('utf8');
  assert.ok(text.startsWith('\ufeff'), 'UTF-8 with BOM');
  assert.equal(text.trim().split('\r\n').length, 4, text);
  await page.waitForFunction(() => document.querySelector('[data-testid="count-valid"] .count')?.textContent === '4');
  assert.equal(await count(page, 'window'), '0');
  assert.equal(await count(page, 'expiring7'), '0');
  await panel.getByTestId('close-run').click();
  assert.equal(await page.getByTestId('window-banner').count(), 0);
  await context.close();
});
