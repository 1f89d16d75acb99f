/*
 * files.c — the Files API for batch ingestion: POST /v1/files (and the
 * project-scoped path) takes multipart/form-data (multipart.c) and streams
 * each file part straight to a temporary file in DIR/files/ (never holding
 * it in memory; up to 10 GB; gzip files are kept as they are and read
 * transparently by batch jobs). Only a body read whole, closing boundary
 * included, stores its files — all of them or none, never over an existing
 * name (409, as Polaris). GET lists, DELETE removes. The upload bypasses the
 * server's 10 MB body buffer: server.c hands its chunks to api_upload_*() as
 * they arrive.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/multipart.h"

#define UPLOAD_MAX (10ull * 1024 * 1024 * 1024)
#define UPLOAD_FILES_MAX 64

/* A file part being written, or written and waiting for the end of the body. */
struct upload_file {
    char name[256];
    char tmp[1200];
    uint64_t size;
};

/*
 * An upload is all or nothing: each file part goes to a temporary file; only
 * when the whole body has been read (its closing boundary included) are they
 * renamed into place (never over an existing file: 409) and recorded.
 */
struct api_upload {
    struct api_server *srv;
    struct multipart mp;
    bool mp_ready;
    struct lerr err;
    int fd; /* the current file part, or -1 */
    struct upload_file files[UPLOAD_FILES_MAX];
    size_t nfiles;
};

bool api_files_is_upload(const char *method, const char *url)
{
    if (strcmp(method, "POST") != 0)
        return false;
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    return (n >= 6 && memcmp(url + n - 6, "/files", 6) == 0 &&
            (strncmp(url, "/v1/files", 9) == 0 || strncmp(url, "/v1/projects/", 13) == 0));
}

/* File names: 1..255 of [A-Za-z0-9._-], not starting with '.' (so never "." or ".."). */
static int check_name(const char *name, struct lerr *err)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 255 && name[0] != '.' && util_name_is_path_safe(name);
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return lerr_set_at(err, LERR_INVALID, "filename",
                           "file name '%.300s' must be 1 to 255 characters of A-Z, a-z, 0-9, "
                           "'.', '_' and '-', not starting with '.'; rename the file",
                           name);
    return 0;
}

static void file_path(const struct api_upload *u, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/files/%s", u->srv->data_dir, name);
}

/* 409 when a file of that name is stored (on disk or in the catalog) or in this upload. */
static int check_new(struct api_upload *u, const char *name, struct lerr *err)
{
    char path[1300];
    file_path(u, name, path, sizeof path);
    struct catalog_file *f = NULL;
    size_t n = 0;
    struct lerr e;
    lerr_init(&e);
    bool listed = catalog_file_list(u->srv->cat, name, &f, &n, &e) == 0 && n > 0;
    free(f);
    bool twice = false;
    for (size_t i = 0; i < u->nfiles; i++)
        twice = twice || strcmp(u->files[i].name, name) == 0;
    if (listed || access(path, F_OK) == 0 || twice)
        return lerr_set_at(err, LERR_CONFLICT, "filename",
                           "file '%s' %s; delete it first (DELETE /v1/files/%s) or upload it "
                           "under another name",
                           name, twice ? "is twice in this upload" : "already exists", name);
    return 0;
}

static int on_begin(void *ctx, const struct multipart_part *part, struct lerr *err)
{
    struct api_upload *u = ctx;
    if (!part->has_filename)
        return 0; /* plain form fields carry nothing we need */
    if (u->nfiles == UPLOAD_FILES_MAX)
        return lerr_set(err, LERR_INVALID, "an upload takes at most %d files; send several",
                        UPLOAD_FILES_MAX);
    if (check_name(part->filename, err) || check_new(u, part->filename, err))
        return err->code;
    struct upload_file *f = &u->files[u->nfiles];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", part->filename);
    snprintf(f->tmp, sizeof f->tmp, "%s/files/.upload-%d-%p-%zu", u->srv->data_dir, (int)getpid(),
             (void *)u, u->nfiles);
    u->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (u->fd < 0)
        return lerr_set(err, LERR_IO, "cannot create %s: %s", f->tmp, strerror(errno));
    u->nfiles++;
    return 0;
}

static int on_data(void *ctx, const char *data, size_t size, struct lerr *err)
{
    struct api_upload *u = ctx;
    if (u->fd < 0)
        return 0;
    struct upload_file *f = &u->files[u->nfiles - 1];
    if (f->size + size > UPLOAD_MAX)
        return lerr_set(err, LERR_TOO_LARGE, "file '%s' is larger than 10 GB; split it", f->name);
    for (size_t done = 0; done < size;) {
        ssize_t w = write(u->fd, data + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return lerr_set(err, LERR_IO, "cannot write upload '%s': %s", f->name,
                            strerror(errno));
        done += (size_t)w;
    }
    f->size += size;
    return 0;
}

static int on_end(void *ctx, struct lerr *err)
{
    struct api_upload *u = ctx;
    if (u->fd < 0)
        return 0;
    int rc = fsync(u->fd);
    int e = errno;
    close(u->fd);
    u->fd = -1;
    if (rc != 0)
        return lerr_set(err, LERR_IO, "cannot sync upload '%s': %s", u->files[u->nfiles - 1].name,
                        strerror(e));
    return 0;
}

struct api_upload *api_upload_begin(struct api_server *srv, void *conn, struct lerr *err)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/files", srv->data_dir);
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (multipart_boundary(ct, boundary, sizeof boundary, err) || util_mkdirs(dir, 0700, err))
        return NULL;
    struct api_upload *u = calloc(1, sizeof *u);
    if (!u) {
        lerr_set(err, LERR_NOMEM, "out of memory");
        return NULL;
    }
    u->srv = srv;
    u->fd = -1;
    lerr_init(&u->err);
    multipart_init(&u->mp, boundary, &(struct multipart_handler){on_begin, on_data, on_end, u});
    u->mp_ready = true;
    return u;
}

void api_upload_data(struct api_upload *u, const char *data, size_t size)
{
    if (!u->err.code)
        multipart_feed(&u->mp, data, size, &u->err);
}

void api_upload_free(struct api_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    for (size_t i = 0; i < u->nfiles; i++)
        if (u->files[i].tmp[0])
            unlink(u->files[i].tmp);
    if (u->mp_ready)
        multipart_destroy(&u->mp);
    free(u);
}

/* The body was read whole: the files go into place, none over an existing one. */
static int store_files(struct api_upload *u, json_t *done)
{
    size_t placed = 0;
    for (; placed < u->nfiles; placed++) {
        struct upload_file *f = &u->files[placed];
        char path[1300];
        file_path(u, f->name, path, sizeof path);
        if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
            if (errno == EEXIST)
                lerr_set_at(&u->err, LERR_CONFLICT, "filename",
                            "file '%s' already exists; delete it first (DELETE /v1/files/%s) "
                            "or upload it under another name",
                            f->name, f->name);
            else
                lerr_set(&u->err, LERR_IO, "cannot store %s: %s", f->name, strerror(errno));
            break;
        }
        f->tmp[0] = '\0';
    }
    if (!u->err.code) {
        for (size_t i = 0; i < u->nfiles && !u->err.code; i++)
            if (catalog_file_put(u->srv->cat, u->files[i].name, (int64_t)u->files[i].size,
                                 &u->err) == 0)
                json_array_append_new(done, json_pack("{s:s, s:I}", "name", u->files[i].name,
                                                      "size", (json_int_t)u->files[i].size));
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/files", u->srv->data_dir);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd); /* the renames are durable before the 200 */
            close(dfd);
        }
        if (!u->err.code)
            return 0;
    }
    /* Undo: what was placed goes again (all or nothing). */
    for (size_t i = 0; i < placed; i++) {
        char path[1300];
        file_path(u, u->files[i].name, path, sizeof path);
        unlink(path);
        struct lerr e;
        lerr_init(&e);
        catalog_file_delete(u->srv->cat, u->files[i].name, &e);
    }
    return u->err.code;
}

int api_upload_finish(struct api_upload *u, struct api_req *r)
{
    if (!u->err.code)
        multipart_finish(&u->mp, &u->err);
    if (!u->err.code && u->nfiles == 0)
        lerr_set(&u->err, LERR_INVALID,
                 "no file in the upload: send a multipart/form-data part with a filename "
                 "(curl -F 'file=@events.json')");
    json_t *done = json_array();
    if (!u->err.code)
        store_files(u, done);
    if (u->err.code) {
        json_decref(done);
        return api_reply_err(r, &u->err);
    }
    json_t *first = json_array_get(done, 0);
    api_reply(r, 200,
              json_array_size(done) == 1 ? json_incref(first)
                                         : json_pack("{s:O}", "values", done));
    json_decref(done);
    return 0;
}

int api_files_list(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_file *f;
    size_t n;
    if (catalog_file_list(r->srv->cat, NULL, &f, &n, &err))
        return api_reply_err(r, &err);
    json_t *values = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(values, json_pack("{s:s, s:I, s:o}", "name", f[i].name, "size",
                                                (json_int_t)f[i].size, "uploadedTimestamp",
                                                api_ts(f[i].created_ns)));
    free(f);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

int api_files_delete(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    if (check_name(r->seg[1], &err) || catalog_file_delete(r->srv->cat, r->seg[1], &err))
        return api_reply_err(r, &err);
    char path[1300];
    snprintf(path, sizeof path, "%s/files/%s", r->srv->data_dir, r->seg[1]);
    unlink(path);
    api_reply(r, 200, NULL);
    return 0;
}
