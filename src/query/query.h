/*
 * query.h — SQL execution over a table's segments and realtime buffers
 * (DESIGN.md §5, API.md "SQL query"): one call takes a Druid SQL request
 * and writes the HTTP response body exactly as Druid's SQL API returns it.
 *
 * Entry points:
 *   query_limits_from_env() the server-wide memory limits (at start)
 *   query_request_init()    defaults (object format, 60 s timeout, 512 MB cap);
 *                           the API fills the rest from the JSON body
 *                           (api/query_request.h)
 *   query_execute()         run it: parse, bind, plan against one snapshot per
 *                           table, scan, aggregate, sort, format
 *   query_rows()            the same, rows to a callback instead of a body
 *
 * What runs: `SELECT ... FROM "t" | druid."t" | INFORMATION_SCHEMA.TABLES |
 * INFORMATION_SCHEMA.COLUMNS | INFORMATION_SCHEMA.SCHEMATA | sys.segments |
 * sys.tasks` (or no FROM) with WHERE, GROUP BY (GROUPING SETS, ROLLUP,
 * CUBE), HAVING, DISTINCT, ORDER BY, LIMIT, OFFSET, and `EXPLAIN PLAN FOR`;
 * and statements of many such blocks: WITH, subqueries (in FROM, as values,
 * IN, EXISTS), joins, UNION [ALL], UNNEST (rel.c runs them bottom up, each
 * block on the same executor). Views outside the query's __time interval are pruned;
 * conditions on STRING columns (=, <>, IN, IS NULL, LIKE, BETWEEN, ...)
 * combined with AND/OR/NOT become bitmap operations (dictionary-id scans on
 * realtime buffers) and the rest of the WHERE runs vectorized over blocks of
 * STORAGE_BLOCK_ROWS rows; GROUP BY one STRING column groups by dictionary
 * ids, TIME_FLOOR(__time, period) from the raw time vector; ORDER BY with
 * LIMIT keeps a bounded top-N. EXPLAIN PLAN FOR shows each of these choices.
 *
 * Measures of aggregate tables are re-aggregated from their stored states
 * when the query applies the measure's own function to the bare column:
 * SUM over longSum/doubleSum, MIN over longMin/doubleMin, MAX over
 * longMax/doubleMax, EARLIEST(_BY) over *Earliest, LATEST(_BY) over *Latest
 * (so LATEST keeps the true event time, not the rolled-up row time). Any
 * other use reads the finalized value (SUM over a `count` measure sums the
 * counts). COUNT(*) counts stored rows, as in Druid.
 *
 * Thread-safety: query_execute may run on any number of threads at once;
 * it only reads snapshots, so it never blocks ingestion.
 */
#ifndef LODESTAR_QUERY_H
#define LODESTAR_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sql/sql.h"
#include "storage/storage.h"
#include "util/util.h"

enum query_format {
    QUERY_FORMAT_OBJECT,       /* [{"a":1},...]\n                 application/json */
    QUERY_FORMAT_ARRAY,        /* [[1],...]\n                     application/json */
    QUERY_FORMAT_OBJECT_LINES, /* {"a":1}\n...\n\n                 text/plain */
    QUERY_FORMAT_ARRAY_LINES,  /* [1]\n...\n\n                     text/plain */
    QUERY_FORMAT_CSV           /* RFC 4180 rows, then a blank line  text/csv */
};

/* "object", "array", "objectLines", "arrayLines", "csv"; -1 when unknown. */
int query_format_parse(const char *s, size_t n);

#define QUERY_DEFAULT_TIMEOUT_MS 60000
#define QUERY_DEFAULT_MAX_BYTES (512ull << 20)

/*
 * Memory. Every query runs under a budget charged before anything is
 * allocated (parse and bound trees, expression results, group tables, sort
 * arrays, result rows, the response body): context.maxQueryBytes, by
 * default QUERY_DEFAULT_MAX_BYTES or max_query_bytes if lower. All running
 * queries together draw from one pool of total_bytes. Past its own budget a
 * query fails with LERR_INVALID (400) naming context.maxQueryBytes; when the
 * pool is spent by others, with LERR_UNAVAILABLE (503: retry).
 *
 *   total_bytes      LODESTAR_QUERY_TOTAL_BYTES; default 2 GiB, or half the
 *                    physical memory or half the process's RLIMIT_AS if lower
 *   max_query_bytes  LODESTAR_QUERY_MAX_BYTES: the most context.maxQueryBytes
 *                    may ask for; default total_bytes
 */
struct query_limits {
    uint64_t total_bytes;
    uint64_t max_query_bytes;
};

/* The limits in force (the defaults until query_limits_set). Thread-safe. */
void query_limits_get(struct query_limits *out);
/* Sets them; a 0 field takes its default. Call before queries run. */
void query_limits_set(const struct query_limits *l);
/* Reads LODESTAR_QUERY_TOTAL_BYTES and LODESTAR_QUERY_MAX_BYTES (bytes, or
 * a number with a K, M or G suffix: powers of 1024) and sets the limits.
 * LERR_INVALID naming the variable when one is not such a size. */
int query_limits_from_env(struct lerr *err);
/* Bytes the running queries hold from the pool now (for tests, metrics). */
uint64_t query_memory_in_use(void);

struct query_request {
    const char *sql; /* the statement (need not be NUL-terminated) */
    size_t sql_len;
    enum query_format format;
    /* Druid's header options: `header` adds the column names (the first row
     * of array formats and csv; an object {"name": null, ...} for object
     * formats); typesHeader / sqlTypesHeader add Druid's native type
     * ("LONG") and SQL type ("BIGINT") of each column to it. */
    bool header, types_header, sql_types_header;
    const struct sql_value *params; /* values for `?`, in order */
    size_t nparams;
    int64_t timeout_ms;    /* context.timeout: 0 = none (Druid) */
    const char *time_zone; /* context.sqlTimeZone (IANA), NULL = UTC */
    uint64_t max_bytes;    /* context.maxQueryBytes (ours): memory budget; 0 =
                                 * the default (see "Memory" above) */
    int64_t now_ms;        /* CURRENT_TIMESTAMP; 0 = the clock at start */
    const char *query_id;  /* context.sqlQueryId, or NULL */
    /* context.allowPartialResults: answer without the segments that cannot be
     * read (saying so in query_result_meta.partial) instead of failing. */
    bool allow_partial;
    /* context.useApproximateCountDistinct / useApproximateTopN (Druid's
     * planner switches, true by default): COUNT(DISTINCT x) is an HLL
     * sketch's estimate (lgK 12) unless the first is false; ORDER BY ...
     * LIMIT is exact either way (the second is read and kept so that Druid
     * clients may send it). */
    bool approx_count_distinct, approx_top_n;
    /* context.sqlOuterLimit (read on POST /druid/v2/sql only): at most this
     * many result rows are written; 0 = no cap. */
    int64_t outer_limit;
    /* A node's part of a query over the nodes (partial plans, below): when
     * set, the statement's top block must aggregate straight over a table;
     * its groups, before any HAVING, ORDER BY or LIMIT, are written here in
     * the parts' format and the query returns no rows. partial_fp, when
     * set, is the plan the asking node made (query_env.partials): another
     * plan here fails with LERR_CONFLICT. */
    struct buf *partial_out;
    const char *partial_fp;
};

/* Defaults: object format, no headers, no parameters, 60 s timeout, the
 * default memory budget, UTC, now = the clock when the query starts, the
 * approximation switches on (as Druid's). */
void query_request_init(struct query_request *req);

/* The JSON body of POST /v1/query/sql is read into a query_request by the
 * API (api/query_request.h, api_query_request_parse): query/ takes the
 * typed request, never the API's document. */

/* A table visible to queries, as query_env.list_tables reports it. cols[0]
 * is __time, as in a storage snapshot. */
typedef int (*query_table_fn)(void *arg, const char *name, const struct storage_column *cols,
                              size_t ncols);

/*
 * A segment as sys.segments shows it: a published segment file (from the
 * catalog; available when the table's snapshot reads it) or a realtime
 * buffer (not yet published). Strings are borrowed for the call.
 */
struct query_segment {
    const char *table;
    const char *file;         /* the segment file; NULL for a realtime buffer */
    int64_t start_ms, end_ms; /* its time chunk [start, end) */
    int64_t version_ms;       /* the chunk's version: when its oldest segment was
                               * written (published segments only) */
    int64_t partition;        /* its number among the chunk's segments, from 0 */
    int64_t bytes;            /* the file's size; 0 for a realtime buffer */
    int64_t rows;
    bool published, available, realtime;
    const char *dimensions, *metrics; /* JSON arrays of column names, or NULL */
};
typedef int (*query_segment_fn)(void *arg, const struct query_segment *s);

/* An ingestion job as sys.tasks shows it (strings borrowed for the call). */
struct query_task {
    const char *id;
    const char *type; /* "streaming", "batch" */
    const char *table;
    const char *status; /* the job's own: pending, running, ..., succeeded */
    const char *error;  /* why it failed, or NULL */
    int64_t created_ms, started_ms, completed_ms; /* 0 = not yet */
};
typedef int (*query_task_fn)(void *arg, const struct query_task *t);

/*
 * The rows a block over a table needs (query_env.open_scan): a superset of
 * them. where: SQL over the table's columns (NULL: every row); a row for
 * which it is not TRUE is not needed. cols: the columns the block reads
 * (others may read NULL). limit: when >= 0, that many rows for which where
 * is TRUE are enough from each node (a block with a LIMIT and no ORDER BY,
 * aggregate or DISTINCT, whose WHERE is all in `where`); with order_time
 * (+1: ORDER BY __time first, -1: __time DESC first), the first `limit` of
 * them in that order, with every row tied with the last one.
 */
struct query_scan {
    const char *where;
    const char *const *cols;
    size_t ncols;
    int64_t limit;
    int order_time;
};

/*
 * A node's share of a scan pushed down to it: the rows of snap that
 * scan->where may select (decided on the snapshot's indexes, so a superset:
 * the asking node runs the whole WHERE again), at most scan->limit of them
 * when the filter is exact, with scan->cols only, as segment images handed
 * to fn (storage_snapshot_images; written in tmp_dir). Errors: LERR_INVALID
 * (where does not compile here), LERR_NOMEM, the storage's.
 */
int query_scan_images(const struct storage_snapshot *snap, const struct query_scan *scan,
                      const char *tmp_dir, storage_image_fn fn, void *ctx, struct lerr *err);

/*
 * What the server provides. open_table: a snapshot of table `name` (the
 * engine releases it with close_table, or storage_snapshot_free when
 * close_table is NULL), or LERR_NOT_FOUND. list_tables: calls fn once per
 * table, in any order, stopping early when fn returns non-zero (and
 * returning that value); used for INFORMATION_SCHEMA and for "did you mean"
 * hints. Both may be called from any query thread.
 */
struct query_env {
    void *ctx;
    int (*open_table)(void *ctx, const char *name, struct storage_snapshot **snap,
                      struct lerr *err);
    void (*close_table)(void *ctx, struct storage_snapshot *snap);
    int (*list_tables)(void *ctx, query_table_fn fn, void *arg, struct lerr *err);
    /* The lookups LOOKUP(expr, 'name') reads (sql.h), or NULL: none. */
    const struct sql_lookups *lookups;
    /* sys.segments and sys.tasks (Druid's system tables): each calls fn once
     * per segment or job, in any order, and stops as list_tables does. NULL:
     * the table is empty. */
    int (*list_segments)(void *ctx, query_segment_fn fn, void *arg, struct lerr *err);
    int (*list_tasks)(void *ctx, query_task_fn fn, void *arg, struct lerr *err);
    /*
     * Partial plans (partial.c), or NULL: when both are set and the top
     * block of a statement aggregates straight over a table (no subquery,
     * join or window in it; not EXPLAIN), the block is planned here over
     * open_schema's snapshot (read for its columns only) and its groups are
     * the merge of the parts partials hands to fn: each node's part over its
     * share of the table (query_request.partial_out), one plan whose
     * fingerprint (QUERY_PART_FP_LEN hex digits) every part must carry.
     * HAVING, ORDER BY, LIMIT and the items then run here on the merged
     * groups. A block that cannot be split is read through open_table.
     */
    int (*open_schema)(void *ctx, const char *name, struct storage_snapshot **snap,
                       struct lerr *err);
    int (*partials)(void *ctx, const char *table, const char *fingerprint,
                    int (*fn)(void *arg, const void *part, size_t n, struct lerr *err), void *arg,
                    struct lerr *err);
    /*
     * Scans pushed down, or NULL: a block over a table that is not split
     * (a plain scan, a subquery's, a join side's, a window's or a WITH
     * query's block) is planned over open_schema's snapshot, and then reads
     * the snapshot open_scan gives for the rows the block may need
     * (struct query_scan: the block's columns, its WHERE as far as it can
     * be written again, and with a LIMIT a cap): each node's share of them,
     * sent as segment images (query_scan_images). Not for EXPLAIN or
     * allowPartialResults.
     */
    int (*open_scan)(void *ctx, const char *name, const struct query_scan *scan,
                     struct storage_snapshot **snap, struct lerr *err);
};

#define QUERY_PART_FP_LEN 16

struct query_result_meta {
    const char *content_type; /* static: application/json, text/plain, text/csv */
    uint64_t rows;            /* result rows written (headers not counted) */
    size_t ncols;
    int64_t elapsed_us;
    /* With allowPartialResults: what the answer leaves out ("" = nothing). */
    char partial[512];
};

/*
 * Runs one request and appends the response body to `out` (whose own cap,
 * if any, also bounds the result size). On error nothing is appended and the
 * code is returned with err set (err->target names the request field when
 * one is at fault, e.g. "context.sqlTimeZone"):
 *   LERR_INVALID   syntax errors, unknown columns/functions (with line,
 *                  column and a "did you mean" hint), unknown tables
 *                  ("table 'x' not found (did you mean 'y'?)": Druid
 *                  answers 400 for those too), run-time errors (integer
 *                  division by zero), a bad sqlTimeZone, a statement past
 *                  the SQL limits (SQL_MAX_NESTING, SQL_MAX_ARGS, ...), a
 *                  context.maxQueryBytes above max_query_bytes, and the
 *                  query's memory budget: "query memory limit exceeded: the
 *                  query needs more than context.maxQueryBytes = N bytes
 *                  ..." (like Druid's ResourceLimitExceeded, a 400)
 *   LERR_UNAVAILABLE  the pool of all queries is spent by the others
 *                  ("server query memory is in use by other queries ...;
 *                  retry"), a 503
 *   LERR_TIMEOUT   the query ran past req->timeout_ms ("query exceeded its
 *                  timeout of N ms; ..."); the clock is read every block
 *   LERR_CORRUPT  a segment in the query's time range cannot be read
 *                  (corrupt or missing: named with its time chunk), unless
 *                  req->allow_partial; then meta->partial says what is left out
 *   LERR_IO, LERR_NOMEM from storage or allocation
 * meta (may be NULL) is filled on success. Thread-safe.
 */
int query_execute(const struct query_request *req, const struct query_env *env, struct buf *out,
                  struct query_result_meta *meta, struct lerr *err);

/* The result's columns, as query_rows hands them over. */
struct query_columns {
    size_t n;
    const char *const *names;
    const uint8_t *types; /* enum sql_type */
    /* per column, or NULL for none: an ARRAY column's element type (SQL_NULL
     * when not typed), and whether it is a multi-value string */
    const uint8_t *elems;
    const bool *mv;
};
typedef int (*query_row_fn)(void *arg, const struct query_columns *cols,
                            const struct sql_value *row);
/*
 * Runs req's statement as query_execute does, but calls fn once per result
 * row, in order, instead of writing a body (req->format and the headers
 * are ignored). The values are valid during the call only. fn returning
 * non-zero stops the query, and query_rows returns that value.
 */
int query_rows(const struct query_request *req, const struct query_env *env, query_row_fn fn,
               void *arg, struct lerr *err);

#endif
