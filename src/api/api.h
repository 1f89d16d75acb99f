/*
 * api.h — the HTTP server (libmicrohttpd), its router, authentication, and
 * the REST handlers of the Polaris API (API.md). The only module that knows
 * HTTP.
 *
 * Entry points: api_serve() runs the server until SIGTERM/SIGINT;
 * api_apikey_create() makes a key (the `lodestar apikey create` command and
 * the first start of the server).
 */
#ifndef LODESTAR_API_H
#define LODESTAR_API_H

#include <stddef.h>

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "util/util.h"

/*
 * Limits on HTTP clients (README "HTTP limits"; the environment variables
 * LODESTAR_HTTP_* set them). idle_timeout_s must be shorter than
 * request_timeout_s: a client that sent nothing is closed silently by the
 * idle timeout, so the request deadline only ever cuts a request that is
 * arriving, and answers it 408.
 */
struct api_http_opts {
    unsigned idle_timeout_s;         /* no byte received or sent for this long: closed */
    unsigned request_timeout_s;      /* the request line and headers, and then the body,
                                         each within this long */
    unsigned min_body_rate;          /* bytes/s: each this many body bytes received add 1 s
                                         to the body's deadline; 0 = a fixed deadline */
    unsigned max_connections;        /* open connections in all */
    unsigned max_connections_per_ip; /* from one client address; 0 = no limit */
};
// clang-format off
#define API_HTTP_OPTS_DEFAULT {30, 60, 16384, 4096, 64}
// clang-format on

struct api_opts {
    const char *data_dir; /* created if missing */
    /* the catalog: a postgresql:// URI (catalog_open), or NULL for DIR/catalog.db */
    const char *catalog;
    const char *listen; /* "HOST:PORT" */
    /* "HOST:PORT" where GET /metrics answers without a key (for Prometheus
     * on a private address), or NULL: /metrics only on `listen`, with a key */
    const char *metrics_listen;
    unsigned threads;                  /* 0 = number of cores, at least 2 */
    struct ingest_runtime_opts ingest; /* persist bounds, push-log sizes (0 = defaults) */
    struct api_http_opts http;         /* API_HTTP_OPTS_DEFAULT unless set */
    /* this server among the nodes sharing its catalog (GET /v1/cluster) */
    const char *node_id;        /* unique among live nodes */
    const char *advertise;      /* its API address as other nodes reach it ("http://HOST:PORT") */
    const char *cluster_secret; /* the same on every node (LODESTAR_CLUSTER_SECRET); NULL = "" */
    const char *version;        /* the binary's version, shown per node */
    /* push connections on Kafka (bootstrap servers), acknowledged after acks=all; NULL: local logs */
    const char *push_kafka;
    /* NULL: segments in data_dir. "s3://BUCKET/PREFIX": in that object store
     * (endpoint: s3_endpoint, else AWS_ENDPOINT_URL, else AWS), data_dir
     * caching up to segment_cache_bytes of them (0: 10 GiB) */
    const char *segments;
    const char *s3_endpoint;
    uint64_t segment_cache_bytes;
    /* With a shared catalog and segments in an object store: how often the node with
     * the lowest id among the live ones deletes the objects no commit names that are
     * older than ingest.orphan_grace_ms (api/cluster.c). 0 = 1 h; < 0: never. */
    int64_t orphan_sweep_ms;
};

/*
 * Opens the catalog in data_dir, creates the admin key on first start
 * (printed once on stderr and written to DIR/admin.key, mode 0600), serves
 * until SIGTERM or SIGINT, then stops accepting, lets in-flight requests
 * finish, stops the jobs (ingest_runtime_stop), closes the catalog and
 * returns 0 — or ingest_runtime_stop's error when buffered rows could not
 * be persisted in time (a full disk). Blocks those signals in the calling
 * thread. Raises the soft RLIMIT_NOFILE when max_connections needs it. Sets
 * err and returns its code when it cannot start (LERR_INVALID for http
 * limits that contradict each other).
 */
int api_serve(const struct api_opts *o, struct lerr *err);

/* The permissions a key can hold, as API.md names them. */
#define API_PERMISSIONS(X) \
    X(ManageTables)        \
    X(ViewTables)          \
    X(ManageConnections)   \
    X(ManageIngestionJobs) \
    X(AccessQueries)       \
    X(ManageApiKeys)

/*
 * Creates an API key named name with the comma-separated permissions perms
 * ("*" or "all" = every permission), stores only its SHA-256, and writes
 * the key ("pok_" + 40 base62 characters) into key_out[48].
 * LERR_INVALID for an unknown permission or a bad name, LERR_CONFLICT when
 * the name is taken.
 */
int api_apikey_create(struct catalog *cat, const char *name, const char *perms, char key_out[48],
                      struct lerr *err);

#endif
