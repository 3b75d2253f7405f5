// A widget's knowledge base in the dashboard, against the real server: an
// owner adds two entries on the widget's screen, sees them, deletes one
// (after confirming); the CLI sees the same entries; an operator-role user
// reads them without write controls. Text stays text.
// Screenshots: tests/browser/screenshots/knowledge-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { launch } from './harness.mjs';
import { signIn } from './dashboard-harness.mjs';

const shots = new URL('./screenshots/', import.meta.url);
const shot = (page, name) => page.screenshot({ path: new URL(`knowledge-${name}.png`, shots).pathname, fullPage: true });
let browser;
before(async () => {
  browser = await launch();
  await mkdir(shots, { recursive: true });
});
after(async () => browser?.close());

const LAPTOP = { viewport: { width: 1280, height: 900 } };

// The enuchat binary the script built: a tenant of our own, so its widget's
// knowledge base is known exactly. It writes to the same database as the server.
const BIN = process.env.ENUCHAT_BIN || new URL('../../target/debug/enuchat', import.meta.url).pathname;
const run = promisify(execFile);
const cli = async (...args) => JSON.parse((await run(BIN, args, { env: process.env })).stdout);

async function account() {
  const suffix = Math.random().toString(36).slice(2, 8);
  const t = await cli('tenant', 'create', '--name', `Knowledge Bakery ${suffix}`);
  const widget = await cli('widget', 'create', '--tenant', t.id, '--name', 'Bakery chat', '--ai-enabled', 'true');
  const password = 'knowledge-password';
  const people = {};
  for (const role of ['owner', 'operator']) {
    const email = `${role}-${suffix}@bakery.example`;
    await cli('operator', 'create', '--tenant', t.id, '--email', email, '--name', `Kim ${role}`, '--password', password, '--role', role);
    people[role] = { email, password };
  }
  return { tenant: t, widget, people };
}

const entries = (page) => page.locator('.kb-list > li');
const section = (page) => page.getByRole('region', { name: 'Knowledge base' });

test('an owner adds two knowledge entries, sees them and deletes one', async () => {
  const { widget, people } = await account();
  const context = await browser.newContext(LAPTOP);
  const page = await signIn(context, people.owner);
  await page.evaluate((id) => (location.hash = `#/widgets/${id}`), widget.id);
  await page.getByRole('heading', { level: 1, name: 'Bakery chat' }).waitFor();
  const kb = section(page);
  await kb.getByText('No entries yet').waitFor();

  // A blank question is caught before anything is sent, with focus on it.
  await kb.getByRole('button', { name: 'Add entry' }).click();
  await page.getByRole('alert').filter({ hasText: 'Write the question.' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.labels?.[0]?.textContent), 'Question');

  const first = { question: 'When do you open on Sundays?', answer: 'From 8:00 to 13:00.\nFresh bread from 7:30.' };
  await kb.getByLabel('Question').fill(first.question);
  await kb.getByLabel('Answer').fill(first.answer);
  await kb.getByRole('button', { name: 'Add entry' }).click();
  await entries(page).first().waitFor();
  await kb.getByRole('status').filter({ hasText: 'Entry added.' }).waitFor();
  assert.equal(await kb.getByLabel('Question').inputValue(), '', 'the form is cleared');
  assert.equal(await page.evaluate(() => document.activeElement.labels?.[0]?.textContent), 'Question', 'ready for the next one');

  // The second one by keyboard only; markup in it stays text.
  const second = { question: 'Is the <b>rye</b> bread vegan?', answer: 'Yes: flour, water, salt & <i>sourdough</i>.' };
  await page.keyboard.type(second.question);
  await page.keyboard.press('Tab');
  await page.keyboard.type(second.answer);
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('.kb-list > li').length === 2);

  const shown = await entries(page).evaluateAll((lis) =>
    lis.map((li) => ({ question: li.querySelector('.kb-question').textContent, answer: li.querySelector('.kb-answer').textContent }))
  );
  assert.deepEqual(shown, [first, second], 'oldest first, exactly as typed');
  assert.equal(await page.locator('.kb-list b, .kb-list i').count(), 0, 'no markup was made');
  const listed = await cli('knowledge', 'list', '--widget', widget.id);
  assert.deepEqual(
    listed.map(({ question, answer }) => ({ question, answer })),
    [first, second],
    'the CLI sees what the dashboard added'
  );
  await shot(page, 'owner-laptop');

  // Delete: Cancel keeps it, confirming removes it.
  const del = kb.getByRole('button', { name: `Delete “${first.question}”` });
  await del.click();
  const confirm = page.getByRole('alertdialog');
  assert.match(await confirm.textContent(), /cannot be undone/);
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await confirm.waitFor({ state: 'detached' });
  assert.equal(await entries(page).count(), 2, 'still there after Cancel');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), `Delete “${first.question}”`, 'focus back on the button');
  await del.click();
  await confirm.getByRole('button', { name: 'Delete entry' }).click();
  await page.waitForFunction(() => document.querySelectorAll('.kb-list > li').length === 1);
  assert.equal(await entries(page).locator('.kb-question').textContent(), second.question);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Knowledge base', 'focus moves to the section');
  await page.waitForFunction(() => document.getElementById('announce').textContent.includes('Knowledge entry deleted'), null, { timeout: 5000 });
  const after = await cli('knowledge', 'list', '--widget', widget.id);
  assert.deepEqual(after.map((e) => e.question), [second.question]);

  // Still there after a reload.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Bakery chat' }).waitFor();
  await entries(page).first().waitFor();
  assert.equal(await entries(page).count(), 1);
  await shot(page, 'after-delete-laptop');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('an operator-role user reads the knowledge base without write controls', async () => {
  const { widget, people } = await account();
  await cli('knowledge', 'add', '--widget', widget.id, '--question', 'Do you deliver?', '--answer', 'Within 5 km.');
  const context = await browser.newContext(LAPTOP);
  const page = await signIn(context, people.operator);
  await page.evaluate((id) => (location.hash = `#/widgets/${id}`), widget.id);
  await page.getByRole('heading', { level: 1, name: 'Bakery chat' }).waitFor();
  const kb = section(page);
  await entries(page).first().waitFor();
  assert.equal(await entries(page).locator('.kb-answer').textContent(), 'Within 5 km.');
  assert.equal(await kb.getByRole('button').count(), 0, 'no Delete or Add');
  assert.equal(await kb.getByLabel('Question').count(), 0, 'no form');
  assert.deepEqual(page.errors, []);
  await context.close();
});
