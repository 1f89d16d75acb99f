/*
 * test_storage_common.h — helpers shared by the storage unit tests
 * (test_storage*.c): temporary data directories, a catalog stand-in for the
 * commit callback, and whole-view reads.
 */
#ifndef LODESTAR_TEST_STORAGE_COMMON_H
#define LODESTAR_TEST_STORAGE_COMMON_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "storage/storage.h"

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the string. */
static inline char *tst_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(512);
    snprintf(path, 512, "%s/lodestar-storage-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static inline void tst_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            tst_rmtree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Number of regular files in dir. */
static inline int tst_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static inline bool tst_exists(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* The catalog stand-in: the set of committed segment names. */
#define TST_MAX_SEGS 256
struct tst_catalog {
    int fail_next; /* > 0: fail that many commits */
    int calls;
    size_t n;
    char names[TST_MAX_SEGS][96];
    size_t last_added, last_removed;
};

static inline int tst_commit(void *ctx, const struct storage_segment_info *added, size_t nadded,
                             const struct storage_segment_info *removed, size_t nremoved,
                             struct lerr *err)
{
    struct tst_catalog *c = ctx;
    c->calls++;
    if (c->fail_next > 0) {
        c->fail_next--;
        return lerr_set(err, LERR_IO, "test catalog: commit refused on purpose");
    }
    for (size_t i = 0; i < nremoved; i++)
        for (size_t j = 0; j < c->n; j++)
            if (strcmp(c->names[j], removed[i].name) == 0) {
                memmove(c->names[j], c->names[c->n - 1], sizeof c->names[j]);
                c->n--;
                break;
            }
    for (size_t i = 0; i < nadded && c->n < TST_MAX_SEGS; i++)
        snprintf(c->names[c->n++], sizeof c->names[0], "%s", added[i].name);
    c->last_added = nadded;
    c->last_removed = nremoved;
    return 0;
}

/* The catalog's names as the array storage_table_open wants. */
static inline const char **tst_known(struct tst_catalog *c)
{
    static const char *ptrs[TST_MAX_SEGS];
    for (size_t i = 0; i < c->n; i++)
        ptrs[i] = c->names[i];
    return ptrs;
}

static inline uint64_t tst_snapshot_rows(const struct storage_snapshot *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nviews; i++)
        n += storage_view_rows(s->views[i]);
    return n;
}

static inline size_t tst_count_views(const struct storage_snapshot *s, bool realtime)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nviews; i++)
        n += storage_view_is_realtime(s->views[i]) == realtime;
    return n;
}

/* Reads column col of every row of a view (block by block), string bytes
 * copied into mem; NULL on error (reported as a failed check). Caller frees. */
static inline struct sql_value *tst_read_col(const struct storage_view *v, size_t col,
                                             struct arena *mem)
{
    uint64_t n = storage_view_rows(v);
    struct sql_value *out = calloc(n ? n : 1, sizeof *out);
    struct storage_scan *s = storage_scan_new(v);
    struct lerr err;
    lerr_init(&err);
    for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
        uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
        if (storage_scan_values(s, col, r0, m, NULL, out + r0, &err) != 0) {
            CHECK_MSG(0, "scan %s col %zu: %s", storage_view_name(v), col, err.msg);
            free(out);
            out = NULL;
            break;
        }
        for (uint32_t k = 0; k < m; k++) {
            struct sql_value *x = &out[r0 + k];
            if (!x->is_null && (x->type == SQL_STRING || x->type == SQL_JSON))
                x->v.s.p = arena_strndup(mem, x->v.s.p ? x->v.s.p : "", x->v.s.n);
        }
    }
    storage_scan_free(s);
    return out;
}

#endif
