/*
 * job.c — what a streaming and a batch job share: their status and health in
 * the catalog, the table description the pipeline compiles against, staging
 * a batch's rows for the table (adding the columns a flexible table gains),
 * and the persister.
 *
 * The persister is a thread per job that writes sealed buffers to segments
 * and commits each in one catalog transaction (ingest__commit_tx) with the
 * checkpoint — by compare-and-swap from the text it last committed — and the
 * job's counters, which count only appended rows. A persist that fails keeps
 * its sealed rows (visible, uncommitted) and is retried, with the job's
 * health saying why; the runner stops reading once one more set waits. Only
 * a server shutdown gives up on it, after its bound, and the rows given up
 * are read again after the restart (struct persister). In a cluster
 * (lease.c) a commit names only the leased partitions, fenced by their
 * epochs; a refused one discards its rows (the partition's new holder reads
 * them again) and tells the runner (persister.fenced).
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/tabledesc.h"
#include "ingest/ingest_int.h"
#include "source/pushreg.h"
#include "storage/db.h"
#include "util/time.h"

const double ingest__persist_buckets_ms[INGEST__PERSIST_BUCKETS] = {10,  50,   100, 250,
                                                                    500, 1000, 5000};

void ingest__set_status(struct runner *r, enum catalog_job_state status,
                        enum catalog_health health, const char *msg, int64_t started,
                        int64_t completed)
{
    struct lerr err;
    lerr_init(&err);
    if (catalog_job_set_status(r->rt->cat, r->job->id, status, health, msg, started, completed,
                               &err))
        log_msg(LOG_WARN, "ingest", "job %s: cannot record status: %s", r->job->id, err.msg);
}

void ingest__set_health(struct runner *r, enum catalog_health health, const char *msg)
{
    if (r->health == health && strcmp(r->health_msg, msg) == 0)
        return;
    r->health = health;
    snprintf(r->health_msg, sizeof r->health_msg, "%s", msg);
    pthread_mutex_lock(&r->job->tally_mu);
    r->job->health = health;
    snprintf(r->job->health_msg, sizeof r->job->health_msg, "%s", msg);
    pthread_mutex_unlock(&r->job->tally_mu);
    ingest__set_status(r, CATALOG_JOB_RUNNING, health, msg, 0, 0);
    if (health != CATALOG_HEALTH_OK)
        log_msg(LOG_WARN, "ingest", "job %s: %s", r->job->id, msg);
}

void ingest__fail(struct runner *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(LOG_ERROR, "ingest", "job %s failed: %s", r->job->id, msg);
    ingest__set_status(r, CATALOG_JOB_FAILED, CATALOG_HEALTH_ERROR, msg, 0, util_now_ns());
    r->job->failed = true;
}

/* The table as the pipeline sees it: type, mode and declared columns. */
int ingest__build_ptable(struct runner *r, struct lerr *err)
{
    struct table_spec t;
    if (catalog_table_spec_load(r->rt->cat, r->cj.table_name, &r->ptable_mem, &t, err))
        return err->code;
    return pipeline_table_from_spec(&t, &r->ptable_mem, &r->ptable, err);
}

/*
 * Columns schema discovery widened (pipeline_column.widened) take their new
 * type in the table: first the catalog (durable, so that a restart reads
 * the rows that follow as the new type), then storage, which seals the open
 * buffers of the old type; segments and buffers of the old type are read as
 * the new one. Table lock held.
 */
static int apply_widenings(struct runner *r, struct lerr *err)
{
    struct pipeline *p = r->job->pipe;
    size_t n = pipeline_ncolumns(p);
    for (size_t i = 0; i < n; i++) {
        struct pipeline_column *c = pipeline_column(p, i);
        if (!c->widened || c->storage_col < 0)
            continue;
        c->widened = false;
        const struct storage_column *sc =
            storage_table_column(r->table->st, (size_t)c->storage_col);
        if (!sc || sc->type == c->type)
            continue;
        int old = sc->type; /* sc goes with the schema version the widening replaces */
        if (old == SQL_STRING || (old == SQL_DOUBLE && c->type == SQL_LONG)) {
            c->type = (uint8_t)old; /* the table is wider already: its values are cast */
            continue;
        }
        struct catalog_widening w = {c->name, sql_type_name(c->type), r->job->id,
                                     c->widen_partition, c->widen_offset};
        if (catalog_table_widen_column(r->rt->cat, r->table->name, &w, err) ||
            storage_table_widen_column(r->table->st, (size_t)c->storage_col, c->type, err)) {
            c->widened = true; /* tried again with the next batch */
            return err->code;
        }
        log_msg(LOG_INFO, "ingest", "job %s: table %s: column '%s' widened from %s to %s",
                r->job->id, r->table->name, c->name, sql_type_name(old), sql_type_name(c->type));
    }
    return 0;
}

/*
 * Gives every pipeline column a storage column, adding the missing ones to
 * the table (document and storage) — flexible tables grow as discovery and
 * mappings name new columns. Table lock held.
 */
static int ensure_columns(struct runner *r, struct lerr *err)
{
    struct pipeline *p = r->job->pipe;
    size_t n = pipeline_ncolumns(p), nnew = 0;
    struct catalog_new_column *add = NULL;
    char(*types)[32] = NULL; /* the added measures' type names */
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct pipeline_column *c = pipeline_column(p, i);
        if (c->storage_col >= 0)
            continue;
        int idx = storage_table_find_column(r->table->st, c->name, strlen(c->name));
        if (idx < 0) {
            if (r->ptable.strict) {
                rc = lerr_set(err, LERR_INVALID,
                              "column '%s' is not in strict table '%s'; add it to the table's "
                              "schema",
                              c->name, r->table->name);
                break;
            }
            if (!add && (!(add = calloc(n, sizeof *add)) || !(types = calloc(n, sizeof *types)))) {
                rc = lerr_set(err, LERR_NOMEM, "out of memory");
                break;
            }
            struct storage_column sc = {.name = c->name,
                                        .type = c->type == SQL_BOOLEAN ? SQL_LONG : c->type,
                                        .kind = c->measure ? STORAGE_MEASURE : STORAGE_DIMENSION};
            if (c->measure)
                sc.agg = *c->agg;
            if (sc.type == SQL_ARRAY && c->elem) /* a discovered array of primitives */
                sc.elem = c->elem;
            else if (sc.type == SQL_ARRAY && c->multi_value)
                ; /* a multi-value string (arrayIngestMode "mvd"): ARRAY without elements */
            else if (sc.type == SQL_ARRAY || sc.type == SQL_NULL)
                sc.type = SQL_STRING;
            idx = storage_table_add_column(r->table->st, &sc, err);
            if (idx < 0) {
                rc = err->code;
                break;
            }
            const char *dt = c->measure                               ? NULL
                             : sc.type == SQL_ARRAY && c->multi_value ? "string"
                             : sc.type == SQL_ARRAY ? storage_array_type_name(sc.elem)
                                                    : sql_type_name(sc.type);
            if (c->measure) {
                // clang-format off
                static const char *const names[] = {
                    [SQL_AGG_COUNT_STAR] = "count", [SQL_AGG_COUNT] = "count",
                    [SQL_AGG_SUM] = "Sum",          [SQL_AGG_MIN] = "Min",
                    [SQL_AGG_MAX] = "Max",          [SQL_AGG_LATEST] = "Latest",
                    [SQL_AGG_EARLIEST] = "Earliest", [SQL_AGG_LATEST_BY] = "Latest",
                    [SQL_AGG_EARLIEST_BY] = "Earliest"};
                // clang-format on
                const char *suffix = c->agg->kind < LS_ARRAY_LEN(names) && names[c->agg->kind]
                                         ? names[c->agg->kind]
                                         : "Sum";
                const char *base = c->type == SQL_DOUBLE || c->type == SQL_FLOAT ? "double"
                                   : c->type == SQL_STRING                       ? "string"
                                                                                 : "long";
                if (strcmp(suffix, "count") == 0)
                    snprintf(types[nnew], sizeof types[nnew], "count");
                else if (c->agg->kind == SQL_AGG_HLL || c->agg->kind == SQL_AGG_THETA ||
                         c->agg->kind == SQL_AGG_QUANTILES) /* HLLSketch, thetaSketch, ... */
                    snprintf(types[nnew], sizeof types[nnew], "%s", c->measure_type);
                else
                    snprintf(types[nnew], sizeof types[nnew], "%s%s", base, suffix);
                dt = types[nnew];
            }
            add[nnew++] = (struct catalog_new_column){
                .name = c->name,
                .data_type = dt,
                .measure = c->measure,
                .agg = c->agg,
                .discovered = c->discovered,
                .mv_handling = sc.type == SQL_ARRAY && c->multi_value
                                   ? storage_mv_handling_name(c->mv_handling)
                                   : NULL};
            c->widened = false; /* created with its widest type */
        }
        c->storage_col = idx;
    }
    /* Columns storage took are recorded even when a later one failed. */
    struct lerr e;
    lerr_init(&e);
    if (nnew && catalog_table_add_columns(r->rt->cat, r->table->name, add, nnew, &e) && !rc)
        rc = lerr_set(err, e.code, "%s", e.msg);
    free(add);
    free(types);
    return rc ? rc : apply_widenings(r, err);
}

/* ---- persist: rows and offsets, one transaction ------------------------------------ */

struct commit_ctx {
    struct runner *r;
    const char *new_offsets; /* NULL: leave the checkpoint as it is */
    const char *counters;
    const struct catalog_fence *fence; /* NULL: unfenced */
};

static void segment_row(const struct storage_db_table *t, const struct storage_segment_info *s,
                        struct catalog_segment *out)
{
    memset(out, 0, sizeof *out);
    /* Ids are "<table id>/<file name>": unique, and derivable from a file. */
    snprintf(out->id, sizeof out->id, "%s/%s", t->id, s->name);
    snprintf(out->path, sizeof out->path, "tables/%s/%s", t->id, s->name);
    out->chunk_start = s->chunk_start;
    out->chunk_end = s->chunk_end;
    out->min_time = s->min_time;
    out->max_time = s->max_time;
    out->rows = (int64_t)s->rows;
    out->bytes = (int64_t)s->bytes;
}

int ingest__commit_tx(struct ingest_runtime *rt, struct storage_db_table *t, const char *job_id,
                      const char *stream, const char *expected, const char *new_offsets,
                      const char *counters, const struct storage_segment_info *added,
                      size_t nadded, const struct storage_segment_info *removed, size_t nremoved,
                      const struct catalog_fence *fence, const struct catalog_lease *run,
                      struct lerr *err)
{
    /* An object store's sweep deletes objects no commit names once older than the grace:
     * a segment stored longer than half of it ago (a process paused or a machine asleep
     * between the upload and here) may be gone, so its commit is refused; the caller
     * writes the rows again. */
    int64_t grace_ms = rt->opts.orphan_grace_ms > 0 ? rt->opts.orphan_grace_ms
                                                    : INGEST_ORPHAN_GRACE_MS,
            now = util_boot_ns();
    for (size_t i = 0; i < nadded; i++)
        if (added[i].stored_ns && now - added[i].stored_ns > grace_ms / 2 * 1000000)
            return lerr_set(err, LERR_IO,
                            "segment %s of table '%s' was stored %lld s ago, more than half the "
                            "orphan sweep's grace (%lld s), so the sweep may have removed it as "
                            "an orphan: not committed; its rows are written again",
                            added[i].name, t->name,
                            (long long)((now - added[i].stored_ns) / 1000000000),
                            (long long)(grace_ms / 1000));
    struct arena a;
    arena_init(&a, 4096, 0);
    struct catalog_segment *segs = arena_zalloc(&a, (nadded + 1) * sizeof *segs);
    const char **rm = arena_zalloc(&a, (nremoved + 1) * sizeof *rm);
    int rc = 0;
    if (!segs || !rm) {
        rc = lerr_set(err, LERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nadded; i++)
        segment_row(t, &added[i], &segs[i]);
    for (size_t i = 0; i < nremoved; i++)
        rm[i] = arena_printf(&a, "%s/%s", t->id, removed[i].name);
    struct catalog_commit cm = {
        .table_name = t->name,
        .add = segs,
        .nadd = nadded,
        .remove_ids = rm,
        .nremove = nremoved,
        .stream = new_offsets ? stream : NULL,
        .expected_offsets = expected,
        .new_offsets = new_offsets,
        .job_id = job_id,
        .job_counters = counters,
        .fence = new_offsets ? fence : NULL,
        .run = run,
    };
    rc = catalog_commit(rt->cat, &cm, err);
out:
    arena_destroy(&a);
    return rc;
}

static int persist_commit(void *ctx, const struct storage_segment_info *added, size_t nadded,
                          const struct storage_segment_info *removed, size_t nremoved,
                          struct lerr *err)
{
    struct commit_ctx *c = ctx;
    struct runner *r = c->r;
    /* Only the persister thread commits while it runs, so expected is stable here. */
    char key[200];
    ingest__counters_key(r, key);
    return ingest__commit_tx(r->rt, r->table, key, r->stream, r->ps.expected, c->new_offsets,
                             c->counters, added, nadded, removed, nremoved, c->fence,
                             r->has_run ? &r->run : NULL, err);
}

/* ---- REPLACE: new rows apart, then one swap --------------------------------------- */

int ingest__staging_open(struct runner *r, struct lerr *err)
{
    struct arena mem;
    arena_init(&mem, 16 * 1024, 0);
    struct storage_table_desc d = {0};
    int rc = catalog_describe_table(r->rt->cat, r->table->name, false, &mem, &d, err);
    struct storage_column *cols = NULL;
    if (!rc) {
        storage_db_table_lock(r->table);
        size_t n = storage_table_ncols(r->table->st);
        if (!(cols = arena_zalloc(&mem, (n + 1) * sizeof *cols)))
            rc = lerr_set(err, LERR_NOMEM, "out of memory");
        for (size_t i = 1; !rc && i < n; i++)
            cols[i - 1] = *storage_table_column(r->table->st, i);
        struct storage_schema sc = d.schema;
        sc.cols = cols;
        sc.ncols = n ? n - 1 : 0;
        snprintf(r->staging_dir, sizeof r->staging_dir, "%s/staging/%s", r->rt->dir, r->job->id);
        util_remove_tree(r->staging_dir, &(struct lerr){0});
        /* never persisted itself: at the table's row and byte bounds its rows
         * are written ahead as the table's (uncommitted) segments, the rest by
         * ingest__replace, which commits them all */
        struct storage_open_opts o = {.limits = storage_table_limits(r->table->st)};
        o.limits.max_age_ms = INT64_MAX / 4;
        if (!rc)
            rc = storage_table_open(r->staging_dir, r->table->name, &sc, &o, &r->staging, err);
        storage_db_table_unlock(r->table);
    }
    arena_destroy(&mem);
    return rc;
}

void ingest__staging_close(struct runner *r)
{
    /* rows written ahead that no swap committed (a failed or canceled job) */
    if (r->ahead.n)
        storage_ahead_discard(r->table->st, &r->ahead);
    storage_ahead_free(&r->ahead);
    if (!r->staging)
        return;
    storage_table_free(r->staging);
    r->staging = NULL;
    util_remove_tree(r->staging_dir, &(struct lerr){0});
}

/* The staging table reached a persist's bounds: its rows become segment
 * files of the table no commit names yet, and a fresh staging table takes
 * the next rows. */
static int write_ahead(struct runner *r, struct lerr *err)
{
    if (storage_table_write_ahead(r->table->st, r->staging, &r->ahead, err))
        return err->code;
    storage_table_free(r->staging);
    r->staging = NULL;
    return ingest__staging_open(r, err);
}

static char *counters_json(const struct pipeline_counters *c, struct ingest__job *job);
static int sync_staging(struct runner *r, struct lerr *err);

struct replace_ctx {
    struct runner *r;
    const char *counters;
    int64_t start, end; /* the chunks lying wholly inside are replaced */
};

/*
 * A REPLACE's commit: its segments added, and removed every segment of the
 * range the catalog lists, not only those of this node's table. In a
 * cluster a node's table holds the segments it opened and those it
 * committed, not those other nodes committed while it ran: a REPLACE that
 * removed only its own node's would leave theirs beside the new rows. One
 * removed meanwhile (a compaction) fails the commit with LERR_CONFLICT, and
 * ingest__replace tries again.
 */
static int replace_commit(void *ctx, const struct storage_segment_info *added, size_t nadded,
                          const struct storage_segment_info *removed, size_t nremoved,
                          struct lerr *err)
{
    struct replace_ctx *c = ctx;
    struct storage_db_table *t = c->r->table;
    struct catalog_segment_list l = {0};
    if (catalog_segment_list(c->r->rt->cat, t->name, &l, err))
        return err->code;
    struct storage_segment_info *rm = calloc(nremoved + l.n + 1, sizeof *rm);
    size_t n = nremoved;
    int rc = rm ? 0 : lerr_set(err, LERR_NOMEM, "out of memory");
    if (rm && nremoved)
        memcpy(rm, removed, nremoved * sizeof *rm);
    size_t idlen = strlen(t->id);
    for (size_t i = 0; !rc && i < l.n; i++) {
        const struct catalog_segment *g = &l.items[i];
        const char *name = g->id + idlen + 1;
        if (g->chunk_start < c->start || g->chunk_end > c->end ||
            strncmp(g->id, t->id, idlen) != 0 || g->id[idlen] != '/')
            continue;
        bool listed = false;
        for (size_t k = 0; k < nremoved && !listed; k++)
            listed = strcmp(removed[k].name, name) == 0;
        if (!listed)
            rm[n++] = (struct storage_segment_info){.name = name,
                                                    .chunk_start = g->chunk_start,
                                                    .chunk_end = g->chunk_end,
                                                    .rows = (uint64_t)g->rows,
                                                    .bytes = (uint64_t)g->bytes};
    }
    if (!rc)
        rc = ingest__commit_tx(c->r->rt, t, c->r->job->id, NULL, NULL, NULL, c->counters, added,
                               nadded, rm, n, NULL, NULL, err);
    free(rm);
    catalog_segment_list_free(&l);
    return rc;
}

struct storage_db_table *ingest__table_get(struct ingest_runtime *rt, const char *name,
                                           struct lerr *err)
{
    struct storage_db_table *t = storage_db_get(rt->db, name, err);
    if (!t || !catalog_is_shared(rt->cat))
        return t;
    struct arena mem;
    arena_init(&mem, 16 * 1024, 0);
    struct storage_table_desc d = {0};
    struct lerr e;
    lerr_init(&e);
    int rc = catalog_describe_table(rt->cat, name, false, &mem, &d, &e);
    if ((rc == 0 || rc == LERR_NOT_FOUND) && storage_db_refresh(rt->db, &t, rc ? NULL : d.id, err))
        t = NULL;
    arena_destroy(&mem);
    return t;
}

int ingest__replace(struct runner *r, int64_t start, int64_t end, struct lerr *err)
{
    struct pipeline_counters pc;
    ingest__totals_counters(r->job, &pc);
    struct replace_ctx c = {r, counters_json(&pc, r->job), start, end};
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        lerr_init(err);
        storage_db_table_lock(r->table);
        if (r->staging && sync_staging(r, err))
            rc = err->code;
        else
            rc = storage_table_replace(r->table->st, r->staging, &r->ahead, start, end,
                                       replace_commit, &c, err);
        storage_db_table_unlock(r->table);
        /* another job's persist holds sealed rows of the table: it ends soon */
        if (rc == 0)
            storage_ahead_free(&r->ahead); /* committed: the table's now */
        if (rc != LERR_CONFLICT || attempt >= 600 || atomic_load(&r->job->stop))
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free((char *)c.counters);
    return rc;
}

struct json_t *ingest_rejections_json(const struct pipeline_rejection *rej, size_t n)
{
    json_t *values = json_array();
    for (size_t i = 0; values && i < n; i++) {
        char ts[32];
        util_format_iso_ms(rej[i].at_ms, ts);
        json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "timestamp", ts, "outcome",
                              pipeline_outcome_name(rej[i].outcome), "reason",
                              pipeline_reason_name(rej[i].reason), "message", rej[i].message);
        if (!e)
            continue;
        if (rej[i].partition >= 0)
            json_object_set_new(e, "partition", json_integer(rej[i].partition));
        if (rej[i].offset >= 0)
            json_object_set_new(e, "offset", json_integer(rej[i].offset));
        if (rej[i].column[0]) /* a type widening under schema discovery */
            json_object_set_new(e, "typeChange",
                                json_pack("{s:s, s:s, s:s}", "column", rej[i].column, "from",
                                          sql_type_name(rej[i].from_type), "to",
                                          sql_type_name(rej[i].to_type)));
        if (rej[i].raw[0] || rej[i].outcome != PIPE_PROCESSED_WITH_WARNINGS) {
            json_t *raw = json_string(rej[i].raw);
            json_object_set_new(e, "raw", raw ? raw : json_string("(not UTF-8)"));
            json_object_set_new(e, "rawTruncated", json_boolean(rej[i].raw_cut));
        }
        json_array_append_new(values, e);
    }
    return values;
}

/* The counters saved with a checkpoint, with the recent rejections
 * ("logs"), so /logs still answers once the job has ended or the server
 * restarted. */
static char *counters_json(const struct pipeline_counters *c, struct ingest__job *job)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "numRowsProcessed", (json_int_t)c->processed,
                          "numRowsProcessedWithWarnings", (json_int_t)c->processed_with_warnings,
                          "numRowsSkippedByFilter", (json_int_t)c->skipped_by_filter,
                          "numRowsSkippedByError", (json_int_t)c->skipped_by_error);
    json_t *reasons = json_object();
    for (int i = 1; i < PIPE_R__COUNT; i++)
        json_object_set_new(reasons, pipeline_reason_name(i),
                            json_integer((json_int_t)c->by_reason[i]));
    json_object_set_new(o, "byReason", reasons);
    json_object_set_new(o, "newestEventTime", json_integer(c->newest_event_ms));
    struct pipeline_rejection *rej = calloc(PIPE_RING, sizeof *rej);
    if (rej) {
        size_t n = ingest__totals_rejections(job, rej, PIPE_RING);
        json_object_set_new(o, "logs", ingest_rejections_json(rej, n));
        free(rej);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int name_index(const char *name, const char *(*name_of)(int), int n)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(name_of(i), name) == 0)
            return i;
    return -1;
}

/* The saved "logs" back into the job's ring (what /logs lists). */
void ingest__rejections_from_json(const json_t *o, struct ingest__job *job)
{
    json_t *logs = json_object_get(o, "logs");
    size_t n = json_array_size(logs);
    struct pipeline_rejection *rej = n ? calloc(n, sizeof *rej) : NULL;
    size_t k = 0;
    for (size_t i = 0; rej && i < n; i++) {
        json_t *e = json_array_get(logs, i);
        struct pipeline_rejection *r = &rej[k];
        int oc =
            name_index(json_string_value(json_object_get(e, "outcome")), pipeline_outcome_name, 4);
        int why = name_index(json_string_value(json_object_get(e, "reason")), pipeline_reason_name,
                             PIPE_R__COUNT);
        const char *ts = json_string_value(json_object_get(e, "timestamp"));
        if (oc < 0 || why < 0 || !ts || !time_parse_iso(ts, strlen(ts), NULL, &r->at_ms))
            continue; /* written by another version: leave it out */
        json_t *part = json_object_get(e, "partition"), *off = json_object_get(e, "offset");
        r->partition = part ? (int32_t)json_integer_value(part) : -1;
        r->offset = off ? json_integer_value(off) : -1;
        r->outcome = (uint8_t)oc;
        r->reason = (uint8_t)why;
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *raw = json_string_value(json_object_get(e, "raw"));
        snprintf(r->message, sizeof r->message, "%s", msg ? msg : "");
        snprintf(r->raw, sizeof r->raw, "%s", raw ? raw : "");
        r->raw_cut = json_is_true(json_object_get(e, "rawTruncated"));
        json_t *tc = json_object_get(e, "typeChange");
        const char *tcol = json_string_value(json_object_get(tc, "column"));
        const char *tf = json_string_value(json_object_get(tc, "from"));
        const char *tt = json_string_value(json_object_get(tc, "to"));
        int ft = tf ? sql_type_from_name(tf, strlen(tf)) : -1;
        int to = tt ? sql_type_from_name(tt, strlen(tt)) : -1;
        if (tcol && ft >= 0 && to >= 0) {
            snprintf(r->column, sizeof r->column, "%s", tcol);
            r->from_type = (uint8_t)ft;
            r->to_type = (uint8_t)to;
        }
        k++;
    }
    if (k) {
        pthread_mutex_lock(&job->tally_mu);
        pipeline_tally_restore(&job->totals, rej, k);
        pthread_mutex_unlock(&job->tally_mu);
    }
    free(rej);
}

void ingest__counters_from_json(const json_t *o, struct pipeline_counters *c)
{
    memset(c, 0, sizeof *c);
    c->newest_event_ms = INT64_MIN;
    if (!o)
        return;
    c->processed = (uint64_t)json_integer_value(json_object_get(o, "numRowsProcessed"));
    c->processed_with_warnings =
        (uint64_t)json_integer_value(json_object_get(o, "numRowsProcessedWithWarnings"));
    c->skipped_by_filter =
        (uint64_t)json_integer_value(json_object_get(o, "numRowsSkippedByFilter"));
    c->skipped_by_error =
        (uint64_t)json_integer_value(json_object_get(o, "numRowsSkippedByError"));
    json_t *reasons = json_object_get(o, "byReason");
    for (int i = 1; i < PIPE_R__COUNT; i++)
        c->by_reason[i] =
            (uint64_t)json_integer_value(json_object_get(reasons, pipeline_reason_name(i)));
    json_t *nt = json_object_get(o, "newestEventTime");
    if (nt)
        c->newest_event_ms = json_integer_value(nt);
}

static void observe_persist(struct ingest_runtime *rt, double ms, bool ok)
{
    atomic_fetch_add(&rt->persists, 1);
    if (!ok)
        atomic_fetch_add(&rt->persist_failures, 1);
    atomic_fetch_add(&rt->persist_us_total, (long long)(ms * 1000));
    size_t b = 0;
    while (b < LS_ARRAY_LEN(ingest__persist_buckets_ms) && ms > ingest__persist_buckets_ms[b])
        b++;
    atomic_fetch_add(&rt->persist_hist[b], 1);
}

/* Persists one sealed set; on a moved checkpoint keeps it and says so. Persister thread. */
static int persist_item(struct runner *r, struct persist_item *it, struct lerr *err)
{
    struct catalog_fence_part *parts = calloc(it->nfence + 1, sizeof *parts);
    if (!parts)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; i < it->nfence; i++)
        parts[i] = (struct catalog_fence_part){it->fence[i].part, it->fence[i].epoch};
    struct catalog_fence fence = {it->nfence ? it->fence[0].node_id : "", parts, it->nfence, 0};
    struct commit_ctx ctx = {r, it->offsets, it->counters, it->nfence ? &fence : NULL};
    int64_t t0 = util_mono_ns();
    int rc = storage_table_persist_sealed(r->table->st, it->sealed, persist_commit, &ctx, err);
    free(parts);
    ctx.fence = NULL;
    if (rc == LERR_CONFLICT &&
        (r->lease.on || (r->has_run && strcmp(err->target, "fence") == 0))) {
        /* In a cluster: a lease moved (or a reset dropped the checkpoint). These rows must
         * not be committed here — the partition's new holder reads them again from the
         * committed offsets — so they are thrown away, and the runner discards the rest
         * and reads its partitions again from the checkpoint (stream.c, lease_tick). A
         * stream read whole under the job's run lease: its new holder reads it all again,
         * and this runner stops (stream.c). */
        log_msg(LOG_WARN, "ingest", "job %s: commit refused, %llu rows discarded: %s", r->job->id,
                (unsigned long long)storage_sealed_rows(it->sealed), err->msg);
        lerr_init(err);
        rc = storage_table_discard_sealed(r->table->st, it->sealed, err);
        if (rc == 0) {
            pthread_mutex_lock(&r->ps.mu);
            r->ps.fenced = true;
            pthread_mutex_unlock(&r->ps.mu);
            free(it->offsets);
            it->offsets = NULL;
        }
        return rc;
    }
    if (rc == LERR_CONFLICT && it->offsets) {
        /* A reset moved the checkpoint: keep the rows (read before it), not the offsets. */
        pthread_mutex_lock(&r->ps.mu);
        r->ps.conflict = true;
        pthread_mutex_unlock(&r->ps.mu);
        free(it->offsets);
        it->offsets = NULL;
        lerr_init(err);
        ctx.new_offsets = NULL;
        rc = storage_table_persist_sealed(r->table->st, it->sealed, persist_commit, &ctx, err);
    }
    double ms = (double)(util_mono_ns() - t0) / 1e6;
    observe_persist(r->rt, ms, rc == 0);
    if (rc == 0) {
        atomic_fetch_add(&r->job->persist_count, 1);
        atomic_store(&r->job->persist_ms_last, ms);
    }
    return rc;
}

/* "1.2 GB": a byte count for people. */
static void fmt_bytes(uint64_t n, char out[32])
{
    static const char *const unit[] = {"bytes", "KB", "MB", "GB", "TB"};
    double x = (double)n;
    size_t u = 0;
    while (x >= 1000 && u + 1 < LS_ARRAY_LEN(unit)) {
        x /= 1000;
        u++;
    }
    snprintf(out, 32, u ? "%.1f %s" : "%.0f %s", x, unit[u]);
}

/* Whether a shutdown is under way and its bound has passed. */
static bool shutdown_due(struct ingest_runtime *rt)
{
    return atomic_load(&rt->stopping) && util_mono_ns() >= atomic_load(&rt->stop_deadline_ns);
}

/*
 * A failed persist of `it`: the error the job's health shows — what failed, where (the
 * directory whose disk to free), and how much waits in memory —, refreshed every
 * PERSIST_REPORT_MS while it lasts (each attempt names another temporary file: refreshing
 * on every one would rewrite the job's status each second), and logged on the first
 * failure and every PERSIST_LOG_MS. p->mu held.
 */
static void persist_failed(struct runner *r, const struct persist_item *it, const struct lerr *err)
{
    struct persister *p = &r->ps;
    int64_t now = util_mono_ns();
    bool first = p->failures++ == 0;
    if (first)
        p->failing_since_ns = now;
    if (first || now - p->reported_ns >= (int64_t)PERSIST_REPORT_MS * 1000000) {
        uint64_t rows, bytes;
        storage_table_realtime_usage(r->table->st, &rows, &bytes);
        rows += storage_sealed_rows(it->sealed);
        bytes += storage_sealed_bytes(it->sealed);
        char size[32];
        fmt_bytes(bytes, size);
        snprintf(p->error, sizeof p->error, PERSIST_FAILED "%s; %llu rows (%s) buffered in memory",
                 err->msg, (unsigned long long)rows, size);
        p->reported_ns = now;
    }
    if (first || now - p->logged_ns >= (int64_t)PERSIST_LOG_MS * 1000000) {
        log_msg(LOG_WARN, "ingest", "job %s: %s (attempt %llu, failing for %.0f s)", r->job->id,
                p->error, (unsigned long long)p->failures,
                (double)(now - p->failing_since_ns) / 1e9);
        p->logged_ns = now;
    }
}

/*
 * The persister: persists queued sets in order. A set that fails stays at the head, sealed
 * and visible, and is retried (the runner meanwhile fills one more set, then waits: memory
 * stays bounded). Only at a shutdown, once its bound has passed, does it give up (see
 * struct persister); the rows given up were never committed, so the job reads them again
 * after a restart.
 */
static void *persister_main(void *arg)
{
    struct runner *r = arg;
    struct persister *p = &r->ps;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->n && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->n)
            break;
        struct persist_item *it = &p->q[p->head];
        if (!p->abandoned) {
            pthread_mutex_unlock(&p->mu);
            struct lerr err;
            lerr_init(&err);
            int rc = persist_item(r, it, &err);
            pthread_mutex_lock(&p->mu);
            if (rc) {
                persist_failed(r, it, &err);
                if (p->stop)
                    break; /* the job failed: its rows are re-read when it runs again */
                if (!shutdown_due(r->rt)) {
                    int64_t wait_ns = (int64_t)PERSIST_RETRY_MS * 1000000;
                    if (atomic_load(&r->rt->stopping)) {
                        int64_t left = atomic_load(&r->rt->stop_deadline_ns) - util_mono_ns();
                        wait_ns = left < wait_ns ? (left > 0 ? left : 0) : wait_ns;
                    }
                    struct timespec ts;
                    clock_gettime(CLOCK_REALTIME, &ts);
                    int64_t ns = ts.tv_nsec + wait_ns;
                    ts.tv_sec += (time_t)(ns / 1000000000);
                    ts.tv_nsec = (long)(ns % 1000000000);
                    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
                    continue;
                }
                p->abandoned = true;
            } else {
                if (p->failures)
                    log_msg(LOG_INFO, "ingest",
                            "job %s: persisting works again after %llu failed attempts "
                            "(%.0f s); nothing was lost",
                            r->job->id, (unsigned long long)p->failures,
                            (double)(util_mono_ns() - p->failing_since_ns) / 1e9);
                p->failures = 0;
                p->error[0] = '\0';
                if (it->offsets) {
                    free(p->expected);
                    p->expected = it->offsets;
                    it->offsets = NULL;
                }
            }
        }
        if (p->abandoned)
            p->abandoned_rows += storage_sealed_rows(it->sealed);
        storage_sealed_free(it->sealed);
        free(it->offsets);
        free(it->counters);
        free(it->fence);
        memset(it, 0, sizeof *it);
        p->head = (p->head + 1) % PERSIST_QUEUE;
        p->n--;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int ingest__persister_start(struct runner *r, struct lerr *err)
{
    pthread_mutex_init(&r->ps.mu, NULL);
    pthread_cond_init(&r->ps.cv, NULL);
    if (pthread_create(&r->ps.th, NULL, persister_main, r) != 0)
        return lerr_set(err, LERR_INTERNAL, "cannot start the persist thread");
    pthread_setname_np(r->ps.th, "job-persist"); /* for top -H and perf */
    r->ps.started = true;
    return 0;
}

/*
 * Waits until every queued persist is done: true when they all committed; false when one
 * kept failing past timeout_ms (< 0: no limit) or was given up at a shutdown's bound.
 */
bool ingest__persister_drain(struct runner *r, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : util_mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&r->ps.mu);
    while (r->ps.n && util_mono_ns() < deadline) {
        struct timespec ts;
        util_deadline(CLOCK_REALTIME, 50, &ts);
        pthread_cond_timedwait(&r->ps.cv, &r->ps.mu, &ts);
    }
    bool ok = r->ps.n == 0 && !r->ps.abandoned;
    pthread_mutex_unlock(&r->ps.mu);
    return ok;
}

void ingest__persister_stop(struct runner *r)
{
    if (!r->ps.started)
        return;
    pthread_mutex_lock(&r->ps.mu);
    r->ps.stop = true;
    pthread_cond_broadcast(&r->ps.cv);
    pthread_mutex_unlock(&r->ps.mu);
    pthread_join(r->ps.th, NULL);
    for (size_t k = 0; k < r->ps.n; k++) {
        struct persist_item *it = &r->ps.q[(r->ps.head + k) % PERSIST_QUEUE];
        storage_sealed_free(it->sealed);
        free(it->offsets);
        free(it->counters);
        free(it->fence);
    }
    free(r->ps.expected);
    pthread_cond_destroy(&r->ps.cv);
    pthread_mutex_destroy(&r->ps.mu);
    r->ps.started = false;
}

/*
 * Seals the table's buffers with the source's position (advance) or without
 * moving the checkpoint, and queues them for the persister: cheap for the
 * runner, which goes on reading while segments are written. Blocks while
 * PERSIST_QUEUE sets wait (back-pressure when the disk is slower than the
 * stream).
 */

int ingest__persist(struct runner *r, bool advance, struct lerr *err)
{
    struct source_offsets pos;
    source_offsets_init(&pos);
    struct persist_item it = {0};
    int rc = 0;
    if (advance && r->job->src) {
        /* The position after the last batch appended, not the source's own (the
         * fetcher may have read further): exactly the rows being sealed. */
        if (r->lease.on) {
            /* In a cluster: only the leased partitions, fenced by their epochs (nothing
             * leased: the checkpoint stays as it is). */
            if (source_offsets_copy(&pos, &r->appended, err)) {
                rc = err->code;
                goto out;
            }
            ingest__lease_filter(r, &pos);
            if (ingest__lease_fence(r, &pos, &it.fence, &it.nfence, err)) {
                rc = err->code;
                goto out;
            }
        }
        if ((!r->lease.on || it.nfence) &&
            !(it.offsets = source_offsets_to_json(r->lease.on ? &pos : &r->appended, err))) {
            rc = err->code;
            goto out;
        }
    }
    struct pipeline_counters pc;
    ingest__totals_counters(r->job, &pc);
    it.counters = counters_json(&pc, r->job);
    /* Back-pressure: wait for the set being written (while persists keep failing, the
     * persister's retries and, at a shutdown, its bound decide how long). */
    pthread_mutex_lock(&r->ps.mu);
    while (r->ps.n == PERSIST_QUEUE) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (pthread_cond_timedwait(&r->ps.cv, &r->ps.mu, &ts) == ETIMEDOUT && r->job->src) {
            /* the persister is slow or failing (a full disk): health says so meanwhile,
             * and in a cluster the leases are kept meanwhile */
            pthread_mutex_unlock(&r->ps.mu);
            ingest__update_health(r);
            ingest__lease_keep(r);
            pthread_mutex_lock(&r->ps.mu);
        }
    }
    pthread_mutex_unlock(&r->ps.mu);
    storage_db_table_lock(r->table);
    rc = storage_table_seal(r->table->st, &it.sealed, err);
    storage_db_table_unlock(r->table);
    if (rc)
        goto out;
    pthread_mutex_lock(&r->ps.mu);
    r->ps.q[(r->ps.head + r->ps.n) % PERSIST_QUEUE] = it;
    r->ps.n++;
    pthread_cond_broadcast(&r->ps.cv);
    pthread_mutex_unlock(&r->ps.mu);
    memset(&it, 0, sizeof it);
    r->last_commit_ms = util_now_ms();
    if (advance)
        r->dirty_offsets = false;
out:
    free(it.offsets);
    free(it.counters);
    free(it.fence);
    source_offsets_destroy(&pos);
    return rc;
}

/* The share of rows rejected (skipped by error) over the last window, or -1. */
static int rejection_percent(struct runner *r, uint64_t *rows)
{
    struct pipeline_counters now;
    ingest__totals_counters(r->job, &now);
    const struct pipeline_counters *w = &r->window_start;
    uint64_t bad = now.skipped_by_error - w->skipped_by_error;
    uint64_t all = bad + (now.processed - w->processed) +
                   (now.processed_with_warnings - w->processed_with_warnings) +
                   (now.skipped_by_filter - w->skipped_by_filter);
    if (util_now_ms() - r->window_start_ms >= REJECT_WINDOW_MS) {
        r->window_start = now;
        r->window_start_ms = util_now_ms();
    }
    *rows = all;
    return all >= REJECT_WARN_MIN_ROWS ? (int)(bad * 100 / all) : -1;
}

void ingest__update_health(struct runner *r)
{
    char msg[512];
    uint64_t rows = 0;
    int pct = rejection_percent(r, &rows);
    pthread_mutex_lock(&r->ps.mu);
    bool perr = r->ps.error[0] != '\0';
    if (perr)
        snprintf(msg, sizeof msg, "%s", r->ps.error);
    pthread_mutex_unlock(&r->ps.mu);
    bool waiting = false; /* a batch waiting for its schema registry (stream.c) */
    if (r->fx.started) {  /* the runner's own thread starts and stops the fetcher */
        pthread_mutex_lock(&r->fx.mu);
        waiting = r->fx.waiting[0] != '\0';
        if (waiting && !perr)
            snprintf(msg, sizeof msg, "%s", r->fx.waiting);
        pthread_mutex_unlock(&r->fx.mu);
    }
    if (perr || waiting) {
        ingest__set_health(r, CATALOG_HEALTH_WARN, msg);
    } else if (source_health(r->job->src, msg, sizeof msg) != SOURCE_HEALTH_OK) {
        ingest__set_health(r, CATALOG_HEALTH_WARN, msg);
    } else if (r->gap_until_ms > util_now_ms()) {
        ingest__set_health(r, CATALOG_HEALTH_WARN, r->gap_msg);
    } else if (pct >= REJECT_WARN_PERCENT) {
        snprintf(msg, sizeof msg,
                 "%d%% of the last %llu rows were rejected as errors; GET /jobs/{id}/logs shows "
                 "why (check inputSchema, formatSettings and the __time mapping)",
                 pct, (unsigned long long)rows);
        ingest__set_health(r, CATALOG_HEALTH_WARN, msg);
    } else {
        ingest__set_health(r, CATALOG_HEALTH_OK, "");
    }
}

/*
 * Records → pipeline → rows ready to append (memory from `mem`), with every
 * pipeline column given a table column. The thread that owns the pipeline's
 * row path (the fetcher, or a batch job's runner).
 */
int ingest__stage_records(struct runner *r, const struct record *recs, size_t n, struct arena *mem,
                          struct staged *st, struct lerr *err)
{
    struct pipeline *p = r->job->pipe;
    struct pipeline_out out;
    memset(&st->sb, 0, sizeof st->sb);
    int rc = pipeline_process(p, recs, n, mem, &out, st->tally, NULL, NULL, err);
    if (rc)
        return rc;
    storage_db_table_lock(r->table);
    rc = ensure_columns(r, err);
    storage_db_table_unlock(r->table);
    if (rc || !out.nrows)
        return rc;
    struct storage_batch_col *cols = arena_alloc(mem, (out.ncols + 1) * sizeof *cols);
    if (!cols)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t c = 0; c < out.ncols; c++) {
        const struct pipeline_column *pc = pipeline_column(p, c);
        cols[c].col = (uint32_t)pc->storage_col;
        cols[c].values = pc->measure ? NULL : out.values[c];
        cols[c].states = pc->measure ? out.states[c] : NULL;
    }
    st->sb = (struct storage_batch){out.nrows, out.time, out.ncols, cols};
    return 0;
}

/* Staged rows into the table's buffers; their counts join the job's. */
/* The staging table takes the columns the table gained (same order, same indexes). */
static int sync_staging(struct runner *r, struct lerr *err)
{
    size_t n = storage_table_ncols(r->table->st);
    for (size_t i = 1; i < storage_table_ncols(r->staging) && i < n; i++) {
        /* and the types discovery widened */
        const struct storage_column *tc = storage_table_column(r->table->st, i);
        if (tc->kind == STORAGE_DIMENSION &&
            tc->type != storage_table_column(r->staging, i)->type &&
            storage_table_widen_column(r->staging, i, tc->type, err))
            return err->code;
    }
    for (size_t i = storage_table_ncols(r->staging); i < n; i++)
        if (storage_table_add_column(r->staging, storage_table_column(r->table->st, i), err) < 0)
            return err->code;
    return 0;
}

int ingest__append_staged(struct runner *r, const struct staged *st, struct lerr *err)
{
    int rc = 0;
    if (st->sb.nrows) {
        storage_db_table_lock(r->table);
        if (r->staging)
            rc = sync_staging(r, err) ? err->code : storage_table_append(r->staging, &st->sb, err);
        else
            rc = storage_table_append(r->table->st, &st->sb, err);
        storage_db_table_unlock(r->table);
        if (!rc && r->staging && storage_table_should_persist(r->staging, util_now_ms()))
            rc = write_ahead(r, err);
    }
    if (!rc)
        ingest__totals_add(r->job, st->tally);
    return rc;
}

void ingest__totals_add(struct ingest__job *j, const struct pipeline_tally *t)
{
    pthread_mutex_lock(&j->tally_mu);
    pipeline_tally_add(&j->totals, t);
    pthread_mutex_unlock(&j->tally_mu);
}

void ingest__totals_counters(struct ingest__job *j, struct pipeline_counters *out)
{
    pthread_mutex_lock(&j->tally_mu);
    *out = j->totals.c;
    pthread_mutex_unlock(&j->tally_mu);
}

size_t ingest__totals_rejections(struct ingest__job *j, struct pipeline_rejection *out, size_t cap)
{
    pthread_mutex_lock(&j->tally_mu);
    size_t n = pipeline_tally_rejections(&j->totals, out, cap);
    pthread_mutex_unlock(&j->tally_mu);
    return n;
}

/* Records → pipeline → the table's buffers. The caller owns r->batch's reset. */
int ingest__ingest_records(struct runner *r, const struct record *recs, size_t n, struct lerr *err)
{
    struct staged st = {.tally = r->batch_tally};
    if (ingest__stage_records(r, recs, n, &r->batch, &st, err))
        return err->code;
    return ingest__append_staged(r, &st, err);
}
