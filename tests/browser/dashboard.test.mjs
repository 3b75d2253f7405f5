// The operator dashboard at `/` against the real server: sign-in and out,
// the live inbox, replies reaching the visitor's widget, throttled sign-ins
// and cross-site posts. Screenshots: tests/browser/screenshots/dashboard-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { env, launch, openPage, waitForText, waitOnline, conversationOf, postAsShop, tenant, sleep, unique } from './harness.mjs';
import { ops, signIn, live, apiVisitor, row, rowIds } from './dashboard-harness.mjs';

const shots = new URL('./screenshots/', import.meta.url);
let browser;
before(async () => {
  browser = await launch();
  await mkdir(shots, { recursive: true });
});
after(async () => browser?.close());

const session = (cookie) =>
  fetch(`${env.server}/api/v1/dashboard/session`, { headers: cookie ? { Cookie: cookie } : {} }).then((r) => r.status);

test('an operator signs in with Email and Password, sees the inbox, and signing out ends the session', async () => {
  const context = await browser.newContext();
  const page = await signIn(context);
  await page.getByText(ops.name).first().waitFor();
  const cookie = (await context.cookies()).find((c) => c.name === 'enuchat_session');
  assert.ok(cookie, 'a session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.equal(await session(`enuchat_session=${cookie.value}`), 200);

  // Still signed in after a reload.
  await page.reload();
  await page.getByRole('heading', { name: 'Inbox', exact: true }).waitFor();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await session(`enuchat_session=${cookie.value}`), 401, 'the old cookie no longer works anywhere');
  await page.reload();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Inbox', exact: true }).isVisible(), false);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("a visitor's message appears in the inbox live; the operator's reply reaches the visitor's widget", async () => {
  const operatorContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const dash = await signIn(operatorContext);

  // The visitor, in a browser context of their own, on the customer's site.
  const visitorContext = await browser.newContext();
  const site = await openPage(visitorContext);
  const visitorName = unique('Nora');
  await site.evaluate((name) => window.Enuchat.identify({ name, email: 'nora@example.com' }), visitorName);
  const first = unique('Do you deliver on Saturdays?');
  await site.evaluate((t) => window.Enuchat.send(t), first);
  const visitorId = await site.evaluate(() => window.Enuchat.visitorId);
  const conversation = await conversationOf(visitorId);

  // Live, without a reload: the row is at the top, unread, with the preview.
  const r = row(dash, conversation.id);
  await r.waitFor({ timeout: 5000 });
  await assert.doesNotReject(r.getByText(first).waitFor({ timeout: 2000 }));
  assert.equal((await rowIds(dash))[0], conversation.id);
  assert.match(await r.getAttribute('class'), /\bunread\b/);
  assert.equal(await r.getByText('Unread').count(), 1, 'the marker is announced, not only coloured');

  // A second message moves it to the top again (other rows may have come in between).
  const other = await apiVisitor({ name: 'Someone Else' });
  await other.say(unique('another chat'));
  await dash.waitForFunction((id) => document.querySelector('.conv-row')?.dataset.id !== id, conversation.id, { timeout: 5000 });
  const second = unique('And is the roastery open for visits?');
  await site.evaluate((t) => window.Enuchat.send(t), second);
  await dash.waitForFunction((id) => document.querySelector('.conv-row')?.dataset.id === id, conversation.id, { timeout: 5000 });
  await r.getByText(second).waitFor({ timeout: 2000 });

  // Open it: every message with its role, the visitor's details, marked read.
  await r.click();
  const thread = dash.locator('#messages');
  await thread.locator('.msg-visitor', { hasText: second }).waitFor();
  assert.equal(await thread.locator('.msg-visitor').count(), 2);
  assert.equal(await thread.locator('.msg-visitor .role-badge').first().textContent(), 'Visitor');
  await dash.getByRole('heading', { name: visitorName }).waitFor();
  await dash.locator('#d-email', { hasText: 'nora@example.com' }).waitFor();
  await dash.waitForFunction((id) => !document.querySelector(`.conv-row[data-id="${id}"]`).classList.contains('unread'), conversation.id);

  // Enter sends as the operator; it reaches the widget live.
  const reply = unique('Yes, Saturdays between 9 and 1!');
  const box = dash.getByLabel('Reply');
  await box.fill(reply);
  await box.press('Enter');
  await waitOnline(site);
  await waitForText(site, reply, 5000);
  assert.equal(await box.inputValue(), '', 'the reply box is cleared');
  await thread.locator('.msg-operator', { hasText: reply }).waitFor();

  // Shift+Enter is a new line, not a send.
  await box.pressSequentially('Line one');
  await box.press('Shift+Enter');
  await box.pressSequentially('line two');
  await sleep(300);
  assert.equal(await thread.locator('.msg-operator').count(), 1, 'Shift+Enter did not send');
  await box.press('Enter');
  await waitForText(site, 'Line one\nline two', 5000);

  const stored = (await conversationOf(visitorId)).messages;
  assert.deepEqual(
    stored.map((m) => [m.role, m.content]),
    [['visitor', first], ['visitor', second], ['operator', reply], ['operator', 'Line one\nline two']]
  );
  // Replying assigned the unassigned conversation to this operator.
  const now = await tenant('GET', `/conversations/${conversation.id}`);
  assert.equal(now.json.data.assignedTo, ops.id);

  // The visitor writes while the conversation is open: it shows at once.
  const third = unique('Great, see you then');
  await site.evaluate((t) => window.Enuchat.send(t), third);
  await thread.locator('.msg-visitor', { hasText: third }).waitFor({ timeout: 5000 });
  assert.deepEqual(dash.errors, []);
  assert.deepEqual(site.errors, []);
  await operatorContext.close();
  await visitorContext.close();
});

test('after a lost connection the dashboard reconnects and catches up on what it missed', async () => {
  const context = await browser.newContext();
  // Chromium's offline emulation closes open sockets but lets new WebSocket
  // handshakes through, so the dashboard could reconnect while "offline":
  // refuse its reconnects ourselves while the network is cut.
  let cut = false;
  await context.routeWebSocket(/\/api\/v1\/dashboard\/ws/, (ws) => {
    if (cut) ws.close();
    else ws.connectToServer();
  });
  const page = await signIn(context);
  // The inbox fetch that going live starts must be over before the cut:
  // answered after the visitor below writes, it would show the row without
  // any socket (seen once in CI).
  await page.waitForFunction(() => !document.getElementById('inbox-list').hasAttribute('aria-busy'), null, { timeout: 10000 });
  cut = true;
  await context.setOffline(true);
  await page.waitForFunction(() => document.getElementById('live').dataset.state !== 'live', null, { timeout: 10000 });
  assert.equal(await page.locator('#live').textContent(), 'Reconnecting…');
  const visitor = await apiVisitor({ name: 'Offline Olga' });
  const text = unique('written while the operator was offline');
  await visitor.say(text);
  const id = await visitor.conversationId();
  await sleep(500);
  assert.equal(await row(page, id).count(), 0, 'really cut off');
  cut = false;
  await context.setOffline(false);
  await live(page, 20000);
  await row(page, id).getByText(text).waitFor({ timeout: 5000 });
  // And live again afterwards.
  const more = unique('and after the reconnect');
  await visitor.say(more);
  await row(page, id).getByText(more).waitFor({ timeout: 5000 });
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a translation that arrives while the conversation is still loading is shown, not dropped', async () => {
  // The race, made certain: the server's answer to the thread fetch is held
  // until the message's translation (message_updated) has reached the page,
  // so the answer carries the untranslated message the page must not keep.
  const visitor = await apiVisitor({ name: 'Paloma Ruiz' });
  const text = unique('¿Hacen envíos a Canarias?');
  await visitor.say(text);
  const id = await visitor.conversationId();
  const context = await browser.newContext();
  let socket;
  await context.routeWebSocket(/\/api\/v1\/dashboard\/ws/, (ws) => {
    socket = ws;
    ws.connectToServer();
  });
  const page = await signIn(context);
  const translation = 'Do you ship to the Canary Islands?';
  await context.route(new RegExp(`/api/v1/dashboard/conversations/${id}\\?`), async (route) => {
    const response = await route.fetch();
    const stale = await response.json();
    const m = stale.data.messages.find((x) => x.content === text);
    assert.equal(m.translatedContent ?? null, null, 'the fetched message is not translated yet');
    socket.send(JSON.stringify({ type: 'message_updated', conversationId: id, message: { ...m, translatedContent: translation, translatedLanguage: 'en' } }));
    await sleep(300);
    await route.fulfill({ response, json: stale });
  });
  await row(page, id).click();
  const msg = page.locator('#messages .msg-visitor');
  await msg.locator('.msg-translation').waitFor({ timeout: 5000 });
  assert.equal(await msg.locator('.msg-translation').evaluate((p) => p.lastChild.textContent), translation);
  assert.equal(await msg.count(), 1);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('status and assignment change from the conversation view; older messages load on request', async () => {
  const visitor = await apiVisitor({ name: 'Priya Natarajan', email: 'priya@example.in', language: 'en' });
  // More than one page (50) of messages (the shop writes most: visitors are rate limited).
  await visitor.say('Message number 1');
  const id = await visitor.conversationId();
  for (let i = 2; i <= 55; i++) await postAsShop(id, `Message number ${i}`, 'system');

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await signIn(context);
  await page.goto(`${env.server}/#/c/${id}`);
  const thread = page.locator('#messages');
  await thread.locator('.msg', { hasText: 'Message number 55' }).waitFor();
  assert.equal(await thread.locator('.msg').count(), 50);
  await page.getByRole('button', { name: 'Load older messages' }).click();
  await thread.locator('.msg', { hasText: /^VisitorPriya Natarajan.*Message number 1$/ }).waitFor();
  assert.equal(await thread.locator('.msg').count(), 55);
  assert.equal(await page.getByRole('button', { name: 'Load older messages' }).isVisible(), false);
  const seqs = await thread.locator('.msg').evaluateAll((lis) => lis.map((li) => Number(li.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 55 }, (_, i) => i + 1));

  // Two changes in quick succession: both are kept.
  await page.getByRole('combobox', { name: 'Status' }).selectOption('pending');
  await page.getByLabel('Assigned to').selectOption(ops.id);
  await page.waitForFunction(
    () => document.querySelector('#announce').textContent.startsWith('Assigned to'),
    null,
    { timeout: 5000 }
  );
  let c = (await tenant('GET', `/conversations/${id}`)).json.data;
  assert.equal(c.status, 'pending');
  assert.equal(c.assignedTo, ops.id);
  assert.equal(await page.getByRole('combobox', { name: 'Status' }).inputValue(), 'pending');
  assert.equal(await page.getByLabel('Assigned to').inputValue(), ops.id);
  // Pending is not in the default (open) inbox; the Pending filter shows it.
  await page.getByRole('radio', { name: 'Pending' }).check();
  await row(page, id).waitFor();
  await page.getByLabel('Assignee').selectOption('unassigned');
  await row(page, id).waitFor({ state: 'detached' });

  await page.getByLabel('Assigned to').selectOption('');
  await page.getByRole('combobox', { name: 'Status' }).selectOption('closed');
  await page.waitForFunction(() => document.querySelector('#announce').textContent === 'Status set to Closed', null, { timeout: 5000 });
  c = (await tenant('GET', `/conversations/${id}`)).json.data;
  assert.equal(c.status, 'closed');
  assert.equal(c.assignedTo, null);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a wrong password is refused, and repeated failures are throttled with the wait shown', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.server}/`);
  await page.getByLabel('Email').fill(ops.email2);
  const error = page.getByRole('alert');
  let throttled = null;
  for (let attempt = 1; attempt <= 8 && !throttled; attempt++) {
    await page.getByLabel('Password').fill(`wrong password ${attempt}`);
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/dashboard/session') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const res = await answer;
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('#signin-form button').disabled);
    const text = await error.textContent();
    if (res.status() === 401) assert.equal(text, 'Wrong email or password.');
    else if (res.status() === 429) throttled = { attempt, text };
    else assert.fail(`unexpected ${res.status()}`);
  }
  assert.ok(throttled, 'failures were throttled');
  assert.ok(throttled.attempt >= 2 && throttled.attempt <= 7, `throttled at attempt ${throttled.attempt}`);
  assert.match(throttled.text, /^Too many failed sign-ins\. Try again in \d+ seconds?\.$/);
  assert.equal(await page.getByRole('heading', { name: 'Inbox', exact: true }).isVisible(), false);
  await page.screenshot({ path: new URL('dashboard-signin-throttled.png', shots).pathname });
  await context.close();
});

test('a cross-site form post to a dashboard endpoint is refused and creates no message', async () => {
  const visitor = await apiVisitor({ name: 'Target' });
  await visitor.say('hello');
  const id = await visitor.conversationId();

  const context = await browser.newContext();
  const dash = await signIn(context);
  // The cookie alone is not enough: a same-origin request without the CSRF token is refused too.
  const bare = await dash.evaluate(
    (url) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"content":"no token"}' }).then((r) => r.status),
    `/api/v1/dashboard/conversations/${id}/messages`
  );
  assert.equal(bare, 403);

  for (const form of ['json', 'plain']) {
    const mark = `m${Math.random().toString(36).slice(2, 10)}`;
    const evil = await context.newPage();
    const posted = evil.waitForResponse((r) => r.url().endsWith(`/conversations/${id}/messages`) && r.request().method() === 'POST');
    await evil.goto(`${env.host}/cross-site-post.html?id=${id}&widget=${mark}&form=${form}`);
    const res = await posted;
    assert.ok(res.status() >= 400 && res.status() < 500, `${form}: answered ${res.status()}`);
    await evil.close();
    await sleep(200);
    const stored = (await tenant('GET', `/conversations/${id}?limit=200`)).json.data.messages;
    assert.deepEqual(stored.filter((m) => m.content.includes(mark)), [], `${form}: no message was created`);
  }
  const stored = (await tenant('GET', `/conversations/${id}?limit=200`)).json.data.messages;
  assert.deepEqual(stored.map((m) => m.content), ['hello']);
  await context.close();
});

// A realistic inbox for the screenshots: named visitors in several languages,
// some answered.
async function seedInbox() {
  const people = [
    { name: 'Lucas Silva', email: 'lucas@example.com.br', language: 'pt-BR', say: ['Can I change the delivery address on my subscription?'] },
    { name: 'Emma Dubois', email: 'emma@example.fr', language: 'fr', say: ['Do you have decaf beans?'], reply: 'We do: our Swiss Water Colombia is lovely.' },
    { email: 'li.wei@example.com', language: 'en', say: ['Do you ship to Singapore?'] },
    { name: 'James Carter', email: 'james@carterdesign.co', language: 'en', say: ['Hi, my grinder arrived with a cracked hopper.'], reply: 'So sorry! A replacement ships today, no need to return the old one.' },
  ];
  const ids = [];
  for (const p of people) {
    const v = await apiVisitor(p);
    for (const s of p.say) await v.say(s);
    const id = await v.conversationId();
    if (p.reply) await postAsShop(id, p.reply);
    ids.push(id);
  }
  const anna = await apiVisitor({ name: 'Anna Schmidt', email: 'anna.schmidt@example.de', language: 'de' });
  await anna.say('Hello! I ordered two bags of Yirgacheffe on Monday.');
  const annaId = await anna.conversationId();
  await postAsShop(annaId, 'Thanks for your order! It was roasted yesterday and is packed for pickup.', 'system');
  await postAsShop(annaId, 'Hi Anna, Maria here. Your order leaves our roastery this afternoon with DHL.');
  await anna.say('Great, thanks! Roughly when will it arrive?');
  await anna.say('Is order #4821 on its way yet?');
  return { annaId, ids };
}

for (const [name, viewport, scale] of [
  ['laptop', { width: 1280, height: 800 }, 1],
  ['phone', { width: 390, height: 844 }, 2],
]) {
  test(`screenshots of the inbox and the conversation view (${name})`, async () => {
    const { annaId } = await seedInbox();
    const context = await browser.newContext({ viewport, deviceScaleFactor: scale });
    const page = await signIn(context);
    await row(page, annaId).waitFor();
    await sleep(300);
    await page.screenshot({ path: new URL(`dashboard-inbox-${name}.png`, shots).pathname });
    await row(page, annaId).click();
    await page.locator('#messages .msg', { hasText: 'Is order #4821 on its way yet?' }).waitFor();
    await page.getByLabel('Reply').fill('It should be with you on Thursday.');
    if (name === 'phone') assert.equal(await page.getByRole('button', { name: 'Back to inbox' }).isVisible(), true);
    await sleep(300);
    await page.screenshot({ path: new URL(`dashboard-conversation-${name}.png`, shots).pathname });
    assert.deepEqual(page.errors, []);
    await context.close();
  });
}
