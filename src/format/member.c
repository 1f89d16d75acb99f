/*
 * member.c — what the nd-json and Avro rows share: a member key → its field
 * (format__member_ref: the per-position prediction, else the name table),
 * which members a flattenSpec lets discovery add (format__discoverable),
 * discovering a field from a JSON value (format__discover_json), and
 * flattenSpec paths over a record's JSON text (format__flatten). Both
 * record.c (nd-json) and avro.c call down into here.
 */
#include "format/format_int.h"

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
    format__put_json(c, field, v, slot);
    if (index < PRED_POSITIONS) {
        p->run.pred[index].name = p->schema.fields[field].name;
        p->run.pred[index].len = (uint32_t)len;
        p->run.pred[index].ref = field;
    }
    return 0;
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
        if (fl->field != REF_NONE)
            format__put_json(c, fl->field, &v, &c->vals[fl->field]);
        else if (format__discover_json(c, fl->name, fl->name_len, REF_NONE, &v, PRED_POSITIONS) <
                 0)
            return -1;
    }
    return 0;
}
