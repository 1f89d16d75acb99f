/*
 * pushreg.c — the registry of open push logs (pushreg.h): a list of
 * {name, log, references}, guarded by one mutex that is held while a log
 * opens (so it opens once) and never across other I/O.
 */
#include "source/pushreg.h"
#include "source/source_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct push_entry {
    struct push_entry *next;
    char name[80];
    struct source_pushlog *log;
    int64_t last_trim_ms;
    int refs; /* the registry's own (while listed) + one per user */
};

struct pushreg {
    char dir[1024];
    size_t segment_bytes;
    pthread_mutex_t mu;
    struct push_entry *list; /* listed entries */
    struct push_entry *gone; /* dropped entries still in use */
};

int pushreg_open(const char *dir, size_t segment_bytes, struct pushreg **out, struct lerr *err)
{
    struct pushreg *reg = calloc(1, sizeof *reg);
    if (!reg)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    snprintf(reg->dir, sizeof reg->dir, "%s/push", dir);
    reg->segment_bytes = segment_bytes;
    pthread_mutex_init(&reg->mu, NULL);
    *out = reg;
    return 0;
}

void pushreg_close(struct pushreg *reg)
{
    if (!reg)
        return;
    while (reg->list) {
        struct push_entry *p = reg->list;
        reg->list = p->next;
        source_pushlog_close(p->log);
        free(p);
    }
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

/* The entry of `name`, opening its log on first use; a reference taken. Under reg->mu. */
static struct push_entry *entry_get(struct pushreg *reg, const char *name, struct lerr *err)
{
    struct push_entry *p = reg->list;
    while (p && strcmp(p->name, name) != 0)
        p = p->next;
    if (!p) {
        p = calloc(1, sizeof *p);
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s", reg->dir, name);
        if (!p) {
            lerr_set(err, LERR_NOMEM, "out of memory");
        } else if (util_mkdirs(dir, 0700, err) ||
                   source_pushlog_open(
                       dir, &(struct source_pushlog_opts){.segment_bytes = reg->segment_bytes},
                       &p->log, err)) {
            free(p);
            p = NULL;
        } else {
            snprintf(p->name, sizeof p->name, "%s", name);
            p->refs = 1;
            p->next = reg->list;
            reg->list = p;
        }
    }
    if (p)
        p->refs++;
    return p;
}

struct source_pushlog *pushreg_get(struct pushreg *reg, const char *name, struct lerr *err)
{
    if (!util_name_is_path_safe(name)) {
        lerr_set(err, LERR_INVALID, "connection name '%s' cannot name a push log directory", name);
        return NULL;
    }
    pthread_mutex_lock(&reg->mu);
    struct push_entry *p = entry_get(reg, name, err);
    pthread_mutex_unlock(&reg->mu);
    return p ? p->log : NULL;
}

/* Drops a reference to entry p; closes it when that was the last. */
static void entry_put(struct pushreg *reg, struct push_entry *p)
{
    pthread_mutex_lock(&reg->mu);
    bool last = --p->refs == 0;
    if (last) {
        for (struct push_entry **pp = &reg->gone; *pp; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&reg->mu);
    if (last) {
        source_pushlog_close(p->log);
        free(p);
    }
}

void pushreg_put(struct pushreg *reg, struct source_pushlog *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&reg->mu);
    struct push_entry *p = reg->list;
    while (p && p->log != log)
        p = p->next;
    if (!p)
        for (p = reg->gone; p && p->log != log; p = p->next) {
        }
    pthread_mutex_unlock(&reg->mu);
    if (p)
        entry_put(reg, p);
}

int pushreg_append(struct pushreg *reg, const char *name, const struct source_pushlog_entry *e,
                   size_t n, int64_t *first, struct lerr *err)
{
    struct source_pushlog *log = pushreg_get(reg, name, err);
    if (!log)
        return err->code;
    int rc = source_pushlog_append(log, e, n, first, err);
    pushreg_put(reg, log);
    return rc;
}

static void release_log(void *reg, struct source_pushlog *log) { pushreg_put(reg, log); }

struct source *pushreg_source(struct pushreg *reg, const char *name, struct lerr *err)
{
    struct source_pushlog *log = pushreg_get(reg, name, err);
    if (!log)
        return NULL;
    struct source *src = source__open_push_held(log, name, release_log, reg, err);
    if (!src)
        pushreg_put(reg, log);
    return src;
}

bool pushreg_trim_due(struct pushreg *reg, const char *name, int period_ms)
{
    struct lerr err;
    lerr_init(&err);
    if (!util_name_is_path_safe(name))
        return false;
    pthread_mutex_lock(&reg->mu);
    struct push_entry *p = entry_get(reg, name, &err);
    int64_t now = util_now_ms();
    bool due = p && now - p->last_trim_ms >= period_ms;
    if (due)
        p->last_trim_ms = now;
    pthread_mutex_unlock(&reg->mu);
    if (p)
        entry_put(reg, p);
    return due;
}

void pushreg_wakeup_all(struct pushreg *reg)
{
    pthread_mutex_lock(&reg->mu);
    for (struct push_entry *p = reg->list; p; p = p->next)
        source_pushlog_wakeup(p->log);
    pthread_mutex_unlock(&reg->mu);
}

int pushreg_drop(struct pushreg *reg, const char *name, struct lerr *err)
{
    if (!util_name_is_path_safe(name))
        return 0; /* never had a log directory */
    pthread_mutex_lock(&reg->mu);
    struct push_entry **pp = &reg->list, *p = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            p = *pp;
            *pp = p->next;
            p->next = reg->gone;
            reg->gone = p;
            break;
        }
    }
    pthread_mutex_unlock(&reg->mu);
    if (p) {
        /* Appends and previews finish quickly; no job reads a deleted connection (the
         * catalog refuses to delete one a live job uses). Wait for them, then close. */
        for (int waited = 0; waited < 10000; waited += 10) {
            pthread_mutex_lock(&reg->mu);
            bool alone = p->refs == 1;
            pthread_mutex_unlock(&reg->mu);
            if (alone)
                break;
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        entry_put(reg, p);
    }
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", reg->dir, name);
    struct lerr e;
    lerr_init(&e);
    if (util_remove_tree(dir, &e)) {
        log_msg(LOG_WARN, "ingest", "push connection '%s': %s", name, e.msg);
        return lerr_set(err, e.code, "%s", e.msg);
    }
    return 0;
}
