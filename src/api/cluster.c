/*
 * cluster.c — this server as a node of the catalog it shares: its row in
 * the catalog's node table (catalog_node_join at start, a heartbeat every
 * CLUSTER_HEARTBEAT_MS with what it holds, catalog_node_leave at a clean
 * stop) and GET /v1/cluster, which lists every node with its heartbeat's
 * age, whether it is live (a heartbeat younger than
 * CATALOG_NODE_EXPIRY_NS), and the jobs, partitions and lag each one
 * published. A single server is a cluster of one node; `lodestar cluster
 * status` prints this resource.
 *
 * The cluster secret (LODESTAR_CLUSTER_SECRET) never leaves the process:
 * the row carries HMAC-SHA256(secret, "lodestar-cluster"), and a node whose
 * value differs from a live node's is refused at start (catalog_node_join).
 *
 * Threads: one heartbeat thread, started by api__cluster_start and joined
 * by api__cluster_stop; it reads the runtime's live numbers and writes the
 * catalog, both safe from any thread.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "ingest/ingest.h"
#include "source/source.h"
#include "storage/db.h"
#include "storage/segstore.h"

#define CLUSTER_HEARTBEAT_MS 2000

struct api_cluster {
    struct api_server *srv;
    struct catalog_node self;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool failing; /* the last heartbeat failed (logged once per failure run) */
    /* the orphan sweep (sweep_main): its own thread, so a long listing never delays a
     * heartbeat; started only with segments in an object store */
    pthread_t sweeper;
    bool has_sweeper;
    int64_t sweep_ms, grace_ms;
    char secret[256]; /* LODESTAR_CLUSTER_SECRET: signs requests between nodes (fanout.c) */
};

void api__hmac_hex(const char *key, const void *msg, size_t len, char out[65])
{
    unsigned char mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, mac, &n);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    out[64] = '\0';
}

/* HMAC-SHA256 of a fixed label under the secret, as hex. */
static void secret_check(const char *secret, char out[65])
{
    static const char label[] = "lodestar-cluster";
    api__hmac_hex(secret, label, sizeof label - 1, out);
}

/*
 * What this node holds, as JSON text: each job running here with its
 * partitions (next offset and lag) and total lag. malloc'd; NULL when
 * the catalog cannot be read (the heartbeat then keeps the last info).
 */
static char *holdings(struct api_server *srv)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job_list jobs = {0};
    if (catalog_job_list_active(srv->cat, &jobs, &err))
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < jobs.n; i++) {
        const struct catalog_job *j = &jobs.items[i];
        struct ingest_job_metrics m;
        struct source_partition *parts = NULL;
        size_t nparts = 0;
        if (!ingest_job_metrics(srv->rt, j->id, &m, &parts, &nparts))
            continue;
        json_t *pa = json_array();
        for (size_t k = 0; k < nparts; k++)
            json_array_append_new(pa, json_pack("{s:s, s:i, s:I, s:I}", "topic", parts[k].topic,
                                                "partition", parts[k].partition, "nextOffset",
                                                (json_int_t)parts[k].next_offset, "lag",
                                                (json_int_t)parts[k].lag));
        free(parts);
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:o, s:I, s:s, s:s}", "jobId", j->id, "table",
                                        j->table_name, "partitions", pa, "totalLag",
                                        (json_int_t)m.lag, "health", catalog_health_name(m.health),
                                        "healthMessage", m.health_msg));
    }
    catalog_job_list_free(&jobs);
    json_t *info = json_pack("{s:o}", "jobs", arr);
    char *text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return text;
}

static void *heartbeat_main(void *arg)
{
    struct api_cluster *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        util_deadline(CLOCK_MONOTONIC, CLUSTER_HEARTBEAT_MS, &ts);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        struct catalog_node row = c->self;
        row.info = holdings(c->srv);
        struct lerr err;
        lerr_init(&err);
        int rc = catalog_node_heartbeat(c->srv->cat, &row, &err);
        free(row.info);
        pthread_mutex_lock(&c->mu);
        if (rc && !c->failing)
            log_msg(LOG_WARN, "cluster", "node %s: heartbeat failed (retrying every %d ms): %s",
                    c->self.id, CLUSTER_HEARTBEAT_MS, err.msg);
        else if (!rc && c->failing)
            log_msg(LOG_INFO, "cluster", "node %s: heartbeat written again", c->self.id);
        c->failing = rc != 0;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Whether no live node's id sorts before self's: the one node that sweeps (two may for a
 * moment while the nodes change; deleting an orphan twice is harmless). */
static bool sweeps_here(struct api_server *srv, const char *self)
{
    struct catalog_node *nodes = NULL;
    size_t nn = 0;
    struct lerr err;
    lerr_init(&err);
    if (catalog_node_list(srv->qcat, &nodes, &nn, &err))
        return false;
    int64_t now = util_now_ns();
    bool lowest = true;
    for (size_t i = 0; i < nn; i++)
        if (now - nodes[i].heartbeat_ns <= CATALOG_NODE_EXPIRY_NS && strcmp(nodes[i].id, self) < 0)
            lowest = false;
    catalog_node_list_free(nodes, nn);
    return lowest;
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct known_ids {
    struct api_server *srv;
    struct catalog_segment_list l;
    char **ids; /* "<table id>/<name>" of every committed segment, sorted */
    size_t n;
    bool loaded;
    struct lerr err; /* the catalog could not be read: every object is kept */
};

/* Whether a listed object is a committed segment. The catalog is read at the first
 * call, after the store's listing: a segment committed while the listing ran is known. */
static bool committed(void *ctx, const char *sub, const char *name)
{
    struct known_ids *k = ctx;
    if (!k->loaded) {
        k->loaded = true;
        if (catalog_segment_list(k->srv->qcat, NULL, &k->l, &k->err) == 0 &&
            !(k->ids = calloc(k->l.n + 1, sizeof *k->ids)))
            lerr_set(&k->err, LERR_NOMEM, "out of memory");
        for (size_t i = 0; k->ids && i < k->l.n; i++)
            k->ids[k->n++] = k->l.items[i].id;
        if (k->ids)
            qsort(k->ids, k->n, sizeof *k->ids, id_cmp);
    }
    if (k->err.code)
        return true;
    char id[600], *key = id;
    snprintf(id, sizeof id, "%s/%s", sub, name);
    return bsearch(&key, k->ids, k->n, sizeof *k->ids, id_cmp) != NULL;
}

/* One sweep, by the node with the lowest live id. */
static void sweep_once(struct api_cluster *c)
{
    struct api_server *srv = c->srv;
    struct segstore_s3_base *b = storage_db_s3(srv->db);
    if (!b || !sweeps_here(srv, c->self.id))
        return;
    struct known_ids k = {.srv = srv};
    lerr_init(&k.err);
    struct lerr err;
    lerr_init(&err);
    size_t deleted = 0;
    uint64_t bytes = 0;
    char where[600];
    segstore_s3_where(b, where, sizeof where);
    int rc =
        segstore_s3_sweep(b, util_now_ms() - c->grace_ms, committed, &k, &deleted, &bytes, &err);
    if (rc || k.err.code)
        log_msg(LOG_WARN, "cluster", "node %s: orphan sweep of %s failed (next in %lld s): %s",
                c->self.id, where, (long long)(c->sweep_ms / 1000), rc ? err.msg : k.err.msg);
    else if (deleted)
        log_msg(LOG_INFO, "cluster",
                "node %s: orphan sweep of %s: deleted %zu objects no commit names (%llu bytes), "
                "older than %lld s",
                c->self.id, where, deleted, (unsigned long long)bytes,
                (long long)(c->grace_ms / 1000));
    free(k.ids);
    catalog_segment_list_free(&k.l);
}

static void *sweep_main(void *arg)
{
    struct api_cluster *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        util_deadline(CLOCK_MONOTONIC, c->sweep_ms, &ts);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        sweep_once(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int api__cluster_start(struct api_server *srv, const struct api_opts *o, unsigned port,
                       struct lerr *err)
{
    struct api_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return lerr_set(err, LERR_NOMEM, "out of memory starting the cluster heartbeat");
    c->srv = srv;
    /* defaults: this host and the port it listens on; the --listen host unless a wildcard */
    char host[256] = "localhost", lhost[256];
    gethostname(host, sizeof host - 1);
    const char *colon = strrchr(o->listen, ':');
    size_t hl = colon ? (size_t)(colon - o->listen) : 0;
    snprintf(lhost, sizeof lhost, "%.*s", (int)(hl < sizeof lhost ? hl : sizeof lhost - 1),
             o->listen);
    if (!lhost[0] || strcmp(lhost, "0.0.0.0") == 0 || strcmp(lhost, "::") == 0)
        snprintf(lhost, sizeof lhost, "%s", host);
    if (o->node_id && *o->node_id)
        snprintf(c->self.id, sizeof c->self.id, "%s", o->node_id);
    else
        snprintf(c->self.id, sizeof c->self.id, "%s:%u", host, port);
    if (o->advertise && *o->advertise)
        snprintf(c->self.advertise, sizeof c->self.advertise, "%s", o->advertise);
    else
        snprintf(c->self.advertise, sizeof c->self.advertise, "http://%s:%u", lhost, port);
    snprintf(c->self.version, sizeof c->self.version, "%s", o->version ? o->version : "");
    secret_check(o->cluster_secret ? o->cluster_secret : "", c->self.secret_check);
    snprintf(c->secret, sizeof c->secret, "%s", o->cluster_secret ? o->cluster_secret : "");
    c->self.started_ns = util_now_ns();
    c->self.info = NULL;
    snprintf(srv->node_id, sizeof srv->node_id, "%s", c->self.id);
    atomic_store_explicit(&srv->node_id_set, true, memory_order_release);
    if (catalog_node_join(srv->cat, &c->self, err)) {
        free(c);
        return err->code;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&c->thread, NULL, heartbeat_main, c);
    if (rc) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return lerr_set(err, LERR_INTERNAL, "cannot start the cluster heartbeat thread: %s",
                        strerror(rc));
    }
    c->sweep_ms = o->orphan_sweep_ms ? o->orphan_sweep_ms : 3600 * 1000;
    c->grace_ms = o->ingest.orphan_grace_ms > 0 ? o->ingest.orphan_grace_ms
                                                : INGEST_ORPHAN_GRACE_MS;
    if (storage_db_s3(srv->db) && c->sweep_ms > 0)
        c->has_sweeper = pthread_create(&c->sweeper, NULL, sweep_main, c) == 0;
    srv->cluster = c;
    if (srv->rt) /* streaming jobs spread over the nodes by this id (ingest/lease.c) */
        ingest_runtime_set_node(srv->rt, c->self.id);
    log_msg(LOG_INFO, "cluster", "node %s (%s) joined the catalog", c->self.id, c->self.advertise);
    return 0;
}

void api__cluster_stop(struct api_server *srv, bool leave)
{
    struct api_cluster *c = srv->cluster;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    if (c->has_sweeper)
        pthread_join(c->sweeper, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    if (leave) {
        struct lerr err;
        lerr_init(&err);
        if (catalog_node_leave(srv->cat, c->self.id, &err))
            log_msg(LOG_WARN, "cluster", "node %s: could not remove its row: %s", c->self.id,
                    err.msg);
    }
    free(c);
    srv->cluster = NULL;
}

const char *api__cluster_node_id(const struct api_server *srv)
{
    return srv->cluster ? srv->cluster->self.id : "";
}

const char *api__cluster_secret(const struct api_server *srv)
{
    return srv->cluster ? srv->cluster->secret : "";
}

uint64_t api__rendezvous_score(const char *node, const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a of node, a separator, key */
    for (const char *p = node; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h ^= h >> 30; /* splitmix64's finish: FNV's low bits mix poorly */
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

size_t api__segment_server(const struct catalog_node *nodes, const bool *live, size_t n,
                           const char *segment)
{
    size_t best = SIZE_MAX;
    uint64_t top = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t sc = live[i] ? api__rendezvous_score(nodes[i].id, segment) : 0;
        if (live[i] && (best == SIZE_MAX || sc > top)) {
            best = i;
            top = sc;
        }
    }
    return best;
}

bool api__cluster_job_health(const struct catalog_node *nodes, size_t nn, const char *job_id,
                             int *health, char *msg, size_t n)
{
    int64_t now = util_now_ns();
    bool reported = false;
    int worst = CATALOG_HEALTH_OK;
    msg[0] = '\0';
    for (size_t i = 0; i < nn; i++) {
        if (now - nodes[i].heartbeat_ns > CATALOG_NODE_EXPIRY_NS || !nodes[i].info)
            continue;
        json_t *info = json_loads(nodes[i].info, 0, NULL), *j;
        size_t k;
        json_array_foreach(json_object_get(info, "jobs"), k, j) {
            const char *id = json_string_value(json_object_get(j, "jobId"));
            int h = catalog_health_parse(json_string_value(json_object_get(j, "health")));
            if (!id || strcmp(id, job_id) != 0 || h < 0)
                continue;
            reported = true;
            if (h > worst || (h == worst && h != CATALOG_HEALTH_OK && !msg[0])) {
                worst = h;
                snprintf(msg, n, "node '%s': %s", nodes[i].id,
                         json_string_value(json_object_get(j, "healthMessage"))
                             ? json_string_value(json_object_get(j, "healthMessage"))
                             : "");
            }
        }
        json_decref(info);
    }
    *health = worst;
    return reported;
}

/* GET /v1/cluster: every node of the catalog, live or not, by id, with the
 * committed segments each live node serves to queries (fanout.c's parts). */
int api_cluster_get(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_node *nodes = NULL;
    size_t n = 0;
    struct catalog_segment_list segs = {0};
    if (catalog_node_list(r->srv->cat, &nodes, &n, &err) ||
        catalog_segment_list(r->srv->cat, NULL, &segs, &err)) {
        catalog_node_list_free(nodes, n);
        return api_reply_err(r, &err);
    }
    const struct api_cluster *self = r->srv->cluster;
    int64_t now = util_now_ns();
    size_t live = 0;
    bool *is_live = calloc(n + 1, sizeof *is_live);
    json_t **served = calloc(n + 1, sizeof *served);
    int64_t *nseg = calloc(n + 1, sizeof *nseg), *bytes = calloc(n + 1, sizeof *bytes);
    if (!is_live || !served || !nseg || !bytes) {
        free(is_live), free(served), free(nseg), free(bytes);
        catalog_node_list_free(nodes, n);
        catalog_segment_list_free(&segs);
        lerr_set(&err, LERR_NOMEM, "out of memory");
        return api_reply_err(r, &err);
    }
    for (size_t i = 0; i < n; i++) {
        live += is_live[i] = now - nodes[i].heartbeat_ns <= CATALOG_NODE_EXPIRY_NS;
        served[i] = json_object();
    }
    for (size_t k = 0; k < segs.n; k++) {
        const struct catalog_segment *g = &segs.items[k];
        const char *name = strrchr(g->path, '/') ? strrchr(g->path, '/') + 1 : g->path;
        size_t i = api__segment_server(nodes, is_live, n, name);
        if (i == SIZE_MAX)
            continue;
        nseg[i]++;
        bytes[i] += g->bytes;
        json_t *c = json_object_get(served[i], g->table_name);
        json_object_set_new(served[i], g->table_name, json_integer(json_integer_value(c) + 1));
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct catalog_node *x = &nodes[i];
        int64_t age = now - x->heartbeat_ns;
        json_t *info = x->info ? json_loads(x->info, 0, NULL) : NULL;
        json_t *jobs = info ? json_incref(json_object_get(info, "jobs")) : NULL;
        json_decref(info);
        json_array_append_new(
            arr,
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:b, s:b, s:o, s:{s:I, s:I, s:o}}", "id",
                      x->id, "advertise", x->advertise, "version", x->version, "startedAt",
                      api_ts(x->started_ns), "lastHeartbeat", api_ts(x->heartbeat_ns),
                      "heartbeatAgeMs", (json_int_t)(age / 1000000), "live", is_live[i], "self",
                      self && strcmp(self->self.id, x->id) == 0, "jobs",
                      jobs ? jobs : json_array(), "segments", "count", (json_int_t)nseg[i],
                      "bytes", (json_int_t)bytes[i], "tables", served[i]));
    }
    free(is_live), free(served), free(nseg), free(bytes);
    catalog_segment_list_free(&segs);
    catalog_node_list_free(nodes, n);
    api_reply(r, 200,
              json_pack("{s:s, s:I, s:I, s:I, s:o}", "self", self ? self->self.id : "",
                        "liveNodes", (json_int_t)live, "nodeExpiryMs",
                        (json_int_t)(CATALOG_NODE_EXPIRY_NS / 1000000), "heartbeatMs",
                        (json_int_t)CLUSTER_HEARTBEAT_MS, "nodes", arr));
    return 0;
}
