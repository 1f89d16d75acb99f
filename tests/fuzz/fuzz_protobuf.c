// SOURCES: src/format/*.c src/util/util.c src/util/civil.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_protobuf.c — libFuzzer target for the protobuf format's decoders. The
 * first byte picks what the rest is:
 *   0-3  a message of tests/unit/protobuf/shop.proto (Scalars, Order,
 *        Customer, Order.Item) decoded to JSON, which must then read as one
 *        valid JSON object with the nd-json scanner, every nested span walked;
 *        a failure must carry a position inside the record;
 *   4    a FileDescriptorSet: read it, and decode the input's own bytes as
 *        each of its message types (the JSON checked as above);
 *   5    Confluent's framing, whose header must lie inside the record;
 *   6    a schema registry's schema as separate FileDescriptorProtos (what
 *        format_pb_schema_from_files() reads from the network): chunks of a
 *        2-byte big-endian length and that many bytes, up to 8, the last the
 *        schema's own file; the bytes after the last chunk are decoded as
 *        each of its top-level messages;
 *   7    a message of a shop type (the next byte picks the type and the
 *        settings: declared fields with flattenSpec paths, or discovery)
 *        read by the protobuf format straight into a row, and its JSON
 *        (format_pb_to_json) read by the nd-json format with the same
 *        settings: both must fail alike or give the same values.
 * Anything else the decoder does wrong (a crash, a leak, UB, JSON the scanner
 * rejects) aborts so the fuzzer reports it.
 */
#include "format/format.h"
#include "format/json.h"
#include "format/protobuf.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/protobuf/descriptor.h"

static void die(const char *why, const char *detail)
{
    fprintf(stderr, "fuzz_protobuf: %s: %s\n", why, detail ? detail : "");
    abort();
}

/* Every container span of valid JSON text, walked to the bottom. */
static void walk(const char *p, size_t n, int depth)
{
    char *scratch = malloc(n + 1);
    struct lerr err;
    lerr_init(&err);
    struct format_json_iter it;
    struct format_json_member m;
    if (format_json_iter_init_span(&it, p, n, scratch, n + 1, &err) < 0)
        die("decoder wrote JSON the scanner rejects", err.msg);
    int r;
    while ((r = format_json_iter_next(&it, &m, &err)) > 0)
        if (m.v.kind == FORMAT_JSON_KIND_OBJECT || m.v.kind == FORMAT_JSON_KIND_ARRAY)
            walk(m.v.raw, m.v.raw_len, depth + 1);
    if (r < 0)
        die("decoder wrote JSON the scanner rejects", err.msg);
    free(scratch);
}

static void decode(const struct format_pb_msg *msg, const uint8_t *d, size_t n)
{
    struct buf b;
    buf_init(&b, 1 << 24);
    struct lerr err;
    lerr_init(&err);
    if (format_pb_to_json(msg, d, n, &b, NULL, &err) == 0) {
        if (b.len == 0 ||
            (b.data[0] != '{' && b.data[0] != '"' && b.data[0] != '-' &&
             (b.data[0] < '0' || b.data[0] > '9') && b.data[0] != 't' && b.data[0] != 'f'))
            die("the JSON of a message is not a value", buf_cstr(&b));
        if (b.data[0] == '{')
            walk(b.data, b.len, 0);
    } else if (err.code == LERR_INVALID && (err.pos < 0 || (size_t)err.pos > n)) {
        die("an error position outside the record", err.msg);
    } else if (!err.msg[0]) {
        die("an error without a message", NULL);
    }
    buf_free(&b);
}

/* ---- mode 7: the row, against the JSON route ---------------------------------- */

static const char *const row_types[] = {"shop.Scalars", "shop.Order", "shop.Customer",
                                        "shop.Order.Item"};
/* Declared fields of each type (others: ignored), and flattenSpec paths. */
static const char *const row_fields[][2] = {
    {"d:double,f:float,i64:long,u64:long,i32:string,fx64:double,b:long,s:string,by:json,"
     "st:string,si64:json",
     ""},
    {"id:string,customer:json,codes:json,voucher:long,card:string,at:string,maybe:long,opt:double,"
     "status:json,prices:string,cust:string,sku:string",
     ", \"flattenSpec\": {\"fields\": [{\"type\": \"path\", \"name\": \"cust\", \"expr\": "
     "\"$.customer.referrer.name\"}, {\"type\": \"path\", \"name\": \"sku\", \"expr\": "
     "\"$.items[0].sku\"}, {\"type\": \"root\", \"name\": \"id\"}]}"},
    {"name:string,referrer:json", ""},
    {"sku:long,qty:string", ""}};

struct row_pair {
    struct format_parser *pb, *nd;
};

static struct format_parser *row_parser(const char *fs, const char *spec, bool discovery)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", spec);
    struct sql_field fields[32];
    size_t n = 0;
    for (char *tok = strtok(copy, ","); tok && n < 32 && !discovery; tok = strtok(NULL, ",")) {
        char *colon = strrchr(tok, ':');
        *colon = '\0';
        fields[n] = (struct sql_field){.name = tok, .name_len = strlen(tok)};
        fields[n].type = strcmp(colon + 1, "string") == 0   ? SQL_STRING
                         : strcmp(colon + 1, "long") == 0   ? SQL_LONG
                         : strcmp(colon + 1, "double") == 0 ? SQL_DOUBLE
                         : strcmp(colon + 1, "float") == 0  ? SQL_FLOAT
                                                            : SQL_JSON;
        n++;
    }
    struct sql_schema sch = {fields, n};
    struct arena a;
    arena_init(&a, 4096, 0);
    struct format_settings set;
    struct lerr err;
    lerr_init(&err);
    json_t *doc = json_loads(fs, 0, NULL);
    struct format_parser *p = NULL;
    if (doc && format_settings_from_json(doc, &a, &set, &err) == 0)
        p = format_parser_new(&set, &sch, discovery, NULL, 0, &err);
    json_decref(doc);
    arena_destroy(&a);
    if (!p)
        die("a row parser", err.msg[0] ? err.msg : fs);
    return p;
}

static struct row_pair row_pair_for(int type, bool discovery)
{
    static struct row_pair pairs[4][2];
    struct row_pair *rp = &pairs[type][discovery];
    if (rp->pb)
        return *rp;
    size_t n = 2 * sizeof shop_descriptor + 1024;
    char *b64 = malloc(n), *fs = malloc(2 * n);
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (size_t i = 0; i < sizeof shop_descriptor; i += 3) {
        const unsigned char *p = shop_descriptor;
        size_t len = sizeof shop_descriptor;
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        b64[k++] = t[v >> 18 & 63];
        b64[k++] = t[v >> 12 & 63];
        b64[k++] = i + 1 < len ? t[v >> 6 & 63] : '=';
        b64[k++] = i + 2 < len ? t[v & 63] : '=';
    }
    b64[k] = '\0';
    snprintf(fs, 2 * n,
             "{\"format\": \"protobuf\", \"parseSchemaProvider\": {\"type\": \"inline-protobuf\", "
             "\"descriptor\": \"%s\", \"messageType\": \"%s\"}%s}",
             b64, row_types[type], row_fields[type][1]);
    rp->pb = row_parser(fs, row_fields[type][0], discovery);
    snprintf(fs, 2 * n, "{\"format\": \"nd-json\"%s}", row_fields[type][1]);
    rp->nd = row_parser(fs, row_fields[type][0], discovery);
    free(b64);
    free(fs);
    return *rp;
}

/* A value's short form, for comparing. */
static void show(const struct sql_value *v, char *out, size_t cap)
{
    size_t l = strlen(out);
    if (!v)
        snprintf(out + l, cap - l, "ABSENT");
    else if (v->is_null)
        snprintf(out + l, cap - l, "NULL");
    else if (v->type == SQL_LONG)
        snprintf(out + l, cap - l, "L%lld", (long long)v->v.l);
    else if (v->type == SQL_DOUBLE || v->type == SQL_FLOAT)
        snprintf(out + l, cap - l, "D%.17g", v->v.d);
    else if (v->type == SQL_STRING || v->type == SQL_JSON)
        snprintf(out + l, cap - l, "%c%.*s", v->type == SQL_STRING ? 'S' : 'J',
                 (int)(v->v.s.n < 2000 ? v->v.s.n : 2000), v->v.s.p);
    else if (v->type == SQL_ARRAY) {
        snprintf(out + l, cap - l, "A%u[", v->v.a.n);
        for (uint32_t i = 0; i < v->v.a.n && strlen(out) + 100 < cap; i++)
            show(&v->v.a.items[i], out, cap);
        strncat(out, "]", cap - strlen(out) - 1);
    }
}

static const struct sql_value *field_value(const struct format_row *row, size_t i)
{
    if (i < row->nvalues)
        return &row->values[i];
    for (uint32_t k = 0; k < row->nextra; k++)
        if (row->extra_index[k] == i)
            return &row->extra[k];
    return NULL;
}

static void row_mode(const uint8_t *d, size_t n)
{
    if (n == 0)
        return;
    int type = d[0] % 4;
    bool discovery = d[0] / 4 % 2;
    d++, n--;
    struct row_pair rp = row_pair_for(type, discovery);
    static struct format_pb_schema *s;
    static const struct format_pb_msg *m[4];
    struct lerr err, jerr;
    lerr_init(&err);
    lerr_init(&jerr);
    if (!s) {
        s = format_pb_schema_new(shop_descriptor, sizeof shop_descriptor, &err);
        for (int i = 0; s && i < 4; i++)
            m[i] = format_pb_find(s, row_types[i], &err);
    }
    struct buf json;
    buf_init(&json, 1 << 24);
    int jr = format_pb_to_json(m[type], d, n, &json, NULL, &jerr);
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    struct format_row row, jrow;
    struct record rec = {.data = (const char *)d, .len = n};
    lerr_init(&err);
    enum format_outcome got = format_parse(rp.pb, &rec, &mem, &row, &err);
    if (jr) {
        if (got != FORMAT_ERROR || strcmp(err.msg, jerr.msg) != 0) {
            fprintf(stderr, "direct: %d %s\nJSON route: %s\n", (int)got, err.msg, jerr.msg);
            die("the row and the JSON route disagree on a bad message", NULL);
        }
    } else {
        struct record jrec = {.data = json.data ? json.data : "", .len = json.len};
        lerr_init(&jerr);
        enum format_outcome want = format_parse(rp.nd, &jrec, &mem, &jrow, &jerr);
        if (got != want || (got == FORMAT_OK_WITH_WARNINGS && strcmp(err.msg, jerr.msg) != 0) ||
            (got == FORMAT_ERROR && strcmp(err.msg, jerr.msg) != 0)) {
            fprintf(stderr, "direct: %d %s\nJSON route: %d %s\n", (int)got, err.msg, (int)want,
                    jerr.msg);
            die("the row and the JSON route disagree on the outcome", NULL);
        }
        const struct format_field *f, *jf;
        size_t nf = format_discovered_fields(rp.pb, &f, NULL),
               njf = format_discovered_fields(rp.nd, &jf, NULL);
        if (nf != njf) {
            for (size_t i = 0; i < nf || i < njf; i++)
                fprintf(stderr, "field %zu: direct %s, JSON route %s\n", i,
                        i < nf ? f[i].name : "-", i < njf ? jf[i].name : "-");
            die("the row and the JSON route discovered different fields", NULL);
        }
        for (size_t i = 0; got != FORMAT_ERROR && i < nf; i++) {
            static char a[8192], b[8192];
            a[0] = b[0] = '\0';
            show(field_value(&row, i), a, sizeof a);
            show(field_value(&jrow, i), b, sizeof b);
            if (strcmp(f[i].name, jf[i].name) != 0 || f[i].type != jf[i].type ||
                strcmp(a, b) != 0) {
                fprintf(stderr, "field %s: direct %s, JSON route %s\n", f[i].name, a, b);
                die("the row and the JSON route disagree on a value", NULL);
            }
        }
    }
    arena_destroy(&mem);
    buf_free(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct format_pb_schema *shop;
    static const struct format_pb_msg *types[4];
    if (!shop) {
        struct lerr err;
        lerr_init(&err);
        shop = format_pb_schema_new(shop_descriptor, sizeof shop_descriptor, &err);
        if (!shop)
            die("the shop descriptor", err.msg);
        const char *names[] = {"shop.Scalars", "shop.Order", "shop.Customer", "shop.Order.Item"};
        for (int i = 0; i < 4; i++)
            if (!(types[i] = format_pb_find(shop, names[i], &err)))
                die("a shop type", err.msg);
    }
    if (size == 0)
        return 0;
    uint8_t mode = data[0] % 8;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    struct lerr err;
    lerr_init(&err);
    if (mode < 4) {
        decode(types[mode], d, n);
    } else if (mode == 4) {
        struct format_pb_schema *s = format_pb_schema_new(d, n, &err);
        if (s) {
            /* Each top-level message of the last file, by index. */
            for (int32_t i = 0; i < 8; i++) {
                struct lerr e;
                lerr_init(&e);
                const struct format_pb_msg *m = format_pb_by_index(s, &i, 1, &e);
                if (!m)
                    break;
                decode(m, d, n);
            }
            format_pb_schema_free(s);
        } else if (!err.msg[0]) {
            die("a refused descriptor without a message", NULL);
        }
    } else if (mode == 6) {
        struct format_pb_file files[8];
        size_t nf = 0, at = 0;
        while (nf < 8 && at + 2 <= n) {
            size_t len = (size_t)d[at] << 8 | d[at + 1];
            if (at + 2 + len > n)
                break;
            files[nf++] = (struct format_pb_file){d + at + 2, len, "a file"};
            at += 2 + len;
        }
        struct format_pb_schema *s = format_pb_schema_from_files(files, nf, &err);
        if (s) {
            for (int32_t i = 0; i < 8; i++) {
                struct lerr e;
                lerr_init(&e);
                const struct format_pb_msg *m = format_pb_by_index(s, &i, 1, &e);
                if (!m)
                    break;
                decode(m, d + at, n - at);
            }
            format_pb_schema_free(s);
        } else if (!err.msg[0]) {
            die("refused files without a message", NULL);
        }
    } else if (mode == 7) {
        row_mode(d, n);
    } else {
        struct format_pb_frame f;
        if (format_pb_confluent_frame(d, n, &f, &err) == 0) {
            if (f.header_len > n || f.nindexes == 0 || f.nindexes > FORMAT_PB_MAX_INDEXES)
                die("a frame header outside the record", NULL);
            const struct format_pb_msg *m = format_pb_by_index(shop, f.indexes, f.nindexes, &err);
            if (m)
                decode(m, d + f.header_len, n - f.header_len);
        }
    }
    return 0;
}
