/*
 * util.h — the small pieces every module uses: the error struct, arenas, a
 * growable byte buffer with a cap, logging, random bytes, UUIDs, SHA-256 and
 * wall-clock helpers.
 *
 * Entry points: lerr_set(), arena_alloc(), arena_mark() / arena_release(),
 * arena_on_reset() / arena_charge() (objects an arena's lifetime frees),
 * buf_append(), log_msg(), util_random_bytes(), util_uuid_v4(),
 * util_sha256_hex(), util_now_ms(). Arenas and buffers can charge a memory
 * budget (util/budget.h) before they allocate: arena_set_budget(),
 * buf_set_budget().
 * Everything here is thread-safe except where a function says it mutates an
 * object the caller owns (arenas and buffers are single-owner).
 */
#ifndef LODESTAR_UTIL_H
#define LODESTAR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define LS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define LS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ------------------------------------------------------------ */

/* One table: code, stable name (the "error" field of the JSON), HTTP status. */
#define LERR_MAP(X)                                        \
    X(LERR_OK, "OK", 200)                                  \
    X(LERR_INVALID, "InvalidInput", 400)                   \
    X(LERR_UNAUTHORIZED, "Unauthorized", 401)              \
    X(LERR_FORBIDDEN, "Forbidden", 403)                    \
    X(LERR_NOT_FOUND, "NotFound", 404)                     \
    X(LERR_METHOD, "MethodNotAllowed", 405)                \
    X(LERR_CONFLICT, "Conflict", 409)                      \
    X(LERR_TOO_LARGE, "PayloadTooLarge", 413)              \
    X(LERR_UNSUPPORTED_MEDIA, "UnsupportedMediaType", 415) \
    X(LERR_RATE_LIMIT, "TooManyRequests", 429)             \
    X(LERR_INTERNAL, "InternalError", 500)                 \
    X(LERR_IO, "IOError", 500)                             \
    X(LERR_CORRUPT, "CorruptData", 500)                    \
    X(LERR_NOMEM, "OutOfMemory", 500)                      \
    X(LERR_UNAVAILABLE, "ServiceUnavailable", 503)         \
    X(LERR_TIMEOUT, "Timeout", 504)

enum lerr_code {
#define LERR_ENUM(c, name, http) c,
    LERR_MAP(LERR_ENUM)
#undef LERR_ENUM
        LERR__COUNT
};

/*
 * The error struct, passed last to anything that can fail. The first error
 * set wins: later lerr_set() calls on a struct whose code is not LERR_OK do
 * nothing. `pos` is a byte/character position (or -1), `target` a JSON path
 * of the bad field ("" when none).
 */
struct lerr {
    int code;
    int64_t pos;
    char target[160];
    char msg[512];
};

void lerr_init(struct lerr *e);
/* Sets code and message (printf-style) if no error is set yet. Returns code. */
int lerr_set(struct lerr *e, int code, const char *fmt, ...) LS_PRINTF(3, 4);
int lerr_setv(struct lerr *e, int code, const char *fmt, va_list ap);
/* Like lerr_set, also recording the JSON path of the field at fault. */
int lerr_set_at(struct lerr *e, int code, const char *target, const char *fmt, ...)
    LS_PRINTF(4, 5);
/* Prefixes the target with `prefix` (e.g. "source." + "inputSchema[2]"). */
void lerr_prefix_target(struct lerr *e, const char *prefix);
const char *lerr_name(int code);
int lerr_http_status(int code);

/* ---- arena ------------------------------------------------------------- */

struct mem_budget; /* util/budget.h */

/* A bump allocator: allocations live until arena_reset() or arena_destroy(). */
struct arena_block;
struct arena_cleanup;
struct arena {
    struct arena_block *head;
    struct arena_cleanup *cleanups; /* arena_on_reset() hooks, newest first */
    size_t held;                    /* bytes charged by arena_charge() and not yet released */
    size_t block_size;
    size_t total;              /* bytes handed out since the last reset */
    size_t cap;                /* 0 = unlimited; allocations past it return NULL */
    bool capped;               /* sticky: an allocation was refused because of cap (not malloc) */
    struct mem_budget *budget; /* NULL, or charged for each block before it is malloc'd */
};

void arena_init(struct arena *a, size_t block_size, size_t cap);
void *arena_alloc(struct arena *a, size_t n); /* 16-byte aligned; NULL past cap or on OOM */
void *arena_zalloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) LS_PRINTF(2, 3);
void arena_reset(struct arena *a); /* keeps the first block, frees the rest */
/* A point to return to: arena_release() frees everything allocated since
 * arena_mark() (keeping one block of the ordinary size for reuse), as a
 * per-row memory context is reset between rows. Marks nest like a stack. */
struct arena_mark {
    struct arena_block *head, *next;
    struct arena_cleanup *cleanups;
    size_t used, total, held;
};
void arena_mark(const struct arena *a, struct arena_mark *m);
void arena_release(struct arena *a, const struct arena_mark *m);
void arena_destroy(struct arena *a);
/*
 * Cleanup hooks, for objects that live as long as the arena's memory but
 * hold memory of their own (a library's sketch, malloc'd, pointed to from an
 * arena-held aggregator state), in the manner of nginx's pool cleanups:
 * arena_on_reset() registers fn(arg), which runs when the memory allocated
 * before the call goes away — arena_reset(), arena_destroy(), or an
 * arena_release() to a mark taken before the call — newest first. false
 * when the hook's own record could not be allocated (fn is then not
 * registered: the caller frees its object itself).
 * arena_charge() counts n bytes the caller is about to malloc outside the
 * blocks (for such an object) against the arena's cap and budget, as if
 * allocated from it, until the same events give them back; false (nothing
 * charged) when the cap or the budget refuses.
 */
bool arena_on_reset(struct arena *a, void (*fn)(void *arg), void *arg);
bool arena_charge(struct arena *a, size_t n);
/* Moves the arena's blocks (and every later one) to budget `b` (NULL =
 * none): charges what it holds to b and releases it from the old budget.
 * false (nothing changed) when b refuses. The budget must outlive the
 * arena's blocks: destroy the arena, or detach it, before the budget. */
bool arena_set_budget(struct arena *a, struct mem_budget *b);

/* ---- growable buffer with a cap ---------------------------------------- */

struct buf {
    char *data; /* always NUL-terminated when len > 0 or after buf_cstr() */
    size_t len;
    size_t alloc;
    size_t cap;                /* 0 = unlimited */
    bool failed;               /* sticky: an append past cap, an OOM or a refused budget sets it */
    struct mem_budget *budget; /* NULL, or charged for each growth before realloc */
};

void buf_init(struct buf *b, size_t cap);
bool buf_append(struct buf *b, const void *p, size_t n);
/* v as 8 little-endian bytes (the byte formats of aggregate states and query parts). */
bool buf_put_le64(struct buf *b, uint64_t v);
/* 8 little-endian bytes at *p (before e) into *v, *p moved past them; false when fewer
 * than 8 are left. */
bool util_get_le64(const unsigned char **p, const unsigned char *e, uint64_t *v);
bool buf_puts(struct buf *b, const char *s);
bool buf_putc(struct buf *b, char c);
bool buf_printf(struct buf *b, const char *fmt, ...) LS_PRINTF(2, 3);
const char *buf_cstr(struct buf *b); /* "" for an empty buffer */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the bytes to the caller (malloc'd, NUL-terminated); the buffer is
 * reset. The bytes leave the budget, if any: they are the caller's now. */
char *buf_steal(struct buf *b, size_t *len);
/* As arena_set_budget: the buffer's allocation moves to budget b (NULL =
 * none); false (nothing changed) when b refuses it. */
bool buf_set_budget(struct buf *b, struct mem_budget *budget);

/* ---- logging ----------------------------------------------------------- */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level lvl);
/* One JSON object a line — {"time", "level", "component", "message"} and
 * "requestId" inside a request — instead of text, as log shippers expect. */
void log_set_json(bool on);
bool log_is_json(void);
/* The request this thread serves (NULL: none), named by the lines it logs. */
void log_set_request_id(const char *id);
/* s as the body of a JSON string into out (cap bytes, NUL-terminated, cut
 * at a whole character): quotes, backslashes and control characters
 * escaped, bytes that are not UTF-8 as U+FFFD. Returns the length. */
size_t util_json_text(char *out, size_t cap, const char *s);
/* Whether the n bytes at s are UTF-8 (no overlongs or surrogates) without a NUL. */
bool util_utf8_valid(const char *s, size_t n);
/* Whether the n bytes at name are one of the comma-separated items of list. */
bool util_csv_has(const char *list, const char *name, size_t n);
/* One line on stderr: "2026-11-24T18:00:00.123Z INFO  <module>: <message>". Thread-safe. */
void log_msg(enum log_level lvl, const char *module, const char *fmt, ...) LS_PRINTF(3, 4);

/* ---- randomness, ids, hashing, clocks ---------------------------------- */

int util_random_bytes(void *p, size_t n, struct lerr *err); /* getrandom(2) */
/* Writes a lowercase RFC 4122 v4 UUID (36 chars + NUL) into out[37]. */
int util_uuid_v4(char out[37], struct lerr *err);
bool util_uuid_valid(const char *s);
/* SHA-256 of n bytes as 64 lowercase hex chars + NUL. */
void util_sha256_hex(const void *p, size_t n, char out[65]);
int64_t util_now_ms(void);  /* wall clock, ms since the epoch */
int64_t util_now_ns(void);  /* wall clock, ns since the epoch */
int64_t util_mono_ns(void); /* monotonic clock */
int64_t util_boot_ns(void); /* monotonic, counting time suspended too (CLOCK_BOOTTIME) */
/* *ts = the time ms milliseconds from now on `clock` (a pthread_cond_timedwait deadline; the
 * condition variable must wait on the same clock) */
void util_deadline(clockid_t clock, int64_t ms, struct timespec *ts);
/* Formats ms since the epoch as "2023-03-23T23:00:57.235Z" into out[32]. */
void util_format_iso_ms(int64_t ms, char out[32]);
/* Formats ns since the epoch as "2023-03-23T23:00:57.235117332Z" into out[40]. */
void util_format_iso_ns(int64_t ns, char out[40]);

/*
 * CRC-32C (Castagnoli), hardware-assisted where the CPU has SSE4.2; chainable
 * like zlib's crc32 (start with 0). util_crc32c_sw is the portable table
 * version (tests compare the two). Thread-safe.
 */
uint32_t util_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t util_crc32c_sw(uint32_t crc, const void *p, size_t n);

/* ---- suggestions ------------------------------------------------------- */

/* Levenshtein distance, case-insensitive, capped at 64-byte strings. */
int util_edit_distance(const char *a, size_t an, const char *b, size_t bn);
/*
 * The candidate closest to word (distance <= 1 for words of up to 3
 * characters, else max(2, len/3)), or NULL: used
 * for "did you mean ...?" hints. candidates is NULL-terminated.
 */
const char *util_closest(const char *word, size_t n, const char *const *candidates);

/* ---- files ------------------------------------------------------------- */

/* mkdir -p; 0 or sets err. */
int util_mkdirs(const char *path, int mode, struct lerr *err);
/*
 * Whether a name can become one component of a path under the data
 * directory: 1..255 bytes, not "." or "..", no '/'. Every name that becomes
 * a file or directory name (tables, connections, files) goes through this.
 */
bool util_name_is_path_safe(const char *name);
/*
 * Takes group and other permissions off everything under `dir` (not dir
 * itself; symlinks not followed): data written by an older version, or
 * with another umask, becomes private. Returns how many entries changed, or
 * -1 with err set.
 */
int util_private_tree(const char *dir, struct lerr *err);
/* rm -rf of a directory tree (without following symlinks); a missing path is
 * fine. 0 or LERR_IO naming the first entry that could not be removed. */
int util_remove_tree(const char *path, struct lerr *err);
/* Writes a whole file atomically (temp + fsync + rename + fsync dir). */
int util_write_file_atomic(const char *path, const void *p, size_t n, int mode, struct lerr *err);

/* Unaligned native-order loads (memcpy compiles to one move). */
static inline uint32_t util_load_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t util_load_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#endif
