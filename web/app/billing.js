// Billing (#/billing): plan, credits, and the ledger of credits added and spent.
import { h } from './util.js';
import { pageHead, banner, problem, table, loading, fmtNumber, timeEl, fmtDateTime } from './ui.js';

export const LEDGER_PAGE = 25;
const REASON = { purchase: 'Credits added', ai_reply: 'AI reply', translation: 'Translation' };

const planName = (p) => (p ? p.charAt(0).toUpperCase() + p.slice(1).replace(/-/g, ' ') : '—');

export function render(root, ctx) {
  const error = banner();
  const summary = h('div', { class: 'stats' }, loading());
  const ledgerBody = h('div', {});
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Show more');
  root.append(
    pageHead({ title: 'Billing', lead: 'Credits pay for AI replies and translations. Every change to the balance is in the ledger below.' }),
    error,
    h(
      'div',
      { class: 'page-body' },
      summary,
      h(
        'section',
        { class: 'section-plain', 'aria-labelledby': 'ledger-title' },
        h('h2', { id: 'ledger-title', class: 'section-title' }, 'Ledger'),
        ledgerBody,
        h('div', { class: 'more-wrap' }, more)
      )
    )
  );
  return Promise.all([loadSummary(summary, ctx, error), ledger(ledgerBody, more, ctx, error)]);
}

async function loadSummary(el, ctx, error) {
  let b;
  try {
    b = await ctx.call('GET', '/billing');
  } catch (e) {
    if (!ctx.live()) return;
    el.replaceChildren();
    return error.set(problem(e, 'Could not load billing'));
  }
  if (!ctx.live()) return;
  const low = Number(b.creditBalance) <= 0;
  const stat = ([label, value, note, cls]) =>
    h('div', { class: `card stat${cls ? ' ' + cls : ''}` }, h('dt', { class: 'stat-label' }, label), h('dd', { class: 'stat-value' }, value), h('dd', { class: 'stat-note muted' }, note));
  el.replaceChildren(
    h(
      'dl',
      { class: 'stats-list' },
      [
        ['Plan', planName(b.plan), 'Your subscription'],
        ['Credit balance', fmtNumber(b.creditBalance), low ? 'AI replies and translation are paused' : 'Available to spend', low ? 'stat-low' : 'stat-main'],
        ['Total credits added', fmtNumber(b.totalCreditsAdded), 'Since the account was opened'],
      ].map(stat)
    )
  );
}

function amountEl(n) {
  const v = Number(n);
  const text = `${v > 0 ? '+' : v < 0 ? '−' : ''}${fmtNumber(Math.abs(v))}`;
  return h('span', { class: `amount ${v > 0 ? 'amount-in' : v < 0 ? 'amount-out' : ''}` }, text);
}

async function ledger(el, more, ctx, error) {
  const entries = [];
  const columns = [
    { label: 'Date', cell: (e) => timeEl(e.createdAt, fmtDateTime(e.createdAt)) },
    { label: 'Reason', className: 'cell-main', cell: (e) => REASON[e.reason] || e.reason },
    { label: 'Amount', className: 'num', cell: (e) => amountEl(e.amount) },
    { label: 'Balance after', className: 'num', cell: (e) => fmtNumber(e.balanceAfter) },
    { label: 'Message', cell: (e) => (e.messageId ? h('code', { class: 'mono break' }, e.messageId) : h('span', { class: 'muted' }, '—')) },
  ];
  const page = async () => {
    more.disabled = true;
    try {
      const got = await ctx.call('GET', `/billing/ledger?limit=${LEDGER_PAGE}&offset=${entries.length}`);
      if (!ctx.live()) return;
      const have = new Set(entries.map((e) => e.id));
      const fresh = got.filter((e) => !have.has(e.id));
      entries.push(...fresh);
      const firstNew = entries.length - fresh.length;
      if (!entries.length) {
        el.replaceChildren(h('div', { class: 'empty-card' }, h('p', { class: 'muted' }, 'No credits added or spent yet.')));
      } else {
        el.replaceChildren(h('div', { class: 'card card-flush' }, table('Credit ledger, newest first', columns, entries)));
      }
      more.hidden = got.length < LEDGER_PAGE;
      // Keyboard users continue at the first new row rather than at the top.
      if (firstNew > 0 && fresh.length && document.activeElement === document.body) {
        const row = el.querySelectorAll('tbody tr')[firstNew];
        if (row) {
          row.tabIndex = -1;
          row.focus();
        }
      }
    } catch (e) {
      if (!ctx.live()) return;
      error.set(problem(e, 'Could not load the ledger'));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', page);
  return page();
}
