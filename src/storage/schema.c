/*
 * schema.c — immutable, refcounted schema versions of a table. A table's
 * schema only grows (schema discovery adds columns while data flows), so
 * each growth makes a new version; snapshots hold the version they saw.
 *
 * Entry points: storage__schema_new(), storage__schema_add(), storage__schema_retype(),
 * storage__schema_ref/unref(),
 * storage__schema_find(), storage__column_check(), storage__column_compatible().
 * Thread-safety: versions are immutable; ref/unref are atomic.
 */
#include <stdio.h>

#include "storage/storage_int.h"

static bool dim_type_ok(int t)
{
    return t == SQL_STRING || t == SQL_LONG || t == SQL_FLOAT || t == SQL_DOUBLE ||
           t == SQL_JSON || t == SQL_TIMESTAMP || t == SQL_ARRAY;
}

int storage__column_check(enum storage_table_type tt, const struct storage_column *c, size_t index,
                          struct lerr *err)
{
    char target[64];
    snprintf(target, sizeof target, "schema[%zu]", index);
    size_t n = c->name ? strlen(c->name) : 0;
    if (n == 0 || n > STORAGE_MAX_NAME)
        return lerr_set_at(err, LERR_INVALID, target,
                           "column name must be 1 to %d characters long", STORAGE_MAX_NAME);
    if (n >= 2 && c->name[0] == '_' && c->name[1] == '_')
        return lerr_set_at(err, LERR_INVALID, target,
                           "column name '%s' is reserved: names starting with '__' belong to "
                           "the system; rename the column",
                           c->name);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c->name[i] < 0x20 || c->name[i] == '/' || c->name[i] == 0x7f)
            return lerr_set_at(err, LERR_INVALID, target,
                               "column name '%s' contains '/' or a control character; use "
                               "letters, digits and punctuation",
                               c->name);
    if (c->kind == STORAGE_DIMENSION) {
        if (!dim_type_ok(c->type))
            return lerr_set_at(err, LERR_INVALID, target,
                               "column '%s': dimensions are string, long, float, double, json, "
                               "timestamp or a multi-value string, not %s",
                               c->name, sql_type_name(c->type));
        if (c->type == SQL_ARRAY && c->elem != SQL_NULL && !storage_array_elem_ok(c->elem))
            return lerr_set_at(err, LERR_INVALID, target,
                               "column '%s': an ARRAY column's elements are string, long or "
                               "double, not %s",
                               c->name, sql_type_name(c->elem));
        if (c->type != SQL_ARRAY && c->elem != SQL_NULL)
            return lerr_set_at(err, LERR_INVALID, target,
                               "column '%s': only an ARRAY column has an element type", c->name);
        return 0;
    }
    if (c->kind != STORAGE_MEASURE)
        return lerr_set_at(err, LERR_INVALID, target, "column '%s': unknown column kind %d",
                           c->name, c->kind);
    if (tt != STORAGE_AGGREGATE)
        return lerr_set_at(err, LERR_INVALID, target,
                           "column '%s' is a measure, but only aggregate tables have measures; "
                           "make it a dimension or the table aggregate",
                           c->name);
    if ((unsigned)c->agg.kind >= SQL__AGG_COUNT || sql_agg_state_size(&c->agg) == 0)
        return lerr_set_at(err, LERR_INVALID, target,
                           "measure '%s' has no usable aggregator; give it a measure type such "
                           "as longSum or doubleMax",
                           c->name);
    return 0;
}

bool storage__column_compatible(const struct storage_column *a, const struct storage_column *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == STORAGE_MEASURE) /* states one can read as the other's */
        return a->agg.distinct == b->agg.distinct && sql_agg_state_compatible(&a->agg, &b->agg);
    if (a->type == SQL_ARRAY || b->type == SQL_ARRAY) /* multi-value or typed, same elements */
        return a->type == b->type && a->elem == b->elem;
    if (a->type == b->type)
        return true;
    return (storage__is_longish(a->type) && storage__is_longish(b->type)) ||
           (storage__is_doubleish(a->type) && storage__is_doubleish(b->type));
}

static struct storage__schema *schema_alloc(size_t ncols)
{
    struct storage__schema *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cols = calloc(ncols, sizeof *s->cols);
    s->state_size = calloc(ncols, sizeof *s->state_size);
    if (!s->cols || !s->state_size) {
        free(s->cols);
        free(s->state_size);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    return s;
}

/* Copies column c into slot i (name duplicated, expressions dropped). */
static bool schema_put(struct storage__schema *s, size_t i, const struct storage_column *c)
{
    struct storage_column *d = &s->cols[i];
    *d = *c;
    d->name = strdup(c->name);
    d->agg.args[0] = d->agg.args[1] = NULL;
    d->agg.filter = NULL;
    if (c->kind == STORAGE_MEASURE) {
        d->type = c->agg.result_type;
        s->state_size[i] = (uint32_t)sql_agg_state_size(&d->agg);
    }
    s->ncols = i + 1;
    return d->name != NULL;
}

static int nomem(struct lerr *err)
{
    return lerr_set(err, LERR_NOMEM, "storage: out of memory building a table schema");
}

struct storage__schema *storage__schema_new(const struct storage_schema *in, struct lerr *err)
{
    if (in->type != STORAGE_DETAIL && in->type != STORAGE_AGGREGATE) {
        lerr_set(err, LERR_INVALID, "table type must be detail or aggregate");
        return NULL;
    }
    if ((unsigned)in->partitioning > STORAGE_GRAN_ALL || in->partitioning < STORAGE_GRAN_HOUR ||
        (unsigned)in->time_resolution > STORAGE_GRAN_DAY) {
        lerr_set_at(err, LERR_INVALID, "partitioningGranularity",
                    "partitioningGranularity must be hour, day, week, month, year or all, and "
                    "timeResolution millisecond, second, minute, fifteen_minute, hour or day");
        return NULL;
    }
    if (in->ncols + 1 > STORAGE_MAX_COLUMNS) {
        lerr_set(err, LERR_INVALID, "a table has at most %d columns", STORAGE_MAX_COLUMNS - 1);
        return NULL;
    }
    for (size_t i = 0; i < in->ncols; i++) {
        if (storage__column_check(in->type, &in->cols[i], i, err))
            return NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->cols[i].name, in->cols[j].name) == 0) {
                char target[64];
                snprintf(target, sizeof target, "schema[%zu]", i);
                lerr_set_at(err, LERR_INVALID, target,
                            "column '%s' appears twice in the schema; remove one",
                            in->cols[i].name);
                return NULL;
            }
    }
    struct storage__schema *s = schema_alloc(in->ncols + 1);
    if (!s) {
        nomem(err);
        return NULL;
    }
    s->type = in->type;
    s->partitioning = in->partitioning;
    s->time_resolution = in->type == STORAGE_AGGREGATE ? in->time_resolution
                                                       : STORAGE_GRAN_MILLISECOND;
    struct storage_column tcol = {
        .name = "__time", .type = SQL_TIMESTAMP, .kind = STORAGE_DIMENSION};
    bool ok = schema_put(s, 0, &tcol);
    for (size_t i = 0; ok && i < in->ncols; i++)
        ok = schema_put(s, i + 1, &in->cols[i]);
    if (!ok) {
        storage__schema_unref(s);
        nomem(err);
        return NULL;
    }
    return s;
}

/* A copy of `old` with column `at` replaced by c (at == old->ncols: c added). */
static struct storage__schema *schema_with(const struct storage__schema *old, size_t at,
                                           const struct storage_column *c, struct lerr *err)
{
    size_t n = at == old->ncols ? old->ncols + 1 : old->ncols;
    struct storage__schema *s = schema_alloc(n);
    if (!s) {
        nomem(err);
        return NULL;
    }
    s->type = old->type;
    s->partitioning = old->partitioning;
    s->time_resolution = old->time_resolution;
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++)
        ok = schema_put(s, i, i == at ? c : &old->cols[i]);
    if (!ok) {
        storage__schema_unref(s);
        nomem(err);
        return NULL;
    }
    return s;
}

struct storage__schema *storage__schema_add(const struct storage__schema *old,
                                            const struct storage_column *c, struct lerr *err)
{
    if (old->ncols >= STORAGE_MAX_COLUMNS) {
        lerr_set(err, LERR_INVALID, "a table has at most %d columns; column '%s' not added",
                 STORAGE_MAX_COLUMNS - 1, c->name ? c->name : "");
        return NULL;
    }
    if (storage__column_check(old->type, c, old->ncols - 1, err))
        return NULL;
    if (storage__schema_find(old, c->name, strlen(c->name)) >= 0) {
        lerr_set(err, LERR_INVALID, "column '%s' already exists", c->name);
        return NULL;
    }
    return schema_with(old, old->ncols, c, err);
}

struct storage__schema *storage__schema_retype(const struct storage__schema *old, size_t col,
                                               int type, struct lerr *err)
{
    if (col == 0 || col >= old->ncols || old->cols[col].kind != STORAGE_DIMENSION) {
        lerr_set(err, LERR_INVALID, "storage: column %zu is not a dimension that can change type",
                 col);
        return NULL;
    }
    struct storage_column c = old->cols[col];
    c.type = (uint8_t)type;
    c.elem = SQL_NULL;
    if (storage__column_check(old->type, &c, col - 1, err))
        return NULL;
    return schema_with(old, col, &c, err);
}

struct storage__schema *storage__schema_ref(struct storage__schema *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void storage__schema_unref(struct storage__schema *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->ncols; i++)
        free((char *)s->cols[i].name);
    free(s->cols);
    free(s->state_size);
    free(s);
}

int storage__schema_find(const struct storage__schema *s, const char *name, size_t n)
{
    for (size_t i = 0; i < s->ncols; i++)
        if (strlen(s->cols[i].name) == n && memcmp(s->cols[i].name, name, n) == 0)
            return (int)i;
    return -1;
}
