// The operator dashboard: sign-in, the live inbox and the conversation view.
// API: docs/dashboard-api.md. Plain ES modules, no build step.
import { api, query, setCsrf, ApiError } from './api.js';
import { h, $, setText, show, relTime, clock, fullTime, initials, hueOf, languageName } from './util.js';
import { initNav, routeScreen, onScreen, wireSkip } from './nav.js';

const PAGE = 50;
const STATUS_LABEL = { open: 'Open', pending: 'Pending', closed: 'Closed' };
const ROLE_LABEL = { visitor: 'Visitor', operator: 'Operator', system: 'System', ai: 'AI assistant' };

const state = {
  me: null,
  operators: new Map(), // id -> operator
  widgets: new Map(), // id -> widget
  filters: { status: 'open', widgetId: '', assignee: 'anyone' },
  list: [], // conversations shown, newest activity first
  listEnd: false,
  listGen: 0, // ignores answers to superseded list requests
  openId: null,
  conv: null, // the open conversation
  messages: [], // its messages, oldest first
  // Translations that arrived (message_updated) for the open conversation, by
  // message id: one may overtake the fetch that loads the thread, whose answer
  // then still carries the untranslated message.
  updated: new Map(),
  hasOlder: false,
  convGen: 0,
  ws: null,
  wsAttempt: 0,
  wsTimer: 0,
  ticker: 0,
};

// ------------------------------------------------------------------ start

async function boot() {
  wireSignin();
  wireApp();
  try {
    const session = await api('GET', '/session');
    await enter(session);
  } catch (e) {
    showSignin();
    if (!(e instanceof ApiError && e.status === 401)) signinError(e.message);
  } finally {
    $('boot').remove();
  }
}

// ------------------------------------------------------------------ sign in

function showSignin() {
  show($('app'), false);
  show($('signin'));
  document.title = 'Sign in · enuchat';
  $('email').focus();
}

function signinError(text) {
  setText($('signin-error'), text);
  show($('signin-error'), !!text);
}

function wireSignin() {
  const form = $('signin-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = $('email').value.trim();
    const password = $('password').value;
    if (!email || !password) {
      signinError('Enter your email and password.');
      (email ? $('password') : $('email')).focus();
      return;
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    button.textContent = 'Signing in…';
    signinError('');
    try {
      const session = await api('POST', '/session', { email, password });
      $('password').value = '';
      await enter(session);
    } catch (e) {
      if (e.status === 401) {
        signinError('Wrong email or password.');
      } else if (e.status === 429) {
        const wait = e.retryAfter;
        signinError(
          wait
            ? `Too many failed sign-ins. Try again in ${wait} second${wait === 1 ? '' : 's'}.`
            : 'Too many failed sign-ins. Wait a minute and try again.'
        );
      } else {
        signinError(e.message || 'Signing in failed. Try again.');
      }
      $('password').select();
      $('password').focus();
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
}

async function enter(session) {
  setCsrf(session.csrfToken);
  state.me = session.operator;
  setText($('me-name'), state.me.name || state.me.email);
  setText($('me-avatar'), initials(state.me.name || state.me.email));
  show($('signin'), false);
  show($('app'));
  initNav(state.me);
  await Promise.all([loadOperators(), loadWidgets()]);
  connect();
  await loadInbox();
  route();
  clearInterval(state.ticker);
  state.ticker = setInterval(refreshTimes, 30000);
}

async function signOut() {
  try {
    await api('DELETE', '/session');
  } catch {
    // Signed out locally either way.
  }
  disconnect();
  clearInterval(state.ticker);
  setCsrf(null);
  Object.assign(state, { me: null, list: [], openId: null, conv: null, messages: [] });
  $('inbox-list').replaceChildren();
  history.replaceState(null, '', location.pathname);
  signinError('');
  showSignin();
}

// The session ended elsewhere (expired, signed out in another tab).
function sessionLost() {
  disconnect();
  setCsrf(null);
  state.me = null;
  showSignin();
  signinError('Your session has ended. Please sign in again.');
}

async function call(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (e) {
    if (e.status === 401 && state.me) sessionLost();
    throw e;
  }
}

// ------------------------------------------------------------------ reference data

async function loadOperators() {
  try {
    const ops = await call('GET', '/operators');
    state.operators = new Map(ops.map((o) => [o.id, o]));
  } catch {
    state.operators = new Map(state.me ? [[state.me.id, state.me]] : []);
  }
  const select = $('conv-assignee');
  select.replaceChildren(h('option', { value: '' }, 'Unassigned'));
  const ops = [...state.operators.values()].sort((a, b) =>
    a.id === state.me.id ? -1 : b.id === state.me.id ? 1 : (a.name || '').localeCompare(b.name || '')
  );
  for (const o of ops) select.append(h('option', { value: o.id }, o.id === state.me.id ? `${o.name} (you)` : o.name || o.email));
}

async function loadWidgets() {
  try {
    const widgets = await call('GET', '/widgets');
    state.widgets = new Map(widgets.map((w) => [w.id, w]));
  } catch {
    state.widgets = new Map();
  }
  const select = $('f-widget');
  const current = select.value;
  select.replaceChildren(h('option', { value: '' }, 'All widgets'));
  for (const w of state.widgets.values()) select.append(h('option', { value: w.id }, w.name));
  select.value = state.widgets.has(current) ? current : '';
}

const operatorName = (id) => {
  if (!id) return null;
  if (state.me && id === state.me.id) return 'You';
  const o = state.operators.get(id);
  return o ? o.name || o.email : 'Another operator';
};

// ------------------------------------------------------------------ inbox

const visitorLabel = (c) => c.visitorName || c.visitorEmail || c.visitorId;

function matches(c) {
  const f = state.filters;
  if (f.status && c.status !== f.status) return false;
  if (f.widgetId && c.widgetId !== f.widgetId) return false;
  if (f.assignee === 'me' && c.assignedTo !== state.me.id) return false;
  if (f.assignee === 'unassigned' && c.assignedTo) return false;
  return true;
}

function listQuery(offset) {
  const f = state.filters;
  return query({ status: f.status, widgetId: f.widgetId, assignee: f.assignee, limit: PAGE, offset: offset || undefined });
}

async function loadInbox() {
  const gen = ++state.listGen;
  $('inbox-list').setAttribute('aria-busy', 'true');
  try {
    const data = await call('GET', '/conversations' + listQuery(0));
    if (gen !== state.listGen) return;
    state.list = data;
    state.listEnd = data.length < PAGE;
    show($('inbox-error'), false);
    if (state.openId) {
      const row = state.list.find((c) => c.id === state.openId);
      if (row) row.unread = false;
    }
    renderList();
  } catch (e) {
    if (gen !== state.listGen) return;
    setText($('inbox-error'), `Could not load conversations: ${e.message}`);
    show($('inbox-error'));
  } finally {
    if (gen === state.listGen) $('inbox-list').removeAttribute('aria-busy');
  }
}

async function loadMore() {
  const gen = state.listGen;
  const button = $('inbox-more');
  button.disabled = true;
  try {
    const data = await call('GET', '/conversations' + listQuery(state.list.length));
    if (gen !== state.listGen) return;
    const have = new Set(state.list.map((c) => c.id));
    state.list.push(...data.filter((c) => !have.has(c.id)));
    state.listEnd = data.length < PAGE;
    renderList();
  } catch (e) {
    setText($('inbox-error'), `Could not load more: ${e.message}`);
    show($('inbox-error'));
  } finally {
    button.disabled = false;
  }
}

// Newest activity first. Times have whole seconds, so within one second the
// row whose message arrived here last goes first (`_live` counts arrivals).
let arrivals = 0;
function sortList() {
  state.list.sort(
    (a, b) =>
      Date.parse(b.lastMessageAt) - Date.parse(a.lastMessageAt) || (b._live || 0) - (a._live || 0) || (a.id < b.id ? 1 : -1)
  );
}

function preview(c) {
  const m = c.lastMessage;
  if (!m) return { who: '', text: 'No messages yet' };
  const who = { operator: 'Operator: ', ai: 'AI: ', system: 'System: ' }[m.role] || '';
  return { who, text: m.content.replace(/\s+/g, ' ') };
}

function rowFor(c) {
  const name = visitorLabel(c);
  const { who, text } = preview(c);
  const when = c.lastMessage ? c.lastMessage.createdAt : c.lastMessageAt;
  const assignee = operatorName(c.assignedTo);
  const a = h(
    'a',
    {
      class: 'conv-row' + (c.unread ? ' unread' : ''),
      href: `#/c/${c.id}`,
      'aria-current': c.id === state.openId ? 'true' : null,
      dataset: { id: c.id },
    },
    h('span', { class: 'avatar', style: `--hue:${hueOf(c.visitorId)}`, 'aria-hidden': 'true' }, initials(c.visitorName || c.visitorEmail)),
    h(
      'span',
      { class: 'conv-main' },
      h(
        'span',
        { class: 'conv-line' },
        h('span', { class: 'conv-name' }, name),
        h('time', { class: 'conv-time', datetime: when, title: fullTime(when) }, relTime(when))
      ),
      h(
        'span',
        { class: 'conv-line' },
        h('span', { class: 'conv-preview' }, who ? h('span', { class: 'prev-who' }, who) : null, text),
        c.unread ? h('span', { class: 'dot' }, h('span', { class: 'sr-only' }, 'Unread')) : null
      ),
      h(
        'span',
        { class: 'conv-tags' },
        h('span', { class: `badge badge-${c.status}` }, STATUS_LABEL[c.status] || c.status),
        assignee ? h('span', { class: 'tag' }, assignee === 'You' ? 'Assigned to you' : assignee) : h('span', { class: 'tag tag-muted' }, 'Unassigned'),
        state.widgets.size > 1 && state.widgets.get(c.widgetId) ? h('span', { class: 'tag tag-muted' }, state.widgets.get(c.widgetId).name) : null
      )
    )
  );
  return h('li', { dataset: { id: c.id } }, a);
}

function renderList() {
  const ul = $('inbox-list');
  // Keep focus on the same row when the list is redrawn.
  const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest('.conv-row')?.dataset.id;
  ul.replaceChildren(...state.list.map(rowFor));
  if (focusedId) ul.querySelector(`.conv-row[data-id="${CSS.escape(focusedId)}"]`)?.focus();
  show($('inbox-empty'), state.list.length === 0);
  setText($('inbox-empty'), emptyText());
  show($('inbox-more'), !state.listEnd && state.list.length > 0);
  const unread = state.list.filter((c) => c.unread).length;
  if (!onScreen()) document.title = `${unread ? `(${unread}) ` : ''}Inbox · enuchat`;
}

function emptyText() {
  const f = state.filters;
  if (f.status === 'open' && f.assignee === 'anyone' && !f.widgetId) return 'No open conversations. New chats from your website appear here.';
  return 'No conversations match these filters.';
}

function refreshTimes() {
  for (const t of document.querySelectorAll('.conv-time')) t.textContent = relTime(t.getAttribute('datetime'));
}

// Puts a conversation where it belongs in the list (or takes it out).
function upsert(c) {
  const i = state.list.findIndex((x) => x.id === c.id);
  if (i >= 0) state.list.splice(i, 1);
  if (matches(c)) {
    state.list.push(c);
    sortList();
  }
  renderList();
}

function wireFilters() {
  for (const r of document.querySelectorAll('input[name=status]'))
    r.addEventListener('change', () => {
      state.filters.status = r.value;
      loadInbox();
    });
  $('f-widget').addEventListener('change', (e) => {
    state.filters.widgetId = e.target.value;
    loadInbox();
  });
  $('f-assignee').addEventListener('change', (e) => {
    state.filters.assignee = e.target.value;
    loadInbox();
  });
  $('inbox-more').addEventListener('click', loadMore);
}

// ------------------------------------------------------------------ live updates

function connect() {
  disconnect();
  if (!state.me) return;
  // The browser knows it has no network: wait for its 'online' event (a slow
  // retry as a safety net) instead of failing in a loop.
  if (navigator.onLine === false) {
    live('offline');
    state.wsTimer = setTimeout(connect, 10000);
    return;
  }
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/dashboard/ws`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    return retry();
  }
  state.ws = ws;
  live('connecting');
  ws.onmessage = (ev) => {
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (frame.type === 'ready') {
      state.wsAttempt = 0;
      live('live');
      // The server keeps no backlog: whatever happened while we were away
      // (or before we subscribed) comes from a fresh fetch.
      resync();
    } else if (frame.type === 'message') onMessage(frame.conversationId, frame.message);
    else if (frame.type === 'message_updated') onMessageUpdated(frame.conversationId, frame.message);
    else if (frame.type === 'conversation') onConversation(frame.conversation);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    live('offline');
    retry();
  };
}

function retry() {
  if (!state.me) return;
  clearTimeout(state.wsTimer);
  // A socket that keeps failing may mean the session ended: ask (a 401 shows the sign-in).
  if (state.wsAttempt >= 2) call('GET', '/session').catch(() => {});
  const base = Math.min(15000, 500 * 2 ** state.wsAttempt);
  state.wsAttempt++;
  state.wsTimer = setTimeout(connect, base / 2 + Math.random() * (base / 2));
}

// Forgets the socket at once (a close handshake may hang when the network is gone).
function disconnect() {
  clearTimeout(state.wsTimer);
  const ws = state.ws;
  state.ws = null;
  if (ws) {
    ws.onmessage = ws.onclose = null;
    try {
      ws.close();
    } catch {
      // already closed
    }
  }
}

function live(s) {
  const el = $('live');
  el.dataset.state = s;
  setText(el, s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting…' : 'Reconnecting…');
}

async function resync() {
  await loadInbox();
  if (state.openId) await openConversation(state.openId, { quiet: true });
}

function onMessage(conversationId, m) {
  if (!m) return;
  const isOpen = conversationId === state.openId;
  const row = state.list.find((c) => c.id === conversationId);
  if (isOpen) {
    appendMessages([m]);
    if (m.role === 'visitor') {
      announce(`New message from ${visitorLabel(state.conv)}: ${m.content}`);
      markRead();
    }
  }
  if (row) {
    if (!row.lastMessage || Date.parse(m.createdAt) >= Date.parse(row.lastMessage.createdAt)) {
      row.lastMessage = { role: m.role, content: m.content, createdAt: m.createdAt, authorId: m.authorId };
      row.lastMessageAt = m.createdAt;
    }
    if (m.role === 'visitor' && !isOpen) row.unread = true;
    row._live = ++arrivals;
    sortList();
    renderList();
    if (m.role === 'visitor' && !isOpen) announce(`New message from ${visitorLabel(row)}`);
  }
  // The row's status or assignment may have changed too (a visitor reopens a
  // closed chat, a reply assigns it), and a new conversation is not in the
  // list yet: ask the server for the conversation itself.
  refreshRow(conversationId, m);
}

const refreshing = new Map();
function refreshRow(id, m) {
  clearTimeout(refreshing.get(id));
  refreshing.set(
    id,
    setTimeout(async () => {
      refreshing.delete(id);
      try {
        const c = await call('GET', `/conversations/${id}?limit=1`);
        const { messages, hasOlder, ...conv } = c;
        const old = state.list.find((x) => x.id === id);
        const last = messages && messages[messages.length - 1];
        conv.lastMessage = last ? { role: last.role, content: last.content, createdAt: last.createdAt, authorId: last.authorId } : old?.lastMessage || null;
        conv.unread = id === state.openId ? false : old ? old.unread : m && m.role === 'visitor';
        conv._live = old ? old._live : ++arrivals;
        upsert(conv);
        if (!old && conv.unread && matches(conv)) announce(`New conversation with ${visitorLabel(conv)}`);
        if (id === state.openId) updateHeader(conv);
      } catch {
        // The next resync puts it right.
      }
    }, 150)
  );
}

function onConversation(c) {
  if (!c || !c.id) return;
  const old = state.list.find((x) => x.id === c.id);
  const merged = { lastMessage: null, unread: false, ...old, ...c };
  if (old || matches(merged)) upsert(merged);
  if (c.id === state.openId) updateHeader({ ...state.conv, ...c });
}

function announce(text) {
  const el = $('announce');
  el.textContent = '';
  setTimeout(() => (el.textContent = text), 50);
}

// ------------------------------------------------------------------ conversation

// What the admin screens (nav.js) may use from here.
const screenCtx = () => ({
  me: state.me,
  call,
  announce,
  onWidgetsChanged: loadWidgets,
  onTeamChanged: loadOperators,
});

function route() {
  if (routeScreen(screenCtx())) {
    if (state.openId) closeConversation();
    return;
  }
  const m = /^#\/c\/([\w-]+)$/.exec(location.hash);
  if (m) openConversation(m[1]);
  else closeConversation();
}

function closeConversation() {
  state.openId = null;
  state.conv = null;
  state.convGen++;
  show($('conv'), false);
  show($('conv-empty'));
  $('panes').dataset.view = 'list';
  for (const a of document.querySelectorAll('.conv-row[aria-current]')) a.removeAttribute('aria-current');
  if (!onScreen()) document.title = document.title.replace(/ · .* · enuchat$/, ' · enuchat');
}

async function openConversation(id, { quiet = false } = {}) {
  const gen = ++state.convGen;
  const switching = state.openId !== id;
  state.openId = id;
  $('panes').dataset.view = 'conv';
  for (const a of document.querySelectorAll('.conv-row')) {
    if (a.dataset.id === id) a.setAttribute('aria-current', 'true');
    else a.removeAttribute('aria-current');
  }
  if (switching) {
    show($('conv-empty'), false);
    show($('conv'));
    state.messages = [];
    state.updated = new Map();
    $('messages').replaceChildren();
    setText($('conv-title'), 'Loading…');
    setText($('conv-sub'), '');
    show($('older'), false);
    show($('conv-error'), false);
  }
  try {
    const c = await call('GET', `/conversations/${id}?limit=${PAGE}`);
    if (gen !== state.convGen) return;
    const { messages, hasOlder, ...conv } = c;
    updateHeader(conv);
    const last = state.messages.length ? state.messages[state.messages.length - 1].seq : null;
    if (!switching && last !== null && (!messages.length || messages[0].seq <= last + 1)) {
      // The same conversation again (after a reconnect): add what is new, keep the reader's place.
      appendMessages(messages);
    } else {
      state.messages = [];
      $('messages').replaceChildren();
      state.hasOlder = !!hasOlder;
      appendMessages(messages, { scroll: 'bottom' });
    }
    show($('older'), state.hasOlder);
    markRead();
    if (switching && !quiet && matchMedia('(max-width: 760px)').matches) $('back').focus();
  } catch (e) {
    if (gen !== state.convGen) return;
    if (e.status === 404) {
      setText($('conv-title'), 'Conversation not found');
      setText($('conv-sub'), 'It may belong to another account or have been deleted.');
    } else {
      setText($('conv-error'), `Could not load the conversation: ${e.message}`);
      show($('conv-error'));
    }
  }
}

function updateHeader(conv) {
  state.conv = conv;
  const name = visitorLabel(conv);
  setText($('conv-title'), name);
  const avatar = $('conv-avatar');
  avatar.style.setProperty('--hue', hueOf(conv.visitorId));
  setText(avatar, initials(conv.visitorName || conv.visitorEmail));
  const sub = [conv.visitorName && conv.visitorEmail, `Started ${fullTime(conv.startedAt)}`].filter(Boolean).join(' · ');
  setText($('conv-sub'), sub);
  $('conv-status').value = conv.status;
  $('conv-assignee').value = conv.assignedTo && state.operators.has(conv.assignedTo) ? conv.assignedTo : '';
  setText($('d-name'), conv.visitorName || '—');
  setText($('d-email'), conv.visitorEmail || '—');
  setText($('d-lang'), languageName(conv.visitorLanguage) || '—');
  setText($('d-started'), fullTime(conv.startedAt));
  setText($('d-widget'), state.widgets.get(conv.widgetId)?.name || '—');
  setText($('d-visitor'), conv.visitorId);
  document.title = `${name} · Inbox · enuchat`;
}

function authorLabel(m) {
  if (m.role === 'visitor') return state.conv ? visitorLabel(state.conv) : 'Visitor';
  if (m.role === 'operator') return m.authorId ? operatorName(m.authorId) : 'Operator';
  if (m.role === 'ai') return m.isAutoReply ? 'AI assistant · auto-reply' : 'AI assistant';
  return ROLE_LABEL[m.role] || m.role;
}

function messageEl(m) {
  const translated = m.translatedContent != null && m.translatedContent !== '';
  const lang = (tag) => (tag ? ` · ${String(tag).toUpperCase()}` : '');
  const body = [h('p', { class: 'msg-text' }, translated ? h('span', { class: 'msg-tag' }, `Original${lang(m.contentLanguage)}`) : null, m.content)];
  if (translated)
    body.push(
      h('p', { class: 'msg-text msg-translation' }, h('span', { class: 'msg-tag' }, `Translation${lang(m.translatedLanguage)}`), m.translatedContent)
    );
  return h(
    'li',
    { class: `msg msg-${m.role}`, dataset: { seq: m.seq, id: m.id, role: m.role } },
    h(
      'div',
      { class: 'msg-meta' },
      h('span', { class: 'role-badge' }, ROLE_LABEL[m.role] || m.role),
      m.role === 'system' ? null : h('span', { class: 'msg-author' }, authorLabel(m)),
      h('time', { datetime: m.createdAt, title: fullTime(m.createdAt) }, clock(m.createdAt))
    ),
    h('div', { class: 'bubble' }, body)
  );
}

// A message's translation arrived: show both texts in the open thread.
function onMessageUpdated(conversationId, m) {
  if (!m || conversationId !== state.openId) return;
  // Kept even when the message is not shown yet: the thread may be loading.
  state.updated.set(m.id, m);
  replaceMessage(m);
}

function replaceMessage(m) {
  const i = state.messages.findIndex((x) => x.id === m.id);
  if (i < 0) return;
  state.messages[i] = m;
  const old = [...$('messages').children].find((li) => li.dataset.id === m.id);
  if (old) old.replaceWith(messageEl(m));
}

// The newest version known of a message: its update if one arrived, and a
// translated copy over an untranslated one.
function newest(m) {
  const u = state.updated.get(m.id);
  return u && u.translatedContent != null && m.translatedContent == null ? u : m;
}

// Adds messages in seq order, each once, keeping the view pinned to the
// bottom when it was there.
function appendMessages(list, { scroll } = {}) {
  const thread = $('thread');
  const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
  const have = new Map(state.messages.map((m) => [m.id, m]));
  const fresh = [];
  for (const m of list) {
    if (!m) continue;
    const known = have.get(m.id);
    if (!known) fresh.push(newest(m));
    // Shown untranslated, now fetched with its translation (after a reconnect).
    else if (known.translatedContent == null && m.translatedContent != null) replaceMessage(m);
  }
  if (!fresh.length) return;
  state.messages.push(...fresh);
  state.messages.sort((a, b) => a.seq - b.seq);
  const ol = $('messages');
  for (const m of fresh) {
    const el = messageEl(m);
    const next = [...ol.children].find((li) => Number(li.dataset.seq) > m.seq);
    ol.insertBefore(el, next || null);
  }
  if (scroll === 'bottom' || atBottom) thread.scrollTop = thread.scrollHeight;
}

async function loadOlder() {
  if (!state.openId || !state.messages.length) return;
  const id = state.openId;
  const gen = state.convGen;
  const button = $('older');
  button.disabled = true;
  button.textContent = 'Loading…';
  try {
    const c = await call('GET', `/conversations/${id}` + query({ before: state.messages[0].seq, limit: PAGE }));
    if (gen !== state.convGen) return;
    const thread = $('thread');
    const fromBottom = thread.scrollHeight - thread.scrollTop;
    appendMessages(c.messages);
    thread.scrollTop = thread.scrollHeight - fromBottom; // stay where the reader was
    state.hasOlder = !!c.hasOlder;
    show(button, state.hasOlder);
    if (!state.hasOlder) $('thread').focus();
  } catch (e) {
    setText($('conv-error'), `Could not load older messages: ${e.message}`);
    show($('conv-error'));
  } finally {
    button.disabled = false;
    button.textContent = 'Load older messages';
  }
}

let readSeq = new Map();
async function markRead() {
  const id = state.openId;
  if (!id || !state.messages.length || document.visibilityState === 'hidden') return;
  const seq = state.messages[state.messages.length - 1].seq;
  const row = state.list.find((c) => c.id === id);
  if (row && row.unread) {
    row.unread = false;
    renderList();
  }
  if ((readSeq.get(id) || 0) >= seq) return;
  readSeq.set(id, seq);
  try {
    await call('POST', `/conversations/${id}/read`, { seq });
  } catch {
    readSeq.delete(id);
  }
}

async function sendReply() {
  const box = $('reply-text');
  const content = box.value.trim();
  const id = state.openId;
  if (!content || !id) return;
  const button = $('reply').querySelector('button');
  button.disabled = true;
  show($('conv-error'), false);
  box.value = ''; // at once, so the next message can be typed; given back if sending fails
  try {
    const m = await call('POST', `/conversations/${id}/messages`, { content });
    if (id === state.openId) {
      appendMessages([m], { scroll: 'bottom' });
      if (state.conv && !state.conv.assignedTo) updateHeader({ ...state.conv, assignedTo: state.me.id });
    }
    const row = state.list.find((c) => c.id === id);
    if (row) {
      row.lastMessage = { role: m.role, content: m.content, createdAt: m.createdAt, authorId: m.authorId };
      row.lastMessageAt = m.createdAt;
      if (!row.assignedTo) row.assignedTo = state.me.id;
      row._live = ++arrivals;
      upsert(row);
    }
    readSeq.set(id, Math.max(readSeq.get(id) || 0, m.seq || 0));
  } catch (e) {
    if (!box.value) box.value = content;
    setText($('conv-error'), `Your reply was not sent: ${e.message}`);
    show($('conv-error'));
  } finally {
    button.disabled = false;
    box.focus();
  }
}

// Changes are sent one after another, so an older answer never overwrites a newer choice.
let patching = Promise.resolve();
function patchConversation(change, revert) {
  patching = patching.then(() => sendPatch(change, revert));
  return patching;
}

async function sendPatch(change, revert) {
  const id = state.openId;
  show($('conv-error'), false);
  try {
    const c = await call('PATCH', `/conversations/${id}`, change);
    if (id === state.openId) updateHeader({ ...state.conv, ...c });
    onConversation(c);
    announce(change.status ? `Status set to ${STATUS_LABEL[c.status]}` : c.assignedTo ? `Assigned to ${operatorName(c.assignedTo)}` : 'Unassigned');
  } catch (e) {
    revert();
    setText($('conv-error'), `The change was not saved: ${e.message}`);
    show($('conv-error'));
  }
}

// ------------------------------------------------------------------ wiring

function wireApp() {
  wireFilters();
  wireSkip();
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => state.me && route());
  $('back').addEventListener('click', () => {
    const id = state.openId;
    location.hash = '#/';
    setTimeout(() => document.querySelector(`.conv-row[data-id="${CSS.escape(id || '')}"]`)?.focus(), 0);
  });
  $('older').addEventListener('click', loadOlder);
  $('reply').addEventListener('submit', (e) => {
    e.preventDefault();
    sendReply();
  });
  $('reply-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      sendReply();
    }
  });
  $('conv-status').addEventListener('change', (e) => {
    const before = state.conv.status;
    patchConversation({ status: e.target.value }, () => (e.target.value = before));
  });
  $('conv-assignee').addEventListener('change', (e) => {
    const before = state.conv.assignedTo || '';
    patchConversation({ assignedTo: e.target.value || null }, () => (e.target.value = before));
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') markRead();
  });
  addEventListener('offline', () => {
    if (!state.me) return;
    disconnect();
    live('offline');
    state.wsTimer = setTimeout(connect, 10000);
  });
  addEventListener('online', () => {
    if (!state.me || state.ws) return;
    state.wsAttempt = 0;
    connect();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.openId && matchMedia('(max-width: 760px)').matches && !e.target.closest('select')) $('back').click();
  });
}

boot();
