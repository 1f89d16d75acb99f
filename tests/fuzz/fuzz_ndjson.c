// SOURCES: src/format/json.c src/util/util.c
/*
 * fuzz_ndjson.c — libFuzzer target for the nd-json record scanner. Scans any
 * input as a record, walks every nested span with the span iterator and
 * format_json_find_path(), round-trips decoded strings through format_json_write_string(),
 * and compares accept/reject (and top-level scalar values) with jansson's
 * json_loadb(flags 0). An unexplained disagreement aborts so the fuzzer
 * reports it; the intended differences are those listed in
 * tests/unit/test_json_diff.c (\u0000, numbers outside int64/double, a
 * top-level array, the BOM, nesting past 128, jansson dropping a raw NUL after
 * a number or literal).
 */
#include "format/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *why, const char *detail)
{
    fprintf(stderr, "fuzz_ndjson: %s: %s\n", why, detail ? detail : "");
    abort();
}

/* Walks a container span: every element, and each member again by path. */
static void walk(const char *p, size_t n, int depth)
{
    char *scratch = malloc(n + 1);
    char *scratch2 = malloc(n + 1);
    struct format_json_iter it;
    struct format_json_member m;
    struct lerr err;
    lerr_init(&err);
    if (format_json_iter_init_span(&it, p, n, scratch, n, &err) < 0)
        die("nested span does not open", err.msg);
    int r;
    while ((r = format_json_iter_next(&it, &m, &err)) == 1) {
        struct format_json_path_step step = {m.key, m.key_len, m.index};
        struct format_json_value v;
        struct lerr e2;
        lerr_init(&e2);
        if (format_json_find_path(p, n, &step, 1, &v, scratch2, n, &e2) != 1)
            die("format_json_find_path misses a member", e2.msg);
        if (m.v.kind == FORMAT_JSON_KIND_OBJECT || m.v.kind == FORMAT_JSON_KIND_ARRAY)
            walk(m.v.raw, m.v.raw_len, depth + 1);
    }
    if (r < 0)
        die("nested span fails after the record passed", err.msg);
    free(scratch);
    free(scratch2);
}

/* A decoded string written back as JSON must parse to the same bytes. */
static void round_trip(const char *s, size_t n)
{
    struct buf b;
    buf_init(&b, 0);
    format_json_write_string(&b, s, n);
    char *sc = malloc(b.len + 1);
    struct format_json_value v;
    struct lerr err;
    lerr_init(&err);
    if (format_json_parse_value(b.data, b.len, &v, sc, b.len, &err) < 0)
        die("written string does not parse", err.msg);
    if (v.kind != FORMAT_JSON_KIND_STRING || v.str_len != n || memcmp(v.str, s, n) != 0)
        die("written string reads back differently", b.data);
    free(sc);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *in = (const char *)data;
    char *scratch = malloc(size + 1);
    struct format_json_iter it;
    struct format_json_member m[64];
    size_t count = 0;
    struct lerr err;
    lerr_init(&err);
    int r = format_json_iter_init(&it, in, size, scratch, size, &err);
    struct format_json_member tmp;
    while (r == 0 && (r = format_json_iter_next(&it, count < 64 ? &m[count] : &tmp, &err)) == 1) {
        struct format_json_member *cur = count < 64 ? &m[count] : &tmp;
        if (cur->v.kind == FORMAT_JSON_KIND_OBJECT || cur->v.kind == FORMAT_JSON_KIND_ARRAY)
            walk(cur->v.raw, cur->v.raw_len, 2);
        if (cur->v.kind == FORMAT_JSON_KIND_STRING)
            round_trip(cur->v.str, cur->v.str_len);
        count++;
        r = 0;
    }
    bool ours = r == 0;
    if (!ours && (err.code != LERR_INVALID || err.pos < 0 || (size_t)err.pos > size))
        die("error without a position", err.msg);

    const char *jp = in;
    size_t jn = size;
    if (size >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0) {
        jp += 3;
        jn -= 3;
    }
    json_error_t je;
    json_t *j = json_loadb(jp, jn, 0, &je);
    if (j && !json_is_object(j)) {
        if (ours)
            die("we accepted what jansson reads as a non-object", NULL);
    } else if (ours && !j) {
        int code = json_error_code(&je);
        if (code != json_error_null_character && code != json_error_null_byte_in_key &&
            code != json_error_numeric_overflow)
            die("we accept, jansson rejects", je.text);
    } else if (!ours && j) {
        bool depth = strstr(err.msg, "nesting deeper than") != NULL;
        bool raw_nul = err.pos > 0 && (size_t)err.pos < size && in[err.pos] == '\0' &&
                       ((in[err.pos - 1] >= '0' && in[err.pos - 1] <= '9') ||
                        (in[err.pos - 1] >= 'a' && in[err.pos - 1] <= 'z'));
        if (!depth && !raw_nul)
            die("we reject, jansson accepts", err.msg);
    } else if (ours && j) {
        /* compare top-level scalars whose key is not repeated later */
        for (size_t i = 0; i < count && i < 64; i++) {
            bool later = false;
            for (size_t k = i + 1; k < count && k < 64 && !later; k++)
                later = m[k].key_len == m[i].key_len &&
                        memcmp(m[k].key, m[i].key, m[i].key_len) == 0;
            if (later || count > 64)
                continue;
            json_t *jv = json_object_getn(j, m[i].key, m[i].key_len);
            if (!jv)
                die("key missing in jansson", NULL);
            const struct format_json_value *v = &m[i].v;
            bool same = true;
            switch (v->kind) {
            case FORMAT_JSON_KIND_NULL: same = json_is_null(jv); break;
            case FORMAT_JSON_KIND_TRUE: same = json_is_true(jv); break;
            case FORMAT_JSON_KIND_FALSE: same = json_is_false(jv); break;
            case FORMAT_JSON_KIND_STRING:
                same = json_is_string(jv) && json_string_length(jv) == v->str_len &&
                       memcmp(json_string_value(jv), v->str, v->str_len) == 0;
                break;
            case FORMAT_JSON_KIND_NUMBER:
                if (v->num_flags & FORMAT_JSON_NUM_INT) {
                    same = json_is_integer(jv) && json_integer_value(jv) == v->i;
                } else {
                    double d = json_is_real(jv) ? json_real_value(jv) : 0;
                    same = json_is_real(jv) && memcmp(&d, &v->d, sizeof d) == 0;
                }
                break;
            case FORMAT_JSON_KIND_OBJECT: same = json_is_object(jv); break;
            case FORMAT_JSON_KIND_ARRAY: same = json_is_array(jv); break;
            }
            if (!same)
                die("member value differs from jansson", NULL);
        }
    }
    json_decref(j);
    free(scratch);
    return 0;
}
