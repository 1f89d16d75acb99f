/*
 * json.h — the nd-json record scanner: a validating, allocation-free reader
 * of the top-level members of one JSON object (one Kafka message, one line of
 * a push body), plus a few helpers for nested values and a JSON string writer.
 *
 * Entry points:
 *   format_json_iter_init()       start on a record (BOM, whitespace, one object)
 *   format_json_iter_init_span()  start on any object or array span (e.g. a raw span
 *                          reported for a nested member)
 *   format_json_iter_next()       the next member / array element
 *   format_json_parse_value()     one value of any kind from a span
 *   format_json_find_path()       follow $.a.b[0]-style steps inside a span
 *   format_json_write_string()    append a UTF-8 slice as a JSON string literal
 *
 * Validation is RFC 8259, strictly: invalid UTF-8 (overlong forms, UTF-8
 * encoded surrogates, code points above U+10FFFF, truncated sequences),
 * unpaired \u surrogates, raw control characters in strings, unknown escapes,
 * leading zeros, "1." and ".5", anything but whitespace after the value, and
 * nesting deeper than FORMAT_JSON_MAX_DEPTH are all rejected with LERR_INVALID, a
 * message "invalid JSON at byte N: ..." and lerr.pos = N (the offset from the
 * first byte handed to the init function). Differences from jansson (which
 * the tests compare against): we accept "\u0000" (the decoded string holds a
 * NUL byte), integers outside int64 (reported as doubles) and numbers that
 * overflow a double (reported as ±inf with FORMAT_JSON_NUM_OVERFLOW); we skip a
 * leading UTF-8 BOM on records and reject nesting past 128 levels.
 *
 * Nothing is allocated per value. Slices point into the input unless a string
 * contains escapes; then its decoded bytes go into a caller-provided scratch
 * area (bump-allocated, never more bytes in total than the input length, so a
 * scratch of n bytes never runs out). Nested objects and arrays are validated
 * and skipped; their raw text is reported so callers can keep it (json
 * columns) or walk it later with format_json_iter_init_span()/format_json_find_path().
 *
 * Duplicate keys are all reported, in input order; callers keep the last one
 * (as jansson, Jackson and Druid do). format_json_find_path() does the same.
 *
 * Thread-safety: functions touch only the objects passed to them; an iterator
 * belongs to one thread.
 */
#ifndef LODESTAR_FORMAT_JSON_H
#define LODESTAR_FORMAT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* Deepest nesting accepted; the record's own object is level 1. */
#define FORMAT_JSON_MAX_DEPTH 128

/* Named apart from jansson's JSON_OBJECT etc. so both headers can be included. */
enum format_json_kind {
    FORMAT_JSON_KIND_NULL = 0,
    FORMAT_JSON_KIND_FALSE,
    FORMAT_JSON_KIND_TRUE,
    FORMAT_JSON_KIND_NUMBER,
    FORMAT_JSON_KIND_STRING,
    FORMAT_JSON_KIND_OBJECT,
    FORMAT_JSON_KIND_ARRAY,
};

/* format_json_value.num_flags */
enum {
    FORMAT_JSON_NUM_INT = 1u,       /* no fraction/exponent and fits int64: `i` is exact */
    FORMAT_JSON_NUM_OVERFLOW = 2u,  /* finite in the text, too large for a double: d = ±inf */
    FORMAT_JSON_NUM_UNDERFLOW = 4u, /* non-zero in the text, rounds to ±0 */
    FORMAT_JSON_NUM_NEGZERO = 8u,   /* the value is negative zero ("-0", "-0.0", "-1e-400") */
};

struct format_json_value {
    enum format_json_kind kind;
    unsigned num_flags; /* FORMAT_JSON_KIND_NUMBER: JSON_NUM_* bits; else 0 */
    const char *raw;    /* the value's text in the input (strings with quotes) */
    size_t raw_len;
    const char *str; /* FORMAT_JSON_KIND_STRING: decoded UTF-8 (may hold NUL bytes); else NULL */
    size_t str_len;
    int64_t i; /* FORMAT_JSON_KIND_NUMBER with FORMAT_JSON_NUM_INT; else 0 */
    double d;  /* FORMAT_JSON_KIND_NUMBER: the value, correctly rounded; else 0 */
};

struct format_json_member {
    const char *key; /* decoded; NULL for array elements */
    size_t key_len;
    size_t index; /* 0-based position in its object or array */
    struct format_json_value v;
};

/* Iterator over the members of one object or the elements of one array.
 * Fields are private. */
struct format_json_iter {
    const char *base, *p, *end;
    char *scratch;
    size_t scratch_cap, scratch_used;
    size_t index;
    struct lerr *err;
    char close; /* '}' or ']' */
    uint8_t state;
};

/*
 * Starts on a record: an optional UTF-8 BOM, whitespace, one object,
 * whitespace (so a trailing "\r" from CRLF is fine). Borrows p[0..n) and
 * scratch[0..scratch_cap) until the iterator is done with. Returns 0, or -1
 * with LERR_INVALID: "empty record" (pos 0) for nothing but whitespace, or
 * "expected '{'" when the record is not an object.
 */
int format_json_iter_init(struct format_json_iter *it, const char *p, size_t n, char *scratch,
                          size_t scratch_cap, struct lerr *err);

/* Starts on a span holding one object or array (leading and trailing
 * whitespace allowed, no BOM); nesting is counted from the span. Errors as
 * format_json_iter_init(), positions relative to p. */
int format_json_iter_init_span(struct format_json_iter *it, const char *p, size_t n, char *scratch,
                               size_t scratch_cap, struct lerr *err);

/*
 * Reads the next member (object) or element (array, key NULL) into *m.
 * Returns 1 with a member, 0 at the end (the rest of the input has then been
 * validated), -1 on invalid input (LERR_INVALID) or when the scratch area is
 * too small (LERR_TOO_LARGE). After 0 or -1 it keeps returning the same.
 * Slices in *m stay valid while the input and scratch do.
 */
int format_json_iter_next(struct format_json_iter *it, struct format_json_member *m,
                          struct lerr *err);

/* Parses the one value in p[0..n) (surrounding whitespace allowed), of any
 * kind. Returns 0 or -1 (err set as above). */
int format_json_parse_value(const char *p, size_t n, struct format_json_value *out, char *scratch,
                            size_t scratch_cap, struct lerr *err);

/* One step of a path: a member name (key != NULL) or an array index. */
struct format_json_path_step {
    const char *key;
    size_t key_len;
    size_t index;
};

/*
 * Follows steps from the value in p[0..n) (e.g. a member's raw span) and
 * parses what it finds into *out. Returns 1 when found, 0 when a step does
 * not match (missing member, index past the end, or not an object/array),
 * -1 on invalid JSON along the way. With nsteps == 0 it is format_json_parse_value().
 * Only the containers on the path are walked; needs at most n scratch bytes.
 */
int format_json_find_path(const char *p, size_t n, const struct format_json_path_step *steps,
                          size_t nsteps, struct format_json_value *out, char *scratch,
                          size_t scratch_cap, struct lerr *err);

/*
 * Appends s[0..n) to b as a JSON string literal with quotes: '"', '\\' and
 * control characters escaped (\n \t \r \b \f, else \u00XX), everything else
 * as is; invalid UTF-8 bytes become U+FFFD so the output is always valid
 * JSON. Returns false when the buffer failed (cap or OOM).
 */
bool format_json_write_string(struct buf *b, const char *s, size_t n);

#endif
