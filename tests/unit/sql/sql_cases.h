/*
 * sql_cases.h — the harness shared by the table-driven SQL tests
 * (test_sql.c, test_sql_time.c): a fixed input schema, a few named rows,
 * and run_cases(), which compiles each expression against the schema,
 * evaluates it over its row and compares the value's text (or NULL, or an
 * error message) with the expectation.
 *
 * Expectation strings: NULL (the C pointer) = SQL NULL; "!text" = the
 * compile fails with a message containing text; "~text" = evaluation fails
 * with a message containing text; anything else = the value printed as
 * Druid prints it in results (numbers as Java does, TIMESTAMP as ISO-8601,
 * BOOLEAN as true/false).
 */
#ifndef LODESTAR_TESTS_SQL_SQL_CASES_H
#define LODESTAR_TESTS_SQL_SQL_CASES_H

#include "check.h"
#include "sql/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// clang-format off
enum { F_S, F_N, F_D, F_F, F_Z, F_NL, F_E, F_TS, F_J, F_NEG, F_DATE, F_TIME, F_NUM, F_B, F_CITY,
       F_PAGE, F_TSS, F_ARR, F__N };
// clang-format on

static const struct sql_field test_fields[F__N] = {
    {"s", 1, SQL_STRING, NULL, 0},    {"n", 1, SQL_LONG, NULL, 0},
    {"d", 1, SQL_DOUBLE, NULL, 0},    {"f", 1, SQL_FLOAT, NULL, 0},
    {"z", 1, SQL_STRING, NULL, 0},    {"nl", 2, SQL_LONG, NULL, 0},
    {"e", 1, SQL_STRING, NULL, 0},    {"ts", 2, SQL_TIMESTAMP, NULL, 0},
    {"j", 1, SQL_JSON, NULL, 0},      {"neg", 3, SQL_LONG, NULL, 0},
    {"date", 4, SQL_STRING, NULL, 0}, {"time", 4, SQL_STRING, NULL, 0},
    {"num", 3, SQL_STRING, NULL, 0},  {"b", 1, SQL_BOOLEAN, NULL, 0},
    {"city", 4, SQL_STRING, NULL, 0}, {"Page", 4, SQL_STRING, NULL, 0},
    {"tss", 3, SQL_STRING, NULL, 0},  {"arr", 3, SQL_ARRAY, NULL, 0},
};

static const struct sql_schema test_schema = {test_fields, F__N};

#define TJSON \
    "{\"a\": {\"b\": [1, 2, {\"c\": \"x\"}]}, \"p\": 955.00, \"q\": \"str\", \"t\": true, \"n\": null, \"k\": 12, \"e\\u0041\": \"esc\\n\"}"

static struct sql_value test_arr_items[3];

/* row 0: values; row 1: every field NULL; row 2: other values */
static void test_rows(struct sql_value rows[3][F__N])
{
    test_arr_items[0] = sql_long(1);
    test_arr_items[1] = sql_long(2);
    test_arr_items[2] = sql_long(3);
    struct sql_value *r = rows[0];
    r[F_S] = sql_string("abc", 3);
    r[F_N] = sql_long(5);
    r[F_D] = sql_double(2.5);
    r[F_F] = sql_double(1.5);
    r[F_F].type = SQL_FLOAT;
    r[F_Z] = sql_null(SQL_STRING);
    r[F_NL] = sql_null(SQL_LONG);
    r[F_E] = sql_string("", 0);
    r[F_TS] = sql_timestamp(946782245000LL); /* 2000-01-02T03:04:05Z */
    r[F_J] = sql_string(TJSON, strlen(TJSON));
    r[F_J].type = SQL_JSON;
    r[F_NEG] = sql_long(-7);
    r[F_DATE] = sql_string("2000-01-02", 10);
    r[F_TIME] = sql_string("03:04:05", 8);
    r[F_NUM] = sql_string("42", 2);
    r[F_B] = sql_long(1);
    r[F_B].type = SQL_BOOLEAN;
    r[F_CITY] = sql_string("São Paulo", strlen("São Paulo"));
    r[F_PAGE] = sql_string("Main Page", 9);
    r[F_TSS] = sql_string("2015-09-12T00:46:58.771Z", 24);
    r[F_ARR].type = SQL_ARRAY;
    r[F_ARR].is_null = false;
    r[F_ARR].v.a.items = test_arr_items;
    r[F_ARR].v.a.n = 3;
    for (int i = 0; i < F__N; i++)
        rows[1][i] = sql_null(test_fields[i].type);
    for (int i = 0; i < F__N; i++)
        rows[2][i] = rows[0][i];
    rows[2][F_S] = sql_string("XyZ", 3);
    rows[2][F_N] = sql_long(0);
    rows[2][F_D] = sql_double(-0.5);
    rows[2][F_Z] = sql_string("zz", 2);
    rows[2][F_NUM] = sql_string("4x", 2);
    rows[2][F_B] = sql_long(0);
    rows[2][F_B].type = SQL_BOOLEAN;
    rows[2][F_TSS] = sql_string("not a time", 10);
}

struct sql_case {
    const char *expr;
    int row;
    const char *want;
};

#define TEST_NOW_MS 1700000000000LL /* 2023-11-14T22:13:20Z */

/* Runs one case; returns true when it passed. */
static bool run_case(const struct sql_case *tc, struct sql_value rows[3][F__N], struct arena *mem,
                     const char *tz)
{
    struct sql_options opt = {.now_ms = TEST_NOW_MS, .time_zone = tz, .mode = SQL_MODE_SCALAR};
    struct sql_expr *e = NULL;
    struct lerr err;
    lerr_init(&err);
    int rc = sql_compile_expr(tc->expr, strlen(tc->expr), &test_schema, &opt, &e, &err);
    char got[600];
    bool ok;
    if (rc) {
        snprintf(got, sizeof got, "!%s", err.msg);
        ok = tc->want && tc->want[0] == '!' && strstr(err.msg, tc->want + 1) != NULL &&
             strstr(err.msg, "at line ") != NULL;
    } else {
        struct sql_value v;
        lerr_init(&err);
        rc = sql_eval_row(e, rows[tc->row], mem, &v, &err);
        if (rc) {
            snprintf(got, sizeof got, "~%s", err.msg);
            ok = tc->want && tc->want[0] == '~' && strstr(err.msg, tc->want + 1) != NULL;
        } else if (v.is_null) {
            snprintf(got, sizeof got, "NULL");
            ok = tc->want == NULL;
        } else {
            struct buf b;
            buf_init(&b, 0);
            sql_value_to_text(&v, &b, true);
            snprintf(got, sizeof got, "%s", buf_cstr(&b));
            buf_free(&b);
            ok = tc->want && strcmp(got, tc->want) == 0;
        }
        sql_expr_free(e);
    }
    CHECK_MSG(ok, "%s [row %d%s%s]: got %s, want %s", tc->expr, tc->row, tz ? ", tz " : "",
              tz ? tz : "", got, tc->want ? tc->want : "NULL");
    arena_reset(mem);
    return ok;
}

static int run_cases(const struct sql_case *cases, size_t n, const char *tz)
{
    static struct sql_value rows[3][F__N];
    test_rows(rows);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    int passed = 0;
    for (size_t i = 0; i < n; i++)
        passed += run_case(&cases[i], rows, &mem, tz);
    arena_destroy(&mem);
    return passed;
}

#endif
