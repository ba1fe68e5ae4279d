// Opens a generated HTML report in Debian's headless Chromium (/usr/bin/chromium, or LT_CHROMIUM; a
// browser is never downloaded), recording console errors and every request that is not a local file.
import * as fs from 'fs';
import { pathToFileURL } from 'url';
import type { Page } from 'playwright-core';

export const CHROMIUM = process.env.LT_CHROMIUM || '/usr/bin/chromium';
export const chromiumAvailable = fs.existsSync(CHROMIUM);

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ReportPage {
  page: Page;
  /** console errors and uncaught page errors */
  errors: string[];
  /** URLs requested that are not file: URLs */
  external: string[];
}

/** Loads `htmlFile` in a fresh browser, runs `check` on it, and closes the browser. */
export async function withReportPage<T>(htmlFile: string, check: (p: ReportPage) => Promise<T>): Promise<T> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const external: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) external.push(r.url());
    });
    await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
    return await check({ page, errors, external });
  } finally {
    await browser.close();
  }
}
