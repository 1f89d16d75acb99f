/*
 * member.c — what the nd-json and Avro rows share: a member key → its field
 * (format__member_ref: the per-position prediction, else the name table)
 * and flattenSpec paths over a record's JSON text (format__flatten). Both
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

void format__flatten(struct format__ctx *c, const char *s, size_t n)
{
    struct format_parser *p = c->p;
    /* flattenSpec paths override members of the same name. */
    for (size_t i = 0; i < p->plan->nflat; i++) {
        struct format_json_value v;
        struct lerr e;
        lerr_init(&e);
        const struct format__flat *fl = &p->plan->flat[i];
        if (format_json_find_path(s, n, fl->steps, fl->nsteps, &v, p->run.scratch2,
                                  p->run.scratch_cap, &e) == 1)
            format__put_json(c, fl->field, &v, &c->vals[fl->field]);
    }
}
