/*
 * api_int.h — private to src/api: the request object handlers receive, the
 * response helpers, the JSON validation helpers and the handler table.
 */
#ifndef LODESTAR_API_INT_H
#define LODESTAR_API_INT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "catalog/catalog.h"
#include "catalog/tabledesc.h"
#include "catalog/spec.h"
#include "util/util.h"

#define API_MAX_BODY (10u * 1024u * 1024u) /* 10 MB; larger: 413 */
#define API_MAX_SEGMENTS 8

enum api_perm {
#define API_PERM_ENUM(p) API_PERM_##p,
    API_PERMISSIONS(API_PERM_ENUM)
#undef API_PERM_ENUM
        API_PERM__COUNT,
    API_PERM_ANY = 100 /* any valid key */
};

struct ingest_runtime;
struct storage_db;
struct pushreg;

struct api_server {
    /* Queries over the nodes that may wait on this node's HTTP threads at once (fanout.c):
     * the threads less two, so the other nodes' requests always find a free one. */
    atomic_int fanout_free;
    struct catalog *cat;
    struct catalog *qcat;      /* with a shared catalog: queries' own connection (fanout.c) */
    struct storage_db *db;     /* the tables (storage/db.h) */
    struct pushreg *pushes;    /* the push logs (source/pushreg.h) */
    struct ingest_runtime *rt; /* the jobs */
    struct catalog_project project;
    char data_dir[1024];
    struct api_cluster *cluster; /* this node's heartbeat (cluster.c), NULL before it joins */
    struct source_pushtopic *pushtopic; /* push connections on Kafka (--push-kafka), or NULL */
    /* this node's id, for the tables it opens (set once when it joins; any thread) */
    char node_id[128];
    atomic_bool node_id_set;
    struct catalog_node_desc node_desc; /* the db's describe callback with a shared catalog */
};

/* Returns the value of query parameter `name` number idx (0-based), or NULL. */
typedef const char *(*api_query_fn)(void *conn, const char *name, int idx);

struct api_req {
    struct api_server *srv;
    const char *method;
    const char *url;                   /* as received (decoded path) */
    const char *seg[API_MAX_SEGMENTS]; /* resource path after the project prefix */
    int nseg;
    const char *body; /* NUL-terminated; may be NULL */
    size_t body_len;
    struct catalog_apikey key; /* the caller */
    void *conn;                /* opaque, for query parameters */
    api_query_fn query;
    const char *content_encoding;
    const char *content_type_in; /* the request's Content-Type header, or NULL */
    const char *if_none_match;   /* the request's If-None-Match header, or NULL (console.c) */
    /* response */
    int status;
    json_t *resp; /* owned; NULL = empty body */
    char *text;   /* owned; a non-JSON body (wins over resp) */
    size_t text_len;
    const char *content_type; /* for text; static */
    char warning[600];        /* an X-Lodestar-Warning header ("" none) */
    /* A handler's own response headers, sent with a text body (name NULL = none):
     * Druid's X-Druid-SQL-Query-Id and kin (druid.c). */
    struct {
        const char *name; /* static */
        char value[304];
    } headers[6];
};

/* ---- responses ---- */
void api_reply(struct api_req *r, int status, json_t *body);  /* takes body */
int api_reply_err(struct api_req *r, const struct lerr *err); /* returns err->code */
/* {"username": "api-key-<name>", "userId": "<key id>"} of the caller. */
json_t *api_caller(const struct api_req *r);
/* ISO-8601 with nanoseconds and Z, or JSON null for 0. */
json_t *api_ts(int64_t ns);

/* ---- request body and JSON validation (errors carry a target path) ---- */
/* Parses the body as a JSON object; LERR_INVALID with line/column otherwise. */
json_t *api_body_object(const struct api_req *r, struct lerr *err);
/* Refuses keys of obj not in allowed (NULL-terminated), naming the closest allowed one. */
int api__v_known_keys(json_t *obj, const char *path, const char *const *allowed, struct lerr *err);
/* Each returns 0, or LERR_INVALID with the target "<path>.<key>". A missing
 * or null optional key leaves *out untouched. */
int api__v_string(json_t *obj, const char *key, const char *path, bool required, size_t maxlen,
                  const char **out, struct lerr *err);
int api__v_bool(json_t *obj, const char *key, const char *path, bool *out, struct lerr *err);
int api__v_enum(json_t *obj, const char *key, const char *path, bool required,
                const char *const *values, const char **out, struct lerr *err);
int api__v_array(json_t *obj, const char *key, const char *path, bool required, json_t **out,
                 struct lerr *err);
int api__v_object(json_t *obj, const char *key, const char *path, bool required, json_t **out,
                  struct lerr *err);
/* A period ("P30D"); null allowed when nullable. */
int api__v_period(json_t *obj, const char *key, const char *path, bool nullable, const char **out,
                  struct lerr *err);
/* Builds "path.key" or "key" into out. */
void api__v_path(char *out, size_t cap, const char *path, const char *key);
void api__v_path_idx(char *out, size_t cap, const char *path, size_t idx);
/* Column names: 1..255 bytes, valid UTF-8 text, no control characters. */
int api__v_column_name(const char *name, const char *target, bool allow_reserved,
                       struct lerr *err);

/* Table names: 1..255 bytes, no '/', no control characters. */
int api__v_table_name(const char *name, const char *target, struct lerr *err);

/* Connection names: 1..64 of [A-Za-z0-9._-]. */
int api__v_connection_name(const char *name, const char *target, struct lerr *err);

/* ---- this server as a cluster node (cluster.c) ---- */
/* Joins the catalog's nodes (catalog_node_join's errors) and starts the heartbeat;
 * port: the one the API listens on (for the default node id and address). */
int api__cluster_start(struct api_server *srv, const struct api_opts *o, unsigned port,
                       struct lerr *err);
/* Stops the heartbeat; with leave, removes the node's row (a clean shutdown). */
void api__cluster_stop(struct api_server *srv, bool leave);
/* A query over the nodes of a shared catalog (fanout.c): the node's side of
 * GET /internal/v1/cut/{table} (true when r was such a request: answered),
 * and the whole table's snapshot for a query on this node, waiting up to
 * timeout_ms (0: 60 s) for nodes and partitions that are moving. */
bool api__fanout_serve(struct api_req *r, const char *node_header);
/* The HTTP threads a server of a shared catalog starts at least (unless told). */
#define FANOUT_MIN_THREADS 16
int api__fanout_snapshot(struct api_server *srv, const char *table, int64_t timeout_ms,
                         struct storage_snapshot **out, struct lerr *err);
/* The same for a sql job's SELECT (ingest_runtime_opts.open_table; ctx: the server). */
int api__fanout_open_table(void *ctx, const char *name, struct storage_snapshot **snap,
                           struct lerr *err);
/* Partial plans (query.h, fanout.c): the node's own columns of a table
 * (query_env.open_schema), and every node's part of a query's top block
 * handed to fn (query_env.partials; ctx: a struct api_query_ctx with the
 * request's body), each node answering for the segments assigned to it
 * and its realtime rows, with the same checks as api__fanout_snapshot. */
int api__fanout_schema(void *ctx, const char *name, struct storage_snapshot **snap,
                       struct lerr *err);
int api__fanout_partials(void *ctx, const char *table, const char *fingerprint,
                         int (*fn)(void *arg, const void *part, size_t n, struct lerr *err),
                         void *arg, struct lerr *err);
/* The partial plans' counters for GET /metrics. */
struct query_scan;
/* query_env.open_scan over the nodes: the rows a block that is not split
 * needs, this node's read here and each other node's share as images
 * (POST /internal/v1/scan/{table}), with the checks of the parts. */
int api__fanout_scan(void *ctx, const char *table, const struct query_scan *scan,
                     struct storage_snapshot **snap, struct lerr *err);
void api__fanout_metrics(struct buf *out);
/*
 * A running job's health over the nodes of a shared catalog (cluster.c),
 * from their rows (catalog_node_list, read once per request): the worst any
 * live node published with its heartbeat for it, and that node's message
 * naming it ("node 'x': ..."); false when no live node runs it (then the
 * catalog's own holds).
 */
bool api__cluster_job_health(const struct catalog_node *nodes, size_t nn, const char *job_id,
                             int *health, char *msg, size_t n);
/* Rendezvous hashing (cluster.c): a key's score on a node; the live node
 * (live[i]) with the highest score serves a segment (SIZE_MAX: none live),
 * so a node joining or leaving moves only the segments it wins or held. */
uint64_t api__rendezvous_score(const char *node, const char *key);
size_t api__segment_server(const struct catalog_node *nodes, const bool *live, size_t n,
                           const char *segment);
/* HMAC-SHA256 of msg under key, as 64 hex digits (cluster.c; fanout.c signs with it). */
void api__hmac_hex(const char *key, const void *msg, size_t len, char out[65]);
/* This node's id and the cluster secret ("" before it joins). */
const char *api__cluster_node_id(const struct api_server *srv);
const char *api__cluster_secret(const struct api_server *srv);

/* ---- handlers (each sets r->status/r->resp via api_reply*) ---- */
int api_projects_list(struct api_req *r);
int api_projects_get(struct api_req *r);
int api_tables_create(struct api_req *r);
int api_tables_list(struct api_req *r);
int api_tables_get(struct api_req *r);
int api_tables_update(struct api_req *r);
int api_tables_delete(struct api_req *r);
int api_connections_create(struct api_req *r);
int api_connections_list(struct api_req *r);
int api_connections_get(struct api_req *r);
int api_connections_update(struct api_req *r);
int api_connections_delete(struct api_req *r);
int api_jobs_create(struct api_req *r);
int api_jobs_list(struct api_req *r);
int api_jobs_get(struct api_req *r);
int api_jobs_status(struct api_req *r);
int api_jobs_update(struct api_req *r);
int api_jobs_reset(struct api_req *r);
int api_jobs_metrics(struct api_req *r);
int api_jobs_logs(struct api_req *r);
int api_jobs_sample(struct api_req *r);

/* A job request's body (jobs_spec.c), shared by jobs.c and jobs_sample.c. */
struct catalog_job;
struct pipeline;
struct pipeline_table;
struct pipeline_counters;
struct arena;
extern const char *const api__job_spec_keys[];      /* the keys a job's body may have */
extern const char *const api__job_server_keys[];    /* the keys the server sets (read-only) */
extern const char *const api__array_ingest_modes[]; /* arrayIngestMode's values */
extern const char *const api__job_desired_values[]; /* desiredExecutionStatus's values */
/* The body checked and normalised (defaults filled in) into j and the returned spec; NULL
 * with err set on a 400. stream gets the (table, stream) checkpoint key of a streaming job. */
json_t *api__job_spec(struct api_req *r, json_t *body, struct catalog_job *j, char stream[300],
                      bool *any_agg, bool *create_table, struct lerr *err);
/* A batch job's body (jobs_spec.c); a sql job's and a delete_data job's (jobs_sql.c). */
json_t *api__batch_spec(struct api_req *r, json_t *body, struct catalog_job *j, bool *any_agg,
                        bool *create_table, struct lerr *err);
json_t *api__sql_spec(struct api_req *r, json_t *body, struct catalog_job *j, bool *any_agg,
                      bool *create_table, struct lerr *err);
json_t *api__delete_spec(struct api_req *r, json_t *body, struct catalog_job *j, struct lerr *err);
/* POST /jobs with a parsed body (taken); task: answer 202 {"taskId", "state", "job"} as
 * Druid's /druid/v2/sql/task does (an INSERT or REPLACE sent to the query API). */
int api__jobs_create_from(struct api_req *r, json_t *body, bool task);

/* The spec compiled as the runtime would (*out when given, else only checked); the table's
 * columns come from mem. table NULL: a table the job will create. With `reg` (and *out),
 * a format that reads a schema registry connection gets a client from `cat` in *reg, which
 * the caller frees (format_registry_free) after the pipeline. */
struct format_registry;
int api__compile_pipeline(json_t *spec, json_t *table, bool any_agg, struct arena *mem,
                          struct pipeline_table *pt, struct pipeline **out, struct catalog *cat,
                          struct format_registry **reg, struct lerr *err);
int api__validate_pipeline(json_t *spec, json_t *table, bool any_agg, struct lerr *err);
/* The spec's target table (NULL when it will be created), its mappings checked against it. */
int api__load_target(struct api_req *r, json_t *spec, const struct catalog_job *j,
                     bool create_table, json_t **table, struct lerr *err);
/* A job's counters as the metrics API shows them (jobs.c). */
json_t *api__job_totals_json(const struct pipeline_counters *c);
int api_events_push(struct api_req *r);
/* The 400 of a push connection on a node of a shared catalog without --push-kafka (a job
 * on it, or a push to it): its events would stay on one node's disk. */
int api__push_local_refused(struct lerr *err, const char *target, const char *conn);
int api_query_sql(struct api_req *r);
/* The environment queries run in (query.c): the tables, their segments and
 * the jobs (sys.segments, sys.tasks), and the lookups of the catalog for
 * LOOKUP() through *lk (caller's storage, kept as long as env). */
struct query_env;
struct sql_lookups;
/* The environment's context: the server, and the query's timeout (0: none),
 * which bounds how long a query over several nodes waits for them. */
struct api_query_ctx {
    struct api_server *srv;
    int64_t timeout_ms;
    /* The request's JSON body, for the other nodes' parts of a query over
     * the nodes (fanout.c), or NULL: this node reads every row itself.
     * druid: it came to /druid/v2/sql; now_ms: its CURRENT_TIMESTAMP. */
    const char *body;
    size_t body_len;
    bool druid;
    int64_t now_ms;
};
void api__query_env(struct api_query_ctx *qc, struct query_env *env, struct sql_lookups *lk);
/* The same over this node's tables alone (qenv.c; api__query_env, in
 * fanout.c, adds the nodes of a shared catalog). */
void api__query_env_local(struct api_query_ctx *qc, struct query_env *env, struct sql_lookups *lk);
int api_lookups_create(struct api_req *r);
int api_lookups_list(struct api_req *r);
int api_lookups_get(struct api_req *r);
int api_lookups_update(struct api_req *r);
int api_lookups_delete(struct api_req *r);
int api_druid_sql(struct api_req *r);
int api_druid_task_status(struct api_req *r);
int api_druid_task_shutdown(struct api_req *r);
int api_druid_task_reports(struct api_req *r);
/* POST /druid/v2/sql/task: an INSERT or REPLACE as a sql job (query.c), Druid's MSQ answer. */
int api_query_sql_task(struct api_req *r);
/* Counts one SQL query (either route) for GET /metrics. */
void api__query_observe(double ms, bool ok);
int api_files_list(struct api_req *r);
int api_files_delete(struct api_req *r);
/* Streaming uploads (files.c): server.c feeds them chunk by chunk. */
struct api_upload;
bool api_files_is_upload(const char *method, const char *url);
struct api_upload *api_upload_begin(struct api_server *srv, void *conn, struct lerr *err);
void api_upload_data(struct api_upload *u, const char *data, size_t size);
int api_upload_finish(struct api_upload *u, struct api_req *r);
void api_upload_free(struct api_upload *u);
void api_query_metrics(struct buf *out);
int api_metrics(struct api_req *r);
int api_cluster_get(struct api_req *r);

/* ---- shared between handlers ---- */
/* Creates a table from a validated spec object (used by POST /tables and
 * by jobs with createTableIfNotExists). Takes nothing; spec is borrowed. */
int api_table_create_from_spec(struct api_req *r, json_t *spec, const char *path, json_t **out_doc,
                               struct lerr *err);
/* The table document as JSON (borrowed text parsed anew), or NULL + err. */
json_t *api_table_load(struct api_req *r, const char *name, struct lerr *err);

/* ---- the web console (console.c; its files embedded at build time) ---- */
struct api__console_asset {
    const char *path;         /* under web/console: "index.html", "vendor/..." */
    const char *content_type; /* with charset for text */
    const char *etag;         /* "\"<16 hex of SHA-256>\"" */
    bool versioned;           /* the name carries a version: cached for a year */
    const unsigned char *data;
    size_t len;
};
/* Generated by scripts/embed_console.py into build/gen/api/console_assets.c. */
extern const struct api__console_asset api__console_assets[];
extern const size_t api__console_nassets;
/* GET/HEAD /console, /console/ and /console/<asset>, without a key: true when r
 * was one of them (answered: the asset, 304, 404 or 405). */
bool api__console_serve(struct api_req *r);

/* ---- auth ---- */
/* Finds the caller's key from the Authorization header value; 401 otherwise. */
/* api_apikey_create with a description, filling *out with the stored record. */
int api__apikey_make(struct catalog *cat, const char *name, const char *description,
                     const char *perms, char key_out[48], struct catalog_apikey *out,
                     struct lerr *err);
int api_jobs_history(struct api_req *r);
int api_apikeys_list(struct api_req *r);
int api_apikeys_get(struct api_req *r);
int api_apikeys_create(struct api_req *r);
int api_apikeys_delete(struct api_req *r);
int api_auth(struct api_server *s, const char *authorization, struct catalog_apikey *out,
             struct lerr *err);
bool api_key_has(const struct catalog_apikey *k, enum api_perm p);
const char *api_perm_name(enum api_perm p);

#endif
