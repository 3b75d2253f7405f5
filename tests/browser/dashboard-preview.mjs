// Renders the dashboard from web/app/ against an in-browser fake of the
// dashboard API (docs/dashboard-api.md), no server needed: for working on the
// look of the dashboard. Writes tests/browser/screenshots/preview-*.png.
//   node tests/browser/dashboard-preview.mjs
import { chromium } from 'playwright-core';
import { readFile, mkdir } from 'node:fs/promises';

const app = new URL('../../web/app/', import.meta.url);
const shots = new URL('./screenshots/', import.meta.url);
const ORIGIN = 'http://enuchat.test';
const me = { id: 'op-1', email: 'maria@northwind.example', name: 'Maria Lopez', role: 'owner' };
const operators = [me, { id: 'op-2', email: 'tom@northwind.example', name: 'Tom Becker', role: 'operator' }];
const widgets = [
  { id: 'w-1', name: 'Northwind shop', isActive: true, aiEnabled: false, translationEnabled: true, primaryColor: '#6b3e26', position: 'bottom-right' },
  { id: 'w-2', name: 'Help centre', isActive: true, aiEnabled: true, translationEnabled: false, primaryColor: '#2563eb', position: 'bottom-right' },
];
widgets[0].greeting = 'Welcome to Northwind Coffee! Ask us about beans, brewing or your order.';
widgets[0].allowedOrigins = ['https://northwind.example', 'https://shop.northwind.example'];
for (const w of widgets) {
  w.createdAt = '2026-01-12T09:30:00+00:00';
  w.allowedOrigins ||= [];
  w.embedSnippet = `<script src="${ORIGIN}/widget.js" data-widget-id="${w.id}" async></script>`;
}
const apiKeys = [
  { id: 'k-1', name: 'Shopify integration', prefix: 'tak_3f9a', createdAt: '2026-01-14T10:02:00+00:00', lastUsedAt: new Date(Date.now() - 3600e3).toISOString(), expiresAt: null, revokedAt: null },
  { id: 'k-2', name: 'CRM sync', prefix: 'tak_b21c', createdAt: '2026-02-03T16:40:00+00:00', lastUsedAt: null, expiresAt: '2026-12-31T23:59:59+00:00', revokedAt: null },
  { id: 'k-3', name: 'Old export script', prefix: 'tak_07de', createdAt: '2025-11-20T08:15:00+00:00', lastUsedAt: '2025-12-01T12:00:00+00:00', expiresAt: null, revokedAt: '2025-12-02T09:00:00+00:00' },
];
operators.push({ id: 'op-3', email: 'sam@northwind.example', name: 'Sam Okafor', role: 'admin' });
for (const o of operators) o.createdAt = '2026-01-12T09:30:00+00:00';
const ledger = [];
{
  let balance = 184250;
  for (let i = 0; i < 40; i++) {
    const reason = i === 12 || i === 39 ? 'purchase' : i % 3 === 0 ? 'translation' : 'ai_reply';
    const amount = reason === 'purchase' ? 125000 : reason === 'ai_reply' ? -1500 : -250;
    ledger.push({ id: `l-${i}`, amount, balanceAfter: balance, reason, messageId: reason === 'purchase' ? null : `019d1a${(i * 7919).toString(16).padStart(6, '0')}-7e0b-7c3a-9f1e-2b4d6a8c0e12`, createdAt: new Date(Date.now() - i * 3.7 * 3600e3).toISOString() });
    balance -= amount;
  }
}
const ago = (min) => new Date(Date.now() - min * 60000).toISOString().replace(/\.\d+Z$/, '+00:00');
const people = [
  ['Anna Schmidt', 'anna.schmidt@example.de', 'de', 'open', null, 2, true, 'visitor', 'Hallo! Ist die Bestellung #4821 schon unterwegs?'],
  ['James Carter', 'james@carterdesign.co', 'en', 'open', 'op-1', 9, false, 'operator', 'It ships today, you will get a tracking link by email.'],
  [null, 'li.wei@example.com', 'zh', 'open', null, 24, true, 'visitor', 'Do you ship to Singapore?'],
  ['Sofia Rossi', null, 'it', 'pending', 'op-2', 75, false, 'visitor', 'Grazie, aspetto la conferma.'],
  [null, null, 'en', 'open', null, 180, false, 'ai', 'Our Ethiopian Yirgacheffe is best with a medium-fine grind for pour-over.'],
  ['Oliver Brown', 'oliver.b@example.co.uk', 'en', 'open', 'op-1', 60 * 26, false, 'visitor', 'Perfect, thanks a lot for the quick help!'],
  ['Emma Dubois', 'emma@example.fr', 'fr', 'closed', 'op-2', 60 * 50, false, 'operator', 'You are welcome, enjoy the beans!'],
  ['Lucas Silva', 'lucas@example.com.br', 'pt-BR', 'open', null, 60 * 24 * 4, false, 'visitor', 'Can I change the delivery address on my subscription?'],
];
const convs = people.map(([name, email, lang, status, assignedTo, min, unread, role, content], i) => ({
  id: `c-${i + 1}`, widgetId: i % 3 === 2 ? 'w-2' : 'w-1', visitorId: `v-${(i * 7919).toString(36).padStart(6, 'k')}q2m7a1`,
  visitorName: name, visitorEmail: email, visitorLanguage: lang, status, assignedTo,
  lastMessageAt: ago(min), startedAt: ago(min + 14), lastMessage: { role, content, createdAt: ago(min) }, unread,
}));
const thread = [
  { role: 'visitor', content: 'Hallo! Ich habe am Montag zwei Packungen Yirgacheffe bestellt.', contentLanguage: 'de', translatedContent: 'Hello! I ordered two bags of Yirgacheffe on Monday.', translatedLanguage: 'en', min: 16 },
  { role: 'ai', content: 'Thanks Anna! I can see order #4821. It was packed yesterday and is waiting for pickup.', contentLanguage: 'en', translatedContent: 'Danke Anna! Ich sehe Bestellung #4821. Sie wurde gestern verpackt und wartet auf die Abholung.', translatedLanguage: 'de', isAutoReply: true, min: 15 },
  { role: 'system', content: 'Maria Lopez joined the conversation', min: 12 },
  { role: 'operator', authorId: 'op-1', content: 'Hi Anna, Maria here. Your order leaves our roastery this afternoon with DHL.', contentLanguage: 'en', translatedContent: 'Hallo Anna, hier ist Maria. Ihre Bestellung verlässt unsere Rösterei heute Nachmittag mit DHL.', translatedLanguage: 'de', min: 11 },
  { role: 'visitor', content: 'Super, danke! Wann kommt sie ungefähr an?', contentLanguage: 'de', translatedContent: 'Great, thanks! Roughly when will it arrive?', translatedLanguage: 'en', min: 4 },
  { role: 'visitor', content: 'Hallo! Ist die Bestellung #4821 schon unterwegs?', contentLanguage: 'de', translatedContent: 'Hello! Is order #4821 on its way yet?', translatedLanguage: 'en', min: 2 },
].map((m, i) => ({
  id: `m-${i + 1}`, seq: i + 1, authorId: null, contentLanguage: null, translatedContent: null, translatedLanguage: null, isAutoReply: false,
  ...m, createdAt: ago(m.min),
}));

async function fake(route) {
  const req = route.request();
  const url = new URL(req.url());
  const json = (status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
  if (url.pathname === '/') return route.fulfill({ path: new URL('index.html', app).pathname, contentType: 'text/html' });
  if (url.pathname.startsWith('/app/')) {
    const name = url.pathname.slice(5);
    const type = name.endsWith('.css') ? 'text/css' : 'text/javascript';
    return route.fulfill({ body: await readFile(new URL(name, app)), contentType: type });
  }
  const p = url.pathname.replace('/api/v1/dashboard', '');
  if (p === '/session') return json(200, { data: { operator: me, csrfToken: 'csrf' } });
  if (p === '/operators') return json(200, { data: operators });
  if (p === '/widgets') return json(200, { data: widgets });
  if (p === '/conversations') {
    const s = url.searchParams.get('status');
    return json(200, { data: convs.filter((c) => !s || c.status === s) });
  }
  const m = /^\/conversations\/([\w-]+)(\/read|\/messages)?$/.exec(p);
  if (m && !m[2] && req.method() === 'GET') {
    const { lastMessage, unread, ...c } = convs.find((x) => x.id === m[1]);
    return json(200, { data: { ...c, messages: m[1] === 'c-1' ? thread : [], hasOlder: m[1] === 'c-1' } });
  }
  if (m && m[2] === '/read') return route.fulfill({ status: 204 });
  // The admin screens.
  if (p === '/api-keys') return json(200, { data: apiKeys });
  if (p === '/billing') return json(200, { data: { plan: 'pro', creditBalance: 184250, totalCreditsAdded: 250000 } });
  if (p === '/billing/ledger') {
    const limit = Number(url.searchParams.get('limit')) || 50;
    const offset = Number(url.searchParams.get('offset')) || 0;
    return json(200, { data: ledger.slice(offset, offset + limit) });
  }
  return json(404, { error: { code: 'NOT_FOUND', message: 'not found' } });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--headless=new'],
});
await mkdir(shots, { recursive: true });
for (const [name, viewport, scale] of [
  ['desktop', { width: 1440, height: 900 }, 1],
  ['laptop', { width: 1280, height: 800 }, 1],
  ['phone', { width: 390, height: 844 }, 2],
]) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: scale });
  await context.route(`${ORIGIN}/**`, fake);
  await context.routeWebSocket(`ws://enuchat.test/api/v1/dashboard/ws`, (ws) => ws.send(JSON.stringify({ type: 'ready' })));
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  page.on('console', (m) => m.type() === 'error' && console.error('console:', m.text()));
  await page.goto(`${ORIGIN}/`);
  await page.waitForSelector('.conv-row');
  await page.waitForTimeout(300);
  await page.screenshot({ path: new URL(`preview-inbox-${name}.png`, shots).pathname });
  await page.goto(`${ORIGIN}/#/c/c-1`);
  await page.waitForSelector('.msg');
  await page.locator('#reply-text').fill('It should be with you on Thursday.');
  await page.waitForTimeout(300);
  await page.screenshot({ path: new URL(`preview-conversation-${name}.png`, shots).pathname });
  for (const [hash, shot, ready] of [
    ['#/widgets', 'widgets', '.widget-card'],
    ['#/widgets/w-1', 'widget-edit', '.widget-form'],
    ['#/settings/api-keys', 'api-keys', 'table'],
    ['#/team', 'team', 'table'],
    ['#/billing', 'billing', 'table'],
  ]) {
    await page.goto(`${ORIGIN}/${hash}`);
    await page.waitForSelector(ready);
    await page.waitForTimeout(200);
    await page.screenshot({ path: new URL(`preview-${shot}-${name}.png`, shots).pathname, fullPage: shot === 'widget-edit' });
  }
  await page.goto(`${ORIGIN}/#/settings/api-keys`);
  await page.waitForSelector('table');
  await page.getByRole('button', { name: 'Create API key' }).click();
  await page.getByLabel('Name').fill('Zapier');
  await page.waitForTimeout(200);
  await page.screenshot({ path: new URL(`preview-api-key-create-${name}.png`, shots).pathname });
  await context.close();
}
// The sign-in screen with an error.
{
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.route(`${ORIGIN}/**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/api/v1/dashboard/session')
      return route.fulfill({ status: route.request().method() === 'GET' ? 401 : 429, headers: { 'Retry-After': '42' }, contentType: 'application/json', body: '{"error":{"code":"RATE_LIMITED","message":"x"}}' });
    return fake(route);
  });
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/`);
  await page.getByLabel('Email').fill('maria@northwind.example');
  await page.getByLabel('Password').fill('nope');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#signin-error:not([hidden])');
  await page.screenshot({ path: new URL('preview-signin.png', shots).pathname });
  await context.close();
}
await browser.close();
console.log('written to', shots.pathname);
