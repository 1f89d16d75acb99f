/*
 * exec_int.h — private to the files that plan and run a SELECT (query.h's
 * engine; query_int.h lists the module), bottom up: plan.c (the read-only
 * plan and EXPLAIN) < block.c (a run's state, reading blocks of rows,
 * aggregating them, collecting rows) < view.c (reading one view; the
 * aggregation by dictionary id and its top-N pruning) < exec.c
 * (query__exec_run: every view, then the groups into rows). The plan
 * (struct query__plan) is read-only once built; everything that changes
 * while it runs lives beside it in struct query__run, in the PostgreSQL
 * executor manner.
 */
#ifndef LODESTAR_QUERY_EXEC_INT_H
#define LODESTAR_QUERY_EXEC_INT_H

#include "query/query_int.h"

/* QK_DICT2: two bare STRING columns, grouped per view by the pair of their
 * dictionary ids (packed in 64 bits) before any value is hashed. */
enum query__key_kind { QK_NONE, QK_DICT, QK_TFLOOR, QK_GENERIC, QK_DICT2 };

struct query__plan {
    const struct sql_select *q;
    const struct query__source *src;
    size_t ncols;
    int time_col; /* __time, or -1 */
    struct query__filter filter;
    const struct storage_view **views; /* to read, in chunk order */
    size_t nviews, nviews_all, npruned, nempty, nrealtime;
    /* aggregation */
    uint8_t key_kind;
    int key_col;     /* QK_DICT, QK_DICT2 (the first key) */
    int key_col2;    /* QK_DICT2: the second key */
    bool floor_unit; /* QK_TFLOOR: FLOOR(__time TO unit) */
    enum time_unit unit;
    struct period per;
    int64_t per_ms; /* fixed-width UTC buckets, else 0 */
    int *key_cols;  /* QK_GENERIC: bare column of each key, or -1 */
    struct query__agg_plan *aggs;
    size_t acc_size;
    bool count_only; /* every aggregate is COUNT(*) without FILTER */
    bool by_id;      /* one STRING key, native aggregates: per-id arrays */
    bool has_native; /* some aggregate is QA_NATIVE */
    int topn_agg;    /* by_id, ordered by this COUNT/SUM DESC with a LIMIT */
    bool need_time;  /* EARLIEST / LATEST need the row time */
    /* output */
    int *item_ref; /* bare column (scan) / group-row field (aggregate), or -1 */
    size_t width;  /* items + extra order values */
    size_t nextra;
    const struct sql_expr **extra; /* ORDER BY terms that are not items */
    bool key_order;                /* aggregate without ORDER BY: sorted by keys */
    int *order_idx;
    bool *desc;
    size_t norder;
    int64_t keep; /* OFFSET + LIMIT, or -1 */
};

struct query__run {
    const struct query__plan *p;
    struct query__ctx *x;
    struct query__groups groups;
    struct query__collect *col;
    bool done;
    /* the view being read */
    const struct storage_view *view;
    struct storage_scan *scan;
    const struct query__memtable *mem;
    uint32_t *id2gid; /* QK_DICT: group of each dictionary id */
    size_t id2gid_n;
    struct query__pairmap *pairs; /* QK_DICT2: group of each id pair seen */
    struct query__vstate *vs;     /* aggregating this view by dictionary id */
    uint8_t *accbase;             /* native accumulators: accbase + gid * stride */
    size_t stride;
    /* rows [blk_lo, blk_hi) of the view (multiples of BLOCK) when a thread
     * reads part of one view; blk_hi 0 = every row */
    uint64_t blk_lo, blk_hi;
    const struct query__rowset *pre_rs; /* the view's rows, when its ranges share them */
    /* the block being read */
    uint64_t row0;
    uint32_t n;
    uint32_t *selbuf;
    const uint32_t *sel; /* offsets in the block of the rows, or NULL = all n */
    uint32_t nsel;
    struct sql_value **colv; /* loaded columns: values of the nsel rows */
    uint32_t *colgen;
    uint32_t gen;
    const struct sql_value **colptr;
    uint32_t *loaded;
    size_t nloaded;
    struct sql_value *nullvec;
    uint32_t *gids;
    struct query__idset *idsets; /* per aggregate (by_dict ones), or NULL */
};

/* ---- partial.c: a block's groups split over the nodes (query.h, "Partial plans") ---- */

/* Whether p's groups travel as parts: an aggregate over a snapshot whose
 * keys and states have portable bytes; else false with why. */
bool query__partial_eligible(const struct query__plan *p, char *why, size_t n);
/* The plan's fingerprint: what a part's bytes mean (keys, states). */
void query__partial_fp(const struct query__plan *p, char out[QUERY_PART_FP_LEN + 1]);
/* Writes r's groups to the request's partial_out. */
int query__partial_write(struct query__run *r);
/* Fills r's groups from every node's part (the source's parts->partials). */
int query__partial_gather(struct query__run *r);

#define BLOCK STORAGE_BLOCK_ROWS
/* what a refused allocation during evaluation was for, in its error */
#define EXPR_RESULTS "expression results (such as the strings REPEAT, CONCAT or LPAD build)"
#define NO_GID UINT32_MAX

static inline uint32_t query__dpos(const uint32_t *sel, uint32_t k) { return sel ? sel[k] : k; }

/*
 * QK_DICT2's map from a view's (id1, id2) to a group: a direct array
 * id1 * n2 + id2 when the product of the dictionary sizes is small (beside
 * PAIR_DIRECT_MAX and the view's rows), else an
 * open-addressing table of packed pairs that doubles at 70% load. Its bytes
 * are charged to the query's budget (block.c).
 */
struct query__pairmap {
    bool direct;
    uint32_t n1, n2;  /* the dictionaries' sizes (ids are checked below them) */
    uint32_t *gid;    /* direct: n1 * n2; table: cap */
    uint64_t *key;    /* table: cap packed pairs, PAIR_EMPTY when free */
    size_t cap, used; /* table */
    size_t bytes;     /* charged */
};
/*
 * The (group, dictionary id) pairs a by_dict sketch aggregate has already
 * added in the view being read: a sketch updated twice with one value is
 * the sketch updated once, so only a pair's first row updates it, in row
 * order as before (the HLL's HIP estimate depends on the order of the
 * updates that change it, never on repeats). One group (no GROUP BY): a
 * flag per id; else an open-addressing table of gid << 32 | id that doubles
 * at 70% load. Made at the view's first block, freed with the view; bytes
 * charged to the query's budget (block.c).
 */
struct query__idset {
    const struct storage_view *view; /* whose ids these are, or NULL (unused) */
    uint32_t n;                      /* the dictionary's size */
    uint8_t *seen;                   /* one group: n flags */
    uint64_t *keys;                  /* groups: cap slots, PAIR_EMPTY when free */
    size_t cap, used;
    size_t bytes; /* charged */
    bool done;    /* the view's values went in from its bitmaps: skip its rows */
};

/* Sets up r->pairs for the current view (dictionary sizes n1, n2). */
int query__run_pairs_init(struct query__run *r, uint32_t n1, uint32_t n2);

/* A view aggregated by dictionary id (view.c). */
struct query__vstate {
    const struct storage_view *v;
    bool present;  /* the view has the key column */
    uint32_t n;    /* ids */
    uint32_t *cnt; /* rows per id */
    uint8_t *acc;  /* n accumulator rows of acc_size bytes, or NULL */
    size_t bytes;  /* charged to the budget */
};

/* ---- plan.c ---------------------------------------------------------------------- */

/* Plans q over src: prunes views, chooses the group keys and aggregators,
 * the output columns and order. Memory from x->keep. 0 or the error. */
int query__plan_build(struct query__plan *p, const struct sql_select *q,
                      const struct query__source *src, const struct sql_options *opt,
                      struct query__ctx *x);
/* The EXPLAIN PLAN FOR result of p (one row, Druid's three columns). */
int query__plan_explain(const struct query__plan *p, struct query__ctx *x,
                        struct query__result *res);

/* ---- block.c ----------------------------------------------------------------------- */

int query__run_init(struct query__run *r, const struct query__plan *p, struct query__ctx *x,
                    struct query__collect *c);
void query__run_destroy(struct query__run *r);
/* Frees the id -> group map of the view being read. */
void query__run_free_id2gid(struct query__run *r);
/* The group of these keys (created when new); 0 or the memory error. */
int query__run_find_group(struct query__run *r, const struct sql_value *keys, uint32_t *gid);
/* Reads the candidate rows rs of the current source (rows in all) block by
 * block: the rest of the WHERE, then aggregation or collection. */
int query__run_blocks(struct query__run *r, uint64_t rows, const struct query__rowset *rs);

/* Before a view's blocks are read: the by_dict sketch aggregates without
 * FILTER of a global aggregate over every row of a segment take its
 * values from the bitmap indexes (each id's first row orders them, as the
 * rows would), without reading a row. *rows_needed is false when no
 * aggregate is left for the blocks. 0 or the error. */
int query__run_sketch_bitmaps(struct query__run *r, const struct query__rowset *rs,
                              bool *rows_needed);

/* ---- view.c ------------------------------------------------------------------------- */

/* Reads one view (its row set, then its blocks). */
int query__view_run(struct query__run *r, const struct storage_view *v);
/* Aggregates one view by dictionary id into *keep (or merges it at once
 * when keep is NULL). */
int query__view_run_byid(struct query__run *r, const struct storage_view *v,
                         struct query__vstate *keep);
/* Merges one view's per-id state (kept by query__view_run_byid) into r's
 * groups, as query__view_run_byid does at once without `keep`. */
int query__view_merge_byid(struct query__run *r, const struct query__vstate *vs);
/* Adds src's rows and accumulators to dst, per id: the states of two
 * ranges of rows of the same view. */
void query__vstate_fold(const struct query__plan *p, struct query__vstate *dst,
                        const struct query__vstate *src);
/* Merges the nv views' per-id states into groups, top-N rounds first. */
int query__view_topn(struct query__run *r, struct query__vstate *vs, size_t nv);
void query__vstate_free(struct query__run *r, struct query__vstate *vs);
/* Releases what query__view_run held for the view just read. */
void query__view_teardown(struct query__run *r);

#endif
