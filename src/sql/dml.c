/*
 * dml.c — Druid's SQL-based ingestion statements, parsed into what a job
 * needs: INSERT INTO t ... / REPLACE INTO t OVERWRITE ALL | OVERWRITE WHERE
 * <__time range> ..., the inner SELECT, PARTITIONED BY (DAY, 'P1D',
 * FLOOR(__time TO DAY), TIME_FLOOR(__time, 'P1D'), ALL TIME, ...) and
 * CLUSTERED BY. The SELECT is split, not bound: when its FROM is
 * TABLE(EXTERN('<inputSource>', '<inputFormat>', '<signature>')) (or
 * EXTERN(...) EXTEND (col TYPE, ...)) its items become the job's mappings
 * (expression text and column name, aggregations marked), its WHERE the
 * job's filter and the signature its input schema; when it reads a table
 * the whole SELECT text is kept for the query engine. JSON arguments are
 * checked for syntax and the input source's type here; their contents are
 * read by the API.
 *
 * Entry points (sql.h): sql_dml_is_dml(), sql_dml_parse(), sql_dml_free(),
 * sql_dml_error_at().
 */
#include "sql/sql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 1000000

struct dp {
    const char *text;
    size_t len;
    struct sql_token *t; /* every token, TK_EOF last */
    size_t n, i;
    struct sql_dml *d;
    struct lerr *err;
};

static int fail_at(struct dp *p, size_t off, const char *fmt, ...) LS_PRINTF(3, 4);
static int fail_at(struct dp *p, size_t off, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sql_error_at(p->err, p->text, p->len, off, "%s", msg);
}

static const struct sql_token *tok(const struct dp *p, size_t k)
{
    return &p->t[k < p->n ? k : p->n - 1];
}

static const struct sql_token *cur(const struct dp *p) { return tok(p, p->i); }

static bool is_kw(const struct dp *p, size_t k, const char *kw)
{
    const struct sql_token *t = tok(p, k);
    if (t->kind != TK_IDENT)
        return false;
    size_t n = strlen(kw);
    if (t->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p->text[t->off + i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != kw[i])
            return false;
    }
    return true;
}

static bool accept_kw(struct dp *p, const char *kw)
{
    if (!is_kw(p, p->i, kw))
        return false;
    p->i++;
    return true;
}

/* What the token is, for messages: "'FOO'" or "the end of the statement". */
static const char *tok_text(const struct dp *p, const struct sql_token *t, char *buf, size_t cap)
{
    if (t->kind == TK_EOF)
        return "the end of the statement";
    snprintf(buf, cap, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), p->text + t->off);
    return buf;
}

static int expect_kw(struct dp *p, const char *kw, const char *hint)
{
    if (accept_kw(p, kw))
        return 0;
    char b[64];
    return fail_at(p, cur(p)->off, "expected %s but found %s (%s)", kw,
                   tok_text(p, cur(p), b, sizeof b), hint);
}

static int expect(struct dp *p, int kind, const char *what, const char *hint)
{
    if (cur(p)->kind == kind) {
        p->i++;
        return 0;
    }
    char b[64];
    return fail_at(p, cur(p)->off, "expected %s but found %s (%s)", what,
                   tok_text(p, cur(p), b, sizeof b), hint);
}

/* A quoted token's text with its quotes removed and doubled quotes undone
 * (q is the quote character), from the dml's arena; *n its length. */
static char *unquoted(struct dp *p, const struct sql_token *t, char q, size_t *n)
{
    char *s = arena_alloc(&p->d->mem, t->len);
    if (!s)
        return NULL;
    size_t k = 0;
    for (size_t i = t->off + 1; i + 1 < t->off + t->len; i++) {
        s[k++] = p->text[i];
        if (p->text[i] == q)
            i++;
    }
    s[k] = '\0';
    if (n)
        *n = k;
    return s;
}

/* An identifier's text: quotes removed and "" undone, from the dml's arena. */
static char *ident_text(struct dp *p, const struct sql_token *t)
{
    if (t->kind == TK_IDENT)
        return arena_strndup(&p->d->mem, p->text + t->off, t->len);
    return unquoted(p, t, '"', NULL);
}

/* A 'string' literal's text with '' undone. */
static char *string_text(struct dp *p, const struct sql_token *t, size_t *n)
{
    return unquoted(p, t, '\'', n);
}

static bool is_name(const struct sql_token *t)
{
    return t->kind == TK_IDENT || t->kind == TK_QIDENT;
}

static int nomem(struct dp *p) { return lerr_set(p->err, LERR_NOMEM, "out of memory"); }

/* ---- the target and the mode ------------------------------------------------------ */

static int table_name(struct dp *p, const char **out)
{
    const struct sql_token *t = cur(p);
    if (!is_name(t))
        return expect(p, TK_IDENT, "the target table's name",
                      "e.g. INSERT INTO \"wikipedia\" SELECT ...");
    p->i++;
    /* druid."t": the schema is the only one there is. */
    if (cur(p)->kind == TK_DOT) {
        char *schema = ident_text(p, t);
        if (!schema)
            return nomem(p);
        if (strcmp(schema, "druid") != 0)
            return fail_at(p, t->off,
                           "the target table must be in schema druid, not '%s' (write "
                           "\"druid\".\"table\" or just \"table\")",
                           schema);
        p->i++;
        t = cur(p);
        if (!is_name(t))
            return expect(p, TK_IDENT, "the target table's name", "after druid.");
        p->i++;
    }
    if (!(*out = ident_text(p, t)))
        return nomem(p);
    p->d->table_pos = t->off;
    return 0;
}

/* A bound of OVERWRITE WHERE: TIMESTAMP '...', '...' or a number of milliseconds. */
static int time_literal(struct dp *p, int64_t *ms)
{
    const struct sql_token *t = cur(p);
    bool ts = is_kw(p, p->i, "TIMESTAMP");
    if (ts)
        t = tok(p, ++p->i);
    if (t->kind == TK_STRING) {
        size_t n;
        char *s = string_text(p, t, &n);
        if (!s)
            return nomem(p);
        if (!time_parse_iso(s, n, NULL, ms))
            return fail_at(p, t->off,
                           "'%s' is not a timestamp (write TIMESTAMP 'yyyy-MM-dd HH:mm:ss', "
                           "e.g. TIMESTAMP '2024-01-01 00:00:00')",
                           s);
        p->i++;
        return 0;
    }
    if (t->kind == TK_INTEGER && !ts) {
        char num[32]; /* the token alone: the text need not be NUL-terminated */
        if (t->len >= sizeof num)
            return fail_at(p, t->off, "%.*s is too large for milliseconds", (int)t->len,
                           p->text + t->off);
        memcpy(num, p->text + t->off, t->len);
        num[t->len] = '\0';
        *ms = strtoll(num, NULL, 10);
        p->i++;
        return 0;
    }
    char b[64];
    return fail_at(p, t->off,
                   "expected a timestamp but found %s (write TIMESTAMP '2024-01-01 00:00:00')",
                   tok_text(p, t, b, sizeof b));
}

/*
 * OVERWRITE WHERE: comparisons of __time with timestamps joined by AND,
 * which must bound it on both sides, half-open as time chunks are:
 * __time >= a AND __time < b.
 */
static int overwrite_where(struct dp *p)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    size_t start = cur(p)->off;
    const char *hint = "OVERWRITE WHERE bounds __time, e.g. OVERWRITE WHERE __time >= TIMESTAMP "
                       "'2024-01-01' AND __time < TIMESTAMP '2024-01-02'";
    for (;;) {
        const struct sql_token *c = cur(p);
        if (!is_name(c)) {
            char b[64];
            return fail_at(p, c->off, "expected __time but found %s (%s)",
                           tok_text(p, c, b, sizeof b), hint);
        }
        char *col = ident_text(p, c);
        if (!col)
            return nomem(p);
        if (strcmp(col, "__time") != 0)
            return fail_at(p, c->off,
                           "OVERWRITE WHERE can only filter on __time, not '%s': REPLACE "
                           "overwrites whole time chunks (%s)",
                           col, hint);
        p->i++;
        const struct sql_token *op = cur(p);
        int64_t v;
        if (op->kind != TK_GE && op->kind != TK_LT) {
            char b[64];
            return fail_at(p, op->off,
                           "expected >= or < after __time but found %s (OVERWRITE WHERE takes "
                           "a half-open range: __time >= start AND __time < end)",
                           tok_text(p, op, b, sizeof b));
        }
        p->i++;
        if (time_literal(p, &v))
            return p->err->code;
        if (op->kind == TK_GE)
            lo = lo == INT64_MIN || v > lo ? v : lo;
        else
            hi = hi == INT64_MAX || v < hi ? v : hi;
        if (is_kw(p, p->i, "OR"))
            return fail_at(p, cur(p)->off,
                           "OVERWRITE WHERE takes one __time range joined by AND, not OR (run "
                           "one REPLACE per range)");
        if (!accept_kw(p, "AND"))
            break;
    }
    if (lo == INT64_MIN || hi == INT64_MAX)
        return fail_at(p, start, "OVERWRITE WHERE must bound __time on both sides (%s)", hint);
    if (lo >= hi)
        return fail_at(p, start,
                       "OVERWRITE WHERE's range is empty: its start is not before its "
                       "end");
    p->d->overwrite_start = lo;
    p->d->overwrite_end = hi;
    p->d->overwrite_pos = start;
    return 0;
}

/* ---- PARTITIONED BY and CLUSTERED BY --------------------------------------------------- */

static const char *const gran_units[] = {"HOUR", "DAY", "WEEK", "MONTH", "YEAR", NULL};
static const char *const gran_periods[] = {"PT1H", "P1D", "P1W", "P1M", "P1Y", NULL};
static const char *const gran_names[] = {"hour", "day", "week", "month", "year", NULL};

static int gran_from_word(struct dp *p, const struct sql_token *t)
{
    for (int k = 0; gran_units[k]; k++)
        if (is_kw(p, (size_t)(t - p->t), gran_units[k])) {
            p->d->partitioned_by = gran_names[k];
            return 0;
        }
    char b[64];
    return fail_at(p, t->off,
                   "PARTITIONED BY %s is not a granularity this server partitions by (use HOUR, "
                   "DAY, WEEK, MONTH, YEAR or ALL TIME)",
                   tok_text(p, t, b, sizeof b));
}

static int gran_from_period(struct dp *p, const struct sql_token *t)
{
    size_t n;
    char *s = string_text(p, t, &n);
    if (!s)
        return nomem(p);
    for (int k = 0; gran_periods[k]; k++)
        if (strcmp(s, gran_periods[k]) == 0) {
            p->d->partitioned_by = gran_names[k];
            return 0;
        }
    return fail_at(p, t->off,
                   "PARTITIONED BY '%s' is not a granularity this server partitions by (use "
                   "'PT1H', 'P1D', 'P1W', 'P1M', 'P1Y' or ALL TIME)",
                   s);
}

static bool is_time_col(const struct dp *p, size_t k)
{
    const struct sql_token *t = tok(p, k);
    return is_name(t) && t->len >= 6 &&
           strncmp(p->text + t->off + (t->kind == TK_QIDENT), "__time", 6) == 0 &&
           t->len == 6u + (t->kind == TK_QIDENT ? 2u : 0u);
}

static int partitioned_by(struct dp *p)
{
    const char *hint = "e.g. PARTITIONED BY DAY";
    const struct sql_token *t = cur(p);
    p->d->partition_pos = t->off;
    if (accept_kw(p, "ALL")) {
        accept_kw(p, "TIME");
        p->d->partitioned_by = "all";
        return 0;
    }
    if (t->kind == TK_STRING) {
        p->i++;
        return gran_from_period(p, t);
    }
    if (is_kw(p, p->i, "FLOOR") && tok(p, p->i + 1)->kind == TK_LPAREN) {
        /* FLOOR(__time TO DAY) */
        p->i += 2;
        if (!is_time_col(p, p->i))
            return expect(p, TK_EOF, "__time", "PARTITIONED BY FLOOR(__time TO DAY)");
        p->i++;
        if (expect_kw(p, "TO", "PARTITIONED BY FLOOR(__time TO DAY)"))
            return p->err->code;
        const struct sql_token *u = cur(p);
        p->i++;
        if (gran_from_word(p, u))
            return p->err->code;
        return expect(p, TK_RPAREN, "')'", "PARTITIONED BY FLOOR(__time TO DAY)");
    }
    if (is_kw(p, p->i, "TIME_FLOOR") && tok(p, p->i + 1)->kind == TK_LPAREN) {
        /* TIME_FLOOR(__time, 'P1D') */
        p->i += 2;
        if (!is_time_col(p, p->i))
            return expect(p, TK_EOF, "__time", "PARTITIONED BY TIME_FLOOR(__time, 'P1D')");
        p->i++;
        if (expect(p, TK_COMMA, "','", "PARTITIONED BY TIME_FLOOR(__time, 'P1D')"))
            return p->err->code;
        const struct sql_token *s = cur(p);
        if (s->kind != TK_STRING)
            return expect(p, TK_STRING, "a period such as 'P1D'",
                          "PARTITIONED BY TIME_FLOOR(__time, 'P1D')");
        p->i++;
        if (gran_from_period(p, s))
            return p->err->code;
        return expect(p, TK_RPAREN, "')'", "PARTITIONED BY TIME_FLOOR(__time, 'P1D')");
    }
    if (t->kind == TK_IDENT) {
        p->i++;
        return gran_from_word(p, t);
    }
    return expect(p, TK_IDENT, "a granularity", hint);
}

static int clustered_by(struct dp *p)
{
    size_t cap = 8;
    const char **cols = arena_alloc(&p->d->mem, cap * sizeof *cols);
    if (!cols)
        return nomem(p);
    size_t n = 0;
    do {
        const struct sql_token *t = cur(p);
        if (t->kind == TK_INTEGER)
            return fail_at(p, t->off,
                           "CLUSTERED BY takes column names, not positions (write CLUSTERED BY "
                           "\"page\")");
        if (!is_name(t))
            return expect(p, TK_IDENT, "a column name", "e.g. CLUSTERED BY \"page\", \"user\"");
        p->i++;
        if (n == cap) {
            const char **g = arena_alloc(&p->d->mem, 2 * cap * sizeof *g);
            if (!g)
                return nomem(p);
            memcpy(g, cols, n * sizeof *g);
            cols = g;
            cap *= 2;
        }
        if (!(cols[n++] = ident_text(p, t)))
            return nomem(p);
    } while (cur(p)->kind == TK_COMMA && (p->i++, true));
    p->d->clustered_by = cols;
    p->d->nclustered = n;
    return 0;
}

/* ---- the SELECT's parts --------------------------------------------------------------- */

/* The end of a JSON object's member `key` (a string's value), searched at the top level. */
static const char *json_member_string(const char *s, size_t n, const char *key, size_t *vlen)
{
    const char *p = s, *e = s + n;
    p = sql_json_ws(p, e);
    if (p >= e || *p != '{')
        return NULL;
    p++;
    for (;;) {
        p = sql_json_ws(p, e);
        if (p >= e || *p != '"')
            return NULL;
        bool esc = false;
        const char *kend = sql_json_scan_string(p, e, &esc);
        if (!kend)
            return NULL;
        bool match = !esc && (size_t)(kend - p - 2) == strlen(key) &&
                     memcmp(p + 1, key, strlen(key)) == 0;
        p = sql_json_ws(kend, e);
        if (p >= e || *p != ':')
            return NULL;
        p = sql_json_ws(p + 1, e);
        const char *vend = sql_json_scan_value(p, e, 0);
        if (!vend)
            return NULL;
        if (match) {
            if (*p != '"')
                return NULL;
            *vlen = (size_t)(vend - p - 2);
            return p + 1;
        }
        p = sql_json_ws(vend, e);
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        return NULL;
    }
}

static const char *const source_types[] = {"inline", "uploaded", "s3", NULL};

/* One EXTERN argument: a string literal holding JSON. */
static int extern_arg(struct dp *p, const char *what, const char **out, size_t *pos)
{
    const struct sql_token *t = cur(p);
    /* named argument: inputSource => '...' */
    if (t->kind == TK_IDENT && tok(p, p->i + 1)->kind == TK_EQ &&
        tok(p, p->i + 2)->kind == TK_GT) {
        p->i += 3;
        t = cur(p);
    }
    if (t->kind != TK_STRING) {
        char b[64];
        return fail_at(p, t->off,
                       "EXTERN's %s must be a string of JSON, but found %s (e.g. "
                       "EXTERN('{\"type\":\"inline\",\"data\":\"...\"}', '{\"type\":\"json\"}', "
                       "'[{\"name\":\"timestamp\",\"type\":\"string\"}]'))",
                       what, tok_text(p, t, b, sizeof b));
    }
    size_t n;
    char *s = string_text(p, t, &n);
    if (!s)
        return nomem(p);
    if (!sql_json_valid(s, n))
        return fail_at(p, t->off,
                       "EXTERN's %s is not valid JSON (check its quotes, commas and braces; a "
                       "quote inside a SQL string is written '')",
                       what);
    *out = s;
    *pos = t->off;
    p->i++;
    return 0;
}

/* EXTEND (col TYPE, ...): the signature in SQL; written as JSON for the API. */
static int extend_list(struct dp *p)
{
    if (expect(p, TK_LPAREN, "'('", "e.g. EXTEND (\"timestamp\" VARCHAR, \"added\" BIGINT)"))
        return p->err->code;
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_append(&b, "[", 1);
    int rc = 0;
    for (size_t k = 0; !rc; k++) {
        const struct sql_token *name = cur(p);
        if (!is_name(name)) {
            rc = expect(p, TK_IDENT, "a column name",
                        "e.g. EXTEND (\"timestamp\" VARCHAR, \"added\" BIGINT)");
            break;
        }
        p->i++;
        const struct sql_token *type = cur(p);
        const char *dt = NULL;
        if (is_kw(p, p->i, "VARCHAR") || is_kw(p, p->i, "CHAR") || is_kw(p, p->i, "STRING"))
            dt = "string";
        else if (is_kw(p, p->i, "BIGINT") || is_kw(p, p->i, "INTEGER") || is_kw(p, p->i, "INT") ||
                 is_kw(p, p->i, "LONG"))
            dt = "long";
        else if (is_kw(p, p->i, "DOUBLE"))
            dt = "double";
        else if (is_kw(p, p->i, "FLOAT") || is_kw(p, p->i, "REAL"))
            dt = "float";
        else if (is_kw(p, p->i, "TYPE") && tok(p, p->i + 1)->kind == TK_LPAREN &&
                 tok(p, p->i + 2)->kind == TK_STRING && tok(p, p->i + 3)->kind == TK_RPAREN) {
            char *s = string_text(p, tok(p, p->i + 2), NULL);
            if (s && strcmp(s, "COMPLEX<json>") == 0) {
                dt = "json";
                p->i += 3;
            }
        }
        if (!dt) {
            char tb[64];
            rc = fail_at(p, type->off,
                         "EXTEND: %s is not an input type (use VARCHAR, BIGINT, DOUBLE, FLOAT, "
                         "VARCHAR ARRAY, BIGINT ARRAY, DOUBLE ARRAY or TYPE('COMPLEX<json>'))",
                         tok_text(p, type, tb, sizeof tb));
            break;
        }
        p->i++;
        /* Druid's typed arrays: VARCHAR ARRAY, BIGINT ARRAY, DOUBLE ARRAY */
        if (is_kw(p, p->i, "ARRAY")) {
            const char *arr = strcmp(dt, "string") == 0   ? "ARRAY<STRING>"
                              : strcmp(dt, "long") == 0   ? "ARRAY<LONG>"
                              : strcmp(dt, "double") == 0 ? "ARRAY<DOUBLE>"
                                                          : NULL;
            if (!arr) {
                rc = fail_at(p, cur(p)->off,
                             "EXTEND: arrays are of VARCHAR, BIGINT or DOUBLE (VARCHAR ARRAY, "
                             "BIGINT ARRAY, DOUBLE ARRAY), not of %s",
                             dt);
                break;
            }
            dt = arr;
            p->i++;
        }
        char *col = ident_text(p, name);
        if (!col) {
            rc = nomem(p);
            break;
        }
        if (k)
            buf_append(&b, ",", 1);
        buf_append(&b, "{\"name\":", 8);
        struct sql_value v = sql_string(col, strlen(col));
        sql_json_append_value(&b, &v);
        buf_printf(&b, ",\"type\":\"%s\"}", dt);
        if (cur(p)->kind != TK_COMMA)
            break;
        p->i++;
    }
    if (!rc)
        rc = expect(p, TK_RPAREN, "')'", "close the EXTEND list");
    if (!rc) {
        buf_append(&b, "]", 1);
        if (b.failed || !(p->d->signature = arena_strndup(&p->d->mem, b.data, b.len)))
            rc = nomem(p);
    }
    buf_free(&b);
    return rc;
}

/* FROM TABLE(EXTERN(...)) [EXTEND (...)], FROM EXTERN(...) EXTEND (...), or FROM table. */
static int from_clause(struct dp *p)
{
    struct sql_dml *d = p->d;
    bool table_fn = is_kw(p, p->i, "TABLE") && tok(p, p->i + 1)->kind == TK_LPAREN;
    size_t k = p->i + (table_fn ? 2 : 0);
    if (is_kw(p, k, "EXTERN") && tok(p, k + 1)->kind == TK_LPAREN) {
        size_t ext_pos = tok(p, k)->off;
        p->i = k + 2;
        if (extern_arg(p, "input source", &d->input_source, &d->input_source_pos) ||
            expect(p, TK_COMMA, "','",
                   "EXTERN takes an input source, an input format and a "
                   "signature") ||
            extern_arg(p, "input format", &d->input_format, &d->input_format_pos))
            return p->err->code;
        if (cur(p)->kind == TK_COMMA) {
            p->i++;
            if (extern_arg(p, "signature", &d->signature, &d->signature_pos))
                return p->err->code;
        }
        if (expect(p, TK_RPAREN, "')'", "close EXTERN(...)") ||
            (table_fn && expect(p, TK_RPAREN, "')'", "close TABLE(...)")))
            return p->err->code;
        if (accept_kw(p, "EXTEND") || cur(p)->kind == TK_LPAREN) {
            if (d->signature)
                return fail_at(p, cur(p)->off,
                               "EXTERN has a signature already; give the columns either as its "
                               "third argument or with EXTEND, not both");
            d->signature_pos = cur(p)->off;
            if (extend_list(p))
                return p->err->code;
        }
        if (!d->signature)
            return fail_at(p, ext_pos,
                           "EXTERN needs the input's columns: a third argument such as "
                           "'[{\"name\":\"timestamp\",\"type\":\"string\"}]' or EXTEND "
                           "(\"timestamp\" VARCHAR, ...)");
        size_t tl = 0;
        const char *type =
            json_member_string(d->input_source, strlen(d->input_source), "type", &tl);
        if (!type)
            return fail_at(p, d->input_source_pos,
                           "EXTERN's input source must be a JSON object with a \"type\", e.g. "
                           "{\"type\":\"inline\",\"data\":\"...\"} or "
                           "{\"type\":\"uploaded\",\"fileNames\":[\"data.json\"]}");
        for (int s = 0; source_types[s]; s++)
            if (strlen(source_types[s]) == tl && memcmp(source_types[s], type, tl) == 0)
                d->input_source_type = source_types[s];
        if (!d->input_source_type)
            return fail_at(p, d->input_source_pos,
                           "EXTERN's input source type \"%.*s\" is not supported here (use "
                           "\"inline\" with \"data\", \"uploaded\" with \"fileNames\" of "
                           "files uploaded to /v1/files, or \"s3\" with a \"connectionName\" "
                           "or \"uris\")",
                           (int)(tl > 40 ? 40 : tl), type);
        d->source = SQL_DML_EXTERN;
        return 0;
    }
    if (table_fn) {
        char b[64];
        return fail_at(p, tok(p, k)->off,
                       "TABLE(%s...) is not a source this server reads (use "
                       "TABLE(EXTERN(...)) or a table name)",
                       tok_text(p, tok(p, k), b, sizeof b));
    }
    const struct sql_token *t = cur(p);
    if (!is_name(t))
        return expect(p, TK_IDENT, "a table or TABLE(EXTERN(...))",
                      "e.g. FROM TABLE(EXTERN(...)) or FROM \"other_table\"");
    d->source = SQL_DML_TABLE;
    p->i++;
    if (cur(p)->kind == TK_DOT && is_name(tok(p, p->i + 1))) {
        t = tok(p, p->i + 1);
        p->i += 2;
    }
    if (!(d->source_table = ident_text(p, t)))
        return nomem(p);
    return 0;
}

/* Is there an aggregate call anywhere in the tree? */
static bool has_agg(const struct sql_node *n)
{
    if (!n)
        return false;
    if (n->kind == NK_CALL) {
        /* named calls are resolved by the binder: look the name up */
        int f = n->func < F__COUNT ? n->func : sql_func_find(n->name, n->name_len);
        if (f >= 0 && f < F__COUNT && (sql_funcs[f].flags & FF_AGG))
            return true;
    }
    for (size_t i = 0; i < n->nargs; i++)
        if (has_agg(n->args[i]))
            return true;
    return false;
}

static bool ends_expression(int kind)
{
    return kind == TK_RPAREN || kind == TK_STRING || kind == TK_INTEGER || kind == TK_DECIMAL ||
           kind == TK_QIDENT || kind == TK_IDENT;
}

/* One select item in tokens [a, b): its expression span and name. */
static int select_item(struct dp *p, size_t a, size_t b, size_t idx, struct sql_dml_item *it)
{
    const struct sql_token *first = tok(p, a), *last = tok(p, b - 1);
    size_t eb = b; /* end of the expression's tokens */
    const struct sql_token *name = NULL;
    if (b - a >= 3 && is_kw(p, b - 2, "AS") && is_name(last)) {
        name = last;
        eb = b - 2;
    } else if (b - a >= 2 && last->kind == TK_QIDENT && ends_expression(tok(p, b - 2)->kind) &&
               tok(p, b - 2)->kind != TK_IDENT) {
        name = last;
        eb = b - 1;
    } else if (b - a == 1 && is_name(first)) {
        name = first;
    } else if (b - a == 3 && is_name(first) && tok(p, a + 1)->kind == TK_DOT && is_name(last)) {
        name = last;
    }
    if (first->kind == TK_STAR && b - a == 1)
        return fail_at(p, first->off,
                       "SELECT * cannot feed an ingestion from EXTERN: list the columns, with "
                       "__time first, e.g. SELECT TIME_PARSE(\"timestamp\") AS __time, \"page\"");
    if (!name)
        return fail_at(p, first->off,
                       "select item %zu needs a column name: add AS \"column\" after the "
                       "expression",
                       idx + 1);
    size_t off = first->off, end = tok(p, eb - 1)->off + tok(p, eb - 1)->len;
    if (!(it->expression = arena_strndup(&p->d->mem, p->text + off, end - off)) ||
        !(it->column = ident_text(p, name)))
        return nomem(p);
    it->pos = off;
    struct arena a2;
    arena_init(&a2, 4096, 0);
    struct sql_node *root = NULL;
    struct lerr e;
    lerr_init(&e);
    if (sql_parse_expr_text(it->expression, end - off, &a2, &root, &e) == 0)
        it->aggregation = has_agg(root);
    arena_destroy(&a2);
    /* Syntax errors in the expression are reported where it is compiled, as a mapping. */
    return 0;
}

static bool is_clause_kw(const struct dp *p, size_t k)
{
    static const char *const kws[] = {"WHERE",  "GROUP", "HAVING", "ORDER", "LIMIT",
                                      "OFFSET", "UNION", "WINDOW", NULL};
    for (int i = 0; kws[i]; i++)
        if (is_kw(p, k, kws[i]))
            return true;
    return false;
}

/* The SELECT in tokens [a, b): split for an EXTERN source, kept whole for a table. */
static int select_parts(struct dp *p, size_t a, size_t b)
{
    struct sql_dml *d = p->d;
    size_t end_off = tok(p, b - 1)->off + tok(p, b - 1)->len;
    d->select_off = tok(p, a)->off;
    d->select_len = end_off - d->select_off;
    if (!(d->select = arena_strndup(&d->mem, p->text + d->select_off, d->select_len)))
        return nomem(p);
    if (!is_kw(p, a, "SELECT")) {
        char bb[64];
        return fail_at(p, tok(p, a)->off,
                       "expected SELECT but found %s (INSERT and REPLACE take a SELECT: INSERT "
                       "INTO t SELECT ... FROM ... PARTITIONED BY DAY)",
                       tok_text(p, tok(p, a), bb, sizeof bb));
    }
    /* Find FROM at depth 0. */
    size_t from = 0;
    int depth = 0;
    for (size_t k = a + 1; k < b; k++) {
        int kind = p->t[k].kind;
        depth += kind == TK_LPAREN ? 1 : kind == TK_RPAREN ? -1 : 0;
        if (depth == 0 && is_kw(p, k, "FROM")) {
            from = k;
            break;
        }
    }
    if (!from)
        return fail_at(p, end_off,
                       "the SELECT has no FROM: read TABLE(EXTERN(...)) or another table");
    size_t save = p->i;
    p->i = from + 1;
    if (from_clause(p))
        return p->err->code;
    size_t after = p->i;
    p->i = save;
    if (d->source == SQL_DML_TABLE)
        return 0; /* the query engine reads the whole SELECT */
    if (is_kw(p, a + 1, "DISTINCT") || is_kw(p, a + 1, "ALL"))
        return fail_at(p, tok(p, a + 1)->off,
                       "SELECT DISTINCT over EXTERN is not supported: ingest into an aggregate "
                       "table (or GROUP BY) to roll rows up");
    /* Items: split [a+1, from) at commas of depth 0. */
    size_t cap = 16, n = 0;
    struct sql_dml_item *items = arena_zalloc(&d->mem, cap * sizeof *items);
    if (!items)
        return nomem(p);
    size_t s = a + 1;
    depth = 0;
    for (size_t k = a + 1; k <= from; k++) {
        int kind = p->t[k].kind;
        depth += kind == TK_LPAREN ? 1 : kind == TK_RPAREN ? -1 : 0;
        if (k == from || (depth == 0 && kind == TK_COMMA)) {
            if (k == s)
                return fail_at(p, p->t[k].off, "a select item is missing before %s",
                               k == from ? "FROM" : "this comma");
            if (n == cap) {
                struct sql_dml_item *g = arena_zalloc(&d->mem, 2 * cap * sizeof *g);
                if (!g)
                    return nomem(p);
                memcpy(g, items, n * sizeof *g);
                items = g;
                cap *= 2;
            }
            if (select_item(p, s, k, n, &items[n]))
                return p->err->code;
            for (size_t j = 0; j < n; j++)
                if (strcmp(items[j].column, items[n].column) == 0)
                    return fail_at(p, items[n].pos,
                                   "column '%s' is selected twice (also by item %zu); give one "
                                   "of them another name with AS",
                                   items[n].column, j + 1);
            n++;
            s = k + 1;
        }
    }
    bool has_time = false;
    for (size_t j = 0; j < n; j++)
        has_time |= strcmp(items[j].column, "__time") == 0;
    if (!has_time)
        return fail_at(p, tok(p, a)->off,
                       "the SELECT must give __time, e.g. TIME_PARSE(\"timestamp\") AS __time "
                       "(every row needs a timestamp)");
    d->items = items;
    d->nitems = n;
    /* WHERE ... up to the next clause; GROUP BY is the table's rollup. */
    size_t k = after;
    if (k < b && is_kw(p, k, "WHERE")) {
        size_t w = ++k;
        depth = 0;
        while (k < b) {
            int kind = p->t[k].kind;
            depth += kind == TK_LPAREN ? 1 : kind == TK_RPAREN ? -1 : 0;
            if (depth == 0 && is_clause_kw(p, k))
                break;
            k++;
        }
        if (k == w)
            return fail_at(p, tok(p, w)->off, "WHERE needs a condition");
        size_t off = tok(p, w)->off, e = tok(p, k - 1)->off + tok(p, k - 1)->len;
        if (!(d->where = arena_strndup(&d->mem, p->text + off, e - off)))
            return nomem(p);
        d->where_pos = off;
    }
    if (k < b && is_kw(p, k, "GROUP")) {
        d->grouped = true;
        k++;
        depth = 0;
        while (k < b) {
            int kind = p->t[k].kind;
            depth += kind == TK_LPAREN ? 1 : kind == TK_RPAREN ? -1 : 0;
            if (depth == 0 && is_clause_kw(p, k))
                break;
            k++;
        }
    }
    if (k < b) {
        char bb[64];
        return fail_at(p, tok(p, k)->off,
                       "%s is not supported in a SELECT over EXTERN (it takes WHERE and GROUP "
                       "BY; rows are ordered by time and CLUSTERED BY)",
                       tok_text(p, tok(p, k), bb, sizeof bb));
    }
    return 0;
}

/* ---- the statement ---------------------------------------------------------------------- */

bool sql_dml_is_dml(const char *text, size_t len)
{
    struct sql_lexer lx;
    struct sql_token t;
    const char *why = NULL;
    sql_lex_init(&lx, text, len);
    sql_lex_next(&lx, &t, &why);
    if (t.kind == TK_IDENT && (sql_tok_is(&lx, &t, "EXPLAIN"))) {
        /* EXPLAIN PLAN FOR INSERT ... is still a query */
        return false;
    }
    return t.kind == TK_IDENT && (sql_tok_is(&lx, &t, "INSERT") || sql_tok_is(&lx, &t, "REPLACE"));
}

static int tokenize(struct dp *p)
{
    struct sql_lexer lx;
    sql_lex_init(&lx, p->text, p->len);
    size_t cap = 256;
    p->t = malloc(cap * sizeof *p->t);
    if (!p->t)
        return nomem(p);
    for (;;) {
        const char *why = NULL;
        if (p->n == cap) {
            if (cap >= MAX_TOKENS)
                return lerr_set(p->err, LERR_INVALID, "the statement is too long (over %d tokens)",
                                MAX_TOKENS);
            struct sql_token *g = realloc(p->t, 2 * cap * sizeof *g);
            if (!g)
                return nomem(p);
            p->t = g;
            cap *= 2;
        }
        struct sql_token *t = &p->t[p->n++];
        sql_lex_next(&lx, t, &why);
        if (t->kind == TK_ERROR)
            return fail_at(p, t->off, "%s", why ? why : "unexpected character");
        if (t->kind == TK_EOF)
            return 0;
    }
}

int sql_dml_parse(const char *text, size_t len, struct sql_dml **out, struct lerr *err)
{
    *out = NULL;
    struct sql_dml *d = calloc(1, sizeof *d);
    if (!d)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    arena_init(&d->mem, 4096, 0);
    d->overwrite_start = INT64_MIN;
    d->overwrite_end = INT64_MAX;
    struct dp p = {.text = text, .len = len, .d = d, .err = err};
    int rc = tokenize(&p);
    if (!rc && !(d->text = arena_strndup(&d->mem, text, len)))
        rc = nomem(&p);
    d->len = len;
    if (rc)
        goto out;
    if (accept_kw(&p, "INSERT")) {
        d->mode = SQL_DML_INSERT;
        if (expect_kw(&p, "INTO", "INSERT INTO \"table\" SELECT ...") || table_name(&p, &d->table))
            goto out;
        if (is_kw(&p, p.i, "OVERWRITE")) {
            fail_at(&p, cur(&p)->off,
                    "OVERWRITE belongs to REPLACE (write REPLACE INTO \"%s\" OVERWRITE ...)",
                    d->table);
            goto out;
        }
    } else if (accept_kw(&p, "REPLACE")) {
        if (expect_kw(&p, "INTO", "REPLACE INTO \"table\" OVERWRITE ALL SELECT ...") ||
            table_name(&p, &d->table) ||
            expect_kw(&p, "OVERWRITE",
                      "REPLACE needs OVERWRITE ALL or OVERWRITE WHERE __time >= ... AND "
                      "__time < ..."))
            goto out;
        if (accept_kw(&p, "ALL")) {
            d->mode = SQL_DML_REPLACE_ALL;
        } else if (accept_kw(&p, "WHERE")) {
            d->mode = SQL_DML_REPLACE_WHERE;
            if (overwrite_where(&p))
                goto out;
        } else {
            char b[64];
            fail_at(&p, cur(&p)->off,
                    "expected ALL or WHERE after OVERWRITE but found %s (OVERWRITE ALL, or "
                    "OVERWRITE WHERE __time >= TIMESTAMP '...' AND __time < TIMESTAMP '...')",
                    tok_text(&p, cur(&p), b, sizeof b));
            goto out;
        }
    } else {
        char b[64];
        fail_at(&p, cur(&p)->off, "expected INSERT or REPLACE but found %s",
                tok_text(&p, cur(&p), b, sizeof b));
        goto out;
    }
    /* The SELECT runs to PARTITIONED at depth 0. */
    size_t a = p.i, part = 0;
    int depth = 0;
    for (size_t k = a; k < p.n; k++) {
        int kind = p.t[k].kind;
        depth += kind == TK_LPAREN ? 1 : kind == TK_RPAREN ? -1 : 0;
        if (depth == 0 && is_kw(&p, k, "PARTITIONED") && is_kw(&p, k + 1, "BY")) {
            part = k;
            break;
        }
    }
    if (!part) {
        size_t end = p.n - 1;
        while (end > a && (p.t[end].kind == TK_EOF || p.t[end].kind == TK_SEMI))
            end--;
        fail_at(&p, p.t[end].off + p.t[end].len,
                "%s needs PARTITIONED BY at the end, as Druid requires (e.g. PARTITIONED BY DAY "
                "or PARTITIONED BY ALL TIME)",
                d->mode == SQL_DML_INSERT ? "INSERT" : "REPLACE");
        goto out;
    }
    if (part == a) {
        fail_at(&p, p.t[a].off, "expected SELECT before PARTITIONED BY");
        goto out;
    }
    if (select_parts(&p, a, part))
        goto out;
    p.i = part + 2;
    if (partitioned_by(&p))
        goto out;
    if (accept_kw(&p, "CLUSTERED")) {
        if (expect_kw(&p, "BY", "CLUSTERED BY \"column\"") || clustered_by(&p))
            goto out;
    }
    if (cur(&p)->kind == TK_SEMI)
        p.i++;
    if (cur(&p)->kind != TK_EOF) {
        char b[64];
        fail_at(&p, cur(&p)->off,
                "unexpected %s after PARTITIONED BY (only CLUSTERED BY may follow it)",
                tok_text(&p, cur(&p), b, sizeof b));
        goto out;
    }
out:
    free(p.t);
    if (err->code) {
        sql_dml_free(d);
        return err->code;
    }
    *out = d;
    return 0;
}

void sql_dml_free(struct sql_dml *d)
{
    if (!d)
        return;
    arena_destroy(&d->mem);
    free(d);
}

int sql_dml_error_at(const struct sql_dml *d, size_t off, struct lerr *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sql_error_at(err, d->text, d->len, off, "%s", msg);
}
