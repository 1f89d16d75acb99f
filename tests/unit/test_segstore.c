/*
 * test_segstore.c — the local segment store (storage/segstore.h): put,
 * open, remove, list; a put that fails at any step (the ENOSPC shim,
 * compiled in: create, write, fsync, close, rename, directory fsync)
 * leaves no visible segment and no temporary file; list never shows
 * temporary files (nor directories), and remove_temps removes exactly them.
 */
#include "../enospc/enospc.c"

#include <dirent.h>
#include <sys/stat.h>

#include "check.h"
#include "storage/segstore.h"

static char dir[] = "/tmp/lodestar-segstore-XXXXXX";

/* Every entry of the directory but . and .., as "a,b,c" sorted. */
static void dir_entries(char *out, size_t cap)
{
    char names[32][256];
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && n < 32) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            snprintf(names[n++], sizeof names[0], "%s", de->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", names[i]);
}

struct listed {
    char text[1024];
    char names[32][256];
    size_t n;
};

static int add_listed(void *ctx, const char *name)
{
    struct listed *l = ctx;
    if (l->n < 32)
        snprintf(l->names[l->n++], sizeof l->names[0], "%s", name);
    return 0;
}

/* segstore_list as "a,b,c" sorted. */
static const char *listed(struct segstore *s, struct listed *l)
{
    struct lerr e;
    lerr_init(&e);
    l->n = 0;
    CHECK_EQ_INT(segstore_list(s, add_listed, l, &e), 0);
    qsort(l->names, l->n, sizeof l->names[0], (int (*)(const void *, const void *))strcmp);
    l->text[0] = '\0';
    for (size_t i = 0; i < l->n; i++)
        snprintf(l->text + strlen(l->text), sizeof l->text - strlen(l->text), "%s%s", i ? "," : "",
                 l->names[i]);
    return l->text;
}

/* Writes `bytes` into a new temp of `name` and puts it; the put's result. */
static int put_bytes(struct segstore *s, const char *name, const char *bytes, struct lerr *e)
{
    struct segstore_temp t;
    if (segstore_temp_create(s, name, &t, e))
        return e->code;
    size_t n = strlen(bytes), done = 0;
    while (done < n) { /* as the segment writer: go on after a short write */
        ssize_t w = write(t.fd, bytes + done, n - done);
        if (w <= 0) {
            segstore_io_error(e, "writing segment file", t.path, t.where, w < 0 ? errno : ENOSPC);
            segstore_temp_abort(s, &t);
            return e->code;
        }
        done += (size_t)w;
    }
    return segstore_put(s, &t, e);
}

static void test_put_open_remove_list(void)
{
    struct segstore *s = NULL;
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(segstore_local_new(dir, &s, &e), 0);
    struct listed l;
    CHECK_EQ_STR(listed(s, &l), "");
    CHECK_EQ_INT(put_bytes(s, "a.lseg", "hello segment", &e), 0);
    CHECK_EQ_INT(put_bytes(s, "b.lseg", "", &e), 0);
    CHECK_EQ_STR(listed(s, &l), "a.lseg,b.lseg");

    struct segstore_map m;
    CHECK_EQ_INT(segstore_open(s, "a.lseg", &m, &e), 0);
    CHECK_EQ_INT(m.n, 13);
    CHECK(m.p && memcmp(m.p, "hello segment", 13) == 0);
    segstore_close(s, &m);
    CHECK(m.p == NULL && m.n == 0);
    CHECK_EQ_INT(segstore_open(s, "b.lseg", &m, &e), 0); /* empty: no bytes, no error */
    CHECK(m.p == NULL && m.n == 0);
    segstore_close(s, &m);

    /* a reader's mapping outlives the name's removal */
    CHECK_EQ_INT(segstore_open(s, "a.lseg", &m, &e), 0);
    CHECK_EQ_INT(segstore_remove(s, "a.lseg", &e), 0);
    CHECK_EQ_INT(segstore_sync(s, &e), 0);
    CHECK(memcmp(m.p, "hello segment", 13) == 0);
    segstore_close(s, &m);
    CHECK_EQ_STR(listed(s, &l), "b.lseg");
    CHECK_EQ_INT(segstore_open(s, "a.lseg", &m, &e), LERR_NOT_FOUND);
    CHECK_MSG(strstr(e.msg, "a.lseg") != NULL, "message: %s", e.msg);
    lerr_init(&e);
    CHECK_EQ_INT(segstore_remove(s, "a.lseg", &e), LERR_NOT_FOUND);
    lerr_init(&e);

    /* a second store (another writer) sees what the first put, at once */
    struct segstore *s2 = NULL;
    CHECK_EQ_INT(segstore_local_new(dir, &s2, &e), 0);
    CHECK_EQ_INT(put_bytes(s2, "c.lseg", "from the other writer", &e), 0);
    CHECK_EQ_STR(listed(s, &l), "b.lseg,c.lseg");
    segstore_unref(s2);

    /* a reference keeps the store alive after its creator lets go */
    struct segstore *r = segstore_ref(s);
    segstore_unref(s);
    CHECK_EQ_INT(segstore_remove(r, "b.lseg", &e), 0);
    CHECK_EQ_INT(segstore_remove(r, "c.lseg", &e), 0);
    CHECK_EQ_STR(listed(r, &l), "");
    segstore_unref(r);
    char ents[1024];
    dir_entries(ents, sizeof ents);
    CHECK_EQ_STR(ents, "");
}

static void test_failed_put_leaves_nothing(void)
{
    static const char *const plans[] = {"open",  "full",   "bytes=5", "fsync",
                                        "close", "rename", "dirfsync"};
    struct segstore *s = NULL;
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(segstore_local_new(dir, &s, &e), 0);
    CHECK_EQ_INT(put_bytes(s, "kept.lseg", "an earlier segment", &e), 0);
    for (size_t i = 0; i < LS_ARRAY_LEN(plans); i++) {
        lerr_init(&e);
        long f0 = enospc_failures();
        enospc_set(dir, plans[i]);
        int rc = put_bytes(s, "new.lseg", "the bytes of a segment being written", &e);
        enospc_set(dir, "");
        CHECK_MSG(enospc_failures() > f0, "%s: the shim failed nothing", plans[i]);
        CHECK_MSG(rc == LERR_IO, "%s: put returned %d (%s)", plans[i], rc, e.msg);
        CHECK_MSG(strstr(e.msg, dir) != NULL, "%s: the message names no directory: %s", plans[i],
                  e.msg);
        struct listed l;
        CHECK_EQ_STR(listed(s, &l), "kept.lseg");
        struct segstore_map m;
        struct lerr e2;
        lerr_init(&e2);
        CHECK_EQ_INT(segstore_open(s, "new.lseg", &m, &e2), LERR_NOT_FOUND);
        char ents[1024];
        dir_entries(ents, sizeof ents); /* no temp file either */
        CHECK_MSG(strcmp(ents, "kept.lseg") == 0, "%s: left %s", plans[i], ents);
    }
    /* space is back: the same put succeeds */
    lerr_init(&e);
    CHECK_EQ_INT(put_bytes(s, "new.lseg", "the bytes", &e), 0);
    struct listed l;
    CHECK_EQ_STR(listed(s, &l), "kept.lseg,new.lseg");
    segstore_remove(s, "kept.lseg", &e);
    segstore_remove(s, "new.lseg", &e);
    segstore_unref(s);
}

static void test_list_ignores_temps(void)
{
    struct segstore *s = NULL;
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(segstore_local_new(dir, &s, &e), 0);
    CHECK_EQ_INT(put_bytes(s, "x.lseg", "x", &e), 0);
    /* a write under way, one left by a crash, and a directory */
    struct segstore_temp t;
    CHECK_EQ_INT(segstore_temp_create(s, "y.lseg", &t, &e), 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/%sz.lseg", dir, SEGSTORE_TMP_PREFIX);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(p, sizeof p, "%s/sub", dir);
    CHECK_EQ_INT(mkdir(p, 0755), 0);
    struct listed l;
    CHECK_EQ_STR(listed(s, &l), "x.lseg");
    struct segstore_map m;
    CHECK_EQ_INT(segstore_open(s, ".tmp-z.lseg", &m, &e) == 0 ? 0 : 1, 0); /* a name, not listed */
    segstore_close(s, &m);
    size_t n = 0;
    CHECK_EQ_INT(segstore_remove_temps(s, &n, &e), 0);
    CHECK_EQ_INT(n, 2);
    char ents[1024];
    dir_entries(ents, sizeof ents);
    CHECK_EQ_STR(ents, "sub,x.lseg");
    segstore_temp_abort(s, &t); /* its file is already gone: abort must not fail */
    CHECK_EQ_STR(listed(s, &l), "x.lseg");
    rmdir(p);
    segstore_remove(s, "x.lseg", &e);
    segstore_unref(s);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_put_open_remove_list();
    test_failed_put_leaves_nothing();
    test_list_ignores_temps();
    rmdir(dir);
    return check_summary();
}
