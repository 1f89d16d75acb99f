/*
 * test_catalog_concurrent.c — the catalog with more than one writer: two
 * handles in one process (threads) and two processes (fork) on the same
 * catalog; every case over SQLite (a file), then over PostgreSQL (a real
 * server, pg_harness.h).
 *   - checkpoint compare-and-swap from the same old value, at the same
 *     moment (a barrier): exactly one wins, the other gets LERR_CONFLICT;
 *     and the same scenario over a deliberately broken implementation
 *     (a CAS that does not compare; a commit without a transaction) is
 *     caught, so the check can fail;
 *   - segment registration + checkpoint + counters in one commit from two
 *     writers that retry on conflict: each commit is all or nothing, and
 *     nothing is lost (segments == successful commits == checkpoint);
 *   - a reader beside a writer sees whole commits only.
 * And on PostgreSQL, where writers are separate processes on separate
 * connections (as nodes are), with WRITERS processes at a barrier:
 *   - opening a new database at once: every open migrates or finds it
 *     migrated, and all see one default project;
 *   - the raw checkpoint_cas outside any transaction: one winner a round;
 *   - creating a job on one table: one succeeds, the others conflict, and
 *     the table has exactly one live job;
 *   - creating a table with one name: one succeeds, the others conflict;
 *   - a restart of PostgreSQL between calls: the next read, write and
 *     transaction succeed on a new connection; a transaction cut by the
 *     restart fails with LERR_IO naming PostgreSQL, and the next call works.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "check.h"
#include "pg_harness.h"

static char dir[] = "/tmp/lodestar-catconc-XXXXXX";

/* The implementation under test, and for PostgreSQL its server. */
static const struct catalog_ops *base_ops = &catalog_sqlite_ops;
static struct pgh pg;

/* A new catalog named name: a file, or a new PostgreSQL database. */
static void db_path(char *out, size_t cap, const char *name)
{
    if (base_ops == &catalog_pg_ops) {
        char db[64];
        snprintf(db, sizeof db, "%s", name);
        for (char *p = db; *p; p++)
            if (*p == '-')
                *p = '_';
        CHECK_MSG(pgh_createdb(&pg, db, out, cap) == 0, "createdb %s", db);
        return;
    }
    snprintf(out, cap, "%s/%s.db", dir, name);
}

static struct catalog *open_with(const struct catalog_ops *ops, const char *path)
{
    struct catalog *c = NULL;
    struct lerr e;
    lerr_init(&e);
    int rc = catalog_open_ops(ops, path, &c, &e);
    CHECK_MSG(rc == 0, "open %s: %s", path, e.msg);
    return c;
}

/* ---- a broken implementation: the CAS that does not compare -------------- */

static int broken_cas(struct catalog_store *s, const char *table, const char *stream,
                      const char *expected, const char *offsets, int64_t now, bool *swapped,
                      struct lerr *err)
{
    (void)expected;
    *swapped = true;
    return base_ops->checkpoint_put(s, table, stream, offsets, now, err);
}

static struct catalog_ops broken_ops;

/* ---- another: no transactions (each statement commits on its own) ------- */

static int no_begin(struct catalog_store *s, struct lerr *err)
{
    (void)s;
    (void)err;
    return 0;
}

static void no_rollback(struct catalog_store *s) { (void)s; }

static struct catalog_ops no_tx_ops;

/* ---- same old value, same moment: one winner per round ------------------- */

#define ROUNDS 20

struct shared {
    pthread_barrier_t bar;
    int rc[2][ROUNDS];
};

static struct shared *shared_new(void)
{
    struct shared *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return NULL;
    pthread_barrierattr_t a;
    pthread_barrierattr_init(&a);
    pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->bar, &a, 2);
    pthread_barrierattr_destroy(&a);
    return sh;
}

static void shared_free(struct shared *sh)
{
    pthread_barrier_destroy(&sh->bar);
    munmap(sh, sizeof *sh);
}

/*
 * Writer `who`: each round, both writers read the checkpoint, meet, and
 * commit from what they read (adding a segment named after themselves).
 * Results go to sh->rc[who][round].
 */
static void cas_rounds(const struct catalog_ops *ops, const char *path, struct shared *sh, int who)
{
    struct catalog *c = open_with(ops, path);
    for (int r = 0; r < ROUNDS; r++) {
        struct lerr e;
        lerr_init(&e);
        char *cur = NULL;
        if (c)
            catalog_checkpoint_get(c, "t", "s", &cur, &e);
        pthread_barrier_wait(&sh->bar); /* both have read the same value */
        char next[64], segid[64];
        snprintf(next, sizeof next, "{\"round\":%d,\"by\":%d}", r, who);
        snprintf(segid, sizeof segid, "t/r%d-w%d", r, who);
        struct catalog_segment g = {.chunk_start = r, .chunk_end = r + 1, .rows = 1};
        snprintf(g.id, sizeof g.id, "%s", segid);
        snprintf(g.path, sizeof g.path, "tables/t/%s", segid + 2);
        struct catalog_commit cm = {.table_name = "t",
                                    .add = &g,
                                    .nadd = 1,
                                    .stream = "s",
                                    .expected_offsets = cur,
                                    .new_offsets = next};
        lerr_init(&e);
        sh->rc[who][r] = c ? catalog_commit(c, &cm, &e) : -1;
        free(cur);
        pthread_barrier_wait(&sh->bar); /* both have committed or lost */
    }
    catalog_close(c);
}

struct cas_thread {
    const struct catalog_ops *ops;
    const char *path;
    struct shared *sh;
    int who;
};

static void *cas_thread_main(void *p)
{
    struct cas_thread *a = p;
    cas_rounds(a->ops, a->path, a->sh, a->who);
    return NULL;
}

/*
 * Runs the rounds with two handles (threads, or with use_fork two
 * processes) and returns how many rounds did not have exactly one winner
 * and one LERR_CONFLICT loser, or whose stored state disagrees with the
 * winner (its segment, its checkpoint; no loser's segment).
 */
static int cas_scenario(const struct catalog_ops *ops, const char *name, bool use_fork)
{
    char path[256];
    db_path(path, sizeof path, name);
    struct shared *sh = shared_new();
    CHECK(sh != NULL);
    if (!sh)
        return ROUNDS;
    struct catalog *c = open_with(base_ops, path); /* creates the schema first */
    if (use_fork) {
        pid_t pid = fork();
        if (pid == 0) {
            cas_rounds(ops, path, sh, 1);
            _exit(0);
        }
        cas_rounds(ops, path, sh, 0);
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exited with status %d", st);
    } else {
        pthread_t th;
        struct cas_thread a = {ops, path, sh, 1};
        pthread_create(&th, NULL, cas_thread_main, &a);
        cas_rounds(ops, path, sh, 0);
        pthread_join(th, NULL);
    }
    int bad = 0, winner = -1;
    struct lerr e;
    lerr_init(&e);
    struct catalog_segment_list l = {0};
    CHECK_EQ_INT(catalog_segment_list(c, "t", &l, &e), 0);
    for (int r = 0; r < ROUNDS; r++) {
        int w0 = sh->rc[0][r], w1 = sh->rc[1][r];
        bool one = (w0 == 0 && w1 == LERR_CONFLICT) || (w1 == 0 && w0 == LERR_CONFLICT);
        if (!one) {
            bad++;
            continue;
        }
        winner = w0 == 0 ? 0 : 1;
        /* the winner's segment is there, the loser's is not */
        char want[64], lost[64];
        snprintf(want, sizeof want, "t/r%d-w%d", r, winner);
        snprintf(lost, sizeof lost, "t/r%d-w%d", r, 1 - winner);
        bool has_want = false, has_lost = false;
        for (size_t i = 0; i < l.n; i++) {
            has_want |= strcmp(l.items[i].id, want) == 0;
            has_lost |= strcmp(l.items[i].id, lost) == 0;
        }
        if (!has_want || has_lost)
            bad++;
    }
    if (winner >= 0) {
        char *cur = NULL, want[64];
        snprintf(want, sizeof want, "{\"round\":%d,\"by\":%d}", ROUNDS - 1, winner);
        if (catalog_checkpoint_get(c, "t", "s", &cur, &e) != 0 || strcmp(cur, want) != 0)
            bad++;
        free(cur);
    }
    catalog_segment_list_free(&l);
    catalog_close(c);
    shared_free(sh);
    return bad;
}

static void test_cas_one_winner(void)
{
    CHECK_EQ_INT(cas_scenario(base_ops, "cas-threads", false), 0);
    CHECK_EQ_INT(cas_scenario(base_ops, "cas-fork", true), 0);
    /* the check itself: a CAS that does not compare lets both win, every round */
    CHECK_EQ_INT(cas_scenario(&broken_ops, "cas-broken", true), ROUNDS);
    /* and a commit that is not one transaction leaves the loser's segment behind */
    CHECK_EQ_INT(cas_scenario(&no_tx_ops, "cas-no-tx", true), ROUNDS);
}

/* ---- two writers registering segments with their checkpoint ------------- */

#define COMMITS 40

/*
 * Writer `who` makes COMMITS commits of two segments each, advancing the
 * checkpoint (a counter of all commits by anyone) by compare-and-swap and
 * retrying from the stored value after a conflict. Returns the conflicts it
 * saw, or -1 when a commit failed otherwise.
 */
static int commit_loop(const char *path, int who)
{
    struct catalog *c = open_with(base_ops, path);
    if (!c)
        return -1;
    int conflicts = 0;
    char job[16];
    snprintf(job, sizeof job, "job-%d", who);
    for (int k = 0; k < COMMITS;) {
        struct lerr e;
        lerr_init(&e);
        char *cur = NULL;
        long n = 0;
        if (catalog_checkpoint_get(c, "t", "s", &cur, &e) == 0)
            n = strtol(cur, NULL, 10);
        else if (e.code != LERR_NOT_FOUND) {
            conflicts = -1;
            break;
        }
        char next[32], counters[64];
        snprintf(next, sizeof next, "%ld", n + 1);
        snprintf(counters, sizeof counters, "{\"commits\":%d}", k + 1);
        struct catalog_segment g[2] = {{.chunk_start = k, .chunk_end = k + 1, .rows = 1},
                                       {.chunk_start = k, .chunk_end = k + 1, .rows = 1}};
        for (int i = 0; i < 2; i++) {
            snprintf(g[i].id, sizeof g[i].id, "t/w%d-c%d-%d", who, k, i);
            snprintf(g[i].path, sizeof g[i].path, "tables/t/w%d-c%d-%d", who, k, i);
        }
        struct catalog_commit cm = {.table_name = "t",
                                    .add = g,
                                    .nadd = 2,
                                    .stream = "s",
                                    .expected_offsets = cur,
                                    .new_offsets = next,
                                    .job_id = job,
                                    .job_counters = counters};
        lerr_init(&e);
        int rc = catalog_commit(c, &cm, &e);
        free(cur);
        if (rc == LERR_CONFLICT) {
            conflicts++;
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "writer %d: commit %d: %s\n", who, k, e.msg);
            conflicts = -1;
            break;
        }
        k++;
    }
    catalog_close(c);
    return conflicts;
}

struct loop_thread {
    const char *path;
    int who, result;
};

static void *loop_thread_main(void *p)
{
    struct loop_thread *a = p;
    a->result = commit_loop(a->path, a->who);
    return NULL;
}

/* What the catalog holds after both writers: every commit whole, none lost. */
static void check_two_writers(const char *path)
{
    struct catalog *c = open_with(base_ops, path);
    if (!c)
        return;
    struct lerr e;
    lerr_init(&e);
    char *cur = NULL;
    CHECK_EQ_INT(catalog_checkpoint_get(c, "t", "s", &cur, &e), 0);
    CHECK_EQ_STR(cur, "80"); /* 2 writers x COMMITS */
    free(cur);
    struct catalog_segment_list l = {0};
    CHECK_EQ_INT(catalog_segment_list(c, "t", &l, &e), 0);
    CHECK_EQ_INT(l.n, 2 * 2 * COMMITS);
    /* both segments of each commit, each once */
    for (int who = 0; who < 2; who++)
        for (int k = 0; k < COMMITS; k++)
            for (int i = 0; i < 2; i++) {
                char id[64];
                snprintf(id, sizeof id, "t/w%d-c%d-%d", who, k, i);
                int found = 0;
                for (size_t j = 0; j < l.n; j++)
                    found += strcmp(l.items[j].id, id) == 0;
                CHECK_MSG(found == 1, "segment %s registered %d times", id, found);
            }
    catalog_segment_list_free(&l);
    for (int who = 0; who < 2; who++) {
        char job[16], *counters = NULL;
        snprintf(job, sizeof job, "job-%d", who);
        CHECK_EQ_INT(catalog_job_counters(c, job, &counters, &e), 0);
        CHECK_EQ_STR(counters, "{\"commits\":40}");
        free(counters);
    }
    catalog_close(c);
}

static void test_two_writers(void)
{
    char path[256];
    /* threads, one handle each */
    db_path(path, sizeof path, "two-threads");
    catalog_close(open_with(base_ops, path));
    struct loop_thread a = {path, 1, 0};
    pthread_t th;
    pthread_create(&th, NULL, loop_thread_main, &a);
    int mine = commit_loop(path, 0);
    pthread_join(th, NULL);
    CHECK_MSG(mine >= 0 && a.result >= 0, "writers failed: %d, %d", mine, a.result);
    check_two_writers(path);

    /* processes */
    db_path(path, sizeof path, "two-procs");
    catalog_close(open_with(base_ops, path));
    pid_t pid = fork();
    if (pid == 0)
        _exit(commit_loop(path, 1) >= 0 ? 0 : 1);
    mine = commit_loop(path, 0);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(mine >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "writers failed: %d, child status %d", mine, st);
    check_two_writers(path);
}

/* ---- a reader beside a writer -------------------------------------------- */

#define BATCH 3

struct reader {
    const char *path;
    _Atomic bool stop;
    int reads, torn, backwards;
};

/*
 * Reads the checkpoint, then the segments: commits add BATCH segments and
 * set the checkpoint to the number of commits, so a whole-commit view has
 * a multiple of BATCH segments, at least BATCH x the checkpoint read
 * before, and never fewer than a previous read.
 */
static void *reader_main(void *p)
{
    struct reader *r = p;
    struct catalog *c = open_with(base_ops, r->path);
    size_t last = 0;
    while (c && !atomic_load(&r->stop)) {
        struct lerr e;
        lerr_init(&e);
        char *cur = NULL;
        long cp = 0;
        if (catalog_checkpoint_get(c, "t", "s", &cur, &e) == 0)
            cp = strtol(cur, NULL, 10);
        free(cur);
        struct catalog_segment_list l = {0};
        lerr_init(&e);
        if (catalog_segment_list(c, "t", &l, &e) != 0) {
            r->torn++;
            break;
        }
        if (l.n % BATCH != 0 || l.n < (size_t)cp * BATCH)
            r->torn++;
        if (l.n < last)
            r->backwards++;
        last = l.n;
        r->reads++;
        catalog_segment_list_free(&l);
    }
    catalog_close(c);
    return NULL;
}

static void test_reader_sees_whole_commits(void)
{
    char path[256];
    db_path(path, sizeof path, "reader");
    struct catalog *w = open_with(base_ops, path);
    struct reader r = {.path = path};
    atomic_init(&r.stop, false);
    pthread_t th;
    pthread_create(&th, NULL, reader_main, &r);
    struct lerr e;
    lerr_init(&e);
    int failed = 0;
    for (int k = 0; k < 200 && w; k++) {
        struct catalog_segment g[BATCH];
        memset(g, 0, sizeof g);
        for (int i = 0; i < BATCH; i++) {
            snprintf(g[i].id, sizeof g[i].id, "t/c%d-%d", k, i);
            snprintf(g[i].path, sizeof g[i].path, "tables/t/c%d-%d", k, i);
            g[i].chunk_start = k;
            g[i].chunk_end = k + 1;
        }
        char prev[16], next[16];
        snprintf(prev, sizeof prev, "%d", k);
        snprintf(next, sizeof next, "%d", k + 1);
        struct catalog_commit cm = {.table_name = "t",
                                    .add = g,
                                    .nadd = BATCH,
                                    .stream = "s",
                                    .expected_offsets = k ? prev : NULL,
                                    .new_offsets = next};
        failed += catalog_commit(w, &cm, &e) != 0;
    }
    /* let the reader see the last state too */
    while (r.reads < 5)
        usleep(1000);
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    CHECK_MSG(failed == 0, "writer commits failed: %d (%s)", failed, e.msg);
    CHECK_MSG(r.reads > 0, "the reader read nothing");
    CHECK_EQ_INT(r.torn, 0);
    CHECK_EQ_INT(r.backwards, 0);
    catalog_close(w);
}

/* ---- PostgreSQL: several processes at a barrier --------------------------- */

#define WRITERS 4
#define RACE_ROUNDS 10

struct race {
    pthread_barrier_t bar;
    int rc[RACE_ROUNDS][WRITERS];
    int live[RACE_ROUNDS]; /* live jobs on the table after a round (job race) */
};

static struct race *race_new(void)
{
    struct race *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return NULL;
    memset(sh, 0, sizeof *sh);
    pthread_barrierattr_t a;
    pthread_barrierattr_init(&a);
    pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->bar, &a, WRITERS);
    pthread_barrierattr_destroy(&a);
    return sh;
}

static void race_free(struct race *sh)
{
    pthread_barrier_destroy(&sh->bar);
    munmap(sh, sizeof *sh);
}

typedef void (*race_fn)(const char *target, struct race *sh, int who);

/* fn in WRITERS processes (this one is writer 0), each on its own connection. */
static void race_run(const char *target, race_fn fn, struct race *sh)
{
    pid_t pids[WRITERS];
    for (int w = 1; w < WRITERS; w++) {
        fflush(NULL);
        pids[w] = fork();
        if (pids[w] == 0) {
            fn(target, sh, w);
            _exit(check_failed_ ? 1 : 0);
        }
    }
    fn(target, sh, 0);
    for (int w = 1; w < WRITERS; w++) {
        int st = 0;
        waitpid(pids[w], &st, 0);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d exited with status %d", w, st);
    }
}

/* Rounds whose results are not one 0 and WRITERS-1 LERR_CONFLICT. */
static int race_bad_rounds(const struct race *sh)
{
    int bad = 0;
    for (int r = 0; r < RACE_ROUNDS; r++) {
        int wins = 0, conflicts = 0;
        for (int w = 0; w < WRITERS; w++) {
            wins += sh->rc[r][w] == 0;
            conflicts += sh->rc[r][w] == LERR_CONFLICT;
        }
        if (wins != 1 || conflicts != WRITERS - 1) {
            fprintf(stderr, "round %d: %d won, %d conflicted\n", r, wins, conflicts);
            bad++;
        }
    }
    return bad;
}

/* The raw operation, outside any transaction: every writer from the same stored value. */
static void raw_cas_writer(const char *target, struct race *sh, int who)
{
    struct catalog_store *s = NULL;
    int version;
    struct lerr e;
    lerr_init(&e);
    int rc = catalog_pg_ops.open(target, &s, &version, &e);
    CHECK_MSG(rc == 0, "open: %s", e.msg);
    for (int r = 0; r < RACE_ROUNDS; r++) {
        char *cur = NULL, next[64];
        bool found = false, swapped = false;
        lerr_init(&e);
        pthread_barrier_wait(&sh->bar); /* the last round is over */
        if (s)
            catalog_pg_ops.checkpoint_get(s, "t", "s", &cur, &found, &e);
        pthread_barrier_wait(&sh->bar); /* everyone has read the same value */
        snprintf(next, sizeof next, "r%d-w%d", r, who);
        rc = s ? catalog_pg_ops.checkpoint_cas(s, "t", "s", found ? cur : NULL, next, r, &swapped,
                                               &e)
               : -1;
        sh->rc[r][who] = rc ? rc : swapped ? 0 : LERR_CONFLICT;
        free(cur);
    }
    if (s)
        catalog_pg_ops.close(s);
}

static void test_pg_raw_cas(void)
{
    char target[256];
    db_path(target, sizeof target, "race_cas");
    catalog_close(open_with(&catalog_pg_ops, target));
    struct race *sh = race_new();
    race_run(target, raw_cas_writer, sh);
    CHECK_EQ_INT(race_bad_rounds(sh), 0);
    /* what is stored is the last round's winner's */
    struct catalog *c = open_with(&catalog_pg_ops, target);
    struct lerr e;
    lerr_init(&e);
    char *cur = NULL, want[64] = "";
    for (int w = 0; w < WRITERS; w++)
        if (sh->rc[RACE_ROUNDS - 1][w] == 0)
            snprintf(want, sizeof want, "r%d-w%d", RACE_ROUNDS - 1, w);
    CHECK_EQ_INT(catalog_checkpoint_get(c, "t", "s", &cur, &e), 0);
    CHECK_EQ_STR(cur, want);
    free(cur);
    catalog_close(c);
    race_free(sh);
}

static bool job_is_live(const struct catalog_job *j)
{
    return j->status != CATALOG_JOB_CANCELED && j->status != CATALOG_JOB_FAILED &&
           j->status != CATALOG_JOB_SUCCEEDED;
}

/* Each round every writer creates a job on table "t"; writer 0 then counts and cancels. */
static void job_writer(const char *target, struct race *sh, int who)
{
    struct catalog *c = open_with(&catalog_pg_ops, target);
    for (int r = 0; r < RACE_ROUNDS; r++) {
        struct catalog_job j = {.type = CATALOG_JOB_STREAMING,
                                .table_name = "t",
                                .desired = CATALOG_JOB_RUNNING,
                                .status = CATALOG_JOB_PENDING,
                                .health = CATALOG_HEALTH_OK,
                                .spec = "{}",
                                .created_by = "{}",
                                .modified_by = "{}",
                                .created_ns = r + 1,
                                .updated_ns = r + 1};
        snprintf(j.id, sizeof j.id, "%08d-%04d-4000-8000-000000000000", r, who);
        struct lerr e;
        lerr_init(&e);
        pthread_barrier_wait(&sh->bar);
        sh->rc[r][who] = c ? catalog_job_insert(c, &j, NULL, NULL, NULL, &e) : -1;
        pthread_barrier_wait(&sh->bar); /* all have tried */
        if (who == 0 && c) {
            struct catalog_job_list l = {0};
            lerr_init(&e);
            CHECK_EQ_INT(catalog_job_list_table(c, "t", &l, &e), 0);
            for (size_t i = 0; i < l.n; i++) {
                if (!job_is_live(&l.items[i]))
                    continue;
                sh->live[r]++;
                lerr_init(&e);
                CHECK_EQ_INT(catalog_job_set_status(c, l.items[i].id, CATALOG_JOB_CANCELED,
                                                    CATALOG_HEALTH_OK, NULL, 0, 1, &e),
                             0);
            }
            catalog_job_list_free(&l);
        }
    }
    catalog_close(c);
}

static void test_pg_one_live_job(void)
{
    char target[256];
    db_path(target, sizeof target, "race_jobs");
    catalog_close(open_with(&catalog_pg_ops, target));
    struct race *sh = race_new();
    race_run(target, job_writer, sh);
    CHECK_EQ_INT(race_bad_rounds(sh), 0);
    for (int r = 0; r < RACE_ROUNDS; r++)
        CHECK_MSG(sh->live[r] == 1, "round %d: %d live jobs on the table", r, sh->live[r]);
    race_free(sh);
}

/* Each round every writer creates table "race_<round>". */
static void table_writer(const char *target, struct race *sh, int who)
{
    struct catalog *c = open_with(&catalog_pg_ops, target);
    for (int r = 0; r < RACE_ROUNDS; r++) {
        struct catalog_doc d = {.kind = "detail", .doc = "{}", .created_ns = who};
        snprintf(d.name, sizeof d.name, "race_%d", r);
        struct lerr e;
        lerr_init(&e);
        pthread_barrier_wait(&sh->bar);
        sh->rc[r][who] = c ? catalog_doc_insert(c, CATALOG_TABLE, &d, &e) : -1;
        if (sh->rc[r][who] == LERR_CONFLICT)
            CHECK_MSG(strstr(e.msg, "already exists") != NULL, "%s", e.msg);
    }
    catalog_close(c);
}

static void test_pg_unique_names(void)
{
    char target[256];
    db_path(target, sizeof target, "race_tables");
    catalog_close(open_with(&catalog_pg_ops, target));
    struct race *sh = race_new();
    race_run(target, table_writer, sh);
    CHECK_EQ_INT(race_bad_rounds(sh), 0);
    struct catalog *c = open_with(&catalog_pg_ops, target);
    struct catalog_doc_list l = {0};
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(catalog_doc_list(c, CATALOG_TABLE, &l, &e), 0);
    CHECK_EQ_INT(l.n, RACE_ROUNDS);
    catalog_doc_list_free(&l);
    catalog_close(c);
    race_free(sh);
}

/* Nodes starting at once on a new database: each migration applied once, every open works. */
static void open_writer(const char *target, struct race *sh, int who)
{
    pthread_barrier_wait(&sh->bar);
    struct catalog *c = NULL;
    struct lerr e;
    lerr_init(&e);
    sh->rc[0][who] = catalog_open(target, &c, &e);
    if (sh->rc[0][who])
        fprintf(stderr, "writer %d: %s\n", who, e.msg);
    else
        sh->rc[1][who] = catalog_schema_version(c);
    struct catalog_project p;
    sh->rc[2][who] = c ? catalog_project_default(c, &p, &e) : -1;
    /* the one default project: its created_ns, the same for all */
    sh->live[who] = c ? (int)(p.created_ns % 1000000007) : -1;
    catalog_close(c);
}

static void test_pg_open_race(void)
{
    char target[256];
    db_path(target, sizeof target, "race_open");
    struct race *sh = race_new();
    race_run(target, open_writer, sh);
    for (int w = 0; w < WRITERS; w++) {
        CHECK_EQ_INT(sh->rc[0][w], 0);
        CHECK_EQ_INT(sh->rc[1][w], catalog_latest_schema_version());
        CHECK_EQ_INT(sh->rc[2][w], 0);
        CHECK_EQ_INT(sh->live[w], sh->live[0]);
    }
    race_free(sh);
}

/* PostgreSQL restarts between calls, and once inside a transaction. */
static void test_pg_restart(void)
{
    char target[256];
    db_path(target, sizeof target, "restart");
    struct catalog *c = open_with(&catalog_pg_ops, target);
    struct lerr e;
    lerr_init(&e);
    struct catalog_doc d = {.name = "before", .kind = "detail", .doc = "{}"};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &d, &e), 0);
    /* a read */
    CHECK_EQ_INT(pgh_restart(&pg), 0);
    struct catalog_doc got = {0};
    CHECK_EQ_INT(catalog_doc_get(c, CATALOG_TABLE, "before", &got, &e), 0);
    CHECK_MSG(e.code == 0, "%s", e.msg);
    catalog_doc_destroy(&got);
    /* a write outside a transaction */
    lerr_init(&e);
    CHECK_EQ_INT(pgh_restart(&pg), 0);
    snprintf(d.name, sizeof d.name, "after");
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &d, &e), 0);
    CHECK_MSG(e.code == 0, "%s", e.msg);
    /* a transaction (a commit with its compare-and-swap) */
    lerr_init(&e);
    CHECK_EQ_INT(pgh_restart(&pg), 0);
    struct catalog_segment g = {.id = "after/s1", .path = "tables/after/s1", .rows = 1};
    struct catalog_commit cm = {
        .table_name = "after", .add = &g, .nadd = 1, .stream = "s", .new_offsets = "1"};
    CHECK_EQ_INT(catalog_commit(c, &cm, &e), 0);
    CHECK_MSG(e.code == 0, "%s", e.msg);
    catalog_close(c);

    /* cut inside a transaction: LERR_IO naming PostgreSQL, rolled back; the next call works */
    struct catalog_store *s = NULL;
    int version;
    lerr_init(&e);
    CHECK_EQ_INT(catalog_pg_ops.open(target, &s, &version, &e), 0);
    if (!s)
        return;
    CHECK_EQ_INT(catalog_pg_ops.begin(s, &e), 0);
    struct catalog_doc lost = {.name = "lost", .kind = "detail", .doc = "{}"};
    CHECK_EQ_INT(catalog_pg_ops.doc_insert(s, CATALOG_TABLE, &lost, &e), 0);
    CHECK_EQ_INT(pgh_restart(&pg), 0);
    struct catalog_doc cut = {.name = "cut", .kind = "detail", .doc = "{}"};
    CHECK_EQ_INT(catalog_pg_ops.doc_insert(s, CATALOG_TABLE, &cut, &e), LERR_IO);
    CHECK_MSG(strstr(e.msg, "PostgreSQL at 127.0.0.1:") != NULL, "%s", e.msg);
    catalog_pg_ops.rollback(s);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_pg_ops.doc_insert(s, CATALOG_TABLE, &cut, &e), 0);
    bool found = true;
    CHECK_EQ_INT(catalog_pg_ops.doc_get(s, CATALOG_TABLE, "lost", &got, &found, &e), 0);
    CHECK_MSG(!found, "a row of the cut transaction was kept");
    catalog_pg_ops.close(s);
}

static void run_all(void)
{
    broken_ops = *base_ops;
    broken_ops.checkpoint_cas = broken_cas;
    no_tx_ops = *base_ops;
    no_tx_ops.begin = no_begin;
    no_tx_ops.commit = no_begin;
    no_tx_ops.rollback = no_rollback;
    test_cas_one_winner();
    test_two_writers();
    test_reader_sees_whole_commits();
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
        base_ops = &catalog_pg_ops;
        run_all();
        test_pg_open_race();
        test_pg_raw_cas();
        test_pg_one_live_job();
        test_pg_unique_names();
        test_pg_restart();
    }
    pgh_stop(&pg);
    return check_summary();
}
