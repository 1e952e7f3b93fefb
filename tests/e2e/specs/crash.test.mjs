// Crash safety: the server is killed (SIGKILL) in the middle of a bulk issue for 99 users,
// restarted on the same data directory, and resumes the run. At the end every user has
// exactly one valid certificate and every certificate the CA signed is in the database.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, cliIn, newDataDir } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
const dataDir = newDataDir();
let server;

after(async () => { await server?.stop(); });

async function signedInClient(base) {
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

test('a bulk run killed half-way resumes after restart without a second certificate for anyone', async () => {
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  await cliIn(dataDir, 'setup', '--org-name', 'Crash Test Co', '--group-id', 'G0001', '--bank-code', '0001',
    '--login-id', 'master01', '--name', 'Master', '--email', 'master@example.co.jp');
  for (let i = 1; i <= 98; i++) {
    const id = `user${String(i).padStart(3, '0')}`;
    await cliIn(dataDir, 'users', 'add', id, `User ${i}`, `${id}@example.co.jp`);
  }
  server = await startServer([], { dataDir });
  let call = await signedInClient(server.base);
  const users = await call('certificate_overview');
  assert.equal(users.length, 99);
  const job = await call('start_certificate_run', { user_ids: users.map((u) => u.user_id), operation: 'issue', reason: null });

  // Kill once some, but not all, users are done.
  let status;
  for (;;) {
    status = await call('certificate_run_status', { job_id: job });
    if (status.done >= 5) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await server.crash();
  assert.ok(status.done < 99, `killed half-way (done ${status.done})`);

  server = await startServer([], { dataDir });
  call = await signedInClient(server.base);
  const deadline = Date.now() + 120_000;
  do {
    await new Promise((r) => setTimeout(r, 200));
    status = await call('certificate_run_status', { job_id: job });
  } while (!status.finished && Date.now() < deadline);
  assert.ok(status.finished, 'the run was resumed and finished');
  assert.equal(status.failed, 0, JSON.stringify(status.items.filter((i) => i.status === 'failed')));
  assert.equal(status.done, 99);

  const after = await call('certificate_overview');
  const valid = after.filter((u) => u.current?.state === 'Valid');
  assert.equal(valid.length, 99, 'every user has a valid certificate');
  const serials = new Set(after.map((u) => u.current.serial));
  assert.equal(serials.size, 99);
  // One certificate per user in each history: nothing was issued twice.
  for (const u of after.slice(0, 10)) {
    const detail = await call('certificate_detail', { serial: u.current.serial });
    assert.equal(detail.history.length, 1, u.login_id);
  }
});
