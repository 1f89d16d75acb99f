/*
 * record.c — the plan, the parser object and the record → input row path: nd-json
 * values (with discovery and flattenSpec paths), protobuf records (their
 * framing here, the message decoded straight into the row by protobuf.c),
 * the kafka wrapper
 * (timestamp, key, topic, headers around the value format; the kinesis
 * wrapper is the same with the partition key and arrival time) and the schema
 * the SQL compiler binds against. The CSV family lives in csv.c, the Avro
 * formats in avro.c, value conversions in coerce.c, the field table and
 * discovery in discover.c, the member lookup and flattenSpec paths both
 * nd-json and Avro use in member.c.
 *
 * Entry points: format_plan_new(), format_plan_free(), format_plan_nfixed(),
 * format_parser_open(), format_parser_plan(), format_parser_new(), format_parser_free(),
 * format_parser_set_max_discovered(), format_parser_schema(),
 * format_parser_nfixed(), format_parser_reads_headers(), format_parse().
 *
 * Hot path (nd-json): one pass of the json.h scanner over the record; each
 * member's key is first compared with the key seen at the same position in
 * the previous record (streams repeat their key order), and only on a miss
 * hashed into the name table. Values are converted in place into the row's
 * slots; nothing is allocated per value except bytes that must outlive the
 * scanner's scratch (strings with escapes), which go into the batch arena.
 */
#include "format/format_int.h"
#include "format/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- construction ---------------------------------------------------------- */

static bool input_type_ok(const struct sql_field *in)
{
    uint8_t t = in->type;
    int el = sql_field_elem(in);
    return t == SQL_STRING || t == SQL_LONG || t == SQL_FLOAT || t == SQL_DOUBLE ||
           t == SQL_JSON ||
           (t == SQL_ARRAY && (el == SQL_STRING || el == SQL_LONG || el == SQL_DOUBLE));
}

/* Binds a kafka metadata name: the declared field of that name, or a new one. */
static int bind_meta(struct format_plan *p, const char *name, const char *setting, uint8_t meta,
                     uint8_t type, uint32_t *out, struct lerr *err)
{
    size_t n = strlen(name);
    if (n == 0)
        return lerr_set_at(err, LERR_INVALID, setting,
                           "formatSettings.%s must not be empty; leave it out for the default",
                           setting);
    uint32_t ref = format__lookup(&p->fixed, name, n);
    if (ref < p->fixed.nfields && p->fixed.fields[ref].meta != META_NONE)
        return lerr_set_at(err, LERR_INVALID, setting,
                           "formatSettings.%s '%s' names the same field as another kafka "
                           "metadata column; give each its own name",
                           setting, name);
    if (ref == REF_NONE) {
        ref = format__add_field(&p->fixed, name, n, type, FORMAT_ORIGIN_METADATA, err);
        if (ref == UINT32_MAX)
            return err->code;
    }
    p->fixed.fields[ref].meta = meta;
    *out = ref;
    return 0;
}

/* Compiles "$.a.b", "$.a[0]", "$['a b']" into steps. */
static int compile_path(struct format_plan *p, const char *expr, struct format__flat *out,
                        const char *target, struct lerr *err)
{
    size_t n = strlen(expr), cap = n + 1, i = 1;
    if (n == 0 || expr[0] != '$')
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: path '%s' must start with '$', e.g. \"$.user.name\"", target,
                           expr);
    out->steps = arena_zalloc(&p->mem, cap * sizeof *out->steps);
    if (!out->steps)
        return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
    out->nsteps = 0;
    while (i < n) {
        struct format_json_path_step *st = &out->steps[out->nsteps];
        if (expr[i] == '.') {
            size_t s = ++i;
            while (i < n && expr[i] != '.' && expr[i] != '[')
                i++;
            if (i == s)
                goto bad;
            st->key = arena_strndup(&p->mem, expr + s, i - s);
            st->key_len = i - s;
        } else if (expr[i] == '[' && i + 1 < n && expr[i + 1] == '\'') {
            size_t s = i + 2;
            const char *q = memchr(expr + s, '\'', n - s);
            if (!q || (size_t)(q - expr) + 1 >= n || q[1] != ']')
                goto bad;
            st->key = arena_strndup(&p->mem, expr + s, (size_t)(q - expr) - s);
            st->key_len = (size_t)(q - expr) - s;
            i = (size_t)(q - expr) + 2;
        } else if (expr[i] == '[') {
            size_t idx = 0, s = ++i;
            while (i < n && expr[i] >= '0' && expr[i] <= '9' && idx < 100000000)
                idx = idx * 10 + (size_t)(expr[i++] - '0');
            if (i == s || i >= n || expr[i] != ']')
                goto bad;
            i++;
            st->key = NULL;
            st->key_len = 0;
            st->index = idx;
        } else {
            goto bad;
        }
        if (st->key_len && !st->key)
            return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
        out->nsteps++;
    }
    return 0;
bad:
    return lerr_set_at(err, LERR_INVALID, target,
                       "%s: cannot read path '%s' at character %zu; use $.name, $['name'] and "
                       "[index] steps",
                       target, expr, i);
}

static int bad_jq(const char *expr, size_t i, const char *target, struct lerr *err)
{
    return lerr_set_at(err, LERR_INVALID, target,
                       "%s: cannot read jq expression '%s' at character %zu; use .name, "
                       ".\"name\", [\"name\"] and [index] steps",
                       target, expr, i);
}

/* A quoted jq name at expr[*i] == '"' (escapes \" and \\) into st->key; *i
 * past the closing quote. 0, 1 when unterminated, -1 out of memory. */
static int jq_string(struct format_plan *p, const char *expr, size_t n, size_t *i,
                     struct format_json_path_step *st, struct lerr *err)
{
    char *key = arena_alloc(&p->mem, n + 1);
    if (!key) {
        lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
        return -1;
    }
    size_t len = 0, k = *i + 1;
    while (k < n && expr[k] != '"') {
        if (expr[k] == '\\' && k + 1 < n)
            k++;
        key[len++] = expr[k++];
    }
    *i = k;
    if (k >= n)
        return 1;
    *i = k + 1;
    st->key = key;
    st->key_len = len;
    return 0;
}

/* Compiles jq's ".a.b", ".a[0]", ".a[\"b c\"]", ."b c" and .["b"] into steps (the
 * subset of jq that Druid's flattenSpec users write). */
static int compile_jq(struct format_plan *p, const char *expr, struct format__flat *out,
                      const char *target, struct lerr *err)
{
    size_t n = strlen(expr), i = 0;
    if (n == 0 || expr[0] != '.')
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: jq expression '%s' must start with '.', e.g. \".user.name\"",
                           target, expr);
    out->steps = arena_zalloc(&p->mem, (n + 1) * sizeof *out->steps);
    if (!out->steps)
        return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
    out->nsteps = 0;
    if (n == 1)
        return 0; /* "." is the whole record */
    while (i < n) {
        struct format_json_path_step *st = &out->steps[out->nsteps];
        bool dot = expr[i] == '.';
        if (dot)
            i++;
        if (i < n && expr[i] == '"') {
            /* ."name" */
            int r = jq_string(p, expr, n, &i, st, err);
            if (r)
                return r < 0 ? err->code : bad_jq(expr, i, target, err);
        } else if (dot && i < n && expr[i] != '[') {
            size_t s = i;
            while (i < n && expr[i] != '.' && expr[i] != '[')
                i++;
            st->key = arena_strndup(&p->mem, expr + s, i - s);
            st->key_len = i - s;
            if (!st->key)
                return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
        } else if (i < n && expr[i] == '[') {
            i++;
            if (i < n && expr[i] == '"') {
                /* ["name"] */
                int r = jq_string(p, expr, n, &i, st, err);
                if (r || i >= n || expr[i] != ']')
                    return r < 0 ? err->code : bad_jq(expr, i, target, err);
                i++;
            } else {
                size_t idx = 0, s = i;
                while (i < n && expr[i] >= '0' && expr[i] <= '9' && idx < 100000000)
                    idx = idx * 10 + (size_t)(expr[i++] - '0');
                if (i == s || i >= n || expr[i] != ']')
                    return bad_jq(expr, i, target, err);
                i++;
                st->key = NULL;
                st->key_len = 0;
                st->index = idx;
            }
        } else {
            return bad_jq(expr, i, target, err);
        }
        out->nsteps++;
    }
    return 0;
}

/* A tree field: one member step per node. */
static int compile_tree(struct format_plan *p, const struct format_flatten_field *ff,
                        struct format__flat *out, struct lerr *err)
{
    out->steps = arena_zalloc(&p->mem, (ff->nnodes + 1) * sizeof *out->steps);
    if (!out->steps)
        return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
    for (size_t k = 0; k < ff->nnodes; k++) {
        out->steps[k].key = arena_strdup(&p->mem, ff->nodes[k]);
        out->steps[k].key_len = strlen(ff->nodes[k]);
        if (!out->steps[k].key)
            return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
    }
    out->nsteps = ff->nnodes;
    return 0;
}

/*
 * A path, jq or tree field feeds the field of its name: a declared one, or
 * with discovery one discovered by that name; its value is what the path
 * finds, NULL when it finds nothing (never a root member of the same name).
 * Root fields read the member of that name, which happens anyway unless
 * useFieldDiscovery is false: then only the flattenSpec's fields are read.
 */
static int compile_flatten(struct format_plan *p, const struct format_settings *fs,
                           struct lerr *err)
{
    p->root_filter = fs->no_field_discovery;
    if (p->root_filter || fs->nflatten) {
        p->member_ok = arena_alloc(&p->mem, (p->ndeclared + 1) * sizeof *p->member_ok);
        p->names = arena_zalloc(&p->mem, (fs->nflatten + 1) * sizeof *p->names);
        p->flat = arena_zalloc(&p->mem, (fs->nflatten + 1) * sizeof *p->flat);
        if (!p->member_ok || !p->names || !p->flat)
            return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
        for (uint32_t i = 0; i < p->ndeclared; i++)
            p->member_ok[i] = !p->root_filter;
        p->member_filter = true;
    }
    for (size_t i = 0; i < fs->nflatten; i++) {
        const struct format_flatten_field *ff = &fs->flatten[i];
        char target[64];
        snprintf(target, sizeof target, "flattenSpec.fields[%zu]", i);
        if (!ff->name || !ff->name[0])
            return lerr_set_at(err, LERR_INVALID, target, "%s needs a name", target);
        size_t nl = strlen(ff->name);
        uint32_t ref = format__lookup(&p->fixed, ff->name, nl);
        bool root = ff->type == FORMAT_FLATTEN_ROOT;
        if (ref < p->ndeclared) {
            p->member_ok[ref] = root;
        } else if (root == p->root_filter) {
            /* an undeclared root field discovery may add, or a path field's
             * name discovery must not take from the root */
            if (!(p->names[p->nnames++] = arena_strdup(&p->mem, ff->name)))
                return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
        }
        if (root)
            continue;
        if (ref >= p->ndeclared && (!p->discovery || ref != REF_NONE))
            continue; /* not declared, and not to be discovered (off, or excluded) */
        struct format__flat *fl = &p->flat[p->nflat];
        int r = ff->type == FORMAT_FLATTEN_PATH
                    ? compile_path(p, ff->expr ? ff->expr : "", fl, target, err)
                : ff->type == FORMAT_FLATTEN_JQ
                    ? compile_jq(p, ff->expr ? ff->expr : "", fl, target, err)
                    : compile_tree(p, ff, fl, err);
        if (r)
            return err->code;
        fl->field = ref;
        fl->name = arena_strdup(&p->mem, ff->name);
        fl->name_len = nl;
        if (!fl->name)
            return lerr_set(err, LERR_NOMEM, "out of memory compiling flattenSpec");
        p->nflat++;
    }
    return 0;
}

static int setup_kafka(struct format_plan *p, const struct format_settings *fs, struct lerr *err)
{
    if (fs->kinesis) /* the partition key and the arrival time; no topic or headers */
        return bind_meta(p, fs->timestamp_column ? fs->timestamp_column : "kinesis.timestamp",
                         "timestampColumnName", META_TIMESTAMP, SQL_LONG, &p->meta_ts, err) ||
                       bind_meta(p, fs->key_column ? fs->key_column : "kinesis.partitionKey",
                                 "partitionKeyColumnName", META_KEY, SQL_STRING, &p->meta_key, err)
                   ? err->code
                   : 0;
    if (bind_meta(p, fs->timestamp_column ? fs->timestamp_column : "kafka.timestamp",
                  "timestampColumnName", META_TIMESTAMP, SQL_LONG, &p->meta_ts, err) ||
        bind_meta(p, fs->key_column ? fs->key_column : "kafka.key", "keyColumnName", META_KEY,
                  SQL_STRING, &p->meta_key, err) ||
        bind_meta(p, fs->topic_column ? fs->topic_column : "kafka.topic", "topicColumnName",
                  META_TOPIC, SQL_STRING, &p->meta_topic, err))
        return err->code;
    const char *prefix = fs->header_prefix ? fs->header_prefix : "kafka.header.";
    size_t plen = strlen(prefix);
    p->header_prefix = arena_strdup(&p->mem, prefix);
    p->header_prefix_len = (uint32_t)plen;
    p->header_fields = arena_alloc(&p->mem, (p->ndeclared + 1) * sizeof *p->header_fields);
    if (!p->header_prefix || !p->header_fields)
        return lerr_set(err, LERR_NOMEM, "out of memory compiling formatSettings");
    for (uint32_t i = 0; i < p->ndeclared; i++) {
        struct format_field *f = &p->fixed.fields[i];
        if (f->meta == META_NONE && f->name_len > plen && memcmp(f->name, prefix, plen) == 0) {
            f->meta = META_HEADER;
            p->header_fields[p->nheader_fields++] = i;
        }
    }
    p->key_kind = -1;
    if (fs->key_format) {
        const struct format_settings *k = fs->key_format;
        if (k->kind == FORMAT_KAFKA || k->kind == FORMAT_PROTOBUF)
            return lerr_set_at(err, LERR_INVALID, "keyFormat",
                               "formatSettings.keyFormat cannot be \"%s\"; use \"nd-json\", "
                               "\"csv\", \"tsv\" or \"delimited\"",
                               k->kind == FORMAT_KAFKA ? "kafka" : "protobuf");
        p->key_kind = (int)k->kind;
        const char *d = k->kind == FORMAT_TSV ? "\t" : k->kind == FORMAT_CSV ? "," : k->delimiter;
        if (format__is_csv(k->kind)) {
            size_t dl = d ? strlen(d) : 0;
            if (dl == 0 || dl >= sizeof p->key_delim)
                return lerr_set_at(err, LERR_INVALID, "keyFormat.delimiter",
                                   "formatSettings.keyFormat.delimiter must be 1 to %zu bytes, "
                                   "e.g. \"|\"",
                                   sizeof p->key_delim - 1);
            memcpy(p->key_delim, d, dl);
            p->key_delim_len = (uint8_t)dl;
        }
    }
    return 0;
}

/* Decodes standard or URL-safe base64 (padding optional, whitespace and
 * line breaks ignored, as `base64` wraps its output). -1 at the first bad
 * character, with its offset in *bad. */
static long long unbase64(const char *s, unsigned char *out, size_t *bad)
{
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t n = 0;
    for (size_t i = 0; s[i]; i++) {
        char ch = s[i];
        int v;
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad)
            v = -1; /* data after padding */
        else if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '+' || ch == '-')
            v = 62;
        else if (ch == '/' || ch == '_')
            v = 63;
        else
            v = -1;
        if (v < 0) {
            *bad = i;
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6 || pad > 2) { /* a lone sixth of a byte, or "===" */
        *bad = strlen(s);
        return -1;
    }
    return (long long)n;
}

/* protobuf: the descriptor set (base64) and the message type read. */
static int compile_protobuf(struct format_plan *p, const struct format_settings *vs,
                            struct lerr *err)
{
    const char *b64 = vs->pb_descriptor ? vs->pb_descriptor : "";
    const char *where = "parseSchemaProvider.descriptor";
    unsigned char *bytes = malloc(strlen(b64) / 4 * 3 + 4);
    if (!bytes)
        return lerr_set(err, LERR_NOMEM, "out of memory reading the descriptor");
    size_t bad = 0;
    long long n = unbase64(b64, bytes, &bad);
    if (n < 0) {
        free(bytes);
        return lerr_set_at(err, LERR_INVALID, where,
                           "formatSettings.%s is not valid base64 (at character %zu); give the "
                           "file protoc --descriptor_set_out writes, e.g. base64 -w0 set.pb",
                           where, bad);
    }
    if (n == 0) {
        free(bytes);
        return lerr_set_at(err, LERR_INVALID, where,
                           "formatSettings.%s is empty; give a base64 FileDescriptorSet", where);
    }
    struct lerr e;
    lerr_init(&e);
    p->pb = format_pb_schema_new(bytes, (size_t)n, &e);
    free(bytes);
    if (!p->pb)
        return lerr_set_at(err, e.code, where, "formatSettings.%s: %s", where, e.msg);
    const char *type = vs->pb_message_type ? vs->pb_message_type : "";
    if (!(p->pb_msg = format_pb_find(p->pb, type, &e)))
        return lerr_set_at(err, e.code, "parseSchemaProvider.messageType",
                           "formatSettings.parseSchemaProvider.messageType: %s", e.msg);
    return 0;
}

struct format_plan *format_plan_new(const struct format_settings *fs,
                                    const struct sql_schema *input, bool discovery,
                                    const char *const *exclusions, size_t nexclusions,
                                    struct lerr *err)
{
    const struct format_settings *vs = fs;
    if (fs->kind == FORMAT_KAFKA) {
        vs = fs->value_format;
        if (!vs || vs->kind == FORMAT_KAFKA) {
            lerr_set_at(err, LERR_INVALID, "valueFormat",
                        "formatSettings.valueFormat is %s; give the format of the message "
                        "values, e.g. {\"format\": \"nd-json\"}",
                        vs ? "\"kafka\", which cannot nest" : "missing");
            return NULL;
        }
    }
    if ((int)vs->kind < FORMAT_NDJSON || vs->kind == FORMAT_KAFKA || vs->kind > FORMAT_PROTOBUF ||
        (fs->kind == FORMAT_KAFKA && vs->kind == FORMAT_AVRO_OCF)) {
        lerr_set_at(err, LERR_INVALID, "format",
                    "formatSettings.format is not a supported format%s; use \"nd-json\", "
                    "\"csv\", \"tsv\", \"delimited\", \"avro_stream\", \"avro_ocf\" (files), "
                    "\"protobuf\" or \"kafka\"",
                    vs->kind == FORMAT_AVRO_OCF ? " for Kafka values (avro_ocf is for files)"
                                                : "");
        return NULL;
    }
    struct format_plan *p = calloc(1, sizeof *p);
    if (!p) {
        lerr_set(err, LERR_NOMEM, "out of memory creating a parser");
        return NULL;
    }
    arena_init(&p->mem, 16 * 1024, 0);
    format__schema_init(&p->fixed);
    p->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    p->kind = fs->kind;
    p->vkind = vs->kind;
    p->discovery = discovery;
    p->meta_ts = p->meta_key = p->meta_topic = REF_NONE;
    p->key_kind = -1;

    for (size_t i = 0; input && i < input->n; i++) {
        const struct sql_field *in = &input->fields[i];
        char target[64];
        snprintf(target, sizeof target, "inputSchema[%zu]", i);
        if (in->name_len == 0 || in->name_len > 1024) {
            lerr_set_at(err, LERR_INVALID, target, "%s: a name of 1 to 1024 bytes is needed",
                        target);
            goto fail;
        }
        if (!input_type_ok(in)) {
            lerr_set_at(err, LERR_INVALID, target,
                        "%s: dataType of '%.*s' must be string, long, float, double, json, "
                        "ARRAY<STRING>, ARRAY<LONG> or ARRAY<DOUBLE>",
                        target, (int)in->name_len, in->name);
            goto fail;
        }
        if (format__lookup(&p->fixed, in->name, in->name_len) != REF_NONE) {
            lerr_set_at(err, LERR_INVALID, target, "%s: input field '%.*s' is declared twice",
                        target, (int)in->name_len, in->name);
            goto fail;
        }
        uint32_t at = format__add_field(&p->fixed, in->name, in->name_len, in->type,
                                        FORMAT_ORIGIN_DECLARED, err);
        if (at == UINT32_MAX)
            goto fail;
        if (in->type == SQL_ARRAY) /* a declared ARRAY<...>: arrays of that element type */
            p->fixed.fields[at].elem_type = (uint8_t)sql_field_elem(in);
    }
    p->ndeclared = p->fixed.nfields;
    if (fs->kind == FORMAT_KAFKA && setup_kafka(p, fs, err))
        goto fail;
    p->nfixed = p->fixed.nfields;
    p->null_row = arena_alloc(&p->mem, (p->nfixed + 1) * sizeof *p->null_row);
    if (!p->null_row) {
        lerr_set(err, LERR_NOMEM, "out of memory creating a parser");
        goto fail;
    }
    for (uint32_t i = 0; i < p->nfixed; i++)
        p->null_row[i] = sql_null(p->fixed.fields[i].type);

    for (size_t i = 0; i < nexclusions; i++) {
        size_t n = strlen(exclusions[i]);
        if (format__lookup(&p->fixed, exclusions[i], n) != REF_NONE)
            continue; /* declared fields are read whatever the exclusions say */
        const char *copy = arena_strndup(&p->mem, exclusions[i], n);
        if (!copy || !format__insert(&p->fixed, copy, n, REF_EXCLUDED)) {
            lerr_set(err, LERR_NOMEM, "out of memory creating a parser");
            goto fail;
        }
    }
    if (vs->kind == FORMAT_PROTOBUF && vs->schema_connection)
        p->pb_registry = true; /* schemas come with the records (protobuf_row) */
    else if (vs->kind == FORMAT_PROTOBUF && compile_protobuf(p, vs, err))
        goto fail;
    if (vs->kind == FORMAT_NDJSON || vs->kind == FORMAT_PROTOBUF || format__is_avro(vs->kind)) {
        if (compile_flatten(p, vs, err) ||
            (format__is_avro(vs->kind) && format__avro_init(p, vs, err)))
            goto fail;
    } else if (format__csv_init(p, vs, err)) {
        goto fail;
    }
    return p;
fail:
    format_plan_free(p);
    return NULL;
}

void format_plan_free(struct format_plan *p)
{
    if (!p)
        return;
    format__csv_free(p);
    format__avro_free(p);
    format_pb_schema_free(p->pb);
    format__schema_free(&p->fixed);
    if (p->c_locale)
        freelocale(p->c_locale);
    arena_destroy(&p->mem);
    free(p);
}

size_t format_plan_nfixed(const struct format_plan *p) { return p->nfixed; }

struct format_parser *format_parser_open(const struct format_plan *plan, struct lerr *err)
{
    struct format_parser *p = calloc(1, sizeof *p);
    if (!p) {
        lerr_set(err, LERR_NOMEM, "out of memory creating a parser");
        return NULL;
    }
    p->plan = plan;
    format__schema_init(&p->schema);
    buf_init(&p->run.tmp, 6 * (size_t)FORMAT_MAX_RECORD + 16);
    p->run.serial = 1;
    if (!format__schema_copy(&p->schema, &plan->fixed) ||
        !format__csv_state_init(&p->run.csv, &plan->csv)) {
        lerr_set(err, LERR_NOMEM, "out of memory creating a parser");
        format_parser_free(p);
        return NULL;
    }
    return p;
}

struct format_parser *format_parser_new(const struct format_settings *fs,
                                        const struct sql_schema *input, bool discovery,
                                        const char *const *exclusions, size_t nexclusions,
                                        struct lerr *err)
{
    struct format_plan *plan = format_plan_new(fs, input, discovery, exclusions, nexclusions, err);
    if (!plan)
        return NULL;
    struct format_parser *p = format_parser_open(plan, err);
    if (!p) {
        format_plan_free(plan);
        return NULL;
    }
    p->owned_plan = plan;
    return p;
}

void format_parser_free(struct format_parser *p)
{
    if (!p)
        return;
    format__csv_state_free(&p->run.csv);
    format__avro_state_free(p);
    format__schema_free(&p->schema);
    free(p->run.disc_stamp);
    free(p->run.disc_slot);
    free(p->run.x_index);
    free(p->run.x_val);
    free(p->run.scratch);
    free(p->run.scratch2);
    format_pb_work_free(&p->run.pb);
    buf_free(&p->run.tmp);
    format_plan_free(p->owned_plan);
    free(p);
}

const struct format_plan *format_parser_plan(const struct format_parser *p) { return p->plan; }

void format_parser_set_registry(struct format_parser *p, struct format_registry *r)
{
    p->registry = r;
}

bool format_plan_uses_registry(const struct format_plan *plan)
{
    return plan->avro_registry || plan->pb_registry;
}

void format_parser_set_max_discovered(struct format_parser *p, uint32_t max)
{
    p->schema.max_discovered = max;
}

size_t format_parser_schema(const struct format_parser *p, struct sql_field *out, size_t cap)
{
    const struct format__schema *sc = &p->schema;
    for (size_t i = 0; i < sc->nfields && i < cap; i++) {
        out[i].name = sc->fields[i].name;
        out[i].name_len = sc->fields[i].name_len;
        out[i].type = sc->fields[i].type;
        /* every member set (callers hand uninitialised arrays): an ARRAY
         * field's element type in the flags' upper bits, nothing else */
        out[i].qual = NULL;
        out[i].flags = sc->fields[i].type == SQL_ARRAY ? SQL_FIELD_ELEM(sc->fields[i].elem_type)
                                                       : 0;
    }
    return sc->nfields;
}

size_t format_parser_nfixed(const struct format_parser *p) { return p->plan->nfixed; }

bool format_parser_reads_headers(const struct format_parser *p)
{
    /* Headers feed declared header fields, or discovered ones. */
    return p->plan->kind == FORMAT_KAFKA && (p->plan->nheader_fields > 0 || p->plan->discovery);
}

/* ---- nd-json --------------------------------------------------------------- */

static int ndjson_row(struct format__ctx *c, const char *s, size_t n)
{
    struct format_parser *p = c->p;
    struct format_json_iter it;
    struct format_json_member m;
    if (format_json_iter_init(&it, s, n, p->run.scratch, p->run.scratch_cap, c->err) < 0)
        return -1;
    int r;
    while ((r = format_json_iter_next(&it, &m, c->err)) > 0) {
        uint32_t ref = format__member_ref(p, &m);
        if (ref < p->plan->nfixed) {
            if (p->plan->member_filter && ref < p->plan->ndeclared && !p->plan->member_ok[ref])
                continue;
            format__put_json(c, ref, &m.v, &c->vals[ref]);
            continue;
        }
        if (!p->plan->discovery || ref == REF_EXCLUDED)
            continue;
        if (p->plan->member_filter && !format__discoverable(p->plan, m.key, m.key_len))
            continue;
        if (format__discover_json(c, m.key, m.key_len, ref, &m.v, m.index) < 0)
            return -1;
    }
    if (r < 0)
        return -1;
    if (format__flatten(c, s, n) < 0)
        return -1;
    return 0;
}

/* ---- protobuf ----------------------------------------------------------------- */

/* One message straight into the row (protobuf.c): after Confluent's framing
 * when the schema comes from a registry. */
static int protobuf_row(struct format__ctx *c, const char *s, size_t n)
{
    struct format_parser *p = c->p;
    const struct format_pb_msg *msg = p->plan->pb_msg;
    size_t header = 0;
    if (p->plan->pb_registry) {
        /* Confluent's framing: each record is read by the schema it names
         * (compiled once per id by the registry client), and the message
         * its index list picks. */
        struct format_pb_frame fr;
        const struct format_pb_schema *sc;
        if (format_pb_confluent_frame(s, n, &fr, c->err))
            return -1;
        if (!p->registry) {
            lerr_set(c->err, LERR_INVALID,
                     "the job reads Protobuf through a schema registry connection but has no "
                     "client for it");
            return -1;
        }
        if (format_registry_protobuf(p->registry, fr.schema_id, &sc, c->err))
            return -1;
        struct lerr e;
        lerr_init(&e);
        if (!(msg = format_pb_by_index(sc, fr.indexes, fr.nindexes, &e))) {
            lerr_set(c->err, LERR_INVALID, "schema id %u: %s", fr.schema_id, e.msg);
            c->err->pos = 5;
            return -1;
        }
        header = fr.header_len;
    }
    if (format__pb_row(c, msg, s + header, n - header)) {
        if (c->err->pos >= 0)
            c->err->pos += (int64_t)header; /* where in the record */
        return -1;
    }
    return 0;
}

/* ---- kafka ------------------------------------------------------------------ */

static void kafka_key(struct format__ctx *c, const struct record *rec)
{
    struct format_parser *p = c->p;
    uint32_t f = p->plan->meta_key;
    if (!rec->key || !c->vals[f].is_null)
        return;
    if (p->plan->key_kind < 0) {
        format__put_text_lossy(c, f, rec->key, rec->key_len, &c->vals[f]);
        return;
    }
    if (p->plan->key_kind == FORMAT_NDJSON) {
        /* The first member of the key object (Druid keeps the first column). */
        struct lerr e;
        lerr_init(&e);
        struct format_json_iter it;
        struct format_json_member m;
        int r = format_json_iter_init(&it, rec->key, rec->key_len, p->run.scratch,
                                      p->run.scratch_cap, &e);
        if (r == 0)
            r = format_json_iter_next(&it, &m, &e);
        if (r > 0) {
            format__put_json(c, f, &m.v, &c->vals[f]);
            /* The rest must be valid too, or the key is not JSON. */
            while ((r = format_json_iter_next(&it, &m, &e)) > 0)
                ;
        }
        if (r < 0) {
            c->vals[f] = sql_null(p->schema.fields[f].type);
            format__warn(c, "the kafka key is not a JSON object (%s); %s is NULL", e.msg,
                         p->schema.fields[f].name);
        }
        return;
    }
    const char *s;
    size_t n;
    int r = format__csv_first(c, p->plan->key_delim, p->plan->key_delim_len, rec->key,
                              rec->key_len, &s, &n);
    if (r > 0)
        format__put_text(c, f, s, n, false, &c->vals[f]);
    else if (r < 0)
        format__warn(c, "the kafka key is not valid %s text; %s is NULL",
                     p->plan->key_kind == FORMAT_TSV ? "TSV" : "CSV", p->schema.fields[f].name);
}

/* Headers into declared header fields (the last header of a name wins) and,
 * with discovery, into discovered "<prefix><name>" fields. */
static void kafka_headers(struct format__ctx *c, const struct record *rec)
{
    struct format_parser *p = c->p;
    size_t plen = p->plan->header_prefix_len;
    for (uint32_t i = 0; i < p->plan->nheader_fields; i++) {
        uint32_t f = p->plan->header_fields[i];
        if (!c->vals[f].is_null)
            continue; /* the value had a field of this name */
        const struct format_field *fd = &p->schema.fields[f];
        for (size_t h = rec->nheaders; h-- > 0;) {
            const struct record_header *hd = &rec->headers[h];
            if (hd->name_len == fd->name_len - plen &&
                memcmp(hd->name, fd->name + plen, hd->name_len) == 0) {
                if (hd->value)
                    format__put_text_lossy(c, f, hd->value, hd->value_len, &c->vals[f]);
                break;
            }
        }
    }
    if (!p->plan->discovery)
        return;
    char name[FORMAT_MAX_NAME + 1];
    for (size_t h = 0; h < rec->nheaders; h++) {
        const struct record_header *hd = &rec->headers[h];
        if (!hd->value)
            continue;
        if (plen + hd->name_len > FORMAT_MAX_NAME ||
            format__utf8_valid(hd->name, hd->name_len) != hd->name_len) {
            format__warn(c,
                         "kafka header %zu has a name that is not valid UTF-8 or is too "
                         "long for a column; it is not discovered",
                         h);
            continue;
        }
        memcpy(name, p->plan->header_prefix, plen);
        memcpy(name + plen, hd->name, hd->name_len);
        size_t n = plen + hd->name_len;
        uint32_t ref = format__lookup(&p->schema, name, n);
        if (ref < p->plan->nfixed || ref == REF_EXCLUDED)
            continue;
        if (ref != REF_NONE && format__discovered_seen(p, ref)) {
            /* The value had this field, or an earlier header did: a value
             * field wins; among headers the last one wins. */
            bool from_header = false;
            for (size_t k = 0; k < h && !from_header; k++)
                from_header = rec->headers[k].value && rec->headers[k].name_len == hd->name_len &&
                              memcmp(rec->headers[k].name, hd->name, hd->name_len) == 0;
            if (!from_header)
                continue;
        }
        uint32_t field;
        struct sql_value *slot = format__discover(c, name, n, ref, SQL_STRING, SQL_NULL, &field);
        if (slot)
            format__put_text_lossy(c, field, hd->value, hd->value_len, slot);
        else if (c->nomem)
            return;
    }
}

static void kafka_meta(struct format__ctx *c, const struct record *rec)
{
    struct format_parser *p = c->p;
    if (rec->has_timestamp && c->vals[p->plan->meta_ts].is_null)
        format__put_long(c, p->plan->meta_ts, rec->timestamp_ms, &c->vals[p->plan->meta_ts]);
    if (rec->topic && p->plan->meta_topic != REF_NONE && c->vals[p->plan->meta_topic].is_null)
        format__put_text_lossy(c, p->plan->meta_topic, rec->topic, rec->topic_len,
                               &c->vals[p->plan->meta_topic]);
    kafka_key(c, rec);
    kafka_headers(c, rec);
}

/* ---- format_parse ------------------------------------------------------------ */

enum format_outcome format_parse(struct format_parser *p, const struct record *rec,
                                 struct arena *mem, struct format_row *row, struct lerr *err)
{
    const char *data = rec->data ? rec->data : "";
    size_t len = rec->data ? rec->len : 0;
    memset(row, 0, sizeof *row);
    if (len > FORMAT_MAX_RECORD) {
        lerr_set(err, LERR_INVALID,
                 "record of %zu bytes is larger than the %u-byte limit; split it into smaller "
                 "records",
                 len, FORMAT_MAX_RECORD);
        err->pos = 0;
        return FORMAT_ERROR;
    }
    size_t need = len;
    if (rec->key && rec->key_len > need)
        need = rec->key_len <= FORMAT_MAX_RECORD ? rec->key_len : 0;
    if (!format__ensure_scratch(p, need + 1)) {
        lerr_set(err, LERR_NOMEM, "out of memory for a record of %zu bytes", len);
        return FORMAT_ERROR;
    }
    if (++p->run.serial == 0) {
        /* The record serial wrapped: forget which fields old records set. */
        if (p->run.disc_stamp)
            memset(p->run.disc_stamp, 0, p->run.disc_cap * sizeof *p->run.disc_stamp);
        p->run.serial = 1;
    }
    p->run.x_n = 0;
    /* Field by field: zeroing the whole context would clear its warning (~700 bytes)
     * for every record, and the warning is only read once set. */
    struct format__ctx c;
    c.p = p;
    c.pl = p->plan;
    c.mem = mem;
    c.err = err;
    c.warned = c.nomem = c.changed = false;
    c.vals = arena_alloc(mem, (p->plan->nfixed + 1) * sizeof *c.vals);
    if (!c.vals) {
        lerr_set(err, LERR_NOMEM, "the batch arena is full");
        return FORMAT_ERROR;
    }
    memcpy(c.vals, p->plan->null_row, p->plan->nfixed * sizeof *c.vals);

    int r = p->plan->vkind == FORMAT_NDJSON     ? ndjson_row(&c, data, len)
            : p->plan->vkind == FORMAT_PROTOBUF ? protobuf_row(&c, data, len)
            : format__is_avro(p->plan->vkind)   ? format__avro_row(&c, data, len)
                                                : format__csv_row(&c, data, len);
    if (r == 0 && !c.nomem && p->plan->kind == FORMAT_KAFKA)
        kafka_meta(&c, rec);
    if (c.nomem) {
        lerr_set(err, LERR_NOMEM, "the batch arena is full");
        return FORMAT_ERROR;
    }
    if (r < 0)
        return FORMAT_ERROR;
    row->values = c.vals;
    row->nvalues = p->plan->nfixed;
    row->schema_changed = c.changed;
    if (p->run.x_n) {
        uint32_t *xi = arena_alloc(mem, p->run.x_n * sizeof *xi);
        struct sql_value *xv = arena_alloc(mem, p->run.x_n * sizeof *xv);
        if (!xi || !xv) {
            lerr_set(err, LERR_NOMEM, "the batch arena is full");
            return FORMAT_ERROR;
        }
        memcpy(xi, p->run.x_index, p->run.x_n * sizeof *xi);
        memcpy(xv, p->run.x_val, p->run.x_n * sizeof *xv);
        row->extra_index = xi;
        row->extra = xv;
        row->nextra = p->run.x_n;
    }
    if (c.warned) {
        *err = c.warn;
        return FORMAT_OK_WITH_WARNINGS;
    }
    return FORMAT_OK;
}
