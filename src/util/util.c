/*
 * util.c — errors, memory budgets (util/budget.h), arenas (and their cleanup
 * hooks: arena_on_reset, arena_charge), capped buffers,
 * logging, randomness, UUIDs, SHA-256 (OpenSSL's libcrypto), clocks and
 * atomic file writes.
 */
#include "util/util.h"
#include "util/budget.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------- */

static const struct {
    const char *name;
    int http;
} lerr_table[] = {
#define LERR_ROW(c, name, http) {name, http},
    LERR_MAP(LERR_ROW)
#undef LERR_ROW
};

void lerr_init(struct lerr *e)
{
    e->code = LERR_OK;
    e->pos = -1;
    e->target[0] = '\0';
    e->msg[0] = '\0';
}

int lerr_setv(struct lerr *e, int code, const char *fmt, va_list ap)
{
    if (!e)
        return code;
    if (e->code != LERR_OK)
        return e->code;
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return code;
}

int lerr_set(struct lerr *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lerr_setv(e, code, fmt, ap);
    va_end(ap);
    return e ? e->code : code;
}

int lerr_set_at(struct lerr *e, int code, const char *target, const char *fmt, ...)
{
    if (e && e->code == LERR_OK)
        snprintf(e->target, sizeof e->target, "%s", target ? target : "");
    va_list ap;
    va_start(ap, fmt);
    lerr_setv(e, code, fmt, ap);
    va_end(ap);
    return e ? e->code : code;
}

void lerr_prefix_target(struct lerr *e, const char *prefix)
{
    if (!e || !prefix || !*prefix)
        return;
    char tmp[2 * sizeof e->target];
    const char *sep = (e->target[0] && e->target[0] != '[') ? "." : "";
    snprintf(tmp, sizeof tmp, "%s%s%s", prefix, sep, e->target);
    snprintf(e->target, sizeof e->target, "%s", tmp);
}

const char *lerr_name(int code)
{
    if (code < 0 || code >= LERR__COUNT)
        return "InternalError";
    return lerr_table[code].name;
}

int lerr_http_status(int code)
{
    if (code < 0 || code >= LERR__COUNT)
        return 500;
    return lerr_table[code].http;
}

/* ---- memory budgets (util/budget.h) --------------------------------- */
/* Here rather than in a file of their own: arenas and buffers charge them,
 * so whatever links util.c has them. */
void mem_pool_init(struct mem_pool *p, uint64_t limit)
{
    atomic_init(&p->limit, limit);
    atomic_init(&p->used, 0);
}

void mem_pool_set_limit(struct mem_pool *p, uint64_t limit) { atomic_store(&p->limit, limit); }

uint64_t mem_pool_limit(const struct mem_pool *p)
{
    return atomic_load(&((struct mem_pool *)p)->limit);
}

uint64_t mem_pool_used(const struct mem_pool *p)
{
    return atomic_load(&((struct mem_pool *)p)->used);
}

/* Takes n bytes from the pool unless that passes its limit. */
static bool pool_take(struct mem_pool *p, uint64_t n)
{
    uint64_t limit = atomic_load(&p->limit);
    uint64_t cur = atomic_load(&p->used);
    for (;;) {
        if (limit && (cur > limit || n > limit - cur))
            return false;
        if (atomic_compare_exchange_weak(&p->used, &cur, cur + n))
            return true;
    }
}

static void pool_give(struct mem_pool *p, uint64_t n) { atomic_fetch_sub(&p->used, n); }

void mem_budget_init(struct mem_budget *b, uint64_t limit, struct mem_pool *pool)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->pool = pool;
}

static bool refuse(struct mem_budget *b, int why, size_t n)
{
    if (b->refused == MEM_REFUSED_NONE) {
        b->refused = why;
        b->refused_need = n;
        b->refused_used = b->used;
    }
    return false;
}

bool mem_budget_charge(struct mem_budget *b, size_t n)
{
    if (!b)
        return true;
    if (b->limit && (b->used > b->limit || n > b->limit - b->used))
        return refuse(b, MEM_REFUSED_BUDGET, n);
    uint64_t need = b->used + n;
    if (b->pool && need > b->reserved) {
        uint64_t want = need - b->reserved;
        uint64_t chunked = (want + MEM_POOL_CHUNK - 1) / MEM_POOL_CHUNK * MEM_POOL_CHUNK;
        /* a whole chunk when the pool has it, else just what this needs */
        if (pool_take(b->pool, chunked))
            b->reserved += chunked;
        else if (chunked != want && pool_take(b->pool, want))
            b->reserved += want;
        else
            return refuse(b, MEM_REFUSED_POOL, n);
    }
    b->used = need;
    if (need > b->peak)
        b->peak = need;
    return true;
}

void mem_budget_release(struct mem_budget *b, size_t n)
{
    if (!b)
        return;
    b->used = n > b->used ? 0 : b->used - n;
    if (b->pool && b->reserved - b->used > 2 * MEM_POOL_CHUNK) {
        uint64_t give = b->reserved - b->used - MEM_POOL_CHUNK;
        b->reserved -= give;
        pool_give(b->pool, give);
    }
}

void mem_budget_destroy(struct mem_budget *b)
{
    if (b->pool && b->reserved)
        pool_give(b->pool, b->reserved);
    b->reserved = 0;
    b->used = 0;
}

/* ---- arena ----------------------------------------------------------- */

struct arena_block {
    struct arena_block *next;
    size_t size, used;
    max_align_t data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *arg);
    void *arg;
};

bool arena_on_reset(struct arena *a, void (*fn)(void *arg), void *arg)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof *c);
    if (!c)
        return false;
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return true;
}

bool arena_charge(struct arena *a, size_t n)
{
    if (a->cap && a->total + n > a->cap) {
        a->capped = true;
        return false;
    }
    if (a->budget && !mem_budget_charge(a->budget, n))
        return false;
    a->held += n;
    a->total += n;
    return true;
}

/* Runs the hooks registered after `stop` (newest first) and gives back what
 * was charged beyond `held`: before the memory they refer to is freed. */
static void run_cleanups(struct arena *a, const struct arena_cleanup *stop, size_t held)
{
    while (a->cleanups && a->cleanups != stop) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg);
    }
    if (a->held > held) {
        if (a->budget)
            mem_budget_release(a->budget, a->held - held);
        a->held = held;
    }
}

void arena_init(struct arena *a, size_t block_size, size_t cap)
{
    a->head = NULL;
    a->cleanups = NULL;
    a->held = 0;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->total = 0;
    a->cap = cap;
    a->capped = false;
    a->budget = NULL;
}

/* What a block costs its budget: the header and the bytes. */
static size_t block_cost(const struct arena_block *b) { return sizeof *b + b->size; }

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (a->cap && a->total + n > a->cap) {
        a->capped = true;
        return NULL;
    }
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t sz = n > a->block_size ? n : a->block_size;
        /* charged before the memory exists: a refusal is a NULL, not an OOM kill */
        if (a->budget && !mem_budget_charge(a->budget, sizeof *b + sz))
            return NULL;
        b = malloc(sizeof *b + sz);
        if (!b) {
            mem_budget_release(a->budget, sizeof *b + sz);
            return NULL;
        }
        b->size = sz;
        b->used = 0;
        /* A huge one-off block goes second so the current block keeps filling. */
        if (a->head && sz > a->block_size) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    a->total += n;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? arena_alloc(a, (size_t)n + 1) : NULL;
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void arena_reset(struct arena *a)
{
    run_cleanups(a, NULL, 0);
    struct arena_block *b = a->head;
    if (!b)
        return;
    /* Keep one block of the ordinary size; free the rest. */
    struct arena_block *keep = NULL;
    while (b) {
        struct arena_block *next = b->next;
        if (!keep && b->size == a->block_size) {
            keep = b;
            keep->used = 0;
        } else {
            if (a->budget)
                mem_budget_release(a->budget, block_cost(b));
            free(b);
        }
        b = next;
    }
    if (keep)
        keep->next = NULL;
    a->head = keep;
    a->total = 0;
}

void arena_mark(const struct arena *a, struct arena_mark *m)
{
    m->head = a->head;
    m->next = a->head ? a->head->next : NULL;
    m->used = a->head ? a->head->used : 0;
    m->total = a->total;
    m->cleanups = a->cleanups;
    m->held = a->held;
}

void arena_release(struct arena *a, const struct arena_mark *m)
{
    run_cleanups(a, m->cleanups, m->held);
    a->total = m->total;
    if (a->head == m->head && (!m->head || m->head->next == m->next)) {
        if (m->head)
            m->head->used = m->used; /* the common case: nothing but bytes */
        return;
    }
    /* Newer blocks are in front of the marked head; huge ones may also sit
     * right behind it (arena_alloc puts them second). Unless the marked
     * head is empty (then it is the one reused), keep one ordinary block as
     * the new head so that the next row does not malloc again. */
    bool want_spare = !m->head || m->used > 0;
    struct arena_block *spare = NULL, *b = a->head;
    while (b && b != m->head) {
        struct arena_block *next = b->next;
        if (want_spare && !spare && b->size == a->block_size) {
            spare = b;
        } else {
            if (a->budget)
                mem_budget_release(a->budget, block_cost(b));
            free(b);
        }
        b = next;
    }
    if (m->head) {
        for (b = m->head->next; b && b != m->next;) {
            struct arena_block *next = b->next;
            if (a->budget)
                mem_budget_release(a->budget, block_cost(b));
            free(b);
            b = next;
        }
        m->head->next = m->next;
        m->head->used = m->used;
    }
    if (spare) {
        spare->used = 0;
        spare->next = m->head;
        a->head = spare;
    } else {
        a->head = m->head;
    }
}

void arena_destroy(struct arena *a)
{
    run_cleanups(a, NULL, 0);
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        if (a->budget)
            mem_budget_release(a->budget, block_cost(b));
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

bool arena_set_budget(struct arena *a, struct mem_budget *budget)
{
    if (budget == a->budget)
        return true;
    size_t held = a->held;
    for (const struct arena_block *b = a->head; b; b = b->next)
        held += block_cost(b);
    if (held && budget && !mem_budget_charge(budget, held))
        return false;
    if (held && a->budget)
        mem_budget_release(a->budget, held);
    a->budget = budget;
    return true;
}

/* ---- buffer ---------------------------------------------------------- */

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = b->alloc = 0;
    b->cap = cap;
    b->failed = false;
    b->budget = NULL;
}

static bool buf_reserve(struct buf *b, size_t extra)
{
    if (b->failed)
        return false;
    size_t need = b->len + extra + 1;
    if (need < b->len || (b->cap && need - 1 > b->cap)) {
        b->failed = true;
        return false;
    }
    if (need <= b->alloc)
        return true;
    size_t na = b->alloc ? b->alloc : 256;
    while (na < need)
        na *= 2;
    if (b->cap && na > b->cap + 1)
        na = b->cap + 1; /* the cap bounds the allocation too, not only the length */
    if (b->budget && !mem_budget_charge(b->budget, na - b->alloc)) {
        b->failed = true;
        return false;
    }
    char *p = realloc(b->data, na);
    if (!p) {
        mem_budget_release(b->budget, na - b->alloc);
        b->failed = true;
        return false;
    }
    b->data = p;
    b->alloc = na;
    return true;
}

bool buf_append(struct buf *b, const void *p, size_t n)
{
    if (!buf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool buf_put_le64(struct buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    return buf_append(b, x, 8);
}

bool util_get_le64(const unsigned char **p, const unsigned char *e, uint64_t *v)
{
    if (e - *p < 8)
        return false;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)(*p)[i] << (8 * i);
    *p += 8;
    return true;
}

bool buf_puts(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }
bool buf_putc(struct buf *b, char c) { return buf_append(b, &c, 1); }

bool buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    bool ok = n >= 0 && buf_reserve(b, (size_t)n);
    if (ok) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return ok;
}

const char *buf_cstr(struct buf *b) { return b->data ? b->data : ""; }

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    struct mem_budget *budget = b->budget;
    free(b->data);
    mem_budget_release(budget, b->alloc);
    buf_init(b, b->cap);
    b->budget = budget;
}

bool buf_set_budget(struct buf *b, struct mem_budget *budget)
{
    if (budget == b->budget)
        return true;
    if (b->alloc && budget && !mem_budget_charge(budget, b->alloc))
        return false;
    mem_budget_release(b->budget, b->alloc);
    b->budget = budget;
    return true;
}

char *buf_steal(struct buf *b, size_t *len)
{
    char *p = b->data;
    if (!p) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    if (len)
        *len = b->len;
    mem_budget_release(b->budget, b->alloc);
    b->data = NULL;
    b->len = b->alloc = 0;
    b->failed = false;
    return p;
}

/* ---- logging --------------------------------------------------------- */

static enum log_level log_level_min = LOG_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static bool log_json;
static _Thread_local char log_request_id[65];

void log_set_level(enum log_level lvl) { log_level_min = lvl; }
void log_set_json(bool on) { log_json = on; }
bool log_is_json(void) { return log_json; }

void log_set_request_id(const char *id)
{
    snprintf(log_request_id, sizeof log_request_id, "%s", id ? id : "");
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80                    ? 1
                 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
                 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                                : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return len;
}

bool util_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, u; i < n; i += u)
        if (!p[i] || !(u = utf8_len(p + i, n - i)))
            return false;
    return true;
}

size_t util_json_text(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        char esc[8];
        const char *piece = esc;
        size_t len;
        size_t u = utf8_len(p + i, n - i);
        if (p[i] == '"' || p[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)p[i];
            len = 2;
            u = 1;
        } else if (p[i] < 0x20 || p[i] == 0x7f) {
            len = (size_t)snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            u = 1;
        } else if (!u) {
            piece = "\xef\xbf\xbd";
            len = 3;
            u = 1;
        } else {
            piece = (const char *)p + i;
            len = u;
        }
        if (o + len + 1 > cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
        i += u;
    }
    out[o] = '\0';
    return o;
}

bool util_csv_has(const char *list, const char *name, size_t n)
{
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        if (len == n && memcmp(s, name, n) == 0)
            return true;
        s += len + (s[len] == ',');
    }
    return false;
}

void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    static const char *json_names[] = {"debug", "info", "warn", "error"};
    if (lvl < log_level_min)
        return;
    char ts[32], msg[2048], line[4096 + 256];
    util_format_iso_ms(util_now_ms(), ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_json) {
        char m[4096], comp[128], rid[140];
        util_json_text(m, sizeof m, msg);
        util_json_text(comp, sizeof comp, module);
        util_json_text(rid, sizeof rid, log_request_id);
        snprintf(
            line, sizeof line,
            "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"message\":\"%s\"%s%s%s}", ts,
            json_names[lvl], comp, m, rid[0] ? ",\"requestId\":\"" : "", rid, rid[0] ? "\"" : "");
    } else {
        snprintf(line, sizeof line, "%s %s %s: %s", ts, names[lvl], module, msg);
    }
    pthread_mutex_lock(&log_mu);
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
}

/* ---- randomness, ids, hashing, clocks -------------------------------- */

int util_random_bytes(void *p, size_t n, struct lerr *err)
{
    unsigned char *out = p;
    while (n > 0) {
        ssize_t r = getrandom(out, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return lerr_set(err, LERR_INTERNAL, "getrandom failed: %s", strerror(errno));
        }
        out += r;
        n -= (size_t)r;
    }
    return 0;
}

int util_uuid_v4(char out[37], struct lerr *err)
{
    unsigned char b[16];
    if (util_random_bytes(b, sizeof b, err))
        return err->code;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

bool util_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

void util_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(p, n, md);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int64_t util_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t util_now_ms(void) { return util_now_ns() / 1000000LL; }

int64_t util_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t util_boot_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void util_deadline(clockid_t clock, int64_t ms, struct timespec *ts)
{
    clock_gettime(clock, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void format_iso_parts(int64_t secs, char *out, size_t cap)
{
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void util_format_iso_ms(int64_t ms, char out[32])
{
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    char base[24];
    format_iso_parts(secs, base, sizeof base);
    snprintf(out, 32, "%.19s.%03dZ", base, (int)rem);
}

void util_format_iso_ns(int64_t ns, char out[40])
{
    int64_t secs = ns / 1000000000LL, rem = ns % 1000000000LL;
    if (rem < 0) {
        rem += 1000000000LL;
        secs -= 1;
    }
    char base[24];
    format_iso_parts(secs, base, sizeof base);
    snprintf(out, 40, "%.19s.%09dZ", base, (int)rem);
}

/* ---- suggestions ------------------------------------------------------ */

static int lower_ascii(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

int util_edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
    enum { MAXN = 64 };
    if (an > MAXN || bn > MAXN)
        return (int)(an > bn ? an : bn);
    int prev[MAXN + 1], cur[MAXN + 1];
    for (size_t j = 0; j <= bn; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= an; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= bn; j++) {
            int sub = prev[j - 1] + (lower_ascii(a[i - 1]) != lower_ascii(b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (bn + 1));
    }
    return prev[bn];
}

const char *util_closest(const char *word, size_t n, const char *const *candidates)
{
    int limit = n <= 3 ? 1 : (int)(n / 3) > 2 ? (int)(n / 3) : 2;
    const char *best = NULL;
    int best_d = limit + 1;
    for (size_t i = 0; candidates[i]; i++) {
        int d = util_edit_distance(word, n, candidates[i], strlen(candidates[i]));
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}

/* ---- files ----------------------------------------------------------- */

int util_mkdirs(const char *path, int mode, struct lerr *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return lerr_set(err, LERR_INVALID, "path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
                return lerr_set(err, LERR_IO, "cannot create directory %s: %s", tmp,
                                strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
        return lerr_set(err, LERR_IO, "cannot create directory %s: %s", tmp, strerror(errno));
    return 0;
}

bool util_name_is_path_safe(const char *name)
{
    size_t n = name ? strnlen(name, 256) : 0;
    return n >= 1 && n <= 255 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           !memchr(name, '/', n);
}

static char rm_failed[512];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc != 0 && errno != ENOENT) {
        snprintf(rm_failed, sizeof rm_failed, "%s: %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

int util_remove_tree(const char *path, struct lerr *err)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* nftw has no context */
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    pthread_mutex_lock(&mu);
    rm_failed[0] = '\0';
    int rc = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc != 0)
        lerr_set(err, LERR_IO, "cannot remove %s", rm_failed[0] ? rm_failed : path);
    pthread_mutex_unlock(&mu);
    return rc != 0 ? err->code : 0;
}

static int private_changed;
static const char *private_root;

static int private_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (strcmp(path, private_root) == 0 || flag == FTW_SL || !(st->st_mode & 077))
        return 0;
    if (chmod(path, st->st_mode & 07700) == 0)
        private_changed++;
    return 0;
}

int util_private_tree(const char *dir, struct lerr *err)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* nftw has no context */
    pthread_mutex_lock(&mu);
    private_changed = 0;
    private_root = dir;
    int rc = nftw(dir, private_entry, 16, FTW_PHYS);
    int n = private_changed;
    pthread_mutex_unlock(&mu);
    if (rc != 0)
        return lerr_set(err, LERR_IO, "cannot walk %s: %s", dir, strerror(errno)), -1;
    return n;
}

static int fsync_dir_of(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int util_write_file_atomic(const char *path, const void *p, size_t n, int mode, struct lerr *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return lerr_set(err, LERR_INVALID, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return lerr_set(err, LERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    const char *c = p;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, c, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return lerr_set(err, LERR_IO, "cannot write %s: %s", tmp, strerror(e));
        }
        c += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return lerr_set(err, LERR_IO, "cannot sync %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return lerr_set(err, LERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    fsync_dir_of(path);
    return 0;
}
