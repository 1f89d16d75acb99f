// SOURCES: src/format/json.c src/format/pbdesc.pb-c.c src/format/protobuf.c src/util/civil.c src/util/num.c src/util/util.c
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
 *        each of its top-level messages.
 * Anything else the decoder does wrong (a crash, a leak, UB, JSON the scanner
 * rejects) aborts so the fuzzer reports it.
 */
#include "format/json.h"
#include "format/protobuf.h"

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
    uint8_t mode = data[0] % 7;
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
