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

/* Sift-down of a binary heap of n times whose top is the first to leave:
 * the least for dir < 0 (the largest n kept), the largest for dir > 0. */
static void heap_down(int64_t *h, size_t n, size_t i, int dir)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && (dir < 0 ? h[l] < h[m] : h[l] > h[m]))
            m = l;
        if (r < n && (dir < 0 ? h[r] < h[m] : h[r] > h[m]))
            m = r;
        if (m == i)
            return;
        int64_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Calls fn(arg, t, view, row) for each selected row of view v with its __time. */
static int each_time(const struct storage_view *v, roaring_bitmap_t *sel, struct query__ctx *x,
                     void (*fn)(void *arg, int64_t t, uint32_t row), void *arg)
{
    struct storage_scan *sc = storage_scan_new(v);
    int64_t *tb = malloc(STORAGE_BLOCK_ROWS * sizeof *tb);
    roaring_uint32_iterator_t *it = roaring_create_iterator(sel);
    int rc = sc && tb && it ? 0 : query__ctx_nomem(x, "a scan sent to another node");
    uint64_t rows = storage_view_rows(v);
    for (uint64_t r0 = 0; !rc && it->has_value && r0 < rows; r0 += STORAGE_BLOCK_ROWS) {
        uint32_t m = rows - r0 < STORAGE_BLOCK_ROWS ? (uint32_t)(rows - r0) : STORAGE_BLOCK_ROWS;
        if (it->current_value >= r0 + m)
            continue;
        if (storage_scan_time(sc, r0, m, tb, x->err)) {
            rc = x->err->code;
            break;
        }
        for (; it->has_value && it->current_value < r0 + m; roaring_advance_uint32_iterator(it))
            fn(arg, tb[it->current_value - r0], it->current_value);
    }
    if (it)
        roaring_free_uint32_iterator(it);
    free(tb);
    storage_scan_free(sc);
    return rc;
}

struct first_n {
    int64_t *heap;
    size_t n, cap;
    int dir;
    int64_t bound;          /* the trim: the last time kept */
    roaring_bitmap_t *drop; /* rows past it */
};

static void offer(void *arg, int64_t t, uint32_t row)
{
    (void)row;
    struct first_n *q = arg;
    if (q->n < q->cap) { /* sift up */
        size_t i = q->n++;
        q->heap[i] = t;
        while (i && (q->dir < 0 ? q->heap[(i - 1) / 2] > q->heap[i]
                                : q->heap[(i - 1) / 2] < q->heap[i])) {
            int64_t s = q->heap[i];
            q->heap[i] = q->heap[(i - 1) / 2];
            q->heap[(i - 1) / 2] = s;
            i = (i - 1) / 2;
        }
    } else if (q->dir < 0 ? t > q->heap[0] : t < q->heap[0]) {
        q->heap[0] = t;
        heap_down(q->heap, q->n, 0, q->dir);
    }
}

static void mark_past(void *arg, int64_t t, uint32_t row)
{
    struct first_n *q = arg;
    if (q->dir < 0 ? t < q->bound : t > q->bound)
        roaring_bitmap_add(q->drop, row);
}

/*
 * A top-N by __time (dir -1: latest first): of the selected rows, those
 * among the first `limit` by time, and every row tied with the last of them
 * (the asking node breaks the ties by the rest of its ORDER BY).
 */
static int first_by_time(const struct storage_snapshot *snap, roaring_bitmap_t **sel, int dir,
                         int64_t limit, struct query__ctx *x)
{
    if (limit > (1 << 24))
        return 0; /* a superset is still right; not worth the memory */
    struct first_n q = {.cap = (size_t)limit, .dir = dir};
    if (limit && !(q.heap = malloc((size_t)limit * sizeof *q.heap)))
        return query__ctx_nomem(x, "a scan sent to another node");
    int rc = 0;
    for (size_t i = 0; !rc && limit && i < snap->nviews; i++)
        if (sel[i])
            rc = each_time(snap->views[i], sel[i], x, offer, &q);
    if (!rc && q.n < q.cap) { /* fewer rows than asked for: all of them */
        free(q.heap);
        return 0;
    }
    q.bound = limit ? q.heap[0] : 0;
    for (size_t i = 0; !rc && i < snap->nviews; i++) {
        if (!sel[i])
            continue;
        if (!limit) {
            roaring_bitmap_free(sel[i]);
            sel[i] = NULL;
            continue;
        }
        int64_t lo, hi;
        storage_view_time_range(snap->views[i], &lo, &hi);
        if (dir < 0 ? lo >= q.bound : hi <= q.bound)
            continue; /* every row of the view is kept */
        if (!(q.drop = roaring_bitmap_create())) {
            rc = query__ctx_nomem(x, "a scan sent to another node");
            break;
        }
        rc = each_time(snap->views[i], sel[i], x, mark_past, &q);
        roaring_bitmap_andnot_inplace(sel[i], q.drop);
        roaring_bitmap_free(q.drop);
        if (roaring_bitmap_is_empty(sel[i])) {
            roaring_bitmap_free(sel[i]);
            sel[i] = NULL;
        }
    }
    free(q.heap);
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
    int64_t left = f.exact && !scan->order_time ? scan->limit : -1;
    for (size_t i = 0; !rc && i < snap->nviews; i++)
        rc = view_sel(&f, snap->views[i], &x, &left, &sel[i]);
    if (!rc && f.exact && scan->order_time && scan->limit >= 0)
        rc = first_by_time(snap, sel, scan->order_time, scan->limit, &x);
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
