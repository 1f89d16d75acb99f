/*
 * bench_catalog: how many commits per second the catalog takes, the figure
 * behind the cluster's scaling model (docs/ARCHITECTURE.md). Each writer is
 * a process with its own catalog handle, as a node is: it holds the leases
 * of its own 8 partitions and makes fenced commits of them, each adding one
 * segment and moving its 8 offsets (what a persist of a streaming job
 * commits), for BENCH_CATALOG_SECONDS (3) seconds. PostgreSQL (a real
 * server started in a temporary directory, as the tests start it) with 1,
 * 2, 4 and 8 writers, beside SQLite with 1 writer (the single server) as
 * the reference, printed as a ratio. Every commit of a round is checked
 * afterwards: the segment count equals the commits counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/unit/pg_harness.h"
#include "catalog/catalog.h"
#include "util/util.h"

#define PARTS 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One writer: fenced commits of its partitions until `secs` pass; the count. */
static long writer(const char *target, int who, double secs)
{
    struct catalog *c;
    struct lerr e;
    lerr_init(&e);
    if (catalog_open(target, &c, &e)) {
        fprintf(stderr, "bench_catalog: %s\n", e.msg);
        return -1;
    }
    char node[32];
    snprintf(node, sizeof node, "node%d", who);
    struct catalog_lease l[PARTS];
    struct catalog_fence_part fp[PARTS];
    char parts[PARTS][32];
    for (int p = 0; p < PARTS; p++) {
        snprintf(parts[p], sizeof parts[p], "ev:%d", who * PARTS + p);
        if (catalog_lease_acquire(c, "t", "s", parts[p], node, 60LL * 1000000000, 0, &l[p], &e)) {
            fprintf(stderr, "bench_catalog: lease: %s\n", e.msg);
            catalog_close(c);
            return -1;
        }
        fp[p] = (struct catalog_fence_part){parts[p], l[p].epoch};
    }
    struct catalog_fence f = {.node_id = node, .parts = fp, .nparts = PARTS};
    char expected[512] = "", next[512];
    long n = 0;
    double t0 = now_s();
    while (now_s() - t0 < secs) {
        int k = snprintf(next, sizeof next, "{\"ev\":{");
        for (int p = 0; p < PARTS; p++)
            k += snprintf(next + k, sizeof next - (size_t)k, "%s\"%d\":%ld", p ? "," : "",
                          who * PARTS + p, (n + 1) * 100);
        snprintf(next + k, sizeof next - (size_t)k, "}}");
        struct catalog_segment g = {.rows = 100, .bytes = 4096, .chunk_end = 86400000};
        snprintf(g.id, sizeof g.id, "t/w%d-%ld", who, n);
        snprintf(g.path, sizeof g.path, "tables/t/w%d-%ld", who, n);
        struct catalog_commit cm = {.table_name = "t",
                                    .add = &g,
                                    .nadd = 1,
                                    .stream = "s",
                                    .expected_offsets = expected[0] ? expected : NULL,
                                    .new_offsets = next,
                                    .job_id = node,
                                    .job_counters = "{}",
                                    .fence = &f};
        lerr_init(&e);
        if (catalog_commit(c, &cm, &e)) {
            fprintf(stderr, "bench_catalog: commit: %s\n", e.msg);
            break;
        }
        snprintf(expected, sizeof expected, "%s", next);
        n++;
    }
    catalog_close(c);
    return n;
}

/* `writers` processes at once; commits per second, checked against the segment rows. */
static double round_rate(const char *target, int writers, double secs)
{
    long *counts = mmap(NULL, sizeof(long) * (size_t)writers, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    double t0 = now_s();
    for (int w = 0; w < writers; w++) {
        pid_t pid = fork();
        if (pid == 0) {
            counts[w] = writer(target, w, secs);
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {
    }
    double dt = now_s() - t0;
    long total = 0;
    for (int w = 0; w < writers; w++)
        total += counts[w] < 0 ? 0 : counts[w];
    munmap(counts, sizeof(long) * (size_t)writers);
    struct catalog *c;
    struct lerr e;
    lerr_init(&e);
    struct catalog_segment_list l = {0};
    if (catalog_open(target, &c, &e) == 0) {
        if (catalog_segment_list(c, "t", &l, &e) == 0 && (long)l.n != total)
            printf("  MISMATCH: %zu segments for %ld commits\n", l.n, total);
        catalog_segment_list_free(&l);
        catalog_close(c);
    }
    (void)dt;
    return (double)total / secs;
}

int main(void)
{
    double secs = getenv("BENCH_CATALOG_SECONDS") ? atof(getenv("BENCH_CATALOG_SECONDS")) : 3;
    log_set_level((enum log_level)(LOG_ERROR + 1));
    char dir[] = "/tmp/lodestar-bench-catalog-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char target[128];
    snprintf(target, sizeof target, "%s/catalog.db", dir);
    double ref = round_rate(target, 1, secs);
    printf("  SQLite, 1 writer (reference): %.0f fenced commits/s\n", ref);
    struct pgh pg;
    if (pgh_start(&pg)) {
        printf("  PostgreSQL did not start: no figures\n");
        return 1;
    }
    int ns[] = {1, 2, 4, 8};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char db[16], uri[256];
        snprintf(db, sizeof db, "w%d", ns[i]);
        if (pgh_createdb(&pg, db, uri, sizeof uri))
            break;
        double r = round_rate(uri, ns[i], secs);
        printf("  PostgreSQL, %d writer%s: %.0f fenced commits/s (%.2f x SQLite's)\n", ns[i],
               ns[i] > 1 ? "s" : "", r, r / ref);
    }
    pgh_stop(&pg);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
