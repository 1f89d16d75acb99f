/*
 * console_test.js — the web console driven in headless Chromium by
 * puppeteer-core, against a real `lodestar serve` and `lodestar dev-kafka`
 * that tests/e2e/test_console.py starts. It signs in with a key, creates a
 * table, connections and a streaming job through the console's forms,
 * produces events (kcat) and watches the job's counters move, opens the
 * rejected records, runs queries (a time series and a top-N with their
 * charts, an error marked at its line and column, EXPLAIN, completion),
 * confirms suspend/resume/reset, and creates, lists and revokes a key.
 * Each page is saved as a PNG under SHOTS.
 *
 * Environment: LODESTAR_URL, LODESTAR_KEY, KAFKA_BOOTSTRAP, CHROMIUM, SHOTS.
 * Prints "ok NAME" / "FAIL NAME: detail" per check and "N passed, N failed".
 */
'use strict';

const {execFileSync} = require('child_process');
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const BASE = process.env.LODESTAR_URL;
const KEY = process.env.LODESTAR_KEY;
const BOOT = process.env.KAFKA_BOOTSTRAP;
const SHOTS = process.env.SHOTS;
const TOPIC = 'clicks';

let passed = 0, failed = 0;
function check(cond, name, detail) {
  if (cond) { passed++; console.log('ok   ' + name); }
  else { failed++; console.log('FAIL ' + name + (detail !== undefined ? ': ' + detail : '')); }
}

/* n events spread over the last 50 minutes, and `bad` lines that are not JSON. */
let seq = 0;
const PAGES = ['Home', 'Pricing', 'Docs', 'Blog', 'Signup', 'Login', 'Careers', 'About'];

function produce(n, bad) {
  const pages = PAGES;
  const countries = ['US', 'DE', 'FR', 'JP', 'BR', 'IN'];
  const lines = [];
  const now = Date.now();
  for (let i = 0; i < n; i++, seq++) {
    const t = new Date(now - ((seq * 7919) % 3000) * 1000);
    lines.push(JSON.stringify({
      timestamp: t.toISOString(), page: pages[(seq * 7) % pages.length] + (seq % 3 ? '' : ''),
      country: countries[seq % countries.length], user: 'u' + (seq % 41), latency_ms: 20 + (seq * 37) % 400,
    }));
  }
  for (let i = 0; i < bad; i++) lines.push('{"timestamp": broken json line ' + i);
  execFileSync('kcat', ['-P', '-b', BOOT, '-t', TOPIC], {input: lines.join('\n') + '\n', timeout: 30000});
}

async function api(method, p, body, key) {
  const r = await fetch(BASE + p, {
    method, headers: Object.assign({Authorization: 'Bearer ' + (key || KEY)}, body ? {'Content-Type': 'application/json'} : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  return {status: r.status, json: await r.json().catch(() => null)};
}

async function main() {
  fs.mkdirSync(SHOTS, {recursive: true});
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--font-render-hinting=none'],
  });
  const page = await browser.newPage();
  await page.setViewport({width: 1440, height: 900, deviceScaleFactor: 1});
  const urls = [], consoleErrors = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  // Chromium logs each 4xx answer as an error ("Failed to load resource"): the test asks for a
  // few on purpose (a wrong key, a bad query); anything else is the page's own error.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text()); });
  page.setDefaultTimeout(20000);
  const shot = async (name) => {
    await new Promise((r) => setTimeout(r, 300));
    await page.evaluate(() => { document.getElementById('toast').hidden = true; }); // a passing notice
    await page.screenshot({path: path.join(SHOTS, name + '.png'), fullPage: true});
  };
  const text = (sel) => page.$eval(sel, (e) => e.innerText);
  const go = async (hash, sel) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForSelector(sel);
  };
  const fill = async (sel, value) => {
    await page.$eval(sel, (e) => { e.value = ''; });
    await page.type(sel, value);
  };

  /* ---- sign in ---- */
  const resp = await page.goto(BASE + '/console', {waitUntil: 'networkidle0'});
  check(resp.status() === 200, 'the console page loads without a key', resp.status());
  await page.waitForSelector('#login-key');
  await shot('01-sign-in');
  await page.type('#login-key', 'pok_not_a_real_key');
  await page.click('#login-submit');
  await page.waitForFunction(() => !document.getElementById('login-error').hidden);
  check((await text('#login-error')).includes('not valid'), 'a wrong key is refused on the sign-in page', await text('#login-error'));
  await fill('#login-key', KEY);
  await page.click('#login-submit');
  await page.waitForSelector('#app:not([hidden]) .page-head h1');
  check(await page.evaluate(() => sessionStorage.getItem('lodestar.apiKey')) === KEY, 'the key is kept in sessionStorage');

  /* ---- a table ---- */
  await go('#/tables', '#table-form');
  await page.type('#table-name', 'clicks');
  await page.click('#table-form button.btn.small'); // + Add column
  await page.type('.col-row .col-name', 'country');
  await page.click('#table-create');
  await page.waitForFunction(() => document.querySelector('.page-head h1').innerText === 'clicks');
  check((await text('table.schema')).includes('country'), 'table created through the console shows its schema');
  const t = await api('GET', '/v2/tables/clicks');
  check(t.status === 200 && t.json.schema.some((c) => c.name === 'country'), 'the table exists in the API', JSON.stringify(t.json));

  /* ---- connections ---- */
  await go('#/connections', '#connection-form');
  await page.type('#conn-name', 'clickstream');
  await page.type('#conn-bootstrap', BOOT);
  await page.type('#conn-topic', TOPIC);
  await page.click('#conn-create');
  await page.waitForFunction(() => document.querySelector('table.connections') && document.querySelector('table.connections').innerText.includes('clickstream'));
  // a second one with credentials: write-only
  await page.click('#new-connection');
  await page.type('#conn-name', 'secured');
  await page.type('#conn-bootstrap', 'broker.example.com:9096');
  await page.type('#conn-topic', 'orders');
  await page.select('#conn-sasl', 'sasl_scram512');
  await page.type('#conn-user', 'svc-orders');
  await page.type('#conn-password', 'hunter2-very-secret');
  await page.click('#conn-create');
  await page.waitForFunction(() => document.querySelector('table.connections').innerText.includes('secured'));
  const connText = await text('table.connections');
  check(connText.includes('write-only') && !(await page.content()).includes('hunter2-very-secret'),
    'a connection\'s secret is sent but never shown', connText);
  await shot('03-connections');

  /* ---- a job, with a preview ---- */
  produce(200, 3);
  await go('#/new-job?connection=clickstream&table=clicks', '#job-form');
  await page.click('#job-preview');
  await page.waitForSelector('table.sample-rows, #preview .empty:not(:first-child), .alert-error');
  await page.waitForSelector('table.sample-rows');
  const suggested = await text('table.suggested');
  check(['page', 'latency_ms', 'country'].every((c) => suggested.includes(c)), 'preview shows discovery\'s suggested schema', suggested);
  const sampleText = await text('table.sample-rows');
  // which records the preview reads first depends on kcat's random partitioning: any page will do
  check(sampleText.includes('processed') && PAGES.some((pg) => sampleText.includes('\t' + pg + '\t')),
    'preview shows parsed and mapped rows with outcomes', sampleText.slice(0, 300));
  await page.click('#adopt-schema');
  const nMaps = await page.$$eval('.map-row', (r) => r.length);
  check(nMaps >= 5, 'the suggested schema becomes mappings', nMaps);
  await shot('04-new-job-preview');
  await page.click('#job-create');
  await page.waitForSelector('#job-body [data-counter=numRowsProcessed]');
  const jobId = await page.evaluate(() => location.hash.split('/')[2]);
  check(/^[0-9a-f-]{36}$/.test(jobId), 'the job is created and its page opens', jobId);

  /* ---- counters move ---- */
  const counter = (k) => page.$eval('[data-counter=' + k + '] .stat-value', (e) => Number(e.innerText.replace(/,/g, '')));
  await page.waitForFunction(() => Number(document.querySelector('[data-counter=numRowsProcessed] .stat-value').innerText.replace(/,/g, '')) >= 200, {timeout: 30000});
  const first = await counter('numRowsProcessed');
  check(first === 200, 'processed counter shows the first 200 events', first);
  produce(300, 2);
  await page.waitForFunction(() => Number(document.querySelector('[data-counter=numRowsProcessed] .stat-value').innerText.replace(/,/g, '')) >= 500, {timeout: 30000});
  check(await counter('numRowsProcessed') === 500, 'the counter moves while events are produced', await counter('numRowsProcessed'));
  await page.waitForFunction(() => Number(document.querySelector('[data-counter=numRowsSkippedByError] .stat-value').innerText.replace(/,/g, '')) >= 5, {timeout: 30000});
  check(await counter('numRowsSkippedByError') === 5, 'rows skipped by error counted', await counter('numRowsSkippedByError'));
  const reasonsText = await text('table.reasons');
  check(/parse\s+not readable in the format\s+5/.test(reasonsText), 'rejections by reason: parse 5', reasonsText);
  const rej = await text('table.rejected');
  check(rej.includes('broken json line') && rej.includes('parse') && /skippedByError/.test(rej), 'rejected records show reason and record', rej.slice(0, 400));
  const rejRows = await page.$$eval('table.rejected tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.innerText)));
  check(rejRows.length === 5 && rejRows.every((r) => /^\d+$/.test(r[1]) && /^\d+$/.test(r[2].replace(/,/g, ''))), 'each rejected record has its partition and offset', JSON.stringify(rejRows));
  check((await text('table.lag')).includes(TOPIC), 'per-partition lag listed', await text('table.lag'));
  // a steady stream while the charts fill: two samples make the first rate (one each 5 s)
  const feeder = setInterval(() => produce(40, 0), 1000);
  await page.waitForFunction(() => document.querySelectorAll('.charts .uplot').length === 3, {timeout: 30000});
  const chartTitles = await page.$$eval('.charts .chart-title', (e) => e.map((x) => x.innerText));
  check(chartTitles.some((x) => x.includes('rows/s')) && chartTitles.some((x) => x.includes('messages')) && chartTitles.some((x) => x.includes('seconds')),
    'rows/s, lag and freshness charts, labelled with units', JSON.stringify(chartTitles));
  await page.waitForFunction(() => {
    const u = document.querySelectorAll('.charts .uplot');
    return u.length === 3;
  });
  await new Promise((r) => setTimeout(r, 11000)); // more samples: a line, not a point
  clearInterval(feeder);
  await page.waitForSelector('.charts .uplot');
  await shot('05-job');
  const rate = await page.evaluate(() => LS.charts.length && Math.max(...LS.charts[0].data[1].filter((v) => v !== null)));
  check(rate > 0, 'the rows/s chart shows the stream\'s rate', rate);

  /* ---- reset, suspend, resume: each confirmed ---- */
  await page.click('#job-reset');
  await page.waitForSelector('.modal');
  const resetText = await text('.modal');
  check(resetText.includes('readFromPoint') && resetText.includes('lose or duplicate') && resetText.includes('twice'),
    'reset\'s confirmation says what it does to data', resetText);
  await shot('06-job-reset-confirm');
  await page.click('#modal-cancel');
  await page.click('#job-suspend');
  await page.waitForSelector('.modal');
  await page.click('#modal-ok');
  await page.waitForSelector('#job-resume', {timeout: 30000});
  const js = await api('GET', '/v2/jobs/' + jobId);
  check(js.json.desiredExecutionStatus === 'suspended', 'suspend through the console', js.json.desiredExecutionStatus);
  await page.click('#job-resume');
  await page.waitForSelector('.modal');
  await page.click('#modal-ok');
  await page.waitForSelector('#job-suspend', {timeout: 30000});
  check((await api('GET', '/v2/jobs/' + jobId)).json.desiredExecutionStatus === 'running', 'resume through the console');

  /* ---- lists ---- */
  await go('#/jobs', 'table.jobs');
  check((await text('table.jobs')).includes(jobId.slice(0, 8)) && (await text('table.jobs')).includes('clicks'), 'jobs list shows the job with its table');
  const jobRow = await page.$$eval('table.jobs tbody tr', (rows) => [...rows[0].cells].map((c) => c.innerText));
  const jm = (await api('GET', '/v2/jobs/' + jobId + '/metrics')).json.totals;
  check(Number(jobRow[6].replace(/,/g, '')) === jm.numRowsProcessed + jm.numRowsProcessedWithWarnings && jobRow[7] === '5',
    'jobs list shows each job\'s rows ingested and rejected', JSON.stringify(jobRow));
  await shot('07-jobs');
  await go('#/tables', 'table.tables');
  const apiRows = (await api('GET', '/v2/tables/clicks')).json.status.rowCount;
  const listed = await page.$eval('table.tables tbody tr td:nth-child(3)', (e) => Number(e.innerText.replace(/,/g, '')));
  check(apiRows >= 500 && listed === apiRows, 'tables list shows the row count', listed + ' vs ' + apiRows);
  await shot('02-tables');
  await go('#/tables/clicks', 'table.schema');
  check((await text('table.schema')).includes('latency_ms'), 'the table page shows discovered columns with types');
  await shot('08-table');

  /* ---- SQL ---- */
  await go('#/sql', '.CodeMirror');
  const runSql = async (q) => {
    await page.evaluate((s) => LS.editor.setValue(s), q);
    await page.click('#sql-run');
    await page.waitForFunction(() => /rows? in|Failed/.test(document.getElementById('sql-status').innerText));
  };
  await runSql('SELECT TIME_FLOOR(__time, \'PT5M\') AS "minute", COUNT(*) AS "events", AVG(latency_ms) AS "avg latency"\nFROM "clicks"\nGROUP BY 1\nORDER BY 1');
  await page.waitForSelector('#sql-chart .uplot');
  check((await text('#sql-status')).includes('rows in') && (await text('#sql-status')).includes('ms'), 'the query\'s time is shown', await text('#sql-status'));
  check((await text('#sql-chart')).includes('Time series'), 'a time-series result gets a line chart', await text('#sql-chart'));
  check(await page.$eval('.CodeMirror-code', (e) => e.querySelectorAll('.cm-keyword').length) >= 4, 'SQL is highlighted');
  await shot('09-sql-timeseries');
  await runSql('SELECT page, COUNT(*) AS "views"\nFROM "clicks"\nGROUP BY page\nORDER BY "views" DESC\nLIMIT 5');
  await page.waitForSelector('#sql-chart .bars');
  const bars = await page.$$eval('#sql-chart .bar-row', (r) => r.length);
  check(bars === 5, 'a top-N result gets a bar chart', bars);
  const top = await page.$$eval('#sql-results tbody tr', (r) => r.map((x) => x.cells[0].innerText));
  check(top.length === 5, 'results as a table', JSON.stringify(top));
  await shot('10-sql-topn');
  await runSql('SELECT page,\n  COUNT(*) AS n, latncy\nFROM "clicks"\nGROUP BY 1');
  await page.waitForSelector('#sql-error');
  const errText = await text('#sql-error');
  check(/Line 2, column 18/.test(errText), 'an error is shown at its line and column', errText);
  check(await page.$$eval('.cm-error-mark', (e) => e.length) === 1 && (await text('.cm-error-mark')) === 'latncy', 'the error is marked in the editor', await page.$$eval('.cm-error-mark', (e) => e.map((x) => x.innerText)));
  await shot('11-sql-error');
  await page.evaluate(() => LS.editor.setValue('SELECT COUNT(*) FROM "clicks" WHERE page = \'Docs\''));
  await page.click('#sql-explain');
  await page.waitForSelector('#sql-plan');
  check((await text('#sql-plan')).includes('clicks'), 'EXPLAIN shows the plan', await text('#sql-plan'));
  // completion of a table name
  await page.evaluate(() => { LS.editor.setValue('SELECT * FROM cl'); LS.editor.focus(); LS.editor.setCursor({line: 0, ch: 16}); });
  await page.keyboard.down('Control'); await page.keyboard.press('Space'); await page.keyboard.up('Control');
  await page.waitForSelector('.CodeMirror-hints');
  check((await text('.CodeMirror-hints')).includes('clicks'), 'completion offers the table', await text('.CodeMirror-hints'));
  await page.keyboard.press('Escape');

  /* ---- API keys ---- */
  await go('#/apikeys', 'table.apikeys');
  await page.click('#new-key');
  await page.type('#key-name', 'dashboard');
  await page.type('#key-description', 'read-only dashboard');
  await page.click('#key-create');
  await page.waitForSelector('#new-key-value');
  const newKey = await page.$eval('#new-key-value', (e) => e.value);
  check(/^pok_/.test(newKey), 'a new key is shown once', newKey);
  check((await text('table.apikeys')).includes('dashboard') && !(await text('table.apikeys')).includes(newKey), 'the list shows the key\'s record, never the key');
  check((await api('GET', '/v1/projects', null, newKey)).status === 200, 'the new key works');
  await shot('12-apikeys');
  await page.click('button[data-revoke=dashboard]');
  await page.waitForSelector('.modal');
  await page.click('#modal-ok');
  await page.waitForFunction(() => !document.querySelector('table.apikeys').innerText.includes('dashboard'));
  check((await api('GET', '/v1/projects', null, newKey)).status === 401, 'the revoked key is refused at once');

  /* ---- cancel: final ---- */
  await go('#/jobs/' + jobId, '#job-cancel');
  await page.click('#job-cancel');
  await page.waitForSelector('.modal');
  check((await text('.modal')).includes('cannot be resumed'), 'cancel\'s confirmation says it is final', await text('.modal'));
  await page.click('#modal-ok');
  await page.waitForFunction(() => !document.getElementById('job-suspend') && !document.getElementById('job-cancel'), {timeout: 30000});
  check((await api('GET', '/v2/jobs/' + jobId)).json.desiredExecutionStatus === 'canceled', 'cancel through the console');

  /* ---- the key never travels in a URL ---- */
  check(urls.length > 20 && urls.every((u) => !u.includes(KEY) && !u.includes(newKey)), 'no URL carries a key', urls.filter((u) => u.includes(KEY)));
  check(consoleErrors.length === 0, 'no script errors in the page', JSON.stringify(consoleErrors));

  /* ---- sign out ---- */
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])');
  check(await page.evaluate(() => sessionStorage.getItem('lodestar.apiKey')) === null, 'signing out forgets the key');
  await browser.close();
}

main().catch((e) => { failed++; console.log('FAIL the run stopped: ' + (e && e.stack || e)); }).finally(() => {
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed ? 1 : 0);
});
