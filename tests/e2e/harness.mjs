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

/** Starts the server; pass `dataDir` to reuse one (a restart), `args` for extra flags. */
export async function startServer(extraArgs = [], { dataDir = newDataDir() } = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--site-root', SITE_ROOT, ...extraArgs], {
    env: { ...process.env, CERTDESK_DATA_DIR: dataDir, CERTDESK_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
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

export async function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
    ],
  });
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
