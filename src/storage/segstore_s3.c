/*
 * segstore_s3.c — the segment store over an S3-compatible object store
 * (segstore.h, "the S3 store"), with a bounded local cache.
 *
 * Entry points: segstore_s3_base_new(), segstore_s3_base_ref/unref(),
 * segstore_s3_cache_bytes(), segstore_s3_new().
 *
 * A segment NAME of a table is the object PREFIX/<sub>/NAME; the object is
 * the truth, the file <cache_dir>/NAME a copy. put = close the temp file,
 * hash it, upload it (one PUT or a multipart upload: either way the key
 * appears whole or not at all), then rename the temp to its cached name.
 * A segment is therefore visible (listable, openable by another node)
 * only after its upload finished, and the caller commits it in the catalog
 * after that: the commit rule of a local store holds unchanged.
 *
 * The cache: base->entries, one per cached file (path, bytes, how many
 * maps are open, last use), under base->mu. After every addition the least
 * recently used closed copies are unlinked until the total is within the
 * bound. Downloads go to a temporary file (.tmp-dl-XXXXXX, swept like any
 * temp) renamed into place once its SHA-256 matches the object's.
 */
#include "storage/segstore.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_int.h"
#include "util/s3.h"

#define DEF_CACHE_BYTES (10ull << 30)

struct centry {
    char *path;
    uint64_t bytes;
    int opens;     /* maps open now: never evicted while > 0 */
    uint64_t tick; /* last use */
    bool gone;     /* removed while open: forgotten at the last close */
};

struct segstore_s3_base {
    _Atomic long refs;
    struct s3_client *client;
    char *bucket;
    char *prefix; /* "" or "p/q/" */
    pthread_mutex_t mu;
    struct centry *entries;
    size_t n, cap;
    uint64_t bytes, limit, clock;
};

struct s3store {
    struct segstore head; /* head.where: s3://bucket/prefix/sub/ */
    struct segstore_s3_base *b;
    char *prefix; /* the objects' key prefix: base prefix + sub + "/" */
    char *dir;    /* the cache directory */
    pthread_mutex_t mu;
    struct open_map {
        const void *p;
        char *path;
    } * maps; /* the maps open now, to find a close's cache entry */
    size_t nmaps, capmaps;
};

static int nomem(struct lerr *err) { return lerr_set(err, LERR_NOMEM, "storage: out of memory"); }

static bool is_temp(const char *name)
{
    return strncmp(name, SEGSTORE_TMP_PREFIX, strlen(SEGSTORE_TMP_PREFIX)) == 0;
}

/* ---- the cache ---------------------------------------------------------------- */

static struct centry *cache_find(struct segstore_s3_base *b, const char *path)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->entries[i].path, path) == 0)
            return &b->entries[i];
    return NULL;
}

static void cache_drop(struct segstore_s3_base *b, struct centry *e)
{
    b->bytes -= e->bytes;
    free(e->path);
    *e = b->entries[--b->n];
}

/* Unlinks the least recently used closed copies until within the bound; b->mu held. */
static void cache_evict(struct segstore_s3_base *b)
{
    while (b->bytes > b->limit) {
        struct centry *victim = NULL;
        for (size_t i = 0; i < b->n; i++)
            if (b->entries[i].opens == 0 && (!victim || b->entries[i].tick < victim->tick))
                victim = &b->entries[i];
        if (!victim)
            return; /* everything cached is open */
        if (unlink(victim->path) != 0 && errno != ENOENT)
            log_msg(LOG_WARN, "storage", "segment cache: cannot remove %s: %s", victim->path,
                    strerror(errno));
        cache_drop(b, victim);
    }
}

/* Adds (or refreshes) path with `opens` more maps; b->mu held. False on OOM. */
static bool cache_add(struct segstore_s3_base *b, const char *path, uint64_t bytes, int opens)
{
    struct centry *e = cache_find(b, path);
    if (!e) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64;
            struct centry *p = realloc(b->entries, cap * sizeof *p);
            if (!p)
                return false;
            b->entries = p;
            b->cap = cap;
        }
        char *copy = strdup(path);
        if (!copy)
            return false;
        e = &b->entries[b->n++];
        *e = (struct centry){.path = copy, .bytes = bytes};
        b->bytes += bytes;
    } else if (e->bytes != bytes) {
        b->bytes = b->bytes - e->bytes + bytes;
        e->bytes = bytes;
    }
    e->gone = false;
    e->opens += opens;
    e->tick = ++b->clock;
    cache_evict(b);
    return true;
}

uint64_t segstore_s3_cache_bytes(struct segstore_s3_base *b)
{
    pthread_mutex_lock(&b->mu);
    uint64_t n = b->bytes;
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* ---- helpers -------------------------------------------------------------------- */

static char *path_of(const struct s3store *s, const char *name)
{
    char *p;
    return asprintf(&p, "%s/%s", s->dir, name) < 0 ? NULL : p;
}

static char *key_of(const struct s3store *s, const char *name)
{
    char *p;
    return asprintf(&p, "%s%s", s->prefix, name) < 0 ? NULL : p;
}

/* The SHA-256 of the open file fd (read from its start), as hex. */
static int file_sha256(int fd, const char *path, char out[65], struct lerr *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return nomem(err);
    }
    static __thread unsigned char chunk[1 << 16];
    off_t off = 0;
    for (;;) {
        ssize_t got = pread(fd, chunk, sizeof chunk, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            EVP_MD_CTX_free(md);
            return lerr_set(err, LERR_IO, "storage: reading %s: %s (check the disk)", path,
                            strerror(e));
        }
        if (got == 0)
            break;
        EVP_DigestUpdate(md, chunk, (size_t)got);
        off += got;
    }
    unsigned char h[32];
    unsigned hl = 0;
    EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    return 0;
}

/* ---- the operations ------------------------------------------------------------- */

static int s3_temp_create(struct segstore *ss, const char *name, struct segstore_temp *t,
                          struct lerr *err)
{
    return segstore_temp_file(t, name, ((struct s3store *)ss)->dir, err);
}

static void s3_temp_abort(struct segstore *ss, struct segstore_temp *t)
{
    (void)ss;
    segstore_temp_discard(t);
}

static int s3_put(struct segstore *ss, struct segstore_temp *t, struct lerr *err)
{
    struct s3store *s = (struct s3store *)ss;
    char sha[65];
    char *key = key_of(s, t->name), *path = path_of(s, t->name);
    struct stat st;
    int rc = 0;
    if (!key || !path)
        rc = nomem(err);
    else if (file_sha256(t->fd, t->path, sha, err) || fstat(t->fd, &st) != 0)
        rc = err->code ? err->code
                       : segstore_io_error(err, "stat of segment file", t->path, s->dir, errno);
    if (rc == 0) {
        int fd = t->fd;
        t->fd = -1;
        if (close(fd) != 0)
            rc = segstore_io_error(err, "closing segment file", t->path, s->dir, errno);
    }
    if (rc == 0)
        rc = s3_put_file(s->b->client, s->b->bucket, key, t->path, sha, err);
    if (rc == 0) {
        /* uploaded: the object is the segment; the local file becomes its cached copy */
        if (rename(t->path, path) == 0) {
            pthread_mutex_lock(&s->b->mu);
            if (!cache_add(s->b, path, (uint64_t)st.st_size, 0))
                unlink(path); /* untracked: better no copy than an unbounded one */
            pthread_mutex_unlock(&s->b->mu);
        } else {
            log_msg(LOG_WARN, "storage", "segment cache: cannot keep %s: %s", path,
                    strerror(errno));
        }
    }
    free(key);
    free(path);
    s3_temp_abort(ss, t);
    return rc;
}

static int map_file(struct s3store *s, const char *name, const char *path,
                    struct segstore_map *out, struct lerr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lerr_set(err, e == ENOENT ? LERR_NOT_FOUND : LERR_IO,
                        "segment %s: cannot open the cached copy %s: %s", name, path, strerror(e));
    }
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
    (void)s;
    return 0;
}

/* Downloads NAME into its cached copy, checking its SHA-256. */
static int download(struct s3store *s, const char *name, const char *key, const char *path,
                    struct lerr *err)
{
    char *tmp;
    if (asprintf(&tmp, "%s/%sdl-XXXXXX", s->dir, SEGSTORE_TMP_PREFIX) < 0)
        return nomem(err);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int rc = segstore_io_error(err, "cannot create a download file", tmp, s->dir, errno);
        free(tmp);
        return rc;
    }
    struct s3_object_info info;
    char sha[65];
    int rc = s3_get_file(s->b->client, s->b->bucket, key, fd, &info, err);
    if (rc == LERR_NOT_FOUND) {
        lerr_init(err);
        rc = lerr_set(err, LERR_NOT_FOUND, "segment %s: s3://%s/%s does not exist", name,
                      s->b->bucket, key);
    }
    if (rc == 0)
        rc = file_sha256(fd, tmp, sha, err);
    if (rc == 0 && info.sha256[0] && strcmp(sha, info.sha256) != 0)
        rc = lerr_set(err, LERR_CORRUPT,
                      "s3://%s/%s is damaged in the store (checksum mismatch: its bytes' SHA-256 "
                      "%.12s... is not the %.12s... recorded at its upload); restore the object "
                      "from a backup, or drop the segment",
                      s->b->bucket, key, sha, info.sha256);
    if (rc == 0 && !info.sha256[0])
        log_msg(LOG_WARN, "storage",
                "segment %s: s3://%s/%s has no x-amz-meta-sha256: not checked", name, s->b->bucket,
                key);
    if (rc == 0 && fsync(fd) != 0)
        rc = segstore_io_error(err, "fsync of segment file", tmp, s->dir, errno);
    if (close(fd) != 0 && rc == 0)
        rc = segstore_io_error(err, "closing segment file", tmp, s->dir, errno);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = segstore_io_error(err, "renaming segment file", tmp, s->dir, errno);
    if (rc)
        unlink(tmp); /* the bad or partial copy */
    free(tmp);
    return rc;
}

static int s3_open(struct segstore *ss, const char *name, struct segstore_map *out,
                   struct lerr *err)
{
    struct s3store *s = (struct s3store *)ss;
    *out = (struct segstore_map){0};
    char *path = path_of(s, name), *key = key_of(s, name);
    int rc = 0;
    if (!path || !key) {
        rc = nomem(err);
        goto out;
    }
    /* take the copy (counted open: never evicted now), or download one */
    struct stat st;
    bool have = false;
    pthread_mutex_lock(&s->b->mu);
    struct centry *e = cache_find(s->b, path);
    if (e && !e->gone && e->opens == 0 && stat(path, &st) != 0) {
        cache_drop(s->b, e); /* the copy was deleted under us: download again */
        e = NULL;
    }
    if (e && !e->gone) {
        e->opens++;
        e->tick = ++s->b->clock;
        have = true;
    } else if (!e && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        /* a copy left by an earlier run: adopt it */
        have = cache_add(s->b, path, (uint64_t)st.st_size, 1);
    }
    pthread_mutex_unlock(&s->b->mu);
    if (!have) {
        rc = download(s, name, key, path, err);
        if (rc)
            goto out;
        if (stat(path, &st) != 0) {
            rc = segstore_io_error(err, "stat of segment file", path, s->dir, errno);
            goto out;
        }
        pthread_mutex_lock(&s->b->mu);
        have = cache_add(s->b, path, (uint64_t)st.st_size, 1);
        pthread_mutex_unlock(&s->b->mu);
        if (!have) {
            rc = nomem(err);
            goto out;
        }
    }
    rc = map_file(s, name, path, out, err);
    if (rc == 0 && out->p) {
        pthread_mutex_lock(&s->mu);
        if (s->nmaps == s->capmaps) {
            size_t cap = s->capmaps ? s->capmaps * 2 : 16;
            struct open_map *p = realloc(s->maps, cap * sizeof *p);
            if (p) {
                s->maps = p;
                s->capmaps = cap;
            }
        }
        if (s->nmaps < s->capmaps) {
            s->maps[s->nmaps++] = (struct open_map){out->p, path};
            path = NULL; /* owned by the map list */
        } else {
            munmap((void *)out->p, out->n);
            *out = (struct segstore_map){0};
            rc = nomem(err);
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (rc || !out->p) { /* nothing stays open: give the count back */
        pthread_mutex_lock(&s->b->mu);
        struct centry *ce = path ? cache_find(s->b, path) : NULL;
        if (ce && ce->opens > 0)
            ce->opens--;
        pthread_mutex_unlock(&s->b->mu);
    }
out:
    free(path);
    free(key);
    return rc;
}

static void s3_close(struct segstore *ss, struct segstore_map *m)
{
    struct s3store *s = (struct s3store *)ss;
    if (!m->p)
        return;
    char *path = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nmaps; i++)
        if (s->maps[i].p == m->p) {
            path = s->maps[i].path;
            s->maps[i] = s->maps[--s->nmaps];
            break;
        }
    pthread_mutex_unlock(&s->mu);
    munmap((void *)m->p, m->n);
    *m = (struct segstore_map){0};
    if (!path)
        return;
    pthread_mutex_lock(&s->b->mu);
    struct centry *e = cache_find(s->b, path);
    if (e && e->opens > 0 && --e->opens == 0) {
        if (e->gone)
            cache_drop(s->b, e);
        else
            cache_evict(s->b);
    }
    pthread_mutex_unlock(&s->b->mu);
    free(path);
}

static int s3_remove(struct segstore *ss, const char *name, struct lerr *err)
{
    struct s3store *s = (struct s3store *)ss;
    char *path = path_of(s, name), *key = key_of(s, name);
    int rc = !path || !key ? nomem(err) : s3_delete(s->b->client, s->b->bucket, key, err);
    if (rc == 0) {
        pthread_mutex_lock(&s->b->mu);
        unlink(path);
        struct centry *e = cache_find(s->b, path);
        if (e && e->opens > 0)
            e->gone = true; /* its bytes stay in use until the last map closes */
        else if (e)
            cache_drop(s->b, e);
        pthread_mutex_unlock(&s->b->mu);
    }
    free(path);
    free(key);
    return rc;
}

static int s3_sync(struct segstore *ss, struct lerr *err)
{
    (void)ss;
    (void)err;
    return 0; /* an acknowledged DELETE is durable */
}

struct list_ctx {
    struct s3store *s;
    segstore_name_fn fn;
    void *ctx;
};

static int list_one(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    (void)size, (void)modified_ms;
    struct list_ctx *l = ctx;
    size_t pl = strlen(l->s->prefix);
    if (strncmp(key, l->s->prefix, pl) != 0)
        return 0;
    const char *name = key + pl;
    if (!name[0] || strchr(name, '/') || is_temp(name))
        return 0;
    return l->fn(l->ctx, name);
}

static int s3_list_names(struct segstore *ss, segstore_name_fn fn, void *ctx, struct lerr *err)
{
    struct s3store *s = (struct s3store *)ss;
    struct list_ctx l = {s, fn, ctx};
    return s3_list(s->b->client, s->b->bucket, s->prefix, list_one, &l, err);
}

/* Temporary files of the cache directory (uploads and downloads never finished). */
static int s3_remove_temps(struct segstore *ss, size_t *n, struct lerr *err)
{
    struct s3store *s = (struct s3store *)ss;
    struct segstore *local;
    if (segstore_local_new(s->dir, &local, err))
        return err->code;
    int rc = segstore_remove_temps(local, n, err);
    segstore_unref(local);
    return rc;
}

static void s3_destroy(struct segstore *ss)
{
    struct s3store *s = (struct s3store *)ss;
    for (size_t i = 0; i < s->nmaps; i++)
        free(s->maps[i].path);
    free(s->maps);
    pthread_mutex_destroy(&s->mu);
    segstore_s3_base_unref(s->b);
    free(s->prefix);
    free(s->dir);
    free(s->head.where);
    free(s);
}

static const struct segstore_ops s3_ops = {
    .kind = "s3",
    .temp_create = s3_temp_create,
    .put = s3_put,
    .temp_abort = s3_temp_abort,
    .open = s3_open,
    .close = s3_close,
    .remove = s3_remove,
    .sync = s3_sync,
    .list = s3_list_names,
    .remove_temps = s3_remove_temps,
    .destroy = s3_destroy,
};

int segstore_s3_new(struct segstore_s3_base *b, const char *sub, const char *cache_dir,
                    struct segstore **out, struct lerr *err)
{
    *out = NULL;
    struct s3store *s = calloc(1, sizeof *s);
    if (!s)
        return nomem(err);
    if (asprintf(&s->prefix, "%s%s/", b->prefix, sub) < 0 || !(s->dir = strdup(cache_dir)) ||
        asprintf(&s->head.where, "s3://%s/%s", b->bucket, s->prefix) < 0) {
        free(s->prefix);
        free(s->dir);
        free(s);
        return nomem(err);
    }
    s->head.ops = &s3_ops;
    atomic_init(&s->head.refs, 1);
    pthread_mutex_init(&s->mu, NULL);
    atomic_fetch_add(&b->refs, 1);
    s->b = b;
    *out = &s->head;
    return 0;
}

/* ---- the orphan sweep ------------------------------------------------------------ */

struct sweep_obj {
    char *key;
    uint64_t size;
};

struct sweep_list {
    struct segstore_s3_base *b;
    int64_t cutoff_ms;
    struct sweep_obj *v;
    size_t n, cap;
};

static int sweep_one(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    struct sweep_list *l = ctx;
    size_t pl = strlen(l->b->prefix), kl = strlen(key), sl = strlen(ST_FILE_SUFFIX);
    const char *rest = key + pl, *slash = strchr(rest, '/');
    if (strncmp(key, l->b->prefix, pl) != 0 || !slash || slash == rest || strchr(slash + 1, '/') ||
        is_temp(slash + 1) || kl < pl + sl || strcmp(key + kl - sl, ST_FILE_SUFFIX) != 0)
        return 0; /* not a segment of ours */
    if (modified_ms < 0 || modified_ms >= l->cutoff_ms)
        return 0; /* too young to be looked at */
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct sweep_obj *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n].key = strdup(key)))
        return -1;
    l->v[l->n++].size = size;
    return 0;
}

int segstore_s3_sweep(struct segstore_s3_base *b, int64_t cutoff_ms, segstore_known_fn known,
                      void *ctx, size_t *deleted, uint64_t *bytes, struct lerr *err)
{
    *deleted = 0;
    *bytes = 0;
    struct sweep_list l = {.b = b, .cutoff_ms = cutoff_ms};
    int rc = s3_list(b->client, b->bucket, b->prefix, sweep_one, &l, err);
    if (rc == -1)
        rc = nomem(err);
    size_t pl = strlen(b->prefix);
    for (size_t i = 0; !rc && i < l.n; i++) {
        char *key = l.v[i].key, *slash = strchr(key + pl, '/');
        *slash = '\0';
        bool keep = known(ctx, key + pl, slash + 1);
        *slash = '/';
        if (keep)
            continue;
        struct lerr e;
        lerr_init(&e);
        if (s3_delete(b->client, b->bucket, key, &e) == 0) {
            ++*deleted;
            *bytes += l.v[i].size;
            log_msg(LOG_INFO, "storage", "orphan sweep: deleted s3://%s/%s (%llu bytes)",
                    b->bucket, key, (unsigned long long)l.v[i].size);
        } else {
            log_msg(LOG_WARN, "storage", "orphan sweep: cannot delete s3://%s/%s: %s", b->bucket,
                    key, e.msg);
        }
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].key);
    free(l.v);
    return rc;
}

void segstore_s3_where(const struct segstore_s3_base *b, char *out, size_t cap)
{
    snprintf(out, cap, "s3://%s/%s", b->bucket, b->prefix);
}

/* ---- the shared base ------------------------------------------------------------ */

static int stop_at_first(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    (void)ctx;
    (void)key;
    (void)size;
    (void)modified_ms;
    return 1;
}

int segstore_s3_base_new(const struct segstore_s3_opts *o, struct segstore_s3_base **out,
                         struct lerr *err)
{
    *out = NULL;
    const char *url = o->url;
    if (strncmp(url, "s3://", 5) != 0)
        return lerr_set(err, LERR_INVALID,
                        "--segments '%s': not an s3:// URL (write s3://BUCKET/PREFIX)", url);
    const char *bs = url + 5, *slash = strchr(bs, '/');
    size_t bl = slash ? (size_t)(slash - bs) : strlen(bs);
    if (bl < 3 || bl > 63)
        return lerr_set(err, LERR_INVALID,
                        "--segments '%s': the bucket name must be 3 to 63 characters "
                        "(write s3://BUCKET/PREFIX)",
                        url);
    for (size_t i = 0; i < bl; i++) {
        char ch = bs[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return lerr_set(err, LERR_INVALID,
                            "--segments '%s': bucket names hold only a-z, 0-9, '-' and '.' "
                            "(found '%c' at character %zu)",
                            url, ch, 6 + i);
    }
    struct segstore_s3_base *b = calloc(1, sizeof *b);
    if (!b)
        return nomem(err);
    atomic_init(&b->refs, 1);
    pthread_mutex_init(&b->mu, NULL);
    b->limit = o->cache_bytes ? o->cache_bytes : DEF_CACHE_BYTES;
    /* the prefix without leading or doubled slashes, ending in '/' unless empty */
    const char *p = slash ? slash : "";
    while (*p == '/')
        p++;
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/')
        pl--;
    if (!(b->bucket = strndup(bs, bl)) ||
        asprintf(&b->prefix, "%.*s%s", (int)pl, p, pl ? "/" : "") < 0) {
        b->prefix = NULL;
        segstore_s3_base_unref(b);
        return nomem(err);
    }
    struct s3_config cfg = {
        .endpoint = o->endpoint && o->endpoint[0] ? o->endpoint : NULL,
        .multipart_threshold = o->multipart_threshold,
        .part_size = o->part_size,
        .max_attempts = o->max_attempts,
        .backoff_ms = o->backoff_ms,
    };
    s3_config_from_env(&cfg);
    if (s3_client_new(&cfg, &b->client, err)) {
        segstore_s3_base_unref(b);
        return err->code;
    }
    /* the bucket must answer now, not at the first persist */
    int rc = s3_list(b->client, b->bucket, b->prefix, stop_at_first, NULL, err);
    if (rc != 0 && rc != 1) {
        segstore_s3_base_unref(b);
        return rc;
    }
    lerr_init(err);
    *out = b;
    return 0;
}

struct segstore_s3_base *segstore_s3_base_ref(struct segstore_s3_base *b)
{
    atomic_fetch_add(&b->refs, 1);
    return b;
}

void segstore_s3_base_unref(struct segstore_s3_base *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    s3_client_free(b->client);
    for (size_t i = 0; i < b->n; i++)
        free(b->entries[i].path);
    free(b->entries);
    pthread_mutex_destroy(&b->mu);
    free(b->bucket);
    free(b->prefix);
    free(b);
}
