// The demo page the server serves, and screenshots of the open panel for a
// person to look at (written to tests/browser/screenshots/, not committed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { env, launch, ready, waitForText, waitOnline, conversationOf, postAsShop } from './harness.mjs';

const shots = new URL('./screenshots/', import.meta.url);
let browser;
before(async () => {
  browser = await launch();
  await mkdir(shots, { recursive: true });
});
after(async () => browser?.close());

test('GET /demo/{widgetId} embeds the widget with the exact snippet', async () => {
  const res = await fetch(`${env.server}/demo/${env.widgetId}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') || '', /text\/html/);
  const html = await res.text();
  assert.ok(html.includes(`<script src="/widget.js" data-widget-id="${env.widgetId}" async></script>`), 'snippet');
  assert.ok(!html.includes('{{WIDGET_ID}}'));
  assert.match(html, /Northwind Coffee/);
});

// A short, realistic exchange so the screenshot shows what visitors see.
async function conversation(page) {
  await page.evaluate(() => window.Enuchat.send('Hi! Is the Yirgacheffe good for a French press?'));
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  const { id } = await conversationOf(visitorId);
  await waitOnline(page);
  await postAsShop(id, 'Absolutely! Go for a coarse grind and 4 minutes of steeping. It really brings out the bergamot and jasmine notes.');
  await page.evaluate(() => window.Enuchat.send('Perfect, I\'ll order two bags then.'));
  await postAsShop(id, 'Lovely. Use code FRESH10 for 10% off your first order.', 'system');
  await waitForText(page, 'Lovely. Use code FRESH10 for 10% off your first order.');
}

for (const [name, viewport] of [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
]) {
  test(`screenshot of the open panel on the demo page (${name})`, async () => {
    const context = await browser.newContext({ viewport, deviceScaleFactor: name === 'phone' ? 2 : 1 });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(`${env.server}/demo/${env.widgetId}`);
    await ready(page);
    if (name === 'desktop') await page.screenshot({ path: new URL('demo-closed.png', shots).pathname });
    await page.evaluate(() => window.Enuchat.open());
    await conversation(page);
    await page.locator('textarea').fill('Do you also sell grinders?');
    await page.waitForTimeout(300); // let the opening animation finish
    const file = new URL(`panel-${name}.png`, shots).pathname;
    await page.screenshot({ path: file });
    assert.deepEqual(errors, []);
    await context.close();
  });
}
