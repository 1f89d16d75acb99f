/*
 * test_pushlog.c — the push log (src/source/pushlog.c) and the push source
 * (src/source/push.c): round trips, dense offsets, concurrent appenders with
 * a concurrent reader, reopen, trim, trimmed offsets, the record cap, and
 * the log read through the source interface. Damage: a torn tail is cut
 * (back to the last complete append), damage inside is skipped and reported
 * with exact offsets and bytes and never cuts good records (a flip in a
 * payload, in a length, offset or checksum field, across two records,
 * garbage after the last frame, a payload carrying a forged frame), deleted
 * and short segment files (first, middle, last), an append is all-or-nothing
 * and never split across files, and logs written before the unit flag read
 * as before.
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
#include "source/source_int.h" /* util_crc32c, the frames' checksum */
#include "source_poll_test.h"

static char g_root[256];
static int g_dirn;

static void new_dir(char *out, size_t cap) { snprintf(out, cap, "%s/log%d", g_root, g_dirn++); }

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

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* The base offsets of the segment files in dir, sorted; returns how many. */
static int list_bases(const char *dir, long long *out, int cap)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".log") && n < cap)
            out[n++] = atoll(de->d_name);
    if (d)
        closedir(d);
    qsort(out, (size_t)n, sizeof *out, cmp_ll);
    return n;
}

static int count_segments(const char *dir)
{
    long long b[4096];
    return list_bases(dir, b, 4096);
}

static void seg_file(const char *dir, long long base, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%020lld.log", dir, base);
}

static off_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            break;
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* Copies every segment file of one log directory into a new one. */
static void copy_log(const char *from, const char *to)
{
    mkdir(to, 0755);
    long long b[4096];
    int n = list_bases(from, b, 4096);
    for (int i = 0; i < n; i++) {
        char p1[400], p2[400];
        seg_file(from, b[i], p1, sizeof p1);
        seg_file(to, b[i], p2, sizeof p2);
        copy_file(p1, p2);
    }
}

/* XORs the byte at `at` of a file with x. */
static void flip(const char *path, off_t at, unsigned char x)
{
    int fd = open(path, O_RDWR);
    unsigned char ch = 0;
    CHECK_EQ_INT(pread(fd, &ch, 1, at), 1);
    ch ^= x;
    CHECK_EQ_INT(pwrite(fd, &ch, 1, at), 1);
    close(fd);
}

/* Record i's deterministic payload: length 0..max-1, bytes from i. */
static size_t make_payload(int64_t i, char *buf, size_t max)
{
    size_t len = (size_t)((i * 7919) % (int64_t)max);
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)('a' + (i + (int64_t)k) % 26);
    return len;
}

/* Appends records from..to-1, per_call of them in each source_pushlog_append (one
 * unit each). Each call is an fdatasync, which can take milliseconds on a
 * busy disk. */
static int append_units(struct source_pushlog *log, int64_t from, int64_t to, size_t maxlen,
                        int per_call)
{
    static char bufs[512][2048];
    static struct source_pushlog_entry e[512];
    if (per_call > 512)
        per_call = 512;
    for (int64_t i = from; i < to;) {
        int k = 0;
        for (; k < per_call && i < to; k++, i++) {
            e[k].len = make_payload(i, bufs[k], maxlen);
            e[k].p = bufs[k];
            e[k].ts_ms = 1700000000000 + i;
        }
        struct lerr err;
        lerr_init(&err);
        int64_t first = -1;
        if (source_pushlog_append(log, e, (size_t)k, &first, &err)) {
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

static int append_range(struct source_pushlog *log, int64_t from, int64_t to, size_t maxlen)
{
    return append_units(log, from, to, maxlen, 512);
}

/* Reads [from, to) and checks every record; returns the number that matched. */
static int64_t verify_range(struct source_pushlog *log, int64_t from, int64_t to, size_t maxlen)
{
    struct source_pushlog_cursor *c;
    struct lerr err;
    lerr_init(&err);
    if (source_pushlog_cursor_open(log, from, &c, &err)) {
        fprintf(stderr, "cursor: %s\n", err.msg);
        return -1;
    }
    char want[2048];
    int64_t ok = 0, next = from;
    while (next < to) {
        struct source_pushlog_batch b;
        if (source_pushlog_cursor_read(c, 1000, 0, &b, &err)) {
            fprintf(stderr, "read at %lld: %s\n", (long long)next, err.msg);
            break;
        }
        if (b.has_skip) {
            fprintf(stderr, "read at %lld: skipped %lld..%lld: %s\n", (long long)next,
                    (long long)b.skip.from, (long long)b.skip.to, b.skip.why);
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
    source_pushlog_cursor_close(c);
    return ok;
}

/* ---- reading everything, skips included ---------------------------------- */

#define RO_MAX 4096
struct readout {
    long long offs[RO_MAX]; /* offsets of the records returned, in order */
    int n;
    int bad; /* records whose bytes or timestamp are wrong, or out of order */
    struct source_pushlog_skip skips[16];
    int nskips;
    int rounds; /* reads made; capped, so a cursor that loops is caught */
    int rc;
    char err[256];
};

/* Reads from `from` until a read brings nothing (at most 10000 reads). */
static void read_all(struct source_pushlog *log, int64_t from, size_t maxlen, struct readout *r)
{
    memset(r, 0, sizeof *r);
    struct source_pushlog_cursor *c;
    struct lerr err;
    lerr_init(&err);
    if ((r->rc = source_pushlog_cursor_open(log, from, &c, &err)) != 0) {
        snprintf(r->err, sizeof r->err, "%s", err.msg);
        return;
    }
    char want[2048];
    long long last = -1;
    for (r->rounds = 0; r->rounds < 10000; r->rounds++) {
        struct source_pushlog_batch b;
        int64_t at = source_pushlog_cursor_offset(c);
        if ((r->rc = source_pushlog_cursor_read(c, 7, 0, &b, &err)) != 0) {
            snprintf(r->err, sizeof r->err, "%s", err.msg);
            break;
        }
        if (b.has_skip) {
            if (r->nskips < 16)
                r->skips[r->nskips] = b.skip;
            r->nskips++;
            if (b.skip.from != at || b.skip.to <= b.skip.from ||
                (b.n && b.recs[0].offset < b.skip.to))
                r->bad++;
        }
        if (b.n == 0 && !b.has_skip)
            break;
        for (size_t i = 0; i < b.n; i++) {
            long long o = b.recs[i].offset;
            size_t wl = make_payload(o, want, maxlen);
            if (o <= last || b.recs[i].len != wl || memcmp(b.recs[i].p, want, wl) != 0 ||
                b.recs[i].ts_ms != 1700000000000 + o)
                r->bad++;
            last = o;
            if (r->n < RO_MAX)
                r->offs[r->n++] = o;
        }
    }
    source_pushlog_cursor_close(c);
}

struct want_skip {
    long long from, to;
    int corrupt;
    const char *has[3]; /* texts the reason must contain */
};

/*
 * Checks a readout against [from, end) minus the expected skips: every
 * other record exactly once, in order, intact; the skips exactly as given;
 * and the reader finished.
 */
static void check_readout(const struct readout *r, long long from, long long end,
                          const struct want_skip *ws, int nws, const char *what)
{
    CHECK_MSG(r->rc == 0, "%s: read error %d: %s", what, r->rc, r->err);
    CHECK_MSG(r->rounds < 10000, "%s: the reader never finished", what);
    CHECK_MSG(r->bad == 0, "%s: %d bad records or skips", what, r->bad);
    int k = 0, missing = 0, extra = 0;
    for (long long o = from; o < end; o++) {
        bool skipped = false;
        for (int i = 0; i < nws; i++)
            skipped |= o >= ws[i].from && o < ws[i].to;
        if (skipped)
            continue;
        if (k < r->n && r->offs[k] == o)
            k++;
        else
            missing++;
    }
    extra = r->n - k;
    CHECK_MSG(missing == 0 && extra == 0, "%s: %d records missing, %d unexpected (%d read)", what,
              missing, extra, r->n);
    CHECK_MSG(r->nskips == nws, "%s: %d skips, want %d (first: %lld..%lld %s)", what, r->nskips,
              nws, r->nskips ? (long long)r->skips[0].from : -1LL,
              r->nskips ? (long long)r->skips[0].to : -1LL, r->nskips ? r->skips[0].why : "");
    for (int i = 0; i < nws && i < r->nskips && i < 16; i++) {
        const struct source_pushlog_skip *s = &r->skips[i];
        CHECK_MSG(s->from == ws[i].from && s->to == ws[i].to && s->corrupt == (ws[i].corrupt != 0),
                  "%s: skip %d is %lld..%lld corrupt=%d, want %lld..%lld corrupt=%d (%s)", what, i,
                  (long long)s->from, (long long)s->to, s->corrupt, ws[i].from, ws[i].to,
                  ws[i].corrupt, s->why);
        for (int t = 0; t < 3 && ws[i].has[t]; t++)
            CHECK_MSG(strstr(s->why, ws[i].has[t]) != NULL, "%s: skip %d reason lacks '%s': %s",
                      what, i, ws[i].has[t], s->why);
    }
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
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct source_pushlog_opts o = {.segment_bytes = 256 * 1024};
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(source_pushlog_start_offset(log), 0);
    CHECK_EQ_INT(source_pushlog_end_offset(log), 0);
    const int64_t N = 20000;
    CHECK_EQ_INT(append_units(log, 0, N, 2000, 100), 0);
    CHECK_EQ_INT(source_pushlog_end_offset(log), N);
    CHECK_EQ_INT(verify_range(log, 0, N, 2000), N);
    CHECK_EQ_INT(verify_range(log, 12345, N, 2000), N - 12345); /* seek inside a segment */
    CHECK_MSG(count_segments(dir) > 50, "segments: %d", count_segments(dir));

    /* latest gives nothing old, then exactly what comes next */
    struct source_pushlog_cursor *c;
    CHECK_EQ_INT(source_pushlog_cursor_open(log, SOURCE_OFFSET_LATEST, &c, &err), 0);
    struct source_pushlog_batch b;
    CHECK_EQ_INT(source_pushlog_cursor_read(c, 100, 0, &b, &err), 0);
    CHECK_EQ_INT(b.n, 0);
    CHECK_EQ_INT(append_range(log, N, N + 3, 2000), 0);
    CHECK_EQ_INT(source_pushlog_cursor_read(c, 100, 0, &b, &err), 0);
    CHECK_EQ_INT(b.n, 3);
    CHECK_EQ_INT(b.recs[0].offset, N);
    CHECK(!b.has_skip);
    source_pushlog_cursor_close(c);

    /* offsets past the end are refused with the range in the message */
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_cursor_open(log, N + 100, &c, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "past the end") != NULL, "%s", err.msg);

    /* a second opener of the same directory is refused */
    struct source_pushlog *log2;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log2, &err), LERR_CONFLICT);
    source_pushlog_close(log);

    /* durability: reopen and find everything */
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(source_pushlog_end_offset(log), N + 3);
    CHECK_EQ_INT(verify_range(log, 0, N + 3, 2000), N + 3);
    CHECK_EQ_INT(append_range(log, N + 3, N + 10, 2000), 0);
    CHECK_EQ_INT(verify_range(log, N - 5, N + 10, 2000), 15);
    source_pushlog_close(log);
    rm_rf(dir);
}

static void test_cap(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, NULL, &log, &err), 0);
    char *big = calloc(1, PUSHLOG_MAX_RECORD_DEFAULT + 1);
    struct source_pushlog_entry e[2] = {{"ok", 2, 1}, {big, PUSHLOG_MAX_RECORD_DEFAULT + 1, 2}};
    CHECK_EQ_INT(source_pushlog_append(log, e, 2, NULL, &err), LERR_TOO_LARGE);
    CHECK_MSG(strstr(err.msg, "event 1") != NULL, "%s", err.msg);
    CHECK_EQ_INT(source_pushlog_end_offset(log), 0); /* nothing of the call was kept */
    e[1].len = PUSHLOG_MAX_RECORD_DEFAULT;           /* exactly the cap is fine */
    lerr_init(&err);
    int64_t first = -1;
    CHECK_EQ_INT(source_pushlog_append(log, e, 2, &first, &err), 0);
    CHECK_EQ_INT(first, 0);
    struct source_pushlog_cursor *c;
    CHECK_EQ_INT(source_pushlog_cursor_open(log, 0, &c, &err), 0);
    struct source_pushlog_batch b;
    size_t got = 0, bytes = 0;
    for (int i = 0; i < 4 && got < 2; i++) {
        CHECK_EQ_INT(source_pushlog_cursor_read(c, 10, 0, &b, &err), 0);
        for (size_t k = 0; k < b.n; k++)
            bytes += b.recs[k].len;
        got += b.n;
    }
    CHECK_EQ_INT(got, 2);
    CHECK_EQ_INT(bytes, 2 + PUSHLOG_MAX_RECORD_DEFAULT);
    source_pushlog_cursor_close(c);
    free(big);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* ---- concurrency ---------------------------------------------------------- */

#define CT_THREADS 4
#define CT_CALLS 60
#define CT_PER_CALL 50

struct ct_arg {
    struct source_pushlog *log;
    int id;
    int fails;
};

static void *ct_appender(void *p)
{
    struct ct_arg *a = p;
    char bufs[CT_PER_CALL][64];
    struct source_pushlog_entry e[CT_PER_CALL];
    for (int call = 0; call < CT_CALLS; call++) {
        for (int k = 0; k < CT_PER_CALL; k++) {
            int seq = call * CT_PER_CALL + k;
            int n = snprintf(bufs[k], sizeof bufs[k], "t%d:%d", a->id, seq);
            e[k] = (struct source_pushlog_entry){bufs[k], (size_t)n, seq};
        }
        struct lerr err;
        lerr_init(&err);
        int64_t first;
        if (source_pushlog_append(a->log, e, CT_PER_CALL, &first, &err))
            a->fails++;
        /* the call returned after its records were durable */
        if (source_pushlog_end_offset(a->log) < first + CT_PER_CALL)
            a->fails++;
    }
    return NULL;
}

struct ct_reader {
    struct source_pushlog *log;
    int next_seq[CT_THREADS];
    int64_t total, bad, expected_offset;
    int64_t max_wait_ms;
};

static void *ct_read(void *p)
{
    struct ct_reader *r = p;
    struct source_pushlog_cursor *c;
    struct lerr err;
    lerr_init(&err);
    if (source_pushlog_cursor_open(r->log, SOURCE_OFFSET_EARLIEST, &c, &err)) {
        r->bad++;
        return NULL;
    }
    const int64_t want = (int64_t)CT_THREADS * CT_CALLS * CT_PER_CALL;
    int idle = 0;
    while (r->total < want && idle < 50) {
        struct source_pushlog_batch b;
        if (source_pushlog_cursor_read(c, 97, 200, &b, &err)) {
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
    source_pushlog_cursor_close(c);
    return NULL;
}

static void test_concurrent(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct source_pushlog_opts o = {.segment_bytes = 32 * 1024}; /* rolls during the run */
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
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
    CHECK_EQ_INT(rd.total, want); /* every record exactly once ... */
    CHECK_EQ_INT(rd.bad, 0);      /* ... dense offsets, per-thread order */
    for (int i = 0; i < CT_THREADS; i++)
        CHECK_EQ_INT(rd.next_seq[i], CT_CALLS * CT_PER_CALL);
    CHECK_EQ_INT(source_pushlog_end_offset(log), want);
    struct source_pushlog_stats st;
    source_pushlog_get_stats(log, &st);
    CHECK_EQ_INT(st.appends, CT_THREADS * CT_CALLS);
    CHECK_MSG(st.groups >= 1 && st.groups <= st.appends, "groups %lld for %lld appends",
              (long long)st.groups, (long long)st.appends);
    CHECK_EQ_INT(st.end_offset, want);
    CHECK_EQ_INT(st.segments, count_segments(dir));
    source_pushlog_close(log);

    /* and the same after a reopen */
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    struct ct_reader rd2 = {.log = log};
    ct_read(&rd2);
    CHECK_EQ_INT(rd2.total, want);
    CHECK_EQ_INT(rd2.bad, 0);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* A reader waiting on the log sees an append within milliseconds. */
struct wake_arg {
    struct source_pushlog *log;
    int64_t seen_ms;
};

static void *wake_reader(void *p)
{
    struct wake_arg *w = p;
    struct source_pushlog_cursor *c;
    struct lerr err;
    lerr_init(&err);
    if (source_pushlog_cursor_open(w->log, SOURCE_OFFSET_LATEST, &c, &err))
        return NULL;
    struct source_pushlog_batch b;
    if (source_pushlog_cursor_read(c, 10, 5000, &b, &err) == 0 && b.n == 1)
        w->seen_ms = util_mono_ns() / 1000000;
    source_pushlog_cursor_close(c);
    return NULL;
}

static void test_wait(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, NULL, &log, &err), 0);
    struct wake_arg w = {.log = log, .seen_ms = -1};
    pthread_t t;
    pthread_create(&t, NULL, wake_reader, &w);
    usleep(100 * 1000);
    struct source_pushlog_entry e = {"x", 1, 0};
    CHECK_EQ_INT(source_pushlog_append(log, &e, 1, NULL, &err), 0);
    int64_t appended = util_mono_ns() / 1000000;
    pthread_join(t, NULL);
    CHECK_MSG(w.seen_ms >= 0 && w.seen_ms - appended < 100,
              "reader saw the append %lld ms after it returned",
              (long long)(w.seen_ms - appended));
    /* a timed-out read returns nothing, promptly */
    struct source_pushlog_cursor *c;
    CHECK_EQ_INT(source_pushlog_cursor_open(log, SOURCE_OFFSET_LATEST, &c, &err), 0);
    struct source_pushlog_batch b;
    int64_t t0 = util_mono_ns();
    CHECK_EQ_INT(source_pushlog_cursor_read(c, 10, 50, &b, &err), 0);
    int64_t ms = (util_mono_ns() - t0) / 1000000;
    CHECK_EQ_INT(b.n, 0);
    CHECK_MSG(ms >= 45 && ms < 1000, "timed read took %lld ms", (long long)ms);
    source_pushlog_cursor_close(c);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* ---- torn tails and damage inside ---------------------------------------- */

/* One frame as a test sees it in a file. */
struct tframe {
    long long off;
    off_t start, end;
    unsigned lenf;
};

/* Walks a segment file's frames by their lengths (no checks); returns how many. */
static int file_frames(const char *path, struct tframe *out, int cap)
{
    FILE *f = fopen(path, "rb");
    int n = 0;
    off_t pos = 0;
    unsigned char h[24];
    while (f && n < cap && fread(h, 1, 24, f) == 24) {
        unsigned lenf = (unsigned)h[0] | (unsigned)h[1] << 8 | (unsigned)h[2] << 16 |
                        (unsigned)h[3] << 24;
        long long off = 0;
        for (int i = 7; i >= 0; i--)
            off = off << 8 | h[8 + i];
        off_t end = pos + 24 + (off_t)(lenf & 0x7fffffffu);
        out[n++] = (struct tframe){off, pos, end, lenf};
        if (fseeko(f, end, SEEK_SET) != 0)
            break;
        pos = end;
    }
    if (f)
        fclose(f);
    return n;
}

/* A frame as the log writes it (lenf without the unit bit is the old format). */
static size_t encode_frame(unsigned char *out, unsigned lenf, long long off, long long ts,
                           const void *p)
{
    size_t len = lenf & 0x7fffffffu;
    unsigned char b[12];
    for (int i = 0; i < 4; i++)
        out[i] = b[i] = (unsigned char)(lenf >> (8 * i));
    for (int i = 0; i < 8; i++) {
        out[8 + i] = (unsigned char)((unsigned long long)off >> (8 * i));
        out[16 + i] = b[4 + i] = (unsigned char)((unsigned long long)ts >> (8 * i));
    }
    memcpy(out + 24, p, len);
    uint32_t crc = util_crc32c(util_crc32c(util_crc32c(0, b, 12), p, len), out + 8, 8);
    for (int i = 0; i < 4; i++)
        out[4 + i] = (unsigned char)(crc >> (8 * i));
    return 24 + len;
}

#define SMALL_N 50
static char g_small[300];         /* SMALL_N one-record appends, built once */
static off_t g_ends[SMALL_N + 1]; /* record i's frame is bytes g_ends[i]..g_ends[i + 1] */

/* A copy of the small log in a new directory; seg gets its file's path. */
static void build_small(char *dir, size_t dcap, char *seg, size_t cap)
{
    if (!g_small[0]) {
        new_dir(g_small, sizeof g_small);
        struct source_pushlog *log;
        struct lerr err;
        lerr_init(&err);
        if (source_pushlog_open(g_small, NULL, &log, &err) == 0) {
            CHECK_EQ_INT(append_units(log, 0, SMALL_N, 101, 1), 0);
            source_pushlog_close(log);
        }
        char tmp[200];
        for (int64_t i = 0; i < SMALL_N; i++)
            g_ends[i + 1] = g_ends[i] + 24 + (off_t)make_payload(i, tmp, 101);
    }
    new_dir(dir, dcap);
    copy_log(g_small, dir);
    seg_file(dir, 0, seg, cap);
}

/*
 * Reopens after damage and checks: end == want_end; every record but the
 * skipped ones intact, the skips reported exactly; appends continue; and
 * the same after another reopen (damage stays reported, nothing is cut).
 */
static void check_recovered(const char *dir, const struct source_pushlog_opts *o, int64_t want_end,
                            const struct want_skip *ws, int nws, const char *what)
{
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    if (source_pushlog_open(dir, o, &log, &err) != 0) {
        CHECK_MSG(0, "%s: reopen: %s", what, err.msg);
        return;
    }
    CHECK_MSG(source_pushlog_end_offset(log) == want_end, "%s: end %lld, want %lld", what,
              (long long)source_pushlog_end_offset(log), (long long)want_end);
    static struct readout r;
    read_all(log, SOURCE_OFFSET_EARLIEST, 101, &r);
    long long start = source_pushlog_start_offset(log);
    check_readout(&r, start, want_end, ws, nws, what);
    CHECK_MSG(append_units(log, want_end, want_end + 5, 101, 1) == 0, "%s: append", what);
    read_all(log, SOURCE_OFFSET_EARLIEST, 101, &r);
    check_readout(&r, start, want_end + 5, ws, nws, what);
    source_pushlog_close(log);
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, o, &log, &err), 0); /* and it stays that way */
    if (log) {
        CHECK_EQ_INT(source_pushlog_end_offset(log), want_end + 5);
        read_all(log, SOURCE_OFFSET_EARLIEST, 101, &r);
        check_readout(&r, start, want_end + 5, ws, nws, what);
        source_pushlog_close(log);
    }
}

/* The bytes text a skip's reason carries for frames i..j-1 of the small log. */
static const char *bytes_of(int i, int j)
{
    static char b[8][64];
    static int k;
    char *p = b[k++ % 8];
    snprintf(p, 64, "bytes %lld..%lld", (long long)g_ends[i], (long long)g_ends[j] - 1);
    return p;
}

static void test_torn_tail(void)
{
    const int64_t N = SMALL_N;
    char dir[300], seg[400];
    char tmp[200];
    build_small(dir, sizeof dir, seg, sizeof seg); /* builds the template */
    rm_rf(dir);

    /* Cut the file at every byte of the last two frames and a few elsewhere:
     * each record is its own unit, so whole frames before the cut stay. */
    off_t cuts[64];
    int ncuts = 0;
    for (off_t x = g_ends[N - 2]; x < g_ends[N] && ncuts < 24;
         x += (g_ends[N] - g_ends[N - 2]) / 21 + 1)
        cuts[ncuts++] = x;
    cuts[ncuts++] = g_ends[N - 1] + 1;  /* one byte into the last header */
    cuts[ncuts++] = g_ends[N - 1] + 23; /* header whole, no payload */
    cuts[ncuts++] = g_ends[10] + 5;
    cuts[ncuts++] = 3;
    for (int k = 0; k < ncuts; k++) {
        build_small(dir, sizeof dir, seg, sizeof seg);
        CHECK_EQ_INT(file_size(seg), g_ends[N]);
        if (truncate(seg, cuts[k]) != 0)
            CHECK(0);
        int64_t want = 0;
        while (want < N && g_ends[want + 1] <= cuts[k])
            want++;
        char what[64];
        snprintf(what, sizeof what, "cut at byte %lld", (long long)cuts[k]);
        check_recovered(dir, NULL, want, NULL, 0, what);
        rm_rf(dir);
    }

    /* Garbage after the last record, and zeros (a half-flushed page): cut. */
    for (int z = 0; z < 2; z++) {
        build_small(dir, sizeof dir, seg, sizeof seg);
        int fd = open(seg, O_WRONLY | O_APPEND);
        char junk[300];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = z ? 0 : (char)(i * 37 + 11);
        CHECK_EQ_INT(write(fd, junk, sizeof junk), (long)sizeof junk);
        close(fd);
        check_recovered(dir, NULL, N, NULL, 0, z ? "zero tail" : "garbage tail");
        off_t want = g_ends[N]; /* the junk is gone; the 5 records appended follow */
        for (int64_t i = N; i < N + 5; i++)
            want += 24 + (off_t)make_payload(i, tmp, 101);
        CHECK_EQ_INT(file_size(seg), want);
        rm_rf(dir);
    }
}

/* Damage inside the log: only the damaged records are skipped, and said so. */
static void test_damage_inside(void)
{
    const int64_t N = SMALL_N;
    char dir[300], seg[400];
    const char *file = "00000000000000000000.log";
    build_small(dir, sizeof dir, seg, sizeof seg);
    rm_rf(dir);
    struct {
        off_t at, at2;   /* bytes flipped (at2 -1: one byte) */
        unsigned char x; /* with this mask */
        int64_t end;
        int from, to; /* the skip; from == to: none */
        bool garbage; /* then garbage appended too */
        const char *what;
    } cases[] = {
        {g_ends[40] + 24, -1, 0x5a, N, 40, 41, false, "payload byte of record 40"},
        {g_ends[40] + 26, g_ends[40] + 27, 0x5a, N, 40, 41, false,
         "two payload bytes of record 40"},
        {g_ends[45] + 9, -1, 0x5a, N, 45, 46, false, "offset byte of record 45"},
        {g_ends[30] + 1, -1, 0x5a, N, 30, 31, false, "length byte of record 30"},
        {g_ends[30] + 3, -1, 0x80, N, 30, 31, false, "the unit bit of record 30"},
        {g_ends[0], -1, 0x5a, N, 0, 1, false, "length byte of the first record"},
        {g_ends[0] + 5, -1, 0x5a, N, 0, 1, false, "checksum byte of the first record"},
        {g_ends[1] + 17, -1, 0x5a, N, 1, 2, false, "timestamp byte of record 1"},
        {g_ends[21] - 1, g_ends[21], 0x5a, N, 20, 22, false, "two bytes across records 20 and 21"},
        {g_ends[25] + 30, -1, 0x5a, N, 25, 26, true,
         "record 25, and garbage after the last record"},
        /* The last record has no good frame after it: that is a torn tail. */
        {g_ends[N - 1] + 5, -1, 0x5a, N - 1, 0, 0, false, "checksum of the last record"},
    };
    for (size_t k = 0; k < LS_ARRAY_LEN(cases); k++) {
        build_small(dir, sizeof dir, seg, sizeof seg);
        flip(seg, cases[k].at, cases[k].x);
        if (cases[k].at2 >= 0)
            flip(seg, cases[k].at2, 0x21);
        if (cases[k].garbage) {
            int fd = open(seg, O_WRONLY | O_APPEND);
            char junk[500];
            for (size_t i = 0; i < sizeof junk; i++)
                junk[i] = (char)(i * 53 + 3);
            CHECK_EQ_INT(write(fd, junk, sizeof junk), (long)sizeof junk);
            close(fd);
        }
        struct want_skip ws = {cases[k].from,
                               cases[k].to,
                               1,
                               {file, bytes_of(cases[k].from, cases[k].to), "push log log"}};
        check_recovered(dir, NULL, cases[k].end, &ws, cases[k].from < cases[k].to, cases[k].what);
        /* Nothing before the damage was cut, and the file keeps every good frame. */
        if (cases[k].from < cases[k].to)
            CHECK_MSG(file_size(seg) > g_ends[N], "%s: file size %lld", cases[k].what,
                      (long long)file_size(seg));

        /* A reader starting inside the damage hears of it first; one after it does not. */
        if (cases[k].from < cases[k].to) {
            struct source_pushlog *log;
            struct lerr err;
            lerr_init(&err);
            CHECK_EQ_INT(source_pushlog_open(dir, NULL, &log, &err), 0);
            struct source_pushlog_cursor *c;
            CHECK_EQ_INT(source_pushlog_cursor_open(log, cases[k].to - 1, &c, &err), 0);
            CHECK_EQ_INT(source_pushlog_cursor_offset(c), cases[k].to - 1);
            struct source_pushlog_batch b;
            CHECK_EQ_INT(source_pushlog_cursor_read(c, 3, 0, &b, &err), 0);
            CHECK(b.has_skip);
            CHECK_EQ_INT(b.has_skip ? b.skip.from : -1, cases[k].to - 1);
            CHECK_EQ_INT(b.has_skip ? b.skip.to : -1, cases[k].to);
            CHECK_EQ_INT(b.n ? b.recs[0].offset : -1, cases[k].to);
            CHECK_EQ_INT(source_pushlog_cursor_seek(c, cases[k].to, &err), 0);
            CHECK_EQ_INT(source_pushlog_cursor_read(c, 3, 0, &b, &err), 0);
            CHECK(!b.has_skip);
            CHECK_EQ_INT(b.n ? b.recs[0].offset : -1, cases[k].to);
            source_pushlog_cursor_close(c);
            source_pushlog_close(log);
        }
        rm_rf(dir);
    }
}

/* A zeroed range inside the log (a lost page): the records in it are skipped, the rest kept. */
static void test_zeroed_range(void)
{
    char dir[300], seg[400];
    build_small(dir, sizeof dir, seg, sizeof seg);
    int fd = open(seg, O_WRONLY);
    char zeros[4096] = {0};
    off_t from = g_ends[10] + 7, to = g_ends[20] - 3; /* from inside 10 to inside 19 */
    CHECK_EQ_INT(pwrite(fd, zeros, (size_t)(to - from), from), to - from);
    close(fd);
    struct want_skip ws = {10, 20, 1, {bytes_of(10, 20), NULL, NULL}};
    check_recovered(dir, NULL, SMALL_N, &ws, 1, "zeroed range");
    rm_rf(dir);
    /* ... and at the very start, where zero offsets are plausible ones. */
    build_small(dir, sizeof dir, seg, sizeof seg);
    fd = open(seg, O_WRONLY);
    CHECK_EQ_INT(pwrite(fd, zeros, (size_t)g_ends[5], 0), g_ends[5]);
    close(fd);
    ws = (struct want_skip){0, 5, 1, {bytes_of(0, 5), NULL, NULL}};
    check_recovered(dir, NULL, SMALL_N, &ws, 1, "zeroed start");
    rm_rf(dir);
}

/*
 * An event whose bytes hold a well-formed frame claiming the next offset:
 * when damage hits that event, the search for the next good frame must not
 * take the forged one (it would hide the genuine record after it).
 */
static void test_forged_frame(void)
{
    char dir[300], seg[400];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, NULL, &log, &err), 0);
    off_t starts[11] = {0};
    for (int i = 0; i < 10; i++) {
        unsigned char p[200];
        size_t len = (size_t)snprintf((char *)p, sizeof p, "event-%d:", i);
        if (i == 5) /* a frame for offset 6 ending where record 5 ends */
            len += encode_frame(p + len, 6, 6, 1700000000006, "FORGED");
        struct source_pushlog_entry e = {p, len, 1700000000000 + i};
        CHECK_EQ_INT(source_pushlog_append(log, &e, 1, NULL, &err), 0);
        starts[i + 1] = starts[i] + 24 + (off_t)len;
    }
    source_pushlog_close(log);
    seg_file(dir, 0, seg, sizeof seg);
    flip(seg, starts[5] + 5, 0x44); /* record 5's checksum */
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, NULL, &log, &err), 0);
    CHECK_EQ_INT(source_pushlog_end_offset(log), 10);
    struct source_pushlog_cursor *c;
    CHECK_EQ_INT(source_pushlog_cursor_open(log, 0, &c, &err), 0);
    int got = 0, forged = 0, wrong = 0, skips = 0;
    for (int round = 0; round < 100; round++) {
        struct source_pushlog_batch b;
        CHECK_EQ_INT(source_pushlog_cursor_read(c, 100, 0, &b, &err), 0);
        if (b.has_skip) {
            skips++;
            CHECK_EQ_INT(b.skip.from, 5);
            CHECK_EQ_INT(b.skip.to, 6);
            CHECK(b.skip.corrupt);
        }
        if (!b.n && !b.has_skip)
            break;
        for (size_t i = 0; i < b.n; i++) {
            char want[32];
            snprintf(want, sizeof want, "event-%lld:", (long long)b.recs[i].offset);
            forged += b.recs[i].len == 6 && memcmp(b.recs[i].p, "FORGED", 6) == 0;
            wrong += b.recs[i].len != strlen(want) || memcmp(b.recs[i].p, want, strlen(want));
            got++;
        }
    }
    CHECK_EQ_INT(got, 9);
    CHECK_EQ_INT(skips, 1);
    CHECK_EQ_INT(forged, 0);
    CHECK_EQ_INT(wrong, 0);
    source_pushlog_cursor_close(c);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* ---- units: one append, all or nothing ----------------------------------- */

static void test_unit_torn(void)
{
    /* Three appends of 10 records: 0-9, 10-19, 20-29, in one file. */
    char tmpl[300], dir[300], seg[400];
    new_dir(tmpl, sizeof tmpl);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(tmpl, NULL, &log, &err), 0);
    CHECK_EQ_INT(append_units(log, 0, 30, 101, 10), 0);
    source_pushlog_close(log);
    struct tframe f[40];
    seg_file(tmpl, 0, seg, sizeof seg);
    CHECK_EQ_INT(file_frames(seg, f, 40), 30);
    /* Every frame of a unit but its last says more follow. */
    int flags_ok = 0;
    for (int i = 0; i < 30; i++)
        flags_ok += ((f[i].lenf & 0x80000000u) != 0) == (i % 10 != 9);
    CHECK_EQ_INT(flags_ok, 30);
    // clang-format off
    struct {
        off_t cut;
        int64_t want;
    } cases[] = {
        {f[15].start, 10},       /* half of the second append's frames */
        {f[15].start + 7, 10},   /* ... and a frame cut short */
        {f[19].start, 10},       /* all but its last frame */
        {f[19].end - 1, 10},     /* its last frame one byte short */
        {f[10].start + 3, 10},
        {f[20].start, 20},       /* the second append whole */
        {f[29].start, 20},
        {f[21].start + 30, 20},
        {f[9].end - 2, 0},       /* the first append torn: nothing */
    };
    // clang-format on
    for (size_t k = 0; k < LS_ARRAY_LEN(cases); k++) {
        new_dir(dir, sizeof dir);
        copy_log(tmpl, dir);
        seg_file(dir, 0, seg, sizeof seg);
        CHECK_EQ_INT(truncate(seg, cases[k].cut), 0);
        char what[64];
        snprintf(what, sizeof what, "unit torn at byte %lld", (long long)cases[k].cut);
        check_recovered(dir, NULL, cases[k].want, NULL, 0, what);
        rm_rf(dir);
    }
    /* Damage inside an append that is otherwise whole keeps its good records. */
    new_dir(dir, sizeof dir);
    copy_log(tmpl, dir);
    seg_file(dir, 0, seg, sizeof seg);
    flip(seg, f[13].start + 26, 0x10);
    struct want_skip ws = {13, 14, 1, {"bytes", NULL, NULL}};
    check_recovered(dir, NULL, 30, &ws, 1, "damage inside a unit");
    rm_rf(dir);
    rm_rf(tmpl);
}

/* An append never spans two segment files; one larger than a segment gets a file of its own. */
static void test_unit_segments(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct source_pushlog_opts o = {.segment_bytes = 1000};
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    const int sizes[] = {7, 3, 12, 1, 30, 5, 9, 2, 2, 2, 14, 6};
    long long starts[LS_ARRAY_LEN(sizes) + 1];
    long long at = 0;
    for (size_t i = 0; i < LS_ARRAY_LEN(sizes); i++) {
        starts[i] = at;
        CHECK_EQ_INT(append_units(log, at, at + sizes[i], 101, sizes[i]), 0);
        at += sizes[i];
    }
    starts[LS_ARRAY_LEN(sizes)] = at;
    source_pushlog_close(log);
    long long bases[64];
    int nb = list_bases(dir, bases, 64);
    CHECK_MSG(nb >= 5, "segments: %d", nb);
    int split = 0, open_end = 0;
    for (int i = 0; i < nb; i++) {
        bool is_start = false;
        for (size_t k = 0; k <= LS_ARRAY_LEN(sizes); k++)
            is_start |= bases[i] == starts[k];
        split += !is_start;
        char p[400];
        seg_file(dir, bases[i], p, sizeof p);
        struct tframe f[64];
        int nf = file_frames(p, f, 64);
        open_end += nf > 0 && (f[nf - 1].lenf & 0x80000000u);
    }
    CHECK_MSG(split == 0, "%d segment files start inside an append", split);
    CHECK_EQ_INT(open_end, 0);
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(verify_range(log, 0, at, 101), at);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* A log written before the unit bit existed: every frame its own unit. */
static void test_old_format(void)
{
    char dir[300], seg[400];
    new_dir(dir, sizeof dir);
    mkdir(dir, 0755);
    seg_file(dir, 0, seg, sizeof seg);
    FILE *fp = fopen(seg, "wb");
    off_t ends[31] = {0};
    for (int i = 0; i < 30; i++) {
        char p[128];
        unsigned char fr[200];
        size_t len = make_payload(i, p, 101);
        size_t fl = encode_frame(fr, (unsigned)len, i, 1700000000000 + i, p);
        CHECK_EQ_INT(fwrite(fr, 1, fl, fp), fl);
        ends[i + 1] = ends[i] + (off_t)fl;
    }
    fclose(fp);
    char dir2[300];
    new_dir(dir2, sizeof dir2);
    copy_log(dir, dir2);
    check_recovered(dir, NULL, 30, NULL, 0, "old format");
    /* torn in the middle of what was one old append: whole frames stay */
    char seg2[400];
    seg_file(dir2, 0, seg2, sizeof seg2);
    CHECK_EQ_INT(truncate(seg2, ends[25] + 10), 0);
    check_recovered(dir2, NULL, 25, NULL, 0, "old format, torn");
    rm_rf(dir);
    rm_rf(dir2);
}

/* ---- segment files: damaged, short, deleted ----------------------------- */

#define MS_N 400
/* A log of MS_N records in appends of 4, over files of about 4 KB. */
static int build_multi(char *dir, size_t cap, long long *bases, int maxb)
{
    static char tmpl[300];
    struct source_pushlog_opts o = {.segment_bytes = 4096};
    if (!tmpl[0]) {
        new_dir(tmpl, sizeof tmpl);
        struct source_pushlog *log;
        struct lerr err;
        lerr_init(&err);
        if (source_pushlog_open(tmpl, &o, &log, &err) == 0) {
            CHECK_EQ_INT(append_units(log, 0, MS_N, 101, 4), 0);
            source_pushlog_close(log);
        }
    }
    new_dir(dir, cap);
    copy_log(tmpl, dir);
    return list_bases(dir, bases, maxb);
}

static void test_segment_files(void)
{
    struct source_pushlog_opts o = {.segment_bytes = 4096};
    char dir[300], p[400], name[40];
    long long b[64];
    int nb = build_multi(dir, sizeof dir, b, 64);
    CHECK_MSG(nb >= 6, "segments: %d", nb);
    rm_rf(dir);
    if (nb < 6)
        return;

    /* A middle file deleted: its records are missing, the rest reads on. */
    build_multi(dir, sizeof dir, b, 64);
    seg_file(dir, b[2], p, sizeof p);
    CHECK_EQ_INT(unlink(p), 0);
    snprintf(name, sizeof name, "%020lld.log", b[1]);
    struct want_skip ws = {b[2], b[3], 0, {name, "missing", "deleted"}};
    check_recovered(dir, &o, MS_N, &ws, 1, "middle file deleted");
    rm_rf(dir);

    /* Two adjacent middle files deleted: one skip over both. */
    build_multi(dir, sizeof dir, b, 64);
    seg_file(dir, b[3], p, sizeof p);
    CHECK_EQ_INT(unlink(p), 0);
    seg_file(dir, b[4], p, sizeof p);
    CHECK_EQ_INT(unlink(p), 0);
    ws = (struct want_skip){b[3], b[5], 0, {"missing", NULL, NULL}};
    check_recovered(dir, &o, MS_N, &ws, 1, "two middle files deleted");
    rm_rf(dir);

    /* A middle file emptied. */
    build_multi(dir, sizeof dir, b, 64);
    seg_file(dir, b[2], p, sizeof p);
    CHECK_EQ_INT(truncate(p, 0), 0);
    snprintf(name, sizeof name, "%020lld.log", b[2]);
    ws = (struct want_skip){b[2], b[3], 0, {name, "missing", NULL}};
    check_recovered(dir, &o, MS_N, &ws, 1, "middle file emptied");
    rm_rf(dir);

    /* A middle file cut short inside a frame: the cut frame is damaged. */
    build_multi(dir, sizeof dir, b, 64);
    seg_file(dir, b[2], p, sizeof p);
    struct tframe f[128];
    int nf = file_frames(p, f, 128);
    CHECK(nf > 4);
    CHECK_EQ_INT(truncate(p, f[nf / 2].start + 10), 0);
    ws = (struct want_skip){f[nf / 2].off, b[3], 1, {"cut short", NULL, NULL}};
    check_recovered(dir, &o, MS_N, &ws, 1, "middle file cut short");
    rm_rf(dir);

    /* A flipped byte in a sealed file: one record skipped. */
    build_multi(dir, sizeof dir, b, 64);
    seg_file(dir, b[1], p, sizeof p);
    nf = file_frames(p, f, 128);
    int k = 1;
    while (k + 1 < nf && f[k].end - f[k].start < 24 + 10)
        k++;
    flip(p, f[k].start + 24 + 3, 0x01);
    char bytes[64];
    snprintf(bytes, sizeof bytes, "bytes %lld..%lld", (long long)f[k].start,
             (long long)f[k].end - 1);
    snprintf(name, sizeof name, "%020lld.log", b[1]);
    ws = (struct want_skip){f[k].off, f[k].off + 1, 1, {name, bytes, "checksum"}};
    check_recovered(dir, &o, MS_N, &ws, 1, "flip in a sealed file");
    rm_rf(dir);

    /* The first file deleted: like a trim; a reader there hears of it. */
    build_multi(dir, sizeof dir, b, 64);
    seg_file(dir, b[0], p, sizeof p);
    CHECK_EQ_INT(unlink(p), 0);
    check_recovered(dir, &o, MS_N, NULL, 0, "first file deleted");
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(source_pushlog_start_offset(log), b[1]);
    struct source_pushlog_cursor *c;
    CHECK_EQ_INT(source_pushlog_cursor_open(log, 5, &c, &err), LERR_NOT_FOUND);
    struct source *s = source_open_push(log, "web", &err);
    struct source_offsets pos;
    source_offsets_init(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "web", 0, 5, &err), 0);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    struct source_batch sb;
    CHECK_EQ_INT(poll_src(s, 10, 0, &sb, &err), 0);
    CHECK_EQ_INT(sb.ngaps, 1);
    if (sb.ngaps == 1) {
        CHECK_EQ_INT(sb.gaps[0].from, 5);
        CHECK_EQ_INT(sb.gaps[0].to, b[1]);
        CHECK(!sb.gaps[0].corrupt);
        CHECK_MSG(strstr(sb.gaps[0].reason, "no longer in the push log") != NULL, "%s",
                  sb.gaps[0].reason);
    }
    CHECK_EQ_INT(sb.n ? sb.records[0].offset : -1, b[1]);
    source_close(s);
    source_pushlog_close(log);
    rm_rf(dir);

    /* The last file deleted: the log ends earlier; a checkpoint past its end is
     * an error that says to reset, never a rewind to the start. */
    build_multi(dir, sizeof dir, b, 64);
    seg_file(dir, b[nb - 1], p, sizeof p);
    CHECK_EQ_INT(unlink(p), 0);
    check_recovered(dir, &o, b[nb - 1], NULL, 0, "last file deleted");
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    s = source_open_push(log, "web", &err);
    source_offsets_clear(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "web", 0, MS_N, &err), 0);
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_EARLIEST, &err), LERR_CORRUPT);
    char want[200];
    snprintf(want, sizeof want, "ends at offset %lld but the table's checkpoint is at %d",
             b[nb - 1] + 5, MS_N);
    CHECK_MSG(strstr(err.msg, want) != NULL, "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "connection 'web'") && strstr(err.msg, "/reset"), "%s", err.msg);
    /* ... and a reset (no checkpoint) reads from the start again. */
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(s, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    CHECK_EQ_INT(poll_src(s, 10, 0, &sb, &err), 0);
    CHECK_EQ_INT(sb.n ? sb.records[0].offset : -1, 0);
    source_offsets_destroy(&pos);
    source_close(s);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* Damage read through the source interface: a gap with `corrupt`, positions only forward. */
static void test_source_skips(void)
{
    struct source_pushlog_opts o = {.segment_bytes = 4096};
    char dir[300], p[400];
    long long b[64];
    int nb = build_multi(dir, sizeof dir, b, 64);
    CHECK(nb >= 6);
    seg_file(dir, b[1], p, sizeof p);
    struct tframe f[128];
    file_frames(p, f, 128);
    flip(p, f[2].start + 4, 0x80); /* a checksum */
    seg_file(dir, b[4], p, sizeof p);
    CHECK_EQ_INT(unlink(p), 0); /* and a deleted file */
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    struct source *s = source_open_push(log, "web", &err);
    /* a push log is one node's: it cannot be divided between the nodes of a cluster */
    CHECK_EQ_INT(source_only(s, NULL, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "only a Kafka source can be divided between nodes") != NULL, "%s",
              err.msg);
    struct source_offsets none;
    source_offsets_init(&none);
    lerr_init(&err);
    CHECK_EQ_INT(source_stream_partitions(s, &none, &err), LERR_INVALID);
    source_offsets_destroy(&none);
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(s, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    struct source_offsets pos;
    source_offsets_init(&pos);
    long long last_pos = 0, n = 0, back = 0, bad = 0;
    struct source_gap gaps[8];
    int ngaps = 0, rounds = 0;
    for (; rounds < 1000; rounds++) {
        struct source_batch sb;
        CHECK_EQ_INT(poll_src(s, 16, 0, &sb, &err), 0);
        for (size_t i = 0; i < sb.ngaps; i++)
            if (ngaps < 8)
                gaps[ngaps++] = sb.gaps[i];
        char want[200];
        for (size_t i = 0; i < sb.n; i++) {
            size_t wl = make_payload(sb.records[i].offset, want, 101);
            bad += sb.records[i].len != wl || memcmp(sb.records[i].data, want, wl) != 0;
        }
        n += (long long)sb.n;
        CHECK_EQ_INT(source_position(s, &pos, &err), 0);
        long long now = source_offsets_get(&pos, "web", 0);
        back += now < last_pos;
        last_pos = now;
        if (!sb.n && !sb.ngaps)
            break;
    }
    CHECK(rounds < 1000);
    CHECK_EQ_INT(back, 0);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(n, MS_N - 1 - (b[5] - b[4]));
    CHECK_EQ_INT(last_pos, MS_N);
    CHECK_EQ_INT(ngaps, 2);
    if (ngaps == 2) {
        CHECK_EQ_INT(gaps[0].from, f[2].off);
        CHECK_EQ_INT(gaps[0].to, f[2].off + 1);
        CHECK(gaps[0].corrupt);
        CHECK_MSG(strstr(gaps[0].reason, "checksum") != NULL, "%s", gaps[0].reason);
        CHECK_EQ_INT(gaps[1].from, b[4]);
        CHECK_EQ_INT(gaps[1].to, b[5]);
        CHECK(!gaps[1].corrupt);
        CHECK_EQ_STR(gaps[1].topic, "web");
    }
    /* A checkpoint right at the damaged record: the gap comes first, from there. */
    source_offsets_clear(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "web", 0, f[2].off, &err), 0);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    CHECK_EQ_INT(source_position(s, &pos, &err), 0);
    CHECK_EQ_INT(source_offsets_get(&pos, "web", 0), f[2].off);
    struct source_batch sb;
    CHECK_EQ_INT(poll_src(s, 16, 0, &sb, &err), 0);
    CHECK_EQ_INT(sb.ngaps, 1);
    CHECK_EQ_INT(sb.ngaps ? sb.gaps[0].from : -1, f[2].off);
    CHECK_EQ_INT(sb.n ? sb.records[0].offset : -1, f[2].off + 1);
    source_offsets_destroy(&pos);
    source_close(s);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* ---- trim ----------------------------------------------------------------- */

static void test_trim(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct source_pushlog_opts o = {.segment_bytes = 4096};
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(append_units(log, 0, 1000, 101, 8), 0);
    int nseg = count_segments(dir);
    CHECK_MSG(nseg > 10, "segments: %d", nseg);

    /* A cursor parked in the first segment before the trim. */
    struct source_pushlog_cursor *held;
    CHECK_EQ_INT(source_pushlog_cursor_open(log, 3, &held, &err), 0);

    int deleted = -1;
    CHECK_EQ_INT(source_pushlog_trim(log, 0, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 0);
    /* Trim at 500: every file wholly below 500 goes, the one holding 500 stays. */
    CHECK_EQ_INT(source_pushlog_trim(log, 500, &deleted, &err), 0);
    CHECK(deleted > 0);
    int64_t start = source_pushlog_start_offset(log);
    CHECK_MSG(start <= 500 && start > 400, "start %lld", (long long)start);
    CHECK_EQ_INT(count_segments(dir), nseg - deleted);
    char first[400];
    snprintf(first, sizeof first, "%s/%020lld.log", dir, (long long)start);
    CHECK(file_size(first) > 0);
    CHECK_EQ_INT(verify_range(log, start, 1000, 101), 1000 - start);

    /* A reader at a trimmed offset gets a clear error naming the range. */
    struct source_pushlog_cursor *c;
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_cursor_open(log, 10, &c, &err), LERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "trimmed") != NULL, "%s", err.msg);

    /* The held cursor finishes its (deleted) segment, then hears of the trim. */
    struct source_pushlog_batch b;
    int64_t got = 0;
    int rc = 0;
    lerr_init(&err);
    while ((rc = source_pushlog_cursor_read(held, 1000, 0, &b, &err)) == 0 && b.n)
        got += (int64_t)b.n;
    CHECK(got > 0);
    CHECK_EQ_INT(rc, LERR_NOT_FOUND);
    source_pushlog_cursor_close(held);

    /* Trim past the end never removes the active segment. */
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_trim(log, 1 << 30, &deleted, &err), 0);
    CHECK_EQ_INT(count_segments(dir), 1);
    CHECK_EQ_INT(source_pushlog_end_offset(log), 1000);
    CHECK_EQ_INT(append_range(log, 1000, 1010, 101), 0);
    int64_t s2 = source_pushlog_start_offset(log);
    CHECK_EQ_INT(verify_range(log, s2, 1010, 101), 1010 - s2);
    source_pushlog_close(log);

    /* And the trimmed state survives a reopen. */
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(source_pushlog_start_offset(log), s2);
    CHECK_EQ_INT(source_pushlog_end_offset(log), 1010);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* ---- the log through the source interface ------------------------------- */

static void test_push_source(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct source_pushlog_opts o = {.segment_bytes = 4096};
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(append_units(log, 0, 300, 101, 8), 0);

    struct source *s = source_open_push(log, "clicks", &err);
    CHECK(s != NULL);
    CHECK_EQ_INT(source_assign(s, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    struct source_batch b;
    int64_t n = 0, bad = 0;
    char want[200];
    while (poll_src(s, 64, 0, &b, &err) == 0 && b.n) {
        for (size_t i = 0; i < b.n; i++, n++) {
            size_t wl = make_payload(n, want, 101);
            if (b.records[i].offset != n || b.records[i].partition != 0 ||
                strcmp(b.records[i].topic, "clicks") != 0 || b.records[i].len != wl ||
                memcmp(b.records[i].data, want, wl) != 0 || b.records[i].key != NULL ||
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
    CHECK_EQ_INT(poll_src(s, 1000, 100, &b, &err), 0);
    CHECK_EQ_INT(b.n ? b.records[0].offset : -1, 295);
    int64_t rest = (int64_t)b.n;
    for (int i = 0; i < 10 && b.n; i++) { /* a read stops at the end of a file */
        CHECK_EQ_INT(poll_src(s, 1000, 0, &b, &err), 0);
        rest += (int64_t)b.n;
    }
    CHECK_EQ_INT(rest, 15);

    /* latest: nothing old */
    CHECK_EQ_INT(source_assign(s, NULL, SOURCE_OFFSET_LATEST, &err), 0);
    CHECK_EQ_INT(poll_src(s, 1000, 10, &b, &err), 0);
    CHECK_EQ_INT(b.n, 0);

    /* A checkpoint below the trimmed start moves to the earliest and reports the gap. */
    int deleted;
    CHECK_EQ_INT(source_pushlog_trim(log, 200, &deleted, &err), 0);
    int64_t start = source_pushlog_start_offset(log);
    CHECK(start > 0);
    source_offsets_clear(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "clicks", 0, 5, &err), 0);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    CHECK_EQ_INT(poll_src(s, 1000, 100, &b, &err), 0);
    CHECK_EQ_INT(b.ngaps, 1);
    if (b.ngaps == 1) {
        CHECK_EQ_INT(b.gaps[0].from, 5);
        CHECK_EQ_INT(b.gaps[0].to, start);
        CHECK_EQ_STR(b.gaps[0].topic, "clicks");
        CHECK(strstr(b.gaps[0].reason, "trimmed") != NULL);
        CHECK(!b.gaps[0].corrupt);
    }
    CHECK_EQ_INT(b.n ? b.records[0].offset : -1, start);
    CHECK_EQ_INT(poll_src(s, 1000, 0, &b, &err), 0);
    CHECK_EQ_INT(b.ngaps, 0); /* reported once */

    /* A checkpoint past the end (records lost from the log, or the log re-created)
     * is an error telling to reset the job: never a silent rewind. */
    source_offsets_clear(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "clicks", 0, 99999, &err), 0);
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), LERR_CORRUPT);
    CHECK_MSG(strstr(err.msg, "push log of connection 'clicks' ends at offset 310 but the "
                              "table's checkpoint is at 99999") != NULL &&
                  strstr(err.msg, "POST /v2/jobs/{id}/reset") != NULL,
              "%s", err.msg);

    source_offsets_destroy(&pos);
    source_close(s);
    source_pushlog_close(log);
    rm_rf(dir);
}

/* The push source copies records and gaps into the caller's arena: they outlive the
 * next read, the source and the log; an arena at its cap fails the poll. */
static void test_push_source_arena(void)
{
    char dir[300];
    new_dir(dir, sizeof dir);
    struct source_pushlog *log;
    struct lerr err;
    lerr_init(&err);
    struct source_pushlog_opts o = {.segment_bytes = 4096};
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    CHECK_EQ_INT(append_units(log, 0, 100, 101, 8), 0);
    struct source *s = source_open_push(log, "web", &err);
    struct source_offsets pos;
    source_offsets_init(&pos);
    CHECK_EQ_INT(source_offsets_set(&pos, "web", 0, 10, &err), 0);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    struct arena mem;
    arena_init(&mem, 1024, 0);
    struct source_batch first, b;
    CHECK_EQ_INT(source_poll(s, &mem, 5, 0, &first, &err), 0);
    CHECK_EQ_INT(first.n, 5);
    int64_t n = (int64_t)first.n;
    while (source_poll(s, &mem, 16, 0, &b, &err) == 0 && b.n) /* the cursor's buffer moves on */
        n += (int64_t)b.n;
    CHECK_EQ_INT(n, 90);
    source_close(s);
    source_pushlog_close(log);
    char want[200];
    for (size_t i = 0; i < first.n; i++) {
        const struct record *r = &first.records[i];
        size_t wl = make_payload(10 + (int64_t)i, want, 101);
        CHECK_EQ_INT(r->offset, 10 + (int64_t)i);
        CHECK_MSG(r->len == wl && memcmp(r->data, want, wl) == 0, "record %zu", i);
        CHECK(r->topic_len == 3 && strcmp(r->topic, "web") == 0);
        CHECK(r->has_timestamp && r->timestamp_ms == 1700000000000 + 10 + (int64_t)i);
    }
    arena_destroy(&mem);

    /* Trimmed below the checkpoint: the gap (and its topic) is in the arena too. */
    lerr_init(&err);
    CHECK_EQ_INT(source_pushlog_open(dir, &o, &log, &err), 0);
    int deleted;
    CHECK_EQ_INT(append_range(log, 100, 400, 101), 0);
    CHECK_EQ_INT(source_pushlog_trim(log, 200, &deleted, &err), 0);
    s = source_open_push(log, "web", &err);
    CHECK_EQ_INT(source_assign(s, &pos, SOURCE_OFFSET_LATEST, &err), 0);
    arena_init(&mem, 1024, 0);
    CHECK_EQ_INT(source_poll(s, &mem, 5, 0, &b, &err), 0);
    source_close(s);
    CHECK_EQ_INT(b.ngaps, 1);
    if (b.ngaps == 1) {
        CHECK_EQ_STR(b.gaps[0].topic, "web");
        CHECK_EQ_INT(b.gaps[0].from, 10);
    }
    arena_destroy(&mem);

    /* An arena at its cap: LERR_NOMEM naming the stream. */
    s = source_open_push(log, "web", &err);
    CHECK_EQ_INT(source_assign(s, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    arena_init(&mem, 256, 256);
    CHECK_EQ_INT(source_poll(s, &mem, 64, 0, &b, &err), LERR_NOMEM);
    CHECK_MSG(strstr(err.msg, "source web: out of memory") != NULL, "%s", err.msg);
    arena_destroy(&mem);
    source_close(s);
    source_offsets_destroy(&pos);
    source_pushlog_close(log);
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
    test_damage_inside();
    test_zeroed_range();
    test_forged_frame();
    test_unit_torn();
    test_unit_segments();
    test_old_format();
    test_segment_files();
    test_source_skips();
    test_trim();
    test_push_source();
    test_push_source_arena();
    rm_rf(g_root);
    poll_mem_destroy();
    return check_summary();
}
