// Messages both ways, in real time, exactly once and in order; the public
// window.Enuchat API; and that message text can never become markup.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, openPage, rows, bubblesWith, waitForText, waitOnline, conversationOf, postAsShop, status, sleep, unique,
} from './harness.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

// A visitor page with a conversation (it exists from the first message on).
async function visitorWithConversation(context, first = unique('hello')) {
  const page = await openPage(context);
  await page.evaluate((t) => window.Enuchat.send(t), first);
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  const conversation = await conversationOf(visitorId);
  await waitOnline(page);
  return { page, visitorId, conversation };
}

test('a message typed by the visitor reaches the Tenant API as role visitor in their conversation', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  await page.getByRole('button', { name: 'Open chat' }).click();
  const text = unique('Do you ship to Norway?');
  await page.getByRole('textbox').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await waitForText(page, text);
  const conversation = await conversationOf(visitorId);
  assert.equal(conversation.visitorId, visitorId);
  assert.equal(conversation.status, 'open');
  assert.deepEqual(conversation.messages.map((m) => [m.role, m.content]), [['visitor', text]]);
  assert.equal(await page.getByRole('textbox').inputValue(), '', 'the input is cleared after sending');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a message posted through the Tenant API appears in the panel within 1 second', async () => {
  const context = await browser.newContext();
  const { page, conversation } = await visitorWithConversation(context);
  for (const role of ['operator', 'system']) {
    const text = unique(`reply as ${role}`);
    const started = Date.now();
    await postAsShop(conversation.id, text, role);
    await waitForText(page, text, 1000);
    const took = Date.now() - started;
    assert.ok(took < 1000, `took ${took} ms`);
  }
  // Replies are shown on the shop's side of the panel.
  const shown = await rows(page);
  assert.deepEqual(shown.map((r) => r.mine), [true, false, false]);
  await context.close();
});

test('after a dropped connection the missed messages arrive exactly once and in order', async () => {
  const context = await browser.newContext();
  const { page, conversation } = await visitorWithConversation(context);
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const before = await rows(page);
  const lastSeq = Math.max(...before.map((r) => r.seq));

  await context.setOffline(true);
  await page.waitForFunction(() => document.querySelector('enuchat-widget').shadowRoot.querySelector('.ec').dataset.status === 'offline');
  const one = unique('missed one');
  const two = unique('missed two');
  await postAsShop(conversation.id, one);
  await postAsShop(conversation.id, two);
  await sleep(800);
  // Really cut off: nothing came through while offline.
  assert.deepEqual((await rows(page)).map((r) => r.text), before.map((r) => r.text));

  await context.setOffline(false);
  await waitForText(page, two, 5000);
  await waitOnline(page);
  await sleep(300); // room for a duplicate to show up if there were one
  const after = await rows(page);
  assert.deepEqual(after.map((r) => r.text), [...before.map((r) => r.text), one, two]);
  const seqs = after.map((r) => r.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'seq order');
  assert.equal(new Set(seqs).size, seqs.length, 'no seq twice');
  // The widget resumed from what it had rather than reloading everything.
  assert.ok(sockets.length >= 1, 'a new WebSocket was opened');
  assert.equal(new URL(sockets.at(-1)).searchParams.get('after'), String(lastSeq));
  await context.close();
});

test('messages are shown in seq order even when they arrive out of order', async () => {
  const context = await browser.newContext();
  // Between server and widget, hold one shop message back on the socket.
  const held = { armed: false, frame: null, socket: null };
  const page = await openPage(context, {
    setup: (p) =>
      p.routeWebSocket(/\/api\/v1\/widget\/ws/, (ws) => {
        held.socket = ws;
        const server = ws.connectToServer();
        server.onMessage((frame) => {
          if (held.armed && !held.frame && JSON.parse(frame).type === 'message') held.frame = frame;
          else ws.send(frame);
        });
      }),
  });
  const first = unique('first');
  await page.evaluate((t) => window.Enuchat.send(t), first);
  await waitOnline(page);
  const { id } = await conversationOf(await page.evaluate(() => window.Enuchat.visitorId));
  held.armed = true;
  const late = unique('held back');
  await postAsShop(id, late);
  for (let i = 0; i < 50 && !held.frame; i++) await sleep(50);
  assert.ok(held.frame, 'the shop message was held back');
  const mine = unique('sent after it');
  await page.evaluate((t) => window.Enuchat.send(t), mine); // shown from the POST answer
  held.socket.send(held.frame); // now the older message arrives
  await waitForText(page, late);
  assert.deepEqual((await rows(page)).map((r) => r.text), [first, late, mine]);
  await context.close();
});

test('the visitor\'s own message is shown once even when the socket brings it before the POST answer', async () => {
  const context = await browser.newContext();
  const page = await openPage(context, {
    setup: (p) =>
      p.route('**/api/v1/widget/messages', async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        const response = await route.fetch(); // stored now, so the socket delivers it...
        await sleep(1000); // ...well before the widget sees this answer
        return route.fulfill({ response });
      }),
  });
  await page.evaluate(() => window.Enuchat.send('creates the conversation'));
  await waitOnline(page);
  await page.getByRole('button', { name: 'Open chat' }).click();
  const text = unique('only once');
  await page.getByRole('textbox').fill(text);
  await page.keyboard.press('Enter');
  await waitForText(page, text, 900); // arrived over the socket
  assert.equal(await bubblesWith(page, text), 1, 'no pending copy next to the stored one');
  await sleep(1200); // the POST answer has come too
  assert.equal(await bubblesWith(page, text), 1);
  await context.close();
});

test('HTML in a message is shown as literal text and creates no element', async () => {
  const context = await browser.newContext();
  const dialogs = [];
  context.on('dialog', (d) => (dialogs.push(d.message()), d.dismiss()));
  const { page, conversation } = await visitorWithConversation(context);
  await page.evaluate(() => window.Enuchat.open());
  const evil = '<img src=x onerror=alert(1)><b>bold</b>';
  await postAsShop(conversation.id, evil); // from the shop...
  await page.evaluate((t) => window.Enuchat.send(t + ' (visitor)'), evil); // ...and from the visitor
  await waitForText(page, evil);
  await waitForText(page, evil + ' (visitor)');
  const inside = await page.evaluate(() => {
    const root = document.querySelector('enuchat-widget').shadowRoot;
    return {
      imgs: root.querySelectorAll('img').length + document.querySelectorAll('img').length,
      bolds: root.querySelectorAll('b').length,
      bubblesWithChildren: [...root.querySelectorAll('.bubble')].filter((b) => b.children.length).length,
    };
  });
  assert.deepEqual(inside, { imgs: 0, bolds: 0, bubblesWithChildren: 0 });
  await sleep(200);
  assert.deepEqual(dialogs, []);
  await context.close();
});

test('window.Enuchat: send() resolves with the stored message, shown and reported once', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const text = unique('via the API');
  const result = await page.evaluate(async (t) => {
    const seen = [];
    const statuses = [];
    window.Enuchat.on('message', (m) => seen.push(m));
    window.Enuchat.on('status', (s) => statuses.push(s));
    const sent = await window.Enuchat.send(t);
    await new Promise((r) => setTimeout(r, 700)); // let the same message also come over the socket
    return { sent, seen, statuses, visitorId: window.Enuchat.visitorId };
  }, text);
  assert.match(result.visitorId, /^v-[a-z0-9]+$/);
  const { sent } = result;
  assert.equal(sent.role, 'visitor');
  assert.equal(sent.content, text);
  assert.equal(typeof sent.id, 'string');
  assert.equal(sent.seq, 1);
  assert.ok(!Number.isNaN(Date.parse(sent.createdAt)));
  const mine = result.seen.filter((m) => m.content === text);
  assert.equal(mine.length, 1, 'one message event');
  assert.deepEqual(Object.keys(mine[0]).filter((k) => ['id', 'role', 'content', 'createdAt'].includes(k)).sort(), ['content', 'createdAt', 'id', 'role']);
  assert.equal(mine[0].id, sent.id);
  assert.deepEqual((await rows(page)).map((r) => r.text), [text], 'shown once');
  // The stored message really is the one the shop sees.
  const conversation = await conversationOf(result.visitorId);
  assert.equal(conversation.messages.at(-1).id, sent.id);
  // Shop replies are reported too.
  const reply = unique('shop reply');
  const events = page.evaluate(
    (t) => new Promise((resolve) => window.Enuchat.on('message', (m) => m.content === t && resolve(m))),
    reply
  );
  await waitOnline(page);
  await postAsShop(conversation.id, reply);
  const event = await events;
  assert.equal(event.role, 'operator');
  assert.equal(await status(page), 'online');
  await context.close();
});

test('window.Enuchat: calls made before ready wait for it; identify() updates the visitor', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Hold history back so the widget is visibly not ready yet.
  await page.route('**/api/v1/widget/messages**', async (route) => {
    if (route.request().method() === 'GET') await sleep(1200);
    await route.continue();
  });
  await page.goto(`${env.host}/host.html?widget=${env.widgetId}`);
  await page.waitForFunction(() => window.Enuchat);
  const early = await page.evaluate(async () => {
    const order = [];
    window.Enuchat.on('ready', () => order.push('ready')); // called soon even if ready already
    window.Enuchat.open();
    const p = window.Enuchat.send('early bird').then((m) => (order.push('sent'), m));
    const who = window.Enuchat.identify({ name: 'Ada Lovelace', email: 'ada@example.com' });
    await new Promise((r) => setTimeout(r, 50));
    const wasReady = order.includes('ready');
    const [sent, me] = await Promise.all([p, who]);
    return { wasReady, order, sent, me };
  });
  assert.equal(early.wasReady, false, 'the test must call before ready');
  assert.deepEqual(early.order, ['ready', 'sent']);
  assert.equal(early.sent.content, 'early bird');
  assert.equal(early.me.name, 'Ada Lovelace');
  assert.equal(early.me.email, 'ada@example.com');
  assert.equal(await page.getByRole('dialog').isVisible(), true, 'open() before ready opened the panel');
  await sleep(500);
  assert.deepEqual((await rows(page)).map((r) => r.text), ['early bird']);
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  const conversation = await conversationOf(visitorId);
  assert.equal(conversation.visitorName, 'Ada Lovelace');
  assert.equal(conversation.visitorEmail, 'ada@example.com');
  await page.evaluate(() => window.Enuchat.close());
  assert.equal(await page.getByRole('dialog').isVisible(), false);
  await context.close();
});

test('replies that arrive while the panel is closed show an unread badge until it opens', async () => {
  const context = await browser.newContext();
  const { page, conversation } = await visitorWithConversation(context);
  const badge = page.locator('.launcher .badge');
  assert.equal(await badge.isVisible(), false);
  const one = unique('while closed');
  const two = unique('still closed');
  await postAsShop(conversation.id, one);
  await postAsShop(conversation.id, two);
  await waitForText(page, two);
  assert.equal(await badge.textContent(), '2');
  assert.equal(await badge.isVisible(), true);
  await page.getByRole('button', { name: 'Open chat (2 new messages)' }).click();
  assert.equal(await badge.isVisible(), false);
  // Replies read with the panel open are not counted.
  await postAsShop(conversation.id, unique('while open'));
  await sleep(300);
  assert.equal(await badge.isVisible(), false);
  await context.close();
});

test('a message that could not be sent says so, and a retry sends it once', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  let failNext = true;
  await page.route('**/api/v1/widget/messages', (route) => {
    if (route.request().method() === 'POST' && failNext) {
      failNext = false;
      return route.abort('internetdisconnected');
    }
    return route.continue();
  });
  await page.getByRole('button', { name: 'Open chat' }).click();
  const text = unique('try again');
  await page.getByRole('textbox').fill(text);
  await page.keyboard.press('Enter');
  const retry = page.getByRole('button', { name: 'Not sent. Tap to retry.' });
  await retry.waitFor({ timeout: 3000 });
  assert.deepEqual(await rows(page), [], 'nothing is shown as sent');
  await retry.click();
  await waitForText(page, text);
  assert.equal(await retry.count(), 0);
  await sleep(300);
  assert.deepEqual((await rows(page)).map((r) => r.text), [text]);
  const visitorId = await page.evaluate(() => window.Enuchat.visitorId);
  assert.deepEqual((await conversationOf(visitorId)).messages.map((m) => m.content), [text]);
  await context.close();
});

test('two windows of the same visitor see each other\'s messages', async () => {
  const context = await browser.newContext();
  const { page: a } = await visitorWithConversation(context);
  const b = await openPage(context);
  await waitOnline(b);
  assert.equal(await b.evaluate(() => window.Enuchat.visitorId), await a.evaluate(() => window.Enuchat.visitorId));
  const text = unique('from window A');
  await a.evaluate((t) => window.Enuchat.send(t), text);
  await waitForText(b, text, 1000);
  assert.deepEqual((await rows(b)).map((r) => r.text), (await rows(a)).map((r) => r.text));
  await context.close();
});
