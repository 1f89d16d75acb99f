/*
 * test_kafka_source.c — the Kafka source (src/source/kafka.c) against
 * librdkafka's in-process mock cluster: explicit assignment from earliest,
 * a cluster node's share of the partitions (source_only),
 * record content and metadata (keys, headers, timestamps), seeking to a
 * stored offset map, latest, lag, topicNamePattern with a topic created
 * later, an unknown topic, offsets out of range (retention and past the
 * end), a broker going down and coming back, a broker frozen (answering
 * nothing: the mock's round-trip time set to an hour), also past
 * socket.timeout.ms, beside an idle and a slow one; plus the checkpoint JSON
 * and connection-document helpers. Arguments name the tests to run (all by
 * default).
 *
 * librdkafka 2.0.2's mock cluster cannot add partitions to an existing
 * topic (rd_kafka_mock_topic_create answers TOPIC_ALREADY_EXISTS and there
 * is no CreatePartitions handler), so discovery is tested with a new topic
 * matching the pattern; both go through the same metadata diff.
 */
#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "check.h"
#include "source/source.h"
#include "source_poll_test.h"

static rd_kafka_t *g_holder; /* hosts the mock cluster */
static rd_kafka_mock_cluster_t *g_mock;
static rd_kafka_t *g_prod;
static const char *g_bootstrap;

#define TS0 1700000000000LL

static void setup(void)
{
    char es[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "0", es, sizeof es);
    g_holder = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
    g_mock = rd_kafka_mock_cluster_new(g_holder, 1);
    g_bootstrap = rd_kafka_mock_cluster_bootstraps(g_mock);
    /* The mock answers Metadata up to v2 by default, which has no
     * AllowAutoTopicCreation flag, so it would create any topic a consumer
     * asks about; v4 lets an unknown topic be unknown, as on a real broker. */
    rd_kafka_mock_set_apiversion(g_mock, 3 /* Metadata */, 0, 4);
    c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_bootstrap, es, sizeof es);
    rd_kafka_conf_set(c, "linger.ms", "2", es, sizeof es);
    rd_kafka_conf_set(c, "log_level", "0", es, sizeof es);
    g_prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
}

static void teardown(void)
{
    rd_kafka_destroy(g_prod);
    rd_kafka_mock_cluster_destroy(g_mock);
    rd_kafka_destroy(g_holder);
}

/* Creates a topic and tells the producer about it at once (otherwise its
 * first message to each new topic waits ~1 s for a metadata refresh). */
static void create_topic(const char *name, int partitions)
{
    rd_kafka_mock_topic_create(g_mock, name, partitions, 1);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(g_prod, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
}

static void produce_to(rd_kafka_t *prod, const char *topic, int32_t partition, int64_t i)
{
    char key[32], val[64], h[32];
    snprintf(key, sizeof key, "k%" PRId64, i);
    snprintf(val, sizeof val, "{\"i\":%" PRId64 ",\"topic\":\"%s\"}", i, topic);
    snprintf(h, sizeof h, "x%" PRId64, i);
    const void *kp = i % 7 == 3 ? NULL : (const void *)key; /* every 7th has no key */
    size_t kl = kp ? strlen(key) : 0;
    rd_kafka_resp_err_t e;
    do {
        e = rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(kp, kl),
                              RD_KAFKA_V_VALUE(val, strlen(val)), RD_KAFKA_V_HEADER("h1", h, -1),
                              RD_KAFKA_V_HEADER("nullh", NULL, 0), RD_KAFKA_V_TIMESTAMP(TS0 + i),
                              RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(prod, 10);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
}

static void produce(const char *topic, int32_t partition, int64_t i, bool flush)
{
    produce_to(g_prod, topic, partition, i);
    if (flush)
        rd_kafka_flush(g_prod, 10000);
}

static void produce_range(const char *topic, int32_t nparts, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i++)
        produce(topic, (int32_t)(i % nparts), i, false);
    rd_kafka_flush(g_prod, 10000);
}

/*
 * Like produce_range, but as exactly one record batch per partition: this
 * producer lingers far longer than the loop takes, and the flush sends all
 * of it at once. It learns the partitions' leader first: messages produced
 * before that wait unassigned and, when the leader becomes known during the
 * flush, move to their partition one by one while it is being sent, in
 * several batches. The mock answers a Fetch with one batch per partition, so
 * the first fetch of a partition brings every record in it.
 */
static void produce_range_one_batch(const char *topic, int32_t nparts, int64_t from, int64_t to)
{
    char es[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_bootstrap, es, sizeof es);
    rd_kafka_conf_set(c, "linger.ms", "60000", es, sizeof es);
    rd_kafka_conf_set(c, "log_level", "0", es, sizeof es);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    CHECK_EQ_INT(rd_kafka_metadata(p, 0, rkt, &md, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_MSG(md && md->topic_cnt == 1 && md->topics[0].partition_cnt == nparts &&
                  md->topics[0].partitions[0].leader >= 0,
              "no leader for '%s' yet", topic);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    for (int64_t i = from; i < to; i++)
        produce_to(p, topic, (int32_t)(i % nparts), i);
    CHECK_EQ_INT(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static int64_t now_ms(void) { return util_mono_ns() / 1000000; }

static struct source *open_src_h(const char *topic, const char *pattern, int refresh_ms,
                                 int timeout_ms, bool headers)
{
    static const char *const props[] = {"log_level", "3", NULL};
    struct source_kafka_config cfg = {
        .bootstrap_servers = g_bootstrap,
        .topic = topic,
        .topic_pattern = pattern,
        .metadata_refresh_ms = refresh_ms,
        .timeout_ms = timeout_ms,
        .rdkafka_props = props,
        .headers = headers,
    };
    struct lerr err;
    lerr_init(&err);
    struct source *s = source_open_kafka(&cfg, &err);
    CHECK_MSG(s != NULL, "open: %s", err.msg);
    return s;
}

/* The tests below check every record's headers: they ask for them. */
static struct source *open_src_t(const char *topic, const char *pattern, int refresh_ms,
                                 int timeout_ms)
{
    return open_src_h(topic, pattern, refresh_ms, timeout_ms, true);
}

static struct source *open_src(const char *topic, const char *pattern, int refresh_ms)
{
    return open_src_t(topic, pattern, refresh_ms, 3000);
}

/* What a consumer saw: per (topic index, value index) how many times. */
struct seen {
    int64_t n, bad, dup;
    unsigned char *count; /* by value index */
    int64_t cap;
    struct {
        char topic[32];
        int32_t partition;
        int64_t off;
    } last[32]; /* order check */
    int nlast;
    struct source_gap gaps[8];
    int ngaps;
    bool changed;
};

static void seen_init(struct seen *s, int64_t cap)
{
    memset(s, 0, sizeof *s);
    s->count = calloc((size_t)cap, 1);
    s->cap = cap;
}

static void check_record(struct seen *s, const struct record *r, const char *topic)
{
    int64_t i = -1;
    char t[64] = "";
    char v[128];
    size_t l = r->len < sizeof v - 1 ? r->len : sizeof v - 1;
    memcpy(v, r->data, l);
    v[l] = '\0';
    if (sscanf(v, "{\"i\":%" SCNd64 ",\"topic\":\"%63[^\"]\"}", &i, t) != 2 || i < 0 ||
        i >= s->cap || (topic && strcmp(r->topic, topic) != 0) || strcmp(r->topic, t) != 0) {
        s->bad++;
        return;
    }
    char want_key[32];
    snprintf(want_key, sizeof want_key, "k%" PRId64, i);
    bool key_ok = i % 7 == 3 ? r->key == NULL
                             : (r->key && r->key_len == strlen(want_key) &&
                                memcmp(r->key, want_key, r->key_len) == 0);
    char want_h[32];
    snprintf(want_h, sizeof want_h, "x%" PRId64, i);
    bool hdr_ok = r->nheaders == 2 && r->headers[0].name_len == 2 &&
                  memcmp(r->headers[0].name, "h1", 2) == 0 &&
                  r->headers[0].value_len == strlen(want_h) &&
                  memcmp(r->headers[0].value, want_h, r->headers[0].value_len) == 0 &&
                  strcmp(r->headers[1].name, "nullh") == 0 && r->headers[1].value == NULL;
    int li = 0;
    while (li < s->nlast &&
           !(strcmp(s->last[li].topic, r->topic) == 0 && s->last[li].partition == r->partition))
        li++;
    if (li == s->nlast && li < 32) {
        snprintf(s->last[li].topic, sizeof s->last[li].topic, "%s", r->topic);
        s->last[li].partition = r->partition;
        s->last[li].off = -1;
        s->nlast++;
    }
    bool part_ok = li < 32 && r->offset > s->last[li].off;
    if (!key_ok || !hdr_ok || r->timestamp_ms != TS0 + i || !part_ok) {
        if (s->bad < 3)
            fprintf(stderr, "bad record %" PRId64 ": key %d hdr %d ts %" PRId64 " part %d\n", i,
                    key_ok, hdr_ok, r->timestamp_ms, part_ok);
        s->bad++;
        return;
    }
    s->last[li].off = r->offset;
    if (s->count[i]++)
        s->dup++;
    s->n++;
}

/* Polls until `want` records were seen or ms pass; returns records seen. */
static int64_t drain(struct source *src, struct seen *s, const char *topic, int64_t want, int ms,
                     size_t max)
{
    int64_t t0 = util_mono_ns() / 1000000;
    while (s->n < want && util_mono_ns() / 1000000 - t0 < ms) {
        struct source_batch b;
        struct lerr err;
        lerr_init(&err);
        if (poll_src(src, max, 100, &b, &err)) {
            fprintf(stderr, "poll: %s\n", err.msg);
            s->bad++;
            break;
        }
        for (size_t i = 0; i < b.n; i++)
            check_record(s, &b.records[i], topic);
        for (size_t i = 0; i < b.ngaps && s->ngaps < 8; i++)
            s->gaps[s->ngaps++] = b.gaps[i];
        s->changed = s->changed || b.partitions_changed;
    }
    return s->n;
}

static char *position_json(struct source *src)
{
    struct source_offsets o;
    source_offsets_init(&o);
    struct lerr err;
    lerr_init(&err);
    char *j = NULL;
    if (source_position(src, &o, &err) == 0)
        j = source_offsets_to_json(&o, &err);
    source_offsets_destroy(&o);
    return j;
}

/* Polls (dropping records) until lag == want or ms pass. */
static int64_t wait_lag(struct source *src, int64_t want, int ms)
{
    int64_t t0 = util_mono_ns() / 1000000, lag = -2;
    while (util_mono_ns() / 1000000 - t0 < ms) {
        lag = source_lag(src);
        if (lag == want)
            break;
        usleep(50 * 1000);
    }
    return lag;
}

/* ---- tests ------------------------------------------------------------------- */

/*
 * A cluster node's share (source_only): only the named partitions are assigned
 * and read, from the given offsets; source_stream_partitions still lists every
 * partition; assigning again with another set moves the reading; NULL lifts
 * the limit.
 */
static void test_only_partitions(void)
{
    create_topic("shared", 4);
    const int64_t N = 400; /* 100 a partition: value i in partition i % 4 */
    produce_range("shared", 4, 0, N);
    struct source *src = open_src("shared", NULL, 0);
    if (!src)
        return;
    struct lerr err;
    lerr_init(&err);
    struct source_offsets only, start, all;
    source_offsets_init(&only);
    source_offsets_init(&start);
    source_offsets_init(&all);
    CHECK_EQ_INT(source_offsets_set(&only, "shared", 1, 0, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&only, "shared", 3, 0, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&start, "shared", 3, 60, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&start, "shared", 0, 10, &err), 0); /* not ours: ignored */
    CHECK_EQ_INT(source_only(src, &only, &err), 0);
    CHECK_EQ_INT(source_assign(src, &start, SOURCE_OFFSET_EARLIEST, &err), 0);
    char *j = position_json(src);
    CHECK_EQ_STR(j, "{\"shared\":{\"1\":0,\"3\":60}}");
    free(j);
    CHECK_EQ_INT(source_stream_partitions(src, &all, &err), 0);
    j = source_offsets_to_json(&all, &err);
    CHECK_EQ_STR(j, "{\"shared\":{\"0\":0,\"1\":0,\"2\":0,\"3\":0}}");
    free(j);
    struct seen s;
    seen_init(&s, N);
    CHECK_EQ_INT(drain(src, &s, "shared", 140, 10000, 700), 140); /* 100 of 1, 40 of 3 */
    for (int64_t i = 0; i < N; i++)
        if (s.count[i] != (i % 4 == 1 || (i % 4 == 3 && i / 4 >= 60) ? 1 : 0)) {
            CHECK_MSG(false, "value %" PRId64 " read %d times", i, s.count[i]);
            break;
        }
    CHECK_EQ_INT(s.bad, 0);
    free(s.count);
    /* another share: partition 0 from its start, 1 where it was */
    source_offsets_clear(&only);
    CHECK_EQ_INT(source_offsets_set(&only, "shared", 0, 0, &err), 0);
    CHECK_EQ_INT(source_only(src, &only, &err), 0);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    j = position_json(src);
    CHECK_EQ_STR(j, "{\"shared\":{\"0\":0}}");
    free(j);
    seen_init(&s, N);
    CHECK_EQ_INT(drain(src, &s, "shared", 100, 10000, 700), 100);
    for (int64_t i = 0; i < N; i++)
        if (s.count[i] != (i % 4 == 0 ? 1 : 0)) {
            CHECK_MSG(false, "value %" PRId64 " read %d times after the new share", i, s.count[i]);
            break;
        }
    free(s.count);
    /* no limit: every partition again */
    CHECK_EQ_INT(source_only(src, NULL, &err), 0);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_LATEST, &err), 0);
    j = position_json(src);
    CHECK_EQ_STR(j, "{\"shared\":{\"0\":100,\"1\":100,\"2\":100,\"3\":100}}");
    free(j);
    source_offsets_destroy(&only);
    source_offsets_destroy(&start);
    source_offsets_destroy(&all);
    source_close(src);
}

static void test_consume_all(void)
{
    create_topic("events", 4);
    const int64_t N = 2000;
    produce_range("events", 4, 0, N);
    struct source *src = open_src("events", NULL, 0);
    if (!src)
        return;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    char *j = position_json(src); /* earliest resolved to numbers before any record */
    CHECK_EQ_STR(j, "{\"events\":{\"0\":0,\"1\":0,\"2\":0,\"3\":0}}");
    free(j);
    struct seen s;
    seen_init(&s, N + 100);
    CHECK_EQ_INT(drain(src, &s, "events", N, 10000, 700), N);
    CHECK_EQ_INT(s.bad, 0);
    CHECK_EQ_INT(s.dup, 0);
    CHECK_EQ_INT(s.nlast, 4);
    for (int p = 0; p < s.nlast; p++)
        CHECK_EQ_INT(s.last[p].off, N / 4 - 1); /* dense per partition */
    j = position_json(src);
    CHECK_EQ_STR(j, "{\"events\":{\"0\":500,\"1\":500,\"2\":500,\"3\":500}}");
    free(j);

    struct source_partition *parts;
    size_t np;
    CHECK_EQ_INT(source_partitions(src, &parts, &np, &err), 0);
    CHECK_EQ_INT(np, 4);
    for (size_t i = 0; i < np; i++) {
        CHECK_EQ_STR(parts[i].topic, "events");
        CHECK_EQ_INT(parts[i].partition, (int)i);
        CHECK_EQ_INT(parts[i].next_offset, 500);
    }
    free(parts);
    CHECK_EQ_INT(wait_lag(src, 0, 3000), 0);

    /* 10 more on partition 0, not yet polled: lag 10 there, 0 elsewhere. */
    for (int64_t i = N; i < N + 10; i++)
        produce("events", 0, i, false);
    rd_kafka_flush(g_prod, 5000);
    CHECK_EQ_INT(wait_lag(src, 10, 5000), 10);
    CHECK_EQ_INT(source_partitions(src, &parts, &np, &err), 0);
    for (size_t i = 0; i < np; i++) {
        CHECK_EQ_INT(parts[i].lag, i == 0 ? 10 : 0);
        CHECK_EQ_INT(parts[i].end_offset, i == 0 ? 510 : 500);
    }
    free(parts);
    CHECK_EQ_INT(drain(src, &s, "events", N + 10, 5000, 700), N + 10);
    CHECK_EQ_INT(wait_lag(src, 0, 3000), 0);
    char msg[300];
    CHECK_EQ_INT(source_health(src, msg, sizeof msg), SOURCE_HEALTH_OK);
    free(s.count);
    source_close(src);
}

static void test_seek_and_latest(void)
{
    create_topic("seek", 4);
    produce_range("seek", 4, 0, 2000); /* 500 per partition */
    struct source *src = open_src("seek", NULL, 0);
    if (!src)
        return;
    struct source_offsets start;
    source_offsets_init(&start);
    struct lerr err;
    lerr_init(&err);
    const char *ck = "{\"seek\":{\"0\":100,\"1\":200,\"2\":300,\"3\":499}}";
    CHECK_EQ_INT(source_offsets_from_json(ck, strlen(ck), &start, &err), 0);
    CHECK_EQ_INT(source_assign(src, &start, SOURCE_OFFSET_EARLIEST, &err), 0);
    struct seen s;
    seen_init(&s, 3000);
    int64_t want = 400 + 300 + 200 + 1;
    CHECK_EQ_INT(drain(src, &s, "seek", want, 8000, 1000), want);
    CHECK_EQ_INT(drain(src, &s, "seek", want + 1, 300, 1000), want); /* and nothing more */
    CHECK_EQ_INT(s.bad, 0);
    CHECK_EQ_INT(s.dup, 0);
    /* exactly the rest: value i sits in partition i%4 at offset i/4 */
    int64_t missing = 0;
    for (int64_t i = 0; i < 2000; i++) {
        int64_t from = (int64_t[]){100, 200, 300, 499}[i % 4];
        if ((i / 4 >= from) != (s.count[i] == 1))
            missing++;
    }
    CHECK_EQ_INT(missing, 0);
    char *j = position_json(src);
    CHECK_EQ_STR(j, "{\"seek\":{\"0\":500,\"1\":500,\"2\":500,\"3\":500}}");
    free(j);
    free(s.count);

    /* Partial checkpoint + latest: partitions 0 and 1 resume, 2 and 3 take only new records. */
    source_offsets_clear(&start);
    CHECK_EQ_INT(source_offsets_set(&start, "seek", 0, 490, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&start, "seek", 1, 495, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&start, "seek", 7, 5, &err), 0); /* no such partition */
    CHECK_EQ_INT(source_assign(src, &start, SOURCE_OFFSET_LATEST, &err), 0);
    j = position_json(src);
    CHECK_EQ_STR(j, "{\"seek\":{\"0\":490,\"1\":495,\"2\":500,\"3\":500}}");
    free(j);
    seen_init(&s, 3000);
    CHECK_EQ_INT(drain(src, &s, "seek", 15, 5000, 1000), 15);
    CHECK_EQ_INT(drain(src, &s, "seek", 16, 300, 1000), 15); /* nothing old from 2, 3 */
    produce_range("seek", 4, 2000, 2008);
    CHECK_EQ_INT(drain(src, &s, "seek", 23, 5000, 1000), 23);
    CHECK_EQ_INT(s.bad, 0);
    CHECK_EQ_INT(s.dup, 0);
    free(s.count);
    source_offsets_destroy(&start);
    source_close(src);
}

static void test_pattern_and_discovery(void)
{
    create_topic("ev-a", 2);
    create_topic("ev-b", 1);
    create_topic("xev-a", 1); /* pattern matches whole names only */
    create_topic("other", 1);
    produce_range("ev-a", 2, 0, 10); /* before the job: skipped (latest) */
    produce_range("xev-a", 1, 0, 10);
    produce_range("other", 1, 0, 10);
    struct source *src = open_src(NULL, "ev-.*", 300);
    if (!src)
        return;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_LATEST, &err), 0);
    struct source_partition *parts;
    size_t np;
    CHECK_EQ_INT(source_partitions(src, &parts, &np, &err), 0);
    CHECK_EQ_INT(np, 3);
    free(parts);
    struct seen s;
    seen_init(&s, 1000);
    produce_range("ev-a", 2, 100, 110);
    produce_range("ev-b", 1, 200, 205);
    produce_range("other", 1, 300, 310);
    produce_range("xev-a", 1, 400, 410);
    CHECK_EQ_INT(drain(src, &s, NULL, 15, 5000, 100), 15);
    CHECK_EQ_INT(s.bad, 0);
    CHECK(!s.changed);

    /* A topic created later that matches: picked up from its earliest offset. */
    create_topic("ev-c", 2);
    produce_range("ev-c", 2, 500, 520);
    int64_t t0 = util_mono_ns();
    CHECK_EQ_INT(drain(src, &s, NULL, 35, 8000, 100), 35);
    CHECK_MSG((util_mono_ns() - t0) / 1000000 < 5000, "discovery took %lld ms",
              (long long)((util_mono_ns() - t0) / 1000000));
    CHECK(s.changed);
    CHECK_EQ_INT(s.bad, 0);
    CHECK_EQ_INT(s.dup, 0);
    for (int64_t i = 500; i < 520; i++)
        CHECK_EQ_INT(s.count[i], 1);
    CHECK_EQ_INT(s.count[0] + s.count[300] + s.count[400], 0);
    char *j = position_json(src);
    CHECK_EQ_STR(j,
                 "{\"ev-a\":{\"0\":10,\"1\":10},\"ev-b\":{\"0\":5},\"ev-c\":{\"0\":10,\"1\":10}}");
    free(j);
    free(s.count);
    source_close(src);

    /* A pattern nothing matches yet: not an error, a health warning. */
    src = open_src(NULL, "nothing-[0-9]+", 300);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    char msg[300];
    CHECK_EQ_INT(source_health(src, msg, sizeof msg), SOURCE_HEALTH_WARN);
    CHECK_MSG(strstr(msg, "nothing-[0-9]+") != NULL, "%s", msg);
    source_close(src);
}

static void test_unknown_topic(void)
{
    struct source *src = open_src("no-such-topic", NULL, 0);
    if (!src)
        return;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), LERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "'no-such-topic'") != NULL, "%s", err.msg);
    CHECK_EQ_STR(err.target, "topicName");
    source_close(src);

    /* Bad configurations are refused up front, naming the field. */
    struct source_kafka_config cfg = {.bootstrap_servers = g_bootstrap, .topic_pattern = "ev-("};
    lerr_init(&err);
    CHECK(source_open_kafka(&cfg, &err) == NULL);
    CHECK_EQ_STR(err.target, "topicNamePattern");
    cfg = (struct source_kafka_config){
        .bootstrap_servers = g_bootstrap, .topic = "a", .topic_pattern = "b"};
    lerr_init(&err);
    CHECK(source_open_kafka(&cfg, &err) == NULL);
    cfg = (struct source_kafka_config){.bootstrap_servers = g_bootstrap,
                                       .topic = "a",
                                       .sasl_mechanism = "GSSAPI",
                                       .sasl_username = "u",
                                       .sasl_password = "p"};
    lerr_init(&err);
    CHECK(source_open_kafka(&cfg, &err) == NULL);
    CHECK_EQ_STR(err.target, "secrets.mechanism");
}

static void test_out_of_range(void)
{
    /* The mock keeps ~5 MiB per partition: 8 MiB pushes the start forward. */
    create_topic("ret", 1);
    char *big = malloc(1024);
    memset(big, 'z', 1024);
    for (int i = 0; i < 8192; i++) {
        while (rd_kafka_producev(g_prod, RD_KAFKA_V_TOPIC("ret"), RD_KAFKA_V_PARTITION(0),
                                 RD_KAFKA_V_VALUE(big, 1024),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(g_prod, 10);
    }
    rd_kafka_flush(g_prod, 10000);
    free(big);
    int64_t lo = -1, hi = -1;
    rd_kafka_query_watermark_offsets(g_prod, "ret", 0, &lo, &hi, 5000);
    CHECK_MSG(lo > 0 && hi == 8192, "watermarks %" PRId64 " %" PRId64, lo, hi);

    struct source *src = open_src("ret", NULL, 0);
    if (!src)
        return;
    struct source_offsets start;
    source_offsets_init(&start);
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_offsets_set(&start, "ret", 0, 10, &err), 0);
    CHECK_EQ_INT(source_assign(src, &start, SOURCE_OFFSET_LATEST, &err), 0);
    int64_t got = 0, first = -1, t0 = util_mono_ns() / 1000000;
    struct source_gap gap = {0};
    int ngaps = 0;
    while (got < hi - lo && util_mono_ns() / 1000000 - t0 < 8000) {
        struct source_batch b;
        CHECK_EQ_INT(poll_src(src, 5000, 100, &b, &err), 0);
        if (b.ngaps) {
            gap = b.gaps[0];
            ngaps += (int)b.ngaps;
        }
        if (b.n && first < 0)
            first = b.records[0].offset;
        got += (int64_t)b.n;
    }
    CHECK_EQ_INT(ngaps, 1);
    CHECK_EQ_INT(gap.from, 10);
    CHECK_EQ_INT(gap.to, lo);
    CHECK_EQ_INT(gap.partition, 0);
    CHECK_EQ_STR(gap.topic, "ret");
    CHECK_MSG(strstr(gap.reason, "retention") != NULL, "%s", gap.reason);
    CHECK_EQ_INT(first, lo);
    CHECK_EQ_INT(got, hi - lo);

    /* Past the end (the topic was re-created): back to the earliest, reported. */
    source_offsets_clear(&start);
    CHECK_EQ_INT(source_offsets_set(&start, "ret", 0, hi + 1000, &err), 0);
    CHECK_EQ_INT(source_assign(src, &start, SOURCE_OFFSET_LATEST, &err), 0);
    ngaps = 0;
    first = -1;
    t0 = util_mono_ns() / 1000000;
    while (first < 0 && util_mono_ns() / 1000000 - t0 < 8000) {
        struct source_batch b;
        CHECK_EQ_INT(poll_src(src, 10, 100, &b, &err), 0);
        if (b.ngaps) {
            gap = b.gaps[0];
            ngaps += (int)b.ngaps;
        }
        if (b.n)
            first = b.records[0].offset;
    }
    CHECK_EQ_INT(ngaps, 1);
    CHECK_EQ_INT(gap.from, hi + 1000);
    CHECK_EQ_INT(gap.to, lo);
    CHECK_MSG(strstr(gap.reason, "past the end") != NULL, "%s", gap.reason);
    CHECK_EQ_INT(first, lo);
    source_offsets_destroy(&start);
    source_close(src);
}

static void test_broker_down(void)
{
    create_topic("down", 2);
    produce_range_one_batch("down", 2, 0, 100);
    struct source *src = open_src("down", NULL, 0);
    if (!src)
        return;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    struct seen s;
    seen_init(&s, 1000);
    /* Read at least 40, and until both partitions were fetched: each one's first
     * fetch brought all its 50 records (one batch), so the 100 are all read or
     * waiting in librdkafka's queue when the broker goes down, whatever the
     * load. (Waiting for 40 alone took it down, under load, before partition 1
     * was fetched: 50 arrived, not 100.) At most 50 + 20 are read by then. */
    for (int64_t t0 = now_ms(); (s.n < 40 || s.nlast < 2) && now_ms() - t0 < 5000;)
        drain(src, &s, "down", s.n + 1, 100, 20);
    CHECK(s.n >= 40 && s.n < 100);
    CHECK_EQ_INT(s.nlast, 2);

    rd_kafka_mock_broker_set_down(g_mock, 1);
    char msg[300] = "";
    int h = SOURCE_HEALTH_OK;
    int64_t t0 = util_mono_ns() / 1000000;
    while (util_mono_ns() / 1000000 - t0 < 8000) {
        drain(src, &s, "down", 1000, 100, 20); /* keeps polling; what was prefetched arrives */
        if ((h = source_health(src, msg, sizeof msg)) == SOURCE_HEALTH_WARN && s.n == 100)
            break;
    }
    CHECK_EQ_INT(h, SOURCE_HEALTH_WARN);
    printf("health while down: %s\n", msg);
    CHECK_MSG(strstr(msg, "unreachable for") != NULL && strstr(msg, g_bootstrap) != NULL, "%s",
              msg);
    CHECK_EQ_INT(s.n, 100);
    /* While down the producer buffers; delivered when the broker is back. */
    for (int64_t i = 100; i < 150; i++)
        produce("down", (int32_t)(i % 2), i, false);
    rd_kafka_poll(g_prod, 0);

    rd_kafka_mock_broker_set_up(g_mock, 1);
    rd_kafka_flush(g_prod, 10000);
    t0 = util_mono_ns() / 1000000;
    while (util_mono_ns() / 1000000 - t0 < 8000) {
        drain(src, &s, "down", 1000, 100, 20);
        if ((h = source_health(src, msg, sizeof msg)) == SOURCE_HEALTH_OK && s.n == 150)
            break;
    }
    CHECK_MSG(h == SOURCE_HEALTH_OK, "health still: %s", msg);
    CHECK_EQ_INT(s.n, 150); /* nothing lost ... */
    CHECK_EQ_INT(s.dup, 0); /* ... nothing twice */
    CHECK_EQ_INT(s.bad, 0);
    char *j = position_json(src);
    CHECK_EQ_STR(j, "{\"down\":{\"0\":75,\"1\":75}}");
    free(j);

    /* Down and up again with no new records: the warning clears on its own
     * (from librdkafka's statistics: the partitions' leader is UP again). */
    rd_kafka_mock_broker_set_down(g_mock, 1);
    t0 = util_mono_ns() / 1000000;
    h = SOURCE_HEALTH_OK;
    while (h == SOURCE_HEALTH_OK && util_mono_ns() / 1000000 - t0 < 5000) {
        drain(src, &s, "down", 1000, 100, 20);
        h = source_health(src, msg, sizeof msg);
    }
    CHECK_EQ_INT(h, SOURCE_HEALTH_WARN);
    rd_kafka_mock_broker_set_up(g_mock, 1);
    t0 = util_mono_ns() / 1000000;
    while (h != SOURCE_HEALTH_OK && util_mono_ns() / 1000000 - t0 < 8000) {
        drain(src, &s, "down", 1000, 100, 20);
        h = source_health(src, msg, sizeof msg);
    }
    CHECK_MSG(h == SOURCE_HEALTH_OK, "health still: %s", msg);
    printf("warning cleared %.1f s after the broker came back, with no records\n",
           (double)(util_mono_ns() / 1000000 - t0) / 1000);
    CHECK_EQ_INT(s.n, 150);
    free(s.count);

    /* A job stopped while the broker is down does not hang in close. */
    rd_kafka_mock_broker_set_down(g_mock, 1);
    struct source_batch b;
    poll_src(src, 10, 200, &b, &err);
    t0 = util_mono_ns() / 1000000;
    source_close(src);
    int64_t close_ms = util_mono_ns() / 1000000 - t0;
    CHECK_MSG(close_ms < 3000, "close took %lld ms", (long long)close_ms);
    rd_kafka_mock_broker_set_up(g_mock, 1);

    /* A source opened while the broker is down: assign succeeds, health warns,
     * and records flow once it is back. */
    rd_kafka_mock_broker_set_down(g_mock, 1);
    src = open_src_t("down", NULL, 0, 500); /* assign waits this long for metadata */
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    h = source_health(src, msg, sizeof msg);
    CHECK_EQ_INT(h, SOURCE_HEALTH_WARN);
    CHECK_MSG(strstr(msg, "unreachable") != NULL, "%s", msg);
    rd_kafka_mock_broker_set_up(g_mock, 1);
    seen_init(&s, 1000);
    CHECK_EQ_INT(drain(src, &s, "down", 150, 8000, 100), 150);
    CHECK_EQ_INT(s.dup, 0);
    CHECK_EQ_INT(source_health(src, msg, sizeof msg), SOURCE_HEALTH_OK);
    free(s.count);
    source_close(src);
}

/* ---- a frozen broker ------------------------------------------------------------ */

/*
 * Freezes the mock broker: with a round-trip time of an hour it still accepts
 * connections and reads requests, but answers nothing — what a SIGSTOPped
 * broker looks like to a client (the kernel completes TCP handshakes into the
 * listen backlog; nobody answers). Back to 0, it sends every held answer at
 * once, as a broker does after SIGCONT. (tests/e2e/test_kafka_frozen.py
 * freezes a real `lodestar dev-kafka` with SIGSTOP.)
 */
static void freeze_broker(bool frozen)
{
    rd_kafka_mock_broker_set_rtt(g_mock, 1, frozen ? 3600 * 1000 : 0);
}

/* Health after polling (and checking what arrives) for about 100 ms. */
static int poll_health(struct source *src, struct seen *s, const char *topic, char *msg,
                       size_t cap)
{
    drain(src, s, topic, INT64_MAX, 100, 100);
    msg[0] = '\0';
    return source_health(src, msg, cap);
}

/* The N of "not responding for N s", or -1. */
static int64_t silent_secs(const char *msg)
{
    const char *p = strstr(msg, "not responding for ");
    return p ? strtoll(p + strlen("not responding for "), NULL, 10) : -1;
}

/* Polls for ms; returns how many health samples were not OK (the first is printed). */
static int count_not_ok(struct source *src, struct seen *s, const char *topic, int ms,
                        const char *what)
{
    char msg[300];
    int bad = 0;
    for (int64_t t0 = now_ms(); now_ms() - t0 < ms;)
        if (poll_health(src, s, topic, msg, sizeof msg) != SOURCE_HEALTH_OK && bad++ == 0)
            printf("%s: %s\n", what, msg);
    return bad;
}

static void test_broker_frozen(void)
{
    create_topic("frozen", 2);
    produce_range("frozen", 2, 0, 100);
    struct source *src = open_src("frozen", NULL, 0);
    if (!src)
        return;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    struct seen s;
    seen_init(&s, 1000);
    CHECK_EQ_INT(drain(src, &s, "frozen", 100, 5000, 1000), 100);

    /* Idle but healthy: nothing to read for 6.5 s, and every fetch is answered. */
    CHECK_EQ_INT(count_not_ok(src, &s, "frozen", 6500, "idle broker"), 0);

    /* Slow, not frozen: every answer takes 2 s. Records still come, no warning.
     * (Before the freeze: the mock arms one timer per connection for held
     * answers and does not re-arm it, so after an hour-long one it would hold
     * answers longer than asked.) */
    rd_kafka_mock_broker_set_rtt(g_mock, 1, 2000);
    produce_range("frozen", 2, 100, 120); /* waits for the (slow) acknowledgements */
    CHECK_EQ_INT(count_not_ok(src, &s, "frozen", 7000, "slow broker"), 0);
    CHECK_EQ_INT(drain(src, &s, "frozen", 120, 8000, 100), 120);
    rd_kafka_mock_broker_set_rtt(g_mock, 1, 0);

    /* Frozen while its partitions are assigned: reported within SILENT_MS + 1 s
     * of statistics, not after socket.timeout.ms. */
    freeze_broker(true);
    int64_t t0 = now_ms();
    char msg[300] = "";
    int h = SOURCE_HEALTH_OK;
    while (h == SOURCE_HEALTH_OK && now_ms() - t0 < 15000)
        h = poll_health(src, &s, "frozen", msg, sizeof msg);
    int64_t warned_ms = now_ms() - t0;
    printf("frozen broker reported after %.1f s: %s\n", (double)warned_ms / 1000, msg);
    CHECK_EQ_INT(h, SOURCE_HEALTH_WARN);
    CHECK_MSG(strstr(msg, "not responding for") && strstr(msg, g_bootstrap) &&
                  strstr(msg, "(requests sent, no answer)"),
              "%s", msg);
    CHECK_MSG(warned_ms >= 4000 && warned_ms <= 8000, "reported after %lld ms, want 5-7 s",
              (long long)warned_ms);

    /* Produced meanwhile: the producer holds them until the broker answers. The
     * warning stands, its count going up, as long as the freeze. */
    for (int64_t i = 120; i < 170; i++)
        produce("frozen", (int32_t)(i % 2), i, false);
    rd_kafka_poll(g_prod, 0);
    int64_t last = 0;
    int wrong = 0;
    while (now_ms() - t0 < 10000) {
        h = poll_health(src, &s, "frozen", msg, sizeof msg);
        int64_t n = silent_secs(msg);
        if ((h != SOURCE_HEALTH_WARN || n < last) && wrong++ == 0)
            printf("while frozen: %s\n", msg);
        last = n > last ? n : last;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_MSG(last >= 8, "after 10 s frozen: %s", msg);

    /* Thawed: clears by itself within a round of statistics; what was produced
     * meanwhile arrives, nothing twice. */
    freeze_broker(false);
    t0 = now_ms();
    rd_kafka_flush(g_prod, 10000);
    while ((h != SOURCE_HEALTH_OK || s.n < 170) && now_ms() - t0 < 8000)
        h = poll_health(src, &s, "frozen", msg, sizeof msg);
    int64_t cleared_ms = now_ms() - t0;
    printf("cleared %.1f s after the thaw\n", (double)cleared_ms / 1000);
    CHECK_MSG(h == SOURCE_HEALTH_OK, "health still: %s", msg);
    CHECK_MSG(cleared_ms <= 4000, "cleared after %lld ms", (long long)cleared_ms);
    CHECK_EQ_INT(s.n, 170);
    CHECK_EQ_INT(s.dup, 0);
    CHECK_EQ_INT(s.bad, 0);
    char *j = position_json(src);
    CHECK_EQ_STR(j, "{\"frozen\":{\"0\":85,\"1\":85}}");
    free(j);

    /* A job stopped while the broker is frozen does not hang in close. */
    freeze_broker(true);
    drain(src, &s, "frozen", INT64_MAX, 1000, 100);
    t0 = now_ms();
    source_close(src);
    int64_t close_ms = now_ms() - t0;
    CHECK_MSG(close_ms < 3000, "close took %lld ms", (long long)close_ms);
    freeze_broker(false);
    free(s.count);
}

/*
 * Frozen longer than socket.timeout.ms (2 s here): librdkafka gives up on the
 * connection ("1 request(s) timed out: disconnect"), reconnects, and the
 * ApiVersion request that opens the new connection times out too ("...
 * probably due to broker version < 0.10 ..."), over and over. All of it is one
 * silence: every warning says "not responding", its count never restarts.
 */
static void test_broker_frozen_reconnecting(void)
{
    create_topic("frozen2", 1);
    produce_range("frozen2", 1, 0, 10);
    // clang-format off
    static const char *const props[] = {"log_level", "3", "socket.timeout.ms", "2000",
                                        "api.version.request.timeout.ms", "1500", NULL};
    // clang-format on
    struct source_kafka_config cfg = {.bootstrap_servers = g_bootstrap,
                                      .topic = "frozen2",
                                      .rdkafka_props = props,
                                      .headers = true};
    struct lerr err;
    lerr_init(&err);
    struct source *src = source_open_kafka(&cfg, &err);
    CHECK_MSG(src != NULL, "open: %s", err.msg);
    if (!src)
        return;
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    struct seen s;
    seen_init(&s, 1000);
    CHECK_EQ_INT(drain(src, &s, "frozen2", 10, 5000, 100), 10);

    freeze_broker(true);
    int64_t t0 = now_ms(), first_ms = -1, last = 0;
    int warns = 0, wrong = 0;
    char msg[300];
    while (now_ms() - t0 < 12000) {
        int h = poll_health(src, &s, "frozen2", msg, sizeof msg);
        if (h == SOURCE_HEALTH_OK)
            continue;
        if (first_ms < 0)
            first_ms = now_ms() - t0;
        warns++;
        int64_t n = silent_secs(msg);
        if ((n < last || strstr(msg, "0.10") || strstr(msg, "unreachable")) && wrong++ < 3)
            printf("while frozen and reconnecting: %s\n", msg);
        last = n > last ? n : last;
    }
    printf("frozen past socket.timeout.ms: first warning after %.1f s, last: %s\n",
           (double)first_ms / 1000, msg);
    CHECK_MSG(first_ms >= 0 && first_ms <= 8000, "first warning after %lld ms",
              (long long)first_ms);
    CHECK(warns > 0);
    CHECK_EQ_INT(wrong, 0);
    CHECK_MSG(last >= 10, "after 12 s frozen: %s", msg);
    for (int64_t i = 10; i < 20; i++)
        produce("frozen2", 0, i, false);
    rd_kafka_poll(g_prod, 0);

    freeze_broker(false);
    rd_kafka_flush(g_prod, 10000);
    t0 = now_ms();
    int h = SOURCE_HEALTH_WARN;
    while ((h != SOURCE_HEALTH_OK || s.n < 20) && now_ms() - t0 < 10000)
        h = poll_health(src, &s, "frozen2", msg, sizeof msg);
    printf("cleared %.1f s after the thaw\n", (double)(now_ms() - t0) / 1000);
    CHECK_MSG(h == SOURCE_HEALTH_OK, "health still: %s", msg);
    CHECK_EQ_INT(s.n, 20);
    CHECK_EQ_INT(s.dup, 0);
    CHECK_EQ_INT(s.bad, 0);
    free(s.count);
    source_close(src);
}

static void test_offsets_json(void)
{
    struct source_offsets o, p;
    source_offsets_init(&o);
    source_offsets_init(&p);
    struct lerr err;
    lerr_init(&err);
    /* inserted out of order; text is canonical: topics by bytes, partitions by number */
    CHECK_EQ_INT(source_offsets_set(&o, "zeta", 10, 5, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&o, "alpha", 2, 1234, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&o, "zeta", 2, 99, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&o, "alpha", 0, 0, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&o, "alpha", 2, 1235, &err), 0); /* replaces */
    CHECK_EQ_INT(source_offsets_set(&o, "q\"x", 0, 9007199254740993LL, &err), 0);
    CHECK_EQ_INT(source_offsets_set(&o, "pending", 0, SOURCE_OFFSET_LATEST, &err), 0);
    char *j = source_offsets_to_json(&o, &err);
    CHECK_EQ_STR(j, "{\"alpha\":{\"0\":0,\"2\":1235},\"q\\\"x\":{\"0\":9007199254740993},"
                    "\"zeta\":{\"2\":99,\"10\":5}}");
    CHECK_EQ_INT(source_offsets_from_json(j, strlen(j), &p, &err), 0);
    CHECK_EQ_INT(p.n, 5);
    CHECK_EQ_INT(source_offsets_get(&p, "zeta", 10), 5);
    CHECK_EQ_INT(source_offsets_get(&p, "q\"x", 0), 9007199254740993LL);
    CHECK_EQ_INT(source_offsets_get(&p, "alpha", 1), SOURCE_OFFSET_NONE);
    char *j2 = source_offsets_to_json(&p, &err);
    CHECK_EQ_STR(j2, j); /* round trip is byte-identical */
    free(j);
    free(j2);
    /* the example from the design */
    const char *ex = "{\"events\":{\"0\":1234,\"1\":99}}";
    CHECK_EQ_INT(source_offsets_from_json(ex, strlen(ex), &p, &err), 0);
    j = source_offsets_to_json(&p, &err);
    CHECK_EQ_STR(j, ex);
    free(j);
    CHECK_EQ_INT(source_offsets_from_json("{}", 2, &p, &err), 0);
    CHECK_EQ_INT(p.n, 0);
    j = source_offsets_to_json(&p, &err);
    CHECK_EQ_STR(j, "{}");
    free(j);
    // clang-format off
    static const char *const bad[] = {
        "[]", "{\"t\":5}", "{\"t\":{\"01\":5}}", "{\"t\":{\"-1\":5}}", "{\"t\":{\"x\":5}}",
        "{\"t\":{\"0\":-5}}", "{\"t\":{\"0\":\"5\"}}", "{\"t\":{\"0\":1.5}}",
        "{\"t\":{\"0\":1,\"0\":2}}", "{\"\":{\"0\":1}}", "{\"t\":{\"4294967296\":1}}", "{",
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        int rc = source_offsets_from_json(bad[i], strlen(bad[i]), &p, &err);
        CHECK_MSG(rc == LERR_INVALID && p.n == 0, "accepted %s (rc %d)", bad[i], rc);
    }
    source_offsets_destroy(&o);
    source_offsets_destroy(&p);
}
// clang-format on

/* source_kafka_config_from_json over the documents' text (secrets NULL: none). */
static int config_text(const char *conn, const char *secrets, struct source_kafka_config *cfg,
                       struct arena *a, struct lerr *err)
{
    json_t *c = json_loads(conn, 0, NULL), *s = secrets ? json_loads(secrets, 0, NULL) : NULL;
    CHECK_MSG(c != NULL && (!secrets || s != NULL), "test JSON does not parse: %s", conn);
    int rc = source_kafka_config_from_json(c, s, cfg, a, err);
    json_decref(c);
    json_decref(s);
    return rc;
}

static void test_config_from_json(void)
{
    struct arena a;
    arena_init(&a, 4096, 0);
    struct source_kafka_config cfg;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(
        config_text("{\"type\":\"kafka\",\"name\":\"k\",\"bootstrapServers\":\"b1:9092,b2:9092\","
                    "\"topicNamePattern\":\"ev-.*\",\"ssl\":true,\"hasSecrets\":true}",
                    "{\"type\":\"sasl_scram\",\"mechanism\":\"SCRAM-SHA-512\",\"username\":\"u\","
                    "\"password\":\"pw\"}",
                    &cfg, &a, &err),
        0);
    CHECK_EQ_STR(cfg.bootstrap_servers, "b1:9092,b2:9092");
    CHECK(cfg.topic == NULL);
    CHECK_EQ_STR(cfg.topic_pattern, "ev-.*");
    CHECK_EQ_STR(cfg.sasl_mechanism, "SCRAM-SHA-512");
    CHECK_EQ_STR(cfg.sasl_username, "u");
    CHECK_EQ_STR(cfg.sasl_password, "pw");
    CHECK(cfg.ssl);
    /* The consumer is created without any network; the config is accepted. */
    struct source *s = source_open_kafka(&cfg, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    source_close(s);

    CHECK_EQ_INT(
        config_text(
            "{\"type\":\"confluent\",\"bootstrapServers\":\"pkc:9092\",\"topicName\":\"t\"}",
            "{\"type\":\"sasl_plain\",\"username\":\"key\",\"password\":\"secret\"}", &cfg, &a,
            &err),
        0);
    CHECK_EQ_STR(cfg.sasl_mechanism, "PLAIN");
    CHECK(cfg.ssl);
    CHECK_EQ_STR(cfg.topic, "t");
    CHECK_EQ_INT(
        config_text("{\"type\":\"kafka\",\"bootstrapServers\":\"h:1\",\"topicName\":\"t\","
                    "\"ssl\":false}",
                    NULL, &cfg, &a, &err),
        0);
    CHECK(!cfg.ssl);
    CHECK(cfg.sasl_mechanism == NULL);
    lerr_init(&err);
    CHECK_EQ_INT(config_text("{\"type\":\"push_streaming\"}", NULL, &cfg, &a, &err), LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(
        config_text("{\"type\":\"kafka\",\"bootstrapServers\":\"h:1\",\"topicName\":\"t\"}",
                    "{\"type\":\"sasl_scram\",\"username\":\"u\",\"password\":\"hunter2\"}", &cfg,
                    &a, &err),
        LERR_INVALID);
    CHECK(strstr(err.msg, "hunter2") == NULL); /* secrets never in messages */
    arena_destroy(&a);
}

/*
 * Records are copied into the caller's arena: they outlive the next poll and the
 * source itself; headers come only when asked for (a kafka-format job), and an
 * arena at its cap fails the poll with LERR_NOMEM instead of cutting records.
 */
static void test_records_in_caller_arena(void)
{
    create_topic("arena", 1);
    produce_range("arena", 1, 0, 20);
    struct lerr err;
    lerr_init(&err);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct record got[20];
    size_t n = 0;
    bool any_header = false;
    struct source *src = open_src_h("arena", NULL, 0, 3000, false);
    if (!src)
        return;
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    int64_t t0 = now_ms();
    while (n < 20 && now_ms() - t0 < 10000) {
        struct source_batch b;
        CHECK_EQ_INT(source_poll(src, &mem, 7, 100, &b, &err), 0); /* several polls */
        CHECK(b.n <= 7);
        for (size_t i = 0; i < b.n && n < 20; i++) {
            any_header = any_header || b.records[i].nheaders || b.records[i].headers;
            got[n++] = b.records[i];
        }
    }
    source_close(src); /* frees everything the source had: the copies stay */
    CHECK_EQ_INT(n, 20);
    CHECK(!any_header);
    for (size_t i = 0; i < n; i++) {
        char want[64], key[32];
        snprintf(want, sizeof want, "{\"i\":%zu,\"topic\":\"arena\"}", i);
        snprintf(key, sizeof key, "k%zu", i);
        CHECK_MSG(got[i].len == strlen(want) && memcmp(got[i].data, want, got[i].len) == 0,
                  "record %zu: '%.*s'", i, (int)got[i].len, got[i].data);
        CHECK_EQ_INT(got[i].offset, (int64_t)i);
        CHECK(got[i].has_timestamp && got[i].timestamp_ms == TS0 + (int64_t)i);
        CHECK(got[i].topic && got[i].topic_len == 5 && strcmp(got[i].topic, "arena") == 0);
        if (i % 7 == 3)
            CHECK(got[i].key == NULL && got[i].key_len == 0);
        else
            CHECK(got[i].key_len == strlen(key) && memcmp(got[i].key, key, got[i].key_len) == 0);
    }
    /* Records of one partition share one copy of the topic within a batch. */
    CHECK(got[0].topic == got[1].topic);
    arena_destroy(&mem);

    /* Asked for: headers are there, in the arena too. */
    arena_init(&mem, 4096, 0);
    src = open_src_h("arena", NULL, 0, 3000, true);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    n = 0;
    t0 = now_ms();
    while (n == 0 && now_ms() - t0 < 10000) {
        struct source_batch b;
        CHECK_EQ_INT(source_poll(src, &mem, 1, 100, &b, &err), 0);
        if (b.n)
            got[n++] = b.records[0];
    }
    source_close(src);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(got[0].nheaders, 2);
    if (got[0].nheaders == 2) {
        CHECK(got[0].headers[0].name_len == 2 && memcmp(got[0].headers[0].name, "h1", 2) == 0);
        CHECK(got[0].headers[0].value_len == 2 && memcmp(got[0].headers[0].value, "x0", 2) == 0);
        CHECK(got[0].headers[1].name_len == 5 && got[0].headers[1].value == NULL);
    }
    arena_destroy(&mem);

    /* An arena at its cap: the poll fails and says so. */
    arena_init(&mem, 256, 256);
    src = open_src_h("arena", NULL, 0, 3000, false);
    CHECK_EQ_INT(source_assign(src, NULL, SOURCE_OFFSET_EARLIEST, &err), 0);
    int rc = 0;
    t0 = now_ms();
    while (rc == 0 && now_ms() - t0 < 10000) {
        struct source_batch b;
        arena_reset(&mem);
        rc = source_poll(src, &mem, 20, 100, &b, &err);
    }
    CHECK_EQ_INT(rc, LERR_NOMEM);
    CHECK_MSG(strstr(err.msg, "out of memory") != NULL, "%s", err.msg);
    source_close(src);
    arena_destroy(&mem);
}

/* With arguments, runs only the tests named (e.g. broker_down, to repeat it in a loop). */
int main(int argc, char **argv)
{
    log_set_level(LOG_ERROR);
    setup();
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"offsets_json", test_offsets_json},
        {"config_from_json", test_config_from_json},
        {"consume_all", test_consume_all},
        {"only_partitions", test_only_partitions},
        {"records_in_caller_arena", test_records_in_caller_arena},
        {"seek_and_latest", test_seek_and_latest},
        {"pattern_and_discovery", test_pattern_and_discovery},
        {"unknown_topic", test_unknown_topic},
        {"out_of_range", test_out_of_range},
        {"broker_down", test_broker_down},
        {"broker_frozen", test_broker_frozen},
        {"broker_frozen_reconnecting", test_broker_frozen_reconnecting},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(tests); i++) {
        bool named = argc < 2;
        for (int a = 1; a < argc; a++)
            named = named || strcmp(argv[a], tests[i].name) == 0;
        if (!named)
            continue;
        int64_t t0 = util_mono_ns();
        tests[i].fn();
        printf("%-24s %6.2f s\n", tests[i].name, (double)(util_mono_ns() - t0) / 1e9);
    }
    teardown();
    poll_mem_destroy();
    return check_summary();
}
