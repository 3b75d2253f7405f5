// Shared pieces of the admin screens: page headers, banners, form fields,
// tables that turn into cards on a phone, dialogs and copy buttons.
// Everything is built with h(): data only ever becomes text.
import { h, setText, show } from './util.js';

let seq = 0;
export const uid = (prefix) => `${prefix}-${++seq}`;

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const numFmt = new Intl.NumberFormat();

export const fmtDate = (iso) => (iso && Number.isFinite(Date.parse(iso)) ? dateFmt.format(Date.parse(iso)) : '');
export const fmtDateTime = (iso) => (iso && Number.isFinite(Date.parse(iso)) ? dateTimeFmt.format(Date.parse(iso)) : '');
export const fmtNumber = (n) => (Number.isFinite(Number(n)) ? numFmt.format(Number(n)) : '—');
export const timeEl = (iso, text) => (iso ? h('time', { datetime: iso, title: fmtDateTime(iso) }, text ?? fmtDate(iso)) : null);

// The top of a screen. The title is focused when the screen opens.
export function pageHead({ group, title, lead, actions = [] }) {
  return h(
    'header',
    { class: 'page-head' },
    h(
      'div',
      { class: 'page-titles' },
      group ? h('p', { class: 'crumb' }, group) : null,
      h('h1', { id: 'screen-title', tabindex: '-1' }, title),
      lead ? h('p', { class: 'page-lead muted' }, lead) : null
    ),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null
  );
}

// An error (or success) line that can be set and cleared.
export function banner(kind = 'error') {
  const el = h('p', { class: `banner banner-${kind}`, role: kind === 'error' ? 'alert' : 'status', hidden: true });
  el.set = (text) => {
    setText(el, text);
    show(el, !!text);
  };
  return el;
}

// A message for a failed request: the server's own words when it sent some.
export function problem(e, doing) {
  if (e && e.status === 403) return e.message && e.message !== 'HTTP 403' ? e.message : 'Only owners and admins can do this.';
  return `${doing}: ${(e && e.message) || 'something went wrong'}`;
}

// A labelled field. `control` is an input, select or textarea without an id.
export function field(label, control, { hint, className } = {}) {
  const id = control.id || (control.id = uid('f'));
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${id}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: `field${className ? ' ' + className : ''}` }, h('label', { for: id }, label), control, hintEl);
}

// An on/off setting: a checkbox announced as a switch.
export function toggle(label, checked, hint) {
  const input = h('input', { type: 'checkbox', role: 'switch', checked: !!checked });
  const id = (input.id = uid('t'));
  const hintEl = hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  const row = h(
    'div',
    { class: 'switch-row' },
    h('span', { class: 'switch-text' }, h('label', { for: id }, label), hintEl),
    h('span', { class: 'switch' }, input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }))
  );
  row.input = input;
  return row;
}

// A table whose rows become labelled cards on a narrow screen.
// columns: [{ label, cell: (row) => Node|string, className }]
export function table(caption, columns, rows) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.className }, c.label)))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            { dataset: { id: r.id } },
            columns.map((c) => h('td', { class: c.className, 'data-label': c.label }, c.cell(r)))
          )
        )
      )
    )
  );
}

export const loading = () => h('p', { class: 'loading muted', role: 'status' }, 'Loading…');

// A modal dialog (native <dialog>: focus stays inside, Escape closes it).
// Focus goes to the element marked `autofocus`, and back to the opener when
// it closes (or to `fallback` if the opener is gone).
export function openDialog({ title, body, footer, className, fallback, onClose }) {
  const titleId = uid('dlg');
  const opener = document.activeElement;
  const close = h('button', { type: 'button', class: 'btn btn-ghost btn-icon dialog-x', 'aria-label': 'Close' }, '×');
  const d = h(
    'dialog',
    { class: `dialog${className ? ' ' + className : ''}`, 'aria-labelledby': titleId },
    h('header', { class: 'dialog-head' }, h('h2', { id: titleId }, title), close),
    h('div', { class: 'dialog-body' }, body),
    footer ? h('footer', { class: 'dialog-foot' }, footer) : null
  );
  d.titleEl = d.querySelector(`#${titleId}`);
  close.addEventListener('click', () => d.close());
  d.addEventListener('close', () => {
    d.remove();
    const back = opener && opener.isConnected && opener !== document.body ? opener : typeof fallback === 'function' ? fallback() : fallback;
    back?.focus();
    onClose?.(d.returnValue);
  });
  document.body.append(d);
  d.showModal();
  return d;
}

// Asks before something that cannot be undone. Resolves true when confirmed.
export function confirmAction({ title, text, confirmLabel, fallback }) {
  return new Promise((resolve) => {
    let yes = false;
    const cancel = h('button', { type: 'button', class: 'btn', autofocus: true }, 'Cancel');
    const ok = h('button', { type: 'button', class: 'btn btn-danger' }, confirmLabel);
    const d = openDialog({
      title,
      className: 'dialog-sm',
      body: h('p', { class: 'dialog-text' }, text),
      footer: [cancel, ok],
      fallback,
      onClose: () => resolve(yes),
    });
    d.setAttribute('role', 'alertdialog');
    cancel.addEventListener('click', () => d.close());
    ok.addEventListener('click', () => {
      yes = true;
      d.close();
    });
  });
}

async function copyText(text, control) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission (or not a secure context): the old way.
    control.focus();
    control.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

// A read-only value (a key, an embed snippet) with a Copy button.
export function copyBox(label, value, { multiline = false, hint } = {}) {
  const control = multiline
    ? h('textarea', { class: 'copy-value mono', readonly: true, rows: 3, spellcheck: 'false' })
    : h('input', { type: 'text', class: 'copy-value mono', readonly: true, spellcheck: 'false', autocomplete: 'off' });
  control.value = value;
  control.addEventListener('focus', () => control.select());
  const button = h('button', { type: 'button', class: 'btn btn-primary copy-btn' }, 'Copy');
  const status = h('span', { class: 'copy-status', role: 'status' });
  let timer = 0;
  button.addEventListener('click', async () => {
    const ok = await copyText(control.value, control);
    clearTimeout(timer);
    setText(button, ok ? 'Copied' : 'Copy');
    setText(status, ok ? 'Copied to the clipboard' : 'Select the text and press Ctrl+C (⌘C) to copy');
    if (!ok) control.select();
    timer = setTimeout(() => {
      setText(button, 'Copy');
      setText(status, '');
    }, 2500);
  });
  const wrap = h(
    'div',
    { class: 'copy' },
    field(label, control, { hint, className: 'copy-field' }),
    h('div', { class: 'copy-actions' }, button, status)
  );
  wrap.control = control;
  wrap.button = button;
  return wrap;
}
