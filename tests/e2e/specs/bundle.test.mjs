// Issue 16, items 6 and 7, as a staff PC's Chromium sees them: the release bundle (scripts/test
// runs the e2e suite against it) arrives brotli-compressed under hashed names with a year's
// cache lifetime; no page load meets a 404 (the icon is served). The pages staff open load
// only the main module, its glue and the lazy parts' loader; the master's pages (users,
// certificates, distribution, audit, settings) fetch their own parts when first shown, preloaded
// by the server on a direct load. The size limit itself is scripts/test's check_bundle_size
// (gzip); the bytes on the wire are printed here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, hydrated, newDataDir, setUpOrganisation, signIn } from '../harness.mjs';

const PASSWORD = 'correct horse battery';
let server;
let browser;
// A second installation, set up, for the master's lazy pages.
let console_;

before(async () => {
  server = await startServer();
  process.env.CERTDESK_MASTER_PASSWORD = PASSWORD;
  const dataDir = newDataDir();
  await setUpOrganisation(dataDir);
  console_ = await startServer([], { dataDir });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await console_?.stop();
});

/** Every /pkg/ response is a hashed release file sent brotli-compressed and cached for a year. */
async function assertReleaseFiles(responses, pattern) {
  const bundle = responses.filter((r) => new URL(r.url()).pathname.startsWith('/pkg/'));
  let onTheWire = 0;
  for (const r of bundle) {
    const name = new URL(r.url()).pathname;
    assert.match(name, pattern, 'hashed names (the release bundle)');
    const headers = await r.allHeaders();
    assert.equal(headers['content-encoding'], 'br', `${name} is sent brotli-compressed`);
    assert.equal(headers['cache-control'], 'public, max-age=31536000, immutable', name);
    onTheWire += (await r.request().sizes()).responseBodySize;
  }
  return { names: [...new Set(bundle.map((r) => new URL(r.url()).pathname))].sort(), onTheWire };
}

test('the release bundle: hashed, brotli, cached for a year; no 404 on any page', async () => {
  const page = await (await browser.newContext()).newPage();
  const responses = [];
  page.on('response', (r) => responses.push(r));

  // The pickup page, the one staff open (of a set-up installation; before setup every page
  // leads to /setup): the glue, the main module and the parts' loader only.
  await page.goto(`${console_.base}/pickup`);
  await hydrated(page);
  const { names, onTheWire } = await assertReleaseFiles(
    responses.splice(0), /^\/pkg\/(certdesk\.[0-9a-f]{16}\.(js|wasm)|__wasm_split\.[0-9a-f]{16}\.js)$/);
  assert.equal(names.length, 3, `the glue, the main module and the parts' loader: ${names}`);
  const hash = names[0].split('.')[1];
  assert.ok(names.every((n) => n.includes(`.${hash}.`)), `one hash names the bundle: ${names}`);
  console.log(`bundle on the wire (brotli): ${onTheWire} bytes`);
  assert.ok(onTheWire > 10_000, `${onTheWire} bytes`);

  // Setup and sign-in are lazy pages: their parts arrive the same way, under the same hash.
  for (const url of [`${server.base}/setup`, `${console_.base}/login`]) {
    await page.goto(url);
    await hydrated(page);
  }
  const later = await assertReleaseFiles(responses, new RegExp(`^/pkg/[\\w]+\\.${hash}\\.(js|wasm)$`));
  assert.ok(later.names.some((n) => n.startsWith('/pkg/split___setup_route')), `${later.names}`);
  const failed = responses.filter((r) => r.status() >= 400).map((r) => `${r.status()} ${r.url()}`);
  assert.deepEqual(failed, [], 'no request of a page load fails');

  // The icon, asked for by the browser itself (the .ico) and named by every page (the .svg).
  for (const icon of ['/favicon.ico', '/favicon.svg']) {
    const r = await page.request.get(`${server.base}${icon}`);
    assert.equal(r.status(), 200, icon);
  }
  assert.equal(await page.getAttribute('link[rel=icon]', 'href'), '/favicon.svg');
});

test("the master's pages fetch their own parts: on a direct load (preloaded) and on navigation", async () => {
  const page = await (await browser.newContext()).newPage();
  await signIn(page, console_.base, PASSWORD);
  const responses = [];
  page.on('response', (r) => responses.push(r));
  const part = /^\/pkg\/(chunk_\d+|split_\w+)\.[0-9a-f]{16}\.wasm$/;

  // A direct load of a lazy page: the server names its parts as preloads in the HTML, the page
  // hydrates (the mark comes only after its part arrived) and answers a click.
  await page.goto(`${console_.base}/users`);
  const preloads = await page.$$eval('link[rel=preload][as=fetch]', (ls) => ls.map((l) => new URL(l.href).pathname));
  assert.ok(preloads.some((p) => /^\/pkg\/split___users_route_view_\w+\.[0-9a-f]{16}\.wasm$/.test(p)), `preloads: ${preloads}`);
  await hydrated(page);
  await page.getByTestId('users-table').waitFor();
  const direct = await assertReleaseFiles(responses.splice(0), /./);
  const directParts = direct.names.filter((n) => part.test(n));
  assert.ok(directParts.some((n) => n.includes('users_route')), `the users page's part: ${direct.names}`);

  // Client-side navigation from the dashboard to each lazy page: its part arrives, the page shows.
  await page.goto(`${console_.base}/`);
  await hydrated(page);
  responses.splice(0);
  for (const [href, testid, name] of [
    ['/certificates', 'certificates-table', 'certificates_route'],
    ['/audit', 'audit-table', 'audit_route'],
  ]) {
    await page.click(`nav a[href="${href}"]`);
    await page.waitForURL(`${console_.base}${href}`);
    await page.getByTestId(testid).waitFor();
    const { names } = await assertReleaseFiles(responses.splice(0), part);
    assert.ok(names.some((n) => n.includes(name)), `${href} fetched its part: ${names}`);
  }
  const failed = responses.filter((r) => r.status() >= 400).map((r) => `${r.status()} ${r.url()}`);
  assert.deepEqual(failed, [], 'no request fails');
});
