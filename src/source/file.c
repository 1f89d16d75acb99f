/*
 * file.c — a batch job's text as a source (source_open_files in source.h):
 * uploaded files (zlib reads plain and gzip alike) or inline data, cut into
 * chunks of whole rows. CSV-family texts are cut at row ends outside quotes,
 * and every chunk after a file's first starts with the file's prefix rows
 * (skipped rows, header) again, so header handling stays per file. Avro
 * object container files are cut at block ends, and every chunk starts
 * with the file's header (schema, codec, sync marker), so each chunk is a
 * whole container file for the format.
 *
 * Objects of an object store (cfg.s3: "s3://BUCKET/KEY" names) are read the
 * same way: each is downloaded when its turn comes to a temporary file in
 * cfg.dir, unlinked at once (the open descriptor keeps it until it is read),
 * so a job holds one object on disk at a time and leaves nothing behind.
 */
#include "source/source_int.h"
#include "util/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (4u << 20)

struct file_source {
    struct source base;
    char dir[1024];
    char **files;         /* owned copies; NULL: inline */
    struct s3_client *s3; /* owned; files are then s3:// URIs */
    size_t nfiles;
    const char *inline_p; /* borrowed */
    size_t inline_len, inline_off;
    bool csv;
    bool avro_ocf;
    uint32_t prefix_rows;
    size_t cur;  /* the file (partition) being read */
    bool opened; /* cur is open (gz, or inline) */
    gzFile gz;
    char *buf; /* unread bytes of the current file */
    size_t len, cap;
    bool eof;
    char *prefix; /* the current file's first prefix_rows rows */
    size_t prefix_len;
    bool first;         /* no chunk of the current file given yet */
    pthread_mutex_t mu; /* guards chunks (read by source_partitions) */
    int64_t *chunks;    /* chunks given per file */
};

/* End of the last complete row in p[0..n) (just past its '\n'), or 0. */
static size_t last_row_end(const char *p, size_t n, bool csv)
{
    if (!csv) {
        for (size_t i = n; i > 0; i--)
            if (p[i - 1] == '\n')
                return i;
        return 0;
    }
    bool quoted = false;
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            quoted = !quoted;
        else if (p[i] == '\n' && !quoted)
            end = i + 1;
    }
    return end;
}

/* An Avro long (zigzag varint) at p[*i..n): 1, 0 when incomplete, -1 when invalid. */
static int ocf_long(const char *p, size_t n, size_t *i, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*i >= n)
            return 0;
        uint8_t b = (uint8_t)p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 1;
        }
    }
    return -1;
}

/* Length of an Avro container file's header (magic, metadata map, sync) in
 * p[0..n): > 0, 0 when incomplete, -1 when it is not one (the format says why). */
static int64_t ocf_header_len(const char *p, size_t n)
{
    if (n < 4)
        return 0;
    if (memcmp(p, "Obj\x01", 4) != 0)
        return -1;
    size_t i = 4;
    for (;;) {
        int64_t cnt, x;
        int r = ocf_long(p, n, &i, &cnt);
        if (r <= 0)
            return r;
        if (cnt == 0)
            break;
        if (cnt < 0) {
            cnt = cnt == INT64_MIN ? 0 : -cnt;
            if ((r = ocf_long(p, n, &i, &x)) <= 0)
                return r;
        }
        for (int64_t k = 0; k < cnt * 2; k++) { /* key, value */
            if ((r = ocf_long(p, n, &i, &x)) <= 0)
                return r;
            if (x < 0 || x > (int64_t)(1u << 30))
                return -1;
            if ((uint64_t)x > n - i)
                return 0;
            i += (size_t)x;
        }
    }
    return n - i >= 16 ? (int64_t)(i + 16) : 0;
}

/* End of the last whole block of an Avro container file in p[from..n) (count,
 * size, data, 16-byte sync), or `from` when none is whole; n when the rest is
 * not a block (the format reports it). */
static size_t ocf_blocks_end(const char *p, size_t n, size_t from)
{
    size_t end = from, i = from;
    for (;;) {
        int64_t cnt, size;
        int r = ocf_long(p, n, &i, &cnt);
        if (r > 0)
            r = ocf_long(p, n, &i, &size);
        if (r < 0 || (r > 0 && (cnt < 0 || size < 0)))
            return n;
        if (r == 0 || (uint64_t)size + 16 > n - i)
            return end;
        i += (size_t)size + 16;
        end = i;
    }
}

/* Length of the first `rows` rows of p (quote-aware), or 0 if fewer. */
static size_t first_rows(const char *p, size_t n, uint32_t rows)
{
    bool quoted = false;
    for (size_t i = 0; i < n && rows; i++) {
        if (p[i] == '"')
            quoted = !quoted;
        else if (p[i] == '\n' && !quoted && --rows == 0)
            return i + 1;
    }
    return 0;
}

static const char *name_of(const struct file_source *fs, size_t i)
{
    return fs->files ? fs->files[i] : "inline";
}

/* "file 'x'" or "inline data", for messages. */
static void what(const struct file_source *fs, char *out, size_t cap)
{
    if (fs->files)
        snprintf(out, cap, "%s '%s'", fs->s3 ? "object" : "file", fs->files[fs->cur]);
    else
        snprintf(out, cap, "inline data");
}

/* Downloads the object `uri` to an unlinked temporary file in dir and opens it. */
static int open_object(struct file_source *fs, const char *uri, struct lerr *err)
{
    char bucket[128], path[1100];
    const char *key;
    if (!source_s3_uri_split(uri, bucket, sizeof bucket, &key))
        return lerr_set(err, LERR_INVALID, "'%s' is not s3://BUCKET/KEY", uri);
    snprintf(path, sizeof path, "%s/object-XXXXXX", fs->dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return lerr_set(err, LERR_IO,
                        "object '%s': cannot make a temporary file in %s to download it to "
                        "(%s); check the data directory",
                        uri, fs->dir, strerror(errno));
    unlink(path);
    struct lerr e;
    lerr_init(&e);
    if (s3_get_file(fs->s3, bucket, key, fd, NULL, &e)) {
        close(fd);
        if (e.code == LERR_NOT_FOUND)
            return lerr_set(err, LERR_NOT_FOUND,
                            "object '%s' does not exist; fix the key (objects are under the "
                            "connection's prefix), or put the object there",
                            uri);
        return lerr_set(err, e.code, "object '%s' cannot be read: %s", uri, e.msg);
    }
    if (lseek(fd, 0, SEEK_SET) < 0 || !(fs->gz = gzdopen(fd, "rb"))) {
        int en = errno;
        close(fd);
        return lerr_set(err, LERR_IO, "object '%s': cannot read its download: %s", uri,
                        strerror(en));
    }
    gzbuffer(fs->gz, 1u << 20);
    return 0;
}

static int open_current(struct file_source *fs, struct lerr *err)
{
    fs->len = 0;
    fs->eof = false;
    fs->first = true;
    free(fs->prefix);
    fs->prefix = NULL;
    fs->prefix_len = 0;
    fs->opened = true;
    if (!fs->files)
        return 0;
    const char *name = fs->files[fs->cur];
    if (fs->s3)
        return open_object(fs, name, err);
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", fs->dir, name);
    fs->gz = gzopen(path, "rb");
    if (!fs->gz)
        return lerr_set(err, LERR_NOT_FOUND,
                        "uploaded file '%s' cannot be read (%s); upload it again (POST /v1/files)",
                        name, strerror(errno));
    gzbuffer(fs->gz, 1u << 20);
    return 0;
}

static void close_current(struct file_source *fs)
{
    if (fs->gz)
        gzclose(fs->gz);
    fs->gz = NULL;
    fs->opened = false;
}

static int fill(struct file_source *fs, struct lerr *err)
{
    char w[300];
    if (fs->cap - fs->len < CHUNK) {
        size_t cap = fs->len + CHUNK + 1;
        char *nb = realloc(fs->buf, cap);
        if (!nb) {
            what(fs, w, sizeof w);
            return lerr_set(err, LERR_NOMEM, "%s: out of memory reading a batch file", w);
        }
        fs->buf = nb;
        fs->cap = cap;
    }
    if (fs->gz) {
        int n = gzread(fs->gz, fs->buf + fs->len, CHUNK);
        if (n < 0) {
            int zerr;
            what(fs, w, sizeof w);
            return lerr_set(err, LERR_IO, "%s: cannot read the file: %s", w,
                            gzerror(fs->gz, &zerr));
        }
        fs->len += (size_t)n;
        fs->eof = n == 0;
    } else {
        size_t n = fs->inline_len - fs->inline_off;
        n = n > CHUNK ? CHUNK : n;
        memcpy(fs->buf + fs->len, fs->inline_p + fs->inline_off, n);
        fs->inline_off += n;
        fs->len += n;
        fs->eof = n == 0;
    }
    return 0;
}

/* The current file's next chunk (prefix + whole rows), built in the caller's arena
 * (*text, *len): 1, 0 at its end, or -1. */
static int next_chunk(struct file_source *fs, struct arena *mem, const char **text, size_t *len,
                      struct lerr *err)
{
    for (;;) {
        size_t end;
        int64_t hdr = 0;
        if (fs->avro_ocf) {
            hdr = fs->first ? ocf_header_len(fs->buf, fs->len) : 0;
            end = hdr < 0                 ? fs->len
                  : fs->first && hdr == 0 ? 0
                                          : ocf_blocks_end(fs->buf, fs->len, (size_t)hdr);
            if (end == (size_t)hdr && !fs->eof)
                end = 0; /* no whole block yet */
        } else {
            end = last_row_end(fs->buf, fs->len, fs->csv);
        }
        if (fs->eof && fs->len)
            end = fs->len; /* the last row may lack its newline */
        if (end && (end >= CHUNK / 2 || fs->eof)) {
            size_t pre = 0;
            if (fs->first && fs->avro_ocf && hdr > 0) {
                fs->prefix_len = (size_t)hdr; /* the header starts every later chunk */
                fs->prefix = malloc(fs->prefix_len + 1);
                if (fs->prefix)
                    memcpy(fs->prefix, fs->buf, fs->prefix_len);
                else
                    fs->prefix_len = 0;
            } else if (fs->first && fs->prefix_rows) {
                fs->prefix_len = first_rows(fs->buf, end, fs->prefix_rows);
                fs->prefix = malloc(fs->prefix_len + 1);
                if (fs->prefix)
                    memcpy(fs->prefix, fs->buf, fs->prefix_len);
                else
                    fs->prefix_len = 0;
            } else {
                pre = fs->prefix_len;
            }
            char *t = arena_alloc(mem, pre + end + 1);
            if (!t) {
                char w[300];
                what(fs, w, sizeof w);
                lerr_set(err, LERR_NOMEM, "%s: out of memory reading a batch file", w);
                return -1;
            }
            if (pre)
                memcpy(t, fs->prefix, pre);
            memcpy(t + pre, fs->buf, end);
            t[pre + end] = '\0';
            *text = t;
            *len = pre + end;
            fs->first = false;
            memmove(fs->buf, fs->buf + end, fs->len - end);
            fs->len -= end;
            return 1;
        }
        if (fs->eof)
            return 0;
        if (fill(fs, err))
            return -1;
    }
}

static int files_assign(struct source *s, const struct source_offsets *start,
                        int64_t default_start, struct lerr *err)
{
    (void)s, (void)start, (void)default_start, (void)err;
    return 0; /* a batch reads everything, from the start */
}

static int files_poll(struct source *s, struct arena *mem, size_t max_records, int timeout_ms,
                      struct source_batch *out, struct lerr *err)
{
    (void)max_records, (void)timeout_ms;
    struct file_source *fs = (struct file_source *)s;
    memset(out, 0, sizeof *out);
    size_t n = fs->files ? fs->nfiles : 1;
    while (fs->cur < n) {
        if (!fs->opened && open_current(fs, err))
            return err->code;
        const char *text;
        size_t len;
        int got = next_chunk(fs, mem, &text, &len, err);
        if (got < 0)
            return err->code;
        if (got) {
            const char *topic = name_of(fs, fs->cur);
            struct record *rec = arena_alloc(mem, sizeof *rec);
            const char *tcopy = source__copy(mem, topic, strlen(topic));
            if (!rec || !tcopy)
                return lerr_set(err, LERR_NOMEM, "%s: out of memory reading a batch file", topic);
            pthread_mutex_lock(&fs->mu);
            int64_t off = fs->chunks[fs->cur]++;
            pthread_mutex_unlock(&fs->mu);
            *rec = (struct record){
                .data = text,
                .len = len,
                .partition = (int32_t)fs->cur,
                .offset = off,
                .timestamp_ms = -1,
                .topic = tcopy,
                .topic_len = strlen(tcopy),
            };
            out->records = rec;
            out->n = 1;
            out->bytes = len;
            return 0;
        }
        close_current(fs);
        fs->cur++;
    }
    out->end = true;
    return 0;
}

static int files_position(struct source *s, struct source_offsets *out, struct lerr *err)
{
    struct file_source *fs = (struct file_source *)s;
    source_offsets_clear(out);
    size_t n = fs->files ? fs->nfiles : 1;
    int rc = 0;
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < n && !rc; i++)
        rc = source_offsets_set(out, name_of(fs, i), (int32_t)i, fs->chunks[i], err);
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

static int files_partitions(struct source *s, struct source_partition **out, size_t *nout,
                            struct lerr *err)
{
    struct file_source *fs = (struct file_source *)s;
    size_t n = fs->files ? fs->nfiles : 1;
    struct source_partition *p = calloc(n + 1, sizeof *p);
    if (!p)
        return lerr_set(err, LERR_NOMEM, "source: out of memory");
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < n; i++) {
        snprintf(p[i].topic, sizeof p[i].topic, "%s", name_of(fs, i));
        p[i].partition = (int32_t)i;
        p[i].next_offset = fs->chunks[i];
        p[i].end_offset = -1;
        p[i].lag = -1;
    }
    pthread_mutex_unlock(&fs->mu);
    *out = p;
    *nout = n;
    return 0;
}

static int files_health(struct source *s, char *msg, size_t cap)
{
    (void)s;
    if (cap)
        msg[0] = '\0';
    return SOURCE_HEALTH_OK;
}

static bool files_ready(struct source *s)
{
    (void)s;
    return true;
}

static void files_close(struct source *s)
{
    struct file_source *fs = (struct file_source *)s;
    close_current(fs);
    for (size_t i = 0; fs->files && i < fs->nfiles; i++)
        free(fs->files[i]);
    free(fs->files);
    s3_client_free(fs->s3);
    free(fs->buf);
    free(fs->prefix);
    free(fs->chunks);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
}

static const struct source_ops files_ops = {
    .assign = files_assign,
    .poll = files_poll,
    .position = files_position,
    .partitions = files_partitions,
    .health = files_health,
    .ready = files_ready,
    .close = files_close,
};

struct source *source_open_files(const struct source_files_config *cfg, struct lerr *err)
{
    struct file_source *fs = calloc(1, sizeof *fs);
    if (!fs) {
        s3_client_free(cfg->s3);
        lerr_set(err, LERR_NOMEM, "source: out of memory");
        return NULL;
    }
    fs->base.ops = &files_ops;
    fs->s3 = cfg->s3;
    pthread_mutex_init(&fs->mu, NULL);
    snprintf(fs->dir, sizeof fs->dir, "%s", cfg->dir ? cfg->dir : "");
    fs->csv = cfg->csv;
    fs->avro_ocf = cfg->avro_ocf;
    fs->prefix_rows = cfg->prefix_rows;
    fs->inline_p = cfg->inline_data ? cfg->inline_data : "";
    fs->inline_len = cfg->inline_data ? cfg->inline_len : 0;
    size_t n = cfg->files ? cfg->nfiles : 1;
    bool ok = (fs->chunks = calloc(n + 1, sizeof *fs->chunks)) != NULL;
    if (ok && cfg->files) {
        ok = (fs->files = calloc(n + 1, sizeof *fs->files)) != NULL;
        fs->nfiles = n;
        for (size_t i = 0; ok && i < n; i++)
            ok = (fs->files[i] = strdup(cfg->files[i] ? cfg->files[i] : "")) != NULL;
    }
    if (!ok) {
        files_close(&fs->base);
        lerr_set(err, LERR_NOMEM, "source: out of memory");
        return NULL;
    }
    return &fs->base;
}
