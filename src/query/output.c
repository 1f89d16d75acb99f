/*
 * output.c — the response body in Druid's five result formats:
 *
 *   object       [{"a":1,"b":"x"},...] + "\n"              application/json
 *   array        [[1,"x"],...] + "\n"                      application/json
 *   objectLines  {"a":1,"b":"x"} one per line, then "\n"   text/plain
 *   arrayLines   [1,"x"] one per line, then "\n"           text/plain
 *   csv          RFC 4180 lines, then "\n"                 text/csv
 *
 * At most req->outer_limit rows are written (context.sqlOuterLimit; rel.c
 * has already made it the top block's LIMIT, so this is a safety net) when
 * it is set. The trailing blank line of the line formats tells a client the response
 * was not cut off. With `header`, array formats and csv start with a row of
 * column names, and typesHeader / sqlTypesHeader add a row of Druid native
 * types ("LONG") and one of SQL types ("BIGINT"); object formats start with
 * one object {"name": null} or {"name": {"type": ..., "sqlType": ...}}.
 * Values: numbers as JSON numbers (NaN and infinities quoted, as Jackson
 * does), TIMESTAMP as ISO-8601 with milliseconds in sqlTimeZone ("Z" in
 * UTC), BOOLEAN as true/false, COMPLEX<json> as the JSON itself, NULL as
 * null (an empty field in csv), a multi-value column (query__result.mv) as
 * Druid shows it: VARCHAR / STRING in the headers, one value as a string,
 * several as a JSON array. Strings are escaped for any UTF-8 input;
 * invalid bytes become U+FFFD. The body grows under the query's memory budget
 * (query_execute attaches it to `out`): a result too big for it is the
 * budget's error, before the memory is taken.
 *
 * Entry points: query__output_content_type(), query__output_write().
 */
#include <math.h>
#include <string.h>

#include "format/json.h"
#include "query/query_int.h"

const char *query__output_content_type(enum query_format f)
{
    switch (f) {
    case QUERY_FORMAT_OBJECT_LINES:
    case QUERY_FORMAT_ARRAY_LINES: return "text/plain";
    case QUERY_FORMAT_CSV: return "text/csv";
    default: return "application/json";
    }
}

/* An ARRAY column's element type, SQL_NULL when not known. */
static int col_elem(const struct query__result *r, size_t col)
{
    return r->elems ? r->elems[col] : SQL_NULL;
}

/* Druid's native type names (typesHeader); an ARRAY's by its element type
 * (ARRAY<STRING> when not known). */
static const char *native_type(int t, int elem)
{
    switch (t) {
    case SQL_STRING: return "STRING";
    case SQL_LONG:
    case SQL_TIMESTAMP:
    case SQL_BOOLEAN: return "LONG";
    case SQL_DOUBLE: return "DOUBLE";
    case SQL_FLOAT: return "FLOAT";
    case SQL_JSON: return "COMPLEX<json>";
    case SQL_ARRAY:
        return elem == SQL_LONG || elem == SQL_TIMESTAMP || elem == SQL_BOOLEAN ? "ARRAY<LONG>"
               : elem == SQL_DOUBLE                                             ? "ARRAY<DOUBLE>"
               : elem == SQL_FLOAT                                              ? "ARRAY<FLOAT>"
                                                                                : "ARRAY<STRING>";
    case SQL_HLL_SKETCH:
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH: return sql_type_sql_name(t); /* COMPLEX<HLLSketch>, ... */
    default: return NULL;
    }
}

/* Calcite's SQL type names (sqlTypesHeader). */
static const char *sql_type(int t)
{
    return t == SQL_JSON || sql_type_is_sketch(t) ? "OTHER" : sql_type_sql_name(t);
}

static void put_long(struct buf *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

static void put_time(struct buf *b, int64_t ms, const struct ls_tz *tz)
{
    char tmp[48];
    size_t n = time_format_iso(ms, tz, tmp, sizeof tmp);
    buf_append(b, tmp, n);
}

/* A multi-value column's value as Druid presents it: no values NULL, one
 * value that string, several the array. */
static const struct sql_value *present(const struct query__result *r, size_t col,
                                       const struct sql_value *v, struct sql_value *tmp)
{
    if (!r->mv || !r->mv[col] || v->is_null || v->type != SQL_ARRAY || v->v.a.n > 1)
        return v;
    *tmp = v->v.a.n ? v->v.a.items[0] : sql_null(SQL_STRING);
    return tmp;
}

/* The column's type for the headers: a multi-value column is VARCHAR. */
static int col_type(const struct query__result *r, size_t col)
{
    return r->mv && r->mv[col] ? SQL_STRING : r->types[col];
}

static void value_json(struct buf *b, const struct sql_value *v, const struct ls_tz *tz)
{
    if (v->is_null) {
        buf_append(b, "null", 4);
        return;
    }
    switch (v->type) {
    case SQL_LONG: put_long(b, v->v.l); return;
    case SQL_BOOLEAN: buf_puts(b, v->v.l ? "true" : "false"); return;
    case SQL_TIMESTAMP:
        buf_putc(b, '"');
        put_time(b, v->v.l, tz);
        buf_putc(b, '"');
        return;
    case SQL_DOUBLE:
    case SQL_FLOAT:
        if (!isfinite(v->v.d)) { /* Jackson quotes non-numeric numbers */
            buf_putc(b, '"');
            sql_value_to_text(v, b, true);
            buf_putc(b, '"');
            return;
        }
        sql_value_to_text(v, b, true);
        return;
    case SQL_STRING: format_json_write_string(b, v->v.s.p, v->v.s.n); return;
    case SQL_JSON:
        /* stored JSON is validated text: inline it as Druid does */
        if (v->v.s.n)
            buf_append(b, v->v.s.p, v->v.s.n);
        else
            buf_append(b, "null", 4);
        return;
    case SQL_HLL_SKETCH:
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH: /* a JSON string of the sketch's base64, as Druid shows it */
        buf_putc(b, '"');
        sql_value_to_text(v, b, true);
        buf_putc(b, '"');
        return;
    default: sql_value_to_text(v, b, true); return;
    }
}

static bool csv_needs_quotes(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '"' || p[i] == ',' || p[i] == '\n' || p[i] == '\r')
            return true;
    return false;
}

static void csv_field(struct buf *b, const char *p, size_t n, bool force)
{
    if (!force && !csv_needs_quotes(p, n)) {
        buf_append(b, p, n);
        return;
    }
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            buf_putc(b, '"');
        buf_putc(b, p[i]);
    }
    buf_putc(b, '"');
}

/* One csv line from n texts. A line of a single empty field is written as
 * "" so that it is not mistaken for the closing blank line (Druid does
 * the same). */
static void csv_line(struct buf *b, const char *const *txt, const size_t *len, size_t n)
{
    bool force = n == 1 && len[0] == 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        csv_field(b, txt[i] ? txt[i] : "", txt[i] ? len[i] : 0, force);
    }
    buf_putc(b, '\n');
}

static void csv_value_text(struct buf *tmp, const struct sql_value *v, const struct ls_tz *tz)
{
    if (v->is_null)
        return;
    if (v->type == SQL_TIMESTAMP)
        put_time(tmp, v->v.l, tz);
    else if (v->type == SQL_LONG)
        put_long(tmp, v->v.l);
    else
        sql_value_to_text(v, tmp, true);
}

static int write_csv(const struct query__result *r, const struct query_request *req,
                     const struct ls_tz *tz, struct buf *out, struct query__ctx *x)
{
    size_t n = r->ncols;
    const char **txt = arena_alloc(&x->scratch, (n ? n : 1) * sizeof *txt);
    size_t *len = arena_alloc(&x->scratch, (n ? n : 1) * sizeof *len);
    size_t *offs = arena_alloc(&x->scratch, (n ? n : 1) * sizeof *offs);
    if (!txt || !len || !offs)
        return query__ctx_nomem(x, "the csv writer");
    if (req->header) {
        for (size_t i = 0; i < n; i++) {
            txt[i] = r->names[i];
            len[i] = strlen(r->names[i]);
        }
        csv_line(out, txt, len, n);
        if (req->types_header) {
            for (size_t i = 0; i < n; i++) {
                txt[i] = native_type(col_type(r, i), col_elem(r, i));
                len[i] = txt[i] ? strlen(txt[i]) : 0;
            }
            csv_line(out, txt, len, n);
        }
        if (req->sql_types_header) {
            for (size_t i = 0; i < n; i++) {
                txt[i] = sql_type(col_type(r, i));
                len[i] = strlen(txt[i]);
            }
            csv_line(out, txt, len, n);
        }
    }
    struct buf tmp;
    buf_init(&tmp, 0);
    buf_set_budget(&tmp, &x->budget); /* empty: cannot be refused */
    for (size_t k = 0; k < r->nrows && !out->failed; k++) {
        buf_reset(&tmp);
        for (size_t i = 0; i < n; i++) {
            offs[i] = tmp.len;
            struct sql_value one;
            csv_value_text(&tmp, present(r, i, &r->rows[k][i], &one), tz);
            len[i] = tmp.len - offs[i];
        }
        if (tmp.failed) {
            buf_free(&tmp);
            return query__ctx_nomem(x, "the csv writer");
        }
        for (size_t i = 0; i < n; i++)
            txt[i] = tmp.data ? tmp.data + offs[i] : "";
        csv_line(out, txt, len, n);
    }
    buf_free(&tmp);
    buf_putc(out, '\n');
    return 0;
}

static void header_object(struct buf *b, const struct query__result *r,
                          const struct query_request *req)
{
    buf_putc(b, '{');
    for (size_t i = 0; i < r->ncols; i++) {
        if (i)
            buf_putc(b, ',');
        format_json_write_string(b, r->names[i], strlen(r->names[i]));
        buf_putc(b, ':');
        if (!req->types_header && !req->sql_types_header) {
            buf_puts(b, "null");
            continue;
        }
        buf_putc(b, '{');
        if (req->types_header) {
            const char *t = native_type(col_type(r, i), col_elem(r, i));
            buf_puts(b, "\"type\":");
            if (t)
                format_json_write_string(b, t, strlen(t));
            else
                buf_puts(b, "null");
        }
        if (req->sql_types_header) {
            const char *t = sql_type(col_type(r, i));
            buf_printf(b, "%s\"sqlType\":", req->types_header ? "," : "");
            format_json_write_string(b, t, strlen(t));
        }
        buf_putc(b, '}');
    }
    buf_putc(b, '}');
}

/* Starts the next element of the response: a separator unless first. */
static void next_elem(struct buf *b, size_t *count, bool lines)
{
    if ((*count)++)
        buf_putc(b, lines ? '\n' : ',');
}

/* The header rows of array formats: names, then the requested type rows. */
static void header_arrays(struct buf *b, const struct query__result *r,
                          const struct query_request *req, size_t *count, bool lines)
{
    for (int row = 0; row < 3; row++) {
        if ((row == 1 && !req->types_header) || (row == 2 && !req->sql_types_header))
            continue;
        next_elem(b, count, lines);
        buf_putc(b, '[');
        for (size_t i = 0; i < r->ncols; i++) {
            if (i)
                buf_putc(b, ',');
            const char *t = row == 0   ? r->names[i]
                            : row == 1 ? native_type(col_type(r, i), col_elem(r, i))
                                       : sql_type(col_type(r, i));
            if (t)
                format_json_write_string(b, t, strlen(t));
            else
                buf_puts(b, "null");
        }
        buf_putc(b, ']');
    }
}

static int write_json(const struct query__result *r, const struct query_request *req,
                      const struct ls_tz *tz, struct buf *out, struct query__ctx *x)
{
    enum query_format f = req->format;
    bool objects = f == QUERY_FORMAT_OBJECT || f == QUERY_FORMAT_OBJECT_LINES;
    bool lines = f == QUERY_FORMAT_OBJECT_LINES || f == QUERY_FORMAT_ARRAY_LINES;
    /* object keys, escaped once */
    struct buf keys;
    buf_init(&keys, 0);
    buf_set_budget(&keys, &x->budget); /* empty: cannot be refused */
    size_t *koff = arena_alloc(&x->scratch, (r->ncols + 1) * sizeof *koff);
    if (!koff)
        return query__ctx_nomem(x, "the JSON writer");
    for (size_t i = 0; i < r->ncols; i++) {
        koff[i] = keys.len;
        format_json_write_string(&keys, r->names[i], strlen(r->names[i]));
        buf_putc(&keys, ':');
    }
    koff[r->ncols] = keys.len;
    if (keys.failed) {
        buf_free(&keys);
        return query__ctx_nomem(x, "the JSON writer");
    }
    size_t count = 0;
    if (!lines)
        buf_putc(out, '[');
    if (req->header) {
        if (objects) {
            next_elem(out, &count, lines);
            header_object(out, r, req);
        } else {
            header_arrays(out, r, req, &count, lines);
        }
    }
    for (size_t k = 0; k < r->nrows && !out->failed; k++) {
        next_elem(out, &count, lines);
        buf_putc(out, objects ? '{' : '[');
        for (size_t i = 0; i < r->ncols; i++) {
            if (i)
                buf_putc(out, ',');
            if (objects)
                buf_append(out, keys.data + koff[i], koff[i + 1] - koff[i]);
            struct sql_value one;
            value_json(out, present(r, i, &r->rows[k][i], &one), tz);
        }
        buf_putc(out, objects ? '}' : ']');
    }
    buf_free(&keys);
    /* lines: end the last line, then the blank line Druid adds */
    buf_puts(out, lines ? "\n\n" : "]\n");
    return 0;
}

int query__output_write(const struct query__result *r, const struct query_request *req,
                        const struct ls_tz *tz, struct buf *out, struct query__ctx *x)
{
    /* context.sqlOuterLimit caps the rows written, as Druid's outer LIMIT */
    struct query__result capped = *r;
    if (req->outer_limit > 0 && (uint64_t)req->outer_limit < (uint64_t)capped.nrows)
        capped.nrows = (size_t)req->outer_limit;
    int rc = req->format == QUERY_FORMAT_CSV ? write_csv(&capped, req, tz, out, x)
                                             : write_json(&capped, req, tz, out, x);
    if (rc)
        return rc;
    if (out->failed)
        return query__ctx_too_big(x, "the response body");
    return 0;
}
