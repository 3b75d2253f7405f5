/*
 * enuchat chat widget. Embed with
 *   <script src="https://HOST/widget.js" data-widget-id="WIDGET_ID" async></script>
 * Plain JavaScript, no dependencies, no build step. Protocol: docs/visitor-api.md.
 *
 * Rules this file keeps:
 * - Everything it draws lives in one open Shadow DOM, so the host page's CSS
 *   cannot reach in and ours cannot leak out.
 * - Text that came from the network is only ever set with textContent.
 * - An unknown or switched-off widget adds nothing to the page.
 */
(() => {
  'use strict';

  // Loaded twice (snippet pasted twice, SPA re-inserting it)? Keep the first.
  if (window.Enuchat && window.Enuchat.version) return;

  const script =
    document.currentScript ||
    [...document.querySelectorAll('script[data-widget-id]')].find((s) =>
      /\/widget\.js([?#].*)?$/.test(s.src)
    );
  const widgetId = script && script.dataset.widgetId;
  if (!widgetId) return;

  const BASE = new URL(script.src, location.href).origin;
  const API = BASE + '/api/v1/widget';
  const STORE_KEY = 'enuchat:' + widgetId;
  const MAX_LEN = 10000;

  // ---------------------------------------------------------------- labels

  // One line per language, fields in KEYS order. Kept as joined strings
  // because it is the smallest readable form.
  const KEYS = 'open close title placeholder send greeting connecting online offline failed ai unread'.split(' ');
  const LABELS = {
    en: 'Open chat|Close chat|Chat with us|Write a message…|Send|Hi! How can we help you today?|Connecting…|Connected|Offline|Not sent. Tap to retry.|AI assistant|new messages',
    de: 'Chat öffnen|Chat schließen|Schreiben Sie uns|Nachricht schreiben…|Senden|Hallo! Wie können wir Ihnen helfen?|Verbinde…|Verbunden|Offline|Nicht gesendet. Tippen zum Wiederholen.|KI-Assistent|neue Nachrichten',
    es: 'Abrir chat|Cerrar chat|Chatea con nosotros|Escribe un mensaje…|Enviar|¡Hola! ¿En qué podemos ayudarte?|Conectando…|Conectado|Sin conexión|No enviado. Toca para reintentar.|Asistente de IA|mensajes nuevos',
    fr: 'Ouvrir le chat|Fermer le chat|Discutez avec nous|Écrivez un message…|Envoyer|Bonjour ! Comment pouvons-nous vous aider ?|Connexion…|Connecté|Hors ligne|Non envoyé. Touchez pour réessayer.|Assistant IA|nouveaux messages',
    pl: 'Otwórz czat|Zamknij czat|Napisz do nas|Napisz wiadomość…|Wyślij|Cześć! Jak możemy pomóc?|Łączenie…|Połączono|Offline|Nie wysłano. Dotknij, aby ponowić.|Asystent AI|nowe wiadomości',
    pt: 'Abrir chat|Fechar chat|Fale conosco|Escreva uma mensagem…|Enviar|Olá! Como podemos ajudar?|Conectando…|Conectado|Offline|Não enviada. Toque para tentar de novo.|Assistente de IA|novas mensagens',
    it: 'Apri la chat|Chiudi la chat|Scrivici|Scrivi un messaggio…|Invia|Ciao! Come possiamo aiutarti?|Connessione…|Connesso|Offline|Non inviato. Tocca per riprovare.|Assistente IA|nuovi messaggi',
    nl: 'Chat openen|Chat sluiten|Chat met ons|Typ een bericht…|Verzenden|Hallo! Waarmee kunnen we je helpen?|Verbinden…|Verbonden|Offline|Niet verzonden. Tik om opnieuw te proberen.|AI-assistent|nieuwe berichten',
  };
  const navLang = String(navigator.language || 'en');
  const uiLang = LABELS[navLang.slice(0, 2).toLowerCase()] ? navLang.slice(0, 2).toLowerCase() : 'en';
  const T = Object.fromEntries(LABELS[uiLang].split('|').map((v, i) => [KEYS[i], v]));

  // The server accepts `en`, `pl`, `pt-BR`; tags like `zh-Hans-CN` are cut to
  // their language so visitor creation never fails on them.
  function visitorLanguage() {
    if (/^[a-z]{2,3}(-[a-z0-9]{2,8})?$/i.test(navLang)) return navLang;
    const primary = navLang.split('-')[0];
    return /^[a-z]{2,3}$/i.test(primary) ? primary : undefined;
  }

  // ---------------------------------------------------------------- colours

  function rgb(hex) {
    let h = String(hex || '').replace('#', '');
    if (/^[0-9a-f]{3}$/i.test(h)) h = h.replace(/./g, '$&$&');
    if (!/^[0-9a-f]{6}$/i.test(h)) return null;
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  }
  function luminance(c) {
    const [r, g, b] = c.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  const contrast = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const INK = '#111827';
  const INK_L = luminance(rgb(INK));

  // Text on the brand colour is white or near-black, whichever reads better,
  // so any primaryColor a tenant picks stays legible.
  function palette(hex) {
    const c = rgb(hex) || rgb('#2563eb');
    const l = luminance(c);
    const primary = '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
    return {
      primary,
      onPrimary: contrast(l, 1) >= contrast(l, INK_L) ? '#ffffff' : INK,
      // Focus rings sit on white: use the brand colour only if it shows there.
      ring: contrast(l, 1) >= 3 ? primary : INK,
    };
  }

  // ---------------------------------------------------------------- events

  const handlers = {};
  let isReady = false;
  let resolveReady, rejectReady;
  const ready = new Promise((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  ready.catch(() => {}); // an inactive widget is not an unhandled error

  function emit(event, arg) {
    for (const h of handlers[event] || []) {
      try {
        h(arg);
      } catch (e) {
        setTimeout(() => { throw e; }); // a broken handler must not break the widget
      }
    }
  }

  // ---------------------------------------------------------------- HTTP

  const state = {
    visitorId: null,
    token: null,
    maxSeq: 0,
    seqs: new Set(),
    // Seqs of replies shown in the original while their translation was on
    // its way (see refreshPending).
    pending: new Set(),
    ws: null,
    attempt: 0,
    timer: 0,
    status: null,
    isOpen: false,
    wantOpen: false,
    unread: 0,
  };

  async function http(method, path, body, token) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
    });
    let json = null;
    try {
      json = await res.json();
    } catch (_) {}
    if (!res.ok) {
      const info = (json && json.error) || {};
      const err = new Error(info.message || 'HTTP ' + res.status);
      err.status = res.status;
      err.code = info.code;
      throw err;
    }
    return json && json.data;
  }

  // A call with the visitor token. A 401 means the stored token is no longer
  // known (e.g. the server's database was reset): become a new visitor and
  // try once more. Concurrent 401s share one renewal.
  let renewing = null;
  async function authed(method, path, body) {
    const token = state.token;
    try {
      return await http(method, path, body, token);
    } catch (e) {
      if (e.status !== 401) throw e;
      if (state.token === token) {
        renewing = renewing || newVisitor().finally(() => (renewing = null));
        await renewing;
      }
      return http(method, path, body, state.token);
    }
  }

  const storage = {
    get() {
      try {
        const v = JSON.parse(localStorage.getItem(STORE_KEY));
        return v && typeof v.token === 'string' && typeof v.visitorId === 'string' ? v : null;
      } catch (_) {
        return null; // storage blocked (privacy mode): live without it
      }
    },
    set(v) {
      try {
        localStorage.setItem(STORE_KEY, JSON.stringify(v));
      } catch (_) {}
    },
  };

  async function newVisitor() {
    const language = visitorLanguage();
    const v = await http('POST', `/widgets/${encodeURIComponent(widgetId)}/visitors`, language ? { language } : {});
    const hadOne = state.token !== null;
    state.visitorId = v.visitorId;
    state.token = v.token;
    storage.set({ visitorId: v.visitorId, token: v.token });
    // A new visitor has a new (empty) conversation: forget what the old one showed.
    if (hadOne) {
      ui && ui.log.querySelectorAll('[data-seq]').forEach((el) => el.remove());
      state.seqs.clear();
      state.pending.clear();
      state.maxSeq = 0;
      if (state.ws) drop();
    }
  }

  // Network trouble, 5xx and 429 are worth waiting out; other 4xx are final.
  const retryable = (e) => !e.status || e.status >= 500 || e.status === 429;
  async function patiently(fn) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!retryable(e)) throw e;
        await new Promise((r) => setTimeout(r, backoff(attempt)));
      }
    }
  }
  // 0.5 s doubling to 10 s, each wait drawn from its upper half (jitter) so
  // that many visitors of a restarted server do not all come back at once.
  function backoff(attempt) {
    const d = Math.min(10000, 500 * 2 ** Math.min(attempt, 10));
    return d / 2 + (Math.random() * d) / 2;
  }

  // ---------------------------------------------------------------- boot

  async function boot() {
    let config;
    try {
      config = await patiently(() => http('GET', `/widgets/${encodeURIComponent(widgetId)}`));
      if (!config || !config.isActive) throw Object.assign(new Error('widget is not active'), { code: 'WIDGET_INACTIVE' });
    } catch (e) {
      console.warn('[enuchat] widget not shown:', e.code || e.message);
      rejectReady(e);
      return;
    }
    render(config);
    try {
      await patiently(async () => {
        const saved = storage.get();
        if (saved && !state.token) Object.assign(state, saved);
        if (!state.token) await newVisitor();
        const history = await authed('GET', '/messages?limit=50');
        for (const m of history || []) addMessage(m, false);
      });
    } catch (e) {
      console.warn('[enuchat] could not start:', e.code || e.message);
      // Switched off (or this site no longer allowed) since the config was
      // read: take the widget away again rather than show a dead one.
      if (e.status === 403) ui.host.remove();
      else setStatus('offline');
      rejectReady(e);
      return;
    }
    isReady = true;
    resolveReady();
    emit('ready', { visitorId: state.visitorId });
    connect();
  }

  // ---------------------------------------------------------------- real time

  function connect() {
    clearTimeout(state.timer);
    if (state.ws || !state.token) return;
    // The browser knows it has no network: wait for its 'online' event
    // (with a slow retry as a safety net) instead of failing in a loop.
    if (navigator.onLine === false) {
      setStatus('offline');
      state.timer = setTimeout(connect, 10000);
      return;
    }
    setStatus('connecting');
    const url =
      BASE.replace(/^http/, 'ws') +
      '/api/v1/widget/ws?token=' + encodeURIComponent(state.token) + '&after=' + state.maxSeq;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (_) {
      return reconnectLater();
    }
    let opened = false;
    state.ws = ws;
    ws.onopen = () => (opened = true);
    ws.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (frame.type === 'message') addMessage(frame.message, true);
      else if (frame.type === 'update') updateMessage(frame.message);
      else if (frame.type === 'ready') {
        state.attempt = 0;
        setStatus('online');
        refreshPending();
      }
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      state.ws = null;
      setStatus('offline');
      // A refused upgrade (e.g. unknown token) looks like any failed
      // connection; /me tells them apart and authed() renews the visitor.
      if (!opened) authed('GET', '/me').catch(() => {});
      reconnectLater();
    };
  }

  function reconnectLater() {
    clearTimeout(state.timer);
    state.timer = setTimeout(connect, backoff(state.attempt++));
  }

  // Forget the current socket at once (a close handshake may hang when the
  // network is gone) and plan the next attempt.
  function drop() {
    const ws = state.ws;
    if (!ws) return;
    state.ws = null;
    ws.onclose = ws.onmessage = null;
    try {
      ws.close();
    } catch (_) {}
    setStatus('offline');
    reconnectLater();
  }

  function reconnectNow() {
    if (!isReady || state.ws) return;
    state.attempt = 0;
    connect();
  }
  addEventListener('offline', drop);
  addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && reconnectNow());

  function setStatus(s) {
    if (s === state.status) return;
    state.status = s;
    if (ui) {
      ui.root.dataset.status = s;
      ui.statusText.textContent = T[s];
    }
    emit('status', s);
  }

  // ---------------------------------------------------------------- messages

  const publicMessage = (m) => ({
    id: m.id,
    seq: m.seq,
    role: m.role,
    content: m.content,
    isAutoReply: !!m.isAutoReply,
    createdAt: m.createdAt,
  });

  // Shows a stored message once, in seq order, whichever way it came (history,
  // socket, or the answer to our own POST). Returns whether it was new.
  function addMessage(m, live) {
    if (!m || typeof m.seq !== 'number' || state.seqs.has(m.seq)) return false;
    state.seqs.add(m.seq);
    state.maxSeq = Math.max(state.maxSeq, m.seq);
    if (m.translationPending) state.pending.add(m.seq);
    if (ui) {
      if (m.role === 'visitor') {
        // Our own message came back over the socket before the POST answer:
        // it replaces the pending bubble instead of showing up twice.
        const pending = [...ui.log.querySelectorAll('.pending:not(.failed)')].find((el) => el._content.trim() === String(m.content).trim());
        if (pending) pending.remove();
      }
      const el = messageRow(m);
      // Walk back over pending bubbles and later messages to find our place.
      let ref = ui.log.lastElementChild;
      while (ref && (ref.classList.contains('pending') || +ref.dataset.seq > m.seq)) ref = ref.previousElementSibling;
      ui.log.insertBefore(el, ref ? ref.nextSibling : ui.log.firstChild);
      if (live && m.role !== 'visitor' && !state.isOpen) setUnread(state.unread + 1);
      scrollDown(m.role === 'visitor');
    }
    emit('message', publicMessage(m));
    return true;
  }

  // A message shown before its translation arrived (the translator was
  // slow): the bubble now shows the translation.
  function updateMessage(m) {
    if (!ui || !m || typeof m.seq !== 'number') return;
    if (!m.translationPending) state.pending.delete(m.seq);
    const row = ui.log.querySelector('[data-seq="' + m.seq + '"]');
    const bubble = row && row.querySelector('.bubble');
    if (bubble) bubble.textContent = m.content;
  }

  // The socket sends an `update` when a late translation arrives, but not one
  // that arrived while it was down: once live again (the socket is listening
  // by then), read the replies still shown in the original once more.
  async function refreshPending() {
    if (!state.pending.size) return;
    try {
      const fresh = await authed('GET', `/messages?after=${Math.min(...state.pending) - 1}&limit=200`);
      for (const m of fresh || []) if (state.pending.has(m.seq)) updateMessage(m);
    } catch (_) {
      // The next reconnect tries again; the text stays readable meanwhile.
    }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function messageRow(m) {
    const mine = m.role === 'visitor';
    const row = el('div', 'row ' + (mine ? 'me' : 'them') + ' role-' + String(m.role).replace(/\W/g, ''));
    row.dataset.seq = m.seq;
    if (m.role === 'ai') row.append(el('div', 'who', T.ai));
    row.append(el('div', 'bubble', m.content));
    const d = new Date(m.createdAt);
    if (!isNaN(d)) {
      const t = el('time', 'time', d.toLocaleTimeString(uiLang, { hour: 'numeric', minute: '2-digit' }));
      t.dateTime = m.createdAt;
      t.title = d.toLocaleString(uiLang);
      row.append(t);
    }
    return row;
  }

  function pendingRow(content) {
    const row = el('div', 'row me pending');
    row._content = content;
    row.append(el('div', 'bubble', content));
    ui.log.append(row);
    scrollDown(true);
    return row;
  }

  function markFailed(row) {
    row.classList.add('failed');
    const retry = el('button', 'retry', T.failed);
    retry.type = 'button';
    retry.onclick = () => {
      row.remove();
      send(row._content).catch(() => {});
    };
    row.append(retry);
  }

  function send(text) {
    const content = String(text == null ? '' : text);
    if (!content.trim()) return Promise.reject(new Error('A message cannot be empty.'));
    if (content.length > MAX_LEN) return Promise.reject(new Error('A message may have at most 10000 characters.'));
    const row = ui && pendingRow(content);
    return ready
      .then(() => authed('POST', '/messages', { content }))
      .then(
        (m) => {
          if (row) row.remove();
          addMessage(m, true);
          return publicMessage(m);
        },
        (e) => {
          if (row && row.isConnected) markFailed(row);
          throw e;
        }
      );
  }

  function identify(info) {
    const body = {};
    for (const k of ['name', 'email']) if (info && k in info) body[k] = info[k];
    return ready.then(() => (Object.keys(body).length ? authed('PATCH', '/me', body) : authed('GET', '/me')));
  }

  // ---------------------------------------------------------------- UI

  let ui = null;

  function setUnread(n) {
    state.unread = n;
    ui.badge.textContent = n > 9 ? '9+' : String(n);
    ui.badge.hidden = n === 0;
    ui.launcher.setAttribute('aria-label', n ? `${T.open} (${n} ${T.unread})` : state.isOpen ? T.close : T.open);
  }

  function scrollDown(force) {
    const log = ui.log;
    // Keep the reader's place if they scrolled up to read older messages.
    if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 120) log.scrollTop = log.scrollHeight;
  }

  function open() {
    if (!ui) return void (state.wantOpen = true);
    state.isOpen = true;
    ui.root.classList.add('is-open');
    ui.panel.hidden = false;
    ui.launcher.setAttribute('aria-expanded', 'true');
    setUnread(0);
    scrollDown(true);
    ui.input.focus();
  }

  function close() {
    if (!ui) return void (state.wantOpen = false);
    // Only move focus if it was inside the widget: a script calling close()
    // must not yank focus away from where the visitor is on the page.
    const hadFocus = ui.host.matches(':focus-within');
    state.isOpen = false;
    ui.root.classList.remove('is-open');
    ui.panel.hidden = true;
    ui.launcher.setAttribute('aria-expanded', 'false');
    setUnread(state.unread);
    if (hadFocus) ui.launcher.focus();
  }

  // Static SVG icons (constants, never data).
  const icon = (d, cls = '') => `<svg class="${cls}" viewBox="0 0 24 24" aria-hidden="true"><path d="${d}"/></svg>`;
  const CHAT = 'M12 3C6.5 3 2 6.9 2 11.7c0 2.6 1.3 4.9 3.4 6.5L4.6 22l4.3-2.2c1 .3 2 .4 3.1.4 5.5 0 10-3.9 10-8.6S17.5 3 12 3z';
  const X = 'M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z';
  const SEND = 'M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z';

  const CSS = `
:host{all:initial!important;display:block!important;position:static!important}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.ec{--r:16px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#111827;-webkit-font-smoothing:antialiased;text-align:left;direction:ltr}
button,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--ring);outline-offset:2px}
.launcher{position:fixed;z-index:2147483000;bottom:20px;right:20px;width:60px;height:60px;border:0;border-radius:50%;background:var(--p);color:var(--on);display:grid;place-items:center;box-shadow:0 6px 20px rgba(17,24,39,.28),0 2px 6px rgba(17,24,39,.16);transition:transform .15s ease,box-shadow .15s ease}
.launcher:hover{transform:translateY(-2px) scale(1.03);box-shadow:0 10px 28px rgba(17,24,39,.32)}
.launcher svg{width:28px;height:28px;fill:currentColor;grid-area:1/1;transition:opacity .15s,transform .2s}
.launcher .i-x{opacity:0;transform:rotate(-45deg)}
.is-open .launcher .i-chat{opacity:0;transform:rotate(45deg)}
.is-open .launcher .i-x{opacity:1;transform:none}
.badge{position:absolute;top:-2px;right:-2px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;box-shadow:0 0 0 2px #fff}
.panel{position:fixed;z-index:2147483001;bottom:96px;right:20px;width:380px;height:min(640px,calc(100vh - 120px));display:flex;flex-direction:column;background:#fff;border-radius:var(--r);overflow:hidden;box-shadow:0 24px 60px rgba(17,24,39,.22),0 4px 14px rgba(17,24,39,.12);animation:in .2s cubic-bezier(.2,.8,.3,1)}
.left .launcher{right:auto;left:20px}
.left .panel{right:auto;left:20px}
@keyframes in{from{opacity:0;transform:translateY(12px) scale(.98)}}
.head{display:flex;align-items:center;gap:12px;padding:16px 14px 16px 18px;background:var(--p);color:var(--on)}
.avatar{flex:none;width:40px;height:40px;border-radius:50%;display:grid;place-items:center;background:rgba(255,255,255,.18);box-shadow:inset 0 0 0 1px rgba(255,255,255,.25)}
.avatar svg{width:22px;height:22px;fill:currentColor}
.titles{flex:1;min-width:0}
.title{margin:0;font-size:17px;font-weight:650;line-height:1.25;letter-spacing:-.01em}
.status{display:flex;align-items:center;gap:6px;margin:2px 0 0;font-size:12.5px;opacity:.92}
.dot{width:8px;height:8px;border-radius:50%;background:#9ca3af;box-shadow:0 0 0 2px rgba(255,255,255,.55)}
[data-status=online] .dot{background:#22c55e}
[data-status=connecting] .dot{background:#f59e0b;animation:pulse 1.2s ease-in-out infinite}
@keyframes pulse{50%{opacity:.35}}
.x{flex:none;width:36px;height:36px;border:0;border-radius:10px;background:transparent;color:inherit;display:grid;place-items:center}
.x:hover{background:rgba(127,127,127,.2)}
.x svg{width:22px;height:22px;fill:currentColor}
.head :focus-visible{outline-color:currentColor}
.log{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:18px 16px 8px;display:flex;flex-direction:column;gap:10px;background:#f7f8fa}
.row{display:flex;flex-direction:column;max-width:82%;align-self:flex-start;align-items:flex-start}
.row.me{align-self:flex-end;align-items:flex-end}
.bubble{padding:9px 13px;border-radius:18px 18px 18px 6px;background:#fff;color:#111827;box-shadow:0 1px 2px rgba(17,24,39,.08);border:1px solid #e5e7eb;white-space:pre-wrap;overflow-wrap:anywhere}
.me .bubble{background:var(--p);color:var(--on);border-color:transparent;border-radius:18px 18px 6px 18px}
.role-system .bubble{background:#eef2f7;border-color:#e2e8f0}
.who{font-size:12px;font-weight:600;color:#4b5563;margin:0 0 3px 4px}
.time{font-size:11.5px;color:#6b7280;margin:3px 6px 0}
/* Consecutive messages from one side form a group: closer together, one time under the last. */
.me+.me,.them+.them{margin-top:-5px}
.me:has(+.me) .time,.them:has(+.them) .time{display:none}
.pending .bubble{opacity:.65}
.failed .bubble{opacity:1;box-shadow:0 0 0 2px #dc2626}
.retry{border:0;background:none;padding:4px 6px;color:#b91c1c;font-size:12.5px;text-decoration:underline}
.compose{display:flex;align-items:flex-end;gap:8px;padding:12px 12px max(12px,env(safe-area-inset-bottom));border-top:1px solid #e5e7eb;background:#fff}
textarea{flex:1;resize:none;min-height:44px;max-height:132px;padding:11px 14px;border:1px solid #d1d5db;border-radius:22px;background:#fff;font-size:16px;line-height:1.35}
textarea::placeholder{color:#6b7280}
textarea:focus-visible{outline:none;border-color:var(--ring);box-shadow:0 0 0 3px color-mix(in srgb,var(--ring) 22%,transparent)}
.send{flex:none;width:44px;height:44px;border:0;border-radius:50%;background:var(--p);color:var(--on);display:grid;place-items:center;transition:opacity .15s}
.send:disabled{opacity:.4;cursor:default}
.send svg{width:20px;height:20px;fill:currentColor;margin-left:2px}
@media (max-width:480px){
.panel{inset:0;width:100%;height:100%;border-radius:0}
.left .panel{left:0}
.is-open .launcher{display:none}
}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
`;

  function render(config) {
    const colors = palette(config.primaryColor);
    // A custom element name: site CSS aimed at div/section never matches it.
    const host = document.createElement('enuchat-widget');
    const shadow = host.attachShadow({ mode: 'open' });
    const style = el('style');
    style.textContent = CSS;
    const root = el('div', 'ec' + (config.position === 'bottom-left' ? ' left' : ''));
    root.style.cssText = `--p:${colors.primary};--on:${colors.onPrimary};--ring:${colors.ring}`;
    // Static markup only; every label and message is set with textContent below.
    root.innerHTML = `
<section class="panel" id="panel" role="dialog" hidden>
  <header class="head">
    <div class="avatar">${icon(CHAT)}</div>
    <div class="titles"><h2 class="title"></h2><p class="status"><span class="dot" aria-hidden="true"></span><span class="st"></span></p></div>
    <button class="x" type="button">${icon(X)}</button>
  </header>
  <div class="log" role="log" aria-live="polite"><div class="row them greeting"><div class="bubble"></div></div></div>
  <form class="compose">
    <textarea rows="1"></textarea>
    <button class="send" type="submit" disabled>${icon(SEND)}</button>
  </form>
</section>
<button class="launcher" type="button" aria-expanded="false" aria-controls="panel">
  ${icon(CHAT, 'i-chat')}${icon(X, 'i-x')}<span class="badge" aria-hidden="true" hidden></span>
</button>`;
    const $ = (s) => root.querySelector(s);
    ui = {
      host,
      root,
      panel: $('.panel'),
      launcher: $('.launcher'),
      badge: $('.badge'),
      log: $('.log'),
      input: $('textarea'),
      statusText: $('.st'),
    };
    ui.panel.setAttribute('aria-label', T.title);
    $('.title').textContent = T.title;
    $('.x').setAttribute('aria-label', T.close);
    $('.greeting .bubble').textContent = config.greeting || T.greeting;
    ui.input.placeholder = T.placeholder;
    ui.input.setAttribute('aria-label', T.placeholder);
    ui.input.maxLength = MAX_LEN;
    const sendBtn = $('.send');
    sendBtn.setAttribute('aria-label', T.send);
    setUnread(0);

    ui.launcher.onclick = () => (state.isOpen ? close() : open());
    $('.x').onclick = close;
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.isOpen) {
        e.stopPropagation();
        close();
        ui.launcher.focus();
      }
    });

    const autosize = () => {
      ui.input.style.height = 'auto';
      ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 132) + 'px';
      sendBtn.disabled = !ui.input.value.trim();
    };
    ui.input.addEventListener('input', autosize);
    ui.input.addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter is a new line; never send half-typed IME text.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $('.compose').requestSubmit();
      }
    });
    $('.compose').addEventListener('submit', (e) => {
      e.preventDefault();
      const text = ui.input.value;
      if (!text.trim()) return;
      ui.input.value = '';
      autosize();
      send(text).catch(() => {}); // the bubble shows the failure and offers a retry
    });

    shadow.append(style, root);
    const mount = () => document.body.appendChild(host);
    document.body ? mount() : document.addEventListener('DOMContentLoaded', mount);
    setStatus(state.status || 'connecting');
    if (state.wantOpen) open();
  }

  // ---------------------------------------------------------------- public API

  window.Enuchat = {
    version: '1',
    open,
    close,
    send,
    identify,
    on(event, handler) {
      (handlers[event] = handlers[event] || new Set()).add(handler);
      // 'ready' happens once; a late listener still hears about it.
      if (event === 'ready' && isReady) setTimeout(() => handler({ visitorId: state.visitorId }));
      return () => handlers[event].delete(handler);
    },
    get visitorId() {
      return state.visitorId;
    },
  };

  boot();
})();
