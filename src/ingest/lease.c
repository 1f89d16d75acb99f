/*
 * lease.c — a streaming job's share of its stream when several servers
 * share the catalog (catalog_is_shared: PostgreSQL). Every node runs a
 * runner for every running job; each reads only the partitions whose
 * leases it holds (catalog_lease_*), and commits them with a fence of
 * those leases' epochs, so a node that lost a lease can never commit it.
 *
 * Which partitions a node should hold is rendezvous hashing: for each
 * partition of the stream (what the source saw in its metadata), the live
 * node (heartbeat younger than CATALOG_NODE_EXPIRY_NS) with the highest
 * hash of (node id, partition key) takes it, so a node joining or leaving
 * moves only the partitions it gains or loses. stream.c's lease_tick acts
 * on it: renews every CATALOG_LEASE_TTL_NS / 3, gives up what left its
 * share (persist, commit, release), takes what came into it as soon as its
 * lease is free or expired, and after a lost lease discards what it had
 * not committed and reads again from the checkpoint.
 *
 * A stream that cannot be divided (Kinesis) is read whole by the node that
 * holds the job's run lease (supervisor.c); ingest__run_publish shows that
 * lease to queries as the runner's one lease, so a query over the nodes
 * knows whose realtime rows it must have.
 *
 * Entry points (ingest_int.h): ingest__lease_share, _acquire, _renew, _keep,
 * _release, _parts, _find, _fence, _filter; ingest__run_publish;
 * ingest__node_id. Runner thread
 * (the persister only reads the copies in its items).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "ingest/ingest_int.h"
#include "util/num.h"

void ingest__node_id(struct ingest_runtime *rt, char out[128])
{
    pthread_mutex_lock(&rt->mu);
    snprintf(out, 128, "%s", rt->node_id);
    pthread_mutex_unlock(&rt->mu);
}

void ingest__counters_key(struct runner *r, char out[200])
{
    char self[128] = "";
    if (r->lease.on)
        ingest__node_id(r->rt, self);
    snprintf(out, 200, "%s%s%s", r->job->id, self[0] ? "@" : "", self);
}

static uint64_t score(const char *node, const char *part)
{
    uint64_t hn = util_hash_bytes(node, strlen(node));
    uint64_t hp = util_hash_bytes(part, strlen(part));
    return util_mix64(hn ^ util_mix64(hp + 0x9e3779b97f4a7c15ULL));
}

int ingest__lease_share(struct runner *r, struct source_offsets *share, struct lerr *err)
{
    source_offsets_clear(share);
    char self[128];
    ingest__node_id(r->rt, self);
    if (!self[0])
        return 0;
    struct source_offsets all;
    source_offsets_init(&all);
    struct catalog_node *nodes = NULL;
    size_t nn = 0;
    int rc = source_stream_partitions(r->job->src, &all, err);
    if (!rc)
        rc = catalog_node_list(r->rt->cat, &nodes, &nn, err);
    int64_t now = util_now_ns();
    for (size_t i = 0; !rc && i < all.n; i++) {
        char part[256];
        if ((rc = catalog_lease_part_key(all.items[i].topic, all.items[i].partition, part, err)))
            break;
        const char *best = self;
        uint64_t best_score = score(self, part);
        for (size_t k = 0; k < nn; k++) {
            if (now - nodes[k].heartbeat_ns >= CATALOG_NODE_EXPIRY_NS ||
                strcmp(nodes[k].id, self) == 0)
                continue;
            uint64_t s = score(nodes[k].id, part);
            if (s > best_score || (s == best_score && strcmp(nodes[k].id, best) < 0)) {
                best = nodes[k].id;
                best_score = s;
            }
        }
        if (best == self)
            rc = source_offsets_set(share, all.items[i].topic, all.items[i].partition, 0, err);
    }
    catalog_node_list_free(nodes, nn);
    source_offsets_destroy(&all);
    return rc;
}

int ingest__lease_acquire(struct runner *r, const char *topic, int32_t partition, struct lerr *err)
{
    char self[128], part[256];
    ingest__node_id(r->rt, self);
    if (catalog_lease_part_key(topic, partition, part, err))
        return err->code;
    struct catalog_lease got;
    if (catalog_lease_acquire(r->rt->cat, r->cj.table_name, r->stream, part, self, 0, 0, &got,
                              err))
        return err->code;
    struct ingest__leases *l = &r->lease;
    size_t i = ingest__lease_find(r, topic, partition);
    if (i == l->n) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 8;
            struct catalog_lease *h = realloc(l->held, cap * sizeof *h);
            if (h)
                l->held = h;
            int64_t *cu = h ? realloc(l->catch_up, cap * sizeof *cu) : NULL;
            if (!cu)
                return lerr_set(err, LERR_NOMEM, "out of memory");
            l->catch_up = cu;
            l->cap = cap;
        }
        l->n++;
    }
    l->held[i] = got;
    l->catch_up[i] = got.taken_over ? -1 : -2;
    l->gen++;
    log_msg(LOG_INFO, "ingest", "job %s: node %s leases partition %s (epoch %lld)", r->job->id,
            self, part, (long long)got.epoch);
    return 0;
}

static void forget(struct ingest__leases *l, size_t i)
{
    l->n--;
    l->held[i] = l->held[l->n];
    l->catch_up[i] = l->catch_up[l->n];
    l->gen++;
}

static bool split_part(const char *part, char topic[SOURCE_TOPIC_MAX + 1], int32_t *partition);

/* The end each taken-over partition must reach (asked of the broker, at most
 * once a second while it does not answer), and whether the rows appended
 * reached it; true when a partition's state changed. */
static bool catch_up_tick(struct runner *r)
{
    struct ingest__leases *l = &r->lease;
    bool changed = false;
    int64_t now = util_mono_ns();
    for (size_t i = 0; i < l->n; i++) {
        char topic[SOURCE_TOPIC_MAX + 1];
        int32_t p;
        if (l->catch_up[i] == -2 || !r->job->src || !split_part(l->held[i].part, topic, &p))
            continue;
        if (l->catch_up[i] == -1 && now >= l->next_end_query_ns) {
            struct lerr e;
            lerr_init(&e);
            int64_t end = -1;
            if (source_end_offset(r->job->src, topic, p, 1000, &end, &e) == 0 && end >= 0) {
                l->catch_up[i] = end;
                changed = true;
            } else {
                l->next_end_query_ns = now + 1000000000LL;
            }
        }
        int64_t at = source_offsets_get(&r->appended, topic, p);
        if (l->catch_up[i] >= 0 && at >= l->catch_up[i]) {
            log_msg(LOG_INFO, "ingest",
                    "job %s: partition %s, taken over, is read again up to offset %lld",
                    r->job->id, l->held[i].part, (long long)l->catch_up[i]);
            l->catch_up[i] = -2;
            changed = true;
        }
    }
    return changed;
}

void ingest__lease_publish(struct runner *r, bool clear)
{
    struct ingest__leases *l = &r->lease;
    if (!clear && catch_up_tick(r))
        l->gen++;
    if (!clear && l->gen == l->pub_gen && r->job->leased)
        return;
    struct ingest_lease_info *copy = NULL;
    size_t n = clear ? 0 : l->n;
    if (n && !(copy = calloc(n, sizeof *copy)))
        return; /* published again at the next turn */
    for (size_t i = 0; i < n; i++) {
        struct ingest_lease_info *x = &copy[i];
        snprintf(x->stream, sizeof x->stream, "%s", l->held[i].stream);
        snprintf(x->part, sizeof x->part, "%s", l->held[i].part);
        x->epoch = l->held[i].epoch;
        x->behind = l->catch_up[i] != -2;
        x->target = l->catch_up[i];
        char topic[SOURCE_TOPIC_MAX + 1];
        int32_t p;
        x->at = split_part(l->held[i].part, topic, &p) ? source_offsets_get(&r->appended, topic, p)
                                                       : -1;
    }
    pthread_mutex_lock(&r->job->mu);
    free(r->job->leases);
    r->job->leases = copy;
    r->job->nleases = n;
    r->job->leased = !clear;
    pthread_mutex_unlock(&r->job->mu);
    l->pub_gen = l->gen;
}

void ingest__run_publish(struct runner *r, bool clear)
{
    struct ingest_lease_info *copy = clear ? NULL : calloc(1, sizeof *copy);
    if (copy) {
        snprintf(copy->stream, sizeof copy->stream, "%s", r->run.stream);
        snprintf(copy->part, sizeof copy->part, "%s", r->run.part);
        copy->epoch = r->run.epoch;
        copy->behind = r->run_behind;
        copy->at = copy->target = -1;
    }
    pthread_mutex_lock(&r->job->mu);
    free(r->job->leases);
    r->job->leases = copy;
    r->job->nleases = copy ? 1 : 0;
    r->job->leased = copy != NULL;
    pthread_mutex_unlock(&r->job->mu);
}

void ingest__run_tick(struct runner *r)
{
    if (!r->run_behind || !r->job->src)
        return;
    struct source_partition *p = NULL;
    size_t n = 0;
    struct lerr e;
    lerr_init(&e);
    if (source_partitions(r->job->src, &p, &n, &e))
        return;
    bool caught_up = n > 0;
    for (size_t i = 0; i < n; i++)
        caught_up = caught_up && p[i].lag == 0;
    free(p);
    if (!caught_up)
        return;
    log_msg(LOG_INFO, "ingest",
            "job %s: the stream, taken over, is read again up to its end on every shard",
            r->job->id);
    r->run_behind = false;
    ingest__run_publish(r, false);
}

int ingest_table_leases(struct ingest_runtime *rt, const char *table,
                        struct ingest_lease_info **out, size_t *n, bool *leased, bool *unleased)
{
    *out = NULL;
    *n = 0;
    *leased = false;
    *unleased = false;
    int rc = 0;
    pthread_mutex_lock(&rt->mu);
    for (struct ingest__job *j = rt->jobs; j && !rc; j = j->next) {
        if (strcmp(j->table, table) != 0)
            continue;
        pthread_mutex_lock(&j->mu);
        if (!j->leased && j->pipe && j->src && !atomic_load(&j->done))
            *unleased = true;
        if (j->leased)
            *leased = true;
        /* a node holding none of the table's partitions (all handed over or lost) has nothing
         * to add: realloc is not called, and *out may stay NULL without an error */
        if (j->leased && j->nleases) {
            struct ingest_lease_info *g = realloc(*out, (*n + j->nleases) * sizeof **out);
            if (!g) {
                rc = -1;
            } else {
                *out = g;
                memcpy(*out + *n, j->leases, j->nleases * sizeof **out);
                *n += j->nleases;
            }
        }
        pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int ingest__lease_renew(struct runner *r, size_t *nlost, struct lerr *err)
{
    struct ingest__leases *l = &r->lease;
    char self[128];
    ingest__node_id(r->rt, self);
    *nlost = 0;
    if (!l->n)
        return 0;
    if (catalog_lease_renew(r->rt->cat, self, 0, 0, l->held, l->n, nlost, err))
        return err->code;
    for (size_t i = l->n; i-- > 0;)
        if (l->held[i].lost) {
            log_msg(LOG_WARN, "ingest",
                    "job %s: node %s lost its lease of partition %s (now node '%s', epoch "
                    "%lld); what it read of it since its last commit is discarded",
                    r->job->id, self, l->held[i].part, l->held[i].node_id,
                    (long long)l->held[i].epoch);
            forget(l, i);
        }
    return 0;
}

void ingest__lease_keep(struct runner *r)
{
    struct ingest__leases *l = &r->lease;
    int64_t now = util_mono_ns();
    if (!l->on || now < l->next_renew_ns)
        return;
    size_t nlost = 0;
    struct lerr e;
    lerr_init(&e);
    if (ingest__lease_renew(r, &nlost, &e) == 0) {
        l->next_renew_ns = now + CATALOG_LEASE_TTL_NS / 3;
        l->lost = l->lost || nlost > 0;
    }
}

void ingest__lease_release(struct runner *r, size_t i)
{
    struct ingest__leases *l = &r->lease;
    struct lerr e;
    lerr_init(&e);
    const struct catalog_lease *h = &l->held[i];
    if (catalog_lease_release(r->rt->cat, h->table_name, h->stream, h->part, h->node_id, h->epoch,
                              &e))
        log_msg(LOG_WARN, "ingest", "job %s: releasing partition %s: %s (it expires instead)",
                r->job->id, h->part, e.msg);
    else
        log_msg(LOG_INFO, "ingest", "job %s: node %s hands partition %s over", r->job->id,
                h->node_id, h->part);
    forget(l, i);
}

/* A part key "<topic>:<partition>" split (the topic may hold colons: the last one counts). */
static bool split_part(const char *part, char topic[SOURCE_TOPIC_MAX + 1], int32_t *partition)
{
    const char *colon = strrchr(part, ':');
    if (!colon || colon == part || (size_t)(colon - part) > SOURCE_TOPIC_MAX)
        return false;
    snprintf(topic, SOURCE_TOPIC_MAX + 1, "%.*s", (int)(colon - part), part);
    *partition = (int32_t)strtol(colon + 1, NULL, 10);
    return true;
}

int ingest__lease_parts(const struct runner *r, struct source_offsets *out, struct lerr *err)
{
    source_offsets_clear(out);
    for (size_t i = 0; i < r->lease.n; i++) {
        char topic[SOURCE_TOPIC_MAX + 1];
        int32_t p;
        if (split_part(r->lease.held[i].part, topic, &p) &&
            source_offsets_set(out, topic, p, 0, err))
            return err->code;
    }
    return 0;
}

size_t ingest__lease_find(const struct runner *r, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < r->lease.n; i++) {
        char t[SOURCE_TOPIC_MAX + 1];
        int32_t p;
        if (split_part(r->lease.held[i].part, t, &p) && p == partition && strcmp(t, topic) == 0)
            return i;
    }
    return r->lease.n;
}

int ingest__lease_fence(const struct runner *r, const struct source_offsets *pos,
                        struct catalog_lease **out, size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    if (!r->lease.n)
        return 0;
    struct catalog_lease *f = malloc(r->lease.n * sizeof *f);
    if (!f)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; i < pos->n; i++) {
        size_t k = ingest__lease_find(r, pos->items[i].topic, pos->items[i].partition);
        if (pos->items[i].next >= 0 && k < r->lease.n)
            f[(*n)++] = r->lease.held[k];
    }
    if (!*n) {
        free(f);
        f = NULL;
    }
    *out = f;
    return 0;
}

void ingest__lease_filter(const struct runner *r, struct source_offsets *pos)
{
    size_t w = 0;
    for (size_t i = 0; i < pos->n; i++) {
        if (ingest__lease_find(r, pos->items[i].topic, pos->items[i].partition) < r->lease.n) {
            pos->items[w++] = pos->items[i];
        } else {
            free(pos->items[i].topic);
            free(pos->items[i].pos);
        }
    }
    pos->n = w;
}
