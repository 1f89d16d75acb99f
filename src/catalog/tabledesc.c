/*
 * tabledesc.c — catalog_describe_table(): a table (the catalog's one
 * parser, spec.c: type, partitioningGranularity, timeResolution, schema) and
 * its registered segments as storage/db.h's struct storage_table_desc; and
 * catalog_table_add_columns() and catalog_table_widen_column(), the changes
 * the data path makes to a table's document.
 */
#include "catalog/tabledesc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/spec.h"
#include "util/time.h"

/* The table's segments; with `node` set, those another node committed deferred. */
static int describe_segments(struct catalog *cat, const char *name, const char *node,
                             struct arena *mem, struct storage_table_desc *out, struct lerr *err)
{
    struct catalog_segment_list segs = {0};
    if (catalog_segment_list(cat, name, &segs, err))
        return err->code;
    const char **known = arena_zalloc(mem, (segs.n + 1) * sizeof *known);
    int64_t *chunks = arena_zalloc(mem, (2 * segs.n + 1) * sizeof *chunks);
    bool *deferred = node ? arena_zalloc(mem, segs.n + 1) : NULL;
    int rc = known && chunks && (deferred || !node) ? 0
                                                    : lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < segs.n; i++) {
        const char *slash = strrchr(segs.items[i].path, '/');
        if (!(known[i] = arena_strdup(mem, slash ? slash + 1 : segs.items[i].path)))
            rc = lerr_set(err, LERR_NOMEM, "out of memory");
        chunks[2 * i] = segs.items[i].chunk_start;
        chunks[2 * i + 1] = segs.items[i].chunk_end;
        if (deferred)
            deferred[i] = !*node || strcmp(segs.items[i].writer, node) != 0;
    }
    out->known = known;
    out->nknown = segs.n;
    out->known_chunks = chunks;
    out->known_deferred = deferred;
    catalog_segment_list_free(&segs);
    return rc;
}

static int describe(struct catalog *cat, const char *name, bool with_segments, const char *node,
                    struct arena *mem, struct storage_table_desc *out, struct lerr *err);

int catalog_describe_table(void *cat, const char *name, bool with_segments, struct arena *mem,
                           struct storage_table_desc *out, struct lerr *err)
{
    return describe(cat, name, with_segments, NULL, mem, out, err);
}

int catalog_describe_table_node(void *ctx, const char *name, bool with_segments, struct arena *mem,
                                struct storage_table_desc *out, struct lerr *err)
{
    const struct catalog_node_desc *d = ctx;
    const char *node = d->node_id(d->arg);
    return describe(d->cat, name, with_segments, node ? node : "", mem, out, err);
}

static int describe(struct catalog *cat, const char *name, bool with_segments, const char *node,
                    struct arena *mem, struct storage_table_desc *out, struct lerr *err)
{
    struct table_spec t;
    memset(out, 0, sizeof *out);
    if (catalog_table_spec_load(cat, name, mem, &t, err))
        return err->code;
    struct storage_column *cols = arena_zalloc(mem, (t.ncols + 1) * sizeof *cols);
    if (!cols)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t k = 0; k < t.ncols; k++) {
        bool measure = t.cols[k].column_type == CATALOG_COLUMN_MEASURE;
        cols[k].name = t.cols[k].name;
        cols[k].kind = measure ? STORAGE_MEASURE : STORAGE_DIMENSION;
        cols[k].type = t.cols[k].type;
        cols[k].elem = t.cols[k].elem;
        if (measure)
            cols[k].agg = t.cols[k].agg;
    }
    snprintf(out->id, sizeof out->id, "%s", t.id);
    out->schema = (struct storage_schema){
        .type = t.type == CATALOG_TABLE_AGGREGATE ? STORAGE_AGGREGATE : STORAGE_DETAIL,
        .partitioning = t.partitioning,
        .time_resolution = t.time_resolution,
        .cols = cols,
        .ncols = t.ncols,
    };
    return with_segments ? describe_segments(cat, name, node, mem, out, err) : 0;
}

struct add_cols {
    const char *table;
    const struct catalog_new_column *cols;
    size_t n;
};

static bool has_column(json_t *schema, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(schema, i, e) {
        const char *nm = json_string_value(json_object_get(e, "name"));
        if (nm && strcmp(nm, name) == 0)
            return true;
    }
    return false;
}

/* Appends the columns the stored schema lacks (another node may have added one first). */
static int add_cols_fn(void *ctx, const char *text, char **out, struct lerr *err)
{
    const struct add_cols *a = ctx;
    json_t *doc = json_loads(text, 0, NULL);
    json_t *schema = json_object_get(doc, "schema");
    if (!json_is_array(schema)) {
        json_decref(doc);
        return lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", a->table);
    }
    size_t added = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct catalog_new_column *c = &a->cols[i];
        if (has_column(schema, c->name))
            continue;
        json_t *col = json_pack("{s:s, s:s, s:s}", "name", c->name, "dataType", c->data_type,
                                "columnType",
                                catalog_column_type_name(c->measure ? CATALOG_COLUMN_MEASURE
                                                                    : CATALOG_COLUMN_DIMENSION));
        struct sql_sketch_param p[2];
        size_t np = c->agg ? sql_agg_sketch_params(c->agg, p) : 0;
        for (size_t k = 0; col && k < np; k++)
            json_object_set_new(col, p[k].key,
                                p[k].s ? json_string(p[k].s) : json_integer(p[k].n));
        if (col && c->mv_handling)
            json_object_set_new(col, "multiValueHandling", json_string(c->mv_handling));
        if (col && c->discovered)
            json_object_set_new(col, "discovered", json_true());
        json_array_append_new(schema, col);
        added++;
    }
    *out = added ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (added && !*out)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    return 0;
}

int catalog_table_add_columns(struct catalog *cat, const char *table,
                              const struct catalog_new_column *cols, size_t n, struct lerr *err)
{
    if (!n)
        return 0;
    struct add_cols a = {table, cols, n};
    return catalog_doc_modify(cat, CATALOG_TABLE, table, add_cols_fn, &a, err);
}

struct widen {
    const char *table;
    const struct catalog_widening *w;
};

/* Records the widening on the column (nothing when another node already did). */
static int widen_fn(void *ctx, const char *text, char **out, struct lerr *err)
{
    const struct widen *x = ctx;
    const struct catalog_widening *w = x->w;
    json_t *doc = json_loads(text, 0, NULL);
    json_t *schema = json_object_get(doc, "schema"), *col = NULL, *e;
    if (!json_is_array(schema)) {
        json_decref(doc);
        return lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", x->table);
    }
    size_t i;
    json_array_foreach(schema, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name && strcmp(name, w->column) == 0) {
            col = e;
            break;
        }
    }
    const char *from = json_string_value(json_object_get(col, "dataType"));
    int rc = 0;
    if (!col || !from)
        rc = lerr_set(err, LERR_NOT_FOUND, "table '%s' has no column '%s'", x->table, w->column);
    else if (!json_is_true(json_object_get(col, "discovered")))
        rc = lerr_set(err, LERR_INVALID,
                      "column '%s' of table '%s' is declared in the table's schema; its type "
                      "does not change",
                      w->column, x->table);
    if (rc || strcmp(from, w->data_type) == 0) {
        json_decref(doc);
        return rc;
    }
    char ts[32];
    util_format_iso_ms(util_now_ms(), ts);
    json_t *change =
        json_pack("{s:s, s:s, s:s}", "from", from, "to", w->data_type, "timestamp", ts);
    if (change && w->job_id)
        json_object_set_new(change, "jobId", json_string(w->job_id));
    if (change && w->partition >= 0)
        json_object_set_new(change, "partition", json_integer(w->partition));
    if (change && w->offset >= 0)
        json_object_set_new(change, "offset", json_integer(w->offset));
    json_t *changes = json_object_get(col, "typeChanges");
    if (!json_is_array(changes)) {
        changes = json_array();
        json_object_set_new(col, "typeChanges", changes);
    }
    json_array_append_new(changes, change);
    json_object_set_new(col, "dataType", json_string(w->data_type));
    *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return *out ? 0 : lerr_set(err, LERR_NOMEM, "out of memory");
}

int catalog_table_widen_column(struct catalog *cat, const char *table,
                               const struct catalog_widening *w, struct lerr *err)
{
    struct widen x = {table, w};
    return catalog_doc_modify(cat, CATALOG_TABLE, table, widen_fn, &x, err);
}
