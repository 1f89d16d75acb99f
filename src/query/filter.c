/*
 * filter.c — WHERE as bitmap operations. query__filter_build() turns the bound
 * WHERE into a tree of AND/OR over leaves, with NOT pushed down to the
 * leaves (De Morgan holds in SQL's three-valued logic, and a negated leaf
 * selects the rows where its condition is FALSE, never UNKNOWN):
 *
 *   QF_STR    a condition on one STRING column, decided per dictionary id:
 *             = / <> / IN (ids looked up), IS NULL (id 0), LIKE 'prefix%'
 *             (an id range of a sorted dictionary), or any other condition
 *             on that column alone (evaluated once per dictionary value);
 *             also a multi-value column (ARRAY), whose dictionary holds
 *             rows' lists: each list is decided whole (= / IN natively,
 *             the rest by the bound expression, which tries every value)
 *   QF_TIME   __time in [lo, hi): whole views in or out, else a time scan
 *   QF_NUM    a LONG column compared with an integer: a scan of raw longs
 *   QF_CONST  TRUE / FALSE / NULL
 *   QF_OPAQUE anything else
 *
 * query__filter_view_rows() evaluates the tree for one view into a row set:
 * segments OR the bitmaps of the chosen ids; realtime buffers (no bitmaps)
 * scan their dictionary ids against a mask. Each result is a superset of the
 * matching rows plus an `exact` flag (an opaque leaf gives "every row,
 * inexact"), so AND = intersection, OR = union, exact = all parts exact. When
 * the result is inexact the executor runs the whole WHERE vectorized over
 * the candidate rows; when it is exact no row is evaluated at all. Leaves
 * that scan rows (realtime ids, partial time ranges, numbers) look only at
 * the blocks where the AND they sit in still has candidates. Equalities on
 * one column under an OR (and negated ones under an AND) become one leaf
 * with a list of values, and each leaf's buffers live in a per-leaf arena
 * (x->leaf): a WHERE of 50,000 terms costs one pass over the rows and one
 * leaf's memory, not 50,000.
 *
 * Entry points: query__filter_build(), query__filter_free(), query__filter_explain(),
 * query__filter_view_rows(), query__rowset_free(), query__rowset_count().
 *
 * Why one file of ~1,300 lines: it is one concern, a WHERE clause as row sets
 * (bitmaps from indexes, then scans), and every predicate shape shares its planning and
 * its block loops.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query_int.h"

struct fbuild {
    struct query__filter *f;
    const struct sql_schema *cols;
    const struct sql_options *opt;
    struct query__ctx *x;
    int time_col;
    bool nomem;
};

/* ---- building ---------------------------------------------------------------- */

static struct query__fnode *new_node(struct fbuild *fb, int kind, bool neg, const char *text)
{
    struct query__fnode *n = arena_zalloc(&fb->x->keep, sizeof *n);
    if (!n) {
        fb->nomem = true;
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->neg = neg;
    n->text = text;
    n->col = -1;
    return n;
}

/* A dictionary column: STRING, or a multi-value string (its filters hold
 * for a row when they hold for any of its values: the bound expressions say
 * so, and leaf_ids() decides them per list). */
static bool dict_field(const struct sql_field *f)
{
    return f->type == SQL_STRING || (f->type == SQL_ARRAY && (f->flags & SQL_FIELD_MULTI_VALUE));
}

static bool is_str_col(const struct fbuild *fb, const struct query__shape *s)
{
    return s->kind == QSH_REF && s->field < fb->cols->n && dict_field(&fb->cols->fields[s->field]);
}

static bool is_time_col(const struct fbuild *fb, const struct query__shape *s)
{
    return s->kind == QSH_REF && (int)s->field == fb->time_col;
}

/* A timestamp literal as EXPLAIN prints it (ISO-8601, UTC). */
static bool time_lit(const struct query__shape *s, int64_t *ms)
{
    return s->kind == QSH_LIT && time_parse_iso(s->lit, s->lit_len, tz_utc(), ms);
}

static void put_ident(struct buf *b, const struct sql_field *f)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < f->name_len; i++) {
        if (f->name[i] == '"')
            buf_putc(b, '"');
        buf_putc(b, f->name[i]);
    }
    buf_putc(b, '"');
}

static void put_lit(struct buf *b, const struct query__shape *s)
{
    if (s->kind == QSH_NULL) {
        buf_puts(b, "NULL");
        return;
    }
    buf_putc(b, '\'');
    for (size_t i = 0; i < s->lit_len; i++) {
        if (s->lit[i] == '\'')
            buf_putc(b, '\'');
        buf_putc(b, s->lit[i]);
    }
    buf_putc(b, '\'');
}

/*
 * Compiles `"col" <rest>` over the table columns: the leaf's own condition
 * as SQL, so that its per-dictionary-value verdicts come from the same
 * function library as everything else. NULL when it does not compile (the
 * leaf is then opaque).
 */
static const struct sql_expr *compile_leaf(struct fbuild *fb, struct buf *text)
{
    if (text->failed)
        return NULL;
    struct sql_options o = *fb->opt;
    o.mode = SQL_MODE_SCALAR;
    struct sql_expr *e = NULL;
    struct lerr err;
    lerr_init(&err);
    if (sql_compile_expr(text->data, text->len, fb->cols, &o, &e, &err))
        return NULL;
    if (fb->f->nowned == fb->f->owned_cap) {
        size_t ncap = fb->f->owned_cap ? fb->f->owned_cap * 2 : 8;
        struct sql_expr **owned = realloc(fb->f->owned, ncap * sizeof *owned);
        if (!owned) {
            sql_expr_free(e);
            fb->nomem = true;
            return NULL;
        }
        fb->f->owned = owned;
        fb->f->owned_cap = ncap;
    }
    fb->f->owned[fb->f->nowned++] = e;
    return e;
}

static struct query__fnode *opaque(struct fbuild *fb, const char *text)
{
    fb->f->exact = false;
    return new_node(fb, QF_OPAQUE, false, text);
}

/* A leaf evaluated per dictionary value: `"col" <op> <args>`. */
static struct query__fnode *eval_leaf(struct fbuild *fb, const struct query__shape *col,
                                      const char *op, const struct query__shape *const *args,
                                      size_t nargs, const char *sep, bool neg, const char *text)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    put_ident(&b, &fb->cols->fields[col->field]);
    buf_printf(&b, " %s ", op);
    bool paren = strcmp(sep, ", ") == 0;
    if (paren)
        buf_putc(&b, '(');
    for (size_t i = 0; i < nargs; i++) {
        if (i)
            buf_puts(&b, sep);
        put_lit(&b, args[i]);
    }
    if (paren)
        buf_putc(&b, ')');
    const struct sql_expr *e = compile_leaf(fb, &b);
    buf_free(&b);
    if (!e)
        return fb->nomem ? NULL : opaque(fb, text);
    struct query__fnode *n = new_node(fb, QF_STR, neg, text);
    if (n) {
        n->op = QFO_EVAL;
        n->col = (int)col->field;
        n->expr = e;
    }
    return n;
}

static struct query__fnode *time_leaf(struct fbuild *fb, int64_t lo, int64_t hi, bool neg,
                                      const char *text)
{
    struct query__fnode *n = new_node(fb, QF_TIME, neg, text);
    if (n) {
        n->lo = lo;
        n->hi = hi;
    }
    return n;
}

enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_IN };

static bool is_long_col(const struct fbuild *fb, const struct query__shape *s)
{
    return s->kind == QSH_REF && s->field < fb->cols->n &&
           fb->cols->fields[s->field].type == SQL_LONG;
}

/* An integer literal as EXPLAIN prints a BIGINT. */
static bool int_lit(const struct query__shape *s, int64_t *v)
{
    if (s->kind != QSH_LIT || s->lit_len == 0 || s->lit_len > 20)
        return false;
    char tmp[24];
    memcpy(tmp, s->lit, s->lit_len);
    tmp[s->lit_len] = 0;
    size_t i = tmp[0] == '-';
    if (!tmp[i])
        return false;
    for (; tmp[i]; i++)
        if (tmp[i] < '0' || tmp[i] > '9')
            return false;
    errno = 0;
    char *end;
    long long x = strtoll(tmp, &end, 10);
    if (errno || *end)
        return false;
    *v = x;
    return true;
}

static struct query__fnode *num_leaf(struct fbuild *fb, int col, const char *op, int64_t v,
                                     bool neg, const char *text)
{
    struct query__fnode *n = new_node(fb, QF_NUM, neg, text);
    if (!n)
        return NULL;
    n->col = col;
    n->num = v;
    n->cmp = !strcmp(op, "=")    ? CMP_EQ
             : !strcmp(op, "<>") ? CMP_NE
             : !strcmp(op, "<")  ? CMP_LT
             : !strcmp(op, "<=") ? CMP_LE
             : !strcmp(op, ">")  ? CMP_GT
                                 : CMP_GE;
    return n;
}

static int64_t plus1(int64_t v) { return v < INT64_MAX ? v + 1 : v; }

/* The text of a sub-shape for EXPLAIN: re-printed from the shape. */
static void shape_print(const struct query__shape *s, struct buf *b)
{
    switch (s->kind) {
    case QSH_REF: buf_printf(b, "$%u", s->field); return;
    case QSH_AGGREF: buf_printf(b, "$agg%u", s->field); return;
    case QSH_STR: put_lit(b, s); return;
    case QSH_NULL: buf_puts(b, "NULL"); return;
    case QSH_LIT: buf_append(b, s->lit, s->lit_len); return;
    case QSH_BINOP:
        buf_putc(b, '(');
        shape_print(s->args[0], b);
        buf_printf(b, " %.*s ", (int)s->name_len, s->name);
        shape_print(s->args[1], b);
        buf_putc(b, ')');
        return;
    case QSH_CAST:
        buf_puts(b, "CAST(");
        shape_print(s->args[0], b);
        buf_printf(b, " AS %.*s)", (int)s->name_len, s->name);
        return;
    default:
        buf_printf(b, "%s%.*s(", s->not_flag ? "NOT " : "", (int)s->name_len, s->name);
        for (size_t i = 0; i < s->nargs; i++) {
            if (i)
                buf_puts(b, ", ");
            shape_print(s->args[i], b);
        }
        buf_putc(b, ')');
    }
}

static const char *shape_str(struct fbuild *fb, const struct query__shape *s)
{
    struct buf b;
    buf_init(&b, 1u << 16);
    shape_print(s, &b);
    const char *t = b.failed ? "..." : arena_strndup(&fb->x->keep, buf_cstr(&b), b.len);
    buf_free(&b);
    if (!t)
        fb->nomem = true;
    return t ? t : "";
}

static struct query__fnode *build(struct fbuild *fb, const struct query__shape *s, bool neg);

/*
 * Equality leaves on one column combined: in an OR, `col = a` leaves (and
 * in an AND, `NOT col = a` ones, which NOT (x = a OR x = b) becomes) are
 * one "IN" leaf: a STRING column's values become one list of ids, a LONG
 * column's one sorted set tested per row by binary search. A chain of N
 * such terms then costs one pass over the rows, not N (and not N sets of
 * per-leaf buffers). Groups smaller than MERGE_MIN stay as written (EXPLAIN
 * shows them so).
 */
#define MERGE_MIN 4

/* Is k `col = v` (for the OR of non-negated leaves) or `NOT col = v` (for
 * the AND of negated ones)? */
static bool eq_leaf(const struct query__fnode *k, bool neg)
{
    if (k->kind == QF_NUM)
        return (k->cmp == CMP_EQ && k->neg == neg) || (k->cmp == CMP_NE && k->neg != neg);
    return k->kind == QF_STR && k->op == QFO_EQ && k->neg == neg;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static struct query__fnode *merge_eq_leaves(struct fbuild *fb, struct query__fnode *n)
{
    bool neg = n->kind == QF_AND; /* an AND merges negated leaves */
    if (n->nkids < MERGE_MIN)
        return n;
    size_t out = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        struct query__fnode *k = n->kids[i];
        if (!k || !eq_leaf(k, neg)) {
            if (k)
                n->kids[out++] = k;
            continue;
        }
        /* k leads its group: count the others (same kind and column) */
        size_t cnt = 0, nvals = 0;
        for (size_t j = i; j < n->nkids; j++) {
            const struct query__fnode *o = n->kids[j];
            if (o && eq_leaf(o, neg) && o->kind == k->kind && o->col == k->col) {
                cnt++;
                nvals += o->kind == QF_NUM ? 1 : o->nlits;
            }
        }
        if (cnt < MERGE_MIN) {
            n->kids[out++] = k;
            continue;
        }
        struct query__fnode *m = new_node(fb, k->kind, neg, NULL);
        if (!m)
            return NULL;
        m->col = k->col;
        if (k->kind == QF_NUM) {
            m->cmp = CMP_IN;
            m->nums = arena_alloc(&fb->x->keep, nvals * sizeof *m->nums);
        } else {
            m->op = QFO_EQ;
            m->lits = arena_alloc(&fb->x->keep, nvals * sizeof *m->lits);
        }
        if (!m->nums && !m->lits) {
            fb->nomem = true;
            return NULL;
        }
        for (size_t j = i; j < n->nkids; j++) {
            struct query__fnode *o = n->kids[j];
            if (!o || !eq_leaf(o, neg) || o->kind != k->kind || o->col != k->col)
                continue;
            if (k->kind == QF_NUM)
                m->nums[m->nnums++] = o->num;
            else
                for (size_t l = 0; l < o->nlits; l++)
                    m->lits[m->nlits++] = o->lits[l];
            if (j > i)
                n->kids[j] = NULL; /* taken: skipped when its turn comes */
        }
        if (k->kind == QF_NUM) {
            qsort(m->nums, m->nnums, sizeof *m->nums, cmp_i64);
            size_t u = 0;
            for (size_t l = 0; l < m->nnums; l++)
                if (l == 0 || m->nums[l] != m->nums[u - 1])
                    m->nums[u++] = m->nums[l];
            m->nnums = u;
        }
        m->text = arena_printf(&fb->x->keep, "%s$%d = one of %zu values", neg ? "NOT " : "",
                               k->col, k->kind == QF_NUM ? m->nnums : m->nlits);
        if (!m->text) {
            fb->nomem = true;
            return NULL;
        }
        n->kids[out++] = m;
    }
    n->nkids = out;
    return n;
}

/* Appends kid k to n's kids (capacity *cap, doubling: linear in all). */
static bool add_kid(struct fbuild *fb, struct query__fnode *n, size_t *cap, struct query__fnode *k)
{
    if (n->nkids == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct query__fnode **nk = arena_alloc(&fb->x->keep, ncap * sizeof *nk);
        if (!nk) {
            fb->nomem = true;
            return false;
        }
        if (n->nkids)
            memcpy(nk, n->kids, n->nkids * sizeof *nk);
        n->kids = nk;
        *cap = ncap;
    }
    n->kids[n->nkids++] = k;
    return true;
}

static struct query__fnode *logic(struct fbuild *fb, bool is_and, const struct query__shape *s,
                                  bool neg)
{
    /* NOT (a AND b) = NOT a OR NOT b */
    struct query__fnode *n = new_node(fb, (is_and != neg) ? QF_AND : QF_OR, false, NULL);
    if (!n)
        return NULL;
    size_t cap = 0;
    for (size_t i = 0; i < s->nargs; i++) {
        struct query__fnode *k = build(fb, s->args[i], neg);
        if (!k)
            return NULL;
        /* flatten AND(AND(..)) */
        if (k->kind == n->kind) {
            for (size_t j = 0; j < k->nkids; j++)
                if (!add_kid(fb, n, &cap, k->kids[j]))
                    return NULL;
            continue;
        }
        if (!add_kid(fb, n, &cap, k))
            return NULL;
    }
    return merge_eq_leaves(fb, n);
}

static struct query__fnode *cmp_leaf(struct fbuild *fb, const struct query__shape *s, bool neg)
{
    const struct query__shape *a = s->args[0], *b = s->args[1];
    char op[3] = {0};
    if (s->name_len > 2)
        return opaque(fb, shape_str(fb, s));
    memcpy(op, s->name, s->name_len);
    if (a->kind != QSH_REF && b->kind == QSH_REF) {
        const struct query__shape *t = a;
        a = b;
        b = t;
        /* mirror the operator: 'x' < $1 is $1 > 'x' */
        if (!strcmp(op, "<"))
            strcpy(op, ">");
        else if (!strcmp(op, ">"))
            strcpy(op, "<");
        else if (!strcmp(op, "<="))
            strcpy(op, ">=");
        else if (!strcmp(op, ">="))
            strcpy(op, "<=");
    }
    bool known = !strcmp(op, "=") || !strcmp(op, "<>") || !strcmp(op, "<") || !strcmp(op, "<=") ||
                 !strcmp(op, ">") || !strcmp(op, ">=");
    if (!known)
        return opaque(fb, shape_str(fb, s));
    const char *text = shape_str(fb, s);
    if (is_str_col(fb, a) && b->kind == QSH_STR) {
        if (!strcmp(op, "=") || !strcmp(op, "<>")) {
            struct query__fnode *n = new_node(fb, QF_STR, neg != (op[0] == '<'), text);
            if (!n)
                return NULL;
            n->op = QFO_EQ;
            n->col = (int)a->field;
            n->lits = arena_alloc(&fb->x->keep, sizeof *n->lits);
            if (!n->lits) {
                fb->nomem = true;
                return NULL;
            }
            n->lits[0] = sql_string(b->lit, b->lit_len);
            n->nlits = 1;
            return n;
        }
        const struct query__shape *args[1] = {b};
        return eval_leaf(fb, a, op, args, 1, "", neg, text);
    }
    int64_t t;
    if (is_long_col(fb, a) && int_lit(b, &t))
        return num_leaf(fb, (int)a->field, op, t, neg, text);
    if (is_time_col(fb, a) && time_lit(b, &t)) {
        if (!strcmp(op, "="))
            return time_leaf(fb, t, plus1(t), neg, text);
        if (!strcmp(op, "<>"))
            return time_leaf(fb, t, plus1(t), !neg, text);
        if (!strcmp(op, "<"))
            return time_leaf(fb, INT64_MIN, t, neg, text);
        if (!strcmp(op, "<="))
            return time_leaf(fb, INT64_MIN, plus1(t), neg, text);
        if (!strcmp(op, ">"))
            return time_leaf(fb, plus1(t), INT64_MAX, neg, text);
        return time_leaf(fb, t, INT64_MAX, neg, text);
    }
    return opaque(fb, text);
}

static bool all_strings(const struct query__shape *s, size_t from, bool *has_null)
{
    *has_null = false;
    for (size_t i = from; i < s->nargs; i++) {
        if (s->args[i]->kind == QSH_NULL)
            *has_null = true;
        else if (s->args[i]->kind != QSH_STR)
            return false;
    }
    return true;
}

/* 'abc%' with no other wildcard: the prefix, else false. */
static bool like_prefix(const struct query__shape *p, size_t *n)
{
    if (p->kind != QSH_STR || p->lit_len == 0 || p->lit[p->lit_len - 1] != '%')
        return false;
    for (size_t i = 0; i + 1 < p->lit_len; i++)
        if (p->lit[i] == '%' || p->lit[i] == '_')
            return false;
    *n = p->lit_len - 1;
    return true;
}

/*
 * LIKE for a pattern of literal pieces between '%'s (no '_', no ESCAPE), on
 * bytes: the first piece anchored at the start unless the pattern starts with
 * '%', the last at the end unless it ends with '%', each middle piece at its
 * leftmost place after the one before (leftmost never loses a match). On
 * valid UTF-8, which is all a dictionary holds (ingestion checks it), a byte
 * match is a character match, so this answers as the SQL library's LIKE
 * does, without a call per value: the filter of LIKE '%Park%' over a
 * million-value dictionary was mostly that call.
 */
/* The first place of needle p (pn >= 1) in s: values are short (page titles,
 * user names), where memchr of the first byte then memcmp beats glibc's
 * memmem, whose set-up cost dominated on 30-byte haystacks. */
static const char *find_piece(const char *s, size_t sn, const char *p, size_t pn)
{
    if (sn < pn)
        return NULL;
    const char *end = s + (sn - pn) + 1;
    for (const char *q = s; q < end; q++) {
        q = memchr(q, p[0], (size_t)(end - q));
        if (!q)
            return NULL;
        if (memcmp(q + 1, p + 1, pn - 1) == 0)
            return q;
    }
    return NULL;
}

static bool like_pieces(const char *s, size_t sn, const char *p, size_t pn)
{
    const char *pct = memchr(p, '%', pn);
    size_t e = pct ? (size_t)(pct - p) : pn;
    if (e == pn)
        return sn == pn && memcmp(s, p, pn) == 0;
    if (sn < e || memcmp(s, p, e) != 0)
        return false;
    size_t at = e, i = e;
    for (;;) {
        while (i < pn && p[i] == '%')
            i++;
        if (i == pn)
            return true;
        pct = memchr(p + i, '%', pn - i);
        e = pct ? (size_t)(pct - p) : pn;
        size_t len = e - i;
        if (e == pn)
            return sn - at >= len && memcmp(s + sn - len, p + i, len) == 0;
        const char *h = find_piece(s + at, sn - at, p + i, len);
        if (!h)
            return false;
        at = (size_t)(h - s) + len;
        i = e;
    }
}

/* The cores a query may use at once: the machine's, at most QUERY_MAX_THREADS. */
size_t query__cores(void)
{
    static atomic_long cores;
    long n = atomic_load_explicit(&cores, memory_order_relaxed);
    if (!n) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c < 1 ? 1 : c > QUERY_MAX_THREADS ? QUERY_MAX_THREADS : c;
        atomic_store_explicit(&cores, n, memory_order_relaxed);
    }
    return (size_t)n;
}

/*
 * QFO_LIKE over a large dictionary runs on every core: each thread decides a
 * contiguous range of ids into its own bytes of sel[] (the dictionary is
 * read-only while the query holds its snapshot; a worker touches nothing
 * else), and stops early once the query's deadline has passed, which the
 * calling thread then reports. Worker stacks are the only memory, outside
 * the query's budget as the calling thread's own stack is.
 */

/* ids per thread worth a thread's start (tests lower it) */
uint32_t query__like_par_min = 65536;

struct like_job {
    const struct query__fnode *n;
    const struct storage_view *v;
    size_t col;
    uint32_t lo, hi;
    uint8_t *sel;
    size_t nsel;
    int64_t deadline_ns;
    atomic_bool *late;
};

/* The literal piece of a LIKE pattern every matching value contains that a
 * search finds fastest: the longest (the fewest false starts); NULL when the
 * pattern has no literal bytes ('%'). */
static const char *like_needle(const char *p, size_t pn, size_t *len)
{
    const char *best = NULL;
    *len = 0;
    for (size_t i = 0; i < pn;) {
        const char *pct = memchr(p + i, '%', pn - i);
        size_t e = pct ? (size_t)(pct - p) : pn;
        if (e - i > *len) {
            best = p + i;
            *len = e - i;
        }
        i = e + 1;
    }
    return best;
}

/* How common a byte is in text such as titles and names (higher: more
 * common): the needle's rarest byte is the one memchr looks for. */
static int byte_rank(unsigned char c)
{
    static const char common[] = " etaoinsrhldcumfpgwybvkxjqz";
    bool upper = c >= 'A' && c <= 'Z'; /* mostly at word starts: rarer */
    if (upper)
        c = (unsigned char)(c - 'A' + 'a');
    const char *q = c ? strchr(common, c) : NULL;
    int r = q ? (int)(sizeof common - (size_t)(q - common)) : 0;
    return upper ? r / 3 : r;
}

/* Ids [lo, hi) of a segment dictionary decided by one search of their bytes
 * stored end to end: the needle (a literal piece of the pattern) is looked
 * for by memchr of its rarest byte; a place inside one value sends that
 * value to like_pieces, and the search resumes past its end. A value that
 * lacks the needle cannot match, so only the few that hold it are tested,
 * where a call per value cost more than the whole search. */
static void like_span(struct like_job *j, const char *base, size_t len, const char *nd, size_t nl)
{
    const struct query__fnode *n = j->n;
    size_t k = 0;
    for (size_t i = 1; i < nl; i++)
        if (byte_rank((unsigned char)nd[i]) < byte_rank((unsigned char)nd[k]))
            k = i;
    const char *end = base + len, *at = base;
    size_t nsel = 0;
    uint32_t polled = 0;
    while ((size_t)(end - at) >= nl) {
        const char *h = memchr(at + k, nd[k], (size_t)(end - at) - nl + 1);
        if (!h)
            break;
        const char *s = h - k;
        /* the ends first: most false starts fail there, without a call */
        if (s[0] != nd[0] || s[nl - 1] != nd[nl - 1] || memcmp(s, nd, nl) != 0) {
            at = s + 1;
            continue;
        }
        uint32_t id = storage_view_dict_id_at(j->v, j->col, s);
        struct sql_value val = storage_view_dict_value(j->v, j->col, id);
        if (id < j->lo || id >= j->hi || val.is_null) /* cannot happen: stay inside */
            break;
        if (s + nl > val.v.s.p + val.v.s.n) { /* runs into the next value */
            at = s + 1;
            continue;
        }
        /* sel[] starts as the verdict on a value without the needle */
        bool yes = like_pieces(val.v.s.p, val.v.s.n, n->prefix, n->prefix_len) != n->neg;
        if (yes != j->sel[id]) {
            j->sel[id] = yes;
            nsel += yes ? 1 : (size_t)-1;
        }
        at = val.v.s.p + val.v.s.n;
        if ((++polled & 1023) == 0 && j->deadline_ns != INT64_MAX &&
            util_mono_ns() > j->deadline_ns) {
            atomic_store(j->late, true);
            break;
        }
    }
    j->nsel += nsel;
}

static void *like_range(void *arg)
{
    struct like_job *j = arg;
    const struct query__fnode *n = j->n;
    size_t nl;
    const char *nd = like_needle(n->prefix, n->prefix_len, &nl);
    uint32_t lo = j->lo > STORAGE_NULL_ID ? j->lo : STORAGE_NULL_ID + 1;
    const char *base;
    size_t len;
    if (nd && lo <= j->hi && storage_view_dict_span(j->v, j->col, lo, j->hi, &base, &len)) {
        /* a value without the needle: NOT LIKE selects it, LIKE does not */
        memset(j->sel + j->lo, n->neg, j->hi - j->lo);
        j->nsel = n->neg ? j->hi - lo : 0;
        if (j->lo == STORAGE_NULL_ID && j->hi > j->lo)
            j->sel[STORAGE_NULL_ID] = 0; /* NULL LIKE p is unknown, and so is its negation */
        like_span(j, base, len, nd, nl);
        return NULL;
    }
    size_t nsel = 0;
    for (uint32_t id = j->lo; id < j->hi; id++) {
        if ((id & 16383) == 0 && j->deadline_ns != INT64_MAX) {
            if (atomic_load_explicit(j->late, memory_order_relaxed))
                break;
            if (util_mono_ns() > j->deadline_ns) {
                atomic_store(j->late, true);
                break;
            }
        }
        struct sql_value val = id == STORAGE_NULL_ID ? sql_null(SQL_STRING)
                                                     : storage_view_dict_value(j->v, j->col, id);
        /* NULL LIKE p is unknown, and so is its negation */
        bool m = !val.is_null && like_pieces(val.v.s.p, val.v.s.n, n->prefix, n->prefix_len);
        j->sel[id] = !val.is_null && m != n->neg;
        nsel += j->sel[id];
    }
    j->nsel = nsel;
    return NULL;
}

/* sel[id] for every id of the dictionary; *nsel the count of selected. */
static int like_dict(const struct query__fnode *n, const struct storage_view *v, size_t col,
                     uint32_t dsize, uint8_t *sel, size_t *nsel, struct query__ctx *x)
{
    size_t ncpu = query__cores();
    size_t nt = query__like_par_min ? dsize / query__like_par_min : 1;
    nt = nt < 1 ? 1 : nt > (size_t)ncpu ? (size_t)ncpu : nt;
    atomic_bool late = false;
    struct like_job jobs[QUERY_MAX_THREADS];
    pthread_t th[QUERY_MAX_THREADS];
    bool started[QUERY_MAX_THREADS] = {false};
    for (size_t t = 0; t < nt; t++)
        jobs[t] = (struct like_job){n,
                                    v,
                                    col,
                                    (uint32_t)((uint64_t)dsize * t / nt),
                                    (uint32_t)((uint64_t)dsize * (t + 1) / nt),
                                    sel,
                                    0,
                                    x->deadline_ns,
                                    &late};
    /* thread 0's range runs here; a worker that cannot start runs here too */
    for (size_t t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, like_range, &jobs[t]) == 0;
    like_range(&jobs[0]);
    *nsel = jobs[0].nsel;
    for (size_t t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            like_range(&jobs[t]);
        *nsel += jobs[t].nsel;
    }
    return atomic_load(&late) ? query__ctx_check(x) : 0;
}

static struct query__fnode *call_leaf(struct fbuild *fb, const struct query__shape *s, bool neg)
{
    const char *text = shape_str(fb, s);
    bool nneg = neg != s->not_flag;
    const struct query__shape *a = s->nargs ? s->args[0] : NULL;
    bool has_null;
    if ((query__shape_is(s, "IS NULL") || query__shape_is(s, "IS NOT NULL")) && s->nargs == 1 &&
        is_str_col(fb, a)) {
        struct query__fnode *n =
            new_node(fb, QF_STR, neg != query__shape_is(s, "IS NOT NULL"), text);
        if (n) {
            n->op = QFO_ISNULL;
            n->col = (int)a->field;
        }
        return n;
    }
    if (query__shape_is(s, "IN") && s->nargs >= 2 && is_str_col(fb, a) &&
        all_strings(s, 1, &has_null)) {
        if (has_null) /* x NOT IN ('a', NULL) is never TRUE: let the library decide */
            return eval_leaf(fb, a, "IN", (const struct query__shape *const *)s->args + 1,
                             s->nargs - 1, ", ", nneg, text);
        struct query__fnode *n = new_node(fb, QF_STR, nneg, text);
        if (!n)
            return NULL;
        n->op = QFO_EQ;
        n->col = (int)a->field;
        n->lits = arena_alloc(&fb->x->keep, (s->nargs - 1) * sizeof *n->lits);
        if (!n->lits) {
            fb->nomem = true;
            return NULL;
        }
        for (size_t i = 1; i < s->nargs; i++)
            n->lits[n->nlits++] = sql_string(s->args[i]->lit, s->args[i]->lit_len);
        return n;
    }
    if (query__shape_is(s, "LIKE") && (s->nargs == 2 || s->nargs == 3) && is_str_col(fb, a) &&
        all_strings(s, 1, &has_null) && !has_null) {
        size_t plen;
        struct query__fnode *n = eval_leaf(
            fb, a, "LIKE", (const struct query__shape *const *)s->args + 1, 1, "", nneg, text);
        if (n && n->kind == QF_STR && s->nargs == 2 && like_prefix(s->args[1], &plen)) {
            n->op = QFO_PREFIX;
            n->prefix = s->args[1]->lit;
            n->prefix_len = plen;
        } else if (n && n->kind == QF_STR && s->nargs == 2 &&
                   !memchr(s->args[1]->lit, '_', s->args[1]->lit_len)) {
            n->op = QFO_LIKE;
            n->prefix = s->args[1]->lit;
            n->prefix_len = s->args[1]->lit_len;
        } else if (n && n->kind == QF_STR && s->nargs == 3) {
            /* re-compile with the ESCAPE clause */
            const struct query__shape *args[2] = {s->args[1], s->args[2]};
            n = eval_leaf(fb, a, "LIKE", args, 2, " ESCAPE ", nneg, text);
        }
        return n;
    }
    if (query__shape_is(s, "BETWEEN") && s->nargs == 3) {
        int64_t lo, hi;
        if (is_time_col(fb, a) && time_lit(s->args[1], &lo) && time_lit(s->args[2], &hi))
            return time_leaf(fb, lo, plus1(hi), nneg, text);
        if (is_str_col(fb, a) && all_strings(s, 1, &has_null))
            return eval_leaf(fb, a, "BETWEEN", (const struct query__shape *const *)s->args + 1, 2,
                             " AND ", nneg, text);
    }
    return opaque(fb, text);
}

static struct query__fnode *build(struct fbuild *fb, const struct query__shape *s, bool neg)
{
    switch (s->kind) {
    case QSH_BINOP:
        if (query__shape_is(s, "AND") || query__shape_is(s, "OR"))
            return logic(fb, query__shape_is(s, "AND"), s, neg);
        return cmp_leaf(fb, s, neg);
    case QSH_CALL:
        if ((query__shape_is(s, "AND") || query__shape_is(s, "OR")) && !s->not_flag &&
            s->nargs >= 1)
            return logic(fb, query__shape_is(s, "AND"), s, neg);
        if (query__shape_is(s, "NOT") && s->nargs == 1 && !s->not_flag)
            return build(fb, s->args[0], !neg);
        return call_leaf(fb, s, neg);
    case QSH_NULL: {
        struct query__fnode *n = new_node(fb, QF_CONST, false, "NULL");
        if (n)
            n->value = false; /* NULL and NOT NULL are both unknown: no row */
        return n;
    }
    case QSH_LIT:
        if ((s->lit_len == 4 && !memcmp(s->lit, "true", 4)) ||
            (s->lit_len == 5 && !memcmp(s->lit, "false", 5))) {
            struct query__fnode *n =
                new_node(fb, QF_CONST, false, s->lit_len == 4 ? "true" : "false");
            if (n)
                n->value = (s->lit_len == 4) != neg;
            return n;
        }
        return opaque(fb, shape_str(fb, s));
    default: return opaque(fb, shape_str(fb, s));
    }
}

static bool has_opaque(const struct query__fnode *n)
{
    if (n->kind == QF_OPAQUE)
        return true;
    for (size_t i = 0; i < n->nkids; i++)
        if (has_opaque(n->kids[i]))
            return true;
    return false;
}

int query__filter_build(struct query__filter *f, const struct sql_select *q,
                        const struct sql_schema *cols, const struct sql_options *opt,
                        struct query__ctx *x)
{
    memset(f, 0, sizeof *f);
    f->exact = true;
    f->where = q->where;
    if (!q->where)
        return 0;
    struct fbuild fb = {f, cols, opt, x, -1, false};
    for (size_t i = 0; i < cols->n; i++)
        if (cols->fields[i].type == SQL_TIMESTAMP && cols->fields[i].name_len == 6 &&
            memcmp(cols->fields[i].name, "__time", 6) == 0)
            fb.time_col = (int)i;
    const struct query__shape *s = query__shape_of(q->where, &x->keep);
    f->root = s ? build(&fb, s, false) : opaque(&fb, query__shape_text(q->where, &x->keep));
    if (fb.nomem || !f->root)
        return query__ctx_nomem(x, "the WHERE analysis");
    f->exact = !has_opaque(f->root);
    /* A WHERE over one STRING column alone is decided per dictionary value,
     * whatever its form (LOWER("c") = 'x', "c" = 1, ...). */
    const uint32_t *refs;
    if (!f->exact && sql_expr_refs(q->where, &refs) == 1 && refs[0] < cols->n &&
        dict_field(&cols->fields[refs[0]])) {
        struct query__fnode *n =
            new_node(&fb, QF_STR, false, query__shape_text(q->where, &x->keep));
        if (!n)
            return query__ctx_nomem(x, "the WHERE analysis");
        n->op = QFO_EVAL;
        n->col = (int)refs[0];
        n->expr = q->where;
        f->root = n;
        f->exact = true;
    }
    return 0;
}

void query__filter_free(struct query__filter *f)
{
    for (size_t i = 0; i < f->nowned; i++)
        sql_expr_free(f->owned[i]);
    free(f->owned);
    f->owned = NULL;
    f->nowned = 0;
}

/* ---- the filter as SQL again (scans pushed down) -------------------------------- */

enum { FS_TRUE, FS_FALSE, FS_TEXT };

/* A string literal: false when it cannot travel as JSON text (not UTF-8, a NUL). */
static bool put_str_lit(struct buf *b, const struct sql_value *v)
{
    if (v->is_null || v->type != SQL_STRING || !util_utf8_valid(v->v.s.p, v->v.s.n))
        return false;
    buf_putc(b, '\'');
    for (uint32_t i = 0; i < v->v.s.n; i++) {
        if (v->v.s.p[i] == '\'')
            buf_putc(b, '\'');
        buf_putc(b, v->v.s.p[i]);
    }
    buf_putc(b, '\'');
    return true;
}

/* A STRING leaf as SQL; FS_TRUE for what is not written again. */
static int str_sql(const struct query__fnode *n, const struct sql_field *f, struct buf *b)
{
    /* a multi-value column's leaves are decided per list: not written again */
    if (f->type != SQL_STRING)
        return FS_TRUE;
    size_t mark = b->len;
    buf_puts(b, n->neg ? "NOT (" : "(");
    put_ident(b, f);
    bool ok = true;
    switch (n->op) {
    case QFO_EQ:
        buf_puts(b, " IN (");
        for (size_t i = 0; i < n->nlits && ok; i++) {
            if (i)
                buf_puts(b, ", ");
            ok = put_str_lit(b, &n->lits[i]);
        }
        buf_putc(b, ')');
        ok = ok && n->nlits;
        break;
    case QFO_ISNULL: buf_puts(b, " IS NULL"); break;
    case QFO_PREFIX:
    case QFO_LIKE: {
        struct sql_value pat = sql_string(n->prefix, (uint32_t)n->prefix_len);
        buf_puts(b, " LIKE ");
        /* a prefix leaf holds the pattern's text up to its '%' */
        ok = !memchr(pat.v.s.p, '_', pat.v.s.n) &&
             (n->op == QFO_LIKE || !memchr(pat.v.s.p, '%', pat.v.s.n));
        if (ok && n->op == QFO_PREFIX) {
            buf_putc(b, '\'');
            for (uint32_t i = 0; i < pat.v.s.n; i++) {
                if (pat.v.s.p[i] == '\'')
                    buf_putc(b, '\'');
                buf_putc(b, pat.v.s.p[i]);
            }
            buf_puts(b, "%'");
            ok = util_utf8_valid(pat.v.s.p, pat.v.s.n);
        } else if (ok) {
            ok = put_str_lit(b, &pat);
        }
        break;
    }
    default: ok = false; break;
    }
    buf_putc(b, ')');
    if (!ok) {
        b->len = mark;
        return FS_TRUE;
    }
    return FS_TEXT;
}

static int node_sql(const struct query__fnode *n, const struct sql_schema *cols, struct buf *b,
                    bool *exact);

/* AND / OR of the kids: TRUE and FALSE kids fold away. */
static int logic_sql(const struct query__fnode *n, const struct sql_schema *cols, struct buf *b,
                     bool *exact)
{
    bool is_and = n->kind == QF_AND;
    size_t mark = b->len, nt = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        size_t at = b->len;
        if (nt)
            buf_puts(b, is_and ? " AND " : " OR ");
        buf_putc(b, '(');
        int k = node_sql(n->kids[i], cols, b, exact);
        if (k == FS_TEXT) {
            buf_putc(b, ')');
            nt++;
            continue;
        }
        b->len = at;
        if (k == (is_and ? FS_FALSE : FS_TRUE)) { /* decides the whole */
            b->len = mark;
            return k;
        }
    }
    return nt ? FS_TEXT : is_and ? FS_TRUE : FS_FALSE;
}

static int node_sql(const struct query__fnode *n, const struct sql_schema *cols, struct buf *b,
                    bool *exact)
{
    switch (n->kind) {
    case QF_AND:
    case QF_OR: return logic_sql(n, cols, b, exact);
    case QF_CONST: return n->value ? FS_TRUE : FS_FALSE;
    case QF_TIME:
        if (n->lo == INT64_MIN && n->hi == INT64_MAX)
            return n->neg ? FS_FALSE : FS_TRUE;
        buf_puts(b, n->neg ? "NOT (" : "(");
        if (n->lo != INT64_MIN)
            buf_printf(b, "\"__time\" >= MILLIS_TO_TIMESTAMP(%" PRId64 ")", n->lo);
        if (n->lo != INT64_MIN && n->hi != INT64_MAX)
            buf_puts(b, " AND ");
        if (n->hi != INT64_MAX)
            buf_printf(b, "\"__time\" < MILLIS_TO_TIMESTAMP(%" PRId64 ")", n->hi);
        buf_putc(b, ')');
        return FS_TEXT;
    case QF_NUM: {
        static const char *const ops[] = {"=", "<>", "<", "<=", ">", ">="};
        /* a list as equalities under an OR, which the nodes' filters merge into one
         * leaf again (IN over a number is decided row by row) */
        bool in = n->cmp == CMP_IN, ok = n->col >= 0 && (size_t)n->col < cols->n;
        for (size_t i = 0; in && i < n->nnums; i++)
            ok = ok && n->nums[i] != INT64_MIN; /* not a literal the parser reads */
        if (!ok || (in && n->nnums > 1000) || (!in && (n->num == INT64_MIN || n->cmp > CMP_GE)))
            break;
        buf_puts(b, n->neg ? "NOT (" : "(");
        for (size_t i = 0; i < (in ? n->nnums : 1); i++) {
            buf_puts(b, i ? " OR " : "");
            put_ident(b, &cols->fields[n->col]);
            buf_printf(b, " %s %" PRId64, in ? "=" : ops[n->cmp], in ? n->nums[i] : n->num);
        }
        buf_putc(b, ')');
        return FS_TEXT;
    }
    case QF_STR:
        if (n->col >= 0 && (size_t)n->col < cols->n &&
            str_sql(n, &cols->fields[n->col], b) == FS_TEXT)
            return FS_TEXT;
        break;
    default: break;
    }
    *exact = false; /* every row, for a leaf not written again */
    return FS_TRUE;
}

int query__filter_sql(const struct query__filter *f, const struct sql_schema *cols,
                      struct buf *out, bool *exact)
{
    *exact = true;
    if (!f->root)
        return 0;
    *exact = f->exact;
    int r = node_sql(f->root, cols, out, exact);
    if (r == FS_FALSE)
        buf_puts(out, "FALSE");
    return out->failed ? LERR_NOMEM : 0;
}

/* ---- EXPLAIN ------------------------------------------------------------------- */

static void explain_node(const struct query__fnode *n, struct buf *out)
{
    static const char *const ops[] = {"ids of values", "null id", "id range of prefix",
                                      "per dictionary value", "pattern per dictionary value"};
    switch (n->kind) {
    case QF_AND:
    case QF_OR:
        buf_puts(out, n->kind == QF_AND ? "AND(" : "OR(");
        for (size_t i = 0; i < n->nkids; i++) {
            if (i)
                buf_puts(out, ", ");
            explain_node(n->kids[i], out);
        }
        buf_putc(out, ')');
        return;
    case QF_STR:
        buf_printf(out, "%sbitmap[%s: %s]", n->neg ? "NOT " : "", ops[n->op], n->text);
        return;
    case QF_TIME: buf_printf(out, "%stime[%s]", n->neg ? "NOT " : "", n->text); return;
    case QF_NUM: buf_printf(out, "%slongs[%s]", n->neg ? "NOT " : "", n->text); return;
    case QF_CONST: buf_puts(out, n->value ? "TRUE" : "FALSE"); return;
    default: buf_printf(out, "rows[%s]", n->text);
    }
}

void query__filter_explain(const struct query__filter *f, struct buf *out)
{
    if (!f->root) {
        buf_puts(out, "none");
        return;
    }
    explain_node(f->root, out);
    buf_puts(out, f->exact ? "; exact: no row is evaluated"
                           : "; then the whole WHERE runs vectorized over the candidate rows");
}

/* ---- row sets -------------------------------------------------------------------- */

void query__rowset_free(struct query__rowset *r)
{
    if (r->bm && !r->borrowed)
        roaring_bitmap_free(r->bm);
    r->bm = NULL;
}

uint64_t query__rowset_count(const struct query__rowset *r, uint64_t view_rows)
{
    return r->all ? view_rows : roaring_bitmap_get_cardinality(r->bm);
}

static int rs_empty(struct query__rowset *r, struct query__ctx *x)
{
    memset(r, 0, sizeof *r);
    r->exact = true;
    r->bm = roaring_bitmap_create();
    return r->bm ? 0 : query__ctx_nomem(x, "a row bitmap");
}

static void rs_all(struct query__rowset *r, bool exact)
{
    memset(r, 0, sizeof *r);
    r->all = true;
    r->exact = exact;
}

static bool rs_is_empty(const struct query__rowset *r)
{
    return !r->all && roaring_bitmap_is_empty(r->bm);
}

/* acc &= r (r is consumed). */
static int rs_and(struct query__rowset *acc, struct query__rowset *r, struct query__ctx *x)
{
    bool exact = acc->exact && r->exact;
    if (r->all) {
        acc->exact = exact;
        return 0;
    }
    if (acc->all) {
        *acc = *r;
        acc->exact = exact;
        return 0;
    }
    if (acc->borrowed) {
        roaring_bitmap_t *m = roaring_bitmap_and(acc->bm, r->bm);
        acc->bm = m;
        acc->borrowed = false;
    } else {
        roaring_bitmap_and_inplace(acc->bm, r->bm);
    }
    query__rowset_free(r);
    acc->exact = exact;
    return acc->bm ? 0 : query__ctx_nomem(x, "a row bitmap");
}

/* acc |= r (r is consumed). */
static int rs_or(struct query__rowset *acc, struct query__rowset *r, struct query__ctx *x)
{
    bool exact = acc->exact && r->exact;
    if (acc->all || r->all) {
        query__rowset_free(acc);
        query__rowset_free(r);
        rs_all(acc, exact);
        return 0;
    }
    if (acc->borrowed) {
        roaring_bitmap_t *m = roaring_bitmap_or(acc->bm, r->bm);
        acc->bm = m;
        acc->borrowed = false;
    } else {
        roaring_bitmap_or_inplace(acc->bm, r->bm);
    }
    query__rowset_free(r);
    acc->exact = exact;
    return acc->bm ? 0 : query__ctx_nomem(x, "a row bitmap");
}

/* Rows whose flag is set, scanned block by block: realtime id masks and
 * partial time ranges and numbers. `test` fills keep[0..n) for rows
 * row0..row0+n-1, with the vectors of `b` (one set per thread) as room. */
struct scan_bufs {
    int64_t *l;
    bool *nulls;
    uint32_t *ids;
};
typedef int (*row_test_fn)(const void *ctx, const struct scan_bufs *b, struct storage_scan *sc,
                           uint64_t row0, uint32_t n, uint8_t *keep, struct lerr *err);

/* blocks per thread worth a thread's start (tests lower it) */
uint32_t query__scan_par_min_blocks = 32;

/* One thread's share of a scan: blocks [b0, b1) of the view. */
struct scan_part {
    const void *ctx;
    row_test_fn test;
    const struct storage_view *v;
    struct storage_scan *sc;
    const struct query__rowset *within;
    uint64_t b0, b1;
    struct scan_bufs bufs;
    uint8_t *keep;
    uint32_t *hits;
    roaring_bitmap_t *bm;
    int64_t deadline_ns;
    atomic_bool *late;
    struct query__ctx *x; /* serial: checked per block; threads: NULL */
    struct lerr err;
    int rc;
};

static void *scan_part_run(void *arg)
{
    struct scan_part *s = arg;
    uint64_t rows = storage_view_rows(s->v);
    uint64_t end = s->b1 * STORAGE_BLOCK_ROWS < rows ? s->b1 * STORAGE_BLOCK_ROWS : rows;
    bool all = !s->within || s->within->all;
    struct query__rowiter ri;
    if (!all) {
        query__rowiter_init(&ri, s->within->bm);
        if (s->b0 && !roaring_move_uint32_iterator_equalorlarger(
                         &ri.it, (uint32_t)(s->b0 * STORAGE_BLOCK_ROWS)))
            return NULL; /* no candidate from here on */
    }
    for (uint64_t row0 = s->b0 * STORAGE_BLOCK_ROWS; row0 < end; row0 += STORAGE_BLOCK_ROWS) {
        if (!all) {
            uint32_t first;
            if (!query__rowiter_peek(&ri, &first) || first >= end)
                break;
            row0 = (uint64_t)first / STORAGE_BLOCK_ROWS * STORAGE_BLOCK_ROWS;
        }
        if (s->x) {
            if ((s->rc = query__ctx_check(s->x)))
                return NULL;
        } else if (s->deadline_ns != INT64_MAX &&
                   (atomic_load_explicit(s->late, memory_order_relaxed) ||
                    util_mono_ns() > s->deadline_ns)) {
            atomic_store(s->late, true);
            return NULL;
        }
        uint32_t n = (uint32_t)(end - row0 < STORAGE_BLOCK_ROWS ? end - row0 : STORAGE_BLOCK_ROWS);
        if ((s->rc = s->test(s->ctx, &s->bufs, s->sc, row0, n, s->keep, &s->err)))
            return NULL;
        uint32_t m = 0;
        uint32_t *hits = s->hits;
        const uint8_t *keep = s->keep;
        if (all) {
            for (uint32_t k = 0; k < n; k++) {
                hits[m] = (uint32_t)row0 + k;
                m += keep[k];
            }
        } else {
            uint32_t nin = query__rowiter_take(&ri, row0 + n, hits);
            for (uint32_t k = 0; k < nin; k++) {
                uint32_t row = hits[k];
                hits[m] = row;
                m += keep[row - row0];
            }
        }
        roaring_bitmap_add_many(s->bm, m, hits);
    }
    return NULL;
}

/* Room for one thread's blocks, from the leaf arena (charged). */
static int scan_part_bufs(struct scan_part *s, struct query__ctx *x)
{
    s->keep = arena_alloc(&x->leaf, STORAGE_BLOCK_ROWS);
    s->hits = arena_alloc(&x->leaf, STORAGE_BLOCK_ROWS * sizeof *s->hits);
    s->bufs.l = arena_alloc(&x->leaf, STORAGE_BLOCK_ROWS * sizeof *s->bufs.l);
    s->bufs.nulls = arena_alloc(&x->leaf, STORAGE_BLOCK_ROWS * sizeof *s->bufs.nulls);
    s->bufs.ids = arena_alloc(&x->leaf, STORAGE_BLOCK_ROWS * sizeof *s->bufs.ids);
    if (!s->keep || !s->hits || !s->bufs.l || !s->bufs.nulls || !s->bufs.ids)
        return query__ctx_nomem(x, "a row bitmap");
    return 0;
}

/*
 * Tests the rows of `v` block by block, only blocks holding rows of
 * `within` (NULL or all: every block) and only those rows. A view of many
 * blocks is split into contiguous ranges of blocks, one per core: each
 * thread has its own scan of the view, its own vectors (charged to the
 * query before it starts) and its own bitmap, and the calling thread ORs the
 * bitmaps (disjoint ranges) and reports the first error in row order, or
 * the deadline a worker saw pass.
 */
static int scan_rows(const void *ctx, row_test_fn test, const struct storage_view *v,
                     struct storage_scan *sc, const struct query__rowset *within,
                     struct query__ctx *x, struct query__rowset *out)
{
    int rc = rs_empty(out, x);
    if (rc)
        return rc;
    uint64_t nblocks = (storage_view_rows(v) + STORAGE_BLOCK_ROWS - 1) / STORAGE_BLOCK_ROWS;
    size_t nt = query__scan_par_min_blocks ? (size_t)(nblocks / query__scan_par_min_blocks) : 1;
    size_t ncpu = query__cores();
    nt = nt < 1 ? 1 : nt > ncpu ? ncpu : nt;
    atomic_bool late = false;
    struct scan_part parts[QUERY_MAX_THREADS];
    pthread_t th[QUERY_MAX_THREADS];
    bool started[QUERY_MAX_THREADS] = {false};
    memset(parts, 0, nt * sizeof *parts);
    for (size_t t = 0; t < nt; t++) {
        struct scan_part *s = &parts[t];
        *s = (struct scan_part){.ctx = ctx,
                                .test = test,
                                .v = v,
                                .sc = t == 0 ? sc : NULL,
                                .within = within,
                                .b0 = nblocks * t / nt,
                                .b1 = nblocks * (t + 1) / nt,
                                .bm = t == 0 ? out->bm : NULL,
                                .deadline_ns = x->deadline_ns,
                                .late = &late,
                                .x = nt == 1 ? x : NULL};
        lerr_init(&s->err);
        if ((rc = scan_part_bufs(s, x)))
            goto done;
        if (t > 0 && (!(s->sc = storage_scan_new(v)) || !(s->bm = roaring_bitmap_create()))) {
            rc = lerr_set(x->err, LERR_NOMEM, "out of memory scanning %s", storage_view_name(v));
            goto done;
        }
    }
    if (nt == 1) {
        scan_part_run(&parts[0]);
        if (parts[0].rc && parts[0].err.code)
            lerr_set(x->err, parts[0].err.code, "%s", parts[0].err.msg);
        return parts[0].rc;
    }
    for (size_t t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, scan_part_run, &parts[t]) == 0;
    scan_part_run(&parts[0]);
    for (size_t t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            scan_part_run(&parts[t]); /* no thread to be had: here, in turn */
    }
    for (size_t t = 0; t < nt && !rc; t++)
        if (parts[t].rc)
            rc = parts[t].err.code ? lerr_set(x->err, parts[t].err.code, "%s", parts[t].err.msg)
                                   : parts[t].rc;
    if (!rc && atomic_load(&late))
        rc = query__ctx_check(x);
    for (size_t t = 1; t < nt && !rc; t++)
        roaring_bitmap_or_inplace(out->bm, parts[t].bm);
done:
    for (size_t t = 1; t < nt; t++) {
        if (parts[t].sc)
            storage_scan_free(parts[t].sc);
        if (parts[t].bm)
            roaring_bitmap_free(parts[t].bm);
    }
    return rc;
}

struct id_test {
    size_t col;
    const uint8_t *mask;
};

static int test_ids(const void *ctx, const struct scan_bufs *b, struct storage_scan *sc,
                    uint64_t row0, uint32_t n, uint8_t *keep, struct lerr *err)
{
    const struct id_test *t = ctx;
    int rc = storage_scan_ids(sc, t->col, row0, n, b->ids, err);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < n; k++)
        keep[k] = t->mask[b->ids[k]];
    return 0;
}

struct time_test {
    int64_t lo, hi;
    bool neg;
};

static int test_time(const void *ctx, const struct scan_bufs *b, struct storage_scan *sc,
                     uint64_t row0, uint32_t n, uint8_t *keep, struct lerr *err)
{
    const struct time_test *t = ctx;
    int rc = storage_scan_time(sc, row0, n, b->l, err);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < n; k++)
        keep[k] = (uint8_t)((b->l[k] >= t->lo && b->l[k] < t->hi) != t->neg);
    return 0;
}

struct num_test {
    size_t col;
    uint8_t cmp;
    bool neg;
    int64_t num;
    const int64_t *nums; /* CMP_IN: sorted */
    size_t nnums;
};

static bool in_sorted(const int64_t *s, size_t n, int64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && s[lo] == v;
}

static int test_longs(const void *ctx, const struct scan_bufs *b, struct storage_scan *sc,
                      uint64_t row0, uint32_t n, uint8_t *keep, struct lerr *err)
{
    const struct num_test *t = ctx;
    int rc = storage_scan_longs(sc, t->col, row0, n, b->l, b->nulls, err);
    if (rc)
        return rc;
    const int64_t c = t->num, *v = b->l;
    const uint8_t flip = t->neg;
    /* branch-free, so the loops vectorize; NULL is unknown: neither the leaf
     * nor its negation (nulls are 0/1 bytes) */
    const uint8_t *nl = (const uint8_t *)b->nulls;
#define TEST_LOOP(op)                \
    for (uint32_t k = 0; k < n; k++) \
    keep[k] = (uint8_t)(((uint8_t)(v[k] op c) ^ flip) & (nl[k] ^ 1))
    switch (t->cmp) {
    case CMP_EQ: TEST_LOOP(==); break;
    case CMP_NE: TEST_LOOP(!=); break;
    case CMP_LT: TEST_LOOP(<); break;
    case CMP_LE: TEST_LOOP(<=); break;
    case CMP_GT: TEST_LOOP(>); break;
    case CMP_GE: TEST_LOOP(>=); break;
    default:
        for (uint32_t k = 0; k < n; k++)
            keep[k] =
                (uint8_t)(((uint8_t)in_sorted(t->nums, t->nnums, v[k]) ^ flip) & (nl[k] ^ 1));
        break;
    }
#undef TEST_LOOP
    return 0;
}

/* Three-valued verdicts of a leaf for one value. */
enum { V_FALSE, V_TRUE, V_UNKNOWN };

static int verdict_of(const struct sql_value *v)
{
    if (v->is_null)
        return V_UNKNOWN;
    switch (v->type) {
    case SQL_DOUBLE:
    case SQL_FLOAT: return v->v.d != 0 ? V_TRUE : V_FALSE;
    case SQL_LONG:
    case SQL_BOOLEAN:
    case SQL_TIMESTAMP: return v->v.l != 0 ? V_TRUE : V_FALSE;
    default: return V_FALSE;
    }
}

/* The leaf's verdict for one value of its column (all other columns NULL).
 * *rc: 0, or the memory error when the evaluation could not get memory
 * (no verdict then: the query fails rather than guess). */
static int eval_verdict(const struct query__fnode *n, const struct sql_value *val, size_t ncols,
                        struct sql_value *row, struct query__ctx *x, int *rc)
{
    (void)ncols;
    row[n->col] = *val;
    struct sql_value out;
    struct lerr err;
    lerr_init(&err);
    /* a run-time error counts as unknown: neither the leaf nor its negation */
    struct arena_mark mark;
    arena_mark(&x->leaf, &mark);
    int erc = sql_eval_row(n->expr, row, &x->leaf, &out, &err);
    int v = erc ? V_UNKNOWN : verdict_of(&out);
    arena_release(&x->leaf, &mark); /* a verdict keeps none of the value's strings */
    *rc = erc == LERR_NOMEM ? query__ctx_nomem(x, "evaluating the WHERE per dictionary value") : 0;
    row[n->col] = sql_null(SQL_STRING);
    return v;
}

static bool selects(const struct query__fnode *n, int verdict)
{
    return verdict == (n->neg ? V_FALSE : V_TRUE);
}

/* Selected dictionary ids of a leaf: ids[] or, with `complement`, every id
 * but those. */
struct idsel {
    uint32_t *ids;
    size_t n;
    bool complement;
};

static int idsel_push(struct idsel *s, size_t *cap, uint32_t id, struct query__ctx *x)
{
    if (s->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        uint32_t *ni = arena_alloc(&x->leaf, ncap * sizeof *ni);
        if (!ni)
            return query__ctx_nomem(x, "a dictionary selection");
        if (s->n)
            memcpy(ni, s->ids, s->n * sizeof *ni);
        s->ids = ni;
        *cap = ncap;
    }
    s->ids[s->n++] = id;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A multi-value column's dictionary entry (a row's list) as the ARRAY the
 * expressions see; items in the leaf arena. */
static int mv_entry(const struct storage_view *v, size_t col, uint32_t id, struct query__ctx *x,
                    struct sql_value *out)
{
    struct sql_value e = storage_view_dict_value(v, col, id);
    /* a typed array's entry may be the empty array (never NULL: that is id 0) */
    int elem = storage_view_column_elem(v, col);
    int64_t k = e.is_null ? 0
                : elem    ? storage_array_decode(elem, e.v.s.p, e.v.s.n, NULL, 0)
                          : storage_mv_decode(e.v.s.p, e.v.s.n, NULL, 0);
    if (k < 0)
        return lerr_set(x->err, LERR_CORRUPT, "%s: multi-value list %u of column %zu is not whole",
                        storage_view_name(v), id, col);
    if (k == 0 && (e.is_null || !elem)) {
        *out = sql_null(SQL_ARRAY);
        return 0;
    }
    struct sql_value *items = arena_alloc(&x->leaf, (size_t)(k ? k : 1) * sizeof *items);
    if (!items)
        return query__ctx_nomem(x, "a multi-value list");
    if (elem)
        storage_array_decode(elem, e.v.s.p, e.v.s.n, items, (uint32_t)k);
    else
        storage_mv_decode(e.v.s.p, e.v.s.n, items, (uint32_t)k);
    *out = (struct sql_value){.type = SQL_ARRAY};
    out->v.a.items = items;
    out->v.a.n = (uint32_t)k;
    return 0;
}

/* = / IN on a multi-value column, for one list: TRUE when a value is one of
 * the literals, UNKNOWN when none is but one is NULL, else FALSE. */
static int mv_eq_verdict(const struct query__fnode *n, const struct sql_value *list)
{
    if (list->is_null)
        return V_UNKNOWN;
    bool unknown = false;
    for (uint32_t i = 0; i < list->v.a.n; i++) {
        const struct sql_value *e = &list->v.a.items[i];
        if (e->is_null) {
            unknown = true;
            continue;
        }
        for (size_t j = 0; j < n->nlits; j++)
            if (n->lits[j].v.s.n == e->v.s.n &&
                (e->v.s.n == 0 || memcmp(n->lits[j].v.s.p, e->v.s.p, e->v.s.n) == 0))
                return V_TRUE;
    }
    return unknown ? V_UNKNOWN : V_FALSE;
}

static int leaf_ids(const struct query__fnode *n, const struct storage_view *v, size_t ncols,
                    struct query__ctx *x, struct idsel *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    size_t col = (size_t)n->col;
    uint32_t dsize = storage_view_dict_size(v, col);
    int rc;
    /* a multi-value column: each dictionary entry is a row's list, decided
     * as a whole (any value, or for the negated forms none) */
    bool mv = storage_view_column_type(v, col) == SQL_ARRAY;
    switch (mv && n->op != QFO_ISNULL ? QFO_EVAL : n->op) {
    case QFO_ISNULL: out->complement = n->neg; return idsel_push(out, &cap, STORAGE_NULL_ID, x);
    case QFO_EQ:
        /* negated: every id but NULL and the listed values */
        out->complement = n->neg;
        if (n->neg && (rc = idsel_push(out, &cap, STORAGE_NULL_ID, x)))
            return rc;
        for (size_t i = 0; i < n->nlits; i++) {
            int64_t id = storage_view_dict_find(v, col, n->lits[i].v.s.p, n->lits[i].v.s.n);
            if (id >= 0 && (rc = idsel_push(out, &cap, (uint32_t)id, x)))
                return rc;
        }
        /* each id once (a long IN list must not cost its length squared) */
        if (out->n > 1) {
            qsort(out->ids, out->n, sizeof *out->ids, cmp_id);
            size_t k = 0;
            for (size_t i = 0; i < out->n; i++)
                if (i == 0 || out->ids[i] != out->ids[i - 1])
                    out->ids[k++] = out->ids[i];
            out->n = k;
        }
        return 0;
    case QFO_PREFIX: {
        uint32_t lo, hi;
        if (storage_view_dict_prefix(v, col, n->prefix, n->prefix_len, &lo, &hi)) {
            out->complement = n->neg;
            if (n->neg && (rc = idsel_push(out, &cap, STORAGE_NULL_ID, x)))
                return rc;
            for (uint32_t id = lo; id < hi; id++)
                if ((rc = idsel_push(out, &cap, id, x)))
                    return rc;
            return 0;
        }
        break; /* unsorted dictionary: per value */
    }
    default: break;
    }
    /* QFO_EVAL, QFO_LIKE: one verdict per dictionary value; keep the smaller side */
    uint8_t *sel = arena_alloc(&x->leaf, dsize ? dsize : 1);
    struct sql_value *row = arena_alloc(&x->leaf, (ncols ? ncols : 1) * sizeof *row);
    if (!sel || !row)
        return query__ctx_nomem(x, "a dictionary selection");
    for (size_t c = 0; c < ncols; c++)
        row[c] = sql_null(SQL_NULL);
    size_t nsel = 0;
    struct sql_value null = sql_null(SQL_STRING);
    bool native_like = n->op == QFO_LIKE && !mv;
    if (native_like && (rc = like_dict(n, v, col, dsize, sel, &nsel, x)))
        return rc;
    for (uint32_t id = 0; id < dsize && !native_like; id++) {
        if ((id & 1023) == 0 && (rc = query__ctx_check(x)))
            return rc;
        struct sql_value val = id == STORAGE_NULL_ID ? null : storage_view_dict_value(v, col, id);
        struct arena_mark mark;
        arena_mark(&x->leaf, &mark);
        if (mv && (rc = mv_entry(v, col, id, x, &val)))
            return rc;
        if (mv && n->op == QFO_EQ)
            sel[id] = selects(n, mv_eq_verdict(n, &val));
        else
            sel[id] = selects(n, eval_verdict(n, &val, ncols, row, x, &rc));
        arena_release(&x->leaf, &mark);
        if (rc)
            return rc;
        nsel += sel[id];
    }
    out->complement = nsel * 2 > dsize;
    for (uint32_t id = 0; id < dsize; id++)
        if (sel[id] != out->complement && (rc = idsel_push(out, &cap, id, x)))
            return rc;
    return 0;
}

/* Does the leaf select the NULL value (views lacking the column)? */
static bool leaf_selects_null(const struct query__fnode *n, size_t ncols, struct query__ctx *x,
                              int *rc)
{
    *rc = 0;
    switch (n->op) {
    case QFO_ISNULL: return !n->neg;
    case QFO_EQ:
    case QFO_PREFIX:
    case QFO_LIKE: return false; /* unknown either way */
    default: {
        struct sql_value *row = arena_alloc(&x->leaf, (ncols ? ncols : 1) * sizeof *row);
        if (!row) {
            *rc = query__ctx_nomem(x, "a filter row");
            return false;
        }
        for (size_t c = 0; c < ncols; c++)
            row[c] = sql_null(SQL_NULL);
        struct sql_value null = sql_null(SQL_STRING);
        return selects(n, eval_verdict(n, &null, ncols, row, x, rc));
    }
    }
}

static int leaf_str(const struct query__fnode *n, const struct storage_view *v,
                    struct storage_scan *sc, size_t ncols, const struct query__rowset *within,
                    struct query__ctx *x, struct query__rowset *out)
{
    size_t col = (size_t)n->col;
    uint64_t rows = storage_view_rows(v);
    int rc;
    if (!storage_view_has_column(v, col)) {
        bool yes = leaf_selects_null(n, ncols, x, &rc);
        if (rc)
            return rc;
        if (yes) {
            rs_all(out, true);
            return 0;
        }
        return rs_empty(out, x);
    }
    int vt = storage_view_column_type(v, col);
    if ((vt != SQL_STRING && vt != SQL_ARRAY) || rows > UINT32_MAX) {
        rs_all(out, false); /* stored as another type here: evaluate rows */
        return 0;
    }
    struct idsel ids;
    if ((rc = leaf_ids(n, v, ncols, x, &ids)))
        return rc;
    struct lerr berr;
    lerr_init(&berr);
    const roaring_bitmap_t *first =
        (const roaring_bitmap_t *)storage_view_bitmap(v, col, STORAGE_NULL_ID, &berr);
    if (berr.code)
        return lerr_set(x->err, berr.code, "%s", berr.msg);
    if (!first) {
        /* realtime buffer: scan ids against a mask */
        uint32_t dsize = storage_view_dict_size(v, col);
        uint8_t *mask = arena_alloc(&x->leaf, dsize ? dsize : 1);
        if (!mask)
            return query__ctx_nomem(x, "a dictionary mask");
        memset(mask, ids.complement, dsize);
        for (size_t i = 0; i < ids.n; i++)
            if (ids.ids[i] < dsize)
                mask[ids.ids[i]] = !ids.complement;
        struct id_test t = {col, mask};
        rc = scan_rows(&t, test_ids, v, sc, within, x, out);
        out->exact = true;
        return rc;
    }
    if (!ids.complement && ids.n == 0)
        return rs_empty(out, x);
    if (ids.complement && ids.n == 0) {
        rs_all(out, true);
        return 0;
    }
    const roaring_bitmap_t **bms = arena_alloc(&x->leaf, ids.n * sizeof *bms);
    if (!bms)
        return query__ctx_nomem(x, "a bitmap list");
    for (size_t i = 0; i < ids.n; i++) {
        bms[i] = (const roaring_bitmap_t *)storage_view_bitmap(v, col, ids.ids[i], &berr);
        if (!bms[i]) {
            if (berr.code)
                return lerr_set(x->err, berr.code, "%s", berr.msg);
            return lerr_set(x->err, LERR_INTERNAL,
                            "segment %s has no bitmap for dictionary id %u of column %zu",
                            storage_view_name(v), ids.ids[i], col);
        }
    }
    memset(out, 0, sizeof *out);
    out->exact = true;
    if (ids.n == 1 && !ids.complement) {
        out->bm = (roaring_bitmap_t *)bms[0];
        out->borrowed = true;
        return 0;
    }
    roaring_bitmap_t *u = ids.n == 1 ? roaring_bitmap_copy(bms[0])
                                     : roaring_bitmap_or_many(ids.n, bms);
    if (!u)
        return query__ctx_nomem(x, "a row bitmap");
    if (ids.complement) {
        roaring_bitmap_t *c = roaring_bitmap_flip(u, 0, rows);
        roaring_bitmap_free(u);
        if (!c)
            return query__ctx_nomem(x, "a row bitmap");
        u = c;
    }
    out->bm = u;
    return 0;
}

static int leaf_time(const struct query__fnode *n, const struct storage_view *v,
                     struct storage_scan *sc, const struct query__rowset *within,
                     struct query__ctx *x, struct query__rowset *out)
{
    int64_t vmin, vmax;
    storage_view_time_range(v, &vmin, &vmax);
    bool inside = vmin >= n->lo && vmax < n->hi;
    bool outside = vmin > vmax || vmax < n->lo || vmin >= n->hi;
    if (inside != outside) {
        if (inside != n->neg) {
            rs_all(out, true);
            return 0;
        }
        return rs_empty(out, x);
    }
    struct time_test t = {n->lo, n->hi, n->neg};
    int rc = scan_rows(&t, test_time, v, sc, within, x, out);
    out->exact = true;
    return rc;
}

static int leaf_num(const struct query__fnode *n, const struct storage_view *v,
                    struct storage_scan *sc, const struct query__rowset *within,
                    struct query__ctx *x, struct query__rowset *out)
{
    size_t col = (size_t)n->col;
    if (!storage_view_has_column(v, col))
        return rs_empty(out, x); /* NULL everywhere: unknown, never selected */
    if (storage_view_column_type(v, col) != SQL_LONG) {
        rs_all(out, false); /* stored as another type here: evaluate rows */
        return 0;
    }
    struct num_test t = {col, n->cmp, n->neg, n->num, n->nums, n->nnums};
    int rc = scan_rows(&t, test_longs, v, sc, within, x, out);
    out->exact = true;
    return rc;
}

/* The rows of view v where node n holds; leaves that scan look only at the
 * rows of `within` (NULL: all), which the caller intersects with anyway. */
static int eval_node(const struct query__fnode *n, const struct storage_view *v,
                     struct storage_scan *sc, size_t ncols, const struct query__rowset *within,
                     struct query__ctx *x, struct query__rowset *out)
{
    int rc;
    switch (n->kind) {
    case QF_AND:
        rs_all(out, true);
        for (size_t i = 0; i < n->nkids && !rs_is_empty(out); i++) {
            struct query__rowset r = {0};
            const struct query__rowset *in = out->all ? within : out;
            if ((rc = eval_node(n->kids[i], v, sc, ncols, in, x, &r)) ||
                (rc = rs_and(out, &r, x))) {
                query__rowset_free(&r);
                return rc;
            }
        }
        return 0;
    case QF_OR:
        if ((rc = rs_empty(out, x)))
            return rc;
        for (size_t i = 0; i < n->nkids && !(out->all && out->exact); i++) {
            struct query__rowset r = {0};
            if ((rc = eval_node(n->kids[i], v, sc, ncols, within, x, &r)) ||
                (rc = rs_or(out, &r, x))) {
                query__rowset_free(&r);
                return rc;
            }
        }
        return 0;
    /* a leaf's buffers are dead once its row set is made: a chain of
     * thousands of leaves reuses one block */
    case QF_STR:
        rc = leaf_str(n, v, sc, ncols, within, x, out);
        arena_reset(&x->leaf);
        return rc;
    case QF_TIME:
        rc = leaf_time(n, v, sc, within, x, out);
        arena_reset(&x->leaf);
        return rc;
    case QF_NUM:
        rc = leaf_num(n, v, sc, within, x, out);
        arena_reset(&x->leaf);
        return rc;
    case QF_CONST:
        if (n->value) {
            rs_all(out, true);
            return 0;
        }
        return rs_empty(out, x);
    default: rs_all(out, false); return 0;
    }
}

int query__filter_view_rows(const struct query__filter *f, const struct storage_view *v,
                            struct storage_scan *sc, struct query__ctx *x,
                            struct query__rowset *out)
{
    memset(out, 0, sizeof *out);
    if (!f->root) {
        rs_all(out, true);
        return 0;
    }
    /* the number of table columns: evaluation rows are that wide */
    size_t ncols = 0;
    const uint32_t *refs;
    size_t nrefs = f->where ? sql_expr_refs(f->where, &refs) : 0;
    for (size_t i = 0; i < nrefs; i++)
        if (refs[i] + 1 > ncols)
            ncols = refs[i] + 1;
    int rc = eval_node(f->root, v, sc, ncols, NULL, x, out);
    if (rc)
        query__rowset_free(out);
    return rc;
}
