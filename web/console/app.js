/*
 * app.js — the console's core: the API client (the user's key, kept in
 * sessionStorage, sent as "Authorization: Bearer" and never in a URL), the
 * hash router (#/jobs/ID), DOM helpers, number/byte/time formatting, the
 * confirmation dialog and the charts (uPlot). Pages register themselves in
 * LS.pages (pages/*.js); start.js starts the console.
 */
'use strict';

const LS = {pages: {}, timers: [], charts: []};
const KEY_STORE = 'lodestar.apiKey';

/* ---- the API ------------------------------------------------------------ */

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || ('HTTP ' + status));
    this.status = status;
    this.body = body || {};
  }
}

LS.key = () => sessionStorage.getItem(KEY_STORE);

/* One call to the API; path is project-scoped unless it starts with '/'. */
LS.api = async function (method, path, body) {
  const url = path.startsWith('/') ? path : '/v1/projects/' + encodeURIComponent(LS.project) + '/' + path;
  const headers = {'Authorization': 'Bearer ' + LS.key()};
  const init = {method, headers, cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = {message: text}; }
  if (resp.status === 401 && path !== '/v1/projects') {
    LS.signOut('Your key was refused (it may have been revoked): sign in again.');
    throw new ApiError(401, json);
  }
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json;
};

/* ---- DOM helpers -------------------------------------------------------- */

/* h('div.card#id', {attr}, child, ...): an element; strings become text. */
function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  if (attrs !== undefined && (attrs === null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  const add = (c) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  children.forEach(add);
  return el;
}
LS.h = h;

LS.clear = (el) => { while (el.firstChild) el.removeChild(el.firstChild); return el; };

/* A page: title, optional actions on the right, then the body. */
LS.page = function (title, subtitle, actions, ...body) {
  const main = LS.clear(document.getElementById('main'));
  main.appendChild(h('header.page-head',
    h('div', h('h1', title), subtitle ? h('div.subtitle', subtitle) : null),
    h('div.actions', actions || [])));
  body.forEach((b) => b && main.appendChild(b));
  return main;
};

LS.card = (title, ...body) => h('section.card', title ? h('h2', title) : null, ...body);

/* A table of rows: cols [{title, get(row) -> Node|string, cls}] */
LS.table = function (cols, rows, opts) {
  opts = opts || {};
  if (!rows.length) return h('div.empty', opts.empty || 'Nothing here yet.');
  return h('div.table-wrap', h('table.grid' + (opts.cls ? '.' + opts.cls : ''),
    h('thead', h('tr', cols.map((c) => h('th' + (c.cls ? '.' + c.cls : ''), c.title)))),
    h('tbody', rows.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : null,
      cols.map((c) => h('td' + (c.cls ? '.' + c.cls : ''), c.get(r))))))));
};

LS.badge = (text, kind) => h('span.badge.badge-' + (kind || String(text).toLowerCase()), text);

LS.statusBadge = (s) => LS.badge(s || 'unknown', {
  running: 'ok', pending: 'warn', suspended: 'muted', canceled: 'muted', failed: 'error', succeeded: 'ok',
}[s] || 'muted');

LS.healthBadge = (health) => {
  const s = (health && health.status) || 'ok';
  const el = h('span.health.health-' + s, h('span.dot'), s);
  if (health && health.message) el.title = health.message;
  return el;
};

LS.errorBox = (e) => h('div.alert.alert-error', h('strong', e.body && e.body.error ? e.body.error + ': ' : 'Error: '),
  e.message, e.body && e.body.target ? h('span.muted', ' (at ' + e.body.target + ')') : null);

LS.toast = function (msg, kind) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.className = 'toast toast-' + (kind || 'ok');
  t.hidden = false;
  clearTimeout(LS.toastTimer);
  LS.toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
};

/* A labelled form field. */
LS.field = (label, input, hint) => h('label.field', h('span.label', label), input, hint ? h('span.hint', hint) : null);

LS.select = (id, options, value) => h(id ? 'select#' + id : 'select', options.map((o) => {
  const [v, t] = Array.isArray(o) ? o : [o, o];
  return h('option', {value: v, selected: v === value}, t);
}));

/* ---- formatting --------------------------------------------------------- */

LS.num = (n) => (n === null || n === undefined) ? '—' : Number(n).toLocaleString('en-US');
LS.bytes = function (n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + ' ' + u[i];
};
LS.time = function (iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC');
};
LS.ago = function (iso) {
  if (!iso) return '—';
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
};
LS.when = (iso) => iso ? h('span', {title: LS.time(iso)}, LS.ago(iso)) : '—';
LS.duration = function (ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return ms + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  if (ms < 3600000) return (ms / 60000).toFixed(1) + ' min';
  return (ms / 3600000).toFixed(1) + ' h';
};

/* ---- the confirmation dialog -------------------------------------------- */

/* Resolves true when the user confirms. danger: the button is red. */
LS.confirm = function (title, body, okText, danger) {
  return new Promise((resolve) => {
    const back = LS.clear(document.getElementById('modal'));
    const close = (v) => { back.hidden = true; LS.clear(back); resolve(v); };
    const ok = h('button#modal-ok.btn' + (danger ? '.danger' : '.primary'), {onclick: () => close(true)}, okText);
    back.appendChild(h('div.modal', {role: 'dialog', 'aria-modal': 'true'},
      h('h2', title), h('div.modal-body', body),
      h('div.modal-actions', h('button#modal-cancel.btn', {onclick: () => close(false)}, 'Cancel'), ok)));
    back.hidden = false;
    ok.focus();
  });
};

/* ---- charts ------------------------------------------------------------- */

/* A time-series line chart: xs in seconds since the epoch, series [{label, values, unit}]. */
LS.lineChart = function (title, unit, xs, series, opts) {
  opts = opts || {};
  const box = h('div.chart', h('div.chart-title', title, h('span.unit', unit)));
  const plot = h('div.chart-plot');
  box.appendChild(plot);
  const colors = ['#2563eb', '#16a34a', '#ea580c', '#9333ea', '#0891b2'];
  const fmt = opts.fmt || ((v) => v === null || v === undefined ? '—' : LS.num(Math.round(v * 100) / 100));
  requestAnimationFrame(() => {
    const width = Math.max(280, plot.clientWidth || 420);
    const u = new uPlot({
      width, height: opts.height || 200,
      scales: {x: {time: true}, y: {range: (self, min, max) => [Math.min(0, min || 0), max > 0 ? max * 1.1 : 1]}},
      legend: {show: series.length > 1, live: false},
      cursor: {drag: {x: false, y: false}},
      axes: [
        {stroke: '#64748b', grid: {stroke: '#eef1f5'}, ticks: {stroke: '#e2e8f0'},
         label: opts.xLabel || 'time (local)', labelSize: 18, labelFont: '12px system-ui', font: '11px system-ui'},
        {stroke: '#64748b', grid: {stroke: '#eef1f5'}, ticks: {stroke: '#e2e8f0'}, size: 64,
         label: unit, labelSize: 18, labelFont: '12px system-ui', font: '11px system-ui',
         values: (self, ticks) => ticks.map((t) => opts.tick ? opts.tick(t) : LS.compact(t))},
      ],
      series: [{}].concat(series.map((s, i) => ({
        label: s.label, stroke: colors[i % colors.length], width: 2,
        fill: series.length === 1 ? colors[i % colors.length] + '18' : undefined,
        points: {show: xs.length < 40}, value: (self, v) => fmt(v),
      }))),
    }, [xs].concat(series.map((s) => s.values)), plot);
    LS.charts.push(u);
  });
  return box;
};

LS.compact = function (v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, '') + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
  return String(Math.round(v * 100) / 100);
};

/* Horizontal bars: a top-N result (labels and values), labelled with the value column. */
LS.barChart = function (title, unit, labels, values) {
  const max = Math.max(...values.map((v) => Math.abs(v)), 1);
  return h('div.chart', h('div.chart-title', title, h('span.unit', unit)),
    h('div.bars', labels.map((l, i) => h('div.bar-row',
      h('div.bar-label', {title: String(l)}, l === null ? '(null)' : String(l)),
      h('div.bar-track', h('div.bar', {style: 'width:' + (100 * Math.abs(values[i]) / max).toFixed(2) + '%'})),
      h('div.bar-value', LS.num(values[i]))))));
};

/* ---- routing ------------------------------------------------------------ */

/* Timers and charts of the page shown are dropped when another page opens. */
LS.every = function (ms, fn) { LS.timers.push(setInterval(fn, ms)); };

LS.route = async function () {
  LS.timers.forEach(clearInterval);
  LS.timers = [];
  LS.charts.forEach((c) => c.destroy());
  LS.charts = [];
  const hash = location.hash.replace(/^#\/?/, '');
  const q = hash.indexOf('?');
  LS.query = new URLSearchParams(q >= 0 ? hash.slice(q + 1) : '');
  const parts = ((q >= 0 ? hash.slice(0, q) : hash) || 'tables').split('/').map(decodeURIComponent);
  const name = parts[0];
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === name));
  const page = LS.pages[name];
  if (!page) { location.hash = '#/tables'; return; }
  try {
    await page(...parts.slice(1));
  } catch (e) {
    if (e.status === 401) return;
    LS.page('Something went wrong', null, null, LS.errorBox(e));
  }
};

/* ---- signing in --------------------------------------------------------- */

LS.signOut = function (why) {
  sessionStorage.removeItem(KEY_STORE);
  document.getElementById('app').hidden = true;
  document.getElementById('login').hidden = false;
  const err = document.getElementById('login-error');
  err.hidden = !why;
  err.textContent = why || '';
  document.getElementById('login-key').value = '';
  document.getElementById('login-key').focus();
};

/* Checks the key with GET /v1/projects (any valid key may) and opens the console. */
LS.signIn = async function () {
  const projects = await LS.api('GET', '/v1/projects');
  LS.project = projects[0].metadata.uid;
  document.getElementById('whoami').textContent = 'project ' + projects[0].metadata.name;
  document.getElementById('login').hidden = true;
  document.getElementById('app').hidden = false;
  await LS.route();
};
