/*
 * parse.c — the hand-written Druid SQL parser: expressions by precedence
 * climbing, and the SELECT statement. It builds the tree of sql_int.h in an
 * arena; names are not resolved here (bind.c does that). Special syntaxes
 * are rewritten into ordinary calls so that the binder sees one shape:
 * `TRIM(LEADING 'x' FROM s)` → LTRIM(s, 'x'), `EXTRACT(HOUR FROM t)` →
 * EXTRACT(t, 'HOUR'), `FLOOR(t TO DAY)` → "FLOOR TO"(t, 'DAY'),
 * `POSITION(a IN b)` → STRPOS(b, a), `SUBSTRING(s FROM i FOR n)` →
 * SUBSTRING(s, i, n), `TIMESTAMP '...'` → a CAST that must fold.
 *
 * Entry points: sql_parse_expr_text(), sql_parse_select(), sql_error_at(),
 * sql_node_new(), sql_node_call().
 *
 * Size: everything here is linear in the text. Operator chains (a OR b OR
 * ...) become one call collected in a doubling vector; nesting is bounded
 * by SQL_MAX_NESTING (the recursion depth) and SQL_MAX_HEIGHT (the tree's),
 * lists by SQL_MAX_ARGS and SQL_MAX_ITEMS, each refusal a 400 with line and
 * column.
 *
 * Why one file of ~1,500 lines: it is one recursive-descent parser of Druid's
 * SQL grammar; its productions call one another throughout.
 */
#include "sql/sql_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parser recurses once per level of nesting: SQL_MAX_NESTING bounds it. */
#define NESTING_MSG                                                                                            \
    "expression nested too deeply: more than " LS_STR(                                                         \
        SQL_MAX_NESTING) " levels of "                                                                         \
                         "parentheses, function calls, CASE, NOT or unary minus inside one another (write it " \
                         "with fewer levels: a chain of OR or AND, or an IN list, needs none)"
#define LS_STR_(x) #x
#define LS_STR(x) LS_STR_(x)

struct parser {
    struct sql_lexer lx;
    struct sql_token tok; /* current */
    struct arena *a;
    struct lerr *err;
    const char *text;
    size_t len;
    int depth;
    uint32_t nparams;
    bool failed;
    bool statement; /* a query (subqueries allowed), not an expression */
};

/* ---- errors -------------------------------------------------------------- */

int sql_error_at(struct lerr *err, const char *text, size_t len, size_t off, const char *fmt, ...)
{
    if (!err || err->code != LERR_OK)
        return err ? err->code : LERR_INVALID;
    if (off > len)
        off = len;
    uint32_t line = 1, col = 1;
    int64_t chars = 0;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)text[i];
        if ((ch & 0xC0) == 0x80)
            continue;
        chars++;
        if (ch == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* A trailing "(hint)" goes after the position. */
    const char *hint = "";
    char *paren = NULL;
    for (char *q = strstr(what, " ("); q; q = strstr(q + 1, " ("))
        paren = q;
    if (paren && what[strlen(what) - 1] == ')') {
        *paren = '\0';
        hint = paren + 1;
    }
    lerr_set(err, LERR_INVALID, "%s at line %u, column %u%s%s", what, line, col, *hint ? " " : "",
             hint);
    err->pos = chars;
    return LERR_INVALID;
}

static void perr(struct parser *p, size_t off, const char *fmt, ...) LS_PRINTF(3, 4);
static void perr(struct parser *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sql_error_at(p->err, p->text, p->len, off, "%s", msg);
}

/* ---- tokens ------------------------------------------------------------- */

static void next(struct parser *p)
{
    const char *why;
    sql_lex_next(&p->lx, &p->tok, &why);
    if (p->tok.kind == TK_ERROR) {
        if (why && strcmp(why, "unexpected character") == 0)
            perr(p, p->tok.off, "unexpected character '%.*s'", (int)(p->tok.len ? p->tok.len : 1),
                 p->text + p->tok.off);
        else
            perr(p, p->tok.off, "%s", why ? why : "bad token");
    }
}

/* The token after the current one, without consuming anything. */
static struct sql_token peek_tok(struct parser *p)
{
    struct sql_lexer save = p->lx;
    struct sql_token t;
    const char *why;
    sql_lex_next(&save, &t, &why);
    return t;
}

static bool is_kw(struct parser *p, const char *kw) { return sql_tok_is(&p->lx, &p->tok, kw); }

static bool accept_kw(struct parser *p, const char *kw)
{
    if (is_kw(p, kw)) {
        next(p);
        return true;
    }
    return false;
}

static const char *tok_desc(struct parser *p, char *buf, size_t cap)
{
    if (p->tok.kind == TK_EOF)
        return "the end of the text";
    snprintf(buf, cap, "'%.*s'", (int)(p->tok.len > 40 ? 40 : p->tok.len), p->text + p->tok.off);
    return buf;
}

static bool expect(struct parser *p, int kind, const char *what)
{
    if (p->tok.kind == kind) {
        next(p);
        return true;
    }
    char b[64];
    perr(p, p->tok.off, "expected %s but found %s", what, tok_desc(p, b, sizeof b));
    return false;
}

static bool expect_kw(struct parser *p, const char *kw)
{
    if (accept_kw(p, kw))
        return true;
    char b[64];
    perr(p, p->tok.off, "expected %s but found %s", kw, tok_desc(p, b, sizeof b));
    return false;
}

/* Words that end an expression or start a clause: never column names
 * unless quoted. */
// clang-format off
static const char *const reserved[] = {
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "OFFSET", "AND",
    "OR", "NOT", "AS", "ON", "IS", "IN", "LIKE", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE",
    "END", "NULL", "TRUE", "FALSE", "DISTINCT", "ALL", "UNION", "JOIN", "ASC", "DESC",
    "ESCAPE", "FILTER", "EXPLAIN", "WITH", "INNER", "LEFT", "RIGHT", "FULL", "CROSS",
    "OUTER", "USING", "INTERSECT", "EXCEPT", "FETCH", "UNKNOWN", "OVER", "WINDOW"};
// clang-format on

static bool is_reserved(struct parser *p, const struct sql_token *t)
{
    if (t->kind != TK_IDENT)
        return false;
    for (size_t i = 0; i < LS_ARRAY_LEN(reserved); i++)
        if (sql_tok_is(&p->lx, t, reserved[i]))
            return true;
    return false;
}

/* ---- nodes --------------------------------------------------------------- */

struct sql_node *sql_node_new(struct arena *a, int kind, uint32_t pos)
{
    struct sql_node *n = arena_zalloc(a, sizeof *n);
    if (!n)
        return NULL;
    n->kind = (uint8_t)kind;
    n->pos = pos;
    return n;
}

struct sql_node *sql_node_call(struct arena *a, int func, uint32_t pos, size_t nargs,
                               struct sql_node *const *args)
{
    struct sql_node *n = sql_node_new(a, NK_CALL, pos);
    if (!n)
        return NULL;
    n->func = (uint16_t)func;
    n->name = sql_funcs[func].name;
    n->name_len = (uint32_t)strlen(n->name);
    n->nargs = (uint16_t)nargs;
    if (nargs) {
        n->args = arena_alloc(a, sizeof *n->args * nargs);
        if (!n->args)
            return NULL;
        memcpy(n->args, args, sizeof *n->args * nargs);
        for (size_t i = 0; i < nargs; i++)
            if (args[i] && args[i]->height + 1 > n->height)
                n->height = args[i]->height + 1;
    }
    return n;
}

static struct sql_node *oom(struct parser *p)
{
    if (!p->failed) {
        p->failed = true;
        lerr_set(p->err, LERR_NOMEM, "out of memory while parsing the expression");
    }
    return NULL;
}

static struct sql_node *mk(struct parser *p, int kind, uint32_t pos)
{
    struct sql_node *n = sql_node_new(p->a, kind, pos);
    return n ? n : oom(p);
}

static struct sql_node *call(struct parser *p, int func, uint32_t pos, int nargs, ...)
{
    struct sql_node *a[3];
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++)
        a[i] = va_arg(ap, struct sql_node *);
    va_end(ap);
    for (int i = 0; i < nargs; i++)
        if (!a[i])
            return NULL;
    struct sql_node *n = sql_node_call(p->a, func, pos, (size_t)nargs, a);
    if (n && n->height > SQL_MAX_HEIGHT) {
        perr(
            p, pos,
            "expression nested too deeply: its tree is more than %d levels high (write it with fewer levels)",
            SQL_MAX_HEIGHT);
        return NULL;
    }
    return n ? n : oom(p);
}

static struct sql_node *string_lit(struct parser *p, const char *s, size_t n, uint32_t pos)
{
    struct sql_node *x = mk(p, NK_LIT, pos);
    if (!x)
        return NULL;
    char *c = arena_strndup(p->a, s, n);
    if (!c)
        return oom(p);
    x->k = sql_string(c, n);
    x->type = SQL_STRING;
    return x;
}

/* The text of a 'string' or "identifier" token with doubled quotes undone. */
static char *unquote(struct parser *p, const struct sql_token *t, size_t *outn)
{
    const char *s = p->text + t->off + 1;
    size_t n = t->len >= 2 ? t->len - 2 : 0;
    char q = p->text[t->off];
    char *o = arena_alloc(p->a, n + 1);
    if (!o) {
        oom(p);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        o[k++] = s[i];
        if (s[i] == q && i + 1 < n && s[i + 1] == q)
            i++;
    }
    o[k] = '\0';
    *outn = k;
    return o;
}

/* Argument lists grow in a small vector (doubling: linear in all), then
 * move to the arena. `what` names the list in the error past `max`. */
struct nvec {
    struct sql_node *inl[8];
    struct sql_node **v;
    size_t n, cap, max;
    const char *what;
    size_t uncounted; /* leading elements the message does not count (IN's operand) */
};

static void nvec_init(struct nvec *v, const char *what, size_t max)
{
    v->v = v->inl;
    v->n = 0;
    v->cap = LS_ARRAY_LEN(v->inl);
    v->max = max;
    v->what = what;
    v->uncounted = 0;
}

static bool nvec_push(struct parser *p, struct nvec *v, struct sql_node *x)
{
    if (!x)
        return false;
    if (v->n >= v->max) {
        perr(p, x->pos,
             "too many %s: more than %zu (split the list; IN lists can be combined with OR)",
             v->what, v->max - v->uncounted);
        return false;
    }
    if (v->n == v->cap) {
        struct sql_node **nv = arena_alloc(p->a, sizeof *nv * v->cap * 2);
        if (!nv) {
            oom(p);
            return false;
        }
        memcpy(nv, v->v, sizeof *nv * v->n);
        v->v = nv;
        v->cap *= 2;
    }
    v->v[v->n++] = x;
    return true;
}

static struct sql_node *call_vec(struct parser *p, int func, uint32_t pos, struct nvec *v)
{
    struct sql_node *n = sql_node_call(p->a, func, pos, v->n, v->v);
    if (n && n->height > SQL_MAX_HEIGHT) {
        perr(
            p, pos,
            "expression nested too deeply: its tree is more than %d levels high (write it with fewer levels)",
            SQL_MAX_HEIGHT);
        return NULL;
    }
    return n ? n : oom(p);
}

/* An arena array of n elements (capacity *cap) with room for one more:
 * itself, or a copy twice as large; NULL (and the parser's error) when out
 * of memory. */
static void *grown(struct parser *p, void *v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap && v)
        return v;
    size_t nc = *cap ? *cap * 2 : 4;
    void *nv = arena_alloc(p->a, elem * nc);
    if (!nv) {
        oom(p);
        return NULL;
    }
    if (n)
        memcpy(nv, v, elem * n);
    *cap = nc;
    return nv;
}

/* ---- expressions --------------------------------------------------------- */

enum { PREC_OR = 1, PREC_AND, PREC_NOT, PREC_CMP, PREC_ADD, PREC_MUL, PREC_UNARY };

static struct sql_node *parse_expr(struct parser *p, int minprec);
static struct sql_stmt *parse_subquery(struct parser *p);
static bool starts_query(struct parser *p) { return is_kw(p, "SELECT") || is_kw(p, "WITH"); }

/* A subquery node for `( query )`, the current token at SELECT or WITH. */
static struct sql_node *subquery_node(struct parser *p, uint32_t pos, int kind)
{
    if (!p->statement) {
        perr(p, p->tok.off,
             "subqueries are not allowed here (an ingestion mapping or filter reads one input "
             "row; query the table instead)");
        return NULL;
    }
    struct sql_stmt *q = parse_subquery(p);
    if (!q)
        return NULL;
    struct sql_node *x = mk(p, NK_SUBQUERY, pos);
    if (x) {
        x->aux = q;
        x->ival = kind;
        x->type = SQL_NULL;
    }
    return x;
}

/* Type names for CAST and RETURNING; sets *type and *date. */
static bool parse_type(struct parser *p, int *type, bool *date)
{
    *date = false;
    struct sql_token t = p->tok;
    if (t.kind != TK_IDENT && t.kind != TK_QIDENT) {
        char b[64];
        perr(p, t.off,
             "expected a type name (VARCHAR, BIGINT, DOUBLE, TIMESTAMP, ...) but found %s",
             tok_desc(p, b, sizeof b));
        return false;
    }
    static const struct {
        const char *name;
        int type;
    } names[] = {
        {"VARCHAR", SQL_STRING},  {"CHAR", SQL_STRING},         {"CHARACTER", SQL_STRING},
        {"STRING", SQL_STRING},   {"BIGINT", SQL_LONG},         {"INTEGER", SQL_LONG},
        {"INT", SQL_LONG},        {"SMALLINT", SQL_LONG},       {"TINYINT", SQL_LONG},
        {"LONG", SQL_LONG},       {"DOUBLE", SQL_DOUBLE},       {"DECIMAL", SQL_DOUBLE},
        {"NUMERIC", SQL_DOUBLE},  {"FLOAT", SQL_FLOAT},         {"REAL", SQL_FLOAT},
        {"BOOLEAN", SQL_BOOLEAN}, {"TIMESTAMP", SQL_TIMESTAMP}, {"DATE", SQL_TIMESTAMP},
        {"JSON", SQL_JSON},       {"COMPLEX", SQL_JSON},        {"ARRAY", SQL_ARRAY},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(names); i++) {
        if (sql_tok_is(&p->lx, &t, names[i].name)) {
            *type = names[i].type;
            *date = strcmp(names[i].name, "DATE") == 0;
            next(p);
            if (*type == SQL_DOUBLE && sql_tok_is(&p->lx, &t, "DOUBLE"))
                accept_kw(p, "PRECISION");
            if (sql_tok_is(&p->lx, &t, "CHARACTER") || sql_tok_is(&p->lx, &t, "CHAR"))
                accept_kw(p, "VARYING");
            if (*type == SQL_JSON && sql_tok_is(&p->lx, &t, "COMPLEX")) {
                /* COMPLEX<json> */
                if (!expect(p, TK_LT, "'<'"))
                    return false;
                if (!is_kw(p, "JSON")) {
                    perr(p, p->tok.off, "only COMPLEX<json> is supported");
                    return false;
                }
                next(p);
                if (!expect(p, TK_GT, "'>'"))
                    return false;
            }
            if (p->tok.kind == TK_LPAREN) { /* VARCHAR(10), DECIMAL(10, 2) */
                next(p);
                while (p->tok.kind == TK_INTEGER || p->tok.kind == TK_COMMA)
                    next(p);
                if (!expect(p, TK_RPAREN, "')'"))
                    return false;
            }
            if (is_kw(p, "ARRAY")) {
                next(p);
                *type = SQL_ARRAY;
            }
            return !p->failed;
        }
    }
    perr(p, t.off,
         "unknown type '%.*s' (use VARCHAR, BIGINT, DOUBLE, FLOAT, BOOLEAN, TIMESTAMP or DATE)",
         (int)t.len, p->text + t.off);
    return false;
}

/* A time unit word (HOUR, DAY, ...) becomes a string literal argument. */
static struct sql_node *unit_lit(struct parser *p)
{
    if (p->tok.kind != TK_IDENT && p->tok.kind != TK_STRING) {
        char b[64];
        perr(p, p->tok.off,
             "expected a time unit (SECOND, MINUTE, HOUR, DAY, MONTH, YEAR, ...) but found %s",
             tok_desc(p, b, sizeof b));
        return NULL;
    }
    struct sql_token t = p->tok;
    next(p);
    if (t.kind == TK_STRING) {
        size_t n;
        char *s = unquote(p, &t, &n);
        return s ? string_lit(p, s, n, t.off) : NULL;
    }
    /* SQL_TSI_DAY etc. are accepted by Calcite's TIMESTAMPADD */
    const char *s = p->text + t.off;
    size_t n = t.len;
    if (n > 8 && strncasecmp(s, "SQL_TSI_", 8) == 0) {
        s += 8;
        n -= 8;
    }
    return string_lit(p, s, n, t.off);
}

static struct sql_node *parse_interval(struct parser *p, uint32_t pos)
{
    /* INTERVAL '1' DAY, INTERVAL '2' HOUR, INTERVAL '1-2' YEAR TO MONTH is not supported */
    bool neg = false;
    if (p->tok.kind == TK_MINUS) {
        neg = true;
        next(p);
    }
    if (p->tok.kind != TK_STRING && p->tok.kind != TK_INTEGER) {
        perr(p, p->tok.off, "expected the quoted amount of an INTERVAL, as in INTERVAL '1' DAY");
        return NULL;
    }
    struct sql_token t = p->tok;
    next(p);
    char num[32];
    size_t n = 0;
    const char *s = p->text + t.off + (t.kind == TK_STRING);
    size_t sl = t.len - (t.kind == TK_STRING ? 2 : 0);
    while (sl && *s == ' ') {
        s++;
        sl--;
    }
    if (sl && (*s == '-' || *s == '+')) {
        neg ^= *s == '-';
        s++;
        sl--;
    }
    for (; n < sl && n < sizeof num - 1; n++) {
        if (s[n] < '0' || s[n] > '9')
            break;
        num[n] = s[n];
    }
    num[n] = '\0';
    if (n == 0 || n != sl) {
        perr(p, t.off, "INTERVAL amount must be a whole number, as in INTERVAL '2' HOUR");
        return NULL;
    }
    int64_t amount = strtoll(num, NULL, 10);
    if (amount > 100000000) {
        perr(p, t.off, "INTERVAL amount too large");
        return NULL;
    }
    if (neg)
        amount = -amount;
    static const struct {
        const char *unit;
        int64_t ms;
        int months;
    } units[] = {{"MILLISECOND", 1, 0},
                 {"SECOND", LS_MS_PER_SECOND, 0},
                 {"MINUTE", LS_MS_PER_MINUTE, 0},
                 {"HOUR", LS_MS_PER_HOUR, 0},
                 {"DAY", LS_MS_PER_DAY, 0},
                 {"WEEK", 7 * LS_MS_PER_DAY, 0},
                 {"MONTH", 0, 1},
                 {"QUARTER", 0, 3},
                 {"YEAR", 0, 12}};
    for (size_t i = 0; i < LS_ARRAY_LEN(units); i++) {
        if (is_kw(p, units[i].unit)) {
            next(p);
            struct sql_node *x = mk(p, NK_LIT, pos);
            if (!x)
                return NULL;
            x->type = SQL_INTERVAL;
            x->k.type = SQL_INTERVAL;
            if (units[i].months) {
                x->k.v.l = amount * units[i].months;
                x->k.v.s.n = 1;
            } else {
                x->k.v.l = amount * units[i].ms;
            }
            return x;
        }
    }
    perr(p, p->tok.off,
         "expected an INTERVAL unit (SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER, YEAR)");
    return NULL;
}

/* Function call after NAME '(' has been consumed. */
/* ---- windows: OVER w | OVER ( [w] [PARTITION BY ...] [ORDER BY ...] [frame] ) ---- */

/* A frame offset: a whole number literal of 0 or more. */
static bool frame_offset(struct parser *p, int64_t *out)
{
    if (p->tok.kind != TK_INTEGER) {
        char b[64];
        perr(p, p->tok.off,
             "expected UNBOUNDED, CURRENT ROW or a whole number of rows but found %s (write "
             "ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
             tok_desc(p, b, sizeof b));
        return false;
    }
    errno = 0;
    char *end;
    long long v = strtoll(p->text + p->tok.off, &end, 10);
    if (errno || end != p->text + p->tok.off + p->tok.len) {
        perr(p, p->tok.off, "frame offset out of range (use UNBOUNDED)");
        return false;
    }
    *out = v;
    next(p);
    return true;
}

static bool frame_bound(struct parser *p, uint8_t *kind, int64_t *n)
{
    *n = 0;
    if (accept_kw(p, "UNBOUNDED")) {
        if (accept_kw(p, "PRECEDING"))
            *kind = SQL_FRAME_UNBOUNDED_PRECEDING;
        else if (expect_kw(p, "FOLLOWING"))
            *kind = SQL_FRAME_UNBOUNDED_FOLLOWING;
        else
            return false;
        return true;
    }
    if (accept_kw(p, "CURRENT")) {
        *kind = SQL_FRAME_CURRENT_ROW;
        return expect_kw(p, "ROW");
    }
    if (!frame_offset(p, n))
        return false;
    if (accept_kw(p, "PRECEDING"))
        *kind = SQL_FRAME_PRECEDING;
    else if (expect_kw(p, "FOLLOWING"))
        *kind = SQL_FRAME_FOLLOWING;
    else
        return false;
    return true;
}

static bool parse_frame(struct parser *p, struct sql_over *o)
{
    o->frame_pos = p->tok.off;
    o->has_frame = true;
    o->rows = is_kw(p, "ROWS");
    next(p);
    uint32_t spos = p->tok.off, epos;
    if (accept_kw(p, "BETWEEN")) {
        spos = p->tok.off;
        if (!frame_bound(p, &o->start, &o->start_n) || !expect_kw(p, "AND"))
            return false;
        epos = p->tok.off;
        if (!frame_bound(p, &o->end, &o->end_n))
            return false;
    } else {
        /* ROWS n PRECEDING = ROWS BETWEEN n PRECEDING AND CURRENT ROW */
        if (!frame_bound(p, &o->start, &o->start_n))
            return false;
        epos = spos;
        o->end = SQL_FRAME_CURRENT_ROW;
    }
    if (o->start == SQL_FRAME_UNBOUNDED_FOLLOWING) {
        perr(p, spos,
             "a frame cannot start at UNBOUNDED FOLLOWING (start it at UNBOUNDED "
             "PRECEDING, n PRECEDING, CURRENT ROW or n FOLLOWING)");
        return false;
    }
    if (o->end == SQL_FRAME_UNBOUNDED_PRECEDING) {
        perr(p, epos,
             "a frame cannot end at UNBOUNDED PRECEDING (end it at CURRENT ROW, n "
             "PRECEDING or n FOLLOWING, or UNBOUNDED FOLLOWING)");
        return false;
    }
    if (o->start > o->end ||
        (o->start == SQL_FRAME_FOLLOWING && o->end == SQL_FRAME_FOLLOWING &&
         o->start_n > o->end_n) ||
        (o->start == SQL_FRAME_PRECEDING && o->end == SQL_FRAME_PRECEDING &&
         o->start_n < o->end_n)) {
        perr(p, spos,
             "the frame starts after it ends (write its start first: BETWEEN 2 "
             "PRECEDING AND CURRENT ROW)");
        return false;
    }
    if (!o->rows && (o->start == SQL_FRAME_PRECEDING || o->start == SQL_FRAME_FOLLOWING ||
                     o->end == SQL_FRAME_PRECEDING || o->end == SQL_FRAME_FOLLOWING)) {
        perr(p, o->frame_pos,
             "RANGE frames take only UNBOUNDED PRECEDING, CURRENT ROW and UNBOUNDED FOLLOWING "
             "bounds, as in Druid (count rows with ROWS BETWEEN n PRECEDING AND m FOLLOWING)");
        return false;
    }
    return true;
}

static bool window_name(struct parser *p, const char **name, uint32_t *len)
{
    if ((p->tok.kind != TK_IDENT || is_reserved(p, &p->tok)) && p->tok.kind != TK_QIDENT)
        return false;
    size_t n;
    char *s = p->tok.kind == TK_QIDENT ? unquote(p, &p->tok, &n)
                                       : arena_strndup(p->a, p->text + p->tok.off, p->tok.len);
    if (!s)
        return oom(p), false;
    *name = s;
    *len = (uint32_t)strlen(s);
    next(p);
    return true;
}

/* expr [, expr ...] into an arena array (PARTITION BY). */
static bool parse_list(struct parser *p, const char *what, struct sql_node ***out, size_t *n)
{
    struct nvec v;
    nvec_init(&v, what, SQL_MAX_ITEMS);
    for (;;) {
        if (!nvec_push(p, &v, parse_expr(p, 0)))
            return false;
        if (p->tok.kind != TK_COMMA)
            break;
        next(p);
    }
    *out = arena_alloc(p->a, sizeof **out * v.n);
    if (!*out) {
        oom(p);
        return false;
    }
    memcpy(*out, v.v, sizeof **out * v.n);
    *n = v.n;
    return true;
}

/* After OVER (or WINDOW w AS): a window name, or a parenthesised spec. */
static struct sql_over *parse_over(struct parser *p, uint32_t pos)
{
    struct sql_over *o = arena_zalloc(p->a, sizeof *o);
    if (!o)
        return oom(p), NULL;
    o->pos = pos;
    if (p->tok.kind != TK_LPAREN) {
        o->bare = true; /* OVER w: all of w, frame included */
        if (!window_name(p, &o->ref, &o->ref_len)) {
            char b[64];
            if (!p->failed)
                perr(p, p->tok.off,
                     "expected a window after OVER but found %s (write OVER(PARTITION BY ... "
                     "ORDER BY ...), or OVER w with WINDOW w AS(...) after HAVING)",
                     tok_desc(p, b, sizeof b));
            return NULL;
        }
        return o;
    }
    if (++p->depth > SQL_MAX_NESTING) {
        perr(p, p->tok.off, "%s", NESTING_MSG);
        return NULL;
    }
    next(p);
    if (!is_kw(p, "PARTITION") && !is_kw(p, "ORDER") && !is_kw(p, "ROWS") && !is_kw(p, "RANGE") &&
        p->tok.kind != TK_RPAREN && !window_name(p, &o->ref, &o->ref_len)) {
        char b[64];
        if (!p->failed)
            perr(p, p->tok.off, "expected PARTITION BY, ORDER BY, ROWS, RANGE or ')' but found %s",
                 tok_desc(p, b, sizeof b));
        return NULL;
    }
    if (accept_kw(p, "PARTITION")) {
        if (!expect_kw(p, "BY") || !parse_list(p, "PARTITION BY terms", &o->part, &o->npart))
            return NULL;
    }
    if (accept_kw(p, "ORDER")) {
        if (!expect_kw(p, "BY"))
            return NULL;
        size_t cap = 0;
        for (;;) {
            if (o->norder == SQL_MAX_ITEMS) {
                perr(p, p->tok.off, "too many window ORDER BY terms: more than %d", SQL_MAX_ITEMS);
                return NULL;
            }
            if (!(o->order = grown(p, o->order, o->norder, &cap, sizeof *o->order)))
                return NULL;
            struct sql_order_parse *it = &o->order[o->norder];
            if (!(it->expr = parse_expr(p, 0)))
                return NULL;
            o->norder++;
            it->desc = accept_kw(p, "DESC");
            if (!it->desc)
                accept_kw(p, "ASC");
            it->nulls = 0;
            if (accept_kw(p, "NULLS")) {
                if (accept_kw(p, "FIRST"))
                    it->nulls = 1;
                else if (expect_kw(p, "LAST"))
                    it->nulls = 2;
                else
                    return NULL;
            }
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
    }
    if ((is_kw(p, "ROWS") || is_kw(p, "RANGE")) && !parse_frame(p, o))
        return NULL;
    if (!expect(p, TK_RPAREN, "')' to close the window"))
        return NULL;
    p->depth--;
    return o;
}

static struct sql_node *parse_call(struct parser *p, struct sql_token name)
{
    const char *nm = p->text + name.off;
    size_t nl = name.len;
    char *nmcopy = NULL;
    if (name.kind == TK_QIDENT) {
        nmcopy = unquote(p, &name, &nl);
        if (!nmcopy)
            return NULL;
        nm = nmcopy;
    }
#define NAME_IS(s) (nl == strlen(s) && strncasecmp(nm, s, nl) == 0)
    uint32_t pos = name.off;
    struct nvec args;
    nvec_init(&args, "arguments in one call", SQL_MAX_ARGS);
    struct sql_node *n = NULL;
    uint8_t flags = 0;
    int ttype = 0;

    if (NAME_IS("CAST") || NAME_IS("TRY_CAST")) {
        struct sql_node *x = parse_expr(p, 0);
        if (!x || !expect_kw(p, "AS"))
            return NULL;
        int type;
        bool date;
        if (!parse_type(p, &type, &date) || !expect(p, TK_RPAREN, "')'"))
            return NULL;
        n = call(p, F_CAST, pos, 1, x);
        if (n) {
            n->ttype = (uint8_t)type;
            n->ival = date ? 2 : 0;
        }
        return n;
    }
    if (NAME_IS("EXTRACT")) {
        struct sql_node *u = unit_lit(p);
        if (!u || !expect_kw(p, "FROM"))
            return NULL;
        struct sql_node *x = parse_expr(p, 0);
        if (!x || !expect(p, TK_RPAREN, "')'"))
            return NULL;
        return call(p, F_EXTRACT, pos, 2, x, u);
    }
    if (NAME_IS("TRIM")) {
        int fn = F_BTRIM;
        if (accept_kw(p, "BOTH"))
            fn = F_BTRIM;
        else if (accept_kw(p, "LEADING"))
            fn = F_LTRIM;
        else if (accept_kw(p, "TRAILING"))
            fn = F_RTRIM;
        struct sql_node *chars = NULL, *s = NULL;
        if (accept_kw(p, "FROM")) {
            s = parse_expr(p, 0);
        } else {
            struct sql_node *first = parse_expr(p, 0);
            if (!first)
                return NULL;
            if (accept_kw(p, "FROM")) {
                chars = first;
                s = parse_expr(p, 0);
            } else {
                s = first;
            }
        }
        if (!s || !expect(p, TK_RPAREN, "')'"))
            return NULL;
        return chars ? call(p, fn, pos, 2, s, chars) : call(p, fn, pos, 1, s);
    }
    if (NAME_IS("POSITION")) {
        struct sql_node *needle = parse_expr(p, PREC_ADD);
        if (!needle || !expect_kw(p, "IN"))
            return NULL;
        struct sql_node *hay = parse_expr(p, 0);
        if (!hay)
            return NULL;
        struct sql_node *from = NULL;
        if (accept_kw(p, "FROM") && !(from = parse_expr(p, 0)))
            return NULL;
        if (!expect(p, TK_RPAREN, "')'"))
            return NULL;
        return from ? call(p, F_STRPOS, pos, 3, hay, needle, from)
                    : call(p, F_STRPOS, pos, 2, hay, needle);
    }
    if (NAME_IS("JSON_OBJECT")) {
        /* JSON_OBJECT([KEY] k VALUE v | k : v, ... [NULL | ABSENT ON NULL]) */
        int fn = F_JSON_OBJECT;
        while (p->tok.kind != TK_RPAREN && !is_kw(p, "ABSENT") && !is_kw(p, "NULL")) {
            accept_kw(p, "KEY");
            struct sql_node *k = parse_expr(p, 0);
            if (!k)
                return NULL;
            if (!accept_kw(p, "VALUE") &&
                !expect(p, TK_COLON, "VALUE or ':' after a JSON_OBJECT key"))
                return NULL;
            struct sql_node *v = parse_expr(p, 0);
            if (!v || !nvec_push(p, &args, k) || !nvec_push(p, &args, v))
                return NULL;
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
        if (accept_kw(p, "ABSENT"))
            fn = F_JSON_OBJECT_ABSENT;
        else if (!accept_kw(p, "NULL"))
            goto json_object_end;
        if (!expect_kw(p, "ON") || !expect_kw(p, "NULL"))
            return NULL;
    json_object_end:
        if (!expect(p, TK_RPAREN, "')' to close JSON_OBJECT"))
            return NULL;
        return call_vec(p, fn, pos, &args);
    }
    if (NAME_IS("TIMESTAMPADD") || NAME_IS("TIMESTAMPDIFF")) {
        struct sql_node *u = unit_lit(p);
        if (!u || !nvec_push(p, &args, u) || !expect(p, TK_COMMA, "','"))
            return NULL;
    } else if (p->tok.kind == TK_STAR && NAME_IS("COUNT")) {
        next(p);
        if (!expect(p, TK_RPAREN, "')'"))
            return NULL;
        n = call_vec(p, F_COUNT, pos, &args);
        goto filter;
    } else if (accept_kw(p, "DISTINCT")) {
        flags |= NF_DISTINCT;
    } else {
        accept_kw(p, "ALL");
    }

    if (p->tok.kind != TK_RPAREN) {
        for (;;) {
            struct sql_node *x = parse_expr(p, 0);
            if (!x || !nvec_push(p, &args, x))
                return NULL;
            if ((NAME_IS("FLOOR") || NAME_IS("CEIL")) && args.n == 1 && accept_kw(p, "TO")) {
                struct sql_node *u = unit_lit(p);
                if (!u || !expect(p, TK_RPAREN, "')'"))
                    return NULL;
                return call(p, NAME_IS("FLOOR") ? F_FLOOR_TO : F_CEIL_TO, pos, 2, x, u);
            }
            if ((NAME_IS("SUBSTRING") || NAME_IS("SUBSTR")) && args.n == 1 &&
                accept_kw(p, "FROM")) {
                struct sql_node *i = parse_expr(p, 0);
                if (!i || !nvec_push(p, &args, i))
                    return NULL;
                if (accept_kw(p, "FOR")) {
                    struct sql_node *l = parse_expr(p, 0);
                    if (!l || !nvec_push(p, &args, l))
                        return NULL;
                }
                break;
            }
            if (NAME_IS("JSON_VALUE") && accept_kw(p, "RETURNING")) {
                int type;
                bool date;
                if (!parse_type(p, &type, &date))
                    return NULL;
                ttype = type;
                break;
            }
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
    }
    if (!expect(p, TK_RPAREN, "')' to close the argument list"))
        return NULL;
    n = mk(p, NK_CALL, pos);
    if (!n)
        return NULL;
    n->name = nm;
    n->name_len = (uint32_t)nl;
    n->func = UINT16_MAX; /* resolved by the binder */
    n->flags = flags;
    n->ttype = (uint8_t)ttype;
    if (args.n > UINT16_MAX) {
        perr(p, pos, "too many arguments");
        return NULL;
    }
    n->nargs = (uint16_t)args.n;
    if (args.n) {
        n->args = arena_alloc(p->a, sizeof *n->args * args.n);
        if (!n->args)
            return oom(p);
        memcpy(n->args, args.v, sizeof *n->args * args.n);
        for (size_t i = 0; i < args.n; i++)
            if (args.v[i]->height + 1 > n->height)
                n->height = args.v[i]->height + 1;
        if (n->height > SQL_MAX_HEIGHT) {
            perr(
                p, pos,
                "expression nested too deeply: its tree is more than %d levels high (write it with fewer levels)",
                SQL_MAX_HEIGHT);
            return NULL;
        }
    }
filter:
    if (n && is_kw(p, "FILTER")) {
        next(p);
        if (!expect(p, TK_LPAREN, "'(' after FILTER") || !expect_kw(p, "WHERE"))
            return NULL;
        n->filter = parse_expr(p, 0);
        if (!n->filter || !expect(p, TK_RPAREN, "')'"))
            return NULL;
    }
    if (n && is_kw(p, "OVER")) {
        uint32_t opos = p->tok.off;
        next(p);
        struct sql_over *o = parse_over(p, opos);
        if (!o)
            return NULL;
        n->flags |= NF_OVER;
        n->aux = o;
    }
    return n;
#undef NAME_IS
}

static struct sql_node *parse_case(struct parser *p, uint32_t pos)
{
    struct nvec v;
    nvec_init(&v, "terms in one CASE", SQL_MAX_ARGS);
    int fn = F_CASE;
    if (is_kw(p, "END")) {
        perr(p, p->tok.off, "expected WHEN in CASE");
        return NULL;
    }
    if (!is_kw(p, "WHEN")) {
        fn = F_CASE_SIMPLE;
        if (!nvec_push(p, &v, parse_expr(p, 0)))
            return NULL;
    }
    if (!is_kw(p, "WHEN")) {
        perr(p, p->tok.off, "expected WHEN in CASE");
        return NULL;
    }
    while (accept_kw(p, "WHEN")) {
        if (!nvec_push(p, &v, parse_expr(p, 0)) || !expect_kw(p, "THEN") ||
            !nvec_push(p, &v, parse_expr(p, 0)))
            return NULL;
    }
    bool has_else = false;
    if (accept_kw(p, "ELSE")) {
        has_else = true;
        if (!nvec_push(p, &v, parse_expr(p, 0)))
            return NULL;
    }
    if (!expect_kw(p, "END"))
        return NULL;
    struct sql_node *n = call_vec(p, fn, pos, &v);
    if (n && has_else)
        n->flags |= NF_HAS_ELSE;
    return n;
}

static struct sql_node *number_lit(struct parser *p, const struct sql_token *t, bool neg)
{
    struct sql_node *x = mk(p, NK_LIT, t->off);
    if (!x)
        return NULL;
    char buf[64];
    if (t->len >= sizeof buf - 1) {
        perr(p, t->off, "number literal too long");
        return NULL;
    }
    size_t k = 0;
    if (neg)
        buf[k++] = '-';
    memcpy(buf + k, p->text + t->off, t->len);
    buf[k + t->len] = '\0';
    errno = 0;
    if (t->kind == TK_INTEGER) {
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            perr(p, t->off, "integer literal %s is out of range for BIGINT", buf);
            return NULL;
        }
        x->k = sql_long(v);
        x->type = SQL_LONG;
    } else {
        x->k = sql_double(strtod(buf, NULL));
        x->type = SQL_DOUBLE;
    }
    return x;
}

static struct sql_node *parse_primary(struct parser *p)
{
    struct sql_token t = p->tok;
    char b[64];
    switch (t.kind) {
    case TK_INTEGER:
    case TK_DECIMAL: next(p); return number_lit(p, &t, false);
    case TK_STRING: {
        next(p);
        size_t n;
        char *s = unquote(p, &t, &n);
        if (!s)
            return NULL;
        struct sql_node *x = string_lit(p, s, n, t.off);
        /* 'a' 'b' continuation is standard SQL: adjacent literals concatenate */
        return x;
    }
    case TK_PARAM: {
        next(p);
        struct sql_node *x = mk(p, NK_PARAM, t.off);
        if (x)
            x->field = p->nparams++;
        return x;
    }
    case TK_LPAREN: {
        next(p);
        if (starts_query(p)) {
            struct sql_node *x = subquery_node(p, t.off, SQL_SUBQUERY_SCALAR);
            if (!x || !expect(p, TK_RPAREN, "')' to close the subquery"))
                return NULL;
            return x;
        }
        struct sql_node *x = parse_expr(p, 0);
        if (!x || !expect(p, TK_RPAREN, "')'"))
            return NULL;
        return x;
    }
    case TK_IDENT:
    case TK_QIDENT: break;
    case TK_STAR: {
        next(p);
        return mk(p, NK_STAR, t.off);
    }
    default:
        perr(p, t.off, "expected an expression but found %s", tok_desc(p, b, sizeof b));
        return NULL;
    }
    if (t.kind == TK_IDENT) {
        if (sql_tok_is(&p->lx, &t, "NULL") || sql_tok_is(&p->lx, &t, "TRUE") ||
            sql_tok_is(&p->lx, &t, "FALSE") || sql_tok_is(&p->lx, &t, "UNKNOWN")) {
            next(p);
            struct sql_node *x = mk(p, NK_LIT, t.off);
            if (!x)
                return NULL;
            if (sql_tok_is(&p->lx, &t, "NULL") || sql_tok_is(&p->lx, &t, "UNKNOWN")) {
                x->k = sql_null(SQL_NULL);
                x->type = sql_tok_is(&p->lx, &t, "NULL") ? SQL_NULL : SQL_BOOLEAN;
            } else {
                x->k.type = SQL_BOOLEAN;
                x->k.v.l = sql_tok_is(&p->lx, &t, "TRUE");
                x->type = SQL_BOOLEAN;
            }
            return x;
        }
        if (sql_tok_is(&p->lx, &t, "CASE")) {
            next(p);
            return parse_case(p, t.off);
        }
        struct sql_token nt = peek_tok(p);
        if (sql_tok_is(&p->lx, &t, "EXISTS") && nt.kind == TK_LPAREN) {
            next(p);
            next(p);
            if (!starts_query(p)) {
                perr(p, p->tok.off, "expected a subquery after EXISTS ( (EXISTS (SELECT ...))");
                return NULL;
            }
            struct sql_node *x = subquery_node(p, t.off, SQL_SUBQUERY_EXISTS);
            if (!x || !expect(p, TK_RPAREN, "')' to close the subquery"))
                return NULL;
            return x;
        }
        if ((sql_tok_is(&p->lx, &t, "TIMESTAMP") || sql_tok_is(&p->lx, &t, "DATE")) &&
            nt.kind == TK_STRING) {
            next(p);
            struct sql_token st = p->tok;
            next(p);
            size_t n;
            char *s = unquote(p, &st, &n);
            if (!s)
                return NULL;
            struct sql_node *lit = string_lit(p, s, n, st.off);
            struct sql_node *c = call(p, F_CAST, t.off, 1, lit);
            if (c) {
                c->ttype = SQL_TIMESTAMP;
                c->ival = 1 | (sql_tok_is(&p->lx, &t, "DATE") ? 2 : 0);
            }
            return c;
        }
        if (sql_tok_is(&p->lx, &t, "INTERVAL") && nt.kind != TK_LPAREN) {
            next(p);
            return parse_interval(p, t.off);
        }
        if ((sql_tok_is(&p->lx, &t, "CURRENT_TIMESTAMP") ||
             sql_tok_is(&p->lx, &t, "CURRENT_DATE") || sql_tok_is(&p->lx, &t, "LOCALTIMESTAMP")) &&
            nt.kind != TK_LPAREN) {
            next(p);
            return call(
                p, sql_tok_is(&p->lx, &t, "CURRENT_DATE") ? F_CURRENT_DATE : F_CURRENT_TIMESTAMP,
                t.off, 0);
        }
        if (sql_tok_is(&p->lx, &t, "ARRAY") && nt.kind == TK_LBRACKET) {
            next(p);
            next(p);
            struct nvec v;
            nvec_init(&v, "elements in one ARRAY", SQL_MAX_ARGS);
            if (p->tok.kind != TK_RBRACKET) {
                for (;;) {
                    if (!nvec_push(p, &v, parse_expr(p, 0)))
                        return NULL;
                    if (p->tok.kind != TK_COMMA)
                        break;
                    next(p);
                }
            }
            if (!expect(p, TK_RBRACKET, "']'"))
                return NULL;
            return call_vec(p, F_ARRAY, t.off, &v);
        }
        bool call_ok = nt.kind == TK_LPAREN &&
                       (sql_tok_is(&p->lx, &t, "LEFT") || sql_tok_is(&p->lx, &t, "RIGHT"));
        if (is_reserved(p, &t) && !call_ok) {
            perr(
                p, t.off,
                "expected an expression but found the keyword %.*s (quote it as \"%.*s\" if it is a column)",
                (int)t.len, p->text + t.off, (int)t.len, p->text + t.off);
            return NULL;
        }
    }
    next(p);
    if (p->tok.kind == TK_LPAREN) {
        next(p);
        if (++p->depth > SQL_MAX_NESTING) {
            perr(p, t.off, NESTING_MSG);
            return NULL;
        }
        struct sql_node *x = parse_call(p, t);
        p->depth--;
        return x;
    }
    /* identifier, maybe qualified: t.col, "t"."col" */
    struct sql_node *x = mk(p, NK_IDENT, t.off);
    if (!x)
        return NULL;
    size_t n;
    if (t.kind == TK_QIDENT) {
        x->name = unquote(p, &t, &n);
        x->flags |= NF_QUOTED;
    } else {
        x->name = arena_strndup(p->a, p->text + t.off, t.len);
        n = t.len;
    }
    if (!x->name)
        return oom(p);
    x->name_len = (uint32_t)n;
    while (p->tok.kind == TK_DOT) {
        next(p);
        struct sql_token c = p->tok;
        if (c.kind == TK_STAR) {
            /* t.* in a select list */
            next(p);
            struct sql_node *s = mk(p, NK_STAR, t.off);
            if (s) {
                s->qual = x->name;
                s->qual_len = x->name_len;
            }
            return s;
        }
        if (c.kind != TK_IDENT && c.kind != TK_QIDENT) {
            perr(p, c.off, "expected a column name after '.'");
            return NULL;
        }
        next(p);
        x->qual = x->name;
        x->qual_len = x->name_len;
        if (c.kind == TK_QIDENT) {
            x->name = unquote(p, &c, &n);
            x->flags |= NF_QUOTED;
        } else {
            x->name = arena_strndup(p->a, p->text + c.off, c.len);
            n = c.len;
        }
        if (!x->name)
            return oom(p);
        x->name_len = (uint32_t)n;
    }
    return x;
}

static struct sql_node *parse_unary(struct parser *p)
{
    if (p->tok.kind == TK_MINUS || p->tok.kind == TK_PLUS) {
        struct sql_token t = p->tok;
        next(p);
        /* fold -<number> here so that -9223372036854775808 is a BIGINT */
        if ((p->tok.kind == TK_INTEGER || p->tok.kind == TK_DECIMAL) && t.kind == TK_MINUS) {
            struct sql_token nt = p->tok;
            struct sql_token after = peek_tok(p);
            (void)after;
            next(p);
            struct sql_node *x = number_lit(p, &nt, true);
            if (x)
                x->pos = t.off;
            return x;
        }
        if (++p->depth > SQL_MAX_NESTING) {
            perr(p, t.off, NESTING_MSG);
            return NULL;
        }
        struct sql_node *x = parse_unary(p);
        p->depth--;
        if (!x)
            return NULL;
        return t.kind == TK_MINUS ? call(p, F_NEG, t.off, 1, x) : x;
    }
    return parse_primary(p);
}

/* Binary operator at the current token: function id and precedence; 0 if none. */
static int binop(struct parser *p, int *fn)
{
    switch (p->tok.kind) {
    case TK_PLUS: *fn = F_ADD; return PREC_ADD;
    case TK_MINUS: *fn = F_SUB; return PREC_ADD;
    case TK_STAR: *fn = F_MUL; return PREC_MUL;
    case TK_SLASH: *fn = F_DIV; return PREC_MUL;
    case TK_PERCENT: *fn = F_MODOP; return PREC_MUL;
    case TK_CONCAT: *fn = F_CONCATOP; return PREC_MUL;
    case TK_EQ: *fn = F_EQ; return PREC_CMP;
    case TK_NE: *fn = F_NE; return PREC_CMP;
    case TK_LT: *fn = F_LT; return PREC_CMP;
    case TK_LE: *fn = F_LE; return PREC_CMP;
    case TK_GT: *fn = F_GT; return PREC_CMP;
    case TK_GE: *fn = F_GE; return PREC_CMP;
    default: break;
    }
    if (is_kw(p, "AND")) {
        *fn = F_AND;
        return PREC_AND;
    }
    if (is_kw(p, "OR")) {
        *fn = F_OR;
        return PREC_OR;
    }
    if (is_kw(p, "IS") || is_kw(p, "IN") || is_kw(p, "LIKE") || is_kw(p, "BETWEEN")) {
        *fn = -1;
        return PREC_CMP;
    }
    if (is_kw(p, "NOT")) {
        struct sql_token nt = peek_tok(p);
        if (sql_tok_is(&p->lx, &nt, "IN") || sql_tok_is(&p->lx, &nt, "LIKE") ||
            sql_tok_is(&p->lx, &nt, "BETWEEN")) {
            *fn = -1;
            return PREC_CMP;
        }
    }
    return 0;
}

/* IS ..., [NOT] IN, [NOT] LIKE, [NOT] BETWEEN after `lhs`. */
static struct sql_node *parse_predicate(struct parser *p, struct sql_node *lhs)
{
    uint32_t pos = p->tok.off;
    if (accept_kw(p, "IS")) {
        bool neg = accept_kw(p, "NOT");
        if (accept_kw(p, "NULL"))
            return call(p, neg ? F_ISNOTNULL : F_ISNULL, pos, 1, lhs);
        if (accept_kw(p, "TRUE"))
            return call(p, neg ? F_ISNOTTRUE : F_ISTRUE, pos, 1, lhs);
        if (accept_kw(p, "FALSE"))
            return call(p, neg ? F_ISNOTFALSE : F_ISFALSE, pos, 1, lhs);
        if (accept_kw(p, "UNKNOWN"))
            return call(p, neg ? F_ISNOTNULL : F_ISNULL, pos, 1, lhs);
        if (accept_kw(p, "DISTINCT")) {
            if (!expect_kw(p, "FROM"))
                return NULL;
            struct sql_node *r = parse_expr(p, PREC_CMP + 1);
            return r ? call(p, neg ? F_NOTDISTINCT : F_DISTINCT, pos, 2, lhs, r) : NULL;
        }
        char b[64];
        perr(p, p->tok.off, "expected NULL, TRUE, FALSE or DISTINCT FROM after IS but found %s",
             tok_desc(p, b, sizeof b));
        return NULL;
    }
    bool neg = accept_kw(p, "NOT");
    if (accept_kw(p, "IN")) {
        if (!expect(p, TK_LPAREN, "'(' after IN"))
            return NULL;
        if (starts_query(p)) {
            struct sql_node *sq = subquery_node(p, pos, SQL_SUBQUERY_IN);
            if (!sq || !expect(p, TK_RPAREN, "')' to close the subquery"))
                return NULL;
            struct sql_node *n = call(p, F_IN, pos, 2, lhs, sq);
            if (n && neg)
                n->flags |= NF_NOT;
            return n;
        }
        struct nvec v;
        nvec_init(&v, "values in one IN list", SQL_MAX_ARGS);
        v.uncounted = 1; /* the IN call's first argument is the operand */
        if (!nvec_push(p, &v, lhs))
            return NULL;
        for (;;) {
            if (!nvec_push(p, &v, parse_expr(p, 0)))
                return NULL;
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
        if (!expect(p, TK_RPAREN, "')' to close the IN list"))
            return NULL;
        struct sql_node *n = call_vec(p, F_IN, pos, &v);
        if (n && neg)
            n->flags |= NF_NOT;
        return n;
    }
    if (accept_kw(p, "LIKE")) {
        struct sql_node *pat = parse_expr(p, PREC_CMP + 1);
        if (!pat)
            return NULL;
        struct sql_node *n;
        if (accept_kw(p, "ESCAPE")) {
            struct sql_node *esc = parse_expr(p, PREC_CMP + 1);
            n = esc ? call(p, F_LIKE, pos, 3, lhs, pat, esc) : NULL;
        } else {
            n = call(p, F_LIKE, pos, 2, lhs, pat);
        }
        if (n && neg)
            n->flags |= NF_NOT;
        return n;
    }
    if (accept_kw(p, "BETWEEN")) {
        if (!accept_kw(p, "SYMMETRIC"))
            accept_kw(p, "ASYMMETRIC");
        struct sql_node *lo = parse_expr(p, PREC_CMP + 1);
        if (!lo || !expect_kw(p, "AND"))
            return NULL;
        struct sql_node *hi = parse_expr(p, PREC_CMP + 1);
        if (!hi)
            return NULL;
        struct sql_node *n = call(p, F_BETWEEN, pos, 3, lhs, lo, hi);
        if (n && neg)
            n->flags |= NF_NOT;
        return n;
    }
    char b[64];
    perr(p, p->tok.off, "expected IN, LIKE or BETWEEN after NOT but found %s",
         tok_desc(p, b, sizeof b));
    return NULL;
}

/*
 * `first AND b AND c ...` (or OR) at the current operator: one call over
 * every term, collected in a vector, so that a chain of N terms costs O(N)
 * (copying the list for each term made a 50,000-term OR need gigabytes).
 * A first term that is already the same call, `(a AND b) AND c`, lends its
 * terms too, as the old flattening did. Past SQL_MAX_ARGS terms the chain
 * nests: the call so far becomes the first term of the next.
 */
static struct sql_node *parse_chain(struct parser *p, int fn, int prec, uint32_t pos,
                                    struct sql_node *first)
{
    struct nvec v;
    nvec_init(&v, fn == F_AND ? "terms in one AND" : "terms in one OR", SQL_MAX_ARGS);
    bool ok;
    if (first->kind == NK_CALL && first->func == fn && !first->filter) {
        pos = first->pos;
        ok = true;
        for (size_t i = 0; i < first->nargs && ok; i++)
            ok = nvec_push(p, &v, first->args[i]);
    } else {
        ok = nvec_push(p, &v, first);
    }
    int f = 0;
    while (ok && !p->failed && binop(p, &f) == prec && f == fn) {
        next(p);
        struct sql_node *rhs = parse_expr(p, prec + 1);
        if (!rhs)
            return NULL;
        if (v.n == SQL_MAX_ARGS) {
            struct sql_node *so_far = call_vec(p, fn, pos, &v);
            if (!so_far)
                return NULL;
            nvec_init(&v, v.what, SQL_MAX_ARGS);
            ok = nvec_push(p, &v, so_far);
        }
        ok = ok && nvec_push(p, &v, rhs);
    }
    if (!ok || p->failed)
        return NULL;
    return v.n == 1 ? v.v[0] : call_vec(p, fn, pos, &v);
}

static struct sql_node *parse_expr(struct parser *p, int minprec)
{
    if (p->failed)
        return NULL;
    if (++p->depth > SQL_MAX_NESTING) {
        perr(p, p->tok.off, NESTING_MSG);
        return NULL;
    }
    struct sql_node *lhs;
    if (is_kw(p, "NOT") && minprec <= PREC_NOT) {
        uint32_t pos = p->tok.off;
        next(p);
        struct sql_node *x = parse_expr(p, PREC_NOT);
        lhs = x ? call(p, F_NOT, pos, 1, x) : NULL;
    } else {
        lhs = parse_unary(p);
    }
    while (lhs && !p->failed) {
        int fn = 0;
        int prec = binop(p, &fn);
        if (!prec || prec < minprec)
            break;
        if (fn < 0) {
            lhs = parse_predicate(p, lhs);
            continue;
        }
        uint32_t pos = p->tok.off;
        if (fn == F_AND || fn == F_OR) {
            lhs = parse_chain(p, fn, prec, pos, lhs);
            continue;
        }
        next(p);
        struct sql_node *rhs = parse_expr(p, prec + 1);
        if (!rhs) {
            lhs = NULL;
            break;
        }
        lhs = call(p, fn, pos, 2, lhs, rhs);
    }
    p->depth--;
    return p->failed ? NULL : lhs;
}

static void parser_init(struct parser *p, const char *text, size_t len, struct arena *a,
                        struct lerr *err)
{
    memset(p, 0, sizeof *p);
    p->text = text;
    p->len = len;
    p->a = a;
    p->err = err;
    sql_lex_init(&p->lx, text, len);
    next(p);
}

int sql_parse_expr_text(const char *text, size_t len, struct arena *a, struct sql_node **out,
                        struct lerr *err)
{
    struct parser p;
    *out = NULL;
    if (len > UINT32_MAX / 2)
        return lerr_set(err, LERR_INVALID, "expression too long");
    parser_init(&p, text, len, a, err);
    if (p.failed)
        return err ? err->code : LERR_INVALID;
    if (p.tok.kind == TK_EOF) {
        perr(&p, 0,
             "the expression is empty (write one, such as \"column\" or TIME_PARSE(\"ts\"))");
        return LERR_INVALID;
    }
    struct sql_node *n = parse_expr(&p, 0);
    if (n && !p.failed && p.tok.kind != TK_EOF) {
        char b[64];
        perr(&p, p.tok.off, "unexpected %s after the end of the expression",
             tok_desc(&p, b, sizeof b));
    }
    if (p.failed || !n)
        return err && err->code ? err->code : LERR_INVALID;
    *out = n;
    return 0;
}

/* ---- SELECT ------------------------------------------------------------------ */

static char *ident_text(struct parser *p, const struct sql_token *t)
{
    size_t n;
    if (t->kind == TK_QIDENT)
        return unquote(p, t, &n);
    char *s = arena_strndup(p->a, p->text + t->off, t->len);
    if (!s)
        oom(p);
    return s;
}

static struct sql_stmt *new_block(struct parser *p)
{
    struct sql_stmt *s = arena_zalloc(p->a, sizeof *s);
    if (!s) {
        oom(p);
        return NULL;
    }
    s->text = p->text;
    s->len = p->len;
    s->pos = p->tok.off;
    s->mem = p->a;
    s->schema_name = "";
    s->table = "";
    return s;
}

static bool alias_tok(struct parser *p)
{
    return (p->tok.kind == TK_IDENT && !is_reserved(p, &p->tok)) || p->tok.kind == TK_QIDENT;
}

/* name, name, ... (column aliases, USING) */
static bool parse_names(struct parser *p, const char *what, const char ***out, size_t *n)
{
    size_t cap = 4, k = 0;
    const char **v = arena_alloc(p->a, sizeof *v * cap);
    if (!v)
        return oom(p), false;
    for (;;) {
        if (p->tok.kind != TK_IDENT && p->tok.kind != TK_QIDENT) {
            char b[64];
            perr(p, p->tok.off, "expected a name in the %s but found %s", what,
                 tok_desc(p, b, sizeof b));
            return false;
        }
        if (k == SQL_MAX_ITEMS) {
            perr(p, p->tok.off, "too many %s: more than %d", what, SQL_MAX_ITEMS);
            return false;
        }
        if (!(v = grown(p, v, k, &cap, sizeof *v)))
            return false;
        if (!(v[k++] = ident_text(p, &p->tok)))
            return false;
        next(p);
        if (p->tok.kind != TK_COMMA)
            break;
        next(p);
    }
    *out = v;
    *n = k;
    return true;
}

/* WINDOW w AS (...) [, v AS (...)] */
static bool parse_window_clause(struct parser *p, struct sql_stmt *s)
{
    next(p);
    size_t cap = 0;
    for (;;) {
        struct sql_named_window w = {.pos = p->tok.off};
        uint32_t len;
        if (!window_name(p, &w.name, &len)) {
            char b[64];
            if (!p->failed)
                perr(p, p->tok.off, "expected a window name after WINDOW but found %s",
                     tok_desc(p, b, sizeof b));
            return false;
        }
        for (size_t i = 0; i < s->nwindows; i++)
            if (strcmp(s->windows[i].name, w.name) == 0) {
                perr(p, w.pos, "window \"%s\" is defined twice (give each window its own name)",
                     w.name);
                return false;
            }
        if (!expect_kw(p, "AS"))
            return false;
        if (p->tok.kind != TK_LPAREN) {
            char b[64];
            perr(p, p->tok.off, "expected '(' after WINDOW %s AS but found %s", w.name,
                 tok_desc(p, b, sizeof b));
            return false;
        }
        if (!(w.spec = parse_over(p, w.pos)))
            return false;
        if (s->nwindows == SQL_MAX_ITEMS) {
            perr(p, w.pos, "too many windows: more than %d", SQL_MAX_ITEMS);
            return false;
        }
        if (!(s->windows = grown(p, s->windows, s->nwindows, &cap, sizeof *s->windows)))
            return false;
        s->windows[s->nwindows++] = w;
        if (p->tok.kind != TK_COMMA)
            break;
        next(p);
    }
    return true;
}

/* [AS] alias [(col, ...)] */
static bool parse_alias(struct parser *p, struct sql_from *f)
{
    if (is_kw(p, "NATURAL") && peek_tok(p).kind == TK_IDENT) {
        struct sql_token nt = peek_tok(p);
        if (sql_tok_is(&p->lx, &nt, "JOIN")) {
            perr(p, p->tok.off,
                 "NATURAL JOIN is not supported (name the columns: JOIN t USING (col))");
            return false;
        }
    }
    bool as = accept_kw(p, "AS");
    if (!alias_tok(p)) {
        if (as)
            perr(p, p->tok.off, "expected an alias after AS");
        return !as;
    }
    if (!(f->alias = ident_text(p, &p->tok)))
        return false;
    next(p);
    if (p->tok.kind == TK_LPAREN) {
        next(p);
        if (!parse_names(p, "column aliases", &f->col_aliases, &f->ncol_aliases) ||
            !expect(p, TK_RPAREN, "')' to close the column aliases"))
            return false;
    }
    return true;
}

static struct sql_from *new_from(struct parser *p, enum sql_from_kind kind, uint32_t pos)
{
    struct sql_from *f = arena_zalloc(p->a, sizeof *f);
    if (!f) {
        oom(p);
        return NULL;
    }
    f->kind = kind;
    f->pos = pos;
    f->schema_name = "";
    f->table = "";
    return f;
}

static struct sql_from *parse_from_item(struct parser *p);

/* A table, (query) alias, (join), or UNNEST(expr). */
static struct sql_from *parse_from_primary(struct parser *p)
{
    uint32_t pos = p->tok.off;
    struct sql_from *f;
    if (p->tok.kind == TK_LPAREN) {
        next(p);
        if (starts_query(p)) {
            if (!(f = new_from(p, SQL_FROM_SUBQUERY, pos)) || !(f->sub = parse_subquery(p)) ||
                !expect(p, TK_RPAREN, "')' to close the subquery") || !parse_alias(p, f))
                return NULL;
            return f;
        }
        if (++p->depth > SQL_MAX_NESTING) {
            perr(p, pos, NESTING_MSG);
            return NULL;
        }
        f = parse_from_item(p);
        p->depth--;
        if (!f || !expect(p, TK_RPAREN, "')'"))
            return NULL;
        return f;
    }
    struct sql_token nt = peek_tok(p);
    if (is_kw(p, "UNNEST") && nt.kind == TK_LPAREN) {
        next(p);
        next(p);
        if (!(f = new_from(p, SQL_FROM_UNNEST, pos)) || !(f->expr = parse_expr(p, 0)) ||
            !expect(p, TK_RPAREN, "')' to close UNNEST") || !parse_alias(p, f))
            return NULL;
        if (f->ncol_aliases > 1) {
            perr(p, pos, "UNNEST gives one column, but %zu column names follow its alias",
                 f->ncol_aliases);
            return NULL;
        }
        return f;
    }
    if (is_kw(p, "TABLE") && nt.kind == TK_LPAREN) {
        perr(p, pos,
             "TABLE(...) in FROM is only for INSERT and REPLACE statements (SQL-based "
             "ingestion: INSERT INTO t SELECT ... FROM TABLE(EXTERN(...)))");
        return NULL;
    }
    if ((p->tok.kind != TK_IDENT && p->tok.kind != TK_QIDENT) || is_reserved(p, &p->tok)) {
        char b[64];
        perr(p, pos, "expected a table name, a subquery or UNNEST in FROM but found %s",
             tok_desc(p, b, sizeof b));
        return NULL;
    }
    if (!(f = new_from(p, SQL_FROM_TABLE, pos)))
        return NULL;
    struct sql_token t = p->tok;
    next(p);
    char *a = ident_text(p, &t);
    if (!a)
        return NULL;
    if (p->tok.kind == TK_DOT) {
        next(p);
        if (p->tok.kind != TK_IDENT && p->tok.kind != TK_QIDENT) {
            perr(p, p->tok.off, "expected a table name after '.'");
            return NULL;
        }
        f->schema_name = a;
        f->table = ident_text(p, &p->tok);
        next(p);
    } else {
        f->table = a;
    }
    if (!f->table || !parse_alias(p, f))
        return NULL;
    return f;
}

/* A FROM list: items joined left to right (a comma is a CROSS JOIN). */
static struct sql_from *parse_from_item(struct parser *p)
{
    struct sql_from *l = parse_from_primary(p);
    while (l) {
        uint32_t pos = p->tok.off;
        enum sql_join_kind kind;
        bool comma = p->tok.kind == TK_COMMA;
        if (comma) {
            next(p);
            kind = SQL_JOIN_CROSS;
        } else if (accept_kw(p, "CROSS")) {
            kind = SQL_JOIN_CROSS;
        } else if (accept_kw(p, "INNER")) {
            kind = SQL_JOIN_INNER;
        } else if (accept_kw(p, "LEFT")) {
            kind = SQL_JOIN_LEFT;
        } else if (accept_kw(p, "RIGHT")) {
            kind = SQL_JOIN_RIGHT;
        } else if (accept_kw(p, "FULL")) {
            kind = SQL_JOIN_FULL;
        } else if (is_kw(p, "JOIN")) {
            kind = SQL_JOIN_INNER;
        } else if (is_kw(p, "NATURAL")) {
            perr(p, pos, "NATURAL JOIN is not supported (name the columns: JOIN t USING (col))");
            return NULL;
        } else {
            break;
        }
        if (!comma) {
            if (kind == SQL_JOIN_LEFT || kind == SQL_JOIN_RIGHT || kind == SQL_JOIN_FULL)
                accept_kw(p, "OUTER");
            if (!expect_kw(p, "JOIN"))
                return NULL;
        }
        struct sql_from *r = parse_from_primary(p);
        struct sql_from *j = r ? new_from(p, SQL_FROM_JOIN, pos) : NULL;
        if (!j)
            return NULL;
        j->join = kind;
        j->left = l;
        j->right = r;
        if (l->kind == SQL_FROM_UNNEST) {
            perr(p, l->pos,
                 "UNNEST must follow the table whose column it unnests (FROM t CROSS JOIN "
                 "UNNEST(t.tags) AS u(tag))");
            return NULL;
        }
        if (r->kind == SQL_FROM_UNNEST && kind != SQL_JOIN_CROSS && kind != SQL_JOIN_INNER) {
            perr(p, pos, "UNNEST joins its table with CROSS JOIN (FROM t CROSS JOIN UNNEST(...))");
            return NULL;
        }
        if (kind != SQL_JOIN_CROSS) {
            if (accept_kw(p, "ON")) {
                if (!(j->on = parse_expr(p, 0)))
                    return NULL;
            } else if (accept_kw(p, "USING")) {
                if (!expect(p, TK_LPAREN, "'(' after USING") ||
                    !parse_names(p, "USING list", &j->using_cols, &j->nusing) ||
                    !expect(p, TK_RPAREN, "')' to close the USING list"))
                    return NULL;
            } else if (r->kind != SQL_FROM_UNNEST) {
                char b[64];
                perr(p, p->tok.off,
                     "expected ON or USING after the joined table but found %s (JOIN t ON "
                     "a.x = t.x, or CROSS JOIN for every pair of rows)",
                     tok_desc(p, b, sizeof b));
                return NULL;
            }
        }
        l = j;
    }
    return l;
}

/* ---- GROUP BY with GROUPING SETS, ROLLUP, CUBE ---- */

#define MAX_GSETS 4096

struct gsets {
    size_t n, cap;
    struct sql_gset *v;
};

static bool gsets_add(struct parser *p, struct gsets *g, struct sql_node **keys, size_t n,
                      uint32_t pos)
{
    if (g->n == MAX_GSETS) {
        perr(p, pos, "more than %d grouping sets (group by fewer columns in CUBE)", MAX_GSETS);
        return false;
    }
    if (!(g->v = grown(p, g->v, g->n, &g->cap, sizeof *g->v)))
        return false;
    struct sql_node **k = arena_alloc(p->a, sizeof *k * (n ? n : 1));
    if (!k)
        return oom(p), false;
    if (n)
        memcpy(k, keys, sizeof *k * n);
    g->v[g->n++] = (struct sql_gset){n, k};
    return true;
}

/* ( expr, ... ) or () or one expr: one grouping set's keys */
static bool parse_gset(struct parser *p, struct nvec *v)
{
    if (p->tok.kind == TK_LPAREN && peek_tok(p).kind == TK_RPAREN) {
        next(p);
        next(p);
        return true;
    }
    if (p->tok.kind == TK_LPAREN) {
        /* (a, b) is a set; (a) + b is an expression: try the set first */
        struct sql_lexer save = p->lx;
        struct sql_token tok = p->tok;
        next(p);
        size_t n0 = v->n;
        for (;;) {
            if (!nvec_push(p, v, parse_expr(p, 0)))
                return false;
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
        if (p->tok.kind == TK_RPAREN && v->n - n0 > 1) {
            next(p);
            return true;
        }
        p->lx = save; /* one expression after all */
        p->tok = tok;
        v->n = n0;
    }
    return nvec_push(p, v, parse_expr(p, 0));
}

/* The sets of one GROUP BY element, into out (replacing it). */
static bool parse_group_elem(struct parser *p, struct gsets *out)
{
    uint32_t pos = p->tok.off;
    out->n = 0;
    struct nvec v;
    nvec_init(&v, "GROUP BY terms", SQL_MAX_ITEMS);
    bool rollup = is_kw(p, "ROLLUP"), cube = is_kw(p, "CUBE");
    if (is_kw(p, "GROUPING") && peek_tok(p).kind == TK_IDENT) {
        next(p);
        if (!expect_kw(p, "SETS") || !expect(p, TK_LPAREN, "'(' after GROUPING SETS"))
            return false;
        for (;;) {
            v.n = 0;
            if (!parse_gset(p, &v) || !gsets_add(p, out, v.v, v.n, pos))
                return false;
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
        return expect(p, TK_RPAREN, "')' to close GROUPING SETS");
    }
    if ((rollup || cube) && peek_tok(p).kind == TK_LPAREN) {
        next(p);
        next(p);
        for (;;) {
            if (!nvec_push(p, &v, parse_expr(p, 0)))
                return false;
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
        if (!expect(p, TK_RPAREN, rollup ? "')' to close ROLLUP" : "')' to close CUBE"))
            return false;
        if (rollup) {
            for (size_t k = v.n + 1; k-- > 0;)
                if (!gsets_add(p, out, v.v, k, pos))
                    return false;
            return true;
        }
        if (v.n > 12) {
            perr(p, pos,
                 "CUBE of %zu terms makes %.0f grouping sets, more than %d (use ROLLUP "
                 "or GROUPING SETS)",
                 v.n, (double)(1ull << (v.n < 63 ? v.n : 63)), MAX_GSETS);
            return false;
        }
        struct sql_node *keys[12];
        for (size_t m = (1u << v.n); m-- > 0;) {
            size_t k = 0;
            for (size_t i = 0; i < v.n; i++)
                if (m & (1u << (v.n - 1 - i)))
                    keys[k++] = v.v[i];
            if (!gsets_add(p, out, keys, k, pos))
                return false;
        }
        return true;
    }
    if (!parse_gset(p, &v))
        return false;
    return gsets_add(p, out, v.v, v.n, pos);
}

/* GROUP BY terms; with GROUPING SETS, ROLLUP or CUBE among them, the cross
 * product of every term's sets goes to s->gsets. */
static bool parse_group_by(struct parser *p, struct sql_stmt *s)
{
    bool sets = false;
    struct gsets acc = {0, 0, NULL}, elem = {0, 0, NULL}, next_acc;
    if (!gsets_add(p, &acc, NULL, 0, p->tok.off))
        return false;
    struct nvec flat;
    nvec_init(&flat, "GROUP BY terms", SQL_MAX_ITEMS);
    for (;;) {
        uint32_t pos = p->tok.off;
        sets |= is_kw(p, "ROLLUP") || is_kw(p, "CUBE") ||
                (is_kw(p, "GROUPING") && peek_tok(p).kind == TK_IDENT);
        if (!parse_group_elem(p, &elem))
            return false;
        for (size_t k = 0; elem.n == 1 && k < elem.v[0].n; k++)
            if (!nvec_push(p, &flat, elem.v[0].keys[k]))
                return false;
        memset(&next_acc, 0, sizeof next_acc);
        struct sql_node *keys[SQL_MAX_ITEMS];
        for (size_t a = 0; a < acc.n; a++)
            for (size_t e = 0; e < elem.n; e++) {
                size_t k = acc.v[a].n + elem.v[e].n;
                if (k > SQL_MAX_ITEMS) {
                    perr(p, pos, "too many GROUP BY terms: more than %d", SQL_MAX_ITEMS);
                    return false;
                }
                memcpy(keys, acc.v[a].keys, sizeof *keys * acc.v[a].n);
                memcpy(keys + acc.v[a].n, elem.v[e].keys, sizeof *keys * elem.v[e].n);
                if (!gsets_add(p, &next_acc, keys, k, pos))
                    return false;
            }
        acc = next_acc;
        if (p->tok.kind != TK_COMMA)
            break;
        next(p);
    }
    if (sets) {
        s->gsets = acc.v;
        s->ngsets = acc.n;
        return true;
    }
    s->group = arena_alloc(p->a, sizeof *s->group * (flat.n ? flat.n : 1));
    if (!s->group)
        return oom(p), false;
    memcpy(s->group, flat.v, sizeof *s->group * flat.n);
    s->ngroup = flat.n;
    return true;
}

/* SELECT ... [FROM ...] [WHERE ...] [GROUP BY ...] [HAVING ...] */
static bool parse_block(struct parser *p, struct sql_stmt *s)
{
    s->pos = p->tok.off;
    if (!expect_kw(p, "SELECT"))
        return false;
    if (accept_kw(p, "DISTINCT"))
        s->distinct = true;
    else
        accept_kw(p, "ALL");
    /* select list */
    size_t cap = 8;
    s->items = arena_alloc(p->a, sizeof *s->items * cap);
    if (!s->items)
        return oom(p), false;
    for (;;) {
        if (s->nitems == SQL_MAX_ITEMS) {
            perr(p, p->tok.off, "too many terms in the SELECT list: more than %d", SQL_MAX_ITEMS);
            return false;
        }
        if (!(s->items = grown(p, s->items, s->nitems, &cap, sizeof *s->items)))
            return false;
        struct sql_parse_item *it = &s->items[s->nitems++];
        it->pos = p->tok.off;
        it->alias = NULL;
        it->expr = parse_expr(p, 0);
        if (!it->expr)
            return false;
        if (accept_kw(p, "AS") ||
            ((p->tok.kind == TK_IDENT && !is_reserved(p, &p->tok)) || p->tok.kind == TK_QIDENT)) {
            if (p->tok.kind != TK_IDENT && p->tok.kind != TK_QIDENT) {
                perr(p, p->tok.off, "expected an alias after AS");
                return false;
            }
            it->alias = ident_text(p, &p->tok);
            next(p);
            if (!it->alias)
                return false;
        }
        if (p->tok.kind != TK_COMMA)
            break;
        next(p);
    }
    s->schema_name = "";
    s->table = "";
    if (accept_kw(p, "FROM")) {
        if (!(s->from = parse_from_item(p)))
            return false;
        const struct sql_from *f = s->from;
        if (f->kind == SQL_FROM_TABLE && f->ncol_aliases == 0) {
            /* one plain table: the single-table path reads these */
            s->schema_name = f->schema_name;
            s->table = f->table;
            s->table_alias = f->alias;
        }
    }
    if (accept_kw(p, "WHERE")) {
        s->where = parse_expr(p, 0);
        if (!s->where)
            return false;
    }
    if (is_kw(p, "GROUP")) {
        next(p);
        if (!expect_kw(p, "BY") || !parse_group_by(p, s))
            return false;
    }
    if (accept_kw(p, "HAVING")) {
        s->having = parse_expr(p, 0);
        if (!s->having)
            return false;
    }
    if (is_kw(p, "WINDOW") && !parse_window_clause(p, s))
        return false;
    return !p->failed;
}

static bool parse_order_limit(struct parser *p, struct sql_stmt *s)
{
    if (is_kw(p, "ORDER")) {
        next(p);
        if (!expect_kw(p, "BY"))
            return false;
        size_t ocap = 4;
        s->order = arena_alloc(p->a, sizeof *s->order * ocap);
        if (!s->order)
            return oom(p), false;
        for (;;) {
            if (s->norder == SQL_MAX_ITEMS) {
                perr(p, p->tok.off, "too many ORDER BY terms: more than %d", SQL_MAX_ITEMS);
                return false;
            }
            if (!(s->order = grown(p, s->order, s->norder, &ocap, sizeof *s->order)))
                return false;
            struct sql_order_parse *o = &s->order[s->norder++];
            o->expr = parse_expr(p, 0);
            o->desc = false;
            if (!o->expr)
                return false;
            if (accept_kw(p, "DESC"))
                o->desc = true;
            else
                accept_kw(p, "ASC");
            if (accept_kw(p, "NULLS")) {
                if (!accept_kw(p, "FIRST") && !accept_kw(p, "LAST")) {
                    perr(p, p->tok.off, "expected FIRST or LAST after NULLS");
                    return false;
                }
            }
            if (p->tok.kind != TK_COMMA)
                break;
            next(p);
        }
    }
    if (accept_kw(p, "LIMIT")) {
        s->limit = parse_expr(p, 0);
        if (!s->limit)
            return false;
    }
    if (accept_kw(p, "OFFSET")) {
        s->offset = parse_expr(p, 0);
        if (!s->offset)
            return false;
        if (!accept_kw(p, "ROWS"))
            accept_kw(p, "ROW");
    }
    if (accept_kw(p, "FETCH")) {
        if (!accept_kw(p, "FIRST") && !accept_kw(p, "NEXT")) {
            perr(p, p->tok.off, "expected FIRST or NEXT after FETCH");
            return false;
        }
        s->limit = parse_expr(p, 0);
        if (!s->limit)
            return false;
        if (!accept_kw(p, "ROWS") && !accept_kw(p, "ROW")) {
            perr(p, p->tok.off, "expected ROWS");
            return false;
        }
        if (!expect_kw(p, "ONLY"))
            return false;
    }
    return !p->failed;
}

/* WITH name [(col, ...)] AS (query), ... */
static bool parse_ctes(struct parser *p, struct sql_stmt *s)
{
    size_t cap = 4;
    s->ctes = arena_alloc(p->a, sizeof *s->ctes * cap);
    if (!s->ctes)
        return oom(p), false;
    if (is_kw(p, "RECURSIVE")) {
        perr(p, p->tok.off,
             "WITH RECURSIVE is not supported (Druid SQL has no recursive queries)");
        return false;
    }
    for (;;) {
        if (p->tok.kind != TK_IDENT && p->tok.kind != TK_QIDENT) {
            char b[64];
            perr(p, p->tok.off, "expected a name for the WITH query but found %s",
                 tok_desc(p, b, sizeof b));
            return false;
        }
        if (s->nctes == SQL_MAX_ITEMS) {
            perr(p, p->tok.off, "too many WITH queries: more than %d", SQL_MAX_ITEMS);
            return false;
        }
        if (!(s->ctes = grown(p, s->ctes, s->nctes, &cap, sizeof *s->ctes)))
            return false;
        struct sql_cte *c = &s->ctes[s->nctes++];
        memset(c, 0, sizeof *c);
        c->pos = p->tok.off;
        if (!(c->name = ident_text(p, &p->tok)))
            return false;
        next(p);
        for (size_t i = 0; i + 1 < s->nctes; i++)
            if (strcmp(s->ctes[i].name, c->name) == 0) {
                perr(p, c->pos, "WITH query '%s' is defined twice (give each its own name)",
                     c->name);
                return false;
            }
        if (p->tok.kind == TK_LPAREN) {
            next(p);
            if (!parse_names(p, "column names", &c->cols, &c->ncols) ||
                !expect(p, TK_RPAREN, "')' to close the column names"))
                return false;
        }
        if (!expect_kw(p, "AS") || !expect(p, TK_LPAREN, "'(' before the WITH query"))
            return false;
        if (!starts_query(p)) {
            char b[64];
            perr(p, p->tok.off, "expected SELECT in the WITH query but found %s",
                 tok_desc(p, b, sizeof b));
            return false;
        }
        if (!(c->q = parse_subquery(p)) || !expect(p, TK_RPAREN, "')' to close the WITH query"))
            return false;
        if (p->tok.kind != TK_COMMA)
            return true;
        next(p);
    }
}

static bool parse_query(struct parser *p, struct sql_stmt *s);

/* One part of a query: a block, or a parenthesized query. */
static bool parse_part(struct parser *p, struct sql_stmt *s)
{
    if (p->tok.kind == TK_LPAREN) {
        next(p);
        if (++p->depth > SQL_MAX_NESTING) {
            perr(p, p->tok.off, NESTING_MSG);
            return false;
        }
        bool ok = parse_query(p, s) && expect(p, TK_RPAREN, "')'");
        p->depth--;
        return ok;
    }
    return parse_block(p, s);
}

/* Makes s `SELECT * FROM <from>` (a block over the rows of other blocks). */
static bool star_over(struct parser *p, struct sql_stmt *s, struct sql_from *from)
{
    struct sql_parse_item *it = arena_zalloc(p->a, sizeof *it);
    struct sql_node *star = mk(p, NK_STAR, s->pos);
    if (!it || !star)
        return oom(p), false;
    it->expr = star;
    it->pos = s->pos;
    s->items = it;
    s->nitems = 1;
    s->from = from;
    s->schema_name = "";
    s->table = "";
    return true;
}

/* A copy of s as a new block, s keeping its WITH list. */
static struct sql_stmt *move_block(struct parser *p, struct sql_stmt *s)
{
    struct sql_stmt *b = new_block(p);
    if (!b)
        return NULL;
    *b = *s;
    memset(&b->owner, 0, sizeof b->owner); /* the top block's arena stays with s */
    b->nctes = 0;
    b->ctes = NULL;
    b->explain = false;
    size_t nctes = s->nctes;
    struct sql_cte *ctes = s->ctes;
    s->distinct = false;
    s->items = NULL;
    s->nitems = 0;
    s->where = s->having = s->limit = s->offset = NULL;
    s->group = NULL;
    s->ngroup = 0;
    s->order = NULL;
    s->norder = 0;
    s->from = NULL;
    s->schema_name = s->table = "";
    s->table_alias = NULL;
    s->nctes = nctes;
    s->ctes = ctes;
    return b;
}

/* [WITH ...] part [UNION [ALL] part ...] [ORDER BY ...] [LIMIT ...] into s. */
static bool parse_query(struct parser *p, struct sql_stmt *s)
{
    if (accept_kw(p, "WITH") && !parse_ctes(p, s))
        return false;
    if (s->nctes && !starts_query(p) && p->tok.kind != TK_LPAREN) {
        char b[64];
        perr(p, p->tok.off, "expected SELECT after the WITH queries but found %s",
             tok_desc(p, b, sizeof b));
        return false;
    }
    struct sql_stmt *first = s;
    if (s->nctes && p->tok.kind == TK_LPAREN) {
        /* WITH ... (SELECT ...): the part is its own block under the WITH list */
        if (!(first = new_block(p)) || !parse_part(p, first) || !star_over(p, s, NULL))
            return false;
        struct sql_from *f = new_from(p, SQL_FROM_SUBQUERY, first->pos);
        if (!f)
            return false;
        f->sub = first;
        s->from = f;
    } else if (!parse_part(p, s)) {
        return false;
    }
    if (is_kw(p, "INTERSECT") || is_kw(p, "EXCEPT") || is_kw(p, "MINUS")) {
        perr(p, p->tok.off,
             "INTERSECT and EXCEPT are not supported (Druid SQL has neither; "
             "use IN (SELECT ...) or NOT IN (SELECT ...))");
        return false;
    }
    if (is_kw(p, "UNION")) {
        struct sql_from *u = new_from(p, SQL_FROM_UNION, p->tok.off);
        struct sql_stmt *b0 = u ? move_block(p, s) : NULL;
        if (!b0)
            return false;
        size_t cap = 4;
        u->parts = arena_alloc(p->a, sizeof *u->parts * cap);
        if (!u->parts)
            return oom(p), false;
        u->parts[u->nparts++] = b0;
        int mode = -1; /* 1 = ALL, 0 = distinct */
        while (is_kw(p, "UNION")) {
            uint32_t upos = p->tok.off;
            next(p);
            int m = accept_kw(p, "ALL") ? 1 : (accept_kw(p, "DISTINCT"), 0);
            if (mode >= 0 && m != mode) {
                perr(p, upos,
                     "UNION and UNION ALL mixed in one query (use one of them, or put "
                     "parentheses around the parts to combine first)");
                return false;
            }
            mode = m;
            if (u->nparts == SQL_MAX_ITEMS) {
                perr(p, upos, "too many UNION parts: more than %d", SQL_MAX_ITEMS);
                return false;
            }
            if (!(u->parts = grown(p, u->parts, u->nparts, &cap, sizeof *u->parts)))
                return false;
            struct sql_stmt *b = new_block(p);
            if (!b || !parse_part(p, b))
                return false;
            u->parts[u->nparts++] = b;
        }
        u->distinct = mode == 0;
        if (!star_over(p, s, u))
            return false;
        s->distinct = u->distinct;
    }
    if ((is_kw(p, "ORDER") || is_kw(p, "LIMIT") || is_kw(p, "OFFSET") || is_kw(p, "FETCH")) &&
        (s->norder || s->limit || s->offset)) {
        /* (SELECT ... LIMIT 5) ORDER BY x: the outer terms apply to the inner rows */
        struct sql_from *f = new_from(p, SQL_FROM_SUBQUERY, s->pos);
        struct sql_stmt *b = f ? move_block(p, s) : NULL;
        if (!b || !star_over(p, s, f))
            return false;
        f->sub = b;
    }
    return parse_order_limit(p, s);
}

static struct sql_stmt *parse_subquery(struct parser *p)
{
    if (++p->depth > SQL_MAX_NESTING) {
        perr(p, p->tok.off, NESTING_MSG);
        return NULL;
    }
    struct sql_stmt *s = new_block(p);
    bool ok = s && parse_query(p, s);
    p->depth--;
    return ok ? s : NULL;
}

int sql_parse_stmt_into(const char *text, size_t len, struct arena *a, struct sql_stmt *s,
                        struct lerr *err)
{
    struct parser p;
    s->text = text;
    s->len = len;
    s->mem = a;
    parser_init(&p, text, len, a, err);
    p.statement = true;
    bool explain = false;
    if (!p.failed && accept_kw(&p, "EXPLAIN")) {
        explain = true;
        if (expect_kw(&p, "PLAN"))
            expect_kw(&p, "FOR");
    }
    s->schema_name = "";
    s->table = "";
    if (!p.failed && parse_query(&p, s)) {
        while (p.tok.kind == TK_SEMI)
            next(&p);
        if (p.tok.kind != TK_EOF) {
            char b[64];
            perr(&p, p.tok.off, "unexpected %s after the end of the query",
                 tok_desc(&p, b, sizeof b));
        }
    }
    if (p.failed)
        return err && err->code ? err->code : LERR_INVALID;
    s->explain = explain;
    return 0;
}

int sql_parse_select(const char *text, size_t len, struct sql_stmt **out, struct lerr *err)
{
    return sql_parse_select_in(text, len, NULL, out, err);
}

int sql_parse_select_in(const char *text, size_t len, struct mem_budget *budget,
                        struct sql_stmt **out, struct lerr *err)
{
    *out = NULL;
    if (len > UINT32_MAX / 2)
        return lerr_set(err, LERR_INVALID, "query too long");
    struct sql_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    arena_init(&s->owner.arena, 16 * 1024, 0);
    arena_set_budget(&s->owner.arena, budget); /* empty: cannot be refused */
    char *copy = arena_strndup(&s->owner.arena, text, len);
    if (!copy) {
        sql_stmt_free(s);
        return lerr_set(err, LERR_NOMEM, "out of memory");
    }
    if (sql_parse_stmt_into(copy, len, &s->owner.arena, s, err)) {
        sql_stmt_free(s);
        return err && err->code ? err->code : LERR_INVALID;
    }
    *out = s;
    return 0;
}

void sql_stmt_free(struct sql_stmt *s)
{
    if (!s)
        return;
    arena_destroy(&s->owner.arena);
    free(s);
}

void sql_stmt_table(const struct sql_stmt *s, const char **schema_name, const char **table)
{
    if (schema_name)
        *schema_name = s->schema_name ? s->schema_name : "";
    if (table)
        *table = s->table ? s->table : "";
}
