/*
 * catalog.c — the public catalog functions (catalog.h) over an
 * implementation's operations table (catalog_int.h). This file keeps the
 * rules, so that every implementation keeps them alike (catalog_sqlite.c,
 * catalog_pg.c, chosen by catalog_open's target): one live job per
 * table, no delete of a table or connection a live job uses, the
 * checkpoint compare-and-swap that makes a commit, the lease rules (who
 * may take a partition, when its epoch moves) and the fence of a commit
 * (per-partition offsets, committed only under a current lease), and the
 * messages for conflicts and missing rows. The implementation stores and
 * fetches rows.
 *
 * Entry points: every function of catalog.h; catalog_open_ops() for a given
 * implementation (tests).
 *
 * Other writers: a handle is one connection; other handles, processes or
 * machines may write the same catalog. Nothing read is kept in memory
 * across calls (except the schema version read at open, which only a newer
 * binary migrating the same catalog could change). Every rule that reads
 * before it writes runs inside one write transaction (ops->begin), and a
 * commit advances its checkpoint only by compare-and-swap.
 *
 * Thread-safety: calls on one handle are serialised by its mutex.
 */
#include "catalog/catalog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "source/source.h"

struct catalog {
    const struct catalog_ops *ops;
    struct catalog_store *s;
    pthread_mutex_t mu;
    int version;
};

bool catalog_is_shared(const struct catalog *c) { return c->ops == &catalog_pg_ops; }

int catalog_open_ops(const struct catalog_ops *ops, const char *target, struct catalog **out,
                     struct lerr *err)
{
    struct catalog *c = calloc(1, sizeof *c);
    if (!c)
        return lerr_set(err, LERR_NOMEM, "catalog: out of memory");
    c->ops = ops;
    pthread_mutex_init(&c->mu, NULL);
    if (ops->open(target, &c->s, &c->version, err)) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return err->code;
    }
    *out = c;
    return 0;
}

int catalog_open(const char *target, struct catalog **out, struct lerr *err)
{
    return catalog_open_ops(catalog_pg_is_target(target) ? &catalog_pg_ops : &catalog_sqlite_ops,
                            target, out, err);
}

void catalog_close(struct catalog *c)
{
    if (!c)
        return;
    c->ops->close(c->s);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int catalog_schema_version(struct catalog *c) { return c->version; }

int catalog_latest_schema_version(void) { return catalog_sqlite_ops.latest_schema_version(); }

#define LOCKED(c, expr)                 \
    ({                                  \
        pthread_mutex_lock(&(c)->mu);   \
        int rc_ = (expr);               \
        pthread_mutex_unlock(&(c)->mu); \
        rc_;                            \
    })

/* Rolls back the open transaction and returns the error already in err. */
static int abort_tx(struct catalog *c, struct lerr *err)
{
    c->ops->rollback(c->s);
    return err->code;
}

/* ---- project ----------------------------------------------------------- */

/*
 * Read, and create when absent, in one write transaction: two processes
 * opening a new catalog at once agree on one default project.
 */
static int project_default_locked(struct catalog *c, struct catalog_project *out, struct lerr *err)
{
    bool found;
    if (c->ops->project_get_default(c->s, out, &found, err))
        return err->code;
    if (found)
        return 0;
    if (c->ops->begin(c->s, err))
        return err->code;
    if (c->ops->project_get_default(c->s, out, &found, err))
        return abort_tx(c, err);
    if (!found) {
        if (util_uuid_v4(out->id, err))
            return abort_tx(c, err);
        snprintf(out->name, sizeof out->name, "default");
        out->created_ns = util_now_ns();
        if (c->ops->project_insert(c->s, out, err))
            return abort_tx(c, err);
    }
    if (c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_project_default(struct catalog *c, struct catalog_project *out, struct lerr *err)
{
    return LOCKED(c, project_default_locked(c, out, err));
}

/* ---- API keys ----------------------------------------------------------- */

int catalog_apikey_count(struct catalog *c, int64_t *out, struct lerr *err)
{
    return LOCKED(c, c->ops->apikey_count(c->s, out, err));
}

static int apikey_insert_locked(struct catalog *c, const struct catalog_apikey *k,
                                struct lerr *err)
{
    int rc = c->ops->apikey_insert(c->s, k, err);
    if (rc == LERR_CONFLICT) {
        lerr_init(err);
        lerr_set(err, LERR_CONFLICT, "an API key named '%s' already exists; choose another name",
                 k->name);
    }
    return rc;
}

int catalog_apikey_insert(struct catalog *c, const struct catalog_apikey *k, struct lerr *err)
{
    return LOCKED(c, apikey_insert_locked(c, k, err));
}

static int apikey_by_hash_locked(struct catalog *c, const char *hash, struct catalog_apikey *out,
                                 struct lerr *err)
{
    bool found;
    if (c->ops->apikey_by_hash(c->s, hash, out, &found, err))
        return err->code;
    return found ? 0 : lerr_set(err, LERR_NOT_FOUND, "no such API key");
}

int catalog_apikey_by_hash(struct catalog *c, const char *hash, struct catalog_apikey *out,
                           struct lerr *err)
{
    return LOCKED(c, apikey_by_hash_locked(c, hash, out, err));
}

int catalog_apikey_list(struct catalog *c, struct catalog_apikey **out, size_t *n,
                        struct lerr *err)
{
    return LOCKED(c, c->ops->apikey_list(c->s, NULL, out, n, err));
}

static int apikey_get_locked(struct catalog *c, const char *id, struct catalog_apikey *out,
                             struct lerr *err)
{
    struct catalog_apikey *v = NULL;
    size_t n = 0;
    if (c->ops->apikey_list(c->s, id, &v, &n, err))
        return err->code;
    if (n)
        *out = v[0];
    free(v);
    return n ? 0
             : lerr_set(err, LERR_NOT_FOUND,
                        "no API key with id '%s'; GET /v1/projects/{projectId}/apikeys lists them",
                        id);
}

int catalog_apikey_get(struct catalog *c, const char *id, struct catalog_apikey *out,
                       struct lerr *err)
{
    return LOCKED(c, apikey_get_locked(c, id, out, err));
}

static int apikey_delete_locked(struct catalog *c, const char *id, struct lerr *err)
{
    /* in one transaction with the check, so two revocations cannot both pass it */
    if (c->ops->begin(c->s, err))
        return err->code;
    struct catalog_apikey *v = NULL;
    size_t n = 0, managers = 0;
    bool found = false, manages = false;
    if (c->ops->apikey_list(c->s, NULL, &v, &n, err))
        return abort_tx(c, err);
    for (size_t i = 0; i < n; i++) {
        bool m = util_csv_has(v[i].permissions, "ManageApiKeys", sizeof "ManageApiKeys" - 1);
        managers += m;
        if (strcmp(v[i].id, id) == 0) {
            found = true;
            manages = m;
        }
    }
    free(v);
    if (!found) {
        lerr_set(err, LERR_NOT_FOUND,
                 "no API key with id '%s'; GET /v1/projects/{projectId}/apikeys lists them", id);
        return abort_tx(c, err);
    }
    if (manages && managers == 1) {
        lerr_set(err, LERR_CONFLICT,
                 "key %s is the last key with ManageApiKeys: without it no key could be created "
                 "or revoked but with `lodestar apikey create`; create another key with "
                 "ManageApiKeys first",
                 id);
        return abort_tx(c, err);
    }
    int64_t changed = 0;
    if (c->ops->apikey_delete(c->s, id, &changed, err) || c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_apikey_delete(struct catalog *c, const char *id, struct lerr *err)
{
    return LOCKED(c, apikey_delete_locked(c, id, err));
}

int catalog_apikey_touch(struct catalog *c, const char *id, int64_t now_ns, struct lerr *err)
{
    return LOCKED(c, c->ops->apikey_touch(c->s, id, now_ns, err));
}

/* ---- documents ---------------------------------------------------------- */

static const char *doc_noun(enum catalog_doc_type t)
{
    return t == CATALOG_TABLE ? "table" : t == CATALOG_LOOKUP ? "lookup" : "connection";
}

static int doc_insert_locked(struct catalog *c, enum catalog_doc_type t,
                             const struct catalog_doc *d, struct lerr *err)
{
    int rc = c->ops->doc_insert(c->s, t, d, err);
    if (rc == LERR_CONFLICT) {
        lerr_init(err);
        lerr_set(err, LERR_CONFLICT, "a %s named '%s' already exists; choose another name",
                 doc_noun(t), d->name);
    }
    return rc;
}

int catalog_doc_insert(struct catalog *c, enum catalog_doc_type t, const struct catalog_doc *d,
                       struct lerr *err)
{
    return LOCKED(c, doc_insert_locked(c, t, d, err));
}

static int doc_get_locked(struct catalog *c, enum catalog_doc_type t, const char *name,
                          struct catalog_doc *out, struct lerr *err)
{
    bool found;
    if (c->ops->doc_get(c->s, t, name, out, &found, err))
        return err->code;
    return found ? 0 : lerr_set(err, LERR_NOT_FOUND, "no %s named '%s'", doc_noun(t), name);
}

int catalog_doc_get(struct catalog *c, enum catalog_doc_type t, const char *name,
                    struct catalog_doc *out, struct lerr *err)
{
    return LOCKED(c, doc_get_locked(c, t, name, out, err));
}

int catalog_doc_list(struct catalog *c, enum catalog_doc_type t, struct catalog_doc_list *out,
                     struct lerr *err)
{
    return LOCKED(c, c->ops->doc_list(c->s, t, out, err));
}

static int doc_update_locked(struct catalog *c, enum catalog_doc_type t,
                             const struct catalog_doc *d, struct lerr *err)
{
    int64_t changed = 0;
    if (c->ops->doc_update(c->s, t, d, &changed, err))
        return err->code;
    return changed ? 0 : lerr_set(err, LERR_NOT_FOUND, "no %s named '%s'", doc_noun(t), d->name);
}

int catalog_doc_update(struct catalog *c, enum catalog_doc_type t, const struct catalog_doc *d,
                       struct lerr *err)
{
    return LOCKED(c, doc_update_locked(c, t, d, err));
}

static int doc_modify_locked(struct catalog *c, enum catalog_doc_type t, const char *name,
                             catalog_doc_modify_fn fn, void *ctx, struct lerr *err)
{
    struct catalog_doc d = {0};
    if (c->ops->begin(c->s, err))
        return err->code;
    if (doc_get_locked(c, t, name, &d, err))
        return abort_tx(c, err);
    char *neu = NULL;
    int rc = fn(ctx, d.doc, &neu, err);
    if (!rc && neu) {
        struct catalog_doc nd = d;
        nd.doc = neu;
        nd.modified_ns = util_now_ns();
        rc = doc_update_locked(c, t, &nd, err);
    }
    free(neu);
    catalog_doc_destroy(&d);
    if (rc || c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_doc_modify(struct catalog *c, enum catalog_doc_type t, const char *name,
                       catalog_doc_modify_fn fn, void *ctx, struct lerr *err)
{
    return LOCKED(c, doc_modify_locked(c, t, name, fn, ctx, err));
}

static int doc_delete_locked(struct catalog *c, enum catalog_doc_type t, const char *name,
                             struct lerr *err)
{
    char job[37], type[16];
    int64_t changed = 0;
    if (c->ops->begin(c->s, err))
        return err->code;
    job[0] = '\0';
    if (t != CATALOG_LOOKUP && c->ops->job_live_using(c->s, t, name, job, type, err))
        return abort_tx(c, err);
    if (job[0]) {
        lerr_set(err, LERR_CONFLICT,
                 "%s '%s' is used by job %s, which is still live; cancel the job first "
                 "(PUT /v2/jobs/%s with {\"desiredExecutionStatus\": \"canceled\"})",
                 doc_noun(t), name, job, job);
        return abort_tx(c, err);
    }
    if (c->ops->doc_delete(c->s, t, name, &changed, err))
        return abort_tx(c, err);
    if (changed == 0) {
        lerr_set(err, LERR_NOT_FOUND, "no %s named '%s'", doc_noun(t), name);
        return abort_tx(c, err);
    }
    if (t == CATALOG_TABLE && (c->ops->checkpoint_delete(c->s, name, NULL, false, NULL, err) ||
                               c->ops->segment_delete(c->s, name, NULL, NULL, err) ||
                               c->ops->lease_delete(c->s, name, NULL, NULL, err)))
        return abort_tx(c, err);
    if (c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_doc_delete(struct catalog *c, enum catalog_doc_type t, const char *name,
                       struct lerr *err)
{
    return LOCKED(c, doc_delete_locked(c, t, name, err));
}

/* ---- jobs -------------------------------------------------------------- */

bool catalog_job_status_live(enum catalog_job_state status)
{
    return status != CATALOG_JOB_CANCELED && status != CATALOG_JOB_FAILED &&
           status != CATALOG_JOB_SUCCEEDED;
}

static int job_insert_locked(struct catalog *c, const struct catalog_job *j, const char *stream,
                             const char *start, int *dropped, struct lerr *err)
{
    if (c->ops->begin(c->s, err))
        return err->code;
    /* One writer per table: a live job of either kind holds it (rows and
     * checkpoints are persisted together per table, DESIGN §6). Checked in
     * the transaction that inserts, so two writers cannot both pass. */
    char other[37], type[16];
    if (c->ops->job_live_using(c->s, CATALOG_TABLE, j->table_name, other, type, err))
        return abort_tx(c, err);
    if (other[0]) {
        lerr_set_at(err, LERR_CONFLICT, "target.tableName",
                    "table '%s' already has a live %s job (%s); a table takes one live job "
                    "at a time: cancel that job first (or wait for a batch job to finish), "
                    "or target another table",
                    j->table_name, type, other);
        return abort_tx(c, err);
    }
    if (c->ops->job_insert(c->s, j, err))
        return abort_tx(c, err);
    if (stream && *stream) {
        int64_t changed = 0;
        bool swapped = false;
        if (c->ops->checkpoint_delete(c->s, j->table_name, stream, true, &changed, err) ||
            (start && c->ops->checkpoint_cas(c->s, j->table_name, stream, NULL, start,
                                             util_now_ns(), &swapped, err)))
            return abort_tx(c, err);
        if (dropped)
            *dropped = (int)changed;
    }
    if (c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_job_insert(struct catalog *c, const struct catalog_job *j, const char *stream,
                       const char *start, int *dropped, struct lerr *err)
{
    if (dropped)
        *dropped = 0;
    return LOCKED(c, job_insert_locked(c, j, stream, start, dropped, err));
}

static int job_get_locked(struct catalog *c, const char *id, struct catalog_job *out,
                          struct lerr *err)
{
    bool found;
    if (c->ops->job_get(c->s, id, out, &found, err))
        return err->code;
    return found ? 0 : lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", id);
}

int catalog_job_get(struct catalog *c, const char *id, struct catalog_job *out, struct lerr *err)
{
    return LOCKED(c, job_get_locked(c, id, out, err));
}

int catalog_job_list(struct catalog *c, struct catalog_job_list *out, struct lerr *err)
{
    return LOCKED(c, c->ops->job_list(c->s, CATALOG_JOBS_ALL, NULL, out, err));
}

int catalog_job_list_table(struct catalog *c, const char *table, struct catalog_job_list *out,
                           struct lerr *err)
{
    return LOCKED(c, c->ops->job_list(c->s, CATALOG_JOBS_OF_TABLE, table, out, err));
}

int catalog_job_list_active(struct catalog *c, struct catalog_job_list *out, struct lerr *err)
{
    return LOCKED(c, c->ops->job_list(c->s, CATALOG_JOBS_ACTIVE, NULL, out, err));
}

/* NOT_FOUND naming the job when an update changed no row. */
static int job_changed(int rc, int64_t changed, const char *id, struct lerr *err)
{
    if (rc)
        return rc;
    return changed ? 0 : lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", id);
}

static int job_update_state_locked(struct catalog *c, const struct catalog_job *j,
                                   struct lerr *err)
{
    int64_t changed = 0;
    int rc = c->ops->job_update_state(c->s, j, &changed, err);
    return job_changed(rc, changed, j->id, err);
}

int catalog_job_update_state(struct catalog *c, const struct catalog_job *j, struct lerr *err)
{
    return LOCKED(c, job_update_state_locked(c, j, err));
}

static int job_set_status_locked(struct catalog *c, const char *id, enum catalog_job_state status,
                                 enum catalog_health health, const char *msg, int64_t started_ns,
                                 int64_t completed_ns, struct lerr *err)
{
    int64_t changed = 0;
    int rc = c->ops->job_set_status(c->s, id, status, health, msg, started_ns, completed_ns,
                                    util_now_ns(), &changed, err);
    return job_changed(rc, changed, id, err);
}

int catalog_job_set_status(struct catalog *c, const char *id, enum catalog_job_state status,
                           enum catalog_health health, const char *health_message,
                           int64_t started_ns, int64_t completed_ns, struct lerr *err)
{
    return LOCKED(c, job_set_status_locked(c, id, status, health, health_message, started_ns,
                                           completed_ns, err));
}

static int job_set_desired_locked(struct catalog *c, const char *id,
                                  enum catalog_job_state desired, const char *modified_by,
                                  struct lerr *err)
{
    int64_t changed = 0;
    int rc = c->ops->job_set_desired(c->s, id, desired, modified_by, util_now_ns(), &changed, err);
    return job_changed(rc, changed, id, err);
}

int catalog_job_set_desired(struct catalog *c, const char *id, enum catalog_job_state desired,
                            const char *modified_by, struct lerr *err)
{
    return LOCKED(c, job_set_desired_locked(c, id, desired, modified_by, err));
}

static int job_counters_locked(struct catalog *c, const char *job_id, char **out, struct lerr *err)
{
    bool found;
    if (c->ops->job_counters_get(c->s, job_id, out, &found, err))
        return err->code;
    return found ? 0 : lerr_set(err, LERR_NOT_FOUND, "no counters saved for job %s", job_id);
}

int catalog_job_counters_nodes(struct catalog *c, const char *job_id,
                               struct catalog_node_counters **out, size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    if (strchr(job_id, '%') || strchr(job_id, '_') || strchr(job_id, '\\'))
        return lerr_set(err, LERR_INVALID, "job id '%s' cannot be matched as a prefix", job_id);
    return LOCKED(c, c->ops->job_counters_nodes(c->s, job_id, out, n, err));
}

void catalog_node_counters_free(struct catalog_node_counters *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].counters);
    free(v);
}

int catalog_job_counters(struct catalog *c, const char *job_id, char **out, struct lerr *err)
{
    return LOCKED(c, job_counters_locked(c, job_id, out, err));
}

/* ---- checkpoints --------------------------------------------------------- */

static int job_reset_locked(struct catalog *c, const char *job_id, const char *table,
                            const char *stream, const char *start, struct lerr *err)
{
    int64_t changed = 0;
    if (c->ops->begin(c->s, err))
        return err->code;
    if (c->ops->checkpoint_delete(c->s, table, stream, false, NULL, err) ||
        (start && c->ops->checkpoint_put(c->s, table, stream, start, util_now_ns(), err)) ||
        c->ops->job_bump_reset(c->s, job_id, util_now_ns(), &changed, err))
        return abort_tx(c, err);
    if (changed == 0) {
        lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", job_id);
        return abort_tx(c, err);
    }
    if (c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_job_reset(struct catalog *c, const char *job_id, const char *table, const char *stream,
                      const char *start, struct lerr *err)
{
    return LOCKED(c, job_reset_locked(c, job_id, table, stream, start, err));
}

static int checkpoint_get_locked(struct catalog *c, const char *table, const char *stream,
                                 char **out, struct lerr *err)
{
    bool found;
    if (c->ops->checkpoint_get(c->s, table, stream, out, &found, err))
        return err->code;
    return found ? 0
                 : lerr_set(err, LERR_NOT_FOUND, "no checkpoint for table '%s' and stream '%s'",
                            table, stream);
}

int catalog_checkpoint_get(struct catalog *c, const char *table, const char *stream,
                           char **offsets_json, struct lerr *err)
{
    return LOCKED(c, checkpoint_get_locked(c, table, stream, offsets_json, err));
}

int catalog_checkpoint_put(struct catalog *c, const char *table, const char *stream,
                           const char *offsets_json, struct lerr *err)
{
    return LOCKED(c,
                  c->ops->checkpoint_put(c->s, table, stream, offsets_json, util_now_ns(), err));
}

static int checkpoint_claim_locked(struct catalog *c, const char *table, const char *stream,
                                   int *dropped, struct lerr *err)
{
    int64_t changed = 0;
    if (c->ops->checkpoint_delete(c->s, table, stream, true, &changed, err))
        return err->code;
    if (dropped)
        *dropped = (int)changed;
    return 0;
}

int catalog_checkpoint_claim(struct catalog *c, const char *table, const char *stream,
                             int *dropped, struct lerr *err)
{
    return LOCKED(c, checkpoint_claim_locked(c, table, stream, dropped, err));
}

int catalog_checkpoint_drop_stream(struct catalog *c, const char *stream, struct lerr *err)
{
    return LOCKED(c, c->ops->checkpoint_delete(c->s, NULL, stream, false, NULL, err));
}

/* ---- segments and commits ------------------------------------------------ */

static int segment_cut_locked(struct catalog *c, const char *table,
                              struct catalog_segment_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    if (c->ops->begin_read(c->s, err))
        return err->code;
    int64_t seq = 0;
    if (c->ops->commit_seq(c->s, false, &seq, err) ||
        c->ops->segment_list(c->s, table, out, err) || c->ops->commit(c->s, err)) {
        catalog_segment_list_free(out);
        return abort_tx(c, err);
    }
    out->seq = seq;
    return 0;
}

int catalog_segment_cut(struct catalog *c, const char *table, struct catalog_segment_list *out,
                        struct lerr *err)
{
    return LOCKED(c, segment_cut_locked(c, table, out, err));
}

int catalog_segment_list(struct catalog *c, const char *table, struct catalog_segment_list *out,
                         struct lerr *err)
{
    return LOCKED(c, c->ops->segment_list(c->s, table, out, err));
}

/* ---- the fence of a commit ------------------------------------------------- */

/* Splits "<topic>:<partition>" at its last ':'; false when it is not that. */
static bool part_key_split(const char *key, char *topic, size_t cap, int32_t *partition)
{
    const char *colon = key ? strrchr(key, ':') : NULL;
    if (!colon || colon == key || (size_t)(colon - key) >= cap)
        return false;
    const char *d = colon + 1;
    size_t n = strlen(d);
    if (n == 0 || n > 10 || (n > 1 && d[0] == '0'))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
        v = v * 10 + (d[i] - '0');
    }
    if (v > INT32_MAX)
        return false;
    memcpy(topic, key, (size_t)(colon - key));
    topic[colon - key] = '\0';
    *partition = (int32_t)v;
    return true;
}

/* Is (topic, partition) one of the fence's parts? */
static bool fence_has(const struct catalog_fence *f, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < f->nparts; i++) {
        char t[SOURCE_TOPIC_MAX + 1];
        int32_t p;
        if (part_key_split(f->parts[i].part, t, sizeof t, &p) && p == partition &&
            strcmp(t, topic) == 0)
            return true;
    }
    return false;
}

/* Every partition `o` names must be fenced; `what` names the document for the message. */
static int fence_covers(const struct catalog_fence *f, const struct source_offsets *o,
                        const char *what, struct lerr *err)
{
    for (size_t i = 0; i < o->n; i++)
        if (!fence_has(f, o->items[i].topic, o->items[i].partition))
            return lerr_set(err, LERR_INVALID,
                            "fenced commit: %s names partition %s:%" PRId32
                            ", which the fence does not; a fenced commit writes only the "
                            "partitions it names in fence.parts",
                            what, o->items[i].topic, o->items[i].partition);
    return 0;
}

/*
 * What a fenced commit checks before the transaction: the fence's shape and
 * the two documents, parsed into exp and neu (restricted to fenced partitions).
 */
static int fence_parse(const struct catalog_commit *cm, struct source_offsets *exp,
                       struct source_offsets *neu, struct lerr *err)
{
    const struct catalog_fence *f = cm->fence;
    if (!cm->stream)
        return lerr_set(err, LERR_INVALID,
                        "fenced commit: no stream; a fence guards the "
                        "offsets of a (table, stream) checkpoint");
    if (!f->node_id || !f->node_id[0])
        return lerr_set(err, LERR_INVALID, "fenced commit: fence.node_id is empty");
    if (f->nparts == 0)
        return lerr_set(err, LERR_INVALID,
                        "fenced commit: fence.parts is empty; name the "
                        "partitions this commit advances");
    for (size_t i = 0; i < f->nparts; i++) {
        char t[SOURCE_TOPIC_MAX + 1];
        int32_t p;
        if (!part_key_split(f->parts[i].part, t, sizeof t, &p))
            return lerr_set(err, LERR_INVALID,
                            "fenced commit: fence.parts[%zu] '%.300s' is not "
                            "\"<topic>:<partition>\" (e.g. \"events:3\")",
                            i, f->parts[i].part ? f->parts[i].part : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->parts[j].part, f->parts[i].part) == 0)
                return lerr_set(err, LERR_INVALID, "fenced commit: fence.parts names '%s' twice",
                                f->parts[i].part);
    }
    if (!cm->new_offsets)
        return lerr_set(err, LERR_INVALID, "fenced commit: new_offsets is missing");
    if (cm->expected_offsets &&
        source_offsets_from_json(cm->expected_offsets, strlen(cm->expected_offsets), exp, err))
        return err->code;
    if (source_offsets_from_json(cm->new_offsets, strlen(cm->new_offsets), neu, err))
        return err->code;
    if (fence_covers(f, exp, "expected_offsets", err) || fence_covers(f, neu, "new_offsets", err))
        return err->code;
    for (size_t i = 0; i < f->nparts; i++) {
        char t[SOURCE_TOPIC_MAX + 1];
        int32_t p;
        part_key_split(f->parts[i].part, t, sizeof t, &p);
        if (source_offsets_get(neu, t, p) == SOURCE_OFFSET_NONE)
            return lerr_set(err, LERR_INVALID,
                            "fenced commit: new_offsets has no offset for fenced partition %s",
                            f->parts[i].part);
    }
    return 0;
}

/* "12" or "[12,\"after:…\"]" or "none", for messages. */
static void offset_text(const struct source_offsets *o, const char *topic, int32_t p, char *out,
                        size_t cap)
{
    int64_t next = source_offsets_get(o, topic, p);
    const char *pos = source_offsets_get_pos(o, topic, p);
    if (next == SOURCE_OFFSET_NONE)
        snprintf(out, cap, "none");
    else if (pos)
        snprintf(out, cap, "%" PRId64 " at \"%.100s\"", next, pos);
    else
        snprintf(out, cap, "%" PRId64, next);
}

/*
 * Inside a commit's transaction: whether node `node` still holds lease (table, stream, part)
 * at `epoch`, live at `now`; else LERR_CONFLICT (target "fence") naming what the lease is.
 * `what` names the lease for the message ("partition ev:3", "the stream").
 */
static int lease_current(struct catalog *c, const char *table, const char *stream,
                         const char *part, const char *node, int64_t epoch, int64_t now,
                         const char *what, struct lerr *err)
{
    struct catalog_lease *l = NULL;
    size_t n = 0;
    if (c->ops->lease_list(c->s, table, stream, part, &l, &n, err))
        return err->code;
    if (n == 0)
        lerr_set_at(err, LERR_CONFLICT, "fence",
                    "fenced: %s of table '%s' (stream '%s') has no lease; node '%s' must "
                    "acquire it before committing; nothing is committed",
                    what, table, stream, node);
    else if (!l->node_id[0])
        lerr_set_at(err, LERR_CONFLICT, "fence",
                    "fenced: %s of table '%s' (stream '%s') was released at epoch %" PRId64
                    "; node '%s' (epoch %" PRId64 ") no longer holds it; nothing is committed",
                    what, table, stream, l->epoch, node, epoch);
    else if (strcmp(l->node_id, node) != 0 || l->epoch != epoch)
        lerr_set_at(err, LERR_CONFLICT, "fence",
                    "fenced: %s of table '%s' (stream '%s') is leased to node '%s' at epoch "
                    "%" PRId64 " since %.1f s ago; node '%s' committed with epoch %" PRId64
                    ", which is no longer current: nothing is committed, and the node must "
                    "stop reading it",
                    what, table, stream, l->node_id, l->epoch,
                    (double)(now - l->acquired_ns) / 1e9, node, epoch);
    else if (l->expires_ns <= now)
        lerr_set_at(err, LERR_CONFLICT, "fence",
                    "fenced: the lease of node '%s' on %s of table '%s' (stream '%s', epoch "
                    "%" PRId64 ") expired %.1f s ago; nothing is committed: renew it "
                    "(catalog_lease_renew) before committing, well within its TTL",
                    node, what, table, stream, l->epoch, (double)(now - l->expires_ns) / 1e9);
    free(l);
    return err->code;
}

/* Inside the commit's transaction: every fenced lease current, or LERR_CONFLICT. */
static int fence_check_leases(struct catalog *c, const struct catalog_commit *cm, int64_t now,
                              struct lerr *err)
{
    const struct catalog_fence *f = cm->fence;
    for (size_t i = 0; i < f->nparts; i++) {
        char what[300];
        snprintf(what, sizeof what, "partition %s", f->parts[i].part);
        if (lease_current(c, cm->table_name, cm->stream, f->parts[i].part, f->node_id,
                          f->parts[i].epoch, now, what, err))
            return err->code;
    }
    return 0;
}

/*
 * Inside the commit's transaction, after the leases: each fenced
 * partition's stored offsets must be the expected ones; then they are
 * replaced in the stored document, the other partitions kept as they are.
 */
static int fence_write_offsets(struct catalog *c, const struct catalog_commit *cm,
                               const struct source_offsets *exp, const struct source_offsets *neu,
                               struct lerr *err)
{
    const struct catalog_fence *f = cm->fence;
    char *cur = NULL;
    bool found = false;
    struct source_offsets stored;
    source_offsets_init(&stored);
    if (c->ops->checkpoint_get(c->s, cm->table_name, cm->stream, &cur, &found, err))
        return err->code;
    if (found && source_offsets_from_json(cur, strlen(cur), &stored, err)) {
        char why[200];
        snprintf(why, sizeof why, "%s", err->msg);
        lerr_init(err);
        lerr_set(err, LERR_INVALID,
                 "the stored checkpoint of table '%s' on stream '%s' is not an offsets "
                 "document (%s); reset the job",
                 cm->table_name, cm->stream, why);
    }
    free(cur);
    for (size_t i = 0; i < f->nparts && !err->code; i++) {
        char t[SOURCE_TOPIC_MAX + 1], have[160], want[160];
        int32_t p;
        part_key_split(f->parts[i].part, t, sizeof t, &p);
        const char *hp = source_offsets_get_pos(&stored, t, p),
                   *wp = source_offsets_get_pos(exp, t, p);
        bool same = source_offsets_get(&stored, t, p) == source_offsets_get(exp, t, p) &&
                    ((!hp && !wp) || (hp && wp && strcmp(hp, wp) == 0));
        if (!same) {
            offset_text(&stored, t, p, have, sizeof have);
            offset_text(exp, t, p, want, sizeof want);
            lerr_set(err, LERR_CONFLICT,
                     "the checkpoint of partition %s of table '%s' on stream '%s' moved (stored "
                     "%s, this commit expected %s: a reset or another writer); the batch is not "
                     "committed and will be re-read",
                     f->parts[i].part, cm->table_name, cm->stream, have, want);
            break;
        }
        if (source_offsets_set_pos(&stored, t, p, source_offsets_get(neu, t, p),
                                   source_offsets_get_pos(neu, t, p), err))
            break;
    }
    char *doc = err->code ? NULL : source_offsets_to_json(&stored, err);
    source_offsets_destroy(&stored);
    if (!doc)
        return err->code;
    int rc = c->ops->checkpoint_put(c->s, cm->table_name, cm->stream, doc, util_now_ns(), err);
    free(doc);
    return rc;
}

/*
 * The segment part of a commit, inside its transaction. A commit that
 * changes segments takes the next commit number and stamps the segments it
 * adds with it, and with the node of a fenced (streaming) commit — by
 * partition leases or by a run lease: catalog_segment_cut.
 */
static int commit_segments(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    int64_t seq = 0;
    if ((cm->nadd || cm->nremove) && c->ops->commit_seq(c->s, true, &seq, err))
        return err->code;
    for (size_t i = 0; i < cm->nadd; i++) {
        struct catalog_segment g = cm->add[i];
        g.seq = seq;
        snprintf(g.writer, sizeof g.writer, "%s",
                 cm->fence ? cm->fence->node_id
                 : cm->run ? cm->run->node_id
                           : "");
        if (c->ops->segment_insert(c->s, cm->table_name, &g,
                                   g.created_ns ? g.created_ns : util_now_ns(), err))
            return err->code;
    }
    for (size_t i = 0; i < cm->nremove; i++) {
        int64_t changed = 0;
        if (c->ops->segment_delete(c->s, cm->table_name, cm->remove_ids[i], &changed, err))
            return err->code;
        if (changed == 0)
            return lerr_set(err, LERR_CONFLICT, "segment %s of table '%s' is already gone",
                            cm->remove_ids[i], cm->table_name);
    }
    return 0;
}

static int commit_counters(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    if (cm->job_id &&
        c->ops->job_counters_put(c->s, cm->job_id, cm->job_counters, util_now_ns(), err))
        return err->code;
    return 0;
}

static int commit_locked(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    const struct catalog_ops *o = c->ops;
    if (o->begin(c->s, err))
        return err->code;
    /* a stream one node reads whole: nothing of it is committed once its lease moved */
    const struct catalog_lease *run = cm->run;
    if (run && lease_current(c, run->table_name, run->stream, run->part, run->node_id, run->epoch,
                             util_now_ns(), "the stream", err))
        return abort_tx(c, err);
    if (commit_segments(c, cm, err))
        return abort_tx(c, err);
    if (cm->stream) {
        /* the commit rule: the checkpoint moves only from where this writer left it */
        bool swapped = false;
        if (o->checkpoint_cas(c->s, cm->table_name, cm->stream, cm->expected_offsets,
                              cm->new_offsets, util_now_ns(), &swapped, err))
            return abort_tx(c, err);
        if (!swapped) {
            lerr_set(err, LERR_CONFLICT,
                     "the checkpoint of table '%s' on stream '%s' moved (a reset or another "
                     "writer); the batch is not committed and will be re-read",
                     cm->table_name, cm->stream);
            return abort_tx(c, err);
        }
    }
    if (commit_counters(c, cm, err) || o->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

/*
 * A fenced commit: the documents are parsed before the transaction; inside
 * it, the leases first (a fenced-off node writes nothing), then the
 * per-partition compare-and-swap of the offsets, then segments and counters.
 * The write transaction (BEGIN IMMEDIATE; PostgreSQL's writers' lock) makes
 * the read-modify-write of the document safe against every other writer.
 */
static int commit_fenced_locked(struct catalog *c, const struct catalog_commit *cm,
                                struct lerr *err)
{
    struct source_offsets exp, neu;
    source_offsets_init(&exp);
    source_offsets_init(&neu);
    int64_t now = cm->fence->now_ns ? cm->fence->now_ns : util_now_ns();
    int rc = fence_parse(cm, &exp, &neu, err);
    if (!rc && !(rc = c->ops->begin(c->s, err))) {
        if (fence_check_leases(c, cm, now, err) || fence_write_offsets(c, cm, &exp, &neu, err) ||
            commit_segments(c, cm, err) || commit_counters(c, cm, err) ||
            c->ops->commit(c->s, err))
            rc = abort_tx(c, err);
    }
    source_offsets_destroy(&exp);
    source_offsets_destroy(&neu);
    return rc;
}

int catalog_commit(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    if (cm->fence)
        return LOCKED(c, commit_fenced_locked(c, cm, err));
    return LOCKED(c, commit_locked(c, cm, err));
}

/* ---- uploaded files -------------------------------------------------------- */

int catalog_file_put(struct catalog *c, const char *name, int64_t size, struct lerr *err)
{
    return LOCKED(c, c->ops->file_put(c->s, name, size, util_now_ns(), err));
}

static int file_list_locked(struct catalog *c, const char *name, struct catalog_file **out,
                            size_t *n, struct lerr *err)
{
    if (c->ops->file_list(c->s, name, out, n, err))
        return err->code;
    if (name && *n == 0)
        return lerr_set(err, LERR_NOT_FOUND, "no uploaded file named '%s'", name);
    return 0;
}

int catalog_file_list(struct catalog *c, const char *name, struct catalog_file **out, size_t *n,
                      struct lerr *err)
{
    return LOCKED(c, file_list_locked(c, name, out, n, err));
}

static int file_delete_locked(struct catalog *c, const char *name, struct lerr *err)
{
    int64_t changed = 0;
    if (c->ops->file_delete(c->s, name, &changed, err))
        return err->code;
    return changed ? 0 : lerr_set(err, LERR_NOT_FOUND, "no uploaded file named '%s'", name);
}

int catalog_file_delete(struct catalog *c, const char *name, struct lerr *err)
{
    return LOCKED(c, file_delete_locked(c, name, err));
}

/* ---- cluster nodes -------------------------------------------------------- */

void catalog_node_list_free(struct catalog_node *nodes, size_t n)
{
    for (size_t i = 0; nodes && i < n; i++)
        free(nodes[i].info);
    free(nodes);
}

static int node_join_locked(struct catalog *c, const struct catalog_node *n, struct lerr *err)
{
    const struct catalog_ops *o = c->ops;
    if (o->begin(c->s, err))
        return err->code;
    struct catalog_node *all = NULL;
    size_t nall = 0;
    if (o->node_list(c->s, &all, &nall, err))
        return abort_tx(c, err);
    int64_t now = util_now_ns();
    for (size_t i = 0; i < nall && !err->code; i++) {
        const struct catalog_node *x = &all[i];
        if (now - x->heartbeat_ns > CATALOG_NODE_EXPIRY_NS)
            continue; /* not live: its row is only history */
        double age = (double)(now - x->heartbeat_ns) / 1e9;
        if (strcmp(x->id, n->id) == 0 && strcmp(x->advertise, n->advertise) != 0)
            lerr_set(err, LERR_CONFLICT,
                     "node id '%s' is already live at %s (heartbeat %.1f s ago); give this "
                     "server another --node-id, or stop that one and start this after %lld s",
                     n->id, x->advertise, age, CATALOG_NODE_EXPIRY_NS / 1000000000LL);
        else if (strcmp(x->secret_check, n->secret_check) != 0)
            lerr_set(err, LERR_INVALID,
                     "node '%s' at %s shares this catalog with another cluster secret; set the "
                     "same LODESTAR_CLUSTER_SECRET on every node of a cluster (or give this one "
                     "its own catalog)",
                     x->id, x->advertise);
    }
    catalog_node_list_free(all, nall);
    if (err->code)
        return abort_tx(c, err);
    struct catalog_node row = *n;
    row.heartbeat_ns = now;
    if (o->node_put(c->s, &row, err) || o->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_node_join(struct catalog *c, const struct catalog_node *n, struct lerr *err)
{
    return LOCKED(c, node_join_locked(c, n, err));
}

int catalog_node_heartbeat(struct catalog *c, const struct catalog_node *n, struct lerr *err)
{
    struct catalog_node row = *n;
    row.heartbeat_ns = util_now_ns();
    return LOCKED(c, c->ops->node_put(c->s, &row, err));
}

int catalog_node_list(struct catalog *c, struct catalog_node **out, size_t *n, struct lerr *err)
{
    return LOCKED(c, c->ops->node_list(c->s, out, n, err));
}

int catalog_node_leave(struct catalog *c, const char *id, struct lerr *err)
{
    int64_t changed = 0;
    return LOCKED(c, c->ops->node_delete(c->s, id, &changed, err));
}

/* ---- leases ------------------------------------------------------------------ */

int catalog_lease_part_key(const char *topic, int32_t partition, char out[256], struct lerr *err)
{
    out[0] = '\0';
    if (!topic || !topic[0] || partition < 0)
        return lerr_set(err, LERR_INVALID,
                        "lease: a partition key needs a topic and a partition >= 0");
    int n = snprintf(out, 256, "%s:%" PRId32, topic, partition);
    if (n < 0 || n >= 256) {
        out[0] = '\0';
        return lerr_set(err, LERR_INVALID,
                        "lease: the partition key of topic '%.64s...' partition %" PRId32
                        " is over 255 bytes; use a shorter topic name",
                        topic, partition);
    }
    return 0;
}

/* A name a lease row can hold: 1..cap-1 bytes. */
static int lease_name_ok(const char *what, const char *v, size_t cap, struct lerr *err)
{
    if (!v || !v[0] || strlen(v) >= cap)
        return lerr_set(err, LERR_INVALID, "lease: %s must be 1..%zu bytes", what, cap - 1);
    return 0;
}

static int lease_key_ok(const char *table, const char *stream, const char *part, struct lerr *err)
{
    struct catalog_lease l;
    if (lease_name_ok("the table name", table, sizeof l.table_name, err) ||
        lease_name_ok("the stream", stream, sizeof l.stream, err) ||
        lease_name_ok("the partition key", part, sizeof l.part, err))
        return err->code;
    return 0;
}

/* The one lease of (table, stream, part) into *out; *found says whether there is one. */
static int lease_get(struct catalog *c, const char *table, const char *stream, const char *part,
                     struct catalog_lease *out, bool *found, struct lerr *err)
{
    struct catalog_lease *v = NULL;
    size_t n = 0;
    if (c->ops->lease_list(c->s, table, stream, part, &v, &n, err))
        return err->code;
    *found = n > 0;
    if (n)
        *out = v[0];
    free(v);
    return 0;
}

static int lease_acquire_locked(struct catalog *c, const char *table, const char *stream,
                                const char *part, const char *node_id, int64_t ttl_ns, int64_t now,
                                struct catalog_lease *out, struct lerr *err)
{
    struct catalog_lease cur, row;
    bool found;
    if (c->ops->begin(c->s, err))
        return err->code;
    if (lease_get(c, table, stream, part, &cur, &found, err))
        return abort_tx(c, err);
    memset(&row, 0, sizeof row);
    snprintf(row.table_name, sizeof row.table_name, "%s", table);
    snprintf(row.stream, sizeof row.stream, "%s", stream);
    snprintf(row.part, sizeof row.part, "%s", part);
    snprintf(row.node_id, sizeof row.node_id, "%s", node_id);
    row.expires_ns = now + ttl_ns;
    if (!found) { /* a partition nobody has read yet */
        row.epoch = 1;
        row.acquired_ns = now;
    } else if (strcmp(cur.node_id, node_id) == 0) { /* its own: the epoch stays */
        row.epoch = cur.epoch;
        row.acquired_ns = cur.acquired_ns;
        row.taken_over = true;
    } else if (cur.node_id[0] && cur.expires_ns > now) {
        lerr_set(err, LERR_CONFLICT,
                 "partition %s of table '%s' (stream '%s') is leased to node '%s' at epoch "
                 "%" PRId64 " for %.1f s more; it moves when that node releases it or stops "
                 "renewing",
                 part, table, stream, cur.node_id, cur.epoch,
                 (double)(cur.expires_ns - now) / 1e9);
        return abort_tx(c, err);
    } else { /* free, or another node's expired lease: a takeover fences the old holder */
        row.epoch = cur.epoch + 1;
        row.acquired_ns = now;
        row.taken_over = cur.node_id[0] != '\0';
    }
    if (c->ops->lease_put(c->s, &row, err) || c->ops->commit(c->s, err))
        return abort_tx(c, err);
    if (out)
        *out = row;
    return 0;
}

int catalog_lease_acquire(struct catalog *c, const char *table, const char *stream,
                          const char *part, const char *node_id, int64_t ttl_ns, int64_t now_ns,
                          struct catalog_lease *out, struct lerr *err)
{
    struct catalog_lease l;
    if (lease_key_ok(table, stream, part, err) ||
        lease_name_ok("the node id", node_id, sizeof l.node_id, err))
        return err->code;
    int64_t ttl = ttl_ns > 0 ? ttl_ns : CATALOG_LEASE_TTL_NS;
    int64_t now = now_ns ? now_ns : util_now_ns();
    return LOCKED(c, lease_acquire_locked(c, table, stream, part, node_id, ttl, now, out, err));
}

static int lease_renew_locked(struct catalog *c, const char *node_id, int64_t ttl_ns, int64_t now,
                              struct catalog_lease *held, size_t n, size_t *nlost,
                              struct lerr *err)
{
    size_t lost = 0;
    if (c->ops->begin(c->s, err))
        return err->code;
    for (size_t i = 0; i < n; i++) {
        struct catalog_lease *h = &held[i], cur;
        bool found;
        if (lease_get(c, h->table_name, h->stream, h->part, &cur, &found, err))
            return abort_tx(c, err);
        h->lost = !found || strcmp(cur.node_id, node_id) != 0 || cur.epoch != h->epoch;
        if (h->lost) {
            lost++;
            snprintf(h->node_id, sizeof h->node_id, "%s", found ? cur.node_id : "");
            h->epoch = found ? cur.epoch : 0;
            h->acquired_ns = found ? cur.acquired_ns : 0;
            h->expires_ns = found ? cur.expires_ns : 0;
            continue;
        }
        cur.expires_ns = now + ttl_ns;
        if (c->ops->lease_put(c->s, &cur, err))
            return abort_tx(c, err);
        snprintf(h->node_id, sizeof h->node_id, "%s", node_id);
        h->acquired_ns = cur.acquired_ns;
        h->expires_ns = cur.expires_ns;
    }
    if (c->ops->commit(c->s, err))
        return abort_tx(c, err);
    if (nlost)
        *nlost = lost;
    return 0;
}

int catalog_lease_renew(struct catalog *c, const char *node_id, int64_t ttl_ns, int64_t now_ns,
                        struct catalog_lease *held, size_t n, size_t *nlost, struct lerr *err)
{
    struct catalog_lease l;
    if (lease_name_ok("the node id", node_id, sizeof l.node_id, err))
        return err->code;
    for (size_t i = 0; i < n; i++)
        if (lease_key_ok(held[i].table_name, held[i].stream, held[i].part, err))
            return err->code;
    int64_t ttl = ttl_ns > 0 ? ttl_ns : CATALOG_LEASE_TTL_NS;
    int64_t now = now_ns ? now_ns : util_now_ns();
    return LOCKED(c, lease_renew_locked(c, node_id, ttl, now, held, n, nlost, err));
}

static int lease_release_locked(struct catalog *c, const char *table, const char *stream,
                                const char *part, const char *node_id, int64_t epoch,
                                struct lerr *err)
{
    struct catalog_lease cur;
    bool found;
    if (c->ops->begin(c->s, err))
        return err->code;
    if (lease_get(c, table, stream, part, &cur, &found, err))
        return abort_tx(c, err);
    if (!found) {
        lerr_set(err, LERR_NOT_FOUND, "partition %s of table '%s' (stream '%s') has no lease",
                 part, table, stream);
        return abort_tx(c, err);
    }
    if (strcmp(cur.node_id, node_id) != 0 || cur.epoch != epoch) {
        lerr_set(err, LERR_CONFLICT,
                 "partition %s of table '%s' (stream '%s') is %s%s%s at epoch %" PRId64
                 ", not leased to node '%s' at epoch %" PRId64 "; nothing is released",
                 part, table, stream, cur.node_id[0] ? "leased to node '" : "free", cur.node_id,
                 cur.node_id[0] ? "'" : "", cur.epoch, node_id, epoch);
        return abort_tx(c, err);
    }
    cur.node_id[0] = '\0';
    cur.expires_ns = 0;
    if (c->ops->lease_put(c->s, &cur, err) || c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_lease_release(struct catalog *c, const char *table, const char *stream,
                          const char *part, const char *node_id, int64_t epoch, struct lerr *err)
{
    struct catalog_lease l;
    if (lease_key_ok(table, stream, part, err) ||
        lease_name_ok("the node id", node_id, sizeof l.node_id, err))
        return err->code;
    return LOCKED(c, lease_release_locked(c, table, stream, part, node_id, epoch, err));
}

int catalog_lease_list(struct catalog *c, const char *table, const char *stream,
                       struct catalog_lease **out, size_t *n, struct lerr *err)
{
    return LOCKED(c, c->ops->lease_list(c->s, table, table ? stream : NULL, NULL, out, n, err));
}

int catalog_lease_drop(struct catalog *c, const char *table, const char *stream, struct lerr *err)
{
    struct catalog_lease l;
    if (lease_name_ok("the table name", table, sizeof l.table_name, err))
        return err->code;
    return LOCKED(c, c->ops->lease_delete(c->s, table, stream, NULL, err));
}
