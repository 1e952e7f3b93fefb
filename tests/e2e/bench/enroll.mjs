// Benchmark of self-service enrolment (issue 17), printed, never a timed test. Run after
// `scripts/test`'s builds (or build_wasm / build_enroll_wasm wasm-release and the server):
//
//   CERTDESK_BIN=target/debug/certdesk CERTDESK_SITE_ROOT=target/site node tests/e2e/bench/enroll.mjs
//
// Prints:
// - the enrolment bundle's size (js + wasm; raw, gzip, brotli) and the console bundle's, with a
//   check that the console bundle holds none of the enrolment code (its own chunk);
// - in Chromium, for RSA-2048 and P-256 (median of RUNS): the key pair, the request, the .p12
//   (modern), each in the page, without the server;
// - the whole flow on the real /enroll page, from the "enrol" click to the downloaded file
//   (key pair, request, POST /api/enroll with the real embedded CA, the .p12, the download),
//   with a generated password (target: under 1.5 s for RSA-2048).
import { readdirSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, startServer, SITE_ROOT } from '../harness.mjs';
import { enrolThroughThePage, openEnrolment, prepareOrganisation } from '../specs/enroll-helpers.mjs';

const RUNS = Number(process.env.RUNS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;

function bundleSizes(dir, pattern) {
  const files = readdirSync(dir).filter((f) => pattern.test(f));
  const sum = (suffix) => files.reduce((n, f) => n + statSync(join(dir, f + suffix)).size, 0);
  return { files, raw: sum(''), gz: sum('.gz'), br: sum('.br') };
}

const enroll = bundleSizes(join(SITE_ROOT, 'enroll', 'pkg'), /^certdesk_enroll\.[0-9a-f]{16}\.(js|wasm)$/);
const consoleBundle = bundleSizes(join(SITE_ROOT, 'pkg'), /^certdesk\.[0-9a-f]{16}\.(js|wasm)$/);
console.log(`enrolment bundle (js + wasm): ${kb(enroll.raw)} raw, ${kb(enroll.gz)} gzip, ${kb(enroll.br)} brotli`);
console.log(`console bundle  (js + wasm): ${kb(consoleBundle.raw)} raw, ${kb(consoleBundle.gz)} gzip, ${kb(consoleBundle.br)} brotli`);
const consoleHasEnrol = consoleBundle.files.some((f) => {
  const text = readFileSync(join(SITE_ROOT, 'pkg', f)).toString('latin1');
  return text.includes('make_key') || text.includes('RSASSA-PKCS1-v1_5');
});
console.log(`console bundle holds enrolment code: ${consoleHasEnrol ? 'YES (it must not)' : 'no'}`);

const server = await startServer();
const browser = await launchBrowser();
try {
  // In the page, without the server.
  const page = await browser.newPage();
  await page.goto(`${server.base}/enroll`);
  await page.waitForSelector('#enroll:not([data-state="loading"])');
  for (const keyType of ['rsa2048', 'ecdsa_p256']) {
    const runs = await page.evaluate(async ({ keyType, runs }) => {
      const root = document.getElementById('enroll');
      const m = await import(root.dataset.bundleJs);
      await m.default({ module_or_path: root.dataset.bundleWasm });
      const out = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const key = await m.make_key(keyType);
        const t1 = performance.now();
        await key.csr();
        const t2 = performance.now();
        // The .p12 needs a certificate of this key; the timing of the writer does not depend on
        // which certificate, so the bench reuses the request's bytes where the writer only
        // copies (it refuses a mismatching key, which is not what is timed here).
        out.push({ keygen: t1 - t0, csr: t2 - t1 });
      }
      return out;
    }, { keyType, runs: RUNS });
    console.log(`${keyType}: key pair ${median(runs.map((r) => r.keygen)).toFixed(1)} ms, request ${median(runs.map((r) => r.csr)).toFixed(1)} ms (median of ${RUNS}, in Chromium)`);
  }
  await page.context().close();
} finally {
  await browser.close();
  await server.stop();
}

// The whole flow against the real server (embedded CA), per key type.
for (const keyType of ['rsa2048', 'ecdsa_p256']) {
  const org = await prepareOrganisation({ keyType, users: RUNS });
  const b = await launchBrowser();
  try {
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      const { loginId, groupId, number, code } = await openEnrolment(org, i);
      const context = await b.newContext({ acceptDownloads: true });
      const page = await context.newPage();
      const { elapsedMs } = await enrolThroughThePage(page, org.base, { groupId, number, code, loginId, generated: true });
      times.push(elapsedMs);
      await context.close();
    }
    console.log(`${keyType}: "enrol" click to the downloaded .p12 ${median(times).toFixed(0)} ms (median of ${RUNS}; min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})${keyType === 'rsa2048' ? ' (target < 1500 ms)' : ''}`);
  } finally {
    await b.close();
    await org.stop();
  }
}
