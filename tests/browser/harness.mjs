// Shared set-up for the browser tests: the browser, the Tenant API, and small
// helpers that look inside the widget's shadow root.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through scripts/browser-tests.sh`);
  return v;
}

export const env = {
  server: need('ENUCHAT_URL'), // where enuchat serves /widget.js and the APIs
  host: need('HOST_URL'), // the customer's site, another origin
  widgetId: need('WIDGET_ID'), // active, bottom-right, with a greeting
  leftWidgetId: need('WIDGET_LEFT_ID'), // active, bottom-left, light colour
  inactiveWidgetId: need('WIDGET_INACTIVE_ID'),
  allowedWidgetId: need('WIDGET_ALLOWED_ID'), // allowed origins: the host pages' only
  restrictedWidgetId: need('WIDGET_RESTRICTED_ID'), // allowed origins: another site only
  apiKey: need('API_KEY'),
};

// Debian's Chromium (browser downloads are not possible here). launch() gives
// every run a fresh temporary profile, and every context fresh storage.
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-gpu', '--headless=new'],
  });
  // WIDGET_JS=path serves that file as /widget.js instead of the copy built
  // into the server: try a widget change (or a deliberately broken widget, to
  // see the tests catch it) without rebuilding enuchat.
  const override = process.env.WIDGET_JS;
  if (override) {
    const newContext = browser.newContext.bind(browser);
    browser.newContext = async (options) => {
      const context = await newContext(options);
      await context.route(`${env.server}/widget.js`, (route) =>
        route.fulfill({ path: override, contentType: 'text/javascript; charset=utf-8' })
      );
      return context;
    };
  }
  return browser;
}

export async function tenant(method, path, body) {
  const res = await fetch(`${env.server}/api/v1/tenant-api${path}`, {
    method,
    headers: { 'X-Api-Key': env.apiKey, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => null);
  return { status: res.status, json };
}

export async function postAsShop(conversationId, content, role = 'operator') {
  const r = await tenant('POST', `/conversations/${conversationId}/messages`, { content, role });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.data;
}

// The visitor's conversation as the Tenant API sees it (it exists once the
// visitor has sent a first message).
export async function conversationOf(visitorId, widgetId = env.widgetId) {
  const r = await tenant('GET', `/conversations?widgetId=${widgetId}&limit=100`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const found = r.json.data.filter((c) => c.visitorId === visitorId);
  assert.equal(found.length, 1, `expected one conversation of ${visitorId}, found ${found.length}`);
  const full = await tenant('GET', `/conversations/${found[0].id}?limit=200`);
  assert.equal(full.status, 200);
  return { ...found[0], messages: full.json.data.messages };
}

export const hostUrl = (widget = env.widgetId, page = 'host.html') => `${env.host}/${page}?widget=${widget}`;

// Opens a host page with the widget and waits for its 'ready' event. Uncaught
// page errors are collected so each test can assert there were none.
export async function openPage(context, { widget = env.widgetId, page = 'host.html', waitReady = true, setup } = {}) {
  const p = await context.newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(e));
  if (setup) await setup(p); // e.g. routes, which must exist before the page loads
  await p.goto(hostUrl(widget, page));
  if (waitReady) await ready(p);
  return p;
}

export async function ready(page, timeout = 10000) {
  await page.waitForFunction(() => window.Enuchat, null, { timeout });
  return page.evaluate(
    (ms) =>
      new Promise((resolve, reject) => {
        window.Enuchat.on('ready', resolve);
        setTimeout(() => reject(new Error(`the widget was not ready within ${ms} ms`)), ms);
      }),
    timeout
  );
}

// Waits until the panel's opening animation is over, so boxes are final.
export const settled = (page) =>
  page.evaluate(() =>
    Promise.all(
      // A cancelled animation (its element was hidden) rejects: that is done too.
      document.querySelector('enuchat-widget').shadowRoot.getAnimations().map((a) => a.finished.catch(() => {}))
    )
  );

export const status = (page) =>
  page.evaluate(() => document.querySelector('enuchat-widget')?.shadowRoot.querySelector('.ec').dataset.status);

export const waitOnline = (page, timeout = 5000) =>
  page.waitForFunction(
    () => document.querySelector('enuchat-widget')?.shadowRoot.querySelector('.ec').dataset.status === 'online',
    null,
    { timeout }
  );

// How many bubbles (stored or still pending) show exactly this text.
export const bubblesWith = (page, text) =>
  page.evaluate(
    (t) =>
      [...document.querySelector('enuchat-widget').shadowRoot.querySelectorAll('.log .row .bubble')].filter(
        (b) => b.textContent === t
      ).length,
    text
  );

// The stored messages shown in the panel, in DOM order.
export const rows = (page) =>
  page.evaluate(() =>
    [...document.querySelector('enuchat-widget').shadowRoot.querySelectorAll('.log .row[data-seq]')].map((r) => ({
      seq: Number(r.dataset.seq),
      mine: r.classList.contains('me'),
      text: r.querySelector('.bubble').textContent,
    }))
  );

export async function waitForText(page, text, timeout = 5000) {
  await page.waitForFunction(
    (t) =>
      [...(document.querySelector('enuchat-widget')?.shadowRoot.querySelectorAll('.log .row[data-seq] .bubble') || [])].some(
        (b) => b.textContent === t
      ),
    text,
    { timeout }
  );
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const unique = (label) => `${label} ${Math.random().toString(36).slice(2, 8)}`;

// The enuchat binary the script built (it writes to the server's database):
// `await cli('tenant', 'create', '--name', 'X')` runs it and parses its JSON.
export const enuchatBin = process.env.ENUCHAT_BIN || new URL('../../target/debug/enuchat', import.meta.url).pathname;
export async function cli(...args) {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { stdout } = await promisify(execFile)(enuchatBin, args, { env: process.env });
  return JSON.parse(stdout);
}
