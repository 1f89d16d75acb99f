/*
 * avro.c — the Avro formats: avro_stream (one Avro datum per record, its
 * schema inline in the spec or fetched by id from a Confluent Schema
 * Registry, registry.h) and avro_ocf (Avro object container files: the
 * schema in the file's header, data in blocks, codec null or deflate).
 *
 * Schemas are parsed and validated by avro-c (avro_schema_from_json_length:
 * names, references, defaults), then compiled into a small tree of nodes
 * this file decodes with; logical types, which this avro-c does not expose,
 * are read from the same JSON beside it. Records are decoded here, not by
 * avro-c's reader, because a record is untrusted input: every length and
 * count is checked against the bytes left before anything is read or
 * allocated, nesting is bounded, and an error names the byte offset and the
 * field (avro-c's reader allocates what the wire says and reports neither).
 *
 * A record's schema must be a record; its fields are the input fields:
 *   null → NULL; boolean → true/false (LONG 1/0); int, long → numbers;
 *   float, double → numbers (NaN and ±Infinity → NULL with a warning);
 *   string, enum (its symbol), uuid → strings; bytes and fixed → base64
 *   strings; decimal (bytes or fixed) → the exact decimal number
 *   ("-12.50"), read as a long or double by the field's dataType;
 *   date → "YYYY-MM-DD"; timestamp-millis / local-timestamp-millis →
 *   epoch milliseconds; timestamp-micros / local-timestamp-micros → epoch
 *   milliseconds (rounded down); time-millis / time-micros → numbers;
 *   unions → the value of their branch (a nullable field is its value or
 *   NULL); records and maps → JSON objects, arrays → JSON arrays (json
 *   columns; arrays of primitives become ARRAY columns under discovery, as
 *   for nd-json), reachable with flattenSpec paths as in nd-json.
 * Values then follow format.h's JSON conversions to the declared types.
 *
 * A datum that does not decode (truncated, a varint past 10 bytes, a
 * negative length, a union or enum index out of range, invalid UTF-8 in a
 * string, bytes left after the record — the usual sign of another schema)
 * is FORMAT_ERROR with the reason, the field and err->pos. Records from a
 * registry: an unknown id is LERR_NOT_FOUND (skipped); an unreachable
 * registry is LERR_UNAVAILABLE, which callers must not count: they retry
 * the record later (ingest's fetcher does, with backoff).
 *
 * Entry points (module-internal, format_int.h): format__is_avro(),
 * format__avro_init(), format__avro_free(), format__avro_state_free(),
 * format__avro_row(), format__avro_split_init(), format__avro_split_next().
 */
#include "format/format_int.h"
#include "format/registry.h"
#include "util/time.h"

#include <avro.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Deepest nesting of a schema or a value. */
#define AVRO_MAX_DEPTH 64
/* Items of zero bytes (null, empty records) an array or map may hold beyond the
 * record's remaining bytes: a count cannot make us loop for ever. */
#define AVRO_ZERO_ITEMS 65536u
/* Largest decimal (bytes of its unscaled value). */
#define AVRO_MAX_DECIMAL 64u

enum kind {
    K_NULL,
    K_BOOL,
    K_INT,
    K_LONG,
    K_FLOAT,
    K_DOUBLE,
    K_BYTES,
    K_STRING,
    K_RECORD,
    K_ENUM,
    K_ARRAY,
    K_MAP,
    K_UNION,
    K_FIXED
};
enum logical { L_NONE, L_DATE, L_TS_MILLIS, L_TS_MICROS, L_DECIMAL, L_UUID };

struct node {
    uint8_t kind, logical;
    int32_t scale;      /* decimal */
    uint32_t n;         /* record fields, enum symbols, union branches, fixed size */
    struct node **kid;  /* record fields, union branches; kid[0]: array items, map values */
    const char **names; /* record field names, enum symbols */
    uint32_t *lens;
    const char *name; /* named types: their name, for messages */
};

struct format__avro_schema {
    struct arena mem;
    struct node *root;
    uint32_t id; /* registry schemas: their id */
    struct format__avro_schema *next;
    bool failed; /* registry schemas that did not compile: err_msg says why */
    char err_msg[300];
};

/* A parser's Avro state (part of its scratch). */
struct format__avro_state {
    struct format__avro_schema *by_id; /* registry schemas compiled, newest first */
    struct format__avro_schema *files; /* OCF schemas of texts split so far */
    struct buf json;                   /* nested values as JSON text */
    /* OCF splitting of the current text */
    const struct format__avro_schema *ocf; /* NULL: no valid header */
    char ocf_err[400];
    bool ocf_err_pending;
    bool deflate;
    uint8_t sync[16];
    const char *blk, *blk_end; /* the current block's data (maybe inflated) */
    const char *file_base;     /* the text, for block offsets */
    int64_t blk_left;          /* data left in the block */
    char *inflated;
    size_t inflated_cap;
    bool in_inflated; /* the current record lies in `inflated` */
};

bool format__is_avro(enum format_kind k)
{
    return k == FORMAT_AVRO_STREAM || k == FORMAT_AVRO_OCF;
}

/* ---- schemas ------------------------------------------------------------------ */

struct memo {
    avro_schema_t s;
    struct node *n;
};

struct comp {
    struct arena *mem;
    struct memo *memo;
    size_t nmemo, cap;
    char *err;
    size_t err_cap;
};

static struct node *memo_get(struct comp *cc, avro_schema_t s)
{
    for (size_t i = 0; i < cc->nmemo; i++)
        if (cc->memo[i].s == s)
            return cc->memo[i].n;
    return NULL;
}

static bool memo_put(struct comp *cc, avro_schema_t s, struct node *n)
{
    if (cc->nmemo == cc->cap) {
        size_t cap = cc->cap ? cc->cap * 2 : 16;
        struct memo *m = realloc(cc->memo, cap * sizeof *m);
        if (!m)
            return false;
        cc->memo = m;
        cc->cap = cap;
    }
    cc->memo[cc->nmemo++] = (struct memo){s, n};
    return true;
}

/* The JSON describing a type: a field's {"type": X} unwrapped to X. */
static json_t *jtype(json_t *j)
{
    for (int i = 0; i < 8 && json_is_object(j); i++) {
        json_t *t = json_object_get(j, "type");
        if (!json_is_object(t) && !json_is_array(t))
            break;
        j = t;
    }
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    return json_is_object(j) ? json_string_value(json_object_get(j, key)) : NULL;
}

static uint8_t logical_of(json_t *j, uint8_t kind, int32_t *scale)
{
    const char *lt = jstr(j, "logicalType");
    if (!lt)
        return L_NONE;
    if (kind == K_INT && strcmp(lt, "date") == 0)
        return L_DATE;
    if (kind == K_LONG &&
        (strcmp(lt, "timestamp-millis") == 0 || strcmp(lt, "local-timestamp-millis") == 0))
        return L_TS_MILLIS;
    if (kind == K_LONG &&
        (strcmp(lt, "timestamp-micros") == 0 || strcmp(lt, "local-timestamp-micros") == 0))
        return L_TS_MICROS;
    if (kind == K_STRING && strcmp(lt, "uuid") == 0)
        return L_UUID;
    if ((kind == K_BYTES || kind == K_FIXED) && strcmp(lt, "decimal") == 0) {
        json_t *sc = json_object_get(j, "scale");
        *scale = json_is_integer(sc) && json_integer_value(sc) >= 0 &&
                         json_integer_value(sc) <= 1000
                     ? (int32_t)json_integer_value(sc)
                     : 0;
        return L_DECIMAL;
    }
    return L_NONE; /* unknown logical types read as their underlying type (the spec's rule) */
}

static struct node *compile(struct comp *cc, avro_schema_t s, json_t *j, int depth);

static struct node *new_node(struct comp *cc, uint8_t kind, uint32_t nkids)
{
    struct node *n = arena_zalloc(cc->mem, sizeof *n);
    if (n && nkids && !(n->kid = arena_zalloc(cc->mem, nkids * sizeof *n->kid)))
        return NULL;
    if (n)
        n->kind = kind;
    return n;
}

static struct node *compile(struct comp *cc, avro_schema_t s, json_t *j, int depth)
{
    if (depth > AVRO_MAX_DEPTH) {
        snprintf(cc->err, cc->err_cap, "the schema nests deeper than %d levels", AVRO_MAX_DEPTH);
        return NULL;
    }
    j = jtype(j);
    struct node *n = NULL;
    switch (avro_typeof(s)) {
    case AVRO_LINK: {
        avro_schema_t t = avro_schema_link_target(s);
        if ((n = memo_get(cc, t)))
            return n;
        return compile(cc, t, NULL, depth + 1);
    }
    case AVRO_NULL: return new_node(cc, K_NULL, 0);
    case AVRO_BOOLEAN: return new_node(cc, K_BOOL, 0);
    case AVRO_INT32: n = new_node(cc, K_INT, 0); break;
    case AVRO_INT64: n = new_node(cc, K_LONG, 0); break;
    case AVRO_FLOAT: return new_node(cc, K_FLOAT, 0);
    case AVRO_DOUBLE: return new_node(cc, K_DOUBLE, 0);
    case AVRO_BYTES: n = new_node(cc, K_BYTES, 0); break;
    case AVRO_STRING: n = new_node(cc, K_STRING, 0); break;
    case AVRO_FIXED: {
        if ((n = memo_get(cc, s)))
            return n;
        int64_t size = avro_schema_fixed_size(s);
        n = new_node(cc, K_FIXED, 0);
        if (!n || !memo_put(cc, s, n))
            return NULL;
        n->n = size < 0 || size > (int64_t)FORMAT_MAX_RECORD ? 0 : (uint32_t)size;
        n->name = arena_strdup(cc->mem, avro_schema_name(s));
        break;
    }
    case AVRO_ENUM: {
        if ((n = memo_get(cc, s)))
            return n;
        int k = avro_schema_enum_number_of_symbols(s);
        n = new_node(cc, K_ENUM, 0);
        if (!n || !memo_put(cc, s, n))
            return NULL;
        n->n = k > 0 ? (uint32_t)k : 0;
        n->name = arena_strdup(cc->mem, avro_schema_name(s));
        n->names = arena_zalloc(cc->mem, (n->n + 1) * sizeof *n->names);
        n->lens = arena_zalloc(cc->mem, (n->n + 1) * sizeof *n->lens);
        if (!n->names || !n->lens)
            return NULL;
        for (uint32_t i = 0; i < n->n; i++) {
            const char *sym = avro_schema_enum_get(s, (int)i);
            n->names[i] = arena_strdup(cc->mem, sym ? sym : "");
            n->lens[i] = n->names[i] ? (uint32_t)strlen(n->names[i]) : 0;
        }
        return n;
    }
    case AVRO_RECORD: {
        if ((n = memo_get(cc, s)))
            return n;
        size_t k = avro_schema_record_size(s);
        n = new_node(cc, K_RECORD, (uint32_t)k);
        if (!n || !memo_put(cc, s, n))
            return NULL;
        n->n = (uint32_t)k;
        n->name = arena_strdup(cc->mem, avro_schema_name(s));
        n->names = arena_zalloc(cc->mem, (k + 1) * sizeof *n->names);
        n->lens = arena_zalloc(cc->mem, (k + 1) * sizeof *n->lens);
        if (!n->names || !n->lens)
            return NULL;
        json_t *fields = json_object_get(j, "fields");
        for (size_t i = 0; i < k; i++) {
            const char *fname = avro_schema_record_field_name(s, (int)i);
            n->names[i] = arena_strdup(cc->mem, fname ? fname : "");
            n->lens[i] = n->names[i] ? (uint32_t)strlen(n->names[i]) : 0;
            json_t *fj = json_object_get(json_array_get(fields, i), "type");
            if (!(n->kid[i] = compile(cc, avro_schema_record_field_get_by_index(s, (int)i), fj,
                                      depth + 1)))
                return NULL;
        }
        return n;
    }
    case AVRO_MAP:
        if (!(n = new_node(cc, K_MAP, 1)) ||
            !(n->kid[0] =
                  compile(cc, avro_schema_map_values(s), json_object_get(j, "values"), depth + 1)))
            return NULL;
        return n;
    case AVRO_ARRAY:
        if (!(n = new_node(cc, K_ARRAY, 1)) ||
            !(n->kid[0] =
                  compile(cc, avro_schema_array_items(s), json_object_get(j, "items"), depth + 1)))
            return NULL;
        return n;
    case AVRO_UNION: {
        size_t k = avro_schema_union_size(s);
        if (!(n = new_node(cc, K_UNION, (uint32_t)k)))
            return NULL;
        n->n = (uint32_t)k;
        for (size_t i = 0; i < k; i++)
            if (!(n->kid[i] = compile(cc, avro_schema_union_branch(s, (int)i),
                                      json_array_get(j, i), depth + 1)))
                return NULL;
        return n;
    }
    default: snprintf(cc->err, cc->err_cap, "unsupported Avro type"); return NULL;
    }
    if (n)
        n->logical = logical_of(j, n->kind, &n->scale);
    return n;
}

/* Compiles a schema's JSON text. NULL with msg set (or LERR_NOMEM-like text). */
static struct format__avro_schema *schema_new(const char *text, size_t len, char *msg, size_t cap)
{
    avro_schema_t s = NULL;
    if (avro_schema_from_json_length(text, len, &s) != 0 || !s) {
        snprintf(msg, cap, "the Avro schema is not valid: %s", avro_strerror());
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    struct format__avro_schema *sc = calloc(1, sizeof *sc);
    struct comp cc = {.err = msg, .err_cap = cap};
    msg[0] = '\0';
    if (!sc) {
        snprintf(msg, cap, "out of memory compiling an Avro schema");
        goto fail;
    }
    arena_init(&sc->mem, 4096, 0);
    cc.mem = &sc->mem;
    if (avro_typeof(s) != AVRO_RECORD) {
        snprintf(msg, cap,
                 "the Avro schema is a %s, not a record; each record's fields are the input "
                 "fields, so the schema must be {\"type\": \"record\", \"fields\": [...]}",
                 avro_schema_type_name(s));
        goto fail;
    }
    sc->root = compile(&cc, s, j, 0);
    if (!sc->root) {
        if (!msg[0])
            snprintf(msg, cap, "out of memory compiling an Avro schema");
        goto fail;
    }
    free(cc.memo);
    json_decref(j);
    avro_schema_decref(s);
    return sc;
fail:
    free(cc.memo);
    json_decref(j);
    avro_schema_decref(s);
    if (sc) {
        arena_destroy(&sc->mem);
        free(sc);
    }
    return NULL;
}

static void schema_free(struct format__avro_schema *sc)
{
    while (sc) {
        struct format__avro_schema *next = sc->next;
        arena_destroy(&sc->mem);
        free(sc);
        sc = next;
    }
}

int format__avro_init(struct format_plan *pl, const struct format_settings *fs, struct lerr *err)
{
    if (fs->kind == FORMAT_AVRO_OCF)
        return 0; /* the schema is in each file */
    if (fs->schema_connection) {
        pl->avro_registry = true;
        return 0;
    }
    if (!fs->avro_schema)
        return lerr_set_at(err, LERR_INVALID, "parseSchemaProvider",
                           "formatSettings.parseSchemaProvider is required for \"avro_stream\": "
                           "{\"type\": \"inline-avro\", \"schema\": {...}} or {\"type\": "
                           "\"connection\", \"connectionName\": \"<schema registry>\"}");
    char msg[300];
    pl->avro = schema_new(fs->avro_schema, strlen(fs->avro_schema), msg, sizeof msg);
    if (!pl->avro)
        return lerr_set_at(err, LERR_INVALID, "parseSchemaProvider.schema",
                           "formatSettings.parseSchemaProvider.schema: %s", msg);
    return 0;
}

void format__avro_free(struct format_plan *pl) { schema_free(pl->avro); }

void format__avro_state_free(struct format_parser *p)
{
    struct format__avro_state *st = p->run.avro;
    if (!st)
        return;
    schema_free(st->by_id);
    schema_free(st->files);
    buf_free(&st->json);
    free(st->inflated);
    free(st);
    p->run.avro = NULL;
}

static struct format__avro_state *state(struct format_parser *p)
{
    if (!p->run.avro && (p->run.avro = calloc(1, sizeof *p->run.avro)))
        buf_init(&p->run.avro->json, 6 * (size_t)FORMAT_MAX_RECORD + 16);
    return p->run.avro;
}

/* ---- decoding ------------------------------------------------------------------ */

struct dec {
    const uint8_t *base, *p, *end;
    int64_t base_pos; /* offset of base in the record (registry header) */
    struct lerr *err;
    const char *path[AVRO_MAX_DEPTH + 2];
    int depth;
    struct buf *out; /* JSON of containers; NULL: skip */
    size_t zero_items;
};

static int fail(struct dec *d, const char *fmt, ...) LS_PRINTF(2, 3);
static int fail(struct dec *d, const char *fmt, ...)
{
    char what[240], path[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t o = 0;
    path[0] = '\0';
    for (int i = 0; i < d->depth && o + 2 < sizeof path; i++) {
        if (!d->path[i])
            continue;
        o += (size_t)snprintf(path + o, sizeof path - o, "%s%s",
                              o && d->path[i][0] != '[' ? "." : "", d->path[i]);
    }
    if (o >= sizeof path)
        o = sizeof path - 1;
    int64_t pos = d->base_pos + (int64_t)(d->p - d->base);
    lerr_set(d->err, LERR_INVALID, "invalid Avro at byte %lld%s%s%s: %s", (long long)pos,
             path[0] ? " (field '" : "", path, path[0] ? "')" : "", what);
    d->err->pos = pos;
    return -1;
}

static int rd_long(struct dec *d, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (d->p >= d->end)
            return fail(d, "the record ends inside a number (truncated?)");
        uint8_t b = *d->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (shift == 63 && b > 1)
                return fail(d, "a number's varint overflows 64 bits");
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return fail(d, "a number's varint runs past 10 bytes");
}

static int rd_int(struct dec *d, int64_t *out)
{
    if (rd_long(d, out))
        return -1;
    if (*out < INT32_MIN || *out > INT32_MAX)
        return fail(d, "%lld is out of the range of an Avro int", (long long)*out);
    return 0;
}

/* A length-prefixed run of bytes (bytes, string). */
static int rd_bytes(struct dec *d, const uint8_t **s, size_t *n)
{
    int64_t len;
    if (rd_long(d, &len))
        return -1;
    if (len < 0)
        return fail(d, "negative length %lld", (long long)len);
    if ((uint64_t)len > (uint64_t)(d->end - d->p))
        return fail(d, "a length of %lld bytes but only %zu are left (truncated?)", (long long)len,
                    (size_t)(d->end - d->p));
    *s = d->p;
    *n = (size_t)len;
    d->p += len;
    return 0;
}

static int rd_fixed(struct dec *d, size_t len, const uint8_t **s)
{
    if (len > (size_t)(d->end - d->p))
        return fail(d, "a fixed of %zu bytes but only %zu are left (truncated?)", len,
                    (size_t)(d->end - d->p));
    *s = d->p;
    d->p += len;
    return 0;
}

static int rd_double(struct dec *d, size_t width, double *out)
{
    if ((size_t)(d->end - d->p) < width)
        return fail(d, "the record ends inside a %s (truncated?)",
                    width == 4 ? "float" : "double");
    if (width == 4) {
        uint32_t u = 0;
        for (int i = 3; i >= 0; i--)
            u = u << 8 | d->p[i];
        float f;
        memcpy(&f, &u, 4);
        *out = f;
    } else {
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | d->p[i];
        memcpy(out, &u, 8);
    }
    d->p += width;
    return 0;
}

/* A block count of an array or map: n items (0 = end). */
static int rd_block(struct dec *d, int64_t *n)
{
    if (rd_long(d, n))
        return -1;
    if (*n < 0) {
        int64_t size;
        if (*n == INT64_MIN)
            return fail(d, "invalid block count");
        *n = -*n;
        if (rd_long(d, &size))
            return -1;
        if (size < 0)
            return fail(d, "negative block size %lld", (long long)size);
    }
    if ((uint64_t)*n > (uint64_t)(d->end - d->p) + AVRO_ZERO_ITEMS - d->zero_items)
        return fail(d, "a block of %lld items cannot fit in the %zu bytes left", (long long)*n,
                    (size_t)(d->end - d->p));
    return 0;
}

static bool put(struct dec *d, const char *s, size_t n) { return buf_append(d->out, s, n); }
static bool puts_(struct dec *d, const char *s) { return buf_append(d->out, s, strlen(s)); }

/* Shortest text of a double that reads back the same (a float's as float). */
static size_t dbl_text(double v, bool is_float, char out[40])
{
    for (int prec = 1; prec <= 17; prec++) {
        int n = snprintf(out, 40, "%.*g", prec, v);
        double back = strtod(out, NULL);
        if (is_float ? (float)back == (float)v : back == v)
            return (size_t)n;
    }
    return (size_t)snprintf(out, 40, "%.17g", v);
}

static size_t b64(const uint8_t *s, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* A decimal's unscaled two's-complement big-endian value with `scale` as
 * text ("-12.50") into out (room for 3 * AVRO_MAX_DECIMAL + scale + 4). */
static int decimal_text(struct dec *d, const uint8_t *s, size_t n, int32_t scale, char *out,
                        size_t *out_len)
{
    if (n > AVRO_MAX_DECIMAL)
        return fail(d, "a decimal of %zu bytes is larger than the %u supported", n,
                    AVRO_MAX_DECIMAL);
    uint8_t mag[AVRO_MAX_DECIMAL];
    bool neg = n && (s[0] & 0x80);
    memcpy(mag, s, n);
    if (neg) { /* two's complement → magnitude */
        for (size_t i = 0; i < n; i++)
            mag[i] = (uint8_t)~mag[i];
        for (size_t i = n; i-- > 0;)
            if (++mag[i] != 0)
                break;
    }
    char digits[3 * AVRO_MAX_DECIMAL + 2];
    size_t nd = 0, start = 0;
    while (start < n && mag[start] == 0)
        start++;
    while (start < n) { /* repeated division by 10 */
        unsigned rem = 0;
        for (size_t i = start; i < n; i++) {
            unsigned cur = rem << 8 | mag[i];
            mag[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        digits[nd++] = (char)('0' + rem);
        while (start < n && mag[start] == 0)
            start++;
    }
    if (!nd)
        digits[nd++] = '0';
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    size_t sc = (size_t)scale;
    if (nd <= sc) { /* 0.00ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (size_t i = nd; i < sc; i++)
            out[o++] = '0';
        for (size_t i = nd; i-- > 0;)
            out[o++] = digits[i];
    } else {
        for (size_t i = nd; i-- > 0;) {
            out[o++] = digits[i];
            if (i == sc && sc)
                out[o++] = '.';
        }
    }
    *out_len = o;
    return 0;
}

/* A date (days since the epoch) as YYYY-MM-DD. */
static size_t date_text(int64_t days, char out[32])
{
    int64_t y;
    int m, dd;
    civil_ymd_from_days(days, &y, &m, &dd);
    return (size_t)snprintf(out, 32, "%04lld-%02d-%02d", (long long)y, m, dd);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* One value as JSON text into d->out (or skipped when d->out is NULL). */
static int emit(struct dec *d, const struct node *n)
{
    if (d->depth > AVRO_MAX_DEPTH)
        return fail(d, "the value nests deeper than %d levels", AVRO_MAX_DEPTH);
    bool w = d->out != NULL;
    int64_t x;
    double f;
    const uint8_t *s;
    size_t len;
    char tmp[3 * AVRO_MAX_DECIMAL + 1100];
    switch (n->kind) {
    case K_NULL: return w && !puts_(d, "null") ? -2 : 0;
    case K_BOOL:
        if (d->p >= d->end)
            return fail(d, "the record ends inside a boolean (truncated?)");
        if (*d->p > 1)
            return fail(d, "a boolean byte is 0x%02x, not 0 or 1", *d->p);
        x = *d->p++;
        return w && !puts_(d, x ? "true" : "false") ? -2 : 0;
    case K_INT:
    case K_LONG:
        if (n->kind == K_INT ? rd_int(d, &x) : rd_long(d, &x))
            return -1;
        if (!w)
            return 0;
        if (n->logical == L_DATE) {
            size_t k = date_text(x, tmp + 1);
            tmp[0] = '"';
            tmp[k + 1] = '"';
            return put(d, tmp, k + 2) ? 0 : -2;
        }
        if (n->logical == L_TS_MICROS)
            x = floor_div(x, 1000);
        return put(d, tmp, (size_t)snprintf(tmp, 32, "%lld", (long long)x)) ? 0 : -2;
    case K_FLOAT:
    case K_DOUBLE:
        if (rd_double(d, n->kind == K_FLOAT ? 4 : 8, &f))
            return -1;
        if (!w)
            return 0;
        if (!isfinite(f))
            return puts_(d, "null") ? 0 : -2;
        return put(d, tmp, dbl_text(f, n->kind == K_FLOAT, tmp)) ? 0 : -2;
    case K_STRING:
    case K_BYTES:
    case K_FIXED:
        if (n->kind == K_FIXED ? rd_fixed(d, n->n, &s) : rd_bytes(d, &s, &len))
            return -1;
        if (n->kind == K_FIXED)
            len = n->n;
        if (!w)
            return 0;
        if (n->logical == L_DECIMAL) {
            size_t k;
            if (len > AVRO_MAX_DECIMAL || (size_t)n->scale > 1000)
                return fail(d, "a decimal of %zu bytes is larger than the %u supported", len,
                            AVRO_MAX_DECIMAL);
            if (decimal_text(d, s, len, n->scale, tmp, &k))
                return -1;
            return put(d, tmp, k) ? 0 : -2;
        }
        if (n->kind == K_STRING)
            return format_json_write_string(d->out, (const char *)s, len) ? 0 : -2;
        if (!buf_putc(d->out, '"'))
            return -2;
        for (size_t i = 0; i < len; i += 768) {
            size_t k = len - i < 768 ? len - i : 768;
            if (!put(d, tmp, b64(s + i, k, tmp)))
                return -2;
        }
        return buf_putc(d->out, '"') ? 0 : -2;
    case K_ENUM:
        if (rd_int(d, &x))
            return -1;
        if (x < 0 || x >= (int64_t)n->n)
            return fail(d, "enum index %lld is out of range (%s has %u symbols)", (long long)x,
                        n->name ? n->name : "the enum", n->n);
        return w && !format_json_write_string(d->out, n->names[x], n->lens[x]) ? -2 : 0;
    case K_UNION:
        if (rd_long(d, &x))
            return -1;
        if (x < 0 || x >= (int64_t)n->n)
            return fail(d, "union branch %lld is out of range (the union has %u branches)",
                        (long long)x, n->n);
        return emit(d, n->kid[x]);
    case K_RECORD: {
        if (w && !buf_putc(d->out, '{'))
            return -2;
        for (uint32_t i = 0; i < n->n; i++) {
            if (w && ((i && !buf_putc(d->out, ',')) ||
                      !format_json_write_string(d->out, n->names[i], n->lens[i]) ||
                      !buf_putc(d->out, ':')))
                return -2;
            d->path[d->depth++] = n->names[i];
            int r = emit(d, n->kid[i]);
            d->depth--;
            if (r)
                return r;
        }
        return w && !buf_putc(d->out, '}') ? -2 : 0;
    }
    case K_ARRAY:
    case K_MAP: {
        bool map = n->kind == K_MAP;
        if (w && !buf_putc(d->out, map ? '{' : '['))
            return -2;
        size_t k = 0;
        for (;;) {
            int64_t cnt;
            if (rd_block(d, &cnt))
                return -1;
            if (cnt == 0)
                break;
            for (int64_t i = 0; i < cnt; i++, k++) {
                if (w && k && !buf_putc(d->out, ','))
                    return -2;
                const uint8_t *before = d->p;
                if (map) {
                    if (rd_bytes(d, &s, &len))
                        return -1;
                    if (format__utf8_valid((const char *)s, len) != len)
                        return fail(d, "a map key is not valid UTF-8");
                    if (w && (!format_json_write_string(d->out, (const char *)s, len) ||
                              !buf_putc(d->out, ':')))
                        return -2;
                }
                d->path[d->depth++] = map ? "{}" : "[]";
                int r = emit(d, n->kid[0]);
                d->depth--;
                if (r)
                    return r;
                if (d->p == before && ++d->zero_items > AVRO_ZERO_ITEMS)
                    return fail(d, "more than %u items of zero bytes", AVRO_ZERO_ITEMS);
            }
        }
        return w && !buf_putc(d->out, map ? '}' : ']') ? -2 : 0;
    }
    default: return fail(d, "unknown node");
    }
}

/* ---- values of top-level fields ------------------------------------------------ */

static const char *keep_bytes(struct format__ctx *c, const char *s, size_t n)
{
    char *k = arena_alloc(c->mem, n + 1);
    if (!k) {
        c->nomem = true;
        return NULL;
    }
    memcpy(k, s, n);
    k[n] = '\0';
    return k;
}

static void number_value(struct format__ctx *c, const char *text, size_t n, bool is_int, int64_t i,
                         double dv, struct format_json_value *v)
{
    v->kind = FORMAT_JSON_KIND_NUMBER;
    v->raw = keep_bytes(c, text, n);
    v->raw_len = v->raw ? n : 0;
    v->num_flags = is_int ? FORMAT_JSON_NUM_INT : 0;
    v->i = is_int ? i : 0;
    v->d = is_int ? (double)i : dv;
    if (!is_int && v->d == 0 && signbit(v->d))
        v->num_flags |= FORMAT_JSON_NUM_NEGZERO;
}

/*
 * Decodes one top-level field into *v (slices in the record or the batch
 * arena). copy_strings: the record's bytes do not outlive the batch (an
 * inflated OCF block). 0, -1 (err), -2 (memory: c->nomem).
 */
static int top_value(struct format__ctx *c, struct dec *d, const struct node *n, bool copy_strings,
                     const char *field, struct format_json_value *v)
{
    memset(v, 0, sizeof *v);
    while (n->kind == K_UNION) {
        int64_t x;
        if (rd_long(d, &x))
            return -1;
        if (x < 0 || x >= (int64_t)n->n)
            return fail(d, "union branch %lld is out of range (the union has %u branches)",
                        (long long)x, n->n);
        n = n->kid[x];
    }
    char tmp[3 * AVRO_MAX_DECIMAL + 1100];
    int64_t x;
    double f;
    const uint8_t *s;
    size_t len;
    switch (n->kind) {
    case K_NULL: v->kind = FORMAT_JSON_KIND_NULL; return 0;
    case K_BOOL:
        if (d->p >= d->end)
            return fail(d, "the record ends inside a boolean (truncated?)");
        if (*d->p > 1)
            return fail(d, "a boolean byte is 0x%02x, not 0 or 1", *d->p);
        v->kind = *d->p++ ? FORMAT_JSON_KIND_TRUE : FORMAT_JSON_KIND_FALSE;
        v->raw = v->kind == FORMAT_JSON_KIND_TRUE ? "true" : "false";
        v->raw_len = strlen(v->raw);
        return 0;
    case K_INT:
    case K_LONG:
        if (n->kind == K_INT ? rd_int(d, &x) : rd_long(d, &x))
            return -1;
        if (n->logical == L_DATE) {
            size_t k = date_text(x, tmp);
            v->kind = FORMAT_JSON_KIND_STRING;
            v->str = keep_bytes(c, tmp, k);
            v->str_len = k;
            return v->str ? 0 : -2;
        }
        if (n->logical == L_TS_MICROS)
            x = floor_div(x, 1000);
        number_value(c, tmp, (size_t)snprintf(tmp, 32, "%lld", (long long)x), true, x, 0, v);
        return v->raw ? 0 : -2;
    case K_FLOAT:
    case K_DOUBLE:
        if (rd_double(d, n->kind == K_FLOAT ? 4 : 8, &f))
            return -1;
        if (!isfinite(f)) {
            format__warn(c, "input field '%s': %s cannot be stored; stored as NULL", field,
                         isnan(f) ? "NaN"
                         : f > 0  ? "Infinity"
                                  : "-Infinity");
            v->kind = FORMAT_JSON_KIND_NULL;
            return 0;
        }
        {
            size_t k = dbl_text(f, n->kind == K_FLOAT, tmp);
            double back = n->kind == K_FLOAT ? strtod(tmp, NULL) : f;
            number_value(c, tmp, k, false, 0, back, v);
            if (back == 0 && signbit(back))
                v->num_flags |= FORMAT_JSON_NUM_NEGZERO;
        }
        return v->raw ? 0 : -2;
    case K_STRING:
    case K_BYTES:
    case K_FIXED:
        if (n->kind == K_FIXED ? rd_fixed(d, n->n, &s) : rd_bytes(d, &s, &len))
            return -1;
        if (n->kind == K_FIXED)
            len = n->n;
        if (n->logical == L_DECIMAL) {
            size_t k;
            if (decimal_text(d, s, len, n->scale > 1000 ? 1000 : n->scale, tmp, &k))
                return -1;
            tmp[k] = '\0';
            double dv = strtod(tmp, NULL);
            int64_t iv = 0;
            bool is_int = n->scale == 0 && len <= 8;
            if (is_int)
                iv = strtoll(tmp, NULL, 10);
            number_value(c, tmp, k, is_int, iv, dv, v);
            return v->raw ? 0 : -2;
        }
        v->kind = FORMAT_JSON_KIND_STRING;
        if (n->kind == K_STRING) {
            size_t ok = format__utf8_valid((const char *)s, len);
            if (ok != len) {
                d->p = s + ok;
                return fail(d, "the string is not valid UTF-8");
            }
            v->str = copy_strings ? keep_bytes(c, (const char *)s, len) : (const char *)s;
            v->str_len = len;
            return v->str ? 0 : -2;
        }
        {
            char *o = arena_alloc(c->mem, (len + 2) / 3 * 4 + 1);
            if (!o) {
                c->nomem = true;
                return -2;
            }
            v->str = o;
            v->str_len = b64(s, len, o);
        }
        return 0;
    case K_ENUM:
        if (rd_int(d, &x))
            return -1;
        if (x < 0 || x >= (int64_t)n->n)
            return fail(d, "enum index %lld is out of range (%s has %u symbols)", (long long)x,
                        n->name ? n->name : "the enum", n->n);
        v->kind = FORMAT_JSON_KIND_STRING;
        v->str = n->names[x];
        v->str_len = n->lens[x];
        return 0;
    default: { /* record, map, array: JSON text */
        struct buf *b = &state(c->p)->json;
        buf_reset(b);
        d->out = b;
        int r = emit(d, n);
        d->out = NULL;
        if (r == -2) {
            c->nomem = true;
            return -2;
        }
        if (r)
            return r;
        v->kind = n->kind == K_ARRAY ? FORMAT_JSON_KIND_ARRAY : FORMAT_JSON_KIND_OBJECT;
        v->raw = keep_bytes(c, b->data, b->len);
        v->raw_len = b->len;
        return v->raw ? 0 : -2;
    }
    }
}

/* ---- the schema of a record ----------------------------------------------------- */

/* The registry schema of id, compiled once per parser. NULL with err set. */
static const struct format__avro_schema *by_id(struct format__ctx *c, uint32_t id)
{
    struct format_parser *p = c->p;
    struct format__avro_state *st = state(p);
    if (!st) {
        c->nomem = true;
        return NULL;
    }
    for (struct format__avro_schema *sc = st->by_id; sc; sc = sc->next)
        if (sc->id == id) {
            if (sc->failed) {
                lerr_set(c->err, LERR_INVALID, "schema id %u: %s", id, sc->err_msg);
                return NULL;
            }
            return sc;
        }
    if (!p->registry) {
        lerr_set(c->err, LERR_INVALID,
                 "the job reads Avro through a schema registry connection but has no client "
                 "for it");
        return NULL;
    }
    const struct format_registry_schema *rs;
    if (format_registry_schema(p->registry, id, &rs, c->err))
        return NULL;
    char msg[300];
    struct format__avro_schema *sc = NULL;
    if (strcmp(rs->type, "AVRO") != 0)
        snprintf(msg, sizeof msg,
                 "the registry holds a %s schema under this id, not an Avro one; use the "
                 "matching format",
                 rs->type);
    else
        sc = schema_new(rs->text, rs->len, msg, sizeof msg);
    if (!sc) { /* remembered, so that each record does not compile it again */
        sc = calloc(1, sizeof *sc);
        if (!sc) {
            c->nomem = true;
            return NULL;
        }
        arena_init(&sc->mem, 256, 0);
        sc->failed = true;
        snprintf(sc->err_msg, sizeof sc->err_msg, "%s", msg);
    }
    sc->id = id;
    sc->next = st->by_id;
    st->by_id = sc;
    if (sc->failed) {
        lerr_set(c->err, LERR_INVALID, "schema id %u: %s", id, sc->err_msg);
        return NULL;
    }
    return sc;
}

/* ---- a record -------------------------------------------------------------------- */

int format__avro_row(struct format__ctx *c, const char *s, size_t n)
{
    struct format_parser *p = c->p;
    const struct format_plan *pl = p->plan;
    struct format__avro_state *st = pl->vkind == FORMAT_AVRO_OCF ? state(p) : p->run.avro;
    const struct format__avro_schema *sc = pl->avro;
    int64_t base_pos = 0;
    bool copy = false;
    if (pl->vkind == FORMAT_AVRO_OCF) {
        if (!st) {
            c->nomem = true;
            return -1;
        }
        if (st->ocf_err_pending) {
            st->ocf_err_pending = false;
            lerr_set(c->err, LERR_INVALID, "%s", st->ocf_err);
            c->err->pos = 0; /* the message says where in the file */
            return -1;
        }
        if (!st->ocf) {
            lerr_set(c->err, LERR_INVALID,
                     "an avro_ocf record must come from an Avro object container file "
                     "(split by the format)");
            c->err->pos = 0;
            return -1;
        }
        sc = st->ocf;
        copy = st->in_inflated;
    } else if (pl->avro_registry) {
        uint32_t id;
        if (format_registry_frame(s, n, &id, c->err))
            return -1;
        if (!(sc = by_id(c, id)))
            return -1;
        s += 5;
        n -= 5;
        base_pos = 5;
    }
    struct dec d = {.base = (const uint8_t *)s,
                    .p = (const uint8_t *)s,
                    .end = (const uint8_t *)s + n,
                    .base_pos = base_pos,
                    .err = c->err};
    const struct node *root = sc->root;
    for (uint32_t i = 0; i < root->n; i++) {
        struct format_json_member m = {
            .key = root->names[i], .key_len = root->lens[i], .index = i};
        d.path[0] = root->names[i];
        d.depth = 1;
        /* fields not kept (a flattenSpec's filter, exclusions, no
         * discovery) are still checked, by being skipped over */
        uint32_t ref = format__member_target(c, &m);
        int r;
        if (ref == REF_EXCLUDED) {
            if ((r = emit(&d, root->kid[i])))
                goto bad;
            continue;
        }
        if ((r = top_value(c, &d, root->kid[i], copy, root->names[i], &m.v)))
            goto bad;
        if (format__member_put(c, &m, ref) < 0)
            return -1;
        continue;
    bad:
        if (r == -2)
            c->nomem = true;
        return -1;
    }
    d.depth = 0;
    if (d.p != d.end)
        return fail(&d,
                    "%zu bytes are left after the record's last field; the record was "
                    "written with another schema",
                    (size_t)(d.end - d.p));
    if (pl->nflat) { /* flattenSpec paths over the record as JSON */
        struct format__avro_state *js = state(p);
        if (!js) {
            c->nomem = true;
            return -1;
        }
        d.p = d.base;
        d.out = &js->json;
        buf_reset(d.out);
        int r = emit(&d, root);
        d.out = NULL;
        const char *text = r ? NULL : keep_bytes(c, js->json.data, js->json.len);
        if (r == -1)
            return -1;
        if (!text) {
            c->nomem = true;
            return -1;
        }
        if (format__flatten(c, text, js->json.len) < 0)
            return -1;
    }
    return 0;
}

/* ---- object container files ------------------------------------------------------- */

static void ocf_error(struct format__avro_state *st, int64_t pos, const char *fmt, ...)
    LS_PRINTF(3, 4);
static void ocf_error(struct format__avro_state *st, int64_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(st->ocf_err, sizeof st->ocf_err,
                     "Avro object container file, byte %lld: ", (long long)pos);
    vsnprintf(st->ocf_err + k, sizeof st->ocf_err - (size_t)k, fmt, ap);
    va_end(ap);
    st->ocf_err_pending = true;
    st->ocf = NULL;
}

void format__avro_split_init(struct format_splitter *s)
{
    struct format__avro_state *st = state(s->p);
    s->mode = FORMAT__SPLIT_AVRO;
    if (!st) {
        s->cur = s->end;
        return;
    }
    st->ocf = NULL;
    st->ocf_err_pending = false;
    st->blk = st->blk_end = NULL;
    st->blk_left = 0;
    st->file_base = s->base;
    if (s->p->plan->vkind != FORMAT_AVRO_OCF)
        return; /* avro_stream: each record whole */
    struct lerr e;
    lerr_init(&e);
    struct dec d = {.base = (const uint8_t *)s->base,
                    .p = (const uint8_t *)s->base,
                    .end = (const uint8_t *)s->end,
                    .err = &e};
    if (s->end - s->base < 4 || memcmp(s->base, "Obj\x01", 4) != 0) {
        ocf_error(st, 0,
                  "the file does not start with the Avro magic bytes 'Obj' 0x01; is it an "
                  "Avro object container file (for plain Avro records use avro_stream)?");
        return;
    }
    d.p += 4;
    const uint8_t *schema = NULL, *codec = NULL;
    size_t schema_len = 0, codec_len = 0;
    for (;;) {
        int64_t cnt;
        if (rd_block(&d, &cnt))
            goto bad;
        if (cnt == 0)
            break;
        for (int64_t i = 0; i < cnt; i++) {
            const uint8_t *k, *v;
            size_t kl, vl;
            if (rd_bytes(&d, &k, &kl) || rd_bytes(&d, &v, &vl))
                goto bad;
            if (kl == 11 && memcmp(k, "avro.schema", 11) == 0) {
                schema = v;
                schema_len = vl;
            } else if (kl == 10 && memcmp(k, "avro.codec", 10) == 0) {
                codec = v;
                codec_len = vl;
            }
        }
    }
    if ((size_t)(d.end - d.p) < 16) {
        ocf_error(st, d.p - d.base, "the header ends before its 16-byte sync marker");
        return;
    }
    memcpy(st->sync, d.p, 16);
    d.p += 16;
    if (!schema) {
        ocf_error(st, 0, "the header has no avro.schema");
        return;
    }
    if (!codec || (codec_len == 4 && memcmp(codec, "null", 4) == 0))
        st->deflate = false;
    else if (codec_len == 7 && memcmp(codec, "deflate", 7) == 0)
        st->deflate = true;
    else {
        ocf_error(st, 0,
                  "codec '%.*s' is not supported; write the file with codec null or deflate",
                  (int)(codec_len > 40 ? 40 : codec_len), (const char *)codec);
        return;
    }
    char msg[300];
    struct format__avro_schema *sc = schema_new((const char *)schema, schema_len, msg, sizeof msg);
    if (!sc) {
        ocf_error(st, 0, "avro.schema: %s", msg);
        return;
    }
    sc->next = st->files; /* kept until the parser goes: rows may point into it */
    st->files = sc;
    st->ocf = sc;
    s->cur = (const char *)d.p;
    return;
bad:
    ocf_error(st, e.pos, "the header is damaged: %s", e.msg);
}

/* Inflates a raw-deflate block into st->inflated. 0 or -1 (message set). */
static int inflate_block(struct format__avro_state *st, const uint8_t *src, size_t n, size_t *out,
                         int64_t pos)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK) {
        ocf_error(st, pos, "cannot start inflating a deflate block");
        return -1;
    }
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    size_t have = 0;
    int zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (have == st->inflated_cap) {
            size_t cap = st->inflated_cap ? st->inflated_cap * 2 : 65536;
            if (cap > FORMAT_MAX_RECORD) {
                inflateEnd(&z);
                ocf_error(st, pos, "a block inflates to more than %u bytes", FORMAT_MAX_RECORD);
                return -1;
            }
            char *b = realloc(st->inflated, cap);
            if (!b) {
                inflateEnd(&z);
                ocf_error(st, pos, "out of memory inflating a block");
                return -1;
            }
            st->inflated = b;
            st->inflated_cap = cap;
        }
        z.next_out = (Bytef *)st->inflated + have;
        z.avail_out = (uInt)(st->inflated_cap - have);
        zr = inflate(&z, Z_NO_FLUSH);
        have = st->inflated_cap - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END) {
            if (zr == Z_BUF_ERROR && z.avail_in == 0)
                break; /* no final block marker: what was inflated is the data */
            inflateEnd(&z);
            ocf_error(st, pos, "a deflate block is damaged (%s)", z.msg ? z.msg : "zlib error");
            return -1;
        }
    }
    inflateEnd(&z);
    *out = have;
    return 0;
}

bool format__avro_split_next(struct format_splitter *s, const char **rec, size_t *len,
                             size_t *line)
{
    struct format__avro_state *st = s->p->run.avro;
    *line = 1;
    if (s->p->plan->vkind != FORMAT_AVRO_OCF) { /* the record whole, once */
        if (s->cur == s->end && s->want_header)
            return false;
        *rec = s->cur;
        *len = (size_t)(s->end - s->cur);
        s->cur = s->end;
        s->want_header = true; /* used as "given" */
        return *len > 0;
    }
    if (!st)
        return false;
    if (st->ocf_err_pending) { /* the rest of the text is one bad record, once */
        *rec = s->cur;
        *len = (size_t)(s->end - s->cur);
        s->cur = s->end;
        st->blk_left = 0;
        return true;
    }
    if (!st->ocf)
        return false;
    struct lerr e;
    lerr_init(&e);
    while (st->blk_left == 0) {
        if (s->cur >= s->end)
            return false;
        struct dec d = {.base = (const uint8_t *)st->file_base,
                        .p = (const uint8_t *)s->cur,
                        .end = (const uint8_t *)s->end,
                        .err = &e};
        int64_t cnt, size;
        if (rd_long(&d, &cnt) || rd_long(&d, &size)) {
            ocf_error(st, e.pos, "a block header is damaged: %s", e.msg);
            return format__avro_split_next(s, rec, len, line);
        }
        int64_t at = (int64_t)((const char *)d.p - st->file_base);
        if (cnt < 0 || size < 0 || (uint64_t)size + 16 > (uint64_t)(d.end - d.p)) {
            ocf_error(st, at,
                      "a block of %lld records and %lld bytes does not fit in the %zu bytes "
                      "left (truncated file?)",
                      (long long)cnt, (long long)size, (size_t)(d.end - d.p));
            s->cur = (const char *)d.p;
            return format__avro_split_next(s, rec, len, line);
        }
        if (memcmp(d.p + size, st->sync, 16) != 0) {
            ocf_error(st, at + size,
                      "the block's sync marker does not match the header's; the file is damaged");
            s->cur = (const char *)d.p;
            return format__avro_split_next(s, rec, len, line);
        }
        const char *data = (const char *)d.p;
        size_t dlen = (size_t)size;
        s->cur = data + size + 16;
        st->in_inflated = false;
        if (st->deflate) {
            if (inflate_block(st, d.p, dlen, &dlen, at))
                return format__avro_split_next(s, rec, len, line);
            data = st->inflated;
            st->in_inflated = true;
        }
        st->blk = data;
        st->blk_end = data + dlen;
        st->blk_left = cnt;
    }
    /* The next datum: its end found by skipping it with the schema. */
    struct dec d = {.base = (const uint8_t *)st->blk,
                    .p = (const uint8_t *)st->blk,
                    .end = (const uint8_t *)st->blk_end,
                    .err = &e};
    int r = emit(&d, st->ocf->root);
    *rec = st->blk;
    st->blk_left--;
    if (r) { /* the rest of the block: one bad record; the next block may be fine */
        *len = (size_t)(st->blk_end - st->blk);
        st->blk = st->blk_end;
        st->blk_left = 0;
        return true;
    }
    *len = (size_t)((const char *)d.p - st->blk);
    st->blk = (const char *)d.p;
    return true;
}
