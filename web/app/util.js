// Small DOM and formatting helpers. Text from the network only ever becomes
// text nodes: h() never parses markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

export function setText(el, text) {
  el.textContent = text == null ? '' : String(text);
}

export function show(el, on = true) {
  el.hidden = !on;
}

const DAY = 86400000;
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

// "now", "5m", "3h", "Yesterday", "Mon", "12 Mar": short enough for a list row.
export function relTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const diff = Math.max(0, now - t);
  if (diff < 60000) return 'now';
  if (diff < 3600000) return `${Math.floor(diff / 60000)}m`;
  const start = new Date(now);
  start.setHours(0, 0, 0, 0);
  if (t >= start.getTime()) return `${Math.floor(diff / 3600000)}h`;
  if (t >= start.getTime() - DAY) return 'Yesterday';
  if (t >= start.getTime() - 6 * DAY) return dayFmt.format(t);
  return dateFmt.format(t);
}

export const clock = (iso) => timeFmt.format(Date.parse(iso));
export const fullTime = (iso) => fullFmt.format(Date.parse(iso));

export function initials(name) {
  const words = String(name || '').replace(/[^\p{L}\p{N}\s]/gu, ' ').trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '?';
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}

// A stable, pleasant colour per visitor, so rows are easy to tell apart.
const HUES = [210, 260, 330, 20, 160, 190, 290, 40];
export function hueOf(key) {
  let n = 0;
  for (const ch of String(key)) n = (n * 31 + ch.codePointAt(0)) >>> 0;
  return HUES[n % HUES.length];
}

let languageNames;
try {
  languageNames = new Intl.DisplayNames(['en'], { type: 'language' });
} catch {
  languageNames = null;
}
export function languageName(tag) {
  if (!tag) return '';
  try {
    const name = languageNames && languageNames.of(tag);
    return name && name !== tag ? `${name} (${tag})` : tag;
  } catch {
    return tag;
  }
}
