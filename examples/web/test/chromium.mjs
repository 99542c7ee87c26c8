// Starting the real Chromium for the browser tests: /usr/bin/chromium (or
// $CHROMIUM) headless with the flags below, a throwaway profile and a DevTools
// port, driven by playwright-core over CDP. Shared by browser.test.mjs and
// vectors.test.mjs (no tests of its own).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Start Chromium with FLAGS, a throwaway profile and a DevTools port; resolve its ws:// URL. */
function spawnChromium(profile) {
  const args = [...FLAGS, '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'];
  const chrome = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ws = new Promise((ok, fail) => {
    let stderr = '';
    const timer = setTimeout(() => fail(new Error(`${CHROMIUM} printed no DevTools URL in 30 s; stderr:\n${stderr}`)), 30_000);
    chrome.on('error', (e) => {
      clearTimeout(timer);
      fail(new Error(`cannot start ${CHROMIUM}: ${e.message}`));
    });
    chrome.on('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`${CHROMIUM} exited (${code ?? signal}) before it listened; stderr:\n${stderr}`));
    });
    chrome.stderr.setEncoding('utf8');
    chrome.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = stderr.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
  });
  return { chrome, ws };
}

/**
 * Launch Chromium and connect playwright-core to it.
 * @returns {Promise<{ browser: import('playwright-core').Browser, context: import('playwright-core').BrowserContext, close: () => Promise<void> }>}
 *   close() closes the connection, ends that Chromium process (SIGTERM, then
 *   SIGKILL after 5 s) and removes its profile
 */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium; scripts/test-bindings.sh ` +
        'does it) or set CHROMIUM to a Chromium binary',
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'wasmad-chromium-'));
  const { chrome, ws } = spawnChromium(profile);
  let browser;
  const close = async () => {
    await browser?.close().catch(() => {});
    if (chrome.exitCode === null && chrome.signalCode === null) {
      const exited = new Promise((ok) => chrome.once('exit', ok));
      chrome.kill('SIGTERM');
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 5000))]);
      if (chrome.exitCode === null && chrome.signalCode === null) chrome.kill('SIGKILL');
    }
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    browser = await chromium.connectOverCDP(await ws);
    const context = browser.contexts()[0] ?? (await browser.newContext());
    return { browser, context, close };
  } catch (e) {
    await close();
    throw e;
  }
}
