/*
 * tabledesc.c — catalog_describe_table(): a table document (type,
 * partitioningGranularity, timeResolution, schema) and its registered
 * segments as storage/db.h's struct storage_table_desc.
 */
#include "catalog/tabledesc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "sql/sql.h"

/* A table document's columns (not __time) as storage columns; names and aggs from `mem`. */
static int doc_columns(json_t *doc, struct arena *mem, struct storage_column **out, size_t *n,
                       struct lerr *err)
{
    json_t *schema = json_object_get(doc, "schema");
    size_t cap = json_array_size(schema);
    struct storage_column *cols = arena_zalloc(mem, (cap + 1) * sizeof *cols);
    if (!cols)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    size_t k = 0, i;
    json_t *c;
    json_array_foreach(schema, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *dt = json_string_value(json_object_get(c, "dataType"));
        const char *ct = json_string_value(json_object_get(c, "columnType"));
        if (!name || !dt || strcmp(name, "__time") == 0)
            continue;
        struct storage_column *sc = &cols[k];
        sc->name = arena_strdup(mem, name);
        if (ct && strcmp(ct, "measure") == 0) {
            if (!sql_agg_for_measure(dt, &sc->agg))
                return lerr_set(err, LERR_INVALID,
                                "column '%s' has measure type %s, which is not supported yet",
                                name, dt);
            sc->kind = STORAGE_MEASURE;
            sc->type = sc->agg.result_type;
        } else {
            int t = sql_type_from_name(dt, strlen(dt));
            if (t < 0)
                return lerr_set(err, LERR_INVALID, "column '%s' has unknown type %s", name, dt);
            sc->kind = STORAGE_DIMENSION;
            sc->type = (uint8_t)t;
        }
        k++;
    }
    *out = cols;
    *n = k;
    return 0;
}

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
    struct catalog_doc d = {0};
    if (catalog_doc_get(cat, CATALOG_TABLE, name, &d, err))
        return err->code;
    json_t *doc = json_loads(d.doc, 0, NULL);
    catalog_doc_destroy(&d);
    if (!doc)
        return lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", name);
    memset(out, 0, sizeof *out);
    struct storage_column *cols = NULL;
    size_t ncols = 0;
    int rc = doc_columns(doc, mem, &cols, &ncols, err);
    if (!rc) {
        const char *id = json_string_value(json_object_get(doc, "id"));
        const char *type = json_string_value(json_object_get(doc, "type"));
        const char *gran = json_string_value(json_object_get(doc, "partitioningGranularity"));
        const char *res = json_string_value(json_object_get(doc, "timeResolution"));
        snprintf(out->id, sizeof out->id, "%s", id ? id : "");
        out->schema = (struct storage_schema){
            .type = type && strcmp(type, "aggregate") == 0 ? STORAGE_AGGREGATE : STORAGE_DETAIL,
            .partitioning = gran ? (enum storage_gran)storage_gran_parse(gran, strlen(gran))
                                 : STORAGE_GRAN_DAY,
            .time_resolution = res ? (enum storage_gran)storage_gran_parse(res, strlen(res))
                                   : STORAGE_GRAN_MILLISECOND,
            .cols = cols,
            .ncols = ncols,
        };
        if (with_segments)
            rc = describe_segments(cat, name, mem, out, err);
    }
    json_decref(doc);
    return rc;
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
    for (size_t i = 0; i < n; i++)
        json_array_append_new(schema, json_pack("{s:s, s:s, s:s}", "name", cols[i].name,
                                                "dataType", cols[i].data_type, "columnType",
                                                cols[i].measure ? "measure" : "dimension"));
    struct catalog_doc nd = {.doc = json_dumps(doc, JSON_COMPACT), .modified_ns = util_now_ns()};
    snprintf(nd.name, sizeof nd.name, "%s", table);
    json_decref(doc);
    if (!nd.doc)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    int rc = catalog_doc_update(cat, CATALOG_TABLE, &nd, err);
    free(nd.doc);
    return rc;
}
