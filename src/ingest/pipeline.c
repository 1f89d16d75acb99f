/*
 * pipeline.c — the row pipeline (DESIGN §1): record → parse (format/) →
 * filter → mappings (sql/) → late/early rejection → coercion into the
 * table's column types → a columnar batch for storage, with an outcome and a
 * reason for every record.
 *
 * A job's spec is compiled once (pipeline_new): the format parser, the
 * filter, every mapping against the parser's input schema. Output columns
 * are the mappings other than __time, then, with schema discovery, one
 * identity column per discovered field (not excluded, not already a column,
 * not an input of __time or of an aggregation — Druid's rule for schemaless
 * dimensions); when a discovered field outgrows its column's type, a column
 * discovery made widens (widen_column: LONG → DOUBLE → STRING, Druid's auto
 * typing) and the runner changes the table; declared and strict columns
 * keep their type and cast. Measures of aggregate tables are built as one state per row
 * of the column's own measure type (the table's, or the one a new column
 * gets from its aggregation), fed by the mapping's aggregation
 * (sql_agg_add_row_as): storage, compaction, queries and the preview merge
 * and finalize those states with that same aggregator. Which aggregation may
 * feed which measure type is sql.h's SQL_MEASURE_MAP; other pairs are
 * refused at compile time. A multi-value string column of the table (type
 * ARRAY) gets lists: to_list() makes one of an array, of JSON text holding
 * an array, or of a scalar, and orders it by the column's multiValueHandling
 * (a nested value or a list past storage's limits: no values, a warning).
 *
 * One record never fails a batch. Each row (parse, filter, mappings, its
 * values) may take a share of the batch arena (row_cap: PIPE_ROW_MEM_MAX or
 * an eighth of the arena's cap); a row that needs more is skippedByError and
 * its memory given back (arena_release), so only rows that together outgrow
 * the arena end a batch with LERR_NOMEM. Discovered fields become columns
 * only while the table stays within MAX_TABLE_COLUMNS: the record that would
 * pass it is skipped (reason schema) and its fields are held back until a
 * record brings few enough; fields storage would refuse as column names, or
 * that name a measure of the table, never become columns (a warning).
 *
 * The per-row path is the ingest hot path (bench/bench_pipeline.c measures
 * it in rows/s per core), so what can be decided once is decided at compile
 * time: each column's target type, which columns are discovered ones and
 * the field each reads, which mappings are plain field references (their
 * values are handed through), and whether a record can go straight to the parser
 * without the splitter (see whole_record()). Nothing is allocated per row
 * except from the batch arena; messages are only formatted for rows that
 * have something to say.
 *
 * Why one file of ~1,350 lines: it is one row path (parse, filter, mappings,
 * late/early, coercion, discovery) whose steps share the per-row memory budget and the
 * output batch.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "ingest/ingest.h"
#include "storage/storage.h"
#include "util/time.h"

#define MAX_MAPPINGS 4096
/* Columns a table may have besides __time (storage's limit). */
#define MAX_TABLE_COLUMNS (STORAGE_MAX_COLUMNS - 1)

static const char *const reason_names[] = {
#define PIPE_REASON_NAME(e, name) name,
    PIPE_REASON_MAP(PIPE_REASON_NAME)
#undef PIPE_REASON_NAME
};

const char *pipeline_reason_name(int reason)
{
    return reason >= 0 && reason < PIPE_R__COUNT ? reason_names[reason] : "unknown";
}

const char *pipeline_outcome_name(int outcome)
{
    static const char *const names[] = {"processed", "processedWithWarnings", "skippedByFilter",
                                        "skippedByError"};
    return outcome >= 0 && outcome < 4 ? names[outcome] : "unknown";
}

struct mapping {
    char *column;
    char *text;
    struct sql_expr *expr;
    bool aggregation;
    const struct sql_agg_call *agg; /* aggregations: the mapping's own call */
    int out_col;                    /* output column, -1 for __time */
    /* A plain input-field reference (sql_expr_is_ref): its value is handed through
     * when it already has the mapping's type or is NULL, without evaluating. */
    bool is_ref;
    uint32_t ref_field;
    uint8_t ref_type;
};

/* What a row was doing when it ran out of its memory (row_phase; >= 0: mapping i). */
enum { ROW_PARSE = -1, ROW_FILTER = -2, ROW_VALUES = -3 };

/* Records the parser can take whole, skipping the splitter when the record
 * holds one row (whole_record()). */
enum whole_kind {
    WHOLE_NEVER,  /* CSV family: always split (headers, quoted line breaks) */
    WHOLE_LINE,   /* nd-json: a record without an inner line break is one line */
    WHOLE_VALUE,  /* kafka over nd-json: a message that parses as one object */
    WHOLE_BINARY, /* avro_stream (alone or in kafka): a record is one datum */
};

struct pipeline {
    struct arena mem; /* compile-time memory: lives with the pipeline */
    struct format_parser *parser;
    enum whole_kind whole;
    const struct sql_field *in_fields; /* the input schema the expressions were bound to */
    size_t nin_fields;
    struct sql_expr *filter;
    struct mapping *maps;
    size_t nmaps;
    int time_map; /* index of the __time mapping */
    bool discovery;
    bool array_mvd; /* arrayIngestMode "mvd": string arrays as multi-value strings */
    const struct pipeline_table *table;
    bool has_table;
    bool aggregate, strict;
    int64_t late_bound, early_bound; /* INT64_MIN / INT64_MAX when off */
    /* a replace job's target.intervals, [start, end) pairs (none: every time) */
    int64_t *ivals;
    size_t nivals;
    /* output columns: the mappings' (0..first_discovered), then discovered ones. A
     * column's type is what its values are coerced to: the table's type for a column
     * the table has, else the mapping's result type or the field's discovered type. */
    struct pipeline_column *cols;
    int32_t *col_field; /* discovered identity columns: input field; else -1 */
    size_t ncols, cols_cap;
    size_t first_discovered;
    int32_t *field_col; /* input field -> its discovered column, or -1 */
    size_t nfield_col;
    /* input fields that never become identity columns */
    bool *field_blocked;
    size_t nfield_blocked;
    uint64_t seen_generation;
    /* the column limit: the table's columns, plus those this pipeline adds */
    const char *table_name;
    size_t ntable_cols, nnew_cols;
    /* discovered fields held back because their record would have passed the
     * limit: they become columns with the first row that fits (held[f]) */
    uint8_t *held;
    char unavailable[512]; /* why the last batch stopped with LERR_UNAVAILABLE */
    size_t nheld, held_cap;
    uint32_t *scratch; /* field indexes, absorb_schema_changes() */
    size_t scratch_cap;
    /* the current row's share of the batch arena (process_text()) */
    size_t batch_cap, row_cap; /* the arena's own cap (0 = none); a row's */
    size_t row_base;           /* arena total where the row's budget starts */
    bool in_row, row_reserved, batch_full;
    int row_phase;
    /* the batch being processed: its counts and rejections (pipeline_process) */
    struct pipeline_tally *batch;
};

/* ---- the target table ------------------------------------------------------------ */

int pipeline_table_from_spec(const struct table_spec *t, struct arena *mem,
                             struct pipeline_table *out, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    if (!t)
        return 0;
    struct pipeline_table_col *cols = arena_zalloc(mem, (t->ncols + 1) * sizeof *cols);
    uint8_t *mvh = arena_zalloc(mem, t->ncols + 1), *elem = arena_zalloc(mem, t->ncols + 1);
    bool *disc = arena_zalloc(mem, (t->ncols + 1) * sizeof *disc);
    const struct sql_agg_call **aggs = arena_zalloc(mem, (t->ncols + 1) * sizeof *aggs);
    if (!cols || !mvh || !elem || !disc || !aggs)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t k = 0; k < t->ncols; k++) {
        cols[k].name = t->cols[k].name;
        cols[k].measure = t->cols[k].column_type == CATALOG_COLUMN_MEASURE;
        cols[k].measure_type = t->cols[k].data_type;
        aggs[k] = cols[k].measure ? &t->cols[k].agg : NULL;
        cols[k].type = t->cols[k].type;
        disc[k] = t->cols[k].discovered;
        mvh[k] = t->cols[k].mv_handling;
        elem[k] = t->cols[k].elem;
    }
    out->elem = elem;
    out->aggs = aggs;
    out->discovered = disc;
    out->mv_handling = mvh;
    out->aggregate = t->type == CATALOG_TABLE_AGGREGATE;
    out->strict = t->mode == CATALOG_SCHEMA_STRICT;
    out->cols = cols;
    out->ncols = t->ncols;
    return 0;
}

/* ---- compile ------------------------------------------------------------------ */

static int set_target(struct lerr *err, const char *target)
{
    if (err && err->code && !err->target[0])
        snprintf(err->target, sizeof err->target, "%s", target);
    return err ? err->code : LERR_INVALID;
}

static int64_t period_bound(const char *v, const char *key, int64_t now, int sign, int64_t none,
                            struct lerr *err)
{
    if (!v)
        return none;
    struct period per;
    if (period_parse(v, strlen(v), &per, err)) {
        set_target(err, key);
        return none;
    }
    return time_shift(now, &per, sign, tz_utc());
}

/* target.intervals of a batch replace job: rows outside them are dropped. */
static int parse_intervals(struct pipeline *p, const struct job_spec *js, struct lerr *err)
{
    struct json_t *iv = js->intervals;
    size_t n = js->nintervals;
    if (!n)
        return 0;
    p->ivals = arena_alloc(&p->mem, 2 * n * sizeof *p->ivals);
    if (!p->ivals)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    int rc = ingest_check_intervals(iv, -1, p->ivals, err);
    p->nivals = rc ? 0 : n;
    return rc;
}

static bool in_intervals(const struct pipeline *p, int64_t t)
{
    for (size_t i = 0; i < p->nivals; i++)
        if (t >= p->ivals[2 * i] && t < p->ivals[2 * i + 1])
            return true;
    return p->nivals == 0;
}

static const struct pipeline_table_col *table_col(const struct pipeline *p, const char *name)
{
    for (size_t k = 0; p->has_table && k < p->table->ncols; k++)
        if (strcmp(p->table->cols[k].name, name) == 0)
            return &p->table->cols[k];
    return NULL;
}

/* Adds an output column; returns its index or -1 (out of memory). */
static int add_column(struct pipeline *p, const char *name, uint8_t type, bool measure,
                      const struct sql_agg_call *agg, int32_t field)
{
    /* Everything that can fail comes before the column exists. */
    if (p->ncols == p->cols_cap) {
        size_t cap = p->cols_cap ? p->cols_cap * 2 : 16;
        struct pipeline_column *c = realloc(p->cols, cap * sizeof *c);
        if (!c)
            return -1;
        p->cols = c;
        int32_t *cf = realloc(p->col_field, cap * sizeof *cf);
        if (!cf)
            return -1;
        p->col_field = cf;
        p->cols_cap = cap;
    }
    if (field >= 0 && (size_t)field >= p->nfield_col) {
        size_t n = (size_t)field + 64;
        int32_t *fc = realloc(p->field_col, n * sizeof *fc);
        if (!fc)
            return -1;
        for (size_t k = p->nfield_col; k < n; k++)
            fc[k] = -1;
        p->field_col = fc;
        p->nfield_col = n;
    }
    const char *copy = arena_strdup(&p->mem, name);
    if (!copy)
        return -1;
    size_t i = p->ncols++;
    p->cols[i] = (struct pipeline_column){
        .name = copy,
        .type = type,
        .measure = measure,
        .agg = agg,
        .state_size = agg ? sql_agg_state_size(agg) : 0,
        .storage_col = -1,
    };
    p->col_field[i] = field;
    if (field >= 0)
        p->field_col[field] = (int32_t)i;
    /* Existing table columns decide the stored type: values are cast to it. */
    const struct pipeline_table_col *tc = table_col(p, name);
    if (tc && !tc->measure) {
        p->cols[i].type = tc->type;
        uint8_t el = p->table->elem ? p->table->elem[tc - p->table->cols] : SQL_NULL;
        p->cols[i].elem = tc->type == SQL_ARRAY ? el : SQL_NULL;
        p->cols[i].multi_value = tc->type == SQL_ARRAY && !el;
        if (p->table->mv_handling)
            p->cols[i].mv_handling = p->table->mv_handling[tc - p->table->cols];
    }
    if (!tc)
        p->nnew_cols++;
    return (int)i;
}

/*
 * A sketch column's parameters (lgK and tgtHllType, size, k): an existing
 * column keeps its own, which a mapping that names other ones contradicts
 * (its sketches would be built at one precision and stored as another); a
 * new column takes the mapping's, so DS_HLL(x, 14, 'HLL_8') makes an lgK 14
 * HLL_8 column.
 */
static int sketch_params(const struct pipeline *p, struct sql_agg_call *cc,
                         const struct sql_agg_call *agg, const struct pipeline_table_col *tc,
                         const char *col, const char *target, struct lerr *err)
{
    struct sql_sketch_param params[2];
    if (!sql_agg_sketch_params(cc, params))
        return 0;
    const struct sql_agg_call *own = tc && p->table->aggs ? p->table->aggs[tc - p->table->cols]
                                                          : NULL;
    const struct sql_agg_call *want = own ? own : agg;
    if (own && agg->sketch_given &&
        (agg->sketch_size != want->sketch_size ||
         (agg->kind == SQL_AGG_HLL && agg->sketch_type != want->sketch_type))) {
        char has[80], asks[80];
        sql_agg_sketch_params_text(want, has, sizeof has);
        sql_agg_sketch_params_text(agg, asks, sizeof asks);
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: column '%s' keeps sketches of %s, and the mapping builds them "
                           "with %s; drop the mapping's parameters to use the column's, or give "
                           "the same ones",
                           target, col, has, asks);
    }
    cc->sketch_size = want->sketch_size;
    cc->sketch_type = want->sketch_type;
    return 0;
}

/* Makes a new column a multi-value string (type ARRAY without an element
 * type), its values sorted as Druid's default multiValueHandling does. */
static void as_multi_value(struct pipeline_column *c)
{
    c->type = SQL_ARRAY;
    c->elem = SQL_NULL;
    c->multi_value = true;
    c->mv_handling = STORAGE_MV_SORTED_ARRAY;
}

static int compile_mapping(struct pipeline *p, size_t i, const struct job_spec_mapping *m,
                           const struct sql_schema *sch, const struct sql_options *so,
                           struct lerr *err)
{
    struct mapping *mp = &p->maps[i];
    char target[64];
    snprintf(target, sizeof target, "mappings[%zu].expression", i);
    const char *col = m->column;
    const char *text = m->expression;
    if (!col || !text)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: a mapping needs columnName and "
                           "expression",
                           target);
    mp->column = arena_strdup(&p->mem, col);
    mp->text = arena_strdup(&p->mem, text);
    mp->aggregation = m->aggregation;
    mp->out_col = -1;
    struct sql_options o = *so;
    o.mode = mp->aggregation ? SQL_MODE_ROLLUP : SQL_MODE_SCALAR;
    struct lerr e;
    lerr_init(&e);
    if (sql_compile_expr(text, strlen(text), sch, &o, &mp->expr, &e))
        return lerr_set_at(err, e.code, target, "%s: %s", target, e.msg);
    bool is_time = strcmp(col, "__time") == 0;
    int type = sql_expr_type(mp->expr);
    mp->is_ref = !mp->aggregation && sql_expr_is_ref(mp->expr, &mp->ref_field);
    mp->ref_type = (uint8_t)type;
    if (is_time) {
        p->time_map = (int)i;
        if (type != SQL_TIMESTAMP && type != SQL_LONG && type != SQL_NULL)
            return lerr_set_at(err, LERR_INVALID, target,
                               "%s: __time must be a TIMESTAMP, and '%s' is %s; parse text "
                               "with TIME_PARSE(...) or convert epoch milliseconds with "
                               "MILLIS_TO_TIMESTAMP(...)",
                               target, text, sql_type_sql_name(type));
        return 0;
    }
    const struct sql_agg_call *agg = mp->aggregation ? sql_expr_agg(mp->expr) : NULL;
    if (mp->aggregation && p->has_table && !p->aggregate) {
        snprintf(target, sizeof target, "mappings[%zu].isAggregation", i);
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: the target is a detail table, which stores rows as they come; "
                           "aggregations need an aggregate table",
                           target);
    }
    const struct pipeline_table_col *tc = table_col(p, col);
    if (tc && tc->measure != mp->aggregation) {
        snprintf(target, sizeof target, "mappings[%zu].isAggregation", i);
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: column '%s' is a %s of the table, so its mapping must %sbe an "
                           "aggregation",
                           target, col, tc->measure ? "measure" : "dimension",
                           tc->measure ? "" : "not ");
    }
    if (!agg) {
        mp->out_col = add_column(p, col, (uint8_t)type, false, NULL, -1);
        if (mp->out_col < 0)
            return lerr_set(err, LERR_NOMEM, "out of memory compiling mappings");
        /* A new column keeps a reingested typed array's type or a multi-value
         * string's (the mapping's hints); with arrayIngestMode "mvd" one fed
         * by a string (or array) field as it is, or by an array of strings,
         * holds a multi-value string, as Druid's string dimensions do */
        struct pipeline_column *c = &p->cols[mp->out_col];
        bool textual = type == SQL_STRING || type == SQL_ARRAY;
        if (!tc && m->array_elem && textual) {
            c->type = SQL_ARRAY; /* a reingested typed array stays one */
            c->elem = m->array_elem;
        } else if (!tc && type == SQL_ARRAY && !c->elem && !m->multi_value) {
            /* an ARRAY expression (a declared ARRAY<LONG> field, ARRAY[...],
             * JSON_QUERY_ARRAY(...)) makes a typed ARRAY column when its
             * element type is known, rather than JSON text */
            int el = mp->is_ref && mp->ref_field < p->nin_fields
                         ? sql_field_elem(&p->in_fields[mp->ref_field])
                         : sql_expr_elem_type(mp->expr);
            if (el == SQL_STRING || el == SQL_LONG || el == SQL_DOUBLE)
                c->elem = (uint8_t)el;
        }
        bool mvd_strings = p->array_mvd &&
                           (c->elem == SQL_STRING || (mp->is_ref && !c->elem && textual));
        if (!tc && (m->multi_value || mvd_strings))
            as_multi_value(c);
        return 0;
    }
    /* A measure: rows carry states of the column's own aggregator, which the
     * mapping's aggregation must mean the same as (sql_agg_measure_fit). */
    mp->agg = agg;
    const char *mtype = tc ? tc->measure_type : sql_agg_measure_default(agg, &e);
    struct sql_agg_call *cc = arena_alloc(&p->mem, sizeof *cc);
    if (!cc)
        return lerr_set(err, LERR_NOMEM, "out of memory compiling mappings");
    if (!mtype || sql_agg_measure_fit(mtype, agg, cc, &e))
        return lerr_set_at(err, LERR_INVALID, target, "%s: column '%s': %s", target, col, e.msg);
    if (sketch_params(p, cc, agg, tc, col, target, err))
        return err->code;
    mp->out_col = add_column(p, col, cc->result_type, true, cc, -1);
    if (mp->out_col < 0 || !(p->cols[mp->out_col].measure_type = arena_strdup(&p->mem, mtype)))
        return lerr_set(err, LERR_NOMEM, "out of memory compiling mappings");
    return 0;
}

/* Marks the input fields an expression reads (they are not discovered as columns). */
static void block_refs(struct pipeline *p, const struct sql_expr *e)
{
    if (!e)
        return;
    const uint32_t *refs;
    size_t n = sql_expr_refs(e, &refs);
    for (size_t k = 0; k < n; k++)
        if (refs[k] < p->nfield_blocked)
            p->field_blocked[refs[k]] = true;
}

static int compile(struct pipeline *p, const struct pipeline_opts *o, struct lerr *err)
{
    const struct job_spec *js = o->spec;
    struct format_settings settings = js->format;
    struct sql_schema input = js->input;
    int rc = 0;
    if (!js->has_format) {
        rc = lerr_set_at(err, LERR_INVALID, "source",
                         "the job spec has no source.formatSettings "
                         "or source.inputSchema");
        goto out;
    }
    p->discovery = js->use_schema_discovery;
    p->array_mvd = js->array_mvd;
    p->table_name = arena_strdup(&p->mem, js->table_name);
    p->ntable_cols = p->has_table ? p->table->ncols : 0;
    p->parser =
        format_parser_new(&settings, &input, p->discovery, js->exclusions, js->nexclusions, err);
    if (!p->parser) {
        rc = set_target(err, "source.formatSettings");
        goto out;
    }
    size_t nf = format_parser_schema(p->parser, NULL, 0);
    struct sql_field *fields = arena_alloc(&p->mem, (nf + 1) * sizeof *fields);
    if (!fields) {
        rc = lerr_set(err, LERR_NOMEM, "out of memory");
        goto out;
    }
    format_parser_schema(p->parser, fields, nf);
    format_parser_set_registry(p->parser, o->registry);
    p->in_fields = fields;
    p->nin_fields = nf;
    if (settings.kind == FORMAT_NDJSON)
        p->whole = WHOLE_LINE;
    else if (settings.kind == FORMAT_KAFKA && settings.value_format &&
             settings.value_format->kind == FORMAT_NDJSON)
        p->whole = WHOLE_VALUE;
    else if (settings.kind == FORMAT_AVRO_STREAM ||
             (settings.kind == FORMAT_KAFKA && settings.value_format &&
              settings.value_format->kind == FORMAT_AVRO_STREAM))
        p->whole = WHOLE_BINARY;
    struct sql_schema sch = {fields, nf};
    struct sql_options so = {.now_ms = o->now_ms, .mode = SQL_MODE_SCALAR};

    if (js->filter) {
        struct lerr e;
        lerr_init(&e);
        const char *ft = js->filter;
        if (sql_compile_expr(ft, strlen(ft), &sch, &so, &p->filter, &e)) {
            rc = lerr_set_at(err, e.code, "filterExpression", "filterExpression: %s", e.msg);
            goto out;
        }
    }
    p->nmaps = js->nmappings;
    if (p->nmaps > MAX_MAPPINGS) {
        rc = lerr_set_at(err, LERR_INVALID, "mappings", "at most %d mappings", MAX_MAPPINGS);
        goto out;
    }
    p->maps = arena_zalloc(&p->mem, (p->nmaps + 1) * sizeof *p->maps);
    p->time_map = -1;
    for (size_t i = 0; i < p->nmaps; i++)
        if ((rc = compile_mapping(p, i, &js->mappings[i], &sch, &so, err)))
            goto out;
    p->first_discovered = p->ncols;
    if (p->ntable_cols + p->nnew_cols > MAX_TABLE_COLUMNS) {
        rc = lerr_set_at(err, LERR_INVALID, "mappings",
                         "mappings: the job maps %zu columns that table '%s' does not have, and "
                         "it has %zu; a table has at most %d columns besides __time",
                         p->nnew_cols, p->table_name, p->ntable_cols, MAX_TABLE_COLUMNS);
        goto out;
    }
    if (p->time_map < 0) {
        rc = lerr_set_at(err, LERR_INVALID, "mappings",
                         "mappings must include a __time mapping, e.g. {\"columnName\": "
                         "\"__time\", \"expression\": \"TIME_PARSE(\\\"timestamp\\\")\"}");
        goto out;
    }
    /* Discovery skips the inputs of __time and of aggregations, as Druid does. */
    p->nfield_blocked = nf;
    p->field_blocked = arena_zalloc(&p->mem, nf + 1);
    block_refs(p, p->maps[p->time_map].expr);
    for (size_t i = 0; i < p->nmaps; i++) {
        const struct sql_agg_call *agg = p->maps[i].aggregation ? sql_expr_agg(p->maps[i].expr)
                                                                : NULL;
        for (int k = 0; agg && k < agg->nargs; k++)
            block_refs(p, agg->args[k]);
    }
    p->late_bound =
        period_bound(js->late_period, "lateMessageRejectionPeriod", o->now_ms, -1, INT64_MIN, err);
    p->early_bound = period_bound(js->early_period, "earlyMessageRejectionPeriod", o->now_ms, 1,
                                  INT64_MAX, err);
    rc = err->code ? err->code : parse_intervals(p, js, err);
out:
    return rc;
}

int pipeline_new(const struct pipeline_opts *o, struct pipeline **out, struct lerr *err)
{
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    arena_init(&p->mem, 16 * 1024, 0);
    p->table = o->table;
    p->has_table = o->table && o->table->cols;
    p->aggregate = o->table && o->table->aggregate;
    p->strict = o->table && o->table->strict;
    int rc = compile(p, o, err);
    if (rc) {
        pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nmaps && p->maps; i++)
        sql_expr_free(p->maps[i].expr);
    sql_expr_free(p->filter);
    format_parser_free(p->parser);
    free(p->cols);
    free(p->col_field);
    free(p->field_col);
    free(p->held);
    free(p->scratch);
    arena_destroy(&p->mem);
    free(p);
}

int pipeline_validate(const struct pipeline_opts *o, struct lerr *err)
{
    struct pipeline *p = NULL;
    int rc = pipeline_new(o, &p, err);
    pipeline_free(p);
    return rc;
}

size_t pipeline_ncolumns(const struct pipeline *p) { return p->ncols; }

bool pipeline_reads_headers(const struct pipeline *p)
{
    return format_parser_reads_headers(p->parser);
}
struct pipeline_column *pipeline_column(struct pipeline *p, size_t i) { return &p->cols[i]; }

size_t pipeline_input_schema(const struct pipeline *p, struct sql_field *out, size_t cap)
{
    return format_parser_schema(p->parser, out, cap);
}

/* ---- tallies: counts and the rejection ring ------------------------------------------ */

void pipeline_tally_init(struct pipeline_tally *t)
{
    memset(&t->c, 0, sizeof t->c);
    t->c.newest_event_ms = INT64_MIN;
    t->ring_next = t->ring_count = 0;
}

void pipeline_tally_add_counts(struct pipeline_tally *to, const struct pipeline_counters *c)
{
    to->c.processed += c->processed;
    to->c.processed_with_warnings += c->processed_with_warnings;
    to->c.skipped_by_filter += c->skipped_by_filter;
    to->c.skipped_by_error += c->skipped_by_error;
    for (int i = 0; i < PIPE_R__COUNT; i++)
        to->c.by_reason[i] += c->by_reason[i];
    if (c->newest_event_ms > to->c.newest_event_ms)
        to->c.newest_event_ms = c->newest_event_ms;
}

size_t pipeline_tally_rejections(const struct pipeline_tally *t, struct pipeline_rejection *out,
                                 size_t cap)
{
    size_t n = t->ring_count < cap ? t->ring_count : cap;
    size_t start = (t->ring_next + PIPE_RING - t->ring_count) % PIPE_RING;
    for (size_t i = 0; i < n; i++)
        out[i] = t->ring[(start + (t->ring_count - n) + i) % PIPE_RING];
    return n;
}

/* The next slot of the ring (the oldest entry when it is full), cleared and dated. */
static struct pipeline_rejection *ring_slot(struct pipeline_tally *t)
{
    struct pipeline_rejection *r = &t->ring[t->ring_next];
    t->ring_next = (t->ring_next + 1) % PIPE_RING;
    if (t->ring_count < PIPE_RING)
        t->ring_count++;
    memset(r, 0, sizeof *r);
    r->at_ms = util_now_ms();
    return r;
}

void pipeline_tally_restore(struct pipeline_tally *t, const struct pipeline_rejection *rej,
                            size_t n)
{
    for (size_t i = n > PIPE_RING ? n - PIPE_RING : 0; i < n; i++)
        *ring_slot(t) = rej[i];
}

void pipeline_tally_add(struct pipeline_tally *to, const struct pipeline_tally *from)
{
    pipeline_tally_add_counts(to, &from->c);
    size_t start = (from->ring_next + PIPE_RING - from->ring_count) % PIPE_RING;
    for (size_t i = 0; i < from->ring_count; i++)
        *ring_slot(to) = from->ring[(start + i) % PIPE_RING];
}

void pipeline_tally_note(struct pipeline_tally *t, enum pipeline_reason reason, int32_t partition,
                         int64_t offset, const char *fmt, ...)
{
    struct pipeline_rejection *r = ring_slot(t);
    r->partition = partition;
    r->offset = offset;
    r->outcome = PIPE_PROCESSED_WITH_WARNINGS;
    r->reason = (uint8_t)reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

void pipeline_tally_widening(struct pipeline_tally *t, int32_t partition, int64_t offset,
                             const char *column, int from, int to)
{
    struct pipeline_rejection *r = ring_slot(t);
    r->partition = partition;
    r->offset = offset;
    r->outcome = PIPE_PROCESSED_WITH_WARNINGS;
    r->reason = PIPE_R_SCHEMA;
    snprintf(r->column, sizeof r->column, "%s", column);
    r->from_type = (uint8_t)from;
    r->to_type = (uint8_t)to;
    snprintf(r->message, sizeof r->message,
             "column '%.200s' widened from %s to %s: schema discovery found a value that %s "
             "does not hold; earlier rows read as %s",
             column, sql_type_name(from), sql_type_name(to), sql_type_name(from),
             sql_type_name(to));
}

/* Counts one row's outcome in the batch's tally; samples it into the batch's
 * ring unless processed cleanly. */
static void count(struct pipeline *p, const struct record *rec, const char *text, size_t len,
                  enum pipeline_outcome oc, enum pipeline_reason why, const char *msg)
{
    struct pipeline_counters *c = &p->batch->c;
    switch (oc) {
    case PIPE_PROCESSED: c->processed++; break;
    case PIPE_PROCESSED_WITH_WARNINGS: c->processed_with_warnings++; break;
    case PIPE_SKIPPED_BY_FILTER: c->skipped_by_filter++; break;
    case PIPE_SKIPPED_BY_ERROR: c->skipped_by_error++; break;
    }
    c->by_reason[why]++;
    if (oc == PIPE_PROCESSED)
        return;
    struct pipeline_rejection *r = ring_slot(p->batch);
    r->partition = rec->partition;
    r->offset = rec->offset;
    r->outcome = (uint8_t)oc;
    r->reason = (uint8_t)why;
    snprintf(r->message, sizeof r->message, "%s", msg ? msg : "");
    size_t n = len > PIPE_RAW_MAX ? PIPE_RAW_MAX : len;
    while (n < len && n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
        n--; /* cut on a UTF-8 character boundary */
    memcpy(r->raw, text, n);
    r->raw[n] = '\0';
    r->raw_cut = n < len;
}

/* The first warning about a row (later ones are not reported). */
struct row_warning {
    enum pipeline_reason reason;
    char msg[512]; /* "" = none yet; only msg[0] is cleared per row */
};

static void warn(struct row_warning *w, enum pipeline_reason why, const char *fmt, ...)
    LS_PRINTF(3, 4);
static void warn(struct row_warning *w, enum pipeline_reason why, const char *fmt, ...)
{
    if (w->msg[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    w->reason = why;
}

/* ---- discovery ------------------------------------------------------------------------ */

/* A mapping's column of that name (discovered fields never share names). */
static bool has_mapping_column(const struct pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->first_discovered; i++)
        if (strcmp(p->cols[i].name, name) == 0)
            return true;
    return false;
}

/* Why storage would refuse `name` as a column name (st_column_check), or NULL. */
static const char *bad_column_name(const char *name)
{
    if (name[0] == '_' && name[1] == '_')
        return "names starting with '__' are reserved";
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '/' || *c == 0x7f)
            return "column names cannot hold '/' or control characters";
    return NULL;
}

static bool grow_held(struct pipeline *p, size_t nfields)
{
    if (nfields <= p->held_cap)
        return true;
    size_t cap = nfields + 256;
    uint8_t *np = realloc(p->held, cap);
    if (!np)
        return false;
    memset(np + p->held_cap, 0, cap - p->held_cap);
    p->held = np;
    p->held_cap = cap;
    return true;
}

/*
 * Type widening under schema discovery (Druid's auto typing: LONG + DOUBLE →
 * DOUBLE; a number + a string, object or array → STRING): when discovered
 * field type `ftype` needs more than column c holds, the column takes the
 * wider type and the batch records a warning naming the column, both types
 * and the record (partition, offset; rec NULL: none). Only an identity
 * column of a discovered field widens, and only in a flexible table when the
 * table has no such column or has it as discovered: a column the user
 * declared, a strict table's, or a mapping's keeps its type (its values are
 * cast, with a warning per row that loses anything: coerce()). The runner
 * applies the change to the table (pipeline_column.widened). Whether c widened.
 */
static bool widen_column(struct pipeline *p, size_t c, uint8_t ftype, const struct record *rec)
{
    struct pipeline_column *pc = &p->cols[c];
    if (!p->discovery || p->strict || !pc->discovered || pc->measure || pc->multi_value ||
        pc->elem)
        return false;
    uint8_t from = pc->type, to;
    if (from == SQL_LONG && ftype == SQL_DOUBLE)
        to = SQL_DOUBLE;
    else if ((from == SQL_LONG || from == SQL_DOUBLE) &&
             (ftype == SQL_STRING || ftype == SQL_JSON || ftype == SQL_ARRAY))
        to = SQL_STRING;
    else
        return false;
    pc->type = to;
    if (!pc->widened)
        pc->widened_from = from;
    pc->widened = true;
    pc->widen_partition = rec ? rec->partition : -1;
    pc->widen_offset = rec ? rec->offset : -1;
    if (p->batch)
        pipeline_tally_widening(p->batch, rec ? rec->partition : -1, rec ? rec->offset : -1,
                                pc->name, from, to);
    return true;
}

/* Whether column type `have` already holds every value of discovered type
 * `ftype` without loss (a widened column reading a narrower field). */
static bool holds(uint8_t have, uint8_t ftype)
{
    return (have == SQL_DOUBLE && ftype == SQL_LONG) ||
           (have == SQL_STRING && (ftype == SQL_LONG || ftype == SQL_DOUBLE));
}

/*
 * Makes columns of discovered fields f[0..k) (indexes into the parser's
 * fields), all or none: 0, LERR_NOMEM, or 1 when they would take the table
 * past MAX_TABLE_COLUMNS: then they are held back (held[]) and *why says so
 * for the record.
 */
static int add_discovered(struct pipeline *p, const uint32_t *idx, size_t k,
                          const struct format_field *f, const struct record *rec, char *why,
                          size_t why_cap)
{
    if (k == 0)
        return 0;
    size_t have = p->ntable_cols + p->nnew_cols;
    if (have + k > MAX_TABLE_COLUMNS) {
        uint32_t top = 0;
        for (size_t j = 0; j < k; j++)
            top = idx[j] > top ? idx[j] : top;
        if (!grow_held(p, (size_t)top + 1))
            return LERR_NOMEM;
        for (size_t j = 0; j < k; j++)
            if (!p->held[idx[j]]) {
                p->held[idx[j]] = 1;
                p->nheld++;
            }
        snprintf(why, why_cap,
                 "the record would add %zu columns (such as '%.60s') to table '%.100s', which "
                 "would then have %zu; a table has at most %d columns besides __time, so the "
                 "record is skipped (list unneeded fields in dimensionExclusions)",
                 k, f[idx[0]].name, p->table_name, have + k, MAX_TABLE_COLUMNS);
        return 1;
    }
    for (size_t j = 0; j < k; j++) {
        const struct format_field *fi = &f[idx[j]];
        /* an array of primitives becomes an ARRAY column of its element type
         * (Druid's arrayIngestMode "array"; elements never seen: STRING) */
        int ci = add_column(p, fi->name, fi->type, false, NULL, (int32_t)idx[j]);
        if (ci < 0)
            return LERR_NOMEM;
        if (fi->type == SQL_ARRAY && p->cols[ci].type == SQL_ARRAY && !p->cols[ci].multi_value &&
            !p->cols[ci].elem) {
            p->cols[ci].elem = fi->elem_type == SQL_NULL ? SQL_STRING : fi->elem_type;
            /* arrayIngestMode "mvd": strings (or strings with numbers) as a
             * multi-value string; arrays of numbers stay typed arrays */
            if (p->array_mvd && p->cols[ci].elem == SQL_STRING)
                as_multi_value(&p->cols[ci]);
        }
        /* a discovered column of the table that the field already outgrew */
        const struct pipeline_table_col *tc = table_col(p, fi->name);
        p->cols[ci].discovered =
            !tc || (p->table->discovered && p->table->discovered[tc - p->table->cols]);
        if (tc && p->cols[ci].type != fi->type)
            widen_column(p, (size_t)ci, fi->type, rec);
        if (idx[j] < p->held_cap && p->held[idx[j]]) {
            p->held[idx[j]] = 0;
            p->nheld--;
        }
    }
    return 0;
}

static bool grow_scratch(struct pipeline *p, size_t n)
{
    if (n <= p->scratch_cap)
        return true;
    size_t cap = n + 256;
    uint32_t *ns = realloc(p->scratch, cap * sizeof *ns);
    if (!ns)
        return false;
    p->scratch = ns;
    p->scratch_cap = cap;
    return true;
}

/*
 * New discovered fields become identity columns; a field whose type widened
 * widens its column when it may (widen_column()), else the change is noted. Called whenever the parser's generation moved, which also catches
 * fields found by a record that then failed to parse (its row never says
 * schema_changed, but the field exists from then on). A field whose name
 * storage refuses, or that names a measure of the table, never becomes a
 * column (a warning on the record, w). 0, LERR_NOMEM, or 1 when the new
 * fields would take the table past its column limit (*why; see
 * add_discovered()).
 */
static int absorb_schema_changes(struct pipeline *p, const struct record *rec,
                                 struct row_warning *w, char *why, size_t why_cap)
{
    const struct format_field *f;
    uint64_t gen;
    size_t n = format_discovered_fields(p->parser, &f, &gen);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].changed <= p->seen_generation)
            continue;
        bool declared = f[i].origin != FORMAT_ORIGIN_DISCOVERED;
        bool blocked = i < p->nfield_blocked && p->field_blocked[i];
        if (f[i].added > p->seen_generation || declared) {
            if (declared || blocked || has_mapping_column(p, f[i].name))
                continue;
            const struct pipeline_table_col *tc = table_col(p, f[i].name);
            const char *bad = tc && tc->measure ? "the table has a measure of that name"
                                                : bad_column_name(f[i].name);
            if (bad) {
                /* never a column: blocked for good */
                if (i >= p->nfield_blocked) {
                    size_t nn = 2 * i + 64;
                    bool *nb = arena_zalloc(&p->mem, nn);
                    if (!nb)
                        return LERR_NOMEM;
                    if (p->nfield_blocked)
                        memcpy(nb, p->field_blocked, p->nfield_blocked);
                    p->field_blocked = nb;
                    p->nfield_blocked = nn;
                }
                p->field_blocked[i] = true;
                warn(w, PIPE_R_SCHEMA,
                     "field '%.100s' does not become a column (%s); map it "
                     "into a column of another name to keep it",
                     f[i].name, bad);
                continue;
            }
            if (!grow_scratch(p, k + 1))
                return LERR_NOMEM;
            p->scratch[k++] = (uint32_t)i;
        } else {
            int32_t c = i < p->nfield_col ? p->field_col[i] : -1;
            if (c < 0 || p->cols[c].type == f[i].type)
                continue;
            if (widen_column(p, (size_t)c, f[i].type, rec) ||
                (p->cols[c].discovered && !p->strict && holds(p->cols[c].type, f[i].type)))
                continue;
            pipeline_tally_note(p->batch, PIPE_R_SCHEMA, rec->partition, rec->offset,
                                "field '%s' now holds %s values; column '%s' keeps type %s and "
                                "casts them",
                                f[i].name, sql_type_sql_name(f[i].type), p->cols[c].name,
                                sql_type_sql_name(p->cols[c].type));
        }
    }
    p->seen_generation = gen;
    return add_discovered(p, p->scratch, k, f, rec, why, why_cap);
}

/*
 * A row that carries fields held back (held[]) makes columns of them, if
 * they fit now. 0, LERR_NOMEM, or 1 (*why) when they still do not.
 */
static int absorb_held(struct pipeline *p, const struct record *rec, const struct format_row *row,
                       char *why, size_t why_cap)
{
    size_t k = 0;
    for (uint32_t j = 0; j < row->nextra; j++) {
        uint32_t fi = row->extra_index[j];
        if (fi < p->held_cap && p->held[fi]) {
            if (!grow_scratch(p, k + 1))
                return LERR_NOMEM;
            p->scratch[k++] = fi;
        }
    }
    if (k == 0)
        return 0;
    const struct format_field *f;
    format_discovered_fields(p->parser, &f, NULL);
    return add_discovered(p, p->scratch, k, f, rec, why, why_cap);
}

/* ---- the output batch ------------------------------------------------------------------ */

/*
 * Makes room for `cap` rows (at least the current capacity) in every current
 * column. Rows [0, nrows) are kept; in a column new to the batch (discovery
 * added it) they are NULL, or empty states for a measure. Columns that
 * neither grow nor are new keep their arrays.
 */
static int out_reserve_in(struct pipeline *p, struct pipeline_out *out, struct arena *mem,
                          uint32_t cap)
{
    bool grow = cap > out->cap;
    if (!grow)
        cap = out->cap;
    int64_t *t = out->time;
    if (grow) {
        if (!(t = arena_alloc(mem, (size_t)cap * sizeof *t)))
            return LERR_NOMEM;
        if (out->nrows)
            memcpy(t, out->time, out->nrows * sizeof *t);
    }
    struct sql_value **vals = arena_zalloc(mem, (p->ncols + 1) * sizeof *vals);
    uint8_t **states = arena_zalloc(mem, (p->ncols + 1) * sizeof *states);
    if (!vals || !states)
        return LERR_NOMEM;
    for (size_t c = 0; c < p->ncols; c++) {
        const struct pipeline_column *pc = &p->cols[c];
        bool old = c < out->ncols;
        if (old && !grow) {
            vals[c] = out->values[c];
            states[c] = out->states[c];
        } else if (pc->measure) {
            if (!(states[c] = arena_alloc(mem, (size_t)cap * pc->state_size + 1)))
                return LERR_NOMEM;
            if (old && out->nrows)
                memcpy(states[c], out->states[c], out->nrows * pc->state_size);
            else
                for (uint32_t r = 0; r < out->nrows; r++)
                    sql_agg_init(pc->agg, states[c] + r * pc->state_size);
        } else {
            if (!(vals[c] = arena_alloc(mem, (size_t)cap * sizeof **vals)))
                return LERR_NOMEM;
            if (old && out->nrows)
                memcpy(vals[c], out->values[c], out->nrows * sizeof **vals);
            else
                for (uint32_t r = 0; r < out->nrows; r++)
                    vals[c][r] = sql_null(pc->type);
        }
    }
    out->time = t;
    out->values = vals;
    out->states = states;
    out->cap = cap;
    out->ncols = (uint32_t)p->ncols;
    return 0;
}

/* The arena's cap while a row runs: its budget, within the batch's cap. */
static void row_limit(struct pipeline *p, struct arena *mem)
{
    size_t lim = p->row_base + p->row_cap;
    mem->cap = p->batch_cap && p->batch_cap < lim ? p->batch_cap : lim;
}

/*
 * out_reserve_in() on the batch's account: inside a row, its memory is not
 * the row's (the row's budget moves past it, and the row's memory before
 * it can no longer be given back). A failure is the batch's (batch_full).
 */
static int out_reserve(struct pipeline *p, struct pipeline_out *out, struct arena *mem,
                       uint32_t cap)
{
    if (!p->in_row)
        return out_reserve_in(p, out, mem, cap);
    size_t before = mem->total;
    mem->cap = p->batch_cap;
    int rc = out_reserve_in(p, out, mem, cap);
    p->row_reserved = true;
    p->batch_full |= rc != 0;
    p->row_base += mem->total - before;
    row_limit(p, mem);
    return rc;
}

/* ---- one row ------------------------------------------------------------------------------ */

/* Describes the inputs of an expression for a message: "date='2023-13-45', time=NULL". */
static void describe_inputs(const struct sql_expr *e, const struct sql_field *fields, size_t nf,
                            const struct format_row *row, struct buf *b)
{
    const uint32_t *refs;
    size_t n = sql_expr_refs(e, &refs);
    for (size_t k = 0; k < n && k < 4; k++) {
        if (refs[k] >= row->nvalues || refs[k] >= nf)
            continue;
        buf_printf(b, "%s%.*s=", k ? ", " : "", (int)fields[refs[k]].name_len,
                   fields[refs[k]].name);
        const struct sql_value *v = &row->values[refs[k]];
        if (v->is_null) {
            buf_puts(b, "NULL");
        } else {
            buf_putc(b, '\'');
            struct buf t;
            buf_init(&t, 200);
            sql_value_to_text(v, &t, true);
            buf_append(b, t.data ? t.data : "", t.len > 120 ? 120 : t.len);
            buf_free(&t);
            buf_putc(b, '\'');
        }
    }
}

struct row_ctx {
    struct pipeline *p;
    const struct record *rec;
    const char *text;
    size_t len;
    pipeline_observer obs;
    void *obs_ctx;
};

static void finish_row(struct row_ctx *x, const struct format_row *in, enum pipeline_outcome oc,
                       enum pipeline_reason why, const char *msg, int64_t out_row)
{
    count(x->p, x->rec, x->text, x->len, oc, why, msg);
    if (x->obs) {
        struct pipeline_row_info info = {x->rec, in, oc, why, msg, out_row};
        x->obs(x->obs_ctx, &info);
    }
}

/*
 * A multi-value string column's value (Druid's rules): an array's scalars
 * become its values (numbers and booleans as their text, JSON null a NULL
 * value), a scalar one value, [] and NULL none; JSON text holding an array
 * (a JSON array read by a string field) its elements. A nested array or an
 * object inside, or a list past STORAGE_MV_MAX_ITEMS values or
 * STORAGE_MV_MAX_BYTES bytes, stores no values with a warning that says why.
 * 0 or LERR_NOMEM.
 */
/* Byte order, shorter first on a common prefix; NULL values first. */
static int mv_cmp(const void *a, const void *b)
{
    const struct sql_value *x = a, *y = b;
    if (x->is_null || y->is_null)
        return x->is_null && y->is_null ? 0 : x->is_null ? -1 : 1;
    uint32_t m = x->v.s.n < y->v.s.n ? x->v.s.n : y->v.s.n;
    int r = m ? memcmp(x->v.s.p, y->v.s.p, m) : 0;
    return r ? r : x->v.s.n < y->v.s.n ? -1 : x->v.s.n > y->v.s.n;
}

static int to_list(const struct pipeline *p, size_t c, struct sql_value *v, struct arena *mem,
                   struct row_warning *w)
{
    const char *why = NULL;
    if (v->type == SQL_STRING || v->type == SQL_JSON) {
        const char *t = v->v.s.p ? v->v.s.p : "";
        size_t n = v->v.s.n, k = 0;
        while (k < n && (t[k] == ' ' || t[k] == '\t' || t[k] == '\n' || t[k] == '\r'))
            k++;
        if (k == n || (t[k] != '[' && (v->type == SQL_STRING || t[k] != '{')))
            return 0; /* a scalar: one value (storage casts it) */
        if (t[k] == '{') {
            why = "an object is not a list of strings";
            goto reject;
        }
        char *scratch = arena_alloc(mem, n + 16);
        if (!scratch)
            return LERR_NOMEM;
        struct lerr e;
        lerr_init(&e);
        struct format_json_iter it;
        struct format_json_member m;
        if (format_json_iter_init_span(&it, t, n, scratch, n + 16, &e) != 0)
            return 0; /* not JSON: the text is one value */
        uint32_t cnt = 0;
        while (format_json_iter_next(&it, &m, &e) > 0)
            cnt++;
        if (e.code)
            return 0;
        if (cnt > STORAGE_MV_MAX_ITEMS) {
            why = "the list has more values than fit in one row";
            goto reject;
        }
        struct sql_value *items = arena_alloc(mem, (cnt ? cnt : 1) * sizeof *items);
        if (!items)
            return LERR_NOMEM;
        format_json_iter_init_span(&it, t, n, scratch, n + 16, &e);
        uint32_t i = 0;
        while (i < cnt && format_json_iter_next(&it, &m, &e) > 0) {
            const struct format_json_value *x = &m.v;
            switch (x->kind) {
            case FORMAT_JSON_KIND_NULL: items[i++] = sql_null(SQL_STRING); break;
            case FORMAT_JSON_KIND_STRING: items[i++] = sql_string(x->str, x->str_len); break;
            case FORMAT_JSON_KIND_OBJECT:
            case FORMAT_JSON_KIND_ARRAY:
                why = "a nested array or object is not a string value";
                goto reject;
            default: items[i++] = sql_string(x->raw, x->raw_len); break; /* numbers, booleans */
            }
        }
        v->type = SQL_ARRAY;
        v->v.a.items = items;
        v->v.a.n = i;
    }
    if (v->type != SQL_ARRAY)
        return 0;
    uint32_t cnt = v->v.a.n;
    if (cnt > STORAGE_MV_MAX_ITEMS) {
        why = "the list has more values than fit in one row";
        goto reject;
    }
    /* the values as strings, in a copy this row owns, then ordered as the
     * column's multiValueHandling says */
    struct sql_value *items = arena_alloc(mem, (cnt ? cnt : 1) * sizeof *items);
    if (!items)
        return LERR_NOMEM;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        const struct sql_value *x = &v->v.a.items[i];
        if (x->type == SQL_ARRAY || x->type == SQL_JSON) {
            why = "a nested array or object is not a string value";
            goto reject;
        }
        items[i] = x->is_null || x->type == SQL_STRING ? *x : sql_value_cast(x, SQL_STRING, mem);
        if (items[i].is_null)
            items[i] = sql_null(SQL_STRING);
        bytes += 4 + (items[i].is_null ? 0 : items[i].v.s.n);
    }
    if (bytes > STORAGE_MV_MAX_BYTES) {
        why = "the list has more bytes than fit in one row";
        goto reject;
    }
    int h = p->cols[c].mv_handling;
    if (h != STORAGE_MV_ARRAY && cnt > 1) {
        qsort(items, cnt, sizeof *items, mv_cmp);
        if (h == STORAGE_MV_SORTED_SET) {
            uint32_t k = 1;
            for (uint32_t i = 1; i < cnt; i++)
                if (mv_cmp(&items[i], &items[k - 1]) != 0)
                    items[k++] = items[i];
            cnt = k;
        }
    }
    v->v.a.items = items;
    v->v.a.n = cnt;
    return 0;
reject:
    warn(w, PIPE_R_COERCE,
         "column '%s' is a multi-value string: %s (at most %u values and %u bytes); stored NULL",
         p->cols[c].name, why, STORAGE_MV_MAX_ITEMS, STORAGE_MV_MAX_BYTES);
    *v = sql_null(SQL_ARRAY);
    return 0;
}

/* A JSON array's text → an ARRAY of its scalars (numbers as LONG or DOUBLE,
 * booleans as 1/0, strings, NULLs); *why when it holds an object or an
 * array, or too many elements. 0, LERR_NOMEM, or 1 when the text is no JSON
 * array (then it is one scalar). */
static int json_items(const char *t, size_t n, struct arena *mem, struct sql_value *out,
                      const char **why)
{
    size_t k = 0;
    while (k < n && (t[k] == ' ' || t[k] == '\t' || t[k] == '\n' || t[k] == '\r'))
        k++;
    if (k == n || t[k] != '[')
        return 1;
    char *scratch = arena_alloc(mem, n + 16);
    if (!scratch)
        return LERR_NOMEM;
    struct lerr e;
    lerr_init(&e);
    struct format_json_iter it;
    struct format_json_member m;
    if (format_json_iter_init_span(&it, t, n, scratch, n + 16, &e) != 0)
        return 1;
    uint32_t cnt = 0;
    while (format_json_iter_next(&it, &m, &e) > 0)
        cnt++;
    if (e.code)
        return 1;
    if (cnt > STORAGE_MV_MAX_ITEMS) {
        *why = "it has more elements than fit in one row";
        return 0;
    }
    struct sql_value *items = arena_alloc(mem, (cnt ? cnt : 1) * sizeof *items);
    if (!items)
        return LERR_NOMEM;
    format_json_iter_init_span(&it, t, n, scratch, n + 16, &e);
    uint32_t i = 0;
    while (i < cnt && format_json_iter_next(&it, &m, &e) > 0) {
        const struct format_json_value *x = &m.v;
        switch (x->kind) {
        case FORMAT_JSON_KIND_NULL: items[i++] = sql_null(SQL_NULL); break;
        case FORMAT_JSON_KIND_STRING: items[i++] = sql_string(x->str, x->str_len); break;
        case FORMAT_JSON_KIND_TRUE: items[i++] = sql_long(1); break;
        case FORMAT_JSON_KIND_FALSE: items[i++] = sql_long(0); break;
        case FORMAT_JSON_KIND_NUMBER:
            items[i++] = (x->num_flags & FORMAT_JSON_NUM_INT) ? sql_long(x->i) : sql_double(x->d);
            break;
        default: *why = "an element is a nested array or an object"; return 0;
        }
    }
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = items;
    out->v.a.n = i;
    return 0;
}

/*
 * A typed ARRAY column's value: an ARRAY's elements converted to the
 * element type in their order (NULL elements kept; the empty array stays
 * empty, distinct from NULL), a JSON array's text read as that array, a
 * scalar as a one-element array. An element that does not convert is a
 * NULL element and the row is processedWithWarnings naming the column, the
 * element's index and its value; a nested array or object, or an array
 * past the limits, stores NULL with a warning. 0 or LERR_NOMEM.
 */
static int to_array(const struct pipeline *p, size_t c, struct sql_value *v, struct arena *mem,
                    struct row_warning *w)
{
    int elem = p->cols[c].elem;
    const char *why = NULL;
    struct sql_value in = *v;
    if (in.type == SQL_STRING || in.type == SQL_JSON) {
        const char *t = in.v.s.p ? in.v.s.p : "";
        int rc = json_items(t, in.v.s.n, mem, &in, &why);
        if (rc == LERR_NOMEM)
            return rc;
        if (why)
            goto reject;
        if (rc == 1 && in.type == SQL_JSON) {
            /* a JSON scalar (a field discovery widened to JSON): its value */
            char *scratch = arena_alloc(mem, in.v.s.n + 16);
            struct format_json_value jv;
            struct lerr e;
            lerr_init(&e);
            if (!scratch)
                return LERR_NOMEM;
            if (format_json_parse_value(t, in.v.s.n, &jv, scratch, in.v.s.n + 16, &e) != 0 ||
                jv.kind == FORMAT_JSON_KIND_OBJECT) {
                why = "an element is a nested array or an object";
                goto reject;
            }
            in = jv.kind == FORMAT_JSON_KIND_STRING ? sql_string(jv.str, jv.str_len)
                 : jv.kind == FORMAT_JSON_KIND_NUMBER
                     ? ((jv.num_flags & FORMAT_JSON_NUM_INT) ? sql_long(jv.i) : sql_double(jv.d))
                 : jv.kind == FORMAT_JSON_KIND_TRUE  ? sql_long(1)
                 : jv.kind == FORMAT_JSON_KIND_FALSE ? sql_long(0)
                                                     : sql_null(SQL_ARRAY);
            if (in.is_null) {
                *v = in;
                return 0;
            }
        }
    }
    uint32_t cnt = in.type == SQL_ARRAY ? in.v.a.n : 1;
    if (cnt > STORAGE_MV_MAX_ITEMS) {
        why = "it has more elements than fit in one row";
        goto reject;
    }
    struct sql_value *items = arena_alloc(mem, (cnt ? cnt : 1) * sizeof *items);
    if (!items)
        return LERR_NOMEM;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        const struct sql_value *x = in.type == SQL_ARRAY ? &in.v.a.items[i] : &in;
        if (x->type == SQL_ARRAY || (x->type == SQL_JSON && !x->is_null)) {
            why = "an element is a nested array or an object";
            goto reject;
        }
        if (x->is_null || x->type == SQL_NULL)
            items[i] = sql_null(elem);
        else if (x->type == elem)
            items[i] = *x;
        else
            items[i] = sql_value_cast(x, elem, mem);
        if (!x->is_null && x->type != SQL_NULL && (items[i].is_null || items[i].type != elem)) {
            items[i] = sql_null(elem);
            if (!w->msg[0]) {
                struct buf b;
                buf_init(&b, 200);
                sql_value_to_text(x, &b, true);
                warn(w, PIPE_R_COERCE,
                     "column '%s' is %s; element %u, '%.100s', is not a %s, stored as a NULL "
                     "element",
                     p->cols[c].name, storage_array_type_name(elem), i, buf_cstr(&b),
                     sql_type_name(elem));
                buf_free(&b);
            }
        }
        bytes += 4 + (items[i].is_null ? 0 : elem == SQL_STRING ? items[i].v.s.n : 8);
    }
    if (bytes > STORAGE_MV_MAX_BYTES) {
        why = "it has more bytes than fit in one row";
        goto reject;
    }
    v->type = SQL_ARRAY;
    v->is_null = false;
    v->v.a.items = items;
    v->v.a.n = cnt;
    return 0;
reject:
    warn(w, PIPE_R_COERCE, "column '%s' is %s: %s (at most %u elements and %u bytes); stored NULL",
         p->cols[c].name, storage_array_type_name(elem), why, STORAGE_MV_MAX_ITEMS,
         STORAGE_MV_MAX_BYTES);
    *v = sql_null(SQL_ARRAY);
    return 0;
}

/*
 * Puts *v into column c's type. The caller checks v->type first (the common
 * case is a match); a NULL just takes the column's type; a value that does
 * not convert is stored NULL with a warning. 0 or LERR_NOMEM.
 */
static int coerce(const struct pipeline *p, size_t c, struct sql_value *v, struct arena *mem,
                  struct row_warning *w)
{
    uint8_t want = p->cols[c].type;
    if (v->is_null) {
        v->type = want;
        return 0;
    }
    if (p->cols[c].multi_value)
        return to_list(p, c, v, mem, w);
    if (p->cols[c].elem)
        return to_array(p, c, v, mem, w);
    if (want == SQL_STRING && v->type == SQL_ARRAY) {
        struct buf b;
        buf_init(&b, 1u << 20);
        sql_value_to_text(v, &b, true);
        /* past the buffer's cap the text is cut, as any text value would be */
        size_t n = b.len;
        char *s = arena_strndup(mem, buf_cstr(&b), n);
        buf_free(&b);
        if (!s)
            return LERR_NOMEM;
        *v = sql_string(s, n);
        return 0;
    }
    struct sql_value cv = sql_value_cast(v, want, mem);
    if (!cv.is_null && want == SQL_LONG && v->type != SQL_BOOLEAN && v->type != SQL_TIMESTAMP &&
        !w->msg[0]) {
        /* a number with a fraction into a BIGINT column: stored truncated,
         * as Druid does, but never silently */
        struct sql_value dv = v->type == SQL_DOUBLE || v->type == SQL_FLOAT
                                  ? *v
                                  : sql_value_cast(v, SQL_DOUBLE, mem);
        if (!dv.is_null && dv.v.d != (double)cv.v.l) {
            struct buf b;
            buf_init(&b, 200);
            sql_value_to_text(v, &b, true);
            warn(w, PIPE_R_COERCE,
                 "column '%s' is BIGINT; the value '%.100s' is not a whole number, stored %lld "
                 "(declare the column DOUBLE to keep the fraction)",
                 p->cols[c].name, buf_cstr(&b), (long long)cv.v.l);
            buf_free(&b);
        }
    }
    if (cv.is_null && !w->msg[0]) {
        struct buf b;
        buf_init(&b, 200);
        sql_value_to_text(v, &b, true);
        warn(w, PIPE_R_COERCE,
             "column '%s' is %s; the value '%.100s' cannot be converted, "
             "stored NULL",
             p->cols[c].name, sql_type_sql_name(want), buf_cstr(&b));
        buf_free(&b);
    }
    *v = cv;
    return 0;
}

/*
 * One parsed row through filter, mappings, rejection and coercion, with the
 * warnings w holds so far. 0 or LERR_NOMEM (p->row_phase says where).
 */
static int process_row(struct pipeline *p, struct row_ctx *x, const struct format_row *row,
                       struct row_warning *w, struct arena *mem, struct pipeline_out *out)
{
    const struct sql_value *in = row->values;
    struct lerr e;
    lerr_init(&e);
    p->row_phase = ROW_FILTER;
    if (p->filter) {
        int rc = 0;
        if (!sql_eval_filter(p->filter, in, mem, &rc, &e)) {
            if (rc == LERR_NOMEM)
                return LERR_NOMEM;
            char why[600];
            snprintf(why, sizeof why, "filterExpression is not true for this row%s%s",
                     rc ? ": " : "", rc ? e.msg : "");
            finish_row(x, row, PIPE_SKIPPED_BY_FILTER, PIPE_R_FILTER, why, -1);
            return 0;
        }
    }
    struct sql_value tv;
    const struct mapping *tm = &p->maps[p->time_map];
    p->row_phase = p->time_map;
    int trc = sql_eval_row(tm->expr, in, mem, &tv, &e);
    if (trc == LERR_NOMEM)
        return LERR_NOMEM;
    if (trc || tv.is_null) {
        struct buf b;
        buf_init(&b, 400);
        describe_inputs(tm->expr, p->in_fields, p->nin_fields, row, &b);
        char why[1200];
        snprintf(why, sizeof why, "__time is NULL: %s of %s%s%s", tm->text,
                 b.len ? buf_cstr(&b) : "no input", trc ? ": " : "", trc ? e.msg : "");
        buf_free(&b);
        finish_row(x, row, PIPE_SKIPPED_BY_ERROR, PIPE_R_TIME, why, -1);
        return 0;
    }
    int64_t t = tv.v.l;
    if (t < p->late_bound || t > p->early_bound) {
        char when[40], bound[40], why[256];
        util_format_iso_ms(t, when);
        bool late = t < p->late_bound;
        util_format_iso_ms(late ? p->late_bound : p->early_bound, bound);
        snprintf(why, sizeof why, "__time %s is %s than the %s bound %s (%s)", when,
                 late ? "earlier" : "later",
                 late ? "lateMessageRejectionPeriod" : "earlyMessageRejectionPeriod", bound,
                 late ? "too late" : "too early");
        finish_row(x, row, PIPE_SKIPPED_BY_FILTER, late ? PIPE_R_LATE : PIPE_R_EARLY, why, -1);
        return 0;
    }
    if (!in_intervals(p, t)) {
        char when[40], why[128];
        util_format_iso_ms(t, when);
        snprintf(why, sizeof why,
                 "__time %s is outside target.intervals (this job replaces "
                 "only those)",
                 when);
        finish_row(x, row, PIPE_SKIPPED_BY_FILTER, PIPE_R_INTERVAL, why, -1);
        return 0;
    }
    if (out->nrows == out->cap || out->ncols < p->ncols) {
        if (out->cap > UINT32_MAX / 2)
            return LERR_NOMEM;
        if (out_reserve(p, out, mem, out->nrows == out->cap ? out->cap * 2 : out->cap))
            return LERR_NOMEM;
    }
    uint32_t r = out->nrows;
    out->time[r] = t;
    for (size_t i = 0; i < p->nmaps; i++) {
        const struct mapping *mp = &p->maps[i];
        int oc = mp->out_col;
        if (oc < 0)
            continue;
        const struct pipeline_column *c = &p->cols[oc];
        if (e.code)
            lerr_init(&e);
        p->row_phase = (int)i;
        if (c->measure) {
            uint8_t *st = out->states[oc] + (size_t)r * c->state_size;
            sql_agg_init(c->agg, st);
            int rc = sql_agg_add_row_as(c->agg, st, mp->agg, in, t, mem, &e);
            if (rc == LERR_NOMEM)
                return LERR_NOMEM;
            if (rc)
                warn(w, PIPE_R_MAPPING,
                     "mapping of '%s' (%s) failed: %s; the row counts "
                     "without it",
                     mp->column, mp->text, e.msg);
            continue;
        }
        struct sql_value *v = &out->values[oc][r];
        int rc = 0;
        const struct sql_value *iv = mp->is_ref ? &in[mp->ref_field] : NULL;
        if (iv && !iv->is_null && iv->type == mp->ref_type)
            *v = *iv; /* what sql_eval_row would give, without the call */
        else if (iv && iv->is_null)
            *v = sql_null(mp->ref_type);
        else
            rc = sql_eval_row(mp->expr, in, mem, v, &e);
        if (rc == LERR_NOMEM)
            return LERR_NOMEM;
        if (rc) {
            *v = sql_null(c->type);
            warn(w, PIPE_R_MAPPING, "mapping of '%s' (%s) failed: %s; stored NULL", mp->column,
                 mp->text, e.msg);
        } else if ((v->type != c->type || c->multi_value || c->elem) &&
                   coerce(p, (size_t)oc, v, mem, w)) {
            return LERR_NOMEM;
        }
    }
    /* Discovered identity columns: the field's value when the record has it. Their
     * fields are discovered ones, which rows carry sparsely in extra[]. */
    p->row_phase = ROW_VALUES;
    if (p->ncols > p->first_discovered) {
        for (size_t c = p->first_discovered; c < p->ncols; c++) {
            uint32_t f = (uint32_t)p->col_field[c];
            out->values[c][r] = f < row->nvalues ? in[f] : sql_null(p->cols[c].type);
        }
        for (uint32_t k = 0; k < row->nextra; k++) {
            uint32_t f = row->extra_index[k];
            if (f < p->nfield_col && p->field_col[f] >= 0)
                out->values[p->field_col[f]][r] = row->extra[k];
        }
        for (size_t c = p->first_discovered; c < p->ncols; c++) {
            struct sql_value *v = &out->values[c][r];
            if ((v->type != p->cols[c].type || p->cols[c].multi_value || p->cols[c].elem) &&
                coerce(p, c, v, mem, w))
                return LERR_NOMEM;
        }
    }
    out->nrows++;
    if (t > p->batch->c.newest_event_ms)
        p->batch->c.newest_event_ms = t;
    if (w->msg[0])
        finish_row(x, row, PIPE_PROCESSED_WITH_WARNINGS, w->reason, w->msg, r);
    else
        finish_row(x, row, PIPE_PROCESSED, PIPE_R_NONE, NULL, r);
    return 0;
}

/* ---- records ----------------------------------------------------------------------------- */

/* "32 MB", "2048 bytes": a memory limit in messages. */
static const char *mem_text(size_t n, char *buf, size_t cap)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, cap, "%zu MB", n >> 20);
    else
        snprintf(buf, cap, "%zu bytes", n);
    return buf;
}

/* Counts the current row as skippedByError: it needed more than its share of memory. */
static void row_too_big(struct pipeline *p, struct row_ctx *x)
{
    char lim[32], why[512];
    mem_text(p->row_cap, lim, sizeof lim);
    enum pipeline_reason reason = PIPE_R_MAPPING;
    if (p->row_phase >= 0) {
        const struct mapping *mp = &p->maps[p->row_phase];
        snprintf(why, sizeof why,
                 "mapping of '%.100s' (%.160s%s) needs more memory than a row may use (%s); "
                 "the row is skipped (look for functions that build long values, such as "
                 "REPEAT, CONCAT or LPAD)",
                 mp->column, mp->text, strlen(mp->text) > 160 ? "..." : "", lim);
    } else if (p->row_phase == ROW_FILTER) {
        snprintf(why, sizeof why,
                 "filterExpression needs more memory than a row may use (%s); the row is "
                 "skipped",
                 lim);
    } else if (p->row_phase == ROW_VALUES) {
        reason = PIPE_R_COERCE;
        snprintf(why, sizeof why,
                 "the row's values need more memory than a row may use (%s) to be stored; "
                 "the row is skipped",
                 lim);
    } else {
        reason = PIPE_R_PARSE;
        snprintf(why, sizeof why,
                 "the record needs more memory to parse than a row may use (%s); the record "
                 "is skipped",
                 lim);
    }
    finish_row(x, NULL, PIPE_SKIPPED_BY_ERROR, reason, why, -1);
}

/* parse → discovered columns → process_row(). 0, 1 (see process_text) or LERR_NOMEM. */
static int parse_row(struct pipeline *p, struct row_ctx *x, const struct record *rec, bool probe,
                     struct arena *mem, struct pipeline_out *out)
{
    struct row_warning w;
    w.reason = PIPE_R_NONE;
    w.msg[0] = '\0';
    struct format_row row;
    struct lerr e;
    lerr_init(&e);
    enum format_outcome fo = format_parse(p->parser, rec, mem, &row, &e);
    if (fo == FORMAT_ERROR && e.code == LERR_NOMEM)
        return LERR_NOMEM;
    if (fo == FORMAT_ERROR && e.code == LERR_UNAVAILABLE) {
        /* not the record's fault (a schema registry did not answer): the batch
         * stops here, uncounted, to be processed again later */
        snprintf(p->unavailable, sizeof p->unavailable, "%s", e.msg);
        return LERR_UNAVAILABLE;
    }
    if (fo == FORMAT_OK_WITH_WARNINGS)
        warn(&w, PIPE_R_PARSE, "%s", e.msg);
    char why[512];
    int arc = 0;
    if (format_parser_generation(p->parser) != p->seen_generation)
        arc = absorb_schema_changes(p, x->rec, &w, why, sizeof why);
    if (arc == 0 && p->nheld && fo != FORMAT_ERROR)
        arc = absorb_held(p, x->rec, &row, why, sizeof why);
    if (arc == LERR_NOMEM)
        return LERR_NOMEM;
    if (fo == FORMAT_ERROR) {
        if (probe)
            return 1;
        finish_row(x, NULL, PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE, e.msg, -1);
        return 0;
    }
    if (arc) {
        finish_row(x, &row, PIPE_SKIPPED_BY_ERROR, PIPE_R_SCHEMA, why, -1);
        return 0;
    }
    return process_row(p, x, &row, &w, mem, out);
}

/*
 * Parses one row's text (a record, or a piece the splitter cut from it) and
 * runs it through, within the row's share of the batch arena (row_cap): a
 * row that runs out of it is skippedByError and its memory given back. With
 * `probe`, a text that does not parse is left to the caller (returns 1,
 * nothing counted); otherwise it is counted as skippedByError. 0, 1, or
 * LERR_NOMEM (the batch's memory ran out).
 */
static int process_text(struct pipeline *p, const struct record *whole, const char *text,
                        size_t len, bool probe, struct arena *mem, struct pipeline_out *out,
                        pipeline_observer obs, void *obs_ctx)
{
    struct record rec = *whole;
    rec.data = text;
    rec.len = len;
    struct row_ctx x = {p, whole, text, len, obs, obs_ctx};
    struct arena_mark mark;
    arena_mark(mem, &mark);
    p->in_row = true;
    p->row_reserved = false;
    p->row_base = mem->total;
    p->row_phase = ROW_PARSE;
    mem->capped = false;
    row_limit(p, mem);
    int rc = parse_row(p, &x, &rec, probe, mem, out);
    mem->cap = p->batch_cap;
    p->in_row = false;
    bool row_bound = !p->batch_cap || p->row_base + p->row_cap < p->batch_cap;
    bool give_back = rc == 1;
    if (rc == LERR_NOMEM && mem->capped && !p->batch_full && row_bound) {
        row_too_big(p, &x);
        rc = 0;
        give_back = true;
    }
    if (give_back && !p->row_reserved)
        arena_release(mem, &mark);
    return rc;
}

/*
 * Whether a record can go to the parser whole, as the one row the splitter
 * would cut from it (then *len is that row's length), so most records skip
 * the splitter's scans. nd-json: a record that starts with '{' (no BOM, not
 * blank) and has no line break but a final one is one line; the splitter
 * would drop a final "\n" or "\r\n" (or a lone "\r"). kafka over nd-json: a
 * message that is "{...}" from its first byte to its last is one value if it
 * parses as one (the caller probes, and splits when it does not).
 */
static bool whole_record(const struct pipeline *p, const char *s, size_t n, size_t *len)
{
    if (p->whole == WHOLE_BINARY && n) {
        *len = n;
        return true;
    }
    if (p->whole == WHOLE_NEVER || p->whole == WHOLE_BINARY || n == 0 || s[0] != '{')
        return false;
    if (p->whole == WHOLE_VALUE) {
        *len = n;
        return s[n - 1] == '}';
    }
    if (memchr(s, '\n', n - 1))
        return false;
    if (s[n - 1] == '\n')
        n--;
    if (n && s[n - 1] == '\r')
        n--;
    *len = n;
    return true;
}

/* The batch as a whole ran out of memory (never one row: see process_text). */
static int batch_nomem(const struct pipeline *p, struct lerr *err)
{
    char lim[32];
    if (!p->batch_cap)
        return lerr_set(err, LERR_NOMEM, "batch memory exhausted: out of memory");
    return lerr_set(err, LERR_NOMEM,
                    "batch memory exhausted: the batch's rows together need more than its %s",
                    mem_text(p->batch_cap, lim, sizeof lim));
}

static int process_records(struct pipeline *p, const struct record *records, size_t n,
                           struct arena *mem, struct pipeline_out *out, pipeline_observer obs,
                           void *obs_ctx, struct lerr *err)
{
    /* Each row gets a share of the arena (process_text) */
    p->batch_cap = mem->cap;
    p->row_cap = PIPE_ROW_MEM_MAX;
    if (mem->cap && mem->cap / 8 < p->row_cap)
        p->row_cap = mem->cap / 8;
    p->batch_full = false;
    p->in_row = false;
    /* Most records are one row: room for them all up front, so the batch never copies. */
    uint32_t rows = n < 64 ? 64 : n > (1u << 28) ? (1u << 28) : (uint32_t)n;
    if (out_reserve(p, out, mem, rows))
        return batch_nomem(p, err);
    for (size_t i = 0; i < n; i++) {
        const struct record *whole = &records[i];
        size_t len;
        int rc = 1;
        if (whole_record(p, whole->data, whole->len, &len))
            rc = process_text(p, whole, whole->data, len, p->whole == WHOLE_VALUE, mem, out, obs,
                              obs_ctx);
        if (rc == LERR_NOMEM)
            return batch_nomem(p, err);
        if (rc == LERR_UNAVAILABLE)
            return lerr_set(err, LERR_UNAVAILABLE, "%s", p->unavailable);
        if (rc == 0)
            continue;
        struct format_splitter sp;
        format_split_init(&sp, p->parser, whole->data, whole->len);
        const char *line;
        size_t lineno;
        bool any = false;
        while (format_split_next(&sp, &line, &len, &lineno)) {
            any = true;
            rc = process_text(p, whole, line, len, false, mem, out, obs, obs_ctx);
            if (rc == LERR_UNAVAILABLE)
                return lerr_set(err, LERR_UNAVAILABLE, "%s", p->unavailable);
            if (rc)
                return batch_nomem(p, err);
        }
        if (!any && !format_is_blank(whole->data, whole->len)) {
            struct row_ctx x = {p, whole, whole->data, whole->len, obs, obs_ctx};
            finish_row(&x, NULL, PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE,
                       "the record holds no row (only header or skipped rows)", -1);
        } else if (!any && whole->len == 0) {
            struct row_ctx x = {p, whole, whole->data, 0, obs, obs_ctx};
            finish_row(&x, NULL, PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE, "empty record", -1);
        }
    }
    if (out->ncols < p->ncols && out_reserve(p, out, mem, out->cap))
        return batch_nomem(p, err);
    return 0;
}

int pipeline_process(struct pipeline *p, const struct record *records, size_t n, struct arena *mem,
                     struct pipeline_out *out, struct pipeline_tally *batch, pipeline_observer obs,
                     void *obs_ctx, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    pipeline_tally_init(batch);
    p->batch = batch;
    int rc = process_records(p, records, n, mem, out, obs, obs_ctx, err);
    p->batch = NULL;
    return rc;
}
