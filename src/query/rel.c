/*
 * rel.c — a statement of many blocks: WITH lists, subqueries in FROM and in
 * expressions, joins, UNION ALL and UNNEST, run bottom up. Each FROM item
 * that is not one plain table becomes an in-memory table (struct
 * query__memtable: column vectors of values, charged to the query's budget
 * like everything else); expression subqueries run first and their results
 * go in their place (a value, an IN list, EXISTS's answer); then the block
 * is bound against its FROM's columns and runs on the one executor
 * (exec.c) — over a storage snapshot when its FROM is one table, which
 * keeps a plain SELECT on today's path, or over the in-memory table.
 *
 * Joins are hash joins: the condition's equalities between the two sides
 * are the keys (sql_bind_join), the right side is hashed, the left probes
 * it, the rest of the condition filters each candidate pair; a condition
 * without such an equality compares every pair. Rows of a side that a
 * LEFT/RIGHT/FULL join keeps without a match get NULLs for the other side.
 * A table joined with a smaller side reads only the rows whose key is
 * among the other side's keys (a semi-join through the table's bitmap
 * filters), and only the columns the query names.
 *
 * A block with window calls reads FROM WINDOW (sql_stmt_plan_windows): its
 * inner block's rows with one column per call (query__window_apply).
 *
 * Results of inner blocks stay where the executor put them (their
 * collectors live until the query ends); the in-memory tables point at
 * them.
 *
 * Entry points: query__rel_init(), query__rel_run(), query__rel_destroy().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

/* ---- what lives until the query ends ---------------------------------------------- */

struct cte_slot {
    const struct sql_cte *cte;
    struct query__memtable *mt; /* once run */
    bool busy;
};

struct scope {
    const struct scope *up;
    struct cte_slot *slots;
    size_t n; /* visible here (a WITH query sees those before it) */
};

static int keep_ptr(struct query__rel *R, void ***v, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return lerr_set(R->x->err, LERR_NOMEM, "out of memory");
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = p;
    return 0;
}

void query__rel_init(struct query__rel *R, const struct query_env *env,
                     const struct sql_options *opt, struct query__ctx *x)
{
    memset(R, 0, sizeof *R);
    R->env = env;
    R->opt = opt;
    R->x = x;
    buf_init(&R->plan, 1u << 20);
}

void query__rel_destroy(struct query__rel *R)
{
    for (size_t i = 0; i < R->ncols; i++) {
        query__collect_destroy(R->cols[i]);
        free(R->cols[i]);
    }
    free(R->cols);
    for (size_t i = 0; i < R->nsels; i++)
        sql_select_free(R->sels[i]);
    free(R->sels);
    for (size_t i = 0; i < R->nconds; i++)
        sql_join_cond_free(R->conds[i]);
    free(R->conds);
    for (size_t i = 0; i < R->nexprs; i++)
        sql_expr_free(R->exprs[i]);
    free(R->exprs);
    for (size_t i = 0; i < R->nstmts; i++)
        sql_stmt_free(R->stmts[i]);
    free(R->stmts);
    for (size_t i = 0; i < R->nsnaps; i++) {
        if (R->env && R->env->close_table)
            R->env->close_table(R->env->ctx, R->snaps[i]);
        else
            storage_snapshot_free(R->snaps[i]);
    }
    free(R->snaps);
    query__ctx_uncharge(R->x, R->image_bytes);
    buf_free(&R->plan);
    memset(R, 0, sizeof *R);
}

/* ---- tables ------------------------------------------------------------------------ */

struct names {
    const char **v;
    size_t n, cap;
    struct arena *mem;
};

static int collect_name(void *arg, const char *name, const struct storage_column *cols,
                        size_t ncols)
{
    (void)cols;
    (void)ncols;
    struct names *l = arg;
    if (l->n + 1 >= l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 32;
        const char **nv = arena_alloc(l->mem, ncap * sizeof *nv);
        if (!nv)
            return LERR_NOMEM;
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n] = arena_strdup(l->mem, name);
    if (!l->v[l->n])
        return LERR_NOMEM;
    l->n++;
    l->v[l->n] = NULL;
    return 0;
}

static int table_not_found(const struct query_env *env, const char *table, struct query__ctx *x)
{
    struct names l = {NULL, 0, 0, &x->keep};
    struct lerr ignored;
    lerr_init(&ignored);
    const char *hint = NULL;
    if (env && env->list_tables && env->list_tables(env->ctx, collect_name, &l, &ignored) == 0 &&
        l.n)
        hint = util_closest(table, strlen(table), l.v);
    lerr_init(x->err);
    return lerr_set(x->err, LERR_INVALID,
                    "table '%s' not found%s%s%s; SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES "
                    "lists the tables",
                    table, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
}

/* A table by name: a snapshot, or an INFORMATION_SCHEMA table in memory;
 * schema_only: from env->open_schema (a block split into partial plans, or
 * whose scan is pushed down); scan: from env->open_scan, the nodes' rows
 * the block needs. */
static int open_table_as(struct query__rel *R, const char *schema, const char *table,
                         bool schema_only, const struct query_scan *scan,
                         struct query__source *src)
{
    struct query__ctx *x = R->x;
    memset(src, 0, sizeof *src);
    src->table = table;
    /* Druid's system tables (sys) and INFORMATION_SCHEMA are in-memory tables */
    bool sys = strcasecmp(schema, "sys") == 0;
    if (sys || strcasecmp(schema, "INFORMATION_SCHEMA") == 0) {
        struct query__memtable *mt = arena_zalloc(&x->keep, sizeof *mt);
        if (!mt)
            return query__ctx_nomem(x, "a system table");
        int rc = sys ? query__sys_table(table, R->env, mt, x)
                     : query__info_table(table, R->env, mt, x);
        if (rc == LERR_NOT_FOUND)
            x->err->code = LERR_INVALID; /* Druid answers 400 for unknown tables */
        if (rc)
            return x->err->code;
        src->mem = mt;
        src->schema = (struct sql_schema){mt->fields, mt->ncols};
        return 0;
    }
    if (*schema && strcmp(schema, "druid") != 0)
        return lerr_set(x->err, LERR_INVALID,
                        "schema '%s' not found; tables are in schema druid (FROM \"t\" or FROM "
                        "druid.\"t\"), INFORMATION_SCHEMA and sys",
                        schema);
    const struct query_env *env = R->env;
    if (!env || !env->open_table)
        return table_not_found(env, table, x);
    struct storage_snapshot *snap = NULL;
    int rc = scan          ? env->open_scan(env->ctx, table, scan, &snap, x->err)
             : schema_only ? env->open_schema(env->ctx, table, &snap, x->err)
                           : env->open_table(env->ctx, table, &snap, x->err);
    if (rc == LERR_NOT_FOUND || (!rc && !snap))
        return table_not_found(env, table, x);
    if (rc)
        return x->err->code ? x->err->code : rc;
    if ((rc = keep_ptr(R, (void ***)&R->snaps, &R->nsnaps, &R->capsnaps, snap))) {
        if (env->close_table)
            env->close_table(env->ctx, snap);
        else
            storage_snapshot_free(snap);
        return rc;
    }
    /* the other nodes' rows it holds in memory count against the query's budget */
    if (snap->image_bytes &&
        (rc = query__ctx_charge(x, snap->image_bytes, "the rows the other nodes sent")))
        return rc;
    R->image_bytes += snap->image_bytes;
    if (query__snapshot_schema(snap, &x->keep, &src->schema))
        return query__ctx_nomem(x, "the table's columns");
    src->snap = snap;
    return 0;
}

static int open_table(struct query__rel *R, const char *schema, const char *table,
                      struct query__source *src)
{
    return open_table_as(R, schema, table, false, NULL, src);
}

/* A table's columns only (its rows are not read): open_schema's snapshot
 * where the server has one (a cluster's open_table asks every node). */
static int open_columns(struct query__rel *R, const char *schema, const char *table,
                        struct query__source *src)
{
    bool columns = R->env && R->env->open_schema;
    return open_table_as(R, schema, table, columns, NULL, src);
}

/* The nodes' rows block s needs of FROM item f (x->push, said by the
 * executor over the columns of `cols`): its columns, filter and cap. */
static int open_pushed(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *f,
                       const struct query__source *cols, struct query__source *src)
{
    struct query__ctx *x = R->x;
    const char *qual = f->alias ? f->alias : f->table;
    size_t n = cols->schema.n;
    const char **names = arena_alloc(&x->keep, (n ? n : 1) * sizeof *names);
    if (!names)
        return query__ctx_nomem(x, "the columns sent to the nodes");
    struct query_scan scan = {x->push.where, names, 0, x->push.limit, x->push.order_time};
    for (size_t i = 0; i < n; i++)
        if (sql_stmt_uses_column(s, qual, cols->schema.fields[i].name))
            names[scan.ncols++] = cols->schema.fields[i].name;
    x->push.set = false;
    return open_table_as(R, f->schema_name, f->table, false, &scan, src);
}

/* ---- blocks ------------------------------------------------------------------------ */

static int run_block(struct query__rel *R, struct sql_stmt *s, const struct scope *up,
                     struct query__result *res);
static int materialize(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *f,
                       const struct scope *sc, struct query__memtable *out);
static int join_as_filter(struct query__rel *R, struct sql_stmt *s, const struct scope *sc);

static struct cte_slot *find_cte(const struct scope *sc, const char *schema, const char *name)
{
    if (*schema)
        return NULL;
    for (; sc; sc = sc->up)
        for (size_t i = sc->n; i-- > 0;)
            if (strcmp(sc->slots[i].cte->name, name) == 0)
                return &sc->slots[i];
    return NULL;
}

/* Renames fields to `aliases` (AS t(a, b), WITH w(a, b)); all must be named. */
static int rename_fields(struct query__rel *R, const struct sql_stmt *s, uint32_t pos,
                         struct query__memtable *mt, const char *const *aliases, size_t n,
                         const char *what)
{
    if (!n)
        return 0;
    if (n != mt->ncols)
        return sql_stmt_error(s, pos, R->x->err, "%s names %zu columns but its query gives %zu",
                              what, n, mt->ncols);
    for (size_t i = 0; i < n; i++) {
        mt->fields[i].name = aliases[i];
        mt->fields[i].name_len = strlen(aliases[i]);
    }
    return 0;
}

/* A result as an in-memory table whose fields are qualified by `qual`. */
static int to_memtable(struct query__rel *R, const struct query__result *res, const char *qual,
                       struct query__memtable *mt)
{
    struct query__ctx *x = R->x;
    size_t nc = res->ncols, nr = res->nrows;
    memset(mt, 0, sizeof *mt);
    mt->fields = arena_zalloc(&x->keep, (nc ? nc : 1) * sizeof *mt->fields);
    mt->cols = arena_alloc(&x->keep, (nc ? nc : 1) * sizeof *mt->cols);
    if (!mt->fields || !mt->cols)
        return query__ctx_nomem(x, "a subquery's rows");
    for (size_t c = 0; c < nc; c++) {
        /* a multi-value string (a column, or a function mapped over one)
         * stays one for the blocks above */
        bool mv = res->mv && res->mv[c] && res->types[c] == SQL_ARRAY;
        mt->fields[c] = (struct sql_field){.name = res->names[c],
                                           .name_len = strlen(res->names[c]),
                                           .type = res->types[c],
                                           .qual = qual,
                                           .flags = mv           ? SQL_FIELD_MULTI_VALUE
                                                    : res->elems ? SQL_FIELD_ELEM(res->elems[c])
                                                                 : 0};
        mt->cols[c] = arena_alloc(&x->keep, (nr ? nr : 1) * sizeof *mt->cols[c]);
        if (!mt->cols[c])
            return query__ctx_nomem(x, "a subquery's rows");
        for (size_t r = 0; r < nr; r++)
            mt->cols[c][r] = res->rows[r][c];
    }
    mt->ncols = nc;
    mt->nrows = nr;
    return 0;
}

/* A shallow copy with its own fields (to requalify a shared table). */
static int requalify(struct query__rel *R, const struct query__memtable *in, const char *qual,
                     struct query__memtable *out)
{
    *out = *in;
    out->fields = arena_alloc(&R->x->keep, (in->ncols ? in->ncols : 1) * sizeof *out->fields);
    if (!out->fields)
        return query__ctx_nomem(R->x, "a subquery's columns");
    for (size_t i = 0; i < in->ncols; i++) {
        out->fields[i] = in->fields[i];
        out->fields[i].qual = qual;
        /* a multi-value string stays one; a typed array keeps its element type */
        out->fields[i].flags &= (uint8_t)~SQL_FIELD_QUALIFIED_ONLY;
    }
    return 0;
}

struct sq_ctx {
    struct query__rel *R;
    struct sql_stmt *s;
    const struct scope *sc;
    size_t nrun; /* subqueries run */
};

static int on_subquery(void *arg, struct sql_subquery *sq)
{
    struct sq_ctx *c = arg;
    struct query__result res;
    c->nrun++;
    int rc = run_block(c->R, sq->q, c->sc, &res);
    if (rc)
        return rc;
    rc = sql_subquery_resolve(c->s, sq, res.ncols, res.ncols ? res.types[0] : SQL_NULL,
                              (const struct sql_value *const *)res.rows, res.nrows, c->R->x->err);
    return rc == LERR_NOMEM ? query__ctx_nomem(c->R->x, "a subquery's result") : rc;
}

static void plan_line(struct query__rel *R, const char *fmt, ...) LS_PRINTF(2, 3);
static void plan_line(struct query__rel *R, const char *fmt, ...)
{
    if (!R->explain)
        return;
    for (int i = 0; i < R->depth; i++)
        buf_puts(&R->plan, "  ");
    va_list ap;
    va_start(ap, fmt);
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    buf_puts(&R->plan, line);
    buf_puts(&R->plan, "\n");
}

/* Binds and runs one block over its source; EXPLAIN of an inner block
 * writes its plan to R->plan and gives no rows. */
static int run_bound(struct query__rel *R, struct sql_stmt *s, const struct query__source *src,
                     bool top, struct query__result *res)
{
    struct query__ctx *x = R->x;
    struct sql_select *q = NULL;
    const struct sql_schema *cols = src->schema.n ? &src->schema : NULL;
    int rc = sql_bind_select(s, cols, R->opt, &q, x->err);
    if (rc)
        return query__ctx_sql_error(x, rc, "binding the query");
    if ((rc = keep_ptr(R, (void ***)&R->sels, &R->nsels, &R->capsels, q))) {
        sql_select_free(q);
        return rc;
    }
    /* Druid's sqlOuterLimit wraps the statement in SELECT * FROM (...) LIMIT
     * n: the top block's own LIMIT (which counts after its OFFSET) becomes
     * the smaller of the two, so the plan stops early (a top-N, not a sort
     * of every row) instead of the output trimming a full answer */
    if (top && R->outer_limit > 0 && (q->limit < 0 || q->limit > R->outer_limit))
        q->limit = R->outer_limit;
    struct query__collect *col = calloc(1, sizeof *col);
    if (!col)
        return lerr_set(x->err, LERR_NOMEM, "out of memory");
    if ((rc = keep_ptr(R, (void ***)&R->cols, &R->ncols, &R->capcols, col))) {
        free(col);
        return rc;
    }
    if (R->explain && !top) {
        /* the inner block's own plan, then no rows */
        q->explain = true;
        struct query__result pr;
        rc = query__exec_run(q, src, R->opt, x, col, &pr);
        q->explain = false;
        if (rc)
            return rc;
        if (pr.nrows && pr.ncols) {
            const struct sql_value *v = &pr.rows[0][0];
            const char *p = v->v.s.p, *e = p + v->v.s.n;
            while (p < e) {
                const char *nl = memchr(p, '\n', (size_t)(e - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(e - p);
                if (n)
                    plan_line(R, "%.*s", (int)n, p);
                p += n + 1;
            }
        }
        memset(res, 0, sizeof *res);
        return query__exec_header(q, x, res);
    }
    return query__exec_run(q, src, R->opt, x, col, res);
}

static int run_block(struct query__rel *R, struct sql_stmt *s, const struct scope *up,
                     struct query__result *res)
{
    struct query__ctx *x = R->x;
    int rc = query__ctx_check(x);
    if (rc)
        return rc;
    if (++R->level > SQL_MAX_NESTING)
        return lerr_set(x->err, LERR_INVALID, "subqueries nested more than %d deep",
                        SQL_MAX_NESTING);
    bool top = R->level == 1;
    const struct sql_cte *ctes;
    size_t nctes = sql_stmt_ctes(s, &ctes);
    struct scope sc = {up, NULL, 0};
    if (nctes) {
        sc.slots = arena_zalloc(&x->keep, nctes * sizeof *sc.slots);
        if (!sc.slots) {
            R->level--;
            return query__ctx_nomem(x, "WITH queries");
        }
        for (size_t i = 0; i < nctes; i++)
            sc.slots[i].cte = &ctes[i];
        sc.n = nctes;
    }
    R->depth++;
    struct sq_ctx sqc = {R, s, &sc, 0};
    /* window calls first: the inner block they leave keeps GROUP BY (its
     * sets) and the subqueries of the window-free parts */
    if ((rc = sql_stmt_plan_windows(s, x->err)))
        rc = query__ctx_sql_error(x, rc, "planning the window functions");
    if (!rc)
        rc = sql_stmt_expand_grouping(s, x->err);
    if (!rc)
        rc = sql_stmt_subqueries(s, on_subquery, &sqc);
    struct query__source src;
    memset(&src, 0, sizeof src);
    const struct sql_from *f = sql_stmt_from(s);
    bool joined = f && f->kind == SQL_FROM_JOIN;
    if (!rc && joined && (rc = join_as_filter(R, s, &sc)) == 0)
        f = sql_stmt_from(s);
    /* partial plans (partial.c): the top block over a table of the cluster,
     * when it reads nothing else */
    bool table = !rc && f && f->kind == SQL_FROM_TABLE && !f->ncol_aliases &&
                 !find_cte(&sc, f->schema_name, f->table);
    bool split = top && table && !R->explain && !joined && sqc.nrun == 0 &&
                 (!*f->schema_name || strcmp(f->schema_name, "druid") == 0);
    bool produce = x->req && x->req->partial_out;
    if (!rc && produce && !split)
        rc = lerr_set(x->err, LERR_INVALID,
                      "a node's part of a query needs a statement whose top block aggregates "
                      "straight over a table (no subquery, join, window or WITH in it)");
    if (!rc && table) {
        const struct query_env *env = R->env;
        bool parts = split && !produce && env && env->partials && env->open_schema;
        /* a block over a table of the cluster that is not split reads the
         * nodes' rows it needs, not every segment (open_pushed) */
        bool pushed = !produce && !R->explain && env && env->open_scan && env->open_schema &&
                      !(x->req && x->req->allow_partial);
        rc = open_table_as(R, f->schema_name, f->table, parts || pushed, NULL, &src);
        src.produce = split && produce;
        src.parts = parts ? env : NULL;
        src.pushed = pushed && src.snap;
    } else if (!rc && f) {
        struct query__memtable *mt = arena_zalloc(&x->keep, sizeof *mt);
        if (!mt)
            rc = query__ctx_nomem(x, "a subquery's rows");
        if (!rc)
            rc = materialize(R, s, f, &sc, mt);
        if (!rc) {
            src.table = f->alias                     ? f->alias
                        : f->kind == SQL_FROM_TABLE  ? f->table
                        : f->kind == SQL_FROM_WINDOW ? "window"
                                                     : "subquery";
            src.mem = mt;
            src.schema = (struct sql_schema){mt->fields, mt->ncols};
        }
    }
    R->depth--;
    if (!rc)
        rc = run_bound(R, s, &src, top, res);
    if (rc == QUERY__REOPEN) {
        /* a block the nodes cannot split (no aggregate, ARRAY keys): the rows
         * it needs of every node (a scan pushed down), else every row here */
        lerr_init(x->err);
        struct query__source cols = src;
        rc = x->push.set ? open_pushed(R, s, f, &cols, &src)
                         : open_table(R, f->schema_name, f->table, &src);
        if (!rc)
            rc = run_bound(R, s, &src, top, res);
    }
    R->level--;
    return rc;
}

/* ---- FROM items ---------------------------------------------------------------------- */

static int run_cte(struct query__rel *R, const struct sql_stmt *s, struct cte_slot *slot,
                   const struct scope *sc, uint32_t pos)
{
    if (slot->mt)
        return 0;
    if (slot->busy)
        return sql_stmt_error(s, pos, R->x->err,
                              "WITH query '%s' refers to itself (WITH RECURSIVE is not supported)",
                              slot->cte->name);
    /* it sees the WITH queries defined before it */
    const struct scope *def = sc;
    while (def && !(slot >= def->slots && slot < def->slots + def->n))
        def = def->up;
    /* (itself too, so that a reference to itself is named as such) */
    struct scope mine = {def ? def->up : NULL, def ? def->slots : NULL,
                         def ? (size_t)(slot - def->slots) + 1 : 0};
    slot->busy = true;
    plan_line(R, "With %s:", slot->cte->name);
    struct query__result res;
    int rc = run_block(R, slot->cte->q, &mine, &res); /* below the block naming it */
    slot->busy = false;
    struct query__memtable *mt = rc ? NULL : arena_zalloc(&R->x->keep, sizeof *mt);
    if (!rc && !mt)
        rc = query__ctx_nomem(R->x, "a WITH query's rows");
    if (!rc)
        rc = to_memtable(R, &res, slot->cte->name, mt);
    if (!rc)
        rc = rename_fields(R, s, slot->cte->pos, mt, slot->cte->cols, slot->cte->ncols,
                           "the WITH query's column list");
    if (!rc)
        slot->mt = mt;
    return rc;
}

/* `SELECT <cols> FROM "t" [WHERE "k" IN (...)]` as text, run as a block. */
static int run_text(struct query__rel *R, const struct scope *sc, struct buf *sql,
                    struct query__result *res)
{
    struct sql_stmt *st = NULL;
    int rc = sql_parse_select_in(sql->data, sql->len, &R->x->budget, &st, R->x->err);
    if (rc)
        return query__ctx_sql_error(R->x, rc, "reading a joined table");
    if ((rc = keep_ptr(R, (void ***)&R->stmts, &R->nstmts, &R->capstmts, st))) {
        sql_stmt_free(st);
        return rc;
    }
    return run_block(R, st, sc, res);
}

static void put_quoted(struct buf *b, const char *name, char q)
{
    buf_putc(b, q);
    for (const char *p = name; *p; p++) {
        if (*p == q)
            buf_putc(b, q);
        buf_putc(b, *p);
    }
    buf_putc(b, q);
}

/* The rows of a table as an in-memory table: the columns block s names,
 * and when `semi_col` is set, only rows whose semi_col is one of semi's
 * values. */
struct table_read {
    const char *semi_col;
    const struct sql_value *semi;
    size_t nsemi;
};

static int read_table(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *f,
                      const struct scope *sc, const struct table_read *tr,
                      struct query__memtable *out)
{
    struct buf sql;
    buf_init(&sql, 64u << 20);
    buf_set_budget(&sql, &R->x->budget);
    buf_puts(&sql, "SELECT ");
    /* only the columns the block names (a joined table's rows are copied) */
    struct query__source src;
    int rc = f->ncol_aliases ? 1 : open_columns(R, f->schema_name, f->table, &src);
    bool opened = rc == 0;
    const char *qual = f->alias ? f->alias : f->table;
    size_t nsel = 0;
    for (size_t i = 0; !rc && i < src.schema.n; i++) {
        if (!sql_stmt_uses_column(s, qual, src.schema.fields[i].name))
            continue;
        if (nsel++)
            buf_puts(&sql, ", ");
        put_quoted(&sql, src.schema.fields[i].name, '"');
    }
    if (rc == LERR_NOMEM || (rc && R->x->mem_error)) {
        buf_free(&sql);
        return rc;
    }
    if (rc || nsel == src.schema.n) {
        lerr_init(R->x->err);
        sql.len = 7;
        buf_puts(&sql, "*");
    } else if (nsel == 0) {
        buf_puts(&sql, "__time"); /* the rows, for COUNT(*) */
    }
    buf_puts(&sql, " FROM ");
    if (*f->schema_name) {
        put_quoted(&sql, f->schema_name, '"');
        buf_puts(&sql, ".");
    }
    put_quoted(&sql, f->table, '"');
    if (tr && tr->semi_col && tr->nsemi == 0) {
        buf_puts(&sql, " WHERE 1 = 0");
    } else if (tr && tr->semi_col) {
        buf_puts(&sql, " WHERE ");
        put_quoted(&sql, tr->semi_col, '"');
        buf_puts(&sql, " IN (");
        for (size_t i = 0; i < tr->nsemi; i++) {
            if (i)
                buf_puts(&sql, ", ");
            const struct sql_value *v = &tr->semi[i];
            if (v->type == SQL_STRING) {
                buf_putc(&sql, '\'');
                for (uint32_t k = 0; k < v->v.s.n; k++) {
                    if (v->v.s.p[k] == '\'')
                        buf_putc(&sql, '\'');
                    buf_putc(&sql, v->v.s.p[k]);
                }
                buf_putc(&sql, '\'');
            } else {
                buf_printf(&sql, "%lld", (long long)v->v.l);
            }
        }
        buf_puts(&sql, ")");
    }
    rc = 0;
    if (sql.failed)
        rc = query__ctx_too_big(R->x, "a joined table's filter");
    struct query__result res;
    if (!rc)
        rc = run_text(R, sc, &sql, &res);
    buf_free(&sql);
    if (!rc)
        rc = to_memtable(R, &res, f->alias ? f->alias : f->table, out);
    /* the table's multi-value columns keep their semantics in the copy */
    for (size_t i = 0; !rc && opened && i < out->ncols; i++)
        for (size_t j = 0; j < src.schema.n; j++)
            if ((src.schema.fields[j].flags & SQL_FIELD_MULTI_VALUE) &&
                strcmp(src.schema.fields[j].name, out->fields[i].name) == 0)
                out->fields[i].flags |= SQL_FIELD_MULTI_VALUE;
    if (!rc)
        rc = rename_fields(R, s, f->pos, out, f->col_aliases, f->ncol_aliases,
                           "the table's column list");
    return rc;
}

static int union_all(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *f,
                     const struct scope *sc, struct query__memtable *out)
{
    struct query__ctx *x = R->x;
    struct query__result *parts = arena_alloc(&x->keep, f->nparts * sizeof *parts);
    if (!parts)
        return query__ctx_nomem(x, "UNION parts");
    plan_line(R, "Union%s of %zu parts:", f->distinct ? "" : " all", f->nparts);
    size_t total = 0;
    for (size_t i = 0; i < f->nparts; i++) {
        int rc = run_block(R, f->parts[i], sc, &parts[i]);
        if (rc)
            return rc;
        if (parts[i].ncols != parts[0].ncols)
            return sql_stmt_error(s, sql_stmt_pos(f->parts[i]), x->err,
                                  "UNION part %zu selects %zu columns but the first part "
                                  "selects %zu (each part must select the same number of "
                                  "columns)",
                                  i + 1, parts[i].ncols, parts[0].ncols);
        total += parts[i].nrows;
    }
    size_t nc = parts[0].ncols;
    uint8_t *types = arena_alloc(&x->keep, nc ? nc : 1);
    if (!types)
        return query__ctx_nomem(x, "UNION parts");
    for (size_t c = 0; c < nc; c++) {
        int t = SQL_NULL;
        for (size_t i = 0; i < f->nparts; i++) {
            int u = parts[i].types[c];
            if (u == SQL_NULL || u == t)
                continue;
            if (t == SQL_NULL) {
                t = u;
                continue;
            }
            bool tn = t == SQL_LONG || t == SQL_FLOAT || t == SQL_DOUBLE || t == SQL_BOOLEAN;
            bool un = u == SQL_LONG || u == SQL_FLOAT || u == SQL_DOUBLE || u == SQL_BOOLEAN;
            if (tn && un) {
                t = (t == SQL_DOUBLE || u == SQL_DOUBLE || t == SQL_FLOAT || u == SQL_FLOAT)
                        ? SQL_DOUBLE
                        : SQL_LONG;
                continue;
            }
            return sql_stmt_error(s, sql_stmt_pos(f->parts[i]), x->err,
                                  "UNION column %zu ('%s') is %s in the first part but %s in part "
                                  "%zu (CAST one of them so that the types agree)",
                                  c + 1, parts[0].names[c], sql_type_sql_name(t),
                                  sql_type_sql_name(u), i + 1);
        }
        types[c] = (uint8_t)t;
    }
    memset(out, 0, sizeof *out);
    out->fields = arena_zalloc(&x->keep, (nc ? nc : 1) * sizeof *out->fields);
    out->cols = arena_alloc(&x->keep, (nc ? nc : 1) * sizeof *out->cols);
    if (!out->fields || !out->cols)
        return query__ctx_nomem(x, "UNION rows");
    for (size_t c = 0; c < nc; c++) {
        out->fields[c] =
            (struct sql_field){parts[0].names[c], strlen(parts[0].names[c]), types[c], NULL, 0};
        struct sql_value *v = arena_alloc(&x->keep, (total ? total : 1) * sizeof *v);
        if (!v)
            return query__ctx_nomem(x, "UNION rows");
        size_t k = 0;
        for (size_t i = 0; i < f->nparts; i++)
            for (size_t r = 0; r < parts[i].nrows; r++, k++) {
                const struct sql_value *a = &parts[i].rows[r][c];
                if (a->is_null)
                    v[k] = sql_null(types[c]);
                else if (a->type != types[c])
                    v[k] = sql_value_cast(a, types[c], &x->keep);
                else
                    v[k] = *a;
            }
        out->cols[c] = v;
    }
    out->ncols = nc;
    out->nrows = total;
    return 0;
}

/* ---- joins --------------------------------------------------------------------------- */

struct pairs {
    uint32_t *l, *r; /* UINT32_MAX = the NULL row of that side */
    size_t n, cap;
};

static int pair_add(struct query__rel *R, struct pairs *p, uint32_t l, uint32_t r)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 1024;
        uint32_t *nl = arena_alloc(&R->x->keep, nc * sizeof *nl);
        uint32_t *nr = arena_alloc(&R->x->keep, nc * sizeof *nr);
        if (!nl || !nr)
            return query__ctx_too_big(R->x, "the join's result");
        if (p->n) {
            memcpy(nl, p->l, p->n * sizeof *nl);
            memcpy(nr, p->r, p->n * sizeof *nr);
        }
        p->l = nl;
        p->r = nr;
        p->cap = nc;
    }
    p->l[p->n] = l;
    p->r[p->n] = r;
    p->n++;
    return 0;
}

/* The key values of every row of a side: keys[k * nrows + r], cast to the key types. */
static int eval_keys(struct query__rel *R, struct sql_expr *const *exprs, const uint8_t *types,
                     size_t nkeys, const struct query__memtable *m, struct sql_value **out)
{
    struct query__ctx *x = R->x;
    size_t nr = m->nrows;
    size_t nk = nkeys * nr;
    struct sql_value *k = arena_alloc(&x->keep, (nk ? nk : 1) * sizeof *k);
    if (!k)
        return query__ctx_too_big(x, "the join's keys");
    struct sql_batch b = {(const struct sql_value *const *)m->cols, (uint32_t)nr};
    for (size_t i = 0; i < nkeys; i++) {
        if (nr && sql_eval_batch(exprs[i], &b, NULL, (uint32_t)nr, &x->keep, k + i * nr, NULL) ==
                      LERR_NOMEM)
            return query__ctx_nomem(x, "the join's keys");
        for (size_t r = 0; r < nr; r++) {
            struct sql_value *v = &k[i * nr + r];
            if (!v->is_null && v->type != types[i])
                *v = sql_value_cast(v, types[i], &x->keep);
        }
    }
    *out = k;
    return 0;
}

static uint64_t key_hash(const struct sql_value *k, size_t nkeys, size_t nr, size_t r, bool *null)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    *null = false;
    for (size_t i = 0; i < nkeys; i++) {
        const struct sql_value *v = &k[i * nr + r];
        if (v->is_null)
            *null = true;
        h = (h ^ sql_value_hash(v)) * 0x100000001B3ull;
    }
    return h;
}

static bool keys_equal(const struct sql_value *a, size_t na, size_t ra, const struct sql_value *b,
                       size_t nb, size_t rb, size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++)
        if (!sql_value_equal(&a[i * na + ra], &b[i * nb + rb]))
            return false;
    return true;
}

/* The residual condition over the pair (l, r). */
static int residual_ok(struct query__rel *R, const struct sql_join_cond *c,
                       const struct query__memtable *L, const struct query__memtable *Rt,
                       uint32_t l, uint32_t r, struct sql_value *row, bool *ok)
{
    if (!c->residual) {
        *ok = true;
        return 0;
    }
    for (size_t i = 0; i < L->ncols; i++)
        row[i] = L->cols[i][l];
    for (size_t i = 0; i < Rt->ncols; i++)
        row[L->ncols + i] = Rt->cols[i][r];
    int rc;
    *ok = sql_eval_filter(c->residual, row, &R->x->scratch, &rc, NULL);
    if (rc == LERR_NOMEM)
        return query__ctx_nomem(R->x, "the join condition");
    return 0;
}

static int join_pairs(struct query__rel *R, const struct sql_from *j,
                      const struct sql_join_cond *c, const struct query__memtable *L,
                      const struct query__memtable *Rt, struct pairs *out)
{
    struct query__ctx *x = R->x;
    bool keep_left = j->join == SQL_JOIN_LEFT || j->join == SQL_JOIN_FULL;
    bool keep_right = j->join == SQL_JOIN_RIGHT || j->join == SQL_JOIN_FULL;
    size_t nl = L->nrows, nr = Rt->nrows;
    bool *rmatched = keep_right ? arena_zalloc(&x->keep, nr ? nr : 1) : NULL;
    struct sql_value *row = arena_alloc(&x->keep, (L->ncols + Rt->ncols + 1) * sizeof *row);
    if ((keep_right && !rmatched) || !row)
        return query__ctx_too_big(x, "the join");
    int rc = 0;
    if (c->nkeys == 0) {
        /* every pair (CROSS JOIN, or a condition without equalities) */
        for (size_t l = 0; l < nl && !rc; l++) {
            bool any = false;
            if ((l & 63) == 0 && (rc = query__ctx_check(x)))
                break;
            for (size_t r = 0; r < nr && !rc; r++) {
                bool ok;
                if ((rc = residual_ok(R, c, L, Rt, (uint32_t)l, (uint32_t)r, row, &ok)) || !ok)
                    continue;
                any = true;
                if (rmatched)
                    rmatched[r] = true;
                rc = pair_add(R, out, (uint32_t)l, (uint32_t)r);
            }
            arena_reset(&x->scratch);
            if (!rc && !any && keep_left)
                rc = pair_add(R, out, (uint32_t)l, UINT32_MAX);
        }
    } else {
        struct sql_value *lk = NULL, *rk = NULL;
        if ((rc = eval_keys(R, c->lkeys, c->key_types, c->nkeys, L, &lk)) ||
            (rc = eval_keys(R, c->rkeys, c->key_types, c->nkeys, Rt, &rk)))
            return rc;
        size_t nslots = 16;
        while (nslots < nr * 2)
            nslots *= 2;
        uint32_t *head = arena_alloc(&x->keep, nslots * sizeof *head);
        uint32_t *next = arena_alloc(&x->keep, (nr ? nr : 1) * sizeof *next);
        uint64_t *hr = arena_alloc(&x->keep, (nr ? nr : 1) * sizeof *hr);
        if (!head || !next || !hr)
            return query__ctx_too_big(x, "the join's hash table");
        memset(head, 0xff, nslots * sizeof *head);
        for (size_t r = 0; r < nr; r++) {
            bool null;
            hr[r] = key_hash(rk, c->nkeys, nr, r, &null);
            if (null)
                continue; /* NULL keys match nothing */
            size_t h = hr[r] & (nslots - 1);
            next[r] = head[h];
            head[h] = (uint32_t)r;
        }
        for (size_t l = 0; l < nl && !rc; l++) {
            if ((l & 1023) == 0 && (rc = query__ctx_check(x)))
                break;
            bool null, any = false;
            uint64_t h = key_hash(lk, c->nkeys, nl, l, &null);
            for (uint32_t r = null ? UINT32_MAX : head[h & (nslots - 1)]; r != UINT32_MAX && !rc;
                 r = next[r]) {
                if (hr[r] != h || !keys_equal(lk, nl, l, rk, nr, r, c->nkeys))
                    continue;
                bool ok;
                if ((rc = residual_ok(R, c, L, Rt, (uint32_t)l, r, row, &ok)) || !ok)
                    continue;
                any = true;
                if (rmatched)
                    rmatched[r] = true;
                rc = pair_add(R, out, (uint32_t)l, r);
            }
            if (c->residual && (l & 255) == 0)
                arena_reset(&x->scratch);
            if (!rc && !any && keep_left)
                rc = pair_add(R, out, (uint32_t)l, UINT32_MAX);
        }
    }
    for (size_t r = 0; rmatched && r < nr && !rc; r++)
        if (!rmatched[r])
            rc = pair_add(R, out, UINT32_MAX, (uint32_t)r);
    return rc;
}

/* The joined rows: USING's merged columns, then the left's and the right's. */
static int join_output(struct query__rel *R, const struct sql_from *j,
                       const struct query__memtable *L, const struct query__memtable *Rt,
                       const struct pairs *p, struct query__memtable *out)
{
    struct query__ctx *x = R->x;
    size_t nu = j->nusing, nc = nu + L->ncols + Rt->ncols;
    memset(out, 0, sizeof *out);
    out->fields = arena_zalloc(&x->keep, (nc ? nc : 1) * sizeof *out->fields);
    out->cols = arena_alloc(&x->keep, (nc ? nc : 1) * sizeof *out->cols);
    if (!out->fields || !out->cols)
        return query__ctx_too_big(x, "the join's result");
    size_t n = p->n;
    for (size_t c = 0; c < nc; c++) {
        out->cols[c] = arena_alloc(&x->keep, (n ? n : 1) * sizeof *out->cols[c]);
        if (!out->cols[c])
            return query__ctx_too_big(x, "the join's result");
    }
    for (size_t c = 0; c < L->ncols; c++) {
        out->fields[nu + c] = L->fields[c];
        for (size_t i = 0; i < n; i++)
            out->cols[nu + c][i] = p->l[i] == UINT32_MAX ? sql_null(L->fields[c].type)
                                                         : L->cols[c][p->l[i]];
    }
    for (size_t c = 0; c < Rt->ncols; c++) {
        out->fields[nu + L->ncols + c] = Rt->fields[c];
        for (size_t i = 0; i < n; i++)
            out->cols[nu + L->ncols + c][i] = p->r[i] == UINT32_MAX ? sql_null(Rt->fields[c].type)
                                                                    : Rt->cols[c][p->r[i]];
    }
    for (size_t u = 0; u < nu; u++) {
        const char *name = j->using_cols[u];
        size_t len = strlen(name);
        int lc = -1, rc2 = -1;
        for (size_t c = 0; c < L->ncols && lc < 0; c++)
            if (L->fields[c].name_len == len && memcmp(L->fields[c].name, name, len) == 0 &&
                !(L->fields[c].flags & SQL_FIELD_QUALIFIED_ONLY))
                lc = (int)c;
        for (size_t c = 0; c < Rt->ncols && rc2 < 0; c++)
            if (Rt->fields[c].name_len == len && memcmp(Rt->fields[c].name, name, len) == 0 &&
                !(Rt->fields[c].flags & SQL_FIELD_QUALIFIED_ONLY))
                rc2 = (int)c;
        if (lc < 0 || rc2 < 0)
            return lerr_set(x->err, LERR_INVALID, "USING column '%s' not found", name);
        out->fields[nu + (size_t)lc].flags |= SQL_FIELD_QUALIFIED_ONLY;
        out->fields[nu + L->ncols + (size_t)rc2].flags |= SQL_FIELD_QUALIFIED_ONLY;
        int lt = L->fields[lc].type, rt = Rt->fields[rc2].type;
        int t = lt == rt ? lt : lt == SQL_NULL ? rt : lt;
        out->fields[u] = (struct sql_field){name, len, (uint8_t)t, NULL, 0};
        for (size_t i = 0; i < n; i++) {
            struct sql_value v = p->l[i] == UINT32_MAX ? sql_null(t) : L->cols[lc][p->l[i]];
            if (v.is_null && p->r[i] != UINT32_MAX)
                v = Rt->cols[rc2][p->r[i]];
            if (!v.is_null && v.type != t)
                v = sql_value_cast(&v, t, &x->keep);
            out->cols[u][i] = v;
        }
    }
    out->ncols = nc;
    out->nrows = n;
    return 0;
}

/* UNNEST(expr) to the right of L: one row per element (a scalar is one
 * element; NULL and empty arrays give no row). */
static int unnest(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *j,
                  const struct query__memtable *L, struct query__memtable *out)
{
    struct query__ctx *x = R->x;
    const struct sql_from *u = j->right;
    struct sql_schema ls = {L->fields, L->ncols};
    struct sql_expr *e = NULL;
    int rc = sql_bind_unnest(s, u, &ls, R->opt, &e, x->err);
    if (rc)
        return query__ctx_sql_error(x, rc, "binding UNNEST");
    if ((rc = keep_ptr(R, (void ***)&R->exprs, &R->nexprs, &R->capexprs, e))) {
        sql_expr_free(e);
        return rc;
    }
    plan_line(R, "Unnest %s", u->alias ? u->alias : "");
    size_t nl = L->nrows;
    struct sql_value *vals = arena_alloc(&x->keep, (nl ? nl : 1) * sizeof *vals);
    if (!vals)
        return query__ctx_too_big(x, "UNNEST");
    struct sql_batch b = {(const struct sql_value *const *)L->cols, (uint32_t)nl};
    if (nl && sql_eval_batch(e, &b, NULL, (uint32_t)nl, &x->keep, vals, NULL) == LERR_NOMEM)
        return query__ctx_nomem(x, "UNNEST");
    struct pairs p = {0};
    size_t total = 0;
    int etype = SQL_NULL;
    for (size_t l = 0; l < nl; l++) {
        const struct sql_value *v = &vals[l];
        if (v->is_null)
            continue;
        size_t k = v->type == SQL_ARRAY ? v->v.a.n : 1;
        for (size_t i = 0; i < k; i++) {
            const struct sql_value *el = v->type == SQL_ARRAY ? &v->v.a.items[i] : v;
            if (!el->is_null)
                etype = etype == SQL_NULL || etype == el->type ? el->type : SQL_STRING;
            if ((rc = pair_add(R, &p, (uint32_t)l, (uint32_t)i)))
                return rc;
        }
        total += k;
    }
    if (etype == SQL_NULL)
        etype = SQL_STRING;
    size_t nc = L->ncols + 1;
    memset(out, 0, sizeof *out);
    out->fields = arena_zalloc(&x->keep, nc * sizeof *out->fields);
    out->cols = arena_alloc(&x->keep, nc * sizeof *out->cols);
    if (!out->fields || !out->cols)
        return query__ctx_too_big(x, "UNNEST");
    for (size_t c = 0; c < nc; c++)
        if (!(out->cols[c] = arena_alloc(&x->keep, (total ? total : 1) * sizeof **out->cols)))
            return query__ctx_too_big(x, "UNNEST");
    for (size_t c = 0; c < L->ncols; c++) {
        out->fields[c] = L->fields[c];
        for (size_t i = 0; i < p.n; i++)
            out->cols[c][i] = L->cols[c][p.l[i]];
    }
    const char *col = u->ncol_aliases ? u->col_aliases[0] : "EXPR$0";
    out->fields[L->ncols] = (struct sql_field){col, strlen(col), (uint8_t)etype, u->alias, 0};
    for (size_t i = 0; i < p.n; i++) {
        const struct sql_value *v = &vals[p.l[i]];
        struct sql_value el = v->type == SQL_ARRAY ? v->v.a.items[p.r[i]] : *v;
        if (el.is_null)
            el = sql_null(etype);
        else if (el.type != etype)
            el = sql_value_cast(&el, etype, &x->keep);
        out->cols[L->ncols][i] = el;
    }
    out->ncols = nc;
    out->nrows = total;
    return 0;
}

/* The distinct non-NULL values of column c of m, when few enough to filter
 * a table by; false when not worth it. */
#define SEMI_MAX 4096
static bool semi_values(struct query__rel *R, const struct query__memtable *m, size_t c,
                        struct sql_value **out, size_t *n)
{
    if (m->nrows > SEMI_MAX || m->fields[c].type != SQL_STRING)
        return false;
    struct sql_value *v = arena_alloc(&R->x->keep, (m->nrows ? m->nrows : 1) * sizeof *v);
    if (!v)
        return false;
    size_t k = 0;
    for (size_t r = 0; r < m->nrows; r++) {
        const struct sql_value *x = &m->cols[c][r];
        if (x->is_null)
            continue; /* an INNER join never matches a NULL key */
        if (x->type != SQL_STRING)
            return false;
        v[k++] = *x;
    }
    *out = v;
    *n = k;
    return true;
}

/* Whether the n strings are distinct (a hash set in the query's memory). */
static bool distinct_keys(struct query__rel *R, const struct sql_value *v, size_t n)
{
    size_t nslots = 16;
    while (nslots < n * 2)
        nslots *= 2;
    uint32_t *slot = arena_zalloc(&R->x->keep, nslots * sizeof *slot);
    if (!slot)
        return false;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)sql_value_hash(&v[i]) & (nslots - 1);
        while (slot[h]) {
            if (sql_value_equal(&v[slot[h] - 1], &v[i]))
                return false;
            h = (h + 1) & (nslots - 1);
        }
        slot[h] = (uint32_t)i + 1;
    }
    return true;
}

/* Whether table f has a STRING column `col` (false on any error). */
static bool table_col_is_string(struct query__rel *R, const struct sql_from *f, const char *col)
{
    struct query__source ts;
    if (open_columns(R, f->schema_name, f->table, &ts)) {
        if (!R->x->mem_error)
            lerr_init(R->x->err);
        return false;
    }
    for (size_t i = 0; i < ts.schema.n; i++)
        if (strcmp(ts.schema.fields[i].name, col) == 0)
            return ts.schema.fields[i].type == SQL_STRING;
    return false;
}

/* A plain-table side of an INNER join whose key is one of its columns,
 * compared with a bare column of the other side: read only the rows whose
 * key the other side has. */
static int read_side(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *f,
                     const struct scope *sc, const struct query__memtable *other,
                     const struct sql_from *j, bool f_is_left, struct query__memtable *out)
{
    if (f->kind != SQL_FROM_TABLE || find_cte(sc, f->schema_name, f->table) || !other ||
        j->join != SQL_JOIN_INNER || f->ncol_aliases)
        return materialize(R, s, f, sc, out);
    /* ON a.k = b.k or USING (k): find the pair whose other side is a bare column */
    const char *col = NULL;
    size_t ocol = 0;
    if (j->nusing == 1) {
        col = j->using_cols[0];
        for (ocol = 0; ocol < other->ncols; ocol++)
            if (strcmp(other->fields[ocol].name, col) == 0 &&
                !(other->fields[ocol].flags & SQL_FIELD_QUALIFIED_ONLY))
                break;
        if (ocol == other->ncols)
            col = NULL;
    } else if (j->on) {
        col = sql_join_on_column(j, f->alias ? f->alias : f->table, f_is_left, other->fields,
                                 other->ncols, &ocol);
    }
    /* strings on both sides: the IN filter then keeps exactly the rows the
     * join's key comparison can match */
    if (col && !table_col_is_string(R, f, col))
        col = NULL;
    struct table_read tr = {NULL, NULL, 0};
    struct sql_value *vals;
    size_t n;
    if (col && semi_values(R, other, ocol, &vals, &n)) {
        tr.semi_col = col;
        tr.semi = vals;
        tr.nsemi = n;
        plan_line(R, "Scan of %s limited to the keys of the other side (a semi-join)", f->table);
    }
    if (!tr.semi_col || R->explain)
        return materialize(R, s, f, sc, out);
    int rc = read_table(R, s, f, sc, &tr, out);
    if (rc == LERR_INVALID && !R->x->mem_error) {
        /* not a plain column after all: read it whole, and the join's own
         * binding names the mistake */
        lerr_init(R->x->err);
        return materialize(R, s, f, sc, out);
    }
    return rc;
}

static int join(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *j,
                const struct scope *sc, struct query__memtable *out)
{
    static const char *const kinds[] = {"Inner", "Left", "Right", "Full", "Cross"};
    plan_line(R, "%s join:", kinds[j->join]);
    struct query__memtable L, Rt;
    /* a table beside anything else is read after it, limited to its keys */
    bool lt = j->left->kind == SQL_FROM_TABLE, rt = j->right->kind == SQL_FROM_TABLE;
    int rc;
    R->depth++;
    if (j->right->kind == SQL_FROM_UNNEST) {
        rc = materialize(R, s, j->left, sc, &L);
        R->depth--;
        return rc ? rc : unnest(R, s, j, &L, out);
    }
    if (lt && !rt) {
        rc = materialize(R, s, j->right, sc, &Rt);
        if (!rc)
            rc = read_side(R, s, j->left, sc, &Rt, j, true, &L);
    } else {
        rc = materialize(R, s, j->left, sc, &L);
        if (!rc)
            rc = read_side(R, s, j->right, sc, &L, j, false, &Rt);
    }
    R->depth--;
    if (rc)
        return rc;
    struct sql_schema ls = {L.fields, L.ncols}, rs = {Rt.fields, Rt.ncols};
    struct sql_join_cond *c = NULL;
    if ((rc = sql_bind_join(s, j, &ls, &rs, R->opt, &c, R->x->err)))
        return query__ctx_sql_error(R->x, rc, "binding the join condition");
    if ((rc = keep_ptr(R, (void ***)&R->conds, &R->nconds, &R->capconds, c))) {
        sql_join_cond_free(c);
        return rc;
    }
    if (c->nkeys)
        plan_line(R, "  hash on %zu key%s%s", c->nkeys, c->nkeys == 1 ? "" : "s",
                  c->residual ? ", then the rest of the condition" : "");
    else if (j->join != SQL_JOIN_CROSS)
        plan_line(R, "  every pair of rows checked (the condition has no equality between the "
                     "two sides)");
    struct pairs p = {0};
    if (!R->explain && (rc = join_pairs(R, j, c, &L, &Rt, &p)))
        return rc;
    return join_output(R, j, &L, &Rt, &p, out);
}

static int materialize(struct query__rel *R, const struct sql_stmt *s, const struct sql_from *f,
                       const struct scope *sc, struct query__memtable *out)
{
    int rc = query__ctx_check(R->x);
    if (rc)
        return rc;
    if (f == R->pre_from) { /* already run by join_as_filter */
        *out = *R->pre;
        R->pre_from = NULL;
        return 0;
    }
    switch (f->kind) {
    case SQL_FROM_TABLE: {
        struct cte_slot *slot = find_cte(sc, f->schema_name, f->table);
        if (slot) {
            if ((rc = run_cte(R, s, slot, sc, f->pos)))
                return rc;
            if ((rc = requalify(R, slot->mt, f->alias ? f->alias : f->table, out)))
                return rc;
            return rename_fields(R, s, f->pos, out, f->col_aliases, f->ncol_aliases,
                                 "the column list");
        }
        plan_line(R, "Table %s:", f->table);
        R->depth++;
        rc = read_table(R, s, f, sc, NULL, out);
        R->depth--;
        return rc;
    }
    case SQL_FROM_SUBQUERY: {
        plan_line(R, "Subquery%s%s:", f->alias ? " " : "", f->alias ? f->alias : "");
        struct query__result res;
        R->depth++;
        rc = run_block(R, f->sub, sc, &res);
        R->depth--;
        if (!rc)
            rc = to_memtable(R, &res, f->alias, out);
        if (!rc)
            rc = rename_fields(R, s, f->pos, out, f->col_aliases, f->ncol_aliases,
                               "the subquery's column list");
        return rc;
    }
    case SQL_FROM_UNION:
        R->depth++;
        rc = union_all(R, s, f, sc, out);
        R->depth--;
        return rc;
    case SQL_FROM_JOIN: return join(R, s, f, sc, out);
    case SQL_FROM_UNNEST: {
        /* FROM UNNEST(ARRAY[...]) alone: over one row without columns */
        static const struct query__memtable one = {0, NULL, 1, NULL};
        struct sql_from j = {.kind = SQL_FROM_JOIN,
                             .pos = f->pos,
                             .join = SQL_JOIN_CROSS,
                             .right = (struct sql_from *)f};
        return unnest(R, s, &j, &one, out);
    }
    case SQL_FROM_WINDOW: {
        /* the inner block's rows, then one column per window call */
        plan_line(R, "Window: one column per call over the rows of the block below");
        if (R->explain) {
            struct buf b;
            buf_init(&b, 1u << 20);
            sql_windows_explain(f->windows, &b);
            R->depth++;
            for (const char *p = b.data, *e = b.data + b.len; p && p < e;) {
                const char *nl = memchr(p, '\n', (size_t)(e - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(e - p);
                if (n)
                    plan_line(R, "%.*s", (int)n, p);
                p += n + 1;
            }
            R->depth--;
            buf_free(&b);
        }
        struct query__result res;
        struct query__memtable in;
        R->depth++;
        rc = run_block(R, f->sub, sc, &res);
        R->depth--;
        if (!rc)
            rc = to_memtable(R, &res, NULL, &in);
        if (!rc)
            rc = query__window_apply(f->windows, &in, R->x, out);
        return rc;
    }
    }
    return lerr_set(R->x->err, LERR_INVALID, "unknown FROM item");
}

/* ---- an INNER join that is a filter ---------------------------------------------------- */

/*
 * FROM t JOIN o ON t.k = o.c, where o is not a table, its c values are few
 * distinct strings, t.k is a string column and the block reads o only as
 * o.c: every row of t whose k is among them meets exactly one row of o, so
 * the block reads t alone WHERE k IN (o's values) — on the table's bitmap
 * indexes and its dictionary-id group-by — instead of copying t's rows into
 * a hash join. Rewrites s, or leaves it for the join.
 */
static int join_as_filter(struct query__rel *R, struct sql_stmt *s, const struct scope *sc)
{
    const struct sql_from *j = sql_stmt_from(s);
    if (j->join != SQL_JOIN_INNER)
        return 0;
    for (int side = 0; side < 2; side++) {
        const struct sql_from *t = side ? j->right : j->left, *o = side ? j->left : j->right;
        if (t->kind != SQL_FROM_TABLE || t->ncol_aliases ||
            find_cte(sc, t->schema_name, t->table) ||
            (o->kind == SQL_FROM_TABLE && !find_cte(sc, o->schema_name, o->table)) ||
            o->kind == SQL_FROM_UNNEST || o->kind == SQL_FROM_JOIN || !o->alias)
            continue;
        const char *tq = t->alias ? t->alias : t->table, *tcol, *ocol;
        if (strcmp(tq, o->alias) == 0 || !sql_join_single_key(j, tq, o->alias, &tcol, &ocol))
            continue;
        if (R->explain) {
            /* the other side's keys are known only when it runs */
            plan_line(R,
                      "Inner join as a filter when %s's %s values are few and distinct: %s.%s IN "
                      "them, on %s's indexes (else the hash join below)",
                      o->alias, ocol, tq, tcol, t->table);
            return 0;
        }
        if (!table_col_is_string(R, t, tcol))
            return R->x->mem_error ? R->x->err->code : 0; /* the join says what is wrong */
        int rc;
        struct query__memtable *m = arena_zalloc(&R->x->keep, sizeof *m);
        if (!m)
            return query__ctx_nomem(R->x, "a join's side");
        if ((rc = materialize(R, s, o, sc, m)))
            return rc;
        size_t oc = 0;
        while (oc < m->ncols && (strcmp(m->fields[oc].name, ocol) != 0 ||
                                 (m->fields[oc].flags & SQL_FIELD_QUALIFIED_ONLY)))
            oc++;
        struct sql_value *keys;
        size_t n;
        if (oc == m->ncols || !semi_values(R, m, oc, &keys, &n) || !distinct_keys(R, keys, n)) {
            R->pre_from = o; /* the join below reads these rows, not o again */
            R->pre = m;
            return 0;
        }
        bool done;
        if (sql_stmt_join_to_filter(s, t, tcol, o->alias, ocol, m->fields, m->ncols, keys, n,
                                    &done, R->x->err))
            return query__ctx_nomem(R->x, "a join's keys");
        if (done) {
            plan_line(R, "Inner join as a filter: %s.%s IN the %zu keys of %s", tq, tcol, n,
                      o->alias);
        } else {
            R->pre_from = o;
            R->pre = m;
        }
        return 0;
    }
    return 0;
}

/* ---- the entry point ------------------------------------------------------------------- */

int query__rel_run(struct query__rel *R, struct sql_stmt *s, struct query__result *res)
{
    R->explain = sql_stmt_is_explain(s);
    R->level = 0;
    int rc = run_block(R, s, NULL, res);
    if (rc || !R->explain || !R->plan.len || !res->nrows || !res->ncols)
        return rc;
    /* EXPLAIN: the operators below the top block, then its own plan */
    struct sql_value *v = &res->rows[0][0];
    struct buf b;
    buf_init(&b, 4u << 20);
    buf_set_budget(&b, &R->x->budget);
    buf_append(&b, R->plan.data, R->plan.len);
    buf_append(&b, v->v.s.p, v->v.s.n);
    char *p = b.failed ? NULL : arena_strndup(&R->x->keep, b.data, b.len);
    size_t n = b.len;
    buf_free(&b);
    if (!p)
        return query__ctx_nomem(R->x, "the plan");
    *v = sql_string(p, n);
    return 0;
}
