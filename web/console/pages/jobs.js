/*
 * pages/jobs.js — #/jobs: every job with its status and health; #/jobs/ID:
 * one job, refreshed every 5 s: counters by outcome and by reason,
 * per-partition lag, charts of rows/s, lag and freshness over the last hour
 * (GET .../metrics/history, one sample each 5 s), the rejected records
 * (GET .../logs) and suspend / resume / cancel / reset, each confirmed.
 */
'use strict';

(function () {
  const {h} = LS;

  const target = (j) => (j.target && (j.target.tableName || j.target.type)) || '—';
  const source = (j) => (j.source && (j.source.connectionName || j.source.type)) || '—';

  /* metrics: job id -> GET .../metrics answer, for the columns of live numbers (optional). */
  LS.jobColumns = (metrics) => [
    {title: 'Job', get: (j) => h('a.mono.strong', {href: '#/jobs/' + j.id, title: j.id}, j.id.slice(0, 8))},
    {title: 'Type', get: (j) => j.type},
    {title: 'Table', get: (j) => h('a', {href: '#/tables/' + encodeURIComponent(target(j))}, target(j))},
    {title: 'Source', get: source},
    {title: 'Status', get: (j) => LS.statusBadge(j.executionStatus)},
    {title: 'Health', get: (j) => LS.healthBadge(j.health)},
  ].concat(metrics ? [
    {title: 'Rows ingested', cls: 'num', get: (j) => {
      const m = metrics[j.id];
      return m ? LS.num(m.totals.numRowsProcessed + m.totals.numRowsProcessedWithWarnings) : '—';
    }},
    {title: 'Rejected', cls: 'num', get: (j) => {
      const m = metrics[j.id];
      const n = m ? m.totals.numRowsSkippedByError : null;
      return n ? h('span.text-error', LS.num(n)) : (m ? '0' : '—');
    }},
    {title: 'Lag', cls: 'num', get: (j) => {
      const m = metrics[j.id];
      return m && m.live && m.totalLag >= 0 ? LS.num(m.totalLag) : '—';
    }},
  ] : []).concat([
    {title: 'Created', get: (j) => LS.when(j.createdTimestamp)},
  ]);

  LS.pages.jobs = async function (id) {
    if (id) return jobPage(id);
    const {values} = await LS.api('GET', 'jobs');
    values.sort((a, b) => (b.createdTimestamp || '').localeCompare(a.createdTimestamp || ''));
    // live numbers of the newest 50 jobs, one call each
    const metrics = {};
    await Promise.all(values.slice(0, 50).map((j) => LS.api('GET', 'jobs/' + j.id + '/metrics')
      .then((m) => { metrics[j.id] = m; }, () => {})));
    const running = values.filter((j) => j.executionStatus === 'running').length;
    const unhealthy = values.filter((j) => j.health && j.health.status !== 'ok').length;
    LS.page('Jobs', values.length + (values.length === 1 ? ' job · ' : ' jobs · ') + running + ' running · ' + unhealthy + ' need attention',
      [h('a#new-job-link.btn.primary', {href: '#/new-job'}, 'New job')],
      LS.card(null, LS.table(LS.jobColumns(metrics), values, {cls: 'jobs', empty: 'No jobs yet: start one from New job.'})));
  };

  const OUTCOMES = [
    ['numRowsProcessed', 'Processed', 'ok'],
    ['numRowsProcessedWithWarnings', 'With warnings', 'warn'],
    ['numRowsSkippedByFilter', 'Skipped by filter', 'muted'],
    ['numRowsSkippedByError', 'Skipped by error', 'error'],
  ];
  const REASONS = {
    filter: 'filterExpression was false', late: 'older than lateMessageRejectionPeriod',
    early: 'newer than earlyMessageRejectionPeriod', parse: 'not readable in the format',
    time: '__time missing or unparsable', mapping: 'a mapping failed', coercion: 'value not of the column type',
    gap: 'offsets no longer in the stream', schema: 'did not fit the table schema',
    interval: 'outside the job\'s intervals', corrupt: 'damaged push-log record',
  };

  const ACTIONS = {
    suspend: {label: 'Suspend', title: 'Suspend this job?', ok: 'Suspend',
      body: () => [h('p', 'The job stops reading. Rows it has read are kept and queries still see them.'),
        h('p', 'Resume it later to continue from where it stopped: nothing is skipped.')]},
    resume: {label: 'Resume', title: 'Resume this job?', ok: 'Resume',
      body: () => [h('p', 'The job continues from the position it last committed.')]},
    cancel: {label: 'Cancel', title: 'Cancel this job?', ok: 'Cancel job', danger: true,
      body: () => [h('p', 'The job stops for good: a canceled job cannot be resumed.'),
        h('p', 'The rows it ingested stay in the table. Another job can then write to this table, starting from the saved position of the stream.')]},
    reset: {label: 'Reset', title: 'Reset this job\'s stream position?', ok: 'Reset position', danger: true,
      body: (j) => [h('p', 'Resetting drops the position saved for this table and stream. The running job then reads from its ',
        h('code', 'readFromPoint'), ' (', h('strong', j.readFromPoint || 'latest'), ').'),
      h('div.alert.alert-warn', h('strong', 'This may lose or duplicate data. '),
        (j.readFromPoint === 'earliest'
          ? 'Reading from earliest ingests every event still in the stream again: rows already in the table are not removed, so they will be there twice.'
          : 'Reading from latest skips every event between the saved position and now: they will never reach the table.')),
      h('p.muted', 'Rows already in the table are kept either way.')]},
  };

  async function act(j, what) {
    const a = ACTIONS[what];
    if (!await LS.confirm(a.title, a.body(j), a.ok, a.danger)) return;
    try {
      if (what === 'reset') await LS.api('POST', 'jobs/' + j.id + '/reset');
      else await LS.api('PUT', 'jobs/' + j.id, {desiredExecutionStatus: {suspend: 'suspended', resume: 'running', cancel: 'canceled'}[what]});
      LS.toast({suspend: 'Suspending', resume: 'Resuming', cancel: 'Canceling', reset: 'Position reset'}[what] + ': ' + j.id.slice(0, 8));
      await LS.route();
    } catch (e) {
      LS.toast(e.message, 'error');
    }
  }

  function buttons(j) {
    const st = j.executionStatus, want = j.desiredExecutionStatus;
    const b = [];
    if (j.type === 'streaming') {
      if (want === 'running' && st !== 'canceled' && st !== 'failed') b.push('suspend');
      if (want === 'suspended') b.push('resume');
      if (st === 'running') b.push('reset');
    }
    if (want !== 'canceled' && st !== 'canceled' && st !== 'failed' && st !== 'succeeded') b.push('cancel');
    return b.map((w) => h('button.btn' + (ACTIONS[w].danger ? '.danger-outline' : '') + '#job-' + w,
      {onclick: () => act(j, w)}, ACTIONS[w].label));
  }

  function counters(totals) {
    return h('div.stats', OUTCOMES.map(([k, label, kind]) =>
      h('div.stat.stat-' + kind, {'data-counter': k}, h('div.stat-label', label), h('div.stat-value', LS.num(totals[k] || 0)))));
  }

  function reasons(totals) {
    const by = totals.byReason || {};
    const rows = Object.keys(by).map((k) => ({k, n: by[k]})).filter((r) => r.n > 0).sort((a, b) => b.n - a.n);
    const zero = Object.keys(by).filter((k) => !by[k]);
    return h('div', LS.table([
      {title: 'Reason', get: (r) => h('span.mono', r.k)},
      {title: 'Meaning', get: (r) => h('span.muted', REASONS[r.k] || '')},
      {title: 'Rows', cls: 'num', get: (r) => r.n ? h('strong', LS.num(r.n)) : h('span.muted', '0')},
    ], rows, {cls: 'reasons', empty: 'No rows rejected.'}),
    zero.length && rows.length ? h('div.muted.small.reasons-zero', 'None for: ' + zero.join(', ')) : null);
  }

  function lagTable(m) {
    return LS.table([
      {title: 'Topic', get: (p) => p.topic},
      {title: 'Partition', cls: 'num', get: (p) => p.partition},
      {title: 'Next offset', cls: 'num', get: (p) => LS.num(p.nextOffset)},
      {title: 'End offset', cls: 'num', get: (p) => LS.num(p.endOffset)},
      {title: 'Lag (messages)', cls: 'num', get: (p) => p.lag > 0 ? h('strong', LS.num(p.lag)) : '0'},
    ], m.lag || [], {cls: 'lag', empty: m.live ? 'No partitions assigned yet.' : 'The job is not running here: no live lag.'});
  }

  function charts(hist) {
    const v = hist.values || [];
    if (!v.length) {
      return h('div.empty', hist.live ? 'The first sample comes within ' + hist.intervalSeconds + ' s; the charts cover the last hour.'
        : 'No samples: the job is not running on this server. Samples are kept in memory for the last hour of a running job.');
    }
    const xs = v.map((s) => new Date(s.timestamp).getTime() / 1000);
    return h('div.charts',
      LS.lineChart('Ingested rows per second', 'rows/s', xs, [{label: 'rows/s', values: v.map((s) => s.rowsPerSecond)}]),
      LS.lineChart('Lag', 'messages', xs, [{label: 'lag', values: v.map((s) => s.lag)}]),
      LS.lineChart('Freshness (age of the newest row)', 'seconds', xs,
        [{label: 'freshness', values: v.map((s) => s.freshnessMs === null ? null : s.freshnessMs / 1000)}]));
  }

  function rejected(logs) {
    return LS.table([
      {title: 'Time (UTC)', get: (r) => h('span.small.mono', LS.time(r.timestamp))},
      {title: 'Partition', cls: 'num', get: (r) => r.partition === undefined ? '—' : r.partition},
      {title: 'Offset', cls: 'num', get: (r) => r.offset === undefined ? '—' : LS.num(r.offset)},
      {title: 'Outcome', get: (r) => LS.badge(r.outcome, r.outcome === 'skippedByError' ? 'error' : r.outcome === 'processedWithWarnings' ? 'warn' : 'muted')},
      {title: 'Reason', get: (r) => h('span.mono', r.reason)},
      {title: 'Message', get: (r) => h('span.msg', r.message)},
      {title: 'Record', get: (r) => h('code.record', {title: r.raw}, r.raw + (r.rawTruncated ? ' …' : ''))},
    ], logs.values || [], {cls: 'rejected', empty: 'No rejected records: every row so far was processed.'});
  }

  async function jobPage(id) {
    const load = () => Promise.all([
      LS.api('GET', 'jobs/' + id),
      LS.api('GET', 'jobs/' + id + '/metrics'),
      LS.api('GET', 'jobs/' + id + '/metrics/history'),
      LS.api('GET', 'jobs/' + id + '/logs'),
    ]);
    const [j, m, hist, logs] = await load();
    const main = LS.page('Job ' + id.slice(0, 8),
      h('span', j.type + ' · ', h('a', {href: '#/tables/' + encodeURIComponent(target(j))}, target(j)), ' ← ', source(j),
        ' · created ', LS.when(j.createdTimestamp), ' · ', h('span.mono.small', id)),
      [h('span.head-badges', LS.statusBadge(j.executionStatus), LS.healthBadge(j.health))].concat(buttons(j)));
    const body = h('div#job-body');
    main.appendChild(body);
    const render = (jj, mm, hh, ll) => {
      LS.charts.forEach((c) => c.destroy());
      LS.charts = [];
      LS.clear(body);
      body.appendChild(h('div.section-title', 'Rows by outcome', h('span.muted', ' · updated every 5 s · ',
        mm.freshnessMs === null || mm.freshnessMs === undefined ? 'no rows yet' : 'newest row ' + LS.duration(mm.freshnessMs) + ' old',
        ' · total lag ', mm.totalLag >= 0 ? LS.num(mm.totalLag) + ' messages' : '—')));
      body.appendChild(counters(mm.totals || {}));
      if (jj.health && jj.health.message) body.appendChild(h('div.alert.alert-' + (jj.health.status === 'error' ? 'error' : 'warn'), jj.health.message));
      body.appendChild(LS.card('Last hour', charts(hh)));
      body.appendChild(h('div.two-col', LS.card('Rejections by reason', reasons(mm.totals || {})), LS.card('Lag by partition', lagTable(mm))));
      body.appendChild(LS.card('Rejected records (the last 100)', rejected(ll)));
    };
    render(j, m, hist, logs);
    LS.every(5000, async () => {
      try {
        const [j2, m2, h2, l2] = await load();
        if (j2.executionStatus !== j.executionStatus || j2.desiredExecutionStatus !== j.desiredExecutionStatus) return LS.route();
        render(j2, m2, h2, l2);
      } catch (e) { /* shown again on the next tick */ }
    });
  }
})();
