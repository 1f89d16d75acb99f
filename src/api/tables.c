/*
 * tables.c — /tables: create, list, get, update (description, granularity,
 * clustering, schema additions), delete. Validation follows API.md: names,
 * types, granularities, dimension and measure types; strict tables need a
 * schema; every table has __time.
 *
 * A table is stored as its normalised JSON document; the catalog's columns
 * give the timestamps. `status` (row and segment counts) is reported from
 * storage, which holds no rows for a table until a job writes to it; with a
 * shared catalog, from the catalog's committed segments (the same on every
 * node: a node's storage holds only its share of the table).
 */
#include <string.h>

#include "api/api_int.h"
#include "storage/db.h"

static const char *const table_types[] = {CATALOG_TABLE_TYPE_MAP(CATALOG_NAME_LIST) NULL};
static const char *const schema_modes[] = {CATALOG_SCHEMA_MODE_MAP(CATALOG_NAME_LIST) NULL};
static const char *const granularities[] = {"hour", "day", "week", "month", "year", "all", NULL};
static const char *const resolutions[] = {"millisecond", "second", "minute", "fifteen_minute",
                                          "hour",        "day",    NULL};
// clang-format off
static const char *const measure_types[] = {
    "longSum", "doubleSum", "longMin", "longMax", "doubleMin", "doubleMax", "count",
    "HLLSketch", "thetaSketch", "longLatest", "doubleLatest", "stringLatest", "longEarliest",
    "doubleEarliest", "stringEarliest", "quantilesDoublesSketch", NULL};
static const char *const all_types[] = {
    "ARRAY<STRING>", "ARRAY<LONG>", "ARRAY<DOUBLE>", /* typed arrays (Druid's ARRAY columns) */
    "string", "long", "float", "double", "json", "timestamp", "longSum", "doubleSum",
    "longMin", "longMax", "doubleMin", "doubleMax", "count", "HLLSketch", "thetaSketch",
    "longLatest", "doubleLatest", "stringLatest", "longEarliest", "doubleEarliest",
    "stringEarliest", "quantilesDoublesSketch", NULL};
// clang-format on

static const char *const user_fields[] = {"name",
                                          "type",
                                          "schemaMode",
                                          "partitioningGranularity",
                                          "timeResolution",
                                          "clusteringColumns",
                                          "schema",
                                          "description",
                                          NULL};
/* What a PUT may also carry when a client sends back a document it got. */
// clang-format off
static const char *const put_fields[] = {
    "name", "type", "schemaMode", "partitioningGranularity", "timeResolution",
    "clusteringColumns", "schema", "description", "id", "createdByUser", "createdOnTimestamp",
    "modifiedByUser", "modifiedOnTimestamp", "status", NULL};
// clang-format on

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

int api__v_table_name(const char *name, const char *target, struct lerr *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: a table name must be 1 to 255 bytes long", target);
    if (!util_name_is_path_safe(name))
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: table name '%s' must not contain '/' or be '.' or '..'", target,
                           name);
    if (api__v_column_name(name, target, true, err)) {
        lerr_init(err);
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: table name '%s' contains a control character or invalid UTF-8",
                           target, name);
    }
    if (name[0] == '.' || strcmp(name, "INFORMATION_SCHEMA") == 0)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: table name '%s' is reserved or starts with '.'", target, name);
    return 0;
}

/*
 * A sketch column's parameters (lgK and tgtHllType, size, k — Druid's metric
 * fields), checked and copied into `col`, each with its default when not
 * given, so the schema says what the column keeps.
 */
static int sketch_params(json_t *e, json_t *col, const char *path, const char *dtype,
                         struct lerr *err)
{
    struct sql_agg_call agg;
    bool sketch = sql_agg_for_measure(dtype, &agg);
    struct sql_sketch_param p[2];
    size_t np = sketch ? sql_agg_sketch_params(&agg, p) : 0;
    char target[200];
    for (const char *const *k = sql_sketch_param_keys; *k; k++) {
        const json_t *v = json_object_get(e, *k);
        if (!v)
            continue;
        api__v_path(target, sizeof target, path, *k);
        struct lerr pe;
        lerr_init(&pe);
        bool text = strcmp(*k, "tgtHllType") == 0;
        if (!np)
            return lerr_set_at(err, LERR_INVALID, target,
                               "%s: only HLLSketch, thetaSketch and quantilesDoublesSketch "
                               "columns take sketch parameters, not a %s column; drop it",
                               target, dtype);
        if (text ? !json_is_string(v) : !json_is_integer(v))
            return lerr_set_at(err, LERR_INVALID, target, "%s must be %s", target,
                               text ? "a string such as \"HLL_8\"" : "a whole number");
        if (sql_agg_sketch_param_set(&agg, *k, text ? 0 : json_integer_value(v),
                                     json_string_value(v), &pe))
            return lerr_set_at(err, LERR_INVALID, target, "%s: %s", target, pe.msg);
    }
    np = sketch ? sql_agg_sketch_params(&agg, p) : 0;
    for (size_t i = 0; i < np; i++)
        json_object_set_new(col, p[i].key, p[i].s ? json_string(p[i].s) : json_integer(p[i].n));
    return 0;
}

/* Validates one schema entry and returns a normalised copy. */
static json_t *schema_entry(json_t *e, const char *path, const char *table_type, struct lerr *err)
{
    /* "discovered" and "typeChanges" are what GET shows for a column schema
     * discovery added (and widened): accepted so that a table read back can be
     * sent again, and ignored (a listed column that exists keeps its entry; a
     * new one is declared); lgK, tgtHllType, size and k: sketch parameters */
    static const char *const keys[] = {
        "name",       "dataType",    "columnType", "multiValueHandling",
        "discovered", "typeChanges", "lgK",        "tgtHllType",
        "size",       "k",           NULL};
    if (!json_is_object(e)) {
        lerr_set_at(err, LERR_INVALID, path,
                    "%s must be an object such as {\"name\": \"page\", \"dataType\": \"string\"}",
                    path);
        return NULL;
    }
    const char *name = NULL, *dtype = NULL, *ctype = NULL;
    char target[200];
    if (api__v_known_keys(e, path, keys, err) ||
        api__v_string(e, "name", path, true, 0, &name, err) ||
        api__v_enum(e, "dataType", path, true, all_types, &dtype, err))
        return NULL;
    api__v_path(target, sizeof target, path, "name");
    if (api__v_column_name(name, target, false, err))
        return NULL;
    bool measure = in_list(dtype, measure_types);
    api__v_path(target, sizeof target, path, "dataType");
    if (strcmp(name, "__time") == 0 && strcmp(dtype, "timestamp") != 0) {
        lerr_set_at(err, LERR_INVALID, target, "%s: __time is always of type \"timestamp\"",
                    target);
        return NULL;
    }
    if (measure && catalog_table_type_parse(table_type) != CATALOG_TABLE_AGGREGATE) {
        lerr_set_at(err, LERR_INVALID, target,
                    "%s: \"%s\" is a measure type; measures need an aggregate table "
                    "(\"type\": \"aggregate\") — a detail table takes %s",
                    target, dtype, "string, long, float, double, json or timestamp");
        return NULL;
    }
    static const char *const ctypes[] = {CATALOG_COLUMN_TYPE_MAP(CATALOG_NAME_LIST) NULL};
    if (api__v_enum(e, "columnType", path, false, ctypes, &ctype, err))
        return NULL;
    enum catalog_column_type want = measure ? CATALOG_COLUMN_MEASURE : CATALOG_COLUMN_DIMENSION;
    if (ctype && catalog_column_type_parse(ctype) != (int)want) {
        api__v_path(target, sizeof target, path, "columnType");
        lerr_set_at(err, LERR_INVALID, target, "%s: \"%s\" is a %s type, not a %s", target, dtype,
                    catalog_column_type_name(want), ctype);
        return NULL;
    }
    /* a multi-value string column (Druid's multiValueHandling, on a string
     * dimension): rows hold lists of strings */
    static const char *const mvhs[] = {"SORTED_ARRAY", "SORTED_SET", "ARRAY", NULL};
    const char *mvh = NULL;
    if (api__v_enum(e, "multiValueHandling", path, false, mvhs, &mvh, err))
        return NULL;
    if (mvh && strcmp(dtype, "string") != 0) {
        api__v_path(target, sizeof target, path, "multiValueHandling");
        lerr_set_at(err, LERR_INVALID, target,
                    "%s: only a string dimension can be multi-value, not a %s column; make it "
                    "{\"dataType\": \"string\", \"multiValueHandling\": \"SORTED_ARRAY\"}",
                    target, dtype);
        return NULL;
    }
    json_t *col = json_pack("{s:s, s:s, s:s}", "name", name, "dataType", dtype, "columnType",
                            catalog_column_type_name(want));
    if (col && mvh)
        json_object_set_new(col, "multiValueHandling", json_string(mvh));
    if (col && sketch_params(e, col, path, dtype, err)) {
        json_decref(col);
        return NULL;
    }
    return col;
}

/*
 * Merges the schema array `given` into `schema` (existing columns kept;
 * a listed existing column must keep its type; new ones appended).
 */
static int merge_schema(json_t *schema, json_t *given, const char *path, const char *table_type,
                        struct lerr *err)
{
    size_t i;
    json_t *e;
    json_array_foreach(given, i, e) {
        char p[200];
        api__v_path_idx(p, sizeof p, path, i);
        json_t *col = schema_entry(e, p, table_type, err);
        if (!col)
            return err->code;
        const char *name = json_string_value(json_object_get(col, "name"));
        size_t j;
        json_t *old;
        bool found = false;
        json_array_foreach(schema, j, old) {
            if (strcmp(json_string_value(json_object_get(old, "name")), name) != 0)
                continue;
            found = true;
            const char *ot = json_string_value(json_object_get(old, "dataType"));
            const char *nt = json_string_value(json_object_get(col, "dataType"));
            const char *om = json_string_value(json_object_get(old, "multiValueHandling"));
            const char *nm = json_string_value(json_object_get(col, "multiValueHandling"));
            /* a sketch column's lgK, size, ...: those the update names (the
             * defaults filled in do not count) against the column's (a column
             * made before parameters were written has the defaults) */
            bool same_params = true;
            json_t *dflt = json_object();
            struct lerr ignore;
            lerr_init(&ignore);
            if (dflt && sketch_params(dflt, dflt, p, ot, &ignore) == 0)
                for (const char *const *k = sql_sketch_param_keys; *k; k++) {
                    const json_t *ov = json_object_get(old, *k), *nv = json_object_get(e, *k);
                    if (!ov)
                        ov = json_object_get(dflt, *k);
                    if (nv && (!ov || !json_equal(ov, nv)))
                        same_params = false;
                }
            json_decref(dflt);
            if (!same_params) {
                char t[220];
                api__v_path(t, sizeof t, p, "dataType");
                lerr_set_at(err, LERR_INVALID, t,
                            "%s: column '%s' keeps its sketches' parameters (lgK, tgtHllType, "
                            "size or k) as they were made; a new table can have others",
                            t, name);
                json_decref(col);
                return err->code;
            }
            if (strcmp(ot, nt) != 0 || !om != !nm || (om && strcmp(om, nm) != 0)) {
                char t[220];
                api__v_path(t, sizeof t, p, "dataType");
                lerr_set_at(err, LERR_INVALID, t,
                            "%s: column '%s' is already of type \"%s\"; a column's type "
                            "cannot change (listed twice, or changed by an update)",
                            t, name, ot);
                json_decref(col);
                return err->code;
            }
        }
        if (found)
            json_decref(col);
        else
            json_array_append_new(schema, col);
    }
    return 0;
}

static bool schema_has(json_t *schema, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(schema, i, e)
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return true;
    return false;
}

/* Validates the mutable fields of spec into doc (a new or existing document). */
static int apply_fields(json_t *doc, json_t *spec, const char *path, bool existing,
                        struct lerr *err)
{
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *mode = NULL, *gran = NULL, *res = NULL, *desc = NULL;
    json_t *schema_in = NULL, *clustering = NULL;
    char target[200];
    if (api__v_enum(spec, "schemaMode", path, false, schema_modes, &mode, err) ||
        api__v_enum(spec, "partitioningGranularity", path, false, granularities, &gran, err) ||
        api__v_enum(spec, "timeResolution", path, false, resolutions, &res, err) ||
        api__v_string(spec, "description", path, false, 4096, &desc, err) ||
        api__v_array(spec, "schema", path, false, &schema_in, err) ||
        api__v_array(spec, "clusteringColumns", path, false, &clustering, err))
        return err->code;
    if (res && catalog_table_type_parse(type) != CATALOG_TABLE_AGGREGATE) {
        api__v_path(target, sizeof target, path, "timeResolution");
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s applies to aggregate tables only (rows roll up to it); remove it "
                           "or create the table with \"type\": \"aggregate\"",
                           target);
    }
    if (mode)
        json_object_set_new(doc, "schemaMode", json_string(mode));
    if (gran)
        json_object_set_new(doc, "partitioningGranularity", json_string(gran));
    if (res) {
        json_t *old = json_object_get(doc, "timeResolution");
        if (existing && old && strcmp(json_string_value(old), res) != 0) {
            api__v_path(target, sizeof target, path, "timeResolution");
            return lerr_set_at(err, LERR_INVALID, target,
                               "%s cannot change once a table exists (stored rows are rolled "
                               "up to \"%s\")",
                               target, json_string_value(old));
        }
        json_object_set_new(doc, "timeResolution", json_string(res));
    }
    if (desc)
        json_object_set_new(doc, "description", json_string(desc));
    json_t *schema = json_object_get(doc, "schema");
    if (schema_in) {
        char p[200];
        api__v_path(p, sizeof p, path, "schema");
        if (merge_schema(schema, schema_in, p, type, err))
            return err->code;
    }
    if (clustering) {
        size_t i;
        json_t *c;
        bool strict =
            catalog_schema_mode_parse(json_string_value(json_object_get(doc, "schemaMode"))) ==
            CATALOG_SCHEMA_STRICT;
        json_array_foreach(clustering, i, c) {
            char p[200], pp[200];
            api__v_path(pp, sizeof pp, path, "clusteringColumns");
            api__v_path_idx(p, sizeof p, pp, i);
            if (!json_is_string(c))
                return lerr_set_at(err, LERR_INVALID, p, "%s must be a column name (a string)", p);
            if (api__v_column_name(json_string_value(c), p, false, err))
                return err->code;
            if (strict && !schema_has(schema, json_string_value(c)))
                return lerr_set_at(err, LERR_INVALID, p,
                                   "%s: '%s' is not a column of this strict table's schema", p,
                                   json_string_value(c));
        }
        json_object_set(doc, "clusteringColumns", clustering);
    }
    if (catalog_schema_mode_parse(json_string_value(json_object_get(doc, "schemaMode"))) ==
            CATALOG_SCHEMA_STRICT &&
        json_array_size(schema) <= 1) {
        api__v_path(target, sizeof target, path, "schema");
        return lerr_set_at(err, LERR_INVALID, target,
                           "a strict table needs a schema: list its columns in %s, e.g. "
                           "[{\"name\": \"page\", \"dataType\": \"string\"}], or use "
                           "\"schemaMode\": \"flexible\"",
                           target);
    }
    return 0;
}

int api_table_create_from_spec(struct api_req *r, json_t *spec, const char *path, json_t **out_doc,
                               struct lerr *err)
{
    const char *name = NULL, *type = catalog_table_type_name(CATALOG_TABLE_DETAIL);
    char target[200];
    if (api__v_known_keys(spec, path, user_fields, err) ||
        api__v_string(spec, "name", path, true, 0, &name, err) ||
        api__v_enum(spec, "type", path, false, table_types, &type, err))
        return err->code;
    api__v_path(target, sizeof target, path, "name");
    if (api__v_table_name(name, target, err))
        return err->code;
    char id[37];
    if (util_uuid_v4(id, err))
        return err->code;
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[], s:[{s:s, s:s, s:s}], s:s}", "id", id,
                            "name", name, "type", type, "schemaMode", "flexible",
                            "partitioningGranularity", "day", "clusteringColumns", "schema",
                            "name", "__time", "dataType", "timestamp", "columnType", "dimension",
                            "description", "");
    if (catalog_table_type_parse(type) == CATALOG_TABLE_AGGREGATE)
        json_object_set_new(doc, "timeResolution", json_string("millisecond"));
    if (apply_fields(doc, spec, path, false, err)) {
        json_decref(doc);
        return err->code;
    }
    json_object_set_new(doc, "createdByUser", api_caller(r));
    json_object_set_new(doc, "modifiedByUser", api_caller(r));
    char *text = json_dumps(doc, JSON_COMPACT);
    struct catalog_doc d = {.doc = text, .created_ns = util_now_ns()};
    d.modified_ns = d.created_ns;
    snprintf(d.name, sizeof d.name, "%s", name);
    snprintf(d.kind, sizeof d.kind, "%s", type);
    int rc = catalog_doc_insert(r->srv->cat, CATALOG_TABLE, &d, err);
    free(text);
    if (rc) {
        if (rc == LERR_CONFLICT)
            snprintf(err->target, sizeof err->target, "%s", target);
        json_decref(doc);
        return rc;
    }
    json_object_set_new(doc, "createdOnTimestamp", api_ts(d.created_ns));
    json_object_set_new(doc, "modifiedOnTimestamp", api_ts(d.modified_ns));
    *out_doc = doc;
    return 0;
}

/*
 * With a shared catalog, what the table's committed segments hold, the same
 * on every node: a node's own storage holds its realtime rows and the
 * segments it opened or committed, not the other nodes' (so not the table).
 * Rows in the nodes' realtime buffers are counted once persisted.
 */
static int committed_status(struct api_server *srv, const char *name, struct storage_status *st,
                            struct lerr *err)
{
    struct catalog_segment_list l = {0};
    if (catalog_segment_list(srv->qcat ? srv->qcat : srv->cat, name, &l, err))
        return err->code;
    *st = (struct storage_status){.min_time = INT64_MAX, .max_time = INT64_MIN};
    for (size_t i = 0; i < l.n; i++) {
        const struct catalog_segment *g = &l.items[i];
        st->row_count += (uint64_t)g->rows;
        st->total_bytes += (uint64_t)g->bytes;
        st->segment_count++;
        st->min_time = g->min_time < st->min_time ? g->min_time : st->min_time;
        st->max_time = g->max_time > st->max_time ? g->max_time : st->max_time;
    }
    catalog_segment_list_free(&l);
    return 0;
}

/* What storage holds for the table: rows, segments, bytes, time range. */
static json_t *table_status(struct api_server *srv, const char *name)
{
    struct storage_status st;
    struct lerr err;
    lerr_init(&err);
    bool shared = catalog_is_shared(srv->cat);
    if (!srv->db || (shared ? committed_status(srv, name, &st, &err)
                            : storage_db_status(srv->db, name, &st, &err)))
        return json_pack("{s:i, s:i, s:i, s:n, s:n, s:s}", "rowCount", 0, "segmentCount", 0,
                         "totalBytes", 0, "minTime", "maxTime", "error", err.msg);
    json_t *o = json_pack("{s:I, s:I, s:I}", "rowCount", (json_int_t)st.row_count, "segmentCount",
                          (json_int_t)st.segment_count, "totalBytes", (json_int_t)st.total_bytes);
    if (shared) /* rows still in the nodes' realtime buffers are not in it yet */
        json_object_set_new(o, "committedOnly", json_true());
    char ts[32];
    if (st.min_time <= st.max_time) {
        util_format_iso_ms(st.min_time, ts);
        json_object_set_new(o, "minTime", json_string(ts));
        util_format_iso_ms(st.max_time, ts);
        json_object_set_new(o, "maxTime", json_string(ts));
    } else {
        json_object_set_new(o, "minTime", json_null());
        json_object_set_new(o, "maxTime", json_null());
    }
    if (st.corrupt_count) {
        json_t *bad = json_array();
        char name_buf[256], msg[512];
        for (size_t i = 0; i < st.corrupt_count && i < 20; i++)
            if (storage_db_corrupt(srv->db, name, i, name_buf, sizeof name_buf, msg, sizeof msg))
                json_array_append_new(
                    bad, json_pack("{s:s, s:s}", "segment", name_buf, "message", msg));
        json_object_set_new(o, "corruptSegments", bad);
    }
    return o;
}

/* The response form: the document plus timestamps and storage status. */
static json_t *table_response(struct api_server *srv, const struct catalog_doc *d,
                              struct lerr *err)
{
    json_t *doc = json_loads(d->doc, 0, NULL);
    if (!doc) {
        lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", d->name);
        return NULL;
    }
    json_object_set_new(doc, "createdOnTimestamp", api_ts(d->created_ns));
    json_object_set_new(doc, "modifiedOnTimestamp", api_ts(d->modified_ns));
    json_object_set_new(doc, "status", table_status(srv, d->name));
    return doc;
}

json_t *api_table_load(struct api_req *r, const char *name, struct lerr *err)
{
    struct catalog_doc d = {0};
    if (catalog_doc_get(r->srv->cat, CATALOG_TABLE, name, &d, err))
        return NULL;
    json_t *doc = table_response(r->srv, &d, err);
    catalog_doc_destroy(&d);
    return doc;
}

int api_tables_create(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    json_t *spec = api_body_object(r, &err), *doc = NULL;
    if (!spec || api_table_create_from_spec(r, spec, "", &doc, &err)) {
        json_decref(spec);
        return api_reply_err(r, &err);
    }
    json_decref(spec);
    json_object_set_new(doc, "status",
                        table_status(r->srv, json_string_value(json_object_get(doc, "name"))));
    api_reply(r, 201, doc);
    return 0;
}

int api_tables_list(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc_list l;
    if (catalog_doc_list(r->srv->cat, CATALOG_TABLE, &l, &err))
        return api_reply_err(r, &err);
    json_t *values = json_array();
    for (size_t i = 0; i < l.n; i++) {
        json_t *t = table_response(r->srv, &l.items[i], &err);
        if (t)
            json_array_append_new(values, t);
    }
    catalog_doc_list_free(&l);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

int api_tables_get(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    json_t *doc = api_table_load(r, r->seg[1], &err);
    if (!doc)
        return api_reply_err(r, &err);
    api_reply(r, 200, doc);
    return 0;
}

int api_tables_update(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc d = {0};
    json_t *spec = api_body_object(r, &err), *doc = NULL;
    bool locked = false;
    if (!spec || api__v_known_keys(spec, "", put_fields, &err))
        goto fail;
    /* The table's writer lock: a running job may be adding discovered columns. */
    storage_db_lock(r->srv->db, r->seg[1]);
    locked = true;
    if (catalog_doc_get(r->srv->cat, CATALOG_TABLE, r->seg[1], &d, &err))
        goto fail;
    doc = json_loads(d.doc, 0, NULL);
    if (!doc) {
        lerr_set(&err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", d.name);
        goto fail;
    }
    const char *name = NULL, *type = NULL;
    if (api__v_string(spec, "name", "", false, 0, &name, &err) ||
        api__v_enum(spec, "type", "", false, table_types, &type, &err))
        goto fail;
    if (name && strcmp(name, d.name) != 0) {
        lerr_set_at(&err, LERR_INVALID, "name",
                    "name: a table cannot be renamed ('%s' in the body, '%s' in the path)", name,
                    d.name);
        goto fail;
    }
    if (type && strcmp(type, d.kind) != 0) {
        lerr_set_at(&err, LERR_INVALID, "type",
                    "type: table '%s' is a %s table; its type cannot change", d.name, d.kind);
        goto fail;
    }
    if (apply_fields(doc, spec, "", true, &err))
        goto fail;
    json_object_set_new(doc, "modifiedByUser", api_caller(r));
    free(d.doc);
    d.doc = json_dumps(doc, JSON_COMPACT);
    d.modified_ns = util_now_ns();
    if (catalog_doc_update(r->srv->cat, CATALOG_TABLE, &d, &err))
        goto fail;
    storage_db_unlock(r->srv->db, r->seg[1]);
    json_decref(doc);
    json_decref(spec);
    catalog_doc_destroy(&d);
    return api_tables_get(r);
fail:
    if (locked)
        storage_db_unlock(r->srv->db, r->seg[1]);
    json_decref(doc);
    json_decref(spec);
    catalog_doc_destroy(&d);
    return api_reply_err(r, &err);
}

int api_tables_delete(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc d = {0};
    if (catalog_doc_get(r->srv->cat, CATALOG_TABLE, r->seg[1], &d, &err))
        return api_reply_err(r, &err);
    json_t *doc = json_loads(d.doc, 0, NULL);
    char id[40];
    snprintf(id, sizeof id, "%s", doc ? json_string_value(json_object_get(doc, "id")) : "");
    json_decref(doc);
    catalog_doc_destroy(&d);
    if (catalog_doc_delete(r->srv->cat, CATALOG_TABLE, r->seg[1], &err))
        return api_reply_err(r, &err);
    storage_db_dropped(r->srv->db, r->seg[1], id); /* the data goes with it */
    api_reply(r, 200, NULL);
    return 0;
}
