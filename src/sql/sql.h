/*
 * sql.h — the one SQL front end: Druid SQL expressions (ingestion mappings and
 * filters) and SELECT statements (queries), with Druid's SQL-compatible null
 * semantics. Pipeline: lex.c (tokens) → parse.c (AST) → bind.c (names, types,
 * coercions, constant folding; the bound tree is the evaluable form) →
 * eval.c (row by row, or over column vectors) with the function library in
 * func*.c and the aggregators in agg.c.
 *
 * Entry points:
 *   sql_compile_expr()   one expression against an input schema (mappings,
 *                        filters); then sql_eval_row() / sql_eval_batch().
 *   sql_parse_select() + sql_bind_select()   a query, bound against the
 *                        columns of its FROM table (the caller looks it up).
 *   sql_agg_*()          aggregators: init / add / merge / finalize and
 *                        serialize / deserialize of their states.
 *
 * Memory: a compiled expression or bound SELECT owns everything it needs
 * (one arena inside, released by sql_expr_free / sql_select_free), charged
 * to sql_options.budget when one is given. Evaluation never allocates from
 * the heap: results that need new bytes (CONCAT, LOWER, ...) go into the
 * arena the caller passes, which it resets per batch (and which may carry a
 * budget: a refusal is LERR_NOMEM for that row); the batch evaluators free
 * what a row allocated before the next row when the result holds no bytes.
 * String results may also point into the input row's bytes or the compiled
 * expression's constants, so they live until the earlier of those ends.
 * Parsing, binding and evaluation are linear in the text (see "limits").
 *
 * Thread-safety: compiled expressions and bound SELECTs are immutable after
 * compilation; any number of threads may evaluate the same one at once, each
 * with its own arena.
 *
 * Errors: compile/bind errors are LERR_INVALID with a message naming the bad
 * thing (or the limit passed), "at line L, column C", and a hint; err->pos is
 * the 0-based character offset in the text. LERR_NOMEM when memory (or the
 * budget) refused. Run-time errors (integer division by zero, PARSE_JSON of
 * invalid text) make the eval call return LERR_INVALID for that row.
 */
#ifndef LODESTAR_SQL_H
#define LODESTAR_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* ---- limits ------------------------------------------------------------ */

/*
 * Bounds on one expression or statement, so that parsing, binding and
 * evaluation stay linear in its size and their recursion stays bounded. A
 * text past one is refused with LERR_INVALID naming the limit, at the line
 * and column where it was passed. (Memory has its own bound: the budget in
 * sql_options.)
 */
#define SQL_MAX_NESTING 200 /* parentheses, calls, CASE, unary minus and NOT inside one another */
#define SQL_MAX_ARGS \
    65535                  /* arguments of one call, terms of one CASE, values of one IN
                               * list (less its operand: 65534) */
#define SQL_MAX_ITEMS 4096 /* terms of a SELECT list, of GROUP BY and of ORDER BY, each */

/* ---- types and values -------------------------------------------------- */

/* X(enum, Druid SQL name, lower-case name used by inputSchema/table schemas) */
#define SQL_TYPE_MAP(X)                                        \
    X(SQL_NULL, "NULL", "null")                                \
    X(SQL_STRING, "VARCHAR", "string")                         \
    X(SQL_LONG, "BIGINT", "long")                              \
    X(SQL_FLOAT, "FLOAT", "float")                             \
    X(SQL_DOUBLE, "DOUBLE", "double")                          \
    X(SQL_TIMESTAMP, "TIMESTAMP", "timestamp")                 \
    X(SQL_BOOLEAN, "BOOLEAN", "boolean")                       \
    X(SQL_JSON, "COMPLEX<json>", "json")                       \
    X(SQL_ARRAY, "ARRAY", "array")                             \
    X(SQL_INTERVAL, "INTERVAL", "interval")                    \
    X(SQL_HLL_SKETCH, "COMPLEX<HLLSketch>", "HLLSketch")       \
    X(SQL_THETA_SKETCH, "COMPLEX<thetaSketch>", "thetaSketch") \
    X(SQL_QUANTILES_SKETCH, "COMPLEX<quantilesDoublesSketch>", "quantilesDoublesSketch")

enum sql_type {
#define SQL_TYPE_ENUM(e, sqlname, name) e,
    SQL_TYPE_MAP(SQL_TYPE_ENUM)
#undef SQL_TYPE_ENUM
        SQL__TYPE_COUNT
};

/*
 * One value. Representation by type:
 *   LONG, TIMESTAMP (epoch ms), BOOLEAN (1/0)   v.l
 *   DOUBLE, FLOAT (FLOAT rounded to float)      v.d
 *   STRING, JSON (JSON text)                    v.s (bytes, not NUL-terminated)
 *   HLL_SKETCH, THETA_SKETCH, QUANTILES_SKETCH  v.s: the sketch serialized as
 *                                               DataSketches serializes it
 *                                               (compact); results show it
 *                                               as base64, as Druid does
 *   ARRAY                                       v.a (elements)
 *   INTERVAL (internal)                         v.l = ms, or months when
 *                                               `months` (v.s.n) is set
 * A NULL has is_null set; its type is the static type of the expression that
 * produced it (or SQL_NULL). 24 bytes.
 */
struct sql_value {
    uint8_t type; /* enum sql_type */
    bool is_null;
    union {
        int64_t l;
        double d;
        struct {
            const char *p;
            uint32_t n;
        } s;
        struct {
            const struct sql_value *items;
            uint32_t n;
        } a;
    } v;
};

/* Druid SQL name ("VARCHAR", "BIGINT", ...) and schema name ("string", "long"). */
const char *sql_type_sql_name(int type);
const char *sql_type_name(int type);
/* Parses a schema dataType ("string", "long", "float", "double", "json",
 * "timestamp", "boolean", "array"; case-insensitive); -1 if unknown (the
 * sketch types too: they are measure types, not input types). */
int sql_type_from_name(const char *s, size_t n);
bool sql_type_is_numeric(int type); /* LONG FLOAT DOUBLE TIMESTAMP BOOLEAN */
bool sql_type_is_sketch(int type);  /* HLL_SKETCH THETA_SKETCH QUANTILES_SKETCH */
/* Whether a value of the type holds bytes in v.s (STRING, JSON, sketches):
 * what copies of values must copy. */
static inline bool sql_type_has_bytes(int t)
{
    return t == SQL_STRING || t == SQL_JSON || t == SQL_HLL_SKETCH || t == SQL_THETA_SKETCH ||
           t == SQL_QUANTILES_SKETCH;
}
/* Base64 (RFC 4648, padded), as Druid shows sketches and reads pre-built
 * ones: encode appends to out (false when it failed); decode writes at
 * most n * 3 / 4 bytes to out and returns how many, or -1 when the text is
 * not base64 (blanks around it allowed). */
bool sql_base64_encode(const void *p, size_t n, struct buf *out);
long sql_base64_decode(const char *p, size_t n, unsigned char *out);

static inline struct sql_value sql_null(int type)
{
    struct sql_value v = {.type = (uint8_t)type, .is_null = true};
    return v;
}
static inline struct sql_value sql_long(int64_t x)
{
    struct sql_value v = {.type = SQL_LONG, .v.l = x};
    return v;
}
static inline struct sql_value sql_double(double x)
{
    struct sql_value v = {.type = SQL_DOUBLE, .v.d = x};
    return v;
}
static inline struct sql_value sql_string(const char *p, size_t n)
{
    struct sql_value v = {.type = SQL_STRING, .v.s = {p, (uint32_t)n}};
    return v;
}
static inline struct sql_value sql_timestamp(int64_t ms)
{
    struct sql_value v = {.type = SQL_TIMESTAMP, .v.l = ms};
    return v;
}

/*
 * Converts a value to another type with Druid's CAST rules (unparseable text
 * gives NULL; TIMESTAMP <-> text uses "2000-01-02 03:04:05"; numbers print
 * as Java does). New bytes come from `mem`. Never fails: NULL on no sense.
 */
struct sql_value sql_value_cast(const struct sql_value *x, int type, struct arena *mem);
/*
 * Appends the value's text as Druid prints it in results (NULL as "null"
 * only when `null_text` is true, else nothing; TIMESTAMP as ISO-8601 with Z;
 * DOUBLE as Java prints doubles). Returns false when the buffer failed.
 */
bool sql_value_to_text(const struct sql_value *x, struct buf *out, bool null_text);
/* Total order used by ORDER BY, MIN/MAX and GROUP BY: NULL first, numbers by
 * value, strings by UTF-8 bytes. Values of different classes compare numbers
 * before strings. Returns <0, 0, >0. */
int sql_value_compare(const struct sql_value *a, const struct sql_value *b);
bool sql_value_equal(const struct sql_value *a, const struct sql_value *b);
uint64_t sql_value_hash(const struct sql_value *a);

/* ---- schemas and options ----------------------------------------------- */

/* A name the expression can reference, with its type. Names are
 * case-sensitive, as in Druid; `name` need not be NUL-terminated. */
struct sql_field {
    const char *name;
    size_t name_len;
    uint8_t type; /* enum sql_type */
    /* Queries over joins and derived tables only (sql_bind_select): the
     * table name or alias that qualifies the field (t.col), NUL-terminated,
     * or NULL; and SQL_FIELD_* flags. Expressions ignore both. */
    const char *qual;
    uint8_t flags;
};

/* The field answers only to its qualified name (t.col) and is not part of
 * SELECT *: the two sides' columns of JOIN ... USING (col), whose merged
 * column is the unqualified one. */
#define SQL_FIELD_QUALIFIED_ONLY 0x01
/* An ARRAY field that is a multi-value string column (Druid's multi-value
 * dimension): a comparison, IN, LIKE or BETWEEN of it with a scalar is true
 * when it is true of ANY of the row's values (its negation, <> or NOT, when
 * of none), NULL for a row without values. Expressions honour it too. */
#define SQL_FIELD_MULTI_VALUE 0x02
/* The upper four bits: a stored typed ARRAY column's element type
 * (SQL_LONG for ARRAY<LONG>; SQL_NULL otherwise), which only result
 * headers read. */
#define SQL_FIELD_ELEM_SHIFT 4
#define SQL_FIELD_ELEM(t) ((uint8_t)((unsigned)(t) << SQL_FIELD_ELEM_SHIFT))
static inline int sql_field_elem(const struct sql_field *f)
{
    return f->flags >> SQL_FIELD_ELEM_SHIFT;
}

struct sql_schema {
    const struct sql_field *fields;
    size_t n;
};

enum sql_mode {
    SQL_MODE_SCALAR, /* mappings of detail tables, filters: no aggregates */
    SQL_MODE_ROLLUP, /* isAggregation mappings: exactly one aggregate call at the top */
    SQL_MODE_ANY     /* either (the caller asks sql_expr_is_aggregation) */
};

/*
 * Lookups for LOOKUP(expr, 'name'): named key → value maps the server keeps
 * (the API manages them; the query layer hands this interface through).
 * get() finds lookup `name` (len bytes, case-sensitive) and fills *out:
 * entries sorted by key (bytes, as memcmp with the shorter first on a tie),
 * keys unique; they are borrowed until the binder calls out->release(out->
 * handle), which it does before sql_compile_expr / sql_bind_select return
 * (it copies what it needs). Returns 0, LERR_NOT_FOUND (err untouched) when
 * there is no such lookup, or another error set in err. names() writes the
 * names of all lookups to `out`, one per line, for the "did you mean" hint
 * of an unknown name; false when it failed. Both may be called from any
 * thread.
 */
struct sql_lookup_entry {
    const char *key, *value;
    uint32_t key_len, value_len;
};
struct sql_lookup {
    const struct sql_lookup_entry *entries;
    size_t n;
    void (*release)(void *handle); /* NULL: nothing to release */
    void *handle;
};
struct sql_lookups {
    void *ctx;
    int (*get)(void *ctx, const char *name, size_t len, struct sql_lookup *out, struct lerr *err);
    bool (*names)(void *ctx, struct buf *out);
};

struct sql_options {
    int64_t now_ms;        /* CURRENT_TIMESTAMP: fixed per job start or per query */
    const char *time_zone; /* sqlTimeZone (IANA name); NULL = UTC */
    enum sql_mode mode;
    /* Values for `?` placeholders, in order (query parameters). */
    const struct sql_value *params;
    size_t nparams;
    /* NULL, or the budget the compiled form (tree, folded constants) is
     * charged to before it is allocated; it must outlive the expression or
     * SELECT. A refusal is LERR_NOMEM (the budget records which limit). */
    struct mem_budget *budget;
    /* NULL: LOOKUP() is refused (ingestion mappings and filters have none). */
    const struct sql_lookups *lookups;
    /* COUNT(DISTINCT x) counts exactly (context useApproximateCountDistinct
     * false); by default (false here) it is an HLL sketch's estimate (lgK
     * 12, HLL_4), as in Druid. */
    bool exact_count_distinct;
};

/* ---- compiled expressions ---------------------------------------------- */

struct sql_expr; /* opaque: a bound, constant-folded, evaluable tree */

/*
 * Compiles one expression (a mapping or a filter) against `schema`. On
 * success *out owns its memory (sql_expr_free). Errors (LERR_INVALID, or
 * LERR_NOMEM): syntax errors, unknown identifiers or functions (with a
 * "did you mean" suggestion), wrong argument counts or types, non-literal
 * arguments where Druid needs a literal (patterns, periods, time zones), an
 * aggregate where mode is SCALAR, a non-aggregate where mode is ROLLUP,
 * bad sketch parameters (lgK, size, k: a literal in range).
 */
int sql_compile_expr(const char *text, size_t len, const struct sql_schema *schema,
                     const struct sql_options *opt, struct sql_expr **out, struct lerr *err);
void sql_expr_free(struct sql_expr *e);

int sql_expr_type(const struct sql_expr *e); /* enum sql_type of the result */
bool sql_expr_is_constant(const struct sql_expr *e);
/* The input fields the expression references: indexes into the schema,
 * ascending, each once. Valid for the life of e. */
size_t sql_expr_refs(const struct sql_expr *e, const uint32_t **fields);
/* True when the expression is nothing but a reference to input field *field:
 * sql_eval_row() of it gives row[*field] itself when that is of the
 * expression's type, a NULL of that type when it is NULL, and a cast
 * otherwise (so a caller may hand the first two through without evaluating). */
bool sql_expr_is_ref(const struct sql_expr *e, uint32_t *field);
/* True when the expression is a scalar function mapped over the values of
 * multi-value strings (UPPER(tags), tags || '-x'): its value is an ARRAY of
 * VARCHAR, a multi-value string (NULL: no values), which GROUP BY explodes
 * and results present as they present a multi-value column. */
bool sql_expr_is_multi_value(const struct sql_expr *e);
/* An ARRAY expression's element type when the binder knows it (ARRAY[1, 2]:
 * SQL_LONG; the array and multi-value functions' results), else SQL_NULL
 * (a reference: the field's elem says it). */
int sql_expr_elem_type(const struct sql_expr *e);

/*
 * Evaluates a scalar expression over one row: row[i] is the value of
 * schema field i (its type need not match the declared type: a value of
 * another type is cast first). Returns 0, or LERR_INVALID for a run-time
 * error (message in err, when err is not NULL). No heap allocation; new bytes
 * come from `mem`. For an aggregation expression this evaluates nothing
 * useful: use sql_expr_agg().
 */
int sql_eval_row(const struct sql_expr *e, const struct sql_value *row, struct arena *mem,
                 struct sql_value *out, struct lerr *err);
/* A filter's verdict: true only when the value is non-NULL and true (three-
 * valued logic: unknown is false). A run-time error counts as false and
 * returns through *rc when rc is not NULL (LERR_NOMEM when `mem` refused:
 * then there is no verdict, and the caller must fail). */
bool sql_eval_filter(const struct sql_expr *e, const struct sql_value *row, struct arena *mem,
                     int *rc, struct lerr *err);

/*
 * Column vectors: cols[i][r] is field i at row r. sel (may be NULL = all)
 * lists the n rows to evaluate; out[k] receives row sel[k] (or k). Returns
 * 0, or the first run-time error (rows after it are NULL). Batches of
 * 1024..4096 rows keep the arena small.
 */
struct sql_batch {
    const struct sql_value *const *cols;
    uint32_t nrows;
};
int sql_eval_batch(const struct sql_expr *e, const struct sql_batch *b, const uint32_t *sel,
                   uint32_t n, struct arena *mem, struct sql_value *out, struct lerr *err);
/* Filters a batch: writes the rows (from sel, or 0..n-1) whose filter is
 * true to out_sel (capacity n) and returns how many. A row whose filter
 * fails at run time (1/0) is left out, as unknown is. But a row that could
 * not get memory from `mem` (its arena's cap or budget refused) has no
 * verdict at all: *nomem (when not NULL) is then set to LERR_NOMEM, and the
 * caller must fail rather than answer without that row. out_sel may be sel. */
uint32_t sql_filter_batch(const struct sql_expr *e, const struct sql_batch *b, const uint32_t *sel,
                          uint32_t n, struct arena *mem, uint32_t *out_sel, int *nomem);

/* ---- aggregators --------------------------------------------------------- */

#define SQL_AGG_MAP(X)                          \
    X(SQL_AGG_COUNT_STAR, "COUNT")              \
    X(SQL_AGG_COUNT, "COUNT")                   \
    X(SQL_AGG_SUM, "SUM")                       \
    X(SQL_AGG_MIN, "MIN")                       \
    X(SQL_AGG_MAX, "MAX")                       \
    X(SQL_AGG_AVG, "AVG")                       \
    X(SQL_AGG_EARLIEST, "EARLIEST")             \
    X(SQL_AGG_LATEST, "LATEST")                 \
    X(SQL_AGG_EARLIEST_BY, "EARLIEST_BY")       \
    X(SQL_AGG_LATEST_BY, "LATEST_BY")           \
    X(SQL_AGG_COUNT_DISTINCT, "COUNT_DISTINCT") \
    X(SQL_AGG_ANY_VALUE, "ANY_VALUE")           \
    X(SQL_AGG_VAR_SAMP, "VAR_SAMP")             \
    X(SQL_AGG_VAR_POP, "VAR_POP")               \
    X(SQL_AGG_STDDEV_SAMP, "STDDEV_SAMP")       \
    X(SQL_AGG_STDDEV_POP, "STDDEV_POP")         \
    X(SQL_AGG_BIT_AND, "BIT_AND")               \
    X(SQL_AGG_BIT_OR, "BIT_OR")                 \
    X(SQL_AGG_BIT_XOR, "BIT_XOR")               \
    X(SQL_AGG_ARRAY_AGG, "ARRAY_AGG")           \
    X(SQL_AGG_ARRAY_CONCAT, "ARRAY_CONCAT_AGG") \
    X(SQL_AGG_STRING_AGG, "STRING_AGG")         \
    X(SQL_AGG_HLL, "DS_HLL")                    \
    X(SQL_AGG_THETA, "DS_THETA")                \
    X(SQL_AGG_QUANTILES, "DS_QUANTILES_SKETCH")

enum sql_agg_kind {
#define SQL_AGG_ENUM(e, name) e,
    SQL_AGG_MAP(SQL_AGG_ENUM)
#undef SQL_AGG_ENUM
        SQL__AGG_COUNT
};

/*
 * One aggregate call: COUNT(*), SUM("x"), LATEST_BY("x", "ts", 64), ...
 * args[] are compiled over the same input as the enclosing expression
 * (input fields for mappings, table columns for queries). EARLIEST/LATEST
 * take the row time from the caller; the _BY forms from args[1].
 */
struct sql_agg_call {
    enum sql_agg_kind kind;
    uint8_t arg_type; /* type of args[0] (SQL_NULL for COUNT(*)) */
    uint8_t result_type;
    uint8_t nargs; /* value arguments: 0, 1, or 2 for the _BY forms */
    /* COUNT(DISTINCT x) (kind is COUNT_DISTINCT); ARRAY_AGG, ARRAY_CONCAT_AGG
     * and STRING_AGG (or LISTAGG) of DISTINCT values */
    bool distinct;
    /* strings kept by EARLIEST/LATEST/ANY_VALUE (default 1024); the most
     * bytes the ARRAY_AGG, ARRAY_CONCAT_AGG and STRING_AGG accumulator may
     * take (default 1024, measured as Druid does) */
    uint32_t max_bytes;
    struct sql_expr *args[2];
    struct sql_expr *filter; /* AGG(...) FILTER (WHERE ...), or NULL */
    /* STRING_AGG's separator (a literal; owned by the call's expression) */
    const char *sep;
    uint32_t sep_len;
    /* Sketches (SQL_AGG_HLL, _THETA, _QUANTILES): lgK (4..21), nominal
     * entries (a power of two, 16..2^26) or k (a power of two, 2..32768);
     * the HLL target type (enum sketch_hll_type); what the call returns
     * (SQL_SKETCH_OUT_*); APPROX_QUANTILE_DS's fraction. An input value
     * that is a sketch of the family (or a base64 text of one, at
     * ingestion) is merged; any other value updates the sketch. */
    uint32_t sketch_size;
    uint8_t sketch_type;
    uint8_t sketch_out;
    /* the call gave lgK, tgtHllType, size or k itself (DS_HLL(x, 14)) rather
     * than taking the defaults: a mapping into an existing sketch column must
     * then agree with the column's parameters */
    bool sketch_given;
    double fraction;
};

/* What a sketch aggregate returns: the sketch (DS_HLL, DS_THETA,
 * DS_QUANTILES_SKETCH; result type the sketch type), its estimate rounded
 * to a BIGINT (APPROX_COUNT_DISTINCT*, COUNT(DISTINCT x) when approximate),
 * or a quantile (APPROX_QUANTILE_DS, DOUBLE). */
enum { SQL_SKETCH_OUT_SKETCH, SQL_SKETCH_OUT_ESTIMATE, SQL_SKETCH_OUT_QUANTILE };

/* For an aggregation expression (SQL_MODE_ROLLUP or an aggregate at the top
 * in SQL_MODE_ANY): its call; NULL otherwise. */
const struct sql_agg_call *sql_expr_agg(const struct sql_expr *e);
bool sql_expr_is_aggregation(const struct sql_expr *e);

/*
 * States are fixed-size byte blocks (sql_agg_state_size) that may point to
 * variable data (strings, distinct sets) allocated from the `mem` arena given
 * to add/merge/deserialize: keep that arena as long as the states. The calls
 * never fail except for allocation (false = out of memory in `mem`).
 */
size_t sql_agg_state_size(const struct sql_agg_call *c);
void sql_agg_init(const struct sql_agg_call *c, void *state);
/* Adds one row: args[] are the evaluated arguments (nargs of them), row_time
 * the row's __time (EARLIEST/LATEST). False when out of memory, or when an
 * ARRAY_AGG, ARRAY_CONCAT_AGG or STRING_AGG state would pass its max_bytes
 * (use sql_agg_add_err to tell the two apart). */
bool sql_agg_add(const struct sql_agg_call *c, void *state, const struct sql_value *args,
                 int64_t row_time, struct arena *mem);
/* The same, saying why: 0, LERR_NOMEM, or LERR_INVALID when the state would
 * pass its max_bytes (the message names the aggregate, the size, the limit
 * and how to raise it); the state is then left as it was. */
int sql_agg_add_err(const struct sql_agg_call *c, void *state, const struct sql_value *args,
                    int64_t row_time, struct arena *mem, struct lerr *err);
/* Evaluates the call's arguments (and FILTER) over one row and adds it
 * (errors as sql_agg_add_err, and evaluation errors). */
int sql_agg_add_row(const struct sql_agg_call *c, void *state, const struct sql_value *row,
                    int64_t row_time, struct arena *mem, struct lerr *err);
bool sql_agg_merge(const struct sql_agg_call *c, void *dst, const void *src, struct arena *mem);
/* The same, saying why (as sql_agg_add_err). */
int sql_agg_merge_err(const struct sql_agg_call *c, void *dst, const void *src, struct arena *mem,
                      struct lerr *err);
/* The final value (COUNT → LONG, AVG → DOUBLE, SUM/MIN/MAX of no rows → NULL;
 * VAR_* and STDDEV_* → DOUBLE, 0 for one value, NULL for none; BIT_* →
 * BIGINT, NULL for none; ARRAY_AGG and ARRAY_CONCAT_AGG → ARRAY in input
 * order, or sorted (NULL first) when DISTINCT; STRING_AGG → VARCHAR, NULL
 * when no value). Strings and arrays point into the state's memory (a
 * DISTINCT array is sorted there, in place: finalizing is not thread-safe
 * for one state). */
void sql_agg_finalize(const struct sql_agg_call *c, const void *state, struct sql_value *out);
/* A scalar value as portable bytes (the states' own encoding of values);
 * false for an ARRAY or INTERVAL, or out of memory. */
bool sql_value_write(struct buf *b, const struct sql_value *v);
/* Reads one back from [*p, e), advancing *p; its bytes are copied into mem.
 * false when truncated, not a scalar, or out of memory. */
bool sql_value_read(const unsigned char **p, const unsigned char *e, struct sql_value *v,
                    struct arena *mem);
/* Portable bytes (little-endian, versioned) that segments store. */
bool sql_agg_serialize(const struct sql_agg_call *c, const void *state, struct buf *out);
/* LERR_CORRUPT when the bytes are not a state of this aggregator. */
int sql_agg_deserialize(const struct sql_agg_call *c, const void *p, size_t n, void *state,
                        struct arena *mem, struct lerr *err);
/* Builds a call for a table measure type ("longSum", "doubleMax", "count",
 * "stringLatest", "HLLSketch", ...) over one input value, for storage
 * merging measures (a sketch measure's call finalizes to the sketch).
 * false if the measure type is unknown. */
bool sql_agg_for_measure(const char *measure_type, struct sql_agg_call *out);

/*
 * Whether states written by aggregator a can be read and merged as states of
 * b: the same kind of state (COUNT(*) and COUNT(x), LATEST and LATEST_BY,
 * EARLIEST and EARLIEST_BY share theirs) holding values of the same family
 * (whole numbers, floating point, text), whatever their arguments and
 * maxBytes. Segments written by an older mapping-built aggregator stay
 * readable under the measure type's own.
 */
bool sql_agg_state_compatible(const struct sql_agg_call *a, const struct sql_agg_call *b);

/* ---- measures: which mapping aggregation feeds which measure type ---------- */

/*
 * A measure column of an aggregate table keeps one aggregator state per
 * stored row; rows that roll up (ingestion, persist, compaction, queries)
 * combine states with the measure type's aggregator, so a mapping may only
 * feed a measure whose combination means the same as the mapping's own:
 *
 *   measure type                 stored as        mappings that feed it
 *   count                        COUNT  (BIGINT)  COUNT(*), COUNT(x)
 *   longSum                      SUM    (BIGINT)  COUNT(*), COUNT(x), SUM(x)
 *   doubleSum, floatSum          SUM    (DOUBLE)  SUM(x)
 *   longMin / longMax            MIN/MAX(BIGINT)  MIN(x) / MAX(x)
 *   floatMin / floatMax          MIN/MAX(FLOAT)   MIN(x) / MAX(x)
 *   doubleMin / doubleMax        MIN/MAX(DOUBLE)  MIN(x) / MAX(x)
 *   {long,double,string}Latest   LATEST           LATEST(x), LATEST_BY(x, t)
 *   {long,double,string}Earliest EARLIEST         EARLIEST(x), EARLIEST_BY(x, t)
 *   HLLSketch                    DS_HLL           COUNT(DISTINCT x),
 *                                                 APPROX_COUNT_DISTINCT(x),
 *                                                 APPROX_COUNT_DISTINCT_DS_HLL(x ...),
 *                                                 DS_HLL(x ...)
 *   thetaSketch                  DS_THETA         APPROX_COUNT_DISTINCT_DS_THETA(x ...),
 *                                                 DS_THETA(x ...)
 *   quantilesDoublesSketch       DS_QUANTILES_SKETCH  DS_QUANTILES_SKETCH(x ...),
 *                                                 APPROX_QUANTILE_DS(x, f ...)
 *
 * (a sketch column keeps Druid's default parameters: HLL lgK 12 HLL_4,
 * theta 16384 entries, quantiles k 128; a mapping's own lgK, size or k
 * builds its sketch, which merges into the column's)
 *
 * and x must be of the measure's type or narrower: a BIGINT column takes
 * BIGINT, BOOLEAN or TIMESTAMP values; a FLOAT one those and FLOAT but not
 * TIMESTAMP; a DOUBLE one any number but TIMESTAMP; a string one anything
 * (as text). COUNT(x) counts any type. A value is converted to the
 * measure's type as it enters the state; a sketch column takes any value
 * its sketch takes, and a value that is a sketch of its family (or, at
 * ingestion, the base64 text of one: a pre-built sketch) merges into it.
 * Nothing else feeds a measure: AVG, ANY_VALUE, an exact COUNT(DISTINCT
 * x) (mappings count approximately, into an HLLSketch column), and the
 * query-only aggregates VARIANCE, VAR_SAMP, VAR_POP, STDDEV (and
 * _SAMP, _POP), BIT_AND, BIT_OR, BIT_XOR,
 * ARRAY_AGG, ARRAY_CONCAT_AGG and STRING_AGG/LISTAGG.
 *
 * X(name, stored aggregator kind, its value type, mapping kinds fed (bits
 * of 1 << enum sql_agg_kind))
 */
#define SQL_FEEDS(k) (1u << (k))
#define SQL_FEEDS_COUNT (SQL_FEEDS(SQL_AGG_COUNT_STAR) | SQL_FEEDS(SQL_AGG_COUNT))
#define SQL_FEEDS_LATEST (SQL_FEEDS(SQL_AGG_LATEST) | SQL_FEEDS(SQL_AGG_LATEST_BY))
#define SQL_FEEDS_EARLIEST (SQL_FEEDS(SQL_AGG_EARLIEST) | SQL_FEEDS(SQL_AGG_EARLIEST_BY))
#define SQL_MEASURE_MAP(X)                                                        \
    X("count", SQL_AGG_COUNT_STAR, SQL_LONG, SQL_FEEDS_COUNT)                     \
    X("longSum", SQL_AGG_SUM, SQL_LONG, SQL_FEEDS_COUNT | SQL_FEEDS(SQL_AGG_SUM)) \
    X("doubleSum", SQL_AGG_SUM, SQL_DOUBLE, SQL_FEEDS(SQL_AGG_SUM))               \
    X("floatSum", SQL_AGG_SUM, SQL_DOUBLE, SQL_FEEDS(SQL_AGG_SUM))                \
    X("longMin", SQL_AGG_MIN, SQL_LONG, SQL_FEEDS(SQL_AGG_MIN))                   \
    X("longMax", SQL_AGG_MAX, SQL_LONG, SQL_FEEDS(SQL_AGG_MAX))                   \
    X("doubleMin", SQL_AGG_MIN, SQL_DOUBLE, SQL_FEEDS(SQL_AGG_MIN))               \
    X("doubleMax", SQL_AGG_MAX, SQL_DOUBLE, SQL_FEEDS(SQL_AGG_MAX))               \
    X("floatMin", SQL_AGG_MIN, SQL_FLOAT, SQL_FEEDS(SQL_AGG_MIN))                 \
    X("floatMax", SQL_AGG_MAX, SQL_FLOAT, SQL_FEEDS(SQL_AGG_MAX))                 \
    X("longLatest", SQL_AGG_LATEST, SQL_LONG, SQL_FEEDS_LATEST)                   \
    X("doubleLatest", SQL_AGG_LATEST, SQL_DOUBLE, SQL_FEEDS_LATEST)               \
    X("stringLatest", SQL_AGG_LATEST, SQL_STRING, SQL_FEEDS_LATEST)               \
    X("longEarliest", SQL_AGG_EARLIEST, SQL_LONG, SQL_FEEDS_EARLIEST)             \
    X("doubleEarliest", SQL_AGG_EARLIEST, SQL_DOUBLE, SQL_FEEDS_EARLIEST)         \
    X("stringEarliest", SQL_AGG_EARLIEST, SQL_STRING, SQL_FEEDS_EARLIEST)         \
    X("HLLSketch", SQL_AGG_HLL, SQL_HLL_SKETCH, SQL_FEEDS(SQL_AGG_HLL))           \
    X("thetaSketch", SQL_AGG_THETA, SQL_THETA_SKETCH, SQL_FEEDS(SQL_AGG_THETA))   \
    X("quantilesDoublesSketch", SQL_AGG_QUANTILES, SQL_QUANTILES_SKETCH,          \
      SQL_FEEDS(SQL_AGG_QUANTILES))

/*
 * Whether mapping aggregation `m` may feed a measure of type measure_type
 * (the table above): 0 with *col set to the measure's stored aggregator
 * (sql_agg_for_measure), or LERR_INVALID with a message that names the
 * measure type, the aggregations it accepts and how to fix the mapping
 * (the caller prefixes the mapping and the column).
 */
int sql_agg_measure_fit(const char *measure_type, const struct sql_agg_call *m,
                        struct sql_agg_call *col, struct lerr *err);
/*
 * The measure type a new column fed by `m` gets ("count", "longSum",
 * "doubleMax", "stringLatest", ...; never a float type), or NULL with
 * LERR_INVALID when no measure type keeps what m computes (AVG, ANY_VALUE,
 * distinct counts, MIN/MAX of text, the query-only aggregates).
 */
const char *sql_agg_measure_default(const struct sql_agg_call *m, struct lerr *err);
/*
 * A sketch measure column's parameters, by Druid's metric field names:
 * "lgK" (4..21) and "tgtHllType" ("HLL_4", "HLL_6", "HLL_8") of an
 * HLLSketch column, "size" (nominal entries, a power of two from 16 to
 * 2^26) of a thetaSketch column, "k" (a power of two from 2 to 32768) of a
 * quantilesDoublesSketch column. sql_sketch_param_keys lists them (NULL
 * ends it). sql_agg_sketch_param_set sets one on a measure's stored
 * aggregator (sql_agg_for_measure): `n` for the numbers, `s` for
 * tgtHllType; LERR_INVALID with what is wrong and what is allowed (the
 * caller prefixes where), also for a key of another measure type.
 * sql_agg_sketch_params lists a sketch call's parameters (two for HLL, one
 * for theta and quantiles, none for other calls); sql_agg_sketch_params_text
 * writes them as "lgK 14, tgtHllType HLL_8" for messages.
 */
struct sql_sketch_param {
    const char *key;
    int64_t n;
    const char *s; /* tgtHllType; NULL for the numbers */
};
extern const char *const sql_sketch_param_keys[];
int sql_agg_sketch_param_set(struct sql_agg_call *c, const char *key, int64_t n, const char *s,
                             struct lerr *err);
size_t sql_agg_sketch_params(const struct sql_agg_call *c, struct sql_sketch_param out[2]);
void sql_agg_sketch_params_text(const struct sql_agg_call *c, char *buf, size_t cap);
/*
 * Adds one input row, as mapping aggregation `m` sees it (its FILTER, its
 * arguments, its time argument and maxBytes), to `state`, a state of the
 * stored aggregator `col` that sql_agg_measure_fit() gave for m. COUNT adds
 * its count (1, or 0 for COUNT(x) of NULL); the others add their value,
 * converted to col's type. 0, LERR_NOMEM, or an evaluation error.
 */
int sql_agg_add_row_as(const struct sql_agg_call *col, void *state, const struct sql_agg_call *m,
                       const struct sql_value *row, int64_t row_time, struct arena *mem,
                       struct lerr *err);

/* ---- SELECT -------------------------------------------------------------- */

struct sql_stmt; /* a parsed, not yet bound statement */

/* Parses `[EXPLAIN PLAN FOR] [WITH ...] SELECT ... [UNION ALL SELECT ...]`. */
int sql_parse_select(const char *text, size_t len, struct sql_stmt **out, struct lerr *err);
/* The same, the statement's memory charged to `budget` (NULL = none), which
 * must outlive it; a refusal is LERR_NOMEM. */
int sql_parse_select_in(const char *text, size_t len, struct mem_budget *budget,
                        struct sql_stmt **out, struct lerr *err);
void sql_stmt_free(struct sql_stmt *s);
/* The FROM table: schema ("" or "INFORMATION_SCHEMA", "druid") and name;
 * name is "" for a SELECT without FROM. Valid for the life of s. */
void sql_stmt_table(const struct sql_stmt *s, const char **schema_name, const char **table);

struct sql_select_item {
    const char *name; /* alias, the column's own name, or EXPR$<i> */
    struct sql_expr *expr;
    uint8_t type;
};

struct sql_order_item {
    struct sql_expr *expr;
    bool desc;
    int item; /* the select item it names, or -1 */
};

/*
 * A bound SELECT. When `aggregate` is set (GROUP BY, aggregate calls, HAVING
 * or DISTINCT), the query runs in two stages:
 *   1. over table rows: `where`, then `keys[]` (group keys) and `aggs[]`
 *      (their args and filters), all compiled over the table columns;
 *   2. per group: items, having and order are compiled over the schema
 *      "group row" = [key 0, ..., key nkeys-1, agg 0, ..., agg naggs-1],
 *      evaluated with sql_eval_row on that row.
 * Otherwise items and order are compiled over the table columns.
 */
struct sql_select {
    bool explain;
    bool distinct;
    bool aggregate;
    const char *schema_name; /* "" unless qualified, e.g. "INFORMATION_SCHEMA" */
    const char *table;       /* "" when there is no FROM */
    struct sql_expr *where;  /* NULL = all rows */
    size_t nitems;
    struct sql_select_item *items;
    size_t nkeys;
    struct sql_expr **keys;
    size_t naggs;
    struct sql_agg_call *aggs;
    struct sql_expr *having; /* NULL = all groups */
    size_t norder;
    struct sql_order_item *order;
    int64_t limit;  /* -1 = none */
    int64_t offset; /* 0 = none */
    /* Interval on __time implied by WHERE (for segment pruning): rows outside
     * [time_min, time_max) cannot match. INT64_MIN/INT64_MAX when open. */
    int64_t time_min, time_max;
};

/* Binds one SELECT block (its subqueries resolved) against the columns of
 * its FROM (`SELECT *` expands to them in order, less the qualified-only
 * ones; `t.*` to those qualified by t). Errors as sql_compile_expr, plus
 * GROUP BY and ORDER BY mistakes, ambiguous names, unresolved subqueries.
 * *out owns its memory (sql_select_free); s may be freed after. */
int sql_bind_select(const struct sql_stmt *s, const struct sql_schema *columns,
                    const struct sql_options *opt, struct sql_select **out, struct lerr *err);
void sql_select_free(struct sql_select *q);

/* ---- the FROM tree, WITH lists, subqueries (from.c) -------------------------- */

/*
 * A parsed statement is a tree of SELECT blocks (struct sql_stmt). The
 * query engine runs it bottom up: each FROM item becomes rows (a table, or
 * a block's result), expression subqueries are run and their results put
 * in place (sql_subquery_resolve), then the block is bound against the
 * columns of its FROM (sql_bind_select) and run.
 */
enum sql_from_kind {
    SQL_FROM_TABLE,    /* schema_name.table [AS alias]: a table or a WITH name */
    SQL_FROM_SUBQUERY, /* (SELECT ...) [AS] alias [(col, ...)] */
    SQL_FROM_JOIN,     /* left <join> right [ON on | USING (cols)] */
    SQL_FROM_UNION,    /* parts[0] UNION ALL parts[1] ... (distinct: UNION) */
    SQL_FROM_UNNEST,   /* UNNEST(expr) [AS alias (col)]: right side of a join */
    SQL_FROM_WINDOW    /* sub's rows with window columns appended (windows) */
};

enum sql_join_kind {
    SQL_JOIN_INNER,
    SQL_JOIN_LEFT,
    SQL_JOIN_RIGHT,
    SQL_JOIN_FULL,
    SQL_JOIN_CROSS
};

struct sql_windows; /* window calls of a block, planned (window.c) */
struct sql_node;

struct sql_from {
    enum sql_from_kind kind;
    uint32_t pos;                    /* byte offset in the statement text */
    const char *schema_name, *table; /* TABLE ("" schema when unqualified) */
    const char *alias;               /* or NULL */
    size_t ncol_aliases;             /* AS alias (a, b): renames the columns */
    const char **col_aliases;
    struct sql_stmt *sub; /* SUBQUERY, WINDOW */
    size_t nparts;        /* UNION */
    struct sql_stmt **parts;
    bool distinct;           /* UNION without ALL */
    enum sql_join_kind join; /* JOIN */
    struct sql_from *left, *right;
    struct sql_node *on; /* or NULL */
    size_t nusing;
    const char **using_cols;
    struct sql_node *expr;             /* UNNEST's array */
    const struct sql_windows *windows; /* WINDOW */
};

/* A WITH list entry: name [(col, ...)] AS (query). */
struct sql_cte {
    const char *name;
    uint32_t pos;
    size_t ncols;
    const char **cols;
    struct sql_stmt *q;
};

/* The block's FROM tree (NULL: no FROM) and WITH list. */
const struct sql_from *sql_stmt_from(const struct sql_stmt *s);
size_t sql_stmt_ctes(const struct sql_stmt *s, const struct sql_cte **ctes);
bool sql_stmt_is_explain(const struct sql_stmt *s);
uint32_t sql_stmt_pos(const struct sql_stmt *s); /* where the block starts */
/* Whether block s may read column `name` of the FROM item called `qual`
 * (its alias or table name): an identifier naming it, qualified by qual or
 * not, or a `*` / `qual.*`, anywhere in the block's own clauses and FROM
 * tree. A superset: the engine reads only these columns of a joined table. */
bool sql_stmt_uses_column(const struct sql_stmt *s, const char *qual, const char *name);
/*
 * For reading only the needed rows of table `qual` (its alias or name) on
 * one side of join j: when ON has an equality between a column of that
 * table, written qual.col, and a bare column of the other side's fields,
 * returns col's name and sets *other_col to that field; NULL otherwise.
 */
const char *sql_join_on_column(const struct sql_from *j, const char *qual, bool table_is_left,
                               const struct sql_field *other, size_t nother, size_t *other_col);
/* The statement text and the "at line L, column C" error for a position in
 * it (for errors the engine finds in a FROM item). */
int sql_stmt_error(const struct sql_stmt *s, uint32_t pos, struct lerr *err, const char *fmt, ...)
    LS_PRINTF(4, 5);

/* Subqueries in a block's expressions (SELECT list, WHERE, GROUP BY,
 * HAVING, ORDER BY, and the ON conditions of its FROM tree). */
enum sql_subquery_kind {
    SQL_SUBQUERY_SCALAR, /* (SELECT x ...): one column, at most one row */
    SQL_SUBQUERY_EXISTS, /* EXISTS (SELECT ...) */
    SQL_SUBQUERY_IN      /* a IN (SELECT x ...), a NOT IN (...): one column */
};
struct sql_subquery {
    enum sql_subquery_kind kind;
    struct sql_stmt *q;
    struct sql_node *node; /* the node the result replaces (private) */
};
/*
 * An INNER join of table t with another FROM item called oq, on
 * t.tcol = oq.ocol alone (or USING one column): sql_join_single_key finds
 * the two columns. When the other side's ocol values are distinct, and
 * block s reads that side only as oq.ocol (no other of its columns ofields,
 * no `*`), the join is a filter: sql_stmt_join_to_filter rewrites s to read
 * t alone WHERE (its WHERE) AND t.tcol IN (keys), with oq.ocol read as
 * t.tcol, and sets *rewritten (false: s does not qualify). 0 or LERR_NOMEM.
 */
bool sql_join_single_key(const struct sql_from *j, const char *tq, const char *oq,
                         const char **tcol, const char **ocol);
int sql_stmt_join_to_filter(struct sql_stmt *s, const struct sql_from *t, const char *tcol,
                            const char *oq, const char *ocol, const struct sql_field *ofields,
                            size_t nof, const struct sql_value *keys, size_t nkeys,
                            bool *rewritten, struct lerr *err);

/* GROUP BY GROUPING SETS / ROLLUP / CUBE: rewrites block s in place into
 * a UNION ALL of one block per set (grouping.c); GROUPING(...) becomes its
 * constant in each. Nothing to do (0) for other blocks. */
int sql_stmt_expand_grouping(struct sql_stmt *s, struct lerr *err);

/* Calls fn for each subquery of s's own expressions, not those inside
 * nested blocks (each block resolves its own), stopping at a non-zero. */
int sql_stmt_subqueries(struct sql_stmt *s, int (*fn)(void *arg, struct sql_subquery *sq),
                        void *arg);
/*
 * Puts a subquery's result in its place: rows[r][0] for r < nrows, of SQL
 * type `type`. SCALAR: the value (NULL of the type when no row; more than
 * one row is an error naming the subquery); EXISTS: whether there are rows;
 * IN: the values become the IN list. Values are copied into the
 * statement's memory. ncols must be 1 except for EXISTS (an error naming
 * the subquery otherwise).
 */
int sql_subquery_resolve(struct sql_stmt *s, struct sql_subquery *sq, size_t ncols, int type,
                         const struct sql_value *const *rows, size_t nrows, struct lerr *err);

/*
 * The condition of a JOIN, bound over left ++ right (fields of left, then
 * of right): the equalities between an expression of one side and one of
 * the other (AND-ed at the top of ON, or from USING) become key pairs,
 * lkeys[i] bound over left and rkeys[i] over right, compared after
 * converting both to key_types[i]; the rest is `residual` (NULL when none),
 * bound over left ++ right.
 */
struct sql_join_cond {
    size_t nkeys;
    struct sql_expr **lkeys, **rkeys;
    uint8_t *key_types;
    struct sql_expr *residual;
    struct sql_owner *owner;
};
int sql_bind_join(const struct sql_stmt *s, const struct sql_from *j,
                  const struct sql_schema *left, const struct sql_schema *right,
                  const struct sql_options *opt, struct sql_join_cond **out, struct lerr *err);
void sql_join_cond_free(struct sql_join_cond *c);
/* UNNEST's expression bound over the columns to its left (a scalar or an
 * array; *out owns its memory). */
int sql_bind_unnest(const struct sql_stmt *s, const struct sql_from *u,
                    const struct sql_schema *left, const struct sql_options *opt,
                    struct sql_expr **out, struct lerr *err);

/* ---- window functions ------------------------------------------------------ */

/*
 * A SELECT block with window calls (`fn(...) OVER (...)`) is planned at the
 * tree level (window.c) into an outer block over a window step over an
 * inner block: the inner block keeps FROM, WHERE, GROUP BY and HAVING and
 * selects every window-free part of the query plus each window's arguments,
 * PARTITION BY and ORDER BY expressions; the window step (query/) appends
 * one column per window call to the inner block's result; the outer block
 * computes the select list, ORDER BY, LIMIT/OFFSET and DISTINCT from those
 * columns. struct sql_windows describes the window step by column indexes
 * into the inner block's result, so the step never binds expressions.
 *
 * X(enum, name, min args, max args)
 */
#define SQL_WIN_FUNC_MAP(X)                       \
    X(SQL_WIN_ROW_NUMBER, "ROW_NUMBER", 0, 0)     \
    X(SQL_WIN_RANK, "RANK", 0, 0)                 \
    X(SQL_WIN_DENSE_RANK, "DENSE_RANK", 0, 0)     \
    X(SQL_WIN_PERCENT_RANK, "PERCENT_RANK", 0, 0) \
    X(SQL_WIN_CUME_DIST, "CUME_DIST", 0, 0)       \
    X(SQL_WIN_NTILE, "NTILE", 1, 1)               \
    X(SQL_WIN_LAG, "LAG", 1, 3)                   \
    X(SQL_WIN_LEAD, "LEAD", 1, 3)                 \
    X(SQL_WIN_FIRST_VALUE, "FIRST_VALUE", 1, 1)   \
    X(SQL_WIN_LAST_VALUE, "LAST_VALUE", 1, 1)     \
    X(SQL_WIN_AGG, "aggregate", 0, 0)

enum sql_win_func {
#define SQL_WIN_ENUM(e, name, mn, mx) e,
    SQL_WIN_FUNC_MAP(SQL_WIN_ENUM)
#undef SQL_WIN_ENUM
        SQL__WIN_COUNT
};

/* Frame bounds. A frame is [start, end] with start <= end in this order. */
enum sql_frame_bound {
    SQL_FRAME_UNBOUNDED_PRECEDING,
    SQL_FRAME_PRECEDING, /* n PRECEDING */
    SQL_FRAME_CURRENT_ROW,
    SQL_FRAME_FOLLOWING, /* n FOLLOWING */
    SQL_FRAME_UNBOUNDED_FOLLOWING
};

/* One sort key of a window's ORDER BY: a column of the inner result. */
struct sql_window_key {
    uint32_t col;
    bool desc;
    bool nulls_first; /* as written, or the default: NULLs first ascending, last descending */
};

/*
 * One window call. The partition is the rows with equal `part` columns;
 * within it the rows are sorted by `order` (peers: rows equal on every
 * order column). The frame (aggregates, FIRST_VALUE, LAST_VALUE) is, when
 * not written, RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW with an
 * ORDER BY (the current row and its peers included) and the whole
 * partition without one. ROWS frames count rows; RANGE frames (as in Druid)
 * take only UNBOUNDED and CURRENT ROW bounds, CURRENT ROW meaning the
 * current row's first (as a start) or last (as an end) peer.
 */
struct sql_window_call {
    uint8_t func;        /* enum sql_win_func */
    uint8_t nargs;       /* argument columns: the aggregate's, or LAG's value */
    uint32_t args[2];    /* argument columns (LAG/LEAD/FIRST/LAST: args[0]) */
    int32_t default_col; /* LAG/LEAD default value column, or -1 (NULL) */
    int64_t n;           /* NTILE buckets; LAG/LEAD offset (default 1) */
    /* SQL_WIN_AGG: the aggregate as text over the inner result's columns,
     * which sql_window_compile_agg() compiles (it names column i "$w<i>"),
     * and where the call is in the query text, for messages. */
    const char *agg_text;
    uint32_t pos;
    size_t npart;
    const uint32_t *part;
    size_t norder;
    const struct sql_window_key *order;
    bool rows;          /* ROWS frame (else RANGE) */
    bool frame_written; /* an explicit frame (else the default one) */
    uint8_t start, end; /* enum sql_frame_bound */
    int64_t start_n, end_n;
    const char *text; /* the call as written, for EXPLAIN */
};

struct sql_windows {
    size_t ncalls;
    const struct sql_window_call *calls;
    size_t ninner;    /* columns of the inner block's result */
    const char *text; /* the statement's text (for messages) */
    size_t len;
};

/*
 * Plans the window calls of block s (no-op when it has none): rewrites s in
 * place as described above; s's FROM becomes an SQL_FROM_WINDOW item whose
 * `sub` is the inner block and `windows` the step. Call it before
 * sql_stmt_expand_grouping() and sql_stmt_subqueries() (they then see the
 * inner block's GROUP BY and subqueries when it runs). Errors (LERR_INVALID with line, column and
 * a hint): a window call in WHERE, GROUP BY or HAVING, inside an
 * aggregate's argument or inside another window (its arguments, PARTITION
 * BY or ORDER BY); an unknown window name; a bad frame; a window function
 * without OVER is the binder's error. LERR_NOMEM when memory refused.
 */
int sql_stmt_plan_windows(struct sql_stmt *s, struct lerr *err);
/*
 * Compiles the aggregate of window call i (SQL_WIN_AGG) over the inner
 * result's columns `in` (only their types matter): *out is an
 * aggregation expression (sql_expr_agg gives its call; its arguments and
 * FILTER are compiled over `in`; its names do not matter, column i is
 * "$w<i>" to the compiled text). Errors as sql_compile_expr, placed at the
 * call in the query text.
 */
int sql_window_compile_agg(const struct sql_windows *w, size_t i, const struct sql_schema *in,
                           const struct sql_options *opt, struct sql_expr **out, struct lerr *err);
/* The window step as EXPLAIN shows it (one line per call). */
bool sql_windows_explain(const struct sql_windows *w, struct buf *out);

/* Convenience: the bound expression as text for EXPLAIN ("TIME_PARSE($0)"). */
bool sql_expr_explain(const struct sql_expr *e, struct buf *out);

/* ---- INSERT and REPLACE (dml.c) --------------------------------------------------------- */

enum sql_dml_mode { SQL_DML_INSERT, SQL_DML_REPLACE_ALL, SQL_DML_REPLACE_WHERE };
enum sql_dml_source { SQL_DML_EXTERN, SQL_DML_TABLE };

/* A select item over EXTERN: a mapping of the job. */
struct sql_dml_item {
    const char *column;     /* the alias, or the column's own name */
    const char *expression; /* the expression's text as written */
    bool aggregation;       /* it calls an aggregate (SUM, COUNT, ...) */
    size_t pos;             /* byte offset in the statement */
};

/*
 * A parsed INSERT or REPLACE. Strings are NUL-terminated and owned by it;
 * positions are byte offsets into the statement (for sql_dml_error_at).
 */
struct sql_dml {
    enum sql_dml_mode mode;
    const char *table; /* the target */
    size_t table_pos;
    int64_t overwrite_start, overwrite_end; /* REPLACE_WHERE: [start, end) in ms */
    size_t overwrite_pos;                   /* where OVERWRITE WHERE's condition starts */
    const char *partitioned_by;             /* "hour" "day" "week" "month" "year" "all" */
    size_t partition_pos;
    const char *const *clustered_by;
    size_t nclustered;
    const char *select; /* the inner SELECT's text, and its span in the statement */
    size_t select_off, select_len;
    enum sql_dml_source source;
    /* SQL_DML_EXTERN: the three arguments (JSON, '' undone; the signature
     * written as JSON when it came as EXTEND), the input source's type
     * ("inline" or "uploaded"), the items, WHERE's text (NULL: none). */
    const char *input_source, *input_format, *signature, *input_source_type;
    size_t input_source_pos, input_format_pos, signature_pos;
    struct sql_dml_item *items;
    size_t nitems;
    const char *where;
    size_t where_pos;
    bool grouped; /* GROUP BY (the target's rollup does the grouping) */
    /* SQL_DML_TABLE: the table the SELECT reads. */
    const char *source_table;
    const char *text; /* a copy of the statement */
    size_t len;
    struct arena mem;
};

/* Does the text start with INSERT or REPLACE (so it is not a query)? */
bool sql_dml_is_dml(const char *text, size_t len);
/*
 * Parses INSERT INTO t SELECT ... PARTITIONED BY g [CLUSTERED BY ...] and
 * REPLACE INTO t OVERWRITE ALL | OVERWRITE WHERE __time >= a AND __time < b
 * SELECT ...; *out is freed with sql_dml_free. LERR_INVALID with the line,
 * column and a hint: no PARTITIONED BY, a granularity the tables do not
 * have, OVERWRITE WHERE on anything but a __time range, EXTERN arguments
 * that are not JSON or an input source type other than inline and
 * uploaded, a SELECT over EXTERN without __time or with an unnamed item.
 * Thread-safe.
 */
int sql_dml_parse(const char *text, size_t len, struct sql_dml **out, struct lerr *err);
void sql_dml_free(struct sql_dml *d);
/* Sets err (LERR_INVALID) with "<message> at line L, column C" for byte offset off of d's text. */
int sql_dml_error_at(const struct sql_dml *d, size_t off, struct lerr *err, const char *fmt, ...)
    LS_PRINTF(4, 5);

#endif
