// Issue 16, items 6 and 7, as a staff PC's Chromium sees them: the release bundle (scripts/test
// runs the e2e suite against it) arrives brotli-compressed under hashed names with a year's
// cache lifetime; no page load meets a 404 (the icon is served). The size limit itself is
// scripts/test's check_bundle_size (gzip); the bytes on the wire are printed here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, hydrated } from '../harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the release bundle: hashed, brotli, cached for a year; no 404 on any page', async () => {
  const page = await (await browser.newContext()).newPage();
  const responses = [];
  page.on('response', (r) => responses.push(r));

  for (const path of ['/setup', '/pickup', '/login']) {
    await page.goto(`${server.base}${path}`);
    await hydrated(page);
  }
  const failed = responses.filter((r) => r.status() >= 400).map((r) => `${r.status()} ${r.url()}`);
  assert.deepEqual(failed, [], 'no request of a page load fails');

  const bundle = responses.filter((r) => new URL(r.url()).pathname.startsWith('/pkg/'));
  const names = [...new Set(bundle.map((r) => new URL(r.url()).pathname))].sort();
  assert.equal(names.length, 2, `one .js and one .wasm: ${names}`);
  for (const name of names) {
    assert.match(name, /^\/pkg\/certdesk\.[0-9a-f]{16}\.(js|wasm)$/, 'hashed names (the release bundle)');
  }
  let onTheWire = 0;
  for (const name of names) {
    const r = bundle.find((x) => new URL(x.url()).pathname === name);
    const headers = await r.allHeaders();
    assert.equal(headers['content-encoding'], 'br', `${name} is sent brotli-compressed`);
    assert.equal(headers['cache-control'], 'public, max-age=31536000, immutable', name);
    onTheWire += (await r.request().sizes()).responseBodySize;
  }
  console.log(`bundle on the wire (brotli): ${onTheWire} bytes`);
  assert.ok(onTheWire > 10_000, `${onTheWire} bytes`);

  // The icon, asked for by the browser itself (the .ico) and named by every page (the .svg).
  for (const icon of ['/favicon.ico', '/favicon.svg']) {
    const r = await page.request.get(`${server.base}${icon}`);
    assert.equal(r.status(), 200, icon);
  }
  assert.equal(await page.getAttribute('link[rel=icon]', 'href'), '/favicon.svg');
});
