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

static int describe_segments(struct catalog *cat, const char *name, struct arena *mem,
                             struct storage_table_desc *out, struct lerr *err)
{
    struct catalog_segment_list segs = {0};
    if (catalog_segment_list(cat, name, &segs, err))
        return err->code;
    const char **known = arena_zalloc(mem, (segs.n + 1) * sizeof *known);
    int64_t *chunks = arena_zalloc(mem, (2 * segs.n + 1) * sizeof *chunks);
    int rc = known && chunks ? 0 : lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < segs.n; i++) {
        const char *slash = strrchr(segs.items[i].path, '/');
        if (!(known[i] = arena_strdup(mem, slash ? slash + 1 : segs.items[i].path)))
            rc = lerr_set(err, LERR_NOMEM, "out of memory");
        chunks[2 * i] = segs.items[i].chunk_start;
        chunks[2 * i + 1] = segs.items[i].chunk_end;
    }
    out->known = known;
    out->nknown = segs.n;
    out->known_chunks = chunks;
    catalog_segment_list_free(&segs);
    return rc;
}

int catalog_describe_table(void *cat, const char *name, bool with_segments, struct arena *mem,
                           struct storage_table_desc *out, struct lerr *err)
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
    return with_segments ? describe_segments(cat, name, mem, out, err) : 0;
}

/* A table's catalog document, parsed (NULL with LERR_NOT_FOUND, LERR_CORRUPT, ...). */
static json_t *table_doc(struct catalog *cat, const char *table, struct lerr *err)
{
    struct catalog_doc d = {0};
    if (catalog_doc_get(cat, CATALOG_TABLE, table, &d, err))
        return NULL;
    json_t *doc = json_loads(d.doc, 0, NULL);
    catalog_doc_destroy(&d);
    if (!doc)
        lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", table);
    return doc;
}

/* Writes a changed table document back (and frees it). */
static int table_doc_store(struct catalog *cat, const char *table, json_t *doc, struct lerr *err)
{
    struct catalog_doc nd = {.doc = json_dumps(doc, JSON_COMPACT), .modified_ns = util_now_ns()};
    snprintf(nd.name, sizeof nd.name, "%s", table);
    json_decref(doc);
    if (!nd.doc)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    int rc = catalog_doc_update(cat, CATALOG_TABLE, &nd, err);
    free(nd.doc);
    return rc;
}

int catalog_table_add_columns(struct catalog *cat, const char *table,
                              const struct catalog_new_column *cols, size_t n, struct lerr *err)
{
    if (!n)
        return 0;
    json_t *doc = table_doc(cat, table, err);
    if (!doc)
        return err->code;
    json_t *schema = json_object_get(doc, "schema");
    for (size_t i = 0; i < n; i++) {
        json_t *col = json_pack(
            "{s:s, s:s, s:s}", "name", cols[i].name, "dataType", cols[i].data_type, "columnType",
            catalog_column_type_name(cols[i].measure ? CATALOG_COLUMN_MEASURE
                                                     : CATALOG_COLUMN_DIMENSION));
        struct sql_sketch_param p[2];
        size_t np = cols[i].agg ? sql_agg_sketch_params(cols[i].agg, p) : 0;
        for (size_t k = 0; col && k < np; k++)
            json_object_set_new(col, p[k].key,
                                p[k].s ? json_string(p[k].s) : json_integer(p[k].n));
        if (col && cols[i].mv_handling)
            json_object_set_new(col, "multiValueHandling", json_string(cols[i].mv_handling));
        if (col && cols[i].discovered)
            json_object_set_new(col, "discovered", json_true());
        json_array_append_new(schema, col);
    }
    return table_doc_store(cat, table, doc, err);
}

int catalog_table_widen_column(struct catalog *cat, const char *table,
                               const struct catalog_widening *w, struct lerr *err)
{
    json_t *doc = table_doc(cat, table, err);
    if (!doc)
        return err->code;
    json_t *schema = json_object_get(doc, "schema"), *col = NULL, *e;
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
        rc = lerr_set(err, LERR_NOT_FOUND, "table '%s' has no column '%s'", table, w->column);
    else if (!json_is_true(json_object_get(col, "discovered")))
        rc = lerr_set(err, LERR_INVALID,
                      "column '%s' of table '%s' is declared in the table's schema; its type "
                      "does not change",
                      w->column, table);
    if (rc) {
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
    return table_doc_store(cat, table, doc, err);
}
