// Issue 17, the browser half alone: on the real /enroll page in Chromium, the enrolment bundle
// (enroll/, wasm) makes the key pair with WebCrypto for RSA-2048 and ECDSA P-256 and builds the
// PKCS#10 request; OpenSSL verifies the request (and refuses it once a byte of its signature is
// changed). A throwaway OpenSSL CA signs it, and the bundle builds the .p12 from the key it kept,
// offered as a download; tests/tools/check-p12.sh reads the downloaded file with OpenSSL, NSS and
// Python `cryptography`, in both profiles.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launchBrowser, startServer } from '../harness.mjs';

const CHECK_P12 = resolve(import.meta.dirname, '..', '..', 'tools', 'check-p12.sh');
const work = mkdtempSync(join(tmpdir(), 'certdesk-e2e-enroll-'));
let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const context = await browser.newContext({ acceptDownloads: true });
  page = await context.newPage();
  const response = await page.goto(`${server.base}/enroll`);
  assert.equal(response.status(), 200);
  // The form is there (http://127.0.0.1 counts as a secure context: no E-WEB-006).
  assert.equal(await page.locator('#refusal').count(), 0);
  await page.waitForSelector('#enroll:not([data-state="loading"])', { timeout: 30_000 });
  // A module import under the page's own policy: the bundle is same-origin and hashed.
  const bundle = await page.locator('#enroll').getAttribute('data-bundle-js');
  assert.match(bundle, /^\/enroll\/pkg\/certdesk_enroll(\.[0-9a-f]{16})?\.js$/);
  await page.evaluate(async () => {
    const root = document.getElementById('enroll');
    window.enrolment = await import(root.dataset.bundleJs);
    await window.enrolment.default({ module_or_path: root.dataset.bundleWasm });
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

function openssl(...args) {
  return spawnSync('openssl', args, { encoding: 'utf8' });
}

/** Makes the key in the page (kept as window.key) and returns its CSR's DER. */
async function makeCsr(keyType) {
  const der = await page.evaluate(async (t) => {
    window.key = await window.enrolment.make_key(t);
    return Array.from(await window.key.csr());
  }, keyType);
  return Buffer.from(der);
}

const caKey = join(work, 'ca.key');
const caPem = join(work, 'ca.pem');

for (const [keyType, expected] of [
  ['rsa2048', /Public-Key: \(2048 bit\)[\s\S]*Exponent: 65537[\s\S]*Signature Algorithm: sha256WithRSAEncryption/],
  ['ecdsa_p256', /Public-Key: \(256 bit\)[\s\S]*(ASN1 OID: prime256v1|NIST CURVE: P-256)[\s\S]*Signature Algorithm: ecdsa-with-SHA256/],
]) {
  test(`${keyType}: key and CSR made in Chromium, verified by OpenSSL; the .p12 read by three importers`, async () => {
    const csr = await makeCsr(keyType);
    const csrDer = join(work, `${keyType}.csr.der`);
    writeFileSync(csrDer, csr);
    const verified = openssl('req', '-inform', 'DER', '-in', csrDer, '-verify', '-noout', '-text');
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout + verified.stderr, /verify OK/);
    assert.match(verified.stdout, expected);
    assert.match(verified.stdout, /Subject: CN ?= ?certdesk self-service enrolment/);
    assert.match(verified.stdout, /Attributes:\s*\(none\)|Attributes:\s*a0:00/);

    // The same request with one bit of its signature (the last byte) changed: refused.
    const forged = Buffer.from(csr);
    forged[forged.length - 1] ^= 0x01;
    const forgedFile = join(work, `${keyType}.forged.der`);
    writeFileSync(forgedFile, forged);
    const refused = openssl('req', '-inform', 'DER', '-in', forgedFile, '-verify', '-noout');
    // (OpenSSL 3.0 exits 0 either way: the verdict is in what it prints.)
    assert.doesNotMatch(refused.stdout + refused.stderr, /verify OK/, 'a changed signature must not verify');
    assert.match(refused.stdout + refused.stderr, /verify failure|bad signature|error/i);

    // A throwaway CA signs the request; the page builds the .p12 with the key it kept.
    if (!existsSync(caPem)) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', caKey, '-out', caPem, '-subj', '/CN=e2e enrolment CA', '-days', '2'], { stdio: 'ignore' });
    }
    const csrPem = join(work, `${keyType}.csr.pem`);
    execFileSync('openssl', ['req', '-inform', 'DER', '-in', csrDer, '-out', csrPem]);
    const certDer = join(work, `${keyType}.cert.der`);
    execFileSync('openssl', ['x509', '-req', '-in', csrPem, '-CA', caPem, '-CAkey', caKey, '-set_serial', '7',
      '-days', '1', '-subj', '/CN=yamada', '-outform', 'DER', '-out', certDer], { stdio: 'ignore' });
    const caDer = execFileSync('openssl', ['x509', '-in', caPem, '-outform', 'DER']);
    const friendly = '山田 太郎 (yamada)';
    for (const [profile, password] of [['modern', 'Strong-pass 2026!'], ['compatible', 'パスワード-ok-123']]) {
      const download = page.waitForEvent('download');
      await page.evaluate(async ({ cert, ca, friendly, password, profile }) => {
        const file = await window.key.p12(new Uint8Array(cert), [new Uint8Array(ca)], friendly, password, profile);
        window.enrolment.offer_download(file, 'yamada.p12');
      }, { cert: Array.from(readFileSync(certDer)), ca: Array.from(caDer), friendly, password, profile });
      const saved = await download;
      assert.equal(saved.suggestedFilename(), 'yamada.p12');
      const file = join(work, `${keyType}.${profile}.p12`);
      await saved.saveAs(file);
      const checked = spawnSync(CHECK_P12, [file, password, friendly, profile], { encoding: 'utf8' });
      assert.equal(checked.status, 0, `check-p12.sh ${profile}:\n${checked.stdout}\n${checked.stderr}`);
    }
  });
}

test('the password rules and the generated password come from the domain rules', async () => {
  const seen = await page.evaluate(() => ({
    short: window.enrolment.check_password('short1!', 'short1!'),
    oneKind: window.enrolment.check_password('abcdefghijklmnop', 'abcdefghijklmnop'),
    differ: window.enrolment.check_password('Strong-pass 2026!', 'Strong-pass 2026?'),
    ok: window.enrolment.check_password('Strong-pass 2026!', 'Strong-pass 2026!'),
    generated: [window.enrolment.new_password(), window.enrolment.new_password()],
  }));
  assert.equal(seen.short.code, 'E-DIST-001');
  assert.equal(seen.short.field, 'password');
  assert.match(seen.short.ja, /12〜128文字/);
  assert.equal(seen.oneKind.code, 'E-DIST-001');
  assert.equal(seen.differ.code, 'E-WEB-008');
  assert.equal(seen.differ.field, 'password2');
  assert.match(seen.differ.en, /does not match/);
  assert.equal(seen.ok, null);
  for (const p of seen.generated) assert.match(p, /^[A-HJ-NP-Za-km-z2-9]{16}$/);
  assert.notEqual(seen.generated[0], seen.generated[1]);
});

test('an unknown key type is refused with E-WEB-007, nothing made', async () => {
  const err = await page.evaluate(async () => {
    try {
      await window.enrolment.make_key('rsa1024');
      return null;
    } catch (e) {
      return e;
    }
  });
  assert.equal(err.code, 'E-WEB-007');
  assert.match(err.en, /rsa1024/);
});
