/*
 * pages/tables.js — #/tables: every table with its rows, size on disk, time
 * range and segments, and a form to create one; #/tables/NAME: a table's
 * numbers, schema (column and measure types) and jobs.
 */
'use strict';

(function () {
  const {h} = LS;
  const DIMS = ['string', 'long', 'float', 'double', 'json', 'timestamp'];
  const MEASURES = ['longSum', 'doubleSum', 'longMin', 'longMax', 'doubleMin', 'doubleMax', 'count',
    'HLLSketch', 'thetaSketch', 'quantilesDoublesSketch', 'longLatest', 'doubleLatest', 'stringLatest',
    'longEarliest', 'doubleEarliest', 'stringEarliest'];

  const range = (st) => st && st.minTime ? LS.time(st.minTime) + ' → ' + LS.time(st.maxTime) : '—';

  function columnRow(list) {
    const row = h('div.col-row',
      h('input.col-name', {placeholder: 'column name', spellcheck: 'false'}),
      LS.select('', DIMS.concat(MEASURES), 'string'),
      h('button.btn.ghost.small', {type: 'button', onclick: () => row.remove()}, 'Remove'));
    row.querySelector('select').className = 'col-type';
    list.appendChild(row);
  }

  function createForm(onDone) {
    const cols = h('div.col-list');
    const err = h('div');
    const form = h('form.form-grid#table-form',
      LS.field('Name', h('input#table-name', {required: true, placeholder: 'e.g. wikipedia', spellcheck: 'false'})),
      LS.field('Type', LS.select('table-type', [['detail', 'detail (one row per event)'], ['aggregate', 'aggregate (rolled up)']], 'detail')),
      LS.field('Partitioning', LS.select('table-partitioning', ['hour', 'day', 'week', 'month', 'year', 'all'], 'day'),
        'one segment time chunk per period'),
      LS.field('Schema mode', LS.select('table-schema-mode', [['flexible', 'flexible (jobs may add columns)'], ['strict', 'strict']], 'flexible')),
      h('div.span2', h('span.label', 'Columns'), h('span.hint', ' __time is always there; flexible tables also get the columns jobs discover'), cols,
        h('button.btn.small', {type: 'button', onclick: () => columnRow(cols)}, '+ Add column')),
      h('div.span2', err),
      h('div.span2.form-actions', h('button#table-create.btn.primary', {type: 'submit'}, 'Create table')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      LS.clear(err);
      const schema = [...cols.querySelectorAll('.col-row')].map((r) => ({
        name: r.querySelector('.col-name').value.trim(), dataType: r.querySelector('.col-type').value,
      })).filter((c) => c.name);
      const body = {
        name: form.querySelector('#table-name').value.trim(),
        type: form.querySelector('#table-type').value,
        partitioningGranularity: form.querySelector('#table-partitioning').value,
        schemaMode: form.querySelector('#table-schema-mode').value,
        schema,
      };
      try {
        await LS.api('POST', 'tables', body);
        LS.toast('Table ' + body.name + ' created');
        onDone(body.name);
      } catch (e) {
        err.appendChild(LS.errorBox(e));
      }
    });
    return form;
  }

  LS.pages.tables = async function (name) {
    if (name) return tablePage(name);
    const {values} = await LS.api('GET', 'tables');
    const formCard = LS.card('Create a table', createForm((n) => { location.hash = '#/tables/' + encodeURIComponent(n); }));
    formCard.hidden = values.length > 0;
    const totalRows = values.reduce((a, t) => a + ((t.status && t.status.rowCount) || 0), 0);
    const totalBytes = values.reduce((a, t) => a + ((t.status && t.status.totalBytes) || 0), 0);
    LS.page('Tables', values.length + (values.length === 1 ? ' table · ' : ' tables · ') + LS.num(totalRows) + ' rows · ' + LS.bytes(totalBytes) + ' on disk',
      [h('button#new-table.btn.primary', {onclick: () => { formCard.hidden = !formCard.hidden; }}, 'New table')],
      formCard,
      LS.card(null, LS.table([
        {title: 'Name', get: (t) => h('a.strong', {href: '#/tables/' + encodeURIComponent(t.name)}, t.name)},
        {title: 'Type', get: (t) => t.type},
        {title: 'Rows', cls: 'num', get: (t) => LS.num(t.status && t.status.rowCount)},
        {title: 'Size on disk', cls: 'num', get: (t) => LS.bytes(t.status && t.status.totalBytes)},
        {title: 'Segments', cls: 'num', get: (t) => LS.num(t.status && t.status.segmentCount)},
        {title: 'Time range (UTC)', get: (t) => h('span.mono.small', range(t.status))},
        {title: 'Columns', cls: 'num', get: (t) => (t.schema || []).length},
        {title: 'Modified', get: (t) => LS.when(t.modifiedOnTimestamp)},
      ], values, {cls: 'tables', empty: 'No tables yet: create one above, or let a job create it.'})));
  };

  async function tablePage(name) {
    const enc = encodeURIComponent(name);
    const [t, jobs] = await Promise.all([
      LS.api('GET', 'tables/' + enc),
      LS.api('GET', 'jobs?tableName=' + enc).catch(() => ({values: []})),
    ]);
    const st = t.status || {};
    LS.page(t.name, t.type + ' table · partitioned by ' + t.partitioningGranularity + ' · ' + t.schemaMode + ' schema',
      [h('a.btn', {href: '#/sql?q=' + encodeURIComponent('SELECT * FROM "' + name + '" ORDER BY __time DESC LIMIT 100')}, 'Query'),
        h('a.btn.primary', {href: '#/new-job?table=' + enc}, 'New job into this table')],
      h('div.stats',
        stat('Rows', LS.num(st.rowCount)), stat('Size on disk', LS.bytes(st.totalBytes)),
        stat('Segments', LS.num(st.segmentCount)),
        stat('Time range (UTC)', st.minTime ? h('span.small', LS.time(st.minTime), h('br'), LS.time(st.maxTime)) : '—')),
      LS.card('Schema', LS.table([
        {title: 'Column', get: (c) => h('span.mono', c.name)},
        {title: 'Data type', get: (c) => h('span.type', c.dataType)},
        {title: 'Kind', get: (c) => c.columnType || (c.name === '__time' ? 'primary timestamp' : 'dimension')},
        {title: '', get: (c) => (t.clusteringColumns || []).includes(c.name) ? LS.badge('clustering', 'muted') : ''},
      ], t.schema || [], {cls: 'schema'})),
      LS.card('Jobs', LS.table(LS.jobColumns(), jobs.values, {empty: 'No job has written to this table.'})));
  }

  function stat(label, value) { return h('div.stat', h('div.stat-label', label), h('div.stat-value', value)); }
  LS.stat = stat;
})();
