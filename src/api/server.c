/*
 * server.c — the HTTP server on libmicrohttpd: connection lifecycle, body
 * accumulation with the 10 MB cap, the router (project-scoped and legacy
 * paths serve the same handlers), authentication and permissions, one log
 * line per request, and a clean shutdown on SIGTERM/SIGINT. Before
 * authentication it answers the probes (/health, /ready) and hands /console
 * to console.c.
 *
 * It also guards the server against slow, idle and malformed clients
 * (README "HTTP limits"): libmicrohttpd's idle timeout and connection
 * limits (total and per address); a request deadline that libmicrohttpd
 * lacks, kept by a watchdog thread over every open connection; framing
 * checks (Content-Length with Transfer-Encoding, conflicting lengths,
 * transfer codings other than chunked) and size checks (request target,
 * header block) made in the first call of a request, where the answer can
 * still be the JSON error object; libmicrohttpd's own log lines routed
 * through log_msg().
 *
 * Entry point: api_serve().
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "catalog/tabledesc.h"
#include "ingest/ingest.h"
#include "source/pushreg.h"
#include "source/pushtopic.h"
#include "storage/db.h"

static atomic_bool shutting_down;

/* Per-connection state: the body so far and the response status for the log. */
struct conn_state {
    struct buf body;
    struct api_upload *upload; /* POST /files: streamed to disk, not buffered */
    struct conn_watch *watch;  /* its connection's; NULL if it could not be made */
    int64_t start_ns;
    uint64_t dropped; /* body bytes read and dropped after too_large */
    int status;
    bool too_large;
    char method[16];
    char path[256];
    char request_id
        [65]; /* X-Request-Id: the client's, or a UUID; on the log lines and the answer */
};

/* ---- connection guard: deadlines, the watchdog, answers MHD cannot queue -- */

/*
 * Where a connection is in its request, for its deadline. libmicrohttpd only
 * knows an idle timeout (no byte for N s), which a client sending one byte a
 * second never reaches; the guard adds the request deadline:
 *   WAIT   between requests, or the request line and headers arriving: they
 *          must be complete within request_timeout_s of the connection
 *          opening or of the previous response;
 *   BODY   the body arriving: within request_timeout_s of the headers, plus
 *          1 s per min_body_rate bytes received (a steady upload of any size
 *          keeps going; one byte every 2 s does not);
 *   ANSWER the handler runs and the response is sent: no deadline;
 *   CUT    past its deadline (408), or a chunked body past the limit with
 *          no end in sight (413): answered and shut down.
 * Transitions are compare-and-swaps, so that the watchdog and the worker
 * thread never both act: the worker moves WAIT->BODY->ANSWER->WAIT, the
 * watchdog only WAIT|BODY->CUT.
 */
enum conn_phase { PHASE_WAIT, PHASE_BODY, PHASE_ANSWER, PHASE_CUT };

struct http_guard;

/* One per TCP connection (libmicrohttpd's socket context), from
 * MHD_CONNECTION_NOTIFY_STARTED to MHD_CONNECTION_NOTIFY_CLOSED. */
struct conn_watch {
    struct conn_watch *prev, *next; /* guard->list, under guard->mu */
    struct http_guard *guard;
    int fd;
    atomic_int phase;
    atomic_llong deadline_ns;   /* monotonic; for WAIT and BODY */
    atomic_llong body_start_ns; /* written by the worker thread */
    atomic_ullong body_bytes;   /* written by the worker thread */
    char peer[64];              /* "ADDR:PORT" */
};

struct http_guard {
    struct api_http_opts opts;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; wakes the watchdog to stop */
    struct conn_watch *list;
    bool stop;
    pthread_t thread;
    /* libmicrohttpd's log lines, at most MHD_LOG_BURST a second (one per
     * refused connection would flood the log under an attack) */
    pthread_mutex_t log_mu;
    int64_t log_window_ns;
    int log_lines;
    uint64_t log_dropped;
};

#define MHD_LOG_BURST 20
#define WATCHDOG_TICK_MS 200
/* libmicrohttpd's per-connection memory: the request line and headers must
 * fit in it with room to spare, or libmicrohttpd answers 414/431 itself
 * (as an HTML page); past our own limits below we answer first, in JSON. */
#define HTTP_CONN_MEMORY (64u * 1024u)
#define HTTP_MAX_TARGET 8192u        /* request target (path and query): larger is 414 */
#define HTTP_MAX_HEADER_BLOCK 32768u /* request line and headers: larger is 431 */
/* A body over API_MAX_BODY is read and dropped before the 413 so that a
 * client that sends it all before reading sees the answer; past this much,
 * or with "Expect: 100-continue", the 413 goes at once. */
#define HTTP_MAX_DRAIN (64ull * 1024u * 1024u)
/* Descriptors kept for everything but HTTP connections (catalog, segments,
 * push logs, Kafka) when sizing max_connections to RLIMIT_NOFILE. */
#define FD_RESERVE 1024u

static struct conn_watch *conn_watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/*
 * Answers a connection with a JSON error written straight on its socket,
 * then shuts the socket down so that libmicrohttpd sees the end and closes
 * it. Only for what libmicrohttpd 0.9.75 cannot answer: MHD_queue_response()
 * is refused while a body arrives (it works in the first and the final call
 * only), and from any thread but the connection's. Called by the worker
 * thread during the body, or by the watchdog under guard->mu (so the socket
 * is still open: MHD_CONNECTION_NOTIFY_CLOSED takes the same lock before it
 * closes). The socket is non-blocking; a few hundred bytes fit its empty
 * send buffer.
 */
static void conn_cut(struct conn_watch *w, int status, const char *reason, const char *name,
                     const char *msg)
{
    json_t *e = json_pack("{s:s, s:s}", "error", name, "message", msg);
    char *body = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    size_t blen = body ? strlen(body) : 0;
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n",
                     status, reason, blen);
    if (n > 0 && send(w->fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE) == n && blen)
        (void)!send(w->fd, body, blen, MSG_NOSIGNAL | MSG_DONTWAIT);
    free(body);
    shutdown(w->fd, SHUT_RDWR);
    log_msg(LOG_INFO, "http", "%s: %d %s: %s; connection closed", w->peer, status, reason, msg);
}

/* The watchdog's cut of a connection past its deadline (phase was WAIT or BODY). */
static void conn_cut_late(struct conn_watch *w, int was, int64_t now)
{
    const struct api_http_opts *o = &w->guard->opts;
    char msg[400];
    if (was == PHASE_WAIT)
        snprintf(msg, sizeof msg,
                 "the request line and headers did not arrive within %u s "
                 "(LODESTAR_HTTP_REQUEST_TIMEOUT_S); send the whole request at once",
                 o->request_timeout_s);
    else
        snprintf(msg, sizeof msg,
                 "the request body did not arrive in time: %llu bytes in %.1f s, where %u s "
                 "plus 1 s per %u bytes received are allowed (LODESTAR_HTTP_REQUEST_TIMEOUT_S, "
                 "LODESTAR_HTTP_MIN_BODY_RATE); send the body without pauses",
                 (unsigned long long)atomic_load(&w->body_bytes),
                 (double)(now - atomic_load(&w->body_start_ns)) / 1e9, o->request_timeout_s,
                 o->min_body_rate);
    conn_cut(w, 408, "Request Timeout", "RequestTimeout", msg);
}

static int64_t body_deadline(const struct conn_watch *w)
{
    const struct api_http_opts *o = &w->guard->opts;
    int64_t d = atomic_load(&w->body_start_ns) + (int64_t)o->request_timeout_s * 1000000000LL;
    if (o->min_body_rate)
        d += (int64_t)(atomic_load(&w->body_bytes) / o->min_body_rate * 1000000000ull +
                       atomic_load(&w->body_bytes) % o->min_body_rate * 1000000000ull /
                           o->min_body_rate);
    return d;
}

/* The worker thread: the headers are in (first call). False when the watchdog cut it first. */
static bool watch_begin_body(struct conn_watch *w)
{
    if (!w)
        return true;
    /* The body's deadline is in place before the phase says BODY, so that the
     * watchdog never judges the body by the headers' deadline. */
    atomic_store(&w->body_start_ns, util_mono_ns());
    atomic_store(&w->body_bytes, 0);
    atomic_store(&w->deadline_ns, body_deadline(w));
    int want = PHASE_WAIT;
    return atomic_compare_exchange_strong(&w->phase, &want, PHASE_BODY);
}

/* The worker thread: n more body bytes. False when the request is past its
 * deadline: it is answered 408 here and the caller returns MHD_NO. */
static bool watch_body_bytes(struct conn_watch *w, size_t n)
{
    if (!w)
        return true;
    if (atomic_load(&w->phase) == PHASE_CUT)
        return false;
    atomic_fetch_add(&w->body_bytes, n);
    int64_t now = util_mono_ns();
    if (now <= body_deadline(w)) {
        atomic_store(&w->deadline_ns, body_deadline(w));
        return true;
    }
    int want = PHASE_BODY;
    if (atomic_compare_exchange_strong(&w->phase, &want, PHASE_CUT))
        conn_cut_late(w, PHASE_BODY, now);
    return false;
}

/* The worker thread: the request is complete and will be answered. False when cut. */
static bool watch_answer(struct conn_watch *w)
{
    if (!w)
        return true;
    int want = PHASE_BODY;
    return atomic_compare_exchange_strong(&w->phase, &want, PHASE_ANSWER);
}

/* The worker thread: the response is sent; the next request's deadline starts now. */
static void watch_wait_next(struct conn_watch *w)
{
    if (!w)
        return;
    atomic_store(&w->deadline_ns,
                 util_mono_ns() + (int64_t)w->guard->opts.request_timeout_s * 1000000000LL);
    int want = PHASE_ANSWER;
    if (!atomic_compare_exchange_strong(&w->phase, &want, PHASE_WAIT)) {
        want = PHASE_BODY; /* answered in the first call */
        atomic_compare_exchange_strong(&w->phase, &want, PHASE_WAIT);
    }
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_watch *w = calloc(1, sizeof *w);
        if (!w) {
            /* No deadline can be kept for it: refuse it rather than serve it unguarded. */
            if (fd)
                shutdown(fd->connect_fd, SHUT_RDWR);
            return;
        }
        w->guard = g;
        w->fd = fd ? fd->connect_fd : -1;
        atomic_init(&w->phase, PHASE_WAIT);
        atomic_init(&w->deadline_ns,
                    util_mono_ns() + (int64_t)g->opts.request_timeout_s * 1000000000LL);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr_in *sin = ai ? (const struct sockaddr_in *)ai->client_addr : NULL;
        char addr[INET_ADDRSTRLEN] = "?";
        if (sin && sin->sin_family == AF_INET)
            inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
        snprintf(w->peer, sizeof w->peer, "%s:%u", addr, sin ? ntohs(sin->sin_port) : 0);
        pthread_mutex_lock(&g->mu);
        w->next = g->list;
        if (g->list)
            g->list->prev = w;
        g->list = w;
        pthread_mutex_unlock(&g->mu);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_watch *w = *socket_context;
        if (!w)
            return;
        pthread_mutex_lock(&g->mu);
        if (w->prev)
            w->prev->next = w->next;
        else
            g->list = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&g->mu);
        free(w);
        *socket_context = NULL;
    }
}

static void mhd_log_tick(struct http_guard *g, int64_t now);

/* Cuts every connection past its deadline, every WATCHDOG_TICK_MS, until stopped. */
static void *watchdog_main(void *arg)
{
    struct http_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec ts;
        util_deadline(CLOCK_MONOTONIC, WATCHDOG_TICK_MS, &ts);
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        int64_t now = util_mono_ns();
        for (struct conn_watch *w = g->list; w && !g->stop; w = w->next) {
            int ph = atomic_load(&w->phase);
            if ((ph == PHASE_WAIT || ph == PHASE_BODY) && now > atomic_load(&w->deadline_ns) &&
                atomic_compare_exchange_strong(&w->phase, &ph, PHASE_CUT))
                conn_cut_late(w, ph, now);
        }
        pthread_mutex_unlock(&g->mu);
        mhd_log_tick(g, now);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/*
 * libmicrohttpd's messages (MHD_OPTION_EXTERNAL_LOGGER), one log line each,
 * through log_msg() so that they carry our timestamp; its HTML error pages
 * quoted in them are left out. At most MHD_LOG_BURST a second: the rest are
 * counted and the count is logged with the next line that passes.
 */
static void mhd_log_flush(uint64_t dropped)
{
    log_msg(LOG_INFO, "http", "libmicrohttpd: %llu more lines not logged (at most %d a second)",
            (unsigned long long)dropped, MHD_LOG_BURST);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_guard *g = cls;
    char msg[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char *html = strstr(msg, " ('<html>");
    if (html) {
        char *end = strstr(html, "</html>')");
        if (end)
            memmove(html, end + 9, strlen(end + 9) + 1);
    }
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    int64_t now = util_mono_ns();
    uint64_t dropped = 0;
    pthread_mutex_lock(&g->log_mu);
    if (now - g->log_window_ns >= 1000000000LL) {
        g->log_window_ns = now;
        g->log_lines = 0;
    }
    bool pass = g->log_lines < MHD_LOG_BURST;
    if (pass) {
        g->log_lines++;
        dropped = g->log_dropped;
        g->log_dropped = 0;
    } else {
        g->log_dropped++;
    }
    pthread_mutex_unlock(&g->log_mu);
    if (!pass)
        return;
    if (dropped)
        mhd_log_flush(dropped);
    /* Its words for a refusal by either limit; say which limits there are. */
    if (strstr(msg, "reached connection limit"))
        log_msg(LOG_INFO, "http",
                "libmicrohttpd: %s (limits: LODESTAR_HTTP_MAX_CONNECTIONS=%u in all, "
                "LODESTAR_HTTP_MAX_CONNECTIONS_PER_IP=%u from one address)",
                msg, g->opts.max_connections, g->opts.max_connections_per_ip);
    else
        log_msg(LOG_INFO, "http", "libmicrohttpd: %s", msg);
}

/* The watchdog: the count of lines held back in a window that has ended. */
static void mhd_log_tick(struct http_guard *g, int64_t now)
{
    pthread_mutex_lock(&g->log_mu);
    uint64_t dropped = 0;
    if (g->log_dropped && now - g->log_window_ns >= 1000000000LL) {
        dropped = g->log_dropped;
        g->log_dropped = 0;
    }
    pthread_mutex_unlock(&g->log_mu);
    if (dropped)
        mhd_log_flush(dropped);
}

/* ---- routing ------------------------------------------------------------ */

typedef int (*handler_fn)(struct api_req *r);

struct route {
    const char *method;
    const char *pattern; /* segments; "*" matches one */
    enum api_perm perm;
    enum api_perm perm_alt; /* also accepted; API_PERM__COUNT = none */
    handler_fn fn;
};

#define NOALT API_PERM__COUNT
static const struct route routes[] = {
    {"GET", "metrics", API_PERM_ANY, NOALT, api_metrics},
    {"GET", "cluster", API_PERM_ANY, NOALT, api_cluster_get},
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
    {"GET", "jobs/*/metrics/history", API_PERM_ManageIngestionJobs, NOALT, api_jobs_history},
    {"POST", "events/*", API_PERM_ManageIngestionJobs, NOALT, api_events_push},
    {"POST", "query/sql", API_PERM_AccessQueries, NOALT, api_query_sql},
    {"GET", "lookups", API_PERM_ViewTables, API_PERM_ManageTables, api_lookups_list},
    {"POST", "lookups", API_PERM_ManageTables, NOALT, api_lookups_create},
    {"GET", "lookups/*", API_PERM_ViewTables, API_PERM_ManageTables, api_lookups_get},
    {"PUT", "lookups/*", API_PERM_ManageTables, NOALT, api_lookups_update},
    {"DELETE", "lookups/*", API_PERM_ManageTables, NOALT, api_lookups_delete},
    {"POST", "druid/v2/sql", API_PERM_AccessQueries, NOALT, api_druid_sql},
    {"POST", "druid/v2/sql/task", API_PERM_ManageIngestionJobs, NOALT, api_query_sql_task},
    {"GET", "druid/indexer/v1/task/*/status", API_PERM_ManageIngestionJobs, NOALT,
     api_druid_task_status},
    {"GET", "druid/indexer/v1/task/*/reports", API_PERM_ManageIngestionJobs, NOALT,
     api_druid_task_reports},
    {"POST", "druid/indexer/v1/task/*/shutdown", API_PERM_ManageIngestionJobs, NOALT,
     api_druid_task_shutdown},
    {"GET", "apikeys", API_PERM_ManageApiKeys, NOALT, api_apikeys_list},
    {"POST", "apikeys", API_PERM_ManageApiKeys, NOALT, api_apikeys_create},
    {"GET", "apikeys/*", API_PERM_ManageApiKeys, NOALT, api_apikeys_get},
    {"DELETE", "apikeys/*", API_PERM_ManageApiKeys, NOALT, api_apikeys_delete},
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
        skip = 1; /* /v2/jobs, /v2/tables, /v2/connections */
    } else if (n >= 2 && strcmp(seg[0], "v1") == 0 &&
               (strcmp(seg[1], "events") == 0 || strcmp(seg[1], "query") == 0 ||
                strcmp(seg[1], "files") == 0 || strcmp(seg[1], "cluster") == 0)) {
        skip = 1; /* /v1/events/{conn}, /v1/query/sql, /v1/files, /v1/cluster */
    } else if (n == 1 && strcmp(seg[0], "metrics") == 0) {
        skip = 0; /* GET /metrics: Prometheus */
    } else if ((n == 3 || n == 4) && strcmp(seg[0], "druid") == 0 && strcmp(seg[1], "v2") == 0) {
        skip = 0; /* POST /druid/v2/sql: Druid's own SQL endpoint (druid.c); /sql/task (query.c) */
    } else if (n == 6 && strcmp(seg[0], "druid") == 0 && strcmp(seg[1], "indexer") == 0) {
        skip = 0; /* /druid/indexer/v1/task/{id}/status, /reports, /shutdown (druid.c) */
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

/*
 * GET /health (liveness: the process answers) and GET /ready (the catalog
 * answers a query: the server can take requests), without a key, for load
 * balancers and Kubernetes probes. While the server shuts down every
 * request, these included, answers 503. True when r was one of them.
 */
static bool probe(struct api_req *r)
{
    bool health = strcmp(r->url, "/health") == 0, ready = strcmp(r->url, "/ready") == 0;
    if (!health && !ready)
        return false;
    struct lerr err;
    lerr_init(&err);
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        lerr_set(&err, LERR_METHOD, "%s is not allowed on %s; use GET", r->method, r->url);
        api_reply_err(r, &err);
        return true;
    }
    int64_t nkeys;
    if (ready && catalog_apikey_count(r->srv->cat, &nkeys, &err)) {
        api_reply(r, 503, json_pack("{s:s, s:s}", "status", "unavailable", "reason", err.msg));
        return true;
    }
    api_reply(r, 200, json_pack("{s:s}", "status", health ? "alive" : "ready"));
    return true;
}

static void dispatch(struct api_req *r, const char *authorization, const char *node_header)
{
    struct lerr err;
    lerr_init(&err);
    if (probe(r) || api__console_serve(r) || api__fanout_serve(r, node_header))
        return;
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

static enum MHD_Result send_json_close(struct MHD_Connection *conn, struct conn_state *cs,
                                       int status, json_t *body, bool close)
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
    if (cs->request_id[0])
        MHD_add_response_header(resp, "X-Request-Id", cs->request_id);
    if (close)
        MHD_add_response_header(resp, "Connection", "close");
    cs->status = status;
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, struct conn_state *cs, int status,
                                 json_t *body)
{
    return send_json_close(conn, cs, status, body, false);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct conn_state *cs, int code,
                                  const char *msg)
{
    json_t *e = json_pack("{s:s, s:s}", "error", lerr_name(code), "message", msg);
    enum MHD_Result rc = send_json(conn, cs, lerr_http_status(code), e);
    json_decref(e);
    return rc;
}

/* ---- framing and size checks of a request's first call ------------------ */

/* A refusal with a status that struct lerr has no code for (408, 414, 431, 501). */
struct refusal {
    int status;
    const char *name;
    char msg[512];
};

struct header_scan {
    int n_cl, n_te;
    const char *cl, *cl_other, *te;
    size_t bytes; /* "Name: value\r\n" of every header */
    bool expect_continue;
};

static enum MHD_Result header_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct header_scan *h = cls;
    if (!value)
        value = "";
    h->bytes += strlen(key) + strlen(value) + 4;
    if (strcasecmp(key, "Content-Length") == 0) {
        if (h->n_cl++ == 0)
            h->cl = value;
        else if (strcmp(value, h->cl) != 0 && !h->cl_other)
            h->cl_other = value;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        if (h->n_te++ == 0)
            h->te = value;
    } else if (strcasecmp(key, "Expect") == 0 && strcasecmp(value, "100-continue") == 0) {
        h->expect_continue = true;
    }
    return MHD_YES;
}

static bool refuse(struct refusal *rf, int status, const char *name, const char *fmt, ...)
    LS_PRINTF(4, 5);

static bool refuse(struct refusal *rf, int status, const char *name, const char *fmt, ...)
{
    rf->status = status;
    rf->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rf->msg, sizeof rf->msg, fmt, ap);
    va_end(ap);
    return true;
}

/*
 * The checks made when a request's headers are in, before any byte of its
 * body is read, where the answer can still be queued (and so be JSON): the
 * framing of RFC 9112 section 6 (a request that could be read two ways is
 * refused, and the connection closed, so that no second request can be
 * smuggled in its body) and the sizes of the request target and header
 * block. libmicrohttpd has by then used the first Content-Length, or decoded
 * chunked framing for any Transfer-Encoding that is exactly "chunked".
 * Returns true and fills rf when the request is refused.
 */
static bool check_request(struct MHD_Connection *conn, const char *method, const char *version,
                          bool is_upload, struct refusal *rf)
{
    struct header_scan h = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, header_iter, &h);
    if (h.n_te && h.n_cl)
        return refuse(rf, 400, "InvalidInput",
                      "the request has both Content-Length and Transfer-Encoding, which RFC 9112 "
                      "(section 6.3) forbids as ambiguous; send only one of them");
    if (h.n_te > 1)
        return refuse(rf, 400, "InvalidInput",
                      "Transfer-Encoding appears %d times; send it once, as "
                      "'Transfer-Encoding: chunked'",
                      h.n_te);
    if (h.n_te) {
        const char *comma = strrchr(h.te, ',');
        const char *last = comma ? comma + 1 : h.te;
        while (*last == ' ' || *last == '\t')
            last++;
        size_t n = strlen(last);
        while (n && (last[n - 1] == ' ' || last[n - 1] == '\t'))
            n--;
        if (n != 7 || strncasecmp(last, "chunked", 7) != 0)
            return refuse(rf, 400, "InvalidInput",
                          "Transfer-Encoding '%.100s' does not end in chunked, so where the body "
                          "ends is unknown; send Content-Length, or 'Transfer-Encoding: chunked'",
                          h.te);
        if (comma)
            return refuse(rf, 501, "NotImplemented",
                          "Transfer-Encoding '%.100s': only chunked is supported; send "
                          "'Transfer-Encoding: chunked' (a gzip body of POST /v1/events goes "
                          "with 'Content-Encoding: gzip')",
                          h.te);
    }
    if (h.cl_other)
        return refuse(rf, 400, "InvalidInput",
                      "Content-Length appears %d times with different values ('%.40s' and "
                      "'%.40s'); send it once",
                      h.n_cl, h.cl, h.cl_other);
    /* header_size runs from the method to the blank line; what is not a header,
     * the method, the version, two spaces and two CRLFs is the request target. */
    const union MHD_ConnectionInfo *hi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    size_t hsize = hi ? hi->header_size : 0;
    size_t fixed = h.bytes + strlen(method) + strlen(version) + 6;
    size_t target = hsize > fixed ? hsize - fixed : 0;
    if (target > HTTP_MAX_TARGET)
        return refuse(rf, 414, "UriTooLong",
                      "the request target (path and query) is %zu bytes, over the %u-byte limit; "
                      "send long values in the request body",
                      target, HTTP_MAX_TARGET);
    if (hsize > HTTP_MAX_HEADER_BLOCK)
        return refuse(rf, 431, "RequestHeaderFieldsTooLarge",
                      "the request line and headers are %zu bytes, over the %u-byte limit; send "
                      "fewer or shorter headers",
                      hsize, HTTP_MAX_HEADER_BLOCK);
    if (!is_upload && h.cl) {
        unsigned long long cl = strtoull(h.cl, NULL, 10);
        if (cl > API_MAX_BODY && (h.expect_continue || cl > HTTP_MAX_DRAIN))
            return refuse(rf, 413, lerr_name(LERR_TOO_LARGE),
                          "request body is larger than the %u-byte limit (Content-Length: %llu); "
                          "send less per request",
                          API_MAX_BODY, cl);
    }
    return false;
}

static enum MHD_Result send_refusal(struct MHD_Connection *conn, struct conn_state *cs,
                                    const struct refusal *rf)
{
    json_t *e = json_pack("{s:s, s:s}", "error", rf->name, "message", rf->msg);
    enum MHD_Result rc = send_json_close(conn, cs, rf->status, e, true);
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
        api_auth(srv, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"), &r.key,
                 &err) == 0) {
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

/* The client's X-Request-Id when it is 1-64 characters of [A-Za-z0-9._:-],
 * else a new UUID. */
static void request_id(struct MHD_Connection *conn, char out[65])
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = h ? strlen(h) : 0;
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)h[i]) || strchr("._:-", h[i]);
    if (ok) {
        memcpy(out, h, n + 1);
        return;
    }
    struct lerr e;
    lerr_init(&e);
    if (util_uuid_v4(out, &e))
        out[0] = '\0';
}

static enum MHD_Result handle_request(struct api_server *srv, struct MHD_Connection *conn,
                                      const char *url, const char *method, const char *version,
                                      const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct conn_state *cs = *con_cls;
    if (cs)
        log_set_request_id(cs->request_id);
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs)
            return MHD_NO;
        request_id(conn, cs->request_id);
        log_set_request_id(cs->request_id);
        buf_init(&cs->body, API_MAX_BODY);
        cs->start_ns = util_mono_ns();
        snprintf(cs->method, sizeof cs->method, "%s", method);
        snprintf(cs->path, sizeof cs->path, "%s", url);
        *con_cls = cs;
        cs->watch = conn_watch_of(conn);
        if (!watch_begin_body(cs->watch))
            return MHD_NO; /* the watchdog cut it while its headers came */
        bool is_upload = api_files_is_upload(method, url);
        struct refusal rf;
        if (check_request(conn, method, version, is_upload, &rf)) {
            watch_answer(cs->watch);
            return send_refusal(conn, cs, &rf);
        }
        if (is_upload) {
            enum MHD_Result rc = begin_upload(srv, conn, url, cs);
            if (cs->status)
                watch_answer(cs->watch); /* refused at once */
            return rc;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > API_MAX_BODY)
            cs->too_large = true;
        return MHD_YES;
    }
    if (*upload_size > 0 && !watch_body_bytes(cs->watch, *upload_size))
        return MHD_NO; /* past its deadline: answered 408 */
    if (cs->upload) {
        if (*upload_size > 0) {
            api_upload_data(cs->upload, upload_data, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        if (!watch_answer(cs->watch))
            return MHD_NO;
        struct api_req ur = {.srv = srv, .method = method, .url = url, .status = 500};
        api_upload_finish(cs->upload, &ur);
        enum MHD_Result rc = send_json(conn, cs, ur.status, ur.resp);
        json_decref(ur.resp);
        return rc;
    }
    if (*upload_size > 0) {
        if (!cs->too_large && !buf_append(&cs->body, upload_data, *upload_size))
            cs->too_large = true;
        if (cs->too_large && (cs->dropped += *upload_size) > HTTP_MAX_DRAIN && cs->watch) {
            /* A chunked body with no end in sight: answer now and close. */
            char msg[160];
            snprintf(msg, sizeof msg,
                     "request body is larger than the %u-byte limit; send less per request",
                     API_MAX_BODY);
            int want = PHASE_BODY;
            if (atomic_compare_exchange_strong(&cs->watch->phase, &want, PHASE_CUT))
                conn_cut(cs->watch, 413, "Content Too Large", lerr_name(LERR_TOO_LARGE), msg);
            return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!watch_answer(cs->watch))
        return MHD_NO; /* the watchdog cut it as it completed */
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
        .content_encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding"),
        .content_type_in = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
        .if_none_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match"),
        .status = 500,
    };
    dispatch(&r, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
             MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Lodestar-Node"));
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
        if (cs->request_id[0])
            MHD_add_response_header(resp, "X-Request-Id", cs->request_id);
        for (size_t i = 0; i < LS_ARRAY_LEN(r.headers); i++)
            if (r.headers[i].name)
                MHD_add_response_header(resp, r.headers[i].name, r.headers[i].value);
        cs->status = r.status;
        rc = MHD_queue_response(conn, (unsigned)r.status, resp);
        MHD_destroy_response(resp);
    } else {
        rc = send_json(conn, cs, r.status, r.resp);
    }
    json_decref(r.resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    enum MHD_Result rc =
        handle_request(cls, conn, url, method, version, upload_data, upload_size, con_cls);
    log_set_request_id(NULL); /* this thread serves other connections next */
    return rc;
}

/* --metrics-listen: GET /metrics (Prometheus text) without a key; anything
 * else 404. Read-only, no body taken. */
static enum MHD_Result on_metrics_request(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version,
                                          const char *upload_data, size_t *upload_size,
                                          void **con_cls)
{
    (void)version;
    (void)upload_data;
    if (!*con_cls) { /* the headers: answer once the (empty) body is in */
        *con_cls = conn;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    struct api_req r = {.srv = cls, .method = method, .url = url, .status = 500};
    const char *text = "not found: this address serves only GET /metrics\n";
    size_t len = strlen(text);
    int status = 404;
    if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
        api_metrics(&r);
        if (r.text) {
            text = r.text;
            len = r.text_len;
            status = 200;
        }
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    free(r.text);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* One log line per request: method, path, status, milliseconds. Never headers. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    watch_wait_next(conn_watch_of(conn));
    struct conn_state *cs = *con_cls;
    if (!cs)
        return;
    double ms = (double)(util_mono_ns() - cs->start_ns) / 1e6;
    log_set_request_id(cs->request_id);
    if (cs->status)
        log_msg(LOG_INFO, "http", "%s %s %d %.1fms", cs->method, cs->path, cs->status, ms);
    else
        log_msg(LOG_INFO, "http", "%s %s aborted (%d) %.1fms", cs->method, cs->path, (int)toe, ms);
    log_set_request_id(NULL);
    buf_free(&cs->body);
    api_upload_free(cs->upload);
    free(cs);
    *con_cls = NULL;
}

/* ---- start-up ----------------------------------------------------------- */

static int parse_listen(const char *flag, const char *listen, struct sockaddr_in *sa,
                        struct lerr *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
        return lerr_set(err, LERR_INVALID, "%s '%s': expected HOST:PORT, e.g. 127.0.0.1:8088",
                        flag, listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return lerr_set(err, LERR_INVALID, "%s '%s': port must be 0..65535", flag, listen);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return lerr_set(err, LERR_INVALID,
                        "%s '%s': '%s' is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)", flag,
                        listen, host);
    return 0;
}

/* First start: make the admin key, print it once, keep it in DIR/admin.key (0600). */
/* This node's id once it has joined its catalog's nodes, else "" (catalog_node_desc). */
static const char *node_id_of(const void *arg)
{
    const struct api_server *srv = arg;
    return atomic_load_explicit(&srv->node_id_set, memory_order_acquire) ? srv->node_id : "";
}

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
    if (log_is_json()) /* a log shipper's lines keep no key: it is in the file */
        log_msg(LOG_INFO, "server", "created the admin API key: it is in %s (mode 0600)", path);
    else
        fprintf(stderr,
                "lodestar: created the admin API key (shown once; also in %s, mode 0600):\n  %s\n",
                path, key);
    return 0;
}

/*
 * Makes room for max_connections sockets plus FD_RESERVE other descriptors:
 * raises the soft RLIMIT_NOFILE up to the hard one, and past that lowers
 * *max_connections (with a warning that says how to raise the limit).
 */
static void fit_fd_limit(unsigned *max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)*max_connections + FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = old;
        else
            log_msg(LOG_INFO, "server", "open-file limit raised from %llu to %llu",
                    (unsigned long long)old, (unsigned long long)rl.rlim_cur);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        unsigned fit = rl.rlim_cur > FD_RESERVE + 64 ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 64;
        log_msg(LOG_WARN, "server",
                "the open-file limit (%llu, hard limit %llu) leaves room for %u HTTP connections, "
                "not the %u of LODESTAR_HTTP_MAX_CONNECTIONS; serving at most %u (raise the hard "
                "limit: ulimit -Hn, or LimitNOFILE= in a systemd unit)",
                (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, fit,
                *max_connections, fit);
        *max_connections = fit;
    }
}

static int check_http_opts(const struct api_http_opts *h, struct lerr *err)
{
    if (h->idle_timeout_s < 1 || h->request_timeout_s <= h->idle_timeout_s)
        return lerr_set(err, LERR_INVALID,
                        "LODESTAR_HTTP_IDLE_TIMEOUT_S (%u) must be at least 1 and shorter than "
                        "LODESTAR_HTTP_REQUEST_TIMEOUT_S (%u): an idle client is closed silently, "
                        "a late request is answered 408",
                        h->idle_timeout_s, h->request_timeout_s);
    if (h->max_connections < 16)
        return lerr_set(err, LERR_INVALID,
                        "LODESTAR_HTTP_MAX_CONNECTIONS (%u) must be at least 16",
                        h->max_connections);
    return 0;
}

static int guard_start(struct http_guard *g, const struct api_http_opts *opts, struct lerr *err)
{
    memset(g, 0, sizeof *g);
    g->opts = *opts;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&g->mu, NULL);
    pthread_mutex_init(&g->log_mu, NULL);
    int rc = pthread_create(&g->thread, NULL, watchdog_main, g);
    if (rc) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        pthread_mutex_destroy(&g->log_mu);
        return lerr_set(err, LERR_INTERNAL, "cannot start the HTTP watchdog thread: %s",
                        strerror(rc));
    }
    return 0;
}

/* After MHD_stop_daemon(): every connection is closed and unlisted. */
static void guard_stop(struct http_guard *g)
{
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    pthread_mutex_destroy(&g->log_mu);
}

/*
 * A listening TCP socket on sa (SO_REUSEADDR: a restart binds at once over
 * connections in TIME_WAIT); *port gets the port bound (sa's may be 0).
 * -1 with errno on failure.
 */
static int listen_socket(const struct sockaddr_in *sa, unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof *sa) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port = ntohs(bound.sin_port);
    return fd;
}

/* Frees what api_serve opened, in the reverse order; once the runtime has stopped. */
static void server_close(struct api_server *srv)
{
    source_pushtopic_close(srv->pushtopic);
    pushreg_close(srv->pushes);
    storage_db_close(srv->db);
    catalog_close(srv->qcat);
    catalog_close(srv->cat);
}

int api_serve(const struct api_opts *o, struct lerr *err)
{
    struct api_server srv = {0};
    struct http_guard guard;
    struct api_http_opts http = o->http;
    struct sockaddr_in sa;
    /* Signals are taken by sigwait() below; every thread started after this (the
     * runtime's, librdkafka's, libmicrohttpd's) inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in msa;
    if (parse_listen("--listen", o->listen, &sa, err) ||
        (o->metrics_listen && parse_listen("--metrics-listen", o->metrics_listen, &msa, err)) ||
        check_http_opts(&http, err))
        return err->code;
    fit_fd_limit(&http.max_connections);
    snprintf(srv.data_dir, sizeof srv.data_dir, "%s", o->data_dir);
    if (util_mkdirs(o->data_dir, 0700, err))
        return err->code;
    char dbpath[1100];
    snprintf(dbpath, sizeof dbpath, "%s/catalog.db", o->data_dir);
    if (catalog_open(o->catalog && *o->catalog ? o->catalog : dbpath, &srv.cat, err))
        return err->code;
    /* A query over the nodes reads the catalog on a connection of its own: one job's
     * transaction waiting on a paused node's lock must not hold queries up (fanout.c). */
    if (catalog_is_shared(srv.cat) && catalog_open(o->catalog, &srv.qcat, err)) {
        catalog_close(srv.cat);
        return err->code;
    }
    /* A job holds the set it fills and at most one sealed set being written, so each takes
     * half of the 1M-row / 256 MB budget by default. */
    struct storage_db_opts dbo = {
        .limits = {o->ingest.persist_max_rows ? o->ingest.persist_max_rows : 500000,
                   o->ingest.persist_max_bytes ? o->ingest.persist_max_bytes : 128u << 20,
                   o->ingest.persist_max_age_ms},
        .describe = catalog_describe_table,
        .describe_ctx = srv.cat,
        .shared = catalog_is_shared(srv.cat),
    };
    if (dbo.shared) { /* a node opens the segments it wrote; queries read the others */
        srv.node_desc = (struct catalog_node_desc){srv.cat, node_id_of, &srv};
        dbo.describe = catalog_describe_table_node;
        dbo.describe_ctx = &srv.node_desc;
    }
    struct ingest_runtime_opts ingest = o->ingest;
    if (o->push_kafka && *o->push_kafka &&
        !(srv.pushtopic = source_pushtopic_open(o->push_kafka, err))) {
        server_close(&srv);
        return err->code;
    }
    ingest.pushtopic = srv.pushtopic;
    ingest.s3_endpoint = o->s3_endpoint;
    if (catalog_is_shared(srv.cat)) { /* a sql job's SELECT reads every node's rows */
        ingest.open_table = api__fanout_open_table;
        ingest.open_table_ctx = &srv;
    }
    if (o->segments && o->segments[0]) { /* the db holds the store's base from here on */
        struct segstore_s3_opts so = {
            .url = o->segments, .endpoint = o->s3_endpoint, .cache_bytes = o->segment_cache_bytes};
        if (segstore_s3_base_new(&so, &dbo.s3, err)) {
            server_close(&srv);
            return err->code;
        }
        log_msg(
            LOG_INFO, "server", "segments in %s (local cache in %s/tables, at most %llu bytes)",
            o->segments, o->data_dir,
            (unsigned long long)(o->segment_cache_bytes ? o->segment_cache_bytes : 10ull << 30));
    }
    int orc = catalog_project_default(srv.cat, &srv.project, err) || ensure_admin_key(&srv, err) ||
              storage_db_open(o->data_dir, &dbo, &srv.db, err);
    segstore_s3_base_unref(dbo.s3);
    if (orc || pushreg_open(o->data_dir, o->ingest.push_segment_bytes, &srv.pushes, err) ||
        ingest_runtime_start(srv.cat, srv.db, srv.pushes, o->data_dir, &ingest, &srv.rt, err)) {
        server_close(&srv);
        return err->code;
    }

    unsigned threads = o->threads;
    if (!threads) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc < 2 ? 2 : (unsigned)nc;
        /* a query over the nodes waits on its thread for the others' parts: more
         * threads than cores, so that many may wait (fanout.c's slots) */
        if (catalog_is_shared(srv.cat) && threads < FANOUT_MIN_THREADS)
            threads = FANOUT_MIN_THREADS;
    }
    if (guard_start(&guard, &http, err)) {
        struct lerr e2;
        lerr_init(&e2);
        if (ingest_runtime_stop(srv.rt, &e2) != LERR_TIMEOUT)
            server_close(&srv);
        return err->code;
    }
    /* MHD splits the connection limit evenly between its threads. */
    if (threads > http.max_connections / 8)
        threads = http.max_connections / 8;
    /* two threads of every node stay free of queries waiting on other nodes, for the
     * requests those queries send (fanout.c) */
    atomic_init(&srv.fanout_free, threads > 3 ? (int)threads - 2 : 1);
    /* The socket first (its port names this node), then the node's row in the catalog
     * (cluster.c), then the daemon: no request is answered before the node has joined. */
    unsigned port = 0;
    int lfd = listen_socket(&sa, &port);
    int lerrno = errno;
    if (lfd < 0 || api__cluster_start(&srv, o, port, err)) {
        if (lfd >= 0)
            close(lfd);
        guard_stop(&guard);
        struct lerr e2;
        lerr_init(&e2);
        if (ingest_runtime_stop(srv.rt, &e2) != LERR_TIMEOUT)
            server_close(&srv);
        if (lfd < 0)
            lerr_set(err, LERR_IO, "cannot listen on %s: %s", o->listen, strerror(lerrno));
        return err->code;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
        &srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &guard, MHD_OPTION_LISTEN_SOCKET, lfd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, &guard, MHD_OPTION_CONNECTION_TIMEOUT,
        http.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT, http.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, http.max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY, MHD_OPTION_END);
    if (!d) {
        int e = errno;
        close(lfd);
        api__cluster_stop(&srv, true);
        guard_stop(&guard);
        struct lerr e2;
        lerr_init(&e2);
        if (ingest_runtime_stop(srv.rt, &e2) != LERR_TIMEOUT)
            server_close(&srv);
        return lerr_set(err, LERR_IO, "cannot serve on %s: %s", o->listen, strerror(e));
    }
    log_msg(LOG_INFO, "server", "listening on %s (port %u), data in %s, project %s", o->listen,
            port, o->data_dir, srv.project.id);
    log_msg(LOG_INFO, "server",
            "HTTP limits: idle %u s, request %u s (+1 s per %u body bytes), %u connections, "
            "%u per address (0 = no limit)",
            http.idle_timeout_s, http.request_timeout_s, http.min_body_rate, http.max_connections,
            http.max_connections_per_ip);

    struct MHD_Daemon *md = NULL;
    if (o->metrics_listen) {
        md = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                              on_metrics_request, &srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                              &guard, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&msa,
                              MHD_OPTION_CONNECTION_TIMEOUT, http.idle_timeout_s,
                              MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
        if (!md) {
            if (!err->code)
                lerr_set(err, LERR_IO, "cannot listen on %s (--metrics-listen): %s",
                         o->metrics_listen, strerror(errno));
            atomic_store(&shutting_down, true);
            MHD_stop_daemon(d);
            api__cluster_stop(&srv, true);
            guard_stop(&guard);
            struct lerr e2;
            lerr_init(&e2);
            if (ingest_runtime_stop(srv.rt, &e2) != LERR_TIMEOUT)
                server_close(&srv);
            return err->code;
        }
        const union MHD_DaemonInfo *mi = MHD_get_daemon_info(md, MHD_DAEMON_INFO_BIND_PORT);
        log_msg(LOG_INFO, "server", "metrics without a key on %s (port %u): GET /metrics",
                o->metrics_listen, mi ? mi->port : 0);
    }

    int sig = 0;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, "server", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&shutting_down, true);
    /* Stop accepting and join MHD's threads. No MHD_quiesce_daemon first: in libmicrohttpd
     * 0.9.75 it races a worker that took the listening socket out of its epoll set (at its
     * connection limit) and aborts the process ("Failed to remove listen FD from epoll
     * set"), as a clean-clone CI run saw on SIGTERM; the stop alone closes the socket. */
    MHD_stop_daemon(d);
    if (md)
        MHD_stop_daemon(md);
    guard_stop(&guard);
    /* Running jobs persist what they buffered before the catalog closes; a runtime that
     * could not stop every thread in time still uses it (the process exits around them). */
    api__cluster_stop(&srv, true);
    int rc = ingest_runtime_stop(srv.rt, err);
    if (rc != LERR_TIMEOUT)
        server_close(&srv);
    log_msg(rc ? LOG_ERROR : LOG_INFO, "server", "%s", rc ? "stopped with errors" : "stopped");
    return rc;
}
