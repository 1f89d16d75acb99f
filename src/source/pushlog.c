/*
 * pushlog.c — the push log: Lodestar's own durable single-partition stream,
 * one per push connection (DESIGN.md §6). POST /v1/events/{connection}
 * appends the request's events here as one unit and answers once they are on
 * disk; jobs read the log like a Kafka partition.
 *
 * Entry points: source_pushlog_open(), source_pushlog_append(), source_pushlog_trim(),
 * source_pushlog_start_offset(), source_pushlog_end_offset(), source_pushlog_wakeup(),
 * source_pushlog_cursor_open(), source_pushlog_cursor_seek(), source_pushlog_cursor_read(),
 * source_pushlog_cursor_offset(), source_pushlog_cursor_close(), source_pushlog_get_stats(),
 * source_pushlog_close().
 *
 * On disk: a directory holding LOCK (flock'd by the process that has the log
 * open) and segment files named by the offset of their first record,
 * "%020lld.log". A segment is a sequence of frames:
 *
 *     u32 lenf | u32 crc | u64 offset | i64 timestamp ms | len payload bytes
 *
 * little-endian. lenf is the payload length (at most 2^31 - 1) with bit 31
 * set on every frame of a unit but its last: "more frames of this unit
 * follow". crc is CRC-32C (util_crc32c) over lenf, timestamp, payload and
 * then offset — everything but itself, so a torn or flipped header (the unit
 * bit included) is caught as surely as a flipped payload byte. The offset
 * goes last so an appender can checksum its records before it holds the
 * mutex (before it knows their offsets) and finish each with 8 bytes under
 * it. Offsets are dense (0, 1, 2, ...) and stored explicitly so a reader can
 * check it is where it thinks it is.
 *
 * Units: one source_pushlog_append() call — one push request — is one unit, durable
 * as a whole or not at all. Logs written before the unit bit existed have it
 * clear everywhere, so every old frame reads as a unit by itself and old logs
 * read unchanged (older code refuses a new log's multi-record units: their
 * length fields look too large). A unit never spans two segment files: the
 * roll is decided once per append, before its first frame, so a unit larger
 * than segment_bytes makes its segment that much larger.
 *
 * Group commit without a writer thread: an appender, holding the mutex,
 * assigns its offsets and encodes its frames into the shared pending buffer.
 * If no one is writing, it becomes the writer: it takes the whole pending
 * buffer (its own records and everyone else's), writes it with one write()
 * and one fdatasync() outside the mutex, publishes the new durable end and
 * wakes everyone. Appenders whose records were in that group return; the
 * rest elect the next writer, whose group is what arrived during the last
 * sync. So one fsync covers as many requests as arrive while one is running.
 * The roll points are recorded in the pending buffer so the writer knows
 * where one file ends and the next begins; a segment is fdatasync'd before
 * the next one is created, so only the last segment can have a torn tail.
 *
 * Torn tail versus damage inside. A crash can leave the last segment ending
 * in a partial write: a frame cut short, or whole frames of a unit whose
 * last frame never arrived. That torn tail was never acknowledged and is cut
 * at open, back to the end of the last complete unit. Anything else that
 * fails a check — a flipped byte, a garbled header, records missing — is
 * damage inside the log: nothing is cut. The reader (and recovery) searches
 * forward for the next good frame ("resynchronising") and skips the damaged
 * records, and every reader reports the skipped offsets with the file and
 * byte range (struct source_pushlog_skip), so a job counts them and says so. A bad
 * frame is damage inside exactly when a good frame follows it somewhere in
 * the file; only a tail with none after it is torn. A sealed segment whose
 * bytes end before the next file's first offset (a deleted file) is skipped
 * the same way, reported as records missing rather than damaged. A reader
 * never goes backwards and never stops at damage.
 *
 * What a good frame is, when searching after damage: whole, checksum valid,
 * an offset not below the expected one, at most one more per 24 bytes
 * skipped (a frame is at least that long) and below the segment's end, and
 * confirmed by what follows it: the end of the durable bytes, or a good
 * frame holding the next offset. Event bytes that happen to (or are made to)
 * look like a frame are the risk: a payload is never parsed as frames on the
 * normal path (frames are followed by their lengths from a known start), so
 * a forged frame can only be picked up inside the damaged region itself —
 * the damaged record's own bytes — and the offset chain keeps it from
 * hiding anything: the genuine frame after the damage holds a lower offset
 * than a forged frame claiming a later one would need for confirmation. At
 * worst a forgery stands in for the damaged record that carried it. Recovery
 * at open also accepts, as confirmation, a torn frame claiming the next
 * offset (the crash may have cut the tail right after the damage).
 *
 * Readers (cursors) have their own file descriptors and only read bytes
 * below the published durable size of a segment (always at a unit boundary),
 * so they never wait for or block the writer and only see complete units;
 * the mutex is held only to look up segment bounds. A deleted (trimmed)
 * segment stays readable through a descriptor already open on it.
 *
 * A failed write or fdatasync makes the log refuse appends until it is
 * reopened: after a failed fsync the kernel may have dropped the dirty pages,
 * so nothing written since the last good sync can be trusted. The writer
 * cuts the segment back to its last durable size first (best effort).
 *
 * Why one file of ~1,500 lines: it is one on-disk format, the log's frames and
 * units, with its writer (group commit), recovery at open and readers, which must agree on
 * every byte; keeping them together keeps that agreement in one place.
 */
#include "source/source_int.h"
#include "util/vec.h"

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

#define HDR 24u                    /* frame header bytes */
#define LEN_MORE 0x80000000u       /* lenf: more frames of this unit follow */
#define LEN_MASK 0x7fffffffu       /* lenf: the payload length */
#define READ_CHUNK (1024u * 1024u) /* a cursor reads this much per pread */
#define TAIL_PROBE (64u * 1024u)   /* open: bytes read from a sealed segment's end */
#define SEG_NAME_LEN 24            /* 20 digits + ".log" */
#define MAX_DAMAGE_LOGGED 8        /* damaged regions named one by one at open */

/* One segment file. end and bytes cover durable records only. */
struct seg {
    int64_t base;   /* offset of the first record */
    int64_t end;    /* one past the last durable record */
    uint64_t bytes; /* durable bytes */
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

struct source_pushlog {
    char *dir;
    const char *name; /* the last part of dir (the connection), for messages */
    size_t seg_max, rec_max;
    int lock_fd;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* durable end moved, a writer finished, failure, wakeup */
    struct seg *segs;  /* sorted by base; the last one is being written */
    size_t nsegs, segs_alloc;
    int64_t durable_end;     /* one past the last durable record */
    int64_t next_offset;     /* next offset to assign */
    uint64_t active_logical; /* bytes of the active segment, pending ones included */
    struct pending pend;     /* appenders add here (under mu) */
    bool writing;            /* an appender is writing a group */
    bool failed;             /* sticky: appends are refused */
    char failmsg[300];
    unsigned wake_gen; /* bumped by source_pushlog_wakeup() */
    int64_t n_appends, n_groups;
    uint64_t n_bytes;

    /* Owned by the appender that holds `writing`. */
    struct pending spare;
    int fd; /* the active segment, open for writing */
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

/* The checksum of a frame up to its offset: lenf, timestamp, payload. */
static uint32_t crc_partial(uint32_t lenf, int64_t ts, const void *payload)
{
    unsigned char b[12];
    put_u32(b, lenf);
    put_u64(b + 4, (uint64_t)ts);
    return util_crc32c(util_crc32c(0, b, 12), payload, lenf & LEN_MASK);
}

/* ... finished with the offset. */
static uint32_t crc_finish(uint32_t partial, int64_t offset)
{
    unsigned char b[8];
    put_u64(b, (uint64_t)offset);
    return util_crc32c(partial, b, 8);
}

/* The checksum a frame should carry, from its bytes. */
static uint32_t frame_crc(const unsigned char *hdr, const void *payload)
{
    return crc_finish(crc_partial(get_u32(hdr), (int64_t)get_u64(hdr + 16), payload),
                      (int64_t)get_u64(hdr + 8));
}

static void encode_frame(unsigned char *out, uint32_t lenf, int64_t offset, int64_t ts,
                         const void *p, uint32_t partial)
{
    size_t len = lenf & LEN_MASK;
    put_u32(out, lenf);
    put_u64(out + 8, (uint64_t)offset);
    put_u64(out + 16, (uint64_t)ts);
    if (len)
        memcpy(out + HDR, p, len);
    put_u32(out + 4, crc_finish(partial, offset));
}

static void seg_path(const struct source_pushlog *log, int64_t base, char *out, size_t cap)
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

static int segs_push(struct source_pushlog *log, struct seg s)
{
    if (log->nsegs == log->segs_alloc) {
        struct seg *ns = vec_grow(log->segs, &log->segs_alloc, log->nsegs + 1, sizeof *ns, 8);
        if (!ns)
            return -1;
        log->segs = ns;
    }
    log->segs[log->nsegs++] = s;
    return 0;
}

/* ---- walking a segment's frames ------------------------------------------- */

/*
 * A segment file seen through a window of its bytes: recovery, seeks and
 * reads all walk frames with it, so they agree on what is a good frame and
 * where the next one starts after damage.
 */
struct walker {
    int fd;
    size_t rec_max;
    uint64_t limit; /* bytes that may be read: durable bytes, or the file size */
    char *buf;      /* the window; cap >= HDR + rec_max holds any frame */
    size_t cap;
    uint64_t wpos; /* the window holds bytes [wpos, wpos + wlen) */
    size_t wlen;
    char *vbuf; /* HDR + rec_max: resync checks candidates here; malloc'd when needed */
};

static size_t window_cap(size_t rec_max)
{
    return HDR + rec_max > READ_CHUNK ? HDR + rec_max : READ_CHUNK;
}

static bool in_window(const struct walker *w, uint64_t pos, size_t n)
{
    return pos >= w->wpos && pos - w->wpos <= w->wlen && n <= w->wlen - (size_t)(pos - w->wpos);
}

/* Reads the window from pos (as much as the limit and the file allow). */
static int refill(struct walker *w, uint64_t pos)
{
    size_t want = w->cap;
    if (w->limit - pos < want)
        want = (size_t)(w->limit - pos);
    ssize_t got = pread_full(w->fd, w->buf, want, pos);
    w->wpos = pos;
    w->wlen = got < 0 ? 0 : (size_t)got;
    return got < 0 ? -1 : 0;
}

enum fchk { FC_OK, FC_BAD, FC_STOP, FC_IOERR };

/*
 * The frame at byte pos (< limit). FC_OK: *hp points at it in the window;
 * its length is within rec_max and the limit and its checksum holds (its
 * offset is the caller's to check). FC_BAD: *why says what is wrong.
 * FC_STOP: it is not wholly in the window and may_read is false (records
 * returned earlier point into the window). FC_IOERR: errno is set.
 */
static enum fchk frame_at(struct walker *w, uint64_t pos, bool may_read, const unsigned char **hp,
                          const char **why)
{
    if (w->limit - pos < HDR) {
        *why = "a frame header is cut short";
        return FC_BAD;
    }
    if (!in_window(w, pos, HDR)) {
        if (!may_read)
            return FC_STOP;
        if (refill(w, pos))
            return FC_IOERR;
        if (!in_window(w, pos, HDR)) {
            *why = "the file ends before its recorded size";
            return FC_BAD;
        }
    }
    const unsigned char *h = (const unsigned char *)w->buf + (pos - w->wpos);
    size_t len = get_u32(h) & LEN_MASK;
    if (len > w->rec_max) {
        *why = "a frame claims more bytes than a record may hold";
        return FC_BAD;
    }
    if (w->limit - pos - HDR < len) {
        *why = "a frame is cut short";
        return FC_BAD;
    }
    if (!in_window(w, pos, HDR + len)) {
        if (!may_read)
            return FC_STOP;
        if (refill(w, pos))
            return FC_IOERR;
        if (!in_window(w, pos, HDR + len)) {
            *why = "the file ends before its recorded size";
            return FC_BAD;
        }
        h = (const unsigned char *)w->buf;
    }
    if (get_u32(h + 4) != frame_crc(h, h + HDR)) {
        *why = "checksum mismatch";
        return FC_BAD;
    }
    *hp = h;
    return FC_OK;
}

/*
 * Checks the frame at byte q (length, limit, checksum), from the window when
 * it holds the bytes, else read into vbuf: 1 good (*lenf and *off filled), 0
 * not, -1 I/O error. A frame cut short by the limit whose header is whole is
 * reported through *torn (when torn is not NULL) with *off filled, and
 * counts as not good.
 */
static int check_at(struct walker *w, uint64_t q, uint32_t *lenf, int64_t *off, bool *torn)
{
    if (torn)
        *torn = false;
    if (w->limit - q < HDR)
        return 0;
    const unsigned char *v = (const unsigned char *)w->vbuf;
    bool windowed = in_window(w, q, HDR);
    if (windowed) {
        v = (const unsigned char *)w->buf + (q - w->wpos);
    } else {
        ssize_t got = pread_full(w->fd, w->vbuf, HDR, q);
        if (got < 0)
            return -1;
        if ((size_t)got < HDR)
            return 0;
    }
    *lenf = get_u32(v);
    *off = (int64_t)get_u64(v + 8);
    size_t len = *lenf & LEN_MASK;
    if (len > w->rec_max)
        return 0;
    if (w->limit - q - HDR < len) {
        if (torn)
            *torn = true;
        return 0;
    }
    if (!windowed || !in_window(w, q, HDR + len)) {
        v = (const unsigned char *)w->vbuf;
        ssize_t got = pread_full(w->fd, w->vbuf, HDR + len, q);
        if (got < 0)
            return -1;
        if ((size_t)got < HDR + len)
            return 0;
    }
    return get_u32(v + 4) == frame_crc(v, v + HDR);
}

/*
 * After a bad frame at byte `from`, where offset `expect` was due: the first
 * later frame that is good, holds an offset in [expect, expect + (its byte
 * position - from) / HDR] and below hi, and is confirmed by what follows it:
 * the limit, or a good frame holding the next offset — or, with torn_ok (the
 * tail of the last segment at open), a frame cut short by the limit that
 * claims the next offset, or less than a header. The header comment says why
 * this is safe against payloads that look like frames. 1 found (*at, *off),
 * 0 none, -1 I/O error or no memory (errno set). Uses the window.
 */
static int resync(struct walker *w, uint64_t from, int64_t expect, int64_t hi, bool torn_ok,
                  uint64_t *at, int64_t *off)
{
    if (!w->vbuf && !(w->vbuf = malloc(HDR + w->rec_max)))
        return -1;
    for (uint64_t q = from + 1; q < w->limit && w->limit - q >= HDR; q++) {
        if (!in_window(w, q, HDR)) {
            if (refill(w, q))
                return -1;
            if (!in_window(w, q, HDR))
                return 0; /* the file ends before the limit */
        }
        const unsigned char *h = (const unsigned char *)w->buf + (q - w->wpos);
        size_t len = get_u32(h) & LEN_MASK;
        if (len > w->rec_max || w->limit - q - HDR < len)
            continue;
        int64_t o = (int64_t)get_u64(h + 8);
        if (o < expect || o >= hi || (uint64_t)(o - expect) > (q - from) / HDR)
            continue;
        uint32_t lenf;
        int64_t o1;
        int r = check_at(w, q, &lenf, &o1, NULL);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        /* Confirmed by what follows? */
        uint64_t q2 = q + HDR + len;
        bool ok;
        if (q2 == w->limit) {
            ok = true;
        } else if (w->limit - q2 < HDR) {
            ok = torn_ok;
        } else {
            uint32_t lenf2;
            int64_t o2;
            bool torn;
            r = check_at(w, q2, &lenf2, &o2, &torn);
            if (r < 0)
                return -1;
            ok = o2 == o + 1 && (r == 1 || (torn && torn_ok));
        }
        if (ok) {
            *at = q;
            *off = o;
            return 1;
        }
    }
    return 0;
}

/* Offsets a walk skipped, and why (static text). */
struct skipinfo {
    int64_t from, to;
    uint64_t byte_from, byte_to; /* the damaged bytes; equal when records are missing */
    bool corrupt;
    const char *why;
};

/* A walk along one segment's frames. */
struct chain {
    struct walker *w;
    uint64_t pos; /* byte position of the next frame */
    int64_t off;  /* the offset it should hold */
    int64_t hi;   /* offsets are below this (the segment's end); INT64_MAX at open */
    bool torn_ok; /* the tail of the last segment at open: it may be torn */
};

enum step { ST_RECORD, ST_SKIP, ST_END, ST_STOP, ST_TORN, ST_ERR };

/*
 * One step along the chain:
 *   ST_RECORD  *hp is the frame of offset ch->off - 1 (pos moved past it);
 *   ST_SKIP    offsets sk->from..to-1 cannot be read: a good frame holds a
 *              later offset (records missing), or bad bytes were skipped to
 *              the next good frame, or to the segment's end when none
 *              follows (ch->hi bounds the walk); from == to when damaged
 *              bytes held no record;
 *   ST_END     the bytes end here;
 *   ST_STOP    the next frame needs a read, and may_read is false;
 *   ST_TORN    (hi == INT64_MAX only) a bad frame with no good one after it:
 *              sk->why says what is wrong at ch->pos;
 *   ST_ERR     an I/O error (errno).
 */
static enum step chain_step(struct chain *ch, bool may_read, const unsigned char **hp,
                            struct skipinfo *sk)
{
    struct walker *w = ch->w;
    if (ch->pos >= w->limit)
        return ST_END;
    const unsigned char *h;
    const char *why = NULL;
    enum fchk fc = frame_at(w, ch->pos, may_read, &h, &why);
    if (fc == FC_STOP)
        return ST_STOP;
    if (fc == FC_IOERR)
        return ST_ERR;
    if (fc == FC_OK) {
        int64_t o = (int64_t)get_u64(h + 8);
        if (o == ch->off) {
            *hp = h;
            ch->pos += HDR + (get_u32(h) & LEN_MASK);
            ch->off++;
            return ST_RECORD;
        }
        if (o > ch->off && o < ch->hi) {
            /* A good frame where one was due, with a later offset: the
             * records between are missing, not damaged. */
            *sk = (struct skipinfo){ch->off, o,     ch->pos,
                                    ch->pos, false, "the frame there holds a later offset"};
            ch->off = o;
            return ST_SKIP;
        }
        why = o < ch->off ? "a frame holds an offset below the one expected"
                          : "a frame holds an offset past the segment's end";
    }
    if (!may_read)
        return ST_STOP;
    uint64_t at = 0;
    int64_t o = 0;
    int r = resync(w, ch->pos, ch->off, ch->hi, ch->torn_ok, &at, &o);
    if (r < 0)
        return ST_ERR;
    if (r == 0) {
        /* Nothing good follows: to the segment's end (never backwards). */
        int64_t to = ch->hi > ch->off ? ch->hi : ch->off;
        *sk = (struct skipinfo){ch->off, to, ch->pos, w->limit, true, why};
        if (ch->hi == INT64_MAX)
            return ST_TORN;
        ch->pos = w->limit;
        ch->off = to;
        return ST_SKIP;
    }
    *sk = (struct skipinfo){ch->off, o, ch->pos, at, true, why};
    ch->pos = at;
    ch->off = o;
    return ST_SKIP;
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
            int64_t *nb = vec_grow(*out, &alloc, *n + 1, sizeof *nb, 16);
            if (!nb) {
                closedir(d);
                free(*out);
                *out = NULL;
                return lerr_set(err, LERR_NOMEM, "push log %s: out of memory", dir);
            }
            *out = nb;
        }
        (*out)[(*n)++] = b;
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_i64);
    return 0;
}

/*
 * Scans the last segment: damage inside is kept (readers skip and report
 * it), a torn tail is cut back to the end of the last complete unit.
 */
static int recover_last(struct source_pushlog *log, int64_t base, struct lerr *err)
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
    uint64_t size = (uint64_t)st.st_size;
    struct walker w = {
        .fd = fd, .rec_max = log->rec_max, .limit = size, .cap = window_cap(log->rec_max)};
    w.buf = malloc(w.cap);
    if (!w.buf) {
        close(fd);
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    }
    struct chain ch = {.w = &w, .pos = 0, .off = base, .hi = INT64_MAX, .torn_ok = true};
    uint64_t unit_pos = 0; /* the end of the last complete unit */
    int64_t unit_off = base;
    struct skipinfo damage[MAX_DAMAGE_LOGGED], torn = {0};
    size_t ndamage = 0;
    bool is_torn = false;
    enum step s;
    for (;;) {
        const unsigned char *h;
        struct skipinfo sk;
        s = chain_step(&ch, true, &h, &sk);
        if (s == ST_RECORD) {
            if (!(get_u32(h) & LEN_MORE)) {
                unit_pos = ch.pos;
                unit_off = ch.off;
            }
        } else if (s == ST_SKIP) {
            if (ndamage < MAX_DAMAGE_LOGGED)
                damage[ndamage] = sk;
            ndamage++;
        } else {
            if (s == ST_TORN) {
                torn = sk;
                is_torn = true;
            }
            break;
        }
    }
    int e = errno;
    free(w.buf);
    free(w.vbuf);
    if (s == ST_ERR) {
        close(fd);
        return lerr_set(err, LERR_IO, "push log: cannot read %s: %s", path, strerror(e));
    }
    /* Damage before the cut point stays, and is named once here. */
    for (size_t i = 0; i < ndamage && i < MAX_DAMAGE_LOGGED; i++) {
        const struct skipinfo *d = &damage[i];
        if (d->byte_to >= unit_pos)
            continue; /* in the torn tail: cut below */
        if (!d->corrupt)
            log_msg(LOG_WARN, MOD,
                    "%s: offsets %" PRId64 "..%" PRId64 " are missing before byte %" PRIu64
                    " (%s); jobs reading them will skip them and say so",
                    path, d->from, d->to - 1, d->byte_from, d->why);
        else if (d->from < d->to)
            log_msg(LOG_WARN, MOD,
                    "%s: bytes %" PRIu64 "..%" PRIu64 " are damaged (%s): offsets %" PRId64
                    "..%" PRId64 " cannot be read; nothing was cut: the records after them are "
                    "kept, and jobs reading the damaged ones will skip them and say so",
                    path, d->byte_from, d->byte_to - 1, d->why, d->from, d->to - 1);
        else
            log_msg(LOG_WARN, MOD,
                    "%s: bytes %" PRIu64 "..%" PRIu64 " are damaged (%s) but hold no record; "
                    "readers step over them",
                    path, d->byte_from, d->byte_to - 1, d->why);
    }
    if (ndamage > MAX_DAMAGE_LOGGED)
        log_msg(LOG_WARN, MOD, "%s: %zu more damaged regions are not listed", path,
                ndamage - MAX_DAMAGE_LOGGED);
    if (unit_pos < size) {
        char why[200];
        if (!is_torn)
            snprintf(why, sizeof why, "the last unit's final frame was never written");
        else if (torn.byte_from > unit_pos)
            snprintf(why, sizeof why,
                     "an incomplete unit, then at byte %" PRIu64
                     ": %s, with no good frame after it",
                     torn.byte_from, torn.why);
        else
            snprintf(why, sizeof why, "%s, with no good frame after it", torn.why);
        log_msg(LOG_WARN, MOD,
                "%s: cut %" PRIu64 " bytes of torn tail at byte %" PRIu64
                " (%s); the log continues at offset %" PRId64,
                path, size - unit_pos, unit_pos, why, unit_off);
        if (ftruncate(fd, (off_t)unit_pos) != 0 || fdatasync(fd) != 0) {
            e = errno;
            close(fd);
            return lerr_set(err, LERR_IO, "push log: cannot truncate %s: %s", path, strerror(e));
        }
    }
    if (lseek(fd, (off_t)unit_pos, SEEK_SET) < 0) {
        e = errno;
        close(fd);
        return lerr_set(err, LERR_IO, "push log: cannot seek %s: %s", path, strerror(e));
    }
    log->fd = fd;
    if (segs_push(log, (struct seg){.base = base, .end = unit_off, .bytes = unit_pos}))
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    log->durable_end = log->next_offset = unit_off;
    log->active_logical = unit_pos;
    return 0;
}

/*
 * The offset of the last record of a sealed segment, found backwards from
 * its end: the frame nearest the end that ends exactly there and whose
 * checksum holds. -1 when none is found in the last TAIL_PROBE bytes (then
 * HDR + rec_max). Only for the message at open: readers walk the frames.
 */
static int64_t last_offset(int fd, uint64_t size, size_t rec_max, char *buf, size_t cap)
{
    size_t win = size < TAIL_PROBE + HDR ? (size_t)size : TAIL_PROBE + HDR;
    if (win > cap)
        win = cap;
    for (;;) {
        if (win < HDR || pread_full(fd, buf, win, size - win) != (ssize_t)win)
            return -1;
        const unsigned char *b = (const unsigned char *)buf;
        for (size_t p = win - HDR + 1; p-- > 0;) {
            size_t len = get_u32(b + p) & LEN_MASK;
            if (len <= rec_max && p + HDR + len == win &&
                get_u32(b + p + 4) == frame_crc(b + p, b + p + HDR))
                return (int64_t)get_u64(b + p + 8);
        }
        size_t more = size < HDR + rec_max ? (size_t)size : HDR + rec_max;
        if (more > cap)
            more = cap;
        if (more <= win)
            return -1;
        win = more;
    }
}

/* Says at open when a sealed segment ends before the next file begins. */
static void check_sealed(const char *path, int64_t base, int64_t next, uint64_t size,
                         size_t rec_max, char *buf, size_t cap)
{
    if (size == 0) {
        log_msg(LOG_WARN, MOD,
                "%s is empty but the next file starts at offset %" PRId64 ": offsets %" PRId64
                "..%" PRId64 " are missing; jobs reading them will skip them and say so",
                path, next, base, next - 1);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* readers report it */
    int64_t last = last_offset(fd, size, rec_max, buf, cap);
    close(fd);
    if (last >= base && last + 1 < next)
        log_msg(LOG_WARN, MOD,
                "%s ends with offset %" PRId64 " but the next file starts at offset %" PRId64
                ": offsets %" PRId64 "..%" PRId64 " are missing (a deleted file?); jobs reading "
                "them will skip them and say so",
                path, last, next, last + 1, next - 1);
}

static int create_segment(struct source_pushlog *log, int64_t base, int *fd_out, struct lerr *err)
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

void source_pushlog_close(struct source_pushlog *log)
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
        close(log->lock_fd); /* releases the flock */
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

int source_pushlog_open(const char *dir, const struct source_pushlog_opts *opts,
                        struct source_pushlog **out, struct lerr *err)
{
    *out = NULL;
    if (!dir || !*dir || strlen(dir) > 4000)
        return lerr_set(err, LERR_INVALID, "push log: directory name empty or too long");
    struct source_pushlog *log = calloc(1, sizeof *log);
    if (!log || !(log->dir = strdup(dir))) {
        free(log);
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    }
    size_t dl = strlen(log->dir);
    while (dl > 1 && log->dir[dl - 1] == '/')
        log->dir[--dl] = '\0';
    const char *slash = strrchr(log->dir, '/');
    log->name = slash && slash[1] ? slash + 1 : log->dir;
    log->fd = log->lock_fd = -1;
    log->seg_max = opts && opts->segment_bytes ? opts->segment_bytes : PUSHLOG_SEGMENT_DEFAULT;
    log->rec_max = opts && opts->max_record ? opts->max_record : PUSHLOG_MAX_RECORD_DEFAULT;
    if (log->rec_max > (size_t)LEN_MASK)
        log->rec_max = (size_t)LEN_MASK;
    pthread_mutex_init(&log->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log->cv, &ca);
    pthread_condattr_destroy(&ca);

    int64_t *bases = NULL;
    size_t nb = 0;
    char path[4200];
    char *probe = NULL;
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
     * system. Their records are checked by readers (CRC, offsets), which
     * skip and report what is damaged or missing — a file deleted between
     * two others leaves the one before it short of the next one's base. */
    size_t probe_cap = HDR + log->rec_max;
    for (size_t i = 0; i + 1 < nb; i++) {
        seg_path(log, bases[i], path, sizeof path);
        struct stat st;
        if (stat(path, &st) != 0) {
            lerr_set(err, LERR_IO, "push log: cannot stat %s: %s", path, strerror(errno));
            goto fail;
        }
        if (!probe && !(probe = malloc(probe_cap))) {
            lerr_set(err, LERR_NOMEM, "push log: out of memory");
            goto fail;
        }
        check_sealed(path, bases[i], bases[i + 1], (uint64_t)st.st_size, log->rec_max, probe,
                     probe_cap);
        if (segs_push(log, (struct seg){bases[i], bases[i + 1], (uint64_t)st.st_size})) {
            lerr_set(err, LERR_NOMEM, "push log: out of memory");
            goto fail;
        }
    }
    free(probe);
    probe = NULL;
    if (recover_last(log, bases[nb - 1], err))
        goto fail;
    free(bases);
    *out = log;
    return 0;
fail:
    free(probe);
    free(bases);
    source_pushlog_close(log);
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
static void write_group(struct source_pushlog *log)
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
        log_msg(LOG_ERROR, MOD, "%s; appends are refused until the log is reopened", log->failmsg);
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

int source_pushlog_append(struct source_pushlog *log, const struct source_pushlog_entry *e,
                          size_t n, int64_t *first_offset, struct lerr *err)
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
     * memcpy and 8 bytes of CRC per record remain. Every frame but the last
     * says more of its unit follows. */
    uint32_t crc_small[512];
    uint32_t *crcs = n <= LS_ARRAY_LEN(crc_small) ? crc_small : malloc(n * sizeof *crcs);
    if (!crcs)
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    for (size_t i = 0; i < n; i++)
        crcs[i] = crc_partial((uint32_t)e[i].len | (i + 1 < n ? LEN_MORE : 0), e[i].ts_ms, e[i].p);
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
    /* The unit goes whole into one segment: roll before it, or not at all. */
    bool roll = log->active_logical > 0 && log->active_logical + total > log->seg_max;
    if (pending_reserve(&log->pend, total, roll ? 1 : 0)) {
        rc = lerr_set(err, LERR_NOMEM, "push log: out of memory for %zu bytes", total);
        goto out;
    }
    if (roll) {
        log->pend.rolls[log->pend.nrolls++] =
            (struct roll){.pos = log->pend.len, .base = log->next_offset};
        log->active_logical = 0;
    }
    unsigned char *out = (unsigned char *)log->pend.p + log->pend.len;
    for (size_t i = 0; i < n; i++) {
        encode_frame(out, (uint32_t)e[i].len | (i + 1 < n ? LEN_MORE : 0), log->next_offset,
                     e[i].ts_ms, e[i].p, crcs[i]);
        out += HDR + e[i].len;
        log->next_offset++;
    }
    log->pend.len += total;
    log->active_logical += total;
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

int64_t source_pushlog_start_offset(struct source_pushlog *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->segs[0].base;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int64_t source_pushlog_end_offset(struct source_pushlog *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->durable_end;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int source_pushlog_trim(struct source_pushlog *log, int64_t offset, int *deleted, struct lerr *err)
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
        fsync_dir(log->dir); /* a lost unlink only delays the deletion to the next trim */
    if (deleted)
        *deleted = nd;
    return rc;
}

void source_pushlog_get_stats(struct source_pushlog *log, struct source_pushlog_stats *out)
{
    pthread_mutex_lock(&log->mu);
    *out = (struct source_pushlog_stats){
        .start_offset = log->segs[0].base,
        .end_offset = log->durable_end,
        .appends = log->n_appends,
        .groups = log->n_groups,
        .bytes = log->n_bytes,
        .segments = (int)log->nsegs,
    };
    pthread_mutex_unlock(&log->mu);
}

void source_pushlog_wakeup(struct source_pushlog *log)
{
    pthread_mutex_lock(&log->mu);
    log->wake_gen++;
    pthread_cond_broadcast(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

/* ---- cursors -------------------------------------------------------------- */

struct source_pushlog_cursor {
    struct source_pushlog *log;
    int64_t offset; /* next record to return (after the pending skip, when there is one) */
    int fd;         /* the segment holding `offset`, or -1 */
    int64_t seg_base;
    int64_t seg_end;                 /* its end offset, as last looked up */
    bool seg_last;                   /* it was the segment being written */
    uint64_t pos;                    /* byte position of the frame due next */
    struct walker w;                 /* over fd; w.limit: its durable bytes as last looked up */
    struct source_pushlog_skip skip; /* found but not yet returned */
    bool has_skip;
    struct source_pushlog_record *recs;
    size_t recs_alloc;
};

static void cursor_drop_fd(struct source_pushlog_cursor *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = c->w.fd = -1;
    c->w.wlen = 0;
}

/*
 * Makes offsets [from, sk->to) the cursor's pending skip, with a reason that
 * names the file and bytes; the caller moves the cursor past it. An empty
 * one (damaged bytes that held no record) is only logged.
 */
static void cursor_set_skip(struct source_pushlog_cursor *c, const struct skipinfo *sk,
                            int64_t from)
{
    char file[32];
    snprintf(file, sizeof file, "%020" PRId64 ".log", c->seg_base);
    if (from >= sk->to) {
        log_msg(LOG_WARN, MOD,
                "push log %s, file %s: bytes %" PRIu64 "..%" PRIu64
                " are damaged (%s) but hold no record; stepped over",
                c->log->name, file, sk->byte_from, sk->byte_to - 1, sk->why);
        return;
    }
    struct source_pushlog_skip *s = &c->skip;
    s->from = from;
    s->to = sk->to;
    s->corrupt = sk->corrupt;
    if (sk->corrupt)
        snprintf(s->why, sizeof s->why,
                 "push log %s, file %s, bytes %" PRIu64 "..%" PRIu64 " damaged: %s", c->log->name,
                 file, sk->byte_from, sk->byte_to - 1, sk->why);
    else
        snprintf(s->why, sizeof s->why,
                 "push log %s, file %s, at byte %" PRIu64 ": records missing from the log (%s)",
                 c->log->name, file, sk->byte_from, sk->why);
    c->has_skip = true;
}

/*
 * Makes c->fd/pos/w.limit describe the segment holding c->offset (reading
 * past damage to it, which may leave a pending skip). LERR_NOT_FOUND when it
 * was trimmed, LERR_IO. fd stays -1 when the file is gone (then a skip is
 * pending, or nothing is left to read).
 */
static int cursor_locate(struct source_pushlog_cursor *c, struct lerr *err)
{
    struct source_pushlog *log = c->log;
    pthread_mutex_lock(&log->mu);
    int64_t start = log->segs[0].base;
    size_t i = log->nsegs;
    while (i > 0 && log->segs[i - 1].base > c->offset)
        i--;
    if (i == 0) {
        pthread_mutex_unlock(&log->mu);
        /* Trimmed, but a descriptor already open on it still reads it. */
        if (c->fd >= 0 && c->pos < c->w.limit)
            return 0;
        cursor_drop_fd(c);
        return lerr_set(err, LERR_NOT_FOUND,
                        "push log: offset %" PRId64 " was trimmed; the log now starts at %" PRId64,
                        c->offset, start);
    }
    struct seg s = log->segs[i - 1];
    bool last = i == log->nsegs;
    pthread_mutex_unlock(&log->mu);
    if (c->fd >= 0 && c->seg_base == s.base) {
        c->w.limit = s.bytes;
        c->seg_end = s.end;
        c->seg_last = last;
        return 0;
    }
    cursor_drop_fd(c);
    c->seg_base = s.base;
    c->seg_end = s.end;
    c->seg_last = last;
    c->pos = 0;
    c->w.limit = 0;
    char path[4200];
    seg_path(log, s.base, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return lerr_set(err, LERR_IO, "push log: cannot open %s: %s", path, strerror(errno));
        start = source_pushlog_start_offset(log);
        if (c->offset < start)
            return lerr_set(err, LERR_NOT_FOUND,
                            "push log: offset %" PRId64
                            " was trimmed; the log now starts at %" PRId64,
                            c->offset, start);
        /* Deleted from under the log: its records are missing. */
        if (c->offset < s.end) {
            struct skipinfo sk = {c->offset, s.end, 0, 0, false, "the file is gone"};
            cursor_set_skip(c, &sk, c->offset);
            c->offset = s.end;
        }
        return 0;
    }
    c->fd = c->w.fd = fd;
    c->w.limit = s.bytes;
    if (c->offset == s.base)
        return 0;
    if (c->offset >= s.end) {
        c->pos = s.bytes;
        return 0;
    }
    /* Somewhere inside: walk the frames from the start (checking them). */
    struct chain ch = {.w = &c->w, .pos = 0, .off = s.base, .hi = s.end};
    while (ch.off < c->offset) {
        const unsigned char *h;
        struct skipinfo sk;
        enum step st = chain_step(&ch, true, &h, &sk);
        if (st == ST_RECORD)
            continue;
        if (st == ST_SKIP) {
            if (sk.to > c->offset) { /* c->offset lies in what is skipped */
                cursor_set_skip(c, &sk, c->offset);
                c->offset = sk.to;
                break;
            }
            continue;
        }
        if (st == ST_ERR) {
            int e = errno;
            cursor_drop_fd(c);
            return lerr_set(err, LERR_IO, "push log: cannot read %s: %s", path, strerror(e));
        }
        break; /* ST_END: short of c->offset; the read reports the rest as missing */
    }
    c->pos = ch.pos;
    return 0;
}

int source_pushlog_cursor_seek(struct source_pushlog_cursor *c, int64_t offset, struct lerr *err)
{
    struct source_pushlog *log = c->log;
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
                        "push log: offset %" PRId64
                        " is past the end; the log holds offsets %" PRId64 " to %" PRId64,
                        offset, start, end);
    cursor_drop_fd(c);
    c->has_skip = false;
    c->offset = offset;
    return cursor_locate(c, err);
}

int source_pushlog_cursor_open(struct source_pushlog *log, int64_t offset,
                               struct source_pushlog_cursor **out, struct lerr *err)
{
    *out = NULL;
    struct source_pushlog_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    c->log = log;
    c->fd = -1;
    c->w = (struct walker){.fd = -1, .rec_max = log->rec_max, .cap = window_cap(log->rec_max)};
    c->w.buf = malloc(c->w.cap);
    if (!c->w.buf) {
        free(c);
        return lerr_set(err, LERR_NOMEM, "push log: out of memory");
    }
    if (source_pushlog_cursor_seek(c, offset, err)) {
        source_pushlog_cursor_close(c);
        return err->code;
    }
    *out = c;
    return 0;
}

int64_t source_pushlog_cursor_offset(const struct source_pushlog_cursor *c)
{
    return c->has_skip ? c->skip.from : c->offset;
}

void source_pushlog_cursor_close(struct source_pushlog_cursor *c)
{
    if (!c)
        return;
    cursor_drop_fd(c);
    free(c->w.buf);
    free(c->w.vbuf);
    free(c->recs);
    free(c);
}

/* Waits until a record at c->offset is durable; false on timeout / wakeup. */
static bool cursor_wait(struct source_pushlog_cursor *c, int timeout_ms)
{
    struct source_pushlog *log = c->log;
    pthread_mutex_lock(&log->mu);
    bool ready = log->durable_end > c->offset;
    if (!ready && timeout_ms > 0) {
        struct timespec dl;
        util_deadline(CLOCK_MONOTONIC, timeout_ms, &dl);
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

int source_pushlog_cursor_read(struct source_pushlog_cursor *c, size_t max_records, int timeout_ms,
                               struct source_pushlog_batch *out, struct lerr *err)
{
    out->recs = NULL;
    out->n = 0;
    out->has_skip = false;
    if (max_records == 0 || (!c->has_skip && !cursor_wait(c, timeout_ms)))
        return 0;
    if (c->recs_alloc < max_records) {
        size_t na = max_records < 65536 ? max_records : 65536;
        if (na > c->recs_alloc) {
            struct source_pushlog_record *nr = realloc(c->recs, na * sizeof *nr);
            if (!nr)
                return lerr_set(err, LERR_NOMEM, "push log: out of memory");
            c->recs = nr;
            c->recs_alloc = na;
        }
    }
    if (max_records > c->recs_alloc)
        max_records = c->recs_alloc;
    size_t n = 0;
    struct lerr e2;
    lerr_init(&e2);
    int rc = 0;
    /* Every round moves on: records, a skip, or the next segment. A batch
     * carries at most one skip, and its records all come after it. */
    for (;;) {
        if (c->has_skip) {
            if (n > 0 || out->has_skip)
                break; /* the next read returns it */
            out->skip = c->skip;
            out->has_skip = true;
            c->has_skip = false;
        }
        if (n >= max_records)
            break;
        if ((rc = cursor_locate(c, &e2)) != 0)
            break;
        if (c->has_skip)
            continue;
        if (c->fd < 0)
            break; /* the last file is gone and nothing follows */
        struct chain ch = {.w = &c->w, .pos = c->pos, .off = c->offset, .hi = c->seg_end};
        const unsigned char *h;
        struct skipinfo sk;
        enum step st = ST_STOP;
        /* Records in the batch point into the window: once there is one, the
         * window is not read again (ST_STOP) and damage waits for the next read. */
        while (n < max_records && (st = chain_step(&ch, n == 0, &h, &sk)) == ST_RECORD)
            c->recs[n++] = (struct source_pushlog_record){
                .offset = ch.off - 1,
                .ts_ms = (int64_t)get_u64(h + 16),
                .p = h + HDR,
                .len = get_u32(h) & LEN_MASK,
            };
        c->pos = ch.pos;
        c->offset = ch.off;
        if (n >= max_records || st == ST_STOP)
            break;
        if (st == ST_ERR) {
            char path[4200];
            seg_path(c->log, c->seg_base, path, sizeof path);
            rc = lerr_set(&e2, LERR_IO, "push log: cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (st == ST_SKIP) {
            cursor_set_skip(c, &sk, sk.from);
            continue;
        }
        /* ST_END: every durable byte of the segment is read. */
        if (c->offset < c->seg_end) {
            struct skipinfo miss = {c->offset,
                                    c->seg_end,
                                    c->pos,
                                    c->pos,
                                    false,
                                    c->seg_last ? "the file ends before the log's end"
                                                : "the file ends before the next file's first "
                                                  "offset: a file between them was deleted?"};
            cursor_set_skip(c, &miss, c->offset);
            c->offset = c->seg_end;
            continue;
        }
        if (c->seg_last || n > 0)
            break; /* nothing more is durable; or the next file, in the next read */
        cursor_drop_fd(c);
    }
    if (rc && (n > 0 || out->has_skip))
        rc = 0; /* first what was read; the error comes again next time */
    if (rc)
        return lerr_set(err, e2.code, "%s", e2.msg);
    out->recs = c->recs;
    out->n = n;
    return 0;
}
