/*
 * pushlog.c — the push log: Lodestar's own durable single-partition stream,
 * one per push connection (DESIGN.md §6). POST /v1/events/{connection}
 * appends the request's events here and answers once they are on disk; jobs
 * read the log like a Kafka partition.
 *
 * Entry points: pushlog_open(), pushlog_append(), pushlog_trim(),
 * pushlog_start_offset(), pushlog_end_offset(), pushlog_wakeup(),
 * pushlog_cursor_open(), pushlog_cursor_seek(), pushlog_cursor_read(),
 * pushlog_cursor_offset(), pushlog_cursor_close(), pushlog_get_stats(),
 * pushlog_close().
 *
 * On disk: a directory holding LOCK (flock'd by the process that has the log
 * open) and segment files named by the offset of their first record,
 * "%020lld.log". A segment is a sequence of frames:
 *
 *     u32 len | u32 crc | u64 offset | i64 timestamp ms | len payload bytes
 *
 * little-endian; crc is CRC-32C (util_crc32c) over len, timestamp, payload and
 * then offset — everything but itself, so a torn or flipped header is caught
 * as surely as a flipped payload byte. The offset goes last so an appender
 * can checksum its records before it holds the mutex (before it knows their
 * offsets) and finish each with 8 bytes under it. Offsets are dense (0, 1,
 * 2, ...) and stored explicitly so a reader can check it is where it thinks
 * it is.
 *
 * Group commit without a writer thread: an appender, holding the mutex,
 * assigns its offsets and encodes its frames into the shared pending buffer.
 * If no one is writing, it becomes the writer: it takes the whole pending
 * buffer (its own records and everyone else's), writes it with one write()
 * and one fdatasync() outside the mutex, publishes the new durable end and
 * wakes everyone. Appenders whose records were in that group return; the
 * rest elect the next writer, whose group is what arrived during the last
 * sync. So one fsync covers as many requests as arrive while one is running.
 *
 * Segments roll at segment_bytes; the roll point is decided at append time
 * (under the mutex) and recorded in the pending buffer so the writer knows
 * where one file ends and the next begins. A segment is fdatasync'd before
 * the next one is created, so only the last segment can have a torn tail;
 * recovery scans it and cuts the tail back to the last good frame.
 *
 * Readers (cursors) have their own file descriptors and only read bytes
 * below the published durable size of a segment, so they never wait for or
 * block the writer; the mutex is held only to look up segment bounds. A
 * deleted (trimmed) segment stays readable through a descriptor already
 * open on it.
 *
 * A failed write or fdatasync makes the log refuse appends until it is
 * reopened: after a failed fsync the kernel may have dropped the dirty pages,
 * so nothing written since the last good sync can be trusted. The writer
 * cuts the segment back to its last durable size first (best effort).
 */
#include "source/source_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOD "pushlog"

#define HDR 24u                     /* frame header bytes */
#define READ_CHUNK (1024u * 1024u)  /* a cursor reads this much per pread */
#define SEG_NAME_LEN 24             /* 20 digits + ".log" */

/* One segment file. end and bytes cover durable records only. */
struct seg {
    int64_t base;     /* offset of the first record */
    int64_t end;      /* one past the last durable record */
    uint64_t bytes;   /* durable bytes */
};

/* In the pending buffer: a new segment starts at byte pos with offset base. */
struct roll {
    size_t pos;
    int64_t base;
};

/* Frames assigned offsets but not yet written. */
struct pending {
    char *p;
    size_t len, alloc;
    struct roll *rolls;
    size_t nrolls, rolls_alloc;
};

struct pushlog {
    char *dir;
    size_t seg_max, rec_max;
    int lock_fd;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* durable end moved, a writer finished, failure, wakeup */
    struct seg *segs;       /* sorted by base; the last one is being written */
    size_t nsegs, segs_alloc;
    int64_t durable_end;    /* one past the last durable record */
    int64_t next_offset;    /* next offset to assign */
    uint64_t active_logical;   /* bytes of the active segment, pending ones included */
    struct pending pend;    /* appenders add here (under mu) */
    bool writing;           /* an appender is writing a group */
    bool failed;            /* sticky: appends are refused */
    char failmsg[300];
    unsigned wake_gen;      /* bumped by pushlog_wakeup() */
    int64_t n_appends, n_groups;
    uint64_t n_bytes;

    /* Owned by the appender that holds `writing`. */
    struct pending spare;
    int fd;                 /* the active segment, open for writing */
};

/* ---- little helpers ------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}


/* The checksum of a frame up to its offset: len, timestamp, payload. */
static uint32_t crc_partial(uint32_t len, int64_t ts, const void *payload)
{
    unsigned char b[12];
    put_u32(b, len);
    put_u64(b + 4, (uint64_t)ts);
    return util_crc32c(util_crc32c(0, b, 12), payload, len);
}

/* ... finished with the offset. */
static uint32_t crc_finish(uint32_t partial, int64_t offset)
{
    unsigned char b[8];
    put_u64(b, (uint64_t)offset);
    return util_crc32c(partial, b, 8);
}

/* The checksum a frame should carry, from its bytes. */
static uint32_t frame_crc(const unsigned char *hdr, const void *payload, uint32_t len)
{
    return crc_finish(crc_partial(len, (int64_t)get_u64(hdr + 16), payload),
                      (int64_t)get_u64(hdr + 8));
}

static void encode_frame(unsigned char *out, int64_t offset, int64_t ts, const void *p,
                         size_t len, uint32_t partial)
{
    put_u32(out, (uint32_t)len);
    put_u64(out + 8, (uint64_t)offset);
    put_u64(out + 16, (uint64_t)ts);
    if (len)
        memcpy(out + HDR, p, len);
    put_u32(out + 4, crc_finish(partial, offset));
}

static void seg_path(const struct pushlog *log, int64_t base, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%020" PRId64 ".log", log->dir, base);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to n bytes at off; returns bytes read (short only at EOF) or -1. */
static ssize_t pread_full(int fd, char *p, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int segs_push(struct pushlog *log, struct seg s)
{
    if (log->nsegs == log->segs_alloc) {
        size_t na = log->segs_alloc ? log->segs_alloc * 2 : 8;
        struct seg *ns = realloc(log->segs, na * sizeof *ns);
        if (!ns)
            return -1;
        log->segs = ns;
        log->segs_alloc = na;
    }
    log->segs[log->nsegs++] = s;
    return 0;
}

/*
 * Walks the frames of a segment from byte `pos` (offset `off`), stopping at
 * `stop` (an offset; INT64_MAX for none), at `limit` bytes, or at the first
 * frame that is short, oversized, fails its CRC or carries the wrong offset.
 * Reports where it stopped and why (*bad: the frame at *pos is invalid;
 * false: clean end). buf must hold HDR + rec_max bytes.
 */
struct scan {
    uint64_t pos;
    int64_t off;
    bool bad;
    char why[96];
};

static int scan_frames(int fd, char *buf, size_t bufcap, size_t rec_max, uint64_t limit,
                       int64_t stop, struct scan *sc)
{
    sc->bad = false;
    sc->why[0] = '\0';
    while (sc->off < stop && sc->pos < limit) {
        size_t want = bufcap;
        if (limit - sc->pos < want)
            want = (size_t)(limit - sc->pos);
        ssize_t got = pread_full(fd, buf, want, sc->pos);
        if (got < 0)
            return -1;
        size_t at = 0;
        while (sc->off < stop) {
            if ((size_t)got - at < HDR) {
                if (sc->pos + at + HDR > limit) {
                    sc->bad = true;
                    snprintf(sc->why, sizeof sc->why, "a frame header is cut short");
                }
                break;
            }
            const unsigned char *h = (const unsigned char *)buf + at;
            uint32_t len = get_u32(h);
            if (len > rec_max) {
                sc->bad = true;
                snprintf(sc->why, sizeof sc->why, "a frame claims %" PRIu32 " bytes", len);
                break;
            }
            if ((size_t)got - at < HDR + (size_t)len) {
                if (sc->pos + at + HDR + len > limit) {
                    sc->bad = true;
                    snprintf(sc->why, sizeof sc->why, "a frame is cut short");
                }
                break;
            }
            if (get_u32(h + 4) != frame_crc(h, h + HDR, len)) {
                sc->bad = true;
                snprintf(sc->why, sizeof sc->why, "checksum mismatch");
                break;
            }
            if ((int64_t)get_u64(h + 8) != sc->off) {
                sc->bad = true;
                snprintf(sc->why, sizeof sc->why, "frame holds offset %" PRId64 ", expected %" PRId64,
                         (int64_t)get_u64(h + 8), sc->off);
                break;
            }
            at += HDR + len;
            sc->off++;
        }
        sc->pos += at;
        if (sc->bad || at == 0)
            break;   /* invalid, or the clean end (a partial frame stays for the caller) */
    }
    if (!sc->bad && sc->off < stop && sc->pos < limit) {
        /* Bytes remain that do not form a whole frame. */
        sc->bad = true;
        snprintf(sc->why, sizeof sc->why, "a frame is cut short");
    }
    return 0;
}

/* ---- open and recovery ---------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Base offset from a segment file name, or -1 when it is not one. */
static int64_t parse_seg_name(const char *name)
{
    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 20, ".log") != 0)
        return -1;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static int list_segments(const char *dir, int64_t **out, size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return lerr_set(err, LERR_IO, "push log %s: cannot list: %s", dir, strerror(errno));
    size_t alloc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t b = parse_seg_name(de->d_name);
        if (b < 0)
            continue;
        if (*n == alloc) {
            size_t na = alloc ? alloc * 2 : 16;
            int64_t *nb = realloc(*out, na * sizeof *nb);
            if (!nb) {
                closedir(d);
                free(*out);
                *out = NULL;
                return lerr_set(err, LERR_NOMEM, "push log %s: out of memory", dir);
            }
            *out = nb;
            alloc = na;
        }
        (*out)[(*n)++] = b;
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_i64);
    return 0;
}

/* Scans the last segment and cuts a torn or corrupt tail. */
static int recover_last(struct pushlog *log, int64_t base, struct lerr *err)
{
    char path[4200];
    seg_path(log, base, path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return lerr_set(err, LERR_IO, "push log: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lerr_set(err, LERR_IO, "push log: cannot stat %s: %s", path, strerror(e));
    }
    size_t cap = HDR + log->rec_max > READ_CHUNK ? HDR + log->rec_max : READ_CHUNK;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    }
    struct scan sc = {.pos = 0, .off = base};
    int rc = scan_frames(fd, buf, cap, log->rec_max, (uint64_t)st.st_size, INT64_MAX, &sc);
    free(buf);
    if (rc) {
        int e = errno;
        close(fd);
        return lerr_set(err, LERR_IO, "push log: cannot read %s: %s", path, strerror(e));
    }
    if (sc.pos < (uint64_t)st.st_size) {
        log_msg(LOG_WARN, MOD,
                "%s: cut %" PRIu64 " bytes of torn or corrupt tail at byte %" PRIu64
                " (%s); the log continues at offset %" PRId64,
                path, (uint64_t)st.st_size - sc.pos, sc.pos, sc.why[0] ? sc.why : "partial frame",
                sc.off);
        if (ftruncate(fd, (off_t)sc.pos) != 0 || fdatasync(fd) != 0) {
            int e = errno;
            close(fd);
            return lerr_set(err, LERR_IO, "push log: cannot truncate %s: %s", path, strerror(e));
        }
    }
    if (lseek(fd, (off_t)sc.pos, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return lerr_set(err, LERR_IO, "push log: cannot seek %s: %s", path, strerror(e));
    }
    log->fd = fd;
    if (segs_push(log, (struct seg){.base = base, .end = sc.off, .bytes = sc.pos})) {
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    }
    log->durable_end = log->next_offset = sc.off;
    log->active_logical = sc.pos;
    return 0;
}

static int create_segment(struct pushlog *log, int64_t base, int *fd_out, struct lerr *err)
{
    char path[4200];
    seg_path(log, base, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return lerr_set(err, LERR_IO, "push log: cannot create %s: %s", path, strerror(errno));
    if (fsync_dir(log->dir) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return lerr_set(err, LERR_IO, "push log: cannot sync directory %s: %s", log->dir,
                        strerror(e));
    }
    *fd_out = fd;
    return 0;
}

void pushlog_close(struct pushlog *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->mu);
    while (log->writing)
        pthread_cond_wait(&log->cv, &log->mu);
    pthread_mutex_unlock(&log->mu);
    if (log->fd >= 0)
        close(log->fd);
    if (log->lock_fd >= 0)
        close(log->lock_fd);   /* releases the flock */
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    free(log->pend.p);
    free(log->pend.rolls);
    free(log->spare.p);
    free(log->spare.rolls);
    free(log->segs);
    free(log->dir);
    free(log);
}

int pushlog_open(const char *dir, const struct pushlog_opts *opts, struct pushlog **out,
                 struct lerr *err)
{
    *out = NULL;
    if (!dir || !*dir || strlen(dir) > 4000)
        return lerr_set(err, LERR_INVALID, "push log: directory name empty or too long");
    struct pushlog *log = calloc(1, sizeof *log);
    if (!log || !(log->dir = strdup(dir))) {
        free(log);
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    }
    log->fd = log->lock_fd = -1;
    log->seg_max = opts && opts->segment_bytes ? opts->segment_bytes : PUSHLOG_SEGMENT_DEFAULT;
    log->rec_max = opts && opts->max_record ? opts->max_record : PUSHLOG_MAX_RECORD_DEFAULT;
    if (log->rec_max > (size_t)INT32_MAX)
        log->rec_max = (size_t)INT32_MAX;
    pthread_mutex_init(&log->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log->cv, &ca);
    pthread_condattr_destroy(&ca);

    int64_t *bases = NULL;
    size_t nb = 0;
    char path[4200];
    if (util_mkdirs(dir, 0755, err))
        goto fail;
    snprintf(path, sizeof path, "%s/LOCK", dir);
    log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (log->lock_fd < 0) {
        lerr_set(err, LERR_IO, "push log: cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            lerr_set(err, LERR_CONFLICT, "push log %s is open in another process", dir);
        else
            lerr_set(err, LERR_IO, "push log: cannot lock %s: %s", path, strerror(errno));
        goto fail;
    }
    if (list_segments(dir, &bases, &nb, err))
        goto fail;
    if (nb == 0) {
        if (create_segment(log, 0, &log->fd, err))
            goto fail;
        if (segs_push(log, (struct seg){0, 0, 0})) {
            lerr_set(err, LERR_NOMEM, "push log: out of memory");
            goto fail;
        }
        free(bases);
        *out = log;
        return 0;
    }
    /* Sealed segments: each ends where the next begins; sizes from the file
     * system. Their records are checked by readers (CRC, offsets). */
    for (size_t i = 0; i + 1 < nb; i++) {
        seg_path(log, bases[i], path, sizeof path);
        struct stat st;
        if (stat(path, &st) != 0) {
            lerr_set(err, LERR_IO, "push log: cannot stat %s: %s", path, strerror(errno));
            goto fail;
        }
        if ((st.st_size == 0) != (bases[i + 1] == bases[i])) {
            lerr_set(err, LERR_CORRUPT,
                     "push log: %s holds %lld bytes but the next segment starts at offset "
                     "%" PRId64 "; the segment files do not fit together",
                     path, (long long)st.st_size, bases[i + 1]);
            goto fail;
        }
        if (segs_push(log, (struct seg){bases[i], bases[i + 1], (uint64_t)st.st_size})) {
            lerr_set(err, LERR_NOMEM, "push log: out of memory");
            goto fail;
        }
    }
    if (recover_last(log, bases[nb - 1], err))
        goto fail;
    free(bases);
    *out = log;
    return 0;
fail:
    free(bases);
    pushlog_close(log);
    return err->code;
}

/* ---- appends (group commit) ---------------------------------------------- */

static int pending_reserve(struct pending *p, size_t more, size_t more_rolls)
{
    if (p->len + more > p->alloc) {
        size_t na = p->alloc ? p->alloc : 65536;
        while (na < p->len + more)
            na *= 2;
        char *np = realloc(p->p, na);
        if (!np)
            return -1;
        p->p = np;
        p->alloc = na;
    }
    if (p->nrolls + more_rolls > p->rolls_alloc) {
        size_t na = p->rolls_alloc ? p->rolls_alloc : 4;
        while (na < p->nrolls + more_rolls)
            na *= 2;
        struct roll *nr = realloc(p->rolls, na * sizeof *nr);
        if (!nr)
            return -1;
        p->rolls = nr;
        p->rolls_alloc = na;
    }
    return 0;
}

/*
 * Writes one group: everything pending. Called with mu held and `writing`
 * false; drops mu for the I/O. On return mu is held again, the durable end
 * covers the group (or the log has failed) and waiters were woken.
 */
static void write_group(struct pushlog *log)
{
    log->writing = true;
    struct pending g = log->pend;
    log->pend = log->spare;
    log->pend.len = 0;
    log->pend.nrolls = 0;
    int64_t group_end = log->next_offset;
    struct seg active = log->segs[log->nsegs - 1];
    pthread_mutex_unlock(&log->mu);

    /* New segments this group opens (at most nrolls; usually none). */
    int fds_small[4];
    int *fds = g.nrolls <= 4 ? fds_small : malloc(g.nrolls * sizeof *fds);
    size_t nfds = 0;
    char why[200] = "";
    int fd = log->fd;
    size_t pos = 0;
    if (!fds) {
        snprintf(why, sizeof why, "out of memory");
        goto done;
    }
    for (size_t r = 0; r <= g.nrolls; r++) {
        size_t piece_end = r < g.nrolls ? g.rolls[r].pos : g.len;
        if (piece_end > pos &&
            (write_all(fd, g.p + pos, piece_end - pos) != 0 || fdatasync(fd) != 0)) {
            snprintf(why, sizeof why, "cannot write segment %020" PRId64 ".log: %s",
                     nfds ? g.rolls[nfds - 1].base : active.base, strerror(errno));
            goto done;
        }
        pos = piece_end;
        if (r < g.nrolls) {
            struct lerr e;
            lerr_init(&e);
            if (create_segment(log, g.rolls[r].base, &fds[nfds], &e)) {
                snprintf(why, sizeof why, "%s", e.msg);
                goto done;
            }
            fd = fds[nfds++];
        }
    }
done:
    pthread_mutex_lock(&log->mu);
    if (why[0]) {
        /* Undo what this group wrote (best effort), then refuse appends. */
        for (size_t i = 0; i < nfds; i++) {
            char path[4200];
            close(fds[i]);
            seg_path(log, g.rolls[i].base, path, sizeof path);
            unlink(path);
        }
        if (nfds)
            fsync_dir(log->dir);
        if (ftruncate(log->fd, (off_t)active.bytes) != 0 ||
            lseek(log->fd, (off_t)active.bytes, SEEK_SET) < 0)
            log_msg(LOG_ERROR, MOD, "%s: cannot cut the active segment back: %s", log->dir,
                    strerror(errno));
        log->failed = true;
        snprintf(log->failmsg, sizeof log->failmsg, "push log %s: %s", log->dir, why);
        log_msg(LOG_ERROR, MOD, "%s; appends are refused until the log is reopened",
                log->failmsg);
    } else {
        /* Publish: sealed segments get their final size, new ones join. */
        size_t start = 0;
        bool oom = false;
        for (size_t r = 0; r < g.nrolls; r++) {
            struct seg *last = &log->segs[log->nsegs - 1];
            last->bytes += g.rolls[r].pos - start;
            last->end = g.rolls[r].base;
            start = g.rolls[r].pos;
            if (segs_push(log, (struct seg){g.rolls[r].base, g.rolls[r].base, 0}))
                oom = true;
        }
        struct seg *last = &log->segs[log->nsegs - 1];
        last->bytes += g.len - start;
        last->end = group_end;
        log->durable_end = group_end;
        log->n_groups++;
        log->n_bytes += g.len;
        if (nfds) {
            close(log->fd);
            for (size_t i = 0; i + 1 < nfds; i++)
                close(fds[i]);
            log->fd = fds[nfds - 1];
        }
        if (oom) {
            /* The data is durable, but our list of segments is incomplete. */
            log->failed = true;
            snprintf(log->failmsg, sizeof log->failmsg, "push log %s: out of memory", log->dir);
        }
    }
    if (fds != fds_small)
        free(fds);
    g.len = 0;
    g.nrolls = 0;
    log->spare = g;
    log->writing = false;
    pthread_cond_broadcast(&log->cv);
}

int pushlog_append(struct pushlog *log, const struct pushlog_entry *e, size_t n,
                   int64_t *first_offset, struct lerr *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].len > log->rec_max)
            return lerr_set(err, LERR_TOO_LARGE,
                            "push log: event %zu is %zu bytes; the limit is %zu bytes", i,
                            e[i].len, log->rec_max);
        if (e[i].len && !e[i].p)
            return lerr_set(err, LERR_INVALID, "push log: event %zu has no bytes", i);
        total += HDR + e[i].len;
    }
    /* Checksums, all but the offsets, before taking the mutex: under it only
     * memcpy and 8 bytes of CRC per record remain. */
    uint32_t crc_small[512];
    uint32_t *crcs = n <= LS_ARRAY_LEN(crc_small) ? crc_small : malloc(n * sizeof *crcs);
    if (!crcs)
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    for (size_t i = 0; i < n; i++)
        crcs[i] = crc_partial((uint32_t)e[i].len, e[i].ts_ms, e[i].p);
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    if (log->failed) {
        rc = lerr_set(err, LERR_IO, "%s", log->failmsg);
        goto out;
    }
    if (first_offset)
        *first_offset = log->next_offset;
    if (n == 0)
        goto out;
    /* Rolls: at most one per record, but never more than total/seg_max + 2. */
    size_t max_rolls = total / log->seg_max + 2;
    if (max_rolls > n)
        max_rolls = n;
    if (pending_reserve(&log->pend, total, max_rolls)) {
        rc = lerr_set(err, LERR_NOMEM, "push log: out of memory for %zu bytes", total);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t fl = HDR + e[i].len;
        if (log->active_logical > 0 && log->active_logical + fl > log->seg_max) {
            if (log->pend.nrolls == log->pend.rolls_alloc &&
                pending_reserve(&log->pend, 0, 1)) {
                /* Cannot happen after the reservation above unless segments
                 * are tiny; refuse rather than write past the limit. */
                log->failed = true;
                snprintf(log->failmsg, sizeof log->failmsg, "push log %s: out of memory",
                         log->dir);
                break;
            }
            log->pend.rolls[log->pend.nrolls++] =
                (struct roll){.pos = log->pend.len, .base = log->next_offset};
            log->active_logical = 0;
        }
        encode_frame((unsigned char *)log->pend.p + log->pend.len, log->next_offset, e[i].ts_ms,
                     e[i].p, e[i].len, crcs[i]);
        log->pend.len += fl;
        log->next_offset++;
        log->active_logical += fl;
    }
    int64_t my_end = log->next_offset;
    log->n_appends++;
    while (log->durable_end < my_end && !log->failed) {
        if (!log->writing)
            write_group(log);
        else
            pthread_cond_wait(&log->cv, &log->mu);
    }
    if (log->durable_end < my_end)
        rc = lerr_set(err, LERR_IO, "%s", log->failmsg);
out:
    pthread_mutex_unlock(&log->mu);
    if (crcs != crc_small)
        free(crcs);
    return rc;
}

int64_t pushlog_start_offset(struct pushlog *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->segs[0].base;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int64_t pushlog_end_offset(struct pushlog *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->durable_end;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int pushlog_trim(struct pushlog *log, int64_t offset, int *deleted, struct lerr *err)
{
    int nd = 0, rc = 0;
    pthread_mutex_lock(&log->mu);
    while (log->nsegs > 1 && log->segs[0].end <= offset) {
        char path[4200];
        seg_path(log, log->segs[0].base, path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = lerr_set(err, LERR_IO, "push log: cannot delete %s: %s", path, strerror(errno));
            break;
        }
        memmove(&log->segs[0], &log->segs[1], (log->nsegs - 1) * sizeof *log->segs);
        log->nsegs--;
        nd++;
    }
    pthread_mutex_unlock(&log->mu);
    if (nd)
        fsync_dir(log->dir);   /* a lost unlink only delays the deletion to the next trim */
    if (deleted)
        *deleted = nd;
    return rc;
}

void pushlog_get_stats(struct pushlog *log, struct pushlog_stats *out)
{
    pthread_mutex_lock(&log->mu);
    *out = (struct pushlog_stats){
        .start_offset = log->segs[0].base,
        .end_offset = log->durable_end,
        .appends = log->n_appends,
        .groups = log->n_groups,
        .bytes = log->n_bytes,
        .segments = (int)log->nsegs,
    };
    pthread_mutex_unlock(&log->mu);
}

void pushlog_wakeup(struct pushlog *log)
{
    pthread_mutex_lock(&log->mu);
    log->wake_gen++;
    pthread_cond_broadcast(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

/* ---- cursors -------------------------------------------------------------- */

struct pushlog_cursor {
    struct pushlog *log;
    int64_t offset;      /* next record to return */
    int fd;              /* the segment holding `offset`, or -1 */
    int64_t seg_base;
    uint64_t pos;        /* byte position of record `offset` in it */
    uint64_t limit;      /* its durable bytes, as last looked up */
    char *buf;
    size_t cap;
    struct pushlog_record *recs;
    size_t recs_alloc;
};

static void cursor_drop_fd(struct pushlog_cursor *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/*
 * Makes c->fd/pos/limit describe the segment holding c->offset. The caller
 * knows c->offset < durable end. LERR_NOT_FOUND when it was trimmed.
 */
static int cursor_locate(struct pushlog_cursor *c, struct lerr *err)
{
    struct pushlog *log = c->log;
    pthread_mutex_lock(&log->mu);
    int64_t start = log->segs[0].base;
    size_t i = log->nsegs;
    while (i > 0 && log->segs[i - 1].base > c->offset)
        i--;
    if (i == 0) {
        pthread_mutex_unlock(&log->mu);
        /* Trimmed, but a descriptor already open on it still reads it. */
        if (c->fd >= 0 && c->pos < c->limit)
            return 0;
        cursor_drop_fd(c);
        return lerr_set(err, LERR_NOT_FOUND,
                        "push log: offset %" PRId64 " was trimmed; the log now starts at %" PRId64,
                        c->offset, start);
    }
    struct seg s = log->segs[i - 1];
    pthread_mutex_unlock(&log->mu);
    if (c->fd >= 0 && c->seg_base == s.base) {
        c->limit = s.bytes;
        return 0;
    }
    cursor_drop_fd(c);
    char path[4200];
    seg_path(log, s.base, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return lerr_set(err, LERR_NOT_FOUND,
                            "push log: offset %" PRId64 " was trimmed; the log now starts at %" PRId64,
                            c->offset, pushlog_start_offset(log));
        return lerr_set(err, LERR_IO, "push log: cannot open %s: %s", path, strerror(errno));
    }
    uint64_t pos = 0;
    if (c->offset == s.end) {
        pos = s.bytes;
    } else if (c->offset != s.base) {
        /* Somewhere inside: walk the frames from the start (checking them). */
        struct scan sc = {.pos = 0, .off = s.base};
        if (scan_frames(fd, c->buf, c->cap, log->rec_max, s.bytes, c->offset, &sc) != 0) {
            int e = errno;
            close(fd);
            return lerr_set(err, LERR_IO, "push log: cannot read %s: %s", path, strerror(e));
        }
        if (sc.off != c->offset) {
            close(fd);
            return lerr_set(err, LERR_CORRUPT,
                            "push log: %s is damaged at byte %" PRIu64 " (%s) before offset %" PRId64,
                            path, sc.pos, sc.why[0] ? sc.why : "short", c->offset);
        }
        pos = sc.pos;
    }
    c->fd = fd;
    c->seg_base = s.base;
    c->pos = pos;
    c->limit = s.bytes;
    return 0;
}

int pushlog_cursor_seek(struct pushlog_cursor *c, int64_t offset, struct lerr *err)
{
    struct pushlog *log = c->log;
    pthread_mutex_lock(&log->mu);
    int64_t start = log->segs[0].base, end = log->durable_end;
    pthread_mutex_unlock(&log->mu);
    if (offset == SOURCE_OFFSET_EARLIEST)
        offset = start;
    else if (offset == SOURCE_OFFSET_LATEST)
        offset = end;
    if (offset < start)
        return lerr_set(err, LERR_NOT_FOUND,
                        "push log: offset %" PRId64 " was trimmed; the log holds offsets %" PRId64
                        " to %" PRId64,
                        offset, start, end);
    if (offset > end)
        return lerr_set(err, LERR_INVALID,
                        "push log: offset %" PRId64 " is past the end; the log holds offsets %" PRId64
                        " to %" PRId64,
                        offset, start, end);
    cursor_drop_fd(c);
    c->offset = offset;
    return cursor_locate(c, err);
}

int pushlog_cursor_open(struct pushlog *log, int64_t offset, struct pushlog_cursor **out,
                        struct lerr *err)
{
    *out = NULL;
    struct pushlog_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    c->log = log;
    c->fd = -1;
    c->cap = HDR + log->rec_max > READ_CHUNK ? HDR + log->rec_max : READ_CHUNK;
    c->buf = malloc(c->cap);
    if (!c->buf) {
        free(c);
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    }
    if (pushlog_cursor_seek(c, offset, err)) {
        pushlog_cursor_close(c);
        return err->code;
    }
    *out = c;
    return 0;
}

int64_t pushlog_cursor_offset(const struct pushlog_cursor *c)
{
    return c->offset;
}

void pushlog_cursor_close(struct pushlog_cursor *c)
{
    if (!c)
        return;
    cursor_drop_fd(c);
    free(c->buf);
    free(c->recs);
    free(c);
}

/* Waits until a record at c->offset is durable; false on timeout / wakeup. */
static bool cursor_wait(struct pushlog_cursor *c, int timeout_ms)
{
    struct pushlog *log = c->log;
    pthread_mutex_lock(&log->mu);
    bool ready = log->durable_end > c->offset;
    if (!ready && timeout_ms > 0) {
        struct timespec dl;
        deadline_after(&dl, timeout_ms);
        unsigned gen = log->wake_gen;
        while (!(ready = log->durable_end > c->offset) && gen == log->wake_gen) {
            if (pthread_cond_timedwait(&log->cv, &log->mu, &dl) == ETIMEDOUT) {
                ready = log->durable_end > c->offset;
                break;
            }
        }
    }
    pthread_mutex_unlock(&log->mu);
    return ready;
}

int pushlog_cursor_read(struct pushlog_cursor *c, size_t max_records, int timeout_ms,
                        struct pushlog_batch *out, struct lerr *err)
{
    out->recs = NULL;
    out->n = 0;
    if (max_records == 0 || !cursor_wait(c, timeout_ms))
        return 0;
    if (c->recs_alloc < max_records) {
        size_t na = max_records < 65536 ? max_records : 65536;
        if (na > c->recs_alloc) {
            struct pushlog_record *nr = realloc(c->recs, na * sizeof *nr);
            if (!nr)
                return lerr_set(err, LERR_NOMEM, "push log: out of memory");
            c->recs = nr;
            c->recs_alloc = na;
        }
    }
    if (max_records > c->recs_alloc)
        max_records = c->recs_alloc;
    /* At the end of a sealed segment: locate moves on to the next one. */
    if (cursor_locate(c, err))
        return err->code;
    if (c->pos >= c->limit) {
        /* The segment ended; the next one starts at c->offset. */
        cursor_drop_fd(c);
        if (cursor_locate(c, err))
            return err->code;
        if (c->pos >= c->limit)
            return 0;
    }
    char path[4200];
    size_t want = c->cap;
    if (c->limit - c->pos < want)
        want = (size_t)(c->limit - c->pos);
    ssize_t got = pread_full(c->fd, c->buf, want, c->pos);
    if (got < 0) {
        seg_path(c->log, c->seg_base, path, sizeof path);
        return lerr_set(err, LERR_IO, "push log: cannot read %s: %s", path, strerror(errno));
    }
    size_t at = 0, n = 0;
    const char *why = NULL;
    while (n < max_records) {
        if ((size_t)got - at < HDR) {
            if (at == (size_t)got && c->pos + at == c->limit)
                break;
            if (c->pos + at + HDR > c->limit)
                why = "a frame header is cut short";
            break;
        }
        const unsigned char *h = (const unsigned char *)c->buf + at;
        uint32_t len = get_u32(h);
        if (len > c->log->rec_max) {
            why = "a frame claims more bytes than a record may hold";
            break;
        }
        if ((size_t)got - at < HDR + (size_t)len) {
            if (c->pos + at + HDR + len > c->limit)
                why = "a frame is cut short";
            break;   /* whole, but past this read: the next read starts with it */
        }
        if (get_u32(h + 4) != frame_crc(h, h + HDR, len)) {
            why = "checksum mismatch";
            break;
        }
        if ((int64_t)get_u64(h + 8) != c->offset + (int64_t)n) {
            why = "a frame holds the wrong offset";
            break;
        }
        c->recs[n] = (struct pushlog_record){
            .offset = c->offset + (int64_t)n,
            .ts_ms = (int64_t)get_u64(h + 16),
            .p = h + HDR,
            .len = len,
        };
        n++;
        at += HDR + len;
    }
    if (why && n == 0) {
        seg_path(c->log, c->seg_base, path, sizeof path);
        return lerr_set(err, LERR_CORRUPT, "push log: %s is damaged at byte %" PRIu64 ": %s",
                        path, c->pos + at, why);
    }
    c->pos += at;
    c->offset += (int64_t)n;
    out->recs = c->recs;
    out->n = n;
    return 0;
}
