/*
 * member.c — what the nd-json, Avro and Protobuf rows share: a member key →
 * its field (format__member_ref: the per-position prediction, else the name
 * table), which members a flattenSpec lets discovery add
 * (format__discoverable), discovering a field from a JSON value
 * (format__discover_json), flattenSpec paths over a record's JSON text
 * (format__flatten, format__flat_put), and, for the formats that decode
 * values themselves (Avro, Protobuf), where a member goes and how its value
 * is stored (format__member_target, format__member_put), and the scratch
 * they decode into (format__ensure_scratch). record.c (nd-json),
 * avro.c and protobuf.c call down into here.
 */
#include "format/format_int.h"

#include <stdlib.h>
#include <string.h>

/* Key equality for the prediction check: keys are mostly short, where two
 * overlapping word loads (within the n bytes) beat both a call to memcmp and
 * a loop that branches per byte. */
static inline bool key_eq(const char *a, const char *b, size_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    if (n >= 8)
        return util_load_u64(a) == util_load_u64(b) &&
               util_load_u64(a + n - 8) == util_load_u64(b + n - 8);
    if (n >= 4)
        return util_load_u32(a) == util_load_u32(b) &&
               util_load_u32(a + n - 4) == util_load_u32(b + n - 4);
    /* 0..3 bytes: the first, middle and last cover them all */
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

/* The field (or REF_NONE/REF_EXCLUDED) of a member key, via the prediction
 * for its position, else the name table (which then becomes the prediction). */
uint32_t format__member_ref(struct format_parser *p, const struct format_json_member *m)
{
    struct format__pred *pr = m->index < PRED_POSITIONS ? &p->run.pred[m->index] : NULL;
    if (pr && pr->name && pr->len == m->key_len && key_eq(pr->name, m->key, m->key_len))
        return pr->ref;
    uint32_t ref = format__lookup(&p->schema, m->key, m->key_len);
    if (pr) {
        pr->ref = ref;
        pr->len = (uint32_t)m->key_len;
        if (ref < p->schema.nfields) {
            pr->name = p->schema.fields[ref].name;
        } else if (m->key_len <= PRED_KEY) {
            memcpy(pr->own, m->key, m->key_len);
            pr->name = pr->own;
        } else {
            pr->name = NULL;
        }
    }
    return ref;
}

bool format__discoverable(const struct format_plan *pl, const char *key, size_t len)
{
    bool listed = false;
    for (size_t i = 0; i < pl->nnames && !listed; i++)
        listed = strlen(pl->names[i]) == len && memcmp(pl->names[i], key, len) == 0;
    return pl->root_filter ? listed : !listed;
}

/* A string value's JSON literal (for a json field), when the format that
 * decoded it gave none (nd-json values always carry their text). */
static void string_raw(struct format__ctx *c, struct format_json_value *v)
{
    if (v->kind != FORMAT_JSON_KIND_STRING || v->raw)
        return;
    struct buf *b = &c->p->run.tmp;
    buf_reset(b);
    char *k = NULL;
    if (format_json_write_string(b, v->str, v->str_len) && (k = arena_alloc(c->mem, b->len + 1)))
        memcpy(k, b->data, b->len + 1);
    if (!k) {
        c->nomem = true;
        v->kind = FORMAT_JSON_KIND_NULL;
        return;
    }
    v->raw = k;
    v->raw_len = b->len;
}

int format__discover_json(struct format__ctx *c, const char *key, size_t len, uint32_t ref,
                          const struct format_json_value *v, size_t index)
{
    struct format_parser *p = c->p;
    uint8_t type, elem;
    if (!format__observe_json(p, v, &type, &elem))
        return 0; /* null: nothing to store, nothing learnt */
    uint32_t field;
    struct sql_value *slot = format__discover(c, key, len, ref, type, elem, &field);
    if (!slot)
        return c->nomem ? -1 : 0;
    struct format_json_value lit;
    if (p->schema.fields[field].type == SQL_JSON && v->kind == FORMAT_JSON_KIND_STRING &&
        !v->raw) {
        lit = *v;
        string_raw(c, &lit);
        if (c->nomem)
            return -1;
        v = &lit;
    }
    format__put_json(c, field, v, slot);
    if (index < PRED_POSITIONS) {
        p->run.pred[index].name = p->schema.fields[field].name;
        p->run.pred[index].len = (uint32_t)len;
        p->run.pred[index].ref = field;
    }
    return 0;
}

uint32_t format__member_target(struct format__ctx *c, const struct format_json_member *m)
{
    const struct format_plan *pl = c->pl;
    uint32_t ref = format__member_ref(c->p, m);
    /* fields a flattenSpec keeps from the root (useFieldDiscovery false, or
     * a path field's name) are skipped over */
    if (pl->member_filter &&
        (ref < pl->ndeclared ? !pl->member_ok[ref]
                             : ref >= pl->nfixed && !format__discoverable(pl, m->key, m->key_len)))
        return REF_EXCLUDED;
    if (ref < pl->nfixed)
        return ref;
    return !pl->discovery ? REF_EXCLUDED : ref;
}

int format__member_put(struct format__ctx *c, struct format_json_member *m, uint32_t ref)
{
    if (ref < c->pl->nfixed) {
        if (c->p->schema.fields[ref].type == SQL_JSON)
            string_raw(c, &m->v);
        format__put_json(c, ref, &m->v, &c->vals[ref]);
        return c->nomem ? -1 : 0;
    }
    return format__discover_json(c, m->key, m->key_len, ref, &m->v, m->index);
}

int format__flat_put(struct format__ctx *c, const struct format__flat *fl,
                     const struct format_json_value *v)
{
    if (fl->field != REF_NONE) {
        format__put_json(c, fl->field, v, &c->vals[fl->field]);
        return 0;
    }
    return format__discover_json(c, fl->name, fl->name_len, REF_NONE, v, PRED_POSITIONS);
}

int format__flatten(struct format__ctx *c, const char *s, size_t n)
{
    struct format_parser *p = c->p;
    /* flattenSpec paths: the value they find, else the field stays NULL. */
    for (size_t i = 0; i < p->plan->nflat; i++) {
        struct format_json_value v;
        struct lerr e;
        lerr_init(&e);
        const struct format__flat *fl = &p->plan->flat[i];
        if (format_json_find_path(s, n, fl->steps, fl->nsteps, &v, p->run.scratch2,
                                  p->run.scratch_cap, &e) != 1)
            continue;
        if (format__flat_put(c, fl, &v) < 0)
            return -1;
    }
    return 0;
}

bool format__ensure_scratch(struct format_parser *p, size_t need)
{
    if (need <= p->run.scratch_cap)
        return true;
    size_t cap = p->run.scratch_cap ? p->run.scratch_cap : 4096;
    while (cap < need)
        cap *= 2;
    char *a = malloc(cap), *b = malloc(cap);
    if (!a || !b) {
        free(a);
        free(b);
        return false;
    }
    free(p->run.scratch);
    free(p->run.scratch2);
    p->run.scratch = a;
    p->run.scratch2 = b;
    p->run.scratch_cap = cap;
    return true;
}
