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
  // detached: Chromium leads its own process group, so close() can end the
  // zygote, renderer and utility processes with it (they keep writing to the
  // profile after the browser process itself has gone).
  const chrome = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
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

/** Signal Chromium's whole process group; false once the group has gone. */
function signalGroup(chrome, signal) {
  try {
    process.kill(-chrome.pid, signal);
    return true;
  } catch {
    return false; // ESRCH: no process left in the group
  }
}

/** End Chromium and every helper process it started: SIGTERM, SIGKILL after 5 s, wait until the group is empty. */
async function endGroup(chrome) {
  if (chrome.pid === undefined) return;
  const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
  if (!signalGroup(chrome, 'SIGTERM')) return;
  for (let waited = 0; waited < 5000; waited += 50) {
    await sleep(50);
    if (!signalGroup(chrome, 0)) return;
  }
  signalGroup(chrome, 'SIGKILL');
  for (let waited = 0; waited < 5000 && signalGroup(chrome, 0); waited += 50) await sleep(50);
}

/** Remove the throwaway profile; a straggler still writing to it gets a few retries, then a warning, not a failed test. */
function rmProfile(profile) {
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (e) {
    console.warn(`could not remove Chromium's throwaway profile ${profile}: ${e.message}`);
  }
}

/**
 * Launch Chromium and connect playwright-core to it.
 * @returns {Promise<{ browser: import('playwright-core').Browser, context: import('playwright-core').BrowserContext, close: () => Promise<void> }>}
 *   close() closes the connection, ends that Chromium and its helper processes
 *   (the process group: SIGTERM, then SIGKILL after 5 s) and removes its profile
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
    await endGroup(chrome);
    rmProfile(profile);
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
