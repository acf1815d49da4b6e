// Storefront's /docs in Debian's Chromium, as a person would use it: register an account,
// press Authorize and log in with the OAuth2 password flow, then "Try it out" and "Execute"
// on GET /api/v1/users/me and see 200. Screenshots are saved: the page as it first shows
// (once the operations are there, not the loading spinner) and the result.
//
// Environment: STOREFRONT_URL (the running server), SCREENSHOT (where the result's PNG
// goes), LANDING_SCREENSHOT (where the first view's PNG goes; README shows it as
// docs/swagger-ui.png), CHROMIUM (default /usr/bin/chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.STOREFRONT_URL;
const screenshot = process.env.SCREENSHOT ?? 'docs-users-me.png';
const landing = process.env.LANDING_SCREENSHOT ?? 'swagger-ui.png';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps dialling out to hosts this
// machine cannot reach; the sandbox is unavailable to root.
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function register(email, password) {
  const response = await fetch(`${base}/api/v1/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, name: 'Browser Test' }),
  });
  assert.equal(response.status, 201, await response.text());
}

test('Swagger UI authorizes with the password flow and runs GET /api/v1/users/me with 200', async (t) => {
  assert.ok(base, 'STOREFRONT_URL must name the running server');
  const email = `browser-${Date.now()}@example.com`;
  const password = 'a browser drove this 2026';
  await register(email, password);

  // Playwright gives every launch a fresh, empty profile (user data dir) of its own.
  const browser = await chromium.launch({ executablePath, args, timeout: 60_000 });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  page.setDefaultTimeout(30_000);
  mkdirSync(dirname(screenshot), { recursive: true });
  let passed = false;
  t.after(async () => {
    // On a failure, what the page showed helps more than the timeout alone.
    if (!passed) await page.screenshot({ path: screenshot.replace(/\.png$/, '-failure.png') }).catch(() => {});
    await browser.close();
  });

  // The bare address, as a person types it: the server sends the browser on to /docs.
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/docs\/?$/);
  // The document is large: Swagger UI shows a spinner until its operations are rendered.
  await page.locator('#operations-accounts-get_me').waitFor();
  mkdirSync(dirname(landing), { recursive: true });
  await page.screenshot({ path: landing, clip: { x: 0, y: 0, width: 1280, height: 860 } });

  await page.locator('.swagger-ui .auth-wrapper .authorize').click();

  // The Authorize dialog: the OAuth2 password flow's username and password, then Authorize.
  const dialog = page.locator('.dialog-ux .modal-ux');
  await dialog.locator('#oauth_username').fill(email);
  await dialog.locator('#oauth_password').fill(password);
  // The bearer scheme's form comes first; the password flow's Authorize is the last one.
  await dialog.locator('.auth-btn-wrapper button.authorize').last().click();
  // Authorized: the flow's button now says Logout.
  await dialog.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).waitFor();
  await dialog.locator('.auth-btn-wrapper button.btn-done').last().click();

  const operation = page.locator('#operations-accounts-get_me');
  await operation.locator('.opblock-summary').click();
  await operation.getByRole('button', { name: 'Try it out' }).click();
  await operation.getByRole('button', { name: 'Execute' }).click();

  const status = operation.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor();
  const code = (await status.innerText()).trim();
  const body = await operation.locator('.live-responses-table .response .response-col_description').first().innerText();

  await page.screenshot({ path: screenshot, fullPage: false });
  await operation.screenshot({ path: screenshot.replace(/\.png$/, '-operation.png') });

  assert.equal(code, '200', body);
  assert.match(body, new RegExp(email.replace(/[.]/g, '\\.')));
  passed = true;
});
