/*
 * source.c — what every source shares: the offsets list (numbers, and the
 * text positions of sources whose positions are not numbers) and its checkpoint
 * JSON text, and the dispatch from the public source_* calls to the
 * operations of the concrete source (kafka.c, push.c).
 *
 * Entry points: source_offsets_*(), source_offsets_to_json(),
 * source_offsets_from_json(), source_assign(), source_poll(),
 * source_position(), source_partitions(), source_lag(),
 * source_health(), source_ready(), source_close(); source__copy() and
 * source__gaps_copy(), how the sources put a batch into the caller's arena.
 */
#include "source/source_int.h"
#include "util/vec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* A checkpoint never names more partitions than this (a bound on input). */
#define OFFSETS_MAX_ENTRIES 100000

bool source_topic_name_ok(const char *topic)
{
    if (!topic)
        return false;
    size_t n = strnlen(topic, SOURCE_TOPIC_MAX + 1);
    return n >= 1 && n <= SOURCE_TOPIC_MAX;
}

/* ---- offsets list -------------------------------------------------------- */

void source_offsets_init(struct source_offsets *o) { memset(o, 0, sizeof *o); }

void source_offsets_clear(struct source_offsets *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->items[i].topic);
        free(o->items[i].pos);
    }
    o->n = 0;
}

void source_offsets_destroy(struct source_offsets *o)
{
    if (!o)
        return;
    source_offsets_clear(o);
    free(o->items);
    memset(o, 0, sizeof *o);
}

static int entry_cmp(const char *ta, int32_t pa, const char *tb, int32_t pb)
{
    int c = strcmp(ta, tb);
    if (c)
        return c;
    return pa < pb ? -1 : pa > pb;
}

/* Index of the entry, or of where it would go (with *found = false). */
static size_t offsets_find(const struct source_offsets *o, const char *topic, int32_t partition,
                           bool *found)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = entry_cmp(o->items[mid].topic, o->items[mid].partition, topic, partition);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Replaces *slot with a copy of pos (NULL: none); keeps it when equal. */
static int pos_assign(char **slot, const char *pos)
{
    if (*slot == pos || (*slot && pos && strcmp(*slot, pos) == 0))
        return 0;
    char *c = NULL;
    if (pos && !(c = strdup(pos)))
        return -1;
    free(*slot);
    *slot = c;
    return 0;
}

int source_offsets_set_pos(struct source_offsets *o, const char *topic, int32_t partition,
                           int64_t next, const char *pos, struct lerr *err)
{
    if (!source_topic_name_ok(topic))
        return lerr_set(err, LERR_INVALID, "offsets: topic name must be 1..%d bytes",
                        SOURCE_TOPIC_MAX);
    if (partition < 0)
        return lerr_set(err, LERR_INVALID, "offsets: partition %" PRId32 " of '%s' is negative",
                        partition, topic);
    if (pos && (!pos[0] || strlen(pos) > SOURCE_POS_MAX))
        return lerr_set(err, LERR_INVALID,
                        "offsets: the position of '%s' partition %" PRId32 " must be 1..%d bytes",
                        topic, partition, SOURCE_POS_MAX);
    bool found;
    size_t i = offsets_find(o, topic, partition, &found);
    if (found) {
        o->items[i].next = next;
        if (pos_assign(&o->items[i].pos, pos))
            return lerr_set(err, LERR_NOMEM, "offsets: out of memory");
        return 0;
    }
    if (o->n == o->alloc) {
        struct source_offset *ni = vec_grow(o->items, &o->alloc, o->n + 1, sizeof *ni, 8);
        if (!ni)
            return lerr_set(err, LERR_NOMEM, "offsets: out of memory");
        o->items = ni;
    }
    char *t = strdup(topic), *pc = pos ? strdup(pos) : NULL;
    if (!t || (pos && !pc)) {
        free(t);
        free(pc);
        return lerr_set(err, LERR_NOMEM, "offsets: out of memory");
    }
    memmove(&o->items[i + 1], &o->items[i], (o->n - i) * sizeof *o->items);
    o->items[i] =
        (struct source_offset){.topic = t, .partition = partition, .next = next, .pos = pc};
    o->n++;
    return 0;
}

int source_offsets_set(struct source_offsets *o, const char *topic, int32_t partition,
                       int64_t next, struct lerr *err)
{
    return source_offsets_set_pos(o, topic, partition, next, NULL, err);
}

int64_t source_offsets_get(const struct source_offsets *o, const char *topic, int32_t partition)
{
    if (!o || !topic)
        return SOURCE_OFFSET_NONE;
    bool found;
    size_t i = offsets_find(o, topic, partition, &found);
    return found ? o->items[i].next : SOURCE_OFFSET_NONE;
}

const char *source_offsets_get_pos(const struct source_offsets *o, const char *topic,
                                   int32_t partition)
{
    if (!o || !topic)
        return NULL;
    bool found;
    size_t i = offsets_find(o, topic, partition, &found);
    return found ? o->items[i].pos : NULL;
}

int source_offsets_copy(struct source_offsets *dst, const struct source_offsets *src,
                        struct lerr *err)
{
    /* A job copies its position after every batch, and the partitions rarely change:
     * then only the offsets do. */
    bool same = dst->n == src->n;
    for (size_t i = 0; same && i < src->n; i++)
        same = dst->items[i].partition == src->items[i].partition &&
               strcmp(dst->items[i].topic, src->items[i].topic) == 0;
    if (same) {
        for (size_t i = 0; i < src->n; i++) {
            dst->items[i].next = src->items[i].next;
            if (pos_assign(&dst->items[i].pos, src->items[i].pos))
                return lerr_set(err, LERR_NOMEM, "offsets: out of memory");
        }
        return 0;
    }
    source_offsets_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (source_offsets_set_pos(dst, src->items[i].topic, src->items[i].partition,
                                   src->items[i].next, src->items[i].pos, err))
            return err->code;
    return 0;
}

/* ---- checkpoint JSON ------------------------------------------------------ */

/* A JSON string literal; topic names are short and usually plain ASCII. */
static void put_json_string(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)*p);
        } else if (*p < 0x20) {
            buf_printf(b, "\\u%04x", *p);
        } else {
            buf_putc(b, (char)*p);
        }
    }
    buf_putc(b, '"');
}

char *source_offsets_to_json(const struct source_offsets *o, struct lerr *err)
{
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '{');
    const char *cur = NULL;
    bool first_topic = true, first_part = true;
    for (size_t i = 0; i < o->n; i++) {
        const struct source_offset *e = &o->items[i];
        if (e->next < 0)
            continue; /* not yet known: the partition starts from readFromPoint */
        if (!cur || strcmp(cur, e->topic) != 0) {
            if (cur)
                buf_putc(&b, '}');
            if (!first_topic)
                buf_putc(&b, ',');
            first_topic = false;
            put_json_string(&b, e->topic);
            buf_puts(&b, ":{");
            cur = e->topic;
            first_part = true;
        }
        buf_printf(&b, "%s\"%" PRId32 "\":", first_part ? "" : ",", e->partition);
        if (e->pos) {
            buf_printf(&b, "[%" PRId64 ",", e->next);
            put_json_string(&b, e->pos);
            buf_putc(&b, ']');
        } else {
            buf_printf(&b, "%" PRId64, e->next);
        }
        first_part = false;
    }
    if (cur)
        buf_putc(&b, '}');
    buf_putc(&b, '}');
    if (b.failed) {
        buf_free(&b);
        lerr_set(err, LERR_NOMEM, "offsets: out of memory");
        return NULL;
    }
    size_t len;
    return buf_steal(&b, &len);
}

/* A partition key: "0" or digits without a leading zero, at most INT32_MAX. */
static bool parse_partition(const char *k, int32_t *out)
{
    size_t n = strlen(k);
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0'))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return false;
        v = v * 10 + (k[i] - '0');
    }
    if (v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

int source_offsets_from_json(const char *p, size_t len, struct source_offsets *out,
                             struct lerr *err)
{
    source_offsets_clear(out);
    json_error_t je;
    json_t *root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return lerr_set(err, LERR_INVALID, "checkpoint offsets: invalid JSON at byte %d: %s",
                        je.position, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = lerr_set(err, LERR_INVALID,
                      "checkpoint offsets: expected an object {\"topic\": {\"partition\": "
                      "offset}}");
        goto done;
    }
    const char *topic;
    json_t *parts;
    size_t count = 0;
    json_object_foreach(root, topic, parts) {
        if (!source_topic_name_ok(topic)) {
            rc = lerr_set(err, LERR_INVALID, "checkpoint offsets: topic name must be 1..%d bytes",
                          SOURCE_TOPIC_MAX);
            goto done;
        }
        if (!json_is_object(parts)) {
            rc = lerr_set(err, LERR_INVALID,
                          "checkpoint offsets: '%s' must map partitions to offsets", topic);
            goto done;
        }
        const char *pk;
        json_t *v;
        json_object_foreach(parts, pk, v) {
            int32_t part;
            if (!parse_partition(pk, &part)) {
                rc = lerr_set(err, LERR_INVALID,
                              "checkpoint offsets: '%s' partition \"%.32s\" is not a partition "
                              "number",
                              topic, pk);
                goto done;
            }
            /* [next, "position"]: a source's text position beside the count (kinesis.c). */
            const char *pos = NULL;
            if (json_is_array(v)) {
                json_t *p1 = json_array_get(v, 1);
                if (json_array_size(v) != 2 || !json_is_string(p1) ||
                    json_string_length(p1) == 0 || json_string_length(p1) > SOURCE_POS_MAX ||
                    strlen(json_string_value(p1)) != json_string_length(p1)) {
                    rc = lerr_set(err, LERR_INVALID,
                                  "checkpoint offsets: '%s' partition %" PRId32
                                  " needs [offset, \"position\"] with a position of 1..%d bytes",
                                  topic, part, SOURCE_POS_MAX);
                    goto done;
                }
                pos = json_string_value(p1);
                v = json_array_get(v, 0);
            }
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                rc = lerr_set(err, LERR_INVALID,
                              "checkpoint offsets: '%s' partition %" PRId32
                              " needs a non-negative integer offset",
                              topic, part);
                goto done;
            }
            if (++count > OFFSETS_MAX_ENTRIES) {
                rc = lerr_set(err, LERR_TOO_LARGE, "checkpoint offsets: more than %d partitions",
                              OFFSETS_MAX_ENTRIES);
                goto done;
            }
            if ((rc = source_offsets_set_pos(out, topic, part, (int64_t)json_integer_value(v), pos,
                                             err)))
                goto done;
        }
    }
done:
    json_decref(root);
    if (rc)
        source_offsets_clear(out);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------- */

int source_assign(struct source *s, const struct source_offsets *start, int64_t default_start,
                  struct lerr *err)
{
    if (default_start != SOURCE_OFFSET_EARLIEST && default_start != SOURCE_OFFSET_LATEST)
        return lerr_set(err, LERR_INVALID,
                        "source: the default start must be earliest or latest, not %" PRId64,
                        default_start);
    return s->ops->assign(s, start, default_start, err);
}

int source_poll(struct source *s, struct arena *mem, size_t max_records, int timeout_ms,
                struct source_batch *out, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    if (max_records == 0)
        max_records = 1;
    if (timeout_ms < 0)
        timeout_ms = 0;
    return s->ops->poll(s, mem, max_records, timeout_ms, out, err);
}

const char *source__copy(struct arena *mem, const void *p, size_t n)
{
    /* arena_strndup: a NUL after the bytes costs one byte and lets a topic be a C string. */
    return arena_strndup(mem, n ? p : "", n);
}

int source__gaps_copy(struct arena *mem, const struct source_gap *gaps, size_t n,
                      struct source_batch *out, struct lerr *err)
{
    if (n == 0)
        return 0;
    struct source_gap *g = arena_alloc(mem, n * sizeof *g);
    if (!g)
        return lerr_set(err, LERR_NOMEM, "out of memory for the gaps of a batch");
    for (size_t i = 0; i < n; i++) {
        g[i] = gaps[i];
        if (!(g[i].topic = source__copy(mem, gaps[i].topic, strlen(gaps[i].topic))))
            return lerr_set(err, LERR_NOMEM, "out of memory for the gaps of a batch");
    }
    out->gaps = g;
    out->ngaps = n;
    return 0;
}

int source_position(struct source *s, struct source_offsets *out, struct lerr *err)
{
    source_offsets_clear(out);
    return s->ops->position(s, out, err);
}

int source_partitions(struct source *s, struct source_partition **out, size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->partitions(s, out, n, err);
}

int64_t source_lag(struct source *s)
{
    struct source_partition *p;
    size_t n;
    struct lerr e;
    lerr_init(&e);
    if (source_partitions(s, &p, &n, &e))
        return -1;
    int64_t total = 0;
    bool known = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i].lag >= 0) {
            total += p[i].lag;
            known = true;
        }
    }
    free(p);
    return known ? total : -1;
}

int source_health(struct source *s, char *msg, size_t cap)
{
    if (cap)
        msg[0] = '\0';
    return s->ops->health(s, msg, cap);
}

bool source_ready(struct source *s) { return s->ops->ready(s); }

int source_only(struct source *s, const struct source_offsets *only, struct lerr *err)
{
    if (!s->ops->only)
        return lerr_set(err, LERR_INVALID,
                        "source: only a Kafka source can be divided between nodes");
    return s->ops->only(s, only, err);
}

int source_end_offset(struct source *s, const char *topic, int32_t partition, int timeout_ms,
                      int64_t *out, struct lerr *err)
{
    if (!s->ops->end_offset)
        return lerr_set(err, LERR_INVALID,
                        "source: only a Kafka source can be divided between nodes");
    return s->ops->end_offset(s, topic, partition, timeout_ms, out, err);
}

int source_stream_partitions(struct source *s, struct source_offsets *out, struct lerr *err)
{
    if (!s->ops->stream_partitions)
        return lerr_set(err, LERR_INVALID,
                        "source: only a Kafka source can be divided between nodes");
    source_offsets_clear(out);
    return s->ops->stream_partitions(s, out, err);
}

void source_close(struct source *s)
{
    if (s)
        s->ops->close(s);
}
