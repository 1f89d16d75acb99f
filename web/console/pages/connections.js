/*
 * pages/connections.js — #/connections: the connections and a form to
 * create one. Secrets are write-only, as in the API: the form sends them,
 * the list only says whether a connection has them.
 */
'use strict';

(function () {
  const {h} = LS;
  const TYPES = [['kafka', 'Apache Kafka / MSK'], ['confluent', 'Confluent Cloud'], ['push_streaming', 'Push (HTTP events)']];

  function details(c) {
    if (c.type === 'push_streaming') return h('span.mono.small', 'POST /v1/events/' + c.name);
    const parts = [];
    if (c.bootstrapServers) parts.push(c.bootstrapServers);
    if (c.topicName) parts.push('topic ' + c.topicName);
    if (c.topicNamePattern) parts.push('topics /' + c.topicNamePattern + '/');
    if (c.urls) parts.push(c.urls.join(', '));
    if (c.stream) parts.push('stream ' + c.stream);
    return h('span.mono.small', parts.join(' · '));
  }

  function form(onDone) {
    const err = h('div');
    const kafkaOnly = [];
    const kf = (el) => { kafkaOnly.push(el); return el; };
    const f = h('form.form-grid#connection-form',
      LS.field('Type', LS.select('conn-type', TYPES, 'kafka')),
      LS.field('Name', h('input#conn-name', {required: true, placeholder: 'e.g. clickstream', spellcheck: 'false', pattern: '[A-Za-z0-9._\\-]{1,64}'}),
        '1–64 of A–Z a–z 0–9 . _ -; cannot be changed'),
      h('div.span2', LS.field('Description', h('input#conn-description', {placeholder: 'optional'}))),
      kf(LS.field('Bootstrap servers', h('input#conn-bootstrap', {placeholder: 'host:9092,host2:9092', spellcheck: 'false'}))),
      kf(LS.field('Topic', h('input#conn-topic', {placeholder: 'topic name', spellcheck: 'false'}))),
      kf(h('fieldset.span2.secrets',
        h('legend', 'Credentials (write-only: never shown again, never logged)'),
        h('div.form-grid',
          LS.field('SASL', LS.select('conn-sasl', [['', 'none'], ['sasl_plain', 'PLAIN'], ['sasl_scram', 'SCRAM-SHA-256'], ['sasl_scram512', 'SCRAM-SHA-512']], '')),
          LS.field('TLS', h('label.check', h('input#conn-ssl', {type: 'checkbox'}), ' connect with TLS (default when credentials are given)')),
          LS.field('Username', h('input#conn-user', {autocomplete: 'off'})),
          LS.field('Password', h('input#conn-password', {type: 'password', autocomplete: 'new-password'}))))),
      h('div.span2', err),
      h('div.span2.form-actions', h('button#conn-create.btn.primary', {type: 'submit'}, 'Create connection')));
    const typeSel = f.querySelector('#conn-type');
    typeSel.addEventListener('change', () => kafkaOnly.forEach((el) => { el.hidden = typeSel.value === 'push_streaming'; }));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      LS.clear(err);
      const v = (id) => f.querySelector('#' + id).value.trim();
      const body = {type: v('conn-type'), name: v('conn-name')};
      if (v('conn-description')) body.description = v('conn-description');
      if (body.type !== 'push_streaming') {
        body.bootstrapServers = v('conn-bootstrap');
        body.topicName = v('conn-topic');
        const sasl = v('conn-sasl');
        if (sasl) {
          body.secrets = {type: sasl === 'sasl_plain' ? 'sasl_plain' : 'sasl_scram', username: v('conn-user'), password: f.querySelector('#conn-password').value};
          if (sasl !== 'sasl_plain') body.secrets.mechanism = sasl === 'sasl_scram512' ? 'SCRAM-SHA-512' : 'SCRAM-SHA-256';
        }
        if (f.querySelector('#conn-ssl').checked) body.ssl = true;
        else if (!sasl) body.ssl = false;
      }
      try {
        await LS.api('POST', 'connections', body);
        f.querySelector('#conn-password').value = '';
        LS.toast('Connection ' + body.name + ' created');
        onDone();
      } catch (e) {
        err.appendChild(LS.errorBox(e));
      }
    });
    return f;
  }

  LS.pages.connections = async function () {
    const {values} = await LS.api('GET', 'connections');
    const formCard = LS.card('Create a connection', form(() => LS.route()));
    formCard.hidden = values.length > 0;
    LS.page('Connections', 'Where streaming jobs read from', [h('button#new-connection.btn.primary', {onclick: () => { formCard.hidden = !formCard.hidden; }}, 'New connection')],
      formCard,
      LS.card(null, LS.table([
        {title: 'Name', get: (c) => h('span.strong', c.name)},
        {title: 'Type', get: (c) => (TYPES.find((t) => t[0] === c.type) || [0, c.type])[1]},
        {title: 'Source', get: details},
        {title: 'Credentials', get: (c) => c.hasSecrets ? LS.badge('set · write-only', 'muted') : h('span.muted', 'none')},
        {title: 'TLS', get: (c) => c.type === 'push_streaming' ? '—' : (c.ssl ? 'yes' : 'no')},
        {title: 'Created', get: (c) => LS.when(c.submittedOnTimestamp)},
        {title: '', get: (c) => h('a.btn.small', {href: '#/new-job?connection=' + encodeURIComponent(c.name)}, 'New job')},
      ], values, {cls: 'connections', empty: 'No connections yet.'})));
  };
})();
