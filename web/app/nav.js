// The navigation beside the inbox and the admin screens it leads to.
// app.js keeps the inbox; this module shows one admin screen at a time in
// <main id="screen"> and marks the current link with aria-current="page".
import { $, show } from './util.js';
import * as widgets from './widgets.js';
import * as keys from './keys.js';
import * as team from './team.js';
import * as billing from './billing.js';

// hash -> screen; the part after the screen's path is passed on (e.g. a widget id).
const SCREENS = [
  { path: '#/widgets', key: 'widgets', title: 'Widgets', module: widgets },
  { path: '#/settings/api-keys', key: 'api-keys', title: 'API Keys', module: keys },
  { path: '#/team', key: 'team', title: 'Team', module: team },
  { path: '#/billing', key: 'billing', title: 'Billing', module: billing },
];

export const isAdmin = (me) => !!me && (me.role === 'owner' || me.role === 'admin');

let current = null; // the screen shown, or null for the inbox
let gen = 0;

// Shows or hides the admin links for this operator's role (the server
// refuses operators anyway; hiding only keeps the menu honest).
export function initNav(me) {
  for (const li of document.querySelectorAll('#nav [data-admin]')) show(li, isAdmin(me));
}

function find(hash) {
  for (const s of SCREENS) {
    if (hash === s.path) return { screen: s, rest: '' };
    if (hash.startsWith(s.path + '/')) return { screen: s, rest: decodeURIComponent(hash.slice(s.path.length + 1)) };
  }
  return null;
}

function mark(key) {
  for (const a of document.querySelectorAll('#nav a[data-screen]')) {
    if (a.dataset.screen === key) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  $('app').dataset.screen = key;
}

// Shows the screen for location.hash. Returns false when the hash belongs to
// the inbox (app.js then handles it), true when an admin screen took it.
export function routeScreen(ctx) {
  const found = find(location.hash);
  const root = $('screen');
  if (!found) {
    const wasScreen = !!current;
    if (current) {
      gen++;
      current = null;
      root.replaceChildren();
    }
    show(root, false);
    show($('panes'));
    mark('inbox');
    $('skip').setAttribute('href', '#inbox-list');
    if (wasScreen) $('inbox-list').focus();
    return false;
  }
  const { screen, rest } = found;
  const myGen = ++gen;
  current = screen;
  mark(screen.key);
  show($('panes'), false);
  show(root);
  $('skip').setAttribute('href', '#screen');
  document.title = `${screen.title} · enuchat`;
  root.replaceChildren();
  const live = () => myGen === gen; // false once another screen (or the same again) replaced it
  Promise.resolve(screen.module.render(root, { ...ctx, live }, rest)).catch((e) => console.error(e));
  // The heading is there synchronously; focus it so the screen is announced.
  $('screen-title')?.focus({ preventScroll: true });
  root.scrollTop = 0;
  return true;
}

export const onScreen = () => !!current;

// The skip link jumps without changing the route.
export function wireSkip() {
  $('skip').addEventListener('click', (e) => {
    e.preventDefault();
    const target = current ? $('screen-title') : $('inbox-list');
    target?.focus();
  });
}
