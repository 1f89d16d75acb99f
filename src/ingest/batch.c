/*
 * batch.c — a batch job's runner (ingest__batch_main): replace mode first
 * (the whole table, or whole time chunks of target.intervals), then the
 * job's text — uploaded files, inline data or the objects of an S3 source
 * (listed here, downloaded one at a time into dataDir/staging/s3-<job id>),
 * read through the file source (source_open_files) in chunks of whole rows
 * — through the pipeline into the table, persisted as it goes and at the end.
 *
 * A sql job's REPLACE and a delete_data job replace at once instead: their
 * rows go to a private staging table (ingest__staging_open), and at the end
 * one step (ingest__replace) swaps them in for the old chunks — one catalog
 * commit, one published version —, so readers and a restart after a crash
 * see the old rows or the new, never a mix or neither. Rows of such a
 * REPLACE outside its OVERWRITE WHERE range fail the job, as in Druid.
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
#include "ingest/ingest_int.h"
#include "source/pushreg.h"
#include "storage/db.h"
#include "util/s3.h"
#include "util/time.h"

/* ---- batch jobs -------------------------------------------------------------------- */

/* Removes every row of the table (ingestionMode replace): catalog first, then files. */
static int replace_all(struct runner *r, struct lerr *err)
{
    struct catalog_segment_list segs;
    if (catalog_segment_list(r->rt->cat, r->table->name, &segs, err))
        return err->code;
    const char **ids = calloc(segs.n + 1, sizeof *ids);
    int rc = ids ? 0 : lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < segs.n; i++)
        ids[i] = segs.items[i].id;
    struct catalog_commit cm = {
        .table_name = r->table->name, .remove_ids = ids, .nremove = segs.n};
    if (!rc && segs.n)
        rc = catalog_commit(r->rt->cat, &cm, err);
    if (!rc) {
        storage_db_table_lock(r->table);
        rc = storage_table_drop_data(r->table->st, err);
        storage_db_table_unlock(r->table);
    }
    free(ids);
    catalog_segment_list_free(&segs);
    return rc;
}

/*
 * Removes the rows of target.intervals (ingestionMode replace with
 * intervals), whole time chunks of the table's partitioningGranularity, as
 * Druid requires of a REPLACE's OVERWRITE WHERE: catalog first, then files.
 */
static int replace_intervals(struct runner *r, json_t *intervals, struct lerr *err)
{
    size_t n = json_array_size(intervals);
    int64_t *iv = calloc(2 * n + 1, sizeof *iv);
    if (!iv)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    int rc = ingest_check_intervals(intervals, (int)r->table->partitioning, iv, err);
    struct catalog_segment_list segs = {0};
    const char **ids = NULL;
    size_t nids = 0;
    if (!rc)
        rc = catalog_segment_list(r->rt->cat, r->table->name, &segs, err);
    if (!rc && !(ids = calloc(segs.n + 1, sizeof *ids)))
        rc = lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < segs.n; i++)
        for (size_t k = 0; k < n; k++)
            if (segs.items[i].chunk_start >= iv[2 * k] &&
                segs.items[i].chunk_end <= iv[2 * k + 1]) {
                ids[nids++] = segs.items[i].id;
                break;
            }
    struct catalog_commit cm = {.table_name = r->table->name, .remove_ids = ids, .nremove = nids};
    if (!rc && nids)
        rc = catalog_commit(r->rt->cat, &cm, err);
    storage_db_table_lock(r->table);
    for (size_t k = 0; !rc && k < n; k++)
        rc = storage_table_drop_range(r->table->st, iv[2 * k], iv[2 * k + 1], err);
    storage_db_table_unlock(r->table);
    free(ids);
    free(iv);
    catalog_segment_list_free(&segs);
    return rc;
}

/*
 * An s3 source's objects: the client from its connection (or the server's
 * own S3 settings for s3:// URIs), the keys listed, each object downloaded
 * into dir when the file source comes to it.
 */
static struct source *s3_source(struct runner *r, const struct job_spec *js,
                                struct source_files_config *cfg, const char *dir, struct lerr *err)
{
    struct connection_spec cs = {0};
    struct source_s3_config sc = {.endpoint = r->rt->opts.s3_endpoint};
    struct s3_client *client = NULL;
    struct arena a;
    arena_init(&a, 1024, 0);
    char **uris = NULL;
    size_t n = 0;
    struct source *src = NULL;
    struct source_s3_select sel = {js->objects, js->nobjects, js->prefixes, js->nprefixes,
                                   js->uris,    js->nuris,    js->pattern};
    if (js->connection_name[0]) {
        struct lerr ce;
        lerr_init(&ce);
        if (catalog_connection_spec_load(r->rt->cat, js->connection_name, &cs, &ce)) {
            if (ce.code == LERR_NOT_FOUND)
                lerr_set(err, LERR_NOT_FOUND,
                         "source.connectionName: no connection named '%s' (deleted since the "
                         "job was made?); create it again and submit the job again",
                         js->connection_name);
            else
                lerr_set(err, ce.code, "%s", ce.msg);
            goto out;
        }
        if (cs.type != CATALOG_CONN_S3) {
            lerr_set(err, LERR_INVALID, "source.connectionName: '%s' is a %s connection, not s3",
                     js->connection_name, catalog_conn_type_name(cs.type));
            goto out;
        }
        if (catalog_connection_spec_s3(&cs, &sc, &a, err))
            goto out;
    }
    if (source_s3_client(&sc, &client, err) || source_s3_uris(client, &sc, &sel, &uris, &n, err) ||
        util_mkdirs(dir, 0700, err))
        goto out;
    cfg->dir = dir;
    cfg->files = (const char *const *)uris;
    cfg->nfiles = n;
    cfg->s3 = client;
    client = NULL; /* the source's now */
    src = source_open_files(cfg, err);
    log_msg(LOG_INFO, "ingest", "batch job %s reads %zu S3 object%s", r->job->id, n,
            n == 1 ? "" : "s");
out:
    s3_client_free(client);
    source_s3_uris_free(uris, n);
    catalog_connection_spec_destroy(&cs);
    arena_destroy(&a);
    return src;
}

/* The job's text as a source: its uploaded files, the spec's inline data, or S3 objects. */
static struct source *batch_source(struct runner *r, const struct job_spec *js, const char *s3_dir,
                                   struct lerr *err)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/files", r->rt->dir);
    struct source_files_config cfg = {
        .dir = dir,
        .csv = js->has_format && js->format.kind != FORMAT_NDJSON &&
               js->format.kind != FORMAT_AVRO_OCF,
        .avro_ocf = js->has_format && js->format.kind == FORMAT_AVRO_OCF,
        .prefix_rows = js->format.skip_header_rows + (js->format.find_columns_from_header ? 1 : 0),
    };
    if (js->source_type == CATALOG_SOURCE_S3)
        return s3_source(r, js, &cfg, s3_dir, err);
    if (js->source_type == CATALOG_SOURCE_INLINE) {
        cfg.inline_data = js->inline_data;
        cfg.inline_len = js->inline_len;
    } else if (js->nfiles) {
        cfg.files = js->files;
        cfg.nfiles = js->nfiles;
    }
    return source_open_files(&cfg, err);
}

/* Does the job replace at once (staging, then one swap)? */
static bool swaps(const struct job_spec *js)
{
    return js->type == CATALOG_JOB_DELETE_DATA ||
           (js->type == CATALOG_JOB_SQL && js->mode == CATALOG_INGEST_REPLACE);
}

/*
 * The swap at the end of a REPLACE or a delete: the staged rows take the
 * place of the table's chunks in target.intervals (all chunks when there are
 * none); each further interval of a delete loses its chunks in its own step.
 */
static int swap_in(struct runner *r, struct lerr *err)
{
    size_t n = r->spec.nintervals;
    if (r->spec.type == CATALOG_JOB_SQL && n) {
        struct pipeline_counters pc;
        ingest__totals_counters(r->job, &pc);
        if (pc.by_reason[PIPE_R_INTERVAL])
            return lerr_set(err, LERR_INVALID,
                            "%llu rows have a __time outside OVERWRITE WHERE's range, and a "
                            "REPLACE writes only inside it; widen the range, or drop those rows "
                            "with the SELECT's WHERE (nothing was replaced)",
                            (unsigned long long)pc.by_reason[PIPE_R_INTERVAL]);
    }
    if (!n)
        return ingest__replace(r, INT64_MIN, INT64_MAX, err);
    int64_t *iv = calloc(2 * n, sizeof *iv);
    if (!iv)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    int rc = ingest_check_intervals(r->spec.intervals, (int)r->table->partitioning, iv, err);
    for (size_t k = 0; !rc && k < n; k++) {
        rc = ingest__replace(r, iv[2 * k], iv[2 * k + 1], err);
        ingest__staging_close(r); /* its rows went in with the first interval */
    }
    free(iv);
    return rc;
}

void *ingest__batch_main(void *arg)
{
    struct ingest__job *job = arg;
    struct runner r = {.job = job, .rt = job->rt};
    arena_init(&r.batch, 1u << 20, BATCH_ARENA_CAP);
    struct arena text; /* the chunk being read (the source fills it) */
    arena_init(&text, 1u << 20, BATCH_ARENA_CAP);
    r.batch_tally = malloc(sizeof *r.batch_tally);
    arena_init(&r.ptable_mem, 4096, 0);
    struct lerr err;
    lerr_init(&err);
    struct pipeline *p = NULL;
    struct source *src = NULL;
    char s3_dir[1200]; /* an s3 source's downloads, one object at a time */
    snprintf(s3_dir, sizeof s3_dir, "%s/staging/s3-%s", r.rt->dir, job->id);
    if (!r.batch_tally)
        lerr_set(&err, LERR_NOMEM, "out of memory");
    if (err.code || catalog_job_get(r.rt->cat, job->id, &r.cj, &err) ||
        catalog_job_spec_load(&r.cj, &r.spec, &err) ||
        !(r.table = ingest__table_get(r.rt, r.cj.table_name, &err)) ||
        ingest__build_ptable(&r, &err)) {
        ingest__fail(&r, "cannot start: %s", err.msg);
        goto out;
    }
    bool swap = swaps(&r.spec);
    bool from_table = r.spec.source_type == CATALOG_SOURCE_TABLE;
    bool has_rows = from_table || r.spec.type != CATALOG_JOB_DELETE_DATA;
    struct pipeline_opts po = {&r.spec, &r.ptable, util_now_ms(), NULL};
    if ((has_rows && !from_table && pipeline_new(&po, &p, &err)) ||
        ingest__persister_start(&r, &err) || (swap && ingest__staging_open(&r, &err))) {
        ingest__fail(&r, "cannot start: %s", err.msg);
        goto out;
    }
    pthread_mutex_lock(&job->mu);
    job->pipe = p;
    pthread_mutex_unlock(&job->mu);
    ingest__set_status(&r, CATALOG_JOB_RUNNING, CATALOG_HEALTH_OK, "", util_now_ns(), 0);
    if (!swap && r.spec.mode == CATALOG_INGEST_REPLACE &&
        (r.spec.nintervals ? replace_intervals(&r, r.spec.intervals, &err)
                           : replace_all(&r, &err))) {
        ingest__fail(&r, "replacing the table's data failed: %s", err.msg);
        goto out;
    }
    if (!has_rows) {
        if (swap_in(&r, &err))
            ingest__fail(&r, "deleting failed: %s", err.msg);
        else
            ingest__set_status(&r, CATALOG_JOB_SUCCEEDED, CATALOG_HEALTH_OK, "", 0, util_now_ns());
        goto out;
    }
    if (from_table) {
        if (ingest__table_rows(&r, &p, &err)) {
            ingest__fail(&r, "%s: %s",
                         r.spec.type == CATALOG_JOB_DELETE_DATA ? "the rows that remain"
                                                                : "the SELECT",
                         err.msg);
            goto out;
        }
    } else if (!(src = batch_source(&r, &r.spec, s3_dir, &err))) {
        ingest__fail(&r, "%s", err.msg);
        goto out;
    }
    bool inline_data = r.spec.source_type == CATALOG_SOURCE_INLINE;
    int64_t chunk_no = 0;
    while (src && !atomic_load(&job->stop)) {
        struct source_batch b;
        arena_reset(&text);
        if (source_poll(src, &text, 1, 0, &b, &err)) {
            ingest__fail(&r, "%s", err.msg);
            goto out;
        }
        if (b.end)
            break;
        for (size_t i = 0; i < b.n; i++) {
            arena_reset(&r.batch);
            const struct record *sr = &b.records[i];
            /* The chunk's text alone: offsets count chunks over all files. */
            struct record rec = {.data = sr->data,
                                 .len = sr->len,
                                 .partition = sr->partition,
                                 .offset = chunk_no++};
            if (ingest__ingest_records(&r, &rec, 1, &err) ||
                (!r.staging && storage_table_should_persist(r.table->st, util_now_ms()) &&
                 ingest__persist(&r, false, &err))) {
                if (inline_data)
                    ingest__fail(&r, "inline data: %s", err.msg);
                else
                    ingest__fail(&r, "%s '%s': %s",
                                 r.spec.source_type == CATALOG_SOURCE_S3 ? "object" : "file",
                                 sr->topic, err.msg);
                goto out;
            }
        }
    }
    if (atomic_load(&job->stop)) {
        /* Canceled: what was read stays only if it was already persisted. */
        goto out;
    }
    if (swap) {
        if (swap_in(&r, &err)) {
            ingest__fail(&r, "%s", err.msg);
            goto out;
        }
    } else if (ingest__persist(&r, false, &err) || !ingest__persister_drain(&r, 600000)) {
        ingest__fail(&r, "final persist failed: %s", err.code ? err.msg : r.ps.error);
        goto out;
    }
    ingest__set_status(&r, CATALOG_JOB_SUCCEEDED, CATALOG_HEALTH_OK, "", 0, util_now_ns());
    log_msg(LOG_INFO, "ingest", "batch job %s succeeded", job->id);
out:
    ingest__persister_stop(&r);
    ingest__staging_close(&r);
    source_close(src);
    if (r.spec.source_type == CATALOG_SOURCE_S3)
        util_remove_tree(s3_dir, &(struct lerr){0});
    pthread_mutex_lock(&job->mu);
    job->pipe = NULL;
    pthread_mutex_unlock(&job->mu);
    storage_db_put(r.rt->db, r.table);
    pipeline_free(p);
    catalog_job_spec_destroy(&r.spec);
    catalog_job_destroy(&r.cj);
    arena_destroy(&r.batch);
    arena_destroy(&text);
    free(r.batch_tally);
    arena_destroy(&r.ptable_mem);
    atomic_store(&job->done, true);
    ingest_runtime_notify(job->rt);
    return NULL;
}
