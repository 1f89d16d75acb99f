/*
 * files.c — the Files API for batch ingestion: POST /v1/files (and the
 * project-scoped path) takes multipart/form-data and streams each file part
 * straight to DIR/files/ (never holding it in memory; up to 10 GB; gzip
 * files are kept as they are and read transparently by batch jobs), GET
 * lists, DELETE removes. The upload bypasses the server's 10 MB body buffer:
 * server.c hands its chunks to api_upload_*() as they arrive.
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

#define UPLOAD_MAX (10ull * 1024 * 1024 * 1024)

struct api_upload {
    struct api_server *srv;
    struct MHD_PostProcessor *pp;
    struct lerr err;
    int fd;
    char tmp[1200];
    char name[256];
    uint64_t size;
    json_t *done;   /* files finished so far */
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

/* File names: 1..255 of [A-Za-z0-9._-], not starting with '.'. */
static int check_name(const char *name, struct lerr *err)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 255 && name[0] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return lerr_set_at(err, LERR_INVALID, "filename",
                           "file name '%s' must be 1 to 255 characters of A-Z, a-z, 0-9, '.', '_' "
                           "and '-', not starting with '.'; rename the file",
                           name);
    return 0;
}

static int finish_file(struct api_upload *u)
{
    if (u->fd < 0)
        return 0;
    int rc = fsync(u->fd);
    close(u->fd);
    u->fd = -1;
    if (rc != 0)
        return lerr_set(&u->err, LERR_IO, "cannot sync upload: %s", strerror(errno));
    char path[1300];
    snprintf(path, sizeof path, "%s/files/%s", u->srv->data_dir, u->name);
    if (rename(u->tmp, path) != 0)
        return lerr_set(&u->err, LERR_IO, "cannot store %s: %s", u->name, strerror(errno));
    u->tmp[0] = '\0';
    if (catalog_file_put(u->srv->cat, u->name, (int64_t)u->size, &u->err))
        return u->err.code;
    json_array_append_new(u->done, json_pack("{s:s, s:I}", "name", u->name, "size",
                                             (json_int_t)u->size));
    return 0;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    (void)kind;
    (void)key;
    (void)content_type;
    (void)transfer_encoding;
    struct api_upload *u = cls;
    if (u->err.code)
        return MHD_NO;
    if (!filename)
        return MHD_YES;   /* plain form fields carry nothing we need */
    if (off == 0 || strcmp(filename, u->name) != 0) {
        if (finish_file(u) || check_name(filename, &u->err))
            return MHD_NO;
        snprintf(u->name, sizeof u->name, "%s", filename);
        snprintf(u->tmp, sizeof u->tmp, "%s/files/.upload-%d-%p", u->srv->data_dir, (int)getpid(),
                 (void *)u);
        u->fd = open(u->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        u->size = 0;
        if (u->fd < 0) {
            lerr_set(&u->err, LERR_IO, "cannot create %s: %s", u->tmp, strerror(errno));
            return MHD_NO;
        }
    }
    if (u->size + size > UPLOAD_MAX) {
        lerr_set(&u->err, LERR_TOO_LARGE, "file '%s' is larger than 10 GB; split it", filename);
        return MHD_NO;
    }
    for (size_t done = 0; done < size;) {
        ssize_t w = write(u->fd, data + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            lerr_set(&u->err, LERR_IO, "cannot write upload: %s", strerror(errno));
            return MHD_NO;
        }
        done += (size_t)w;
    }
    u->size += size;
    return MHD_YES;
}

struct api_upload *api_upload_begin(struct api_server *srv, void *conn, struct lerr *err)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/files", srv->data_dir);
    if (util_mkdirs(dir, 0700, err))
        return NULL;
    struct api_upload *u = calloc(1, sizeof *u);
    if (!u) {
        lerr_set(err, LERR_NOMEM, "out of memory");
        return NULL;
    }
    u->srv = srv;
    u->fd = -1;
    lerr_init(&u->err);
    u->done = json_array();
    u->pp = MHD_create_post_processor(conn, 64 * 1024, on_part, u);
    if (!u->pp) {
        lerr_set(err, LERR_UNSUPPORTED_MEDIA,
                 "upload files as multipart/form-data (curl -F 'file=@events.json')");
        json_decref(u->done);
        free(u);
        return NULL;
    }
    return u;
}

void api_upload_data(struct api_upload *u, const char *data, size_t size)
{
    if (!u->err.code && MHD_post_process(u->pp, data, size) != MHD_YES && !u->err.code)
        lerr_set(&u->err, LERR_INVALID, "the multipart/form-data body is malformed");
}

void api_upload_free(struct api_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->tmp[0])
        unlink(u->tmp);
    if (u->pp)
        MHD_destroy_post_processor(u->pp);
    json_decref(u->done);
    free(u);
}

int api_upload_finish(struct api_upload *u, struct api_req *r)
{
    if (!u->err.code) {
        MHD_destroy_post_processor(u->pp);
        u->pp = NULL;
        finish_file(u);
    }
    if (!u->err.code && json_array_size(u->done) == 0)
        lerr_set(&u->err, LERR_INVALID,
                 "no file in the upload: send a multipart/form-data part with a filename "
                 "(curl -F 'file=@events.json')");
    if (u->err.code)
        return api_reply_err(r, &u->err);
    json_t *first = json_array_get(u->done, 0);
    api_reply(r, 200, json_array_size(u->done) == 1 ? json_incref(first)
                                                    : json_pack("{s:O}", "values", u->done));
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
