// A widget's knowledge base, on the widget's screen (#/widgets/{id}): the
// questions and answers the AI replies to visitors from. Everyone may read
// it; owners and admins add and delete entries (the server refuses others,
// so their controls are not shown). Entries only ever become text.
import { h } from './util.js';
import { banner, problem, field, loading, confirmAction, uid } from './ui.js';

// The server's limit for a question or an answer (message content).
const MAX_CHARS = 10000;

const canWrite = (me) => !!me && (me.role === 'owner' || me.role === 'admin');

export function knowledgeSection(w, ctx) {
  const titleId = uid('kb');
  const title = h('h2', { id: titleId, class: 'section-title', tabindex: '-1' }, 'Knowledge base');
  const error = banner();
  const list = h('div', { class: 'kb-entries' }, loading());
  const writer = canWrite(ctx.me);
  const section = h(
    'section',
    { class: 'card section kb', 'aria-labelledby': titleId },
    title,
    h(
      'p',
      { class: 'hint', style: 'margin:-6px 0 14px' },
      w.aiEnabled
        ? 'With AI replies on, a visitor whose question matches one of these gets its answer at once. Otherwise the chat waits for your team.'
        : 'Questions and answers the AI assistant replies from once AI replies are switched on for this widget.'
    ),
    error,
    list
  );
  const refresh = () => load(list, w, ctx, error, writer, title);
  if (writer) section.append(addForm(w, ctx, error, refresh));
  refresh();
  return section;
}

async function load(list, w, ctx, error, writer, title) {
  let entries;
  try {
    entries = await ctx.call('GET', `/widgets/${w.id}/knowledge`);
  } catch (e) {
    if (!ctx.live()) return;
    list.replaceChildren();
    return error.set(problem(e, 'Could not load the knowledge base'));
  }
  if (!ctx.live()) return;
  if (!entries.length) {
    list.replaceChildren(
      h('p', { class: 'muted kb-empty', style: 'margin:0 0 8px' }, writer ? 'No entries yet. Add the questions visitors ask most often.' : 'No entries yet.')
    );
    return;
  }
  const remove = (entry) => async () => {
    const yes = await confirmAction({
      title: 'Delete this entry?',
      text: `“${entry.question}” and its answer will no longer be used to answer visitors. This cannot be undone.`,
      confirmLabel: 'Delete entry',
      fallback: () => title,
    });
    if (!yes) return;
    error.set('');
    try {
      await ctx.call('DELETE', `/knowledge/${entry.id}`);
      ctx.announce('Knowledge entry deleted');
    } catch (e) {
      error.set(problem(e, 'The entry was not deleted'));
    }
    await load(list, w, ctx, error, writer, title);
    // The button that had focus is gone: continue from the section.
    if (!document.activeElement || document.activeElement === document.body) title.focus();
  };
  list.replaceChildren(
    h(
      'ul',
      { class: 'kb-list', 'aria-label': 'Knowledge entries', style: 'list-style:none;margin:0 0 8px;padding:0' },
      entries.map((entry) =>
        h(
          'li',
          {
            class: 'kb-entry',
            dataset: { id: entry.id },
            style: 'display:flex;gap:16px;align-items:flex-start;justify-content:space-between;padding:12px 0;border-bottom:1px solid var(--line)',
          },
          h(
            'div',
            { class: 'kb-text break', style: 'min-width:0' },
            h('p', { class: 'kb-question', style: 'margin:0 0 4px;font-weight:600' }, entry.question),
            h('p', { class: 'kb-answer muted', style: 'margin:0;white-space:pre-wrap' }, entry.answer)
          ),
          writer
            ? h(
                'button',
                { type: 'button', class: 'btn btn-sm btn-danger-ghost', 'aria-label': `Delete “${entry.question}”`, onclick: remove(entry) },
                'Delete'
              )
            : null
        )
      )
    )
  );
}

function addForm(w, ctx, error, refresh) {
  const question = h('input', { type: 'text', required: true, maxlength: MAX_CHARS, autocomplete: 'off', placeholder: 'e.g. What are your opening hours?' });
  const answer = h('textarea', { rows: 3, required: true, maxlength: MAX_CHARS, placeholder: 'e.g. We are open Monday to Friday, 9:00–17:00.' });
  const added = banner('ok');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add entry');
  const heading = h('h3', { class: 'section-title', style: 'margin-top:18px' }, 'Add an entry');
  const form = h(
    'form',
    { class: 'kb-add', novalidate: true, 'aria-label': 'Add a knowledge entry' },
    heading,
    field('Question', question, { hint: 'As a visitor would ask it.' }),
    field('Answer', answer, { hint: 'Sent to the visitor as the AI assistant’s reply.' }),
    added,
    h('div', { class: 'form-actions' }, submit)
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.set('');
    added.set('');
    const body = { question: question.value.trim(), answer: answer.value.trim() };
    if (!body.question) {
      error.set('Write the question.');
      return question.focus();
    }
    if (!body.answer) {
      error.set('Write the answer.');
      return answer.focus();
    }
    submit.disabled = true;
    try {
      await ctx.call('POST', `/widgets/${w.id}/knowledge`, body);
      question.value = '';
      answer.value = '';
      added.set('Entry added.');
      ctx.announce('Knowledge entry added');
      await refresh();
      // Ready for the next one.
      question.focus();
    } catch (e) {
      error.set(problem(e, 'The entry was not added'));
      error.scrollIntoView({ block: 'nearest' });
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
