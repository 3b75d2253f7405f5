// Set-up shared by the dashboard tests: operators' sign-in, and visitors who
// write through the widget's own API (for conversations the tests need but do
// not watch in a browser).
import assert from 'node:assert/strict';
import { env } from './harness.mjs';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through scripts/browser-tests.sh`);
  return v;
}

export const ops = {
  email: need('OPERATOR_EMAIL'),
  password: need('OPERATOR_PASSWORD'),
  name: need('OPERATOR_NAME'),
  id: need('OPERATOR_ID'),
  // A second operator, whose sign-in the throttling test uses up.
  email2: need('OPERATOR2_EMAIL'),
};

// Opens the dashboard in `context` and signs in through the form.
export async function signIn(context, { email = ops.email, password = ops.password } = {}) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e));
  await page.goto(`${env.server}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Inbox', exact: true }).waitFor({ timeout: 10000 });
  await live(page);
  return page;
}

// The dashboard's WebSocket is subscribed.
export const live = (page, timeout = 10000) =>
  page.waitForFunction(() => document.getElementById('live')?.dataset.state === 'live', null, { timeout });

// A visitor created and writing through the visitor API (no browser).
export async function apiVisitor({ name, email, language, widgetId = env.widgetId } = {}) {
  const body = Object.fromEntries(Object.entries({ name, email, language }).filter(([, v]) => v));
  const r = await fetch(`${env.server}/api/v1/widget/widgets/${widgetId}/visitors`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const created = await r.text();
  assert.equal(r.status, 201, created);
  const { visitorId, token } = JSON.parse(created).data;
  const say = async (content) => {
    const res = await fetch(`${env.server}/api/v1/widget/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ content }),
    });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return JSON.parse(text).data;
  };
  const conversationId = async () => {
    const res = await fetch(`${env.server}/api/v1/widget/me`, { headers: { Authorization: `Bearer ${token}` } });
    return (await res.json()).data.conversation?.id;
  };
  return { visitorId, token, say, conversationId };
}

// The inbox row of a conversation.
export const row = (page, conversationId) => page.locator(`.conv-row[data-id="${conversationId}"]`);

// The ids of the inbox rows, top first.
export const rowIds = (page) => page.$$eval('.conv-row', (as) => as.map((a) => a.dataset.id));
