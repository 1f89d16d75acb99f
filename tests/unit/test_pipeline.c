/*
 * test_pipeline.c — the row pipeline (src/ingest/pipeline.c) over job specs
 * written as the API stores them: every outcome and reason with its message,
 * counters and the rejection ring (order, the 1 KB cut on a UTF-8 boundary,
 * wrap-around), output values per column, rollup states that finalize and
 * merge to the right values, schema discovery (identity columns, exclusions,
 * inputs of __time and aggregations, columns added mid-batch, type widening
 * LONG -> DOUBLE -> STRING of discovered columns and never of declared or
 * strict ones),
 * strict-table coercion, CSV and kafka records, splitting of multi-line
 * records, arena exhaustion, and pipeline_validate's errors with their
 * targets and positions. Measures: which aggregation feeds which measure
 * type (accepted pairs and the messages of refused ones), and states built
 * as the column's aggregator. One bad record never stops a batch: the
 * table's column limit, field names storage refuses, a row that outgrows
 * its share of the batch arena, and every kind of bad record in one batch.
 *
 * Each case is data: a spec (struct spec, turned into the API's JSON), the
 * records, and what every record should come out as.
 */
#include "check.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

/* 2023-06-15T00:00:00Z: the job's start ("now") in every case. */
#define NOW 1686787200000LL

/* ---- specs ---------------------------------------------------------------------- */

struct spec {
    const char *format;      /* formatSettings JSON; NULL = nd-json */
    const char *input;       /* inputSchema as "name:type,name:type" */
    const char *maps[12][3]; /* columnName, expression, "agg" when isAggregation */
    const char *filter;
    const char *late, *early; /* rejection periods */
    bool discovery;
    const char *exclusions; /* dimensionExclusions as "a,b" */
    const char *array_mode; /* arrayIngestMode, NULL = not given */
};

static json_t *split_names(const char *list)
{
    json_t *a = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ","))
        json_array_append_new(a, json_string(s));
    return a;
}

/* The spec as the API stores it (json_dumps of the normalised document). */
static char *spec_json(const struct spec *s)
{
    json_t *schema = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s->input ? s->input : "");
    for (char *f = strtok(buf, ","); f; f = strtok(NULL, ",")) {
        char *colon = strrchr(f, ':');
        *colon = '\0';
        json_array_append_new(schema, json_pack("{s:s, s:s}", "name", f, "dataType", colon + 1));
    }
    json_t *fmt = json_loads(s->format ? s->format : "{\"format\": \"nd-json\"}", 0, NULL);
    json_t *maps = json_array();
    for (size_t i = 0; i < 12 && s->maps[i][0]; i++) {
        json_t *m =
            json_pack("{s:s, s:s}", "columnName", s->maps[i][0], "expression", s->maps[i][1]);
        if (s->maps[i][2])
            json_object_set_new(m, "isAggregation", json_true());
        json_array_append_new(maps, m);
    }
    json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:o, s:o}, s:o}", "type", "streaming",
                          "target", "type", "table", "tableName", "t", "source", "type",
                          "connection", "connectionName", "c", "inputSchema", schema,
                          "formatSettings", fmt, "mappings", maps);
    if (s->filter)
        json_object_set_new(o, "filterExpression", json_string(s->filter));
    if (s->late)
        json_object_set_new(o, "lateMessageRejectionPeriod", json_string(s->late));
    if (s->early)
        json_object_set_new(o, "earlyMessageRejectionPeriod", json_string(s->early));
    if (s->discovery)
        json_object_set_new(o, "useSchemaDiscovery", json_true());
    if (s->exclusions)
        json_object_set_new(o, "dimensionExclusions", split_names(s->exclusions));
    if (s->array_mode)
        json_object_set_new(o, "arrayIngestMode", json_string(s->array_mode));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void totals_forget(struct pipeline *p);

/*
 * pipeline_new (out) or pipeline_validate (out NULL) over stored spec text,
 * read by the catalog's job spec parser as a job's runner reads it.
 */
static int compile_text(const char *text, const struct pipeline_table *t, struct pipeline **out,
                        struct lerr *err)
{
    struct job_spec js;
    int rc = catalog_job_spec_parse_text(text, strlen(text), &js, err);
    if (!rc) {
        struct pipeline_opts o = {&js, t, NOW, NULL};
        rc = out ? pipeline_new(&o, out, err) : pipeline_validate(&o, err);
    }
    catalog_job_spec_destroy(&js);
    return rc;
}

static struct pipeline *make(const struct spec *s, const struct pipeline_table *t)
{
    char *text = spec_json(s);
    struct pipeline *p = NULL;
    struct lerr err;
    lerr_init(&err);
    int rc = compile_text(text, t, &p, &err);
    CHECK_MSG(rc == 0, "pipeline_new: %s: %s (spec %s)", err.target, err.msg, text);
    free(text);
    if (!rc)
        totals_forget(p);
    return rc ? NULL : p;
}

/* ---- the job around a pipeline: the totals of the batches it ran ------------------------ */

/* What a job keeps (src/ingest/job.c): each successful batch's tally added to its totals. */
static struct {
    struct pipeline *p;
    struct pipeline_tally t;
} g_jobs[8];
static size_t g_next_job;
static struct pipeline_tally g_batch;

static struct pipeline_tally *totals(struct pipeline *p)
{
    for (size_t i = 0; i < 8; i++)
        if (g_jobs[i].p == p)
            return &g_jobs[i].t;
    size_t i = g_next_job++ % 8;
    g_jobs[i].p = p;
    pipeline_tally_init(&g_jobs[i].t);
    return &g_jobs[i].t;
}

/* A new pipeline starts with empty totals (even at a freed one's address). */
static void totals_forget(struct pipeline *p) { pipeline_tally_init(totals(p)); }

static int job_process(struct pipeline *p, const struct record *recs, size_t n, struct arena *mem,
                       struct pipeline_out *out, pipeline_observer obs, void *ctx,
                       struct lerr *err)
{
    int rc = pipeline_process(p, recs, n, mem, out, &g_batch, obs, ctx, err);
    if (rc == 0)
        pipeline_tally_add(totals(p), &g_batch);
    return rc;
}

static void job_counters(struct pipeline *p, struct pipeline_counters *out)
{
    *out = totals(p)->c;
}

static size_t job_rejections(struct pipeline *p, struct pipeline_rejection *out, size_t cap)
{
    return pipeline_tally_rejections(totals(p), out, cap);
}

/* ---- running records and watching each row ------------------------------------------- */

#define MAX_SEEN 512

struct seen {
    int outcome, reason;
    char message[512];
    bool has_message;
    int64_t out_row;
    int64_t offset;
    char input[256]; /* the input row's fields, "name=value;..." (NULL when unparsed) */
};

struct watch {
    struct seen rows[MAX_SEEN];
    size_t n;
    struct pipeline *p;
};

/* "long:1", "string:ok", "NULL(long)": a value with its type, for comparisons. */
static const char *vstr(const struct sql_value *v, char *out, size_t cap)
{
    if (v->is_null) {
        snprintf(out, cap, "NULL(%s)", sql_type_name(v->type));
        return out;
    }
    struct buf b;
    buf_init(&b, 0);
    sql_value_to_text(v, &b, true);
    snprintf(out, cap, "%s:%s", sql_type_name(v->type), buf_cstr(&b));
    buf_free(&b);
    return out;
}

static void observe(void *ctx, const struct pipeline_row_info *info)
{
    struct watch *w = ctx;
    if (w->n == MAX_SEEN)
        return;
    struct seen *s = &w->rows[w->n++];
    memset(s, 0, sizeof *s);
    s->outcome = info->outcome;
    s->reason = info->reason;
    s->has_message = info->message != NULL;
    snprintf(s->message, sizeof s->message, "%s", info->message ? info->message : "");
    s->out_row = info->out_row;
    s->offset = info->rec->offset;
    if (info->input) {
        struct sql_field f[32];
        size_t nf = pipeline_input_schema(w->p, f, 32);
        size_t k = 0;
        for (uint32_t i = 0; i < info->input->nvalues && i < nf; i++) {
            char v[64];
            int m = snprintf(s->input + k, sizeof s->input - k, "%.*s=%s;", (int)f[i].name_len,
                             f[i].name, vstr(&info->input->values[i], v, sizeof v));
            if (m < 0 || (size_t)m >= sizeof s->input - k)
                break;
            k += (size_t)m;
        }
    }
}

/* Runs texts[0..n) (record i has offset i) as one batch. */
static int run(struct pipeline *p, const char *const *texts, size_t n, struct arena *mem,
               struct pipeline_out *out, struct watch *w)
{
    struct record recs[64];
    for (size_t i = 0; i < n && i < 64; i++)
        recs[i] = (struct record){
            .data = texts[i], .len = strlen(texts[i]), .partition = 0, .offset = (int64_t)i};
    if (w) {
        w->n = 0;
        w->p = p;
    }
    struct lerr err;
    lerr_init(&err);
    int rc = job_process(p, recs, n, mem, out, w ? observe : NULL, w, &err);
    CHECK_MSG(rc == 0, "pipeline_process: %s", err.msg);
    return rc;
}

static int col_index(struct pipeline *p, const char *name)
{
    for (size_t i = 0; i < pipeline_ncolumns(p); i++)
        if (strcmp(pipeline_column(p, i)->name, name) == 0)
            return (int)i;
    return -1;
}

/* The value of column `name` at output row r, as vstr() text. */
static const char *cell(struct pipeline *p, const struct pipeline_out *out, const char *name,
                        uint32_t r, char *buf, size_t cap)
{
    int c = col_index(p, name);
    if (c < 0 || (uint32_t)c >= out->ncols || r >= out->nrows) {
        snprintf(buf, cap, "(no cell %s[%u])", name, r);
        return buf;
    }
    struct pipeline_column *pc = pipeline_column(p, (size_t)c);
    if (pc->measure) {
        struct sql_value v;
        sql_agg_finalize(pc->agg, out->states[c] + (size_t)r * pc->state_size, &v);
        return vstr(&v, buf, cap);
    }
    return vstr(&out->values[c][r], buf, cap);
}

#define CHECK_CELL(p, out, name, r, want)                                     \
    do {                                                                      \
        char cb_[256];                                                        \
        CHECK_EQ_STR(cell((p), (out), (name), (r), cb_, sizeof cb_), (want)); \
    } while (0)

static const char *columns_str(struct pipeline *p, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < pipeline_ncolumns(p) && k < cap; i++) {
        struct pipeline_column *c = pipeline_column(p, i);
        int m = snprintf(buf + k, cap - k, "%s%s:%s%s%s%s%s", i ? "," : "", c->name,
                         sql_type_name(c->type), c->elem ? "<" : "",
                         c->elem ? sql_type_name(c->elem) : "", c->elem ? ">" : "",
                         c->measure ? "(m)" : "");
        if (m < 0)
            break;
        k += (size_t)m;
    }
    return buf;
}

/* ---- 1. every outcome and reason, with its message ------------------------------------ */

struct outcome_case {
    const char *record;
    int outcome, reason;
    const char *message;     /* exact; NULL = no message */
    const char *message_has; /* or a substring of it */
};

static const struct spec outcome_spec = {
    .input = "ts:string,page:string,n:long,d:long",
    .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"page", "page"}, {"n", "n"}, {"ratio", "n / d"}},
    .filter = "page <> 'skip'",
    .late = "P1D",
    .early = "PT1H",
};

static const struct outcome_case outcome_cases[] = {
    {"{\"ts\":\"2023-06-15T00:00:00Z\",\"page\":\"ok\",\"n\":1,\"d\":1}", PIPE_PROCESSED,
     PIPE_R_NONE, NULL, NULL},
    {"{\"ts\":\"2023-06-15T00:00:01Z\",\"page\":\"warn\",\"n\":\"abc\",\"d\":1}",
     PIPE_PROCESSED_WITH_WARNINGS, PIPE_R_PARSE,
     "input field 'n': text \"abc\" is not a valid long; stored as NULL", NULL},
    {"{\"ts\":\"2023-06-15T00:00:02Z\",\"page\":\"skip\",\"n\":2}", PIPE_SKIPPED_BY_FILTER,
     PIPE_R_FILTER, "filterExpression is not true for this row", NULL},
    {"{\"ts\":\"2023-06-13T00:00:00Z\",\"page\":\"old\",\"n\":3}", PIPE_SKIPPED_BY_FILTER,
     PIPE_R_LATE,
     "__time 2023-06-13T00:00:00.000Z is earlier than the lateMessageRejectionPeriod bound "
     "2023-06-14T00:00:00.000Z (too late)",
     NULL},
    {"{\"ts\":\"2023-06-15T02:00:00Z\",\"page\":\"future\",\"n\":4}", PIPE_SKIPPED_BY_FILTER,
     PIPE_R_EARLY,
     "__time 2023-06-15T02:00:00.000Z is later than the earlyMessageRejectionPeriod bound "
     "2023-06-15T01:00:00.000Z (too early)",
     NULL},
    {"{\"ts\":\"2023-06-15T00:00:00Z\",\"page\": ", PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE, NULL,
     "JSON"},
    {"[1,2]", PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE, NULL, "'{'"},
    {"", PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE, "empty record", NULL},
    {"{\"ts\":\"13/45/2023\",\"page\":\"badtime\"}", PIPE_SKIPPED_BY_ERROR, PIPE_R_TIME,
     "__time is NULL: TIME_PARSE(\"ts\") of ts='13/45/2023'", NULL},
    {"{\"page\":\"notime\"}", PIPE_SKIPPED_BY_ERROR, PIPE_R_TIME,
     "__time is NULL: TIME_PARSE(\"ts\") of ts=NULL", NULL},
    /* a run-time error in a mapping: the row is kept with NULL there */
    {"{\"ts\":\"2023-06-15T00:00:03Z\",\"page\":\"div\",\"n\":5,\"d\":0}",
     PIPE_PROCESSED_WITH_WARNINGS, PIPE_R_MAPPING, NULL, "mapping of 'ratio' (n / d) failed: "},
    /* the filter compares a NULL page: unknown is not true */
    {"{\"ts\":\"2023-06-15T00:00:04Z\",\"n\":6}", PIPE_SKIPPED_BY_FILTER, PIPE_R_FILTER,
     "filterExpression is not true for this row", NULL},
};

static void test_outcomes(void)
{
    struct pipeline *p = make(&outcome_spec, NULL);
    if (!p)
        return;
    size_t n = LS_ARRAY_LEN(outcome_cases);
    const char *texts[LS_ARRAY_LEN(outcome_cases)];
    for (size_t i = 0; i < n; i++)
        texts[i] = outcome_cases[i].record;
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, n, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(w.n, n);
        for (size_t i = 0; i < n && i < w.n; i++) {
            const struct outcome_case *c = &outcome_cases[i];
            const struct seen *s = &w.rows[i];
            CHECK_MSG(s->offset == (int64_t)i, "case %zu: observed offset %lld", i,
                      (long long)s->offset);
            CHECK_MSG(s->outcome == c->outcome && s->reason == c->reason,
                      "case %zu (%s): got %s/%s, want %s/%s", i, c->record,
                      pipeline_outcome_name(s->outcome), pipeline_reason_name(s->reason),
                      pipeline_outcome_name(c->outcome), pipeline_reason_name(c->reason));
            if (c->message)
                CHECK_EQ_STR(s->message, c->message);
            else if (c->message_has)
                CHECK_MSG(strstr(s->message, c->message_has) != NULL,
                          "case %zu: message \"%s\" lacks \"%s\"", i, s->message, c->message_has);
            else
                CHECK_MSG(!s->has_message, "case %zu: unexpected message \"%s\"", i, s->message);
            bool kept = c->outcome <= PIPE_PROCESSED_WITH_WARNINGS;
            CHECK_MSG(kept == (s->out_row >= 0), "case %zu: out_row %lld", i,
                      (long long)s->out_row);
        }
        /* processed rows, in order: ok, warn, div */
        CHECK_EQ_INT(out.nrows, 3);
        CHECK_EQ_INT(out.ncols, 3);
        CHECK_EQ_INT(out.time[0], NOW);
        CHECK_EQ_INT(out.time[1], NOW + 1000);
        CHECK_EQ_INT(out.time[2], NOW + 3000);
        CHECK_CELL(p, &out, "page", 0, "string:ok");
        CHECK_CELL(p, &out, "n", 0, "long:1");
        CHECK_CELL(p, &out, "ratio", 0, "long:1");
        CHECK_CELL(p, &out, "page", 1, "string:warn");
        CHECK_CELL(p, &out, "n", 1, "NULL(long)");
        CHECK_CELL(p, &out, "ratio", 1, "NULL(long)");
        CHECK_CELL(p, &out, "n", 2, "long:5");
        CHECK_CELL(p, &out, "ratio", 2, "NULL(long)");
    }

    /* counters: per outcome and per reason */
    struct pipeline_counters c;
    job_counters(p, &c);
    CHECK_EQ_INT(c.processed, 1);
    CHECK_EQ_INT(c.processed_with_warnings, 2);
    CHECK_EQ_INT(c.skipped_by_filter, 4);
    CHECK_EQ_INT(c.skipped_by_error, 5);
    CHECK_EQ_INT(c.by_reason[PIPE_R_FILTER], 2);
    CHECK_EQ_INT(c.by_reason[PIPE_R_LATE], 1);
    CHECK_EQ_INT(c.by_reason[PIPE_R_EARLY], 1);
    CHECK_EQ_INT(c.by_reason[PIPE_R_PARSE], 4);
    CHECK_EQ_INT(c.by_reason[PIPE_R_TIME], 2);
    CHECK_EQ_INT(c.by_reason[PIPE_R_MAPPING], 1);
    CHECK_EQ_INT(c.newest_event_ms, NOW + 3000);

    /* the ring: every row that was not processed cleanly, oldest first */
    static struct pipeline_rejection rej[PIPE_RING];
    size_t nr = job_rejections(p, rej, PIPE_RING);
    CHECK_EQ_INT(nr, n - 1);
    for (size_t i = 0; i < nr; i++) {
        const struct outcome_case *oc = &outcome_cases[i + 1];
        CHECK_EQ_INT(rej[i].offset, (int64_t)i + 1);
        CHECK_EQ_INT(rej[i].outcome, oc->outcome);
        CHECK_EQ_INT(rej[i].reason, oc->reason);
        CHECK_EQ_STR(rej[i].raw, oc->record);
        CHECK(!rej[i].raw_cut);
        if (oc->message)
            CHECK_EQ_STR(rej[i].message, oc->message);
        CHECK(rej[i].at_ms > 0);
    }
    /* a second batch adds to the counters; pipeline_counters_add continues saved totals */
    arena_reset(&mem);
    run(p, texts, 1, &mem, &out, NULL);
    struct pipeline_counters saved = {
        .processed = 10, .skipped_by_error = 2, .newest_event_ms = NOW + 99000};
    saved.by_reason[PIPE_R_PARSE] = 2;
    pipeline_tally_add_counts(totals(p), &saved);
    job_counters(p, &c);
    CHECK_EQ_INT(c.processed, 12);
    CHECK_EQ_INT(c.skipped_by_error, 7);
    CHECK_EQ_INT(c.by_reason[PIPE_R_PARSE], 6);
    CHECK_EQ_INT(c.newest_event_ms, NOW + 99000);
    arena_destroy(&mem);
    pipeline_free(p);

    /* a filter that fails at run time skips the row and says why */
    struct spec fs = {.input = "ts:string,n:long,d:long",
                      .maps = {{"__time", "TIME_PARSE(\"ts\")"}},
                      .filter = "n / d > 0"};
    p = make(&fs, NULL);
    if (!p)
        return;
    const char *ft[] = {"{\"ts\":\"2023-06-15\",\"n\":1,\"d\":0}",
                        "{\"ts\":\"2023-06-15\",\"n\":1,\"d\":1}"};
    arena_init(&mem, 4096, 0);
    if (run(p, ft, 2, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 1);
        CHECK_EQ_INT(w.rows[0].outcome, PIPE_SKIPPED_BY_FILTER);
        CHECK_EQ_INT(w.rows[0].reason, PIPE_R_FILTER);
        static const char lead[] = "filterExpression is not true for this row: ";
        CHECK_MSG(strncmp(w.rows[0].message, lead, sizeof lead - 1) == 0 &&
                      strlen(w.rows[0].message) > sizeof lead - 1,
                  "filter error message \"%s\"", w.rows[0].message);
        CHECK_EQ_INT(w.rows[1].outcome, PIPE_PROCESSED);
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 2. the rejection ring: the 1 KB cut and wrap-around ------------------------------- */

static void test_ring(void)
{
    struct spec s = {.input = "ts:string", .maps = {{"__time", "TIME_PARSE(\"ts\")"}}};
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    /* A bad record of 1100 bytes whose 1024th and 1025th bytes are one character: the
     * cut falls before it, never inside. */
    char big[1200];
    memset(big, 'x', sizeof big);
    big[0] = '{';
    memcpy(big + 1023, "\xC3\xA9", 2);
    big[1100] = '\0';
    const char *texts[] = {big};
    run(p, texts, 1, &mem, &out, NULL);
    static struct pipeline_rejection rej[PIPE_RING];
    size_t nr = job_rejections(p, rej, PIPE_RING);
    CHECK_EQ_INT(nr, 1);
    CHECK_EQ_INT(strlen(rej[0].raw), 1023);
    CHECK(rej[0].raw_cut);
    CHECK_EQ_INT(rej[0].outcome, PIPE_SKIPPED_BY_ERROR);
    /* exactly 1024 bytes is kept whole */
    big[1023] = 'x';
    big[1024] = '\0';
    arena_reset(&mem);
    run(p, texts, 1, &mem, &out, NULL);
    nr = job_rejections(p, rej, PIPE_RING);
    CHECK_EQ_INT(nr, 2);
    CHECK_EQ_INT(strlen(rej[1].raw), 1024);
    CHECK(!rej[1].raw_cut);
    /* 1025 bytes of ASCII: cut at 1024 */
    big[1024] = 'x';
    big[1025] = '\0';
    arena_reset(&mem);
    run(p, texts, 1, &mem, &out, NULL);
    nr = job_rejections(p, rej, PIPE_RING);
    CHECK_EQ_INT(strlen(rej[2].raw), 1024);
    CHECK(rej[2].raw_cut);

    /* 250 more bad records in batches: the ring keeps the last 100, oldest first */
    char bad[250][16];
    const char *bt[50];
    for (int b = 0; b < 5; b++) {
        for (int i = 0; i < 50; i++) {
            snprintf(bad[b * 50 + i], sizeof bad[0], "bad %d", b * 50 + i);
            bt[i] = bad[b * 50 + i];
        }
        arena_reset(&mem);
        run(p, bt, 50, &mem, &out, NULL);
    }
    nr = job_rejections(p, rej, PIPE_RING);
    CHECK_EQ_INT(nr, PIPE_RING);
    CHECK_EQ_STR(rej[0].raw, "bad 150");
    CHECK_EQ_STR(rej[99].raw, "bad 249");
    bool ordered = true;
    for (size_t i = 1; i < nr; i++)
        ordered = ordered && atoi(rej[i].raw + 4) == atoi(rej[i - 1].raw + 4) + 1;
    CHECK(ordered);
    /* a smaller cap gives the newest ones */
    nr = job_rejections(p, rej, 3);
    CHECK_EQ_INT(nr, 3);
    CHECK_EQ_STR(rej[0].raw, "bad 247");
    CHECK_EQ_STR(rej[2].raw, "bad 249");
    /* notes share the ring */
    pipeline_tally_note(totals(p), PIPE_R_GAP, 3, 42, "offsets %d..%d are gone", 10, 41);
    nr = job_rejections(p, rej, 2);
    CHECK_EQ_STR(rej[0].raw, "bad 249");
    CHECK_EQ_STR(rej[1].message, "offsets 10..41 are gone");
    CHECK_EQ_INT(rej[1].reason, PIPE_R_GAP);
    CHECK_EQ_INT(rej[1].outcome, PIPE_PROCESSED_WITH_WARNINGS);
    CHECK_EQ_INT(rej[1].partition, 3);
    CHECK_EQ_INT(rej[1].offset, 42);
    struct pipeline_counters c;
    job_counters(p, &c);
    CHECK_EQ_INT(c.skipped_by_error, 253);
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 3. output values and NULL __time ------------------------------------------------- */

static void test_values(void)
{
    struct spec s = {
        .input = "date:string,page:string,isRobot:long,cityName:string,added:long,"
                 "deleted:long,ns:string,obj:json,score:double",
        .maps = {{"__time", "TIME_PARSE(\"date\")"},
                 {"page", "LOWER(page)"},
                 {"robot", "CASE WHEN \"isRobot\" = 1 THEN 'yes' ELSE 'no' END"},
                 {"city", "COALESCE(\"cityName\", 'unknown')"},
                 {"net", "added - deleted"},
                 {"title", "CONCAT(ns, ':', page)"},
                 {"b", "JSON_VALUE(obj, '$.a.b[1]')"},
                 {"half", "score / 2"},
                 {"day", "TIME_FLOOR(TIME_PARSE(\"date\"), 'P1D')"}},
    };
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    char cols[512];
    CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                 "page:string,robot:string,city:string,net:long,title:string,b:string,"
                 "half:double,day:timestamp");
    const char *texts[] = {
        "{\"date\":\"2023-06-14T10:20:30.5Z\",\"page\":\"Main Ärger\",\"isRobot\":true,"
        "\"cityName\":null,\"added\":10,\"deleted\":3,\"ns\":\"Talk\","
        "\"obj\":{\"a\":{\"b\":[1,2]}},\"score\":3}",
        "{\"date\":\"2023-13-45\",\"page\":\"x\"}",
        ("{\"date\":\"2023-06-14\",\"page\":\"y\",\"isRobot\":0,\"cityName\":\"Delft\","
         "\"deleted\":4}"),
    };
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, 3, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 2);
        CHECK_EQ_INT(out.time[0], 1686738030500LL);
        CHECK_CELL(p, &out, "page", 0, "string:main ärger");
        CHECK_CELL(p, &out, "robot", 0, "string:yes");
        CHECK_CELL(p, &out, "city", 0, "string:unknown");
        CHECK_CELL(p, &out, "net", 0, "long:7");
        CHECK_CELL(p, &out, "title", 0, "string:Talk:Main Ärger");
        CHECK_CELL(p, &out, "b", 0, "string:2");
        CHECK_CELL(p, &out, "half", 0, "double:1.5");
        CHECK_CELL(p, &out, "day", 0, "timestamp:2023-06-14T00:00:00.000Z");
        CHECK_EQ_INT(out.time[1], 1686700800000LL);
        CHECK_CELL(p, &out, "robot", 1, "string:no");
        CHECK_CELL(p, &out, "city", 1, "string:Delft");
        CHECK_CELL(p, &out, "net", 1, "NULL(long)");
        CHECK_CELL(p, &out, "title", 1, "NULL(string)");
        CHECK_CELL(p, &out, "b", 1, "NULL(string)");
        CHECK_EQ_INT(w.n, 3);
        CHECK_EQ_INT(w.rows[1].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[1].reason, PIPE_R_TIME);
        CHECK_EQ_STR(w.rows[1].message,
                     "__time is NULL: TIME_PARSE(\"date\") of date='2023-13-45'");
        CHECK_EQ_INT(w.rows[2].out_row, 1);
        /* the observer sees the input row */
        CHECK(strstr(w.rows[0].input, "page=string:Main Ärger;") != NULL);
        CHECK(strstr(w.rows[0].input, "isRobot=long:1;") != NULL);
    }
    arena_destroy(&mem);
    pipeline_free(p);

    /* __time from epoch milliseconds, and from a string mapping with TIME_PARSE(CONCAT) */
    struct spec s2 = {.input = "ms:long,d:string,t:string",
                      .maps = {{"__time", "MILLIS_TO_TIMESTAMP(ms)"}, {"d", "d"}}};
    struct spec s3 = {.input = "ms:long,d:string,t:string",
                      .maps = {{"__time", "TIME_PARSE(CONCAT(d, 'T', t))"}}};
    const char *t2[] = {"{\"ms\":1686787200123,\"d\":\"2023-06-15\",\"t\":\"01:02:03\"}"};
    for (int k = 0; k < 2; k++) {
        p = make(k ? &s3 : &s2, NULL);
        if (!p)
            continue;
        arena_init(&mem, 4096, 0);
        if (run(p, t2, 1, &mem, &out, NULL) == 0) {
            CHECK_EQ_INT(out.nrows, 1);
            CHECK_EQ_INT(out.time[0], k ? NOW + 3723000 : NOW + 123);
        }
        arena_destroy(&mem);
        pipeline_free(p);
    }
}

/* ---- 4. rollup: a state per row, finalized and merged ----------------------------------- */

static void test_rollup(void)
{
    struct spec s = {
        .input = "ts:string,page:string,n:long,x:double",
        .maps = {{"__time", "TIME_FLOOR(TIME_PARSE(\"ts\"), 'PT1H')"},
                 {"page", "page"},
                 {"cnt", "COUNT(*)", "agg"},
                 {"total", "SUM(n)", "agg"},
                 {"lo", "MIN(n)", "agg"},
                 {"hi", "MAX(x)", "agg"},
                 {"last", "LATEST(page)", "agg"},
                 {"nn", "COUNT(n)", "agg"},
                 {"q", "SUM(n / (n - 5))", "agg"}},
    };
    struct pipeline_table_col tc[] = {{"page", SQL_STRING, false, "string"}};
    struct pipeline_table agg = {.aggregate = true, .cols = tc, .ncols = 1};
    struct pipeline *p = make(&s, &agg);
    if (!p)
        return;
    char cols[512];
    CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                 "page:string,cnt:long(m),total:long(m),lo:long(m),hi:double(m),"
                 "last:string(m),nn:long(m),q:long(m)");
    const char *texts[] = {
        "{\"ts\":\"2023-06-14T10:05:00Z\",\"page\":\"a\",\"n\":5,\"x\":1.5}",
        "{\"ts\":\"2023-06-14T10:45:00Z\",\"page\":\"b\",\"n\":-2,\"x\":0.5}",
        "{\"ts\":\"2023-06-14T10:15:00Z\",\"page\":\"c\"}",
    };
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, 3, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 3);
        /* n = 5 divides by zero in q: the row counts, without q */
        CHECK_EQ_INT(w.rows[0].outcome, PIPE_PROCESSED_WITH_WARNINGS);
        CHECK_EQ_INT(w.rows[0].reason, PIPE_R_MAPPING);
        CHECK_MSG(strstr(w.rows[0].message, "mapping of 'q' (SUM(n / (n - 5))) failed: ") &&
                      strstr(w.rows[0].message, "; the row counts without it"),
                  "measure failure message \"%s\"", w.rows[0].message);
        CHECK_CELL(p, &out, "q", 0, "NULL(long)");
        CHECK_CELL(p, &out, "q", 1, "long:0");
        CHECK_EQ_INT(w.rows[1].outcome, PIPE_PROCESSED);
        CHECK_EQ_INT(out.time[0], 1686736800000LL);
        CHECK_EQ_INT(out.time[1], 1686736800000LL);
        CHECK_EQ_INT(out.time[2], 1686736800000LL);
        /* each row's own state */
        CHECK_CELL(p, &out, "cnt", 0, "long:1");
        CHECK_CELL(p, &out, "total", 0, "long:5");
        CHECK_CELL(p, &out, "lo", 1, "long:-2");
        CHECK_CELL(p, &out, "hi", 0, "double:1.5");
        CHECK_CELL(p, &out, "last", 1, "string:b");
        CHECK_CELL(p, &out, "total", 2, "NULL(long)");
        CHECK_CELL(p, &out, "nn", 2, "long:0");
        CHECK_CELL(p, &out, "cnt", 2, "long:1");
        /* merged, as storage rolls the three rows of the hour up */
        // clang-format off
        struct {
            const char *name, *want;
        } merged[] = {{"cnt", "long:3"}, {"total", "long:3"}, {"lo", "long:-2"},
                      {"hi", "double:1.5"}, {"nn", "long:2"}};
        // clang-format on
        for (size_t k = 0; k < LS_ARRAY_LEN(merged); k++) {
            int c = col_index(p, merged[k].name);
            struct pipeline_column *pc = pipeline_column(p, (size_t)c);
            uint8_t *st = arena_alloc(&mem, pc->state_size);
            sql_agg_init(pc->agg, st);
            for (uint32_t r = 0; r < out.nrows; r++)
                CHECK(sql_agg_merge(pc->agg, st, out.states[c] + r * pc->state_size, &mem));
            struct sql_value v;
            sql_agg_finalize(pc->agg, st, &v);
            char b[64];
            CHECK_EQ_STR(vstr(&v, b, sizeof b), merged[k].want);
        }
    }
    arena_destroy(&mem);
    pipeline_free(p);

    /* LATEST keeps the value of the latest __time, whatever the arrival order */
    struct spec s2 = {.input = "ts:string,page:string",
                      .maps = {{"__time", "TIME_PARSE(\"ts\")"},
                               {"last", "LATEST(page)", "agg"},
                               {"first", "EARLIEST(page)", "agg"}}};
    p = make(&s2, NULL);
    if (!p)
        return;
    const char *t2[] = {"{\"ts\":\"2023-06-14T10:30:00Z\",\"page\":\"mid\"}",
                        "{\"ts\":\"2023-06-14T10:50:00Z\",\"page\":\"late\"}",
                        "{\"ts\":\"2023-06-14T10:10:00Z\",\"page\":\"early\"}"};
    arena_init(&mem, 64 * 1024, 0);
    if (run(p, t2, 3, &mem, &out, NULL) == 0) {
        const char *names[] = {"last", "first"}, *want[] = {"string:late", "string:early"};
        for (int k = 0; k < 2; k++) {
            int c = col_index(p, names[k]);
            struct pipeline_column *pc = pipeline_column(p, (size_t)c);
            uint8_t *st = arena_alloc(&mem, pc->state_size);
            sql_agg_init(pc->agg, st);
            for (uint32_t r = 0; r < out.nrows; r++)
                sql_agg_merge(pc->agg, st, out.states[c] + r * pc->state_size, &mem);
            struct sql_value v;
            sql_agg_finalize(pc->agg, st, &v);
            char b[64];
            CHECK_EQ_STR(vstr(&v, b, sizeof b), want[k]);
        }
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 4b. measures: which aggregation feeds which measure type ----------------------- */

struct measure_case {
    const char *mtype; /* the table's measure type; NULL = a column the job creates */
    const char *expr;
    const char *want_type; /* the column's measure type, or NULL = refused */
    const char *has[3];    /* refused: substrings of the message */
};

// clang-format off
static const struct measure_case measure_cases[] = {
    {"count", "COUNT(*)", "count", {NULL}},
    {"count", "COUNT(s)", "count", {NULL}},
    {"longSum", "COUNT(*)", "longSum", {NULL}},
    {"longSum", "COUNT(n)", "longSum", {NULL}},
    {"longSum", "SUM(n)", "longSum", {NULL}},
    {"longSum", "SUM(CAST(x AS BIGINT))", "longSum", {NULL}},
    {"doubleSum", "SUM(x)", "doubleSum", {NULL}},
    {"doubleSum", "SUM(n)", "doubleSum", {NULL}},
    {"floatSum", "SUM(x)", "floatSum", {NULL}},
    {"longMin", "MIN(n)", "longMin", {NULL}},
    {"longMin", "MIN(TIME_PARSE(ts))", "longMin", {NULL}},
    {"longMax", "MAX(n)", "longMax", {NULL}},
    {"doubleMax", "MAX(n)", "doubleMax", {NULL}},
    {"doubleMin", "MIN(x)", "doubleMin", {NULL}},
    {"floatMax", "MAX(n)", "floatMax", {NULL}},
    {"longLatest", "LATEST(n)", "longLatest", {NULL}},
    {"longLatest", "LATEST_BY(n, TIME_PARSE(ts))", "longLatest", {NULL}},
    {"doubleLatest", "LATEST(n)", "doubleLatest", {NULL}},
    {"stringLatest", "LATEST(s, 8)", "stringLatest", {NULL}},
    {"stringLatest", "LATEST(x)", "stringLatest", {NULL}},
    {"stringEarliest", "EARLIEST_BY(s, TIME_PARSE(ts))", "stringEarliest", {NULL}},
    {"doubleEarliest", "EARLIEST(x)", "doubleEarliest", {NULL}},
    {"longEarliest", "EARLIEST(n)", "longEarliest", {NULL}},
    {NULL, "COUNT(*)", "count", {NULL}},
    {NULL, "COUNT(s)", "count", {NULL}},
    {NULL, "SUM(n)", "longSum", {NULL}},
    {NULL, "SUM(x)", "doubleSum", {NULL}},
    {NULL, "MIN(n)", "longMin", {NULL}},
    {NULL, "MAX(x)", "doubleMax", {NULL}},
    {NULL, "MAX(TIME_PARSE(ts))", "longMax", {NULL}},
    {NULL, "LATEST(s)", "stringLatest", {NULL}},
    {NULL, "LATEST(n)", "longLatest", {NULL}},
    {NULL, "EARLIEST_BY(x, TIME_PARSE(ts))", "doubleEarliest", {NULL}},
    /* refused: they would store wrong numbers */
    {"longSum", "MAX(n)", NULL, {"column 'm': it is a longSum measure", "COUNT(*), COUNT(x) or SUM(x)",
                                 "Map MAX(x) into a longMax column"}},
    {"longMax", "MIN(n)", NULL, {"longMax measure, which accepts MAX(x)", "MIN(x) cannot feed it",
                                 "longMin"}},
    {"longSum", "LATEST(n)", NULL, {"longSum", "LATEST(x) cannot feed it"}},
    {"count", "SUM(n)", NULL, {"count measure, which accepts COUNT(*) or COUNT(x)", "SUM(x)"}},
    {"doubleSum", "COUNT(*)", NULL, {"doubleSum measure, which accepts SUM(x)"}},
    {"longSum", "SUM(x)", NULL, {"here x is DOUBLE", "CAST it to BIGINT", "doubleSum"}},
    {"longMax", "MAX(x)", NULL, {"longMax", "x is DOUBLE", "doubleMax"}},
    {"floatMin", "MIN(x)", NULL, {"floatMin", "BIGINT, BOOLEAN or FLOAT", "x is DOUBLE"}},
    {"doubleMax", "MAX(TIME_PARSE(ts))", NULL, {"doubleMax", "x is TIMESTAMP"}},
    {"longLatest", "LATEST(s)", NULL, {"longLatest", "x is VARCHAR"}},
    {"longSum", "COUNT(DISTINCT s)", NULL, {"longSum measure", "an HLL sketch", "HLLSketch column"}},
    /* distinct counts and quantiles roll up as sketches */
    {NULL, "COUNT(DISTINCT s)", "HLLSketch", {NULL}},
    {NULL, "APPROX_COUNT_DISTINCT(s)", "HLLSketch", {NULL}},
    {"HLLSketch", "DS_HLL(n, 14, 'HLL_8')", "HLLSketch", {NULL}},
    {"HLLSketch", "APPROX_COUNT_DISTINCT_DS_HLL(s) FILTER (WHERE n > 1)", "HLLSketch", {NULL}},
    {NULL, "APPROX_COUNT_DISTINCT_DS_THETA(s)", "thetaSketch", {NULL}},
    {"thetaSketch", "DS_THETA(x, 1024)", "thetaSketch", {NULL}},
    {NULL, "DS_QUANTILES_SKETCH(x)", "quantilesDoublesSketch", {NULL}},
    {"quantilesDoublesSketch", "APPROX_QUANTILE_DS(n, 0.5)", "quantilesDoublesSketch", {NULL}},
    {"thetaSketch", "DS_HLL(s)", NULL, {"thetaSketch measure, which accepts", "an HLL sketch", "HLLSketch column"}},
    {"HLLSketch", "SUM(n)", NULL, {"HLLSketch measure", "SUM(x) cannot feed it", "longSum"}},
    {NULL, "AVG(n)", NULL, {"average", "doubleSum", "count column"}},
    {"doubleSum", "AVG(n)", NULL, {"average"}},
    {NULL, "ANY_VALUE(s)", NULL, {"ANY_VALUE", "LATEST"}},
    /* the query-only aggregates feed no measure */
    {NULL, "VARIANCE(n)", NULL, {"variance or standard deviation", "query-only", "SUM(x * x)"}},
    {"doubleSum", "STDDEV_POP(x)", NULL, {"standard deviation", "query-only"}},
    {NULL, "BIT_OR(n)", NULL, {"BIT_AND, BIT_OR or BIT_XOR", "query-only"}},
    {"longSum", "BIT_XOR(n)", NULL, {"BIT_XOR", "query-only"}},
    {NULL, "ARRAY_AGG(s)", NULL, {"ARRAY_AGG", "query-only"}},
    {"stringLatest", "STRING_AGG(s, ',')", NULL, {"STRING_AGG (LISTAGG)", "query-only"}},
    {NULL, "LISTAGG(DISTINCT s)", NULL, {"STRING_AGG (LISTAGG)"}},
    {NULL, "ARRAY_CONCAT_AGG(ARRAY(s))", NULL, {"ARRAY_CONCAT_AGG", "query-only"}},
    {NULL, "MIN(s)", NULL, {"MIN of a VARCHAR", "LATEST"}},
    {"HLLSketch", "COUNT(*)", NULL, {"HLLSketch measure, which accepts COUNT(DISTINCT x)", "COUNT(*) cannot feed it", "count column"}},
};
// clang-format on

static void test_measures(void)
{
    /* the table of pairs: accepted ones get the column's measure type, refused ones a 400
     * at the mapping naming the column, its type and what it accepts */
    for (size_t i = 0; i < LS_ARRAY_LEN(measure_cases); i++) {
        const struct measure_case *mc = &measure_cases[i];
        struct spec sp = {.input = "ts:string,n:long,x:double,s:string",
                          .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"m", mc->expr, "agg"}}};
        struct pipeline_table_col tc[] = {{"m", SQL_NULL, true, mc->mtype}};
        struct pipeline_table t = {.aggregate = true, .cols = tc, .ncols = mc->mtype ? 1 : 0};
        char *text = spec_json(&sp);
        struct pipeline *p = NULL;
        struct lerr err;
        lerr_init(&err);
        int rc = compile_text(text, &t, &p, &err);
        if (mc->want_type) {
            CHECK_MSG(rc == 0, "case %zu (%s into %s): %s", i, mc->expr,
                      mc->mtype ? mc->mtype : "a new column", err.msg);
            if (p)
                CHECK_EQ_STR(pipeline_column(p, 0)->measure_type, mc->want_type);
        } else {
            CHECK_MSG(rc == LERR_INVALID, "case %zu (%s into %s) accepted", i, mc->expr,
                      mc->mtype ? mc->mtype : "a new column");
            CHECK_EQ_STR(err.target, "mappings[1].expression");
            CHECK_MSG(strstr(err.msg, "mappings[1].expression: column 'm': ") == err.msg,
                      "case %zu: message \"%s\"", i, err.msg);
            for (int k = 0; k < 3 && mc->has[k]; k++)
                CHECK_MSG(strstr(err.msg, mc->has[k]) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                          err.msg, mc->has[k]);
        }
        pipeline_free(p);
        free(text);
    }

    /* values: each row's state is one of the column's aggregator, and states merge to
     * what the measure type means (as storage rolls rows up) */
    struct spec s = {
        .input = "ts:string,n:long,x:double,s:string",
        .maps = {{"__time", "TIME_PARSE(\"ts\")"},
                 {"cnt", "COUNT(*)", "agg"},
                 {"nn", "COUNT(n)", "agg"},
                 {"big", "COUNT(*) FILTER (WHERE n > 2)", "agg"},
                 {"hi", "MAX(n)", "agg"},
                 {"lo", "MIN(n)", "agg"},
                 {"tot", "SUM(n)", "agg"},
                 {"last", "LATEST(n)", "agg"},
                 {"first", "EARLIEST(s, 2)", "agg"},
                 {"by", "LATEST_BY(s, MILLIS_TO_TIMESTAMP(n))", "agg"}},
    };
    struct pipeline_table_col tc[] = {
        {"cnt", SQL_NULL, true, "longSum"},       {"nn", SQL_NULL, true, "longSum"},
        {"big", SQL_NULL, true, "longSum"},       {"hi", SQL_NULL, true, "doubleMax"},
        {"lo", SQL_NULL, true, "floatMin"},       {"tot", SQL_NULL, true, "doubleSum"},
        {"last", SQL_NULL, true, "stringLatest"}, {"first", SQL_NULL, true, "stringEarliest"},
        {"by", SQL_NULL, true, "stringLatest"}};
    struct pipeline_table t = {.aggregate = true, .cols = tc, .ncols = LS_ARRAY_LEN(tc)};
    struct pipeline *p = make(&s, &t);
    if (!p)
        return;
    char cols[512];
    CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                 "cnt:long(m),nn:long(m),big:long(m),hi:double(m),lo:float(m),tot:double(m),"
                 "last:string(m),first:string(m),by:string(m)");
    const char *texts[] = {
        "{\"ts\":\"2023-06-14T10:00:02Z\",\"n\":5,\"s\":\"über\"}",
        "{\"ts\":\"2023-06-14T10:00:03Z\",\"s\":\"b\"}",
        "{\"ts\":\"2023-06-14T10:00:01Z\",\"n\":-7,\"s\":\"c\"}",
    };
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    if (run(p, texts, 3, &mem, &out, NULL) == 0) {
        /* one row each: COUNT(*) into longSum is 1, not NULL; a filtered count is 0 */
        CHECK_CELL(p, &out, "cnt", 0, "long:1");
        CHECK_CELL(p, &out, "nn", 1, "long:0");
        CHECK_CELL(p, &out, "big", 0, "long:1");
        CHECK_CELL(p, &out, "big", 2, "long:0");
        CHECK_CELL(p, &out, "hi", 0, "double:5.0");
        CHECK_CELL(p, &out, "hi", 1, "NULL(double)");
        CHECK_CELL(p, &out, "lo", 2, "float:-7.0");
        CHECK_CELL(p, &out, "tot", 0, "double:5.0");
        CHECK_CELL(p, &out, "last", 0, "string:5");
        CHECK_CELL(p, &out, "first", 0, "string:\xc3\xbc"); /* 2 bytes: "ü", not cut inside */
        CHECK_CELL(p, &out, "by", 1, "NULL(string)");       /* no time: no value */
        // clang-format off
        struct {
            const char *name, *want;
        } merged[] = {{"cnt", "long:3"},       {"nn", "long:2"},          {"big", "long:1"},
                      {"hi", "double:5.0"},    {"lo", "float:-7.0"},      {"tot", "double:-2.0"},
                      {"last", "NULL(string)"}, /* the latest row (10:00:03) has no n */
                      {"first", "string:c"},   {"by", "string:\xc3\xbc" "ber"}};
        // clang-format on
        for (size_t k = 0; k < LS_ARRAY_LEN(merged); k++) {
            int c = col_index(p, merged[k].name);
            struct pipeline_column *pc = pipeline_column(p, (size_t)c);
            uint8_t *st = arena_alloc(&mem, pc->state_size);
            struct sql_agg_call stored; /* what storage merges with: the declared type's */
            CHECK(sql_agg_for_measure(pc->measure_type, &stored));
            sql_agg_init(&stored, st);
            for (uint32_t r = 0; r < out.nrows; r++)
                CHECK(sql_agg_merge(&stored, st, out.states[c] + r * pc->state_size, &mem));
            struct sql_value v;
            sql_agg_finalize(&stored, st, &v);
            char b[64];
            CHECK_MSG(strcmp(vstr(&v, b, sizeof b), merged[k].want) == 0,
                      "%s merged: got %s, want %s", merged[k].name, b, merged[k].want);
        }
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 5. schema discovery ---------------------------------------------------------------- */

/* Discovery makes arrays of primitives ARRAY columns of their element type
 * (LONG and DOUBLE mixed: DOUBLE); arrays of objects or of arrays stay
 * JSON. A table's typed ARRAY column converts each element, warning of one
 * that does not convert, and refuses nested values. */
static void test_discovery_arrays(void)
{
    struct spec s = {
        .input = "ts:string",
        .maps = {{"__time", "TIME_PARSE(\"ts\")"}},
        .discovery = true,
    };
    struct pipeline_table_col tc[] = {{"fixed", SQL_ARRAY, false, "ARRAY<LONG>"}};
    uint8_t elem[] = {SQL_LONG};
    struct pipeline_table t = {.cols = tc, .ncols = 1, .elem = elem};
    struct pipeline *p = make(&s, &t);
    if (!p)
        return;
    const char *texts[] = {
        ("{\"ts\":\"2023-06-14T00:00:00Z\",\"l\":[3,1,3],\"m\":[1,2.5],\"st\":[\"b\",null,\"a\"],"
         "\"objs\":[{\"k\":1}],\"nest\":[[1],[2]],\"e\":[],\"fixed\":[5,\"6\",null]}"),
        "{\"ts\":\"2023-06-14T00:00:01Z\",\"l\":[],\"m\":null,\"fixed\":[1,\"x\",2]}",
        "{\"ts\":\"2023-06-14T00:00:02Z\",\"l\":7,\"fixed\":[[1]]}",
        "{\"ts\":\"2023-06-14T00:00:03Z\",\"fixed\":9}",
    };
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    struct watch w;
    char cols[512];
    if (run(p, texts, 4, &mem, &out, &w) == 0) {
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                     "l:array<long>,m:array<double>,st:array<string>,objs:json,nest:json,"
                     "e:array<string>,fixed:array<long>");
        CHECK_CELL(p, &out, "l", 0, "array:[3,1,3]");
        CHECK_CELL(p, &out, "m", 0, "array:[1.0,2.5]");
        CHECK_CELL(p, &out, "st", 0, "array:[\"b\",null,\"a\"]");
        CHECK_CELL(p, &out, "e", 0, "array:[]");
        CHECK_CELL(p, &out, "l", 1, "array:[]");
        CHECK_CELL(p, &out, "m", 1, "NULL(array)");
        CHECK_CELL(p, &out, "l", 2, "array:[7]");
        CHECK_CELL(p, &out, "fixed", 0, "array:[5,6,null]");
        CHECK_CELL(p, &out, "fixed", 1, "array:[1,null,2]");
        CHECK_CELL(p, &out, "fixed", 2, "NULL(array)");
        CHECK_CELL(p, &out, "fixed", 3, "array:[9]");
        CHECK_EQ_INT(w.n, 4);
        if (w.n == 4) {
            CHECK_EQ_INT(w.rows[0].outcome, PIPE_PROCESSED);
            CHECK_EQ_INT(w.rows[1].outcome, PIPE_PROCESSED_WITH_WARNINGS);
            CHECK_EQ_STR(w.rows[1].message, "column 'fixed' is ARRAY<LONG>; element 1, 'x', is "
                                            "not a long, stored as a NULL element");
            CHECK_EQ_INT(w.rows[2].outcome, PIPE_PROCESSED_WITH_WARNINGS);
            CHECK_EQ_STR(w.rows[2].message,
                         "column 'fixed' is ARRAY<LONG>: an element is a nested array or an "
                         "object (at most 65536 elements and 16777216 bytes); stored NULL");
            CHECK_MSG(w.rows[3].outcome == PIPE_PROCESSED, "%s", w.rows[3].message);
        }
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

/* arrayIngestMode "mvd": discovered arrays of strings (strings with numbers,
 * only empty arrays) become multi-value string columns (type ARRAY without an
 * element type, values sorted), arrays of numbers stay typed ARRAY columns,
 * and a new column fed by a string field as it is takes its arrays as
 * values; "array" (the default) keeps ARRAY<STRING> and the array's text. A
 * table's existing columns keep their types either way. */
static void test_array_ingest_mode(void)
{
    const char *texts[] = {
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"st\":[\"b\",null,\"a\"],\"mix\":[\"x\",1],"
        "\"l\":[3,1],\"e\":[],\"tags\":[\"q\",\"p\"],\"fixed\":[\"b\",\"a\"]}",
        "{\"ts\":\"2023-06-14T00:00:01Z\",\"st\":\"z\",\"tags\":\"one\",\"e\":[\"k\"]}",
    };
    for (int mvd = 0; mvd <= 2; mvd++) {
        struct spec s = {
            .input = "ts:string,tags:string",
            .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"tags", "\"tags\""}},
            .discovery = true,
            .array_mode = mvd == 2   ? "mvd"
                          : mvd == 1 ? "array"
                                     : NULL,
        };
        struct pipeline_table_col tc[] = {{"fixed", SQL_ARRAY, false, "ARRAY<STRING>"}};
        uint8_t elem[] = {SQL_STRING};
        struct pipeline_table t = {.cols = tc, .ncols = 1, .elem = elem};
        struct pipeline *p = make(&s, &t);
        if (!p)
            continue;
        struct arena mem;
        arena_init(&mem, 64 * 1024, 0);
        struct pipeline_out out;
        struct watch w;
        char cols[512];
        if (run(p, texts, 2, &mem, &out, &w) == 0) {
            CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                         mvd == 2 ? "tags:array,st:array,mix:array,l:array<long>,e:array,"
                                    "fixed:array<string>"
                                  : "tags:string,st:array<string>,mix:array<string>,l:array<long>,"
                                    "e:array<string>,fixed:array<string>");
            for (size_t i = 0; i < pipeline_ncolumns(p); i++) {
                const struct pipeline_column *c = pipeline_column(p, i);
                bool want = mvd == 2 && c->type == SQL_ARRAY && !c->elem;
                CHECK_MSG(c->multi_value == want, "mode %d: column %s multi_value %d", mvd,
                          c->name, c->multi_value);
            }
            if (mvd == 2) {
                CHECK_CELL(p, &out, "tags", 0, "array:[\"p\",\"q\"]");
                CHECK_CELL(p, &out, "tags", 1, "string:one"); /* one value, as storage takes it */
                CHECK_CELL(p, &out, "st", 0, "array:[null,\"a\",\"b\"]");
                CHECK_CELL(p, &out, "st", 1, "array:[\"z\"]");
                CHECK_CELL(p, &out, "mix", 0, "array:[\"1\",\"x\"]");
                CHECK_CELL(p, &out, "e", 0, "array:[]"); /* no values */
                CHECK_CELL(p, &out, "e", 1, "array:[\"k\"]");
            } else {
                CHECK_CELL(p, &out, "tags", 0, "string:[\"q\",\"p\"]");
                CHECK_CELL(p, &out, "st", 0, "array:[\"b\",null,\"a\"]");
                CHECK_CELL(p, &out, "mix", 0, "array:[\"x\",\"1\"]");
                CHECK_CELL(p, &out, "e", 0, "array:[]");
            }
            CHECK_CELL(p, &out, "l", 0, "array:[3,1]");
            CHECK_CELL(p, &out, "fixed", 0, "array:[\"b\",\"a\"]");
        }
        arena_destroy(&mem);
        pipeline_free(p);
    }
}

static void test_discovery(void)
{
    struct spec s = {
        .input = "ts:string,n:long",
        .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"total", "SUM(n)", "agg"}},
        .discovery = true,
        .exclusions = "secret,col2",
    };
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    const char *texts[] = {
        ("{\"ts\":\"2023-06-14T00:00:00Z\",\"n\":1,\"page\":\"a\",\"secret\":\"s\","
         "\"tags\":[\"x\",\"y\"],\"obj\":{\"k\":1},\"ratio\":1.5}"),
        "{\"ts\":\"2023-06-14T00:00:01Z\",\"page\":\"b\",\"extra\":5}",
        "{\"ts\":\"2023-06-14T00:00:02Z\",\"n\":3,\"ratio\":2}",
    };
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    char cols[512];
    if (run(p, texts, 3, &mem, &out, NULL) == 0) {
        /* not ts (input of __time), not n (input of an aggregation), not secret (excluded) */
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                     "total:long(m),page:string,tags:array<string>,obj:json,ratio:double,"
                     "extra:long");
        CHECK_EQ_INT(out.ncols, 6);
        CHECK_EQ_INT(out.nrows, 3);
        CHECK_CELL(p, &out, "page", 0, "string:a");
        CHECK_CELL(p, &out, "tags", 0, "array:[\"x\",\"y\"]");
        CHECK_CELL(p, &out, "obj", 0, "json:{\"k\":1}");
        CHECK_CELL(p, &out, "ratio", 0, "double:1.5");
        /* a column found in row 1 is NULL in row 0 of the same batch */
        CHECK_CELL(p, &out, "extra", 0, "NULL(long)");
        CHECK_CELL(p, &out, "extra", 1, "long:5");
        CHECK_CELL(p, &out, "extra", 2, "NULL(long)");
        CHECK_CELL(p, &out, "page", 2, "NULL(string)");
        CHECK_CELL(p, &out, "ratio", 2, "double:2.0");
        CHECK_CELL(p, &out, "total", 2, "long:3");
    }
    /* the input schema: declared fields, then discovered ones in order of appearance */
    struct sql_field f[16];
    size_t nf = pipeline_input_schema(p, f, 16);
    CHECK_EQ_INT(nf, 7); /* ts, n, page, tags, obj, ratio, extra: not secret */
    if (nf >= 3) {
        CHECK(f[0].name_len == 2 && memcmp(f[0].name, "ts", 2) == 0);
        CHECK(f[2].name_len == 4 && memcmp(f[2].name, "page", 4) == 0);
    }
    /* a later batch widens 'extra' to DOUBLE: a column discovery made widens
     * (test_widening has the rules), and the value is stored whole */
    const char *t2[] = {"{\"ts\":\"2023-06-14T00:00:03Z\",\"extra\":2.75,\"more\":true}"};
    arena_reset(&mem);
    if (run(p, t2, 1, &mem, &out, NULL) == 0) {
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                     "total:long(m),page:string,tags:array<string>,obj:json,ratio:double,"
                     "extra:double,more:long");
        CHECK_EQ_INT(out.ncols, 7);
        CHECK_CELL(p, &out, "extra", 0, "double:2.75");
        CHECK_CELL(p, &out, "more", 0, "long:1");
        static struct pipeline_rejection rej[4];
        size_t nr = job_rejections(p, rej, 4);
        /* the widening, and no row warning: nothing was lost */
        CHECK_EQ_INT(nr, 1);
        CHECK_EQ_INT(rej[0].reason, PIPE_R_SCHEMA);
        CHECK_EQ_STR(rej[0].column, "extra");
    }
    arena_destroy(&mem);
    pipeline_free(p);

    /* a record that fails after adding a field: the column still comes with the next row */
    struct spec s2 = {
        .input = "ts:string", .maps = {{"__time", "TIME_PARSE(\"ts\")"}}, .discovery = true};
    p = make(&s2, NULL);
    if (!p)
        return;
    const char *t3[] = {"{\"ts\":\"2023-06-14T00:00:00Z\",\"early\":1,\"x\": }",
                        "{\"ts\":\"2023-06-14T00:00:00Z\",\"early\":2}"};
    arena_init(&mem, 64 * 1024, 0);
    if (run(p, t3, 2, &mem, &out, NULL) == 0) {
        CHECK_EQ_INT(out.nrows, 1);
        CHECK_CELL(p, &out, "early", 0, "long:2");
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 5b. type widening under schema discovery ------------------------------------------ */

/* One batch of nd-json records (offsets 0..n-1) through p; the outcomes in *w. */
static bool run_batch(struct pipeline *p, const char *const *texts, size_t n, struct arena *mem,
                      struct pipeline_out *out, struct watch *w)
{
    arena_reset(mem);
    return run(p, texts, n, mem, out, w) == 0;
}

static void test_widening(void)
{
    struct spec s = {
        .input = "ts:string", .maps = {{"__time", "TIME_PARSE(\"ts\")"}}, .discovery = true};
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    static struct watch w;
    static struct pipeline_rejection rej[8];
    char cols[256];

    /* 1. a new table: LONG, then 2.5 (DOUBLE), then "abc" (STRING), each
     * value whole; the widenings name the column, both types and the offset */
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    const char *b1[] = {"{\"ts\":\"2023-06-14T00:00:00Z\",\"x\":9007199254740993}",
                        "{\"ts\":\"2023-06-14T00:00:01Z\",\"x\":2.5}",
                        "{\"ts\":\"2023-06-14T00:00:02Z\",\"x\":7}"};
    if (run_batch(p, b1, 3, &mem, &out, &w)) {
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "x:double");
        /* rows before the widening keep their exact value (storage converts it) */
        CHECK_CELL(p, &out, "x", 0, "long:9007199254740993");
        CHECK_CELL(p, &out, "x", 1, "double:2.5");
        CHECK_CELL(p, &out, "x", 2, "double:7.0");
        for (int i = 0; i < 3; i++)
            CHECK_EQ_INT(w.rows[i].outcome, PIPE_PROCESSED);
        CHECK(pipeline_column(p, 0)->widened && pipeline_column(p, 0)->discovered);
        CHECK_EQ_INT(pipeline_column(p, 0)->widened_from, SQL_LONG);
        CHECK_EQ_INT(pipeline_column(p, 0)->widen_partition, 0);
        CHECK_EQ_INT(pipeline_column(p, 0)->widen_offset, 1);
        size_t nr = job_rejections(p, rej, 8);
        CHECK_EQ_INT(nr, 1);
        CHECK_EQ_INT(rej[0].outcome, PIPE_PROCESSED_WITH_WARNINGS);
        CHECK_EQ_INT(rej[0].reason, PIPE_R_SCHEMA);
        CHECK_EQ_STR(rej[0].column, "x");
        CHECK_EQ_INT(rej[0].from_type, SQL_LONG);
        CHECK_EQ_INT(rej[0].to_type, SQL_DOUBLE);
        CHECK_EQ_INT(rej[0].partition, 0);
        CHECK_EQ_INT(rej[0].offset, 1);
        CHECK_EQ_STR(rej[0].message,
                     "column 'x' widened from long to double: schema discovery found a value "
                     "that long does not hold; earlier rows read as double");
    }
    pipeline_column(p, 0)->widened = false; /* the runner applied it */
    const char *b2[] = {"{\"ts\":\"2023-06-14T00:00:03Z\",\"x\":1.5}",
                        "{\"ts\":\"2023-06-14T00:00:04Z\",\"x\":\"abc\"}",
                        "{\"ts\":\"2023-06-14T00:00:05Z\",\"x\":4}"};
    if (run_batch(p, b2, 3, &mem, &out, &w)) {
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "x:string");
        CHECK_CELL(p, &out, "x", 0, "double:1.5");
        CHECK_CELL(p, &out, "x", 1, "string:abc");
        CHECK_CELL(p, &out, "x", 2, "string:4");
        for (int i = 0; i < 3; i++)
            CHECK_EQ_INT(w.rows[i].outcome, PIPE_PROCESSED);
        size_t nr = job_rejections(p, rej, 8);
        CHECK_EQ_INT(nr, 2);
        CHECK_EQ_INT(rej[1].from_type, SQL_DOUBLE);
        CHECK_EQ_INT(rej[1].to_type, SQL_STRING);
        CHECK_EQ_INT(rej[1].offset, 1);
        CHECK(pipeline_column(p, 0)->widened);
    }
    pipeline_free(p);

    /* 2. an object into a LONG column: STRING, the object as its JSON text */
    p = make(&s, NULL);
    const char *b3[] = {"{\"ts\":\"2023-06-14T00:00:00Z\",\"o\":1}",
                        "{\"ts\":\"2023-06-14T00:00:01Z\",\"o\":{\"k\":[1,2]}}"};
    if (p && run_batch(p, b3, 2, &mem, &out, &w)) {
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "o:string");
        CHECK_CELL(p, &out, "o", 1, "string:{\"k\":[1,2]}");
        CHECK_EQ_INT(w.rows[1].outcome, PIPE_PROCESSED);
    }
    pipeline_free(p);

    /* 3. the table already has x as a discovered LONG: a new job whose first
     * value is 2.5 widens it on sight */
    struct pipeline_table_col tc[] = {{"x", SQL_LONG, false, "long"}};
    bool disc[] = {true}, decl[] = {false};
    struct pipeline_table flex = {.cols = tc, .ncols = 1, .discovered = disc};
    p = make(&s, &flex);
    const char *b4[] = {"{\"ts\":\"2023-06-14T00:00:00Z\",\"x\":2.5}",
                        "{\"ts\":\"2023-06-14T00:00:01Z\",\"x\":3}"};
    if (p && run_batch(p, b4, 2, &mem, &out, &w)) {
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "x:double");
        CHECK_CELL(p, &out, "x", 0, "double:2.5");
        CHECK_CELL(p, &out, "x", 1, "double:3.0");
        CHECK_EQ_INT(w.rows[0].outcome, PIPE_PROCESSED);
        CHECK(pipeline_column(p, 0)->widened);
        size_t nr = job_rejections(p, rej, 8);
        CHECK(nr == 1 && rej[0].offset == 0 && rej[0].to_type == SQL_DOUBLE);
    }
    pipeline_free(p);

    /* 4. a column the user declared (flexible table), and a strict table:
     * never widen; the rows say what they lost, naming column and type */
    struct pipeline_table declared = {.cols = tc, .ncols = 1, .discovered = decl};
    struct pipeline_table strict = {.strict = true, .cols = tc, .ncols = 1, .discovered = disc};
    struct pipeline_table *never[] = {&declared, &strict};
    for (int k = 0; k < 2; k++) {
        p = make(&s, never[k]);
        const char *b5[] = {"{\"ts\":\"2023-06-14T00:00:00Z\",\"x\":1}",
                            "{\"ts\":\"2023-06-14T00:00:01Z\",\"x\":2.5}",
                            "{\"ts\":\"2023-06-14T00:00:02Z\",\"x\":\"abc\"}"};
        if (!p || !run_batch(p, b5, 3, &mem, &out, &w)) {
            pipeline_free(p);
            continue;
        }
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "x:long");
        CHECK(!pipeline_column(p, 0)->widened);
        CHECK_CELL(p, &out, "x", 1, "long:2");
        CHECK_CELL(p, &out, "x", 2, "NULL(long)");
        CHECK_EQ_INT(w.rows[0].outcome, PIPE_PROCESSED);
        CHECK_EQ_INT(w.rows[1].outcome, PIPE_PROCESSED_WITH_WARNINGS);
        CHECK_EQ_INT(w.rows[1].reason, PIPE_R_COERCE);
        CHECK_EQ_STR(w.rows[1].message, "column 'x' is BIGINT; the value '2.5' is not a whole "
                                        "number, stored 2 (declare the column DOUBLE to keep "
                                        "the fraction)");
        CHECK_EQ_INT(w.rows[2].outcome, PIPE_PROCESSED_WITH_WARNINGS);
        CHECK_EQ_STR(w.rows[2].message,
                     "column 'x' is BIGINT; the value 'abc' cannot be converted, stored NULL");
        size_t nr = job_rejections(p, rej, 8);
        int notes = 0;
        for (size_t i = 0; i < nr; i++) {
            CHECK(rej[i].column[0] == '\0'); /* no widening recorded */
            notes += rej[i].reason == PIPE_R_SCHEMA;
        }
        CHECK_EQ_INT(notes, 2); /* the field's own widenings are noted */
        pipeline_free(p);
    }
    arena_destroy(&mem);
}

/* ---- 6. strict tables: coercion into declared column types ------------------------------ */

struct coerce_case {
    const char *record;
    const char *want_n, *want_s, *want_d;
    const char *message; /* the warning, or NULL */
};

static const struct coerce_case coerce_cases[] = {
    {"{\"a\":\"42\",\"b\":7,\"c\":\"2.5\"}", "long:42", "string:7", "double:2.5", NULL},
    {"{\"a\":\"abc\",\"b\":7,\"c\":\"1\"}", "NULL(long)", "string:7", "double:1.0",
     "column 'n' is BIGINT; the value 'abc' cannot be converted, stored NULL"},
    {"{\"a\":\" 12 \",\"b\":-1,\"c\":\"x\"}", "long:12", "string:-1", "NULL(double)",
     "column 'd' is DOUBLE; the value 'x' cannot be converted, stored NULL"},
    {"{\"a\":null,\"b\":null,\"c\":null}", "NULL(long)", "NULL(string)", "NULL(double)", NULL},
    /* a fraction into BIGINT: truncated as Druid stores it, with a warning */
    {"{\"a\":\"2.5\",\"b\":1,\"c\":\"1\"}", "long:2", "string:1", "double:1.0",
     "column 'n' is BIGINT; the value '2.5' is not a whole number, stored 2 (declare the "
     "column DOUBLE to keep the fraction)"},
    {"{\"a\":\"-7.0\",\"b\":1,\"c\":\"1\"}", "long:-7", "string:1", "double:1.0", NULL},
    {"{\"a\":\"9007199254740993\",\"b\":1,\"c\":\"1\"}", "long:9007199254740993", "string:1",
     "double:1.0", NULL},
};

static void test_coercion(void)
{
    struct spec s = {.input = "ts:string,a:string,b:long,c:string",
                     .maps = {{"__time", "TIME_PARSE(\"ts\")"},
                              {"n", "a"},
                              {"s", "b"},
                              {"d", "c"},
                              {"fresh", "b + 1"}}};
    struct pipeline_table_col tc[] = {{"n", SQL_LONG, false, "long"},
                                      {"s", SQL_STRING, false, "string"},
                                      {"d", SQL_DOUBLE, false, "double"},
                                      {"fresh", SQL_DOUBLE, false, "double"}};
    struct pipeline_table strict = {.strict = true, .cols = tc, .ncols = 4};
    struct pipeline *p = make(&s, &strict);
    if (!p)
        return;
    char cols[256];
    CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "n:long,s:string,d:double,fresh:double");
    size_t n = LS_ARRAY_LEN(coerce_cases);
    char texts_buf[8][256];
    const char *texts[8];
    for (size_t i = 0; i < n; i++) {
        /* every record gets the same ts */
        snprintf(texts_buf[i], sizeof texts_buf[i], "{\"ts\":\"2023-06-14T00:00:00Z\",%s",
                 coerce_cases[i].record + 1);
        texts[i] = texts_buf[i];
    }
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, n, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, n);
        for (size_t i = 0; i < n && i < out.nrows; i++) {
            const struct coerce_case *c = &coerce_cases[i];
            CHECK_CELL(p, &out, "n", (uint32_t)i, c->want_n);
            CHECK_CELL(p, &out, "s", (uint32_t)i, c->want_s);
            CHECK_CELL(p, &out, "d", (uint32_t)i, c->want_d);
            CHECK_EQ_INT(w.rows[i].outcome,
                         c->message ? PIPE_PROCESSED_WITH_WARNINGS : PIPE_PROCESSED);
            CHECK_EQ_INT(w.rows[i].reason, c->message ? PIPE_R_COERCE : PIPE_R_NONE);
            CHECK_EQ_STR(w.rows[i].message, c->message ? c->message : "");
        }
        CHECK_CELL(p, &out, "fresh", 0, "double:8.0");
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 7. records holding several rows, CSV and kafka ----------------------------------- */

static void test_multiline_ndjson(void)
{
    struct spec s = {.input = "ts:string,k:long",
                     .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"k", "k"}}};
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    /* a push body: lines, CRLF, a blank line, a bad line that swallows nothing */
    const char *texts[] = {
        ("{\"ts\":\"2023-06-14\",\"k\":1}\r\n\r\n{\"ts\":\"2023-06-14\",\"k\":2}\n{bad\n"
         "{\"ts\":\"2023-06-14\",\"k\":3}"),
        "{\"ts\":\"2023-06-14\",\"k\":4}\r\n",
        "  \n",
        "\xEF\xBB\xBF{\"ts\":\"2023-06-14\",\"k\":5}",
        /* a pretty-printed object is lines, each its own (bad) record */
        "{\n\"ts\":\"2023-06-14\",\n\"k\":6}",
    };
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, LS_ARRAY_LEN(texts), &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 5);
        for (uint32_t r = 0; r < 5 && r < out.nrows; r++) {
            char want[16];
            snprintf(want, sizeof want, "long:%u", r + 1);
            CHECK_CELL(p, &out, "k", r, want);
        }
        CHECK_EQ_INT(w.n, 9);
        CHECK_EQ_INT(w.rows[2].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[2].offset, 0);
        CHECK_EQ_INT(w.rows[4].offset, 1);
        CHECK_EQ_INT(w.rows[5].offset, 3);
        CHECK_EQ_INT(w.rows[6].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[6].offset, 4);
    }
    static struct pipeline_rejection rej[8];
    size_t nr = job_rejections(p, rej, 8);
    CHECK_EQ_INT(nr, 4);
    CHECK_EQ_STR(rej[0].raw, "{bad");
    CHECK_EQ_STR(rej[1].raw, "{");
    CHECK_EQ_STR(rej[2].raw, "\"ts\":\"2023-06-14\",");
    arena_destroy(&mem);
    pipeline_free(p);
}

static void test_csv(void)
{
    struct spec s = {
        .format = "{\"format\": \"csv\", \"findColumnsFromHeader\": true}",
        .input = "ts:string,city:string,n:long",
        .maps = {{"__time", "TIME_PARSE(ts)"}, {"city", "UPPER(city)"}, {"n", "n * 10"}},
    };
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    const char *texts[] = {
        "n,ts,city\n1,2023-06-14T00:00:00Z,delft\r\n2,2023-06-14T00:00:01Z,\"new\nyork\"\n",
        "n,ts,city\n",
        "n,ts,city\nx,2023-06-14T00:00:02Z,rome\n3,2023-06-14T00:00:03Z\n",
        "n,ts,city\n4,2023-06-14T00:00:04Z,\"bad\"x\n",
    };
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, LS_ARRAY_LEN(texts), &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 4);
        CHECK_CELL(p, &out, "city", 0, "string:DELFT");
        CHECK_CELL(p, &out, "n", 0, "long:10");
        CHECK_CELL(p, &out, "city", 1, "string:NEW\nYORK");
        CHECK_EQ_INT(out.time[1], 1686700801000LL);
        CHECK_CELL(p, &out, "n", 2, "NULL(long)");
        CHECK_CELL(p, &out, "city", 3, "NULL(string)");
        CHECK_CELL(p, &out, "n", 3, "long:30");
        CHECK_EQ_INT(w.n, 6);
        CHECK_EQ_INT(w.rows[2].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_STR(w.rows[2].message, "the record holds no row (only header or skipped rows)");
        CHECK_EQ_INT(w.rows[3].outcome, PIPE_PROCESSED_WITH_WARNINGS);
        CHECK_EQ_INT(w.rows[3].reason, PIPE_R_PARSE);
        CHECK_EQ_INT(w.rows[4].outcome, PIPE_PROCESSED_WITH_WARNINGS);
        CHECK(strstr(w.rows[4].message, "missing") != NULL);
        CHECK_EQ_INT(w.rows[5].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[5].offset, 3);
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

static void test_kafka(void)
{
    struct spec s = {
        .format = "{\"format\": \"kafka\", \"valueFormat\": {\"format\": \"nd-json\"}}",
        .input = "page:string,kafka.header.env:string",
        .maps = {{"__time", "MILLIS_TO_TIMESTAMP(\"kafka.timestamp\")"},
                 {"page", "page"},
                 {"key", "\"kafka.key\""},
                 {"topic", "\"kafka.topic\""},
                 {"env", "\"kafka.header.env\""}},
    };
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    struct record_header h = {"env", 3, "prod", 4};
    const char *vals[] = {
        "{\"page\":\"a\"}",
        "{\"page\":\"b\"}{\"page\":\"c\"}",
        "{\n  \"page\": \"pretty\"\n}\n",
        "{\"page\":",
    };
    struct record recs[4];
    for (int i = 0; i < 4; i++)
        recs[i] = (struct record){.data = vals[i],
                                  .len = strlen(vals[i]),
                                  .partition = 2,
                                  .offset = 100 + i,
                                  .key = "user-1",
                                  .key_len = 6,
                                  .headers = &h,
                                  .nheaders = i == 0,
                                  .has_timestamp = true,
                                  .timestamp_ms = NOW + i,
                                  .topic = "wiki",
                                  .topic_len = 4};
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    struct pipeline_out out;
    struct lerr err;
    lerr_init(&err);
    static struct watch w;
    w.p = p;
    if (job_process(p, recs, 4, &mem, &out, observe, &w, &err) == 0) {
        CHECK_EQ_INT(out.nrows, 4);
        CHECK_EQ_INT(out.time[0], NOW);
        CHECK_CELL(p, &out, "page", 0, "string:a");
        CHECK_CELL(p, &out, "key", 0, "string:user-1");
        CHECK_CELL(p, &out, "topic", 0, "string:wiki");
        CHECK_CELL(p, &out, "env", 0, "string:prod");
        CHECK_CELL(p, &out, "env", 1, "NULL(string)");
        CHECK_CELL(p, &out, "page", 1, "string:b");
        CHECK_CELL(p, &out, "page", 2, "string:c");
        CHECK_EQ_INT(out.time[2], NOW + 1);
        CHECK_CELL(p, &out, "page", 3, "string:pretty");
        CHECK_EQ_INT(w.n, 5);
        CHECK_EQ_INT(w.rows[4].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[4].offset, 103);
    } else {
        CHECK_MSG(0, "kafka batch: %s", err.msg);
    }
    static struct pipeline_rejection rej[2];
    CHECK_EQ_INT(job_rejections(p, rej, 2), 1);
    CHECK_EQ_INT(rej[0].partition, 2);
    CHECK_EQ_INT(rej[0].offset, 103);
    CHECK_EQ_STR(rej[0].raw, "{\"page\":");
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 8. memory: a full batch arena stops the batch and counts nothing ----------------- */

static void test_nomem(void)
{
    struct spec s = {.input = "ts:string,page:string",
                     .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"page", "UPPER(page)"}}};
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    char rows[64][96];
    const char *texts[64];
    for (int i = 0; i < 64; i++) {
        snprintf(rows[i], sizeof rows[i], "{\"ts\":\"2023-06-14\",\"page\":\"page %d\"}", i);
        texts[i] = rows[i];
    }
    struct record recs[64];
    for (int i = 0; i < 64; i++)
        recs[i] = (struct record){.data = texts[i], .len = strlen(texts[i])};
    struct arena mem;
    arena_init(&mem, 1024, 2048);
    struct pipeline_out out;
    struct lerr err;
    lerr_init(&err);
    int rc = job_process(p, recs, 64, &mem, &out, NULL, NULL, &err);
    CHECK_EQ_INT(rc, LERR_NOMEM);
    struct pipeline_counters c;
    job_counters(p, &c);
    CHECK_EQ_INT(c.processed, 0);
    arena_destroy(&mem);
    /* the same batch with room goes through */
    arena_init(&mem, 1 << 16, 0);
    lerr_init(&err);
    rc = job_process(p, recs, 64, &mem, &out, NULL, NULL, &err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(out.nrows, 64);
    CHECK_CELL(p, &out, "page", 63, "string:PAGE 63");
    job_counters(p, &c);
    CHECK_EQ_INT(c.processed, 64);
    arena_destroy(&mem);
    pipeline_free(p);
}

/* ---- 8b. one bad record never stops a batch ----------------------------------------- */

/* {"ts":...,"f<first>":0,...} with n fields, in a malloc'd string. */
static char *wide_record(const char *prefix, int first, int n)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"ts\":\"2023-06-14T00:00:00Z\"");
    for (int i = 0; i < n; i++)
        buf_printf(&b, ",\"%s%d\":%d", prefix, first + i, i);
    buf_putc(&b, '}');
    char *s = strdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

static size_t count_outcome(const struct watch *w, int outcome, int reason)
{
    size_t n = 0;
    for (size_t i = 0; i < w->n; i++)
        n += w->rows[i].outcome == outcome && w->rows[i].reason == reason;
    return n;
}

/* the column limit: a record whose new fields would pass it is skipped (schema) */
static void test_column_limit(void)
{
    /* a table that already has 4090 columns */
    enum { HAVE = 4090 };
    static struct pipeline_table_col tc[HAVE];
    static char names[HAVE][16];
    for (int i = 0; i < HAVE; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        tc[i] = (struct pipeline_table_col){names[i], SQL_LONG, false, "long"};
    }
    struct pipeline_table t = {.cols = tc, .ncols = HAVE};
    struct spec s = {
        .input = "ts:string", .maps = {{"__time", "TIME_PARSE(\"ts\")"}}, .discovery = true};
    struct pipeline *p = make(&s, &t);
    if (!p)
        return;
    char *bomb = wide_record("f", 0, 5000);
    char *three = wide_record("f", 10, 3); /* three of the bomb's fields */
    char *old = wide_record("c", 7, 2);    /* columns the table has */
    char *six = wide_record("g", 0, 6);
    char *two = wide_record("g", 0, 2);
    const char *texts[] = {
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"c1\":1}", bomb, three, old, six, two,
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"f11\":7}"};
    struct arena mem;
    arena_init(&mem, 1 << 20, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, 7, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(w.n, 7);
        CHECK_EQ_INT(w.rows[1].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[1].reason, PIPE_R_SCHEMA);
        CHECK_EQ_STR(w.rows[1].message,
                     "the record would add 5000 columns (such as 'f0') to table 't', which "
                     "would then have 9090; a table has at most 4095 columns besides __time, "
                     "so the record is skipped (list unneeded fields in dimensionExclusions)");
        /* three of its fields fit later: they become columns (4093) */
        CHECK_EQ_INT(w.rows[2].outcome, PIPE_PROCESSED);
        CHECK_EQ_INT(w.rows[3].outcome, PIPE_PROCESSED);
        /* six new ones do not (4099), two do (4095, the limit) */
        CHECK_EQ_INT(w.rows[4].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[4].reason, PIPE_R_SCHEMA);
        CHECK_MSG(strstr(w.rows[4].message, "would then have 4099") != NULL, "%s",
                  w.rows[4].message);
        CHECK_EQ_INT(w.rows[5].outcome, PIPE_PROCESSED);
        CHECK_EQ_INT(w.rows[6].outcome, PIPE_PROCESSED);
        CHECK_EQ_INT(out.nrows, 5);
        char cols[256];
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols),
                     "c1:long,f10:long,f11:long,f12:long,c7:long,c8:long,g0:long,g1:long");
        CHECK_CELL(p, &out, "f11", 4, "long:7");
        CHECK_CELL(p, &out, "g1", 3, "long:1");
        CHECK_CELL(p, &out, "c7", 2, "long:0");
    }
    struct pipeline_counters c;
    job_counters(p, &c);
    CHECK_EQ_INT(c.skipped_by_error, 2);
    CHECK_EQ_INT(c.by_reason[PIPE_R_SCHEMA], 2);
    arena_destroy(&mem);
    pipeline_free(p);
    free(bomb);
    free(three);
    free(old);
    free(six);
    free(two);

    /* mappings alone past the limit: refused when the job is made */
    struct spec s2 = {.input = "ts:string,a:long",
                      // clang-format off
                      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"x1", "a"}, {"x2", "a"},
                               {"x3", "a"}, {"x4", "a"}, {"x5", "a"}, {"c3", "a"},
                               {"x6", "a"}}};
    // clang-format on
    char *text = spec_json(&s2);
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(compile_text(text, &t, NULL, &err), LERR_INVALID);
    CHECK_EQ_STR(err.target, "mappings");
    CHECK_MSG(strstr(err.msg, "maps 6 columns that table 't' does not have, and it has 4090") !=
                  NULL,
              "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "at most 4095 columns") != NULL, "%s", err.msg);
    free(text);
}

/* discovered fields that cannot be columns: a warning, and the row is kept */
static void test_bad_field_names(void)
{
    struct pipeline_table_col tc[] = {{"total", SQL_LONG, true, "longSum"}};
    struct pipeline_table t = {.aggregate = true, .cols = tc, .ncols = 1};
    struct spec s = {.input = "ts:string,n:long",
                     .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"total", "SUM(n)", "agg"}},
                     .discovery = true};
    struct pipeline *p = make(&s, &t);
    if (!p)
        return;
    const char *texts[] = {
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"a/b\":1,\"ok\":1}",
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"__x\":2}",
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"__time\":3}",
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"c\\u0001\":4}",
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"a/b\":5,\"__x\":6}",
    };
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, 5, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 5);
        CHECK_EQ_INT(w.rows[0].outcome, PIPE_PROCESSED_WITH_WARNINGS);
        CHECK_EQ_INT(w.rows[0].reason, PIPE_R_SCHEMA);
        CHECK_EQ_STR(w.rows[0].message,
                     "field 'a/b' does not become a column (column names cannot hold '/' or "
                     "control characters); map it into a column of another name to keep it");
        CHECK_MSG(strstr(w.rows[1].message, "'__x'") && strstr(w.rows[1].message, "reserved"),
                  "%s", w.rows[1].message);
        CHECK_MSG(strstr(w.rows[2].message, "'__time'"), "%s", w.rows[2].message);
        CHECK_EQ_INT(w.rows[3].reason, PIPE_R_SCHEMA);
        /* warned once: later rows with the field are clean */
        CHECK_EQ_INT(w.rows[4].outcome, PIPE_PROCESSED);
        char cols[128];
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "total:long(m),ok:long");
    }
    arena_destroy(&mem);
    pipeline_free(p);

    /* a field named like a measure of the table that the job does not map */
    struct pipeline_table_col tc3[] = {{"hits", SQL_NULL, true, "count"}};
    struct pipeline_table t3 = {.aggregate = true, .cols = tc3, .ncols = 1};
    struct spec s3 = {
        .input = "ts:string", .maps = {{"__time", "TIME_PARSE(\"ts\")"}}, .discovery = true};
    p = make(&s3, &t3);
    if (!p)
        return;
    const char *t3x[] = {"{\"ts\":\"2023-06-14T00:00:00Z\",\"hits\":9,\"page\":\"a\"}"};
    arena_init(&mem, 1 << 16, 0);
    if (run(p, t3x, 1, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 1);
        CHECK_EQ_INT(w.rows[0].reason, PIPE_R_SCHEMA);
        CHECK_MSG(strstr(w.rows[0].message, "the table has a measure of that name") != NULL, "%s",
                  w.rows[0].message);
        char cols[128];
        CHECK_EQ_STR(columns_str(p, cols, sizeof cols), "page:string");
    }
    arena_destroy(&mem);
    pipeline_free(p);
}

/* a row that needs more than its share of the batch arena is skipped, and gives it back */
static void test_row_memory(void)
{
    struct spec s = {.input = "ts:string,s:string",
                     .maps = {{"__time", "TIME_PARSE(\"ts\")"},
                              {"big", "CONCAT(REPEAT(s, 160), REPEAT(s, 160), REPEAT(s, 160))"},
                              {"s", "LEFT(s, 4)"}}};
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    size_t hn = 100000;
    char *huge = malloc(hn + 64);
    int k = snprintf(huge, hn + 64, "{\"ts\":\"2023-06-14T00:00:00Z\",\"s\":\"");
    memset(huge + k, 'h', hn);
    strcpy(huge + k + hn, "\"}");
    const char *texts[] = {"{\"ts\":\"2023-06-14T00:00:00Z\",\"s\":\"ab\"}", huge,
                           "{\"ts\":\"2023-06-14T00:00:01Z\",\"s\":\"cd\"}"};
    struct arena mem;
    arena_init(&mem, 1 << 20, 0); /* no cap: a row may take PIPE_ROW_MEM_MAX */
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, 3, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 2);
        CHECK_EQ_INT(w.rows[1].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[1].reason, PIPE_R_MAPPING);
        CHECK_MSG(strstr(w.rows[1].message, "mapping of 'big' (CONCAT(REPEAT(s, 160), ") ==
                          w.rows[1].message &&
                      strstr(w.rows[1].message, "needs more memory than a row may use (32 MB)"),
                  "%s", w.rows[1].message);
        CHECK_CELL(p, &out, "s", 1, "string:cd");
        int bc = col_index(p, "big");
        CHECK(bc >= 0 && !out.values[bc][1].is_null && out.values[bc][1].v.s.n == 960);
        /* the skipped row's memory went back to the arena */
        CHECK_MSG(mem.total < (4u << 20), "the arena holds %zu bytes", mem.total);
    }
    arena_destroy(&mem);

    /* many such rows in a small arena: each is skipped, the batch completes */
    const char *many[64];
    for (int i = 0; i < 64; i++)
        many[i] = i % 2 ? huge : texts[0];
    arena_init(&mem, 1 << 20, 16u << 20); /* a row may take 2 MB of these 16 */
    struct spec s2 = {.input = "ts:string,s:string",
                      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"big", "REPEAT(s, 30)"}}};
    pipeline_free(p);
    p = make(&s2, NULL);
    if (p && run(p, many, 64, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 32);
        CHECK_EQ_INT(count_outcome(&w, PIPE_SKIPPED_BY_ERROR, PIPE_R_MAPPING), 32);
        CHECK_MSG(strstr(w.rows[1].message, "(2 MB)") != NULL, "%s", w.rows[1].message);
        CHECK_CELL(p, &out, "big", 31,
                   "string:abababababababababababababababababababababababab"
                   "abababababab");
    }
    arena_destroy(&mem);
    pipeline_free(p);

    /* memory that runs out while parsing: reason parse */
    size_t en = 300000;
    char *esc = malloc(2 * en + 64);
    k = snprintf(esc, 2 * en + 64, "{\"ts\":\"2023-06-14T00:00:00Z\",\"s\":\"");
    for (size_t i = 0; i < en; i++)
        memcpy(esc + k + 2 * i, "\\n", 2);
    strcpy(esc + k + 2 * en, "\"}");
    const char *t3[] = {esc, texts[0]};
    struct spec s3 = {.input = "ts:string,s:string",
                      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"s", "s"}}};
    p = make(&s3, NULL);
    arena_init(&mem, 1 << 16, 1u << 20); /* a row may take 128 KB */
    if (p && run(p, t3, 2, &mem, &out, &w) == 0) {
        CHECK_EQ_INT(out.nrows, 1);
        CHECK_EQ_INT(w.rows[0].outcome, PIPE_SKIPPED_BY_ERROR);
        CHECK_EQ_INT(w.rows[0].reason, PIPE_R_PARSE);
        CHECK_EQ_STR(w.rows[0].message, "the record needs more memory to parse than a row may "
                                        "use (131072 bytes); the record is skipped");
    }
    arena_destroy(&mem);
    pipeline_free(p);

    /* rows that each fit but together outgrow the arena: that is the batch's, LERR_NOMEM */
    struct spec s4 = {.input = "ts:string,s:string",
                      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"big", "REPEAT(s, 2000)"}}};
    p = make(&s4, NULL);
    const char *t4[40];
    for (int i = 0; i < 40; i++)
        t4[i] = texts[0];
    arena_init(&mem, 1 << 16, 64u << 10); /* 64 KB; a row's 4 KB fits its 8 KB share */
    if (p) {
        struct record recs[40];
        for (int i = 0; i < 40; i++)
            recs[i] = (struct record){.data = t4[i], .len = strlen(t4[i])};
        struct lerr err;
        lerr_init(&err);
        CHECK_EQ_INT(job_process(p, recs, 40, &mem, &out, NULL, NULL, &err), LERR_NOMEM);
        struct pipeline_counters c;
        job_counters(p, &c);
        CHECK_EQ_INT(c.skipped_by_error, 0);
    }
    arena_destroy(&mem);
    pipeline_free(p);
    free(huge);
    free(esc);
}

/* every kind of bad record in one batch: each is counted, the good ones are all kept */
static void test_bad_records(void)
{
    struct spec s = {.input = "ts:string,s:string",
                     .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"s", "UPPER(s)"}},
                     .discovery = true};
    struct pipeline *p = make(&s, NULL);
    if (!p)
        return;
    char deep[600];
    int k = snprintf(deep, sizeof deep, "{\"ts\":\"2023-06-14T00:00:00Z\",\"d\":");
    for (int i = 0; i < 200; i++)
        deep[k++] = '[';
    for (int i = 0; i < 200; i++)
        deep[k++] = ']';
    strcpy(deep + k, "}");
    char *bomb = wide_record("w", 0, 5000);
    const char *good = "{\"ts\":\"2023-06-14T00:00:00Z\",\"s\":\"x\"}";
    const char *texts[] = {
        good,
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"s\":\"\xff\xfe\"}", /* not UTF-8 */
        good,
        deep,                                          /* nesting past 128 */
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"s\":",     /* cut short */
        bomb,                                          /* 5000 new columns */
        "{\"ts\":\"2023-06-14T00:00:00Z\",\"a/b\":1}", /* not a column name */
        "[1, 2]",                                      /* not an object */
        "{\"ts\":\"yesterday\",\"s\":\"x\"}",          /* no __time */
        good,
    };
    struct arena mem;
    arena_init(&mem, 1 << 20, 0);
    struct pipeline_out out;
    static struct watch w;
    if (run(p, texts, LS_ARRAY_LEN(texts), &mem, &out, &w) == 0) {
        CHECK_EQ_INT(w.n, LS_ARRAY_LEN(texts));
        CHECK_EQ_INT(out.nrows, 4);
        int want[][2] = {{PIPE_PROCESSED, PIPE_R_NONE},
                         {PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE},
                         {PIPE_PROCESSED, PIPE_R_NONE},
                         {PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE},
                         {PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE},
                         {PIPE_SKIPPED_BY_ERROR, PIPE_R_SCHEMA},
                         {PIPE_PROCESSED_WITH_WARNINGS, PIPE_R_SCHEMA},
                         {PIPE_SKIPPED_BY_ERROR, PIPE_R_PARSE},
                         {PIPE_SKIPPED_BY_ERROR, PIPE_R_TIME},
                         {PIPE_PROCESSED, PIPE_R_NONE}};
        for (size_t i = 0; i < LS_ARRAY_LEN(want) && i < w.n; i++)
            CHECK_MSG(w.rows[i].outcome == want[i][0] && w.rows[i].reason == want[i][1],
                      "record %zu: %s/%s (%s), want %s/%s", i,
                      pipeline_outcome_name(w.rows[i].outcome),
                      pipeline_reason_name(w.rows[i].reason), w.rows[i].message,
                      pipeline_outcome_name(want[i][0]), pipeline_reason_name(want[i][1]));
        CHECK_CELL(p, &out, "s", 3, "string:X");
    }
    arena_destroy(&mem);
    pipeline_free(p);
    free(bomb);
}

/* ---- 9. pipeline_validate: errors name the field and the place ---------------------------- */

struct invalid_case {
    struct spec spec;
    const struct pipeline_table *table;
    const char *target;
    const char *has[3]; /* substrings of the message */
};

static const struct pipeline_table_col detail_cols[] = {{"page", SQL_STRING, false, "string"},
                                                        {"m", SQL_LONG, true, "longSum"}};
static const struct pipeline_table detail = {.cols = detail_cols, .ncols = 1};
static const struct pipeline_table aggregate = {
    .aggregate = true, .cols = detail_cols, .ncols = 2};

static const struct invalid_case invalid_cases[] = {
    {{.input = "ts:string,page:string",
      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"p", "UPPER(page"}}},
     NULL,
     "mappings[1].expression",
     {"mappings[1].expression: ", "line 1, column"}},
    {{.input = "ts:string,page:string",
      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"p", "LOWR(page)"}}},
     NULL,
     "mappings[1].expression",
     {"LOWR", "did you mean LOWER", "line 1, column 1"}},
    {{.input = "ts:string,page:string",
      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"p", "page"}},
      .filter = "page = 'a' AND\n  nope > 1"},
     NULL,
     "filterExpression",
     {"filterExpression: ", "nope", "line 2, column 3"}},
    {{.input = "ts:string", .maps = {{"__time", "\"ts\""}}},
     NULL,
     "mappings[0].expression",
     {"__time must be a TIMESTAMP", "VARCHAR", "TIME_PARSE"}},
    {{.input = "ts:string,page:string",
      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"c", "COUNT(*)", "agg"}}},
     &detail,
     "mappings[1].isAggregation",
     {"detail table", "aggregate table"}},
    {{.input = "ts:string,page:string", .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"m", "page"}}},
     &aggregate,
     "mappings[1].isAggregation",
     {"column 'm' is a measure", "must be an aggregation"}},
    {{.input = "ts:string,page:string",
      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"page", "COUNT(*)", "agg"}}},
     &aggregate,
     "mappings[1].isAggregation",
     {"column 'page' is a dimension", "must not be an aggregation"}},
    {{.input = "ts:string,page:string",
      .maps = {{"__time", "TIME_PARSE(\"ts\")"}, {"c", "SUM(page) + 1", "agg"}}},
     NULL,
     "mappings[1].expression",
     {"mappings[1].expression: "}},
    {{.input = "ts:string,page:string", .maps = {{"page", "page"}}},
     NULL,
     "mappings",
     {"__time mapping"}},
    {{.input = "ts:string", .maps = {{"__time", "TIME_PARSE(\"ts\")"}}, .late = "P1X"},
     NULL,
     "lateMessageRejectionPeriod",
     {"P1X"}},
    {{.format = "{\"format\": \"delimited\"}",
      .input = "ts:string",
      .maps = {{"__time", "TIME_PARSE(\"ts\")"}}},
     NULL,
     "formatSettings.delimiter",
     {"delimiter"}},
    {{.input = "ts:strin", .maps = {{"__time", "TIME_PARSE(\"ts\")"}}},
     NULL,
     "inputSchema",
     {"strin"}},
};

static void test_validate(void)
{
    for (size_t i = 0; i < LS_ARRAY_LEN(invalid_cases); i++) {
        const struct invalid_case *c = &invalid_cases[i];
        char *text = spec_json(&c->spec);
        struct lerr err;
        lerr_init(&err);
        int rc = compile_text(text, c->table, NULL, &err);
        CHECK_MSG(rc == LERR_INVALID, "case %zu: rc %d (%s)", i, rc, err.msg);
        CHECK_MSG(strstr(err.target, c->target) != NULL, "case %zu: target \"%s\", want \"%s\"", i,
                  err.target, c->target);
        for (int k = 0; k < 3 && c->has[k]; k++)
            CHECK_MSG(strstr(err.msg, c->has[k]) != NULL, "case %zu: message \"%s\" lacks \"%s\"",
                      i, err.msg, c->has[k]);
        free(text);
    }
    /* not JSON at all: the catalog's parser says so before any pipeline */
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(compile_text("{\"mappings\": [", NULL, NULL, &err), LERR_CORRUPT);
    CHECK(strstr(err.msg, "unreadable") != NULL);
    /* a spec without formatSettings or inputSchema */
    lerr_init(&err);
    CHECK_EQ_INT(compile_text("{\"mappings\": []}", NULL, NULL, &err), LERR_INVALID);
    CHECK_EQ_STR(err.target, "source");
    /* a valid spec validates */
    char *text = spec_json(&outcome_spec);
    lerr_init(&err);
    CHECK_EQ_INT(compile_text(text, NULL, NULL, &err), 0);
    free(text);
}

/* ---- 10. the table document ----------------------------------------------------------------- */

static void test_table_from_spec(void)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct pipeline_table t;
    struct table_spec ts;
    struct lerr err;
    lerr_init(&err);
    const char *doc =
        "{\"name\":\"t\",\"type\":\"aggregate\",\"schemaMode\":\"strict\",\"schema\":["
        "{\"name\":\"__time\",\"dataType\":\"timestamp\"},"
        "{\"name\":\"page\",\"dataType\":\"string\",\"columnType\":\"dimension\"},"
        "{\"name\":\"n\",\"dataType\":\"long\"},"
        "{\"name\":\"total\",\"dataType\":\"longSum\",\"columnType\":\"measure\"}]}";
    json_t *jdoc = json_loads(doc, 0, NULL);
    CHECK_EQ_INT(catalog_table_spec_parse(jdoc, "t", &mem, &ts, &err), 0);
    json_decref(jdoc);
    CHECK_EQ_INT(pipeline_table_from_spec(&ts, &mem, &t, &err), 0);
    CHECK(t.aggregate && t.strict);
    CHECK_EQ_INT(t.ncols, 3);
    if (t.ncols == 3) {
        CHECK_EQ_STR(t.cols[0].name, "page");
        CHECK_EQ_INT(t.cols[0].type, SQL_STRING);
        CHECK_EQ_INT(t.cols[1].type, SQL_LONG);
        CHECK(!t.cols[1].measure);
        CHECK(t.cols[2].measure);
        CHECK_EQ_STR(t.cols[2].measure_type, "longSum");
    }
    CHECK_EQ_INT(pipeline_table_from_spec(NULL, &mem, &t, &err), 0);
    CHECK(t.cols == NULL && !t.aggregate);
    arena_destroy(&mem);
}

static void test_names(void)
{
    CHECK_EQ_STR(pipeline_outcome_name(PIPE_PROCESSED), "processed");
    CHECK_EQ_STR(pipeline_outcome_name(PIPE_PROCESSED_WITH_WARNINGS), "processedWithWarnings");
    CHECK_EQ_STR(pipeline_outcome_name(PIPE_SKIPPED_BY_FILTER), "skippedByFilter");
    CHECK_EQ_STR(pipeline_outcome_name(PIPE_SKIPPED_BY_ERROR), "skippedByError");
    CHECK_EQ_STR(pipeline_outcome_name(9), "unknown");
    CHECK_EQ_STR(pipeline_reason_name(PIPE_R_COERCE), "coercion");
    CHECK_EQ_STR(pipeline_reason_name(PIPE_R__COUNT), "unknown");
}

int main(void)
{
    test_names();
    test_outcomes();
    test_ring();
    test_values();
    test_rollup();
    test_measures();
    test_discovery();
    test_discovery_arrays();
    test_widening();
    test_array_ingest_mode();
    test_coercion();
    test_multiline_ndjson();
    test_csv();
    test_kafka();
    test_nomem();
    test_column_limit();
    test_bad_field_names();
    test_row_memory();
    test_bad_records();
    test_validate();
    test_table_from_spec();
    return check_summary();
}
