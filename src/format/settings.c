/*
 * settings.c — builds the C form of a job's formatSettings and inputSchema
 * from the normalised JSON the API stores, already parsed (jansson; the
 * catalog's job spec parser, catalog/spec.c, calls these). The API has already
 * validated them, so this mostly maps fields, but it still checks types so
 * that a hand-edited catalog cannot crash a job.
 *
 * Entry points: format_settings_from_json(), format_input_schema_from_json().
 */
#include "format/format_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int bad(struct lerr *err, const char *path, const char *key, const char *what)
{
    char t[200];
    snprintf(t, sizeof t, "%s%s%s", path, key[0] ? "." : "", key);
    return lerr_set_at(err, LERR_INVALID, t, "%s %s", t, what);
}

/* A string member (NULL when absent or null); copied into mem. */
static int get_str(json_t *o, const char *key, const char *path, struct arena *mem,
                   const char **out, struct lerr *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad(err, path, key, "must be a string");
    if (!(*out = arena_strndup(mem, json_string_value(v), json_string_length(v))))
        return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
    return 0;
}

static int settings_obj(json_t *o, const char *path, struct arena *mem, bool nested,
                        struct format_settings *out, struct lerr *err);

static int delimited(json_t *o, const char *path, struct arena *mem, struct format_settings *out,
                     struct lerr *err)
{
    if (get_str(o, "delimiter", path, mem, &out->delimiter, err) ||
        get_str(o, "listDelimiter", path, mem, &out->list_delimiter, err))
        return err->code;
    if (out->kind == FORMAT_DELIMITED && !out->delimiter)
        return bad(err, path, "delimiter", "is required for \"delimited\", e.g. \"|\"");
    json_t *v = json_object_get(o, "skipHeaderRows");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
            return bad(err, path, "skipHeaderRows", "must be a whole number from 0 to 1000000");
        out->skip_header_rows = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "findColumnsFromHeader");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return bad(err, path, "findColumnsFromHeader", "must be true or false");
        out->find_columns_from_header = json_is_true(v);
    }
    v = json_object_get(o, "columns");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return bad(err, path, "columns", "must be an array of names");
        size_t n = json_array_size(v);
        const char **cols = arena_alloc(mem, (n + 1) * sizeof *cols);
        if (!cols)
            return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(v, i);
            if (!json_is_string(c))
                return bad(err, path, "columns", "must hold only strings");
            if (!(cols[i] = arena_strndup(mem, json_string_value(c), json_string_length(c))))
                return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
        }
        out->columns = cols;
        out->ncolumns = n;
    }
    return 0;
}

/* Unknown members of o are an error naming the first one and the known ones. */
static int known_keys(json_t *o, const char *path, const char *const *keys, const char *list,
                      struct lerr *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (!keys[i]) {
            char what[300];
            snprintf(what, sizeof what, "is not a known field; use %s", list);
            return bad(err, path, k, what);
        }
    }
    return 0;
}

static int flatten(json_t *o, const char *path, struct arena *mem, struct format_settings *out,
                   struct lerr *err)
{
    json_t *fs = json_object_get(o, "flattenSpec");
    if (!fs || json_is_null(fs))
        return 0;
    char fp[200];
    snprintf(fp, sizeof fp, "%s.flattenSpec", path);
    if (!json_is_object(fs))
        return bad(err, path, "flattenSpec", "must be an object");
    static const char *const spec_keys[] = {"useFieldDiscovery", "fields", NULL};
    if (known_keys(fs, fp, spec_keys, "\"useFieldDiscovery\" and \"fields\"", err))
        return err->code;
    json_t *ufd = json_object_get(fs, "useFieldDiscovery");
    if (ufd && !json_is_null(ufd)) {
        if (!json_is_boolean(ufd))
            return bad(err, fp, "useFieldDiscovery", "must be true or false");
        out->no_field_discovery = json_is_false(ufd);
    }
    json_t *fields = json_object_get(fs, "fields");
    if (!fields || json_is_null(fields))
        return 0;
    if (!json_is_array(fields))
        return bad(err, path, "flattenSpec.fields", "must be an array");
    size_t n = json_array_size(fields);
    struct format_flatten_field *ff = arena_zalloc(mem, (n + 1) * sizeof *ff);
    if (!ff)
        return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(fields, i);
        char p[200];
        snprintf(p, sizeof p, "%s.flattenSpec.fields[%zu]", path, i);
        if (!json_is_object(f))
            return bad(err, p, "", "must be an object {\"type\", \"name\", \"expr\"}");
        static const char *const field_keys[] = {"type", "name", "expr", "nodes", NULL};
        if (known_keys(f, p, field_keys, "\"type\", \"name\", \"expr\" and \"nodes\"", err))
            return err->code;
        const char *type = NULL;
        if (get_str(f, "type", p, mem, &type, err) ||
            get_str(f, "name", p, mem, &ff[i].name, err) ||
            get_str(f, "expr", p, mem, &ff[i].expr, err))
            return err->code;
        if (!type || strcmp(type, "root") == 0)
            ff[i].type = FORMAT_FLATTEN_ROOT;
        else if (strcmp(type, "path") == 0)
            ff[i].type = FORMAT_FLATTEN_PATH;
        else if (strcmp(type, "jq") == 0)
            ff[i].type = FORMAT_FLATTEN_JQ;
        else if (strcmp(type, "tree") == 0)
            ff[i].type = FORMAT_FLATTEN_TREE;
        else
            return bad(err, p, "type",
                       "is not a flattenSpec field type; use \"root\", \"path\", \"jq\" or "
                       "\"tree\"");
        if (!ff[i].name)
            return bad(err, p, "name", "is required");
        if ((ff[i].type == FORMAT_FLATTEN_PATH || ff[i].type == FORMAT_FLATTEN_JQ) && !ff[i].expr)
            return bad(err, p, "expr",
                       ff[i].type == FORMAT_FLATTEN_PATH
                           ? "is required for a path, e.g. \"$.user.name\""
                           : "is required for a jq field, e.g. \".user.name\"");
        json_t *nodes = json_object_get(f, "nodes");
        if (ff[i].type != FORMAT_FLATTEN_TREE) {
            if (nodes && !json_is_null(nodes))
                return bad(err, p, "nodes", "is only for \"type\": \"tree\"");
            continue;
        }
        if (ff[i].expr)
            return bad(err, p, "expr", "is not for a tree field; list the members in \"nodes\"");
        if (!json_is_array(nodes) || json_array_size(nodes) == 0)
            return bad(err, p, "nodes",
                       "is required for a tree field: the member names from the root, e.g. "
                       "[\"user\", \"name\"]");
        size_t nn = json_array_size(nodes);
        if (nn > 256)
            return bad(err, p, "nodes", "can name at most 256 members");
        const char **names = arena_alloc(mem, nn * sizeof *names);
        if (!names)
            return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
        for (size_t k = 0; k < nn; k++) {
            json_t *v = json_array_get(nodes, k);
            if (!json_is_string(v))
                return bad(err, p, "nodes", "must hold only member names (strings)");
            if (!(names[k] = arena_strndup(mem, json_string_value(v), json_string_length(v))))
                return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
        }
        ff[i].nodes = names;
        ff[i].nnodes = nn;
    }
    out->flatten = ff;
    out->nflatten = n;
    return 0;
}

/* avro_stream's parseSchemaProvider: inline-avro (the schema, kept as JSON
 * text) or a schema registry connection (its name). */
static int avro(json_t *o, const char *path, struct arena *mem, struct format_settings *out,
                struct lerr *err)
{
    if (flatten(o, path, mem, out, err))
        return err->code;
    if (out->kind == FORMAT_AVRO_OCF)
        return 0;
    char p[200];
    snprintf(p, sizeof p, "%s.parseSchemaProvider", path);
    json_t *psp = json_object_get(o, "parseSchemaProvider");
    if (!json_is_object(psp))
        return bad(err, path, "parseSchemaProvider",
                   "is required for \"avro_stream\": {\"type\": \"inline-avro\", \"schema\": "
                   "{...}} or {\"type\": \"connection\", \"connectionName\": \"...\"}");
    const char *type = NULL;
    if (get_str(psp, "type", p, mem, &type, err))
        return err->code;
    if (type && strcmp(type, "inline-avro") == 0) {
        json_t *sc = json_object_get(psp, "schema");
        if (!json_is_object(sc) && !json_is_string(sc))
            return bad(err, p, "schema", "must be an Avro schema (a JSON object)");
        char *text = json_is_string(sc) ? strdup(json_string_value(sc))
                                        : json_dumps(sc, JSON_COMPACT | JSON_ENCODE_ANY);
        out->avro_schema = text ? arena_strdup(mem, text) : NULL;
        free(text);
        if (!out->avro_schema)
            return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
        return 0;
    }
    if (type && strcmp(type, "connection") == 0) {
        if (get_str(psp, "connectionName", p, mem, &out->schema_connection, err))
            return err->code;
        if (!out->schema_connection || !out->schema_connection[0])
            return bad(err, p, "connectionName",
                       "is required: a confluent_schema_registry "
                       "connection's name");
        return 0;
    }
    return bad(err, p, "type", "must be \"inline-avro\" or \"connection\"");
}

static int kafka(json_t *o, const char *path, struct arena *mem, struct format_settings *out,
                 struct lerr *err);

/* The valueFormat of the kafka and kinesis wrappers into out->value_format. */
static int value_format(json_t *o, const char *path, struct arena *mem,
                        struct format_settings *out, struct lerr *err)
{
    char p[200];
    json_t *v = json_object_get(o, "valueFormat");
    if (!json_is_object(v))
        return bad(err, path, "valueFormat",
                   "is required: an object such as "
                   "{\"format\": \"nd-json\"}");
    struct format_settings *vs = arena_zalloc(mem, sizeof *vs);
    if (!vs)
        return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
    snprintf(p, sizeof p, "%s.valueFormat", path);
    if (settings_obj(v, p, mem, true, vs, err))
        return err->code;
    out->value_format = vs;
    return 0;
}

/* {"format": "kinesis", "valueFormat", "partitionKeyColumnName", "timestampColumnName"}. */
static int kinesis(json_t *o, const char *path, struct arena *mem, struct format_settings *out,
                   struct lerr *err)
{
    if (value_format(o, path, mem, out, err))
        return err->code;
    out->kinesis = true;
    if (get_str(o, "partitionKeyColumnName", path, mem, &out->key_column, err) ||
        get_str(o, "timestampColumnName", path, mem, &out->timestamp_column, err))
        return err->code;
    return 0;
}

static int kafka(json_t *o, const char *path, struct arena *mem, struct format_settings *out,
                 struct lerr *err)
{
    char p[200];
    if (value_format(o, path, mem, out, err))
        return err->code;
    json_t *v = json_object_get(o, "keyFormat");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return bad(err, path, "keyFormat", "must be an object or null");
        struct format_settings *ks = arena_zalloc(mem, sizeof *ks);
        if (!ks)
            return lerr_set(err, LERR_NOMEM, "out of memory reading formatSettings");
        snprintf(p, sizeof p, "%s.keyFormat", path);
        if (settings_obj(v, p, mem, true, ks, err))
            return err->code;
        out->key_format = ks;
    }
    if (get_str(o, "keyColumnName", path, mem, &out->key_column, err) ||
        get_str(o, "timestampColumnName", path, mem, &out->timestamp_column, err) ||
        get_str(o, "headerLabelPrefix", path, mem, &out->header_prefix, err) ||
        get_str(o, "topicColumnName", path, mem, &out->topic_column, err))
        return err->code;
    return 0;
}

/* protobuf: parseSchemaProvider {"type": "inline-protobuf", "descriptor",
 * "messageType"} or a schema registry connection {"type": "connection",
 * "connectionName"}, and a flattenSpec as for nd-json. */
static int protobuf(json_t *o, const char *path, struct arena *mem, struct format_settings *out,
                    struct lerr *err)
{
    char p[200];
    json_t *ps = json_object_get(o, "parseSchemaProvider");
    if (!json_is_object(ps))
        return bad(err, path, "parseSchemaProvider",
                   "is required: {\"type\": \"inline-protobuf\", \"descriptor\": \"<base64 "
                   "FileDescriptorSet>\", \"messageType\": \"pkg.Msg\"} or {\"type\": "
                   "\"connection\", \"connectionName\": \"...\"}");
    snprintf(p, sizeof p, "%s.parseSchemaProvider", path);
    const char *type = NULL;
    if (get_str(ps, "type", p, mem, &type, err))
        return err->code;
    if (type && strcmp(type, "connection") == 0) {
        if (get_str(ps, "connectionName", p, mem, &out->schema_connection, err))
            return err->code;
        if (!out->schema_connection || !out->schema_connection[0])
            return bad(err, p, "connectionName",
                       "is required: a confluent_schema_registry connection's name");
        return flatten(o, path, mem, out, err);
    }
    if (get_str(ps, "descriptor", p, mem, &out->pb_descriptor, err) ||
        get_str(ps, "messageType", p, mem, &out->pb_message_type, err))
        return err->code;
    if (!type || strcmp(type, "inline-protobuf") != 0)
        return bad(err, p, "type", "must be \"inline-protobuf\" or \"connection\"");
    if (!out->pb_descriptor)
        return bad(err, p, "descriptor", "is required: a base64 FileDescriptorSet");
    if (!out->pb_message_type)
        return bad(err, p, "messageType", "is required, e.g. \"shop.Order\"");
    return flatten(o, path, mem, out, err);
}

static int settings_obj(json_t *o, const char *path, struct arena *mem, bool nested,
                        struct format_settings *out, struct lerr *err)
{
    // clang-format off
    static const struct {
        const char *name;
        enum format_kind kind;
    } kinds[] = {{"nd-json", FORMAT_NDJSON}, {"csv", FORMAT_CSV}, {"tsv", FORMAT_TSV},
                 {"delimited", FORMAT_DELIMITED}, {"kafka", FORMAT_KAFKA},
                 {"kinesis", FORMAT_KAFKA}, {"avro_stream", FORMAT_AVRO_STREAM},
                 {"avro_ocf", FORMAT_AVRO_OCF}, {"protobuf", FORMAT_PROTOBUF}};
    // clang-format on
    memset(out, 0, sizeof *out);
    json_t *f = json_object_get(o, "format");
    if (!json_is_string(f))
        return bad(
            err, path, "format",
            "is required: \"nd-json\", \"csv\", \"tsv\", "
            "\"delimited\", \"avro_stream\", \"avro_ocf\", \"protobuf\", \"kafka\" or \"kinesis\"");
    size_t k = 0;
    while (k < LS_ARRAY_LEN(kinds) && strcmp(kinds[k].name, json_string_value(f)) != 0)
        k++;
    if (k == LS_ARRAY_LEN(kinds) || (nested && kinds[k].kind == FORMAT_KAFKA)) {
        char t[200];
        snprintf(t, sizeof t, "%s.format", path);
        return lerr_set_at(err, LERR_INVALID, t,
                           "%s \"%s\" is not supported here; use \"nd-json\", \"csv\", \"tsv\", "
                           "\"delimited\", \"avro_stream\", \"protobuf\"%s",
                           t, json_string_value(f), nested ? "" : ", \"kafka\" or \"kinesis\"");
    }
    out->kind = kinds[k].kind;
    switch (out->kind) {
    case FORMAT_NDJSON: return flatten(o, path, mem, out, err);
    case FORMAT_KAFKA:
        return strcmp(kinds[k].name, "kinesis") == 0 ? kinesis(o, path, mem, out, err)
                                                     : kafka(o, path, mem, out, err);
    case FORMAT_AVRO_STREAM:
    case FORMAT_AVRO_OCF: return avro(o, path, mem, out, err);
    case FORMAT_PROTOBUF: return protobuf(o, path, mem, out, err);
    default: return delimited(o, path, mem, out, err);
    }
}

int format_settings_from_json(const json_t *json, struct arena *mem, struct format_settings *out,
                              struct lerr *err)
{
    /* settings_obj only reads; jansson's getters want a non-const pointer. */
    json_t *o = (json_t *)json;
    return json_is_object(o) ? settings_obj(o, "formatSettings", mem, false, out, err)
                             : lerr_set_at(err, LERR_INVALID, "formatSettings",
                                           "formatSettings must be an object");
}

/* A typed array input field's element type (Druid's ARRAY<STRING>, ARRAY<LONG>,
 * ARRAY<DOUBLE>, any case), or -1. */
static int array_type(const char *dt)
{
    static const struct {
        const char *name;
        uint8_t elem;
    } arrays[] = {
        {"ARRAY<STRING>", SQL_STRING}, {"ARRAY<LONG>", SQL_LONG}, {"ARRAY<DOUBLE>", SQL_DOUBLE}};
    for (size_t k = 0; k < LS_ARRAY_LEN(arrays); k++)
        if (strcasecmp(arrays[k].name, dt) == 0)
            return arrays[k].elem;
    return -1;
}

int format_input_schema_from_json(const json_t *json, struct arena *mem, struct sql_schema *out,
                                  struct lerr *err)
{
    // clang-format off
    static const struct {
        const char *name;
        uint8_t type;
    } types[] = {{"string", SQL_STRING}, {"long", SQL_LONG}, {"float", SQL_FLOAT},
                 {"double", SQL_DOUBLE}, {"json", SQL_JSON}};
    // clang-format on
    const json_t *a = json;
    int rc = 0;
    if (!json_is_array(a)) {
        rc = lerr_set_at(err, LERR_INVALID, "inputSchema", "inputSchema must be an array");
        goto done;
    }
    size_t n = json_array_size(a);
    struct sql_field *fields = arena_zalloc(mem, (n + 1) * sizeof *fields);
    if (!fields) {
        rc = lerr_set(err, LERR_NOMEM, "out of memory reading inputSchema");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        json_t *name = json_object_get(e, "name"), *dt = json_object_get(e, "dataType");
        char t[64];
        snprintf(t, sizeof t, "inputSchema[%zu]", i);
        if (!json_is_string(name) || !json_is_string(dt)) {
            rc = lerr_set_at(err, LERR_INVALID, t,
                             "%s must be {\"name\": \"...\", \"dataType\": \"...\"}", t);
            goto done;
        }
        size_t k = 0;
        while (k < LS_ARRAY_LEN(types) && strcasecmp(types[k].name, json_string_value(dt)) != 0)
            k++;
        int elem = array_type(json_string_value(dt));
        if (k == LS_ARRAY_LEN(types) && elem < 0) {
            rc = lerr_set_at(err, LERR_INVALID, t,
                             "%s.dataType '%s' is not one of string, long, float, double, json, "
                             "ARRAY<STRING>, ARRAY<LONG>, ARRAY<DOUBLE>",
                             t, json_string_value(dt));
            goto done;
        }
        fields[i].name_len = json_string_length(name);
        fields[i].name = arena_strndup(mem, json_string_value(name), fields[i].name_len);
        fields[i].type = elem >= 0 ? SQL_ARRAY : types[k].type;
        fields[i].flags = elem >= 0 ? SQL_FIELD_ELEM(elem) : 0;
        if (!fields[i].name) {
            rc = lerr_set(err, LERR_NOMEM, "out of memory reading inputSchema");
            goto done;
        }
    }
    out->fields = fields;
    out->n = n;
done:
    return rc;
}
