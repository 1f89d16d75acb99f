/*
 * runtime.c — what runs: the open tables, the push-connection logs, and one
 * runner thread per running streaming job, started and stopped by a
 * supervisor thread that follows each job's desiredExecutionStatus in the
 * catalog. A compactor thread merges small segments in the background.
 *
 * A streaming job has three threads: its fetcher polls the source and runs
 * each batch through the pipeline, its runner appends the rows to the table
 * and seals them, its persister writes sealed rows to segments.
 *
 * Exactly-once (DESIGN §6): a runner appends rows to the table's realtime
 * buffers and, when a persist bound is passed, persists them; the persist's
 * commit callback is one catalog transaction that registers the new segment
 * files, advances the (table, stream) checkpoint from the offsets it last
 * committed to the source's current position (compare-and-swap), and saves
 * the job's counters (which count only appended rows: a batch's counts join
 * them when the runner appends it). Rows and offsets therefore become
 * durable together; after kill -9 the buffers are gone, unregistered files
 * are removed when the table opens, and the job re-reads from the committed
 * offsets.
 *
 * A full disk: a persist that fails keeps its sealed rows (visible, uncommitted) and is
 * retried, with the job's health saying why; the runner stops reading once one more set
 * waits. Only a server shutdown gives up on it, after its bound (ingest_runtime_stop),
 * and the rows given up are read again after the restart (struct persister).
 *
 * Locks: rt->mu guards the registries (tables, logs, runners) and is never
 * held across I/O except while opening a table or log; a table's own mutex
 * serialises its writers (the runner's append/persist, schema changes);
 * job->mu guards a runner's source and pipeline pointers for API readers.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "storage/storage.h"
#include "util/time.h"

#define POLL_MAX_RECORDS 4096
#define POLL_TIMEOUT_MS 100
#define BATCH_ARENA_CAP (512u * 1024 * 1024)
#define RESET_CHECK_MS 500
#define GAP_WARN_MS 60000
#define TRIM_EVERY_MS 10000
#define COMPACT_EVERY_MS 30000
#define COMPACT_BACKOFF_MAX_MS 600000   /* a compaction that keeps failing: at most every 10 min */
#define SHUTDOWN_TIMEOUT_MS 10000       /* LODESTAR_SHUTDOWN_TIMEOUT_MS's default */
#define SHUTDOWN_GRACE_MS 5000          /* past the bound, for threads inside one last write */
#define PERSIST_RETRY_MS 1000
#define PERSIST_REPORT_MS 30000   /* a persist that keeps failing: health refreshed this often, */
#define PERSIST_LOG_MS 60000      /* and a log line this often */
#define PERSIST_FAILED "persisting failed (will retry): "

struct rt_table {
    struct rt_table *next;
    char name[256];
    char id[40];
    char dir[1200];
    struct storage_table *st;
    enum storage_gran partitioning;
    pthread_mutex_t mu;   /* writer lock */
    /* the compactor's own (only it reads or writes these) */
    int compact_failures;         /* in a row */
    int64_t compact_retry_ms;     /* no compaction before this (a failure's backoff) */
    int64_t compact_logged_ms;    /* when a failure was last logged */
};

struct rt_push {
    struct rt_push *next;
    char name[80];
    struct pushlog *log;
    int64_t last_trim_ms;
    int refs;        /* the registry's own (while listed) + one per user; under rt->mu */
};

struct rt_job {
    struct rt_job *next;
    struct ingest_runtime *rt;
    char id[37];
    char table[256];
    char connection[256];
    pthread_t th;
    atomic_bool stop;
    atomic_bool done;
    bool failed;
    pthread_mutex_t mu;   /* guards pipe and src for readers on other threads */
    struct pipeline *pipe;
    struct source *src;
    atomic_llong newest_produced_ms;
    atomic_llong persist_count;
    _Atomic double persist_ms_last;
};

struct ingest_runtime {
    struct catalog *cat;
    char dir[1024];
    struct ingest_runtime_opts opts;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stopping;
    _Atomic int64_t stop_deadline_ns;   /* set before `stopping`: failing persists give up then */
    _Atomic bool compactor_done;
    _Atomic uint64_t unpersisted_rows;  /* rows runners gave up at the shutdown bound */
    char unpersisted_tables[512];       /* their tables, quoted (under mu) */
    bool kick;
    struct rt_table *tables;
    struct rt_push *pushes;
    struct rt_job *jobs;
    pthread_t supervisor, compactor;
    /* Prometheus numbers */
    atomic_llong persists, persist_failures;
    atomic_llong persist_us_total;
    atomic_llong persist_hist[8];   /* <=10ms, 50, 100, 250, 500, 1000, 5000, +Inf */
};

static const double persist_buckets_ms[] = {10, 50, 100, 250, 500, 1000, 5000};

/* ---- tables ------------------------------------------------------------------ */

/* A table document's columns (not __time) as storage columns; names and aggs from `mem`. */
static int doc_columns(json_t *doc, struct arena *mem, struct storage_column **out, size_t *n,
                       struct lerr *err)
{
    json_t *schema = json_object_get(doc, "schema");
    size_t cap = json_array_size(schema);
    struct storage_column *cols = arena_zalloc(mem, (cap + 1) * sizeof *cols);
    if (!cols)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    size_t k = 0, i;
    json_t *c;
    json_array_foreach(schema, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *dt = json_string_value(json_object_get(c, "dataType"));
        const char *ct = json_string_value(json_object_get(c, "columnType"));
        if (!name || !dt || strcmp(name, "__time") == 0)
            continue;
        struct storage_column *sc = &cols[k];
        sc->name = arena_strdup(mem, name);
        if (ct && strcmp(ct, "measure") == 0) {
            if (!sql_agg_for_measure(dt, &sc->agg))
                return lerr_set(err, LERR_INVALID,
                                "column '%s' has measure type %s, which is not supported yet",
                                name, dt);
            sc->kind = STORAGE_MEASURE;
            sc->type = sc->agg.result_type;
        } else {
            int t = sql_type_from_name(dt, strlen(dt));
            if (t < 0)
                return lerr_set(err, LERR_INVALID, "column '%s' has unknown type %s", name, dt);
            sc->kind = STORAGE_DIMENSION;
            sc->type = (uint8_t)t;
        }
        k++;
    }
    *out = cols;
    *n = k;
    return 0;
}

static json_t *load_table_doc(struct ingest_runtime *rt, const char *name, struct lerr *err)
{
    struct catalog_doc d = {0};
    if (catalog_doc_get(rt->cat, CATALOG_TABLE, name, &d, err))
        return NULL;
    json_t *doc = json_loads(d.doc, 0, NULL);
    catalog_doc_destroy(&d);
    if (!doc)
        lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", name);
    return doc;
}

static int open_storage(struct ingest_runtime *rt, struct rt_table *t, json_t *doc,
                        struct lerr *err)
{
    struct arena mem;
    arena_init(&mem, 16 * 1024, 0);
    struct storage_column *cols = NULL;
    size_t ncols = 0;
    struct catalog_segment_list segs = {0};
    const char **known = NULL;
    int64_t *chunks = NULL;
    int rc = doc_columns(doc, &mem, &cols, &ncols, err);
    if (rc)
        goto out;
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *gran = json_string_value(json_object_get(doc, "partitioningGranularity"));
    const char *res = json_string_value(json_object_get(doc, "timeResolution"));
    struct storage_schema sch = {
        .type = type && strcmp(type, "aggregate") == 0 ? STORAGE_AGGREGATE : STORAGE_DETAIL,
        .partitioning = gran ? (enum storage_gran)storage_gran_parse(gran, strlen(gran))
                             : STORAGE_GRAN_DAY,
        .time_resolution = res ? (enum storage_gran)storage_gran_parse(res, strlen(res))
                               : STORAGE_GRAN_MILLISECOND,
        .cols = cols,
        .ncols = ncols,
    };
    t->partitioning = sch.partitioning;
    if ((rc = catalog_segment_list(rt->cat, t->name, &segs, err)))
        goto out;
    known = calloc(segs.n + 1, sizeof *known);
    chunks = calloc(2 * segs.n + 1, sizeof *chunks);
    if (!known || !chunks) {
        rc = lerr_set(err, LERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < segs.n; i++) {
        const char *slash = strrchr(segs.items[i].path, '/');
        known[i] = slash ? slash + 1 : segs.items[i].path;
        chunks[2 * i] = segs.items[i].chunk_start;
        chunks[2 * i + 1] = segs.items[i].chunk_end;
    }
    struct storage_open_opts oo = {
        /* A job holds the set it fills and at most one sealed set being written, so
         * each takes half of the 1M-row / 256 MB budget by default. */
        .limits = {rt->opts.persist_max_rows ? rt->opts.persist_max_rows : 500000,
                   rt->opts.persist_max_bytes ? rt->opts.persist_max_bytes : 128u << 20,
                   rt->opts.persist_max_age_ms},
        .known = known,
        .nknown = segs.n,
        .known_chunks = chunks,
    };
    rc = storage_table_open(t->dir, t->name, &sch, &oo, &t->st, err);
out:
    free(known);
    free(chunks);
    catalog_segment_list_free(&segs);
    arena_destroy(&mem);
    return rc;
}

/* The open table of that name (opening it on first use), or NULL + err. */
static struct rt_table *table_get(struct ingest_runtime *rt, const char *name, struct lerr *err)
{
    pthread_mutex_lock(&rt->mu);
    for (struct rt_table *t = rt->tables; t; t = t->next) {
        if (strcmp(t->name, name) == 0) {
            pthread_mutex_unlock(&rt->mu);
            return t;
        }
    }
    struct rt_table *t = NULL;
    json_t *doc = load_table_doc(rt, name, err);
    if (!doc)
        goto out;
    t = calloc(1, sizeof *t);
    if (!t) {
        lerr_set(err, LERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->id, sizeof t->id, "%s", json_string_value(json_object_get(doc, "id")));
    snprintf(t->dir, sizeof t->dir, "%s/tables/%s", rt->dir, t->id);
    pthread_mutex_init(&t->mu, NULL);
    if (open_storage(rt, t, doc, err)) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        t = NULL;
        goto out;
    }
    t->next = rt->tables;
    rt->tables = t;
out:
    json_decref(doc);
    pthread_mutex_unlock(&rt->mu);
    return t;
}

/* Adds table-document columns that storage does not have yet. Table lock held. */
static int sync_columns(struct ingest_runtime *rt, struct rt_table *t, struct lerr *err)
{
    json_t *doc = load_table_doc(rt, t->name, err);
    if (!doc)
        return err->code;
    struct arena mem;
    arena_init(&mem, 16 * 1024, 0);
    struct storage_column *cols;
    size_t n;
    int rc = doc_columns(doc, &mem, &cols, &n, err);
    for (size_t i = 0; !rc && i < n; i++)
        if (storage_table_find_column(t->st, cols[i].name, strlen(cols[i].name)) < 0 &&
            storage_table_add_column(t->st, &cols[i], err) < 0)
            rc = err->code;
    arena_destroy(&mem);
    json_decref(doc);
    return rc;
}

struct storage_snapshot *ingest_table_snapshot(struct ingest_runtime *rt, const char *name,
                                               struct lerr *err)
{
    struct rt_table *t = table_get(rt, name, err);
    if (!t)
        return NULL;
    struct storage_snapshot *s = storage_table_snapshot(t->st);
    if (!s)
        lerr_set(err, LERR_NOMEM, "out of memory taking a snapshot of '%s'", name);
    return s;
}

int ingest_table_status(struct ingest_runtime *rt, const char *name, struct storage_status *out,
                        struct lerr *err)
{
    struct rt_table *t = table_get(rt, name, err);
    if (!t)
        return err->code;
    storage_table_status(t->st, out);
    return 0;
}

bool ingest_table_corrupt(struct ingest_runtime *rt, const char *name, size_t i, char *file,
                          size_t file_cap, char *msg, size_t msg_cap)
{
    struct lerr err;
    lerr_init(&err);
    struct rt_table *t = table_get(rt, name, &err);
    return t && storage_table_corrupt(t->st, i, file, file_cap, msg, msg_cap);
}

void ingest_table_lock(struct ingest_runtime *rt, const char *name)
{
    struct lerr err;
    lerr_init(&err);
    struct rt_table *t = table_get(rt, name, &err);
    if (t)
        pthread_mutex_lock(&t->mu);
}

void ingest_table_unlock(struct ingest_runtime *rt, const char *name)
{
    struct lerr err;
    lerr_init(&err);
    struct rt_table *t = table_get(rt, name, &err);
    if (!t)
        return;
    if (sync_columns(rt, t, &err))
        log_msg(LOG_WARN, "ingest", "table '%s': %s", name, err.msg);
    pthread_mutex_unlock(&t->mu);
}

static void remove_tree(const char *dir)
{
    struct lerr err;
    lerr_init(&err);
    if (util_remove_tree(dir, &err))
        log_msg(LOG_WARN, "ingest", "%s", err.msg);
}

void ingest_table_dropped(struct ingest_runtime *rt, const char *name, const char *table_id)
{
    pthread_mutex_lock(&rt->mu);
    struct rt_table **pp = &rt->tables, *t = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            t = *pp;
            *pp = t->next;
            break;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/tables/%s", rt->dir, table_id);
    if (t) {
        struct lerr err;
        lerr_init(&err);
        pthread_mutex_lock(&t->mu);
        storage_table_drop_data(t->st, &err);
        pthread_mutex_unlock(&t->mu);
        storage_table_free(t->st);
        pthread_mutex_destroy(&t->mu);
        free(t);
    }
    if (util_uuid_valid(table_id))
        remove_tree(dir);
}

/* ---- push logs --------------------------------------------------------------- */

/*
 * The open log of a push connection (opening it on first use), with a
 * reference the caller gives back with push_put(): a deleted connection's log
 * is closed once its last user is done.
 */
static struct rt_push *push_get(struct ingest_runtime *rt, const char *name, struct lerr *err)
{
    if (!util_name_is_path_safe(name)) {
        lerr_set(err, LERR_INVALID, "connection name '%s' cannot name a push log directory",
                 name);
        return NULL;
    }
    pthread_mutex_lock(&rt->mu);
    struct rt_push *p = rt->pushes;
    while (p && strcmp(p->name, name) != 0)
        p = p->next;
    if (!p) {
        p = calloc(1, sizeof *p);
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/push/%s", rt->dir, name);
        if (!p) {
            lerr_set(err, LERR_NOMEM, "out of memory");
        } else if (util_mkdirs(dir, 0700, err) ||
                   pushlog_open(dir, &(struct pushlog_opts){.segment_bytes =
                                                                rt->opts.push_segment_bytes},
                                &p->log, err)) {
            free(p);
            p = NULL;
        } else {
            snprintf(p->name, sizeof p->name, "%s", name);
            p->refs = 1;
            p->next = rt->pushes;
            rt->pushes = p;
        }
    }
    if (p)
        p->refs++;
    pthread_mutex_unlock(&rt->mu);
    return p;
}

static void push_put(struct ingest_runtime *rt, struct rt_push *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&rt->mu);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&rt->mu);
    if (last) {
        pushlog_close(p->log);
        free(p);
    }
}

int ingest_push_append(struct ingest_runtime *rt, const char *connection,
                       const struct pushlog_entry *e, size_t n, int64_t *first,
                       struct lerr *err)
{
    struct rt_push *p = push_get(rt, connection, err);
    if (!p)
        return err->code;
    int rc = pushlog_append(p->log, e, n, first, err);
    push_put(rt, p);
    return rc;
}

struct source *ingest_push_source(struct ingest_runtime *rt, const char *connection,
                                  void **hold, struct lerr *err)
{
    struct rt_push *p = push_get(rt, connection, err);
    struct source *src = p ? source_open_push(p->log, connection, err) : NULL;
    if (!src)
        push_put(rt, p);
    *hold = src ? p : NULL;
    return src;
}

void ingest_push_source_close(struct ingest_runtime *rt, struct source *src, void *hold)
{
    source_close(src);
    push_put(rt, hold);
}

int ingest_push_dropped(struct ingest_runtime *rt, const char *connection, struct lerr *err)
{
    if (!util_name_is_path_safe(connection))
        return 0;   /* never had a log directory */
    char stream[300];
    snprintf(stream, sizeof stream, "push:%s", connection);
    int rc = catalog_checkpoint_drop_stream(rt->cat, stream, err);
    pthread_mutex_lock(&rt->mu);
    struct rt_push **pp = &rt->pushes, *p = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, connection) == 0) {
            p = *pp;
            *pp = p->next;
            break;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (p) {
        /* Appends and previews finish quickly; no job reads a deleted connection (the
         * catalog refuses to delete one a live job uses). Wait for them, then close. */
        for (int waited = 0; waited < 10000; waited += 10) {
            pthread_mutex_lock(&rt->mu);
            bool alone = p->refs == 1;
            pthread_mutex_unlock(&rt->mu);
            if (alone)
                break;
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        push_put(rt, p);
    }
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/push/%s", rt->dir, connection);
    struct lerr e;
    lerr_init(&e);
    if (util_remove_tree(dir, &e)) {
        log_msg(LOG_WARN, "ingest", "push connection '%s': %s", connection, e.msg);
        if (!rc)
            rc = lerr_set(err, e.code, "%s", e.msg);
    }
    return rc;
}

/*
 * Deletes push-log files every live job reading the log has checkpointed
 * past. A live job without a checkpoint yet holds everything.
 */
static void push_trim(struct ingest_runtime *rt, const char *conn, const char *stream)
{
    struct lerr err;
    lerr_init(&err);
    struct rt_push *p = push_get(rt, conn, &err);
    int64_t now = util_now_ms();
    if (!p || now - p->last_trim_ms < (rt->opts.trim_period_ms ? rt->opts.trim_period_ms
                                                                 : TRIM_EVERY_MS)) {
        push_put(rt, p);
        return;
    }
    p->last_trim_ms = now;
    struct catalog_job_list jobs;
    if (catalog_job_list(rt->cat, &jobs, &err))
        return;
    int64_t min = INT64_MAX;
    for (size_t i = 0; i < jobs.n; i++) {
        const struct catalog_job *j = &jobs.items[i];
        if (strcmp(j->connection_name, conn) != 0 || !catalog_job_status_live(j->status))
            continue;
        char *off = NULL;
        struct source_offsets o;
        source_offsets_init(&o);
        int64_t next = -1;
        if (catalog_checkpoint_get(rt->cat, j->table_name, stream, &off, &err) == 0 &&
            source_offsets_from_json(off, strlen(off), &o, &err) == 0)
            next = source_offsets_get(&o, conn, 0);
        lerr_init(&err);
        free(off);
        source_offsets_destroy(&o);
        min = next < 0 ? -1 : (next < min ? next : min);
        if (min < 0)
            break;
    }
    catalog_job_list_free(&jobs);
    int deleted = 0;
    if (min > 0 && min != INT64_MAX && pushlog_trim(p->log, min, &deleted, &err) == 0 && deleted)
        log_msg(LOG_INFO, "ingest", "push log '%s': deleted %d file(s) below offset %lld", conn,
                deleted, (long long)min);
    push_put(rt, p);
}

/* ---- streams and their checkpoints ------------------------------------------------ */

void ingest_stream_key(const struct catalog_doc *conn, char *out, size_t cap)
{
    json_t *doc = json_loads(conn->doc ? conn->doc : "", 0, NULL);
    const char *topic = json_string_value(json_object_get(doc, "topicName"));
    const char *pattern = json_string_value(json_object_get(doc, "topicNamePattern"));
    if (strcmp(conn->kind, "push_streaming") == 0)
        snprintf(out, cap, "push:%s", conn->name);
    else if (topic)
        snprintf(out, cap, "%s", topic);
    else
        snprintf(out, cap, "pattern:%s", pattern ? pattern : "");
    json_decref(doc);
}

int ingest_job_created(struct ingest_runtime *rt, const struct catalog_job *j, struct lerr *err)
{
    if (strcmp(j->type, "streaming") != 0)
        return 0;
    struct catalog_doc cd = {0};
    if (catalog_doc_get(rt->cat, CATALOG_CONNECTION, j->connection_name, &cd, err))
        return err->code;
    char stream[300];
    ingest_stream_key(&cd, stream, sizeof stream);
    bool push = strcmp(cd.kind, "push_streaming") == 0;
    catalog_doc_destroy(&cd);
    int dropped = 0;
    if (catalog_checkpoint_claim(rt->cat, j->table_name, stream, &dropped, err))
        return err->code;
    if (dropped)
        log_msg(LOG_INFO, "ingest",
                "job %s: table '%s' now reads %s; its checkpoint of another topic or stream "
                "was dropped",
                j->id, j->table_name, stream);
    if (!push)
        return 0;   /* a Kafka job resolves readFromPoint when it starts (it needs the broker) */
    /* A push connection's readFromPoint is resolved now, so that every event
     * acknowledged after the job was created reaches it, however soon. */
    char *cur = NULL;
    struct lerr e;
    lerr_init(&e);
    if (catalog_checkpoint_get(rt->cat, j->table_name, stream, &cur, &e) == 0) {
        free(cur);
        return 0;   /* the table resumes where it stopped reading this stream */
    }
    struct rt_push *p = push_get(rt, j->connection_name, err);
    if (!p)
        return err->code;
    json_t *spec = json_loads(j->spec ? j->spec : "", 0, NULL);
    const char *rfp = json_string_value(json_object_get(spec, "readFromPoint"));
    int64_t at = rfp && strcmp(rfp, "earliest") == 0 ? pushlog_start_offset(p->log)
                                                     : pushlog_end_offset(p->log);
    push_put(rt, p);
    json_decref(spec);
    struct source_offsets o;
    source_offsets_init(&o);
    char *text = NULL;
    int rc = source_offsets_set(&o, j->connection_name, 0, at, err);
    if (!rc && !(text = source_offsets_to_json(&o, err)))
        rc = err->code;
    struct catalog_commit cm = {.table_name = j->table_name, .stream = stream,
                                .expected_offsets = NULL, .new_offsets = text};
    if (!rc && (rc = catalog_commit(rt->cat, &cm, &e)) == LERR_CONFLICT)
        rc = 0;   /* a checkpoint appeared meanwhile: it stands */
    else if (rc)
        lerr_set(err, rc, "%s", e.msg);
    free(text);
    source_offsets_destroy(&o);
    return rc;
}

/* ---- a runner --------------------------------------------------------------------- */

/*
 * A runner's persister: a thread that turns sealed buffers into segments and
 * commits them with their offsets, in order, while the runner keeps reading.
 * At most PERSIST_QUEUE sealed sets wait; the runner blocks past that.
 */
#define PERSIST_QUEUE 1

struct persist_item {
    struct storage_sealed *sealed;
    char *offsets;     /* the checkpoint this persist commits; NULL keeps it */
    char *counters;    /* the job's counters at the seal */
};

struct persister {
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct persist_item q[PERSIST_QUEUE];
    size_t head, n;
    bool stop;
    bool conflict;        /* a commit met a moved checkpoint: a reset happened */
    char *expected;       /* the checkpoint text last committed (or found) */
    char error[512];      /* the last failure, until a persist succeeds */
    /* Failures: the set is kept and retried every PERSIST_RETRY_MS. Once a shutdown's bound
     * passes with persists still failing, the persister gives up for good (sticky): every
     * set, this one and those queued after it, is dropped uncommitted — committing a later
     * set would move the checkpoint past the rows of the dropped one. */
    bool abandoned;
    uint64_t abandoned_rows;
    uint64_t failures;    /* attempts failed in a row */
    int64_t failing_since_ns, reported_ns, logged_ns;
};

/*
 * Rows of a batch ready to append: the pipeline's output as a storage batch
 * (columns mapped to the table's), and the batch's counts, which join the
 * job's counters only when the rows are appended.
 */
struct staged {
    struct storage_batch sb;
    struct pipeline_counters counts;
};

/*
 * A runner's fetcher: a thread that polls the source, copies each batch
 * (records and the source position after it) into one of FETCH_SLOTS slots
 * and runs it through the pipeline there, so that reading and parsing the
 * next batches (one core) overlap the runner appending this one (the
 * other). Batches are small enough that a slot's rows are still in cache
 * when the runner appends them. Only the fetcher calls source_poll() and
 * uses the pipeline's row path; the runner touches the source only while
 * the fetcher is paused (assign, reset).
 */
#define FETCH_SLOTS 4
/* A slot's arena block holds a whole batch (~430-byte records and their rows), so that
 * reusing a slot reuses its memory. */
#define SLOT_BLOCK (8u << 20)

struct fetch_slot {
    struct arena mem;            /* the records' copies and the pipeline's output */
    struct format_record *recs;
    size_t n;
    struct staged rows;
    struct source_offsets pos;   /* the position after this batch */
    struct source_gap *gaps;
    size_t ngaps;
    bool partitions_changed;
    int64_t newest;              /* newest Kafka timestamp in the batch, -1 none */
    int rc;
    struct lerr err;
};

struct fetcher {
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fetch_slot slot[FETCH_SLOTS];
    size_t head, n;              /* ready slots, in order */
    bool stop, pause, paused;
};

struct runner {
    struct rt_job *job;
    struct persister ps;
    struct fetcher fx;
    struct source_offsets appended;   /* the source position after the last appended batch */
    struct ingest_runtime *rt;
    struct rt_table *table;
    struct catalog_job cj;
    json_t *spec;
    char stream[300];
    char read_from[16];
    int64_t reset_generation;
    struct arena batch;              /* batch jobs: the rows of one chunk of text */
    struct pipeline_table ptable;
    struct arena ptable_mem;
    char health[8];
    char health_msg[512];
    int64_t gap_until_ms;
    char gap_msg[512];
    int64_t last_commit_ms;
    bool dirty_offsets;        /* polled past the last committed offsets */
    /* The partitions the checkpoint holds (committed, or queued to be, in order): a
     * partition outside it gets its start committed before any of its rows is
     * appended (commit_starts). has_checkpoint: the stream has one at all. */
    struct source_offsets covered;
    bool has_checkpoint;
    /* The source cannot go on from the checkpoint (a push log that lost records
     * past it): health error with blocked_msg until a reset. */
    bool blocked;
    char blocked_msg[512];
    void *push_hold;           /* the push log's reference while the source reads it */
    /* rejection rate over a sliding window of rows */
    struct pipeline_counters window_start;
    int64_t window_start_ms;
};

#define REJECT_WINDOW_MS 10000
#define REJECT_WARN_MIN_ROWS 100
#define REJECT_WARN_PERCENT 50

static void set_status(struct runner *r, const char *status, const char *health,
                       const char *msg, int64_t started, int64_t completed)
{
    struct lerr err;
    lerr_init(&err);
    if (catalog_job_set_status(r->rt->cat, r->job->id, status, health, msg, started, completed,
                               &err))
        log_msg(LOG_WARN, "ingest", "job %s: cannot record status: %s", r->job->id, err.msg);
}

static void set_health(struct runner *r, const char *health, const char *msg)
{
    if (strcmp(r->health, health) == 0 && strcmp(r->health_msg, msg) == 0)
        return;
    snprintf(r->health, sizeof r->health, "%s", health);
    snprintf(r->health_msg, sizeof r->health_msg, "%s", msg);
    set_status(r, "running", health, msg, 0, 0);
    if (strcmp(health, "ok") != 0)
        log_msg(LOG_WARN, "ingest", "job %s: %s", r->job->id, msg);
}

static void fail(struct runner *r, const char *fmt, ...) LS_PRINTF(2, 3);
static void fail(struct runner *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(LOG_ERROR, "ingest", "job %s failed: %s", r->job->id, msg);
    set_status(r, "failed", "error", msg, 0, util_now_ns());
    r->job->failed = true;
}

/* The table as the pipeline sees it: type, mode and declared columns. */
static int build_ptable(struct runner *r, struct lerr *err)
{
    struct catalog_doc d = {0};
    if (catalog_doc_get(r->rt->cat, CATALOG_TABLE, r->cj.table_name, &d, err))
        return err->code;
    int rc = pipeline_table_from_json(d.doc, &r->ptable_mem, &r->ptable, err);
    catalog_doc_destroy(&d);
    return rc;
}

/*
 * Gives every pipeline column a storage column, adding the missing ones to
 * the table (document and storage) — flexible tables grow as discovery and
 * mappings name new columns. Table lock held.
 */
static int ensure_columns(struct runner *r, struct lerr *err)
{
    struct pipeline *p = r->job->pipe;
    size_t n = pipeline_ncolumns(p);
    json_t *doc = NULL;
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        struct pipeline_column *c = pipeline_column(p, i);
        if (c->storage_col >= 0)
            continue;
        int idx = storage_table_find_column(r->table->st, c->name, strlen(c->name));
        if (idx < 0) {
            if (r->ptable.strict)
                return lerr_set(err, LERR_INVALID,
                                "column '%s' is not in strict table '%s'; add it to the table's "
                                "schema",
                                c->name, r->table->name);
            if (!doc && !(doc = load_table_doc(r->rt, r->table->name, err)))
                return err->code;
            struct storage_column sc = {.name = c->name,
                                        .type = c->type == SQL_BOOLEAN ? SQL_LONG : c->type,
                                        .kind = c->measure ? STORAGE_MEASURE : STORAGE_DIMENSION};
            if (c->measure)
                sc.agg = *c->agg;
            if (sc.type == SQL_ARRAY || sc.type == SQL_NULL)
                sc.type = SQL_STRING;
            idx = storage_table_add_column(r->table->st, &sc, err);
            if (idx < 0) {
                json_decref(doc);
                return err->code;
            }
            const char *dt = c->measure ? NULL : sql_type_name(sc.type);
            char buf[32];   /* fetchers of different tables run this at once */
            if (c->measure) {
                static const char *const names[] = {
                    [SQL_AGG_COUNT_STAR] = "count", [SQL_AGG_COUNT] = "count",
                    [SQL_AGG_SUM] = "Sum",          [SQL_AGG_MIN] = "Min",
                    [SQL_AGG_MAX] = "Max",          [SQL_AGG_LATEST] = "Latest",
                    [SQL_AGG_EARLIEST] = "Earliest", [SQL_AGG_LATEST_BY] = "Latest",
                    [SQL_AGG_EARLIEST_BY] = "Earliest"};
                const char *suffix = c->agg->kind < LS_ARRAY_LEN(names) && names[c->agg->kind]
                                         ? names[c->agg->kind] : "Sum";
                const char *base = c->type == SQL_DOUBLE || c->type == SQL_FLOAT ? "double"
                                   : c->type == SQL_STRING                      ? "string"
                                                                               : "long";
                if (strcmp(suffix, "count") == 0)
                    snprintf(buf, sizeof buf, "count");
                else
                    snprintf(buf, sizeof buf, "%s%s", base, suffix);
                dt = buf;
            }
            json_array_append_new(json_object_get(doc, "schema"),
                                  json_pack("{s:s, s:s, s:s}", "name", c->name, "dataType", dt,
                                            "columnType", c->measure ? "measure" : "dimension"));
            changed = true;
        }
        c->storage_col = idx;
    }
    if (changed) {
        struct catalog_doc d = {.doc = json_dumps(doc, JSON_COMPACT), .modified_ns = util_now_ns()};
        snprintf(d.name, sizeof d.name, "%s", r->table->name);
        int rc = catalog_doc_update(r->rt->cat, CATALOG_TABLE, &d, err);
        free(d.doc);
        json_decref(doc);
        return rc;
    }
    return 0;
}

/* ---- persist: rows and offsets, one transaction ------------------------------------ */

struct commit_ctx {
    struct runner *r;
    const char *new_offsets;   /* NULL: leave the checkpoint as it is */
    const char *counters;
};

static void segment_row(const struct rt_table *t, const struct storage_segment_info *s,
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

static int commit_tx(struct ingest_runtime *rt, struct rt_table *t, const char *job_id,
                     const char *stream, const char *expected, const char *new_offsets,
                     const char *counters, const struct storage_segment_info *added,
                     size_t nadded, const struct storage_segment_info *removed, size_t nremoved,
                     struct lerr *err)
{
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
    return commit_tx(r->rt, r->table, r->job->id, r->stream, r->ps.expected, c->new_offsets,
                     c->counters, added, nadded, removed, nremoved, err);
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
static char *counters_json(const struct pipeline_counters *c, struct pipeline *pipe)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "numRowsProcessed", (json_int_t)c->processed,
                          "numRowsProcessedWithWarnings", (json_int_t)c->processed_with_warnings,
                          "numRowsSkippedByFilter", (json_int_t)c->skipped_by_filter,
                          "numRowsSkippedByError", (json_int_t)c->skipped_by_error);
    json_t *reasons = json_object();
    for (int i = 1; i < PIPE_R__COUNT; i++)
        json_object_set_new(reasons, pipeline_reason_name(i), json_integer((json_int_t)c->by_reason[i]));
    json_object_set_new(o, "byReason", reasons);
    json_object_set_new(o, "newestEventTime", json_integer(c->newest_event_ms));
    struct pipeline_rejection *rej = pipe ? calloc(PIPE_RING, sizeof *rej) : NULL;
    if (rej) {
        size_t n = pipeline_rejections(pipe, rej, PIPE_RING);
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

/* The saved "logs" back into a pipeline's ring (what /logs lists). */
static void rejections_from_json(const char *text, struct pipeline *pipe)
{
    json_t *o = json_loads(text, 0, NULL);
    json_t *logs = json_object_get(o, "logs");
    size_t n = json_array_size(logs);
    struct pipeline_rejection *rej = n ? calloc(n, sizeof *rej) : NULL;
    size_t k = 0;
    for (size_t i = 0; rej && i < n; i++) {
        json_t *e = json_array_get(logs, i);
        struct pipeline_rejection *r = &rej[k];
        int oc = name_index(json_string_value(json_object_get(e, "outcome")),
                            pipeline_outcome_name, 4);
        int why = name_index(json_string_value(json_object_get(e, "reason")),
                             pipeline_reason_name, PIPE_R__COUNT);
        const char *ts = json_string_value(json_object_get(e, "timestamp"));
        if (oc < 0 || why < 0 || !ts || !time_parse_iso(ts, strlen(ts), NULL, &r->at_ms))
            continue;   /* written by another version: leave it out */
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
        k++;
    }
    if (k)
        pipeline_rejections_restore(pipe, rej, k);
    free(rej);
    json_decref(o);
}

static void counters_from_json(const char *text, struct pipeline_counters *c)
{
    memset(c, 0, sizeof *c);
    c->newest_event_ms = INT64_MIN;
    json_t *o = json_loads(text, 0, NULL);
    if (!o)
        return;
    c->processed = (uint64_t)json_integer_value(json_object_get(o, "numRowsProcessed"));
    c->processed_with_warnings =
        (uint64_t)json_integer_value(json_object_get(o, "numRowsProcessedWithWarnings"));
    c->skipped_by_filter = (uint64_t)json_integer_value(json_object_get(o, "numRowsSkippedByFilter"));
    c->skipped_by_error = (uint64_t)json_integer_value(json_object_get(o, "numRowsSkippedByError"));
    json_t *reasons = json_object_get(o, "byReason");
    for (int i = 1; i < PIPE_R__COUNT; i++)
        c->by_reason[i] =
            (uint64_t)json_integer_value(json_object_get(reasons, pipeline_reason_name(i)));
    json_t *nt = json_object_get(o, "newestEventTime");
    if (nt)
        c->newest_event_ms = json_integer_value(nt);
    json_decref(o);
}

static void observe_persist(struct ingest_runtime *rt, double ms, bool ok)
{
    atomic_fetch_add(&rt->persists, 1);
    if (!ok)
        atomic_fetch_add(&rt->persist_failures, 1);
    atomic_fetch_add(&rt->persist_us_total, (long long)(ms * 1000));
    size_t b = 0;
    while (b < LS_ARRAY_LEN(persist_buckets_ms) && ms > persist_buckets_ms[b])
        b++;
    atomic_fetch_add(&rt->persist_hist[b], 1);
}

/* Persists one sealed set; on a moved checkpoint keeps it and says so. Persister thread. */
static int persist_item(struct runner *r, struct persist_item *it, struct lerr *err)
{
    struct commit_ctx ctx = {r, it->offsets, it->counters};
    int64_t t0 = util_mono_ns();
    int rc = storage_table_persist_sealed(r->table->st, it->sealed, persist_commit, &ctx, err);
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
static void persist_failed(struct runner *r, const struct persist_item *it,
                           const struct lerr *err)
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
                    break;   /* the job failed: its rows are re-read when it runs again */
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
        memset(it, 0, sizeof *it);
        p->head = (p->head + 1) % PERSIST_QUEUE;
        p->n--;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int persister_start(struct runner *r, struct lerr *err)
{
    pthread_mutex_init(&r->ps.mu, NULL);
    pthread_cond_init(&r->ps.cv, NULL);
    if (pthread_create(&r->ps.th, NULL, persister_main, r) != 0)
        return lerr_set(err, LERR_INTERNAL, "cannot start the persist thread");
    pthread_setname_np(r->ps.th, "job-persist");   /* for top -H and perf */
    r->ps.started = true;
    return 0;
}

/*
 * Waits until every queued persist is done: true when they all committed; false when one
 * kept failing past timeout_ms (< 0: no limit) or was given up at a shutdown's bound.
 */
static bool persister_drain(struct runner *r, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX
                                      : util_mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&r->ps.mu);
    while (r->ps.n && util_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->ps.cv, &r->ps.mu, &ts);
    }
    bool ok = r->ps.n == 0 && !r->ps.abandoned;
    pthread_mutex_unlock(&r->ps.mu);
    return ok;
}

static void persister_stop(struct runner *r)
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
static void update_health(struct runner *r);

static int persist(struct runner *r, bool advance, struct lerr *err)
{
    struct source_offsets pos;
    source_offsets_init(&pos);
    struct persist_item it = {0};
    int rc = 0;
    if (advance && r->job->src) {
        /* The position after the last batch appended, not the source's own (the
         * fetcher may have read further): exactly the rows being sealed. */
        if (!(it.offsets = source_offsets_to_json(&r->appended, err))) {
            rc = err->code;
            goto out;
        }
    }
    struct pipeline_counters pc;
    pipeline_counters(r->job->pipe, &pc);
    it.counters = counters_json(&pc, r->job->pipe);
    /* Back-pressure: wait for the set being written (while persists keep failing, the
     * persister's retries and, at a shutdown, its bound decide how long). */
    pthread_mutex_lock(&r->ps.mu);
    while (r->ps.n == PERSIST_QUEUE) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (pthread_cond_timedwait(&r->ps.cv, &r->ps.mu, &ts) == ETIMEDOUT && r->job->src) {
            /* the persister is slow or failing (a full disk): health says so meanwhile */
            pthread_mutex_unlock(&r->ps.mu);
            update_health(r);
            pthread_mutex_lock(&r->ps.mu);
        }
    }
    pthread_mutex_unlock(&r->ps.mu);
    pthread_mutex_lock(&r->table->mu);
    rc = storage_table_seal(r->table->st, &it.sealed, err);
    pthread_mutex_unlock(&r->table->mu);
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
    source_offsets_destroy(&pos);
    return rc;
}

/* ---- start, reset, loop ---------------------------------------------------------- */

static int open_source(struct runner *r, struct lerr *err)
{
    struct catalog_doc cd = {0};
    if (catalog_doc_get(r->rt->cat, CATALOG_CONNECTION, r->cj.connection_name, &cd, err))
        return err->code;
    struct source *src = NULL;
    if (strcmp(cd.kind, "push_streaming") == 0) {
        src = ingest_push_source(r->rt, cd.name, &r->push_hold, err);
    } else {
        struct arena a;
        arena_init(&a, 4096, 0);
        struct source_kafka_config cfg;
        if (source_kafka_config_from_json(cd.doc, cd.secret, &cfg, &a, err) == 0) {
            /* Blocking metadata calls bound how fast a runner notices suspend/cancel. */
            cfg.timeout_ms = 2000;
            src = source_open_kafka(&cfg, err);
        }
        arena_destroy(&a);
    }
    catalog_doc_destroy(&cd);
    if (!src)
        return err->code;
    pthread_mutex_lock(&r->job->mu);
    r->job->src = src;
    pthread_mutex_unlock(&r->job->mu);
    return 0;
}

static int64_t default_start(const struct runner *r)
{
    return strcmp(r->read_from, "earliest") == 0 ? SOURCE_OFFSET_EARLIEST : SOURCE_OFFSET_LATEST;
}

/* Seeks the source to the checkpoint, or to readFromPoint when there is none. */
static int assign_from_checkpoint(struct runner *r, struct lerr *err)
{
    char *text = NULL;
    struct source_offsets start;
    source_offsets_init(&start);
    struct lerr e;
    lerr_init(&e);
    int rc = catalog_checkpoint_get(r->rt->cat, r->cj.table_name, r->stream, &text, &e);
    if (rc && rc != LERR_NOT_FOUND) {
        source_offsets_destroy(&start);
        return lerr_set(err, rc, "%s", e.msg);
    }
    if (text && source_offsets_from_json(text, strlen(text), &start, err)) {
        free(text);
        source_offsets_destroy(&start);
        return err->code;
    }
    pthread_mutex_lock(&r->ps.mu);
    free(r->ps.expected);
    r->ps.expected = text;
    pthread_mutex_unlock(&r->ps.mu);
    r->has_checkpoint = text != NULL;
    rc = source_offsets_copy(&r->covered, &start, err);
    /* readFromPoint applies only where the table's reading of this stream starts
     * afresh (the first start, a new topic, a reset). A partition an existing
     * checkpoint does not name appeared after it was taken: all of its records are
     * new to the job, so it starts at its earliest offset. */
    if (!rc)
        rc = source_assign(r->job->src, &start, text ? SOURCE_OFFSET_EARLIEST : default_start(r),
                           err);
    if (!rc)
        rc = source_position(r->job->src, &r->appended, err);
    source_offsets_destroy(&start);
    return rc;
}

/* Whether `pos` names a partition (with a known offset) the checkpoint does not hold. */
static bool uncovered(const struct runner *r, const struct source_offsets *pos)
{
    for (size_t i = 0; i < pos->n; i++)
        if (pos->items[i].next >= 0 &&
            source_offsets_get(&r->covered, pos->items[i].topic, pos->items[i].partition) ==
                SOURCE_OFFSET_NONE)
            return true;
    return false;
}

#define START_COMMIT_MS 30000

/*
 * Makes r->appended — the position of the rows appended so far, with the
 * start offset of every partition not read yet — the checkpoint, and waits
 * until it is committed (DESIGN §6): a restart then resumes from these
 * positions instead of applying readFromPoint again, which for "latest"
 * would skip whatever arrived in between. Called before the first rows of a
 * new partition are appended: at the first start, after a reset, for
 * partitions and topics that appear later. Rows already appended are
 * persisted with it. Fails (the caller retries) when the persist or commit
 * does not complete in time, or a reset moved the checkpoint meanwhile.
 */
static int commit_starts(struct runner *r, struct lerr *err)
{
    if (!persister_drain(r, START_COMMIT_MS) || persist(r, true, err) ||
        !persister_drain(r, START_COMMIT_MS)) {
        if (err->code)
            return err->code;
        pthread_mutex_lock(&r->ps.mu);
        lerr_set(err, LERR_IO, "cannot commit the start positions yet: %s",
                 r->ps.error[0] ? r->ps.error : "the persist did not finish");
        pthread_mutex_unlock(&r->ps.mu);
        return err->code;
    }
    pthread_mutex_lock(&r->ps.mu);
    bool conflict = r->ps.conflict;
    pthread_mutex_unlock(&r->ps.mu);
    if (conflict)
        return lerr_set(err, LERR_CONFLICT, "the checkpoint was reset meanwhile");
    r->has_checkpoint = true;
    return source_offsets_copy(&r->covered, &r->appended, err);
}

/*
 * After an assignment (start or reset): a source that knows its start
 * offsets gets them committed now, before it is read; a Kafka source still
 * waiting for metadata reports partitions_changed in the poll that assigns
 * them, and step() commits them then.
 */
static int commit_assignment(struct runner *r, struct lerr *err)
{
    if (!source_ready(r->job->src) || (r->has_checkpoint && !uncovered(r, &r->appended)))
        return 0;
    return commit_starts(r, err);
}

/*
 * Assigns the source from the checkpoint. A source that cannot go on from
 * it (LERR_CORRUPT: a push log that lost records past the checkpoint) blocks
 * the job — health error, nothing read — until a reset, rather than failing
 * it (a failed job cannot be reset) or rewinding it.
 */
static int assign_source(struct runner *r, struct lerr *err)
{
    struct lerr e;
    lerr_init(&e);
    int rc = assign_from_checkpoint(r, &e);
    r->blocked = rc == LERR_CORRUPT;
    if (r->blocked) {
        snprintf(r->blocked_msg, sizeof r->blocked_msg, "%s", e.msg);
        log_msg(LOG_ERROR, "ingest", "job %s: %s", r->job->id, e.msg);
        return 0;
    }
    if (rc)
        lerr_set_at(err, rc, e.target, "%s", e.msg);
    return rc;
}

static int do_reset_paused(struct runner *r, int64_t generation, struct lerr *err);
static void fetcher_pause(struct runner *r);
static void fetcher_resume(struct runner *r);

/* Acts on POST /jobs/{id}/reset: keep what was read, start again from readFromPoint. */
static int do_reset(struct runner *r, int64_t generation, struct lerr *err)
{
    /* What was read before the reset becomes durable without moving the checkpoint;
     * then the source starts again from readFromPoint. Batches fetched but not yet
     * appended are dropped: they are read again from the new position. */
    fetcher_pause(r);
    int rc = do_reset_paused(r, generation, err);
    if (!r->blocked)
        fetcher_resume(r);
    return rc;
}

static int do_reset_paused(struct runner *r, int64_t generation, struct lerr *err)
{
    if (persist(r, false, err))
        return err->code;
    if (!persister_drain(r, 60000))
        return lerr_set(err, LERR_IO, "persisting before the reset did not finish");
    pthread_mutex_lock(&r->ps.mu);
    r->ps.conflict = false;
    pthread_mutex_unlock(&r->ps.mu);
    log_msg(LOG_INFO, "ingest", "job %s: checkpoint reset; reading again from %s", r->job->id,
            r->read_from);
    pipeline_note(r->job->pipe, PIPE_R_GAP, -1, -1,
                  "checkpoint reset by request: reading again from %s (events may be skipped "
                  "or read twice)",
                  r->read_from);
    r->reset_generation = generation;
    int rc = assign_source(r, err);
    if (!rc && !r->blocked)
        rc = commit_assignment(r, err);
    return rc;
}

static bool check_reset(struct runner *r, struct lerr *err)
{
    struct catalog_job j = {0};
    struct lerr e;
    lerr_init(&e);
    if (catalog_job_get(r->rt->cat, r->job->id, &j, &e))
        return false;
    int64_t gen = j.reset_generation;
    catalog_job_destroy(&j);
    if (gen == r->reset_generation)
        return false;
    return do_reset(r, gen, err) == 0;
}

static void note_gaps(struct runner *r, const struct source_batch *b)
{
    for (size_t i = 0; i < b->ngaps; i++) {
        const struct source_gap *g = &b->gaps[i];
        pipeline_note(r->job->pipe, PIPE_R_GAP, g->partition, g->from,
                      "offsets %lld..%lld of %s partition %d can no longer be read (%s); "
                      "continuing from %lld",
                      (long long)g->from, (long long)g->to - 1, g->topic, g->partition,
                      g->reason, (long long)g->to);
        snprintf(r->gap_msg, sizeof r->gap_msg,
                 "skipped offsets %lld..%lld of %s partition %d: %s", (long long)g->from,
                 (long long)g->to - 1, g->topic, g->partition, g->reason);
        r->gap_until_ms = util_now_ms() + GAP_WARN_MS;
    }
}

/* The share of rows rejected (skipped by error) over the last window, or -1. */
static int rejection_percent(struct runner *r, uint64_t *rows)
{
    struct pipeline_counters now;
    pipeline_counters(r->job->pipe, &now);
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

static void update_health(struct runner *r)
{
    char msg[512];
    uint64_t rows = 0;
    int pct = rejection_percent(r, &rows);
    pthread_mutex_lock(&r->ps.mu);
    bool perr = r->ps.error[0] != '\0';
    if (perr)
        snprintf(msg, sizeof msg, "%s", r->ps.error);
    pthread_mutex_unlock(&r->ps.mu);
    if (perr) {
        set_health(r, "warn", msg);
    } else if (source_health(r->job->src, msg, sizeof msg) != SOURCE_HEALTH_OK) {
        set_health(r, "warn", msg);
    } else if (r->gap_until_ms > util_now_ms()) {
        set_health(r, "warn", r->gap_msg);
    } else if (pct >= REJECT_WARN_PERCENT) {
        snprintf(msg, sizeof msg,
                 "%d%% of the last %llu rows were rejected as errors; GET /jobs/{id}/logs shows "
                 "why (check inputSchema, formatSettings and the __time mapping)",
                 pct, (unsigned long long)rows);
        set_health(r, "warn", msg);
    } else {
        set_health(r, "ok", "");
    }
}

/*
 * Records → pipeline → rows ready to append (memory from `mem`), with every
 * pipeline column given a table column. The thread that owns the pipeline's
 * row path (the fetcher, or a batch job's runner).
 */
static int stage_records(struct runner *r, const struct format_record *recs, size_t n,
                         struct arena *mem, struct staged *st, struct lerr *err)
{
    struct pipeline *p = r->job->pipe;
    struct pipeline_out out;
    memset(&st->sb, 0, sizeof st->sb);
    int rc = pipeline_process_deferred(p, recs, n, mem, &out, &st->counts, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&r->table->mu);
    rc = ensure_columns(r, err);
    pthread_mutex_unlock(&r->table->mu);
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
static int append_staged(struct runner *r, const struct staged *st, struct lerr *err)
{
    int rc = 0;
    if (st->sb.nrows) {
        pthread_mutex_lock(&r->table->mu);
        rc = storage_table_append(r->table->st, &st->sb, err);
        pthread_mutex_unlock(&r->table->mu);
    }
    if (!rc)
        pipeline_counters_add(r->job->pipe, &st->counts);
    return rc;
}

/* Records → pipeline → the table's buffers. The caller owns r->batch's reset. */
static int ingest_records(struct runner *r, const struct format_record *recs, size_t n,
                          struct lerr *err)
{
    struct staged st;
    if (stage_records(r, recs, n, &r->batch, &st, err))
        return err->code;
    return append_staged(r, &st, err);
}

/* Copies a polled batch into a slot: the source's memory goes at the next poll. */
static int fill_slot(struct runner *r, struct fetch_slot *sl, const struct source_batch *b)
{
    arena_reset(&sl->mem);
    sl->n = 0;
    sl->ngaps = 0;
    sl->newest = -1;
    sl->partitions_changed = b->partitions_changed;
    sl->recs = arena_alloc(&sl->mem, (b->n + 1) * sizeof *sl->recs);
    sl->gaps = arena_alloc(&sl->mem, (b->ngaps + 1) * sizeof *sl->gaps);
    if (!sl->recs || !sl->gaps)
        return lerr_set(&sl->err, LERR_NOMEM, "out of memory for a batch of %zu records", b->n);
    for (size_t i = 0; i < b->ngaps; i++) {
        sl->gaps[i] = b->gaps[i];
        sl->gaps[i].topic = arena_strdup(&sl->mem, b->gaps[i].topic);
    }
    sl->ngaps = b->ngaps;
    /* Records of a partition share their topic string: copied once per run of them. */
    const char *topic_from = NULL, *topic = NULL;
    size_t topic_len = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct source_record *s = &b->records[i];
        if (s->topic != topic_from) {
            topic_from = s->topic;
            topic_len = strlen(s->topic);
            if (!(topic = arena_strndup(&sl->mem, s->topic, topic_len)))
                return lerr_set(&sl->err, LERR_NOMEM, "out of memory copying a batch");
        }
        struct format_header *h = s->nheaders
                                      ? arena_alloc(&sl->mem, s->nheaders * sizeof *h)
                                      : NULL;
        for (size_t k = 0; h && k < s->nheaders; k++)
            h[k] = (struct format_header){
                arena_strndup(&sl->mem, s->headers[k].name, s->headers[k].name_len),
                s->headers[k].name_len,
                s->headers[k].value ? arena_strndup(&sl->mem, s->headers[k].value,
                                                    s->headers[k].value_len)
                                    : NULL,
                s->headers[k].value_len};
        sl->recs[i] = (struct format_record){
            .data = arena_strndup(&sl->mem, s->value, s->value_len),
            .len = s->value_len,
            .partition = s->partition,
            .offset = s->offset,
            .key = s->key ? arena_strndup(&sl->mem, s->key, s->key_len) : NULL,
            .key_len = s->key_len,
            .headers = h,
            .nheaders = h ? s->nheaders : 0,
            .has_timestamp = s->timestamp_ms >= 0,
            .timestamp_ms = s->timestamp_ms,
            .topic = topic,
            .topic_len = topic_len,
        };
        if (!sl->recs[i].data)
            return lerr_set(&sl->err, LERR_NOMEM, "out of memory copying a batch");
        if (s->timestamp_ms > sl->newest)
            sl->newest = s->timestamp_ms;
    }
    sl->n = b->n;
    return source_position(r->job->src, &sl->pos, &sl->err);
}

static void *fetcher_main(void *arg)
{
    struct runner *r = arg;
    struct fetcher *f = &r->fx;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while ((f->n == FETCH_SLOTS || f->pause) && !f->stop) {
            if (f->pause && !f->paused) {
                f->paused = true;
                pthread_cond_broadcast(&f->cv);
            }
            pthread_cond_wait(&f->cv, &f->mu);
        }
        if (f->stop)
            break;
        f->paused = false;
        struct fetch_slot *sl = &f->slot[(f->head + f->n) % FETCH_SLOTS];
        pthread_mutex_unlock(&f->mu);
        struct source_batch b;
        lerr_init(&sl->err);
        sl->rc = source_poll(r->job->src, POLL_MAX_RECORDS, POLL_TIMEOUT_MS, &b, &sl->err);
        bool publish = sl->rc != 0;
        if (!sl->rc && (b.n || b.ngaps || b.partitions_changed)) {
            sl->rc = fill_slot(r, sl, &b);
            publish = true;
        }
        source_release(r->job->src);
        memset(&sl->rows, 0, sizeof sl->rows);
        sl->rows.counts.newest_event_ms = INT64_MIN;
        if (!sl->rc && sl->n)
            sl->rc = stage_records(r, sl->recs, sl->n, &sl->mem, &sl->rows, &sl->err);
        pthread_mutex_lock(&f->mu);
        if (publish) {
            f->n++;
            pthread_cond_broadcast(&f->cv);
            if (sl->rc)
                break;   /* the runner fails the job on it */
        }
    }
    f->paused = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static int fetcher_start(struct runner *r, bool paused, struct lerr *err)
{
    struct fetcher *f = &r->fx;
    f->pause = paused;   /* a blocked job's fetcher waits for the reset */
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    for (int i = 0; i < FETCH_SLOTS; i++) {
        arena_init(&f->slot[i].mem, SLOT_BLOCK, BATCH_ARENA_CAP);
        source_offsets_init(&f->slot[i].pos);
    }
    if (pthread_create(&f->th, NULL, fetcher_main, r) != 0)
        return lerr_set(err, LERR_INTERNAL, "cannot start the fetch thread");
    pthread_setname_np(f->th, "job-fetch");
    f->started = true;
    return 0;
}

/* Stops polling (waits until the fetcher is outside source_poll) and drops ready batches. */
static void fetcher_pause(struct runner *r)
{
    struct fetcher *f = &r->fx;
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->pause = true;
    pthread_cond_broadcast(&f->cv);
    while (!f->paused)
        pthread_cond_wait(&f->cv, &f->mu);
    f->n = 0;
    pthread_mutex_unlock(&f->mu);
}

static void fetcher_resume(struct runner *r)
{
    struct fetcher *f = &r->fx;
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->pause = false;
    f->paused = false;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void fetcher_stop(struct runner *r)
{
    struct fetcher *f = &r->fx;
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->th, NULL);
    for (int i = 0; i < FETCH_SLOTS; i++) {
        arena_destroy(&f->slot[i].mem);
        source_offsets_destroy(&f->slot[i].pos);
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    f->started = false;
}

/*
 * The start offsets of the partitions in a batch's position that the
 * checkpoint does not hold, into r->appended: the first offset of the
 * batch's records of each, or its position when the batch has none.
 */
static int slot_starts(struct runner *r, const struct fetch_slot *sl, struct lerr *err)
{
    for (size_t i = 0; i < sl->pos.n; i++) {
        const struct source_offset *o = &sl->pos.items[i];
        if (o->next < 0 ||
            source_offsets_get(&r->covered, o->topic, o->partition) != SOURCE_OFFSET_NONE)
            continue;
        int64_t start = o->next;
        for (size_t k = 0; k < sl->n; k++)
            if (sl->recs[k].partition == o->partition && sl->recs[k].offset < start &&
                strcmp(sl->recs[k].topic, o->topic) == 0)
                start = sl->recs[k].offset;
        if (source_offsets_set(&r->appended, o->topic, o->partition, start, err))
            return err->code;
    }
    return 0;
}

/*
 * A batch's gaps: noted in the job's logs and health, and their offsets
 * counted with the batch (so they join the counters saved with the rows):
 * records that no longer exist under reason "gap" (not rows: outside the
 * four row totals), damaged records that were skipped under "corrupt" as
 * rows skipped by error.
 */
static void count_gaps(struct runner *r, struct fetch_slot *sl)
{
    struct source_batch gb = {.gaps = sl->gaps, .ngaps = sl->ngaps};
    note_gaps(r, &gb);
    for (size_t i = 0; i < sl->ngaps; i++) {
        const struct source_gap *g = &sl->gaps[i];
        uint64_t n = g->to > g->from ? (uint64_t)(g->to - g->from) : 0;
        if (g->corrupt) {
            sl->rows.counts.skipped_by_error += n;
            sl->rows.counts.by_reason[PIPE_R_CORRUPT] += n;
        } else {
            sl->rows.counts.by_reason[PIPE_R_GAP] += n;
        }
    }
}

/* Sleeps up to ms, waking early when the job is asked to stop. */
static void wait_stop_ms(struct runner *r, int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&r->job->stop); waited += 20) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*
 * Takes the next fetched batch (waiting up to POLL_TIMEOUT_MS) through the
 * pipeline into the table, and records the source position after it.
 * Returns 0, or an error that stops the job.
 */
static int step(struct runner *r, struct lerr *err)
{
    struct fetcher *f = &r->fx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += POLL_TIMEOUT_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mu);
    while (f->n == 0)
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT)
            break;
    struct fetch_slot *sl = f->n ? &f->slot[f->head] : NULL;
    pthread_mutex_unlock(&f->mu);
    if (!sl)
        return 0;
    int rc = sl->rc;
    if (rc) {
        lerr_set_at(err, sl->err.code, sl->err.target, "%s", sl->err.msg);
    } else {
        if (uncovered(r, &sl->pos)) {
            /* New partitions (the first start of a source that assigned them late, a
             * topic or partition that appeared): their starts become the checkpoint
             * before any of their rows is appended. On failure the batch waits. */
            struct lerr ce;
            lerr_init(&ce);
            if (slot_starts(r, sl, &ce) || commit_starts(r, &ce)) {
                if (ce.code != LERR_CONFLICT)
                    set_health(r, "warn", ce.msg);
                wait_stop_ms(r, 200);
                return 0;
            }
        }
        count_gaps(r, sl);
        rc = append_staged(r, &sl->rows, err);
        if (!rc) {
            source_offsets_copy(&r->appended, &sl->pos, err);
            if (sl->newest > atomic_load(&r->job->newest_produced_ms))
                atomic_store(&r->job->newest_produced_ms, sl->newest);
            r->dirty_offsets = true;
        }
    }
    pthread_mutex_lock(&f->mu);
    f->head = (f->head + 1) % FETCH_SLOTS;
    f->n--;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static bool should_persist(struct runner *r)
{
    int64_t now = util_now_ms();
    if (storage_table_should_persist(r->table->st, now))
        return true;
    /* Nothing buffered (all filtered) but the offsets moved: commit them now and then. */
    int64_t age = r->rt->opts.persist_max_age_ms ? r->rt->opts.persist_max_age_ms : 10000;
    return r->dirty_offsets && now - r->last_commit_ms >= age;
}

static int runner_start(struct runner *r, struct lerr *err)
{
    if (catalog_job_get(r->rt->cat, r->job->id, &r->cj, err))
        return err->code;
    r->reset_generation = r->cj.reset_generation;
    r->spec = json_loads(r->cj.spec, 0, NULL);
    if (!r->spec)
        return lerr_set(err, LERR_CORRUPT, "the job's stored spec is unreadable");
    const char *rfp = json_string_value(json_object_get(r->spec, "readFromPoint"));
    snprintf(r->read_from, sizeof r->read_from, "%s", rfp ? rfp : "latest");
    if (!(r->table = table_get(r->rt, r->cj.table_name, err)) || build_ptable(r, err))
        return err->code;
    struct catalog_doc cd = {0};
    if (catalog_doc_get(r->rt->cat, CATALOG_CONNECTION, r->cj.connection_name, &cd, err))
        return err->code;
    ingest_stream_key(&cd, r->stream, sizeof r->stream);
    catalog_doc_destroy(&cd);
    struct pipeline_opts po = {r->cj.spec, strlen(r->cj.spec), &r->ptable, util_now_ms()};
    struct pipeline *p = NULL;
    if (pipeline_new(&po, &p, err))
        return err->code;
    char *saved = NULL;
    struct lerr e;
    lerr_init(&e);
    if (catalog_job_counters(r->rt->cat, r->job->id, &saved, &e) == 0) {
        struct pipeline_counters c;
        counters_from_json(saved, &c);
        pipeline_counters_add(p, &c);
        rejections_from_json(saved, p);
        free(saved);
    }
    pthread_mutex_lock(&r->job->mu);
    r->job->pipe = p;
    pthread_mutex_unlock(&r->job->mu);
    if (open_source(r, err))
        return err->code;
    /* One checkpoint per table, tied to its topic or stream: reading another one
     * drops it (the Polaris rule), so coming back later starts at readFromPoint. */
    int dropped = 0;
    if (catalog_checkpoint_claim(r->rt->cat, r->cj.table_name, r->stream, &dropped, err))
        return err->code;
    if (dropped)
        log_msg(LOG_INFO, "ingest",
                "job %s: table '%s' now reads %s; its checkpoint of another topic or stream "
                "was dropped",
                r->job->id, r->cj.table_name, r->stream);
    if (assign_source(r, err))
        return err->code;
    return r->blocked ? 0 : commit_assignment(r, err);
}

/*
 * At the end of a runner: rows still in memory (given up at the shutdown bound, or never
 * sealed) are said in the log and counted for ingest_runtime_stop(). They are not lost:
 * no commit advanced the checkpoint past them, so the job reads them again on restart.
 */
static void note_unpersisted(struct runner *r)
{
    uint64_t rows, bytes;
    storage_table_realtime_usage(r->table->st, &rows, &bytes);
    char why[512];
    pthread_mutex_lock(&r->ps.mu);
    rows += r->ps.abandoned_rows;
    const char *e = r->ps.error;
    if (strncmp(e, PERSIST_FAILED, strlen(PERSIST_FAILED)) == 0)
        e += strlen(PERSIST_FAILED);
    snprintf(why, sizeof why, "%s", *e ? e : "the final persist failed");
    pthread_mutex_unlock(&r->ps.mu);
    if (!rows)
        return;
    log_msg(LOG_ERROR, "ingest",
            "job %s: %llu rows of table '%s' were not persisted when the job stopped (last "
            "error: %s); the checkpoint was not advanced past them, so they are read again "
            "from %s after a restart",
            r->job->id, (unsigned long long)rows, r->table->name, why, r->stream);
    struct ingest_runtime *rt = r->rt;
    atomic_fetch_add(&rt->unpersisted_rows, rows);
    char quoted[300];
    snprintf(quoted, sizeof quoted, "'%s'", r->table->name);
    pthread_mutex_lock(&rt->mu);
    size_t len = strlen(rt->unpersisted_tables);
    if (!strstr(rt->unpersisted_tables, quoted) &&
        len + strlen(quoted) + 3 < sizeof rt->unpersisted_tables)
        snprintf(rt->unpersisted_tables + len, sizeof rt->unpersisted_tables - len, "%s%s",
                 len ? ", " : "", quoted);
    pthread_mutex_unlock(&rt->mu);
}

static void *runner_main(void *arg)
{
    struct rt_job *job = arg;
    struct runner r = {.job = job, .rt = job->rt};
    source_offsets_init(&r.appended);
    source_offsets_init(&r.covered);
    arena_init(&r.ptable_mem, 4096, 0);
    snprintf(r.health, sizeof r.health, "ok");
    r.last_commit_ms = util_now_ms();
    struct lerr err;
    lerr_init(&err);
    if (persister_start(&r, &err) || runner_start(&r, &err)) {
        fail(&r, "cannot start: %s", err.msg);
        goto out;
    }
    if (fetcher_start(&r, r.blocked, &err)) {
        fail(&r, "cannot start: %s", err.msg);
        goto out;
    }
    set_status(&r, "running", "ok", "", util_now_ns(), 0);
    pipeline_counters(job->pipe, &r.window_start);
    r.window_start_ms = util_now_ms();
    log_msg(LOG_INFO, "ingest", "job %s: running into table '%s' from %s", job->id,
            r.cj.table_name, r.stream);
    int64_t last_reset_check = 0;
    while (!atomic_load(&job->stop)) {
        lerr_init(&err);
        int64_t now = util_now_ms();
        if (now - last_reset_check >= RESET_CHECK_MS || r.blocked) {
            last_reset_check = now;
            if (check_reset(&r, &err) == false && err.code) {
                fail(&r, "reset failed: %s", err.msg);
                goto out;
            }
        }
        if (r.blocked) {
            set_health(&r, "error", r.blocked_msg);
            wait_stop_ms(&r, RESET_CHECK_MS);
            continue;
        }
        if (step(&r, &err)) {
            fail(&r, "%s", err.msg);
            goto out;
        }
        update_health(&r);
        if (should_persist(&r)) {
            lerr_init(&err);
            if (persist(&r, true, &err))
                set_health(&r, "warn", err.msg);
        }
        pthread_mutex_lock(&r.ps.mu);
        bool conflict = r.ps.conflict;
        pthread_mutex_unlock(&r.ps.mu);
        if (conflict) {
            /* A commit met a moved checkpoint: a reset; act on it now. */
            lerr_init(&err);
            last_reset_check = 0;
            if (!check_reset(&r, &err) && err.code) {
                fail(&r, "after a checkpoint change: %s", err.msg);
                goto out;
            }
        }
        if (strncmp(r.stream, "push:", 5) == 0)
            push_trim(r.rt, r.cj.connection_name, r.stream);
    }
    /* Suspend, cancel or shutdown: what was appended becomes durable first (batches
     * fetched but not appended are read again on resume). A persist that keeps failing (a
     * full disk) is retried as long as it takes — a suspend waits for the disk — except at
     * a server shutdown, whose bound makes the persister give up (struct persister). */
    fetcher_stop(&r);
    lerr_init(&err);
    /* A blocked job read nothing: its checkpoint stays as it is. */
    if (persist(&r, !r.blocked, &err))
        log_msg(LOG_WARN, "ingest", "job %s: final persist failed: %s", job->id, err.msg);
    else
        persister_drain(&r, -1);
    note_unpersisted(&r);
out:
    fetcher_stop(&r);
    persister_stop(&r);
    source_offsets_destroy(&r.appended);
    source_offsets_destroy(&r.covered);
    pthread_mutex_lock(&job->mu);
    struct source *src = job->src;
    struct pipeline *pipe = job->pipe;
    job->src = NULL;
    job->pipe = NULL;
    pthread_mutex_unlock(&job->mu);
    ingest_push_source_close(r.rt, src, r.push_hold);
    pipeline_free(pipe);
    json_decref(r.spec);
    catalog_job_destroy(&r.cj);
    arena_destroy(&r.ptable_mem);
    atomic_store(&job->done, true);
    ingest_runtime_notify(job->rt);
    return NULL;
}

/* ---- batch jobs -------------------------------------------------------------------- */

#define BATCH_CHUNK (4u << 20)

/*
 * A batch text source: an uploaded file (plain or gzip: zlib reads both) or
 * the spec's inline data. CSV-family texts are cut at row ends outside
 * quotes, and every chunk after the first starts with the file's header and
 * skipped rows again, so header handling stays per file.
 */
struct batch_reader {
    gzFile gz;
    const char *inline_p;
    size_t inline_len, inline_off;
    char *buf;
    size_t len, cap;
    bool eof, csv;
    char *prefix;
    size_t prefix_len;
    uint32_t prefix_rows;     /* rows to capture as the prefix (skip + header) */
    bool first;
};

/* End of the last complete row in p[0..n) (just past its '\n'), or 0. */
static size_t last_row_end(const char *p, size_t n, bool csv)
{
    if (!csv) {
        for (size_t i = n; i > 0; i--)
            if (p[i - 1] == '\n')
                return i;
        return 0;
    }
    bool quoted = false;
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            quoted = !quoted;
        else if (p[i] == '\n' && !quoted)
            end = i + 1;
    }
    return end;
}

/* Length of the first `rows` rows of p (quote-aware), or 0 if fewer. */
static size_t first_rows(const char *p, size_t n, uint32_t rows)
{
    bool quoted = false;
    for (size_t i = 0; i < n && rows; i++) {
        if (p[i] == '"')
            quoted = !quoted;
        else if (p[i] == '\n' && !quoted && --rows == 0)
            return i + 1;
    }
    return 0;
}

static int reader_fill(struct batch_reader *b, struct lerr *err)
{
    if (b->eof)
        return 0;
    if (b->cap - b->len < BATCH_CHUNK) {
        size_t cap = b->len + BATCH_CHUNK + 1;
        char *nb = realloc(b->buf, cap);
        if (!nb)
            return lerr_set(err, LERR_NOMEM, "out of memory reading a batch file");
        b->buf = nb;
        b->cap = cap;
    }
    if (b->gz) {
        int n = gzread(b->gz, b->buf + b->len, BATCH_CHUNK);
        if (n < 0) {
            int zerr;
            return lerr_set(err, LERR_IO, "cannot read the file: %s", gzerror(b->gz, &zerr));
        }
        b->len += (size_t)n;
        b->eof = n == 0;
    } else {
        size_t n = b->inline_len - b->inline_off;
        n = n > BATCH_CHUNK ? BATCH_CHUNK : n;
        memcpy(b->buf + b->len, b->inline_p + b->inline_off, n);
        b->inline_off += n;
        b->len += n;
        b->eof = n == 0;
    }
    return 0;
}

/* The next text to ingest (prefix + whole rows) into *out; false at the end. */
static bool reader_next(struct batch_reader *b, struct buf *out, struct lerr *err)
{
    for (;;) {
        size_t end = last_row_end(b->buf, b->len, b->csv);
        if (b->eof && b->len)
            end = b->len;   /* the last row may lack its newline */
        if (end && (end >= BATCH_CHUNK / 2 || b->eof)) {
            buf_reset(out);
            if (b->first && b->prefix_rows) {
                b->prefix_len = first_rows(b->buf, end, b->prefix_rows);
                b->prefix = malloc(b->prefix_len + 1);
                if (b->prefix)
                    memcpy(b->prefix, b->buf, b->prefix_len);
                else
                    b->prefix_len = 0;
            } else if (b->prefix_len) {
                buf_append(out, b->prefix, b->prefix_len);
            }
            b->first = false;
            buf_append(out, b->buf, end);
            memmove(b->buf, b->buf + end, b->len - end);
            b->len -= end;
            return !out->failed;
        }
        if (b->eof)
            return false;
        if (reader_fill(b, err))
            return false;
    }
}

static void reader_close(struct batch_reader *b)
{
    if (b->gz)
        gzclose(b->gz);
    free(b->buf);
    free(b->prefix);
    memset(b, 0, sizeof *b);
}

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
    struct catalog_commit cm = {.table_name = r->table->name, .remove_ids = ids,
                                .nremove = segs.n};
    if (!rc && segs.n)
        rc = catalog_commit(r->rt->cat, &cm, err);
    if (!rc) {
        pthread_mutex_lock(&r->table->mu);
        rc = storage_table_drop_data(r->table->st, err);
        pthread_mutex_unlock(&r->table->mu);
    }
    free(ids);
    catalog_segment_list_free(&segs);
    return rc;
}

int ingest_check_intervals(struct json_t *intervals, int gran, int64_t *out, struct lerr *err)
{
    enum storage_gran g = (enum storage_gran)gran;
    for (size_t i = 0; i < json_array_size(intervals); i++) {
        json_t *e = json_array_get(intervals, i);
        char t[64];
        snprintf(t, sizeof t, "target.intervals[%zu]", i);
        int64_t a, b, ca, cb;
        struct lerr ie;
        lerr_init(&ie);
        if (!json_is_string(e) ||
            interval_parse(json_string_value(e), json_string_length(e), &a, &b, &ie))
            return lerr_set_at(err, LERR_INVALID, t, "%s: %s", t,
                               ie.code ? ie.msg : "expected a string \"start/end\"");
        if (gran >= 0 && g == STORAGE_GRAN_ALL)
            return lerr_set_at(err, LERR_INVALID, t,
                               "%s: the table's partitioningGranularity is 'all', one chunk "
                               "for all time; omit intervals to replace the whole table", t);
        if (gran >= 0 && !storage_gran_aligned(g, a, b, &ca, &cb)) {
            char fa[32], fb[32];
            util_format_iso_ms(ca, fa);
            util_format_iso_ms(cb, fb);
            return lerr_set_at(err, LERR_INVALID, t,
                               "%s: '%s' does not cover whole %s time chunks (the table's "
                               "partitioningGranularity); use e.g. '%s/%s'",
                               t, json_string_value(e), storage_gran_name(g), fa, fb);
        }
        if (out) {
            out[2 * i] = a;
            out[2 * i + 1] = b;
        }
    }
    return 0;
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
            if (segs.items[i].chunk_start >= iv[2 * k] && segs.items[i].chunk_end <= iv[2 * k + 1]) {
                ids[nids++] = segs.items[i].id;
                break;
            }
    struct catalog_commit cm = {.table_name = r->table->name, .remove_ids = ids, .nremove = nids};
    if (!rc && nids)
        rc = catalog_commit(r->rt->cat, &cm, err);
    pthread_mutex_lock(&r->table->mu);
    for (size_t k = 0; !rc && k < n; k++)
        rc = storage_table_drop_range(r->table->st, iv[2 * k], iv[2 * k + 1], err);
    pthread_mutex_unlock(&r->table->mu);
    free(ids);
    free(iv);
    catalog_segment_list_free(&segs);
    return rc;
}

static int batch_text_source(struct runner *r, json_t *src, size_t i, struct batch_reader *b,
                             char *what, size_t what_cap, struct lerr *err)
{
    json_t *fs = json_object_get(src, "formatSettings");
    const char *format = json_string_value(json_object_get(fs, "format"));
    memset(b, 0, sizeof *b);
    b->first = true;
    b->csv = format && strcmp(format, "nd-json") != 0;
    b->prefix_rows = (uint32_t)json_integer_value(json_object_get(fs, "skipHeaderRows")) +
                     (json_is_true(json_object_get(fs, "findColumnsFromHeader")) ? 1 : 0);
    const char *type = json_string_value(json_object_get(src, "type"));
    if (type && strcmp(type, "inline") == 0) {
        json_t *d = json_object_get(src, "data");
        b->inline_p = json_string_value(d);
        b->inline_len = json_string_length(d);
        snprintf(what, what_cap, "inline data");
        return 0;
    }
    const char *name = json_string_value(json_array_get(json_object_get(src, "fileList"), i));
    char path[1400];
    snprintf(path, sizeof path, "%s/files/%s", r->rt->dir, name ? name : "");
    snprintf(what, what_cap, "file '%s'", name ? name : "");
    b->gz = gzopen(path, "rb");
    if (!b->gz)
        return lerr_set(err, LERR_NOT_FOUND,
                        "uploaded file '%s' cannot be read (%s); upload it again (POST /v1/files)",
                        name ? name : "", strerror(errno));
    gzbuffer(b->gz, 1u << 20);
    return 0;
}

static void *batch_main(void *arg)
{
    struct rt_job *job = arg;
    struct runner r = {.job = job, .rt = job->rt};
    arena_init(&r.batch, 1u << 20, BATCH_ARENA_CAP);
    arena_init(&r.ptable_mem, 4096, 0);
    struct buf text;
    buf_init(&text, 0);
    struct lerr err;
    lerr_init(&err);
    struct pipeline *p = NULL;
    struct batch_reader b = {0};
    if (catalog_job_get(r.rt->cat, job->id, &r.cj, &err) ||
        !(r.spec = json_loads(r.cj.spec, 0, NULL)) ||
        !(r.table = table_get(r.rt, r.cj.table_name, &err)) || build_ptable(&r, &err)) {
        fail(&r, "cannot start: %s", err.code ? err.msg : "unreadable spec");
        goto out;
    }
    struct pipeline_opts po = {r.cj.spec, strlen(r.cj.spec), &r.ptable, util_now_ms()};
    if (pipeline_new(&po, &p, &err) || persister_start(&r, &err)) {
        fail(&r, "cannot start: %s", err.msg);
        goto out;
    }
    pthread_mutex_lock(&job->mu);
    job->pipe = p;
    pthread_mutex_unlock(&job->mu);
    set_status(&r, "running", "ok", "", util_now_ns(), 0);
    const char *mode = json_string_value(json_object_get(r.spec, "ingestionMode"));
    json_t *intervals = json_object_get(json_object_get(r.spec, "target"), "intervals");
    if (mode && strcmp(mode, "replace") == 0 &&
        (json_array_size(intervals) ? replace_intervals(&r, intervals, &err)
                                    : replace_all(&r, &err))) {
        fail(&r, "replacing the table's data failed: %s", err.msg);
        goto out;
    }
    json_t *src = json_object_get(r.spec, "source");
    size_t nsrc = json_object_get(src, "fileList") ? json_array_size(json_object_get(src, "fileList"))
                                                  : 1;
    int64_t chunk_no = 0;
    for (size_t i = 0; i < nsrc && !atomic_load(&job->stop); i++) {
        char what[300];
        if (batch_text_source(&r, src, i, &b, what, sizeof what, &err)) {
            fail(&r, "%s", err.msg);
            goto out;
        }
        while (!atomic_load(&job->stop) && reader_next(&b, &text, &err)) {
            arena_reset(&r.batch);
            struct format_record rec = {.data = text.data, .len = text.len, .partition = (int32_t)i,
                                        .offset = chunk_no++};
            if (ingest_records(&r, &rec, 1, &err) ||
                (storage_table_should_persist(r.table->st, util_now_ms()) &&
                 persist(&r, false, &err)))
                break;
        }
        reader_close(&b);
        if (err.code) {
            fail(&r, "%s: %s", what, err.msg);
            goto out;
        }
    }
    if (atomic_load(&job->stop)) {
        /* Canceled: what was read stays only if it was already persisted. */
        goto out;
    }
    if (persist(&r, false, &err) || !persister_drain(&r, 600000)) {
        fail(&r, "final persist failed: %s", err.code ? err.msg : r.ps.error);
        goto out;
    }
    set_status(&r, "succeeded", "ok", "", 0, util_now_ns());
    log_msg(LOG_INFO, "ingest", "batch job %s succeeded", job->id);
out:
    persister_stop(&r);
    reader_close(&b);
    pthread_mutex_lock(&job->mu);
    job->pipe = NULL;
    pthread_mutex_unlock(&job->mu);
    pipeline_free(p);
    json_decref(r.spec);
    catalog_job_destroy(&r.cj);
    buf_free(&text);
    arena_destroy(&r.batch);
    arena_destroy(&r.ptable_mem);
    atomic_store(&job->done, true);
    ingest_runtime_notify(job->rt);
    return NULL;
}

/* ---- the supervisor ------------------------------------------------------------ */

static struct rt_job *find_job(struct ingest_runtime *rt, const char *id)
{
    for (struct rt_job *j = rt->jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static void start_runner(struct ingest_runtime *rt, const struct catalog_job *cj,
                         void *(*main_fn)(void *))
{
    struct rt_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->rt = rt;
    snprintf(j->id, sizeof j->id, "%s", cj->id);
    snprintf(j->table, sizeof j->table, "%s", cj->table_name);
    snprintf(j->connection, sizeof j->connection, "%s", cj->connection_name);
    atomic_init(&j->newest_produced_ms, -1);
    pthread_mutex_init(&j->mu, NULL);
    if (pthread_create(&j->th, NULL, main_fn, j) != 0) {
        log_msg(LOG_ERROR, "ingest", "job %s: cannot start a thread", cj->id);
        pthread_mutex_destroy(&j->mu);
        free(j);
        return;
    }
    pthread_setname_np(j->th, "job-run");
    pthread_mutex_lock(&rt->mu);
    j->next = rt->jobs;
    rt->jobs = j;
    pthread_mutex_unlock(&rt->mu);
}

/* Joins a finished runner and removes it; the job's final status follows its wish. */
static void reap(struct ingest_runtime *rt, struct rt_job *j, const struct catalog_job *cj)
{
    pthread_join(j->th, NULL);
    pthread_mutex_lock(&rt->mu);
    for (struct rt_job **pp = &rt->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    struct lerr err;
    lerr_init(&err);
    if (cj && !j->failed && !rt->stopping) {
        if (strcmp(cj->desired, "canceled") == 0)
            catalog_job_set_status(rt->cat, cj->id, "canceled", "ok", "", 0, util_now_ns(), &err);
        else if (strcmp(cj->desired, "suspended") == 0)
            catalog_job_set_status(rt->cat, cj->id, "suspended", "ok", "", 0, 0, &err);
    }
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* Brings one job's runner and status in line with what the user asked for. */
/* Batch jobs: pending → a runner; a run cut short by a restart → failed. */
static void supervise_batch(struct ingest_runtime *rt, const struct catalog_job *cj,
                            struct rt_job *j)
{
    struct lerr err;
    lerr_init(&err);
    if (j) {
        if (strcmp(cj->desired, "canceled") == 0)
            atomic_store(&j->stop, true);
        if (atomic_load(&j->done))
            reap(rt, j, cj);
        return;
    }
    if (strcmp(cj->desired, "canceled") == 0 && catalog_job_status_live(cj->status)) {
        catalog_job_set_status(rt->cat, cj->id, "canceled", "ok", "", 0, util_now_ns(), &err);
    } else if (strcmp(cj->status, "pending") == 0 && strcmp(cj->desired, "running") == 0 &&
               !rt->stopping) {
        start_runner(rt, cj, batch_main);
    } else if (strcmp(cj->status, "running") == 0) {
        catalog_job_set_status(rt->cat, cj->id, "failed", "error",
                               "the server stopped while this batch job ran; rows it had "
                               "persisted remain — run it again with ingestionMode replace",
                               0, util_now_ns(), &err);
    }
}

static void supervise_job(struct ingest_runtime *rt, const struct catalog_job *cj)
{
    if (strcmp(cj->type, "streaming") != 0) {
        pthread_mutex_lock(&rt->mu);
        struct rt_job *bj = find_job(rt, cj->id);
        pthread_mutex_unlock(&rt->mu);
        supervise_batch(rt, cj, bj);
        return;
    }
    pthread_mutex_lock(&rt->mu);
    struct rt_job *j = find_job(rt, cj->id);
    pthread_mutex_unlock(&rt->mu);
    bool want = strcmp(cj->desired, "running") == 0 && strcmp(cj->status, "failed") != 0 &&
                strcmp(cj->status, "canceled") != 0;
    struct lerr err;
    lerr_init(&err);
    if (j) {
        if (!want)
            atomic_store(&j->stop, true);
        if (atomic_load(&j->done))
            reap(rt, j, cj);
        return;
    }
    if (want && !rt->stopping) {
        if (strcmp(cj->status, "suspended") == 0)
            catalog_job_set_status(rt->cat, cj->id, "pending", "ok", "", 0, 0, &err);
        start_runner(rt, cj, runner_main);
    } else if (strcmp(cj->desired, "canceled") == 0 && strcmp(cj->status, "canceled") != 0) {
        catalog_job_set_status(rt->cat, cj->id, "canceled", "ok", "", 0, util_now_ns(), &err);
    } else if (strcmp(cj->desired, "suspended") == 0 &&
               (strcmp(cj->status, "pending") == 0 || strcmp(cj->status, "running") == 0)) {
        catalog_job_set_status(rt->cat, cj->id, "suspended", "ok", "", 0, 0, &err);
    }
}

static void supervise(struct ingest_runtime *rt)
{
    struct catalog_job_list l;
    struct lerr err;
    lerr_init(&err);
    if (catalog_job_list_active(rt->cat, &l, &err)) {
        log_msg(LOG_WARN, "ingest", "supervisor: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < l.n; i++)
        supervise_job(rt, &l.items[i]);
    /* Runners whose job left the active set (suspended, canceled, deleted) stop too. */
    pthread_mutex_lock(&rt->mu);
    char ids[64][37];
    size_t no = 0;
    for (struct rt_job *j = rt->jobs; j && no < LS_ARRAY_LEN(ids); j = j->next) {
        bool known = false;
        for (size_t i = 0; i < l.n && !known; i++)
            known = strcmp(l.items[i].id, j->id) == 0;
        if (!known)
            snprintf(ids[no++], sizeof ids[0], "%s", j->id);
    }
    pthread_mutex_unlock(&rt->mu);
    catalog_job_list_free(&l);
    for (size_t i = 0; i < no; i++) {
        struct catalog_job cj = {0};
        lerr_init(&err);
        if (catalog_job_get(rt->cat, ids[i], &cj, &err) == 0) {
            supervise_job(rt, &cj);
            catalog_job_destroy(&cj);
            continue;
        }
        pthread_mutex_lock(&rt->mu);
        struct rt_job *j = find_job(rt, ids[i]);
        pthread_mutex_unlock(&rt->mu);
        if (j) {
            atomic_store(&j->stop, true);
            if (atomic_load(&j->done))
                reap(rt, j, NULL);
        }
    }
}

/* Sleeps up to ms; wakes early for shutdown, and for the supervisor's kicks
 * when `kick` (then consuming the kick). */
static void wait_rt(struct ingest_runtime *rt, int ms, bool kick)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rt->mu);
    while (!(kick && rt->kick) && !rt->stopping)
        if (pthread_cond_timedwait(&rt->cv, &rt->mu, &ts) == ETIMEDOUT)
            break;
    if (kick)
        rt->kick = false;
    pthread_mutex_unlock(&rt->mu);
}

static void wait_kick(struct ingest_runtime *rt, int ms) { wait_rt(rt, ms, true); }

/* Sleeps up to ms, waking early only for shutdown (not for the supervisor's kicks). */
static void wait_stop(struct ingest_runtime *rt, int ms) { wait_rt(rt, ms, false); }

static void *supervisor_main(void *arg)
{
    struct ingest_runtime *rt = arg;
    int period = rt->opts.supervisor_period_ms ? rt->opts.supervisor_period_ms : 250;
    while (!rt->stopping) {
        supervise(rt);
        wait_kick(rt, period);
        /* A burst of API calls kicks many times: one pass per 20 ms serves them all. */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- compaction ---------------------------------------------------------------- */

struct compact_ctx {
    struct ingest_runtime *rt;
    struct rt_table *t;
};

static int compact_commit(void *ctx, const struct storage_segment_info *added, size_t nadded,
                          const struct storage_segment_info *removed, size_t nremoved,
                          struct lerr *err)
{
    struct compact_ctx *c = ctx;
    return commit_tx(c->rt, c->t, NULL, NULL, NULL, NULL, NULL, added, nadded, removed,
                     nremoved, err);
}

static void *compactor_main(void *arg)
{
    struct ingest_runtime *rt = arg;
    while (!rt->stopping) {
        wait_stop(rt, rt->opts.compact_period_ms ? rt->opts.compact_period_ms : COMPACT_EVERY_MS);
        if (rt->stopping)
            break;
        /* Tables are only ever added to the list while the runtime lives (drops unlink
         * them under rt->mu); take a copy of the pointers. */
        struct rt_table *ts[256];
        size_t n = 0;
        pthread_mutex_lock(&rt->mu);
        for (struct rt_table *t = rt->tables; t && n < LS_ARRAY_LEN(ts); t = t->next)
            ts[n++] = t;
        pthread_mutex_unlock(&rt->mu);
        int period = rt->opts.compact_period_ms ? rt->opts.compact_period_ms : COMPACT_EVERY_MS;
        for (size_t i = 0; i < n && !rt->stopping; i++) {
            struct rt_table *t = ts[i];
            if (util_now_ms() < t->compact_retry_ms)
                continue;
            struct compact_ctx ctx = {rt, t};
            /* Compacted segments are read many times and written once: zstd where it pays. */
            struct storage_compact_opts co = {.zstd = true};
            bool did = true;
            for (int rounds = 0; did && rounds < 16 && !rt->stopping; rounds++) {
                struct lerr err;
                lerr_init(&err);
                did = false;
                if (storage_table_compact(t->st, &co, compact_commit, &ctx, &did, &err) == 0) {
                    if (t->compact_failures)
                        log_msg(LOG_INFO, "ingest", "compaction of '%s' works again after %d "
                                "failed attempts", t->name, t->compact_failures);
                    t->compact_failures = 0;
                    continue;
                }
                /* Nothing changed (the table's data is as it was). Retry later, less and
                 * less often while it keeps failing (a full disk); say so on the first
                 * failure and then at most every COMPACT_BACKOFF_MAX_MS. */
                int shift = t->compact_failures < 6 ? t->compact_failures : 6;
                int64_t wait = (int64_t)period << shift, now = util_now_ms();
                wait = wait < COMPACT_BACKOFF_MAX_MS ? wait : COMPACT_BACKOFF_MAX_MS;
                if (!t->compact_failures++ || now - t->compact_logged_ms >= COMPACT_BACKOFF_MAX_MS) {
                    log_msg(LOG_WARN, "ingest",
                            "compaction of '%s' failed (its data is unchanged; retrying in "
                            "%lld s, less often while it fails): %s",
                            t->name, (long long)(wait / 1000), err.msg);
                    t->compact_logged_ms = now;
                }
                t->compact_retry_ms = now + wait;
                break;
            }
        }
    }
    atomic_store(&rt->compactor_done, true);
    return NULL;
}

/* ---- lifecycle and the API's view -------------------------------------------------- */

int ingest_runtime_start(struct catalog *cat, const char *data_dir,
                         const struct ingest_runtime_opts *opts, struct ingest_runtime **out,
                         struct lerr *err)
{
    struct ingest_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    rt->cat = cat;
    snprintf(rt->dir, sizeof rt->dir, "%s", data_dir);
    if (opts)
        rt->opts = *opts;
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    char tdir[1100];
    snprintf(tdir, sizeof tdir, "%s/tables", data_dir);
    if (util_mkdirs(tdir, 0700, err)) {
        free(rt);
        return err->code;
    }
    /* Open every table now: start-up removes files the catalog does not know. */
    struct catalog_doc_list tl;
    if (catalog_doc_list(cat, CATALOG_TABLE, &tl, err) == 0) {
        for (size_t i = 0; i < tl.n; i++) {
            struct lerr e;
            lerr_init(&e);
            if (!table_get(rt, tl.items[i].name, &e))
                log_msg(LOG_WARN, "ingest", "table '%s' did not open: %s", tl.items[i].name,
                        e.msg);
        }
        catalog_doc_list_free(&tl);
    }
    lerr_init(err);
    if (pthread_create(&rt->supervisor, NULL, supervisor_main, rt) != 0 ||
        pthread_create(&rt->compactor, NULL, compactor_main, rt) != 0) {
        free(rt);
        return lerr_set(err, LERR_INTERNAL, "cannot start the ingestion threads");
    }
    *out = rt;
    return 0;
}

void ingest_runtime_notify(struct ingest_runtime *rt)
{
    pthread_mutex_lock(&rt->mu);
    rt->kick = true;
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

int ingest_runtime_stop(struct ingest_runtime *rt, struct lerr *err)
{
    if (!rt)
        return 0;
    int64_t bound_ms = rt->opts.shutdown_timeout_ms > 0 ? rt->opts.shutdown_timeout_ms
                                                        : SHUTDOWN_TIMEOUT_MS;
    int64_t t0 = util_mono_ns();
    int64_t hard = t0 + (bound_ms + SHUTDOWN_GRACE_MS) * 1000000;
    atomic_store(&rt->stop_deadline_ns, t0 + bound_ms * 1000000);
    pthread_mutex_lock(&rt->mu);
    rt->stopping = true;
    pthread_cond_broadcast(&rt->cv);
    for (struct rt_job *j = rt->jobs; j; j = j->next)
        atomic_store(&j->stop, true);
    for (struct rt_push *p = rt->pushes; p; p = p->next)
        pushlog_wakeup(p->log);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->supervisor, NULL);
    /* Runners persist what they buffered and end by the bound (persists that keep failing
     * give up then); a thread still inside one last write past the grace is left behind:
     * the process exits around it, as after kill -9, which start-up recovers from. */
    for (;;) {
        bool all = atomic_load(&rt->compactor_done);
        char late[200] = "";
        pthread_mutex_lock(&rt->mu);
        for (struct rt_job *j = rt->jobs; j; j = j->next) {
            if (atomic_load(&j->done))
                continue;
            all = false;
            size_t len = strlen(late);
            snprintf(late + len, sizeof late - len, "%s%s", len ? ", " : "", j->id);
        }
        pthread_mutex_unlock(&rt->mu);
        if (all)
            break;
        if (util_mono_ns() >= hard)
            return lerr_set(err, LERR_TIMEOUT,
                            "shutdown: %s still writing %lld ms after the shutdown began; "
                            "exiting without waiting (what it had not committed is read again "
                            "after a restart; raise LODESTAR_SHUTDOWN_TIMEOUT_MS if the disk is "
                            "only slow)",
                            late[0] ? late : "compaction", (long long)(bound_ms + SHUTDOWN_GRACE_MS));
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_join(rt->compactor, NULL);
    while (rt->jobs)
        reap(rt, rt->jobs, NULL);
    while (rt->tables) {
        struct rt_table *t = rt->tables;
        rt->tables = t->next;
        storage_table_free(t->st);
        pthread_mutex_destroy(&t->mu);
        free(t);
    }
    while (rt->pushes) {
        struct rt_push *p = rt->pushes;
        rt->pushes = p->next;
        pushlog_close(p->log);
        free(p);
    }
    uint64_t lost = atomic_load(&rt->unpersisted_rows);
    int rc = 0;
    if (lost)
        rc = lerr_set(err, LERR_IO,
                      "shutdown: %llu buffered rows of table %s were not persisted: persisting "
                      "kept failing until the shutdown bound (%lld ms, "
                      "LODESTAR_SHUTDOWN_TIMEOUT_MS); the checkpoints were not advanced past "
                      "them, so they will be read again from their sources after a restart "
                      "(free the disk the log names first)",
                      (unsigned long long)lost, rt->unpersisted_tables, (long long)bound_ms);
    pthread_cond_destroy(&rt->cv);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
    return rc;
}

static bool settled(const struct catalog_job *j)
{
    if (strcmp(j->desired, "canceled") == 0)
        return strcmp(j->status, "canceled") == 0;
    if (strcmp(j->desired, "suspended") == 0)
        return strcmp(j->status, "suspended") == 0 || strcmp(j->status, "failed") == 0;
    return strcmp(j->status, "suspended") != 0;
}

bool ingest_runtime_settle(struct ingest_runtime *rt, const char *job_id, int timeout_ms)
{
    int64_t deadline = util_mono_ns() + (int64_t)timeout_ms * 1000000;
    ingest_runtime_notify(rt);
    for (;;) {
        struct catalog_job j = {0};
        struct lerr err;
        lerr_init(&err);
        if (catalog_job_get(rt->cat, job_id, &j, &err))
            return false;
        bool ok = settled(&j);
        catalog_job_destroy(&j);
        if (ok)
            return true;
        if (util_mono_ns() > deadline)
            return false;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

bool ingest_job_metrics(struct ingest_runtime *rt, const char *job_id,
                        struct ingest_job_metrics *out, struct source_partition **parts,
                        size_t *nparts)
{
    memset(out, 0, sizeof *out);
    out->lag = -1;
    out->freshness_ms = -1;
    if (parts)
        *parts = NULL;
    if (nparts)
        *nparts = 0;
    pthread_mutex_lock(&rt->mu);
    struct rt_job *j = find_job(rt, job_id);
    bool found = false;
    if (j) {
        pthread_mutex_lock(&j->mu);
        if (j->pipe && j->src) {
            found = true;
            pipeline_counters(j->pipe, &out->counters);
            out->lag = source_lag(j->src);
            int64_t newest = atomic_load(&j->newest_produced_ms);
            out->freshness_ms = newest >= 0 ? util_now_ms() - newest : -1;
            out->persist_count = atomic_load(&j->persist_count);
            out->persist_ms_last = atomic_load(&j->persist_ms_last);
            struct lerr err;
            lerr_init(&err);
            if (parts && nparts && source_partitions(j->src, parts, nparts, &err)) {
                *parts = NULL;
                *nparts = 0;
            }
        }
        pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    return found;
}

size_t ingest_job_rejections(struct ingest_runtime *rt, const char *job_id,
                             struct pipeline_rejection *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&rt->mu);
    struct rt_job *j = find_job(rt, job_id);
    if (j) {
        pthread_mutex_lock(&j->mu);
        if (j->pipe)
            n = pipeline_rejections(j->pipe, out, cap);
        pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

void ingest_metrics_prometheus(struct ingest_runtime *rt, struct buf *out)
{
    static const char *const outcomes[] = {"processed", "processedWithWarnings",
                                           "skippedByFilter", "skippedByError"};
    buf_puts(out, "# HELP lodestar_job_rows_total Rows by outcome, per job.\n"
                  "# TYPE lodestar_job_rows_total counter\n");
    struct { char id[37]; struct pipeline_counters c; int64_t lag; } jobs[256];
    size_t n = 0;
    pthread_mutex_lock(&rt->mu);
    for (struct rt_job *j = rt->jobs; j && n < LS_ARRAY_LEN(jobs); j = j->next) {
        pthread_mutex_lock(&j->mu);
        if (j->pipe && j->src) {
            snprintf(jobs[n].id, sizeof jobs[n].id, "%s", j->id);
            pipeline_counters(j->pipe, &jobs[n].c);
            jobs[n].lag = source_lag(j->src);
            n++;
        }
        pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    for (size_t i = 0; i < n; i++) {
        const uint64_t v[] = {jobs[i].c.processed, jobs[i].c.processed_with_warnings,
                              jobs[i].c.skipped_by_filter, jobs[i].c.skipped_by_error};
        for (int k = 0; k < 4; k++)
            buf_printf(out, "lodestar_job_rows_total{job=\"%s\",outcome=\"%s\"} %llu\n",
                       jobs[i].id, outcomes[k], (unsigned long long)v[k]);
    }
    buf_puts(out, "# HELP lodestar_job_lag_records Records not yet read, per job.\n"
                  "# TYPE lodestar_job_lag_records gauge\n");
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "lodestar_job_lag_records{job=\"%s\"} %lld\n", jobs[i].id,
                   (long long)jobs[i].lag);
    buf_puts(out, "# HELP lodestar_persist_duration_ms Persist (segment write + catalog "
                  "commit) latency.\n# TYPE lodestar_persist_duration_ms histogram\n");
    long long cum = 0;
    for (size_t b = 0; b < LS_ARRAY_LEN(persist_buckets_ms); b++) {
        cum += atomic_load(&rt->persist_hist[b]);
        buf_printf(out, "lodestar_persist_duration_ms_bucket{le=\"%g\"} %lld\n",
                   persist_buckets_ms[b], cum);
    }
    cum += atomic_load(&rt->persist_hist[LS_ARRAY_LEN(persist_buckets_ms)]);
    buf_printf(out, "lodestar_persist_duration_ms_bucket{le=\"+Inf\"} %lld\n", cum);
    buf_printf(out, "lodestar_persist_duration_ms_sum %.3f\n",
               (double)atomic_load(&rt->persist_us_total) / 1000.0);
    buf_printf(out, "lodestar_persist_duration_ms_count %lld\n", cum);
    buf_printf(out, "# TYPE lodestar_persist_failures_total counter\n"
                    "lodestar_persist_failures_total %lld\n",
               (long long)atomic_load(&rt->persist_failures));
}
