/*
 * test_dml.c — the INSERT / REPLACE parser (src/sql/dml.c): every form of
 * the target, the mode, PARTITIONED BY and CLUSTERED BY, EXTERN (three
 * arguments, named arguments, EXTEND) and a table as the source, and every
 * error with its line, column and hint.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sql/sql.h"

static struct sql_dml *ok(const char *sql)
{
    struct sql_dml *d = NULL;
    struct lerr err;
    lerr_init(&err);
    int rc = sql_dml_parse(sql, strlen(sql), &d, &err);
    CHECK_MSG(rc == 0, "parse failed: %s\n  for: %s", err.msg, sql);
    return d;
}

/* The statement fails with a message that contains every one of the parts. */
static void bad(const char *sql, const char *part1, const char *part2)
{
    struct sql_dml *d = NULL;
    struct lerr err;
    lerr_init(&err);
    int rc = sql_dml_parse(sql, strlen(sql), &d, &err);
    CHECK_MSG(rc == LERR_INVALID && d == NULL, "want LERR_INVALID, got %d for: %s", rc, sql);
    CHECK_MSG(strstr(err.msg, part1) != NULL, "message \"%s\" lacks \"%s\"", err.msg, part1);
    if (part2)
        CHECK_MSG(strstr(err.msg, part2) != NULL, "message \"%s\" lacks \"%s\"", err.msg, part2);
    sql_dml_free(d);
}

#define EXT                                                                                   \
    "FROM TABLE(EXTERN('{\"type\":\"inline\",\"data\":\"{\\\"t\\\":\\\"2024-01-01\\\"}\"}', " \
    "'{\"type\":\"json\"}', '[{\"name\":\"t\",\"type\":\"string\"},{\"name\":\"n\",\"type\":" \
    "\"long\"}]'))"

static void test_insert_extern(void)
{
    struct sql_dml *d = ok("INSERT INTO \"wiki\"\nSELECT TIME_PARSE(\"t\") AS __time, \"n\", "
                           "n * 2 AS doubled, UPPER(t) \"up\"\n" EXT
                           "\nWHERE n > 1\nPARTITIONED BY DAY\nCLUSTERED BY \"n\", up;");
    if (!d)
        return;
    CHECK_EQ_INT(d->mode, SQL_DML_INSERT);
    CHECK_EQ_STR(d->table, "wiki");
    CHECK_EQ_STR(d->partitioned_by, "day");
    CHECK_EQ_INT(d->nclustered, 2);
    CHECK_EQ_STR(d->clustered_by[0], "n");
    CHECK_EQ_STR(d->clustered_by[1], "up");
    CHECK_EQ_INT(d->source, SQL_DML_EXTERN);
    CHECK_EQ_STR(d->input_source_type, "inline");
    CHECK_EQ_STR(d->input_source,
                 "{\"type\":\"inline\",\"data\":\"{\\\"t\\\":\\\"2024-01-01\\\"}\"}");
    CHECK_EQ_STR(d->input_format, "{\"type\":\"json\"}");
    CHECK(strstr(d->signature, "\"long\"") != NULL);
    CHECK_EQ_INT(d->nitems, 4);
    CHECK_EQ_STR(d->items[0].column, "__time");
    CHECK_EQ_STR(d->items[0].expression, "TIME_PARSE(\"t\")");
    CHECK_EQ_STR(d->items[1].column, "n");
    CHECK_EQ_STR(d->items[1].expression, "\"n\"");
    CHECK_EQ_STR(d->items[2].column, "doubled");
    CHECK_EQ_STR(d->items[2].expression, "n * 2");
    CHECK_EQ_STR(d->items[3].column, "up");
    CHECK_EQ_STR(d->items[3].expression, "UPPER(t)");
    CHECK(!d->items[0].aggregation && !d->items[2].aggregation);
    CHECK_EQ_STR(d->where, "n > 1");
    CHECK(strncmp(d->select, "SELECT TIME_PARSE", 17) == 0);
    CHECK(strcmp(d->select + strlen(d->select) - 5, "n > 1") == 0);
    sql_dml_free(d);
}

static void test_rollup_items(void)
{
    struct sql_dml *d = ok("REPLACE INTO t OVERWRITE ALL SELECT FLOOR(TIME_PARSE(t) TO HOUR) AS "
                           "__time, SUM(n) AS total, COUNT(*) AS \"__count\" " EXT
                           " GROUP BY 1 PARTITIONED BY HOUR");
    if (!d)
        return;
    CHECK_EQ_INT(d->mode, SQL_DML_REPLACE_ALL);
    CHECK(!d->items[0].aggregation);
    CHECK(d->items[1].aggregation);
    CHECK(d->items[2].aggregation);
    CHECK(d->grouped);
    CHECK_EQ_STR(d->partitioned_by, "hour");
    sql_dml_free(d);
}

static void test_replace_where(void)
{
    struct sql_dml *d = ok("REPLACE INTO druid.t OVERWRITE WHERE \"__time\" >= TIMESTAMP "
                           "'2024-01-01 00:00:00' AND __time < TIMESTAMP '2024-01-03' "
                           "SELECT * FROM src WHERE x = 1 PARTITIONED BY 'P1D'");
    if (!d)
        return;
    CHECK_EQ_INT(d->mode, SQL_DML_REPLACE_WHERE);
    CHECK_EQ_STR(d->table, "t");
    CHECK_EQ_INT(d->overwrite_start, 1704067200000LL);
    CHECK_EQ_INT(d->overwrite_end, 1704067200000LL + 2 * 86400000LL);
    CHECK_EQ_INT(d->source, SQL_DML_TABLE);
    CHECK_EQ_STR(d->source_table, "src");
    CHECK_EQ_STR(d->select, "SELECT * FROM src WHERE x = 1");
    CHECK_EQ_STR(d->partitioned_by, "day");
    sql_dml_free(d);
    /* bounds in either order */
    d = ok("REPLACE INTO t OVERWRITE WHERE __time < '2024-02-01' AND __time >= '2024-01-01' "
           "SELECT __time, a FROM s PARTITIONED BY MONTH");
    if (d) {
        CHECK_EQ_INT(d->overwrite_start, 1704067200000LL);
        CHECK_EQ_STR(d->partitioned_by, "month");
    }
    sql_dml_free(d);
}

static void test_granularities(void)
{
    static const struct {
        const char *g, *want;
    } cases[] = {
        {"HOUR", "hour"},
        {"day", "day"},
        {"WEEK", "week"},
        {"MONTH", "month"},
        {"YEAR", "year"},
        {"ALL", "all"},
        {"ALL TIME", "all"},
        {"'PT1H'", "hour"},
        {"'P1D'", "day"},
        {"'P1W'", "week"},
        {"'P1M'", "month"},
        {"'P1Y'", "year"},
        {"FLOOR(__time TO DAY)", "day"},
        {"FLOOR(\"__time\" TO HOUR)", "hour"},
        {"TIME_FLOOR(__time, 'P1D')", "day"},
        {"TIME_FLOOR(__time, 'PT1H')", "hour"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sql[300];
        snprintf(sql, sizeof sql, "INSERT INTO t SELECT * FROM s PARTITIONED BY %s", cases[i].g);
        struct sql_dml *d = ok(sql);
        if (d)
            CHECK_EQ_STR(d->partitioned_by, cases[i].want);
        sql_dml_free(d);
    }
}

static void test_extern_forms(void)
{
    /* named arguments and EXTEND */
    struct sql_dml *d =
        ok("INSERT INTO t SELECT TIME_PARSE(ts) AS __time, page FROM TABLE(EXTERN(inputSource => "
           "'{\"type\":\"uploaded\",\"fileNames\":[\"a.json\"]}', inputFormat => "
           "'{\"type\":\"json\"}')) EXTEND (ts VARCHAR, page VARCHAR, n BIGINT, d DOUBLE, j "
           "TYPE('COMPLEX<json>')) PARTITIONED BY DAY");
    if (d) {
        CHECK_EQ_STR(d->input_source_type, "uploaded");
        CHECK_EQ_STR(d->signature, "[{\"name\":\"ts\",\"type\":\"string\"},{\"name\":\"page\","
                                   "\"type\":\"string\"},{\"name\":\"n\",\"type\":\"long\"},"
                                   "{\"name\":\"d\",\"type\":\"double\"},{\"name\":\"j\","
                                   "\"type\":\"json\"}]");
        CHECK_EQ_INT(d->nitems, 2);
        CHECK(d->where == NULL);
    }
    sql_dml_free(d);
    /* EXTERN without TABLE(), quotes doubled inside a SQL string */
    d = ok("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM EXTERN('{\"type\":\"inline\","
           "\"data\":\"it''s\"}', '{\"type\":\"csv\"}') EXTEND (ts VARCHAR) PARTITIONED BY ALL");
    if (d)
        CHECK_EQ_STR(d->input_source, "{\"type\":\"inline\",\"data\":\"it's\"}");
    sql_dml_free(d);
    CHECK(sql_dml_is_dml("  insert into t", 15));
    CHECK(sql_dml_is_dml("-- c\nREPLACE INTO t", 19));
    CHECK(!sql_dml_is_dml("SELECT REPLACE('a','b','c')", 27));
    CHECK(!sql_dml_is_dml("", 0));
}

static void test_errors(void)
{
    /* PARTITIONED BY is required */
    bad("INSERT INTO t SELECT * FROM s", "needs PARTITIONED BY", "line 1, column 30");
    bad("INSERT INTO t\nSELECT * FROM s;", "needs PARTITIONED BY", "line 2, column 16");
    /* granularities */
    bad("INSERT INTO t SELECT * FROM s PARTITIONED BY MINUTE", "'MINUTE' is not a granularity",
        "line 1, column 46");
    bad("INSERT INTO t SELECT * FROM s PARTITIONED BY 'PT15M'", "'PT15M' is not a granularity",
        "use 'PT1H'");
    bad("INSERT INTO t SELECT * FROM s PARTITIONED BY FLOOR(x TO DAY)", "expected __time", NULL);
    bad("INSERT INTO t SELECT * FROM s PARTITIONED BY DAY LIMIT 5", "unexpected 'LIMIT'",
        "only CLUSTERED BY");
    bad("INSERT INTO t SELECT * FROM s PARTITIONED BY DAY CLUSTERED BY 1", "not positions", NULL);
    /* the mode */
    bad("REPLACE INTO t SELECT * FROM s PARTITIONED BY DAY", "expected OVERWRITE", "line 1");
    bad("REPLACE INTO t OVERWRITE SOME SELECT * FROM s PARTITIONED BY DAY",
        "expected ALL or WHERE", "column 26");
    bad("INSERT INTO t OVERWRITE ALL SELECT * FROM s PARTITIONED BY DAY",
        "OVERWRITE belongs to REPLACE", NULL);
    bad("UPDATE t SET a = 1", "expected INSERT or REPLACE", "column 1");
    /* OVERWRITE WHERE on __time only */
    bad("REPLACE INTO t OVERWRITE WHERE country = 'US' SELECT * FROM s PARTITIONED BY DAY",
        "can only filter on __time, not 'country'", "line 1, column 32");
    bad("REPLACE INTO t OVERWRITE WHERE __time >= TIMESTAMP '2024-01-01' SELECT * FROM s "
        "PARTITIONED BY DAY",
        "bound __time on both sides", NULL);
    bad("REPLACE INTO t OVERWRITE WHERE __time = TIMESTAMP '2024-01-01' SELECT * FROM s "
        "PARTITIONED BY DAY",
        "expected >= or <", "column 39");
    bad("REPLACE INTO t OVERWRITE WHERE __time >= TIMESTAMP 'yesterday' AND __time < "
        "TIMESTAMP '2024-01-01' SELECT * FROM s PARTITIONED BY DAY",
        "'yesterday' is not a timestamp", NULL);
    bad("REPLACE INTO t OVERWRITE WHERE __time >= '2024-01-02' AND __time < '2024-01-01' "
        "SELECT * FROM s PARTITIONED BY DAY",
        "range is empty", NULL);
    bad("REPLACE INTO t OVERWRITE WHERE __time >= '2024-01-01' OR __time < '2024-01-02' SELECT "
        "* FROM s PARTITIONED BY DAY",
        "not OR", NULL);
    /* EXTERN */
    bad("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN('{\"type\":\"inline\"',"
        " '{\"type\":\"json\"}', '[]')) PARTITIONED BY DAY",
        "input source is not valid JSON", "line 1, column 65");
    bad("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN('{\"type\":\"inline\"}',"
        " '{\"type\":json}', '[]')) PARTITIONED BY DAY",
        "input format is not valid JSON", NULL);
    bad("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN('{\"type\":\"hdfs\","
        "\"paths\":[\"hdfs://b/k\"]}', '{\"type\":\"json\"}', '[]')) PARTITIONED BY DAY",
        "input source type \"hdfs\" is not supported", "\"s3\" with a \"connectionName\"");
    bad("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN('[1]', "
        "'{\"type\":\"json\"}', '[]')) PARTITIONED BY DAY",
        "must be a JSON object with a \"type\"", NULL);
    bad("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN('{\"type\":\"inline\"}',"
        " '{\"type\":\"json\"}')) PARTITIONED BY DAY",
        "EXTERN needs the input's columns", NULL);
    bad("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN(1, 2, 3)) PARTITIONED "
        "BY DAY",
        "must be a string of JSON", NULL);
    bad("INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN('{\"type\":\"inline\"}',"
        " '{\"type\":\"json\"}')) EXTEND (ts TIMESTAMP) PARTITIONED BY DAY",
        "'TIMESTAMP' is not an input type", NULL);
    bad("INSERT INTO t SELECT * FROM TABLE(HTTP(uris => ARRAY['x'])) PARTITIONED BY DAY",
        "TABLE('HTTP'...) is not a source", NULL);
    /* the SELECT over EXTERN */
    bad("INSERT INTO t SELECT \"n\" " EXT " PARTITIONED BY DAY", "must give __time", "TIME_PARSE");
    bad("INSERT INTO t SELECT * " EXT " PARTITIONED BY DAY", "SELECT * cannot feed", NULL);
    bad("INSERT INTO t SELECT TIME_PARSE(t) AS __time, n + 1 " EXT " PARTITIONED BY DAY",
        "select item 2 needs a column name", "AS \"column\"");
    bad("INSERT INTO t SELECT TIME_PARSE(t) AS __time, n, n " EXT " PARTITIONED BY DAY",
        "column 'n' is selected twice", NULL);
    bad("INSERT INTO t SELECT TIME_PARSE(t) AS __time " EXT " ORDER BY 1 PARTITIONED BY DAY",
        "'ORDER' is not supported", NULL);
    bad("INSERT INTO t SELECT TIME_PARSE(t) AS __time PARTITIONED BY DAY", "has no FROM", NULL);
    bad("INSERT INTO t PARTITIONED BY DAY", "expected SELECT", NULL);
    bad("INSERT INTO t VALUES (1) PARTITIONED BY DAY", "expected SELECT but found 'VALUES'", NULL);
    bad("INSERT INTO other.t SELECT * FROM s PARTITIONED BY DAY", "schema druid", NULL);
    bad("INSERT INTO t SELECT 'abc PARTITIONED BY DAY", "line 1", NULL);
}

int main(void)
{
    test_insert_extern();
    test_rollup_items();
    test_replace_where();
    test_granularities();
    test_extern_forms();
    test_errors();
    return check_summary();
}
