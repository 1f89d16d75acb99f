// client.mjs — Druid's own SQL client library against Lodestar's POST /druid/v2/sql.
//
// @druid-toolkit/query is the query layer of Druid's web console: QueryRunner builds the
// request (resultFormat "array" with header, typesHeader and sqlTypesHeader), an executor
// sends it, and QueryResult decodes the answer (columns with their SQL and native types,
// TIMESTAMP columns turned into Dates, the X-Druid-SQL-Query-Id header). The executor here
// does what the console's does (POST /druid/v2/sql, JSON in and out, the response headers
// handed back lower-cased as axios gives them), with fetch and the API key.
//
// Usage: node client.mjs BASE_URL API_KEY TABLE
// Prints one JSON object: what each step got, for tests/e2e/test_druid_sql.py to check.
import { Introspect, QueryRunner, SqlQuery, T } from '@druid-toolkit/query';

const [base, key, table] = process.argv.slice(2);
if (!base || !key || !table) {
  console.error('usage: node client.mjs BASE_URL API_KEY TABLE');
  process.exit(2);
}

class DruidError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}: ${body}`);
    this.status = status;
    this.body = body;
  }
}

async function executor(payload, isSql) {
  const resp = await fetch(base + (isSql ? '/druid/v2/sql' : '/druid/v2'), {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: 'Basic ' + Buffer.from(key + ':').toString('base64'),
    },
    body: JSON.stringify(payload),
  });
  const text = await resp.text();
  if (!resp.ok) throw new DruidError(resp.status, text);
  const headers = {};
  resp.headers.forEach((v, k) => (headers[k] = v));
  return { data: JSON.parse(text), headers };
}

const runner = new QueryRunner({ executor });

function describe(result) {
  return {
    columns: result.header.map(c => ({ name: c.name, sqlType: c.sqlType, nativeType: c.nativeType })),
    rows: result.rows.map(r => r.map(v => (v instanceof Date ? { date: v.toISOString() } : v))),
    sqlQueryId: result.sqlQueryId ?? null,
    queryId: result.queryId ?? null,
    sqlOuterLimit: result.getSqlOuterLimit() ?? null,
  };
}

async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: e instanceof DruidError ? { status: e.status, body: JSON.parse(e.body) } : String(e) };
  }
}

const out = {};
const t = SqlQuery.parse(`SELECT * FROM "${table}"`).getFirstTableName();

// the console's table list
await step('tables', async () =>
  Introspect.decodeTableIntrospectionResult(
    await runner.runQuery({ query: Introspect.getTableIntrospectionQuery() }),
  ),
);

// the console's column introspection of a table: SELECT * with LIMIT 0, header rows only
// (for a query the console wraps it in a subquery: FROM (...) LIMIT 0)
await step('columns', async () => {
  const r = await runner.runQuery({ query: Introspect.getQueryColumnIntrospectionPayload(T(t)) });
  return Introspect.decodeQueryColumnIntrospectionResult(r).map(c => ({
    name: c.name,
    sqlType: c.sqlType,
    nativeType: c.nativeType,
  }));
});

// a query as the console runs it: a string, the runner's defaults, dates inflated
await step('grouped', async () =>
  describe(
    await runner.runQuery({
      query: `SELECT TIME_FLOOR(__time, 'P1D') AS "day", channel, SUM(added) AS added, COUNT(*) AS "rows"
              FROM "${t}" GROUP BY 1, 2 ORDER BY 1, 2`,
    }),
  ),
);

// a parsed and rewritten SqlQuery, with parameters, the console's outer limit and a query id
await step('limited', async () => {
  const q = SqlQuery.parse(`SELECT channel, added FROM "${t}" WHERE added >= ? ORDER BY added DESC, channel`);
  return describe(
    await runner.runQuery({
      query: q,
      queryParameters: [{ type: 'BIGINT', value: 5 }],
      extraQueryContext: { sqlOuterLimit: 3, sqlQueryId: 'toolkit-query-1' },
    }),
  );
});

// a full payload of the caller's own: the object format without a header
await step('objects', async () =>
  describe(
    await runner.runQuery({
      query: {
        query: `SELECT channel, COUNT(*) AS n FROM "${t}" GROUP BY channel ORDER BY channel`,
        resultFormat: 'object',
        context: { sqlTimeZone: 'America/Los_Angeles' },
      },
    }),
  ),
);

// errors come back as Druid's error object
await step('unknownTable', async () => describe(await runner.runQuery({ query: 'SELECT * FROM "no_such_table"' })));
await step('syntaxError', async () => describe(await runner.runQuery({ query: `SELECT FROM "${t}" WHERE` })));

console.log(JSON.stringify(out));
