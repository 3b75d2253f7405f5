// Keyboard use, screen-reader roles, phone-sized screens and the visitor's
// language.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, openPage, rows, settled, waitForText, conversationOf } from './harness.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

// The element focused inside the widget (focus within a shadow root shows
// on the page only as the host element).
const focused = (page) =>
  page.evaluate(() => {
    const host = document.querySelector('enuchat-widget');
    if (document.activeElement !== host) return null;
    const el = host.shadowRoot.activeElement;
    return el && (el.className || el.tagName.toLowerCase());
  });

test('keyboard: Tab reaches the launcher, Enter opens, Enter sends, Shift+Enter is a newline, Escape closes', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  // Tab from the top of the page: past the page's own link to the launcher.
  let found = false;
  for (let i = 0; i < 5 && !found; i++) {
    await page.keyboard.press('Tab');
    found = (await focused(page)) === 'launcher';
  }
  assert.ok(found, 'the launcher is reachable with Tab');
  // A visible focus ring.
  const ring = await page.locator('.launcher').evaluate((b) => getComputedStyle(b).outlineStyle);
  assert.equal(ring, 'solid');

  await page.keyboard.press('Enter');
  assert.equal(await page.getByRole('dialog').isVisible(), true);
  assert.equal(await page.evaluate(() => document.querySelector('enuchat-widget').shadowRoot.activeElement.tagName), 'TEXTAREA');
  assert.equal(await page.locator('.launcher').getAttribute('aria-expanded'), 'true');

  await page.keyboard.type('Hello');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('world');
  assert.equal(await page.getByRole('textbox').inputValue(), 'Hello\nworld');
  assert.deepEqual(await rows(page), [], 'Shift+Enter does not send');
  await page.keyboard.press('Enter');
  await waitForText(page, 'Hello\nworld');
  assert.equal(await page.getByRole('textbox').inputValue(), '');
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  assert.equal((await conversationOf(visitorId)).messages[0].content, 'Hello\nworld');

  await page.keyboard.press('Escape');
  assert.equal(await page.getByRole('dialog').isVisible(), false);
  assert.equal(await focused(page), 'launcher', 'focus returns to the launcher');
  assert.equal(await page.locator('.launcher').getAttribute('aria-expanded'), 'false');
  await context.close();
});

test('roles and names for assistive technology', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  await page.getByRole('button', { name: 'Open chat' }).click();
  const log = page.getByRole('log');
  assert.equal(await log.getAttribute('aria-live'), 'polite');
  assert.ok(await page.getByRole('dialog', { name: 'Chat with us' }).isVisible());
  assert.ok(await page.getByRole('button', { name: 'Close chat' }).first().isVisible());
  assert.ok(await page.getByRole('textbox', { name: 'Write a message…' }).isVisible());
  await page.getByRole('button', { name: 'Close chat' }).first().click();
  assert.equal(await page.getByRole('dialog').isVisible(), false);
  await context.close();
});

test('on a phone-sized screen the open panel fills the screen', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await openPage(context);
  await page.locator('.launcher').tap();
  await settled(page);
  const box = await page.locator('.panel').boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 390, 844]);
  // Typing does not make iOS zoom in (inputs under 16px do).
  assert.equal(await page.getByRole('textbox').evaluate((t) => getComputedStyle(t).fontSize), '16px');
  await context.close();
});

test('labels follow the visitor\'s language, and the server learns it', async () => {
  const context = await browser.newContext({ locale: 'de-DE' });
  const page = await openPage(context, { widget: env.leftWidgetId });
  await page.getByRole('button', { name: 'Chat öffnen' }).click();
  assert.ok(await page.getByRole('textbox', { name: 'Nachricht schreiben…' }).isVisible());
  assert.equal(await page.locator('.log .greeting .bubble').textContent(), 'Hallo! Wie können wir Ihnen helfen?');
  await page.evaluate(() => window.Enuchat.send('Hallo!'));
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  const conversation = await conversationOf(visitorId, env.leftWidgetId);
  assert.match(conversation.visitorLanguage, /^de/);
  await context.close();
});

test('an unsupported language falls back to English', async () => {
  const context = await browser.newContext({ locale: 'ja-JP' });
  const page = await openPage(context);
  assert.ok(await page.getByRole('button', { name: 'Open chat' }).isVisible());
  await context.close();
});
