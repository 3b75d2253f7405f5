// Settings → API Keys (#/settings/api-keys): list, create (the key is shown
// once), revoke.
import { h, $ } from './util.js';
import { pageHead, banner, problem, field, table, loading, openDialog, confirmAction, copyBox, fmtDate, timeEl } from './ui.js';

export function render(root, ctx) {
  const create = h('button', { type: 'button', class: 'btn btn-primary' }, h('span', { 'aria-hidden': 'true' }, '+'), 'Create API key');
  const error = banner();
  const body = h('div', { class: 'page-body' }, loading());
  root.append(
    pageHead({
      group: 'Settings',
      title: 'API Keys',
      lead: 'Keys let your own systems use the Tenant API. Anyone with a key can read and answer your chats, so keep keys secret.',
      actions: [create],
    }),
    error,
    body
  );
  const refresh = () => load(body, ctx, error);
  create.addEventListener('click', () => createDialog(ctx, refresh));
  return refresh();
}

function status(k, now = Date.now()) {
  if (k.revokedAt) return ['Revoked', 'badge-closed'];
  if (k.expiresAt && Date.parse(k.expiresAt) <= now) return ['Expired', 'badge-pending'];
  return ['Active', 'badge-open'];
}

async function load(body, ctx, error) {
  let keys;
  try {
    keys = await ctx.call('GET', '/api-keys');
  } catch (e) {
    if (!ctx.live()) return;
    body.replaceChildren();
    return error.set(problem(e, 'Could not load the API keys'));
  }
  if (!ctx.live()) return;
  error.set('');
  if (!keys.length) {
    body.replaceChildren(
      h('div', { class: 'empty-card' }, h('h2', {}, 'No API keys yet'), h('p', { class: 'muted' }, 'Create a key to connect your shop, CRM or scripts to enuchat.'))
    );
    return;
  }
  const revoke = (k) => async () => {
    const yes = await confirmAction({
      title: `Revoke “${k.name}”?`,
      text: 'Anything using this key stops working at once. This cannot be undone.',
      confirmLabel: 'Revoke key',
      fallback: () => $('screen-title'),
    });
    if (!yes) return;
    try {
      await ctx.call('DELETE', `/api-keys/${k.id}`);
      ctx.announce(`Key ${k.name} revoked`);
      await load(body, ctx, error);
      $('screen-title')?.focus();
    } catch (e) {
      error.set(problem(e, 'The key was not revoked'));
    }
  };
  body.replaceChildren(
    h('div', { class: 'card card-flush' },
      table(
        'API keys',
        [
          { label: 'Name', cell: (k) => h('strong', {}, k.name), className: 'cell-main' },
          { label: 'Key', cell: (k) => h('code', { class: 'mono key-prefix' }, `${k.prefix}…`) },
          { label: 'Created', cell: (k) => timeEl(k.createdAt) },
          { label: 'Last used', cell: (k) => timeEl(k.lastUsedAt) || h('span', { class: 'muted' }, 'Never') },
          { label: 'Expires', cell: (k) => timeEl(k.expiresAt) || h('span', { class: 'muted' }, 'Never') },
          { label: 'Status', cell: (k) => { const [t, c] = status(k); return h('span', { class: `badge ${c}` }, t); } },
          {
            label: 'Actions',
            className: 'cell-actions',
            cell: (k) =>
              k.revokedAt
                ? null
                : h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', 'aria-label': `Revoke ${k.name}`, onclick: revoke(k) }, 'Revoke'),
          },
        ],
        keys
      )
    )
  );
}

function tomorrow() {
  const d = new Date(Date.now() + 86400000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function createDialog(ctx, refresh) {
  const name = h('input', { type: 'text', required: true, maxlength: 100, autocomplete: 'off', autofocus: true, placeholder: 'e.g. Shopify integration' });
  const expiry = h('input', { type: 'date', min: tomorrow() });
  const error = banner();
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create key');
  const form = h(
    'form',
    { novalidate: true },
    field('Name', name, { hint: 'So you know later what uses it.' }),
    field('Expiry date (optional)', expiry, { hint: 'The key stops working at the end of this day. Leave empty for no expiry.' }),
    error,
    h('div', { class: 'dialog-foot dialog-foot-inline' }, cancel, submit)
  );
  let created = false;
  const d = openDialog({
    title: 'Create API key',
    body: form,
    fallback: () => $('screen-title'),
    onClose: () => created && refresh(),
  });
  cancel.addEventListener('click', () => d.close());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.set('');
    const body = { name: name.value.trim() };
    if (!body.name) {
      error.set('Give the key a name.');
      return name.focus();
    }
    if (expiry.value) {
      const end = new Date(`${expiry.value}T23:59:59`);
      if (!Number.isFinite(end.getTime()) || end.getTime() <= Date.now()) {
        error.set('The expiry date must be in the future.');
        return expiry.focus();
      }
      body.expiresAt = end.toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    submit.disabled = true;
    try {
      const key = await ctx.call('POST', '/api-keys', body);
      created = true;
      showKey(d, key);
      ctx.announce('API key created. Copy it now: it is shown only once.');
    } catch (e) {
      error.set(problem(e, 'The key was not created'));
      submit.disabled = false;
    }
  });
}

// The one time the full key is on screen. It leaves the page with the dialog.
function showKey(d, key) {
  d.titleEl.textContent = 'Your new API key';
  const box = copyBox(`API key “${key.name}”`, key.key);
  box.classList.add('key-copy');
  const done = h('button', { type: 'button', class: 'btn' }, 'Done');
  done.addEventListener('click', () => d.close());
  d.querySelector('.dialog-body').replaceChildren(
    h(
      'div',
      { class: 'callout callout-warn', id: 'key-once' },
      h('strong', {}, 'Copy this key now. '),
      'You will not see it again: enuchat stores only a fingerprint of it. If you lose it, revoke it and create a new one.'
    ),
    box,
    h('p', { class: 'hint' }, key.expiresAt ? `Expires ${fmtDate(key.expiresAt)}.` : 'This key does not expire.', ' Send it in the X-Api-Key header.'),
    h('div', { class: 'dialog-foot dialog-foot-inline' }, done)
  );
  box.control.setAttribute('aria-describedby', 'key-once');
  box.control.focus();
}
