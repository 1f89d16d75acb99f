/*
 * test_pushlog.c — the push log (src/source/pushlog.c) and the push source
 * (src/source/push.c): round trips, dense offsets, concurrent appenders with
 * a concurrent reader, reopen, torn and corrupt tails, trim, trimmed
 * offsets, the record cap, and the log read through the source interface.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "source/source_int.h"   /* util_crc32c, the frames' checksum */

static char g_root[256];
static int g_dirn;

static void new_dir(char *out, size_t cap)
{
    snprintf(out, cap, "%s/log%d", g_root, g_dirn++);
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_rf(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".log"))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* Record i's deterministic payload: length 0..max-1, bytes from i. */
static size_t make_payload(int64_t i, char *buf, size_t max)
{
    size_t len = (size_t)((i * 7919) % (int64_t)max);
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)('a' + (i + (int64_t)k) % 26);
    return len;
}

static int append_range(struct pushlog *log, int64_t from, int64_t to, size_t maxlen)
{
    /* 512 records per call: each call is an fdatasync, which can take
     * milliseconds on a busy disk. */
    static char bufs[512][2048];
    static struct pushlog_entry e[512];
    for (int64_t i = from; i < to;) {
        int k = 0;
        for (; k < 512 && i < to; k++, i++) {
            e[k].len = make_payload(i, bufs[k], maxlen);
            e[k].p = bufs[k];
            e[k].ts_ms = 1700000000000 + i;
        }
        struct lerr err;
        lerr_init(&err);
        int64_t first = -1;
        if (pushlog_append(log, e, (size_t)k, &first, &err)) {
            fprintf(stderr, "append: %s\n", err.msg);
            return -1;
        }
        if (first != i - k) {
            fprintf(stderr, "append: first %lld, want %lld\n", (long long)first,
                    (long long)(i - k));
            return -1;
        }
    }
    return 0;
}

/* Reads [from, to) and checks every record; returns the number that matched. */
static int64_t verify_range(struct pushlog *log, int64_t from, int64_t to, size_t maxlen)
{
    struct pushlog_cursor *c;
    struct lerr err;
    lerr_init(&err);
    if (pushlog_cursor_open(log, from, &c, &err)) {
        fprintf(stderr, "cursor: %s\n", err.msg);
        return -1;
    }
    char want[2048];
    int64_t ok = 0, next = from;
    while (next < to) {
        struct pushlog_batch b;
        if (pushlog_cursor_read(c, 1000, 0, &b, &err)) {
            fprintf(stderr, "read at %lld: %s\n", (long long)next, err.msg);
            break;
        }
        if (b.n == 0)
            break;
        for (size_t i = 0; i < b.n; i++, next++) {
            size_t wl = make_payload(next, want, maxlen);
            if (b.recs[i].offset == next && b.recs[i].len == wl &&
                memcmp(b.recs[i].p, want, wl) == 0 && b.recs[i].ts_ms == 1700000000000 + next)
                ok++;
        }
    }
    pushlog_cursor_close(c);
    return ok;
}

static void test_crc32c(void)
{
    /* The check value of CRC-32C (RFC 3720 / iSCSI) and its zeros vector. */
    CHECK_EQ_INT(util_crc32c(0, "123456789", 9), 0xE3069283u);
    unsigned char z[32] = {0};
    CHECK_EQ_INT(util_crc32c(0, z, 32), 0x8A9136AAu);
    CHECK_EQ_INT(util_crc32c(util_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    /* The accelerated and the table versions agree at every length and alignment. */
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    int diffs = 0;
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 7)
            diffs += util_crc32c(0x1234, buf + off, n) != util_crc32c_sw(0x1234, buf + off, n);
    CHECK_EQ_INT(diffs, 0);
}

static void test_round_trip(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct pushlog_opts o = {.segment_bytes = 256 * 1024};
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(pushlog_start_offset(log), 0);
    CHECK_EQ_INT(pushlog_end_offset(log), 0);
    const int64_t N = 20000;
    CHECK_EQ_INT(append_range(log, 0, N, 2000), 0);
    CHECK_EQ_INT(pushlog_end_offset(log), N);
    CHECK_EQ_INT(verify_range(log, 0, N, 2000), N);
    CHECK_EQ_INT(verify_range(log, 12345, N, 2000), N - 12345);   /* seek inside a segment */
    CHECK_MSG(count_segments(dir) > 50, "segments: %d", count_segments(dir));

    /* latest gives nothing old, then exactly what comes next */
    struct pushlog_cursor *c;
    CHECK_EQ_INT(pushlog_cursor_open(log, SOURCE_OFFSET_LATEST, &c, &err), 0);
    struct pushlog_batch b;
    CHECK_EQ_INT(pushlog_cursor_read(c, 100, 0, &b, &err), 0);
    CHECK_EQ_INT(b.n, 0);
    CHECK_EQ_INT(append_range(log, N, N + 3, 2000), 0);
    CHECK_EQ_INT(pushlog_cursor_read(c, 100, 0, &b, &err), 0);
    CHECK_EQ_INT(b.n, 3);
    CHECK_EQ_INT(b.recs[0].offset, N);
    pushlog_cursor_close(c);

    /* offsets past the end are refused with the range in the message */
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_cursor_open(log, N + 100, &c, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "past the end") != NULL, "%s", err.msg);

    /* a second opener of the same directory is refused */
    struct pushlog *log2;
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, &o, &log2, &err), LERR_CONFLICT);
    pushlog_close(log);

    /* durability: reopen and find everything */
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(pushlog_end_offset(log), N + 3);
    CHECK_EQ_INT(verify_range(log, 0, N + 3, 2000), N + 3);
    CHECK_EQ_INT(append_range(log, N + 3, N + 10, 2000), 0);
    CHECK_EQ_INT(verify_range(log, N - 5, N + 10, 2000), 15);
    pushlog_close(log);
    rm_rf(dir);
}

static void test_cap(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, NULL, &log, &err), 0);
    char *big = calloc(1, PUSHLOG_MAX_RECORD_DEFAULT + 1);
    struct pushlog_entry e[2] = {{"ok", 2, 1}, {big, PUSHLOG_MAX_RECORD_DEFAULT + 1, 2}};
    CHECK_EQ_INT(pushlog_append(log, e, 2, NULL, &err), LERR_TOO_LARGE);
    CHECK_MSG(strstr(err.msg, "event 1") != NULL, "%s", err.msg);
    CHECK_EQ_INT(pushlog_end_offset(log), 0);   /* nothing of the call was kept */
    e[1].len = PUSHLOG_MAX_RECORD_DEFAULT;      /* exactly the cap is fine */
    lerr_init(&err);
    int64_t first = -1;
    CHECK_EQ_INT(pushlog_append(log, e, 2, &first, &err), 0);
    CHECK_EQ_INT(first, 0);
    struct pushlog_cursor *c;
    CHECK_EQ_INT(pushlog_cursor_open(log, 0, &c, &err), 0);
    struct pushlog_batch b;
    size_t got = 0, bytes = 0;
    for (int i = 0; i < 4 && got < 2; i++) {
        CHECK_EQ_INT(pushlog_cursor_read(c, 10, 0, &b, &err), 0);
        for (size_t k = 0; k < b.n; k++)
            bytes += b.recs[k].len;
        got += b.n;
    }
    CHECK_EQ_INT(got, 2);
    CHECK_EQ_INT(bytes, 2 + PUSHLOG_MAX_RECORD_DEFAULT);
    pushlog_cursor_close(c);
    free(big);
    pushlog_close(log);
    rm_rf(dir);
}

/* ---- concurrency ---------------------------------------------------------- */

#define CT_THREADS 4
#define CT_CALLS 60
#define CT_PER_CALL 50

struct ct_arg {
    struct pushlog *log;
    int id;
    int fails;
};

static void *ct_appender(void *p)
{
    struct ct_arg *a = p;
    char bufs[CT_PER_CALL][64];
    struct pushlog_entry e[CT_PER_CALL];
    for (int call = 0; call < CT_CALLS; call++) {
        for (int k = 0; k < CT_PER_CALL; k++) {
            int seq = call * CT_PER_CALL + k;
            int n = snprintf(bufs[k], sizeof bufs[k], "t%d:%d", a->id, seq);
            e[k] = (struct pushlog_entry){bufs[k], (size_t)n, seq};
        }
        struct lerr err;
        lerr_init(&err);
        int64_t first;
        if (pushlog_append(a->log, e, CT_PER_CALL, &first, &err))
            a->fails++;
        /* the call returned after its records were durable */
        if (pushlog_end_offset(a->log) < first + CT_PER_CALL)
            a->fails++;
    }
    return NULL;
}

struct ct_reader {
    struct pushlog *log;
    int next_seq[CT_THREADS];
    int64_t total, bad, expected_offset;
    int64_t max_wait_ms;
};

static void *ct_read(void *p)
{
    struct ct_reader *r = p;
    struct pushlog_cursor *c;
    struct lerr err;
    lerr_init(&err);
    if (pushlog_cursor_open(r->log, SOURCE_OFFSET_EARLIEST, &c, &err)) {
        r->bad++;
        return NULL;
    }
    const int64_t want = (int64_t)CT_THREADS * CT_CALLS * CT_PER_CALL;
    int idle = 0;
    while (r->total < want && idle < 50) {
        struct pushlog_batch b;
        if (pushlog_cursor_read(c, 97, 200, &b, &err)) {
            r->bad++;
            break;
        }
        idle = b.n ? 0 : idle + 1;
        for (size_t i = 0; i < b.n; i++) {
            int t, seq;
            char s[64];
            size_t l = b.recs[i].len < 63 ? b.recs[i].len : 63;
            memcpy(s, b.recs[i].p, l);
            s[l] = '\0';
            if (b.recs[i].offset != r->expected_offset++ || sscanf(s, "t%d:%d", &t, &seq) != 2 ||
                t < 0 || t >= CT_THREADS || seq != r->next_seq[t] || b.recs[i].ts_ms != seq) {
                r->bad++;
                continue;
            }
            r->next_seq[t]++;
            r->total++;
        }
    }
    pushlog_cursor_close(c);
    return NULL;
}

static void test_concurrent(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct pushlog_opts o = {.segment_bytes = 32 * 1024};   /* rolls during the run */
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    struct ct_reader rd = {.log = log};
    pthread_t rt, th[CT_THREADS];
    struct ct_arg args[CT_THREADS];
    pthread_create(&rt, NULL, ct_read, &rd);
    for (int i = 0; i < CT_THREADS; i++) {
        args[i] = (struct ct_arg){.log = log, .id = i};
        pthread_create(&th[i], NULL, ct_appender, &args[i]);
    }
    for (int i = 0; i < CT_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].fails, 0);
    }
    pthread_join(rt, NULL);
    const int64_t want = (int64_t)CT_THREADS * CT_CALLS * CT_PER_CALL;
    CHECK_EQ_INT(rd.total, want);   /* every record exactly once ... */
    CHECK_EQ_INT(rd.bad, 0);        /* ... dense offsets, per-thread order */
    for (int i = 0; i < CT_THREADS; i++)
        CHECK_EQ_INT(rd.next_seq[i], CT_CALLS * CT_PER_CALL);
    CHECK_EQ_INT(pushlog_end_offset(log), want);
    struct pushlog_stats st;
    pushlog_get_stats(log, &st);
    CHECK_EQ_INT(st.appends, CT_THREADS * CT_CALLS);
    CHECK_MSG(st.groups >= 1 && st.groups <= st.appends, "groups %lld for %lld appends",
              (long long)st.groups, (long long)st.appends);
    CHECK_EQ_INT(st.end_offset, want);
    CHECK_EQ_INT(st.segments, count_segments(dir));
    pushlog_close(log);

    /* and the same after a reopen */
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    struct ct_reader rd2 = {.log = log};
    ct_read(&rd2);
    CHECK_EQ_INT(rd2.total, want);
    CHECK_EQ_INT(rd2.bad, 0);
    pushlog_close(log);
    rm_rf(dir);
}

/* A reader waiting on the log sees an append within milliseconds. */
struct wake_arg {
    struct pushlog *log;
    int64_t seen_ms;
};

static void *wake_reader(void *p)
{
    struct wake_arg *w = p;
    struct pushlog_cursor *c;
    struct lerr err;
    lerr_init(&err);
    if (pushlog_cursor_open(w->log, SOURCE_OFFSET_LATEST, &c, &err))
        return NULL;
    struct pushlog_batch b;
    if (pushlog_cursor_read(c, 10, 5000, &b, &err) == 0 && b.n == 1)
        w->seen_ms = util_mono_ns() / 1000000;
    pushlog_cursor_close(c);
    return NULL;
}

static void test_wait(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, NULL, &log, &err), 0);
    struct wake_arg w = {.log = log, .seen_ms = -1};
    pthread_t t;
    pthread_create(&t, NULL, wake_reader, &w);
    usleep(100 * 1000);
    struct pushlog_entry e = {"x", 1, 0};
    CHECK_EQ_INT(pushlog_append(log, &e, 1, NULL, &err), 0);
    int64_t appended = util_mono_ns() / 1000000;
    pthread_join(t, NULL);
    CHECK_MSG(w.seen_ms >= 0 && w.seen_ms - appended < 100,
              "reader saw the append %lld ms after it returned", (long long)(w.seen_ms - appended));
    /* a timed-out read returns nothing, promptly */
    struct pushlog_cursor *c;
    CHECK_EQ_INT(pushlog_cursor_open(log, SOURCE_OFFSET_LATEST, &c, &err), 0);
    struct pushlog_batch b;
    int64_t t0 = util_mono_ns();
    CHECK_EQ_INT(pushlog_cursor_read(c, 10, 50, &b, &err), 0);
    int64_t ms = (util_mono_ns() - t0) / 1000000;
    CHECK_EQ_INT(b.n, 0);
    CHECK_MSG(ms >= 45 && ms < 1000, "timed read took %lld ms", (long long)ms);
    pushlog_cursor_close(c);
    pushlog_close(log);
    rm_rf(dir);
}

/* ---- torn and corrupt tails ---------------------------------------------- */

static off_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

/* A log of n records of 100 bytes in one segment; returns its file's path. */
static void build_small(const char *dir, int64_t n, char *seg, size_t cap)
{
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    if (pushlog_open(dir, NULL, &log, &err) == 0) {
        append_range(log, 0, n, 101);
        pushlog_close(log);
    }
    snprintf(seg, cap, "%s/%020d.log", dir, 0);
}

/* Reopens after damage and checks: end == want_end, content intact, appends continue. */
static void check_recovered(const char *dir, int64_t want_end, const char *what)
{
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    if (pushlog_open(dir, NULL, &log, &err) != 0) {
        CHECK_MSG(0, "%s: reopen: %s", what, err.msg);
        return;
    }
    CHECK_MSG(pushlog_end_offset(log) == want_end, "%s: end %lld, want %lld", what,
              (long long)pushlog_end_offset(log), (long long)want_end);
    CHECK_MSG(verify_range(log, 0, want_end, 101) == want_end, "%s: content", what);
    CHECK_MSG(append_range(log, want_end, want_end + 5, 101) == 0, "%s: append", what);
    CHECK_MSG(verify_range(log, 0, want_end + 5, 101) == want_end + 5, "%s: content after", what);
    pushlog_close(log);
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, NULL, &log, &err), 0);   /* and it stays good */
    if (log) {
        CHECK_EQ_INT(pushlog_end_offset(log), want_end + 5);
        pushlog_close(log);
    }
}

static void test_torn_tail(void)
{
    const int64_t N = 50;
    char dir[300], seg[400];
    /* Frame sizes: payload of record i is make_payload(i, .., 101) bytes + 24. */
    off_t ends[51];
    ends[0] = 0;
    char tmp[200];
    for (int64_t i = 0; i < N; i++)
        ends[i + 1] = ends[i] + 24 + (off_t)make_payload(i, tmp, 101);

    /* Cut the file at every byte of the last two frames and a few elsewhere. */
    off_t cuts[64];
    int ncuts = 0;
    for (off_t x = ends[N - 2]; x < ends[N] && ncuts < 24; x += (ends[N] - ends[N - 2]) / 21 + 1)
        cuts[ncuts++] = x;
    cuts[ncuts++] = ends[N - 1] + 1;    /* one byte into the last header */
    cuts[ncuts++] = ends[N - 1] + 23;   /* header whole, no payload */
    cuts[ncuts++] = ends[10] + 5;
    cuts[ncuts++] = 3;
    for (int k = 0; k < ncuts; k++) {
        new_dir(dir, sizeof dir);
        build_small(dir, N, seg, sizeof seg);
        CHECK_EQ_INT(file_size(seg), ends[N]);
        if (truncate(seg, cuts[k]) != 0)
            CHECK(0);
        int64_t want = 0;
        while (want < N && ends[want + 1] <= cuts[k])
            want++;
        char what[64];
        snprintf(what, sizeof what, "cut at byte %lld", (long long)cuts[k]);
        check_recovered(dir, want, what);
        rm_rf(dir);
    }

    /* Garbage after the last record. */
    new_dir(dir, sizeof dir);
    build_small(dir, N, seg, sizeof seg);
    int fd = open(seg, O_WRONLY | O_APPEND);
    char junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 37 + 11);
    CHECK_EQ_INT(write(fd, junk, sizeof junk), (long)sizeof junk);
    close(fd);
    check_recovered(dir, N, "garbage tail");
    rm_rf(dir);

    /* Zeros after the last record (a preallocated or half-flushed page). */
    new_dir(dir, sizeof dir);
    build_small(dir, N, seg, sizeof seg);
    fd = open(seg, O_WRONLY | O_APPEND);
    memset(junk, 0, sizeof junk);
    CHECK_EQ_INT(write(fd, junk, sizeof junk), (long)sizeof junk);
    close(fd);
    check_recovered(dir, N, "zero tail");
    rm_rf(dir);

    /* A flipped CRC byte in the last record, then in a payload byte of record 40. */
    struct { off_t at; int64_t want; const char *what; } flips[] = {
        {ends[N - 1] + 5, N - 1, "flipped crc of the last record"},
        {ends[40] + 24, 40, "flipped payload byte of record 40"},
        {ends[45] + 9, 45, "flipped offset byte of record 45"},
        {ends[30] + 1, 30, "flipped length byte of record 30"},
    };
    for (size_t k = 0; k < LS_ARRAY_LEN(flips); k++) {
        new_dir(dir, sizeof dir);
        build_small(dir, N, seg, sizeof seg);
        fd = open(seg, O_RDWR);
        unsigned char ch;
        CHECK_EQ_INT(pread(fd, &ch, 1, flips[k].at), 1);
        ch ^= 0x5a;
        CHECK_EQ_INT(pwrite(fd, &ch, 1, flips[k].at), 1);
        close(fd);
        check_recovered(dir, flips[k].want, flips[k].what);
        rm_rf(dir);
    }
}

/* Damage in a sealed segment is not cut: the reader reports it. */
static void test_corrupt_sealed(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct pushlog_opts o = {.segment_bytes = 4096};
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(append_range(log, 0, 400, 101), 0);
    pushlog_close(log);
    char seg[400];
    snprintf(seg, sizeof seg, "%s/%020d.log", dir, 0);
    int fd = open(seg, O_RDWR);
    unsigned char ch = 0;
    CHECK_EQ_INT(pread(fd, &ch, 1, 200), 1);
    ch ^= 1;
    CHECK_EQ_INT(pwrite(fd, &ch, 1, 200), 1);
    close(fd);
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(pushlog_end_offset(log), 400);
    struct pushlog_cursor *c;
    CHECK_EQ_INT(pushlog_cursor_open(log, 0, &c, &err), 0);
    struct pushlog_batch b;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = pushlog_cursor_read(c, 1000, 0, &b, &err);
    CHECK_EQ_INT(rc, LERR_CORRUPT);
    CHECK_MSG(strstr(err.msg, "damaged") != NULL, "%s", err.msg);
    pushlog_cursor_close(c);
    pushlog_close(log);
    rm_rf(dir);
}

/* ---- trim ----------------------------------------------------------------- */

static void test_trim(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct pushlog_opts o = {.segment_bytes = 4096};
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(append_range(log, 0, 1000, 101), 0);
    int nseg = count_segments(dir);
    CHECK_MSG(nseg > 10, "segments: %d", nseg);

    /* A cursor parked in the first segment before the trim. */
    struct pushlog_cursor *held;
    CHECK_EQ_INT(pushlog_cursor_open(log, 3, &held, &err), 0);

    int deleted = -1;
    CHECK_EQ_INT(pushlog_trim(log, 0, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 0);
    /* Trim at 500: every file wholly below 500 goes, the one holding 500 stays. */
    CHECK_EQ_INT(pushlog_trim(log, 500, &deleted, &err), 0);
    CHECK(deleted > 0);
    int64_t start = pushlog_start_offset(log);
    CHECK_MSG(start <= 500 && start > 400, "start %lld", (long long)start);
    CHECK_EQ_INT(count_segments(dir), nseg - deleted);
    char first[400];
    snprintf(first, sizeof first, "%s/%020lld.log", dir, (long long)start);
    CHECK(file_size(first) > 0);
    CHECK_EQ_INT(verify_range(log, start, 1000, 101), 1000 - start);

    /* A reader at a trimmed offset gets a clear error naming the range. */
    struct pushlog_cursor *c;
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_cursor_open(log, 10, &c, &err), LERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "trimmed") != NULL, "%s", err.msg);

    /* The held cursor finishes its (deleted) segment, then hears of the trim. */
    struct pushlog_batch b;
    int64_t got = 0;
    int rc = 0;
    lerr_init(&err);
    while ((rc = pushlog_cursor_read(held, 1000, 0, &b, &err)) == 0 && b.n)
        got += (int64_t)b.n;
    CHECK(got > 0);
    CHECK_EQ_INT(rc, LERR_NOT_FOUND);
    pushlog_cursor_close(held);

    /* Trim past the end never removes the active segment. */
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_trim(log, 1 << 30, &deleted, &err), 0);
    CHECK_EQ_INT(count_segments(dir), 1);
    CHECK_EQ_INT(pushlog_end_offset(log), 1000);
    CHECK_EQ_INT(append_range(log, 1000, 1010, 101), 0);
    int64_t s2 = pushlog_start_offset(log);
    CHECK_EQ_INT(verify_range(log, s2, 1010, 101), 1010 - s2);
    pushlog_close(log);

    /* And the trimmed state survives a reopen. */
    lerr_init(&err);
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(pushlog_start_offset(log), s2);
    CHECK_EQ_INT(pushlog_end_offset(log), 1010);
    pushlog_close(log);
    rm_rf(dir);
}

/* ---- the log through the source interface ------------------------------- */

static void test_push_source(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct pushlog_opts o = {.segment_bytes = 4096};
    CHECK_EQ_INT(pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(append_range(log, 0, 300, 101), 0);

    struct source *s = source_open_push(log, "clicks", &err);
    CHECK(s != NULL);
    CHECK_EQ_INT(source_assign(s, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    struct source_batch b;
    int64_t n = 0, bad = 0;
    char want[200];
    while (source_poll(s, 64, 0, &b, &err) == 0 && b.n) {
        for (size_t i = 0; i < b.n; i++, n++) {
            size_t wl = make_payload(n, want, 101);
            if (b.records[i].offset != n || b.records[i].partition != 0 ||
                strcmp(b.records[i].topic, "clicks") != 0 || b.records[i].value_len != wl ||
                memcmp(b.records[i].value, want, wl) != 0 || b.records[i].key != NULL ||
                b.records[i].nheaders != 0 || b.records[i].timestamp_ms != 1700000000000 + n)
                bad++;
        }
        CHECK(b.n <= 64);
    }
    CHECK_EQ_INT(n, 300);
    CHECK_EQ_INT(bad, 0);

    struct source_offsets pos;
    source_offsets_init(&pos);
    CHECK_EQ_INT(source_position(s, &pos, &err), 0);
    char *json = source_offsets_to_json(&pos, &err);
    CHECK_EQ_STR(json, "{\"clicks\":{\"0\":300}}");
    free(json);
    CHECK_EQ_INT(source_lag(s), 0);
    CHECK_EQ_INT(append_range(log, 300, 310, 101), 0);
    CHECK_EQ_INT(source_lag(s), 10);
    struct source_partition *parts;
    size_t np;
    CHECK_EQ_INT(source_partitions(s, &parts, &np, &err), 0);
    CHECK_EQ_INT(np, 1);
    if (np == 1) {
        CHECK_EQ_STR(parts[0].topic, "clicks");
        CHECK_EQ_INT(parts[0].next_offset, 300);
        CHECK_EQ_INT(parts[0].end_offset, 310);
        CHECK_EQ_INT(parts[0].lag, 10);
    }
    free(parts);
    char msg[200];
    CHECK_EQ_INT(source_health(s, msg, sizeof msg), SOURCE_HEALTH_OK);

    /* Resume from a stored checkpoint: exactly the rest. */
    source_offsets_clear(&pos);
    const char *ck = "{\"clicks\":{\"0\":295}}";
    CHECK_EQ_INT(source_offsets_from_json(ck, strlen(ck), &pos, &err), 0);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    CHECK_EQ_INT(source_poll(s, 1000, 100, &b, &err), 0);
    CHECK_EQ_INT(b.n, 15);
    CHECK_EQ_INT(b.n ? b.records[0].offset : -1, 295);

    /* latest: nothing old */
    CHECK_EQ_INT(source_assign(s, NULL, SOURCE_OFFSET_LATEST, &err), 0);
    CHECK_EQ_INT(source_poll(s, 1000, 10, &b, &err), 0);
    CHECK_EQ_INT(b.n, 0);

    /* A checkpoint below the trimmed start moves to the earliest and reports the gap. */
    int deleted;
    CHECK_EQ_INT(pushlog_trim(log, 200, &deleted, &err), 0);
    int64_t start = pushlog_start_offset(log);
    CHECK(start > 0);
    source_offsets_clear(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "clicks", 0, 5, &err), 0);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    CHECK_EQ_INT(source_poll(s, 1000, 100, &b, &err), 0);
    CHECK_EQ_INT(b.ngaps, 1);
    if (b.ngaps == 1) {
        CHECK_EQ_INT(b.gaps[0].from, 5);
        CHECK_EQ_INT(b.gaps[0].to, start);
        CHECK_EQ_STR(b.gaps[0].topic, "clicks");
        CHECK(strstr(b.gaps[0].reason, "trimmed") != NULL);
    }
    CHECK_EQ_INT(b.n ? b.records[0].offset : -1, start);
    CHECK_EQ_INT(source_poll(s, 1000, 0, &b, &err), 0);
    CHECK_EQ_INT(b.ngaps, 0);   /* reported once */

    /* A checkpoint past the end (the connection was re-created) does the same. */
    source_offsets_clear(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "clicks", 0, 99999, &err), 0);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    CHECK_EQ_INT(source_poll(s, 1, 100, &b, &err), 0);
    CHECK_EQ_INT(b.ngaps, 1);
    CHECK_EQ_INT(b.ngaps ? b.gaps[0].from : -1, 99999);

    source_offsets_destroy(&pos);
    source_close(s);
    pushlog_close(log);
    rm_rf(dir);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(g_root, sizeof g_root, "/tmp/lodestar-test-pushlog-XXXXXX");
    if (!mkdtemp(g_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc32c();
    test_round_trip();
    test_cap();
    test_concurrent();
    test_wait();
    test_torn_tail();
    test_corrupt_sealed();
    test_trim();
    test_push_source();
    rm_rf(g_root);
    return check_summary();
}
