/*
 * func_array.c — the ARRAY functions (ARRAY_LENGTH, ARRAY_OFFSET, ...,
 * ARRAY_CONTAINS, ARRAY_OVERLAP, SCALAR_IN_ARRAY, STRING_TO_ARRAY,
 * ARRAY_TO_MV) and the multi-value string functions (MV_*), one binder,
 * sql_bind_array_fn, whose variant (enum sql_array_op, | AV_MV) names the
 * operation.
 *
 * Values: an ARRAY value holds its elements (struct sql_value, each with its
 * own type). The element type known at bind time travels in the node's
 * `ttype` (ARRAY[...] sets it to its elements' common type, these functions
 * to what they build); 0 = not known (an input field of type ARRAY): then
 * elements keep their own types and a function that returns one element
 * returns it as VARCHAR. A multi-value string (the result of the MV_*
 * functions, STRING_TO_MV, ARRAY_TO_MV) is an ARRAY of VARCHAR here: Druid
 * types it VARCHAR but prints it the same way, as a JSON array.
 *
 * Druid rules (docs/querying/sql-array-functions.md,
 * sql-multivalue-string-functions.md, sql-functions.md; SQL-compatible null
 * handling):
 *   - A scalar where an array is expected is a one-element array (Druid's
 *     asArray): ARRAY_LENGTH('a') = 1. A NULL array gives NULL, except
 *     where noted.
 *   - ARRAY_OFFSET is 0-based, ARRAY_ORDINAL 1-based; an index out of range
 *     (negative included) or NULL gives NULL.
 *   - ARRAY_OFFSET_OF / ARRAY_ORDINAL_OF: the first equal element's index,
 *     NULL when there is none; a NULL value finds the first NULL element.
 *   - ARRAY_CONTAINS(arr, scalar): whether an element equals it (a NULL
 *     scalar: whether an element is NULL); ARRAY_CONTAINS(arr, arr2):
 *     whether every element of arr2 is in arr (NULL when arr2 is NULL).
 *     ARRAY_OVERLAP: whether any element is in both (NULL when either is
 *     NULL). Both BOOLEAN.
 *   - SCALAR_IN_ARRAY(x, arr): true when arr holds x; false when it does
 *     not and x is not NULL; NULL when x is NULL and arr holds no NULL, or
 *     arr is NULL (the native `in` filter's rule).
 *   - Equality casts the value to the element's type first (Druid's
 *     castForEqualityComparison): ARRAY_CONTAINS(ARRAY[1,2], '2') is true;
 *     text that is not a number matches no number.
 *   - ARRAY_PREPEND(x, arr) / ARRAY_APPEND(arr, x) / ARRAY_CONCAT(a, b):
 *     the result has arr's (a's) element type, the added values are cast
 *     to it; a NULL x is added as a NULL element; NULL arrays give NULL.
 *   - ARRAY_SLICE(arr, start[, end]): elements start..end-1 (0-based); NULL
 *     when start < 0, start > length or start > end; an end past the length
 *     pads with NULLs, as Java's Arrays.copyOfRange does.
 *   - ARRAY_TO_STRING(arr, sep): elements as text joined by sep (a NULL
 *     element is "null", a NULL sep is ""); NULL for a NULL array or an
 *     array of one NULL.
 *   - STRING_TO_ARRAY(s, regex): Java's String.split: the delimiter is a
 *     regular expression (a literal here, compiled once, in func_str.c's
 *     subset), trailing empty strings are dropped, no match gives [s].
 *   - MV_FILTER_ONLY / MV_FILTER_NONE(mv, arr): arr must be a literal
 *     array (as Druid requires); the values of mv in (not in) arr, NULL
 *     when none is left.
 *   - MV_TO_ARRAY / ARRAY_TO_MV: elements as VARCHAR.
 *
 * Entry points: sql_bind_array_fn() (SQL_FUNC_MAP).
 */
#include "sql/sql_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define EVAL(name) \
    static void name(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)

/* Most elements one result may hold: ARRAY_SLICE's padding, CONCAT, split. */
#define MAX_ELEMS (1u << 20)

/* ---- values as lists --------------------------------------------------------------- */

/* The elements of v: its items when an array, else v itself. */
static const struct sql_value *items_of(const struct sql_value *v, uint32_t *n)
{
    if (v->type == SQL_ARRAY) {
        *n = v->v.a.n;
        return v->v.a.items;
    }
    *n = 1;
    return v;
}

static bool is_number(int t)
{
    return t == SQL_LONG || t == SQL_DOUBLE || t == SQL_FLOAT || t == SQL_TIMESTAMP ||
           t == SQL_BOOLEAN;
}

/* Whether element e equals value x, x cast to e's type first (without
 * allocating: a number is printed into a local buffer, text parsed). Two
 * NULLs are equal here: containment asks "is there a NULL". */
static bool elem_eq(const struct sql_value *e, const struct sql_value *x)
{
    if (e->is_null || x->is_null)
        return e->is_null && x->is_null;
    bool en = is_number(e->type), xn = is_number(x->type);
    if (en == xn)
        return sql_value_compare(e, x) == 0;
    if (en) { /* text against a number: parse it */
        int64_t l;
        double d;
        int k = sql_parse_number(x->v.s.p, x->v.s.n, &l, &d);
        if (k == 0)
            return false;
        struct sql_value y = k == 1 ? sql_long(l) : sql_double(d);
        return sql_value_compare(e, &y) == 0;
    }
    /* a number against text: print it as Druid casts it */
    char tmp[64];
    size_t len;
    if (x->type == SQL_DOUBLE || x->type == SQL_FLOAT)
        len = sql_fmt_double(x->v.d, x->type == SQL_FLOAT, tmp);
    else if (x->type == SQL_BOOLEAN)
        len = (size_t)snprintf(tmp, sizeof tmp, "%s", x->v.l ? "true" : "false");
    else
        len = (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, x->v.l);
    return e->v.s.n == len && memcmp(e->v.s.p, tmp, len) == 0;
}

static int64_t find(const struct sql_value *items, uint32_t n, const struct sql_value *x)
{
    for (uint32_t i = 0; i < n; i++)
        if (elem_eq(&items[i], x))
            return i;
    return -1;
}

/* v as an element of type t (0 = as it is); new bytes from the batch arena. */
static struct sql_value as_elem(struct sql_ectx *c, const struct sql_value *v, int t)
{
    if (!t || v->type == t)
        return *v;
    if (v->is_null)
        return sql_null(t);
    return sql_value_cast(v, t, c->mem);
}

static struct sql_value *new_items(struct sql_ectx *c, size_t n)
{
    if (n > MAX_ELEMS) {
        sql_rt_error(c, "array result of %zu elements is past the limit of %u", n, MAX_ELEMS);
        return NULL;
    }
    return (struct sql_value *)sql_alloc(c, sizeof(struct sql_value) * (n ? n : 1));
}

static void set_array(struct sql_value *out, struct sql_value *items, uint32_t n)
{
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = items;
    out->v.a.n = n;
}

/* The element type a node's array holds, when known at bind time. */
static int elem_type(const struct sql_node *a)
{
    if (a->type != SQL_ARRAY)
        return a->type == SQL_NULL ? SQL_STRING : a->type;
    /* ttype is CAST's and JSON_VALUE's target type, the others' element type */
    if (a->ttype && a->ttype != SQL_ARRAY && a->func != F_CAST && a->func != F_JSON_VALUE)
        return a->ttype;
    if (a->kind == NK_LIT && !a->k.is_null)
        for (uint32_t i = 0; i < a->k.v.a.n; i++)
            if (!a->k.v.a.items[i].is_null)
                return a->k.v.a.items[i].type;
    return SQL_NULL;
}

/* ---- evaluation ---------------------------------------------------------------------- */

EVAL(length_fn)
{
    SQL_ARG(0, a);
    uint32_t len;
    items_of(&a, &len);
    sql_set_long(out, SQL_LONG, len);
}

/* ARRAY_OFFSET / ARRAY_ORDINAL: ival is the index base (0 or 1). */
EVAL(offset_fn)
{
    SQL_ARG(0, a);
    SQL_ARG(1, i);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    int64_t k = i.v.l - n->ival;
    if (k < 0 || k >= (int64_t)len) {
        *out = sql_null(n->type);
        return;
    }
    *out = as_elem(c, &it[k], n->type);
}

EVAL(offset_of_fn)
{
    SQL_ARG(0, a);
    struct sql_value x;
    sql_eval_arg(n->args[1], c, &x);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    int64_t k = find(it, len, &x);
    if (k < 0)
        *out = sql_null(SQL_LONG);
    else
        sql_set_long(out, SQL_LONG, k + n->ival);
}

/* ARRAY_CONTAINS: a scalar, or every element of an array (args[1]->type). */
EVAL(contains_fn)
{
    SQL_ARG(0, a);
    struct sql_value x;
    sql_eval_arg(n->args[1], c, &x);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    if (x.type != SQL_ARRAY) {
        sql_set_long(out, SQL_BOOLEAN, find(it, len, &x) >= 0);
        return;
    }
    if (x.is_null) {
        *out = sql_null(SQL_BOOLEAN);
        return;
    }
    bool all = true;
    for (uint32_t j = 0; all && j < x.v.a.n; j++)
        all = find(it, len, &x.v.a.items[j]) >= 0;
    sql_set_long(out, SQL_BOOLEAN, all);
}

EVAL(overlap_fn)
{
    SQL_ARG(0, a);
    SQL_ARG(1, b);
    uint32_t na, nb;
    const struct sql_value *ia = items_of(&a, &na), *ib = items_of(&b, &nb);
    bool any = false;
    for (uint32_t j = 0; !any && j < nb; j++)
        any = find(ia, na, &ib[j]) >= 0;
    sql_set_long(out, SQL_BOOLEAN, any);
}

EVAL(scalar_in_fn)
{
    struct sql_value x;
    sql_eval_arg(n->args[0], c, &x);
    SQL_ARG(1, a);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    if (find(it, len, &x) >= 0)
        sql_set_long(out, SQL_BOOLEAN, 1);
    else if (x.is_null)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, 0);
}

/* ARRAY_PREPEND (ival 1: the array is args[1]) and ARRAY_APPEND (ival 0). */
EVAL(add_fn)
{
    int ai = n->ival ? 1 : 0;
    SQL_ARG(ai, a);
    struct sql_value x;
    sql_eval_arg(n->args[1 - ai], c, &x);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    struct sql_value *r = new_items(c, (size_t)len + 1);
    if (!r) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    uint32_t at = n->ival ? 1 : 0;
    for (uint32_t j = 0; j < len; j++)
        r[at + j] = as_elem(c, &it[j], n->ttype);
    r[n->ival ? 0 : len] = as_elem(c, &x, n->ttype);
    set_array(out, r, len + 1);
}

EVAL(concat_fn)
{
    SQL_ARG(0, a);
    SQL_ARG(1, b);
    uint32_t na, nb;
    const struct sql_value *ia = items_of(&a, &na), *ib = items_of(&b, &nb);
    struct sql_value *r = new_items(c, (size_t)na + nb);
    if (!r) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    for (uint32_t j = 0; j < na; j++)
        r[j] = as_elem(c, &ia[j], n->ttype);
    for (uint32_t j = 0; j < nb; j++)
        r[na + j] = as_elem(c, &ib[j], n->ttype);
    set_array(out, r, na + nb);
}

EVAL(slice_fn)
{
    SQL_ARG(0, a);
    SQL_ARG(1, s);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    int64_t start = s.v.l, end = len;
    if (n->nargs > 2) {
        SQL_ARG(2, e);
        end = e.v.l;
    }
    if (start < 0 || start > (int64_t)len || start > end) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    struct sql_value *r = new_items(c, (size_t)(end - start));
    if (!r) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    for (int64_t j = start; j < end; j++)
        r[j - start] = j < (int64_t)len ? as_elem(c, &it[j], n->ttype)
                                        : sql_null(n->ttype ? n->ttype : SQL_STRING);
    set_array(out, r, (uint32_t)(end - start));
}

EVAL(to_string_fn)
{
    SQL_ARG(0, a);
    struct sql_value sep;
    sql_eval_arg(n->args[1], c, &sep);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    if (len == 1 && it[0].is_null) {
        *out = sql_null(SQL_STRING);
        return;
    }
    struct buf o;
    buf_init(&o, 16u << 20);
    for (uint32_t j = 0; j < len; j++) {
        if (j && !sep.is_null)
            buf_append(&o, sep.v.s.p, sep.v.s.n);
        sql_value_to_text(&it[j], &o, true);
    }
    if (o.failed) {
        buf_free(&o);
        sql_rt_error(c, "%s result too long", sql_funcs[n->func].name);
        *out = sql_null(SQL_STRING);
        return;
    }
    char *p = sql_alloc(c, o.len);
    if (p) {
        if (o.len)
            memcpy(p, o.data, o.len);
        sql_set_str(out, SQL_STRING, p, o.len);
    } else {
        *out = sql_null(SQL_STRING);
    }
    buf_free(&o);
}

/* The next character boundary after byte i (UTF-8). */
static size_t next_char(const char *p, size_t n, size_t i)
{
    i++;
    while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
        i++;
    return i;
}

EVAL(split_fn)
{
    SQL_ARG(0, s);
    const regex_t *re = n->aux;
    /* regexec needs a NUL after the text even with REG_STARTEND */
    char *p = sql_alloc(c, (size_t)s.v.s.n + 1);
    if (!p) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    memcpy(p, s.v.s.p, s.v.s.n);
    p[s.v.s.n] = '\0';
    size_t len = s.v.s.n;
    /* two passes: count the pieces, then cut them */
    struct sql_value *r = NULL;
    uint32_t cnt = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t at = 0, from = 0;
        uint32_t k = 0;
        bool matched = false;
        while (from <= len) {
            regmatch_t m[1];
            m[0].rm_so = (regoff_t)from;
            m[0].rm_eo = (regoff_t)len;
            if (regexec(re, p, 1, m, REG_STARTEND | (from ? REG_NOTBOL : 0)) != 0)
                break;
            size_t ms = (size_t)m[0].rm_so, me = (size_t)m[0].rm_eo;
            if (me == ms) { /* an empty match splits between characters */
                if (ms >= len)
                    break;
                if (ms == 0) { /* never a leading empty piece */
                    from = next_char(p, len, 0);
                    continue;
                }
                from = next_char(p, len, ms);
            } else {
                from = me;
            }
            matched = true;
            if (pass)
                sql_set_str(&r[k], SQL_STRING, p + at, ms - at);
            k++;
            at = me;
        }
        if (pass)
            sql_set_str(&r[k], SQL_STRING, p + at, len - at);
        k++;
        if (!pass) {
            cnt = k;
            if (cnt > MAX_ELEMS) {
                sql_rt_error(c, "%s gives more than %u pieces", sql_funcs[n->func].name,
                             MAX_ELEMS);
                *out = sql_null(SQL_ARRAY);
                return;
            }
            r = new_items(c, cnt);
            if (!r) {
                *out = sql_null(SQL_ARRAY);
                return;
            }
        } else if (matched) { /* Java drops trailing empty strings */
            while (cnt > 0 && r[cnt - 1].v.s.n == 0)
                cnt--;
        }
    }
    set_array(out, r, cnt);
}

/* ARRAY_TO_MV, MV_TO_ARRAY: the elements as VARCHAR. */
EVAL(to_strings_fn)
{
    SQL_ARG(0, a);
    uint32_t len;
    const struct sql_value *it = items_of(&a, &len);
    struct sql_value *r = new_items(c, len);
    if (!r) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    for (uint32_t j = 0; j < len; j++)
        r[j] = as_elem(c, &it[j], SQL_STRING);
    set_array(out, r, len);
}

/* MV_FILTER_ONLY (ival 1) / MV_FILTER_NONE (ival 0) against a literal array. */
EVAL(filter_fn)
{
    SQL_ARG(0, a);
    const struct sql_value *keep = &n->args[1]->k;
    uint32_t len, nk;
    const struct sql_value *it = items_of(&a, &len);
    const struct sql_value *ik = items_of(keep, &nk);
    struct sql_value *r = new_items(c, len);
    if (!r) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    uint32_t k = 0;
    for (uint32_t j = 0; j < len; j++) {
        struct sql_value v = as_elem(c, &it[j], SQL_STRING);
        if ((find(ik, nk, &v) >= 0) == (n->ival != 0))
            r[k++] = v;
    }
    if (k == 0)
        *out = sql_null(SQL_ARRAY);
    else
        set_array(out, r, k);
}

/* ---- binding --------------------------------------------------------------------------- */

/* An argument that stands for an array: any type but JSON and INTERVAL. */
static int check_array_arg(struct sql_bctx *b, struct sql_node *n, int i)
{
    int t = n->args[i]->type;
    if (t == SQL_JSON || t == SQL_INTERVAL)
        return sql_bind_error(b, n->args[i],
                              "%s takes an ARRAY (or a scalar, as a one-element array) as "
                              "argument %d but got %s",
                              sql_funcs[n->func].name, i + 1, sql_type_sql_name(t));
    return 0;
}

static int check_scalar_arg(struct sql_bctx *b, struct sql_node *n, int i)
{
    int t = n->args[i]->type;
    if (t == SQL_ARRAY || t == SQL_JSON || t == SQL_INTERVAL)
        return sql_bind_error(b, n->args[i], "%s takes a scalar value as argument %d but got %s%s",
                              sql_funcs[n->func].name, i + 1, sql_type_sql_name(t),
                              t == SQL_ARRAY ? " (use ARRAY_CONTAINS or ARRAY_OVERLAP to "
                                               "compare two arrays)"
                                             : "");
    return 0;
}

static int check_index_arg(struct sql_bctx *b, struct sql_node *n, int i)
{
    return sql_arg_check(b, n, i, SQL_LONG);
}

int sql_bind_array_fn(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    bool mv = (v & AV_MV) != 0;
    int op = v & ~AV_MV;
    /* the element type of what an MV_ function or ARRAY function builds */
    int elem = mv ? SQL_STRING : 0;
    switch (op) {
    case AV_LENGTH:
        if (check_array_arg(b, n, 0))
            return LERR_INVALID;
        n->type = SQL_LONG;
        n->fn = length_fn;
        return 0;
    case AV_OFFSET:
    case AV_ORDINAL: {
        if (check_array_arg(b, n, 0) || check_index_arg(b, n, 1))
            return LERR_INVALID;
        int t = mv ? SQL_STRING : elem_type(n->args[0]);
        n->type = (uint8_t)(t == SQL_NULL ? SQL_STRING : t);
        n->ival = op == AV_ORDINAL;
        n->fn = offset_fn;
        return 0;
    }
    case AV_OFFSET_OF:
    case AV_ORDINAL_OF:
        if (check_array_arg(b, n, 0) || check_scalar_arg(b, n, 1))
            return LERR_INVALID;
        n->type = SQL_LONG;
        n->ival = op == AV_ORDINAL_OF;
        n->fn = offset_of_fn;
        return 0;
    case AV_CONTAINS:
    case AV_OVERLAP:
        if (check_array_arg(b, n, 0) || check_array_arg(b, n, 1))
            return LERR_INVALID;
        n->type = SQL_BOOLEAN;
        n->fn = op == AV_CONTAINS ? contains_fn : overlap_fn;
        return 0;
    case AV_IN:
        if (check_scalar_arg(b, n, 0) || check_array_arg(b, n, 1))
            return LERR_INVALID;
        n->type = SQL_BOOLEAN;
        n->fn = scalar_in_fn;
        return 0;
    case AV_PREPEND:
    case AV_APPEND: {
        int ai = op == AV_PREPEND ? 1 : 0;
        if (check_array_arg(b, n, ai) || check_scalar_arg(b, n, 1 - ai))
            return LERR_INVALID;
        if (!mv) {
            elem = elem_type(n->args[ai]);
            if (elem == SQL_NULL)
                elem = elem_type(n->args[1 - ai]);
        }
        n->ival = ai;
        n->fn = add_fn;
        break;
    }
    case AV_CONCAT:
        if (check_array_arg(b, n, 0) || check_array_arg(b, n, 1))
            return LERR_INVALID;
        if (!mv) {
            elem = elem_type(n->args[0]);
            if (elem == SQL_NULL)
                elem = elem_type(n->args[1]);
        }
        n->fn = concat_fn;
        break;
    case AV_SLICE:
        if (check_array_arg(b, n, 0) || check_index_arg(b, n, 1) ||
            (n->nargs > 2 && check_index_arg(b, n, 2)))
            return LERR_INVALID;
        if (!mv)
            elem = elem_type(n->args[0]);
        n->fn = slice_fn;
        break;
    case AV_TO_STRING:
        if (check_array_arg(b, n, 0) || sql_arg_check(b, n, 1, SQL_STRING))
            return LERR_INVALID;
        n->type = SQL_STRING;
        n->fn = to_string_fn;
        return 0;
    case AV_FROM_STRING: {
        if (sql_arg_check(b, n, 0, SQL_STRING))
            return LERR_INVALID;
        regex_t *re;
        if (sql_regex_compile(b, n, 1, "delimiter", &re))
            return LERR_INVALID;
        n->aux = re;
        elem = SQL_STRING;
        n->fn = split_fn;
        break;
    }
    case AV_TO_MV:
    case AV_TO_ARRAY:
        if (check_array_arg(b, n, 0))
            return LERR_INVALID;
        elem = SQL_STRING;
        n->fn = to_strings_fn;
        break;
    case AV_FILTER_ONLY:
    case AV_FILTER_NONE: {
        if (check_array_arg(b, n, 0) || check_array_arg(b, n, 1))
            return LERR_INVALID;
        struct sql_node *k = n->args[1];
        if (k->kind != NK_LIT || k->k.is_null)
            return sql_bind_error(b, k,
                                  "the second argument of %s must be a literal array, such as "
                                  "ARRAY['a', 'b']",
                                  sql_funcs[n->func].name);
        n->ival = op == AV_FILTER_ONLY;
        n->fn = filter_fn;
        break;
    }
    default: return sql_bind_error(b, n, "%s is not supported", sql_funcs[n->func].name);
    }
    /* the ops that build an array */
    n->type = SQL_ARRAY;
    n->ttype = (uint8_t)(elem == SQL_NULL ? 0 : elem);
    return 0;
}
