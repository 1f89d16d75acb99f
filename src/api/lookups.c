/*
 * lookups.c — /lookups: named key → value maps that SQL queries read with
 * LOOKUP(expr, 'name'[, replaceMissingValueWith]) (Druid's lookups, managed
 * per project here instead of through Druid's coordinator). Create, list,
 * get, replace, delete; README "Lookups" documents the calls.
 *
 * A lookup is made from a JSON map ({"name", "map": {"k": "v", ...}}) or
 * from two columns of a table ({"name", "table", "keyColumn",
 * "valueColumn"}): the table's rows are read once, when the lookup is
 * created or replaced, through the query engine (SELECT of the two columns
 * as VARCHAR in __time order, so the latest row of a key wins; rows whose
 * key or value is NULL are left out). Either way the map is stored in the
 * catalog (CATALOG_LOOKUP, its document: name, description, type, source,
 * map) and survives restarts; queries read it from there when they are
 * bound (api/query.c, api__lookups).
 *
 * Limits: names 1–64 characters of [A-Za-z0-9._-]; at most
 * LOOKUP_MAX_ENTRIES entries, keys up to LOOKUP_MAX_KEY bytes, values up to
 * LOOKUP_MAX_VALUE bytes; keys and values are strings (a number, boolean,
 * null, object or array is refused, naming the key).
 */
#include <string.h>

#include "api/api_int.h"
#include "query/query.h"
#include "storage/db.h"

#define LOOKUP_MAX_ENTRIES 100000
#define LOOKUP_MAX_KEY 1024
#define LOOKUP_MAX_VALUE 8192

static const char *const post_fields[] = {"name",      "description", "map", "table",
                                          "keyColumn", "valueColumn", NULL};

static int check_name(const char *name, const char *target, struct lerr *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: a lookup name is 1 to 64 characters long, not %zu", target, n);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return lerr_set_at(err, LERR_INVALID, target,
                               "%s: '%s' has the character '%c' at position %zu; a lookup name "
                               "uses only letters, digits, '.', '_' and '-'",
                               target, name, (unsigned char)c >= 0x20 ? c : '?', i + 1);
    }
    return 0;
}

/* Checks a "map" object: string keys and values within the limits. */
static int check_map(json_t *map, struct lerr *err)
{
    if (!json_is_object(map))
        return lerr_set_at(err, LERR_INVALID, "map",
                           "map must be a JSON object of strings, such as {\"US\": \"United "
                           "States\"}");
    if (json_object_size(map) > LOOKUP_MAX_ENTRIES)
        return lerr_set_at(err, LERR_INVALID, "map",
                           "map has %zu entries; a lookup holds at most %d", json_object_size(map),
                           LOOKUP_MAX_ENTRIES);
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(map, k, klen, v)
    {
        char target[96];
        snprintf(target, sizeof target, "map.%.*s", (int)(klen > 60 ? 60 : klen), k);
        if (klen > LOOKUP_MAX_KEY)
            return lerr_set_at(err, LERR_INVALID, target,
                               "%s: the key is %zu bytes long; at most %d allowed", target, klen,
                               LOOKUP_MAX_KEY);
        if (!json_is_string(v)) {
            const char *what = json_is_null(v)      ? "null"
                               : json_is_boolean(v) ? "a boolean"
                               : json_is_number(v)  ? "a number"
                               : json_is_array(v)   ? "an array"
                                                    : "an object";
            return lerr_set_at(err, LERR_INVALID, target,
                               "%s: the value must be a string but is %s (write numbers as "
                               "strings, e.g. \"5\"; leave out keys that have no value)",
                               target, what);
        }
        if (json_string_length(v) > LOOKUP_MAX_VALUE)
            return lerr_set_at(err, LERR_INVALID, target,
                               "%s: the value is %zu bytes long; at most %d allowed", target,
                               json_string_length(v), LOOKUP_MAX_VALUE);
    }
    return 0;
}

/* A column of the snapshot by name; LERR_INVALID naming the closest one. */
static int check_column(const struct storage_snapshot *s, const char *table, const char *col,
                        const char *target, struct lerr *err)
{
    const char *cand[257];
    size_t nc = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        if (strcmp(s->cols[i].name, col) == 0)
            return 0;
        if (nc < LS_ARRAY_LEN(cand) - 1)
            cand[nc++] = s->cols[i].name;
    }
    cand[nc] = NULL;
    const char *best = util_closest(col, strlen(col), cand);
    if (best)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: table '%s' has no column '%s' (did you mean '%s'?)", target, table,
                           col, best);
    return lerr_set_at(err, LERR_INVALID, target,
                       "%s: table '%s' has no column '%s' (GET the table to see its columns)",
                       target, table, col);
}

static void quote_ident(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* Reads the map of a table lookup: the rows' (key, value) pairs, the latest row of a key
 * winning. Returns the new map object, or NULL with err set. */
static json_t *map_from_table(struct api_req *r, const char *table, const char *kcol,
                              const char *vcol, struct lerr *err)
{
    struct lerr e;
    lerr_init(&e);
    struct catalog_doc td = {0};
    int found = catalog_doc_get(r->srv->cat, CATALOG_TABLE, table, &td, &e);
    catalog_doc_destroy(&td);
    if (found == LERR_NOT_FOUND) {
        lerr_set_at(err, LERR_INVALID, "table",
                    "table: no table named '%s' (GET /v1/projects/{projectId}/tables lists "
                    "them)",
                    table);
        return NULL;
    }
    if (found) {
        lerr_set_at(err, found, "table", "table: reading '%s' failed: %s", table, e.msg);
        return NULL;
    }
    struct storage_snapshot *s = storage_db_snapshot(r->srv->db, table, &e);
    if (!s) {
        lerr_set_at(err, e.code == LERR_NOT_FOUND ? LERR_INVALID : e.code, "table",
                    "table: cannot read table '%s': %s", table, e.msg);
        return NULL;
    }
    int rc = check_column(s, table, kcol, "keyColumn", err) ||
             check_column(s, table, vcol, "valueColumn", err);
    storage_snapshot_free(s);
    if (rc)
        return NULL;
    struct buf sql;
    buf_init(&sql, 4096);
    buf_puts(&sql, "SELECT CAST(");
    quote_ident(&sql, kcol);
    buf_puts(&sql, " AS VARCHAR), CAST(");
    quote_ident(&sql, vcol);
    buf_puts(&sql, " AS VARCHAR) FROM ");
    quote_ident(&sql, table);
    buf_puts(&sql, " WHERE ");
    quote_ident(&sql, kcol);
    buf_puts(&sql, " IS NOT NULL AND ");
    quote_ident(&sql, vcol);
    buf_puts(&sql, " IS NOT NULL ORDER BY __time");
    struct query_request req;
    query_request_init(&req);
    req.sql = sql.data;
    req.sql_len = sql.len;
    req.format = QUERY_FORMAT_ARRAY_LINES;
    struct query_env env;
    struct sql_lookups lk;
    struct api_query_ctx qc = {.srv = r->srv, .timeout_ms = req.timeout_ms};
    api__query_env(&qc, &env, &lk);
    struct buf out;
    buf_init(&out, 256u << 20);
    json_t *map = NULL;
    if (sql.failed) {
        lerr_set(err, LERR_NOMEM, "out of memory");
    } else if (query_execute(&req, &env, &out, NULL, &e)) {
        lerr_set_at(err, e.code, "table", "table: reading '%s' failed: %s", table, e.msg);
    } else {
        map = json_object();
        const char *p = out.data, *end = out.data + out.len;
        while (map && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (len) {
                json_t *row = json_loadb(p, len, 0, NULL);
                json_t *k = json_array_get(row, 0), *v = json_array_get(row, 1);
                if (json_is_string(k) && json_is_string(v))
                    json_object_setn(map, json_string_value(k), json_string_length(k), v);
                json_decref(row);
            }
            p += len + 1;
        }
        if (!map)
            lerr_set(err, LERR_NOMEM, "out of memory");
    }
    buf_free(&out);
    buf_free(&sql);
    if (map && json_object_size(map) > LOOKUP_MAX_ENTRIES) {
        lerr_set_at(err, LERR_INVALID, "table",
                    "table: '%s' has %zu distinct keys in column '%s'; a lookup holds at most %d",
                    table, json_object_size(map), kcol, LOOKUP_MAX_ENTRIES);
        json_decref(map);
        return NULL;
    }
    /* the values came from the table: hold them to the same limits */
    if (map && check_map(map, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "table '%s': %s", table, err->msg);
        lerr_init(err);
        lerr_set_at(err, LERR_INVALID, "table", "%s", msg);
        json_decref(map);
        return NULL;
    }
    return map;
}

/* The body checked into the stored document {name, description, type, source?, map}. */
static json_t *lookup_doc(struct api_req *r, json_t *body, const char *name_in_path,
                          struct lerr *err)
{
    if (api__v_known_keys(body, "", post_fields, err))
        return NULL;
    const char *name = NULL, *desc = NULL, *table = NULL, *kcol = NULL, *vcol = NULL;
    if (api__v_string(body, "name", "", name_in_path == NULL, 64, &name, err) ||
        api__v_string(body, "description", "", false, 4096, &desc, err) ||
        api__v_string(body, "table", "", false, 255, &table, err) ||
        api__v_string(body, "keyColumn", "", false, 255, &kcol, err) ||
        api__v_string(body, "valueColumn", "", false, 255, &vcol, err))
        return NULL;
    if (name_in_path && name && strcmp(name, name_in_path) != 0) {
        lerr_set_at(err, LERR_INVALID, "name",
                    "name: '%s' differs from the lookup in the path ('%s'); a lookup cannot be "
                    "renamed (create a new one and delete this one)",
                    name, name_in_path);
        return NULL;
    }
    if (!name)
        name = name_in_path;
    if (check_name(name, "name", err))
        return NULL;
    json_t *map = json_object_get(body, "map");
    if (map && table) {
        lerr_set_at(err, LERR_INVALID, "table",
                    "give either map (the entries themselves) or table with keyColumn and "
                    "valueColumn (read from a table), not both");
        return NULL;
    }
    if (!map && !table) {
        lerr_set(err, LERR_INVALID,
                 "a lookup needs its entries: \"map\": {\"key\": \"value\", ...}, or \"table\", "
                 "\"keyColumn\" and \"valueColumn\" to read them from a table");
        return NULL;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "name", json_string(name));
    json_object_set_new(doc, "description", desc ? json_string(desc) : json_string(""));
    if (map) {
        if (kcol || vcol) {
            lerr_set_at(err, LERR_INVALID, kcol ? "keyColumn" : "valueColumn",
                        "%s only goes with table (a lookup read from a table)",
                        kcol ? "keyColumn" : "valueColumn");
            json_decref(doc);
            return NULL;
        }
        if (check_map(map, err)) {
            json_decref(doc);
            return NULL;
        }
        json_object_set_new(doc, "type", json_string("map"));
        json_object_set(doc, "map", map);
        return doc;
    }
    if (!kcol || !vcol) {
        lerr_set_at(err, LERR_INVALID, kcol ? "valueColumn" : "keyColumn",
                    "%s is required with table: the column whose values become the lookup's %s",
                    kcol ? "valueColumn" : "keyColumn", kcol ? "values" : "keys");
        json_decref(doc);
        return NULL;
    }
    json_t *m = map_from_table(r, table, kcol, vcol, err);
    if (!m) {
        json_decref(doc);
        return NULL;
    }
    json_object_set_new(doc, "type", json_string("table"));
    json_object_set_new(
        doc, "source",
        json_pack("{s:s, s:s, s:s}", "table", table, "keyColumn", kcol, "valueColumn", vcol));
    json_object_set_new(doc, "map", m);
    return doc;
}

/* The API's view of a stored lookup: the document with its count and times. */
static json_t *lookup_view(const struct catalog_doc *d, bool with_map)
{
    json_t *doc = json_loads(d->doc, 0, NULL);
    if (!doc)
        doc = json_pack("{s:s}", "name", d->name);
    json_object_set_new(doc, "entryCount",
                        json_integer((json_int_t)json_object_size(json_object_get(doc, "map"))));
    if (!with_map)
        json_object_del(doc, "map");
    json_object_set_new(doc, "createdTimestamp", api_ts(d->created_ns));
    json_object_set_new(doc, "modifiedTimestamp", api_ts(d->modified_ns));
    return doc;
}

static int store(struct api_req *r, json_t *doc, bool create, struct lerr *err)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    struct catalog_doc d = {0};
    snprintf(d.name, sizeof d.name, "%s", json_string_value(json_object_get(doc, "name")));
    snprintf(d.kind, sizeof d.kind, "%s", json_string_value(json_object_get(doc, "type")));
    d.doc = text;
    d.created_ns = d.modified_ns = util_now_ns();
    int rc = create ? catalog_doc_insert(r->srv->cat, CATALOG_LOOKUP, &d, err)
                    : catalog_doc_update(r->srv->cat, CATALOG_LOOKUP, &d, err);
    free(text);
    return rc;
}

static int reply_stored(struct api_req *r, const char *name, int status)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc d = {0};
    if (catalog_doc_get(r->srv->cat, CATALOG_LOOKUP, name, &d, &err))
        return api_reply_err(r, &err);
    api_reply(r, status, lookup_view(&d, true));
    catalog_doc_destroy(&d);
    return 0;
}

int api_lookups_create(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    json_t *body = api_body_object(r, &err);
    json_t *doc = body ? lookup_doc(r, body, NULL, &err) : NULL;
    int rc = doc ? store(r, doc, true, &err) : err.code;
    if (!rc)
        rc = reply_stored(r, json_string_value(json_object_get(doc, "name")), 201);
    else
        api_reply_err(r, &err);
    json_decref(doc);
    json_decref(body);
    return rc;
}

int api_lookups_update(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc old = {0};
    if (catalog_doc_get(r->srv->cat, CATALOG_LOOKUP, r->seg[1], &old, &err))
        return api_reply_err(r, &err);
    catalog_doc_destroy(&old);
    json_t *body = api_body_object(r, &err);
    json_t *doc = body ? lookup_doc(r, body, r->seg[1], &err) : NULL;
    int rc = doc ? store(r, doc, false, &err) : err.code;
    if (!rc)
        rc = reply_stored(r, r->seg[1], 200);
    else
        api_reply_err(r, &err);
    json_decref(doc);
    json_decref(body);
    return rc;
}

int api_lookups_list(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc_list l;
    if (catalog_doc_list(r->srv->cat, CATALOG_LOOKUP, &l, &err))
        return api_reply_err(r, &err);
    json_t *values = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(values, lookup_view(&l.items[i], false));
    catalog_doc_list_free(&l);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

int api_lookups_get(struct api_req *r) { return reply_stored(r, r->seg[1], 200); }

int api_lookups_delete(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    if (catalog_doc_delete(r->srv->cat, CATALOG_LOOKUP, r->seg[1], &err))
        return api_reply_err(r, &err);
    api_reply(r, 200, NULL);
    return 0;
}
