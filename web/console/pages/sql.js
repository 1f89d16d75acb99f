/*
 * pages/sql.js — #/sql: Druid SQL in a CodeMirror editor (highlighting,
 * completion of tables and their columns from GET /tables), Run
 * (Ctrl/Cmd-Enter) and Explain, the result as a table with its time, a
 * chart when the result is a time series (a TIMESTAMP column and numbers) or
 * a top-N (a text column and a number), and errors marked at their line and
 * column in the editor.
 */
'use strict';

(function () {
  const {h} = LS;
  const NUMERIC = new Set(['BIGINT', 'INTEGER', 'SMALLINT', 'TINYINT', 'DOUBLE', 'FLOAT', 'REAL', 'DECIMAL']);
  let lastQuery = null;

  /* Druid SQL for CodeMirror's sql mode: "double quotes" are identifiers (not strings, as the
   * generic mode has them), completion quotes names with them, and Druid's functions are
   * highlighted as built-ins. */
  const base = CodeMirror.resolveMode('text/x-sql');
  const DRUID_FUNCS = 'time_floor time_ceil time_shift time_extract time_parse time_format time_in_interval ' +
    'millis_to_timestamp timestamp_to_millis timestampadd timestampdiff date_trunc approx_count_distinct ' +
    'approx_count_distinct_ds_hll approx_count_distinct_ds_theta ds_hll ds_theta ds_quantiles_sketch ' +
    'approx_quantile_ds earliest latest earliest_by latest_by any_value json_value json_query parse_json ' +
    'to_json_string lookup regexp_extract regexp_like strpos nvl mv_contains mv_to_array array_agg string_agg ' +
    'count sum min max avg coalesce cast lower upper trim substring concat length floor ceil round abs';
  CodeMirror.defineMIME('text/x-druidsql', Object.assign({}, base, {
    name: 'sql',
    keywords: Object.assign({}, base.keywords, {explain: true, plan: true, for: true, partitioned: true, clustered: true, replace: true, overwrite: true, unnest: true, extern: true}),
    builtin: Object.assign({}, base.builtin, Object.fromEntries(DRUID_FUNCS.split(' ').map((f) => [f, true]))),
    identifierQuote: '"',
    support: Object.assign({}, base.support, {doubleQuote: false}),
    hooks: {'"': (stream) => {
      let ch;
      while ((ch = stream.next()) !== undefined && ch !== null) {
        if (ch === '"' && !stream.eat('"')) break;
      }
      return 'variable-2';
    }},
  }));

  /* The position of "at line L, column C" (or "at column C") in an error message. */
  function errorPos(msg) {
    let m = /line (\d+), column (\d+)/i.exec(msg);
    if (m) return {line: +m[1], col: +m[2]};
    m = /column (\d+)/i.exec(msg);
    return m ? {line: 1, col: +m[1]} : null;
  }

  function chartFor(header, types, rows) {
    if (rows.length < 2 && !(rows.length === 1 && types.length === 2)) return null;
    const numIdx = types.map((t, i) => NUMERIC.has(t) ? i : -1).filter((i) => i >= 0);
    const timeIdx = types.indexOf('TIMESTAMP');
    if (timeIdx >= 0 && numIdx.length) {
      const pts = rows.map((r) => [new Date(r[timeIdx]).getTime() / 1000, r]).filter((p) => !isNaN(p[0])).sort((a, b) => a[0] - b[0]);
      if (pts.length < 2) return null;
      const cols = numIdx.filter((i) => i !== timeIdx).slice(0, 4);
      const xs = pts.map((p) => p[0]);
      // one chart per number column: each keeps its own unit on its own axis
      return h('div.sql-charts.n' + cols.length, cols.map((i) => LS.lineChart('Time series: ' + header[i] + ' by ' + header[timeIdx], header[i], xs,
        [{label: header[i], values: pts.map((p) => p[1][i])}], {height: 220, xLabel: header[timeIdx] + ' (local time)'})));
    }
    const labelIdx = types.findIndex((t) => t === 'VARCHAR' || t === 'STRING' || t === 'OTHER');
    if (labelIdx >= 0 && numIdx.length && rows.length <= 50) {
      const vi = numIdx[0];
      return LS.barChart('Top ' + rows.length + ': ' + header[vi] + ' by ' + header[labelIdx], header[vi],
        rows.map((r) => r[labelIdx]), rows.map((r) => Number(r[vi]) || 0));
    }
    return null;
  }

  function cell(v, type) {
    if (v === null || v === undefined) return h('span.muted', 'null');
    if (typeof v === 'object') return h('span.mono.small', JSON.stringify(v));
    if (NUMERIC.has(type) && typeof v === 'number') return LS.num(v);
    return String(v);
  }

  LS.pages.sql = async function () {
    const tables = await LS.api('GET', 'tables').catch(() => ({values: []}));
    const hint = {};
    for (const t of tables.values) hint[t.name] = (t.schema || []).map((c) => c.name);
    const initial = LS.query.get('q') || lastQuery ||
      (tables.values.length ? 'SELECT *\nFROM "' + tables.values[0].name + '"\nORDER BY __time DESC\nLIMIT 100' : 'SELECT 1 + 1 AS two');
    const area = h('textarea#sql-text', initial);
    const out = h('div#sql-out');
    const status = h('span#sql-status.muted');
    LS.page('SQL', 'Druid SQL over the tables; results in the browser only',
      [h('span.kbd-hint', 'Ctrl+Enter runs · Ctrl+Space completes')],
      h('section.card.editor-card', area,
        h('div.editor-bar',
          h('button#sql-run.btn.primary', {onclick: () => run(false)}, 'Run'),
          h('button#sql-explain.btn', {onclick: () => run(true)}, 'Explain'),
          status,
          h('span.spacer'),
          h('span.muted.small', 'Tables: ', Object.keys(hint).length ? Object.keys(hint).map((n, i) => [i ? ', ' : '', h('span.mono', n)]) : 'none'))),
      out);
    const cm = CodeMirror.fromTextArea(area, {
      mode: 'text/x-druidsql', lineNumbers: true, matchBrackets: true, indentUnit: 2, viewportMargin: Infinity,
      extraKeys: {'Ctrl-Enter': () => run(false), 'Cmd-Enter': () => run(false), 'Ctrl-Space': 'autocomplete'},
      hintOptions: {tables: hint, completeSingle: false},
    });
    LS.editor = cm;
    cm.on('inputRead', (ed, change) => {
      if (/^[\w."]$/.test(change.text[0] || '') && !ed.state.completionActive) ed.showHint({completeSingle: false});
    });
    let mark = null;

    async function run(explain) {
      if (mark) { mark.clear(); mark = null; }
      cm.getAllMarks().forEach((m) => m.clear());
      const text = cm.getValue();
      lastQuery = text;
      const query = explain ? 'EXPLAIN PLAN FOR ' + text : text;
      status.textContent = 'Running…';
      LS.clear(out);
      const t0 = performance.now();
      let res;
      try {
        res = await LS.api('POST', 'query/sql', {query, resultFormat: 'array', header: true, sqlTypesHeader: true});
      } catch (e) {
        const ms = performance.now() - t0;
        status.textContent = 'Failed after ' + ms.toFixed(0) + ' ms';
        const pos = errorPos(e.message);
        if (pos && !explain) {
          const line = pos.line - 1, ch = Math.max(0, pos.col - 1);
          const lineText = cm.getLine(line) || '';
          const end = Math.min(lineText.length, ch + Math.max(1, (/^[\w"]+/.exec(lineText.slice(ch)) || [''])[0].length));
          mark = cm.markText({line, ch}, {line, ch: end > ch ? end : ch + 1}, {className: 'cm-error-mark'});
          cm.setCursor({line, ch});
        }
        out.appendChild(h('div.alert.alert-error#sql-error',
          pos ? h('strong', 'Line ' + pos.line + ', column ' + pos.col + ': ') : h('strong', (e.body.error || 'Error') + ': '), e.message));
        cm.focus();
        return;
      }
      const ms = performance.now() - t0;
      const header = res[0] || [], types = res[1] || [], rows = res.slice(2);
      status.textContent = LS.num(rows.length) + (rows.length === 1 ? ' row' : ' rows') + ' in ' + (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
      if (explain) {
        const planIdx = header.indexOf('PLAN');
        out.appendChild(LS.card('Plan', h('pre.plan#sql-plan', rows.map((r) => r[planIdx >= 0 ? planIdx : 0]).join('\n'))));
        return;
      }
      const chart = chartFor(header, types, rows);
      if (chart) out.appendChild(h('section.card#sql-chart', chart));
      out.appendChild(LS.card(null, h('div.table-wrap.results', h('table.grid#sql-results',
        h('thead', h('tr', header.map((c, i) => h('th' + (NUMERIC.has(types[i]) ? '.num' : ''), c, h('div.coltype', types[i] || ''))))),
        h('tbody', rows.map((r) => h('tr', r.map((v, i) => h('td' + (NUMERIC.has(types[i]) ? '.num' : ''), cell(v, types[i]))))))))));
    }
    if (LS.query.get('q')) run(false);
  };
})();
