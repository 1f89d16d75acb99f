/*
 * window.c — planning window calls (`fn(...) OVER (...)`) at the tree
 * level, before binding. A SELECT block with window calls becomes
 *
 *   outer:  SELECT <items>  FROM <window step over inner>
 *           ORDER BY <...>  LIMIT / OFFSET / DISTINCT as written
 *   inner:  SELECT <window-free parts>  FROM / WHERE / GROUP BY / HAVING as written
 *
 * where every window call in the outer items and ORDER BY is replaced by a
 * reference to its window column and every maximal window-free
 * subexpression by a reference to an inner column (references by position:
 * NF_COLREF identifiers, so no name can collide). The inner block keeps the
 * original items at their positions (a window item becomes NULL there), so
 * GROUP BY ordinals and aliases mean what they meant; after them come each
 * window's arguments, PARTITION BY and ORDER BY expressions. The window
 * step (struct sql_windows, sql.h) then only needs column indexes; query/
 * runs it. Result column names stay what they were (alias, column name,
 * EXPR$i).
 *
 * Errors found here (a 400 with line, column and a hint): a window call in
 * WHERE, GROUP BY, HAVING, inside an aggregate's argument or inside another
 * window; OVER after a function that is neither a window function nor an
 * aggregate; unknown or badly combined named windows; bad NTILE / LAG /
 * LEAD literals; SELECT * together with window calls.
 *
 * Entry points: sql_stmt_plan_windows(), sql_window_compile_agg(),
 * sql_windows_explain().
 */
#include "sql/sql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wplan {
    struct sql_stmt *s;
    struct arena *a;
    struct lerr *err;
    /* inner items */
    struct sql_parse_item *items;
    size_t nitems, cap;
    /* window calls, and the references to their columns to patch */
    struct sql_window_call *calls;
    size_t ncalls, ccap;
    struct sql_node **wrefs;
    size_t nwrefs, wcap;
};

static int nomem(struct wplan *w) { return lerr_set(w->err, LERR_NOMEM, "out of memory"); }

static int err_at(struct wplan *w, uint32_t pos, const char *fmt, ...) LS_PRINTF(3, 4);
static int err_at(struct wplan *w, uint32_t pos, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sql_error_at(w->err, w->s->text, w->s->len, pos, "%s", msg);
}

/* The first window call in a tree, or NULL. */
static const struct sql_node *find_over(const struct sql_node *n)
{
    if (!n)
        return NULL;
    if (n->kind == NK_CALL && (n->flags & NF_OVER))
        return n;
    for (int i = 0; n->kind == NK_CALL && i < n->nargs; i++) {
        const struct sql_node *f = find_over(n->args[i]);
        if (f)
            return f;
    }
    return find_over(n->filter);
}

static const char *call_name(const struct sql_node *n, char buf[64])
{
    snprintf(buf, 64, "%.*s", (int)(n->name_len > 60 ? 60 : n->name_len), n->name);
    return buf;
}

static int func_of(const struct sql_node *n)
{
    if (n->kind != NK_CALL)
        return -1;
    return n->func != UINT16_MAX ? n->func : sql_func_find(n->name, n->name_len);
}

static int not_here(struct wplan *w, const struct sql_node *where, const char *clause)
{
    const struct sql_node *o = find_over(where);
    if (!o)
        return 0;
    char nb[64];
    return err_at(w, o->pos,
                  "window function %s is not allowed in %s (window functions are computed after "
                  "WHERE, GROUP BY and HAVING: compute it in a subquery and filter or group its "
                  "result in the outer query)",
                  call_name(o, nb), clause);
}

/* Structural equality of parsed (unbound) trees, to share inner columns. */
static bool pnode_equal(const struct sql_node *a, const struct sql_node *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind || a->flags != b->flags || a->nargs != b->nargs ||
        a->ttype != b->ttype || a->ival != b->ival || a->name_len != b->name_len ||
        a->qual_len != b->qual_len || a->field != b->field)
        return false;
    if ((a->flags & NF_OVER) || a->kind == NK_PARAM)
        return false;
    if (a->name_len && (a->kind == NK_CALL ? strncasecmp(a->name, b->name, a->name_len)
                                           : memcmp(a->name, b->name, a->name_len)))
        return false;
    if (a->qual_len && memcmp(a->qual, b->qual, a->qual_len))
        return false;
    if (a->kind == NK_LIT) {
        if (a->k.is_null || b->k.is_null)
            return a->k.is_null == b->k.is_null && a->type == b->type;
        return a->k.type == b->k.type && sql_value_equal(&a->k, &b->k);
    }
    for (int i = 0; i < a->nargs; i++)
        if (!pnode_equal(a->args[i], b->args[i]))
            return false;
    return (a->filter == NULL) == (b->filter == NULL) &&
           (!a->filter || pnode_equal(a->filter, b->filter));
}

static struct sql_node *colref(struct wplan *w, uint32_t col, uint32_t pos)
{
    struct sql_node *r = sql_node_new(w->a, NK_IDENT, pos);
    if (!r)
        return NULL;
    r->flags = NF_COLREF;
    r->field = col;
    char *nm = arena_printf(w->a, "$w%u", (unsigned)col);
    if (!nm)
        return NULL;
    r->name = nm;
    r->name_len = (uint32_t)strlen(nm);
    return r;
}

/* The inner column computing e (shared with an equal one already there). */
static int inner_col(struct wplan *w, struct sql_node *e, const char *alias, uint32_t *col)
{
    /* Sharing needs a comparison per column: bounded, so that a list of
     * thousands of distinct expressions stays linear. */
    size_t from = w->nitems > 256 ? w->nitems - 256 : 0;
    for (size_t i = from; !alias && i < w->nitems; i++)
        if (w->items[i].expr && pnode_equal(w->items[i].expr, e)) {
            *col = (uint32_t)i;
            return 0;
        }
    if (w->nitems == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        struct sql_parse_item *ni = arena_alloc(w->a, sizeof *ni * nc);
        if (!ni)
            return nomem(w);
        if (w->nitems)
            memcpy(ni, w->items, sizeof *ni * w->nitems);
        w->items = ni;
        w->cap = nc;
    }
    w->items[w->nitems] = (struct sql_parse_item){e, alias, e ? e->pos : 0};
    *col = (uint32_t)w->nitems++;
    return 0;
}

/* A literal whole number of at least `min` (NTILE's buckets, LAG's offset). */
static int lit_count(struct wplan *w, const struct sql_node *call, const struct sql_node *a,
                     int64_t min, const char *what, int64_t *out)
{
    if (a->kind != NK_LIT || a->k.is_null || a->k.type != SQL_LONG || a->k.v.l < min) {
        char nb[64], m[96];
        snprintf(m, sizeof m, "%s of %s", what, call_name(call, nb));
        return sql_error_at(w->err, w->s->text, w->s->len, a->pos,
                            "the %s must be a whole number literal of %lld or more (write, "
                            "e.g., %s)",
                            m, (long long)min, min > 0 ? "NTILE(4)" : "LAG(x, 1)");
    }
    *out = a->k.v.l;
    return 0;
}

/* The named window `name`, with what it builds on merged in. */
static int resolve_over(struct wplan *w, const struct sql_over *o, int depth, struct sql_over *out)
{
    *out = *o;
    if (!o->ref)
        return 0;
    const struct sql_named_window *base = NULL;
    for (size_t i = 0; i < w->s->nwindows; i++)
        if (strlen(w->s->windows[i].name) == o->ref_len &&
            memcmp(w->s->windows[i].name, o->ref, o->ref_len) == 0)
            base = &w->s->windows[i];
    char nm[80];
    snprintf(nm, sizeof nm, "%.*s", (int)(o->ref_len > 64 ? 64 : o->ref_len), o->ref);
    if (!base)
        return err_at(w, o->pos,
                      "unknown window \"%s\"%s (define it between HAVING and ORDER BY: WINDOW "
                      "w AS(PARTITION BY ... ORDER BY ...))",
                      nm, "");
    if (depth > (int)w->s->nwindows)
        return err_at(w, o->pos, "window \"%s\" is defined in terms of itself%s", nm,
                      " (define each window from windows before it)");
    struct sql_over b;
    int rc = resolve_over(w, base->spec, depth + 1, &b);
    if (rc)
        return rc;
    if (o->npart)
        return err_at(w, o->pos,
                      "a window built on window \"%s\" cannot have its own PARTITION BY%s", nm,
                      " (put PARTITION BY in the named window)");
    if (o->norder && b.norder)
        return err_at(w, o->pos, "window \"%s\" already has an ORDER BY%s", nm,
                      " (a window built on it can only add a frame)");
    if (o->bare) {
        *out = b; /* OVER w: the whole of w */
        return 0;
    }
    if (b.has_frame)
        return err_at(w, o->pos, "window \"%s\" has a frame, so no window can build on it%s", nm,
                      " (define the frame where the window is used)");
    out->ref = NULL;
    out->npart = b.npart;
    out->part = b.part;
    if (!o->norder) {
        out->norder = b.norder;
        out->order = b.order;
    }
    return 0;
}

static int lift(struct wplan *w, struct sql_node **np);

/* Turns window call n into a window column: fills calls[ncalls]. */
static int add_call(struct wplan *w, struct sql_node *n, uint32_t *idx)
{
    char nb[64], nb2[64];
    int f = func_of(n);
    for (int i = 0; i < n->nargs; i++) {
        const struct sql_node *in = find_over(n->args[i]);
        if (in)
            return err_at(w, in->pos,
                          "window function %s cannot be nested inside the window function %s "
                          "(compute the inner one in a subquery)",
                          call_name(in, nb), call_name(n, nb2));
    }
    if (f < 0 || !(sql_funcs[f].flags & (FF_WINDOW | FF_AGG)) ||
        (sql_funcs[f].flags & FF_UNSUPPORTED))
        return err_at(w, n->pos,
                      "%s is not a window function or an aggregate, so it cannot take OVER%s",
                      call_name(n, nb),
                      " (window functions are ROW_NUMBER, RANK, DENSE_RANK, PERCENT_RANK, "
                      "CUME_DIST, NTILE, LAG, LEAD, FIRST_VALUE, LAST_VALUE; aggregates such as "
                      "SUM and COUNT work over windows too)");
    const struct sql_func *fn = &sql_funcs[f];
    struct sql_over o;
    int rc = resolve_over(w, n->aux, 0, &o);
    if (rc)
        return rc;
    for (size_t i = 0; i < o.npart; i++)
        if (find_over(o.part[i]))
            return err_at(w, find_over(o.part[i])->pos,
                          "window functions cannot be nested inside PARTITION BY%s%s", "",
                          " (compute the inner one in a subquery)");
    for (size_t i = 0; i < o.norder; i++)
        if (find_over(o.order[i].expr))
            return err_at(w, find_over(o.order[i].expr)->pos,
                          "window functions cannot be nested inside a window's ORDER BY%s%s", "",
                          " (compute the inner one in a subquery)");
    struct sql_window_call c;
    memset(&c, 0, sizeof c);
    c.default_col = -1;
    c.n = 1;
    c.pos = n->pos;
    c.rows = o.rows;
    c.frame_written = o.has_frame;
    c.start = o.start;
    c.end = o.end;
    c.start_n = o.start_n;
    c.end_n = o.end_n;
    c.text = fn->name;
    if (fn->flags & FF_WINDOW) {
        c.func = (uint8_t)fn->variant;
        if (n->nargs < fn->min_args || n->nargs > fn->max_args) {
            char m[160];
            if (fn->min_args == fn->max_args)
                snprintf(m, sizeof m, "%s takes %d argument%s but got %u", fn->name, fn->min_args,
                         fn->min_args == 1 ? "" : "s", n->nargs);
            else
                snprintf(m, sizeof m, "%s takes %d to %d arguments but got %u", fn->name,
                         fn->min_args, fn->max_args, n->nargs);
            return err_at(w, n->pos, "%s%s", m, "");
        }
        if (n->flags & NF_DISTINCT)
            return err_at(w, n->pos, "DISTINCT is not allowed in the window function %s%s",
                          fn->name, "");
        if (n->filter)
            return err_at(w, n->pos, "FILTER is not allowed after the window function %s%s",
                          fn->name, " (it only follows aggregates)");
        if (c.func == SQL_WIN_NTILE && (rc = lit_count(w, n, n->args[0], 1, "bucket count", &c.n)))
            return rc;
        if ((c.func == SQL_WIN_LAG || c.func == SQL_WIN_LEAD) && n->nargs >= 2 &&
            (rc = lit_count(w, n, n->args[1], 0, "offset", &c.n)))
            return rc;
        if (c.func == SQL_WIN_LAG || c.func == SQL_WIN_LEAD || c.func == SQL_WIN_FIRST_VALUE ||
            c.func == SQL_WIN_LAST_VALUE) {
            if (n->args[0]->kind == NK_STAR)
                return err_at(w, n->args[0]->pos, "'*' is not a value of %s%s", fn->name,
                              " (name a column)");
            if ((rc = inner_col(w, n->args[0], NULL, &c.args[0])))
                return rc;
            c.nargs = 1;
            if (n->nargs == 3) {
                uint32_t d;
                if ((rc = inner_col(w, n->args[2], NULL, &d)))
                    return rc;
                c.default_col = (int32_t)d;
            }
        }
    } else {
        c.func = SQL_WIN_AGG;
        if (fn->variant == SQL_AGG_EARLIEST || fn->variant == SQL_AGG_LATEST)
            if (n->nargs >= 1)
                return err_at(w, n->pos, "%s over a window is not supported%s", fn->name,
                              fn->variant == SQL_AGG_EARLIEST
                                  ? " (name the time column: EARLIEST_BY(x, \"__time\"))"
                                  : " (name the time column: LATEST_BY(x, \"__time\"))");
        struct buf t;
        buf_init(&t, 0);
        buf_printf(&t, "%s(%s", fn->name, (n->flags & NF_DISTINCT) ? "DISTINCT " : "");
        for (int i = 0; i < n->nargs; i++) {
            const struct sql_node *a = n->args[i];
            if (i)
                buf_puts(&t, ", ");
            if (a->kind == NK_STAR) {
                buf_puts(&t, "*");
            } else if (a->kind == NK_LIT && !a->k.is_null && a->k.type == SQL_LONG) {
                buf_printf(&t, "%lld", (long long)a->k.v.l);
            } else {
                uint32_t col;
                if ((rc = inner_col(w, n->args[i], NULL, &col))) {
                    buf_free(&t);
                    return rc;
                }
                buf_printf(&t, "\"$w%u\"", (unsigned)col);
            }
        }
        buf_puts(&t, ")");
        if (n->filter) {
            uint32_t col;
            if ((rc = inner_col(w, n->filter, NULL, &col))) {
                buf_free(&t);
                return rc;
            }
            buf_printf(&t, " FILTER (WHERE \"$w%u\")", (unsigned)col);
        }
        c.agg_text = t.failed ? NULL : arena_strndup(w->a, t.data, t.len);
        buf_free(&t);
        if (!c.agg_text)
            return nomem(w);
    }
    uint32_t *part = arena_alloc(w->a, sizeof *part * (o.npart ? o.npart : 1));
    struct sql_window_key *ord = arena_alloc(w->a, sizeof *ord * (o.norder ? o.norder : 1));
    if (!part || !ord)
        return nomem(w);
    for (size_t i = 0; i < o.npart; i++)
        if ((rc = inner_col(w, o.part[i], NULL, &part[i])))
            return rc;
    for (size_t i = 0; i < o.norder; i++) {
        if ((rc = inner_col(w, o.order[i].expr, NULL, &ord[i].col)))
            return rc;
        ord[i].desc = o.order[i].desc;
        ord[i].nulls_first = o.order[i].nulls ? o.order[i].nulls == 1 : !o.order[i].desc;
    }
    c.npart = o.npart;
    c.part = part;
    c.norder = o.norder;
    c.order = ord;
    if (w->ncalls == w->ccap) {
        size_t nc = w->ccap ? w->ccap * 2 : 4;
        struct sql_window_call *na = arena_alloc(w->a, sizeof *na * nc);
        if (!na)
            return nomem(w);
        if (w->ncalls)
            memcpy(na, w->calls, sizeof *na * w->ncalls);
        w->calls = na;
        w->ccap = nc;
    }
    w->calls[w->ncalls] = c;
    *idx = (uint32_t)w->ncalls++;
    return 0;
}

/* Rewrites *np for the outer block: window calls become window column
 * references, window-free subtrees inner column references. */
static int lift(struct wplan *w, struct sql_node **np)
{
    struct sql_node *n = *np;
    if (n->kind == NK_LIT || n->kind == NK_PARAM)
        return 0; /* constants stay where they are */
    if (n->kind == NK_STAR)
        return err_at(w, n->pos, "SELECT * cannot be combined with window functions%s%s", "",
                      " (list the columns instead of *)");
    const struct sql_node *o = find_over(n);
    int rc;
    if (!o) {
        uint32_t col;
        if ((rc = inner_col(w, n, NULL, &col)))
            return rc;
        return (*np = colref(w, col, n->pos)) ? 0 : nomem(w);
    }
    if (n->flags & NF_OVER) {
        uint32_t idx = 0;
        if ((rc = add_call(w, n, &idx)))
            return rc;
        struct sql_node *r = colref(w, idx, n->pos);
        if (!r)
            return nomem(w);
        if (w->nwrefs == w->wcap) {
            size_t nc = w->wcap ? w->wcap * 2 : 8;
            struct sql_node **nr = arena_alloc(w->a, sizeof *nr * nc);
            if (!nr)
                return nomem(w);
            if (w->nwrefs)
                memcpy(nr, w->wrefs, sizeof *nr * w->nwrefs);
            w->wrefs = nr;
            w->wcap = nc;
        }
        w->wrefs[w->nwrefs++] = r;
        *np = r;
        return 0;
    }
    int f = func_of(n);
    if (f >= 0 && (sql_funcs[f].flags & FF_AGG)) {
        char nb[64];
        return err_at(w, o->pos,
                      "window function %s is not allowed inside the aggregate %s (aggregate "
                      "first and apply the window to the aggregate, as in SUM(SUM(x)) OVER w)",
                      call_name(o, nb), sql_funcs[f].name);
    }
    if (n->kind != NK_CALL)
        return 0;
    for (int i = 0; i < n->nargs; i++)
        if ((rc = lift(w, &n->args[i])))
            return rc;
    return 0;
}

static bool item_has_window(const struct sql_stmt *s, size_t i)
{
    return find_over(s->items[i].expr) != NULL;
}

static int plan(struct sql_stmt *s, struct arena *a, struct lerr *err)
{
    struct wplan w = {.s = s, .a = a, .err = err};
    int rc;
    if ((rc = not_here(&w, s->where, "WHERE")))
        return rc;
    for (size_t i = 0; i < s->ngroup; i++)
        if ((rc = not_here(&w, s->group[i], "GROUP BY")))
            return rc;
    for (size_t i = 0; i < s->ngsets; i++)
        for (size_t k = 0; k < s->gsets[i].n; k++)
            if ((rc = not_here(&w, s->gsets[i].keys[k], "GROUP BY")))
                return rc;
    if ((rc = not_here(&w, s->having, "HAVING")))
        return rc;
    bool any = false;
    for (size_t i = 0; i < s->nitems; i++)
        any = any || item_has_window(s, i);
    for (size_t i = 0; i < s->norder; i++)
        any = any || find_over(s->order[i].expr);
    if (!any)
        return 0;
    /* GROUP BY 2 where item 2 is a window call would group by its placeholder */
    for (size_t i = 0; i < s->ngroup; i++) {
        const struct sql_node *g = s->group[i];
        if (g->kind == NK_LIT && !g->k.is_null && g->k.type == SQL_LONG && g->k.v.l >= 1 &&
            (size_t)g->k.v.l <= s->nitems && item_has_window(s, (size_t)g->k.v.l - 1)) {
            char nb[64];
            return err_at(&w, g->pos,
                          "GROUP BY %lld names a window function (%s); window functions are "
                          "computed after GROUP BY (group by the columns it reads)",
                          (long long)g->k.v.l,
                          call_name(find_over(s->items[g->k.v.l - 1].expr), nb));
        }
    }
    /* the inner block: the items in place, a window item as NULL */
    size_t n0 = s->nitems;
    struct sql_node **outer = arena_alloc(a, sizeof *outer * (n0 ? n0 : 1));
    if (!outer)
        return nomem(&w);
    for (size_t i = 0; i < n0; i++) {
        struct sql_node *e = s->items[i].expr;
        uint32_t col;
        if (e->kind == NK_STAR)
            return err_at(&w, e->pos, "SELECT * cannot be combined with window functions%s%s", "",
                          " (list the columns instead of *)");
        if (item_has_window(s, i)) {
            struct sql_node *nl = sql_node_new(a, NK_LIT, e->pos);
            if (!nl)
                return nomem(&w);
            nl->k = sql_null(SQL_NULL);
            nl->type = SQL_NULL;
            /* its own column (never shared): the items keep their positions */
            if ((rc = inner_col(&w, nl, "", &col)))
                return rc;
            w.items[col].alias = NULL;
            outer[i] = e;
        } else {
            /* the alias keeps GROUP BY alias meaning the same (and stops sharing) */
            if ((rc = inner_col(&w, e, s->items[i].alias ? s->items[i].alias : "", &col)))
                return rc;
            if (!s->items[i].alias)
                w.items[col].alias = NULL;
            outer[i] = colref(&w, col, e->pos);
            if (!outer[i])
                return nomem(&w);
        }
    }
    /* the outer items: window calls and the rest lifted; names as before */
    struct sql_parse_item *oitems = arena_alloc(a, sizeof *oitems * (n0 ? n0 : 1));
    if (!oitems)
        return nomem(&w);
    for (size_t i = 0; i < n0; i++) {
        const struct sql_parse_item *it = &s->items[i];
        if (item_has_window(s, i) && (rc = lift(&w, &outer[i])))
            return rc;
        const char *name = it->alias;
        if (!name && it->expr->kind == NK_IDENT)
            name = arena_strndup(a, it->expr->name, it->expr->name_len);
        else if (!name)
            name = arena_printf(a, "EXPR$%zu", i);
        if (!name)
            return nomem(&w);
        oitems[i] = (struct sql_parse_item){outer[i], name, it->pos};
    }
    /* ORDER BY: ordinals and aliases name outer items; the rest is lifted */
    for (size_t i = 0; i < s->norder; i++) {
        struct sql_node **e = &s->order[i].expr;
        if ((*e)->kind == NK_LIT && !(*e)->k.is_null && (*e)->k.type == SQL_LONG)
            continue;
        bool alias = false;
        for (size_t k = 0; (*e)->kind == NK_IDENT && !(*e)->qual && k < n0; k++)
            alias = alias || (s->items[k].alias && strlen(s->items[k].alias) == (*e)->name_len &&
                              memcmp(s->items[k].alias, (*e)->name, (*e)->name_len) == 0);
        if (!alias && (rc = lift(&w, e)))
            return rc;
    }
    for (size_t i = 0; i < w.nwrefs; i++) {
        w.wrefs[i]->field += (uint32_t)w.nitems;
        char *nm = arena_printf(a, "$w%u", (unsigned)w.wrefs[i]->field);
        if (!nm)
            return nomem(&w);
        w.wrefs[i]->name = nm;
        w.wrefs[i]->name_len = (uint32_t)strlen(nm);
    }
    struct sql_stmt *inner = arena_alloc(a, sizeof *inner);
    struct sql_windows *win = arena_zalloc(a, sizeof *win);
    struct sql_from *f = arena_zalloc(a, sizeof *f);
    if (!inner || !win || !f)
        return nomem(&w);
    /* the inner block: FROM, WHERE, GROUP BY (and its sets), HAVING; the
     * WITH list stays with the outer block, whose scope the inner sees */
    *inner = *s;
    inner->explain = false;
    inner->distinct = false;
    inner->nctes = 0;
    inner->ctes = NULL;
    inner->items = w.items;
    inner->nitems = w.nitems;
    inner->norder = 0;
    inner->order = NULL;
    inner->limit = inner->offset = NULL;
    inner->nwindows = 0;
    inner->windows = NULL;
    win->ncalls = w.ncalls;
    win->calls = w.calls;
    win->ninner = w.nitems;
    win->text = s->text;
    win->len = s->len;
    f->kind = SQL_FROM_WINDOW;
    f->pos = s->pos;
    f->schema_name = f->table = "";
    f->sub = inner;
    f->windows = win;
    /* the outer block: items, ORDER BY, LIMIT/OFFSET, DISTINCT over the step */
    s->items = oitems;
    s->from = f;
    s->schema_name = s->table = "";
    s->table_alias = NULL;
    s->where = s->having = NULL;
    s->group = NULL;
    s->ngroup = 0;
    s->ngsets = 0;
    s->gsets = NULL;
    s->nwindows = 0;
    s->windows = NULL;
    return 0;
}

int sql_stmt_plan_windows(struct sql_stmt *s, struct lerr *err)
{
    return plan(s, s->mem ? s->mem : &s->owner.arena, err);
}

int sql_window_compile_agg(const struct sql_windows *w, size_t i, const struct sql_schema *in,
                           const struct sql_options *opt, struct sql_expr **out, struct lerr *err)
{
    *out = NULL;
    const struct sql_window_call *c = &w->calls[i];
    struct sql_field *f = malloc(sizeof *f * (in->n ? in->n : 1));
    char *names = malloc(16 * (in->n ? in->n : 1));
    if (!f || !names) {
        free(f);
        free(names);
        return lerr_set(err, LERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < in->n; k++) {
        int len = snprintf(names + 16 * k, 16, "$w%zu", k);
        f[k] = (struct sql_field){
            .name = names + 16 * k, .name_len = (size_t)len, .type = in->fields[k].type};
    }
    struct sql_schema s = {f, in->n};
    struct lerr e;
    lerr_init(&e);
    int rc = sql_compile_expr(c->agg_text, strlen(c->agg_text), &s, opt, out, &e);
    free(f);
    free(names);
    if (!rc)
        return 0;
    if (rc != LERR_INVALID) {
        *err = e;
        return rc;
    }
    /* place the message at the call in the query: "<what> at line L, column C (hint)" */
    char what[256];
    snprintf(what, sizeof what, "%s", e.msg);
    char *at = strstr(what, " at line ");
    const char *hint = "";
    if (at) {
        char *h = strstr(at, " (");
        *at = '\0';
        if (h)
            hint = e.msg + (h - what);
    }
    return sql_error_at(err, w->text, w->len, c->pos, "%s in the window aggregate %s%s", what,
                        c->text, hint);
}

bool sql_windows_explain(const struct sql_windows *w, struct buf *out)
{
    static const char *const bounds[] = {"UNBOUNDED PRECEDING", "PRECEDING", "CURRENT ROW",
                                         "FOLLOWING", "UNBOUNDED FOLLOWING"};
    for (size_t i = 0; i < w->ncalls; i++) {
        const struct sql_window_call *c = &w->calls[i];
        buf_printf(out, "$%zu = ", w->ninner + i);
        if (c->func == SQL_WIN_AGG) {
            /* the compiled text names input column k "$wk": EXPLAIN's $k */
            for (const char *p = c->agg_text; *p; p++) {
                if (p[0] == '"' && p[1] == '$' && p[2] == 'w') {
                    buf_putc(out, '$');
                    for (p += 3; *p && *p != '"'; p++)
                        buf_putc(out, *p);
                    if (!*p)
                        break;
                } else {
                    buf_putc(out, *p);
                }
            }
        } else {
            buf_printf(out, "%s(", c->text);
            if (c->func == SQL_WIN_NTILE)
                buf_printf(out, "%lld", (long long)c->n);
            if (c->nargs)
                buf_printf(out, "$%u", (unsigned)c->args[0]);
            if (c->func == SQL_WIN_LAG || c->func == SQL_WIN_LEAD) {
                buf_printf(out, ", %lld", (long long)c->n);
                if (c->default_col >= 0)
                    buf_printf(out, ", $%d", (int)c->default_col);
            }
            buf_puts(out, ")");
        }
        buf_puts(out, " OVER (");
        const char *sep = "";
        if (c->npart) {
            buf_puts(out, "PARTITION BY ");
            for (size_t k = 0; k < c->npart; k++)
                buf_printf(out, "%s$%u", k ? ", " : "", (unsigned)c->part[k]);
            sep = " ";
        }
        if (c->norder) {
            buf_printf(out, "%sORDER BY ", sep);
            for (size_t k = 0; k < c->norder; k++)
                buf_printf(out, "%s$%u%s%s", k ? ", " : "", (unsigned)c->order[k].col,
                           c->order[k].desc ? " DESC" : "",
                           c->order[k].nulls_first == c->order[k].desc
                               ? (c->order[k].nulls_first ? " NULLS FIRST" : " NULLS LAST")
                               : "");
            sep = " ";
        }
        uint8_t st = c->start, en = c->end;
        bool rows = c->rows;
        if (!c->frame_written) {
            st = SQL_FRAME_UNBOUNDED_PRECEDING;
            en = c->norder ? SQL_FRAME_CURRENT_ROW : SQL_FRAME_UNBOUNDED_FOLLOWING;
            rows = false;
        }
        buf_printf(out, "%s%s BETWEEN ", sep, rows ? "ROWS" : "RANGE");
        if (st == SQL_FRAME_PRECEDING || st == SQL_FRAME_FOLLOWING)
            buf_printf(out, "%lld ", (long long)c->start_n);
        buf_printf(out, "%s AND ", bounds[st]);
        if (en == SQL_FRAME_PRECEDING || en == SQL_FRAME_FOLLOWING)
            buf_printf(out, "%lld ", (long long)c->end_n);
        buf_printf(out, "%s)\n", bounds[en]);
    }
    return !out->failed;
}
