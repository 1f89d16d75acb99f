/*
 * pages/newjob.js — #/new-job: a streaming job over an existing connection.
 * Preview runs the spec over the connection's first records (POST
 * .../jobs/sample: nothing is stored, no position is touched) and shows each
 * record parsed and mapped with its outcome, and discovery's suggested
 * schema, which can be taken over as input fields and mappings in one click.
 */
'use strict';

(function () {
  const {h} = LS;
  const FORMATS = [['nd-json', 'JSON (one object per line)'], ['csv', 'CSV (header row)'], ['tsv', 'TSV (header row)']];
  const IN_TYPES = ['string', 'long', 'double', 'float', 'json'];

  function mappingRow(list, col, expr) {
    const row = h('div.map-row',
      h('input.map-col.mono', {value: col || '', placeholder: 'column', spellcheck: 'false'}),
      h('span.arrow', '←'),
      h('input.map-expr.mono', {value: expr || '', placeholder: 'SQL expression over input fields', spellcheck: 'false'}),
      h('button.btn.ghost.small', {type: 'button', onclick: () => row.remove()}, 'Remove'));
    list.appendChild(row);
  }

  function inputRow(list, name, type) {
    const row = h('div.in-row',
      h('input.in-name.mono', {value: name || '', placeholder: 'field', spellcheck: 'false'}),
      LS.select('', IN_TYPES, type || 'string'),
      h('button.btn.ghost.small', {type: 'button', onclick: () => row.remove()}, 'Remove'));
    row.querySelector('select').className = 'in-type';
    list.appendChild(row);
  }

  LS.pages['new-job'] = async function () {
    const [conns, tables] = await Promise.all([LS.api('GET', 'connections'), LS.api('GET', 'tables')]);
    const streamConns = conns.values; // Kafka-like and push connections alike feed streaming jobs
    if (!streamConns.length) {
      LS.page('New streaming job', null, null, LS.card(null, h('div.empty', 'A job reads from a connection: ',
        h('a', {href: '#/connections'}, 'create a connection'), ' first.')));
      return;
    }
    const wantConn = LS.query.get('connection'), wantTable = LS.query.get('table');
    const inputs = h('div.in-list'), maps = h('div.map-list');
    inputRow(inputs, 'timestamp', 'string');
    mappingRow(maps, '__time', 'TIME_PARSE("timestamp")');
    const err = h('div'), preview = h('div#preview');
    const f = h('form.form-grid#job-form',
      LS.field('Connection', LS.select('job-connection', streamConns.map((c) => [c.name, c.name + ' (' + c.type + ')']), wantConn || streamConns[0].name)),
      LS.field('Target table', h('input#job-table', {list: 'table-names', required: true, value: wantTable || '', placeholder: 'existing or new table', spellcheck: 'false'}),
        'a new name creates the table'),
      h('datalist#table-names', tables.values.map((t) => h('option', {value: t.name}))),
      LS.field('Format', LS.select('job-format', FORMATS, 'nd-json')),
      LS.field('Read from', LS.select('job-read-from', [['earliest', 'earliest: everything still in the stream'], ['latest', 'latest: only new events']], 'earliest'),
        'used when the table has no saved position for this stream'),
      h('div.span2', h('label.check', h('input#job-discovery', {type: 'checkbox', checked: true}),
        ' Schema discovery: every field not mapped becomes a column of its detected type')),
      h('div', h('span.label', 'Input fields'), h('span.hint', ' the fields mappings read, with their types'), inputs,
        h('button.btn.small', {type: 'button', onclick: () => inputRow(inputs)}, '+ Field')),
      h('div', h('span.label', 'Mappings'), h('span.hint', ' __time is required'), maps,
        h('button.btn.small', {type: 'button', onclick: () => mappingRow(maps)}, '+ Mapping')),
      h('div.span2', LS.field('Filter', h('input#job-filter.mono', {placeholder: 'optional SQL condition, e.g. "status" <> \'bot\'', spellcheck: 'false'}))),
      h('div.span2', err),
      h('div.span2.form-actions',
        h('button#job-preview.btn', {type: 'button', onclick: () => doPreview()}, 'Preview'),
        h('button#job-create.btn.primary', {type: 'submit'}, 'Create job')));

    const spec = () => {
      const v = (id) => f.querySelector('#' + id).value.trim();
      const fmt = v('job-format');
      const s = {
        type: 'streaming',
        target: {type: 'table', tableName: v('job-table')},
        createTableIfNotExists: true,
        useSchemaDiscovery: f.querySelector('#job-discovery').checked,
        readFromPoint: v('job-read-from'),
        source: {
          type: 'connection', connectionName: v('job-connection'),
          inputSchema: [...inputs.querySelectorAll('.in-row')].map((r) => ({name: r.querySelector('.in-name').value.trim(), dataType: r.querySelector('.in-type').value})).filter((x) => x.name),
          formatSettings: fmt === 'nd-json' ? {format: 'nd-json'} : {format: fmt, findColumnsFromHeader: true},
        },
        mappings: [...maps.querySelectorAll('.map-row')].map((r) => ({columnName: r.querySelector('.map-col').value.trim(), expression: r.querySelector('.map-expr').value.trim()})).filter((x) => x.columnName),
      };
      if (v('job-filter')) s.filterExpression = v('job-filter');
      return s;
    };

    function adopt(schema) {
      const haveIn = new Set([...inputs.querySelectorAll('.in-name')].map((i) => i.value.trim()));
      const haveMap = new Set([...maps.querySelectorAll('.map-col')].map((i) => i.value.trim()));
      for (const c of schema) {
        if (c.name === '__time' || haveMap.has(c.name)) continue;
        const t = IN_TYPES.includes(c.dataType) ? c.dataType : 'string';
        if (!haveIn.has(c.name)) inputRow(inputs, c.name, t);
        mappingRow(maps, c.name, '"' + c.name.replace(/"/g, '""') + '"');
      }
      f.querySelector('#job-discovery').checked = false;
      LS.toast('Suggested columns added as mappings');
    }

    async function doPreview() {
      LS.clear(err);
      LS.clear(preview).appendChild(h('div.empty', 'Reading the first records of ' + f.querySelector('#job-connection').value + '…'));
      let r;
      try {
        r = await LS.api('POST', 'jobs/sample', Object.assign(spec(), {sample: {limit: 20}}));
      } catch (e) {
        LS.clear(preview);
        err.appendChild(LS.errorBox(e));
        return;
      }
      const rows = r.rows || [];
      const outCols = [];
      for (const row of rows) for (const k of Object.keys(row.output || {})) if (!outCols.includes(k)) outCols.push(k);
      const counts = {};
      rows.forEach((x) => { counts[x.outcome] = (counts[x.outcome] || 0) + 1; });
      LS.clear(preview).appendChild(h('div',
        h('div.two-col',
          LS.card('Suggested schema (discovery)', LS.table([
            {title: 'Column', get: (c) => h('span.mono', c.name)},
            {title: 'Type', get: (c) => h('span.type', c.dataType)},
            {title: 'Kind', get: (c) => c.columnType || (c.name === '__time' ? 'timestamp' : 'dimension')},
          ], r.schema || [], {cls: 'suggested'}),
          h('div.form-actions', h('button#adopt-schema.btn.small', {type: 'button', onclick: () => adopt(r.schema || [])}, 'Use as mappings'))),
          LS.card('Outcomes of ' + rows.length + ' sample records', LS.table([
            {title: 'Outcome', get: (o) => LS.badge(o[0], o[0] === 'processed' ? 'ok' : o[0] === 'skippedByError' ? 'error' : 'warn')},
            {title: 'Records', cls: 'num', get: (o) => o[1]},
          ], Object.entries(counts), {empty: 'The connection has no records yet: produce some, then preview again.'}))),
        LS.card('Parsed and mapped rows', LS.table([
          {title: 'Outcome', get: (x) => LS.badge(x.outcome, x.outcome === 'processed' ? 'ok' : x.outcome === 'skippedByError' ? 'error' : 'warn')},
        ].concat(outCols.map((k) => ({title: k, get: (x) => {
          const v = (x.output || {})[k];
          return v === undefined || v === null ? h('span.muted', 'null') : typeof v === 'object' ? JSON.stringify(v) : String(v);
        }}))).concat([
          {title: 'Message', get: (x) => x.message ? h('span.msg', x.message) : ''},
          {title: 'Input', get: (x) => h('code.record', JSON.stringify(x.input === undefined ? x.raw : x.input))},
        ]), rows, {cls: 'sample-rows', empty: 'No records to show.'}))));
    }

    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      LS.clear(err);
      try {
        const j = await LS.api('POST', 'jobs', spec());
        LS.toast('Job created');
        location.hash = '#/jobs/' + j.id;
      } catch (e) {
        err.appendChild(LS.errorBox(e));
      }
    });
    LS.page('New streaming job', 'Read a connection into a table; preview before you create', null, LS.card(null, f), preview);
  };
})();
