/*
 * segstore.c — the segment-store dispatch (segstore.h) and the local
 * directory store: today's files, byte for byte.
 *
 * Entry points: segstore_local_new(), segstore_scratch_new() and the
 * segstore_*() dispatchers.
 *
 * Local store: a segment is a file <dir>/<name>. put = fsync the
 * temporary file <dir>/.tmp-<name>, close it (network filesystems report
 * late write errors there), rename it to <dir>/<name>, fsync the directory;
 * a name therefore either does not exist or names a complete file. A
 * directory fsync that fails takes the name back (it may or may not be
 * durable; the caller retries). open maps the file read-only. list reads
 * the directory each time (another writer may have changed it) and gives
 * regular files only, never temporary ones.
 */
#include "storage/segstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int segstore_io_error(struct lerr *err, const char *what, const char *path, const char *dir, int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return lerr_set(err, LERR_IO, "storage: %s %s: %s (free space on the disk that holds %s)",
                        what, path, strerror(e), dir);
    return lerr_set(err, LERR_IO, "storage: %s %s: %s (check the disk that holds %s)", what, path,
                    strerror(e), dir);
}

/* ---- dispatch -------------------------------------------------------------- */

struct segstore *segstore_ref(struct segstore *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void segstore_unref(struct segstore *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    s->ops->destroy(s);
}

int segstore_temp_create(struct segstore *s, const char *name, struct segstore_temp *t,
                         struct lerr *err)
{
    return s->ops->temp_create(s, name, t, err);
}

int segstore_put(struct segstore *s, struct segstore_temp *t, struct lerr *err)
{
    return s->ops->put(s, t, err);
}

void segstore_temp_abort(struct segstore *s, struct segstore_temp *t) { s->ops->temp_abort(s, t); }

int segstore_open(struct segstore *s, const char *name, struct segstore_map *out, struct lerr *err)
{
    return s->ops->open(s, name, out, err);
}

void segstore_close(struct segstore *s, struct segstore_map *m) { s->ops->close(s, m); }

int segstore_remove(struct segstore *s, const char *name, struct lerr *err)
{
    return s->ops->remove(s, name, err);
}

int segstore_sync(struct segstore *s, struct lerr *err) { return s->ops->sync(s, err); }

int segstore_list(struct segstore *s, segstore_name_fn fn, void *ctx, struct lerr *err)
{
    return s->ops->list(s, fn, ctx, err);
}

int segstore_remove_temps(struct segstore *s, size_t *n, struct lerr *err)
{
    return s->ops->remove_temps(s, n, err);
}

/* ---- the local directory ----------------------------------------------------- */

/* <dir>/<prefix><name>, or (dir "") <prefix><name>; NULL when out of memory. */
static char *local_path(const struct segstore *s, const char *prefix, const char *name)
{
    char *p;
    size_t n = strlen(s->where);
    const char *sep = n && s->where[n - 1] != '/' ? "/" : "";
    if (asprintf(&p, "%s%s%s%s", s->where, sep, prefix, name) < 0)
        return NULL;
    return p;
}

static bool is_temp(const char *name)
{
    return strncmp(name, SEGSTORE_TMP_PREFIX, strlen(SEGSTORE_TMP_PREFIX)) == 0;
}

static int fsync_dir(const char *dir, struct lerr *err)
{
    int fd = open(dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return segstore_io_error(err, "fsync of directory", dir, dir, e);
    }
    close(fd);
    return 0;
}

static void temp_free(struct segstore_temp *t)
{
    free(t->name);
    free(t->path);
    t->name = t->path = NULL;
    t->fd = -1;
}

int segstore_temp_file(struct segstore_temp *t, const char *name, const char *dir,
                       struct lerr *err)
{
    *t = (struct segstore_temp){.fd = -1, .where = dir};
    size_t n = strlen(dir);
    const char *sep = n && dir[n - 1] != '/' ? "/" : "";
    t->name = strdup(name);
    if (!t->name || asprintf(&t->path, "%s%s%s%s", dir, sep, SEGSTORE_TMP_PREFIX, name) < 0) {
        t->path = NULL;
        temp_free(t);
        return lerr_set(err, LERR_NOMEM, "storage: out of memory writing a segment");
    }
    t->fd = open(t->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (t->fd < 0) {
        segstore_io_error(err, "cannot create segment file", t->path, dir, errno);
        temp_free(t);
        return err->code;
    }
    return 0;
}

void segstore_temp_discard(struct segstore_temp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->path)
        unlink(t->path);
    temp_free(t);
}

static int local_temp_create(struct segstore *s, const char *name, struct segstore_temp *t,
                             struct lerr *err)
{
    return segstore_temp_file(t, name, s->where, err);
}

static void local_temp_abort(struct segstore *s, struct segstore_temp *t)
{
    (void)s;
    segstore_temp_discard(t);
}

static int local_put(struct segstore *s, struct segstore_temp *t, struct lerr *err)
{
    char *path = local_path(s, "", t->name);
    if (!path) {
        local_temp_abort(s, t);
        return lerr_set(err, LERR_NOMEM, "storage: out of memory writing a segment");
    }
    if (!s->scratch && fsync(t->fd) != 0) {
        segstore_io_error(err, "fsync of segment file", t->path, s->where, errno);
        goto fail;
    }
    int fd = t->fd;
    t->fd = -1;
    if (close(fd) != 0) { /* network filesystems report late write errors here */
        segstore_io_error(err, "closing segment file", t->path, s->where, errno);
        goto fail;
    }
    if (rename(t->path, path) != 0) {
        segstore_io_error(err, "renaming segment file", t->path, s->where, errno);
        goto fail;
    }
    if (!s->scratch && fsync_dir(s->where, err) != 0) {
        /* the name may or may not be durable: take it back, the caller retries */
        unlink(path);
        goto fail;
    }
    free(path);
    temp_free(t);
    return 0;
fail:
    free(path);
    local_temp_abort(s, t);
    return err->code;
}

static int local_open(struct segstore *s, const char *name, struct segstore_map *out,
                      struct lerr *err)
{
    *out = (struct segstore_map){0};
    char *path = local_path(s, "", name);
    if (!path)
        return lerr_set(err, LERR_NOMEM, "storage: out of memory opening segment %s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        lerr_set(err, e == ENOENT ? LERR_NOT_FOUND : LERR_IO, "segment %s: cannot open %s: %s",
                 name, path, strerror(e));
        free(path);
        return err->code;
    }
    free(path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lerr_set(err, LERR_IO, "segment %s: stat: %s", name, strerror(e));
    }
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return lerr_set(err, LERR_IO, "segment %s: mmap: %s", name, strerror(e));
        }
        out->p = m;
        out->n = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

static void local_close(struct segstore *s, struct segstore_map *m)
{
    (void)s;
    if (m->p)
        munmap((void *)m->p, m->n);
    *m = (struct segstore_map){0};
}

static int local_remove(struct segstore *s, const char *name, struct lerr *err)
{
    char *path = local_path(s, "", name);
    if (!path)
        return lerr_set(err, LERR_NOMEM, "storage: out of memory removing segment %s", name);
    int rc = 0;
    if (unlink(path) != 0) {
        int e = errno;
        rc = e == ENOENT
                 ? lerr_set(err, LERR_NOT_FOUND, "segment %s: %s does not exist", name, path)
                 : segstore_io_error(err, "removing segment file", path, s->where, e);
    }
    free(path);
    return rc;
}

static int local_sync(struct segstore *s, struct lerr *err) { return fsync_dir(s->where, err); }

/*
 * Every regular file of the directory whose name is (temps) or is not
 * (!temps) a temporary one, to fn.
 */
static int local_each(struct segstore *s, bool temps, segstore_name_fn fn, void *ctx,
                      struct lerr *err)
{
    const char *dir = s->where[0] ? s->where : ".";
    DIR *d = opendir(dir);
    if (!d)
        return lerr_set(err, LERR_IO, "storage: cannot read directory %s: %s", dir,
                        strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            is_temp(de->d_name) != temps)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        rc = fn(ctx, de->d_name);
    }
    closedir(d);
    return rc;
}

static int local_list(struct segstore *s, segstore_name_fn fn, void *ctx, struct lerr *err)
{
    return local_each(s, false, fn, ctx, err);
}

struct temp_sweep {
    struct segstore *s;
    size_t n;
};

static int remove_one_temp(void *ctx, const char *name)
{
    struct temp_sweep *w = ctx;
    char *path = local_path(w->s, "", name);
    if (!path)
        return LERR_NOMEM;
    if (unlink(path) == 0) {
        w->n++;
        log_msg(LOG_INFO, "storage", "removed %s: not a committed segment", path);
    } else {
        log_msg(LOG_WARN, "storage", "cannot remove stray file %s: %s", path, strerror(errno));
    }
    free(path);
    return 0;
}

static int local_remove_temps(struct segstore *s, size_t *n, struct lerr *err)
{
    struct temp_sweep w = {s, 0};
    int rc = local_each(s, true, remove_one_temp, &w, err);
    if (rc == LERR_NOMEM && !err->code)
        lerr_set(err, LERR_NOMEM, "storage: out of memory");
    if (n)
        *n = w.n;
    return rc;
}

static void local_destroy(struct segstore *s)
{
    free(s->where);
    free(s);
}

static const struct segstore_ops local_ops = {
    .kind = "local",
    .temp_create = local_temp_create,
    .put = local_put,
    .temp_abort = local_temp_abort,
    .open = local_open,
    .close = local_close,
    .remove = local_remove,
    .sync = local_sync,
    .list = local_list,
    .remove_temps = local_remove_temps,
    .destroy = local_destroy,
};

int segstore_local_new(const char *dir, struct segstore **out, struct lerr *err)
{
    *out = NULL;
    struct segstore *s = calloc(1, sizeof *s);
    if (!s || !(s->where = strdup(dir))) {
        free(s);
        return lerr_set(err, LERR_NOMEM, "storage: out of memory");
    }
    s->ops = &local_ops;
    atomic_init(&s->refs, 1);
    *out = s;
    return 0;
}

int segstore_scratch_new(const char *dir, struct segstore **out, struct lerr *err)
{
    int rc = segstore_local_new(dir, out, err);
    if (!rc)
        (*out)->scratch = true;
    return rc;
}
