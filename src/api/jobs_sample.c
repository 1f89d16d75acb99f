/*
 * jobs_sample.c — POST /jobs/sample: a job's spec run over sample data or a
 * connection's first records, touching no checkpoint (see below).
 */
#include <string.h>

#include "api/api_int.h"
#include "format/registry.h"
#include "ingest/ingest.h"
#include "source/pushreg.h"
#include "storage/storage.h"
#include "util/time.h"

/* ---- POST /jobs/sample: the user's dry run ---------------------------------------- */
/*
 * The spec is compiled and run as a job's would be (the same pipeline, the
 * same 400s), over sample.data or the connection's first records, touching
 * no checkpoint. Each row's output holds what the table would store for it:
 * measures are finalized from the row's state of the column's own measure
 * type, so they show what a real job ingests (before rows roll up), and the
 * schema gives measures their measure type ("longSum").
 */

#define SAMPLE_MAX_LIMIT 1000
#define SAMPLE_READ_MS 2000

/* A value as JSON for the preview (timestamps as ISO text, json columns parsed). */
static json_t *value_json(const struct sql_value *v)
{
    if (v->is_null)
        return json_null();
    switch (v->type) {
    case SQL_LONG:
    case SQL_BOOLEAN: return json_integer(v->v.l);
    case SQL_DOUBLE:
    case SQL_FLOAT: return json_real(v->v.d);
    case SQL_TIMESTAMP: {
        char ts[32];
        util_format_iso_ms(v->v.l, ts);
        return json_string(ts);
    }
    case SQL_STRING: {
        json_t *s = json_stringn(v->v.s.p, v->v.s.n);
        return s ? s : json_string("(not UTF-8)");
    }
    case SQL_JSON: {
        json_t *j = json_loadb(v->v.s.p, v->v.s.n, JSON_DECODE_ANY, NULL);
        return j ? j : json_stringn(v->v.s.p, v->v.s.n);
    }
    default: {
        struct buf b;
        buf_init(&b, 1u << 20);
        sql_value_to_text(v, &b, true);
        json_t *s = json_string(buf_cstr(&b));
        buf_free(&b);
        return s ? s : json_null();
    }
    }
}

struct sample_ctx {
    struct pipeline *p;
    json_t *rows;
    struct sql_field *fields;
    size_t nfields;
    json_t **pending_out; /* per row: the entry whose "output" is filled after the batch */
    int64_t *pending_row;
    size_t npending, cap;
};

static void sample_observe(void *ctx, const struct pipeline_row_info *info)
{
    struct sample_ctx *x = ctx;
    json_t *input = json_object();
    if (info->input) {
        size_t nf = pipeline_input_schema(x->p, x->fields, x->nfields);
        for (size_t i = 0; i < info->input->nvalues && i < nf; i++)
            json_object_set_new(input, x->fields[i].name, value_json(&info->input->values[i]));
        for (uint32_t k = 0; k < info->input->nextra; k++)
            if (info->input->extra_index[k] < nf)
                json_object_set_new(input, x->fields[info->input->extra_index[k]].name,
                                    value_json(&info->input->extra[k]));
    } else {
        json_t *raw = json_stringn(info->rec->data, info->rec->len > 1024 ? 1024 : info->rec->len);
        json_object_set_new(input, "raw", raw ? raw : json_string("(not UTF-8)"));
    }
    json_t *row = json_pack("{s:o, s:n, s:s}", "input", input, "output", "outcome",
                            pipeline_outcome_name(info->outcome));
    json_object_set_new(row, "message", info->message ? json_string(info->message) : json_null());
    if (info->reason != PIPE_R_NONE)
        json_object_set_new(row, "reason", json_string(pipeline_reason_name(info->reason)));
    json_array_append_new(x->rows, row);
    if (info->out_row >= 0 && x->npending < x->cap) {
        x->pending_out[x->npending] = row;
        x->pending_row[x->npending++] = info->out_row;
    }
}

/* Reads up to limit records from the connection's earliest point, touching no checkpoint.
 * The records' bytes go into `data`; *recs (malloc'd) hold each record's value and
 * position only, as the sample has always shown them. */
static int sample_read(struct api_req *r, const char *conn, size_t limit, struct arena *data,
                       struct record **recs, size_t *nrecs, struct lerr *err)
{
    struct connection_spec cs;
    if (catalog_connection_spec_load(r->srv->cat, conn, &cs, err)) {
        catalog_connection_spec_destroy(&cs);
        return err->code;
    }
    struct source *src = NULL;
    struct arena a;
    arena_init(&a, 4096, 0);
    int rc = 0;
    if (cs.type == CATALOG_CONN_PUSH) {
        if (!(src = pushreg_source(r->srv->pushes, conn, err))) {
            rc = err->code;
            goto out;
        }
    } else if (cs.type == CATALOG_CONN_S3) {
        rc = lerr_set_at(err, LERR_INVALID, "connectionName",
                         "connection '%s' is an s3 connection, not a stream: its objects "
                         "are not sampled; give a few records in sample.data",
                         conn);
        goto out;
    } else if (cs.type == CATALOG_CONN_KINESIS) {
        struct source_kinesis_config cfg;
        if ((rc = catalog_connection_spec_kinesis(&cs, &cfg, &a, err)) ||
            !(src = source_open_kinesis(&cfg, err))) {
            rc = err->code;
            goto out;
        }
    } else {
        struct source_kafka_config cfg;
        if ((rc = catalog_connection_spec_kafka(&cs, &cfg, &a, err)) ||
            !(src = source_open_kafka(&cfg, err))) {
            rc = err->code;
            goto out;
        }
    }
    struct source_offsets none;
    source_offsets_init(&none);
    rc = source_assign(src, &none, SOURCE_OFFSET_EARLIEST, err);
    source_offsets_destroy(&none);
    if (rc)
        goto out;
    /* The source copies each polled batch into `data`, which outlives it. */
    *recs = calloc(limit + 1, sizeof **recs);
    size_t n = 0;
    int64_t deadline = util_mono_ns() + (int64_t)SAMPLE_READ_MS * 1000000;
    while (*recs && n < limit && util_mono_ns() < deadline) {
        struct source_batch b;
        if ((rc = source_poll(src, data, limit - n, 200, &b, err)))
            break;
        for (size_t i = 0; i < b.n; i++) {
            const struct record *br = &b.records[i];
            (*recs)[n++] = (struct record){.data = br->data,
                                           .len = br->len,
                                           .partition = br->partition,
                                           .offset = br->offset,
                                           .has_timestamp = br->has_timestamp,
                                           .timestamp_ms = br->timestamp_ms};
        }
        if (b.n == 0 && n > 0)
            break; /* caught up */
    }
    *nrecs = n;
out:
    source_close(src);
    arena_destroy(&a);
    catalog_connection_spec_destroy(&cs);
    return rc;
}

int api_jobs_sample(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    char stream[300];
    bool any_agg = false, create_table = false;
    json_t *spec = NULL, *table = NULL, *sample = NULL;
    struct pipeline *p = NULL;
    struct format_registry *reg = NULL; /* the format's schema registry client */
    struct arena mem, tmem;
    arena_init(&mem, 1u << 20, 256u << 20);
    arena_init(&tmem, 4096, 0);
    struct arena data; /* the bytes of records read from the connection */
    arena_init(&data, 1u << 20, 64u << 20);
    struct record *recs = NULL;
    struct pipeline_tally *tally = NULL;
    size_t nrecs = 0;
    struct sample_ctx x = {0};
    json_t *body = api_body_object(r, &err);
    if (!body)
        goto out;
    sample = json_incref(json_object_get(body, "sample"));
    json_object_del(body, "sample");
    static const char *const sample_keys[] = {"data", "limit", NULL};
    json_int_t limit = 100;
    const char *text = NULL;
    if (sample &&
        (!json_is_object(sample) || api__v_known_keys(sample, "sample", sample_keys, &err) ||
         api__v_string(sample, "data", "sample", false, 16u << 20, &text, &err))) {
        if (!err.code)
            lerr_set_at(&err, LERR_INVALID, "sample",
                        "sample must be an object: "
                        "{\"data\": \"...\", \"limit\": 100}");
        goto out;
    }
    json_t *lim = sample ? json_object_get(sample, "limit") : NULL;
    if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                json_integer_value(lim) > SAMPLE_MAX_LIMIT)) {
        lerr_set_at(&err, LERR_INVALID, "sample.limit", "sample.limit must be 1..%d",
                    SAMPLE_MAX_LIMIT);
        goto out;
    }
    if (lim)
        limit = json_integer_value(lim);
    if (!(spec = api__job_spec(r, body, &j, stream, &any_agg, &create_table, &err)))
        goto out;
    if (api__load_target(r, spec, &j, create_table, &table, &err))
        goto out;
    struct pipeline_table pt;
    if (api__compile_pipeline(spec, table, any_agg, &tmem, &pt, &p, r->srv->cat, &reg, &err))
        goto out;
    if (text) {
        /* One record per line, as a push body is read. */
        size_t cap = 64;
        recs = calloc(cap, sizeof *recs);
        for (const char *q = text, *end = text + strlen(text);
             recs && q < end && nrecs < (size_t)limit;) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            const char *stop = nl ? nl : end;
            if (nrecs == cap) {
                struct record *nr = realloc(recs, (cap *= 2) * sizeof *nr);
                if (!nr)
                    break;
                recs = nr;
            }
            if (stop > q && !format_is_blank(q, (size_t)(stop - q))) {
                recs[nrecs] = (struct record){
                    .data = q, .len = (size_t)(stop - q), .offset = (int64_t)nrecs};
                nrecs++;
            }
            q = stop + 1;
        }
    } else if (sample_read(r,
                           json_string_value(
                               json_object_get(json_object_get(spec, "source"), "connectionName")),
                           (size_t)limit, &data, &recs, &nrecs, &err)) {
        goto out;
    }
    x.p = p;
    x.rows = json_array();
    x.nfields = 4096;
    x.fields = calloc(x.nfields, sizeof *x.fields);
    x.cap = (size_t)limit * 4 + 16;
    x.pending_out = calloc(x.cap, sizeof *x.pending_out);
    x.pending_row = calloc(x.cap, sizeof *x.pending_row);
    struct pipeline_out out;
    tally = malloc(sizeof *tally);
    if (!x.fields || !x.pending_out || !x.pending_row || !tally)
        lerr_set(&err, LERR_NOMEM, "out of memory");
    if (err.code || pipeline_process(p, recs, nrecs, &mem, &out, tally, sample_observe, &x, &err))
        goto out;
    for (size_t k = 0; k < x.npending; k++) {
        json_t *o = json_object();
        int64_t row = x.pending_row[k];
        json_object_set_new(o, "__time", json_string(""));
        char ts[32];
        util_format_iso_ms(out.time[row], ts);
        json_object_set_new(o, "__time", json_string(ts));
        for (uint32_t c = 0; c < out.ncols; c++) {
            struct pipeline_column *pc = pipeline_column(p, c);
            struct sql_value v;
            if (pc->measure)
                sql_agg_finalize(pc->agg, out.states[c] + (size_t)row * pc->state_size, &v);
            else
                v = out.values[c][row];
            json_object_set_new(o, pc->name, value_json(&v));
        }
        json_object_set(x.pending_out[k], "output", o);
        json_decref(o);
    }
    json_t *schema = json_array();
    json_array_append_new(schema,
                          json_pack("{s:s, s:s}", "name", "__time", "dataType", "timestamp"));
    for (size_t c = 0; c < pipeline_ncolumns(p); c++) {
        struct pipeline_column *pc = pipeline_column(p, c);
        /* as the table will show it: ARRAY<LONG>, a multi-value string's handling */
        const char *dt = pc->measure                         ? pc->measure_type
                         : pc->type == SQL_ARRAY && pc->elem ? storage_array_type_name(pc->elem)
                         : pc->type == SQL_ARRAY && pc->multi_value ? "string"
                                                                    : sql_type_name(pc->type);
        json_t *col = json_pack("{s:s, s:s, s:s}", "name", pc->name, "dataType", dt, "columnType",
                                pc->measure ? "measure" : "dimension");
        if (col && pc->type == SQL_ARRAY && pc->multi_value)
            json_object_set_new(col, "multiValueHandling",
                                json_string(storage_mv_handling_name(pc->mv_handling)));
        json_array_append_new(schema, col);
    }
    api_reply(r, 200,
              json_pack("{s:o, s:o, s:o}", "schema", schema, "rows", x.rows, "totals",
                        api__job_totals_json(&tally->c)));
    x.rows = NULL;
out:
    if (err.code)
        api_reply_err(r, &err);
    json_decref(x.rows);
    free(x.fields);
    free(x.pending_out);
    free(x.pending_row);
    free(tally);
    free(recs);
    arena_destroy(&data);
    pipeline_free(p);
    format_registry_free(reg);
    arena_destroy(&mem);
    arena_destroy(&tmem);
    catalog_job_destroy(&j);
    json_decref(spec);
    json_decref(table);
    json_decref(sample);
    json_decref(body);
    return err.code;
}
