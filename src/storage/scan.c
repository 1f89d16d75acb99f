/*
 * scan.c — the read side the query engine uses: snapshots (a table version
 * plus the row counts of its realtime buffers at that moment), views (one
 * segment or one buffer), dictionary and bitmap access, and scans that
 * decode row ranges of a view into sql_values or raw arrays.
 *
 * Entry points: storage__version_ref/unref(), storage__vseg_unref(),
 * storage__snapshot_build(), storage_snapshot_free(),
 * storage_view_*(), storage_scan_new/free(), storage_scan_values/time/
 * longs/doubles/ids/states().
 *
 * A scan caches the last decoded block of each column it reads, so reading
 * a view block by block (STORAGE_BLOCK_ROWS) decodes every block once.
 * Thread-safety: snapshots and views are immutable and shared; a scan
 * belongs to one thread.
 */
#include <stdio.h>

#include "storage/storage_int.h"

/* ---- versions: references (table.c derives and publishes them) ---------- */

struct storage__version *storage__version_ref(struct storage__version *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

void storage__vseg_unref(struct storage__vseg *vs)
{
    if (!vs || atomic_fetch_sub_explicit(&vs->refs, 1, memory_order_acq_rel) != 1)
        return;
    storage__seg_unref(vs->seg);
    free(vs);
}

void storage__version_unref(struct storage__version *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < v->nsegs; i++)
        storage__vseg_unref(v->segs[i]);
    for (size_t i = 0; i < v->nrts; i++)
        rt_unref(v->rts[i]);
    free(v->segs);
    free(v->rts);
    storage__schema_unref(v->schema);
    free(v);
}

/* ---- snapshots ----------------------------------------------------------- */

struct snap {
    struct storage_snapshot pub;
    struct storage__version *ver;
    struct storage_view **ptrs;
    uint32_t *dict_counts;
    struct storage_missing *missing;
    struct storage_view views[];
};

bool storage__snapshot_add_missing(struct storage_snapshot *s, const char *name,
                                   int64_t chunk_start, int64_t chunk_end, const char *msg,
                                   int code)
{
    struct snap *sn = (struct snap *)s;
    struct storage_missing *m = realloc(sn->missing, (s->nmissing + 1) * sizeof *m);
    if (!m)
        return false;
    sn->missing = m;
    m += s->nmissing;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->chunk_start = chunk_start;
    m->chunk_end = chunk_end;
    snprintf(m->msg, sizeof m->msg, "%s", msg);
    m->code = code;
    s->nmissing++;
    s->missing = sn->missing;
    return true;
}

void storage__view_init_seg(struct storage_view *vw, const struct storage__schema *sc,
                            struct storage__vseg *vs)
{
    memset(vw, 0, sizeof *vw);
    struct storage__seg *s = vs->seg;
    vw->schema = sc;
    vw->seg = s;
    vw->colmap = vs->colmap;
    vw->rows = s->nrows;
    vw->min_time = s->nrows ? s->min_time : INT64_MAX;
    vw->max_time = s->nrows ? s->max_time : INT64_MIN;
    vw->chunk_start = s->chunk_start;
    vw->chunk_end = s->chunk_end;
    snprintf(vw->name, sizeof vw->name, "%s", s->name);
}

struct storage_snapshot *storage__snapshot_build(struct storage__version *v)
{
    size_t n = v->nsegs + v->nrts;
    size_t ncols = v->schema->ncols;
    struct snap *sn = calloc(1, sizeof *sn + n * sizeof sn->views[0]);
    if (!sn)
        return NULL;
    sn->ptrs = calloc(n ? n : 1, sizeof *sn->ptrs);
    sn->dict_counts = calloc(v->nrts * ncols + 1, sizeof *sn->dict_counts);
    if (!sn->ptrs || !sn->dict_counts) {
        free(sn->ptrs);
        free(sn->dict_counts);
        free(sn);
        return NULL;
    }
    sn->ver = storage__version_ref(v);
    size_t k = 0;
    for (size_t i = 0; i < v->nsegs; i++) {
        const struct storage__seg *seg = v->segs[i]->seg;
        if (atomic_load_explicit(&seg->corrupt, memory_order_acquire)) {
            /* found damaged on a read: not readable, and queries must know */
            if (!storage__snapshot_add_missing(&sn->pub, seg->name, seg->chunk_start,
                                               seg->chunk_end, seg->corrupt_msg, LERR_CORRUPT)) {
                storage_snapshot_free(&sn->pub);
                return NULL;
            }
            continue;
        }
        storage__view_init_seg(&sn->views[k], v->schema, v->segs[i]);
        sn->ptrs[k] = &sn->views[k];
        k++;
    }
    for (size_t i = 0; i < v->nrts; i++) {
        struct rt_buf *b = v->rts[i];
        uint64_t rows = rt_rows(b); /* acquire: everything below is complete */
        if (!rows)
            continue;
        struct storage_view *vw = &sn->views[k];
        vw->realtime = true;
        vw->schema = v->schema;
        vw->rt = b;
        vw->rows = rows;
        rt_time_range(b, &vw->min_time, &vw->max_time);
        rt_chunk(b, &vw->chunk_start, &vw->chunk_end);
        uint32_t *dc = sn->dict_counts + i * ncols;
        for (size_t c = 0; c < ncols; c++)
            dc[c] = rt_dict_count(b, c);
        vw->dict_counts = dc;
        char when[32];
        if (vw->chunk_start == INT64_MIN)
            snprintf(when, sizeof when, "all");
        else
            util_format_iso_ms(vw->chunk_start, when);
        snprintf(vw->name, sizeof vw->name, "realtime %s", when);
        sn->ptrs[k] = vw;
        k++;
    }
    sn->pub.ncols = ncols;
    sn->pub.cols = v->schema->cols;
    sn->pub.nviews = k;
    sn->pub.views = sn->ptrs;
    return &sn->pub;
}

void storage_snapshot_free(struct storage_snapshot *s)
{
    if (!s)
        return;
    struct snap *sn = (struct snap *)s;
    storage__version_unref(sn->ver);
    free(sn->missing);
    free(sn->ptrs);
    free(sn->dict_counts);
    free(sn);
}

/* ---- views --------------------------------------------------------------- */

/* The view's column for snapshot column col, or -1. */
static int vcol(const struct storage_view *v, size_t col)
{
    if (col >= v->schema->ncols)
        return -1;
    if (v->realtime)
        return col < rt_ncols(v->rt) ? (int)col : -1;
    return v->colmap[col];
}

uint64_t storage_view_rows(const struct storage_view *v) { return v->rows; }

void storage_view_time_range(const struct storage_view *v, int64_t *min_time, int64_t *max_time)
{
    *min_time = v->min_time;
    *max_time = v->max_time;
}

void storage_view_chunk(const struct storage_view *v, int64_t *start, int64_t *end)
{
    *start = v->chunk_start;
    *end = v->chunk_end;
}

bool storage_view_is_realtime(const struct storage_view *v) { return v->realtime; }
const char *storage_view_name(const struct storage_view *v) { return v->name; }
bool storage_view_has_column(const struct storage_view *v, size_t col)
{
    return vcol(v, col) >= 0;
}

int storage_view_column_type(const struct storage_view *v, size_t col)
{
    int c = vcol(v, col);
    if (c < 0)
        return SQL_NULL;
    /* a buffer sealed by a widening holds the column's older type */
    return v->realtime ? rt_col_type(v->rt, (size_t)c) : v->seg->cols[c].def.type;
}

int storage_view_column_elem(const struct storage_view *v, size_t col)
{
    int c = vcol(v, col);
    if (c < 0)
        return SQL_NULL;
    return v->realtime ? v->schema->cols[col].elem : v->seg->cols[c].def.elem;
}

static bool is_string_col(const struct storage_view *v, size_t col, int *c)
{
    *c = vcol(v, col);
    if (*c < 0)
        return false;
    if (v->realtime)
        return v->schema->cols[col].kind == STORAGE_DIMENSION &&
               storage__is_dict(rt_col_type(v->rt, (size_t)*c));
    return v->seg->cols[*c].enc == ST_ENC_STRING;
}

uint32_t storage_view_dict_size(const struct storage_view *v, size_t col)
{
    int c;
    if (!is_string_col(v, col, &c))
        return 1;
    return v->realtime ? v->dict_counts[col] : v->seg->cols[c].dict_count + 1;
}

bool storage_view_dict_sorted(const struct storage_view *v, size_t col)
{
    return !v->realtime && storage_view_column_type(v, col) != SQL_ARRAY;
}

struct sql_value storage_view_dict_value(const struct storage_view *v, size_t col, uint32_t id)
{
    int c;
    if (id == STORAGE_NULL_ID || id >= storage_view_dict_size(v, col) ||
        !is_string_col(v, col, &c))
        return sql_null(SQL_STRING);
    const char *p;
    uint32_t n;
    if (v->realtime)
        rt_dict_entry(v->rt, (size_t)c, id, &p, &n);
    else
        storage__seg_dict_entry(v->seg, (size_t)c, id, &p, &n);
    return sql_string(p, n);
}

int64_t storage_view_dict_find(const struct storage_view *v, size_t col, const char *p, size_t n)
{
    int c;
    if (!is_string_col(v, col, &c))
        return -1;
    if (!v->realtime) {
        uint32_t id = storage__seg_dict_lower(v->seg, (size_t)c, p, n);
        if (id > v->seg->cols[c].dict_count)
            return -1;
        const char *q;
        uint32_t qn;
        storage__seg_dict_entry(v->seg, (size_t)c, id, &q, &qn);
        return qn == n && (n == 0 || memcmp(q, p, n) == 0) ? (int64_t)id : -1;
    }
    /* realtime dictionaries are unsorted and small: a scan */
    uint32_t cnt = v->dict_counts[col];
    for (uint32_t id = 1; id < cnt; id++) {
        const char *q;
        uint32_t qn;
        rt_dict_entry(v->rt, (size_t)c, id, &q, &qn);
        if (qn == n && (n == 0 || memcmp(q, p, n) == 0))
            return id;
    }
    return -1;
}

bool storage_view_dict_span(const struct storage_view *v, size_t col, uint32_t lo, uint32_t hi,
                            const char **p, size_t *n)
{
    int c;
    if (v->realtime || !is_string_col(v, col, &c) || lo < 1 || lo > hi ||
        hi > v->seg->cols[c].dict_count + 1)
        return false;
    const uint8_t *offs = v->seg->cols[c].dict + 8;
    const uint8_t *bytes = offs + ((uint64_t)v->seg->cols[c].dict_count + 1) * 4;
    uint32_t a = storage__get_u32(offs + (uint64_t)(lo - 1) * 4),
             b = storage__get_u32(offs + (uint64_t)(hi - 1) * 4);
    *p = (const char *)bytes + a;
    *n = b - a;
    return true;
}

uint32_t storage_view_dict_id_at(const struct storage_view *v, size_t col, const char *at)
{
    int c;
    if (v->realtime || !is_string_col(v, col, &c))
        return STORAGE_NULL_ID;
    const uint8_t *offs = v->seg->cols[c].dict + 8;
    uint32_t cnt = v->seg->cols[c].dict_count;
    const uint8_t *bytes = offs + ((uint64_t)cnt + 1) * 4;
    uint64_t off = (uint64_t)((const uint8_t *)at - bytes);
    /* value id spans [offs[id - 1], offs[id]): the first id whose end is past off */
    uint32_t lo = 1, hi = cnt + 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (storage__get_u32(offs + (uint64_t)mid * 4) > off)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

bool storage_view_dict_prefix(const struct storage_view *v, size_t col, const char *p, size_t n,
                              uint32_t *lo, uint32_t *hi)
{
    int c;
    if (v->realtime || storage_view_column_type(v, col) == SQL_ARRAY)
        return false;
    *lo = *hi = 1;
    if (!is_string_col(v, col, &c))
        return true;
    uint32_t end = v->seg->cols[c].dict_count + 1;
    *lo = storage__seg_dict_lower(v->seg, (size_t)c, p, n);
    /* the first value past the prefix: the prefix with its last byte below
     * 0xff incremented (trailing 0xff bytes dropped) */
    size_t k = n;
    while (k && (unsigned char)p[k - 1] == 0xff)
        k--;
    if (!k) {
        *hi = end;
        return true;
    }
    char stackbuf[256];
    char *succ = k <= sizeof stackbuf ? stackbuf : malloc(k);
    if (!succ) {
        *hi = end; /* over-approximate; callers still check values */
        return true;
    }
    memcpy(succ, p, k);
    succ[k - 1] = (char)((unsigned char)succ[k - 1] + 1);
    *hi = storage__seg_dict_lower(v->seg, (size_t)c, succ, k);
    if (succ != stackbuf)
        free(succ);
    return true;
}

const struct roaring_bitmap_s *storage_view_bitmap(const struct storage_view *v, size_t col,
                                                   uint32_t id, struct lerr *err)
{
    if (v->realtime)
        return NULL;
    int c = vcol(v, col);
    if (c < 0)
        return id == STORAGE_NULL_ID ? v->seg->all : v->seg->empty;
    if (v->seg->cols[c].enc != ST_ENC_STRING) {
        lerr_set(err, LERR_INVALID, "segment %s: column '%s' is not a string column", v->name,
                 v->schema->cols[col].name);
        return NULL;
    }
    return storage__seg_bitmap(v->seg, (size_t)c, id, err);
}

const struct roaring_bitmap_s *storage_view_null_bitmap(const struct storage_view *v, size_t col,
                                                        struct lerr *err)
{
    if (v->realtime)
        return NULL;
    int c = vcol(v, col);
    if (c < 0)
        return v->seg->all;
    return storage__seg_null_bitmap(v->seg, (size_t)c, err);
}

/* ---- scans --------------------------------------------------------------- */

struct ccache {
    int64_t blk;    /* cached block, -1 none */
    uint32_t m;     /* its rows */
    int64_t *l;     /* ST_BLOCK values (double bits for DOUBLE/FLOAT) */
    bool *nulls;    /* ST_BLOCK */
    uint32_t *ids;  /* ST_BLOCK */
    struct buf var; /* decoded var block */
    const uint32_t *lens;
    uint32_t *offs; /* ST_BLOCK + 1 */
    const uint8_t *bytes;
    struct arena mem; /* values of the last read (casts, measures) */
    bool ready;
};

/* Realtime aggregate views: the states of every measure of one block,
 * copied under one lock so that a row's measures agree with each other. */
struct mcache {
    int64_t blk;
    uint8_t **st; /* per column (measures only) */
    struct arena mem;
    bool ready;
};

struct storage_scan {
    const struct storage_view *v;
    size_t ncols;
    struct ccache *c;
    struct mcache mc;
};

struct storage_scan *storage_scan_new(const struct storage_view *v)
{
    struct storage_scan *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->v = v;
    s->ncols = v->schema->ncols;
    s->c = calloc(s->ncols, sizeof *s->c);
    if (!s->c) {
        free(s);
        return NULL;
    }
    return s;
}

void storage_scan_free(struct storage_scan *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++) {
        struct ccache *c = &s->c[i];
        if (!c->ready)
            continue;
        free(c->l);
        free(c->nulls);
        free(c->ids);
        free(c->offs);
        buf_free(&c->var);
        arena_destroy(&c->mem);
    }
    free(s->c);
    if (s->mc.ready) {
        for (size_t i = 0; i < s->ncols; i++)
            free(s->mc.st[i]);
        free(s->mc.st);
        arena_destroy(&s->mc.mem);
    }
    free(s);
}

static int scan_nomem(struct lerr *err)
{
    return lerr_set(err, LERR_NOMEM, "storage: out of memory scanning a table");
}

static struct ccache *cache_for(struct storage_scan *s, size_t col, struct lerr *err)
{
    struct ccache *c = &s->c[col];
    if (c->ready)
        return c;
    c->l = malloc(ST_BLOCK * sizeof *c->l);
    c->nulls = malloc(ST_BLOCK);
    c->ids = malloc(ST_BLOCK * sizeof *c->ids);
    c->offs = malloc((ST_BLOCK + 1) * sizeof *c->offs);
    if (!c->l || !c->nulls || !c->ids || !c->offs) {
        free(c->l);
        free(c->nulls);
        free(c->ids);
        free(c->offs);
        c->l = NULL;
        c->nulls = NULL;
        c->ids = NULL;
        c->offs = NULL;
        scan_nomem(err);
        return NULL;
    }
    buf_init(&c->var, 0);
    arena_init(&c->mem, 16 * 1024, 0);
    c->blk = -1;
    c->ready = true;
    return c;
}

static int check_range(const struct storage_scan *s, size_t col, uint64_t row0, uint32_t n,
                       struct lerr *err)
{
    if (col >= s->ncols)
        return lerr_set(err, LERR_INVALID,
                        "storage: column %zu is not in the snapshot (%zu columns)", col, s->ncols);
    if (n > s->v->rows || row0 > s->v->rows - n)
        return lerr_set(err, LERR_INVALID, "storage: rows %llu..%llu are outside %s (%llu rows)",
                        (unsigned long long)row0, (unsigned long long)(row0 + n), s->v->name,
                        (unsigned long long)s->v->rows);
    return 0;
}

/* What the bytes of a view's column are. */
enum phys { PH_MISSING, PH_LONG, PH_DOUBLE, PH_STRING, PH_TEXT, PH_STATE };

static enum phys phys_of(const struct storage_view *v, size_t col, int *vc)
{
    *vc = vcol(v, col);
    if (*vc < 0)
        return PH_MISSING;
    const struct storage_column *d = v->realtime ? &v->schema->cols[col] : &v->seg->cols[*vc].def;
    if (d->kind == STORAGE_MEASURE)
        return PH_STATE;
    int type = v->realtime && col > 0 ? rt_col_type(v->rt, (size_t)*vc) : d->type;
    if (storage__is_dict(type))
        return PH_STRING;
    if (type == SQL_JSON)
        return PH_TEXT;
    return storage__is_doubleish(type) ? PH_DOUBLE : PH_LONG;
}

/* Loads block blk of a LONG/DOUBLE (or __time) column into the cache. */
static int load_fixed(struct storage_scan *s, struct ccache *c, size_t col, int vc, uint64_t blk,
                      struct lerr *err)
{
    const struct storage_view *v = s->v;
    uint32_t m = storage__block_rows(v->rows, blk);
    uint64_t r0 = blk * ST_BLOCK;
    if (v->realtime) {
        if (col == 0) {
            rt_read_time(v->rt, r0, m, c->l);
            memset(c->nulls, 0, m);
        } else {
            rt_read_longs(v->rt, col, r0, m, c->l, c->nulls);
        }
    } else {
        int64_t got = storage__seg_block_fixed(v->seg, (size_t)vc, blk, c->l, err);
        if (got < 0)
            return -1;
        if (v->seg->cols[vc].enc == ST_ENC_TIME)
            memset(c->nulls, 0, m);
        else if (storage__seg_null_flags(v->seg, (size_t)vc, r0, m, c->nulls, err))
            return -1;
    }
    c->blk = (int64_t)blk;
    c->m = m;
    return 0;
}

static int load_ids(struct storage_scan *s, struct ccache *c, int vc, uint64_t blk,
                    struct lerr *err)
{
    const struct storage_view *v = s->v;
    uint32_t m = storage__block_rows(v->rows, blk);
    if (v->realtime)
        rt_read_ids(v->rt, (size_t)vc, blk * ST_BLOCK, m, c->ids);
    else if (storage__seg_ids(v->seg, (size_t)vc, blk * ST_BLOCK, m, c->ids, err))
        return -1;
    c->blk = (int64_t)blk;
    c->m = m;
    return 0;
}

/* Segments only: a JSON or state block (with JSON null flags). */
static int load_var(struct storage_scan *s, struct ccache *c, int vc, uint64_t blk,
                    struct lerr *err)
{
    struct storage__seg *seg = s->v->seg;
    int64_t m = storage__seg_block_var(seg, (size_t)vc, blk, &c->var, &c->lens, &c->bytes, err);
    if (m < 0)
        return -1;
    c->offs[0] = 0;
    for (int64_t i = 0; i < m; i++)
        c->offs[i + 1] = c->offs[i] + c->lens[i];
    if (seg->cols[vc].enc == ST_ENC_TEXT) {
        if (storage__seg_null_flags(seg, (size_t)vc, blk * ST_BLOCK, (uint32_t)m, c->nulls, err))
            return -1;
    } else {
        memset(c->nulls, 0, (size_t)m);
    }
    c->blk = (int64_t)blk;
    c->m = (uint32_t)m;
    return 0;
}

/* The cached copy of block blk's measure states (realtime views). */
static int load_rt_measures(struct storage_scan *s, uint64_t blk, struct lerr *err)
{
    struct mcache *mc = &s->mc;
    const struct storage__schema *sc = s->v->schema;
    if (!mc->ready) {
        mc->st = calloc(s->ncols, sizeof *mc->st);
        if (!mc->st)
            return scan_nomem(err);
        for (size_t c = 1; c < s->ncols; c++) {
            if (sc->cols[c].kind != STORAGE_MEASURE || vcol(s->v, c) < 0)
                continue;
            mc->st[c] = malloc((size_t)ST_BLOCK * sc->state_size[c]);
            if (!mc->st[c]) {
                for (size_t j = 0; j < c; j++)
                    free(mc->st[j]);
                free(mc->st);
                mc->st = NULL;
                return scan_nomem(err);
            }
        }
        arena_init(&mc->mem, 64 * 1024, 0);
        mc->ready = true;
        mc->blk = -1;
    }
    if (mc->blk == (int64_t)blk)
        return 0;
    arena_reset(&mc->mem);
    mc->blk = -1;
    if (!rt_copy_states(s->v->rt, sc, blk * ST_BLOCK, storage__block_rows(s->v->rows, blk), mc->st,
                        &mc->mem))
        return scan_nomem(err);
    mc->blk = (int64_t)blk;
    return 0;
}

/* A segment's serialized state → a state in mem. */
static void *state_from(const struct storage_view *v, int vc, const struct storage_column *def,
                        uint32_t ss, struct ccache *c, uint32_t j, struct arena *mem,
                        struct lerr *err)
{
    void *st = arena_alloc(mem, ss ? ss : 1);
    if (!st) {
        scan_nomem(err);
        return NULL;
    }
    if (sql_agg_deserialize(&def->agg, c->bytes + c->offs[j], c->lens[j], st, mem, err) != 0) {
        storage__seg_corrupt(v->seg, (size_t)vc, ST_P_DATA, 0, err,
                             "a measure's state does not deserialize");
        return NULL;
    }
    return st;
}

static int read_measures(struct storage_scan *s, size_t col, int vc, uint64_t row0, uint32_t n,
                         const uint32_t *sel, struct sql_value *out, struct ccache *c,
                         struct lerr *err)
{
    const struct storage_view *v = s->v;
    const struct storage_column *def = &v->schema->cols[col];
    uint32_t ss = v->schema->state_size[col];
    for (uint32_t k = 0; k < n; k++) {
        uint64_t row = row0 + (sel ? sel[k] : k);
        if (v->realtime) {
            if (load_rt_measures(s, row / ST_BLOCK, err))
                return -1;
            sql_agg_finalize(&def->agg, s->mc.st[col] + (size_t)(row % ST_BLOCK) * ss, &out[k]);
            /* strings point into the cached state: copy them to this column's
             * memory, which lives until the column's next read */
            struct sql_value *x = &out[k];
            if (!x->is_null && sql_type_has_bytes(x->type) && x->v.s.n) {
                char *copy = arena_alloc(&c->mem, x->v.s.n);
                if (!copy)
                    return scan_nomem(err);
                x->v.s.p = memcpy(copy, x->v.s.p, x->v.s.n);
            }
            continue;
        }
        uint64_t blk = row / ST_BLOCK;
        if ((int64_t)blk != c->blk && load_var(s, c, vc, blk, err))
            return -1;
        void *st = state_from(v, vc, def, ss, c, (uint32_t)(row % ST_BLOCK), &c->mem, err);
        if (!st)
            return -1;
        sql_agg_finalize(&def->agg, st, &out[k]);
    }
    return 0;
}

/* An ARRAY column's dictionary entry (in *x) → an ARRAY of its values
 * (items in mem, bytes in the entry): a multi-value string's list (elem
 * SQL_NULL; never empty), or a typed array of `elem`s (the empty entry is
 * the empty array). */
static int mv_value(const struct storage_view *v, int vc, int elem, struct sql_value *x,
                    struct arena *mem, struct lerr *err)
{
    int64_t cnt = elem == SQL_NULL ? storage_mv_decode(x->v.s.p, x->v.s.n, NULL, 0)
                                   : storage_array_decode(elem, x->v.s.p, x->v.s.n, NULL, 0);
    if (cnt < 0 || (cnt == 0 && elem == SQL_NULL)) {
        /* segments are checked at open; a realtime entry is always whole */
        if (v->realtime)
            return lerr_set(err, LERR_CORRUPT, "%s: an array or multi-value list is not whole",
                            v->name);
        return storage__seg_corrupt(v->seg, (size_t)vc, ST_P_DICT, 0, err,
                                    "an array or multi-value list is not whole");
    }
    struct sql_value *items = arena_alloc(mem, (size_t)(cnt ? cnt : 1) * sizeof *items);
    if (!items)
        return scan_nomem(err);
    if (elem == SQL_NULL)
        storage_mv_decode(x->v.s.p, x->v.s.n, items, (uint32_t)cnt);
    else
        storage_array_decode(elem, x->v.s.p, x->v.s.n, items, (uint32_t)cnt);
    x->type = SQL_ARRAY;
    x->v.a.items = items;
    x->v.a.n = (uint32_t)cnt;
    return 0;
}

int storage_scan_values(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n,
                        const uint32_t *sel, struct sql_value *out, struct lerr *err)
{
    if (!sel && check_range(s, col, row0, n, err))
        return err->code;
    for (uint32_t k = 0; sel && k < n; k++)
        if (check_range(s, col, row0 + sel[k], 1, err))
            return err->code;
    const struct storage_view *v = s->v;
    int type = v->schema->cols[col].type;
    int vc;
    enum phys ph = phys_of(v, col, &vc);
    if (ph == PH_MISSING) {
        for (uint32_t k = 0; k < n; k++)
            out[k] = sql_null(type);
        return 0;
    }
    struct ccache *c = cache_for(s, col, err);
    if (!c)
        return err->code;
    arena_reset(&c->mem);
    if (ph == PH_STATE)
        return read_measures(s, col, vc, row0, n, sel, out, c, err) ? err->code : 0;
    int stored = storage_view_column_type(v, col);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t row = row0 + (sel ? sel[k] : k);
        uint64_t blk = row / ST_BLOCK;
        uint32_t j = (uint32_t)(row % ST_BLOCK);
        struct sql_value x;
        if (ph == PH_TEXT && v->realtime) {
            rt_read_text(v->rt, (size_t)vc, row, 1, &x, stored);
        } else if ((int64_t)blk != c->blk) {
            int rc = ph == PH_STRING ? load_ids(s, c, vc, blk, err)
                     : ph == PH_TEXT ? load_var(s, c, vc, blk, err)
                                     : load_fixed(s, c, col, vc, blk, err);
            if (rc)
                return err->code;
        }
        switch (ph) {
        case PH_STRING:
            x = storage_view_dict_value(v, col, c->ids[j]);
            if (stored == SQL_ARRAY && !x.is_null &&
                mv_value(v, vc, storage_view_column_elem(v, col), &x, &c->mem, err))
                return err->code;
            break;
        case PH_TEXT:
            if (v->realtime)
                break;
            x = c->nulls[j] ? sql_null(stored)
                            : sql_string((const char *)c->bytes + c->offs[j], c->lens[j]);
            x.type = (uint8_t)stored;
            break;
        case PH_DOUBLE:
            x = c->nulls[j] ? sql_null(stored) : sql_double(0);
            memcpy(&x.v.d, &c->l[j], 8);
            x.type = (uint8_t)stored;
            break;
        default:
            x = c->nulls[j] ? sql_null(stored) : sql_long(c->l[j]);
            x.type = (uint8_t)stored;
            break;
        }
        if (x.type != type && !x.is_null) {
            bool relabel = (storage__is_longish(x.type) && storage__is_longish(type)) ||
                           (storage__is_doubleish(x.type) && storage__is_doubleish(type));
            if (relabel)
                x.type = (uint8_t)type;
            else
                x = sql_value_cast(&x, type, &c->mem);
        } else if (x.is_null) {
            x.type = (uint8_t)type;
        }
        out[k] = x;
    }
    return 0;
}

/* Copies rows [row0, row0+n) of a fixed column block by block. */
static int copy_fixed(struct storage_scan *s, size_t col, int vc, uint64_t row0, uint32_t n,
                      int64_t *out, bool *nulls, struct lerr *err)
{
    struct ccache *c = cache_for(s, col, err);
    if (!c)
        return err->code;
    for (uint32_t k = 0; k < n;) {
        uint64_t row = row0 + k;
        uint64_t blk = row / ST_BLOCK;
        uint32_t j = (uint32_t)(row % ST_BLOCK);
        if ((int64_t)blk != c->blk && load_fixed(s, c, col, vc, blk, err))
            return err->code;
        uint32_t m = c->m - j < n - k ? c->m - j : n - k;
        memcpy(out + k, c->l + j, (size_t)m * 8);
        if (nulls)
            memcpy(nulls + k, c->nulls + j, m);
        k += m;
    }
    return 0;
}

int storage_scan_time(struct storage_scan *s, uint64_t row0, uint32_t n, int64_t *out,
                      struct lerr *err)
{
    if (check_range(s, 0, row0, n, err))
        return err->code;
    if (s->v->realtime) {
        rt_read_time(s->v->rt, row0, n, out);
        return 0;
    }
    return copy_fixed(s, 0, vcol(s->v, 0), row0, n, out, NULL, err);
}

static int wrong_class(const struct storage_scan *s, size_t col, const char *want,
                       struct lerr *err)
{
    return lerr_set(err, LERR_INVALID,
                    "storage: column '%s' is not stored as %s in %s; read it with "
                    "storage_scan_values",
                    s->v->schema->cols[col].name, want, s->v->name);
}

int storage_scan_longs(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n, int64_t *out,
                       bool *nulls, struct lerr *err)
{
    if (check_range(s, col, row0, n, err))
        return err->code;
    int vc;
    enum phys ph = phys_of(s->v, col, &vc);
    if (ph == PH_MISSING) {
        memset(out, 0, (size_t)n * 8);
        if (nulls)
            memset(nulls, 1, n);
        return 0;
    }
    if (ph != PH_LONG)
        return wrong_class(s, col, "a long", err);
    if (s->v->realtime && col > 0) {
        rt_read_longs(s->v->rt, col, row0, n, out, nulls);
        return 0;
    }
    return copy_fixed(s, col, vc, row0, n, out, nulls, err);
}

int storage_scan_doubles(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n,
                         double *out, bool *nulls, struct lerr *err)
{
    if (check_range(s, col, row0, n, err))
        return err->code;
    int vc;
    enum phys ph = phys_of(s->v, col, &vc);
    if (ph == PH_MISSING) {
        memset(out, 0, (size_t)n * 8);
        if (nulls)
            memset(nulls, 1, n);
        return 0;
    }
    if (ph != PH_DOUBLE && ph != PH_LONG)
        return wrong_class(s, col, "a number", err);
    int rc;
    if (s->v->realtime && col > 0) {
        rt_read_doubles(s->v->rt, col, row0, n, out, nulls);
        rc = 0;
    } else {
        rc = copy_fixed(s, col, vc, row0, n, (int64_t *)(void *)out, nulls, err);
    }
    if (rc == 0 && ph == PH_LONG) {
        /* longs read as doubles: convert in place */
        for (uint32_t k = 0; k < n; k++) {
            int64_t l;
            memcpy(&l, &out[k], 8);
            out[k] = (double)l;
        }
    }
    return rc;
}

int storage_scan_ids(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n, uint32_t *out,
                     struct lerr *err)
{
    if (check_range(s, col, row0, n, err))
        return err->code;
    int vc;
    enum phys ph = phys_of(s->v, col, &vc);
    if (ph == PH_MISSING) {
        memset(out, 0, (size_t)n * sizeof *out);
        return 0;
    }
    if (ph != PH_STRING)
        return wrong_class(s, col, "a string", err);
    if (s->v->realtime) {
        rt_read_ids(s->v->rt, (size_t)vc, row0, n, out);
        return 0;
    }
    return storage__seg_ids(s->v->seg, (size_t)vc, row0, n, out, err) ? err->code : 0;
}

int storage_scan_states(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n, void *out,
                        struct arena *mem, struct lerr *err)
{
    if (check_range(s, col, row0, n, err))
        return err->code;
    const struct storage_view *v = s->v;
    const struct storage_column *def = &v->schema->cols[col];
    uint32_t ss = v->schema->state_size[col];
    if (def->kind != STORAGE_MEASURE)
        return lerr_set(err, LERR_INVALID, "storage: column '%s' is not a measure", def->name);
    int vc;
    enum phys ph = phys_of(v, col, &vc);
    if (ph == PH_MISSING || (ph == PH_STATE && !v->realtime &&
                             !storage__column_compatible(def, &v->seg->cols[vc].def))) {
        for (uint32_t k = 0; k < n; k++)
            sql_agg_init(&def->agg, (uint8_t *)out + (size_t)k * ss);
        return 0;
    }
    if (ph != PH_STATE)
        return wrong_class(s, col, "a measure", err);
    if (v->realtime) {
        for (uint32_t k = 0; k < n; k++) {
            uint64_t row = row0 + k;
            if (load_rt_measures(s, row / ST_BLOCK, err))
                return err->code;
            uint8_t *dst = (uint8_t *)out + (size_t)k * ss;
            sql_agg_init(&def->agg, dst);
            if (!sql_agg_merge(&def->agg, dst, s->mc.st[col] + (size_t)(row % ST_BLOCK) * ss, mem))
                return scan_nomem(err);
        }
        return 0;
    }
    struct ccache *c = cache_for(s, col, err);
    if (!c)
        return err->code;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t row = row0 + k;
        uint64_t blk = row / ST_BLOCK;
        if ((int64_t)blk != c->blk && load_var(s, c, vc, blk, err))
            return err->code;
        uint8_t *dst = (uint8_t *)out + (size_t)k * ss;
        uint32_t j = (uint32_t)(row % ST_BLOCK);
        if (sql_agg_deserialize(&def->agg, c->bytes + c->offs[j], c->lens[j], dst, mem, err))
            return storage__seg_corrupt(v->seg, (size_t)vc, ST_P_DATA, 0, err,
                                        "a measure's state does not deserialize");
    }
    return 0;
}
