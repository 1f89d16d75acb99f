/*
 * sql_int.h — private to src/sql/: tokens, the tree shared by the parser,
 * the binder and the evaluator, the function table (one X-macro), and the
 * helpers the func*.c files share. Nothing outside src/sql/ includes it.
 *
 * One node type serves every stage (as SQLite's Expr does): the parser
 * fills kind/name/args/pos, the binder resolves names, types the tree,
 * inserts casts, picks an evaluation function per node (`fn`) and folds
 * constants; the evaluator then just calls root->fn.
 *
 * The files, bottom up: each calls only files on the lines before its own
 * (no circles between files; tests/arch/check_layers.py checks it):
 *
 *   lex.c, functab.c, json_scan.c   tokens; the function table (names,
 *               arities, flags, variants); the JSON text scanner
 *   value.c, parse.c   values, casts and their text (JSON included); the
 *               parser, which names call nodes from the function table
 *   bind_util.c, eval.c   the binders' services (errors, argument checks,
 *               coercion, folding, owners); running compiled expressions, and
 *               the map of a scalar function over multi-value strings
 *   func_sketch.c   DataSketches in SQL: the sketch aggregates'
 *               accumulators and literal arguments, the functions over
 *               sketch values
 *   agg.c, func_json.c, func_str.c, func_time.c   aggregators; binders
 *   func_array.c   arrays and multi-value strings (STRING_TO_ARRAY's
 *               delimiter compiles through func_str.c's regex translation);
 *               func_lookup.c  LOOKUP() over sql_options.lookups
 *   func.c      the core binders and sql_func_binders[], the binder of
 *               every function
 *   bind.c      the binder: names, calls through sql_func_binders[],
 *               aggregate calls, compiled expressions
 *   select.c    binding a SELECT block
 *   from.c      the statement tree beyond one block: FROM tree and WITH
 *               accessors, expression subqueries, join conditions, UNNEST
 *   grouping.c  GROUPING SETS, ROLLUP and CUBE as a UNION ALL of blocks
 *   window.c    window calls: a block with OVER becomes an outer block over
 *               the window step (FROM WINDOW) over an inner block
 */
#ifndef LODESTAR_SQL_INT_H
#define LODESTAR_SQL_INT_H

#include "sql/sql.h"
#include "util/time.h"

#include <regex.h>

/* ---- tokens ------------------------------------------------------------ */

// clang-format off
enum tok_kind {
    TK_EOF,
    TK_IDENT,     /* unquoted word (keywords too: the parser decides) */
    TK_QIDENT,    /* "quoted identifier" (text has "" escapes undone lazily) */
    TK_STRING,    /* 'text' */
    TK_INTEGER,
    TK_DECIMAL,   /* 1.5, 1e3, .5 */
    TK_PARAM,     /* ? */
    TK_LPAREN, TK_RPAREN, TK_COMMA, TK_DOT, TK_SEMI, TK_LBRACKET, TK_RBRACKET,
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT, TK_CONCAT,
    TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE, TK_COLON,
    TK_ERROR      /* unterminated string/comment, stray character */
};
// clang-format on

struct sql_token {
    uint8_t kind;
    uint32_t off, len;  /* byte slice of the source text */
    uint32_t line, col; /* 1-based; col counts characters */
};

struct sql_lexer {
    const char *src;
    size_t len;
    size_t off;
    uint32_t line, col;
};

void sql_lex_init(struct sql_lexer *lx, const char *src, size_t len);
/* Next token; TK_ERROR tokens carry a message in *why (static text). */
void sql_lex_next(struct sql_lexer *lx, struct sql_token *t, const char **why);
/* Case-insensitive keyword test for an unquoted word token. */
bool sql_tok_is(const struct sql_lexer *lx, const struct sql_token *t, const char *kw);

/* ---- tree ---------------------------------------------------------------- */

enum node_kind {
    NK_LIT,     /* literal or folded constant: k */
    NK_IDENT,   /* unbound name: name/name_len (qualifier in qual) */
    NK_REF,     /* bound input field: field */
    NK_PARAM,   /* ?: field = parameter index */
    NK_CALL,    /* function or operator: func, args */
    NK_STAR,    /* the * of COUNT(*) or SELECT * */
    NK_AGGREF,  /* an aggregate call lifted out of a query: field = agg index */
    NK_SUBQUERY /* (SELECT ...) in an expression: aux = its struct sql_stmt,
                 * ival = enum sql_subquery_kind; replaced by its result
                 * (sql_subquery_resolve) before the block is bound */
};

/* node flags */
#define NF_NOT 0x01      /* NOT IN, NOT LIKE, NOT BETWEEN */
#define NF_DISTINCT 0x02 /* COUNT(DISTINCT x) */
#define NF_HAS_ELSE 0x04 /* CASE ... ELSE */
#define NF_QUOTED 0x08   /* identifier was "quoted" */
#define NF_OVER 0x10     /* a window call: fn(...) OVER ...; aux is its struct sql_over */
#define NF_COLREF 0x20   /* an identifier naming input column `field` by position (window.c) */
#define NF_MV_ANY \
    0x40                /* a predicate over a multi-value column's values: args[0] is it over \
                          * one value, aux the NF_MV_ELEM node, ival 1 when all must hold */
#define NF_MV_ELEM 0x80 /* the value being tried; args[0] is the column's reference */

/* Deepest tree the parser accepts: binding and evaluation recurse once per
 * level, and ingestion threads have ordinary stacks. */
#define SQL_MAX_HEIGHT 1000

struct sql_node;
struct sql_ectx;
typedef void (*sql_eval_fn)(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out);

struct sql_node {
    sql_eval_fn fn;
    uint8_t kind;
    uint8_t type; /* bound result type */
    uint8_t flags;
    uint8_t ttype; /* CAST target / JSON_VALUE RETURNING type (0 = none) */
    uint16_t func; /* index into sql_funcs[] for NK_CALL */
    uint16_t nargs;
    uint32_t pos;    /* byte offset in the source text */
    uint32_t height; /* levels below this node: bounds recursion in bind/eval */
    uint32_t field;  /* NK_REF field, NK_PARAM index, NK_AGGREF agg */
    uint32_t hash;   /* structural hash, when sql_node_hash_tree() stored it */
    struct sql_node **args;
    struct sql_node *filter; /* aggregate FILTER (WHERE ...) */
    const char *name;        /* identifier text (quotes removed) / call name */
    uint32_t name_len;
    const char *qual; /* table qualifier of an identifier, or NULL */
    uint32_t qual_len;
    struct sql_value k; /* NK_LIT */
    void *aux;          /* pre-compiled literal argument: regex, tz, period, ... */
    int64_t ival;       /* small per-node integer (agg max bytes, unit, ...) */
};

/* Evaluation context: one per eval call; never allocates except from mem. */
struct sql_ectx {
    const struct sql_value *row;         /* row mode */
    const struct sql_value *const *cols; /* column mode */
    uint32_t r;
    struct arena *mem;
    int rc; /* first run-time error */
    struct lerr *err;
    const struct sql_value *params;
    const struct sql_value *mv_elem;     /* NF_MV_ANY: the value being tried */
    const struct sql_mv_frame *mv_frame; /* the multi-value maps being evaluated */
};

/*
 * A scalar function over multi-value strings, mapped over their values (as
 * Druid does: UPPER(tags) is the list of the upper-cased values). The call
 * is bound over one value of each multi-value argument (a slot node, typed
 * VARCHAR) and wrapped in a map node: args[0] the call, args[1..] the
 * multi-value arguments. The map evaluates each argument to its list (no
 * values: one NULL, so the function sees NULL, as Druid's doc says), the
 * call once per combination of values (the Cartesian product when several
 * arguments are multi-value, first argument outermost), and gives the
 * results as an ARRAY of VARCHAR, a multi-value string: NULL when every
 * argument had no values and the call gave NULL. A slot reads its value
 * from the innermost frame of its map (slot->aux; slot->ival the argument's
 * index; slot->args[0] the argument, for EXPLAIN and equality).
 */
struct sql_mv_frame {
    const struct sql_node *map;
    const struct sql_value *vals;
    const struct sql_mv_frame *up;
};
#define SQL_MV_MAX_INPUTS 8 /* multi-value arguments of one mapped call */
void sql_eval_mv_map(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out);
void sql_eval_mv_slot(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out);

static inline void sql_eval_node(const struct sql_node *n, struct sql_ectx *c,
                                 struct sql_value *out)
{
    n->fn(n, c, out);
}
/* Records a run-time error (the row's result is NULL). */
void sql_rt_error(struct sql_ectx *c, const char *fmt, ...) LS_PRINTF(2, 3);

/* Evaluates an argument, reading literals and well-typed field values in
 * place: most arguments are one of those, and this saves an indirect call. */
static inline void sql_eval_arg(const struct sql_node *a, struct sql_ectx *c, struct sql_value *v)
{
    if (a->kind == NK_LIT) {
        *v = a->k;
        return;
    }
    if (a->kind == NK_REF) {
        const struct sql_value *x = c->row ? &c->row[a->field] : &c->cols[a->field][c->r];
        if (!x->is_null && x->type == a->type) {
            *v = *x;
            return;
        }
    }
    a->fn(a, c, v);
}

/* Evaluate argument i into v; on NULL make *out NULL of the node's type and
 * return from the calling eval function. Most functions are strict. */
#define SQL_ARG(i, v)                \
    struct sql_value v;              \
    sql_eval_arg(n->args[i], c, &v); \
    if (v.is_null) {                 \
        *out = sql_null(n->type);    \
        return;                      \
    }

/* ---- owners: where compiled things live ---------------------------------- */

struct sql_cleanup {
    struct sql_cleanup *next;
    void (*fn)(void *);
    void *p;
};

struct sql_owner {
    struct arena arena;
    struct sql_cleanup *cleanups;
};

struct sql_expr {
    struct sql_owner *owner; /* shared by sub-expressions and SELECT parts */
    bool owns;               /* free the owner with the expression */
    struct sql_node *root;
    uint8_t type;
    uint32_t *refs;
    size_t nrefs;
    struct sql_agg_call *agg;
    const char *text; /* source (copied), for run-time messages */
    /* Evaluating it may allocate (inner string results: LENGTH(REPEAT(..)),
     * LOWER(x) = 'a') but its result holds no bytes: what one row allocates
     * is garbage once the row is done, and the batch evaluators free it
     * before the next row, as a per-row memory context. */
    bool row_garbage;
};

bool sql_owner_cleanup(struct sql_owner *o, void (*fn)(void *), void *p);

/* ---- parser ------------------------------------------------------------- */

struct sql_parse_item {
    struct sql_node *expr;
    const char *alias; /* NUL-terminated, or NULL */
    uint32_t pos;
};

struct sql_order_parse {
    struct sql_node *expr;
    bool desc;
    uint8_t nulls; /* 0 as the default, 1 NULLS FIRST, 2 NULLS LAST (window ORDER BY) */
};

/* A window as written: OVER (...), OVER w, or WINDOW w AS (...). */
struct sql_over {
    const char *ref; /* OVER w / OVER (w ...): the named window it builds on, or NULL */
    uint32_t ref_len;
    bool bare; /* OVER w (without parentheses): w as it is, its frame included */
    uint32_t pos;
    size_t npart;
    struct sql_node **part;
    size_t norder;
    struct sql_order_parse *order;
    bool has_frame, rows;
    uint8_t start, end; /* enum sql_frame_bound */
    int64_t start_n, end_n;
    uint32_t frame_pos;
};

struct sql_named_window {
    const char *name; /* NUL-terminated */
    uint32_t pos;
    struct sql_over *spec;
};

/*
 * One SELECT block. `text`/`len` are the whole statement's (positions are
 * offsets into it). FROM: `from` is the tree (NULL without FROM); when it
 * is one plain table, schema_name/table/table_alias name it as well (""
 * otherwise), which is all the single-table path reads. A UNION is a block
 * `SELECT * FROM <SQL_FROM_UNION of the parts>` carrying the ORDER BY and
 * LIMIT that follow the last part. WITH lists attach to the block they
 * precede; a FROM name is looked up in the WITH lists of the enclosing
 * blocks (innermost first) before the tables.
 */
struct sql_stmt {
    struct sql_owner owner; /* the top block's (sub-blocks share its arena) */
    const char *text;
    size_t len;
    uint32_t pos;      /* where the block starts */
    struct arena *mem; /* the statement's arena (the top block's owner) */
    bool explain, distinct;
    const char *schema_name, *table, *table_alias;
    struct sql_from *from;
    size_t nctes;
    struct sql_cte *ctes;
    /* GROUP BY GROUPING SETS / ROLLUP / CUBE: the sets (`group` is then
     * empty); sql_stmt_expand_grouping() turns the block into a UNION ALL
     * of one block per set. */
    size_t ngsets;
    struct sql_gset {
        size_t n;
        struct sql_node **keys;
    } * gsets;
    size_t nitems;
    struct sql_parse_item *items;
    struct sql_node *where, *having;
    size_t ngroup;
    struct sql_node **group;
    size_t norder;
    struct sql_order_parse *order;
    struct sql_node *limit, *offset;
    size_t nwindows; /* WINDOW w AS (...), ...: read by sql_stmt_plan_windows() */
    struct sql_named_window *windows;
};

/* Parses a statement from text (which must outlive s) into s, nodes in a. */
int sql_parse_stmt_into(const char *text, size_t len, struct arena *a, struct sql_stmt *s,
                        struct lerr *err);
/* Parses one expression (the whole text); nodes live in arena a. */
int sql_parse_expr_text(const char *text, size_t len, struct arena *a, struct sql_node **out,
                        struct lerr *err);
/* Sets err with "<what> at line L, column C<hint>" for byte offset `off`. */
int sql_error_at(struct lerr *err, const char *text, size_t len, size_t off, const char *fmt, ...)
    LS_PRINTF(5, 6);

struct sql_node *sql_node_new(struct arena *a, int kind, uint32_t pos);
/* A call node with a copy of args[0..nargs-1]; NULL when out of memory. */
struct sql_node *sql_node_call(struct arena *a, int func, uint32_t pos, size_t nargs,
                               struct sql_node *const *args);

/* ---- function table ---------------------------------------------------- */

struct sql_bctx;

/* flags */
#define FF_OP 0x01          /* an operator or syntax: not callable by name */
#define FF_AGG 0x02         /* an aggregate */
#define FF_UNSUPPORTED 0x04 /* known to Druid, refused here (sketches) */
#define FF_NOFOLD 0x08      /* never constant-fold */
#define FF_LAZY 0x10        /* handles its own NULL arguments */
#define FF_WINDOW 0x20      /* a window function: only with OVER (variant: enum sql_win_func) */

typedef int (*sql_bind_fn)(struct sql_bctx *b, struct sql_node *n);

/* The variants of sql_bind_array_fn (func_array.c): the operation, with
 * AV_MV set for its multi-value string (MV_*) form. */
#define AV_MV 0x100
// clang-format off
enum sql_array_op {
    AV_LENGTH, AV_OFFSET, AV_ORDINAL, AV_CONTAINS, AV_OVERLAP, AV_IN, AV_OFFSET_OF,
    AV_ORDINAL_OF, AV_PREPEND, AV_APPEND, AV_CONCAT, AV_SLICE, AV_TO_STRING, AV_FROM_STRING,
    AV_TO_MV, AV_TO_ARRAY, AV_FILTER_ONLY, AV_FILTER_NONE,
    AV_MV_LENGTH = AV_LENGTH | AV_MV, AV_MV_OFFSET = AV_OFFSET | AV_MV,
    AV_MV_ORDINAL = AV_ORDINAL | AV_MV, AV_MV_CONTAINS = AV_CONTAINS | AV_MV,
    AV_MV_OVERLAP = AV_OVERLAP | AV_MV, AV_MV_OFFSET_OF = AV_OFFSET_OF | AV_MV,
    AV_MV_ORDINAL_OF = AV_ORDINAL_OF | AV_MV, AV_MV_PREPEND = AV_PREPEND | AV_MV,
    AV_MV_APPEND = AV_APPEND | AV_MV, AV_MV_CONCAT = AV_CONCAT | AV_MV,
    AV_MV_SLICE = AV_SLICE | AV_MV, AV_MV_TO_STRING = AV_TO_STRING | AV_MV,
    AV_MV_FROM_STRING = AV_FROM_STRING | AV_MV, AV_MV_TO_ARRAY = AV_TO_ARRAY | AV_MV,
    AV_MV_FILTER_ONLY = AV_FILTER_ONLY | AV_MV, AV_MV_FILTER_NONE = AV_FILTER_NONE | AV_MV
};
// clang-format on

/*
 * X(id, name, min args, max args (-1 = any), flags, binder, variant)
 * The binder checks and coerces the arguments, sets n->type and n->fn.
 * `variant` tells one binder which of its family this is.
 */
#define SQL_FUNC_MAP(X)                                                                         \
    /* operators and syntax */                                                                  \
    X(F_ADD, "+", 2, 2, FF_OP, sql_bind_arith, 0)                                               \
    X(F_SUB, "-", 2, 2, FF_OP, sql_bind_arith, 1)                                               \
    X(F_MUL, "*", 2, 2, FF_OP, sql_bind_arith, 2)                                               \
    X(F_DIV, "/", 2, 2, FF_OP, sql_bind_arith, 3)                                               \
    X(F_MODOP, "%", 2, 2, FF_OP, sql_bind_arith, 4)                                             \
    X(F_NEG, "NEG", 1, 1, FF_OP, sql_bind_neg, 0)                                               \
    X(F_EQ, "=", 2, 2, FF_OP, sql_bind_cmp, 0)                                                  \
    X(F_NE, "<>", 2, 2, FF_OP, sql_bind_cmp, 1)                                                 \
    X(F_LT, "<", 2, 2, FF_OP, sql_bind_cmp, 2)                                                  \
    X(F_LE, "<=", 2, 2, FF_OP, sql_bind_cmp, 3)                                                 \
    X(F_GT, ">", 2, 2, FF_OP, sql_bind_cmp, 4)                                                  \
    X(F_GE, ">=", 2, 2, FF_OP, sql_bind_cmp, 5)                                                 \
    X(F_DISTINCT, "IS DISTINCT FROM", 2, 2, FF_OP | FF_LAZY, sql_bind_cmp, 6)                   \
    X(F_NOTDISTINCT, "IS NOT DISTINCT FROM", 2, 2, FF_OP | FF_LAZY, sql_bind_cmp, 7)            \
    X(F_AND, "AND", 2, -1, FF_OP | FF_LAZY, sql_bind_logic, 0)                                  \
    X(F_OR, "OR", 2, -1, FF_OP | FF_LAZY, sql_bind_logic, 1)                                    \
    X(F_NOT, "NOT", 1, 1, FF_OP, sql_bind_logic, 2)                                             \
    X(F_ISNULL, "IS NULL", 1, 1, FF_OP | FF_LAZY, sql_bind_is, 0)                               \
    X(F_ISNOTNULL, "IS NOT NULL", 1, 1, FF_OP | FF_LAZY, sql_bind_is, 1)                        \
    X(F_ISTRUE, "IS TRUE", 1, 1, FF_OP | FF_LAZY, sql_bind_is, 2)                               \
    X(F_ISNOTTRUE, "IS NOT TRUE", 1, 1, FF_OP | FF_LAZY, sql_bind_is, 3)                        \
    X(F_ISFALSE, "IS FALSE", 1, 1, FF_OP | FF_LAZY, sql_bind_is, 4)                             \
    X(F_ISNOTFALSE, "IS NOT FALSE", 1, 1, FF_OP | FF_LAZY, sql_bind_is, 5)                      \
    X(F_IN, "IN", 2, -1, FF_OP | FF_LAZY, sql_bind_in, 0)                                       \
    X(F_BETWEEN, "BETWEEN", 3, 3, FF_OP | FF_LAZY, sql_bind_between, 0)                         \
    X(F_LIKE, "LIKE", 2, 3, FF_OP, sql_bind_like, 0)                                            \
    X(F_CASE, "CASE", 2, -1, FF_OP | FF_LAZY, sql_bind_case, 0)                                 \
    X(F_CASE_SIMPLE, "CASE ", 3, -1, FF_OP | FF_LAZY, sql_bind_case, 1)                         \
    X(F_CAST, "CAST", 1, 1, FF_OP, sql_bind_cast, 0)                                            \
    X(F_CONCATOP, "||", 2, 2, FF_OP, sql_bind_concat, 0)                                        \
    X(F_EXTRACT, "EXTRACT", 2, 2, FF_OP, sql_bind_time_extract, 1)                              \
    X(F_FLOOR_TO, "FLOOR TO", 2, 2, FF_OP, sql_bind_floor_unit, 0)                              \
    X(F_CEIL_TO, "CEIL TO", 2, 2, FF_OP, sql_bind_floor_unit, 1)                                \
    X(F_TSADD, "TIMESTAMPADD", 3, 3, 0, sql_bind_timestampadd, 0)                               \
    X(F_TSDIFF, "TIMESTAMPDIFF", 3, 3, 0, sql_bind_timestampadd, 1)                             \
    X(F_ARRAY, "ARRAY", 0, -1, 0, sql_bind_array, 0)                                            \
    /* conditionals */                                                                          \
    X(F_COALESCE, "COALESCE", 1, -1, FF_LAZY, sql_bind_coalesce, 0)                             \
    X(F_NVL, "NVL", 2, 2, FF_LAZY, sql_bind_coalesce, 1)                                        \
    X(F_IFNULL, "IFNULL", 2, 2, FF_LAZY, sql_bind_coalesce, 2)                                  \
    X(F_NULLIF, "NULLIF", 2, 2, FF_LAZY, sql_bind_nullif, 0)                                    \
    X(F_GREATEST, "GREATEST", 1, -1, FF_LAZY, sql_bind_greatest, 0)                             \
    X(F_LEAST, "LEAST", 1, -1, FF_LAZY, sql_bind_greatest, 1)                                   \
    /* math */                                                                                  \
    X(F_ABS, "ABS", 1, 1, 0, sql_bind_math, 0)                                                  \
    X(F_FLOOR, "FLOOR", 1, 1, 0, sql_bind_math, 1)                                              \
    X(F_CEIL, "CEIL", 1, 1, 0, sql_bind_math, 2)                                                \
    X(F_CEILING, "CEILING", 1, 1, 0, sql_bind_math, 2)                                          \
    X(F_SIGN, "SIGN", 1, 1, 0, sql_bind_math, 3)                                                \
    X(F_SQRT, "SQRT", 1, 1, 0, sql_bind_math, 10)                                               \
    X(F_CBRT, "CBRT", 1, 1, 0, sql_bind_math, 11)                                               \
    X(F_LN, "LN", 1, 1, 0, sql_bind_math, 12)                                                   \
    X(F_LOG10, "LOG10", 1, 1, 0, sql_bind_math, 13)                                             \
    X(F_EXP, "EXP", 1, 1, 0, sql_bind_math, 14)                                                 \
    X(F_SIN, "SIN", 1, 1, 0, sql_bind_math, 15)                                                 \
    X(F_COS, "COS", 1, 1, 0, sql_bind_math, 16)                                                 \
    X(F_TAN, "TAN", 1, 1, 0, sql_bind_math, 17)                                                 \
    X(F_ASIN, "ASIN", 1, 1, 0, sql_bind_math, 18)                                               \
    X(F_ACOS, "ACOS", 1, 1, 0, sql_bind_math, 19)                                               \
    X(F_ATAN, "ATAN", 1, 1, 0, sql_bind_math, 20)                                               \
    X(F_COT, "COT", 1, 1, 0, sql_bind_math, 21)                                                 \
    X(F_DEGREES, "DEGREES", 1, 1, 0, sql_bind_math, 22)                                         \
    X(F_RADIANS, "RADIANS", 1, 1, 0, sql_bind_math, 23)                                         \
    X(F_ATAN2, "ATAN2", 2, 2, 0, sql_bind_math2, 0)                                             \
    X(F_POWER, "POWER", 2, 2, 0, sql_bind_math2, 1)                                             \
    X(F_MOD, "MOD", 2, 2, 0, sql_bind_arith, 4)                                                 \
    X(F_DIVFN, "DIV", 2, 2, 0, sql_bind_arith, 5)                                               \
    X(F_SAFE_DIVIDE, "SAFE_DIVIDE", 2, 2, 0, sql_bind_arith, 6)                                 \
    X(F_ROUND, "ROUND", 1, 2, 0, sql_bind_round, 0)                                             \
    X(F_TRUNCATE, "TRUNCATE", 1, 2, 0, sql_bind_round, 1)                                       \
    X(F_TRUNC, "TRUNC", 1, 2, 0, sql_bind_round, 1)                                             \
    X(F_PI, "PI", 0, 0, 0, sql_bind_math, 30)                                                   \
    /* strings */                                                                               \
    X(F_CONCAT, "CONCAT", 1, -1, 0, sql_bind_concat, 1)                                         \
    X(F_TEXTCAT, "TEXTCAT", 2, 2, 0, sql_bind_concat, 2)                                        \
    X(F_UPPER, "UPPER", 1, 1, 0, sql_bind_str1, 0)                                              \
    X(F_LOWER, "LOWER", 1, 1, 0, sql_bind_str1, 1)                                              \
    X(F_REVERSE, "REVERSE", 1, 1, 0, sql_bind_str1, 2)                                          \
    X(F_LENGTH, "LENGTH", 1, 1, 0, sql_bind_str1, 3)                                            \
    X(F_CHAR_LENGTH, "CHAR_LENGTH", 1, 1, 0, sql_bind_str1, 3)                                  \
    X(F_CHARACTER_LENGTH, "CHARACTER_LENGTH", 1, 1, 0, sql_bind_str1, 3)                        \
    X(F_STRLEN, "STRLEN", 1, 1, 0, sql_bind_str1, 3)                                            \
    X(F_TRIM, "TRIM", 1, 2, 0, sql_bind_trim, 0)                                                \
    X(F_BTRIM, "BTRIM", 1, 2, 0, sql_bind_trim, 0)                                              \
    X(F_LTRIM, "LTRIM", 1, 2, 0, sql_bind_trim, 1)                                              \
    X(F_RTRIM, "RTRIM", 1, 2, 0, sql_bind_trim, 2)                                              \
    X(F_SUBSTRING, "SUBSTRING", 2, 3, 0, sql_bind_substr, 0)                                    \
    X(F_SUBSTR, "SUBSTR", 2, 3, 0, sql_bind_substr, 0)                                          \
    X(F_LEFT, "LEFT", 2, 2, 0, sql_bind_substr, 1)                                              \
    X(F_RIGHT, "RIGHT", 2, 2, 0, sql_bind_substr, 2)                                            \
    X(F_REPEAT, "REPEAT", 2, 2, 0, sql_bind_substr, 3)                                          \
    X(F_REPLACE, "REPLACE", 3, 3, 0, sql_bind_str3, 0)                                          \
    X(F_LPAD, "LPAD", 2, 3, 0, sql_bind_str3, 1)                                                \
    X(F_RPAD, "RPAD", 2, 3, 0, sql_bind_str3, 2)                                                \
    X(F_STRPOS, "STRPOS", 2, 3, 0, sql_bind_str3, 3)                                            \
    X(F_CONTAINS, "CONTAINS_STRING", 2, 2, 0, sql_bind_str3, 4)                                 \
    X(F_ICONTAINS, "ICONTAINS_STRING", 2, 2, 0, sql_bind_str3, 5)                               \
    X(F_PARSE_LONG, "PARSE_LONG", 1, 2, 0, sql_bind_parse_long, 0)                              \
    X(F_REGEXP_EXTRACT, "REGEXP_EXTRACT", 2, 3, 0, sql_bind_regexp, 0)                          \
    X(F_REGEXP_LIKE, "REGEXP_LIKE", 2, 2, 0, sql_bind_regexp, 1)                                \
    X(F_REGEXP_REPLACE, "REGEXP_REPLACE", 3, 3, 0, sql_bind_regexp, 2)                          \
    /* time */                                                                                  \
    X(F_TIME_PARSE, "TIME_PARSE", 1, 3, 0, sql_bind_time_parse, 0)                              \
    X(F_TIME_FORMAT, "TIME_FORMAT", 1, 3, 0, sql_bind_time_format, 0)                           \
    X(F_TIME_FLOOR, "TIME_FLOOR", 2, 4, 0, sql_bind_time_floor, 0)                              \
    X(F_TIME_CEIL, "TIME_CEIL", 2, 4, 0, sql_bind_time_floor, 1)                                \
    X(F_TIME_SHIFT, "TIME_SHIFT", 3, 4, 0, sql_bind_time_shift, 0)                              \
    X(F_TIME_EXTRACT, "TIME_EXTRACT", 1, 3, 0, sql_bind_time_extract, 0)                        \
    X(F_TIME_IN_INTERVAL, "TIME_IN_INTERVAL", 2, 2, 0, sql_bind_time_in_interval, 0)            \
    X(F_MILLIS_TO_TS, "MILLIS_TO_TIMESTAMP", 1, 1, 0, sql_bind_millis, 0)                       \
    X(F_TS_TO_MILLIS, "TIMESTAMP_TO_MILLIS", 1, 1, 0, sql_bind_millis, 1)                       \
    X(F_DATE_TRUNC, "DATE_TRUNC", 2, 2, 0, sql_bind_date_trunc, 0)                              \
    X(F_CURRENT_TIMESTAMP, "CURRENT_TIMESTAMP", 0, 0, 0, sql_bind_now, 0)                       \
    X(F_CURRENT_DATE, "CURRENT_DATE", 0, 0, 0, sql_bind_now, 1)                                 \
    X(F_NOW, "NOW", 0, 0, 0, sql_bind_now, 0)                                                   \
    /* JSON */                                                                                  \
    X(F_JSON_VALUE, "JSON_VALUE", 2, 2, 0, sql_bind_json, 0)                                    \
    X(F_JSON_QUERY, "JSON_QUERY", 2, 2, 0, sql_bind_json, 1)                                    \
    X(F_PARSE_JSON, "PARSE_JSON", 1, 1, 0, sql_bind_json, 2)                                    \
    X(F_TRY_PARSE_JSON, "TRY_PARSE_JSON", 1, 1, 0, sql_bind_json, 3)                            \
    X(F_TO_JSON_STRING, "TO_JSON_STRING", 1, 1, 0, sql_bind_json, 4)                            \
    X(F_JSON_KEYS, "JSON_KEYS", 2, 2, 0, sql_bind_json, 5)                                      \
    X(F_JSON_QUERY_ARRAY, "JSON_QUERY_ARRAY", 2, 2, 0, sql_bind_json, 6)                        \
    X(F_JSON_PATHS, "JSON_PATHS", 1, 1, 0, sql_bind_json, 7)                                    \
    X(F_JSON_MERGE, "JSON_MERGE", 2, -1, 0, sql_bind_json, 8)                                   \
    X(F_JSON_OBJECT, "JSON_OBJECT", 0, -1, FF_LAZY, sql_bind_json, 9)                           \
    X(F_JSON_OBJECT_ABSENT, "JSON_OBJECT ABSENT", 0, -1, FF_LAZY, sql_bind_json, 10)            \
    /* arrays and multi-value strings (func_array.c) */                                         \
    X(F_ARRAY_LENGTH, "ARRAY_LENGTH", 1, 1, 0, sql_bind_array_fn, AV_LENGTH)                    \
    X(F_ARRAY_OFFSET, "ARRAY_OFFSET", 2, 2, 0, sql_bind_array_fn, AV_OFFSET)                    \
    X(F_ARRAY_ORDINAL, "ARRAY_ORDINAL", 2, 2, 0, sql_bind_array_fn, AV_ORDINAL)                 \
    X(F_ARRAY_CONTAINS, "ARRAY_CONTAINS", 2, 2, 0, sql_bind_array_fn, AV_CONTAINS)              \
    X(F_ARRAY_OVERLAP, "ARRAY_OVERLAP", 2, 2, 0, sql_bind_array_fn, AV_OVERLAP)                 \
    X(F_SCALAR_IN_ARRAY, "SCALAR_IN_ARRAY", 2, 2, 0, sql_bind_array_fn, AV_IN)                  \
    X(F_ARRAY_OFFSET_OF, "ARRAY_OFFSET_OF", 2, 2, 0, sql_bind_array_fn, AV_OFFSET_OF)           \
    X(F_ARRAY_ORDINAL_OF, "ARRAY_ORDINAL_OF", 2, 2, 0, sql_bind_array_fn, AV_ORDINAL_OF)        \
    X(F_ARRAY_PREPEND, "ARRAY_PREPEND", 2, 2, 0, sql_bind_array_fn, AV_PREPEND)                 \
    X(F_ARRAY_APPEND, "ARRAY_APPEND", 2, 2, 0, sql_bind_array_fn, AV_APPEND)                    \
    X(F_ARRAY_CONCAT, "ARRAY_CONCAT", 2, 2, 0, sql_bind_array_fn, AV_CONCAT)                    \
    X(F_ARRAY_SLICE, "ARRAY_SLICE", 2, 3, 0, sql_bind_array_fn, AV_SLICE)                       \
    X(F_ARRAY_TO_STRING, "ARRAY_TO_STRING", 2, 2, 0, sql_bind_array_fn, AV_TO_STRING)           \
    X(F_STRING_TO_ARRAY, "STRING_TO_ARRAY", 2, 2, 0, sql_bind_array_fn, AV_FROM_STRING)         \
    X(F_ARRAY_TO_MV, "ARRAY_TO_MV", 1, 1, 0, sql_bind_array_fn, AV_TO_MV)                       \
    X(F_MV_FILTER_ONLY, "MV_FILTER_ONLY", 2, 2, 0, sql_bind_array_fn, AV_MV_FILTER_ONLY)        \
    X(F_MV_FILTER_NONE, "MV_FILTER_NONE", 2, 2, 0, sql_bind_array_fn, AV_MV_FILTER_NONE)        \
    X(F_MV_LENGTH, "MV_LENGTH", 1, 1, 0, sql_bind_array_fn, AV_MV_LENGTH)                       \
    X(F_MV_OFFSET, "MV_OFFSET", 2, 2, 0, sql_bind_array_fn, AV_MV_OFFSET)                       \
    X(F_MV_ORDINAL, "MV_ORDINAL", 2, 2, 0, sql_bind_array_fn, AV_MV_ORDINAL)                    \
    X(F_MV_CONTAINS, "MV_CONTAINS", 2, 2, 0, sql_bind_array_fn, AV_MV_CONTAINS)                 \
    X(F_MV_OVERLAP, "MV_OVERLAP", 2, 2, 0, sql_bind_array_fn, AV_MV_OVERLAP)                    \
    X(F_MV_OFFSET_OF, "MV_OFFSET_OF", 2, 2, 0, sql_bind_array_fn, AV_MV_OFFSET_OF)              \
    X(F_MV_ORDINAL_OF, "MV_ORDINAL_OF", 2, 2, 0, sql_bind_array_fn, AV_MV_ORDINAL_OF)           \
    X(F_MV_PREPEND, "MV_PREPEND", 2, 2, 0, sql_bind_array_fn, AV_MV_PREPEND)                    \
    X(F_MV_APPEND, "MV_APPEND", 2, 2, 0, sql_bind_array_fn, AV_MV_APPEND)                       \
    X(F_MV_CONCAT, "MV_CONCAT", 2, 2, 0, sql_bind_array_fn, AV_MV_CONCAT)                       \
    X(F_MV_SLICE, "MV_SLICE", 2, 3, 0, sql_bind_array_fn, AV_MV_SLICE)                          \
    X(F_MV_TO_STRING, "MV_TO_STRING", 2, 2, 0, sql_bind_array_fn, AV_MV_TO_STRING)              \
    X(F_STRING_TO_MV, "STRING_TO_MV", 2, 2, 0, sql_bind_array_fn, AV_MV_FROM_STRING)            \
    X(F_MV_TO_ARRAY, "MV_TO_ARRAY", 1, 1, 0, sql_bind_array_fn, AV_MV_TO_ARRAY)                 \
    X(F_LOOKUP, "LOOKUP", 2, 3, 0, sql_bind_lookup, 0)                                          \
    /* aggregates */                                                                            \
    X(F_COUNT, "COUNT", 0, 1, FF_AGG, NULL, SQL_AGG_COUNT)                                      \
    X(F_SUM, "SUM", 1, 1, FF_AGG, NULL, SQL_AGG_SUM)                                            \
    X(F_MIN, "MIN", 1, 1, FF_AGG, NULL, SQL_AGG_MIN)                                            \
    X(F_MAX, "MAX", 1, 1, FF_AGG, NULL, SQL_AGG_MAX)                                            \
    X(F_AVG, "AVG", 1, 1, FF_AGG, NULL, SQL_AGG_AVG)                                            \
    X(F_EARLIEST, "EARLIEST", 1, 2, FF_AGG, NULL, SQL_AGG_EARLIEST)                             \
    X(F_LATEST, "LATEST", 1, 2, FF_AGG, NULL, SQL_AGG_LATEST)                                   \
    X(F_EARLIEST_BY, "EARLIEST_BY", 2, 3, FF_AGG, NULL, SQL_AGG_EARLIEST_BY)                    \
    X(F_LATEST_BY, "LATEST_BY", 2, 3, FF_AGG, NULL, SQL_AGG_LATEST_BY)                          \
    X(F_ANY_VALUE, "ANY_VALUE", 1, 2, FF_AGG, NULL, SQL_AGG_ANY_VALUE)                          \
    X(F_APPROX_CD, "APPROX_COUNT_DISTINCT", 1, 1, FF_AGG, NULL, SQL_AGG_HLL)                    \
    X(F_VARIANCE, "VARIANCE", 1, 1, FF_AGG, NULL, SQL_AGG_VAR_SAMP)                             \
    X(F_VAR_SAMP, "VAR_SAMP", 1, 1, FF_AGG, NULL, SQL_AGG_VAR_SAMP)                             \
    X(F_VAR_POP, "VAR_POP", 1, 1, FF_AGG, NULL, SQL_AGG_VAR_POP)                                \
    X(F_STDDEV, "STDDEV", 1, 1, FF_AGG, NULL, SQL_AGG_STDDEV_SAMP)                              \
    X(F_STDDEV_SAMP, "STDDEV_SAMP", 1, 1, FF_AGG, NULL, SQL_AGG_STDDEV_SAMP)                    \
    X(F_STDDEV_POP, "STDDEV_POP", 1, 1, FF_AGG, NULL, SQL_AGG_STDDEV_POP)                       \
    X(F_BIT_AND, "BIT_AND", 1, 1, FF_AGG, NULL, SQL_AGG_BIT_AND)                                \
    X(F_BIT_OR, "BIT_OR", 1, 1, FF_AGG, NULL, SQL_AGG_BIT_OR)                                   \
    X(F_BIT_XOR, "BIT_XOR", 1, 1, FF_AGG, NULL, SQL_AGG_BIT_XOR)                                \
    X(F_ARRAY_AGG, "ARRAY_AGG", 1, 2, FF_AGG, NULL, SQL_AGG_ARRAY_AGG)                          \
    X(F_ARRAY_CAT_AGG, "ARRAY_CONCAT_AGG", 1, 2, FF_AGG, NULL, SQL_AGG_ARRAY_CONCAT)            \
    X(F_STRING_AGG, "STRING_AGG", 2, 3, FF_AGG, NULL, SQL_AGG_STRING_AGG)                       \
    X(F_LISTAGG, "LISTAGG", 1, 3, FF_AGG, NULL, SQL_AGG_STRING_AGG)                             \
    /* sketches (func_sketch.c) */                                                              \
    X(F_HLL1, "APPROX_COUNT_DISTINCT_DS_HLL", 1, 3, FF_AGG, NULL, SQL_AGG_HLL)                  \
    X(F_HLL2, "DS_HLL", 1, 3, FF_AGG, NULL, SQL_AGG_HLL)                                        \
    X(F_THETA1, "APPROX_COUNT_DISTINCT_DS_THETA", 1, 2, FF_AGG, NULL, SQL_AGG_THETA)            \
    X(F_THETA2, "DS_THETA", 1, 2, FF_AGG, NULL, SQL_AGG_THETA)                                  \
    X(F_DSQ, "DS_QUANTILES_SKETCH", 1, 2, FF_AGG, NULL, SQL_AGG_QUANTILES)                      \
    X(F_APPROX_QUANTILE, "APPROX_QUANTILE_DS", 2, 3, FF_AGG, NULL, SQL_AGG_QUANTILES)           \
    X(F_HLL_EST, "HLL_SKETCH_ESTIMATE", 1, 2, 0, sql_bind_sketch_fn, 0)                         \
    X(F_HLL_EST_B, "HLL_SKETCH_ESTIMATE_WITH_ERROR_BOUNDS", 1, 2, 0, sql_bind_sketch_fn, 1)     \
    X(F_HLL_UNION, "HLL_SKETCH_UNION", 1, -1, 0, sql_bind_sketch_fn, 2)                         \
    X(F_HLL_STR, "HLL_SKETCH_TO_STRING", 1, 1, 0, sql_bind_sketch_fn, 3)                        \
    X(F_THETA_EST, "THETA_SKETCH_ESTIMATE", 1, 1, 0, sql_bind_sketch_fn, 4)                     \
    X(F_THETA_EST_B, "THETA_SKETCH_ESTIMATE_WITH_ERROR_BOUNDS", 2, 2, 0, sql_bind_sketch_fn, 5) \
    X(F_THETA_UNION, "THETA_SKETCH_UNION", 1, -1, 0, sql_bind_sketch_fn, 6)                     \
    X(F_THETA_INTERSECT, "THETA_SKETCH_INTERSECT", 1, -1, 0, sql_bind_sketch_fn, 7)             \
    X(F_THETA_NOT, "THETA_SKETCH_NOT", 1, -1, 0, sql_bind_sketch_fn, 8)                         \
    X(F_DS_QUANTILE, "DS_GET_QUANTILE", 2, 2, 0, sql_bind_sketch_fn, 9)                         \
    X(F_DS_QUANTILES, "DS_GET_QUANTILES", 2, -1, 0, sql_bind_sketch_fn, 10)                     \
    X(F_DS_RANK, "DS_RANK", 2, 2, 0, sql_bind_sketch_fn, 11)                                    \
    X(F_DS_CDF, "DS_CDF", 2, -1, 0, sql_bind_sketch_fn, 12)                                     \
    X(F_DS_HISTOGRAM, "DS_HISTOGRAM", 2, -1, 0, sql_bind_sketch_fn, 13)                         \
    X(F_DS_SUMMARY, "DS_QUANTILE_SUMMARY", 1, 1, 0, sql_bind_sketch_fn, 14)                     \
    /* window functions */                                                                      \
    X(F_ROW_NUMBER, "ROW_NUMBER", 0, 0, FF_WINDOW, NULL, SQL_WIN_ROW_NUMBER)                    \
    X(F_RANK, "RANK", 0, 0, FF_WINDOW, NULL, SQL_WIN_RANK)                                      \
    X(F_DENSE_RANK, "DENSE_RANK", 0, 0, FF_WINDOW, NULL, SQL_WIN_DENSE_RANK)                    \
    X(F_PERCENT_RANK, "PERCENT_RANK", 0, 0, FF_WINDOW, NULL, SQL_WIN_PERCENT_RANK)              \
    X(F_CUME_DIST, "CUME_DIST", 0, 0, FF_WINDOW, NULL, SQL_WIN_CUME_DIST)                       \
    X(F_NTILE, "NTILE", 1, 1, FF_WINDOW, NULL, SQL_WIN_NTILE)                                   \
    X(F_LAG, "LAG", 1, 3, FF_WINDOW, NULL, SQL_WIN_LAG)                                         \
    X(F_LEAD, "LEAD", 1, 3, FF_WINDOW, NULL, SQL_WIN_LEAD)                                      \
    X(F_FIRST_VALUE, "FIRST_VALUE", 1, 1, FF_WINDOW, NULL, SQL_WIN_FIRST_VALUE)                 \
    X(F_LAST_VALUE, "LAST_VALUE", 1, 1, FF_WINDOW, NULL, SQL_WIN_LAST_VALUE)

enum sql_func_id {
#define SQL_FUNC_ENUM(id, name, mn, mx, fl, bind, var) id,
    SQL_FUNC_MAP(SQL_FUNC_ENUM)
#undef SQL_FUNC_ENUM
        F__COUNT
};

/* A row of the function table (functab.c); its binder is sql_func_binders[id]. */
struct sql_func {
    const char *name;
    int8_t min_args, max_args;
    uint8_t flags;
    int variant;
};

extern const struct sql_func sql_funcs[F__COUNT];
/* Case-insensitive lookup of a callable function; -1 if none. */
int sql_func_find(const char *name, size_t n);
/* The binder of each function (func.c), NULL where the binder itself
 * handles the call (aggregates, unsupported functions). Apart from
 * sql_funcs[] so that the binders, which read the table, sit below it. */
extern const sql_bind_fn sql_func_binders[F__COUNT];

/* the binders (NULL entries are handled by the binder itself) */
int sql_bind_arith(struct sql_bctx *b, struct sql_node *n);
int sql_bind_neg(struct sql_bctx *b, struct sql_node *n);
int sql_bind_cmp(struct sql_bctx *b, struct sql_node *n);
int sql_bind_logic(struct sql_bctx *b, struct sql_node *n);
int sql_bind_is(struct sql_bctx *b, struct sql_node *n);
int sql_bind_in(struct sql_bctx *b, struct sql_node *n);
int sql_bind_between(struct sql_bctx *b, struct sql_node *n);
int sql_bind_like(struct sql_bctx *b, struct sql_node *n);
int sql_bind_case(struct sql_bctx *b, struct sql_node *n);
int sql_bind_cast(struct sql_bctx *b, struct sql_node *n);
int sql_bind_concat(struct sql_bctx *b, struct sql_node *n);
int sql_bind_coalesce(struct sql_bctx *b, struct sql_node *n);
int sql_bind_nullif(struct sql_bctx *b, struct sql_node *n);
int sql_bind_greatest(struct sql_bctx *b, struct sql_node *n);
int sql_bind_math(struct sql_bctx *b, struct sql_node *n);
int sql_bind_math2(struct sql_bctx *b, struct sql_node *n);
int sql_bind_round(struct sql_bctx *b, struct sql_node *n);
int sql_bind_array(struct sql_bctx *b, struct sql_node *n);
int sql_bind_str1(struct sql_bctx *b, struct sql_node *n);
int sql_bind_trim(struct sql_bctx *b, struct sql_node *n);
int sql_bind_substr(struct sql_bctx *b, struct sql_node *n);
int sql_bind_str3(struct sql_bctx *b, struct sql_node *n);
int sql_bind_parse_long(struct sql_bctx *b, struct sql_node *n);
int sql_bind_regexp(struct sql_bctx *b, struct sql_node *n);
int sql_bind_time_parse(struct sql_bctx *b, struct sql_node *n);
int sql_bind_time_format(struct sql_bctx *b, struct sql_node *n);
int sql_bind_time_floor(struct sql_bctx *b, struct sql_node *n);
int sql_bind_time_shift(struct sql_bctx *b, struct sql_node *n);
int sql_bind_time_extract(struct sql_bctx *b, struct sql_node *n);
int sql_bind_time_in_interval(struct sql_bctx *b, struct sql_node *n);
int sql_bind_millis(struct sql_bctx *b, struct sql_node *n);
int sql_bind_date_trunc(struct sql_bctx *b, struct sql_node *n);
int sql_bind_floor_unit(struct sql_bctx *b, struct sql_node *n);
int sql_bind_timestampadd(struct sql_bctx *b, struct sql_node *n);
int sql_bind_now(struct sql_bctx *b, struct sql_node *n);
int sql_bind_json(struct sql_bctx *b, struct sql_node *n);
int sql_bind_array_fn(struct sql_bctx *b, struct sql_node *n);
int sql_bind_lookup(struct sql_bctx *b, struct sql_node *n);
int sql_bind_sketch_fn(struct sql_bctx *b, struct sql_node *n);

/* ---- sketch aggregates (func_sketch.c, for agg.c and bind.c) ------------- */

/* The accumulator of a sketch aggregate's state: the family's union object,
 * freed by a cleanup on the arena it was made in. */
struct sql_sketch_acc;
/* Adds value x (a sketch of the family merges; with `prebuilt`, so does a
 * base64 text of one) to *acc, made in mem on first use: 0, LERR_NOMEM,
 * LERR_INVALID for a sketch value that is not valid. */
int sql__sketch_add(const struct sql_agg_call *c, struct sql_sketch_acc **acc,
                    const struct sql_value *x, bool prebuilt, struct arena *mem, struct lerr *err);
int sql__sketch_merge(const struct sql_agg_call *c, struct sql_sketch_acc **dst,
                      const struct sql_sketch_acc *src, struct arena *mem, struct lerr *err);
/* The call's result (acc NULL: no row came); NULL when out of memory. */
void sql__sketch_finalize(const struct sql_agg_call *c, const struct sql_sketch_acc *acc,
                          struct sql_value *out);
/* The compact DataSketches image of the sketch so far (what segments store). */
bool sql__sketch_serialize(const struct sql_agg_call *c, const struct sql_sketch_acc *acc,
                           struct buf *out);
/* A stored image back into *acc: LERR_CORRUPT naming what is wrong, LERR_NOMEM. */
int sql__sketch_deserialize(const struct sql_agg_call *c, const void *p, size_t n,
                            struct sql_sketch_acc **acc, struct arena *mem, struct lerr *err);
/* Fills the sketch fields of *out for call node n (COUNT(DISTINCT x) when
 * approximate, APPROX_COUNT_DISTINCT*, DS_*, APPROX_QUANTILE_DS), its
 * arguments bound already, and checks and casts its value argument: 0 or
 * LERR_INVALID. */
int sql__sketch_bind_agg(struct sql_bctx *b, struct sql_node *n, struct sql_agg_call *out);

/* ---- binder services used by the binders --------------------------------- */

struct sql_bctx {
    const char *text;
    size_t len;
    struct arena *arena; /* the owner's: nodes, folded constants */
    struct sql_owner *owner;
    const struct sql_schema *schema;
    const struct sql_options *opt;
    const struct ls_tz *tz; /* sqlTimeZone */
    struct lerr *err;
    const char *field_what;          /* "input field" or "column", for messages */
    const char *table, *table_alias; /* qualifiers accepted on identifiers */
    bool field_quals;                /* the fields carry their own (sql_field.qual) */
    /* Query mode (select.c): aggregate calls are lifted out by this hook,
     * which turns the node into an NK_AGGREF. NULL: aggregates are errors. */
    int (*agg_hook)(struct sql_bctx *b, struct sql_node *n);
    void *hook_ud;
    int agg_depth;           /* > 0 while binding an aggregate's arguments */
    const char *agg_refusal; /* why aggregates are refused here */
};

/* The binder (bind.c). Binds a parsed tree in place (names, types, casts,
 * eval functions, constant folding). */
int sql_bind_node(struct sql_bctx *b, struct sql_node *n);
/* Binds an aggregate call node into *out (args become sub-expressions). */
int sql_bind_agg_call(struct sql_bctx *b, struct sql_node *n, struct sql_agg_call *out);
/* Wraps a bound tree as an expression sharing b's owner. */
struct sql_expr *sql_expr_wrap(struct sql_bctx *b, struct sql_node *root, size_t nfields);
int sql_bctx_init(struct sql_bctx *b, struct sql_owner *o, const char *text, size_t len,
                  const struct sql_schema *schema, const struct sql_options *opt,
                  struct lerr *err);

/* The services every binder uses (bind_util.c). */
/* Evaluates a constant call once and makes n the literal it gives; a
 * run-time error (1/0) leaves n as it is, for run time. */
void sql_fold(struct sql_bctx *b, struct sql_node *n);
/* An error at node n: "<message> at line L, column C". */
int sql_bind_error(struct sql_bctx *b, const struct sql_node *n, const char *fmt, ...)
    LS_PRINTF(3, 4);
/* Wraps n->args[i] in a CAST to `type` unless it already has it. */
void sql_coerce(struct sql_bctx *b, struct sql_node *n, int i, int type);
/* True when the argument is a (possibly folded) non-NULL literal. */
bool sql_arg_is_lit(const struct sql_node *n, int i);
/* A literal string argument (Druid requires patterns, periods, zones and
 * units to be literals); error naming the function and argument otherwise. */
int sql_arg_lit_string(struct sql_bctx *b, struct sql_node *n, int i, const char *what,
                       const char **p, size_t *len);
/* The time zone of literal argument i (or sqlTimeZone when i >= nargs). */
int sql_arg_tz(struct sql_bctx *b, struct sql_node *n, int i, const struct ls_tz **out);
/* The common type of two types for comparisons and CASE/COALESCE branches. */
int sql_common_type(int a, int b);
/* Requires arg i to be usable as `what` ("number", "string", "timestamp"). */
int sql_arg_check(struct sql_bctx *b, struct sql_node *n, int i, int type);

/* ---- values: helpers shared by the function files ----------------------- */

/* Compiles literal string argument i of n, a Java regular expression in the
 * subset func_str.c translates to POSIX, for the life of b's owner; `what`
 * names the argument in the error ("pattern", "delimiter"). */
int sql_regex_compile(struct sql_bctx *b, struct sql_node *n, int i, const char *what,
                      regex_t **out);

/* Java's Double.toString / Float.toString; out >= 32 bytes; returns length. */
size_t sql_fmt_double(double d, bool is_float, char *out);
/* Parses a whole string as a number the way Druid casts text (long first,
 * then double). Returns 0 = not a number, 1 = long, 2 = double. */
int sql_parse_number(const char *p, size_t n, int64_t *l, double *d);
/* "true" (any case) or a non-zero number. */
bool sql_value_truthy(const struct sql_value *v);
/* Evaluates a node as a boolean: -1 NULL, 0 false, 1 true. */
int sql_eval_bool(const struct sql_node *n, struct sql_ectx *c);
/* Allocates n bytes for a result from the batch arena; on failure records a
 * run-time error and returns NULL. */
char *sql_alloc(struct sql_ectx *c, size_t n);
/* String result from bytes (p points to storage that lives long enough). */
static inline void sql_set_str(struct sql_value *out, int type, const char *p, size_t n)
{
    out->type = (uint8_t)type;
    out->is_null = false;
    out->v.s.p = p;
    out->v.s.n = (uint32_t)n;
}
static inline void sql_set_long(struct sql_value *out, int type, int64_t x)
{
    out->type = (uint8_t)type;
    out->is_null = false;
    out->v.l = x;
}
static inline void sql_set_double(struct sql_value *out, int type, double x)
{
    out->type = (uint8_t)type;
    out->is_null = false;
    out->v.d = x;
}

/* Generic eval: CAST node to n->type. */
void sql_eval_cast(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out);
void sql_eval_lit(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out);

/* The JSON scanner (json_scan.c), under the JSON functions and casts. */
bool sql_json_valid(const char *p, size_t n);
/* p past any blanks, up to e. */
const char *sql_json_ws(const char *p, const char *e);
/* p at '"': returns the end (after the closing quote) or NULL. */
const char *sql_json_scan_string(const char *p, const char *e, bool *escaped);
/* p at a value (no leading blanks): returns its end, or NULL if invalid. */
const char *sql_json_scan_value(const char *p, const char *e, int depth);
/* Decodes a JSON string token [p, end) into o (capacity >= token length);
 * returns the length. */
size_t sql_json_unescape(const char *p, const char *end, char *o);
/* Appends v as JSON text (value.c), for casts and TO_JSON_STRING. */
bool sql_json_append_value(struct buf *b, const struct sql_value *v);

/* Bound tree utilities (bind.c) */
bool sql_node_equal(const struct sql_node *a, const struct sql_node *b);
/* A hash of a bound tree that agrees with sql_node_equal (equal trees hash
 * alike), stored in n->hash of every node of the tree and returned: so that
 * finding equal subtrees (shared aggregates, GROUP BY expressions) costs a
 * lookup instead of a comparison with every candidate. */
uint32_t sql_node_hash_tree(struct sql_node *n);
/* A bound reference to field i of the current schema. */
struct sql_node *sql_node_ref(struct arena *a, uint32_t field, int type, uint32_t pos);
/* A deep copy of a parsed (unbound) tree, so that it can be bound twice. */
struct sql_node *sql_node_clone(struct arena *a, const struct sql_node *n);
/* A deep copy of a parsed tree, names and literal bytes included, so that
 * it outlives the statement it came from. */
struct sql_node *sql_node_copy(struct arena *a, const struct sql_node *n);
struct sql_owner *sql_owner_new(void);
void sql_owner_free(struct sql_owner *o);
bool sql_node_explain(const struct sql_node *n, struct buf *out);

#endif
