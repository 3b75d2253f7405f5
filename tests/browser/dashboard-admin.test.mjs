// The dashboard's admin screens against the real server: Settings → API Keys
// (shown once, used, revoked), what an operator-role user may not do,
// Widgets with the embed snippet, Team, Billing, and a keyboard-only pass.
// Screenshots: tests/browser/screenshots/admin-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { env, launch, openPage, tenant, sleep, unique } from './harness.mjs';
import { ops, signIn } from './dashboard-harness.mjs';

const shots = new URL('./screenshots/', import.meta.url);
const shot = (page, name) => page.screenshot({ path: new URL(`admin-${name}.png`, shots).pathname });
let browser;
before(async () => {
  browser = await launch();
  await mkdir(shots, { recursive: true });
});
after(async () => browser?.close());

const LAPTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2 };

// The enuchat binary the script built, for set-up the dashboard does not offer
// (another tenant, credits). It writes to the same database as the server.
const BIN = process.env.ENUCHAT_BIN || new URL('../../target/debug/enuchat', import.meta.url).pathname;
const run = promisify(execFile);
async function cli(...args) {
  const { stdout } = await run(BIN, args, { env: process.env });
  return stdout;
}

const nav = (page) => page.locator('#nav');
// The names of the links in the navigation that are shown.
const navLinks = (page) => nav(page).getByRole('link').evaluateAll((as) => as.filter((a) => a.checkVisibility()).map((a) => a.textContent.trim()));

async function openScreen(page, link, title = link) {
  await nav(page).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
  assert.equal(await nav(page).getByRole('link', { name: link, exact: true }).getAttribute('aria-current'), 'page');
}

// A dashboard API call from inside the page, with the session's CSRF token.
const pageCall = (page, method, path, body) =>
  page.evaluate(
    async ({ method, path, body }) => {
      const s = await fetch('/api/v1/dashboard/session').then((r) => r.json());
      const r = await fetch(`/api/v1/dashboard${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.data.csrfToken },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, json: await r.json().catch(() => null) };
    },
    { method, path, body }
  );

const withKey = async (key, path = '/widgets') => {
  const r = await fetch(`${env.server}/api/v1/tenant-api${path}`, { headers: { 'X-Api-Key': key } });
  return { status: r.status, json: await r.json().catch(() => null) };
};

// Every text and form value on the page (a key must not hide in an input).
const everything = (page) =>
  page.evaluate(() => [document.body.innerText, ...[...document.querySelectorAll('input, textarea')].map((e) => e.value)].join('\n'));

test('Settings → API Keys: a key is shown once, works with the Tenant API, and is refused once revoked', async () => {
  const context = await browser.newContext({ ...LAPTOP, permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await signIn(context);
  assert.deepEqual(await navLinks(page), ['Inbox', 'Widgets', 'Team', 'Billing', 'API Keys']);
  assert.equal(await nav(page).getByRole('list', { name: 'Settings' }).getByRole('link', { name: 'API Keys' }).count(), 1, 'API Keys is under Settings');
  await openScreen(page, 'API Keys');
  assert.equal(await page.locator('.crumb').textContent(), 'Settings');

  const name = unique('Order sync');
  await page.getByRole('button', { name: 'Create API key' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('button', { name: 'Create key' }).click();
  const box = dialog.getByRole('textbox', { name: `API key “${name}”` });
  await box.waitFor();
  const key = await box.inputValue();
  assert.match(key, /^tak_\w{20,}$/);
  assert.match(await dialog.textContent(), /You will not see it again/);
  await dialog.getByRole('button', { name: 'Copy' }).click();
  await dialog.getByRole('status').filter({ hasText: 'Copied to the clipboard' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  await shot(page, 'api-key-created-laptop');

  assert.equal((await withKey(key)).status, 200, 'the new key works');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  const row = page.locator('tbody tr', { hasText: name });
  await row.waitFor();
  const prefix = (await row.locator('.key-prefix').textContent()).replace(/…$/, '');
  assert.ok(prefix.length >= 6 && key.startsWith(prefix), `${prefix} is the start of the key`);
  assert.equal((await everything(page)).includes(key), false, 'the key left the page with the dialog');
  await row.getByText('Active').waitFor();
  await page.waitForFunction(() => document.activeElement?.textContent?.includes('Create API key'));

  // Revoke, confirmed.
  await row.getByRole('button', { name: `Revoke ${name}` }).click();
  const confirm = page.getByRole('alertdialog');
  assert.match(await confirm.textContent(), /cannot be undone/);
  await confirm.getByRole('button', { name: 'Revoke key' }).click();
  await row.getByText('Revoked').waitFor();
  assert.equal(await row.getByRole('button', { name: /Revoke/ }).count(), 0);
  const refused = await withKey(key);
  assert.equal(refused.status, 401);
  assert.equal(refused.json.error.code, 'API_KEY_REVOKED');

  // After a reload: only the prefix, never the key.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor();
  await row.waitFor();
  assert.equal(await row.locator('.key-prefix').textContent(), `${prefix}…`);
  const text = await everything(page);
  assert.equal(text.includes(key), false);
  assert.equal(text.includes(key.slice(0, prefix.length + 4)), false, 'nothing beyond the prefix');
  await shot(page, 'api-keys-laptop');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('an operator-role user sees no admin screens, and the server refuses them', async () => {
  // The owner adds them in the Team screen.
  const email = `${unique('olivia').replace(' ', '.')}@northwind.example`;
  const password = `pw-${Math.random().toString(36).slice(2)}-x`;
  const owner = await browser.newContext(LAPTOP);
  const admin = await signIn(owner);
  await openScreen(admin, 'Team');
  await admin.getByRole('button', { name: 'Add operator' }).click();
  const dialog = admin.getByRole('dialog');
  await dialog.getByLabel('Name').fill('Olivia Chen');
  await dialog.getByLabel('Email').fill(email);
  assert.equal(await dialog.getByLabel('Role').inputValue(), 'operator', 'operator is the default role');
  await dialog.getByLabel('Initial password').fill(password);
  await dialog.getByRole('button', { name: 'Add operator' }).click();
  await dialog.waitFor({ state: 'detached' });
  await admin.locator('tbody tr', { hasText: email }).waitFor();
  await owner.close();

  const context = await browser.newContext(LAPTOP);
  const page = await signIn(context, { email, password });
  assert.deepEqual(await navLinks(page), ['Inbox']);
  for (const name of ['Widgets', 'Team', 'Billing', 'API Keys'])
    assert.equal(await nav(page).getByRole('link', { name }).isVisible(), false, `${name} is not offered`);
  // The link is marked when the first screen has rendered, which can be just
  // after the navigation shows: wait for a marked link, then check it is Inbox.
  const current = nav(page).locator('a[aria-current="page"]');
  await current.waitFor();
  assert.equal((await current.textContent()).trim(), 'Inbox');

  const tried = await pageCall(page, 'POST', '/api-keys', { name: 'not allowed' });
  assert.equal(tried.status, 403, JSON.stringify(tried.json));
  assert.equal(tried.json.error.code, 'FORBIDDEN');

  // Typing the address anyway shows the server's refusal, not an empty screen.
  await page.goto(`${env.server}/#/settings/api-keys`);
  const alert = page.locator('#screen').getByRole('alert');
  await alert.waitFor();
  assert.equal(await alert.textContent(), tried.json.error.message || 'Only owners and admins can do this.');
  assert.equal(await page.getByRole('button', { name: 'Revoke' }).count(), 0);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('Widgets: create one with an allowed origin, copy the exact embed snippet, edit greeting and colour', async () => {
  const context = await browser.newContext(LAPTOP);
  const page = await signIn(context);
  await openScreen(page, 'Widgets');
  await page.getByRole('link', { name: 'New widget' }).click();
  await page.getByRole('heading', { level: 1, name: 'New widget' }).waitFor();
  const name = unique('Spring campaign');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Greeting').fill('Hi! Questions about the spring blend?');
  await page.getByLabel('Colour', { exact: true }).fill('#7c3aed');
  await page.getByRole('radio', { name: 'Bottom left' }).check();
  await page.getByLabel('Allowed origins').fill(`${env.host}\nhttps://spring.example.com`);
  await page.getByRole('button', { name: 'Create widget' }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
  const id = decodeURIComponent(await page.evaluate(() => location.hash)).replace('#/widgets/', '');
  assert.match(id, /^[0-9a-f-]{36}$/);

  const snippet = await page.getByLabel('Embed code').inputValue();
  assert.equal(snippet, `<script src="${env.server}/widget.js" data-widget-id="${id}" async></script>`);

  let listed = (await tenant('GET', '/widgets')).json.data.find((w) => w.id === id);
  assert.ok(listed, 'the Tenant API lists the new widget');
  assert.deepEqual(
    [listed.name, listed.primaryColor, listed.position, listed.isActive],
    [name, '#7c3aed', 'bottom-left', true]
  );

  // Edit: greeting and colour.
  const greeting = 'Welcome back! The spring blend is 20% off this week.';
  await page.getByLabel('Greeting').fill(greeting);
  await page.getByLabel('Colour', { exact: true }).fill('#0e7490');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('status').filter({ hasText: 'Changes saved' }).waitFor();
  listed = (await tenant('GET', '/widgets')).json.data.find((w) => w.id === id);
  assert.equal(listed.primaryColor, '#0e7490');
  if ('greeting' in listed) assert.equal(listed.greeting, greeting);
  const mine = (await pageCall(page, 'GET', '/widgets')).json.data.find((w) => w.id === id);
  assert.equal(mine.greeting, greeting);
  assert.deepEqual(mine.allowedOrigins, [env.host, 'https://spring.example.com']);

  // The snippet works on the allowed site, with the new greeting.
  const visitor = await browser.newContext();
  const site = await openPage(visitor, { widget: id });
  await site.evaluate(() => window.Enuchat.open());
  assert.equal(
    await site.evaluate(() => document.querySelector('enuchat-widget').shadowRoot.querySelector('.greeting .bubble').textContent),
    greeting
  );
  await visitor.close();

  // Back in the list.
  await page.getByRole('link', { name: 'All widgets' }).click();
  await page.getByRole('heading', { level: 1, name: 'Widgets' }).waitFor();
  await page.locator('.widget-card', { hasText: name }).getByText('Bottom left').waitFor();
  await shot(page, 'widgets-laptop');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('Team: add an admin, change their role, remove them', async () => {
  const context = await browser.newContext(LAPTOP);
  const page = await signIn(context);
  await openScreen(page, 'Team');
  // The owner is listed, without actions on themselves.
  const me = page.locator('tbody tr', { hasText: ops.email });
  await me.getByText('You').waitFor();
  assert.equal(await me.getByRole('button').count(), 0);

  const name = unique('Sam Okafor');
  const email = `${name.toLowerCase().replace(/\W+/g, '.')}@northwind.example`;
  await page.getByRole('button', { name: 'Add operator' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByLabel('Email').fill(email);
  await dialog.getByLabel('Role').selectOption('admin');
  await dialog.getByLabel('Initial password').fill('short');
  await dialog.getByRole('button', { name: 'Add operator' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'at least 8 characters' }).waitFor();
  await dialog.getByLabel('Initial password').fill('a-long-enough-password');
  await dialog.getByRole('button', { name: 'Add operator' }).click();
  await dialog.waitFor({ state: 'detached' });
  const row = page.locator('tbody tr', { hasText: email });
  const role = row.getByRole('combobox', { name: `Role of ${name}` });
  await role.waitFor();
  assert.equal(await role.inputValue(), 'admin');
  const server = async () => (await pageCall(page, 'GET', '/operators')).json.data.find((o) => o.email === email);
  assert.equal((await server()).role, 'admin');

  // The same email again is refused with the server's message.
  await page.getByRole('button', { name: 'Add operator' }).click();
  await dialog.getByLabel('Name').fill('Someone Else');
  await dialog.getByLabel('Email').fill(email);
  await dialog.getByLabel('Initial password').fill('a-long-enough-password');
  await dialog.getByRole('button', { name: 'Add operator' }).click();
  await dialog.getByRole('alert').waitFor();
  await shot(page, 'team-duplicate-laptop');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });

  await role.selectOption('operator');
  await page.waitForFunction(() => document.getElementById('announce').textContent.includes('is now operator'), null, { timeout: 5000 });
  assert.equal((await server()).role, 'operator');
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Team' }).waitFor();
  assert.equal(await role.inputValue(), 'operator');
  await shot(page, 'team-laptop');

  // Remove: cancelling keeps them, confirming removes them.
  await row.getByRole('button', { name: `Remove ${name}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  assert.ok(await server(), 'still there after Cancel');
  await row.getByRole('button', { name: `Remove ${name}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Remove' }).click();
  await row.waitFor({ state: 'detached' });
  assert.equal(await server(), undefined);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('Billing: plan, balance, total added and the ledger with Show more', async () => {
  // A tenant of its own, so its balance and ledger are known exactly.
  const t = JSON.parse(await cli('tenant', 'create', '--name', 'Billing Roastery', '--plan', 'pro'));
  const email = `billing-${Math.random().toString(36).slice(2, 8)}@roastery.example`;
  const password = 'billing-owner-password';
  await cli('operator', 'create', '--tenant', t.id, '--email', email, '--name', 'Bea Billing', '--password', password, '--role', 'owner');
  const amounts = Array.from({ length: 27 }, (_, i) => 1000 * (i + 1));
  for (const amount of amounts) await cli('credits', 'add', '--tenant', t.id, '--amount', String(amount));
  const total = amounts.reduce((a, b) => a + b, 0);
  const fmt = (n) => new Intl.NumberFormat('en-US').format(n);

  for (const [size, options] of [['laptop', LAPTOP], ['phone', PHONE]]) {
    const context = await browser.newContext(options);
    const page = await signIn(context, { email, password });
    if (size === 'phone') {
      await nav(page).getByRole('link', { name: 'Billing' }).click();
      await page.getByRole('heading', { level: 1, name: 'Billing' }).waitFor();
    } else await openScreen(page, 'Billing');
    const stat = (label) => page.locator('.stat', { has: page.locator('dt', { hasText: label }) }).locator('.stat-value');
    await stat('Credit balance').filter({ hasText: fmt(total) }).waitFor();
    assert.equal(await stat('Plan').textContent(), 'Pro');
    assert.equal(await stat('Total credits added').textContent(), fmt(total));

    const rows = page.locator('tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 25);
    const first = rows.first();
    assert.equal(await first.locator('td[data-label=Reason]').textContent(), 'Credits added');
    assert.equal(await first.locator('td[data-label=Amount]').textContent(), `+${fmt(27000)}`, 'newest first');
    assert.equal(await first.locator('td[data-label="Balance after"]').textContent(), fmt(total));
    assert.equal(await first.locator('td[data-label=Message]').textContent(), '—');
    await shot(page, `billing-${size}`);
    await page.getByRole('button', { name: 'Show more' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 27);
    assert.equal(await rows.last().locator('td[data-label=Amount]').textContent(), `+${fmt(1000)}`);
    assert.equal(await rows.last().locator('td[data-label="Balance after"]').textContent(), fmt(1000));
    assert.equal(await page.getByRole('button', { name: 'Show more' }).isVisible(), false, 'nothing more to show');
    assert.deepEqual(page.errors, []);
    await context.close();
  }
});

test('keyboard only: sign in, reach Settings → API Keys and create a key', async () => {
  const context = await browser.newContext({ ...LAPTOP, permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e));
  await page.goto(`${env.server}/`);
  await page.getByLabel('Email').waitFor();
  const focused = () =>
    page.evaluate(() => {
      const el = document.activeElement;
      const text = [...el.childNodes].filter((n) => !(n.nodeType === 1 && n.getAttribute('aria-hidden'))).map((n) => n.textContent).join('');
      const label = el.labels?.[0]?.textContent || el.getAttribute('aria-label') || text.trim();
      return `${el.tagName.toLowerCase()}:${label}`;
    });
  assert.equal(await focused(), 'input:Email', 'the email field has focus');
  await page.keyboard.type(ops.email);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'input:Password');
  await page.keyboard.type(ops.password);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Inbox', exact: true }).waitFor();

  // Tab through the page to the navigation's API Keys link.
  const seen = [];
  for (let i = 0; i < 12 && seen[seen.length - 1] !== 'a:API Keys'; i++) {
    await page.keyboard.press('Tab');
    seen.push(await focused());
  }
  assert.deepEqual(seen.slice(-5), ['a:Inbox', 'a:Widgets', 'a:Team', 'a:Billing', 'a:API Keys'], seen.join(' → '));
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement).boxShadow);
  assert.notEqual(ring, 'none', 'the focused link shows a focus ring');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor();
  await page.waitForFunction(() => document.activeElement?.id === 'screen-title');

  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'button:Create API key');
  await page.keyboard.press('Space');
  await page.getByRole('dialog').waitFor();
  assert.equal(await focused(), 'input:Name', 'the dialog opens on its first field');
  const name = unique('Keyboard key');
  await page.keyboard.type(name);
  await page.keyboard.press('Enter');
  const box = page.getByRole('dialog').getByRole('textbox', { name: `API key “${name}”` });
  await box.waitFor();
  assert.equal(await focused(), `input:API key “${name}”`, 'focus moves to the new key');
  const key = await box.inputValue();
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'button:Copy');
  await page.keyboard.press('Space');
  await page.getByRole('dialog').getByRole('status').filter({ hasText: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  assert.equal((await withKey(key)).status, 200);
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  assert.equal(await focused(), 'button:Create API key', 'focus returns to the button that opened the dialog');
  await page.locator('tbody tr', { hasText: name }).waitFor();

  // Escape also cancels the revoke confirmation, and nothing is revoked.
  for (let i = 0; i < 30 && !(await focused()).startsWith(`button:Revoke ${name}`); i++) await page.keyboard.press('Tab');
  assert.equal(await focused(), `button:Revoke ${name}`);
  await page.keyboard.press('Enter');
  await page.getByRole('alertdialog').waitFor();
  assert.equal(await focused(), 'button:Cancel', 'the safe choice has focus');
  await page.keyboard.press('Escape');
  await page.getByRole('alertdialog').waitFor({ state: 'detached' });
  assert.equal((await withKey(key)).status, 200, 'Escape revoked nothing');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('screenshots of the admin screens on a laptop and a phone', async () => {
  for (const [size, options] of [['laptop', LAPTOP], ['phone', PHONE]]) {
    const context = await browser.newContext(options);
    const page = await signIn(context);
    if (size === 'laptop') await shot(page, 'inbox-nav-laptop');
    for (const [link, file, ready] of [
      ['Widgets', 'widgets', '.widget-card'],
      ['Team', 'team', 'tbody tr'],
      ['API Keys', 'api-keys', 'tbody tr'],
    ]) {
      await nav(page).getByRole('link', { name: link, exact: true }).click();
      await page.locator(ready).first().waitFor();
      await sleep(200);
      await shot(page, `${file}-${size}`);
    }
    await nav(page).getByRole('link', { name: 'Widgets', exact: true }).click();
    await page.locator('.widget-card a', { hasText: 'Shop' }).first().click();
    await page.getByLabel('Embed code').waitFor();
    await sleep(200);
    await shot(page, `widget-edit-${size}`);
    await page.locator('#screen').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await sleep(100);
    await shot(page, `widget-edit-bottom-${size}`);
    await nav(page).getByRole('link', { name: 'API Keys' }).click();
    await page.getByRole('button', { name: 'Create API key' }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('Screenshot key');
    await page.getByRole('dialog').getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Copy' }).waitFor();
    await sleep(200);
    await shot(page, `api-key-created-${size}`);
    assert.deepEqual(page.errors, []);
    await context.close();
  }
});
