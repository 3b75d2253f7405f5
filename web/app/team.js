// Team (#/team): the people who can sign in, their roles; add, change role, remove.
import { h, $, initials, hueOf } from './util.js';
import { pageHead, banner, problem, field, table, loading, openDialog, confirmAction, timeEl } from './ui.js';

const ROLES = [
  ['owner', 'Owner', 'Everything, including billing and other owners.'],
  ['admin', 'Admin', 'Manages widgets, API keys, the team and billing.'],
  ['operator', 'Operator', 'Answers conversations in the inbox.'],
];
const ROLE_NAME = Object.fromEntries(ROLES.map(([v, l]) => [v, l]));

export function render(root, ctx) {
  const add = h('button', { type: 'button', class: 'btn btn-primary' }, h('span', { 'aria-hidden': 'true' }, '+'), 'Add operator');
  const error = banner();
  const body = h('div', { class: 'page-body' }, loading());
  root.append(
    pageHead({ title: 'Team', lead: 'Everyone who can sign in to this dashboard, and what they may do.', actions: [add] }),
    error,
    body
  );
  const refresh = () => load(body, ctx, error);
  add.addEventListener('click', () => addDialog(ctx, refresh));
  return refresh();
}

// Only an owner may make someone an owner (the server says so too).
const choices = (ctx) => (ctx.me.role === 'owner' ? ROLES : ROLES.filter(([v]) => v !== 'owner'));
// Admins cannot change or remove owners; nobody changes or removes themselves here.
const canManage = (o, ctx) => o.id !== ctx.me.id && (ctx.me.role === 'owner' || o.role !== 'owner');

function roleSelect(o, ctx, error) {
  const select = h('select', { 'aria-label': `Role of ${o.name || o.email}`, class: 'select-sm' }, choices(ctx).map(([v, l]) => h('option', { value: v, selected: o.role === v }, l)));
  select.addEventListener('change', async () => {
    const before = o.role;
    const role = select.value;
    select.disabled = true;
    error.set('');
    try {
      const out = await ctx.call('PATCH', `/operators/${o.id}`, { role });
      o.role = out?.role || role;
      ctx.announce(`${o.name || o.email} is now ${ROLE_NAME[o.role].toLowerCase()}`);
      ctx.onTeamChanged?.();
    } catch (e) {
      select.value = before;
      error.set(problem(e, 'The role was not changed'));
    } finally {
      select.disabled = false;
      select.focus();
    }
  });
  return select;
}

async function load(body, ctx, error) {
  let ops;
  try {
    ops = await ctx.call('GET', '/operators');
  } catch (e) {
    if (!ctx.live()) return;
    body.replaceChildren();
    return error.set(problem(e, 'Could not load the team'));
  }
  if (!ctx.live()) return;
  ops.sort((a, b) => (a.id === ctx.me.id ? -1 : b.id === ctx.me.id ? 1 : (a.name || '').localeCompare(b.name || '')));
  const remove = (o) => async () => {
    const who = o.name || o.email;
    const yes = await confirmAction({
      title: `Remove ${who}?`,
      text: `${who} is signed out at once and can no longer sign in. Conversations assigned to them stay in the inbox.`,
      confirmLabel: 'Remove',
      fallback: () => $('screen-title'),
    });
    if (!yes) return;
    try {
      await ctx.call('DELETE', `/operators/${o.id}`);
      ctx.announce(`${who} removed from the team`);
      ctx.onTeamChanged?.();
      await load(body, ctx, error);
      $('screen-title')?.focus();
    } catch (e) {
      error.set(problem(e, `${who} was not removed`));
    }
  };
  const isMe = (o) => o.id === ctx.me.id;
  body.replaceChildren(
    h(
      'div',
      { class: 'card card-flush' },
      table(
        'Team members',
        [
          {
            label: 'Name',
            className: 'cell-main',
            cell: (o) =>
              h(
                'span',
                { class: 'person' },
                h('span', { class: 'avatar avatar-sm', style: `--hue:${hueOf(o.id)}`, 'aria-hidden': 'true' }, initials(o.name || o.email)),
                h('strong', {}, o.name || '—'),
                isMe(o) ? h('span', { class: 'tag tag-muted' }, 'You') : null
              ),
          },
          { label: 'Email', cell: (o) => h('span', { class: 'break' }, o.email) },
          { label: 'Role', cell: (o) => (canManage(o, ctx) ? roleSelect(o, ctx, error) : h('span', { class: 'role-label' }, ROLE_NAME[o.role] || o.role)) },
          { label: 'Added', cell: (o) => timeEl(o.createdAt) || h('span', { class: 'muted' }, '—') },
          {
            label: 'Actions',
            className: 'cell-actions',
            cell: (o) =>
              !canManage(o, ctx)
                ? null
                : h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', 'aria-label': `Remove ${o.name || o.email}`, onclick: remove(o) }, 'Remove'),
          },
        ],
        ops
      )
    ),
    h(
      'dl',
      { class: 'role-help' },
      ROLES.flatMap(([, label, text]) => [h('dt', {}, label), h('dd', { class: 'muted' }, text)])
    )
  );
}

function addDialog(ctx, refresh) {
  const name = h('input', { type: 'text', required: true, maxlength: 100, autocomplete: 'off', autofocus: true });
  const email = h('input', { type: 'email', required: true, autocomplete: 'off', spellcheck: 'false' });
  const role = h('select', {}, choices(ctx).map(([v, l]) => h('option', { value: v, selected: v === 'operator' }, l)));
  const password = h('input', { type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
  const error = banner();
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add operator');
  const form = h(
    'form',
    { novalidate: true },
    field('Name', name),
    field('Email', email, { hint: 'They sign in with this address.' }),
    field('Role', role, { hint: 'Owners and admins manage widgets, keys, the team and billing. Operators answer chats.' }),
    field('Initial password', password, { hint: 'At least 8 characters. Share it with them privately.' }),
    error,
    h('div', { class: 'dialog-foot dialog-foot-inline' }, cancel, submit)
  );
  let added = false;
  const d = openDialog({ title: 'Add operator', body: form, fallback: () => $('screen-title'), onClose: () => added && refresh() });
  cancel.addEventListener('click', () => d.close());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.set('');
    const body = { name: name.value.trim(), email: email.value.trim(), role: role.value, password: password.value };
    const missing = !body.name ? name : !body.email || !email.checkValidity() ? email : body.password.length < 8 ? password : null;
    if (missing) {
      error.set(missing === password ? 'The password needs at least 8 characters.' : missing === email ? 'Enter a valid email address.' : 'Enter their name.');
      return missing.focus();
    }
    submit.disabled = true;
    try {
      const o = await ctx.call('POST', '/operators', body);
      added = true;
      ctx.announce(`${o?.name || body.name} added to the team`);
      ctx.onTeamChanged?.();
      d.close();
    } catch (e) {
      error.set(problem(e, 'The operator was not added'));
      (e.status === 409 ? email : name).focus();
    } finally {
      submit.disabled = false;
    }
  });
}
