// Embedding: the widget appears (or does not), isolated from the host page,
// and keeps the visitor across reloads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  env, launch, openPage, ready, rows, settled, waitForText, waitOnline, conversationOf, postAsShop, sleep, unique,
} from './harness.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('GET /widget.js serves this repository\'s web/widget.js as JavaScript, with CORS', async () => {
  const res = await fetch(`${env.server}/widget.js`, { headers: { Origin: env.host } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') || '', /javascript/);
  const served = await res.text();
  const source = await readFile(new URL('../../web/widget.js', import.meta.url), 'utf8');
  assert.equal(served, source, 'the binary embeds an outdated widget.js: rebuild the server');
});

test('a page embeds the widget: one shadow host with a launcher, cross-origin', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  assert.notEqual(new URL(env.host).origin, new URL(env.server).origin, 'the host page must be another origin');
  assert.equal(await page.locator('enuchat-widget').count(), 1);
  const shadowMode = await page.evaluate(() => document.querySelector('enuchat-widget').shadowRoot?.mode);
  assert.equal(shadowMode, 'open');
  const launcher = page.getByRole('button', { name: 'Open chat' });
  await launcher.waitFor();
  assert.equal(await launcher.evaluate((b) => b.tagName), 'BUTTON');
  // The panel is closed until asked for.
  assert.equal(await page.getByRole('dialog').isVisible(), false);
  await launcher.click();
  const dialog = page.getByRole('dialog', { name: 'Chat with us' });
  assert.equal(await dialog.isVisible(), true);
  // The greeting is shown first and is not a message.
  const greeting = await page.locator('.log .greeting .bubble').textContent();
  assert.equal(greeting, 'Welcome to Northwind Coffee! Ask us about beans, brewing or your order.');
  assert.deepEqual(await rows(page), []);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the host page CSS does not reach the widget', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await openPage(context);
  const launcher = page.locator('.launcher');
  const look = await launcher.evaluate((b) => {
    const s = getComputedStyle(b);
    return { bg: s.backgroundColor, color: s.color, border: s.borderTopWidth, font: s.fontFamily, display: s.display };
  });
  assert.equal(look.bg, 'rgb(107, 62, 38)', 'primaryColor from the widget settings');
  assert.equal(look.color, 'rgb(255, 255, 255)', 'white reads best on a dark brand colour');
  assert.equal(look.border, '0px');
  assert.match(look.font, /^system-ui/);
  // position:fixed to the viewport's bottom-right corner, despite the host
  // page putting a transform on every child of <body>.
  const box = await launcher.boundingBox();
  assert.ok(Math.abs(1280 - (box.x + box.width) - 20) <= 1, `right edge at ${box.x + box.width}`);
  assert.ok(Math.abs(800 - (box.y + box.height) - 20) <= 1, `bottom edge at ${box.y + box.height}`);
  await launcher.click();
  const bubble = await page.locator('.log .greeting .bubble').evaluate((b) => {
    const s = getComputedStyle(b);
    return { color: s.color, bg: s.backgroundColor, size: s.fontSize, align: s.textAlign };
  });
  assert.equal(bubble.color, 'rgb(17, 24, 39)');
  assert.equal(bubble.bg, 'rgb(255, 255, 255)');
  assert.equal(bubble.size, '15px');
  // Nothing of ours leaks out either: the page's own text keeps its style.
  const h1 = await page.locator('h1').evaluate((h) => getComputedStyle(h).color);
  assert.equal(h1, 'rgb(255, 0, 255)');
  await context.close();
});

test('a light brand colour gets dark text; bottom-left works; the snippet may sit in <head>', async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await openPage(context, { widget: env.leftWidgetId, page: 'head.html' });
  const launcher = page.locator('.launcher');
  const look = await launcher.evaluate((b) => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]);
  assert.deepEqual(look, ['rgb(250, 204, 21)', 'rgb(17, 24, 39)']);
  const box = await launcher.boundingBox();
  assert.ok(Math.abs(box.x - 20) <= 1, `left edge at ${box.x}`);
  await launcher.click();
  await settled(page);
  const panel = await page.locator('.panel').boundingBox();
  assert.ok(Math.abs(panel.x - 20) <= 1, `panel left edge at ${panel.x}`);
  // No greeting configured: a default one in the visitor's language.
  assert.equal(await page.locator('.log .greeting .bubble').textContent(), 'Hi! How can we help you today?');
  await context.close();
});

for (const [label, widget] of [
  ['an inactive widget', () => env.inactiveWidgetId],
  ['an unknown widget', () => '00000000-0000-7000-8000-000000000000'],
  ['a widget restricted to another site', () => env.restrictedWidgetId],
]) {
  test(`${label} adds nothing to the page`, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    const config = page.waitForResponse((r) => r.url().includes(`/api/v1/widget/widgets/${widget()}`));
    const visitorCalls = [];
    page.on('request', (r) => r.url().includes('/visitors') && visitorCalls.push(r.url()));
    await page.goto(`${env.host}/host.html?widget=${widget()}`);
    const res = await config;
    assert.ok([200, 403, 404].includes(res.status()), `config answered ${res.status()}`);
    await sleep(500); // time for anything the widget would do after the answer
    const after = await page.evaluate(() => ({
      // (the parser adds the last newline after the snapshot was taken)
      same: document.body.innerHTML.trimEnd() === window.__bodyBefore.trimEnd(),
      hosts: document.querySelectorAll('enuchat-widget').length,
      children: document.documentElement.querySelectorAll('*').length,
    }));
    assert.equal(after.hosts, 0);
    assert.equal(after.same, true, 'the body changed');
    assert.deepEqual(visitorCalls, [], 'no visitor is created for a widget that is not shown');
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test('a widget whose allowed origins include the page works, WebSocket included', async () => {
  const context = await browser.newContext();
  const page = await openPage(context, { widget: env.allowedWidgetId });
  await page.evaluate(() => window.Enuchat.send('from an allowed site'));
  await waitOnline(page);
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  const { id } = await conversationOf(visitorId, env.allowedWidgetId);
  const reply = unique('allowed reply');
  await postAsShop(id, reply);
  await waitForText(page, reply, 1000);
  await context.close();
});

test('a reload keeps the history and the same visitorId', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  assert.match(visitorId, /^v-[a-z0-9]+$/);
  const text = unique('remember me');
  await page.evaluate((t) => window.Enuchat.send(t), text);
  const stored = JSON.parse(await page.evaluate((id) => localStorage.getItem(`enuchat:${id}`), env.widgetId));
  assert.equal(stored.visitorId, visitorId);
  assert.match(stored.token, /^vt_[A-Za-z0-9]{40}$/);

  await page.reload();
  await ready(page);
  assert.equal(await page.evaluate(() => window.Enuchat.visitorId), visitorId);
  await waitForText(page, text, 3000);
  assert.deepEqual((await rows(page)).map((r) => r.text), [text]);
  // And the server agrees: one visitor, one conversation.
  const conversation = await conversationOf(visitorId);
  assert.deepEqual(conversation.messages.map((m) => m.content), [text]);
  await context.close();
});

test('a token the server no longer knows gets a fresh visitor instead of a broken widget', async () => {
  const context = await browser.newContext();
  await context.addInitScript((id) => {
    if (!sessionStorage.getItem('seeded')) {
      sessionStorage.setItem('seeded', '1');
      localStorage.setItem(`enuchat:${id}`, JSON.stringify({ visitorId: 'v-gone', token: 'vt_' + 'x'.repeat(40) }));
    }
  }, env.widgetId);
  const page = await openPage(context);
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  assert.notEqual(visitorId, 'v-gone');
  assert.match(visitorId, /^v-/);
  const text = unique('after renewal');
  const sent = await page.evaluate((t) => window.Enuchat.send(t), text);
  assert.equal(sent.content, text);
  const conversation = await conversationOf(visitorId);
  assert.deepEqual(conversation.messages.map((m) => m.content), [text]);
  await context.close();
});
