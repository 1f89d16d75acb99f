/*
 * shape.c — reads a bound expression's EXPLAIN text (sql_expr_explain) back
 * into a small tree, because sql.h keeps the bound tree opaque. The planner
 * uses it to recognise filter leaves ($3 = 'x', IN($3, ...), IS NULL($3),
 * LIKE($3, 'ab%'), comparisons of $0 with timestamps), bare column
 * references and TIME_FLOOR($0, 'PT1H') group keys.
 *
 * Entry points: query__shape_of(), query__shape_ref_of(), query__shape_is(), query__shape_text().
 *
 * The grammar is the one sql_node_explain() prints:
 *   term := '(' term ' ' OP ' ' term ')'         binary operators
 *         | 'CAST(' term ' AS ' TYPE ')'
 *         | ['NOT '] NAME '(' [term {', ' term}] ')'
 *         | '$' N | '$agg' N | '\'' text '\'' | NULL | other literal token
 * Anything else makes the whole text "not understood": callers then treat
 * the expression as opaque and evaluate it as it is, so a change in the
 * printed form can only cost speed, never correctness.
 */
#include <string.h>

#include "query/query_int.h"

struct sparser {
    const char *p, *end;
    struct arena *a;
    int depth;
};

/* Binary operators whose names contain spaces; the rest are one token. */
static const char *const multiword_ops[] = {"IS NOT DISTINCT FROM", "IS DISTINCT FROM", "FLOOR TO",
                                            "CEIL TO"};

#define SHAPE_MAX_DEPTH 200

static struct query__shape *term(struct sparser *ps);

static bool eat(struct sparser *ps, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, s, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static struct query__shape *node(struct sparser *ps, int kind)
{
    struct query__shape *s = arena_zalloc(ps->a, sizeof *s);
    if (s)
        s->kind = (uint8_t)kind;
    return s;
}

static bool is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ' ';
}

static bool add_arg(struct sparser *ps, struct query__shape *s, struct query__shape *arg,
                    size_t *cap)
{
    if (!arg)
        return false;
    if (s->nargs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct query__shape **na = arena_alloc(ps->a, ncap * sizeof *na);
        if (!na)
            return false;
        if (s->nargs)
            memcpy(na, s->args, s->nargs * sizeof *na);
        s->args = na;
        *cap = ncap;
    }
    s->args[s->nargs++] = arg;
    return true;
}

static struct query__shape *binop(struct sparser *ps)
{
    struct query__shape *s = node(ps, QSH_BINOP);
    size_t cap = 0;
    if (!s || !add_arg(ps, s, term(ps), &cap) || !eat(ps, " "))
        return NULL;
    const char *op = ps->p;
    size_t oplen = 0;
    for (size_t i = 0; i < LS_ARRAY_LEN(multiword_ops) && !oplen; i++) {
        size_t n = strlen(multiword_ops[i]);
        if ((size_t)(ps->end - ps->p) > n && memcmp(ps->p, multiword_ops[i], n) == 0 &&
            ps->p[n] == ' ')
            oplen = n;
    }
    if (!oplen)
        while (ps->p + oplen < ps->end && ps->p[oplen] != ' ')
            oplen++;
    if (!oplen)
        return NULL;
    ps->p += oplen;
    s->name = op;
    s->name_len = oplen;
    if (!eat(ps, " ") || !add_arg(ps, s, term(ps), &cap) || !eat(ps, ")"))
        return NULL;
    return s;
}

static struct query__shape *string_lit(struct sparser *ps)
{
    struct query__shape *s = node(ps, QSH_STR);
    if (!s)
        return NULL;
    const char *start = ps->p;
    size_t n = 0, quotes = 0;
    for (;;) {
        if (start + n >= ps->end)
            return NULL;
        if (start[n] == '\'') {
            if (start + n + 1 < ps->end && start[n + 1] == '\'') {
                n += 2;
                quotes++;
                continue;
            }
            break;
        }
        n++;
    }
    ps->p = start + n + 1;
    if (!quotes) {
        s->lit = start;
        s->lit_len = n;
        return s;
    }
    char *out = arena_alloc(ps->a, n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        out[k++] = start[i];
        if (start[i] == '\'')
            i++; /* '' stands for one quote */
    }
    s->lit = out;
    s->lit_len = k;
    return s;
}

static struct query__shape *ref(struct sparser *ps)
{
    bool agg = eat(ps, "agg");
    struct query__shape *s = node(ps, agg ? QSH_AGGREF : QSH_REF);
    if (!s)
        return NULL;
    uint64_t v = 0;
    size_t digits = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && digits < 10) {
        v = v * 10 + (uint64_t)(*ps->p - '0');
        ps->p++;
        digits++;
    }
    if (!digits || v > UINT32_MAX)
        return NULL;
    s->field = (uint32_t)v;
    return s;
}

static struct query__shape *call(struct sparser *ps, const char *name, size_t n)
{
    struct query__shape *s = node(ps, QSH_CALL);
    if (!s)
        return NULL;
    while (n && name[n - 1] == ' ')
        n--; /* "CASE (" prints with a space */
    if (n > 4 && memcmp(name, "NOT ", 4) == 0) {
        s->not_flag = true;
        name += 4;
        n -= 4;
    }
    s->name = name;
    s->name_len = n;
    if (n == 4 && memcmp(name, "CAST", 4) == 0) {
        s->kind = QSH_CAST;
        size_t cap = 0;
        if (!add_arg(ps, s, term(ps), &cap) || !eat(ps, " AS "))
            return NULL;
        const char *t = ps->p;
        while (ps->p < ps->end && *ps->p != ')')
            ps->p++;
        s->name = t;
        s->name_len = (size_t)(ps->p - t);
        return eat(ps, ")") ? s : NULL;
    }
    if (eat(ps, ")"))
        return s;
    size_t cap = 0;
    do {
        if (!add_arg(ps, s, term(ps), &cap))
            return NULL;
    } while (eat(ps, ", "));
    return eat(ps, ")") ? s : NULL;
}

static struct query__shape *term(struct sparser *ps)
{
    if (ps->p >= ps->end || ++ps->depth > SHAPE_MAX_DEPTH)
        return NULL;
    struct query__shape *s = NULL;
    char c = *ps->p;
    if (c == '(') {
        ps->p++;
        s = binop(ps);
    } else if (c == '\'') {
        ps->p++;
        s = string_lit(ps);
    } else if (c == '$') {
        ps->p++;
        s = ref(ps);
    } else {
        size_t n = 0;
        while (ps->p + n < ps->end && is_name_char(ps->p[n]))
            n++;
        if (n && ps->p + n < ps->end && ps->p[n] == '(' && c >= 'A' && c <= 'Z') {
            const char *name = ps->p;
            ps->p += n + 1;
            s = call(ps, name, n);
        } else {
            /* one literal token: 5, -1.5, 1.0E10, true, NULL, a timestamp */
            n = 0;
            while (ps->p + n < ps->end && ps->p[n] != ' ' && ps->p[n] != ',' && ps->p[n] != ')')
                n++;
            if (!n)
                return NULL;
            bool is_null = n == 4 && memcmp(ps->p, "NULL", 4) == 0;
            s = node(ps, is_null ? QSH_NULL : QSH_LIT);
            if (s) {
                s->lit = ps->p;
                s->lit_len = n;
            }
            ps->p += n;
        }
    }
    ps->depth--;
    return s;
}

/* Explain texts longer than this are not worth reading back. */
#define SHAPE_MAX_TEXT (1u << 20)

const char *query__shape_text(const struct sql_expr *e, struct arena *a)
{
    struct buf b;
    buf_init(&b, SHAPE_MAX_TEXT);
    const char *s = "?";
    if (sql_expr_explain(e, &b) && !b.failed) {
        char *t = arena_strndup(a, b.data ? b.data : "", b.len);
        if (t)
            s = t;
    }
    buf_free(&b);
    return s;
}

struct query__shape *query__shape_of(const struct sql_expr *e, struct arena *a)
{
    struct buf b;
    buf_init(&b, SHAPE_MAX_TEXT);
    struct query__shape *s = NULL;
    if (sql_expr_explain(e, &b) && !b.failed && b.len) {
        char *text = arena_strndup(a, b.data, b.len);
        if (text) {
            struct sparser ps = {text, text + b.len, a, 0};
            s = term(&ps);
            if (ps.p != ps.end)
                s = NULL;
        }
    }
    buf_free(&b);
    return s;
}

int query__shape_ref_of(const struct sql_expr *e, struct arena *a)
{
    const struct query__shape *s = query__shape_of(e, a);
    return s && s->kind == QSH_REF && s->field <= INT32_MAX ? (int)s->field : -1;
}

bool query__shape_is(const struct query__shape *s, const char *name)
{
    size_t n = strlen(name);
    return s && s->name && s->name_len == n && memcmp(s->name, name, n) == 0;
}
