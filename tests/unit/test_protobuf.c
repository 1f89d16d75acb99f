/*
 * test_protobuf.c — the protobuf format: reading a FileDescriptorSet (the
 * one protoc wrote for tests/unit/protobuf/shop.proto, in descriptor.h, and
 * broken variants of it), the wire decoder (every scalar type, packed and
 * unpacked repeated fields, oneofs, maps, enums, well-known types, merges,
 * unknown fields, and each way a record can be bad, with its byte offset),
 * Confluent's framing, and the format as jobs use it (declared fields,
 * discovery, flattenSpec, the kafka wrapper, settings errors), whose rows
 * must hold what the nd-json format reads from the same message's JSON
 * (test_direct_vs_json: format_pb_to_json() is the reference).
 *
 * Messages are either protoc's own encoding (protoc --encode of the text
 * shown beside each) or built here byte by byte with a small encoder, when
 * the test needs a layout protoc never writes.
 */
#include "format/pbdesc.pb-c.h"
#include "format/protobuf.h"
#include "format_test.h"
#include "protobuf/descriptor.h"

/* ---- a small encoder ----------------------------------------------------------- */

struct enc {
    unsigned char b[4096];
    size_t n;
};

static void e_varint(struct enc *e, uint64_t v)
{
    while (v >= 0x80) {
        e->b[e->n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    e->b[e->n++] = (unsigned char)v;
}
static void e_tag(struct enc *e, uint32_t num, int wt)
{
    e_varint(e, (uint64_t)num << 3 | (uint64_t)wt);
}
static void e_bytes(struct enc *e, uint32_t num, const void *p, size_t n)
{
    e_tag(e, num, 2);
    e_varint(e, n);
    memcpy(e->b + e->n, p, n);
    e->n += n;
}
static void e_str(struct enc *e, uint32_t num, const char *s) { e_bytes(e, num, s, strlen(s)); }
static void e_raw(struct enc *e, const char *hex)
{
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        e->b[e->n++] = (unsigned char)v;
    }
}

static struct format_pb_schema *shop(void)
{
    struct lerr err;
    lerr_init(&err);
    struct format_pb_schema *s =
        format_pb_schema_new(shop_descriptor, sizeof shop_descriptor, &err);
    CHECK_MSG(s != NULL, "shop descriptor: %s", err.msg);
    return s;
}

static const struct format_pb_msg *msg(const struct format_pb_schema *s, const char *name)
{
    struct lerr err;
    lerr_init(&err);
    const struct format_pb_msg *m = format_pb_find(s, name, &err);
    CHECK_MSG(m != NULL, "%s: %s", name, err.msg);
    return m;
}

/* The JSON of one message, or "ERR@pos: message". */
static const char *json_of(const struct format_pb_msg *m, const void *p, size_t n)
{
    static char out[4][4096];
    static int next;
    char *o = out[next++ % 4];
    struct buf b;
    buf_init(&b, 1 << 20);
    struct lerr err;
    lerr_init(&err);
    if (format_pb_to_json(m, p, n, &b, NULL, &err))
        snprintf(o, 4096, "ERR@%lld: %s", (long long)err.pos, err.msg);
    else
        snprintf(o, 4096, "%s", buf_cstr(&b));
    buf_free(&b);
    return o;
}

static const char *json_hex(const struct format_pb_msg *m, const char *hex)
{
    struct enc e = {.n = 0};
    e_raw(&e, hex);
    return json_of(m, e.b, e.n);
}

/* Whether s contains sub (for error messages). */
static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }
#define CHECK_HAS(s, sub) CHECK_MSG(has((s), (sub)), "'%s' should contain '%s'", (s), (sub))

/* ---- the descriptor ---------------------------------------------------------------- */

static void test_descriptor(void)
{
    struct format_pb_schema *s = shop();
    if (!s)
        return;
    CHECK_EQ_STR(format_pb_msg_name(msg(s, "shop.Order")), "shop.Order");
    CHECK_EQ_STR(format_pb_msg_name(msg(s, ".shop.Order.Item")), "shop.Order.Item");
    CHECK_EQ_STR(format_pb_msg_name(msg(s, "google.protobuf.Timestamp")),
                 "google.protobuf.Timestamp");
    struct lerr err;
    lerr_init(&err);
    CHECK(format_pb_find(s, "Order", &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_INVALID);
    CHECK_HAS(err.msg, "message type 'Order' is not in the descriptor set");
    CHECK_HAS(err.msg, "did you mean 'shop.Order'?");
    lerr_init(&err);
    CHECK(format_pb_find(s, "x.Y", &err) == NULL);
    CHECK_HAS(err.msg, "the set's last file has 'shop.Scalars', 'shop.Order', 'shop.Customer'");

    /* Confluent's message indexes count in the last file (shop.proto). */
    int32_t i0[] = {0}, i10[] = {1, 0}, i5[] = {5}, i15[] = {1, 5};
    CHECK_EQ_STR(format_pb_msg_name(format_pb_by_index(s, NULL, 0, &err)), "shop.Scalars");
    CHECK_EQ_STR(format_pb_msg_name(format_pb_by_index(s, i0, 1, &err)), "shop.Scalars");
    CHECK_EQ_STR(format_pb_msg_name(format_pb_by_index(s, i10, 2, &err)), "shop.Order.Item");
    lerr_init(&err);
    CHECK(format_pb_by_index(s, i5, 1, &err) == NULL);
    CHECK_HAS(err.msg, "message index 5 at position 0");
    lerr_init(&err);
    CHECK(format_pb_by_index(s, i15, 2, &err) == NULL);
    /* Item and the map fields' entry types */
    CHECK_HAS(err.msg, "shop.Order has 3 message types");
    format_pb_schema_free(s);
}

/* The shop set with its files rewritten by `edit`, serialized. */
static size_t edited(void (*edit)(Format__Pbdesc__FileDescriptorSet *), unsigned char *out,
                     size_t cap)
{
    Format__Pbdesc__FileDescriptorSet *set =
        format__pbdesc__file_descriptor_set__unpack(NULL, sizeof shop_descriptor, shop_descriptor);
    CHECK(set != NULL);
    if (!set)
        return 0;
    size_t nfile = set->n_file;
    edit(set);
    size_t n = format__pbdesc__file_descriptor_set__get_packed_size(set);
    CHECK(n <= cap);
    n = n <= cap ? format__pbdesc__file_descriptor_set__pack(set, out) : 0;
    set->n_file = nfile; /* an edit may hide files; all are freed */
    format__pbdesc__file_descriptor_set__free_unpacked(set, NULL);
    return n;
}

/* Only the last file: its imports are missing. */
static void drop_imports(Format__Pbdesc__FileDescriptorSet *set)
{
    /* keep the pointer array intact for free_unpacked: swap the last file first */
    Format__Pbdesc__FileDescriptorProto *t = set->file[0];
    set->file[0] = set->file[set->n_file - 1];
    set->file[set->n_file - 1] = t;
    set->n_file = 1;
}
static void dup_number(Format__Pbdesc__FileDescriptorSet *set)
{
    Format__Pbdesc__FileDescriptorProto *f = set->file[set->n_file - 1];
    Format__Pbdesc__DescriptorProto *scalars = f->message_type[0];
    scalars->field[1]->number = scalars->field[0]->number;
}
static void bad_syntax(Format__Pbdesc__FileDescriptorSet *set)
{
    Format__Pbdesc__FileDescriptorProto *f = set->file[set->n_file - 1];
    free(f->syntax); /* protobuf-c's default allocator is malloc */
    f->syntax = strdup("editions");
}

static void test_bad_descriptors(void)
{
    struct lerr err;
    lerr_init(&err);
    CHECK(format_pb_schema_new("\xff\xff\xff", 3, &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_INVALID);
    CHECK_HAS(err.msg, "is not a serialized FileDescriptorSet");
    lerr_init(&err);
    CHECK(format_pb_schema_new("", 0, &err) == NULL);
    CHECK_HAS(err.msg, "holds no files");

    unsigned char buf[8192];
    size_t n = edited(drop_imports, buf, sizeof buf);
    lerr_init(&err);
    CHECK(format_pb_schema_new(buf, n, &err) == NULL);
    CHECK_HAS(err.msg,
              "has type '.google.protobuf.Timestamp', which is not in the descriptor set");
    CHECK_HAS(err.msg, "--include_imports");

    n = edited(dup_number, buf, sizeof buf);
    lerr_init(&err);
    CHECK(format_pb_schema_new(buf, n, &err) == NULL);
    CHECK_HAS(err.msg, "fields 'd' and 'f' of message 'shop.Scalars' share number 1");

    n = edited(bad_syntax, buf, sizeof buf);
    lerr_init(&err);
    CHECK(format_pb_schema_new(buf, n, &err) == NULL);
    CHECK_HAS(err.msg, "file 'shop.proto' has syntax \"editions\"");
}

/* ---- the wire ---------------------------------------------------------------------------- */

static void test_messages(void)
{
    struct format_pb_schema *s = shop();
    if (!s)
        return;
    const struct format_pb_msg *order = msg(s, "shop.Order"), *sc = msg(s, "shop.Scalars");

    /* protoc --encode=shop.Scalars of: d: 2.5 f: 0.1 i64: -9000000000
     * u64: 18446744073709551615 i32: -2 fx64: 123 fx32: 7 b: true s: "hé"
     * by: "\x00\xff\x10" u32: 4294967295 st: 7 sf32: -3 sf64: -4 si32: -5 si64: 6 */
    CHECK_EQ_STR(
        json_hex(sc, "09000000000000044015cdcccc3d1880ccbbbcdeffffffff0120ffffffffffffffffff0128"
                     "feffffffffffffffff01317b000000000000003d0700000040014a0368c3a9620300ff1068"
                     "ffffffff0f70077dfdffffff8101fcffffffffffffff88010990010c"),
        "{\"d\":2.5,\"f\":0.1,\"i64\":-9000000000,\"u64\":18446744073709551615,\"i32\":-2,"
        "\"fx64\":123,\"fx32\":7,\"b\":true,\"s\":\"h\xc3\xa9\",\"by\":\"AP8Q\","
        "\"u32\":4294967295,\"st\":7,\"sf32\":-3,\"sf64\":-4,\"si32\":-5,\"si64\":6}");
    /* The empty message: proto3 defaults (enum by its 0 name). */
    CHECK_EQ_STR(json_of(sc, "", 0),
                 "{\"d\":0,\"f\":0,\"i64\":0,\"u64\":0,\"i32\":0,\"fx64\":0,\"fx32\":0,"
                 "\"b\":false,\"s\":\"\",\"by\":\"\",\"u32\":0,\"st\":\"STATUS_UNKNOWN\","
                 "\"sf32\":0,\"sf64\":0,\"si32\":0,\"si64\":0}");
    CHECK_EQ_STR(json_of(order, "", 0),
                 "{\"id\":\"\",\"items\":[],\"codes\":[],\"tags\":[],\"counts\":{},\"by_id\":{},"
                 "\"status\":\"STATUS_UNKNOWN\",\"prices\":[]}");

    /* protoc --encode=shop.Order of tests/unit/protobuf's order: nested and
     * repeated messages, packed ints and doubles, a oneof, two maps, an enum,
     * a Timestamp, a wrapper, proto3 optional, a proto2 message with a group. */
    CHECK_EQ_STR(
        json_hex(order,
                 "0a036f2d31120c0a03416e6e12050a03426f621a050a014110021a100a0342227110ffffffffff"
                 "ffffffff01220d01ac02fbffffffffffffffff012a01782a0179386342060a026b31100142060a"
                 "026b3210024a1008f9ffffffffffffffff0112030a015a50025a0b08c0ddc8b1061080e59a7762"
                 "006800720c0803131a02676714200420057a18000000000000f83f000000000000d0bf50efe2d6"
                 "e41a4b44"),
        "{\"id\":\"o-1\",\"customer\":{\"name\":\"Ann\",\"referrer\":{\"name\":\"Bob\"}},"
        "\"items\":[{\"sku\":\"A\",\"qty\":2},{\"sku\":\"B\\\"q\",\"qty\":-1}],"
        "\"codes\":[1,300,-5],\"tags\":[\"x\",\"y\"],\"voucher\":99,"
        "\"counts\":{\"k1\":1,\"k2\":2},\"by_id\":{\"-7\":{\"sku\":\"Z\",\"qty\":0}},"
        "\"status\":\"SHIPPED\",\"at\":\"2024-05-01T12:00:00.250Z\",\"maybe\":0,\"opt\":0,"
        "\"legacy\":{\"a\":3,\"grp\":{\"g\":\"gg\"},\"nums\":[4,5]},"
        "\"prices\":[1.5,-0.25,1e21]}");

    struct enc e = {.n = 0};
    /* Unpacked and packed runs of one repeated field, interleaved with
     * others, keep their order; a singular field written twice keeps the
     * last; a message field written twice is merged. */
    e_tag(&e, 4, 0), e_varint(&e, 1);
    e_str(&e, 1, "first");
    e_raw(&e, "2202"
              "0203"); /* codes: packed [2, 3] */
    e_tag(&e, 4, 0), e_varint(&e, 4);
    e_str(&e, 1, "last");
    e_raw(&e, "1205"
              "0a03416e6e"); /* customer {name: "Ann"} */
    e_raw(&e, "1207"
              "1205"
              "0a03426f62"); /* customer {referrer {name: "Bob"}} */
    CHECK_EQ_STR(
        json_of(order, e.b, e.n),
        "{\"id\":\"last\",\"customer\":{\"name\":\"Ann\",\"referrer\":{\"name\":\"Bob\"}},"
        "\"items\":[],\"codes\":[1,2,3,4],\"tags\":[],\"counts\":{},\"by_id\":{},"
        "\"status\":\"STATUS_UNKNOWN\",\"prices\":[]}");

    /* A oneof shows its member set last; unknown fields of every wire type
     * are checked and skipped. */
    e.n = 0;
    e_str(&e, 6, "visa");
    e_tag(&e, 7, 0), e_varint(&e, 5);
    e_tag(&e, 99, 0), e_varint(&e, 300);
    e_str(&e, 100, "??");
    e_tag(&e, 101, 5), e_raw(&e, "01020304");
    e_tag(&e, 102, 1), e_raw(&e, "0102030405060708");
    e_tag(&e, 103, 3), e_tag(&e, 1, 0), e_varint(&e, 1), e_tag(&e, 103, 4);
    CHECK_HAS(json_of(order, e.b, e.n), "\"voucher\":5,");
    CHECK(!has(json_of(order, e.b, e.n), "card"));
    e_str(&e, 6, "amex");
    CHECK_HAS(json_of(order, e.b, e.n), "\"card\":\"amex\",");
    CHECK(!has(json_of(order, e.b, e.n), "voucher"));

    /* Map entries with a missing key or value read as the defaults; a value
     * message missing reads as {}. Timestamps: no fraction, micros, nanos,
     * before 1970. */
    e.n = 0;
    e_raw(&e, "4202"
              "1005"); /* counts {value: 5} */
    e_raw(&e, "4a02"
              "0803"); /* by_id {key: 3} */
    e_raw(&e, "5a00"); /* at {} */
    CHECK_HAS(json_of(order, e.b, e.n), "\"counts\":{\"\":5},\"by_id\":{\"3\":{}},");
    CHECK_HAS(json_of(order, e.b, e.n), "\"at\":\"1970-01-01T00:00:00Z\"");
    e.n = 0;
    {
        struct enc t = {.n = 0};
        e_tag(&t, 1, 0), e_varint(&t, (uint64_t)(int64_t)-1);
        e_tag(&t, 2, 0), e_varint(&t, 1000);
        e_bytes(&e, 11, t.b, t.n);
    }
    CHECK_HAS(json_of(order, e.b, e.n), "\"at\":\"1969-12-31T23:59:59.000001Z\"");
    e.n = 0;
    {
        struct enc t = {.n = 0};
        e_tag(&t, 1, 0), e_varint(&t, 0);
        e_tag(&t, 2, 0), e_varint(&t, 7);
        e_bytes(&e, 11, t.b, t.n);
    }
    CHECK_HAS(json_of(order, e.b, e.n), "\"at\":\"1970-01-01T00:00:00.000000007Z\"");

    /* Floats: NaN and infinities as the mapping's strings. */
    e.n = 0;
    e_tag(&e, 1, 1), e_raw(&e, "000000000000f87f"); /* NaN */
    e_tag(&e, 2, 5), e_raw(&e, "0000807f");         /* +inf */
    CHECK_HAS(json_of(sc, e.b, e.n), "{\"d\":\"NaN\",\"f\":\"Infinity\",");
    format_pb_schema_free(s);
}

static void test_bad_records(void)
{
    struct format_pb_schema *s = shop();
    if (!s)
        return;
    const struct format_pb_msg *order = msg(s, "shop.Order"), *sc = msg(s, "shop.Scalars");
    const char *r;
    r = json_hex(sc, "2880");
    CHECK_HAS(r, "ERR@1: invalid protobuf at byte 1: truncated varint");
    r = json_hex(sc, "28ffffffffffffffffff7f");
    CHECK_HAS(r, "ERR@1:");
    CHECK_HAS(r, "varint longer than 64 bits");
    r = json_hex(sc, "0e01");
    CHECK_HAS(r, "ERR@0: invalid protobuf at byte 0: wire type 6 of field 1 does not exist");
    r = json_hex(sc, "2801"
                     "ff0101");
    CHECK_HAS(r, "ERR@2: invalid protobuf at byte 2: wire type 7 of field 31 does not exist");
    r = json_hex(sc, "0001");
    CHECK_HAS(r, "ERR@0: invalid protobuf at byte 0: field number 0 is out of range");
    r = json_hex(order, "0a05616263");
    CHECK_HAS(r, "ERR@1:");
    CHECK_HAS(r, "field 1 has length 5 but only 3 bytes are left in its message");
    r = json_hex(order, "0801");
    CHECK_HAS(r, "ERR@0:");
    CHECK_HAS(r, "field 'id' (number 1) of shop.Order has wire type 0 (varint), but a string "
                 "field is written with wire type 2 (length-delimited)");
    r = json_hex(sc, "7d0000");
    CHECK_HAS(r, "ERR@1: invalid protobuf at byte 1: truncated 4-byte value of field 15");
    r = json_hex(sc, "0c");
    CHECK_HAS(r, "ERR@0: invalid protobuf at byte 0: group end tag of field 1 without its start");
    r = json_hex(sc, "fb06"
                     "0801");
    CHECK_HAS(r, "group of field 111 has no end");
    /* A nested message whose own bytes are bad: the offset is the record's. */
    r = json_hex(order, "1203"
                        "0a0561");
    CHECK_HAS(r, "ERR@3:");
    CHECK_HAS(r, "field 1 has length 5 but only 1 bytes are left");
    /* Packed run cut inside a fixed-width value. */
    r = json_hex(order, "7a03"
                        "000000");
    CHECK_HAS(r, "packed field 'prices' ends inside a 8-byte value");
    /* A Timestamp past year 9999. */
    {
        struct enc e = {.n = 0}, t = {.n = 0};
        e_tag(&t, 1, 0), e_varint(&t, 253402300800ULL);
        e_bytes(&e, 11, t.b, t.n);
        CHECK_HAS(json_of(order, e.b, e.n),
                  "google.protobuf.Timestamp 253402300800 s 0 ns is out");
    }
    /* Customers referring to customers past the depth limit. */
    {
        static unsigned char deep[1024];
        size_t n = 0;
        /* build from the inside out: each level is tag 0x12, length, inner */
        unsigned char tmp[1024];
        size_t tn = 0;
        for (int i = 0; i < FORMAT_PB_MAX_DEPTH + 1; i++) {
            unsigned char nb[1024];
            size_t k = 0;
            nb[k++] = 0x12;
            if (tn >= 128) {
                nb[k++] = (unsigned char)(tn | 0x80);
                nb[k++] = (unsigned char)(tn >> 7);
            } else {
                nb[k++] = (unsigned char)tn;
            }
            memcpy(nb + k, tmp, tn);
            tn += k;
            memcpy(tmp, nb, tn);
        }
        memcpy(deep, tmp, tn);
        n = tn;
        const struct format_pb_msg *cust = msg(s, "shop.Customer");
        CHECK_HAS(json_of(cust, deep, n), "messages nest deeper than 100 levels");
    }
    /* Output past the cap: a refused buffer is a clean error. */
    {
        struct buf b;
        buf_init(&b, 8);
        struct lerr err;
        lerr_init(&err);
        CHECK_EQ_INT(format_pb_to_json(order, "", 0, &b, NULL, &err), -1);
        CHECK_HAS(err.msg, "decodes to more than 8 bytes of JSON");
        buf_free(&b);
    }
    format_pb_schema_free(s);
}

static void test_confluent_frame(void)
{
    struct format_pb_frame f;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(format_pb_confluent_frame("\0\0\0\0\x2a\0\x08\x01", 8, &f, &err), 0);
    CHECK_EQ_INT(f.schema_id, 42);
    CHECK_EQ_INT(f.nindexes, 1);
    CHECK_EQ_INT(f.indexes[0], 0);
    CHECK_EQ_INT(f.header_len, 6);
    /* [1, 0]: count 2 (zigzag 4), 1 (zigzag 2), 0 */
    CHECK_EQ_INT(format_pb_confluent_frame("\0\x01\x02\x03\x04\x04\x02\x00\x0a", 9, &f, &err), 0);
    CHECK_EQ_INT(f.schema_id, 0x01020304);
    CHECK_EQ_INT(f.nindexes, 2);
    CHECK_EQ_INT(f.indexes[0], 1);
    CHECK_EQ_INT(f.indexes[1], 0);
    CHECK_EQ_INT(f.header_len, 8);
    lerr_init(&err);
    CHECK_EQ_INT(format_pb_confluent_frame("\x01\0\0\0\x01\0", 6, &f, &err), -1);
    CHECK_HAS(err.msg, "does not start with Confluent's magic byte 0");
    lerr_init(&err);
    CHECK_EQ_INT(format_pb_confluent_frame("\0\0\0", 3, &f, &err), -1);
    CHECK_HAS(err.msg, "too short for Confluent's framing");
    lerr_init(&err);
    CHECK_EQ_INT(format_pb_confluent_frame("\0\0\0\0\x01\x01", 6, &f, &err), -1);
    CHECK_HAS(err.msg, "message-index list has -1 entries");
    CHECK_EQ_INT(err.pos, 5);
    lerr_init(&err);
    CHECK_EQ_INT(format_pb_confluent_frame("\0\0\0\0\x01\x04\x02", 7, &f, &err), -1);
    CHECK_HAS(err.msg, "truncated varint"); /* the list promised 2 indexes, holds 1 */
    CHECK_EQ_INT(err.pos, 7);
    lerr_init(&err);
    CHECK_EQ_INT(format_pb_confluent_frame("\0\0\0\0\x01\x02\x01", 7, &f, &err), -1);
    CHECK_HAS(err.msg, "message index -1 at position 0 is out of range");
    lerr_init(&err);
    CHECK_EQ_INT(format_pb_confluent_frame("\0\0\0\0\x01\x80", 6, &f, &err), -1);
    CHECK_HAS(err.msg, "truncated varint");
}

/* ---- a schema from separate files (a schema registry's) ----------------------------------- */

/* File i of a serialized FileDescriptorSet, packed alone into out. */
static size_t file_of(const unsigned char *set_bytes, size_t set_len, size_t i, unsigned char *out,
                      size_t cap)
{
    Format__Pbdesc__FileDescriptorSet *set =
        format__pbdesc__file_descriptor_set__unpack(NULL, set_len, set_bytes);
    CHECK(set != NULL && i < set->n_file);
    if (!set || i >= set->n_file) {
        if (set)
            format__pbdesc__file_descriptor_set__free_unpacked(set, NULL);
        return 0;
    }
    size_t n = format__pbdesc__file_descriptor_proto__get_packed_size(set->file[i]);
    CHECK(n <= cap);
    n = n <= cap ? format__pbdesc__file_descriptor_proto__pack(set->file[i], out) : 0;
    format__pbdesc__file_descriptor_set__free_unpacked(set, NULL);
    return n;
}

static void test_from_files(void)
{
    /* shop's set: timestamp.proto, wrappers.proto, common.proto, shop.proto */
    static unsigned char common[2048], shop_file[8192], ts_file[1024];
    size_t ncommon = file_of(shop_descriptor, sizeof shop_descriptor, 2, common, sizeof common);
    size_t nshop =
        file_of(shop_descriptor, sizeof shop_descriptor, 3, shop_file, sizeof shop_file);
    size_t nts = file_of(shop_descriptor, sizeof shop_descriptor, 0, ts_file, sizeof ts_file);
    struct format_pb_schema *full = shop();
    struct lerr err;
    lerr_init(&err);

    /* The schema's file last, its reference before it; Timestamp and Int64Value come from
     * the built-in well-known files, and decode as protoc's own copies do. */
    struct format_pb_file files[] = {{common, ncommon, "reference 'common.proto'"},
                                     {shop_file, nshop, "schema id 3"}};
    struct format_pb_schema *s = format_pb_schema_from_files(files, 2, &err);
    CHECK_MSG(s != NULL, "from files: %s", err.msg);
    if (s && full) {
        int32_t i10[] = {1, 0}, i1[] = {1};
        CHECK_EQ_STR(format_pb_msg_name(format_pb_by_index(s, i10, 2, &err)), "shop.Order.Item");
        CHECK_EQ_STR(format_pb_msg_name(format_pb_by_index(s, i1, 1, &err)), "shop.Order");
        const char *order = "0a036f2d39"                 /* id "o-9" */
                            "5a0b08c0ddc8b1061080e59a77" /* at, .25 s */
                            "62020805"                   /* maybe {value: 5} */
                            "72020801";                  /* legacy {code: 1} */
        char a[4096];
        snprintf(a, sizeof a, "%s", json_hex(msg(full, "shop.Order"), order));
        CHECK_EQ_STR(json_hex(msg(s, "shop.Order"), order), a);
        CHECK_HAS(a, "\"at\":\"2024-05-01T12:00:00.250Z\"");
        CHECK_HAS(a, "\"maybe\":5");
    }
    format_pb_schema_free(s);

    /* A reference may also give a well-known file itself. */
    struct format_pb_file with_ts[] = {
        {ts_file, nts, "ts"}, {common, ncommon, "c"}, {shop_file, nshop, "s"}};
    lerr_init(&err);
    s = format_pb_schema_from_files(with_ts, 3, &err);
    CHECK_MSG(s != NULL, "with timestamp given: %s", err.msg);
    format_pb_schema_free(s);

    /* Every well-known type: the built-in files read as protoc's copies. */
    static unsigned char wkt_file[4096];
    size_t nwkt = file_of(wkt_descriptor, sizeof wkt_descriptor, 7, wkt_file, sizeof wkt_file);
    struct format_pb_schema *wfull =
        format_pb_schema_new(wkt_descriptor, sizeof wkt_descriptor, &err);
    CHECK_MSG(wfull != NULL, "wkt descriptor: %s", err.msg);
    struct format_pb_file wf[] = {{wkt_file, nwkt, "schema id 9"}};
    lerr_init(&err);
    s = format_pb_schema_from_files(wf, 1, &err);
    CHECK_MSG(s != NULL, "wkt from files: %s", err.msg);
    if (s && wfull) {
        char a[4096];
        snprintf(a, sizeof a, "%s", json_of(msg(wfull, "wk.All"), wkt_record, sizeof wkt_record));
        CHECK_EQ_STR(json_of(format_pb_by_index(s, NULL, 0, &err), wkt_record, sizeof wkt_record),
                     a);
        CHECK_HAS(a, "\"st\":{\"fields\":{");
        CHECK_HAS(a, "\"null_value\":\"NULL_VALUE\"");
        CHECK_HAS(a, "\"u64\":7");
        CHECK_HAS(a, "\"dur\":{\"seconds\":3,\"nanos\":5}");
    }
    format_pb_schema_free(s);
    format_pb_schema_free(wfull);

    /* An import no file answers, named beside the type it lacks. */
    struct format_pb_file alone[] = {{shop_file, nshop, "schema id 3"}};
    lerr_init(&err);
    CHECK(format_pb_schema_from_files(alone, 1, &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_INVALID);
    CHECK_HAS(err.msg, "has type '.common.Legacy', which is not in the descriptor set");
    CHECK_HAS(err.msg, "the schema imports 'common.proto', which no schema reference names");
    CHECK_HAS(err.msg, "register the file that defines it and name it in the schema's references");
    /* Bytes that are not a FileDescriptorProto, named as the caller calls them. */
    struct format_pb_file bad[] = {{"\xff\xff\xff", 3, "reference 'x.proto'"},
                                   {shop_file, nshop, "schema id 3"}};
    lerr_init(&err);
    CHECK(format_pb_schema_from_files(bad, 2, &err) == NULL);
    CHECK_HAS(err.msg, "reference 'x.proto' (3 bytes) is not a serialized FileDescriptorProto");
    lerr_init(&err);
    CHECK(format_pb_schema_from_files(NULL, 0, &err) == NULL);
    CHECK_HAS(err.msg, "the schema has no file");
    /* The schema's own file decides the message indexes: here common.proto's. */
    struct format_pb_file rev[] = {{shop_file, nshop, "s"}, {common, ncommon, "c"}};
    lerr_init(&err);
    s = format_pb_schema_from_files(rev, 2, &err);
    CHECK_MSG(s != NULL, "reversed: %s", err.msg);
    if (s)
        CHECK_EQ_STR(format_pb_msg_name(format_pb_by_index(s, NULL, 0, &err)), "common.Legacy");
    format_pb_schema_free(s);
    format_pb_schema_free(full);

    /* The format over a registry connection: the schema comes with each record, through
     * the job's registry client; without one, an error per record, not a crash. */
    struct format_parser *p =
        tf_parser("{\"format\":\"protobuf\",\"parseSchemaProvider\":{\"type\":\"connection\","
                  "\"connectionName\":\"reg\"}}",
                  "a:string", false);
    if (p) {
        CHECK(format_plan_uses_registry(format_parser_plan(p)));
        struct arena mem;
        arena_init(&mem, 0, 0);
        struct format_row row;
        CHECK_EQ_INT(tf_parse(p, &mem, "\0\0\0\0\1\0\x0a\x00", 8, &row, &err), FORMAT_ERROR);
        CHECK_HAS(err.msg, "Protobuf through a schema registry connection but has no client");
        CHECK_EQ_INT(tf_parse(p, &mem, "\x0a\x04\x61\x62\x63\x64", 6, &row, &err), FORMAT_ERROR);
        CHECK_HAS(err.msg, "does not start with Confluent's magic byte 0");
        CHECK_EQ_INT(tf_parse(p, &mem, "\0\0\0\0\1\x03", 6, &row, &err), FORMAT_ERROR);
        CHECK_HAS(err.msg, "message-index list has -2 entries");
        arena_destroy(&mem);
        format_parser_free(p);
    }
    CHECK(tf_parser_ex("{\"format\":\"protobuf\",\"parseSchemaProvider\":{\"type\":"
                       "\"connection\"}}",
                       "a:string", false, NULL, 0, &err) == NULL);
    CHECK_HAS(err.msg, "connectionName is required");
}

/* ---- the format --------------------------------------------------------------------------- */

static char *b64(const unsigned char *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(n / 3 * 4 + 8), *q = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *q++ = t[v >> 18 & 63];
        *q++ = t[v >> 12 & 63];
        *q++ = i + 1 < n ? t[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? t[v & 63] : '=';
    }
    *q = 0;
    return o;
}

static char *settings(const char *type, const char *extra)
{
    char *d = b64(shop_descriptor, sizeof shop_descriptor);
    size_t n = strlen(d) + 512;
    char *s = malloc(n);
    snprintf(s, n,
             "{\"format\": \"protobuf\", \"parseSchemaProvider\": {\"type\": \"inline-protobuf\", "
             "\"descriptor\": \"%s\", \"messageType\": \"%s\"}%s}",
             d, type, extra);
    free(d);
    return s;
}

static void test_format(void)
{
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    struct format_row row;
    struct lerr err;
    /* Declared fields of every kind, coerced as JSON values are. */
    char *st = settings("shop.Order", ", \"flattenSpec\": {\"fields\": [{\"type\": \"path\", "
                                      "\"name\": \"cust\", \"expr\": \"$.customer.name\"}]}");
    struct format_parser *p =
        tf_parser(st,
                  "id:string,codes:json,at:string,maybe:long,opt:long,cust:string,"
                  "status:string,customer:json,voucher:long,card:string",
                  false);
    free(st);
    if (p) {
        struct enc e = {.n = 0};
        e_str(&e, 1, "o-9");
        e_raw(&e, "2203"
                  "01ac02"); /* codes [1, 300] */
        e_raw(&e, "1205"
                  "0a03416e6e");
        e_tag(&e, 7, 0), e_varint(&e, 12);
        e_raw(&e, "5a06"
                  "08c0ddc8b106"); /* at 2024-05-01T12:00:00Z */
        e_raw(&e, "6202"
                  "0805"); /* maybe {value: 5} */
        CHECK_EQ_INT(tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err), FORMAT_OK);
        CHECK_EQ_STR(tf_field(p, &row, "id"), "S:o-9");
        CHECK_EQ_STR(tf_field(p, &row, "codes"), "J:[1,300]");
        CHECK_EQ_STR(tf_field(p, &row, "at"), "S:2024-05-01T12:00:00Z");
        CHECK_EQ_STR(tf_field(p, &row, "maybe"), "L:5");
        CHECK_EQ_STR(tf_field(p, &row, "opt"), "NULL");
        CHECK_EQ_STR(tf_field(p, &row, "cust"), "S:Ann");
        CHECK_EQ_STR(tf_field(p, &row, "status"), "S:STATUS_UNKNOWN");
        CHECK_EQ_STR(tf_field(p, &row, "customer"), "J:{\"name\":\"Ann\"}");
        CHECK_EQ_STR(tf_field(p, &row, "voucher"), "L:12");
        CHECK_EQ_STR(tf_field(p, &row, "card"), "NULL");
        /* A record that does not decode: FORMAT_ERROR with its offset. */
        CHECK_EQ_INT(tf_parse(p, &mem, "\x0a\x05\x61", 3, &row, &err), FORMAT_ERROR);
        CHECK_EQ_INT(err.code, LERR_INVALID);
        CHECK_EQ_INT(err.pos, 1);
        CHECK_HAS(err.msg, "field 1 has length 5 but only 1 bytes are left");
        /* The empty record is the message of defaults. */
        CHECK_EQ_INT(tf_parse(p, &mem, "", 0, &row, &err), FORMAT_OK);
        CHECK_EQ_STR(tf_field(p, &row, "id"), "S:");
        CHECK_EQ_STR(tf_field(p, &row, "codes"), "J:[]");
        /* The splitter hands a binary record over whole, NULs and newlines kept. */
        struct format_splitter sp;
        const char *rec;
        size_t len, line;
        format_split_init(&sp, p, "\x0a\x02\n\0", 4);
        CHECK(format_split_next(&sp, &rec, &len, &line));
        CHECK_EQ_INT(len, 4);
        CHECK(!format_split_next(&sp, &rec, &len, &line));
        format_split_init(&sp, p, "", 0);
        CHECK(format_split_next(&sp, &rec, &len, &line));
        CHECK_EQ_INT(len, 0);
        CHECK(!format_split_next(&sp, &rec, &len, &line));
        format_parser_free(p);
    }

    /* Discovery: types as for the same event in JSON. */
    st = settings("shop.Order", "");
    p = tf_parser(st, "id:string", true);
    free(st);
    if (p) {
        struct enc e = {.n = 0};
        e_str(&e, 1, "o-1");
        e_raw(&e, "2203"
                  "01ac02");
        e_str(&e, 5, "x");
        e_raw(&e, "1205"
                  "0a03416e6e");
        e_raw(&e, "7a08"
                  "000000000000f83f"); /* prices [1.5] */
        CHECK_EQ_INT(tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err), FORMAT_OK);
        CHECK_EQ_STR(tf_type(p, "codes"), "array<long>");
        CHECK_EQ_STR(tf_type(p, "tags"), "array<string>");
        CHECK_EQ_STR(tf_type(p, "prices"), "array<double>");
        CHECK_EQ_STR(tf_type(p, "customer"), "json");
        CHECK_EQ_STR(tf_type(p, "status"), "string");
        CHECK_EQ_STR(tf_type(p, "counts"), "json");
        CHECK_EQ_STR(tf_type(p, "card"), "none");
        CHECK_EQ_STR(tf_field(p, &row, "tags"), "A:[S:x]");
        /* A record skipped by error adds no column, though the fields
         * before its bad one decode (counts, then a Timestamp out of range). */
        e.n = 0;
        e_raw(&e, "4206"
                  "0a026b31"
                  "1001"); /* counts {k1: 1} */
        e_raw(&e, "5a02"
                  "107f"); /* at {nanos: 127}: fine */
        e_raw(&e, "5a0b"
                  "10ffffffffffffffffff01"); /* at {nanos: -1}: merged, out of range */
        CHECK_EQ_INT(tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err), FORMAT_ERROR);
        CHECK_HAS(err.msg, "google.protobuf.Timestamp 0 s -1 ns is out of its range");
        CHECK_EQ_STR(tf_type(p, "counts"), "json");
        CHECK_EQ_STR(tf_type(p, "at"), "none");
        e.n = 0;
        e_tag(&e, 13, 0), e_varint(&e, 7); /* opt: 7 */
        e_raw(&e, "7202"
                  "0801"); /* legacy {a: 1} */
        e_raw(&e, "7a03"
                  "000000"); /* prices: a packed double cut short */
        CHECK_EQ_INT(tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err), FORMAT_ERROR);
        CHECK_HAS(err.msg, "packed field 'prices' ends inside a 8-byte value");
        CHECK_EQ_STR(tf_type(p, "opt"), "none");
        CHECK_EQ_STR(tf_type(p, "legacy"), "none");
        format_parser_free(p);
    }

    /* Inside the kafka wrapper: the value is protobuf, metadata as ever. */
    char *inner = settings("shop.Customer", "");
    size_t kn = strlen(inner) + 64;
    char *ks = malloc(kn);
    snprintf(ks, kn, "{\"format\": \"kafka\", \"valueFormat\": %s}", inner);
    free(inner);
    p = tf_parser(ks, "name:string", false);
    free(ks);
    if (p) {
        struct record rec = {.data = "\x0a\x03\x41\x6e\x6e",
                             .len = 5,
                             .key = "k",
                             .key_len = 1,
                             .topic = "t",
                             .topic_len = 1,
                             .has_timestamp = true,
                             .timestamp_ms = 1000};
        CHECK_EQ_INT(tf_parse_rec(p, &mem, &rec, &row, &err), FORMAT_OK);
        CHECK_EQ_STR(tf_field(p, &row, "name"), "S:Ann");
        CHECK_EQ_STR(tf_field(p, &row, "kafka.key"), "S:k");
        CHECK_EQ_STR(tf_field(p, &row, "kafka.timestamp"), "L:1000");
        format_parser_free(p);
    }

    /* Settings errors name the setting. */
    st = settings("shop.Nope", "");
    CHECK(tf_parser_ex(st, "id:string", false, NULL, 0, &err) == NULL);
    free(st);
    CHECK_EQ_STR(err.target, "parseSchemaProvider.messageType");
    CHECK_HAS(err.msg, "message type 'shop.Nope' is not in the descriptor set");
    CHECK(tf_parser_ex("{\"format\": \"protobuf\", \"parseSchemaProvider\": {\"type\": "
                       "\"inline-protobuf\", \"descriptor\": \"ab$c\", \"messageType\": \"a.B\"}}",
                       "id:string", false, NULL, 0, &err) == NULL);
    CHECK_EQ_STR(err.target, "parseSchemaProvider.descriptor");
    CHECK_HAS(err.msg, "is not valid base64 (at character 2)");
    CHECK(tf_parser_ex("{\"format\": \"protobuf\", \"parseSchemaProvider\": {\"type\": "
                       "\"inline-protobuf\", \"descriptor\": \"////\", \"messageType\": \"a.B\"}}",
                       "id:string", false, NULL, 0, &err) == NULL);
    CHECK_HAS(err.msg, "is not a serialized FileDescriptorSet");
    CHECK(tf_parser_ex("{\"format\": \"protobuf\"}", "id:string", false, NULL, 0, &err) == NULL);
    CHECK_HAS(err.msg, "formatSettings.parseSchemaProvider is required");
    CHECK(tf_parser_ex("{\"format\": \"kafka\", \"valueFormat\": {\"format\": \"nd-json\"}, "
                       "\"keyFormat\": {\"format\": \"protobuf\", \"parseSchemaProvider\": "
                       "{\"type\": \"inline-protobuf\", \"descriptor\": \"AA==\", "
                       "\"messageType\": \"a.B\"}}}",
                       "id:string", false, NULL, 0, &err) == NULL);
    CHECK_HAS(err.msg, "keyFormat cannot be \"protobuf\"");
    arena_destroy(&mem);
}

/* ---- straight into the row, against the JSON route ------------------------------ */

/* The nd-json settings matching settings(type, extra). */
static char *json_settings(const char *extra)
{
    size_t n = strlen(extra) + 64;
    char *s = malloc(n);
    snprintf(s, n, "{\"format\": \"nd-json\"%s}", extra);
    return s;
}

/*
 * One message of `type` read two ways: by the protobuf format (decoded
 * straight into the row) and, as the JSON of protobuf's JSON mapping that
 * format_pb_to_json() writes, by the nd-json format, with the same fields,
 * flattenSpec (`extra`) and discovery. The outcome, the warning, every
 * field's value and every discovered type must agree.
 */
static void same_row(const char *what, const char *type, const char *extra, const char *spec,
                     bool discovery, const void *data, size_t n)
{
    struct format_pb_schema *s = shop();
    if (!s)
        return;
    const struct format_pb_msg *m = msg(s, type);
    struct buf json;
    buf_init(&json, 1 << 20);
    struct lerr err, jerr;
    lerr_init(&err);
    if (!m || format_pb_to_json(m, data, n, &json, NULL, &err)) {
        CHECK_MSG(0, "%s: the JSON route fails: %s", what, err.msg);
        buf_free(&json);
        format_pb_schema_free(s);
        return;
    }
    char *ps = settings(type, extra), *js = json_settings(extra);
    struct format_parser *pb = tf_parser(ps, spec, discovery),
                         *nd = tf_parser(js, spec, discovery);
    free(ps);
    free(js);
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    if (pb && nd) {
        struct format_row row, jrow;
        enum format_outcome got = tf_parse(pb, &mem, data, n, &row, &err);
        enum format_outcome want =
            tf_parse(nd, &mem, json.data ? json.data : "{}", json.len, &jrow, &jerr);
        CHECK_MSG(got == want, "%s: outcome %d, the JSON route's %d (%s / %s)", what, (int)got,
                  (int)want, err.msg, jerr.msg);
        if (got == want && got == FORMAT_OK_WITH_WARNINGS)
            CHECK_MSG(strcmp(err.msg, jerr.msg) == 0, "%s: warning '%s', the JSON route's '%s'",
                      what, err.msg, jerr.msg);
        const struct format_field *f, *jf;
        size_t nf = format_discovered_fields(pb, &f, NULL),
               njf = format_discovered_fields(nd, &jf, NULL);
        CHECK_MSG(nf == njf, "%s: %zu fields, the JSON route %zu", what, nf, njf);
        for (size_t i = 0; got == want && got != FORMAT_ERROR && i < njf; i++) {
            const char *name = jf[i].name;
            char a[1100], b[1100];
            snprintf(a, sizeof a, "%s %s", tf_type(pb, name), tf_field(pb, &row, name));
            snprintf(b, sizeof b, "%s %s", tf_type(nd, name), tf_field(nd, &jrow, name));
            CHECK_MSG(strcmp(a, b) == 0, "%s: field %s: direct '%s', JSON route '%s'", what, name,
                      a, b);
        }
    }
    format_parser_free(pb);
    format_parser_free(nd);
    arena_destroy(&mem);
    buf_free(&json);
    format_pb_schema_free(s);
}

static void test_direct_vs_json(void)
{
    /* Scalars of every type: protoc's encoding from test_messages(), the
     * defaults, and values whose text matters (NaN, infinities, -0, whole
     * doubles past 1e15, float digits, a double past a float's range,
     * uint64 past int64, invalid UTF-8, an unknown enum number). */
    struct enc all = {.n = 0}, odd = {.n = 0}, nan = {.n = 0}, big = {.n = 0};
    e_raw(&all, "09000000000000044015cdcccc3d1880ccbbbcdeffffffff0120ffffffffffffffffff0128"
                "feffffffffffffffff01317b000000000000003d0700000040014a0368c3a9620300ff1068"
                "ffffffff0f70077dfdffffff8101fcffffffffffffff88010990010c");
    e_tag(&odd, 1, 1), e_raw(&odd, "0000000000000080");       /* d: -0.0 */
    e_tag(&odd, 2, 5), e_raw(&odd, "0000003f");               /* f: 0.5 */
    e_str(&odd, 9, "a\xff\"b\\\n");                           /* s: invalid UTF-8, escapes */
    e_tag(&odd, 14, 0), e_varint(&odd, 2);                    /* st: SHIPPED */
    e_tag(&odd, 3, 0), e_varint(&odd, 0x8000000000000000ull); /* i64: INT64_MIN */
    e_tag(&nan, 1, 1), e_raw(&nan, "000000000000f87f");       /* d: NaN */
    e_tag(&nan, 2, 5), e_raw(&nan, "000080ff");               /* f: -inf */
    e_tag(&big, 1, 1), e_raw(&big, "0000c05ffd8f4143");       /* d: 1e16 (whole, past 1e15) */
    e_tag(&big, 2, 5), e_raw(&big, "cdcccc3d");               /* f: 0.1 */
    e_tag(&big, 8, 0), e_varint(&big, 0);                     /* b: false, written */
    struct enc d300 = {.n = 0};
    e_tag(&d300, 1, 1), e_raw(&d300, "9c7500883ce4377e"); /* d: 1e300 */
    e_tag(&d300, 2, 5), e_raw(&d300, "9a99993f");         /* f: 1.2 */
    const struct enc *sc[] = {&all, &odd, &nan, &big, &d300};
    static const char *const names = "d,f,i64,u64,i32,fx64,fx32,b,s,by,u32,st,sf32,sf64,si32,si64";
    static const char *const types[] = {"string", "long", "double", "float", "json"};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        char spec[512] = "";
        char copy[128];
        snprintf(copy, sizeof copy, "%s", names);
        for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
            snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%s%s:%s", *spec ? "," : "",
                     tok, types[t]);
        for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) {
            char what[64];
            snprintf(what, sizeof what, "Scalars %zu as %s", i, types[t]);
            same_row(what, "shop.Scalars", "", spec, false, sc[i]->b, sc[i]->n);
        }
        same_row("empty Scalars", "shop.Scalars", "", spec, false, "", 0);
    }
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i++)
        same_row("Scalars, discovered", "shop.Scalars", "", NULL, true, sc[i]->b, sc[i]->n);

    /* Orders: nesting, repeated and packed fields, maps, a oneof, a
     * Timestamp, a wrapper, proto3 optional, a proto2 group; merges. */
    struct enc order = {.n = 0}, merged = {.n = 0};
    e_raw(&order, "0a036f2d31120c0a03416e6e12050a03426f621a050a014110021a100a0342227110ffffffffff"
                  "ffffffff01220d01ac02fbffffffffffffffff012a01782a0179386342060a026b31100142060a"
                  "026b3210024a1008f9ffffffffffffffff0112030a015a50025a0b08c0ddc8b1061080e59a7762"
                  "006800720c0803131a02676714200420057a18000000000000f83f000000000000d0bf50efe2d6"
                  "e41a4b44");
    e_tag(&merged, 4, 0), e_varint(&merged, 1);
    e_str(&merged, 1, "first");
    e_raw(&merged, "22020203");
    e_str(&merged, 6, "visa");
    e_str(&merged, 1, "last");
    e_raw(&merged, "12050a03416e6e");
    e_raw(&merged, "120712050a03426f62");
    e_raw(&merged, "5a00");
    const struct enc *orders[] = {&order, &merged};
    static const char *const ospecs[] = {
        "id:string,customer:json,items:json,codes:json,tags:json,card:string,voucher:long,"
        "counts:json,by_id:json,status:string,at:string,maybe:long,opt:long,legacy:json,"
        "prices:json",
        "id:json,customer:string,items:string,codes:string,tags:string,card:json,voucher:string,"
        "counts:string,by_id:string,status:json,at:json,maybe:string,opt:double,legacy:string,"
        "prices:string",
        "at:long,status:long,maybe:double,codes:long,customer:long,id:double"};
    static const char *const flats[] = {
        "",
        ", \"flattenSpec\": {\"fields\": [{\"type\": \"path\", \"name\": \"cust\", \"expr\": "
        "\"$.customer.name\"}, {\"type\": \"path\", \"name\": \"sku2\", \"expr\": "
        "\"$.items[1].sku\"}, {\"type\": \"jq\", \"name\": \"g\", \"expr\": \".legacy.grp.g\"}, "
        "{\"type\": \"path\", \"name\": \"k1\", \"expr\": \"$.counts.k1\"}, {\"type\": \"path\", "
        "\"name\": \"when\", \"expr\": \"$.at\"}, {\"type\": \"root\", \"name\": \"id\"}]}",
        ", \"flattenSpec\": {\"useFieldDiscovery\": false, \"fields\": [{\"type\": \"path\", "
        "\"name\": \"ref\", \"expr\": \"$.customer.referrer.name\"}, {\"type\": \"root\", "
        "\"name\": \"status\"}]}"};
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++)
        for (size_t f = 0; f < sizeof flats / sizeof *flats; f++) {
            char what[64];
            for (size_t k = 0; k < sizeof ospecs / sizeof *ospecs; k++) {
                snprintf(what, sizeof what, "Order %zu, flatten %zu, spec %zu", i, f, k);
                same_row(what, "shop.Order", flats[f], ospecs[k], false, orders[i]->b,
                         orders[i]->n);
            }
            snprintf(what, sizeof what, "Order %zu, flatten %zu, discovered", i, f);
            same_row(what, "shop.Order", flats[f], "id:string", true, orders[i]->b, orders[i]->n);
        }
    same_row("empty Order, discovered", "shop.Order", flats[1], "id:string", true, "", 0);
}

int main(void)
{
    test_descriptor();
    test_bad_descriptors();
    test_messages();
    test_bad_records();
    test_confluent_frame();
    test_from_files();
    test_format();
    test_direct_vs_json();
    return check_summary();
}
