// Widgets: the list (#/widgets), a new widget (#/widgets/new) and one
// widget with its embed code and settings (#/widgets/{id}).
import { h, setText } from './util.js';
import { pageHead, banner, problem, field, toggle, copyBox, loading, fmtDate, uid } from './ui.js';
import { knowledgeSection } from './knowledge.js';

const POSITION = { 'bottom-right': 'Bottom right', 'bottom-left': 'Bottom left' };
const HEX = /^#[0-9a-fA-F]{6}$/;

export function render(root, ctx, rest) {
  if (!rest) return list(root, ctx);
  return edit(root, ctx, rest === 'new' ? null : rest);
}

// The script tag a site pastes in. The server's own snippet when it sends one.
export function snippetOf(w) {
  return w.embedSnippet || `<script src="${location.origin}/widget.js" data-widget-id="${w.id}" async></script>`;
}

async function list(root, ctx) {
  const add = h('a', { class: 'btn btn-primary', href: '#/widgets/new' }, h('span', { 'aria-hidden': 'true' }, '+'), 'New widget');
  const error = banner();
  const body = h('div', { class: 'page-body' }, loading());
  root.append(pageHead({ title: 'Widgets', lead: 'The chat bubbles on your websites. Each has its own look, greeting and embed code.', actions: [add] }), error, body);
  let widgets;
  try {
    widgets = await ctx.call('GET', '/widgets');
  } catch (e) {
    if (!ctx.live()) return;
    body.replaceChildren();
    return error.set(problem(e, 'Could not load the widgets'));
  }
  if (!ctx.live()) return;
  if (!widgets.length) {
    body.replaceChildren(
      h('div', { class: 'empty-card' }, h('h2', {}, 'No widgets yet'), h('p', { class: 'muted' }, 'Create a widget, then paste its embed code into your website.'))
    );
    return;
  }
  body.replaceChildren(h('ul', { class: 'card-grid', 'aria-label': 'Widgets' }, widgets.map(card)));
}

function card(w) {
  const origins = w.allowedOrigins || [];
  return h(
    'li',
    { class: 'card widget-card', dataset: { id: w.id } },
    h('span', { class: 'swatch', style: `--swatch:${HEX.test(w.primaryColor) ? w.primaryColor : '#4f46e5'}`, 'aria-hidden': 'true' }),
    h(
      'div',
      { class: 'widget-card-main' },
      h('h2', { class: 'card-title' }, h('a', { href: `#/widgets/${w.id}`, class: 'stretch' }, w.name)),
      h(
        'p',
        { class: 'card-tags' },
        h('span', { class: `badge ${w.isActive ? 'badge-open' : 'badge-closed'}` }, w.isActive ? 'Active' : 'Switched off'),
        h('span', { class: 'tag' }, POSITION[w.position] || w.position),
        w.aiEnabled ? h('span', { class: 'tag' }, 'AI replies') : null,
        w.translationEnabled ? h('span', { class: 'tag' }, 'Translation') : null
      ),
      h(
        'p',
        { class: 'card-meta muted' },
        origins.length ? `${origins.length} allowed site${origins.length === 1 ? '' : 's'}` : 'Any website',
        w.createdAt ? ` · Created ${fmtDate(w.createdAt)}` : ''
      )
    ),
    h('span', { class: 'card-go', 'aria-hidden': 'true' }, '›')
  );
}

async function edit(root, ctx, id) {
  const back = h('a', { class: 'back-link', href: '#/widgets' }, h('span', { 'aria-hidden': 'true' }, '← '), 'All widgets');
  const head = pageHead({ title: id ? 'Loading…' : 'New widget', lead: id ? '' : 'Choose how the chat looks. You get the embed code next.' });
  head.prepend(back);
  const error = banner();
  const body = h('div', { class: 'page-body widget-page' });
  root.append(head, error, body);
  let w = { name: '', isActive: true, aiEnabled: false, translationEnabled: false, primaryColor: '#4f46e5', position: 'bottom-right', greeting: '', allowedOrigins: [] };
  if (id) {
    body.append(loading());
    try {
      const all = await ctx.call('GET', '/widgets');
      w = all.find((x) => x.id === id);
    } catch (e) {
      if (!ctx.live()) return;
      body.replaceChildren();
      return error.set(problem(e, 'Could not load the widget'));
    }
    if (!ctx.live()) return;
    body.replaceChildren();
    if (!w) return setText(head.querySelector('h1'), 'Widget not found');
    setText(head.querySelector('h1'), w.name);
    document.title = `${w.name} · Widgets · enuchat`;
    body.append(embedCard(w));
  }
  body.append(form(w, ctx, error, head));
  if (w.id) body.append(knowledgeSection(w, ctx));
}

function embedCard(w) {
  const box = copyBox('Embed code', snippetOf(w), {
    multiline: true,
    hint: 'Paste this just before </body> on every page where the chat should appear.',
  });
  box.control.rows = 2;
  return h('section', { class: 'card section', 'aria-labelledby': 'embed-title' }, h('h2', { id: 'embed-title', class: 'section-title' }, 'Add the chat to your website'), box);
}

function form(w, ctx, error, head) {
  const name = h('input', { type: 'text', required: true, maxlength: 100, autocomplete: 'off' });
  name.value = w.name || '';
  const greeting = h('textarea', { rows: 3, maxlength: 500 });
  greeting.value = w.greeting || '';
  const color = h('input', { type: 'text', class: 'mono', maxlength: 7, autocomplete: 'off', spellcheck: 'false', pattern: '#[0-9a-fA-F]{6}' });
  color.value = w.primaryColor || '#4f46e5';
  const picker = h('input', { type: 'color', class: 'color-picker', 'aria-label': 'Pick a colour' });
  picker.value = HEX.test(color.value) ? color.value.toLowerCase() : '#4f46e5';
  const posName = uid('pos');
  const radios = Object.entries(POSITION).map(([value, label]) => {
    const input = h('input', { type: 'radio', name: posName, value, checked: (w.position || 'bottom-right') === value });
    return h('label', { class: 'radio-pill' }, input, h('span', {}, label));
  });
  const active = toggle('Active', w.isActive, 'Visitors can open the chat. Switch off to hide it everywhere.');
  const ai = toggle('AI replies', w.aiEnabled, 'The AI assistant answers when no operator does (uses credits).');
  const translation = toggle('Translation', w.translationEnabled, 'Messages are translated between the visitor and your team (uses credits).');
  const origins = h('textarea', { rows: 3, class: 'mono', spellcheck: 'false', placeholder: 'https://shop.example.com' });
  origins.value = (w.allowedOrigins || []).join('\n');

  const preview = h('div', { class: 'preview', 'aria-hidden': 'true' }, h('div', { class: 'preview-bubble' }, h('span', { class: 'preview-dot' })));
  const syncPreview = () => {
    preview.style.setProperty('--swatch', HEX.test(color.value) ? color.value : picker.value);
    preview.dataset.position = radios.find((r) => r.firstChild.checked)?.firstChild.value || 'bottom-right';
  };
  picker.addEventListener('input', () => {
    color.value = picker.value;
    syncPreview();
  });
  color.addEventListener('input', () => {
    if (HEX.test(color.value)) picker.value = color.value.toLowerCase();
    syncPreview();
  });
  for (const r of radios) r.firstChild.addEventListener('change', syncPreview);
  syncPreview();

  const saved = banner('ok');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, w.id ? 'Save changes' : 'Create widget');
  const f = h(
    'form',
    { class: 'card section widget-form', novalidate: true, 'aria-labelledby': 'settings-title' },
    h('h2', { id: 'settings-title', class: 'section-title' }, w.id ? 'Settings' : 'Details'),
    field('Name', name, { hint: 'Only your team sees this, e.g. “Main website”.' }),
    field('Greeting', greeting, { hint: 'The first message visitors see when they open the chat. Optional.' }),
    h(
      'div',
      { class: 'form-row' },
      h('div', { class: 'field' }, h('label', { for: (color.id = uid('f')) }, 'Colour'), h('div', { class: 'color-row' }, picker, color)),
      h('fieldset', { class: 'field radio-group' }, h('legend', {}, 'Position'), h('div', { class: 'radio-pills' }, radios)),
      preview
    ),
    h('div', { class: 'switches' }, active, ai, translation),
    field('Allowed origins', origins, {
      hint: 'One per line, like https://shop.example.com. Only pages on these sites can load the chat. Leave empty to allow any website.',
    }),
    saved,
    h('div', { class: 'form-actions' }, submit)
  );
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.set('');
    saved.set('');
    const body = {
      name: name.value.trim(),
      isActive: active.input.checked,
      aiEnabled: ai.input.checked,
      translationEnabled: translation.input.checked,
      primaryColor: color.value.trim(),
      position: radios.find((r) => r.firstChild.checked).firstChild.value,
      greeting: greeting.value.trim() || null,
      allowedOrigins: origins.value.split('\n').map((s) => s.trim()).filter(Boolean),
    };
    if (!body.name) {
      error.set('Give the widget a name.');
      return name.focus();
    }
    if (!HEX.test(body.primaryColor)) {
      error.set('The colour must be a hex code like #4f46e5.');
      return color.focus();
    }
    submit.disabled = true;
    try {
      const out = await ctx.call(w.id ? 'PATCH' : 'POST', w.id ? `/widgets/${w.id}` : '/widgets', body);
      ctx.onWidgetsChanged?.();
      if (!w.id) {
        ctx.announce(`Widget ${out.name} created`);
        location.hash = `#/widgets/${out.id}`;
        return;
      }
      Object.assign(w, out);
      setText(head.querySelector('h1'), out.name);
      saved.set('Changes saved. Sites with the widget pick them up on their next page load.');
      ctx.announce('Changes saved');
    } catch (e) {
      error.set(problem(e, w.id ? 'The changes were not saved' : 'The widget was not created'));
      error.scrollIntoView({ block: 'nearest' });
    } finally {
      submit.disabled = false;
    }
  });
  return f;
}
