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

struct api_opts {
    const char *data_dir;   /* created if missing */
    const char *listen;     /* "HOST:PORT" */
    unsigned threads;       /* 0 = number of cores, at least 2 */
    struct ingest_runtime_opts ingest;   /* persist bounds, push-log sizes (0 = defaults) */
};

/*
 * Opens the catalog in data_dir, creates the admin key on first start
 * (printed once on stderr and written to DIR/admin.key, mode 0600), serves
 * until SIGTERM or SIGINT, then stops accepting, lets in-flight requests
 * finish, stops the jobs (ingest_runtime_stop), closes the catalog and
 * returns 0 — or ingest_runtime_stop's error when buffered rows could not
 * be persisted in time (a full disk). Blocks those signals in the calling
 * thread. Sets err and returns its code when it cannot start.
 */
int api_serve(const struct api_opts *o, struct lerr *err);

/* The permissions a key can hold, as API.md names them. */
#define API_PERMISSIONS(X)      \
    X(ManageTables)             \
    X(ViewTables)               \
    X(ManageConnections)        \
    X(ManageIngestionJobs)      \
    X(AccessQueries)            \
    X(ManageApiKeys)

/*
 * Creates an API key named name with the comma-separated permissions perms
 * ("*" or "all" = every permission), stores only its SHA-256, and writes
 * the key ("pok_" + 40 base62 characters) into key_out[48].
 * LERR_INVALID for an unknown permission or a bad name, LERR_CONFLICT when
 * the name is taken.
 */
int api_apikey_create(struct catalog *cat, const char *name, const char *perms,
                      char key_out[48], struct lerr *err);

#endif
