/*
 * discover.c — the parser's field table and schema discovery.
 *
 * The name table maps field names (declared, kafka metadata, discovered) and
 * dimensionExclusions to references; it is a util/map.h byte-string map.
 * The nd-json path consults it only when its per-position prediction misses.
 *
 * Discovery follows Druid's type rules for undeclared fields: string →
 * STRING, integer → LONG, other numbers → DOUBLE, boolean → LONG (1/0),
 * object or an array holding an object or array → JSON, array of primitives
 * → ARRAY (elements LONG, DOUBLE or STRING by the same rules). Across
 * records types only widen: LONG + DOUBLE → DOUBLE, number + STRING →
 * STRING, scalar + ARRAY → ARRAY (the scalar is a one-element array, as a
 * multi-value dimension), anything + JSON → JSON. Every addition and
 * widening bumps the parser's generation, so callers see each change
 * (format_discovered_fields()); values already produced keep their type.
 * A field seen only as null is not added until it has a value: there is
 * nothing to store before that.
 *
 * Entry points: format_discovered_fields(), format_parser_generation(), and
 * module-internal format__schema_init(), format__schema_copy(),
 * format__schema_free(), format__lookup(), format__insert(),
 * format__add_field(), format__discover(), format__observe_json(),
 * format__widen().
 */
#include "format/format_int.h"
#include "util/vec.h"

#include <stdlib.h>
#include <string.h>

/* ---- the name table ------------------------------------------------------ */

uint32_t format__lookup(const struct format__schema *sc, const char *s, size_t n)
{
    const struct map_entry *e = map_get_bytes(&sc->names, s, n);
    return e ? (uint32_t)e->val : REF_NONE;
}

bool format__insert(struct format__schema *sc, const char *s, size_t n, uint32_t ref)
{
    if (map_get_bytes(&sc->names, s, n))
        return true; /* the first reference of a name stays */
    return map_put_bytes(&sc->names, s, n, ref) == MAP_OK;
}

uint32_t format__add_field(struct format__schema *sc, const char *name, size_t n, uint8_t type,
                           uint8_t origin, struct lerr *err)
{
    if (sc->nfields == sc->fields_cap) {
        struct format_field *f =
            vec_grow(sc->fields, &sc->fields_cap, (size_t)sc->nfields + 1, sizeof *f, 32);
        if (!f) {
            lerr_set(err, LERR_NOMEM, "out of memory adding input field '%.*s'", (int)n, name);
            return UINT32_MAX;
        }
        sc->fields = f;
    }
    char *copy = arena_strndup(&sc->mem, name, n);
    if (!copy || !format__insert(sc, copy, n, sc->nfields)) {
        lerr_set(err, LERR_NOMEM, "out of memory adding input field '%.*s'", (int)n, name);
        return UINT32_MAX;
    }
    struct format_field *f = &sc->fields[sc->nfields];
    memset(f, 0, sizeof *f);
    f->name = copy;
    f->name_len = n;
    f->type = type;
    f->elem_type = SQL_NULL;
    f->origin = origin;
    f->meta = META_NONE;
    return sc->nfields++;
}

void format__schema_init(struct format__schema *sc)
{
    memset(sc, 0, sizeof *sc);
    arena_init(&sc->mem, 16 * 1024, 0);
    map_init(&sc->names, MAP_BYTES, NULL, NULL);
    map_set_arena(&sc->names, &sc->mem);
    sc->max_discovered = FORMAT_MAX_DISCOVERED;
}

bool format__schema_copy(struct format__schema *dst, const struct format__schema *src)
{
    if (src->nfields) {
        size_t cap = 0;
        struct format_field *f = vec_grow(NULL, &cap, src->nfields, sizeof *f, 32);
        if (!f)
            return false;
        memcpy(f, src->fields, src->nfields * sizeof *f);
        dst->fields = f;
        dst->fields_cap = cap;
    }
    dst->nfields = src->nfields;
    if (map_reserve(&dst->names, map_count(&src->names)) != MAP_OK)
        return false;
    size_t pos = 0;
    const struct map_entry *e;
    while ((e = map_next(&src->names, &pos))) {
        size_t n;
        const char *k = map_key_bytes(e, &n);
        if (!format__insert(dst, k, n, (uint32_t)e->val))
            return false;
    }
    dst->gen = src->gen;
    dst->ndiscovered = src->ndiscovered;
    dst->max_discovered = src->max_discovered;
    return true;
}

void format__schema_free(struct format__schema *sc)
{
    free(sc->fields);
    map_destroy(&sc->names);
    arena_destroy(&sc->mem);
}

/* ---- type rules ------------------------------------------------------------ */

static int scalar_rank(uint8_t t)
{
    switch (t) {
    case SQL_LONG: return 1;
    case SQL_DOUBLE: return 2;
    case SQL_STRING: return 3;
    default: return 0; /* SQL_NULL: nothing known yet */
    }
}

static uint8_t widen_scalar(uint8_t a, uint8_t b)
{
    return scalar_rank(a) >= scalar_rank(b) ? a : b;
}

void format__widen(uint8_t *type, uint8_t *elem, uint8_t t2, uint8_t e2)
{
    uint8_t t1 = *type, e1 = *elem;
    if (t1 == SQL_NULL) {
        *type = t2;
        *elem = e2;
    } else if (t2 == SQL_NULL) {
        return;
    } else if (t1 == SQL_JSON || t2 == SQL_JSON) {
        *type = SQL_JSON;
        *elem = SQL_NULL;
    } else if (t1 == SQL_ARRAY || t2 == SQL_ARRAY) {
        *type = SQL_ARRAY;
        *elem = widen_scalar(t1 == SQL_ARRAY ? e1 : t1, t2 == SQL_ARRAY ? e2 : t2);
    } else {
        *type = widen_scalar(t1, t2);
        *elem = SQL_NULL;
    }
}

static uint8_t scalar_kind_type(const struct format_json_value *v)
{
    switch (v->kind) {
    case FORMAT_JSON_KIND_STRING: return SQL_STRING;
    case FORMAT_JSON_KIND_NUMBER:
        return (v->num_flags & FORMAT_JSON_NUM_INT) ? SQL_LONG : SQL_DOUBLE;
    case FORMAT_JSON_KIND_TRUE:
    case FORMAT_JSON_KIND_FALSE: return SQL_LONG;
    default: return SQL_NULL;
    }
}

bool format__observe_json(struct format_parser *p, const struct format_json_value *v,
                          uint8_t *type, uint8_t *elem)
{
    *elem = SQL_NULL;
    switch (v->kind) {
    case FORMAT_JSON_KIND_NULL: return false;
    case FORMAT_JSON_KIND_OBJECT: *type = SQL_JSON; return true;
    case FORMAT_JSON_KIND_ARRAY: {
        struct lerr e;
        lerr_init(&e);
        struct format_json_iter it;
        struct format_json_member m;
        uint8_t el = SQL_NULL;
        if (format_json_iter_init_span(&it, v->raw, v->raw_len, p->run.scratch2,
                                       p->run.scratch_cap, &e) == 0) {
            while (format_json_iter_next(&it, &m, &e) > 0) {
                if (m.v.kind == FORMAT_JSON_KIND_OBJECT || m.v.kind == FORMAT_JSON_KIND_ARRAY) {
                    *type = SQL_JSON;
                    return true;
                }
                el = widen_scalar(el, scalar_kind_type(&m.v));
            }
        }
        *type = SQL_ARRAY;
        *elem = el;
        return true;
    }
    default: *type = scalar_kind_type(v); return true;
    }
}

/* ---- discovery ------------------------------------------------------------ */

/* Room in the per-discovered-field arrays for `need` fields. */
static bool grow_discovered(struct format_parser *p, uint32_t need)
{
    if (need <= p->run.disc_cap)
        return true;
    size_t cap = p->run.disc_cap, cap2 = p->run.disc_cap;
    uint32_t *st = vec_grow(p->run.disc_stamp, &cap, need, sizeof *st, 64);
    if (!st)
        return false;
    p->run.disc_stamp = st;
    uint32_t *sl = vec_grow(p->run.disc_slot, &cap2, need, sizeof *sl, 64);
    if (!sl)
        return false;
    p->run.disc_slot = sl;
    p->run.disc_cap = cap;
    return true;
}

bool format__discovered_seen(const struct format_parser *p, uint32_t ref)
{
    return ref >= p->plan->nfixed && ref < p->schema.nfields &&
           p->run.disc_stamp[ref - p->plan->nfixed] == p->run.serial;
}

struct sql_value *format__discover(struct format__ctx *c, const char *name, size_t n, uint32_t ref,
                                   uint8_t type, uint8_t elem, uint32_t *field)
{
    struct format_parser *p = c->p;
    if (ref == REF_NONE) /* callers' predictions of "unknown" may be stale */
        ref = format__lookup(&p->schema, name, n);
    if (ref == REF_EXCLUDED)
        return NULL;
    if (ref == REF_NONE) {
        if (n == 0) {
            format__warn(c, "a field with an empty name cannot become a column; it is ignored");
            return NULL;
        }
        if (n > FORMAT_MAX_NAME) {
            format__warn(c,
                         "field '%.40s...' has a name of %zu bytes, longer than the %u allowed "
                         "for a column; it is not discovered",
                         name, n, FORMAT_MAX_NAME);
            return NULL;
        }
        if (p->schema.ndiscovered >= p->schema.max_discovered) {
            format__warn(c,
                         "field '%.*s' is not discovered: the job already discovered %u fields, "
                         "the limit; list unneeded fields in dimensionExclusions",
                         (int)n, name, p->schema.max_discovered);
            return NULL;
        }
        struct lerr e;
        lerr_init(&e);
        if (!grow_discovered(p, p->schema.nfields + 1 - p->plan->nfixed) ||
            (ref = format__add_field(&p->schema, name, n, type, FORMAT_ORIGIN_DISCOVERED, &e)) ==
                UINT32_MAX) {
            c->nomem = true;
            return NULL;
        }
        struct format_field *f = &p->schema.fields[ref];
        f->elem_type = elem;
        f->added = f->changed = ++p->schema.gen;
        p->run.disc_stamp[ref - p->plan->nfixed] = 0;
        p->schema.ndiscovered++;
        c->changed = true;
    } else {
        struct format_field *f = &p->schema.fields[ref];
        uint8_t t = f->type, el = f->elem_type;
        format__widen(&t, &el, type, elem);
        if (t != f->type || el != f->elem_type) {
            f->type = t;
            f->elem_type = el;
            f->changed = ++p->schema.gen;
            c->changed = true;
        }
    }
    *field = ref;
    uint32_t d = ref - p->plan->nfixed;
    if (p->run.disc_stamp[d] == p->run.serial)
        return &p->run.x_val[p->run.disc_slot[d]]; /* a duplicate key: the last one wins */
    if (p->run.x_n == p->run.x_cap) {
        size_t cap = p->run.x_cap, cap2 = p->run.x_cap;
        uint32_t *xi = vec_grow(p->run.x_index, &cap, (size_t)p->run.x_n + 1, sizeof *xi, 16);
        if (!xi) {
            c->nomem = true;
            return NULL;
        }
        p->run.x_index = xi;
        struct sql_value *xv =
            vec_grow(p->run.x_val, &cap2, (size_t)p->run.x_n + 1, sizeof *xv, 16);
        if (!xv) {
            c->nomem = true;
            return NULL;
        }
        p->run.x_val = xv;
        p->run.x_cap = cap;
    }
    p->run.disc_stamp[d] = p->run.serial;
    p->run.disc_slot[d] = p->run.x_n;
    p->run.x_index[p->run.x_n] = ref;
    return &p->run.x_val[p->run.x_n++];
}

/* ---- public -------------------------------------------------------------- */

size_t format_discovered_fields(const struct format_parser *p, const struct format_field **fields,
                                uint64_t *gen)
{
    if (fields)
        *fields = p->schema.fields;
    if (gen)
        *gen = p->schema.gen;
    return p->schema.nfields;
}

uint64_t format_parser_generation(const struct format_parser *p) { return p->schema.gen; }
