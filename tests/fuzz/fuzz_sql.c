// SOURCES: src/sql/*.c src/util/util.c src/util/civil.c src/util/tz.c src/util/time.c src/util/period.c src/util/joda.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_sql.c — libFuzzer target for the SQL front end: lexer, parser,
 * binder and evaluator. The first byte picks what the rest is: an
 * expression compiled as a filter, as a rollup mapping, or a SELECT parsed
 * and bound against a small table. Compiled expressions are also explained
 * and evaluated over a fixed row, so folding and the function library run
 * on whatever the parser accepts. A SELECT with window calls is planned
 * (sql_stmt_plan_windows) and its inner and outer blocks bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql/sql.h"

static const struct sql_field fields[] = {
    {"__time", 6, SQL_TIMESTAMP, NULL, 0}, {"s", 1, SQL_STRING, NULL, 0},
    {"n", 1, SQL_LONG, NULL, 0},           {"d", 1, SQL_DOUBLE, NULL, 0},
    {"j", 1, SQL_JSON, NULL, 0},           {"z", 1, SQL_STRING, NULL, 0},
};
static const struct sql_schema schema = {fields, sizeof fields / sizeof fields[0]};

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
    struct sql_value row[6] = {sql_timestamp(946782245000LL),
                               sql_string("abc", 3),
                               sql_long(5),
                               sql_double(2.5),
                               sql_string("{\"a\":[1,{\"b\":\"x\"}]}", 19),
                               sql_null(SQL_STRING)};
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
            struct sql_select *q = NULL;
            lerr_init(&err);
            const struct sql_from *f = NULL;
            if (sql_stmt_plan_windows(s, &err) == 0 && (f = sql_stmt_from(s)) &&
                f->kind == SQL_FROM_WINDOW)
                fuzz_windows(s, f, &opt);
            else if (!err.code && sql_bind_select(s, &schema, &opt, &q, &err) == 0)
                sql_select_free(q);
            sql_stmt_free(s);
        }
    }
    arena_destroy(&mem);
    return 0;
}
