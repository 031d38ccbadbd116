// Real Chromium for the viewer's end-to-end tests: Debian's /usr/bin/chromium driven by
// playwright-core (never a downloaded browser). Skips visibly without it, fails under
// SESSIONGATE_REQUIRE_INTEROP=1. Screenshots go to test-results/ui/ to be looked at.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireTool } from './interop.js';

export const SCREENSHOT_DIR = join(process.cwd(), 'test-results', 'ui');

export async function launchChromium(t: Test): Promise<Browser | undefined> {
  const exe = requireTool(t, 'chromium');
  if (!exe) return undefined;
  const browser = await chromium.launch({
    executablePath: exe,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  t.teardown(() => browser.close());
  return browser;
}

/** Saves a full-page screenshot named after the test step. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`), fullPage: true });
}

/** Page errors and console errors seen by a page (a test asserts there are none it did not expect). */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/** Signs in on the viewer's sign-in page and waits for the app: the same first step of every UI test. */
export async function signIn(page: Page, viewer: string, name: string, password: string): Promise<void> {
  await page.goto(`${viewer}/`);
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.topbar').waitFor();
}
