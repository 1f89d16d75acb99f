/*
 * tabledesc.c — catalog_describe_table(): a table (the catalog's one
 * parser, spec.c: type, partitioningGranularity, timeResolution, schema) and
 * its registered segments as storage/db.h's struct storage_table_desc; and
 * catalog_table_add_columns(), the one change the data path makes to a
 * table's document.
 */
#include "catalog/tabledesc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/spec.h"

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

int catalog_table_add_columns(struct catalog *cat, const char *table,
                              const struct catalog_new_column *cols, size_t n, struct lerr *err)
{
    if (!n)
        return 0;
    struct catalog_doc d = {0};
    if (catalog_doc_get(cat, CATALOG_TABLE, table, &d, err))
        return err->code;
    json_t *doc = json_loads(d.doc, 0, NULL);
    catalog_doc_destroy(&d);
    if (!doc)
        return lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", table);
    json_t *schema = json_object_get(doc, "schema");
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_pack(
            "{s:s, s:s, s:s}", "name", cols[i].name, "dataType", cols[i].data_type, "columnType",
            catalog_column_type_name(cols[i].measure ? CATALOG_COLUMN_MEASURE
                                                     : CATALOG_COLUMN_DIMENSION));
        if (c && cols[i].mv_handling)
            json_object_set_new(c, "multiValueHandling", json_string(cols[i].mv_handling));
        json_array_append_new(schema, c);
    }
    struct catalog_doc nd = {.doc = json_dumps(doc, JSON_COMPACT), .modified_ns = util_now_ns()};
    snprintf(nd.name, sizeof nd.name, "%s", table);
    json_decref(doc);
    if (!nd.doc)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    int rc = catalog_doc_update(cat, CATALOG_TABLE, &nd, err);
    free(nd.doc);
    return rc;
}
