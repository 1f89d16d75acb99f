/*
 * jobs.c — /jobs: create a streaming or batch ingestion job (the body is
 * checked and normalised by jobs_spec.c), list with filters, get, status,
 * change desiredExecutionStatus (PUT/PATCH), reset the (table, stream)
 * checkpoint, metrics and logs.
 *
 * The normalised spec is stored as JSON; the statuses, health and
 * timestamps live in catalog columns and are merged into every response.
 */
#include <string.h>

#include "api/api_int.h"
#include "ingest/ingest.h"
#include "source/pushreg.h"
#include "storage/storage.h"
#include "util/time.h"

/* The nodes of a shared catalog, read once per request for the jobs' health; none otherwise. */
struct job_nodes {
    struct catalog_node *v;
    size_t n;
};

static struct job_nodes job_nodes_read(struct api_server *srv)
{
    struct job_nodes ns = {NULL, 0};
    struct lerr err;
    lerr_init(&err);
    if (catalog_is_shared(srv->cat) && catalog_node_list(srv->cat, &ns.v, &ns.n, &err))
        ns.n = 0; /* unread: the catalog's health is shown */
    return ns;
}

static json_t *job_doc(const struct job_nodes *ns, const struct catalog_job *j)
{
    json_t *doc = json_loads(j->spec ? j->spec : "{}", 0, NULL);
    if (!doc)
        doc = json_object();
    json_object_set_new(doc, "id", json_string(j->id));
    json_object_set_new(doc, "desiredExecutionStatus",
                        json_string(catalog_job_state_name(j->desired)));
    json_object_set_new(doc, "createdBy", json_loads(j->created_by, 0, NULL));
    json_object_set_new(doc, "lastModifiedBy", json_loads(j->modified_by, 0, NULL));
    json_object_set_new(doc, "executionStatus", json_string(catalog_job_state_name(j->status)));
    /* in a cluster, a running job's health is the worst any node running it has now: each
     * node's own writes to the catalog would leave whichever changed last */
    int h = j->health;
    char msg[640];
    snprintf(msg, sizeof msg, "%s", j->health_message);
    if (j->status == CATALOG_JOB_RUNNING && ns->n &&
        !api__cluster_job_health(ns->v, ns->n, j->id, &h, msg, sizeof msg)) {
        h = j->health;
        snprintf(msg, sizeof msg, "%s", j->health_message);
    }
    json_t *health = json_pack("{s:s}", "status", catalog_health_name(h));
    if (msg[0])
        json_object_set_new(health, "message", json_string(msg));
    json_object_set_new(doc, "health", health);
    json_object_set_new(doc, "createdTimestamp", api_ts(j->created_ns));
    json_object_set_new(doc, "lastUpdatedTimestamp", api_ts(j->updated_ns));
    json_object_set_new(doc, "startedTimestamp", api_ts(j->started_ns));
    json_object_set_new(doc, "completedTimestamp", api_ts(j->completed_ns));
    return doc;
}

/* One job's document (its own read of the nodes). */
static json_t *job_response(struct api_server *srv, const struct catalog_job *j)
{
    struct job_nodes ns = job_nodes_read(srv);
    json_t *doc = job_doc(&ns, j);
    catalog_node_list_free(ns.v, ns.n);
    return doc;
}

int api_jobs_create(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    json_t *body = api_body_object(r, &err);
    if (!body)
        return api_reply_err(r, &err);
    return api__jobs_create_from(r, body, false);
}

int api__jobs_create_from(struct api_req *r, json_t *body, bool task)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    char stream[300] = "";
    bool any_agg = false, create_table = false;
    json_t *spec = NULL, *table = NULL;
    /* sql and delete_data jobs have their own bodies (jobs_sql.c) */
    int type = catalog_job_type_parse(json_string_value(json_object_get(body, "type")));
    if (type == CATALOG_JOB_SQL)
        spec = api__sql_spec(r, body, &j, &any_agg, &create_table, &err);
    else if (type == CATALOG_JOB_DELETE_DATA)
        spec = api__delete_spec(r, body, &j, &err);
    else
        spec = api__job_spec(r, body, &j, stream, &any_agg, &create_table, &err);
    if (!spec)
        goto fail;
    if (api__load_target(r, spec, &j, create_table, &table, &err))
        goto fail;
    j.spec = json_dumps(spec, JSON_COMPACT);
    /* Rows another table's SELECT gives are mapped when the job runs. */
    const char *stype =
        json_string_value(json_object_get(json_object_get(spec, "source"), "type"));
    bool from_table = j.type == CATALOG_JOB_DELETE_DATA || (stype && strcmp(stype, "table") == 0);
    if (!from_table && api__validate_pipeline(spec, table, any_agg, &err))
        goto fail;
    if (!table) {
        json_t *tspec = json_pack(
            "{s:s, s:s}", "name", j.table_name, "type",
            catalog_table_type_name(any_agg ? CATALOG_TABLE_AGGREGATE : CATALOG_TABLE_DETAIL));
        /* a sql job's PARTITIONED BY partitions the table it creates */
        json_t *pby = json_object_get(spec, "partitionedBy");
        if (pby)
            json_object_set(tspec, "partitioningGranularity", pby);
        int rc = api_table_create_from_spec(r, tspec, "target", &table, &err);
        json_decref(tspec);
        if (rc)
            goto fail;
    }
    if (util_uuid_v4(j.id, &err))
        goto fail;
    json_t *caller = api_caller(r);
    j.created_by = json_dumps(caller, JSON_COMPACT);
    j.modified_by = json_dumps(caller, JSON_COMPACT);
    json_decref(caller);
    j.status = j.desired == CATALOG_JOB_SUSPENDED ? CATALOG_JOB_SUSPENDED : CATALOG_JOB_PENDING;
    j.health = CATALOG_HEALTH_OK;
    j.created_ns = j.updated_ns = util_now_ns();
    /* A streaming job's start is fixed before it exists (ingest_job_start), so no
     * runner can start it without: every event after the 201 is read. */
    char *start = NULL;
    if (ingest_job_start(r->srv->rt, &j, false, stream, &start, &err))
        log_msg(LOG_WARN, "api", "job %s: %s (the job resolves its start when it runs)", j.id,
                err.msg);
    lerr_init(&err);
    int dropped = 0;
    int rc = catalog_job_insert(r->srv->cat, &j, stream, start, &dropped, &err);
    free(start);
    if (rc)
        goto fail;
    if (dropped)
        log_msg(LOG_INFO, "api",
                "job %s: table '%s' now reads %s; its checkpoint of another topic or stream "
                "was dropped",
                j.id, j.table_name, stream);
    ingest_runtime_notify(r->srv->rt);
    if (task) /* a statement through the query API: Druid's /druid/v2/sql/task answer */
        api_reply(r, 202,
                  json_pack("{s:s, s:s, s:o}", "taskId", j.id, "state", "RUNNING", "job",
                            job_response(r->srv, &j)));
    else
        api_reply(r, 201, job_response(r->srv, &j));
    catalog_job_destroy(&j);
    json_decref(spec);
    json_decref(table);
    json_decref(body);
    return 0;
fail:
    catalog_job_destroy(&j);
    json_decref(spec);
    json_decref(table);
    json_decref(body);
    return api_reply_err(r, &err);
}

/* True when the job matches every given filter (repeats of one filter OR). */
static bool job_matches(struct api_req *r, const struct catalog_job *j)
{
    static const char *const names[] = {"type", "executionStatus", "healthStatus", "tableName"};
    const char *values[] = {catalog_job_type_name(j->type), catalog_job_state_name(j->status),
                            catalog_health_name(j->health), j->table_name};
    for (size_t f = 0; f < LS_ARRAY_LEN(names); f++) {
        const char *v = r->query(r->conn, names[f], 0);
        if (!v)
            continue;
        bool any = false;
        for (int k = 0; (v = r->query(r->conn, names[f], k)); k++)
            any |= strcmp(v, values[f]) == 0;
        if (!any)
            return false;
    }
    return true;
}

int api_jobs_list(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job_list l;
    /* One tableName filter narrows the read in the catalog itself. */
    const char *table = r->query(r->conn, "tableName", 0);
    bool one_table = table && !r->query(r->conn, "tableName", 1);
    if (one_table ? catalog_job_list_table(r->srv->cat, table, &l, &err)
                  : catalog_job_list(r->srv->cat, &l, &err))
        return api_reply_err(r, &err);
    json_t *values = json_array();
    struct job_nodes ns = job_nodes_read(r->srv); /* once, not once a job */
    for (size_t i = 0; i < l.n; i++)
        if (job_matches(r, &l.items[i]))
            json_array_append_new(values, job_doc(&ns, &l.items[i]));
    catalog_node_list_free(ns.v, ns.n);
    catalog_job_list_free(&l);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

int api_jobs_get(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    api_reply(r, 200, job_response(r->srv, &j));
    catalog_job_destroy(&j);
    return 0;
}

int api_jobs_status(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    json_t *full = job_response(r->srv, &j);
    json_t *st = json_object();
    // clang-format off
    static const char *const keys[] = {"id", "executionStatus", "desiredExecutionStatus",
                                       "health", "startedTimestamp", "completedTimestamp",
                                       "lastUpdatedTimestamp"};
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(keys); i++)
        json_object_set(st, keys[i], json_object_get(full, keys[i]));
    json_decref(full);
    api_reply(r, 200, st);
    catalog_job_destroy(&j);
    return 0;
}

int api_jobs_update(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    json_t *body = NULL, *spec = NULL;
    const char *desired = NULL;
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err) || !(body = api_body_object(r, &err)))
        goto out;
    const char *allowed[32];
    size_t na = 0;
    for (size_t i = 0; api__job_spec_keys[i]; i++)
        allowed[na++] = api__job_spec_keys[i];
    for (size_t i = 0; api__job_server_keys[i]; i++)
        allowed[na++] = api__job_server_keys[i];
    allowed[na] = NULL;
    if (api__v_known_keys(body, "", allowed, &err) ||
        api__v_enum(body, "desiredExecutionStatus", "", false, api__job_desired_values, &desired,
                    &err))
        goto out;
    /* Everything else may be sent back as it is, but not changed. */
    spec = json_loads(j.spec, 0, NULL);
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
        json_t *cur = spec ? json_object_get(spec, key) : NULL;
        if (strcmp(key, "desiredExecutionStatus") == 0 || !cur)
            continue;
        if (!json_equal(cur, val)) {
            lerr_set_at(&err, LERR_INVALID, key,
                        "%s cannot be changed on an existing job (only desiredExecutionStatus "
                        "can); create a new job with the new spec",
                        key);
            goto out;
        }
    }
    if (!desired) {
        lerr_set_at(&err, LERR_INVALID, "desiredExecutionStatus",
                    "desiredExecutionStatus is required: \"running\", \"suspended\" or "
                    "\"canceled\"");
        goto out;
    }
    if (j.desired == CATALOG_JOB_CANCELED || j.status == CATALOG_JOB_CANCELED) {
        if (catalog_job_state_parse(desired) != CATALOG_JOB_CANCELED) {
            lerr_set_at(&err, LERR_INVALID, "desiredExecutionStatus",
                        "job %s is canceled, which is final; create a new job (it resumes "
                        "from the table's checkpoint for the same topic)",
                        j.id);
            goto out;
        }
    } else {
        json_t *caller = api_caller(r);
        char *by = json_dumps(caller, JSON_COMPACT);
        json_decref(caller);
        int rc = catalog_job_set_desired(
            r->srv->cat, j.id, (enum catalog_job_state)catalog_job_state_parse(desired), by, &err);
        free(by);
        if (rc)
            goto out;
        /* Answer once the runtime has acted (a suspend persists first; a runner still
         * connecting to an unreachable broker needs its metadata timeout), within reason. */
        ingest_runtime_settle(r->srv->rt, j.id, 10000);
        catalog_job_destroy(&j);
        if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
            goto out;
    }
    api_reply(r, 200, job_response(r->srv, &j));
out:
    if (err.code)
        api_reply_err(r, &err);
    catalog_job_destroy(&j);
    json_decref(body);
    json_decref(spec);
    return err.code;
}

int api_jobs_reset(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        goto out;
    if (j.type != CATALOG_JOB_STREAMING || !catalog_job_status_live(j.status)) {
        lerr_set(&err, LERR_INVALID,
                 "job %s is %s; only a live streaming job can be reset (its new position "
                 "comes from its readFromPoint)",
                 j.id, catalog_job_state_name(j.status));
        goto out;
    }
    /* Where the job reads from now is fixed with the reset, as at creation: every
     * event after the 200 is read. */
    char stream[300], *start = NULL;
    if (ingest_job_start(r->srv->rt, &j, true, stream, &start, &err)) {
        if (!stream[0])
            goto out; /* the connection is gone */
        log_msg(LOG_WARN, "api", "job %s: reset: %s (the job resolves its start when it runs)",
                j.id, err.msg);
        lerr_init(&err);
    }
    int rc = catalog_job_reset(r->srv->cat, j.id, j.table_name, stream, start, &err);
    free(start);
    if (rc)
        goto out;
    ingest_runtime_notify(r->srv->rt);
    api_reply(r, 200, NULL);
out:
    if (err.code)
        api_reply_err(r, &err);
    catalog_job_destroy(&j);
    return err.code;
}

json_t *api__job_totals_json(const struct pipeline_counters *c)
{
    json_t *t = json_pack("{s:I, s:I, s:I, s:I}", "numRowsProcessed", (json_int_t)c->processed,
                          "numRowsProcessedWithWarnings", (json_int_t)c->processed_with_warnings,
                          "numRowsSkippedByFilter", (json_int_t)c->skipped_by_filter,
                          "numRowsSkippedByError", (json_int_t)c->skipped_by_error);
    json_t *reasons = json_object();
    for (int i = 1; i < PIPE_R__COUNT; i++)
        json_object_set_new(reasons, pipeline_reason_name(i),
                            json_integer((json_int_t)c->by_reason[i]));
    json_object_set_new(t, "byReason", reasons);
    return t;
}

int api_jobs_metrics(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    struct ingest_job_metrics m;
    struct source_partition *parts = NULL;
    size_t nparts = 0;
    bool live = ingest_job_metrics(r->srv->rt, j.id, &m, &parts, &nparts);
    if (!live) {
        /* Not running here: the totals saved with the last checkpoint (zero when none). */
        struct lerr e;
        lerr_init(&e);
        memset(&m, 0, sizeof m);
        m.lag = -1;
        m.freshness_ms = -1;
        ingest_job_saved(r->srv->rt, j.id, &m.counters, NULL, &e);
    }
    if (catalog_is_shared(r->srv->cat)) {
        /* a cluster: every node's share, this node's live one in place of what it saved */
        struct pipeline_counters others;
        bool found = false;
        struct lerr e;
        lerr_init(&e);
        if (ingest_job_cluster_counters(r->srv->rt, j.id, live, &others, &found, &e) == 0 && found)
            ingest_counters_add(&m.counters, &others);
    }
    json_t *lag = json_array();
    for (size_t i = 0; i < nparts; i++)
        json_array_append_new(lag, json_pack("{s:s, s:i, s:I, s:I, s:I}", "topic", parts[i].topic,
                                             "partition", parts[i].partition, "nextOffset",
                                             (json_int_t)parts[i].next_offset, "endOffset",
                                             (json_int_t)parts[i].end_offset, "lag",
                                             (json_int_t)parts[i].lag));
    free(parts);
    json_t *body = json_pack("{s:o, s:o, s:I, s:b}", "totals", api__job_totals_json(&m.counters),
                             "lag", lag, "totalLag", (json_int_t)m.lag, "live", live);
    json_object_set_new(body, "freshnessMs",
                        m.freshness_ms >= 0 ? json_integer(m.freshness_ms) : json_null());
    catalog_job_destroy(&j);
    api_reply(r, 200, body);
    return 0;
}

/*
 * GET /jobs/{id}/metrics/history: the running job's samples of the last
 * hour, one each 5 s, oldest first — what the console charts. Rows per
 * second come from two samples in a row (null for the first). A job not
 * running here has none (values []).
 */
int api_jobs_history(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    struct ingest_job_sample *v = NULL;
    size_t n = 0;
    bool live = ingest_job_history(r->srv->rt, j.id, &v, &n);
    json_t *values = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct ingest_job_sample *p = &v[i];
        json_t *e = json_pack("{s:o, s:I, s:I, s:I, s:I}", "timestamp", api_ts(p->at_ms * 1000000),
                              "rowsProcessed", (json_int_t)p->processed,
                              "rowsProcessedWithWarnings", (json_int_t)p->with_warnings,
                              "rowsSkippedByFilter", (json_int_t)p->filtered, "rowsSkippedByError",
                              (json_int_t)p->errors);
        double secs = i ? (double)(p->at_ms - v[i - 1].at_ms) / 1000.0 : 0;
        uint64_t rows = p->processed + p->with_warnings;
        uint64_t prev = i ? v[i - 1].processed + v[i - 1].with_warnings : 0;
        json_object_set_new(e, "rowsPerSecond",
                            i && secs > 0 && rows >= prev ? json_real((double)(rows - prev) / secs)
                                                          : json_null());
        json_object_set_new(e, "lag", p->lag >= 0 ? json_integer(p->lag) : json_null());
        json_object_set_new(e, "freshnessMs",
                            p->freshness_ms >= 0 ? json_integer(p->freshness_ms) : json_null());
        json_array_append_new(values, e);
    }
    free(v);
    catalog_job_destroy(&j);
    api_reply(r, 200,
              json_pack("{s:i, s:b, s:o}", "intervalSeconds", INGEST_SAMPLE_MS / 1000, "live",
                        live, "values", values));
    return 0;
}

int api_jobs_logs(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    struct pipeline_rejection *rej = calloc(PIPE_RING, sizeof *rej);
    size_t n = rej ? ingest_job_rejections(r->srv->rt, j.id, rej, PIPE_RING) : 0;
    json_t *values = ingest_rejections_json(rej, n);
    free(rej);
    /* none in memory (the job ended, or the server restarted since): the
     * ones saved with its last checkpoint */
    struct lerr e;
    lerr_init(&e);
    json_t *logs = NULL;
    if (n == 0 && ingest_job_saved(r->srv->rt, j.id, NULL, &logs, &e) == 0 && logs) {
        json_decref(values);
        values = logs;
    }
    catalog_job_destroy(&j);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}
