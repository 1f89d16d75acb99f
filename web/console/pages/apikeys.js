/*
 * pages/apikeys.js — #/apikeys: the project's API keys (never the keys
 * themselves), a form that creates one and shows it once, and revoking.
 */
'use strict';

(function () {
  const {h} = LS;
  const PERMS = ['ViewTables', 'ManageTables', 'ManageConnections', 'ManageIngestionJobs', 'AccessQueries', 'ManageApiKeys'];

  function form(onCreated) {
    const err = h('div');
    const f = h('form.form-grid#apikey-form',
      LS.field('Name', h('input#key-name', {required: true, placeholder: 'e.g. dashboard', spellcheck: 'false'})),
      LS.field('Description', h('input#key-description', {placeholder: 'optional'})),
      h('div.span2', h('span.label', 'Permissions'), h('div.perm-grid', PERMS.map((p) =>
        h('label.check', h('input', {type: 'checkbox', value: p, checked: p === 'AccessQueries' || p === 'ViewTables'}), ' ' + p)))),
      h('div.span2', err),
      h('div.span2.form-actions', h('button#key-create.btn.primary', {type: 'submit'}, 'Create key')));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      LS.clear(err);
      const body = {
        name: f.querySelector('#key-name').value.trim(),
        permissions: [...f.querySelectorAll('.perm-grid input:checked')].map((i) => i.value),
      };
      const d = f.querySelector('#key-description').value.trim();
      if (d) body.description = d;
      try {
        onCreated(await LS.api('POST', 'apikeys', body));
      } catch (e) {
        err.appendChild(LS.errorBox(e));
      }
    });
    return f;
  }

  function shownOnce(k) {
    const input = h('input#new-key-value.mono', {readonly: true, value: k.apiKey});
    return h('div.alert.alert-ok.key-once',
      h('div', h('strong', 'Key “' + k.name + '” created. '), 'Copy it now: it is shown this once and only its hash is kept.'),
      h('div.key-row', input, h('button.btn.small', {type: 'button', onclick: () => {
        input.select();
        (navigator.clipboard ? navigator.clipboard.writeText(k.apiKey) : Promise.reject()).then(
          () => LS.toast('Copied'), () => document.execCommand('copy'));
      }}, 'Copy')));
  }

  async function revoke(k) {
    const ok = await LS.confirm('Revoke key “' + k.name + '”?',
      [h('p', 'Every request with this key is refused from now on, on every server of this catalog.'),
        h('p.muted', 'This cannot be undone: make a new key for whatever used it.')], 'Revoke', true);
    if (!ok) return;
    try {
      await LS.api('DELETE', 'apikeys/' + k.id);
      LS.toast('Key ' + k.name + ' revoked');
      await LS.route();
    } catch (e) {
      LS.toast(e.message, 'error');
    }
  }

  LS.pages.apikeys = async function () {
    const {values} = await LS.api('GET', 'apikeys');
    const once = h('div');
    const formCard = LS.card('Create an API key', form((k) => {
      formCard.hidden = true;
      LS.pages.apikeys().then(() => {
        const slot = document.getElementById('key-once-slot');
        if (slot) slot.appendChild(shownOnce(k));
      });
    }));
    formCard.hidden = true;
    LS.page('API keys', 'Keys call the API; each has only the permissions it was given',
      [h('button#new-key.btn.primary', {onclick: () => { formCard.hidden = !formCard.hidden; }}, 'New key')],
      h('div#key-once-slot', once), formCard,
      LS.card(null, LS.table([
        {title: 'Name', get: (k) => h('span.strong', k.name)},
        {title: 'Description', get: (k) => k.description || h('span.muted', '—')},
        {title: 'Permissions', get: (k) => h('div.chips', k.permissions.map((p) => h('span.chip', p)))},
        {title: 'Created', get: (k) => LS.when(k.createdAt)},
        {title: 'Last used', get: (k) => k.lastUsedAt ? LS.when(k.lastUsedAt) : h('span.muted', 'never')},
        {title: '', cls: 'right', get: (k) => h('button.btn.small.danger-outline', {'data-revoke': k.name, onclick: () => revoke(k)}, 'Revoke')},
      ], values, {cls: 'apikeys'})));
  };
})();
