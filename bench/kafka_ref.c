/*
 * kafka_ref.c — the bare librdkafka consumer that bench/stream/driver.py
 * measures beside a Lodestar Kafka job: the ceiling for anything built on
 * librdkafka (steadier than kcat, which formats and writes every message).
 *
 *   build/bench/kafka_ref -b HOST:PORT -t TOPIC -n N [-B batch] [-T seconds]
 *                         [-X property=value]...
 *
 * It assigns every partition of TOPIC from its beginning (rd_kafka_assign, no
 * group, no commits — as src/source/kafka.c does), reads with
 * rd_kafka_consume_batch_queue from the consumer queue in batches of up to
 * -B messages (default 4096, the job's POLL_MAX_RECORDS), touches every byte
 * of every payload (a 64-bit word sum, printed, so the compiler cannot drop
 * the reads: Lodestar's JSON scanner reads every byte too), destroys each
 * message, and stops at the N-th message. Then it prints one JSON line on
 * stdout:
 *   {"messages":N,"bytes":B,"seconds":S,"msg_per_s":R,"first_msg_s":F,
 *    "idle_s":I,"cpu_user_s":U,"cpu_sys_s":Y,"cpu_us_per_msg":C,
 *    "maxrss_kb":K,"partitions":P,"checksum":X}
 * seconds = from start-up (before rd_kafka_new) to the N-th message, like
 * a job's creation -> last row; cpu = getrusage(RUSAGE_SELF) at that moment,
 * so librdkafka's broker and main threads are counted with ours, as the
 * driver counts every thread of the server; idle_s = time spent in polls that
 * returned nothing (the broker or librdkafka's fetcher was behind, not us).
 * Exit status 1, with a message on stderr, on an error or when N messages did
 * not arrive within -T seconds (default 300).
 *
 * librdkafka settings: the ones of src/source/kafka.c's make_conf() that
 * decide how fast records arrive, so the ceiling is the same fetcher the job
 * has: fetch.min.bytes=65536, fetch.wait.max.ms=50, fetch.max.bytes=4194304,
 * queued.max.messages.kbytes=65536 (QUEUED_KB_DEFAULT),
 * queued.min.messages=1000000, enable.partition.eof=false, group.id set but
 * never joined, enable.auto.commit=false. Not copied: statistics.interval.ms
 * (the job reads broker health from the statistics every second; that costs
 * the job CPU and is part of what is measured against this ceiling), and
 * auto.offset.reset=error (the job resolves its start offsets itself; here
 * RD_KAFKA_OFFSET_BEGINNING does it). -X overrides or adds any property.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define BATCH_DEFAULT 4096
#define PROPS_MAX 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: kafka_ref -b HOST:PORT -t TOPIC -n MESSAGES [-B batch] [-T seconds] "
                    "[-X property=value]...\n");
    exit(2);
}

static void set(rd_kafka_conf_t *c, const char *name, const char *value)
{
    char es[512];
    if (rd_kafka_conf_set(c, name, value, es, sizeof es) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_ref: librdkafka refused %s=%s: %s\n", name, value, es);
        exit(1);
    }
}

/* Every byte of the payload, 8 at a time (memcpy: no alignment assumed). */
static uint64_t touch(const unsigned char *p, size_t n)
{
    uint64_t s = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        s += w;
    }
    for (; i < n; i++)
        s += p[i];
    return s;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL;
    long long want = 0;
    long batch = BATCH_DEFAULT;
    double limit_s = 300;
    char *props[PROPS_MAX];
    int nprops = 0, opt;
    while ((opt = getopt(argc, argv, "b:t:n:B:T:X:")) != -1) {
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n': want = atoll(optarg); break;
        case 'B': batch = atol(optarg); break;
        case 'T': limit_s = atof(optarg); break;
        case 'X':
            if (nprops == PROPS_MAX || !strchr(optarg, '=')) {
                fprintf(stderr, "kafka_ref: -X %s: give property=value (at most %d)\n", optarg,
                        PROPS_MAX);
                return 2;
            }
            props[nprops++] = optarg;
            break;
        default: usage();
        }
    }
    if (!brokers || !topic || want <= 0 || batch <= 0 || limit_s <= 0)
        usage();

    double t0 = now_s();
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "bootstrap.servers", brokers);
    set(c, "client.id", "lodestar-bench-kafka-ref");
    set(c, "group.id", "lodestar-bench-kafka-ref"); /* a consumer needs one; never joined */
    set(c, "enable.auto.commit", "false");
    set(c, "enable.auto.offset.store", "false");
    set(c, "enable.partition.eof", "false");
    set(c, "fetch.min.bytes", "65536");
    set(c, "fetch.wait.max.ms", "50");
    set(c, "fetch.max.bytes", "4194304");
    set(c, "queued.max.messages.kbytes", "65536");
    set(c, "queued.min.messages", "1000000");
    for (int i = 0; i < nprops; i++) {
        char *eq = strchr(props[i], '=');
        *eq = '\0';
        set(c, props[i], eq + 1);
    }
    char es[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
    if (!rk) {
        fprintf(stderr, "kafka_ref: cannot create the consumer: %s\n", es);
        return 1;
    }

    /* Every partition of the topic, from the beginning. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        fprintf(stderr,
                "kafka_ref: no partitions for topic '%s' at %s: %s (is the broker up and the "
                "topic created?)\n",
                topic, brokers,
                rd_kafka_err2str(e                    ? e
                                 : md->topic_cnt == 1 ? md->topics[0].err
                                                      : RD_KAFKA_RESP_ERR_UNKNOWN));
        return 1;
    }
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(tl, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if ((e = rd_kafka_assign(rk, tl))) {
        fprintf(stderr, "kafka_ref: cannot assign the %d partitions of '%s': %s\n", nparts, topic,
                rd_kafka_err2str(e));
        return 1;
    }
    rd_kafka_topic_partition_list_destroy(tl);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);

    rd_kafka_message_t **msgs = malloc((size_t)batch * sizeof *msgs);
    if (!msgs) {
        fprintf(stderr, "kafka_ref: out of memory for a batch of %ld\n", batch);
        return 1;
    }
    long long got = 0, bytes = 0;
    uint64_t sum = 0;
    double first = -1, idle = 0, deadline = t0 + limit_s;
    while (got < want) {
        double tp = now_s();
        if (tp > deadline) {
            fprintf(stderr,
                    "kafka_ref: only %lld of %lld messages from '%s' in %.0f s: check that the "
                    "topic holds -n messages, or raise -T\n",
                    got, want, topic, limit_s);
            return 1;
        }
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, (size_t)batch);
        if (n < 0) {
            fprintf(stderr, "kafka_ref: consume: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            return 1;
        }
        if (n == 0) {
            idle += now_s() - tp;
            continue;
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err) {
                fprintf(stderr, "kafka_ref: %s [%" PRId32 "]: %s\n", topic, m->partition,
                        rd_kafka_message_errstr(m));
            } else {
                sum += touch(m->payload, m->len);
                bytes += (long long)m->len;
                got++;
            }
            rd_kafka_message_destroy(m);
        }
        if (first < 0 && got > 0)
            first = now_s() - t0;
    }
    double secs = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double u = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    double y = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"messages\":%lld,\"bytes\":%lld,\"seconds\":%.4f,\"msg_per_s\":%.0f,"
           "\"first_msg_s\":%.4f,\"idle_s\":%.4f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
           "\"cpu_us_per_msg\":%.4f,\"maxrss_kb\":%ld,\"partitions\":%d,\"checksum\":%" PRIu64
           "}\n",
           got, bytes, secs, (double)got / secs, first, idle, u, y, (u + y) * 1e6 / (double)got,
           ru.ru_maxrss, nparts, sum);
    fflush(stdout);
    free(msgs);
    rd_kafka_queue_destroy(q);
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
