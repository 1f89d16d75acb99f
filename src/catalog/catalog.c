/*
 * catalog.c — the public catalog functions (catalog.h) over an
 * implementation's operations table (catalog_int.h). This file keeps the
 * rules, so that every implementation keeps them alike (catalog_sqlite.c,
 * catalog_pg.c, chosen by catalog_open's target): one live job per
 * table, no delete of a table or connection a live job uses, the
 * checkpoint compare-and-swap that makes a commit, and the messages for
 * conflicts and missing rows. The implementation stores and fetches rows.
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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"

struct catalog {
    const struct catalog_ops *ops;
    struct catalog_store *s;
    pthread_mutex_t mu;
    int version;
};

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
                               c->ops->segment_delete(c->s, name, NULL, NULL, err)))
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

static int job_insert_locked(struct catalog *c, const struct catalog_job *j, struct lerr *err)
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
    if (c->ops->job_insert(c->s, j, err) || c->ops->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_job_insert(struct catalog *c, const struct catalog_job *j, struct lerr *err)
{
    return LOCKED(c, job_insert_locked(c, j, err));
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

int catalog_job_counters(struct catalog *c, const char *job_id, char **out, struct lerr *err)
{
    return LOCKED(c, job_counters_locked(c, job_id, out, err));
}

/* ---- checkpoints --------------------------------------------------------- */

static int job_reset_locked(struct catalog *c, const char *job_id, const char *table,
                            const char *stream, struct lerr *err)
{
    int64_t changed = 0;
    if (c->ops->begin(c->s, err))
        return err->code;
    if (c->ops->checkpoint_delete(c->s, table, stream, false, NULL, err) ||
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
                      struct lerr *err)
{
    return LOCKED(c, job_reset_locked(c, job_id, table, stream, err));
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

int catalog_segment_list(struct catalog *c, const char *table, struct catalog_segment_list *out,
                         struct lerr *err)
{
    return LOCKED(c, c->ops->segment_list(c->s, table, out, err));
}

static int commit_locked(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    const struct catalog_ops *o = c->ops;
    if (o->begin(c->s, err))
        return err->code;
    for (size_t i = 0; i < cm->nadd; i++) {
        const struct catalog_segment *g = &cm->add[i];
        if (o->segment_insert(c->s, cm->table_name, g,
                              g->created_ns ? g->created_ns : util_now_ns(), err))
            return abort_tx(c, err);
    }
    for (size_t i = 0; i < cm->nremove; i++) {
        int64_t changed = 0;
        if (o->segment_delete(c->s, cm->table_name, cm->remove_ids[i], &changed, err))
            return abort_tx(c, err);
        if (changed == 0) {
            lerr_set(err, LERR_CONFLICT, "segment %s of table '%s' is already gone",
                     cm->remove_ids[i], cm->table_name);
            return abort_tx(c, err);
        }
    }
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
    if (cm->job_id && o->job_counters_put(c->s, cm->job_id, cm->job_counters, util_now_ns(), err))
        return abort_tx(c, err);
    if (o->commit(c->s, err))
        return abort_tx(c, err);
    return 0;
}

int catalog_commit(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
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
