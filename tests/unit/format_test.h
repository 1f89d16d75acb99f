/*
 * format_test.h — helpers shared by the format module's unit tests
 * (test_format.c, test_format_csv.c): building parsers from JSON settings and
 * a compact schema spec, parsing one record, and printing values as short
 * strings ("L:12", "D:1.5", "S:abc", "J:{...}", "A:[S:a,S:b]", "NULL") so
 * that table rows can state expectations as text.
 */
#ifndef LODESTAR_TESTS_FORMAT_TEST_H
#define LODESTAR_TESTS_FORMAT_TEST_H

#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "format/format.h"

/* "a:string,b:long" → fields (names point into a static copy of spec). */
static size_t tf_schema(const char *spec, struct sql_field *out, size_t cap)
{
    static char copies[16][512];
    static int next;
    char *s = copies[next++ % 16];
    snprintf(s, 512, "%s", spec);
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < cap; tok = strtok(NULL, ",")) {
        char *colon = strrchr(tok, ':');
        *colon = '\0';
        const char *t = colon + 1;
        out[n].name = tok;
        out[n].name_len = strlen(tok);
        out[n].type = strcmp(t, "string") == 0   ? SQL_STRING
                      : strcmp(t, "long") == 0   ? SQL_LONG
                      : strcmp(t, "double") == 0 ? SQL_DOUBLE
                      : strcmp(t, "float") == 0  ? SQL_FLOAT
                                                 : SQL_JSON;
        n++;
    }
    return n;
}

/* A parser from formatSettings JSON and a schema spec; NULL (with the error
 * printed and counted) when it cannot be built. */
static struct format_parser *tf_parser_ex(const char *settings, const char *spec, bool discovery,
                                          const char *const *excl, size_t nexcl,
                                          struct lerr *err_out)
{
    struct arena a;
    arena_init(&a, 4096, 0);
    struct format_settings fs;
    struct lerr err;
    lerr_init(&err);
    struct sql_field fields[64];
    struct sql_schema sch = {fields, spec ? tf_schema(spec, fields, 64) : 0};
    struct format_parser *p = NULL;
    json_t *doc = json_loads(settings, 0, NULL);
    if (!doc)
        lerr_set(&err, LERR_INVALID, "test settings are not JSON: %s", settings);
    else if (format_settings_from_json(doc, &a, &fs, &err) == 0)
        p = format_parser_new(&fs, &sch, discovery, excl, nexcl, &err);
    json_decref(doc);
    arena_destroy(&a);
    if (err_out)
        *err_out = err;
    return p;
}

static struct format_parser *tf_parser(const char *settings, const char *spec, bool discovery)
{
    struct lerr err;
    struct format_parser *p = tf_parser_ex(settings, spec, discovery, NULL, 0, &err);
    CHECK_MSG(p != NULL, "parser for %s: %s", settings, err.msg);
    return p;
}

/* Appends a value's short form to out. */
static void tf_val(const struct sql_value *v, char *out, size_t cap)
{
    size_t l = strlen(out);
    if (v->is_null) {
        snprintf(out + l, cap - l, "NULL");
        return;
    }
    switch (v->type) {
    case SQL_LONG: snprintf(out + l, cap - l, "L:%" PRId64, v->v.l); break;
    case SQL_DOUBLE:
    case SQL_FLOAT: snprintf(out + l, cap - l, "D:%.17g", v->v.d); break;
    case SQL_STRING:
    case SQL_JSON:
        snprintf(out + l, cap - l, "%s:%.*s", v->type == SQL_STRING ? "S" : "J", (int)v->v.s.n,
                 v->v.s.p);
        break;
    case SQL_ARRAY:
        snprintf(out + l, cap - l, "A:[");
        for (uint32_t i = 0; i < v->v.a.n; i++) {
            if (i)
                strncat(out, ",", cap - strlen(out) - 1);
            tf_val(&v->v.a.items[i], out, cap);
        }
        strncat(out, "]", cap - strlen(out) - 1);
        break;
    default: snprintf(out + l, cap - l, "?%d", v->type);
    }
}

static const char *tf_str(const struct sql_value *v)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    b[0] = '\0';
    tf_val(v, b, 1024);
    return b;
}

/* The value of a field by name in a row (fixed or extra); NULL if absent. */
static const struct sql_value *tf_get(const struct format_parser *p, const struct format_row *row,
                                      const char *name)
{
    const struct format_field *f;
    size_t n = format_discovered_fields(p, &f, NULL);
    for (size_t i = 0; i < n; i++) {
        if (f[i].name_len != strlen(name) || memcmp(f[i].name, name, f[i].name_len) != 0)
            continue;
        if (i < row->nvalues)
            return &row->values[i];
        for (uint32_t k = 0; k < row->nextra; k++)
            if (row->extra_index[k] == i)
                return &row->extra[k];
        return NULL;
    }
    return NULL;
}

static const char *tf_field(const struct format_parser *p, const struct format_row *row,
                            const char *name)
{
    const struct sql_value *v = tf_get(p, row, name);
    return v ? tf_str(v) : "ABSENT";
}

static const char *tf_type_name(int t)
{
    switch (t) {
    case SQL_STRING: return "string";
    case SQL_LONG: return "long";
    case SQL_DOUBLE: return "double";
    case SQL_FLOAT: return "float";
    case SQL_JSON: return "json";
    case SQL_ARRAY: return "array";
    default: return "null";
    }
}

/* The discovered type of a field as "long", "array<string>", ...; "none". */
static const char *tf_type(const struct format_parser *p, const char *name)
{
    static char out[4][32];
    static int next;
    char *b = out[next++ % 4];
    const struct format_field *f;
    size_t n = format_discovered_fields(p, &f, NULL);
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0) {
            if (f[i].type == SQL_ARRAY)
                snprintf(b, 32, "array<%s>",
                         f[i].elem_type == SQL_NULL ? "?" : tf_type_name(f[i].elem_type));
            else
                snprintf(b, 32, "%s", tf_type_name(f[i].type));
            return b;
        }
    return "none";
}

/* Parses one record (value bytes only). */
static enum format_outcome tf_parse_rec(struct format_parser *p, struct arena *mem,
                                        const struct record *rec, struct format_row *row,
                                        struct lerr *err)
{
    lerr_init(err);
    return format_parse(p, rec, mem, row, err);
}

static enum format_outcome tf_parse(struct format_parser *p, struct arena *mem, const char *text,
                                    size_t n, struct format_row *row, struct lerr *err)
{
    struct record rec = {.data = text, .len = n};
    return tf_parse_rec(p, mem, &rec, row, err);
}

#endif
