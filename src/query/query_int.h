/*
 * query_int.h — private to src/query/: the pieces query_execute() is built
 * from, bottom up: each file calls only files listed before it (no
 * circles between files; tests/arch/check_layers.py checks it):
 *
 *   query__ctx.c     the per-query context (memory budget, deadline, their
 *              errors) and the server-wide query memory limits
 *   shape.c    reads a bound expression's EXPLAIN text back into a small tree
 *              (sql.h keeps the bound tree opaque), so the planner can
 *              recognise filter leaves, bare column references and
 *              TIME_FLOOR(__time, period) keys
 *   filter.c   WHERE → a tree of bitmap-able leaves; per view → row set;
 *              the tree as SQL again (scans pushed down)
 *   pushdown.c a node's share of a scan pushed down to it: the rows its
 *              views' indexes select, as segment images; a snapshot's
 *              columns as the binder sees them
 *   group.c    the group table: keys, hash index, accumulator rows
 *   collect.c  result rows: top-N, sort, OFFSET/LIMIT
 *   plan.c     planning (read-only plan); EXPLAIN text
 *   block.c    a run's state; reading, aggregating and collecting rows
 *              block by block
 *   view.c     one view: its row set, its blocks; aggregation by
 *              dictionary id and its top-N pruning
 *   exec.c     query__exec_run(): every view, or an in-memory table, then
 *              the groups into rows (these four share exec_int.h)
 *   window.c   the window step: window function columns over an in-memory
 *              table
 *   output.c   the five result formats and their headers
 *   infoschema.c  INFORMATION_SCHEMA tables as in-memory tables
 *   rel.c      a statement of many blocks (WITH, subqueries, joins, UNION,
 *              UNNEST, grouping sets): FROM items as in-memory tables, each
 *              block run by exec.c
 *   query.c    query_execute(): statement → table → bind → run → output
 *
 * Names: query.h's public names are `query_`; what the files here share
 * (functions, the global query__pool, and the types of this header) is
 * `query__<thing>` (libuv's uv_/uv__), so a reader knows from a name
 * alone that it is private to src/query/. Enum constants and macros of this
 * header keep short upper-case prefixes (QF_, QSH_, QA_). File-static names
 * are short. tests/arch/check_layers.py checks the linker-visible names.
 *
 * Memory: one struct query__ctx per query owns a memory budget (util/budget.h) of
 * context.maxQueryBytes that draws from the process-wide pool of all
 * running queries (LODESTAR_QUERY_TOTAL_BYTES). Everything the query
 * allocates is charged to it before it is allocated: the `keep` arena
 * (query lifetime), the `scratch` arena reset after every block (column
 * vectors, expression results such as REPEAT's strings), the parse and
 * bound trees (sql_options.budget), the collector's arenas and row array,
 * heap blocks the engine mallocs (group records, id maps, hash slots, sort
 * arrays; query__ctx_charge) and the response body. A refusal is the query's
 * error (query__ctx_too_big), never an allocation past the limit.
 */
#ifndef LODESTAR_QUERY_INT_H
#define LODESTAR_QUERY_INT_H

#include <roaring/roaring.h>

#include "query/query.h"
#include "util/budget.h"
#include "util/time.h"

/* ---- per-query context ----------------------------------------------------- */

struct query__ctx {
    const struct query_request *req;
    int64_t deadline_ns;      /* monotonic clock; INT64_MAX = no timeout */
    uint64_t max_bytes;       /* this query's limit (context.maxQueryBytes) */
    struct mem_budget budget; /* of max_bytes, drawing on the pool of all queries */
    struct arena keep;        /* lives as long as the query */
    struct arena scratch;     /* per block */
    struct arena leaf;        /* per filter leaf (filter.c): reset after each leaf's rows */
    const struct ls_tz *tz;   /* sqlTimeZone */
    uint32_t tick;            /* counts calls to query__ctx_poll */
    bool mem_error;           /* err holds the memory error */
    struct lerr *err;
    char partial[512]; /* segments left out under allowPartialResults */
    /* what a block over a pushed source needs (exec.c to rel.c) */
    struct {
        bool set;
        const char *where; /* in keep; NULL = every row */
        int64_t limit;
        int order_time;
    } push;
};

/* Sets up a context: its arenas drawing on a budget of max_bytes from the
 * pool of all queries, the deadline (monotonic ns, INT64_MAX = none), UTC;
 * query__ctx_end releases them. */
void query__ctx_begin(struct query__ctx *x, uint64_t max_bytes, int64_t deadline_ns,
                      struct lerr *err);
void query__ctx_end(struct query__ctx *x);

/* The pool every query's budget draws from (query__ctx.c). */
extern struct mem_pool query__pool;

/* 0, or LERR_TIMEOUT (set in x->err). Call once per block of work; cheap. */
int query__ctx_check(struct query__ctx *x);
/* Heap accounting: charge before malloc, uncharge after free. A refused
 * charge sets the memory error (query__ctx_too_big) and returns it. */
int query__ctx_charge(struct query__ctx *x, size_t n, const char *what);
void query__ctx_uncharge(struct query__ctx *x, size_t n);
/* Sets the memory error naming `what` and the limit that refused it: the
 * query's own (context.maxQueryBytes, LERR_INVALID: a 400) or the pool of
 * all running queries (LODESTAR_QUERY_TOTAL_BYTES, LERR_UNAVAILABLE: a 503
 * to retry). It replaces an error that only said "out of memory". */
int query__ctx_too_big(struct query__ctx *x, const char *what);
/* n bytes as text for messages: "2 GiB", "512 MiB" or "1000 bytes"; returns buf. */
const char *query__ctx_size_text(uint64_t n, char buf[32]);
/* An allocation failed (NULL from an arena, LERR_NOMEM from the SQL
 * library): the memory error if the budget refused something, LERR_NOMEM
 * otherwise. */
int query__ctx_nomem(struct query__ctx *x, const char *what);
/* After an SQL library call returned rc: the memory error when rc is
 * LERR_NOMEM and the budget refused, else rc (err already set). */
int query__ctx_sql_error(struct query__ctx *x, int rc, const char *what);

/* ---- shapes: EXPLAIN text read back ----------------------------------------- */

enum query__shape_kind {
    QSH_REF,    /* $N: a table column (or a group-row field) */
    QSH_AGGREF, /* $aggN */
    QSH_STR,    /* 'text' (lit/lit_len: the bytes, quotes undone) */
    QSH_NULL,   /* NULL */
    QSH_LIT,    /* any other literal token: 5, 1.5, true, 2000-01-01T00:00:00.000Z */
    QSH_CALL,   /* NAME(args): functions and operators printed as calls */
    QSH_BINOP,  /* (a OP b) */
    QSH_CAST    /* CAST(a AS TYPE) */
};

struct query__shape {
    uint8_t kind;
    bool not_flag;    /* NOT IN, NOT LIKE, NOT BETWEEN */
    uint32_t field;   /* QSH_REF, QSH_AGGREF */
    const char *name; /* call name, operator, or cast type */
    size_t name_len;
    const char *lit; /* QSH_STR (unescaped), QSH_LIT (raw) */
    size_t lit_len;
    size_t nargs;
    struct query__shape **args;
};

/* The shape of a bound expression, or NULL when its text is not understood
 * (callers then treat the expression as opaque). Memory from `a`. */
struct query__shape *query__shape_of(const struct sql_expr *e, struct arena *a);
/* The field a bare reference names, or -1 (uses `a` for the text). */
int query__shape_ref_of(const struct sql_expr *e, struct arena *a);
bool query__shape_is(const struct query__shape *s, const char *name);
/* The expression text as EXPLAIN shows it, from `a` ("?" on failure). */
const char *query__shape_text(const struct sql_expr *e, struct arena *a);

/* ---- filters ------------------------------------------------------------------ */

enum query__fnode_kind { QF_AND, QF_OR, QF_STR, QF_TIME, QF_NUM, QF_CONST, QF_OPAQUE };
enum query__fnode_op {
    QFO_EQ,     /* column = one of lits (IN, =, <> with neg) */
    QFO_ISNULL, /* column IS NULL */
    QFO_PREFIX, /* column LIKE 'prefix%' */
    QFO_EVAL,   /* expr evaluated once per dictionary value */
    QFO_LIKE    /* column LIKE a pattern of literal pieces between '%'s (no '_', no
                 * ESCAPE): matched natively once per dictionary value */
};

struct query__fnode {
    uint8_t kind; /* enum query__fnode_kind */
    uint8_t op;   /* enum query__fnode_op (QF_STR) */
    bool neg;     /* NOT pushed down to the leaf (3-valued: selects FALSE) */
    bool value;   /* QF_CONST */
    size_t nkids;
    struct query__fnode **kids;
    int col;                /* QF_STR */
    struct sql_value *lits; /* QFO_EQ */
    size_t nlits;
    const char *prefix; /* QFO_PREFIX: the prefix; QFO_LIKE: the whole pattern */
    size_t prefix_len;
    const struct sql_expr *expr; /* QFO_EVAL, QFO_PREFIX, QFO_LIKE: over the table columns */
    int64_t lo, hi;              /* QF_TIME: [lo, hi) on __time */
    uint8_t cmp;                 /* QF_NUM: column <cmp> num (enum in filter.c) */
    int64_t num;
    int64_t *nums; /* QF_NUM "IN": sorted distinct values (nnums) */
    size_t nnums;
    const char *text; /* for EXPLAIN */
};

struct query__filter {
    struct query__fnode *root;    /* NULL = no WHERE */
    const struct sql_expr *where; /* the bound WHERE (run over inexact rows) */
    bool exact;                   /* no opaque part: row sets are the answer */
    size_t nowned, owned_cap;
    struct sql_expr **owned; /* leaf expressions compiled here */
};

/* Analyses q->where against the table columns (fields[]). Never fails on
 * shapes it does not know (they become opaque); fails only for memory. */
int query__filter_build(struct query__filter *f, const struct sql_select *q,
                        const struct sql_schema *cols, const struct sql_options *opt,
                        struct query__ctx *x);
void query__filter_free(struct query__filter *f);
/* The filter as SQL over the table's columns (cols) into out, for a scan
 * pushed down to other nodes: what it cannot write again (an opaque part, a
 * multi-value column's leaf, one evaluated per dictionary value) is left
 * TRUE, so the text selects a superset of the rows; *exact when it selects
 * exactly the WHERE's rows. Nothing is written when it selects every row. */
int query__filter_sql(const struct query__filter *f, const struct sql_schema *cols,
                      struct buf *out, bool *exact);
/* A snapshot's columns as the binder sees them (fields in a): 0 or LERR_NOMEM. */
int query__snapshot_schema(const struct storage_snapshot *snap, struct arena *a,
                           struct sql_schema *out);
/* Appends the filter as EXPLAIN shows it. */
void query__filter_explain(const struct query__filter *f, struct buf *out);

/*
 * Candidate rows of one view. `all` = every row (bm NULL); otherwise bm
 * holds them (owned unless `borrowed`, which is a storage bitmap). `exact`
 * = the rows are exactly those where WHERE is true; otherwise WHERE must
 * still run over them.
 */
struct query__rowset {
    roaring_bitmap_t *bm;
    bool all, exact, borrowed;
};

/*
 * The rows of a bitmap, block by block: roaring's bulk read fills a small
 * buffer, then each block takes the rows below its end. Walking the
 * iterator a value at a time cost more than the filter it fed.
 */
struct query__rowiter {
    roaring_uint32_iterator_t it;
    uint32_t buf[512];
    uint32_t n, pos;
};

static inline void query__rowiter_init(struct query__rowiter *ri, const roaring_bitmap_t *bm)
{
    roaring_init_iterator(bm, &ri->it);
    ri->n = ri->pos = 0;
}

/* The next row without taking it; false when none is left. */
static inline bool query__rowiter_peek(struct query__rowiter *ri, uint32_t *row)
{
    if (ri->pos == ri->n) {
        ri->n = ri->it.has_value ? roaring_read_uint32_iterator(&ri->it, ri->buf, 512) : 0;
        ri->pos = 0;
        if (!ri->n)
            return false;
    }
    *row = ri->buf[ri->pos];
    return true;
}

/* Takes the rows below `end` (at most STORAGE_BLOCK_ROWS past the first
 * row, which must lie in the same block) into out; returns how many. */
static inline uint32_t query__rowiter_take(struct query__rowiter *ri, uint64_t end, uint32_t *out)
{
    uint32_t m = 0, row;
    while (query__rowiter_peek(ri, &row) && row < end) {
        uint32_t k = ri->pos;
        while (k < ri->n && ri->buf[k] < end)
            k++;
        memcpy(out + m, ri->buf + ri->pos, (k - ri->pos) * sizeof *out);
        m += k - ri->pos;
        ri->pos = k;
    }
    return m;
}

/* Threads a query starts at most (one per core, filter.c). */
#define QUERY_MAX_THREADS 16
size_t query__cores(void);
/* Dictionary ids per thread before a LIKE leaf decides a dictionary on
 * several cores (default 65536), and blocks of rows per thread before a
 * scanning leaf (numbers, partial time ranges, realtime ids) splits a view
 * over several cores (default 32); tests lower both. */
extern uint32_t query__like_par_min;
extern uint32_t query__scan_par_min_blocks;
/* Rows per thread before an aggregation reads its views on several cores,
 * one range of views a thread with partial groups merged (exec.c; default
 * 262144); tests lower it to 0: every aggregation over two views or more. */
extern uint64_t query__agg_par_min_rows;
/* Aggregations that finished on several threads (tests check the path ran). */
extern _Atomic uint64_t query__agg_par_runs;
/* Whether sketches of dictionary-encoded strings are updated once per
 * dictionary id (query__agg_plan.by_dict; default true); tests turn it off
 * to compare with the per-row updates. */
extern bool query__sketch_by_dict;
/* Views whose by_dict sketch values came from their bitmap indexes, and
 * views read by dictionary id for them (tests check both paths ran). */
extern _Atomic uint64_t query__sketch_bitmap_views, query__sketch_id_views;

int query__filter_view_rows(const struct query__filter *f, const struct storage_view *v,
                            struct storage_scan *sc, struct query__ctx *x,
                            struct query__rowset *out);
void query__rowset_free(struct query__rowset *r);
uint64_t query__rowset_count(const struct query__rowset *r, uint64_t view_rows);

/* ---- group table ------------------------------------------------------------ */

enum query__agg_mode {
    QA_COUNT_STAR, /* native count of rows */
    QA_NATIVE,     /* COUNT(x), SUM, AVG, MIN, MAX over numbers: struct query__nacc */
    QA_SQL,        /* sql_agg_* state of the query's call */
    QA_MERGE       /* measure states merged with the measure's own call */
};

/* A native accumulator (COUNT/SUM/AVG/MIN/MAX over numbers; AVG keeps the
 * sum and the count of values and divides at the end). */
struct query__nacc {
    int64_t n; /* rows counted / values seen */
    int64_t l; /* long sum, min or max */
    double d;  /* double sum, min or max */
};

/* a < b with NaN sorting last, as in sql_value_compare. */
static inline bool query__dlt(double a, double b) { return a != a ? false : (b != b || a < b); }

struct query__agg_plan {
    const struct sql_agg_call *call;  /* the query's call */
    const struct sql_agg_call *state; /* the call whose state is kept */
    uint8_t mode;                     /* enum query__agg_mode */
    bool dbl;                         /* native: double class (else long) */
    int arg_col;                      /* bare column argument, or -1 */
    /* QA_SQL: an HLL or theta sketch of a bare single-value STRING column:
     * on a view that stores the column as dictionary ids, each group's
     * state is updated once per id, at its first row (block.c) */
    bool by_dict;
    size_t off, size; /* place in a group's accumulator row */
};

struct query__groups {
    size_t nkeys;
    size_t rec_size; /* keys + accumulators, 16-aligned */
    size_t acc_off;  /* accumulators' offset in a record */
    size_t naggs;
    const struct query__agg_plan *aggs;
    uint32_t ngroups;
    uint8_t *recs; /* records, contiguous: query__groups_find may move them */
    size_t cap;
    struct query__slot {
        uint64_t hash;
        uint32_t gid;
    } * slots;
    size_t nslots;
    struct query__ctx *x;
};

int query__groups_init(struct query__groups *g, size_t nkeys, const struct query__agg_plan *aggs,
                       size_t naggs, size_t acc_size, struct query__ctx *x);
void query__groups_destroy(struct query__groups *g);
uint64_t query__groups_hash(const struct sql_value *keys, size_t n);
/* The group of these keys, created (strings copied, accumulators
 * initialised) when new. Records may move: pointers from query__groups_rec()
 * and friends are valid until the next query__groups_find(). 0 or the memory
 * error. */
int query__groups_find(struct query__groups *g, const struct sql_value *keys, uint64_t hash,
                       uint32_t *gid);

static inline uint8_t *query__groups_rec(const struct query__groups *g, uint32_t gid)
{
    return g->recs + (size_t)gid * g->rec_size;
}
static inline struct sql_value *query__groups_keys(const struct query__groups *g, uint32_t gid)
{
    return (struct sql_value *)(void *)query__groups_rec(g, gid);
}
static inline uint8_t *query__groups_acc(const struct query__groups *g, uint32_t gid)
{
    return query__groups_rec(g, gid) + g->acc_off;
}
/* Combines native accumulator src into dst (COUNT, SUM, MIN, MAX). */
void query__nacc_merge(const struct query__agg_plan *a, struct query__nacc *dst,
                       const struct query__nacc *src);
/* Deep copy of a value's bytes (strings, arrays) into mem; false on OOM. */
bool query__value_copy(struct sql_value *dst, const struct sql_value *src, struct arena *mem);
/* The finalized value of aggregate i of a group. */
void query__groups_final(const struct query__groups *g, uint32_t gid, size_t i,
                         struct sql_value *out);

/* ---- result rows ------------------------------------------------------------- */

struct query__collect {
    size_t width; /* values per row: items, then extra order keys */
    size_t norder;
    const int *order_idx; /* index into a row for each ORDER BY term */
    const bool *desc;
    int64_t keep; /* top-N bound (OFFSET + LIMIT) or -1 */
    bool ordered;
    struct sql_value **rows;
    size_t n, cap;
    struct arena mem[2];
    int cur;
    struct sql_value *threshold; /* worst kept row after a prune */
    struct query__ctx *x;
};

int query__collect_init(struct query__collect *c, size_t width, const int *order_idx,
                        const bool *desc, size_t norder, int64_t keep, struct query__ctx *x);
void query__collect_destroy(struct query__collect *c);
/* True when a row with these order values cannot make the top-N. */
bool query__collect_rejects(const struct query__collect *c, const struct sql_value *row);
/* Copies the row (width values). 0 or the memory error. */
int query__collect_add(struct query__collect *c, const struct sql_value *row);
/* Rows collected so far without order, when the caller can stop early. */
bool query__collect_full(const struct query__collect *c);
/* Sorts (stable) and keeps at most `keep` rows. */
int query__collect_finish(struct query__collect *c);

/* ---- output ------------------------------------------------------------------- */

struct query__result {
    size_t ncols;
    const char *const *names;
    const uint8_t *types;          /* enum sql_type per column */
    struct sql_value *const *rows; /* each ncols values (more are ignored) */
    size_t nrows;
    /* per column: a multi-value string column selected as it is, which the
     * output presents as Druid does (VARCHAR, one value as a string, several
     * as a JSON array); NULL: none */
    const bool *mv;
    /* per column: an ARRAY column's element type (typesHeader's ARRAY<LONG>),
     * SQL_NULL when not known (ARRAY<STRING> is shown); NULL: none */
    const uint8_t *elems;
};

const char *query__output_content_type(enum query_format f);
/* Appends the body; when `out` hits its cap that is the memory error. */
int query__output_write(const struct query__result *r, const struct query_request *req,
                        const struct ls_tz *tz, struct buf *out, struct query__ctx *x);

/* ---- in-memory tables and execution ------------------------------------------ */

struct query__memtable {
    size_t ncols;
    struct sql_field *fields;
    size_t nrows;
    struct sql_value **cols; /* cols[c][r] */
};

/*
 * The window step (window.c): `out` gets in's columns (the same vectors,
 * not copies) and then one column per window call of w, computed over in's
 * rows; its rows are in's, in the same order. Columns and values live in
 * x->keep. 0, the memory error naming the window (past the query's limit),
 * LERR_TIMEOUT, or LERR_INVALID for an aggregate that does not bind (a 400
 * at the call in the query text).
 */
int query__window_apply(const struct sql_windows *w, const struct query__memtable *in,
                        struct query__ctx *x, struct query__memtable *out);

/* INFORMATION_SCHEMA.<name> built from env.list_tables; LERR_NOT_FOUND with
 * a hint when there is no such table. */
int query__info_table(const char *name, const struct query_env *env, struct query__memtable *t,
                      struct query__ctx *x);
/* sys.segments or sys.tasks built from env.list_segments / env.list_tasks;
 * LERR_NOT_FOUND with a hint when there is no such table. */
int query__sys_table(const char *name, const struct query_env *env, struct query__memtable *t,
                     struct query__ctx *x);

/* Where the rows come from: a storage snapshot or one in-memory table. */
struct query__source {
    const char *table;                   /* for messages and EXPLAIN */
    const struct storage_snapshot *snap; /* or NULL */
    const struct query__memtable *mem;   /* or NULL */
    struct sql_schema schema;            /* the columns as bound */
    /* partial plans (partial.c): produce writes this top block's groups as
     * a node's part (query_request.partial_out); with parts, snap gives the
     * columns only and the groups are the merge of parts->partials' parts */
    bool produce;
    const struct query_env *parts;
    /* a scan pushed down (query_env.open_scan): snap gives the columns only;
     * the executor plans the block, says what it needs in x->push and
     * answers QUERY__REOPEN, and rel.c opens the nodes' rows of it */
    bool pushed;
};

/* A statement of many blocks (rel.c): what its blocks' results need kept
 * until the query ends (collectors, bound blocks, join conditions,
 * snapshots), and the EXPLAIN lines of its operators. */
struct query__rel {
    const struct query_env *env;
    const struct sql_options *opt;
    struct query__ctx *x;
    bool explain;
    int64_t outer_limit; /* context.sqlOuterLimit: caps the top block's LIMIT */
    int level, depth;    /* block nesting; EXPLAIN indentation */
    struct buf plan;
    struct query__collect **cols;
    size_t ncols, capcols;
    struct sql_select **sels;
    size_t nsels, capsels;
    struct sql_join_cond **conds;
    size_t nconds, capconds;
    struct sql_expr **exprs;
    size_t nexprs, capexprs;
    struct sql_stmt **stmts;
    size_t nstmts, capstmts;
    struct storage_snapshot **snaps;
    size_t nsnaps, capsnaps;
    uint64_t image_bytes; /* of the snaps, charged to the query's budget */
    /* a join side join_as_filter ran but could not use, for the join */
    const struct sql_from *pre_from;
    struct query__memtable *pre;
};

void query__rel_init(struct query__rel *R, const struct query_env *env,
                     const struct sql_options *opt, struct query__ctx *x);
/* Runs statement s (subqueries resolved in place) into res, whose rows
 * live until query__rel_destroy. */
int query__rel_run(struct query__rel *R, struct sql_stmt *s, struct query__result *res);
void query__rel_destroy(struct query__rel *R);

/* The result's column names and types (no rows) of a bound SELECT. */
int query__exec_header(const struct sql_select *q, struct query__ctx *x,
                       struct query__result *res);
/* Runs a bound SELECT (or EXPLAIN) and fills the result: columns and rows
 * live in x->keep or in `c` (destroy it after writing the output). */
/* query__exec_run's answer when a block with parts (partial.c) cannot be
 * split: rel.c opens the table whole and runs the block again (no error is set). */
#define QUERY__REOPEN (-2)
int query__exec_run(const struct sql_select *q, const struct query__source *src,
                    const struct sql_options *opt, struct query__ctx *x, struct query__collect *c,
                    struct query__result *res);

#endif
