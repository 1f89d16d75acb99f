/*
 * pushreg.h — the push logs of a data directory (dir/push/<connection>),
 * opened on first use and shared: every append, preview and job reading a
 * push connection asks the registry for its log.
 *
 * Entry points:
 *   pushreg_open() / pushreg_close()
 *   pushreg_get() / pushreg_put()     a counted reference to a connection's log
 *   pushreg_append()                  durable appends (source_pushlog_append)
 *   pushreg_source()                  a source over the log that holds its reference
 *   pushreg_trim_due(), pushreg_wakeup_all(), pushreg_drop()
 *
 * Threads: every call is thread-safe. A deleted connection's log is closed
 * once its last user is done.
 */
#ifndef LODESTAR_SOURCE_PUSHREG_H
#define LODESTAR_SOURCE_PUSHREG_H

#include "source/source.h"

struct pushreg;

/* Logs live in dir/push/<name>; segment_bytes as source_pushlog_opts (0: default). */
int pushreg_open(const char *dir, size_t segment_bytes, struct pushreg **out, struct lerr *err);
/* Closes every log. No reference may be in use. NULL is fine. */
void pushreg_close(struct pushreg *reg);

/* The log of connection `name` (opened, and created, on first use) with a
 * reference to give back with pushreg_put(); NULL + err (LERR_INVALID for a
 * name that cannot name a directory). */
struct source_pushlog *pushreg_get(struct pushreg *reg, const char *name, struct lerr *err);
void pushreg_put(struct pushreg *reg, struct source_pushlog *log); /* NULL is fine */

/* source_pushlog_append() on the connection's log. */
int pushreg_append(struct pushreg *reg, const char *name, const struct source_pushlog_entry *e,
                   size_t n, int64_t *first, struct lerr *err);

/* A source over the connection's log (stream = the connection name) that keeps
 * the log open until source_close(). */
struct source *pushreg_source(struct pushreg *reg, const char *name, struct lerr *err);

/* True at most once per period_ms for each connection: its log is due for a trim. */
bool pushreg_trim_due(struct pushreg *reg, const char *name, int period_ms);

/* Wakes every reader waiting on a log (shutdown). */
void pushreg_wakeup_all(struct pushreg *reg);

/*
 * After the connection was deleted: its log is closed (once the appends and
 * readers still using it are done, waiting up to 10 s) and its directory
 * deleted. Errors name what could not be removed.
 */
int pushreg_drop(struct pushreg *reg, const char *name, struct lerr *err);

#endif
