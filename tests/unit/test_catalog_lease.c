/*
 * test_catalog_lease.c — leases of stream partitions and fenced commits, over
 * both implementations: SQLite (a file), then PostgreSQL (a real server,
 * pg_harness.h).
 *   - acquire, renew, release, list, drop: who may take a partition and
 *     when its epoch moves (a takeover bumps it; the holder's own renewals
 *     and re-acquires keep it); each refusal names the holder;
 *   - the fencing scenario: node A holds a partition at epoch 1, its lease
 *     expires, node B takes it over (epoch 2) and commits; A wakes and
 *     commits with epoch 1: refused, nothing of A's commit written, B's
 *     offsets intact; and the other refusals (expired, released, no lease,
 *     offsets moved, malformed fences);
 *   - two nodes (forked processes) committing disjoint partitions of one
 *     (table, stream) at once, many rounds: every commit lands and the
 *     final offsets are each node's last (no lost update);
 *   - several processes racing to acquire one partition, then to take it
 *     over after it expired: exactly one holder per round.
 * Expiry uses explicit times (now_ns) and short TTLs, never sleeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "util/time.h"
#include "check.h"
#include "pg_harness.h"

static char dir[] = "/tmp/lodestar-catlease-XXXXXX";
static bool on_pg;
static struct pgh pg;

#define SEC 1000000000LL

/* A new, empty catalog named name: a file, or a new PostgreSQL database. */
static void new_target(char *out, size_t cap, const char *name)
{
    if (on_pg)
        CHECK_MSG(pgh_createdb(&pg, name, out, cap) == 0, "createdb %s", name);
    else
        snprintf(out, cap, "%s/%s.db", dir, name);
}

static struct catalog *open_at(const char *target)
{
    struct catalog *c = NULL;
    struct lerr e;
    lerr_init(&e);
    CHECK_MSG(catalog_open(target, &c, &e) == 0, "open %s: %s", target, e.msg);
    return c;
}

static char *checkpoint(struct catalog *c, const char *table, const char *stream)
{
    char *doc = NULL;
    struct lerr e;
    lerr_init(&e);
    if (catalog_checkpoint_get(c, table, stream, &doc, &e) != 0)
        return strdup("(none)");
    return doc;
}

static int64_t segment_count(struct catalog *c, const char *table)
{
    struct catalog_segment_list l = {0};
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(catalog_segment_list(c, table, &l, &e), 0);
    int64_t n = (int64_t)l.n;
    catalog_segment_list_free(&l);
    return n;
}

/* ---- acquire, renew, release, list, drop ------------------------------------ */

static void test_lease_rules(void)
{
    char target[256];
    new_target(target, sizeof target, "lease_rules");
    struct catalog *c = open_at(target);
    struct lerr e;
    struct catalog_lease l;
    lerr_init(&e);

    /* a new partition: epoch 1; the holder's re-acquire keeps it and moves the expiry */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "A", SEC, 1000 * SEC, &l, &e), 0);
    CHECK_EQ_INT(l.epoch, 1);
    CHECK_EQ_STR(l.node_id, "A");
    CHECK_EQ_INT(l.expires_ns, 1001 * SEC);
    CHECK_EQ_INT(
        catalog_lease_acquire(c, "t", "s", "ev:0", "A", SEC, 1000 * SEC + SEC / 2, &l, &e), 0);
    CHECK_EQ_INT(l.epoch, 1);
    CHECK_EQ_INT(l.acquired_ns, 1000 * SEC);
    CHECK_EQ_INT(l.expires_ns, 1001 * SEC + SEC / 2);

    /* another node while it is live: refused, naming the holder */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "B", SEC, 1001 * SEC, &l, &e),
                 LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "partition ev:0 of table 't' (stream 's') is leased to node 'A' at "
                            "epoch 1 for 0.5 s more"),
              "%s", e.msg);

    /* after its expiry: taken over, epoch 2 */
    lerr_init(&e);
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "B", SEC, 1002 * SEC, &l, &e), 0);
    CHECK_EQ_INT(l.epoch, 2);
    CHECK_EQ_STR(l.node_id, "B");
    CHECK_EQ_INT(l.acquired_ns, 1002 * SEC);

    /* A renews what it thinks it holds: lost, and told who has it; B's renewal extends */
    struct catalog_lease held[2] = {
        {.table_name = "t", .stream = "s", .part = "ev:0", .epoch = 1},
        {.table_name = "t", .stream = "s", .part = "ev:7", .epoch = 3}};
    size_t nlost = 99;
    CHECK_EQ_INT(catalog_lease_renew(c, "A", SEC, 1002 * SEC, held, 2, &nlost, &e), 0);
    CHECK_EQ_INT((int)nlost, 2);
    CHECK(held[0].lost && held[1].lost);
    CHECK_EQ_STR(held[0].node_id, "B");
    CHECK_EQ_INT(held[0].epoch, 2);
    CHECK_EQ_STR(held[1].node_id, ""); /* no lease at all */
    CHECK_EQ_INT(held[1].epoch, 0);
    struct catalog_lease mine = {.table_name = "t", .stream = "s", .part = "ev:0", .epoch = 2};
    CHECK_EQ_INT(catalog_lease_renew(c, "B", 3 * SEC, 1005 * SEC, &mine, 1, &nlost, &e), 0);
    CHECK_EQ_INT((int)nlost, 0);
    CHECK(!mine.lost);
    CHECK_EQ_INT(mine.expires_ns, 1008 * SEC);
    CHECK_EQ_INT(mine.epoch, 2);
    /* an expired lease nobody took is still the holder's to renew */
    CHECK_EQ_INT(catalog_lease_renew(c, "B", SEC, 1100 * SEC, &mine, 1, &nlost, &e), 0);
    CHECK(!mine.lost && nlost == 0 && mine.expires_ns == 1101 * SEC);

    /* release: only by the holder at its epoch; the row stays, free, keeping its epoch */
    CHECK_EQ_INT(catalog_lease_release(c, "t", "s", "ev:0", "A", 1, &e), LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "is leased to node 'B' at epoch 2, not leased to node 'A' at epoch 1"),
              "%s", e.msg);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_lease_release(c, "t", "s", "ev:9", "A", 1, &e), LERR_NOT_FOUND);
    CHECK_MSG(strstr(e.msg, "partition ev:9 of table 't' (stream 's') has no lease"), "%s", e.msg);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_lease_release(c, "t", "s", "ev:0", "B", 2, &e), 0);
    struct catalog_lease *all = NULL;
    size_t n = 0;
    CHECK_EQ_INT(catalog_lease_list(c, "t", "s", &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 1);
    if (n == 1) {
        CHECK_EQ_STR(all[0].node_id, "");
        CHECK_EQ_INT(all[0].epoch, 2);
        CHECK_EQ_INT(all[0].expires_ns, 0);
    }
    free(all);
    CHECK_EQ_INT(catalog_lease_release(c, "t", "s", "ev:0", "B", 2, &e), LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "is free at epoch 2"), "%s", e.msg);
    lerr_init(&e);
    /* a released partition is free at once (no waiting for an expiry), with the next epoch */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "B", SEC, 1100 * SEC, &l, &e), 0);
    CHECK_EQ_INT(l.epoch, 3);
    /* the holder's own expired lease: re-acquired at the same epoch */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "B", SEC, 2000 * SEC, &l, &e), 0);
    CHECK_EQ_INT(l.epoch, 3);

    /* list: by table, stream, part; per (table, stream), per table, every lease */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:1", "A", 0, 0, NULL, &e), 0);
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "other", "x:0", "A", 0, 0, NULL, &e), 0);
    CHECK_EQ_INT(catalog_lease_acquire(c, "u", "s", "ev:0", "A", 0, 0, &l, &e), 0);
    CHECK_MSG(l.expires_ns - l.acquired_ns == CATALOG_LEASE_TTL_NS, "default TTL: %lld",
              (long long)(l.expires_ns - l.acquired_ns));
    CHECK_EQ_INT(catalog_lease_list(c, "t", "s", &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 2);
    if (n == 2) {
        CHECK_EQ_STR(all[0].part, "ev:0");
        CHECK_EQ_STR(all[1].part, "ev:1");
        CHECK_EQ_STR(all[1].node_id, "A");
    }
    free(all);
    CHECK_EQ_INT(catalog_lease_list(c, "t", NULL, &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 3);
    free(all);
    CHECK_EQ_INT(catalog_lease_list(c, NULL, NULL, &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 4);
    if (n == 4)
        CHECK_EQ_STR(all[3].table_name, "u");
    free(all);

    /* bad names: what and how long */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "", 0, 0, NULL, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "lease: the node id must be 1..127 bytes"), "%s", e.msg);
    lerr_init(&e);
    char longpart[300];
    memset(longpart, 'p', sizeof longpart - 1);
    longpart[sizeof longpart - 1] = '\0';
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", longpart, "A", 0, 0, NULL, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "lease: the partition key must be 1..255 bytes"), "%s", e.msg);
    lerr_init(&e);

    /* the key the runtime builds for a partition, and what the fence reads */
    char key[256];
    CHECK_EQ_INT(catalog_lease_part_key("events", 3, key, &e), 0);
    CHECK_EQ_STR(key, "events:3");
    CHECK_EQ_INT(catalog_lease_part_key("events", -1, key, &e), LERR_INVALID);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_lease_part_key(longpart, 0, key, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "is over 255 bytes"), "%s", e.msg);
    lerr_init(&e);

    /* drop: one (table, stream), then a whole table; deleting a table drops its leases */
    CHECK_EQ_INT(catalog_lease_drop(c, "t", "s", &e), 0);
    CHECK_EQ_INT(catalog_lease_list(c, "t", NULL, &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 1);
    if (n == 1)
        CHECK_EQ_STR(all[0].stream, "other");
    free(all);
    CHECK_EQ_INT(catalog_lease_drop(c, "t", NULL, &e), 0);
    CHECK_EQ_INT(catalog_lease_list(c, "t", NULL, &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 0);
    free(all);
    /* after a drop a partition starts again at epoch 1 */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "B", 0, 0, &l, &e), 0);
    CHECK_EQ_INT(l.epoch, 1);
    struct catalog_doc d = {.name = "u", .kind = "detail", .doc = "{}"};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &d, &e), 0);
    CHECK_EQ_INT(catalog_doc_delete(c, CATALOG_TABLE, "u", &e), 0);
    CHECK_EQ_INT(catalog_lease_list(c, "u", NULL, &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 0);
    free(all);
    CHECK_MSG(e.code == 0, "%s", e.msg);
    catalog_close(c);
}

/* ---- the fence ----------------------------------------------------------------- */

/* A fenced commit of one partition by node, adding segment seg (may be NULL). */
static int commit_one(struct catalog *c, const char *node, const char *part, int64_t epoch,
                      const char *expected, const char *next, const char *seg, int64_t now,
                      struct lerr *e)
{
    struct catalog_fence_part fp = {.part = part, .epoch = epoch};
    struct catalog_fence f = {.node_id = node, .parts = &fp, .nparts = 1, .now_ns = now};
    struct catalog_segment g = {.rows = 1};
    if (seg) {
        snprintf(g.id, sizeof g.id, "t/%s", seg);
        snprintf(g.path, sizeof g.path, "tables/t/%s", seg);
    }
    struct catalog_commit cm = {.table_name = "t",
                                .add = &g,
                                .nadd = seg ? 1 : 0,
                                .stream = "s",
                                .expected_offsets = expected,
                                .new_offsets = next,
                                .job_id = "job",
                                .job_counters = node,
                                .fence = &f};
    lerr_init(e);
    return catalog_commit(c, &cm, e);
}

static void check_doc(struct catalog *c, const char *want)
{
    char *got = checkpoint(c, "t", "s");
    CHECK_EQ_STR(got, want);
    free(got);
}

static void test_fence(void)
{
    char target[256];
    new_target(target, sizeof target, "lease_fence");
    struct catalog *c = open_at(target);
    struct lerr e;
    lerr_init(&e);
    const int64_t t0 = 5000 * SEC;
    struct catalog_lease la, lb;

    /* A holds ev:0 at epoch 1 and commits it */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "A", SEC, t0, &la, &e), 0);
    CHECK_EQ_INT(la.epoch, 1);
    CHECK_EQ_INT(commit_one(c, "A", "ev:0", 1, NULL, "{\"ev\":{\"0\":10}}", "a1", t0, &e), 0);
    CHECK_MSG(e.code == 0, "%s", e.msg);
    check_doc(c, "{\"ev\":{\"0\":10}}");

    /* A pauses past its lease; B takes ev:0 over (epoch 2) */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "B", SEC, t0 + 3 * SEC, &lb, &e), 0);
    CHECK_EQ_INT(lb.epoch, 2);
    /* A wakes before B's first commit: its expected offsets still match, only the fence
     * stops it (else B would re-read what A commits here: counted twice) */
    CHECK_EQ_INT(commit_one(c, "A", "ev:0", 1, "{\"ev\":{\"0\":10}}", "{\"ev\":{\"0\":14}}", "a2",
                            t0 + 3 * SEC + SEC / 2, &e),
                 LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "fenced: partition ev:0 of table 't' (stream 's') is leased to node "
                            "'B' at epoch 2 since 0.5 s ago; node 'A' committed with epoch 1"),
              "%s", e.msg);
    check_doc(c, "{\"ev\":{\"0\":10}}");
    CHECK_EQ_INT(segment_count(c, "t"), 1);
    /* B commits from A's last committed offsets */
    CHECK_EQ_INT(commit_one(c, "B", "ev:0", 2, "{\"ev\":{\"0\":10}}", "{\"ev\":{\"0\":25}}", "b1",
                            t0 + 3 * SEC, &e),
                 0);
    CHECK_MSG(e.code == 0, "%s", e.msg);

    /* A commits again with epoch 1, after B's commit: fenced, nothing of it written */
    CHECK_EQ_INT(commit_one(c, "A", "ev:0", 1, "{\"ev\":{\"0\":10}}", "{\"ev\":{\"0\":17}}", "a2",
                            t0 + 3 * SEC + SEC / 2, &e),
                 LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "fenced: partition ev:0 of table 't' (stream 's') is leased to node "
                            "'B' at epoch 2 since 0.5 s ago; node 'A' committed with epoch 1"),
              "%s", e.msg);
    check_doc(c, "{\"ev\":{\"0\":25}}");
    CHECK_EQ_INT(segment_count(c, "t"), 2); /* a1 and b1; not a2 */
    char *counters = NULL;
    CHECK_EQ_INT(catalog_job_counters(c, "job", &counters, &e), 0);
    CHECK_EQ_STR(counters, "B");
    free(counters);
    /* A learns it on its next renewal */
    struct catalog_lease held = la;
    size_t nlost = 0;
    CHECK_EQ_INT(catalog_lease_renew(c, "A", SEC, t0 + 4 * SEC, &held, 1, &nlost, &e), 0);
    CHECK(nlost == 1 && held.lost && strcmp(held.node_id, "B") == 0);

    /* B's own lease, expired: refused until renewed */
    CHECK_EQ_INT(commit_one(c, "B", "ev:0", 2, "{\"ev\":{\"0\":25}}", "{\"ev\":{\"0\":30}}", NULL,
                            t0 + 10 * SEC, &e),
                 LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "fenced: the lease of node 'B' on partition ev:0 of table 't' "
                            "(stream 's', epoch 2) expired 6.0 s ago"),
              "%s", e.msg);
    check_doc(c, "{\"ev\":{\"0\":25}}");
    CHECK_EQ_INT(catalog_lease_renew(c, "B", SEC, t0 + 10 * SEC, &lb, 1, &nlost, &e), 0);
    CHECK_EQ_INT((int)nlost, 0);

    /* a partition nobody leased, and one released */
    CHECK_EQ_INT(
        commit_one(c, "B", "ev:9", 1, NULL, "{\"ev\":{\"9\":1}}", NULL, t0 + 10 * SEC, &e),
        LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "fenced: partition ev:9 of table 't' (stream 's') has no lease"), "%s",
              e.msg);
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:1", "A", SEC, t0 + 10 * SEC, &la, &e), 0);
    CHECK_EQ_INT(catalog_lease_release(c, "t", "s", "ev:1", "A", la.epoch, &e), 0);
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:1", la.epoch, NULL, "{\"ev\":{\"1\":4}}", NULL, t0 + 10 * SEC, &e),
        LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "fenced: partition ev:1 of table 't' (stream 's') was released at "
                            "epoch 1"),
              "%s", e.msg);

    /* disjoint partitions: A's ev:1 is written beside B's ev:0, which stays as it was */
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:1", "A", SEC, t0 + 10 * SEC, &la, &e), 0);
    CHECK_EQ_INT(la.epoch, 2);
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:1", 2, NULL, "{\"ev\":{\"1\":5}}", "a3", t0 + 10 * SEC, &e), 0);
    check_doc(c, "{\"ev\":{\"0\":25,\"1\":5}}");
    /* the offsets moved under a writer: refused, saying both */
    CHECK_EQ_INT(commit_one(c, "A", "ev:1", 2, "{\"ev\":{\"1\":4}}", "{\"ev\":{\"1\":9}}", "a4",
                            t0 + 10 * SEC, &e),
                 LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "the checkpoint of partition ev:1 of table 't' on stream 's' moved "
                            "(stored 5, this commit expected 4"),
              "%s", e.msg);
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:1", 2, NULL, "{\"ev\":{\"1\":9}}", NULL, t0 + 10 * SEC, &e),
        LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "(stored 5, this commit expected none"), "%s", e.msg);
    check_doc(c, "{\"ev\":{\"0\":25,\"1\":5}}");
    CHECK_EQ_INT(segment_count(c, "t"), 3);

    /* malformed fences: LERR_INVALID, nothing written */
    CHECK_EQ_INT(commit_one(c, "A", "ev", 2, NULL, "{\"ev\":{\"1\":9}}", NULL, t0 + 10 * SEC, &e),
                 LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "fence.parts[0] 'ev' is not \"<topic>:<partition>\""), "%s", e.msg);
    CHECK_EQ_INT(commit_one(c, "A", "ev:1", 2, "{\"ev\":{\"1\":5}}", "{\"ev\":{\"0\":99,\"1\":9}}",
                            NULL, t0 + 10 * SEC, &e),
                 LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "new_offsets names partition ev:0, which the fence does not"), "%s",
              e.msg);
    CHECK_EQ_INT(commit_one(c, "A", "ev:1", 2, "{\"ev\":{\"1\":5}}", "{\"ev\":{\"2\":9}}", NULL,
                            t0 + 10 * SEC, &e),
                 LERR_INVALID);
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:1", 2, "{\"ev\":{\"1\":5}}", "{}", NULL, t0 + 10 * SEC, &e),
        LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "new_offsets has no offset for fenced partition ev:1"), "%s", e.msg);
    CHECK_EQ_INT(commit_one(c, "", "ev:1", 2, NULL, "{}", NULL, t0 + 10 * SEC, &e), LERR_INVALID);
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:1", 2, "{\"ev\":", "{\"ev\":{\"1\":9}}", NULL, t0 + 10 * SEC, &e),
        LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "checkpoint offsets: invalid JSON"), "%s", e.msg);
    check_doc(c, "{\"ev\":{\"0\":25,\"1\":5}}");

    /* a text position (Kinesis) is compared and kept with its count */
    CHECK_EQ_INT(commit_one(c, "A", "ev:1", 2, "{\"ev\":{\"1\":5}}",
                            "{\"ev\":{\"1\":[7,\"after:42\"]}}", NULL, t0 + 10 * SEC, &e),
                 0);
    CHECK_EQ_INT(commit_one(c, "A", "ev:1", 2, "{\"ev\":{\"1\":[7,\"after:41\"]}}",
                            "{\"ev\":{\"1\":8}}", NULL, t0 + 10 * SEC, &e),
                 LERR_CONFLICT);
    CHECK_MSG(strstr(e.msg, "stored 7 at \"after:42\", this commit expected 7 at \"after:41\""),
              "%s", e.msg);
    check_doc(c, "{\"ev\":{\"0\":25,\"1\":[7,\"after:42\"]}}");

    /* the single-node commit (no fence) still swaps the whole document it reads */
    char *doc = checkpoint(c, "t", "s");
    struct catalog_commit whole = {
        .table_name = "t", .stream = "s", .expected_offsets = doc, .new_offsets = "{\"ev\":{}}"};
    lerr_init(&e);
    CHECK_EQ_INT(catalog_commit(c, &whole, &e), 0);
    free(doc);
    check_doc(c, "{\"ev\":{}}");
    catalog_close(c);
}

/* ---- two nodes, disjoint partitions, at once ----------------------------------- */

#define NODE_ROUNDS 40
#define NODE_PARTS 2 /* per node: node k holds ev:k and ev:k+2 */

struct shared {
    pthread_barrier_t bar;
    int failed[2];
    char msg[2][256];
};

/* Node `who` commits NODE_ROUNDS times, each from the offsets it committed last. */
static void node_loop(const char *target, struct shared *sh, int who)
{
    struct catalog *c = open_at(target);
    char node[8], parts[NODE_PARTS][16];
    snprintf(node, sizeof node, "n%d", who);
    struct catalog_fence_part fp[NODE_PARTS];
    struct lerr e;
    lerr_init(&e);
    for (int i = 0; i < NODE_PARTS; i++) {
        snprintf(parts[i], sizeof parts[i], "ev:%d", who + 2 * i);
        struct catalog_lease l;
        CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", parts[i], node, 600 * SEC, 0, &l, &e), 0);
        fp[i] = (struct catalog_fence_part){.part = parts[i], .epoch = l.epoch};
    }
    struct catalog_fence f = {.node_id = node, .parts = fp, .nparts = NODE_PARTS};
    pthread_barrier_wait(&sh->bar);
    char expected[128] = "", next[128];
    for (int r = 1; r <= NODE_ROUNDS; r++) {
        snprintf(next, sizeof next, "{\"ev\":{\"%d\":%d,\"%d\":%d}}", who, r * 10 + who, who + 2,
                 r * 100 + who);
        struct catalog_segment g = {.rows = 1};
        snprintf(g.id, sizeof g.id, "t/%s-%d", node, r);
        snprintf(g.path, sizeof g.path, "tables/t/%s-%d", node, r);
        struct catalog_commit cm = {.table_name = "t",
                                    .add = &g,
                                    .nadd = 1,
                                    .stream = "s",
                                    .expected_offsets = expected[0] ? expected : NULL,
                                    .new_offsets = next,
                                    .fence = &f};
        lerr_init(&e);
        if (catalog_commit(c, &cm, &e) != 0) {
            sh->failed[who]++;
            snprintf(sh->msg[who], sizeof sh->msg[who], "%s", e.msg);
        }
        snprintf(expected, sizeof expected, "%s", next);
    }
    catalog_close(c);
}

static void test_two_nodes(void)
{
    char target[256];
    new_target(target, sizeof target, "lease_two_nodes");
    catalog_close(open_at(target));
    struct shared *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    if (sh == MAP_FAILED)
        return;
    memset(sh, 0, sizeof *sh);
    pthread_barrierattr_t a;
    pthread_barrierattr_init(&a);
    pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->bar, &a, 2);
    pthread_barrierattr_destroy(&a);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int before = check_failed_; /* the parent's failures so far are not the child's */
        node_loop(target, sh, 1);
        _exit(check_failed_ > before ? 1 : 0);
    }
    node_loop(target, sh, 0);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "node 1 exited with status %d", st);
    CHECK_MSG(sh->failed[0] == 0, "node 0: %d commits failed: %s", sh->failed[0], sh->msg[0]);
    CHECK_MSG(sh->failed[1] == 0, "node 1: %d commits failed: %s", sh->failed[1], sh->msg[1]);
    struct catalog *c = open_at(target);
    char want[200];
    snprintf(want, sizeof want, "{\"ev\":{\"0\":%d,\"1\":%d,\"2\":%d,\"3\":%d}}", NODE_ROUNDS * 10,
             NODE_ROUNDS * 10 + 1, NODE_ROUNDS * 100, NODE_ROUNDS * 100 + 1);
    check_doc(c, want);
    CHECK_EQ_INT(segment_count(c, "t"), 2 * NODE_ROUNDS);
    catalog_close(c);
    pthread_barrier_destroy(&sh->bar);
    munmap(sh, sizeof *sh);
}

/* ---- racing acquires: one holder a round ------------------------------------------ */

#define RACERS 4
#define RACE_ROUNDS 8

struct race {
    pthread_barrier_t bar;
    int rc[2][RACE_ROUNDS][RACERS]; /* [0]: a new partition; [1]: its takeover after expiry */
    int64_t epoch[2][RACE_ROUNDS][RACERS];
};

static void racer(const char *target, struct race *sh, int who)
{
    struct catalog *c = open_at(target);
    char node[8], part[16];
    const int64_t t0 = 9000 * SEC;
    for (int phase = 0; phase < 2; phase++)
        for (int r = 0; r < RACE_ROUNDS; r++) {
            /* phase 1 by other nodes than phase 0's, so every winner takes over */
            snprintf(node, sizeof node, "%c%d", phase ? 'q' : 'r', who);
            snprintf(part, sizeof part, "ev:%d", r);
            struct catalog_lease l = {0};
            struct lerr e;
            lerr_init(&e);
            pthread_barrier_wait(&sh->bar);
            /* phase 1: every lease of phase 0 has expired */
            sh->rc[phase][r][who] =
                catalog_lease_acquire(c, "t", "s", part, node, SEC, t0 + phase * 10 * SEC, &l, &e);
            sh->epoch[phase][r][who] = l.epoch;
        }
    catalog_close(c);
}

static void test_racing_acquires(void)
{
    char target[256];
    new_target(target, sizeof target, "lease_race");
    catalog_close(open_at(target));
    struct race *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    if (sh == MAP_FAILED)
        return;
    memset(sh, 0, sizeof *sh);
    pthread_barrierattr_t a;
    pthread_barrierattr_init(&a);
    pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->bar, &a, RACERS);
    pthread_barrierattr_destroy(&a);
    pid_t pids[RACERS];
    for (int w = 1; w < RACERS; w++) {
        fflush(NULL);
        pids[w] = fork();
        if (pids[w] == 0) {
            int before = check_failed_;
            racer(target, sh, w);
            _exit(check_failed_ > before ? 1 : 0);
        }
    }
    racer(target, sh, 0);
    for (int w = 1; w < RACERS; w++) {
        int st = 0;
        waitpid(pids[w], &st, 0);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "racer %d exited with status %d", w, st);
    }
    struct catalog *c = open_at(target);
    struct lerr e;
    lerr_init(&e);
    struct catalog_lease *all = NULL;
    size_t n = 0;
    CHECK_EQ_INT(catalog_lease_list(c, "t", "s", &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, RACE_ROUNDS);
    int bad = 0;
    for (int phase = 0; phase < 2; phase++)
        for (int r = 0; r < RACE_ROUNDS; r++) {
            int wins = 0, conflicts = 0, winner = -1;
            for (int w = 0; w < RACERS; w++) {
                if (sh->rc[phase][r][w] == 0) {
                    wins++;
                    winner = w;
                }
                conflicts += sh->rc[phase][r][w] == LERR_CONFLICT;
            }
            if (wins != 1 || conflicts != RACERS - 1) {
                fprintf(stderr, "phase %d round %d: %d won, %d conflicted\n", phase, r, wins,
                        conflicts);
                bad++;
                continue;
            }
            CHECK_EQ_INT(sh->epoch[phase][r][winner], phase + 1);
            if (phase == 1 && (size_t)r < n) { /* the stored holder is the last winner */
                char node[8];
                snprintf(node, sizeof node, "q%d", winner);
                CHECK_EQ_STR(all[r].node_id, node);
                CHECK_EQ_INT(all[r].epoch, 2);
            }
        }
    CHECK_EQ_INT(bad, 0);
    free(all);
    catalog_close(c);
    pthread_barrier_destroy(&sh->bar);
    munmap(sh, sizeof *sh);
}

/* The cut: every commit that changes segments takes the next number; a fenced
 * commit's segments name their node; other commits' none. */
static void test_segment_cut(void)
{
    char target[256];
    new_target(target, sizeof target, "lease_cut");
    struct catalog *c = open_at(target);
    struct lerr e;
    lerr_init(&e);
    const int64_t t0 = 7000 * SEC;
    struct catalog_segment_list l = {0};
    CHECK_EQ_INT(catalog_segment_cut(c, "t", &l, &e), 0);
    CHECK_EQ_INT(l.n, 0);
    CHECK_EQ_INT(l.seq, 0);
    catalog_segment_list_free(&l);

    struct catalog_lease la;
    CHECK_EQ_INT(catalog_lease_acquire(c, "t", "s", "ev:0", "A", 10 * SEC, t0, &la, &e), 0);
    CHECK_EQ_INT(commit_one(c, "A", "ev:0", 1, NULL, "{\"ev\":{\"0\":5}}", "a1", t0, &e), 0);
    /* a commit of offsets alone takes no number */
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:0", 1, "{\"ev\":{\"0\":5}}", "{\"ev\":{\"0\":6}}", NULL, t0, &e),
        0);
    /* a compaction (not fenced) replaces a1 */
    struct catalog_segment g = {.rows = 1};
    snprintf(g.id, sizeof g.id, "t/m1");
    snprintf(g.path, sizeof g.path, "tables/t/m1");
    const char *rm[] = {"t/a1"};
    struct catalog_commit cm = {
        .table_name = "t", .add = &g, .nadd = 1, .remove_ids = rm, .nremove = 1};
    CHECK_EQ_INT(catalog_commit(c, &cm, &e), 0);
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:0", 1, "{\"ev\":{\"0\":6}}", "{\"ev\":{\"0\":9}}", "a2", t0, &e),
        0);
    CHECK_MSG(e.code == 0, "%s", e.msg);
    /* a conflicting commit changes nothing, the counter included */
    CHECK_EQ_INT(
        commit_one(c, "A", "ev:0", 1, "{\"ev\":{\"0\":1}}", "{\"ev\":{\"0\":2}}", "a3", t0, &e),
        LERR_CONFLICT);
    CHECK_EQ_INT(catalog_segment_cut(c, "t", &l, &e), 0);
    CHECK_EQ_INT(l.seq, 3);
    CHECK_EQ_INT(l.n, 2);
    for (size_t i = 0; i < l.n; i++) {
        const struct catalog_segment *x = &l.items[i];
        if (strcmp(x->id, "t/m1") == 0) {
            CHECK_EQ_INT(x->seq, 2);
            CHECK_EQ_STR(x->writer, "");
        } else {
            CHECK_EQ_STR(x->id, "t/a2");
            CHECK_EQ_INT(x->seq, 3);
            CHECK_EQ_STR(x->writer, "A");
        }
    }
    catalog_segment_list_free(&l);
    catalog_close(c);
}

/* A stream one node reads whole: every commit (rows included) fenced by the job's run lease. */
static int commit_run(struct catalog *c, const struct catalog_lease *run, const char *expected,
                      const char *next, const char *seg, struct lerr *e)
{
    struct catalog_segment g = {.rows = 1};
    snprintf(g.id, sizeof g.id, "r/%s", seg);
    snprintf(g.path, sizeof g.path, "tables/r/%s", seg);
    struct catalog_commit cm = {.table_name = "r",
                                .add = &g,
                                .nadd = 1,
                                .stream = next ? "kin" : NULL,
                                .expected_offsets = expected,
                                .new_offsets = next,
                                .run = run};
    lerr_init(e);
    return catalog_commit(c, &cm, e);
}

static void test_run_fence(void)
{
    char target[256];
    new_target(target, sizeof target, "lease_run");
    struct catalog *c = open_at(target);
    struct lerr e;
    lerr_init(&e);
    const int64_t now = util_now_ns();
    struct catalog_lease la, lb;
    /* A's run lease, taken 30 s ago for 20 s: expired */
    CHECK_EQ_INT(
        catalog_lease_acquire(c, "r", "job:j1", "stream", "A", 20 * SEC, now - 30 * SEC, &la, &e),
        0);
    CHECK_EQ_INT(commit_run(c, &la, NULL, "{\"ev\":{\"0\":5}}", "a1", &e), LERR_CONFLICT);
    CHECK_EQ_STR(e.target, "fence");
    CHECK_MSG(strstr(e.msg, "the lease of node 'A' on the stream of table 'r'") &&
                  strstr(e.msg, "expired"),
              "%s", e.msg);
    CHECK_EQ_INT(segment_count(c, "r"), 0);
    /* renewed: A commits, and its segment names it as the writer */
    CHECK_EQ_INT(catalog_lease_acquire(c, "r", "job:j1", "stream", "A", 0, 0, &la, &e), 0);
    CHECK_EQ_INT(la.epoch, 1);
    CHECK_EQ_INT(commit_run(c, &la, NULL, "{\"ev\":{\"0\":5}}", "a2", &e), 0);
    struct catalog_segment_list l = {0};
    CHECK_EQ_INT(catalog_segment_list(c, "r", &l, &e), 0);
    CHECK_EQ_INT(l.n, 1);
    if (l.n)
        CHECK_EQ_STR(l.items[0].writer, "A");
    catalog_segment_list_free(&l);
    /* B takes it over once it expires (epoch 2): A's next commit — even one without offsets,
     * rows only — is refused, and nothing of it is stored */
    CHECK_EQ_INT(catalog_lease_acquire(c, "r", "job:j1", "stream", "B", 0,
                                       now + CATALOG_LEASE_TTL_NS + SEC, &lb, &e),
                 0);
    CHECK_EQ_INT(lb.epoch, 2);
    CHECK_EQ_INT(commit_run(c, &la, "{\"ev\":{\"0\":5}}", "{\"ev\":{\"0\":9}}", "a3", &e),
                 LERR_CONFLICT);
    CHECK_EQ_STR(e.target, "fence");
    CHECK_MSG(strstr(e.msg, "the stream of table 'r' (stream 'job:j1') is leased to node 'B' at "
                            "epoch 2"),
              "%s", e.msg);
    CHECK_EQ_INT(commit_run(c, &la, NULL, NULL, "a4", &e), LERR_CONFLICT);
    CHECK_EQ_INT(segment_count(c, "r"), 1);
    char *doc = checkpoint(c, "r", "kin");
    CHECK_EQ_STR(doc, "{\"ev\":{\"0\":5}}");
    free(doc);
    catalog_close(c);
}

static void run_all(void)
{
    test_segment_cut();
    test_lease_rules();
    test_fence();
    test_run_fence();
    test_two_nodes();
    test_racing_acquires();
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    run_all();
    util_remove_tree(dir, &(struct lerr){0});
    CHECK_MSG(pgh_start(&pg) == 0, "PostgreSQL did not start (see above)");
    if (pg.running) {
        on_pg = true;
        run_all();
    }
    pgh_stop(&pg);
    return check_summary();
}
