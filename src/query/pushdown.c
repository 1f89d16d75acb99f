/*
 * pushdown.c — a node's share of a scan another node pushed down to it
 * (query_scan_images): the rows of its snapshot that a block over the table
 * may need, as segment images. The asking node's executor wrote the block's
 * WHERE as SQL (filter.c, query__filter_sql); here it is compiled over this
 * node's columns and decided on the views' indexes (query__filter_view_rows),
 * which gives a superset of the rows: the asking node runs the whole block
 * again over the images, so only a row the WHERE could select must be sent.
 * A LIMIT's cap is applied only when the filter here is exact.
 *
 * Also the table's columns as the binder sees them (query__snapshot_schema),
 * shared with rel.c.
 *
 * Entry points: query_scan_images(), query__snapshot_schema().
 */
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

int query__snapshot_schema(const struct storage_snapshot *snap, struct arena *a,
                           struct sql_schema *out)
{
    size_t n = snap->ncols;
    struct sql_field *fields = arena_zalloc(a, (n ? n : 1) * sizeof *fields);
    if (!fields)
        return LERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct storage_column *c = &snap->cols[i];
        /* a stored ARRAY column without an element type is a multi-value
         * string (Druid's semantics); a typed array is a plain ARRAY */
        fields[i] = (struct sql_field){c->name, strlen(c->name), c->type, NULL,
                                       c->type == SQL_ARRAY && c->elem == SQL_NULL
                                           ? SQL_FIELD_MULTI_VALUE
                                           : SQL_FIELD_ELEM(c->elem)};
    }
    *out = (struct sql_schema){fields, n};
    return 0;
}

/* The rows of view v the filter may select (NULL: none), at most *left of
 * them when capped (*left < 0: no cap). */
static int view_sel(const struct query__filter *f, const struct storage_view *v,
                    struct query__ctx *x, int64_t *left, roaring_bitmap_t **out)
{
    *out = NULL;
    uint64_t rows = storage_view_rows(v);
    if (!rows || *left == 0)
        return 0;
    struct storage_scan *sc = storage_scan_new(v);
    if (!sc)
        return query__ctx_nomem(x, "a scan sent to another node");
    struct query__rowset rs = {NULL, true, true, false};
    int rc = f->root ? query__filter_view_rows(f, v, sc, x, &rs) : 0;
    roaring_bitmap_t *bm = NULL;
    if (!rc) {
        bm = rs.all                 ? roaring_bitmap_from_range(0, rows, 1)
             : rs.bm && rs.borrowed ? roaring_bitmap_copy(rs.bm)
                                    : rs.bm;
        if (!rs.all && rs.bm && !rs.borrowed)
            rs.bm = NULL; /* taken */
        if (!bm && (rs.all || rs.bm))
            rc = query__ctx_nomem(x, "a scan sent to another node");
    }
    query__rowset_free(&rs);
    storage_scan_free(sc);
    uint64_t n = bm ? roaring_bitmap_get_cardinality(bm) : 0;
    if (!rc && *left > 0 && n > (uint64_t)*left) {
        uint32_t first_out; /* the row past the cap */
        if (roaring_bitmap_select(bm, (uint32_t)*left, &first_out))
            roaring_bitmap_remove_range(bm, first_out, (uint64_t)UINT32_MAX + 1);
        n = (uint64_t)*left;
    }
    if (!rc && *left > 0)
        *left -= (int64_t)n;
    if (rc || !n) {
        if (bm)
            roaring_bitmap_free(bm);
        bm = NULL;
    }
    *out = bm;
    return rc;
}

int query_scan_images(const struct storage_snapshot *snap, const struct query_scan *scan,
                      const char *tmp_dir, storage_image_fn fn, void *ctx, struct lerr *err)
{
    struct query_limits lim;
    query_limits_get(&lim);
    struct query__ctx x;
    query__ctx_begin(&x,
                     QUERY_DEFAULT_MAX_BYTES < lim.max_query_bytes ? QUERY_DEFAULT_MAX_BYTES
                                                                   : lim.max_query_bytes,
                     INT64_MAX, err);
    struct sql_schema schema;
    struct sql_expr *where = NULL;
    struct query__filter f;
    memset(&f, 0, sizeof f);
    roaring_bitmap_t **sel = calloc(snap->nviews + 1, sizeof *sel);
    bool *keep = calloc(snap->ncols + 1, sizeof *keep);
    int rc = 0;
    if (!sel || !keep || query__snapshot_schema(snap, &x.keep, &schema))
        rc = lerr_set(err, LERR_NOMEM, "out of memory reading a scan sent by another node");
    struct sql_options opt = {.mode = SQL_MODE_SCALAR, .budget = &x.budget};
    if (!rc && scan->where &&
        sql_compile_expr(scan->where, strlen(scan->where), &schema, &opt, &where, err)) {
        struct lerr e = *err;
        lerr_init(err);
        rc = lerr_set(err, e.code == LERR_NOMEM ? LERR_NOMEM : LERR_INVALID,
                      "the filter another node sent with a scan does not compile here (a node "
                      "of another version, or columns not seen here yet): %s",
                      e.msg);
    }
    struct sql_select q;
    memset(&q, 0, sizeof q);
    q.where = where;
    if (!rc)
        rc = query__filter_build(&f, &q, &schema, &opt, &x);
    /* a cap holds only over rows the filter decides exactly */
    int64_t left = f.exact ? scan->limit : -1;
    for (size_t i = 0; !rc && i < snap->nviews; i++)
        rc = view_sel(&f, snap->views[i], &x, &left, &sel[i]);
    for (size_t c = 0; !rc && c < snap->ncols; c++)
        for (size_t k = 0; k < scan->ncols && !keep[c]; k++)
            keep[c] = strcmp(scan->cols[k], snap->cols[c].name) == 0;
    if (!rc)
        rc = storage_snapshot_images(snap, (const struct roaring_bitmap_s *const *)sel, keep,
                                     tmp_dir, fn, ctx, err);
    for (size_t i = 0; sel && i < snap->nviews; i++)
        if (sel[i])
            roaring_bitmap_free(sel[i]);
    free(sel);
    free(keep);
    query__filter_free(&f);
    sql_expr_free(where);
    query__ctx_end(&x);
    if (rc && !err->code)
        lerr_set(err, rc, "a scan sent by another node failed");
    return rc;
}
