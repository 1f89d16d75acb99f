// SOURCES: src/sql/*.c src/sketch/*.c src/util/util.c src/util/civil.c src/util/tz.c src/util/time.c src/util/period.c src/util/joda.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_sql.c — libFuzzer target for the SQL front end: lexer, parser,
 * binder and evaluator. The first byte picks what the rest is: an
 * expression compiled as a filter, as a rollup mapping, or a statement
 * parsed and every block of it bound against a small table (grouping sets
 * expanded, subqueries resolved with a made-up row, join conditions and
 * UNNEST bound over the table twice, as the engine does; window calls
 * planned, the outer block bound over the inner block's columns and the
 * window columns). Compiled expressions are also explained
 * and evaluated over a fixed row, so folding and the function library run
 * on whatever the parser accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql/sql.h"

static const struct sql_field fields[] = {
    {"__time", 6, SQL_TIMESTAMP, NULL, 0},
    {"s", 1, SQL_STRING, NULL, 0},
    {"n", 1, SQL_LONG, NULL, 0},
    {"d", 1, SQL_DOUBLE, NULL, 0},
    {"j", 1, SQL_JSON, NULL, 0},
    {"z", 1, SQL_STRING, NULL, 0},
    /* a multi-value string column: predicates over it try each value */
    {"tags", 4, SQL_ARRAY, NULL, SQL_FIELD_MULTI_VALUE},
};
static const struct sql_schema schema = {fields, sizeof fields / sizeof fields[0]};

/* The qualified table, twice, for join conditions. */
static const struct sql_field qfields[] = {
    {"s", 1, SQL_STRING, "a", 0},
    {"n", 1, SQL_LONG, "a", 0},
    {"s", 1, SQL_STRING, "b", 0},
    {"n", 1, SQL_LONG, "b", 0},
};
static const struct sql_schema qleft = {qfields, 2}, qright = {qfields + 2, 2};

static void fuzz_block(struct sql_stmt *s, const struct sql_options *opt, int depth);

struct sqctx {
    struct sql_stmt *s;
    const struct sql_options *opt;
    int depth;
};

static int on_subquery(void *arg, struct sql_subquery *sq)
{
    struct sqctx *c = arg;
    fuzz_block(sq->q, c->opt, c->depth + 1);
    struct sql_value v = sql_long(1);
    const struct sql_value *rows[1] = {&v};
    struct lerr err;
    lerr_init(&err);
    sql_subquery_resolve(c->s, sq, 1, SQL_LONG, rows, (size_t)(c->depth & 1), &err);
    return 0;
}

static void fuzz_from(struct sql_stmt *s, const struct sql_from *f, const struct sql_options *opt,
                      int depth)
{
    if (!f)
        return;
    struct lerr err;
    lerr_init(&err);
    switch (f->kind) {
    case SQL_FROM_SUBQUERY:
    case SQL_FROM_WINDOW: fuzz_block(f->sub, opt, depth + 1); break;
    case SQL_FROM_UNION:
        for (size_t i = 0; i < f->nparts; i++)
            fuzz_block(f->parts[i], opt, depth + 1);
        break;
    case SQL_FROM_JOIN: {
        fuzz_from(s, f->left, opt, depth);
        fuzz_from(s, f->right, opt, depth);
        if (f->right->kind == SQL_FROM_UNNEST) {
            struct sql_expr *e = NULL;
            if (sql_bind_unnest(s, f->right, &qleft, opt, &e, &err) == 0)
                sql_expr_free(e);
            break;
        }
        struct sql_join_cond *c = NULL;
        if (sql_bind_join(s, f, &qleft, &qright, opt, &c, &err) == 0)
            sql_join_cond_free(c);
        size_t col;
        (void)sql_join_on_column(f, "a", true, qright.fields, qright.n, &col);
        break;
    }
    default: break;
    }
}

/* A block with window calls: the inner block bound against the table,
 * each window aggregate compiled over its result, the outer block bound
 * against the inner columns and the window columns (as BIGINT here). */
static void fuzz_windows(const struct sql_stmt *s, const struct sql_from *from,
                         const struct sql_options *opt)
{
    struct lerr err;
    lerr_init(&err);
    const struct sql_windows *w = from->windows;
    struct buf b;
    buf_init(&b, 1 << 16);
    sql_windows_explain(w, &b);
    buf_free(&b);
    struct sql_select *qi = NULL;
    if (sql_bind_select(from->sub, &schema, opt, &qi, &err))
        return;
    size_t n = qi->nitems + w->ncalls;
    struct sql_field *f = calloc(n, sizeof *f);
    if (f) {
        for (size_t i = 0; i < qi->nitems; i++)
            f[i] = (struct sql_field){.name = qi->items[i].name,
                                      .name_len = strlen(qi->items[i].name),
                                      .type = qi->items[i].type};
        struct sql_schema in = {f, qi->nitems};
        for (size_t i = 0; i < w->ncalls; i++) {
            f[qi->nitems + i] = (struct sql_field){.name = "w", .name_len = 1, .type = SQL_LONG};
            struct sql_expr *e = NULL;
            lerr_init(&err);
            if (w->calls[i].func == SQL_WIN_AGG &&
                sql_window_compile_agg(w, i, &in, opt, &e, &err) == 0)
                sql_expr_free(e);
        }
        struct sql_schema out = {f, n};
        struct sql_select *q = NULL;
        lerr_init(&err);
        if (sql_bind_select(s, &out, opt, &q, &err) == 0)
            sql_select_free(q);
        free(f);
    }
    sql_select_free(qi);
}

static void fuzz_block(struct sql_stmt *s, const struct sql_options *opt, int depth)
{
    if (depth > 64)
        return;
    struct lerr err;
    lerr_init(&err);
    if (sql_stmt_plan_windows(s, &err) || sql_stmt_expand_grouping(s, &err))
        return;
    struct sqctx c = {s, opt, depth};
    sql_stmt_subqueries(s, on_subquery, &c);
    fuzz_from(s, sql_stmt_from(s), opt, depth);
    const struct sql_from *f = sql_stmt_from(s);
    if (f && f->kind == SQL_FROM_WINDOW) {
        fuzz_windows(s, f, opt);
        return;
    }
    struct sql_select *q = NULL;
    lerr_init(&err);
    if (sql_bind_select(s, &schema, opt, &q, &err) == 0)
        sql_select_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    int mode = data[0] % 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct lerr err;
    lerr_init(&err);
    struct sql_value params[2] = {sql_long(7), sql_string("p", 1)};
    struct sql_options opt = {.now_ms = 1700000000000LL, .params = params, .nparams = 2};
    struct sql_value tags[3] = {sql_string("a", 1), sql_null(SQL_STRING), sql_string("c", 1)};
    struct sql_value row[7] = {sql_timestamp(946782245000LL),
                               sql_string("abc", 3),
                               sql_long(5),
                               sql_double(2.5),
                               sql_string("{\"a\":[1,{\"b\":\"x\"}]}", 19),
                               sql_null(SQL_STRING),
                               {.type = SQL_ARRAY, .v.a = {tags, 3}}};
    row[4].type = SQL_JSON;
    struct arena mem;
    arena_init(&mem, 4096, 64u << 20);
    if (mode < 3) {
        opt.mode = mode == 0 ? SQL_MODE_SCALAR : mode == 1 ? SQL_MODE_ROLLUP : SQL_MODE_ANY;
        struct sql_expr *e = NULL;
        if (sql_compile_expr(text, len, &schema, &opt, &e, &err) == 0) {
            struct buf b;
            buf_init(&b, 1 << 16);
            sql_expr_explain(e, &b);
            buf_free(&b);
            const struct sql_agg_call *a = sql_expr_agg(e);
            if (!a) {
                struct sql_value v;
                if (sql_eval_row(e, row, &mem, &v, NULL) == 0 && !v.is_null) {
                    struct buf t;
                    buf_init(&t, 1 << 20);
                    sql_value_to_text(&v, &t, true);
                    buf_free(&t);
                }
            } else {
                unsigned char st[256];
                if (sql_agg_state_size(a) <= sizeof st) {
                    sql_agg_init(a, st);
                    sql_agg_add_row(a, st, row, 0, &mem, NULL);
                    struct sql_value v;
                    sql_agg_finalize(a, st, &v);
                }
            }
            sql_expr_free(e);
        }
    } else {
        struct sql_stmt *s = NULL;
        if (sql_parse_select(text, len, &s, &err) == 0) {
            fuzz_block(s, &opt, 0);
            sql_stmt_free(s);
        }
    }
    arena_destroy(&mem);
    return 0;
}
