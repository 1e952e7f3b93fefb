// Starts the real certdesk binary on a free loopback port with a fresh data directory, and
// Debian's Chromium through playwright-core. Paths come from the environment that
// scripts/test sets: CERTDESK_BIN (the binary) and CERTDESK_SITE_ROOT (the wasm bundle).
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterEach } from 'node:test';

const root = resolve(import.meta.dirname, '..', '..');
export const BIN = process.env.CERTDESK_BIN ?? join(root, 'target', 'debug', 'certdesk');
export const SITE_ROOT = process.env.CERTDESK_SITE_ROOT ?? join(root, 'target', 'site');

async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** Runs a certdesk subcommand against a data directory (the server need not run). */
export async function cliIn(dataDir, ...args) {
  return promisify(execFile)(BIN, args, { env: { ...process.env, CERTDESK_DATA_DIR: dataDir, CERTDESK_LOG: 'warn' } });
}

export function newDataDir() {
  return mkdtempSync(join(tmpdir(), 'certdesk-e2e-'));
}

/**
 * Starts the server; pass `dataDir` to reuse one (a restart), `args` for extra flags, and
 * `publicHost` to serve it at `http://{publicHost}:PORT` as from the LAN (the browser maps
 * the name to loopback, see launchBrowser; the console answers only to that name).
 */
export async function startServer(extraArgs = [], { dataDir = newDataDir(), publicHost = null } = {}) {
  const port = await freePort();
  const local = `http://127.0.0.1:${port}`;
  const base = publicHost ? `http://${publicHost}:${port}` : local;
  const publicArgs = publicHost ? ['--public-url', base] : [];
  const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--site-root', SITE_ROOT, ...publicArgs, ...extraArgs], {
    env: { ...process.env, CERTDESK_DATA_DIR: dataDir, CERTDESK_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`${local}/health`);
      // Served under a public name, the loopback address is answered 421: up all the same.
      if (r.ok || (publicHost && r.status === 421)) break;
    } catch { /* not up yet */ }
    if (child.exitCode !== null) throw new Error(`certdesk exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('certdesk did not answer /health within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    dataDir,
    /** Runs a certdesk subcommand against this server's data directory. */
    async cli(...args) {
      return cliIn(dataDir, ...args);
    },
    /** Kills the server at once (SIGKILL), as a crash would; the data directory stays. */
    async crash() {
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
    },
    /** Stops the server; the data directory is removed unless `keepData`. */
    async stop({ keepData = false } = {}) {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// Every page of every context opened through launchBrowser() is watched: a Content-Security-
// Policy violation reported in the console (or by the securitypolicyviolation event), or an
// uncaught error in the page, is recorded, and the test that caused it fails (afterEach below;
// closing the browser checks once more, for anything after the last test).
const violations = [];

function watch(page) {
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to (execute|load|evaluate|compile|apply|connect|frame)/i.test(text)) {
      violations.push(`${page.url()}: console ${msg.type()}: ${text}`);
    }
  });
  page.on('pageerror', (err) => {
    violations.push(`${page.url()}: uncaught error: ${err.message}`);
  });
}

/** Fails if any watched page reported a CSP violation or an uncaught error; clears the list. */
export function assertNoCspViolations() {
  const found = violations.splice(0);
  if (found.length > 0) {
    throw new Error(`the browser reported ${found.length} CSP violation(s) or page error(s):\n${found.join('\n')}`);
  }
}

afterEach(() => assertNoCspViolations());

export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
      // The names startServer({ publicHost }) serves under, as a LAN's DNS would resolve them.
      '--host-resolver-rules=MAP *.test 127.0.0.1',
    ],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => {
    const context = await newContext(...args);
    // Injected by the browser itself, so the page's CSP does not apply to this listener.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    context.on('page', watch);
    return context;
  };
  browser.newPage = async (...args) => {
    const context = await browser.newContext(...args);
    return context.newPage();
  };
  const close = browser.close.bind(browser);
  browser.close = async (...args) => {
    await close(...args);
    assertNoCspViolations();
  };
  return browser;
}

/** Waits until the wasm bundle has hydrated the page (lib.rs sets body[data-hydrated]). */
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
}

/** The test organisation with master01 (password from CERTDESK_MASTER_PASSWORD), set up from the CLI. */
export async function setUpOrganisation(dataDir) {
  await cliIn(dataDir, 'setup', '--org-name', '株式会社テスト商事', '--group-id', 'G0001', '--bank-code', '0001',
    '--login-id', 'master01', '--name', '山田 太郎', '--email', 'taro@example.co.jp');
}

/** Signs in on the login page and waits for the hydrated dashboard. */
export async function signIn(page, base, password, loginId = 'master01') {
  await page.goto(`${base}/login`);
  await hydrated(page);
  await page.fill('#field-login_id', loginId);
  await page.fill('#field-password', password);
  await page.getByTestId('login-form').locator('button[type=submit]').click();
  await page.waitForURL(`${base}/`);
  await hydrated(page);
}
