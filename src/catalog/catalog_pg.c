/*
 * catalog_pg.c — the PostgreSQL implementation of the catalog operations
 * (catalog_int.h), over libpq: rows in and out, nothing more; the rules live
 * in catalog.c. Entry point: catalog_pg_ops (catalog_open chooses it for a
 * postgresql:// or postgres:// target, catalog_pg_is_target). The only file
 * that includes libpq-fe.h.
 *
 * Tables, columns and migrations are SQLite's (catalog_sqlite.c), numbered
 * alike and only ever appended to; the version is the one row of
 * schema_version. INTEGER columns are BIGINT (nanoseconds), text is
 * COLLATE "C" so lists come in SQLite's byte order whatever the database's
 * locale. Every statement with a value in it goes through PQexecParams with
 * typed parameters (text, int8); only constant SQL (migrations,
 * transaction control) goes through PQexec.
 *
 * Writers serialise on one transaction-scoped advisory lock
 * (pg_advisory_xact_lock(LOCK_KEY), per database): begin() is BEGIN (READ
 * COMMITTED, whatever the server's default) and the lock, and every write
 * outside begin/commit runs as BEGIN, the lock, the statement, COMMIT. So,
 * as SQLite's BEGIN IMMEDIATE, a transaction that holds the lock sees every
 * earlier commit (READ COMMITTED takes a new snapshot per statement, after
 * the lock) and nothing another writer does can change what it read before
 * it commits. Why a lock and not SERIALIZABLE: catalog.c composes a
 * transaction of several calls and decides between them, so a serialisation
 * failure at COMMIT could only be retried by catalog.c's caller; the lock
 * never fails that way, takes no row locks out of order (no deadlocks: it is
 * always taken first), and catalog writes are few and short. (A 40001 or
 * 40P01 outside a transaction — only possible through other clients' locks —
 * is retried.) Reads outside a transaction take no lock; each is one
 * statement and sees one committed state. checkpoint_cas is one conditional
 * statement (UPDATE ... WHERE offsets = expected, or INSERT ... ON CONFLICT
 * DO NOTHING), atomic with or without the lock.
 *
 * A lost connection (PostgreSQL restarted, the network dropped it): the
 * next call finds it broken and reconnects (PQreset). A call outside a
 * transaction that fails because the connection went away is retried once
 * on a fresh connection — unless it was a write whose COMMIT was sent
 * (then it may have happened: LERR_IO says so). Inside a transaction the
 * server has rolled it back: the call returns LERR_IO naming PostgreSQL,
 * catalog.c rolls back and its caller's retry applies.
 *
 * Adding an operation: one query() or run() call with the SQL and a
 * format of its parameters ('s' text, NULL is SQL NULL; 'i' int64), then
 * one_row() or collect() with a fill function for its rows.
 */
#include <ctype.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "util/vec.h"

/* "lodestar" in ASCII: the advisory lock every catalog writer takes. */
#define LOCK_KEY "7813574265402581362"
/* READ COMMITTED whatever default_transaction_isolation says: each statement's snapshot is
 * taken after the lock, so it sees every commit made before the lock was ours. */
#define LOCK_SQL                             \
    "BEGIN ISOLATION LEVEL READ COMMITTED; " \
    "SELECT pg_advisory_xact_lock(" LOCK_KEY ")"

#define OID_INT8 20
#define OID_TEXT 25
#define MAX_PARAMS 20

struct catalog_store {
    PGconn *conn;
    bool in_tx;      /* between begin() and commit()/rollback() */
    bool lost;       /* the connection failed: reset before the next statement */
    char where[400]; /* "HOST:PORT, database DB, user USER", for messages */
};

#define T "TEXT COLLATE \"C\""
#define I "BIGINT"
static const char *const migrations[] = {
    /* 1: the project, keys, tables, connections, jobs, checkpoints */
    "CREATE TABLE project ("
    "  id " T " PRIMARY KEY, name " T " NOT NULL, is_default " I " NOT NULL,"
    "  created_ns " I " NOT NULL);"
    "CREATE TABLE api_key ("
    "  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE, hash " T " NOT NULL UNIQUE,"
    "  permissions " T " NOT NULL, created_ns " I " NOT NULL);"
    "CREATE TABLE tbl ("
    "  name " T " PRIMARY KEY, kind " T " NOT NULL, doc " T " NOT NULL,"
    "  created_ns " I " NOT NULL, modified_ns " I " NOT NULL);"
    "CREATE TABLE connection ("
    "  name " T " PRIMARY KEY, kind " T " NOT NULL, doc " T " NOT NULL, secret " T ","
    "  created_ns " I " NOT NULL, modified_ns " I " NOT NULL);"
    "CREATE TABLE job ("
    "  id " T " PRIMARY KEY, type " T " NOT NULL, table_name " T " NOT NULL,"
    "  connection_name " T " NOT NULL, desired " T " NOT NULL, status " T " NOT NULL,"
    "  health " T " NOT NULL, health_message " T " NOT NULL, spec " T " NOT NULL,"
    "  created_by " T " NOT NULL, modified_by " T " NOT NULL,"
    "  created_ns " I " NOT NULL, updated_ns " I " NOT NULL,"
    "  started_ns " I " NOT NULL, completed_ns " I " NOT NULL,"
    "  reset_generation " I " NOT NULL DEFAULT 0);"
    "CREATE INDEX job_table ON job(table_name);"
    "CREATE INDEX job_connection ON job(connection_name);"
    "CREATE TABLE checkpoint ("
    "  table_name " T " NOT NULL, stream " T " NOT NULL, offsets " T " NOT NULL,"
    "  updated_ns " I " NOT NULL, PRIMARY KEY (table_name, stream));",
    /* 2: segments and job counters, for persist and compaction */
    "CREATE TABLE segment ("
    "  id " T " PRIMARY KEY, table_name " T " NOT NULL, path " T " NOT NULL,"
    "  chunk_start " I " NOT NULL, chunk_end " I " NOT NULL,"
    "  min_time " I " NOT NULL, max_time " I " NOT NULL,"
    "  rows " I " NOT NULL, bytes " I " NOT NULL, created_ns " I " NOT NULL);"
    "CREATE INDEX segment_table ON segment(table_name, chunk_start);"
    "CREATE TABLE job_counters ("
    "  job_id " T " PRIMARY KEY, counters " T " NOT NULL, updated_ns " I " NOT NULL);",
    /* 3: uploaded files for batch jobs */
    ("CREATE TABLE file ("
     "  name " T " PRIMARY KEY, size " I " NOT NULL, created_ns " I " NOT NULL);"),
    /* 4: lookups for SQL's LOOKUP(): the key → value map is in doc */
    ("CREATE TABLE lookup ("
     "  name " T " PRIMARY KEY, kind " T " NOT NULL, doc " T " NOT NULL,"
     "  created_ns " I " NOT NULL, modified_ns " I " NOT NULL);"),
    /* 5: API keys managed through the API: a description, when last used */
    ("ALTER TABLE api_key ADD COLUMN description " T " NOT NULL DEFAULT '';"
     "ALTER TABLE api_key ADD COLUMN last_used_ns " I " NOT NULL DEFAULT 0;"),
    /* 6: the servers sharing this catalog (their heartbeats and what they hold) */
    ("CREATE TABLE node ("
     "  id " T " PRIMARY KEY, advertise " T " NOT NULL, version " T " NOT NULL,"
     "  secret_check " T " NOT NULL, started_ns " I " NOT NULL,"
     "  heartbeat_ns " I " NOT NULL, info " T " NOT NULL);"),
    /* 7: leases of stream partitions (which node reads which; the epoch fences commits) */
    ("CREATE TABLE lease ("
     "  table_name " T " NOT NULL, stream " T " NOT NULL, part " T " NOT NULL,"
     "  node_id " T " NOT NULL, epoch " I " NOT NULL, acquired_ns " I " NOT NULL,"
     "  expires_ns " I " NOT NULL, PRIMARY KEY (table_name, stream, part));"),
    /* 8: the commit counter and each segment's commit number and streaming writer
     * (a query across nodes takes a consistent cut of the segments by it) */
    ("ALTER TABLE segment ADD COLUMN seq " I " NOT NULL DEFAULT 0;"
     "ALTER TABLE segment ADD COLUMN writer " T " NOT NULL DEFAULT '';"
     "CREATE TABLE commit_seq (one " I " PRIMARY KEY CHECK (one = 1), seq " I " NOT NULL);"
     "INSERT INTO commit_seq VALUES (1, 0);"),
};
#undef T
#undef I

static int latest_version(void) { return (int)LS_ARRAY_LEN(migrations); }

bool catalog_pg_is_target(const char *target)
{
    return target &&
           (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0);
}

/* ---- errors and the connection ------------------------------------------ */

/* libpq's message on one line: newlines and tabs folded, the end trimmed. */
static void one_line(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = in ? in : ""; *p && n + 1 < cap; p++) {
        if (isspace((unsigned char)*p)) {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            out[n++] = ' ';
        space = false;
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* Did r (NULL: no result at all) fail because the connection went away? */
static bool conn_gone(struct catalog_store *c, const PGresult *r)
{
    if (!r || PQstatus(c->conn) == CONNECTION_BAD)
        return true;
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    /* 08: connection exceptions; 57P01-57P03: shutdown, crash, starting up */
    return st && (strncmp(st, "08", 2) == 0 || strncmp(st, "57P0", 4) == 0);
}

/* LERR_IO naming PostgreSQL's own error (r may be NULL: the connection's). */
static int pg_fail_note(struct catalog_store *c, const PGresult *r, const char *what,
                        const char *note, struct lerr *err)
{
    char msg[300];
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    one_line(primary ? primary : PQerrorMessage(c->conn), msg, sizeof msg);
    if (conn_gone(c, r))
        c->lost = true;
    return lerr_set(err, LERR_IO, "catalog: %s failed: PostgreSQL at %s: %s%s%s%s%s", what,
                    c->where, msg[0] ? msg : "no answer", state ? " (SQLSTATE " : "",
                    state ? state : "", state ? ")" : "",
                    note      ? note
                    : c->lost ? "; the connection is reset on the next call"
                              : "");
}

static int pg_fail(struct catalog_store *c, const PGresult *r, const char *what, struct lerr *err)
{
    return pg_fail_note(c, r, what, NULL, err);
}

/* A fresh connection when the last one failed. Not inside a transaction. */
static int ensure_conn(struct catalog_store *c, struct lerr *err)
{
    if (!c->lost && PQstatus(c->conn) == CONNECTION_OK)
        return 0;
    PQreset(c->conn);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        char msg[300];
        one_line(PQerrorMessage(c->conn), msg, sizeof msg);
        c->lost = true;
        return lerr_set(err, LERR_IO,
                        "catalog: cannot reconnect to PostgreSQL at %s: %s; the next call "
                        "tries again",
                        c->where, msg);
    }
    c->lost = false;
    return 0;
}

/* Constant SQL (no values in it): BEGIN, COMMIT, the lock, migrations. */
static PGresult *exec_const(struct catalog_store *c, const char *sql)
{
    return PQexec(c->conn, sql);
}

static bool ok(const PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

/* ---- statements: the one way values reach PostgreSQL --------------------- */

struct params {
    int n;
    const char *v[MAX_PARAMS];
    Oid types[MAX_PARAMS];
    char num[MAX_PARAMS][24];
};

static void params_fill(struct params *p, const char *fmt, va_list ap)
{
    p->n = 0;
    for (int i = 0; fmt[i] && i < MAX_PARAMS; i++, p->n++) {
        if (fmt[i] == 's') {
            p->v[i] = va_arg(ap, const char *);
            p->types[i] = OID_TEXT;
        } else {
            snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)va_arg(ap, int64_t));
            p->v[i] = p->num[i];
            p->types[i] = OID_INT8;
        }
    }
}

/*
 * One attempt at sql with p. A write outside a transaction is wrapped in
 * BEGIN, the writers' lock, COMMIT; *committing says whether the failure
 * came at or after COMMIT (the write may then have happened).
 */
static PGresult *attempt(struct catalog_store *c, const char *sql, const struct params *p,
                         bool write, bool *committing)
{
    *committing = false;
    if (write) {
        PGresult *l = exec_const(c, LOCK_SQL);
        if (!ok(l)) {
            if (!conn_gone(c, l)) /* BEGIN may have run: end it */
                PQclear(exec_const(c, "ROLLBACK"));
            return l;
        }
        PQclear(l);
    }
    PGresult *r = PQexecParams(c->conn, sql, p->n, p->types, p->v, NULL, NULL, 0);
    if (!write)
        return r;
    if (!ok(r)) {
        if (!conn_gone(c, r))
            PQclear(exec_const(c, "ROLLBACK"));
        return r;
    }
    *committing = true;
    PGresult *cm = exec_const(c, "COMMIT");
    if (!ok(cm)) {
        PQclear(r);
        return cm;
    }
    PQclear(cm);
    return r;
}

/*
 * Runs sql with the parameters of fmt; on success *rows (may be NULL: then
 * cleared) gets the result and *changed (may be NULL) the rows it changed.
 * A unique violation is LERR_CONFLICT "<what> already exists"; any other
 * failure LERR_IO naming PostgreSQL's error.
 */
static int vexec(struct catalog_store *c, const char *what, PGresult **rows, int64_t *changed,
                 struct lerr *err, const char *sql, const char *fmt, va_list ap)
{
    struct params p;
    params_fill(&p, fmt, ap);
    bool write = !c->in_tx && strncmp(sql, "SELECT", 6) != 0;
    PGresult *r = NULL;
    for (int tries = 0;; tries++) {
        if (c->in_tx && c->lost)
            return lerr_set(err, LERR_IO,
                            "catalog: %s failed: the connection to PostgreSQL at %s was lost "
                            "inside a transaction (rolled back); retry",
                            what, c->where);
        if (!c->in_tx && ensure_conn(c, err))
            return err->code;
        bool committing;
        r = attempt(c, sql, &p, write, &committing);
        if (ok(r))
            break;
        const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (st && strcmp(st, "23505") == 0) {
            PQclear(r);
            return lerr_set(err, LERR_CONFLICT, "%s already exists", what);
        }
        /* retried once when it surely did not happen: a read, or a write before COMMIT */
        if (!c->in_tx && tries == 0 && conn_gone(c, r) && !committing) {
            PQclear(r);
            c->lost = true;
            continue;
        }
        /* a serialisation failure or deadlock rolled it back (possible only if an
         * administrator's settings or other clients' locks are involved): retried */
        if (!c->in_tx && tries < 3 && st && (!strcmp(st, "40001") || !strcmp(st, "40P01"))) {
            PQclear(r);
            continue;
        }
        pg_fail_note(c, r, what,
                     committing && conn_gone(c, r)
                         ? "; the connection was lost at COMMIT: the change may or may not "
                           "be stored"
                         : NULL,
                     err);
        PQclear(r);
        return err->code;
    }
    if (changed) {
        const char *n = PQcmdTuples(r);
        *changed = n && *n ? strtoll(n, NULL, 10) : 0;
    }
    if (rows)
        *rows = r;
    else
        PQclear(r);
    return 0;
}

/* A statement whose rows are not wanted (INSERT, UPDATE, DELETE). */
static int run(struct catalog_store *c, const char *what, int64_t *changed, struct lerr *err,
               const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vexec(c, what, NULL, changed, err, sql, fmt, ap);
    va_end(ap);
    return rc;
}

/* A SELECT: *rows gets its result (cleared by one_row/collect). */
static int query(struct catalog_store *c, const char *what, PGresult **rows, struct lerr *err,
                 const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vexec(c, what, rows, NULL, err, sql, fmt, ap);
    va_end(ap);
    return rc;
}

typedef void (*row_fill_fn)(const PGresult *r, int row, const void *ctx, void *elem);

/* The first row of r, if any, into out; clears r. */
static void one_row(PGresult *r, row_fill_fn fill, const void *ctx, void *out, bool *found)
{
    *found = PQntuples(r) > 0;
    if (*found)
        fill(r, 0, ctx, out);
    PQclear(r);
}

/* Every row of r, one element of `elem` bytes each, as a malloc'd array; clears r. */
static int collect(PGresult *r, size_t elem, row_fill_fn fill, const void *ctx, void **items,
                   size_t *n, struct lerr *err)
{
    size_t count = (size_t)PQntuples(r), cap = 0;
    char *arr = NULL;
    if (count) {
        arr = vec_grow(NULL, &cap, count, elem, count);
        if (!arr) {
            PQclear(r);
            return lerr_set(err, LERR_NOMEM, "catalog: out of memory");
        }
        memset(arr, 0, count * elem);
    }
    for (size_t i = 0; i < count; i++)
        fill(r, (int)i, ctx, arr + i * elem);
    PQclear(r);
    *items = arr;
    *n = count;
    return 0;
}

static char *col_dup(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static void col_copy(const PGresult *r, int row, int col, char *out, size_t cap)
{
    snprintf(out, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- connection, migrations, transactions -------------------------------- */

static void no_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* "HOST:PORT, database DB, user USER" from the target, without its password. */
static int describe_target(const char *target, char *out, size_t cap, struct lerr *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(target, &perr);
    if (!opts) {
        char msg[300];
        one_line(perr ? perr : "out of memory", msg, sizeof msg);
        PQfreemem(perr);
        /* libpq quotes the URI, password and all: name it instead */
        char *at = strstr(msg, target);
        if (at && *target) {
            char rest[300];
            snprintf(rest, sizeof rest, "%s", at + strlen(target));
            snprintf(at, sizeof msg - (size_t)(at - msg), "(the URI)%s", rest);
        }
        return lerr_set(err, LERR_INVALID,
                        "catalog: bad PostgreSQL URI: %s; write it as "
                        "postgresql://USER@HOST:PORT/DATABASE (--catalog or LODESTAR_CATALOG)",
                        msg);
    }
    const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
        else if (!strcmp(o->keyword, "user"))
            user = o->val;
    }
    char bad[64] = "";
    if (port && strspn(port, "0123456789,") != strlen(port))
        snprintf(bad, sizeof bad, "%s", port);
    if (bad[0]) {
        PQconninfoFree(opts);
        return lerr_set(err, LERR_INVALID,
                        "catalog: bad PostgreSQL URI: the port '%s' is not a number; write it "
                        "as postgresql://USER@HOST:PORT/DATABASE (--catalog or LODESTAR_CATALOG)",
                        bad);
    }
    snprintf(out, cap, "%s:%s, database %s, user %s", host ? host : "localhost",
             port ? port : "5432", db ? db : (user ? user : "(default)"),
             user ? user : "(default)");
    PQconninfoFree(opts);
    return 0;
}

static int read_version(struct catalog_store *c, int *out, bool *missing, struct lerr *err)
{
    PGresult *r = exec_const(c, "SELECT version FROM schema_version");
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    *missing = st && strcmp(st, "42P01") == 0; /* undefined table: a new database */
    if (*missing) {
        PQclear(r);
        *out = 0;
        return 0;
    }
    if (!ok(r)) {
        pg_fail(c, r, "reading the schema version", err);
        PQclear(r);
        return err->code;
    }
    *out = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return 0;
}

static int exec_step(struct catalog_store *c, const char *sql, const char *what, struct lerr *err)
{
    PGresult *r = exec_const(c, sql);
    int rc = ok(r) ? 0 : pg_fail(c, r, what, err);
    PQclear(r);
    return rc;
}

/*
 * Migrates to the latest version in one transaction under the writers'
 * lock: two processes opening a new database at once apply each migration
 * once (the second finds the version moved).
 */
static int migrate(struct catalog_store *c, int *out, struct lerr *err)
{
    int version;
    bool missing;
    if (read_version(c, &version, &missing, err))
        return err->code;
    if (!missing && version == latest_version()) { /* the usual case: no lock taken */
        *out = version;
        return 0;
    }
    if (exec_step(c, LOCK_SQL, "locking the catalog to migrate it", err))
        goto fail;
    if (exec_step(c, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
                  "creating the schema version", err) ||
        read_version(c, &version, &missing, err))
        goto fail;
    if (version > latest_version()) {
        lerr_set(err, LERR_INVALID,
                 "catalog: schema version %d is newer than this binary knows (%d); "
                 "run a newer lodestar",
                 version, latest_version());
        goto fail;
    }
    PGresult *r = exec_const(c, "SELECT count(*) FROM schema_version");
    bool empty = ok(r) && strcmp(PQgetvalue(r, 0, 0), "0") == 0;
    PQclear(r);
    if (empty &&
        exec_step(c, "INSERT INTO schema_version VALUES (0)", "recording the schema version", err))
        goto fail;
    for (; version < latest_version(); version++) {
        char what[64];
        snprintf(what, sizeof what, "migration %d", version + 1);
        if (exec_step(c, migrations[version], what, err))
            goto fail;
    }
    char set[80];
    snprintf(set, sizeof set, "UPDATE schema_version SET version = %d", version);
    if (exec_step(c, set, "recording the schema version", err) ||
        exec_step(c, "COMMIT", "committing the migrations", err))
        goto fail;
    *out = version;
    return 0;
fail:
    PQclear(exec_const(c, "ROLLBACK"));
    return err->code;
}

static void pg_close(struct catalog_store *c)
{
    if (!c)
        return;
    PQfinish(c->conn);
    free(c);
}

static int pg_open(const char *target, struct catalog_store **out, int *version, struct lerr *err)
{
    struct catalog_store *c = calloc(1, sizeof *c);
    if (!c)
        return lerr_set(err, LERR_NOMEM, "catalog: out of memory");
    if (describe_target(target, c->where, sizeof c->where, err)) {
        free(c);
        return err->code;
    }
    /* the URI's own settings win over these defaults (they come later) */
    const char *const keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname",
                                NULL};
    const char *const vals[] = {"10", "lodestar", "UTF8", target, NULL};
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (!c->conn) {
        free(c);
        return lerr_set(err, LERR_NOMEM, "catalog: out of memory");
    }
    if (PQstatus(c->conn) != CONNECTION_OK) {
        char msg[400];
        one_line(PQerrorMessage(c->conn), msg, sizeof msg);
        lerr_set(err, LERR_IO,
                 "catalog: cannot connect to PostgreSQL at %s: %s; check that PostgreSQL runs "
                 "there, that the database exists (createdb) and that the user may log in, or "
                 "fix --catalog / LODESTAR_CATALOG (postgresql://USER@HOST:PORT/DATABASE)",
                 c->where, msg);
        pg_close(c);
        return err->code;
    }
    PQsetNoticeProcessor(c->conn, no_notices, NULL);
    if (migrate(c, version, err)) {
        pg_close(c);
        return err->code;
    }
    *out = c;
    return 0;
}

/* One snapshot for every statement until COMMIT, without the writers' lock: a reader
 * that a writer paused inside its transaction (holding the lock) does not wait for. */
#define READ_SQL "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"

static int begin_as(struct catalog_store *c, const char *sql, struct lerr *err)
{
    for (int tries = 0;; tries++) {
        if (ensure_conn(c, err))
            return err->code;
        PGresult *r = exec_const(c, sql);
        if (ok(r)) {
            PQclear(r);
            c->in_tx = true;
            return 0;
        }
        if (tries == 0 && conn_gone(c, r)) { /* nothing started: safe to retry */
            PQclear(r);
            c->lost = true;
            continue;
        }
        pg_fail(c, r, "beginning a transaction", err);
        PQclear(r);
        PQclear(exec_const(c, "ROLLBACK"));
        return err->code;
    }
}

static int pg_begin(struct catalog_store *c, struct lerr *err)
{
    return begin_as(c, LOCK_SQL, err);
}

static int pg_begin_read(struct catalog_store *c, struct lerr *err)
{
    return begin_as(c, READ_SQL, err);
}

static int pg_commit(struct catalog_store *c, struct lerr *err)
{
    c->in_tx = false;
    if (c->lost)
        return lerr_set(err, LERR_IO,
                        "catalog: committing failed: the connection to PostgreSQL at %s was "
                        "lost inside the transaction (rolled back); retry",
                        c->where);
    PGresult *r = exec_const(c, "COMMIT");
    int rc = 0;
    if (!ok(r))
        rc = pg_fail(c, r, "committing", err);
    else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) /* an aborted transaction rolls back */
        rc = lerr_set(err, LERR_IO,
                      "catalog: committing failed: PostgreSQL at %s rolled the transaction "
                      "back after an earlier error; retry",
                      c->where);
    PQclear(r);
    return rc;
}

static void pg_rollback(struct catalog_store *c)
{
    c->in_tx = false;
    if (c->lost || PQstatus(c->conn) != CONNECTION_OK)
        return;
    PGresult *r = exec_const(c, "ROLLBACK");
    if (!r || conn_gone(c, r))
        c->lost = true;
    PQclear(r);
}

/* ---- project and keys ---------------------------------------------------- */

static void project_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_project *p = elem;
    col_copy(r, row, 0, p->id, sizeof p->id);
    col_copy(r, row, 1, p->name, sizeof p->name);
    p->created_ns = col_i64(r, row, 2);
}

static int pg_project_get_default(struct catalog_store *c, struct catalog_project *out,
                                  bool *found, struct lerr *err)
{
    PGresult *r;
    if (query(c, "reading the project", &r, err,
              "SELECT id, name, created_ns FROM project WHERE is_default = 1", ""))
        return err->code;
    one_row(r, project_fill, NULL, out, found);
    return 0;
}

static int pg_project_insert(struct catalog_store *c, const struct catalog_project *p,
                             struct lerr *err)
{
    return run(c, "project", NULL, err,
               "INSERT INTO project (id, name, is_default, created_ns) VALUES ($1, $2, 1, $3)",
               "ssi", p->id, p->name, p->created_ns);
}

static int pg_apikey_count(struct catalog_store *c, int64_t *out, struct lerr *err)
{
    PGresult *r;
    if (query(c, "counting API keys", &r, err, "SELECT COUNT(*) FROM api_key", ""))
        return err->code;
    *out = PQntuples(r) ? col_i64(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

static int pg_apikey_insert(struct catalog_store *c, const struct catalog_apikey *k,
                            struct lerr *err)
{
    return run(c, "API key", NULL, err,
               "INSERT INTO api_key (id, name, hash, permissions, created_ns, description) "
               "VALUES ($1, $2, $3, $4, $5, $6)",
               "ssssis", k->id, k->name, k->hash, k->permissions, k->created_ns, k->description);
}

#define APIKEY_COLS "id, name, hash, permissions, created_ns, description, last_used_ns"

static void apikey_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_apikey *k = elem;
    col_copy(r, row, 0, k->id, sizeof k->id);
    col_copy(r, row, 1, k->name, sizeof k->name);
    col_copy(r, row, 2, k->hash, sizeof k->hash);
    col_copy(r, row, 3, k->permissions, sizeof k->permissions);
    k->created_ns = col_i64(r, row, 4);
    col_copy(r, row, 5, k->description, sizeof k->description);
    k->last_used_ns = col_i64(r, row, 6);
}

static int pg_apikey_by_hash(struct catalog_store *c, const char *hash, struct catalog_apikey *out,
                             bool *found, struct lerr *err)
{
    PGresult *r;
    if (query(c, "looking up an API key", &r, err,
              "SELECT " APIKEY_COLS " FROM api_key WHERE hash = $1", "s", hash))
        return err->code;
    one_row(r, apikey_fill, NULL, out, found);
    return 0;
}

static int pg_apikey_list(struct catalog_store *c, const char *id, struct catalog_apikey **out,
                          size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    PGresult *r;
    int rc = id ? query(c, "listing API keys", &r, err,
                        "SELECT " APIKEY_COLS " FROM api_key WHERE id = $1", "s", id)
                : query(c, "listing API keys", &r, err,
                        "SELECT " APIKEY_COLS " FROM api_key ORDER BY name", "");
    if (rc)
        return rc;
    return collect(r, sizeof **out, apikey_fill, NULL, (void **)out, n, err);
}

static int pg_apikey_delete(struct catalog_store *c, const char *id, int64_t *changed,
                            struct lerr *err)
{
    return run(c, "API key", changed, err, "DELETE FROM api_key WHERE id = $1", "s", id);
}

static int pg_apikey_touch(struct catalog_store *c, const char *id, int64_t now_ns,
                           struct lerr *err)
{
    return run(c, "API key", NULL, err, "UPDATE api_key SET last_used_ns = $1 WHERE id = $2", "is",
               now_ns, id);
}

/* ---- documents ---------------------------------------------------------- */

/* The SQL below names tables from these constants only, never from input. */
static const char *doc_table(enum catalog_doc_type t)
{
    return t == CATALOG_TABLE ? "tbl" : t == CATALOG_LOOKUP ? "lookup" : "connection";
}

static const char *doc_noun(enum catalog_doc_type t)
{
    return t == CATALOG_TABLE ? "table" : t == CATALOG_LOOKUP ? "lookup" : "connection";
}

static int pg_doc_insert(struct catalog_store *c, enum catalog_doc_type t,
                         const struct catalog_doc *d, struct lerr *err)
{
    if (t != CATALOG_CONNECTION) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "INSERT INTO %s (name, kind, doc, created_ns, modified_ns) "
                 "VALUES ($1, $2, $3, $4, $5)",
                 doc_table(t));
        return run(c, doc_noun(t), NULL, err, sql, "sssii", d->name, d->kind, d->doc,
                   d->created_ns, d->modified_ns);
    }
    return run(c, doc_noun(t), NULL, err,
               "INSERT INTO connection (name, kind, doc, created_ns, modified_ns, secret) "
               "VALUES ($1, $2, $3, $4, $5, $6)",
               "sssiis", d->name, d->kind, d->doc, d->created_ns, d->modified_ns, d->secret);
}

static void doc_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    enum catalog_doc_type t = *(const enum catalog_doc_type *)ctx;
    struct catalog_doc *out = elem;
    col_copy(r, row, 0, out->name, sizeof out->name);
    col_copy(r, row, 1, out->kind, sizeof out->kind);
    out->doc = col_dup(r, row, 2);
    out->created_ns = col_i64(r, row, 3);
    out->modified_ns = col_i64(r, row, 4);
    out->secret = t == CATALOG_CONNECTION ? col_dup(r, row, 5) : NULL;
}

static int doc_select(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                      PGresult **r, struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT name, kind, doc, created_ns, modified_ns%s FROM %s %s",
             t == CATALOG_CONNECTION ? ", secret" : "", doc_table(t),
             name ? "WHERE name = $1" : "ORDER BY name");
    return name ? query(c, "reading a document", r, err, sql, "s", name)
                : query(c, "listing documents", r, err, sql, "");
}

static int pg_doc_get(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                      struct catalog_doc *out, bool *found, struct lerr *err)
{
    PGresult *r;
    if (doc_select(c, t, name, &r, err))
        return err->code;
    one_row(r, doc_fill, &t, out, found);
    return 0;
}

static int pg_doc_list(struct catalog_store *c, enum catalog_doc_type t,
                       struct catalog_doc_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    PGresult *r;
    if (doc_select(c, t, NULL, &r, err))
        return err->code;
    return collect(r, sizeof *out->items, doc_fill, &t, (void **)&out->items, &out->n, err);
}

static int pg_doc_update(struct catalog_store *c, enum catalog_doc_type t,
                         const struct catalog_doc *d, int64_t *changed, struct lerr *err)
{
    char sql[256];
    bool secret = t == CATALOG_CONNECTION && d->secret;
    snprintf(sql, sizeof sql, "UPDATE %s SET doc = $1, modified_ns = $2%s WHERE name = %s",
             doc_table(t), secret ? ", secret = $3" : "", secret ? "$4" : "$3");
    if (secret)
        return run(c, doc_noun(t), changed, err, sql, "siss", d->doc, d->modified_ns, d->secret,
                   d->name);
    return run(c, doc_noun(t), changed, err, sql, "sis", d->doc, d->modified_ns, d->name);
}

static int pg_doc_delete(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                         int64_t *changed, struct lerr *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE name = $1", doc_table(t));
    return run(c, doc_noun(t), changed, err, sql, "s", name);
}

/* ---- jobs -------------------------------------------------------------- */

#define JOB_COLUMNS                                                                          \
    "id, type, table_name, connection_name, desired, status, health, health_message, spec, " \
    "created_by, modified_by, created_ns, updated_ns, started_ns, completed_ns, "            \
    "reset_generation"

static void job_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_job *j = elem;
    col_copy(r, row, 0, j->id, sizeof j->id);
    /* names this version does not know (a newer one wrote them) read as catalog_sqlite.c's */
    int v = catalog_job_type_parse(PQgetvalue(r, row, 1));
    j->type = v < 0 ? CATALOG_JOB_BATCH : (enum catalog_job_type)v;
    col_copy(r, row, 2, j->table_name, sizeof j->table_name);
    col_copy(r, row, 3, j->connection_name, sizeof j->connection_name);
    v = catalog_job_state_parse(PQgetvalue(r, row, 4));
    j->desired = v < 0 ? CATALOG_JOB_SUSPENDED : (enum catalog_job_state)v;
    v = catalog_job_state_parse(PQgetvalue(r, row, 5));
    j->status = v < 0 ? CATALOG_JOB_FAILED : (enum catalog_job_state)v;
    v = catalog_health_parse(PQgetvalue(r, row, 6));
    j->health = v < 0 ? CATALOG_HEALTH_ERROR : (enum catalog_health)v;
    col_copy(r, row, 7, j->health_message, sizeof j->health_message);
    j->spec = col_dup(r, row, 8);
    j->created_by = col_dup(r, row, 9);
    j->modified_by = col_dup(r, row, 10);
    j->created_ns = col_i64(r, row, 11);
    j->updated_ns = col_i64(r, row, 12);
    j->started_ns = col_i64(r, row, 13);
    j->completed_ns = col_i64(r, row, 14);
    j->reset_generation = col_i64(r, row, 15);
}

static int pg_job_live_using(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                             char id[37], char type[16], struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT id, type FROM job WHERE %s = $1 AND status NOT IN "
             "('canceled', 'failed', 'succeeded') LIMIT 1",
             t == CATALOG_TABLE ? "table_name" : "connection_name");
    id[0] = type[0] = '\0';
    PGresult *r;
    if (query(c, "finding live jobs", &r, err, sql, "s", name))
        return err->code;
    if (PQntuples(r) > 0) {
        col_copy(r, 0, 0, id, 37);
        col_copy(r, 0, 1, type, 16);
    }
    PQclear(r);
    return 0;
}

static int pg_job_insert(struct catalog_store *c, const struct catalog_job *j, struct lerr *err)
{
    return run(c, "job", NULL, err,
               "INSERT INTO job (" JOB_COLUMNS ") VALUES "
               "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0)",
               "sssssssssssiiii", j->id, catalog_job_type_name(j->type), j->table_name,
               j->connection_name, catalog_job_state_name(j->desired),
               catalog_job_state_name(j->status), catalog_health_name(j->health),
               j->health_message, j->spec, j->created_by, j->modified_by, j->created_ns,
               j->updated_ns, j->started_ns, j->completed_ns);
}

static int pg_job_get(struct catalog_store *c, const char *id, struct catalog_job *out,
                      bool *found, struct lerr *err)
{
    PGresult *r;
    if (query(c, "reading a job", &r, err, "SELECT " JOB_COLUMNS " FROM job WHERE id = $1", "s",
              id))
        return err->code;
    one_row(r, job_fill, NULL, out, found);
    return 0;
}

static int pg_job_list(struct catalog_store *c, enum catalog_job_filter f, const char *table,
                       struct catalog_job_list *out, struct lerr *err)
{
    static const char *const active =
        "WHERE (desired = 'running' AND status IN ('pending', 'running', 'suspended')) "
        "OR (desired = 'suspended' AND status IN ('pending', 'running')) "
        "OR (desired = 'canceled' AND status NOT IN ('canceled', 'succeeded', 'failed'))";
    out->items = NULL;
    out->n = 0;
    const char *where = f == CATALOG_JOBS_ACTIVE     ? active
                        : f == CATALOG_JOBS_OF_TABLE ? "WHERE table_name = $1"
                                                     : "";
    char sql[700];
    snprintf(sql, sizeof sql, "SELECT " JOB_COLUMNS " FROM job %s ORDER BY created_ns DESC, id",
             where);
    PGresult *r;
    int rc = f == CATALOG_JOBS_OF_TABLE ? query(c, "listing jobs", &r, err, sql, "s", table)
                                        : query(c, "listing jobs", &r, err, sql, "");
    if (rc)
        return rc;
    return collect(r, sizeof *out->items, job_fill, NULL, (void **)&out->items, &out->n, err);
}

static int pg_job_update_state(struct catalog_store *c, const struct catalog_job *j,
                               int64_t *changed, struct lerr *err)
{
    return run(c, "job", changed, err,
               "UPDATE job SET desired = $1, status = $2, health = $3, "
               "health_message = $4, modified_by = $5, updated_ns = $6, "
               "started_ns = $7, completed_ns = $8 WHERE id = $9",
               "sssssiiis", catalog_job_state_name(j->desired), catalog_job_state_name(j->status),
               catalog_health_name(j->health), j->health_message, j->modified_by, j->updated_ns,
               j->started_ns, j->completed_ns, j->id);
}

static int pg_job_set_status(struct catalog_store *c, const char *id,
                             enum catalog_job_state status, enum catalog_health health,
                             const char *msg, int64_t started_ns, int64_t completed_ns,
                             int64_t now, int64_t *changed, struct lerr *err)
{
    return run(c, "job", changed, err,
               "UPDATE job SET status = $1, health = $2, health_message = $3, "
               "updated_ns = $4, "
               "started_ns = CASE WHEN $5 = 0 THEN started_ns ELSE $5 END, "
               "completed_ns = CASE WHEN $6 = 0 THEN completed_ns ELSE $6 END "
               "WHERE id = $7",
               "sssiiis", catalog_job_state_name(status), catalog_health_name(health),
               msg ? msg : "", now, started_ns, completed_ns, id);
}

static int pg_job_set_desired(struct catalog_store *c, const char *id,
                              enum catalog_job_state desired_state, const char *modified_by,
                              int64_t now, int64_t *changed, struct lerr *err)
{
    return run(c, "job", changed, err,
               "UPDATE job SET desired = $1, modified_by = $2, updated_ns = $3, "
               "status = CASE WHEN $1 = 'running' AND status IN ('suspended', "
               "'failed') THEN 'pending' ELSE status END, "
               "health = CASE WHEN $1 = 'running' AND status IN ('suspended', "
               "'failed') THEN 'ok' ELSE health END, "
               "health_message = CASE WHEN $1 = 'running' AND status IN "
               "('suspended', 'failed') THEN '' ELSE health_message END "
               "WHERE id = $4",
               "ssis", catalog_job_state_name(desired_state), modified_by, now, id);
}

static int pg_job_bump_reset(struct catalog_store *c, const char *id, int64_t now,
                             int64_t *changed, struct lerr *err)
{
    return run(c, "job", changed, err,
               "UPDATE job SET reset_generation = reset_generation + 1, updated_ns = $1 "
               "WHERE id = $2",
               "is", now, id);
}

static void text_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    *(char **)elem = col_dup(r, row, 0);
}

static int pg_job_counters_get(struct catalog_store *c, const char *job_id, char **out,
                               bool *found, struct lerr *err)
{
    *out = NULL;
    PGresult *r;
    if (query(c, "reading job counters", &r, err,
              "SELECT counters FROM job_counters WHERE job_id = $1", "s", job_id))
        return err->code;
    one_row(r, text_fill, NULL, out, found);
    return 0;
}

static void node_counters_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    size_t skip = *(const size_t *)ctx;
    struct catalog_node_counters *x = elem;
    const char *k = PQgetvalue(r, row, 0);
    snprintf(x->node, sizeof x->node, "%s", k && strlen(k) > skip ? k + skip : "");
    x->counters = col_dup(r, row, 1);
}

static int pg_job_counters_nodes(struct catalog_store *c, const char *job_id,
                                 struct catalog_node_counters **out, size_t *n, struct lerr *err)
{
    char pat[200];
    snprintf(pat, sizeof pat, "%s@%%", job_id);
    size_t skip = strlen(job_id) + 1;
    PGresult *r;
    if (query(c, "reading job counters", &r, err,
              "SELECT job_id, counters FROM job_counters WHERE job_id LIKE $1 ORDER BY job_id",
              "s", pat))
        return err->code;
    return collect(r, sizeof **out, node_counters_fill, &skip, (void **)out, n, err);
}

static int pg_job_counters_put(struct catalog_store *c, const char *job_id, const char *counters,
                               int64_t now, struct lerr *err)
{
    return run(c, "job counters", NULL, err,
               "INSERT INTO job_counters (job_id, counters, updated_ns) "
               "VALUES ($1, $2, $3) ON CONFLICT (job_id) DO UPDATE SET "
               "counters = excluded.counters, updated_ns = excluded.updated_ns",
               "ssi", job_id, counters, now);
}

/* ---- checkpoints --------------------------------------------------------- */

static int pg_checkpoint_get(struct catalog_store *c, const char *table, const char *stream,
                             char **out, bool *found, struct lerr *err)
{
    *out = NULL;
    PGresult *r;
    if (query(c, "reading a checkpoint", &r, err,
              "SELECT offsets FROM checkpoint WHERE table_name = $1 AND stream = $2", "ss", table,
              stream))
        return err->code;
    one_row(r, text_fill, NULL, out, found);
    return 0;
}

static int pg_checkpoint_put(struct catalog_store *c, const char *table, const char *stream,
                             const char *offsets, int64_t now, struct lerr *err)
{
    return run(c, "checkpoint", NULL, err,
               "INSERT INTO checkpoint (table_name, stream, offsets, updated_ns) "
               "VALUES ($1, $2, $3, $4) ON CONFLICT (table_name, stream) DO UPDATE "
               "SET offsets = excluded.offsets, updated_ns = excluded.updated_ns",
               "sssi", table, stream, offsets, now);
}

/*
 * One statement, so atomic against every other writer with or without a
 * transaction: an UPDATE whose WHERE compares the stored offsets (READ
 * COMMITTED re-checks the row after a concurrent writer commits), or, when
 * nothing is expected, an INSERT that does nothing if a row exists.
 */
static int pg_checkpoint_cas(struct catalog_store *c, const char *table, const char *stream,
                             const char *expected, const char *offsets, int64_t now, bool *swapped,
                             struct lerr *err)
{
    int64_t changed = 0;
    int rc = expected ? run(c, "checkpoint", &changed, err,
                            "UPDATE checkpoint SET offsets = $3, updated_ns = $4 "
                            "WHERE table_name = $1 AND stream = $2 AND offsets = $5",
                            "sssis", table, stream, offsets, now, expected)
                      : run(c, "checkpoint", &changed, err,
                            "INSERT INTO checkpoint (table_name, stream, offsets, updated_ns) "
                            "VALUES ($1, $2, $3, $4) ON CONFLICT (table_name, stream) DO NOTHING",
                            "sssi", table, stream, offsets, now);
    *swapped = rc == 0 && changed == 1;
    return rc;
}

static int pg_checkpoint_delete(struct catalog_store *c, const char *table, const char *stream,
                                bool other_streams, int64_t *changed, struct lerr *err)
{
    if (table && stream)
        return run(c, "checkpoint", changed, err,
                   other_streams ? "DELETE FROM checkpoint WHERE table_name = $1 AND stream <> $2"
                                 : "DELETE FROM checkpoint WHERE table_name = $1 AND stream = $2",
                   "ss", table, stream);
    if (table)
        return run(c, "checkpoint", changed, err, "DELETE FROM checkpoint WHERE table_name = $1",
                   "s", table);
    return run(c, "checkpoint", changed, err,
               other_streams ? "DELETE FROM checkpoint WHERE stream <> $1"
                             : "DELETE FROM checkpoint WHERE stream = $1",
               "s", stream);
}

/* ---- segments ------------------------------------------------------------ */

static void segment_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_segment *g = elem;
    col_copy(r, row, 0, g->id, sizeof g->id);
    col_copy(r, row, 1, g->table_name, sizeof g->table_name);
    col_copy(r, row, 2, g->path, sizeof g->path);
    g->chunk_start = col_i64(r, row, 3);
    g->chunk_end = col_i64(r, row, 4);
    g->min_time = col_i64(r, row, 5);
    g->max_time = col_i64(r, row, 6);
    g->rows = col_i64(r, row, 7);
    g->bytes = col_i64(r, row, 8);
    g->created_ns = col_i64(r, row, 9);
    g->seq = col_i64(r, row, 10);
    col_copy(r, row, 11, g->writer, sizeof g->writer);
}

static int pg_segment_list(struct catalog_store *c, const char *table,
                           struct catalog_segment_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    const char *cols = "SELECT id, table_name, path, chunk_start, chunk_end, min_time, max_time, "
                       "rows, bytes, created_ns, seq, writer FROM segment ";
    char sql[400];
    snprintf(sql, sizeof sql, "%s%s ORDER BY table_name, chunk_start, created_ns, id", cols,
             table ? "WHERE table_name = $1" : "");
    PGresult *r;
    int rc = table ? query(c, "listing segments", &r, err, sql, "s", table)
                   : query(c, "listing segments", &r, err, sql, "");
    if (rc)
        return rc;
    return collect(r, sizeof *out->items, segment_fill, NULL, (void **)&out->items, &out->n, err);
}

static int pg_segment_insert(struct catalog_store *c, const char *table,
                             const struct catalog_segment *g, int64_t created_ns, struct lerr *err)
{
    return run(c, "segment", NULL, err,
               "INSERT INTO segment (id, table_name, path, chunk_start, "
               "chunk_end, min_time, max_time, rows, bytes, created_ns, seq, writer) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
               "sssiiiiiiiis", g->id, table, g->path, g->chunk_start, g->chunk_end, g->min_time,
               g->max_time, g->rows, g->bytes, created_ns, g->seq, g->writer);
}

static void i64_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    *(int64_t *)elem = col_i64(r, row, 0);
}

static int pg_commit_seq(struct catalog_store *c, bool bump, int64_t *out, struct lerr *err)
{
    *out = 0;
    PGresult *r;
    if (query(c, "the commit counter", &r, err,
              bump ? "UPDATE commit_seq SET seq = seq + 1 RETURNING seq"
                   : "SELECT seq FROM commit_seq",
              ""))
        return err->code;
    bool found;
    one_row(r, i64_fill, NULL, out, &found);
    return 0;
}

static int pg_segment_delete(struct catalog_store *c, const char *table, const char *id,
                             int64_t *changed, struct lerr *err)
{
    if (id)
        return run(c, "segment", changed, err,
                   "DELETE FROM segment WHERE id = $1 AND table_name = $2", "ss", id, table);
    return run(c, "segment", changed, err, "DELETE FROM segment WHERE table_name = $1", "s",
               table);
}

/* ---- uploaded files -------------------------------------------------------- */

static int pg_file_put(struct catalog_store *c, const char *name, int64_t size, int64_t now,
                       struct lerr *err)
{
    return run(c, "file", NULL, err,
               "INSERT INTO file (name, size, created_ns) VALUES ($1, $2, $3) "
               "ON CONFLICT (name) DO UPDATE SET size = excluded.size, "
               "created_ns = excluded.created_ns",
               "sii", name, size, now);
}

static void file_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_file *f = elem;
    col_copy(r, row, 0, f->name, sizeof f->name);
    f->size = col_i64(r, row, 1);
    f->created_ns = col_i64(r, row, 2);
}

static int pg_file_list(struct catalog_store *c, const char *name, struct catalog_file **out,
                        size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    PGresult *r;
    int rc = name ? query(c, "listing files", &r, err,
                          "SELECT name, size, created_ns FROM file WHERE name = $1", "s", name)
                  : query(c, "listing files", &r, err,
                          "SELECT name, size, created_ns FROM file ORDER BY name", "");
    if (rc)
        return rc;
    return collect(r, sizeof **out, file_fill, NULL, (void **)out, n, err);
}

static int pg_file_delete(struct catalog_store *c, const char *name, int64_t *changed,
                          struct lerr *err)
{
    return run(c, "file", changed, err, "DELETE FROM file WHERE name = $1", "s", name);
}

/* ---- cluster nodes ---------------------------------------------------------- */

static int pg_node_put(struct catalog_store *c, const struct catalog_node *n, struct lerr *err)
{
    return run(c, "node", NULL, err,
               "INSERT INTO node (id, advertise, version, secret_check, started_ns, heartbeat_ns, "
               "info) VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, '{}')) "
               "ON CONFLICT (id) DO UPDATE SET advertise = excluded.advertise, "
               "version = excluded.version, secret_check = excluded.secret_check, "
               "started_ns = excluded.started_ns, heartbeat_ns = excluded.heartbeat_ns, "
               "info = COALESCE($7, node.info)",
               "ssssiis", n->id, n->advertise, n->version, n->secret_check, n->started_ns,
               n->heartbeat_ns, n->info);
}

static void node_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_node *n = elem;
    col_copy(r, row, 0, n->id, sizeof n->id);
    col_copy(r, row, 1, n->advertise, sizeof n->advertise);
    col_copy(r, row, 2, n->version, sizeof n->version);
    col_copy(r, row, 3, n->secret_check, sizeof n->secret_check);
    n->started_ns = col_i64(r, row, 4);
    n->heartbeat_ns = col_i64(r, row, 5);
    n->info = col_dup(r, row, 6);
}

static int pg_node_list(struct catalog_store *c, struct catalog_node **out, size_t *n,
                        struct lerr *err)
{
    *out = NULL;
    *n = 0;
    PGresult *r;
    if (query(c, "listing nodes", &r, err,
              "SELECT id, advertise, version, secret_check, started_ns, heartbeat_ns, info "
              "FROM node ORDER BY id",
              ""))
        return err->code;
    return collect(r, sizeof **out, node_fill, NULL, (void **)out, n, err);
}

static int pg_node_delete(struct catalog_store *c, const char *id, int64_t *changed,
                          struct lerr *err)
{
    return run(c, "node", changed, err, "DELETE FROM node WHERE id = $1", "s", id);
}

/* ---- leases ------------------------------------------------------------------ */

#define LEASE_COLS "table_name, stream, part, node_id, epoch, acquired_ns, expires_ns"

static void lease_fill(const PGresult *r, int row, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_lease *l = elem;
    memset(l, 0, sizeof *l);
    col_copy(r, row, 0, l->table_name, sizeof l->table_name);
    col_copy(r, row, 1, l->stream, sizeof l->stream);
    col_copy(r, row, 2, l->part, sizeof l->part);
    col_copy(r, row, 3, l->node_id, sizeof l->node_id);
    l->epoch = col_i64(r, row, 4);
    l->acquired_ns = col_i64(r, row, 5);
    l->expires_ns = col_i64(r, row, 6);
}

static int pg_lease_list(struct catalog_store *c, const char *table, const char *stream,
                         const char *part, struct catalog_lease **out, size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    PGresult *r;
    int rc;
    const char *what = "listing leases";
#define ORDER " ORDER BY table_name, stream, part"
    if (!table)
        rc = query(c, what, &r, err, "SELECT " LEASE_COLS " FROM lease" ORDER, "");
    else if (!stream)
        rc = query(c, what, &r, err,
                   "SELECT " LEASE_COLS " FROM lease WHERE table_name = $1" ORDER, "s", table);
    else if (!part)
        rc = query(c, what, &r, err,
                   "SELECT " LEASE_COLS " FROM lease WHERE table_name = $1 AND stream = $2" ORDER,
                   "ss", table, stream);
    else
        rc = query(c, what, &r, err,
                   "SELECT " LEASE_COLS
                   " FROM lease WHERE table_name = $1 AND stream = $2 AND part = $3",
                   "sss", table, stream, part);
#undef ORDER
    if (rc)
        return rc;
    return collect(r, sizeof **out, lease_fill, NULL, (void **)out, n, err);
}

static int pg_lease_put(struct catalog_store *c, const struct catalog_lease *l, struct lerr *err)
{
    return run(c, "lease", NULL, err,
               "INSERT INTO lease (" LEASE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7) "
               "ON CONFLICT (table_name, stream, part) DO UPDATE SET node_id = excluded.node_id, "
               "epoch = excluded.epoch, acquired_ns = excluded.acquired_ns, "
               "expires_ns = excluded.expires_ns",
               "ssssiii", l->table_name, l->stream, l->part, l->node_id, l->epoch, l->acquired_ns,
               l->expires_ns);
}

static int pg_lease_delete(struct catalog_store *c, const char *table, const char *stream,
                           int64_t *changed, struct lerr *err)
{
    if (stream)
        return run(c, "lease", changed, err,
                   "DELETE FROM lease WHERE table_name = $1 AND stream = $2", "ss", table, stream);
    return run(c, "lease", changed, err, "DELETE FROM lease WHERE table_name = $1", "s", table);
}

const struct catalog_ops catalog_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .latest_schema_version = latest_version,
    .begin = pg_begin,
    .begin_read = pg_begin_read,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .project_get_default = pg_project_get_default,
    .project_insert = pg_project_insert,
    .apikey_count = pg_apikey_count,
    .apikey_insert = pg_apikey_insert,
    .apikey_by_hash = pg_apikey_by_hash,
    .apikey_list = pg_apikey_list,
    .apikey_delete = pg_apikey_delete,
    .apikey_touch = pg_apikey_touch,
    .doc_insert = pg_doc_insert,
    .doc_get = pg_doc_get,
    .doc_list = pg_doc_list,
    .doc_update = pg_doc_update,
    .doc_delete = pg_doc_delete,
    .job_live_using = pg_job_live_using,
    .job_insert = pg_job_insert,
    .job_get = pg_job_get,
    .job_list = pg_job_list,
    .job_update_state = pg_job_update_state,
    .job_set_status = pg_job_set_status,
    .job_set_desired = pg_job_set_desired,
    .job_bump_reset = pg_job_bump_reset,
    .job_counters_get = pg_job_counters_get,
    .job_counters_put = pg_job_counters_put,
    .job_counters_nodes = pg_job_counters_nodes,
    .checkpoint_get = pg_checkpoint_get,
    .checkpoint_put = pg_checkpoint_put,
    .checkpoint_cas = pg_checkpoint_cas,
    .checkpoint_delete = pg_checkpoint_delete,
    .segment_list = pg_segment_list,
    .segment_insert = pg_segment_insert,
    .commit_seq = pg_commit_seq,
    .segment_delete = pg_segment_delete,
    .file_put = pg_file_put,
    .file_list = pg_file_list,
    .file_delete = pg_file_delete,
    .node_put = pg_node_put,
    .node_list = pg_node_list,
    .node_delete = pg_node_delete,
    .lease_list = pg_lease_list,
    .lease_put = pg_lease_put,
    .lease_delete = pg_lease_delete,
};
