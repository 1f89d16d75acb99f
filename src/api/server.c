/*
 * server.c — the HTTP server on libmicrohttpd: connection lifecycle, body
 * accumulation with the 10 MB cap, the router (project-scoped and legacy
 * paths serve the same handlers), authentication and permissions, one log
 * line per request, and a clean shutdown on SIGTERM/SIGINT.
 *
 * Entry point: api_serve().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_int.h"
#include "ingest/ingest.h"

static atomic_bool shutting_down;

/* Per-connection state: the body so far and the response status for the log. */
struct conn_state {
    struct buf body;
    struct api_upload *upload;   /* POST /files: streamed to disk, not buffered */
    int64_t start_ns;
    int status;
    bool too_large;
    char method[16];
    char path[256];
};

/* ---- routing ------------------------------------------------------------ */

typedef int (*handler_fn)(struct api_req *r);

struct route {
    const char *method;
    const char *pattern;   /* segments; "*" matches one */
    enum api_perm perm;
    enum api_perm perm_alt;   /* also accepted; API_PERM__COUNT = none */
    handler_fn fn;
};

#define NOALT API_PERM__COUNT
static const struct route routes[] = {
    {"GET", "metrics", API_PERM_ANY, NOALT, api_metrics},
    {"GET", "tables", API_PERM_ViewTables, API_PERM_ManageTables, api_tables_list},
    {"POST", "tables", API_PERM_ManageTables, NOALT, api_tables_create},
    {"GET", "tables/*", API_PERM_ViewTables, API_PERM_ManageTables, api_tables_get},
    {"PUT", "tables/*", API_PERM_ManageTables, NOALT, api_tables_update},
    {"PATCH", "tables/*", API_PERM_ManageTables, NOALT, api_tables_update},
    {"DELETE", "tables/*", API_PERM_ManageTables, NOALT, api_tables_delete},
    {"GET", "connections", API_PERM_ManageConnections, NOALT, api_connections_list},
    {"POST", "connections", API_PERM_ManageConnections, NOALT, api_connections_create},
    {"GET", "connections/*", API_PERM_ManageConnections, NOALT, api_connections_get},
    {"PUT", "connections/*", API_PERM_ManageConnections, NOALT, api_connections_update},
    {"DELETE", "connections/*", API_PERM_ManageConnections, NOALT, api_connections_delete},
    {"GET", "jobs", API_PERM_ManageIngestionJobs, NOALT, api_jobs_list},
    {"POST", "jobs", API_PERM_ManageIngestionJobs, NOALT, api_jobs_create},
    {"POST", "jobs/sample", API_PERM_ManageIngestionJobs, NOALT, api_jobs_sample},
    {"GET", "jobs/*", API_PERM_ManageIngestionJobs, NOALT, api_jobs_get},
    {"PUT", "jobs/*", API_PERM_ManageIngestionJobs, NOALT, api_jobs_update},
    {"PATCH", "jobs/*", API_PERM_ManageIngestionJobs, NOALT, api_jobs_update},
    {"GET", "jobs/*/status", API_PERM_ManageIngestionJobs, NOALT, api_jobs_status},
    {"POST", "jobs/*/reset", API_PERM_ManageIngestionJobs, NOALT, api_jobs_reset},
    {"GET", "jobs/*/metrics", API_PERM_ManageIngestionJobs, NOALT, api_jobs_metrics},
    {"GET", "jobs/*/logs", API_PERM_ManageIngestionJobs, NOALT, api_jobs_logs},
    {"POST", "events/*", API_PERM_ManageIngestionJobs, NOALT, api_events_push},
    {"POST", "query/sql", API_PERM_AccessQueries, NOALT, api_query_sql},
    {"GET", "files", API_PERM_ManageIngestionJobs, NOALT, api_files_list},
    {"DELETE", "files/*", API_PERM_ManageIngestionJobs, NOALT, api_files_delete},
};

static bool pattern_match(const char *pattern, const char *const *seg, int nseg)
{
    int i = 0;
    const char *p = pattern;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (i >= nseg)
            return false;
        if (!(len == 1 && p[0] == '*') && (strlen(seg[i]) != len || memcmp(seg[i], p, len)))
            return false;
        i++;
        p += len + (slash ? 1 : 0);
    }
    return i == nseg;
}

/*
 * Splits path into segments in place (buf is a copy) and strips the project
 * prefix: "/v1/projects/{pid}/tables/x" and "/v2/tables/x" both give
 * ["tables", "x"]. Returns 0, or an error for an unknown project.
 */
static int split_path(struct api_req *r, char *buf, bool *is_projects, struct lerr *err)
{
    const char *seg[API_MAX_SEGMENTS + 4];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == (int)LS_ARRAY_LEN(seg))
            return lerr_set(err, LERR_NOT_FOUND, "no such path: %s", r->url);
        seg[n++] = t;
    }
    int skip;
    *is_projects = false;
    if (n >= 2 && strcmp(seg[0], "v1") == 0 && strcmp(seg[1], "projects") == 0) {
        if (n <= 3) {
            *is_projects = true;
            skip = 2;
        } else {
            if (strcmp(seg[2], r->srv->project.id) != 0)
                return lerr_set(err, LERR_NOT_FOUND,
                                "no project with id '%s'; GET /v1/projects lists the projects",
                                seg[2]);
            skip = 3;
        }
    } else if (n >= 2 && strcmp(seg[0], "v2") == 0) {
        skip = 1;   /* /v2/jobs, /v2/tables, /v2/connections */
    } else if (n >= 2 && strcmp(seg[0], "v1") == 0 &&
               (strcmp(seg[1], "events") == 0 || strcmp(seg[1], "query") == 0 ||
                strcmp(seg[1], "files") == 0)) {
        skip = 1;   /* /v1/events/{conn}, /v1/query/sql, /v1/files */
    } else if (n == 1 && strcmp(seg[0], "metrics") == 0) {
        skip = 0;   /* GET /metrics: Prometheus */
    } else {
        return lerr_set(err, LERR_NOT_FOUND, "no such path: %s", r->url);
    }
    r->nseg = 0;
    for (int i = skip; i < n; i++) {
        if (r->nseg == API_MAX_SEGMENTS)
            return lerr_set(err, LERR_NOT_FOUND, "no such path: %s", r->url);
        r->seg[r->nseg++] = seg[i];
    }
    return 0;
}

static void dispatch(struct api_req *r, const char *authorization)
{
    struct lerr err;
    lerr_init(&err);
    char pathbuf[2048];
    snprintf(pathbuf, sizeof pathbuf, "%s", r->url);
    bool is_projects = false;
    if (split_path(r, pathbuf, &is_projects, &err)) {
        /* Who may learn which projects exist: authenticate before saying 404. */
        struct lerr ae;
        lerr_init(&ae);
        api_reply_err(r, api_auth(r->srv, authorization, &r->key, &ae) ? &ae : &err);
        return;
    }
    const struct route *match = NULL;
    bool path_known = false;
    if (!is_projects) {
        for (size_t i = 0; i < LS_ARRAY_LEN(routes); i++) {
            if (!pattern_match(routes[i].pattern, r->seg, r->nseg))
                continue;
            path_known = true;
            if (strcmp(routes[i].method, r->method) == 0) {
                match = &routes[i];
                break;
            }
        }
    } else {
        path_known = true;
    }
    if (!path_known) {
        lerr_set(&err, LERR_NOT_FOUND, "no such path: %s", r->url);
        api_reply_err(r, &err);
        return;
    }
    if (api_auth(r->srv, authorization, &r->key, &err)) {
        api_reply_err(r, &err);
        return;
    }
    if (is_projects) {
        if (strcmp(r->method, "GET") != 0) {
            lerr_set(&err, LERR_METHOD, "%s is not allowed on %s; use GET", r->method, r->url);
            api_reply_err(r, &err);
            return;
        }
        if (r->nseg == 0)
            api_projects_list(r);
        else
            api_projects_get(r);
        return;
    }
    if (!match) {
        lerr_set(&err, LERR_METHOD, "%s is not allowed on %s", r->method, r->url);
        api_reply_err(r, &err);
        return;
    }
    if (!api_key_has(&r->key, match->perm) &&
        !(match->perm_alt != NOALT && api_key_has(&r->key, match->perm_alt))) {
        lerr_set(&err, LERR_FORBIDDEN,
                 "API key '%s' lacks the %s permission that %s %s needs; create a key with it "
                 "(lodestar apikey create --permissions %s)",
                 r->key.name, api_perm_name(match->perm), r->method, r->url,
                 api_perm_name(match->perm));
        api_reply_err(r, &err);
        return;
    }
    match->fn(r);
}

/* ---- libmicrohttpd glue ------------------------------------------------- */

struct query_collect {
    const char *name;
    int want, seen;
    const char *found;
};

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct query_collect *c = cls;
    if (strcmp(key, c->name) == 0 && c->seen++ == c->want) {
        c->found = value ? value : "";
        return MHD_NO;
    }
    return MHD_YES;
}

static const char *query_value(void *conn, const char *name, int idx)
{
    struct query_collect c = {name, idx, 0, NULL};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_iter, &c);
    return c.found;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, struct conn_state *cs, int status,
                                 json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    size_t len = text ? strlen(text) : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text ? text : (char *)"", MHD_RESPMEM_MUST_COPY);
    free(text);
    if (!resp)
        return MHD_NO;
    if (body)
        MHD_add_response_header(resp, "Content-Type", "application/json");
    cs->status = status;
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct conn_state *cs, int code,
                                  const char *msg)
{
    json_t *e = json_pack("{s:s, s:s}", "error", lerr_name(code), "message", msg);
    enum MHD_Result rc = send_json(conn, cs, lerr_http_status(code), e);
    json_decref(e);
    return rc;
}

/*
 * First call of a file upload: authenticate from the headers before any byte
 * of the body is stored; refusals are answered at once.
 */
static enum MHD_Result begin_upload(struct api_server *srv, struct MHD_Connection *conn,
                                    const char *url, struct conn_state *cs)
{
    struct lerr err;
    lerr_init(&err);
    struct api_req r = {.srv = srv, .method = "POST", .url = url, .status = 500};
    char pathbuf[2048];
    snprintf(pathbuf, sizeof pathbuf, "%s", url);
    bool is_projects;
    if (split_path(&r, pathbuf, &is_projects, &err) == 0 &&
        api_auth(srv, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
                 &r.key, &err) == 0) {
        if (!api_key_has(&r.key, API_PERM_ManageIngestionJobs))
            lerr_set(&err, LERR_FORBIDDEN,
                     "API key '%s' lacks the ManageIngestionJobs permission that uploading "
                     "files needs",
                     r.key.name);
        else
            cs->upload = api_upload_begin(srv, conn, &err);
    }
    if (err.code) {
        api_reply_err(&r, &err);
        enum MHD_Result rc = send_json(conn, cs, r.status, r.resp);
        json_decref(r.resp);
        return rc;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct api_server *srv = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs)
            return MHD_NO;
        buf_init(&cs->body, API_MAX_BODY);
        cs->start_ns = util_mono_ns();
        snprintf(cs->method, sizeof cs->method, "%s", method);
        snprintf(cs->path, sizeof cs->path, "%s", url);
        *con_cls = cs;
        if (api_files_is_upload(method, url))
            return begin_upload(srv, conn, url, cs);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > API_MAX_BODY)
            cs->too_large = true;
        return MHD_YES;
    }
    if (cs->upload) {
        if (*upload_size > 0) {
            api_upload_data(cs->upload, upload_data, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        struct api_req ur = {.srv = srv, .method = method, .url = url, .status = 500};
        api_upload_finish(cs->upload, &ur);
        enum MHD_Result rc = send_json(conn, cs, ur.status, ur.resp);
        json_decref(ur.resp);
        return rc;
    }
    if (*upload_size > 0) {
        if (!cs->too_large && !buf_append(&cs->body, upload_data, *upload_size))
            cs->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (atomic_load(&shutting_down))
        return send_error(conn, cs, LERR_UNAVAILABLE,
                          "the server is shutting down; retry against a running server");
    if (cs->too_large) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "request body is larger than the %u-byte limit; send less per request",
                 API_MAX_BODY);
        return send_error(conn, cs, LERR_TOO_LARGE, msg);
    }
    struct api_req r = {
        .srv = srv,
        .method = method,
        .url = url,
        .body = cs->body.data,
        .body_len = cs->body.len,
        .conn = conn,
        .query = query_value,
        .content_encoding =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding"),
        .status = 500,
    };
    dispatch(&r, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    enum MHD_Result rc;
    if (r.text) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(r.text_len, r.text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(r.text);
            json_decref(r.resp);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type",
                                r.content_type ? r.content_type : "text/plain");
        if (r.warning[0])
            MHD_add_response_header(resp, "X-Lodestar-Warning", r.warning);
        cs->status = r.status;
        rc = MHD_queue_response(conn, (unsigned)r.status, resp);
        MHD_destroy_response(resp);
    } else {
        rc = send_json(conn, cs, r.status, r.resp);
    }
    json_decref(r.resp);
    return rc;
}

/* One log line per request: method, path, status, milliseconds. Never headers. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    struct conn_state *cs = *con_cls;
    if (!cs)
        return;
    double ms = (double)(util_mono_ns() - cs->start_ns) / 1e6;
    if (cs->status)
        log_msg(LOG_INFO, "http", "%s %s %d %.1fms", cs->method, cs->path, cs->status, ms);
    else
        log_msg(LOG_INFO, "http", "%s %s aborted (%d) %.1fms", cs->method, cs->path, (int)toe,
                ms);
    buf_free(&cs->body);
    api_upload_free(cs->upload);
    free(cs);
    *con_cls = NULL;
}

/* ---- start-up ----------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_in *sa, struct lerr *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
        return lerr_set(err, LERR_INVALID, "--listen '%s': expected HOST:PORT, e.g. 127.0.0.1:8088",
                        listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return lerr_set(err, LERR_INVALID, "--listen '%s': port must be 0..65535", listen);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return lerr_set(err, LERR_INVALID,
                        "--listen '%s': '%s' is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)",
                        listen, host);
    return 0;
}

/* First start: make the admin key, print it once, keep it in DIR/admin.key (0600). */
static int ensure_admin_key(struct api_server *s, struct lerr *err)
{
    int64_t n;
    if (catalog_apikey_count(s->cat, &n, err))
        return err->code;
    if (n > 0)
        return 0;
    char key[48];
    if (api_apikey_create(s->cat, "admin", "*", key, err))
        return err->code;
    char path[1100], line[64];
    snprintf(path, sizeof path, "%s/admin.key", s->data_dir);
    int len = snprintf(line, sizeof line, "%s\n", key);
    if (util_write_file_atomic(path, line, (size_t)len, 0600, err))
        return err->code;
    fprintf(stderr,
            "lodestar: created the admin API key (shown once; also in %s, mode 0600):\n  %s\n",
            path, key);
    return 0;
}

int api_serve(const struct api_opts *o, struct lerr *err)
{
    struct api_server srv = {0};
    struct sockaddr_in sa;
    /* Signals are taken by sigwait() below; every thread started after this (the
     * runtime's, librdkafka's, libmicrohttpd's) inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (parse_listen(o->listen, &sa, err))
        return err->code;
    snprintf(srv.data_dir, sizeof srv.data_dir, "%s", o->data_dir);
    if (util_mkdirs(o->data_dir, 0700, err))
        return err->code;
    char dbpath[1100];
    snprintf(dbpath, sizeof dbpath, "%s/catalog.db", o->data_dir);
    if (catalog_open(dbpath, &srv.cat, err))
        return err->code;
    if (catalog_project_default(srv.cat, &srv.project, err) || ensure_admin_key(&srv, err) ||
        ingest_runtime_start(srv.cat, o->data_dir, &o->ingest, &srv.rt, err)) {
        catalog_close(srv.cat);
        return err->code;
    }


    unsigned threads = o->threads;
    if (!threads) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc < 2 ? 2 : (unsigned)nc;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, &srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!d) {
        struct lerr e2;
        lerr_init(&e2);
        if (ingest_runtime_stop(srv.rt, &e2) != LERR_TIMEOUT)
            catalog_close(srv.cat);
        return lerr_set(err, LERR_IO, "cannot listen on %s: %s", o->listen, strerror(errno));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    log_msg(LOG_INFO, "server", "listening on %s (port %u), data in %s, project %s", o->listen,
            info ? info->port : 0, o->data_dir, srv.project.id);

    int sig = 0;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, "server", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&shutting_down, true);
    /* Stop accepting, then let in-flight requests finish (MHD joins its threads). */
    MHD_quiesce_daemon(d);
    MHD_stop_daemon(d);
    /* Running jobs persist what they buffered before the catalog closes; a runtime that
     * could not stop every thread in time still uses it (the process exits around them). */
    int rc = ingest_runtime_stop(srv.rt, err);
    if (rc != LERR_TIMEOUT)
        catalog_close(srv.cat);
    log_msg(rc ? LOG_ERROR : LOG_INFO, "server", "%s", rc ? "stopped with errors" : "stopped");
    return rc;
}
