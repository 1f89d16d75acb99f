/*
 * test_kinesis.c — the Kinesis source's pieces that need no endpoint: the
 * JSON API's responses read (ListShards pages with parents and closed shards,
 * GetShardIterator, GetRecords with base64 Data, arrival times and the end of a
 * closed shard), error bodies classified (throttling, expired iterators,
 * refused credentials, unknown streams), shard ids as partitions, text
 * positions in the checkpoint (round trip, canonical text, bad input), the
 * connection document read into a config (region from the endpoint, secrets,
 * the environment's keys) and opening refused without credentials. The source
 * against a real endpoint is tests/e2e/test_kinesis.py (kinesalite).
 */
#include "catalog/spec.h"
#include "check.h"
#include "source/kinesis_int.h"
#include "util/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void test_shard_number(void)
{
    int32_t p = -1;
    CHECK(source__kin_shard_number("shardId-000000000007", &p));
    CHECK_EQ_INT(p, 7);
    CHECK(source__kin_shard_number("shardId-2147483647", &p));
    CHECK_EQ_INT(p, 2147483647);
    static const char *const bad[] = {"shardId-",    "shardId-2147483648", "shard-1",
                                      "shardId-00x", "shardId--1",         "",
                                      "shardId-0 ",  "SHARDID-1"};
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++)
        CHECK_MSG(!source__kin_shard_number(bad[i], &p), "'%s' is no shard id", bad[i]);
}

static void test_list_shards(void)
{
    const char *body =
        "{\"Shards\":[{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{},"
        "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\",\"EndingSequenceNumber\":\"9\"}},"
        "{\"ShardId\":\"shardId-000000000002\",\"ParentShardId\":\"shardId-000000000000\","
        "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"10\"}},"
        "{\"ShardId\":\"shardId-000000000003\",\"ParentShardId\":\"shardId-000000000000\","
        "\"AdjacentParentShardId\":\"shardId-000000000001\",\"SequenceNumberRange\":{}}],"
        "\"NextToken\":\"tok-1\"}";
    struct source__kin_shard *sh = NULL;
    size_t n = 0, alloc = 0;
    char tok[64];
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(
        source__kin_parse_shards(body, strlen(body), &sh, &n, &alloc, tok, sizeof tok, &err), 0);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_STR(tok, "tok-1");
    if (n == 3) {
        CHECK_EQ_STR(sh[0].id, "shardId-000000000000");
        CHECK(sh[0].closed);
        CHECK_EQ_INT(sh[0].parent, -1);
        CHECK_EQ_INT(sh[1].partition, 2);
        CHECK_EQ_INT(sh[1].parent, 0);
        CHECK(!sh[1].closed);
        CHECK_EQ_INT(sh[2].parent, 0);
        CHECK_EQ_INT(sh[2].adjacent, 1);
    }
    /* a second page appends; no NextToken ends the listing */
    const char *p2 = "{\"Shards\":[{\"ShardId\":\"shardId-000000000004\"}]}";
    CHECK_EQ_INT(source__kin_parse_shards(p2, strlen(p2), &sh, &n, &alloc, tok, sizeof tok, &err),
                 0);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_STR(tok, "");
    static const char *const bad[][2] = {
        {"not json", "not JSON"},
        {"[]", "not a JSON object"},
        {"{}", "no Shards array"},
        {"{\"Shards\":[{\"ShardId\":\"x\"}]}", "Shards[0].ShardId"},
        {"{\"Shards\":[{}]}", "Shards[0].ShardId"},
        {"{\"Shards\":[{\"ShardId\":\"shardId-1\",\"ParentShardId\":7}]}",
         "Shards[0].ParentShardId"},
        {"{\"Shards\":[{\"ShardId\":\"shardId-1\"},{\"ShardId\":\"shardId-2\","
         "\"AdjacentParentShardId\":\"nope\"}]}",
         "Shards[1].AdjacentParentShardId"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        size_t before = n;
        int rc = source__kin_parse_shards(bad[i][0], strlen(bad[i][0]), &sh, &n, &alloc, tok,
                                          sizeof tok, &err);
        CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, bad[i][1]) &&
                      strstr(err.msg, "ListShards"),
                  "'%s' → %d '%s' (want '%s')", bad[i][0], rc, err.msg, bad[i][1]);
        n = before;
    }
    free(sh);
}

static void test_iterator(void)
{
    struct lerr err;
    lerr_init(&err);
    char *it = NULL;
    const char *ok = "{\"ShardIterator\":\"AAAA/abc==\"}";
    CHECK_EQ_INT(source__kin_parse_iterator(ok, strlen(ok), &it, &err), 0);
    CHECK_EQ_STR(it, "AAAA/abc==");
    free(it);
    static const char *const bad[] = {"{}", "{\"ShardIterator\":\"\"}", "{\"ShardIterator\":5}",
                                      "x"};
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        CHECK_EQ_INT(source__kin_parse_iterator(bad[i], strlen(bad[i]), &it, &err), LERR_INVALID);
        CHECK(it == NULL);
        CHECK(strstr(err.msg, "GetShardIterator") != NULL);
    }
}

static void test_records(void)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct lerr err;
    lerr_init(&err);
    /* "{\"n\":1}" and "" and "ab" (one and two padding characters), AWS's timestamp form */
    const char *body =
        "{\"Records\":[{\"Data\":\"eyJuIjoxfQ==\",\"PartitionKey\":\"k1\","
        "\"SequenceNumber\":\"49590338271490256608559692538361571095921575989136588898\","
        "\"ApproximateArrivalTimestamp\":1.700000000123E9},"
        "{\"Data\":\"\",\"PartitionKey\":\"k2\",\"SequenceNumber\":\"2\"},"
        "{\"Data\":\"YWI=\",\"PartitionKey\":\"\",\"SequenceNumber\":\"3\","
        "\"ApproximateArrivalTimestamp\":1700000001}],"
        "\"NextShardIterator\":\"next-it\",\"MillisBehindLatest\":1500}";
    struct source__kin_records r;
    CHECK_EQ_INT(source__kin_parse_records(body, strlen(body), &mem, &r, &err), 0);
    CHECK_EQ_INT(r.n, 3);
    if (r.n == 3) {
        CHECK_EQ_INT(r.recs[0].len, 7);
        CHECK(memcmp(r.recs[0].data, "{\"n\":1}", 7) == 0);
        CHECK_EQ_STR(r.recs[0].key, "k1");
        CHECK_EQ_STR(r.recs[0].seq, "49590338271490256608559692538361571095921575989136588898");
        CHECK_EQ_INT(r.recs[0].ts_ms, 1700000000123LL);
        CHECK_EQ_INT(r.recs[1].len, 0);
        CHECK_EQ_INT(r.recs[1].ts_ms, -1);
        CHECK_EQ_INT(r.recs[2].len, 2);
        CHECK(memcmp(r.recs[2].data, "ab", 2) == 0);
        CHECK_EQ_INT(r.recs[2].key_len, 0);
        CHECK_EQ_INT(r.recs[2].ts_ms, 1700000001000LL);
    }
    CHECK_EQ_STR(r.next_iterator, "next-it");
    CHECK_EQ_INT(r.millis_behind, 1500);
    source__kin_records_free(&r);
    /* a closed shard read to its end: no NextShardIterator (or null) */
    const char *end = "{\"Records\":[],\"NextShardIterator\":null,\"MillisBehindLatest\":0}";
    CHECK_EQ_INT(source__kin_parse_records(end, strlen(end), &mem, &r, &err), 0);
    CHECK_EQ_INT(r.n, 0);
    CHECK(r.next_iterator == NULL);
    CHECK_EQ_INT(r.millis_behind, 0);
    source__kin_records_free(&r);
    static const char *const bad[][2] = {
        {"{}", "no Records array"},
        {"{\"Records\":[{\"Data\":\"YQ==\"}]}", "Records[0].SequenceNumber"},
        {"{\"Records\":[{\"Data\":\"YQ==\",\"SequenceNumber\":\"12a\"}]}",
         "Records[0].SequenceNumber"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\"}]}",
         "Records[0] (sequence number 1) has no Data"},
        {"{\"Records\":[{\"Data\":\"YQ=\",\"SequenceNumber\":\"1\"}]}", "not base64"},
        {"{\"Records\":[{\"Data\":\"Y===\",\"SequenceNumber\":\"1\"}]}", "not base64"},
        {"{\"Records\":[{\"Data\":\"YQ=a\",\"SequenceNumber\":\"1\"}]}", "not base64"},
        {"{\"Records\":[{\"Data\":\"Y!Q=\",\"SequenceNumber\":\"1\"}]}", "not base64"},
        {"{\"Records\":[],\"NextShardIterator\":7}", "NextShardIterator"},
        {"{\"Records\":[],\"NextShardIterator\":\"\"}", "NextShardIterator"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        int rc = source__kin_parse_records(bad[i][0], strlen(bad[i][0]), &mem, &r, &err);
        CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, bad[i][1]) &&
                      strstr(err.msg, "GetRecords"),
                  "'%s' → %d '%s' (want '%s')", bad[i][0], rc, err.msg, bad[i][1]);
        CHECK(r.recs == NULL && r.next_iterator == NULL);
    }
    /* a full arena is LERR_NOMEM, never a partial batch */
    struct arena small;
    arena_init(&small, 16, 16);
    const char *big =
        "{\"Records\":[{\"Data\":\"YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"
        "YWFhYWFhYWFhYWFhYWFhYWFhYWFh\",\"SequenceNumber\":\"1\"}]}";
    lerr_init(&err);
    CHECK_EQ_INT(source__kin_parse_records(big, strlen(big), &small, &r, &err), LERR_NOMEM);
    CHECK(r.recs == NULL);
    arena_destroy(&small);
    arena_destroy(&mem);
}

static void test_errors(void)
{
    char msg[300];
    static const struct {
        long status;
        const char *body;
        enum source__kin_fail want;
        const char *text;
    } cases[] = {
        {400,
         "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"Rate exceeded "
         "for shard\"}",
         KIN_F_RETRY, "ProvisionedThroughputExceededException: Rate exceeded for shard"},
        {400, "{\"__type\":\"LimitExceededException\",\"message\":\"slow down\"}", KIN_F_RETRY,
         "LimitExceededException"},
        {400,
         "{\"__type\":\"com.amazonaws.kinesis.v20131202#ExpiredIteratorException\",\"message\":"
         "\"Iterator expired\"}",
         KIN_F_EXPIRED, "ExpiredIteratorException: Iterator expired"},
        {400, "{\"__type\":\"ResourceNotFoundException\",\"message\":\"Stream s not found.\"}",
         KIN_F_NOTFOUND, "Stream s not found."},
        {400, "{\"__type\":\"UnrecognizedClientException\",\"message\":\"bad token\"}", KIN_F_AUTH,
         "UnrecognizedClientException: bad token"},
        {403, "{\"__type\":\"AccessDeniedException\",\"Message\":\"not allowed\"}", KIN_F_AUTH,
         "AccessDeniedException: not allowed"},
        {403, "<html>forbidden</html>", KIN_F_AUTH, "HTTP 403"},
        {400, "{\"__type\":\"InvalidArgumentException\",\"message\":\"bad seq\"}", KIN_F_OTHER,
         "InvalidArgumentException: bad seq"},
        {500, "", KIN_F_RETRY, "HTTP 500"},
        {503, "{\"__type\":\"ServiceUnavailable\"}", KIN_F_RETRY, "ServiceUnavailable"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        enum source__kin_fail k = source__kin_parse_error(cases[i].status, cases[i].body,
                                                          strlen(cases[i].body), msg, sizeof msg);
        CHECK_MSG(k == cases[i].want && strstr(msg, cases[i].text),
                  "case %zu: kind %d want %d, msg '%s' want '%s'", i, (int)k, (int)cases[i].want,
                  msg, cases[i].text);
    }
}

static void test_positions(void)
{
    struct source_offsets o, p;
    source_offsets_init(&o);
    source_offsets_init(&p);
    struct lerr err;
    lerr_init(&err);
    const char *seq = "after:49590338271490256608559692538361571095921575989136588898";
    CHECK_EQ_INT(source_offsets_set_pos(&o, "ev", 1, 12, seq, &err), 0);
    CHECK_EQ_INT(source_offsets_set_pos(&o, "ev", 0, 0, "trim_horizon", &err), 0);
    CHECK_EQ_INT(source_offsets_set_pos(&o, "ev", 3, 5, "end", &err), 0);
    CHECK_EQ_INT(source_offsets_set(&o, "kafka", 0, 7, &err), 0);
    char *j = source_offsets_to_json(&o, &err);
    CHECK_EQ_STR(j, "{\"ev\":{\"0\":[0,\"trim_horizon\"],\"1\":[12,\"after:"
                    "49590338271490256608559692538361571095921575989136588898\"],\"3\":[5,"
                    "\"end\"]},\"kafka\":{\"0\":7}}");
    CHECK_EQ_INT(source_offsets_from_json(j, strlen(j), &p, &err), 0);
    CHECK_EQ_STR(source_offsets_get_pos(&p, "ev", 1), seq);
    CHECK_EQ_INT(source_offsets_get(&p, "ev", 1), 12);
    CHECK(source_offsets_get_pos(&p, "kafka", 0) == NULL);
    char *j2 = source_offsets_to_json(&p, &err);
    CHECK_EQ_STR(j2, j);
    free(j2);
    /* copy carries positions, also when only they changed (the fast path) */
    struct source_offsets q;
    source_offsets_init(&q);
    CHECK_EQ_INT(source_offsets_copy(&q, &p, &err), 0);
    CHECK_EQ_INT(source_offsets_set_pos(&p, "ev", 1, 13, "after:9", &err), 0);
    CHECK_EQ_INT(source_offsets_copy(&q, &p, &err), 0);
    CHECK_EQ_STR(source_offsets_get_pos(&q, "ev", 1), "after:9");
    CHECK_EQ_INT(source_offsets_get(&q, "ev", 1), 13);
    /* source_offsets_set drops a position */
    CHECK_EQ_INT(source_offsets_set(&q, "ev", 1, 14, &err), 0);
    CHECK(source_offsets_get_pos(&q, "ev", 1) == NULL);
    free(j);
    static const char *const bad[] = {"{\"t\":{\"0\":[1]}}",        "{\"t\":{\"0\":[1,\"\"]}}",
                                      "{\"t\":{\"0\":[-1,\"x\"]}}", "{\"t\":{\"0\":[1,2]}}",
                                      "{\"t\":{\"0\":[\"x\",1]}}",  "{\"t\":{\"0\":[1,\"x\",2]}}"};
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        CHECK_MSG(source_offsets_from_json(bad[i], strlen(bad[i]), &p, &err) == LERR_INVALID &&
                      strstr(err.msg, "partition 0"),
                  "'%s' → '%s'", bad[i], err.msg);
        CHECK_EQ_INT(p.n, 0);
    }
    char longpos[SOURCE_POS_MAX + 2];
    memset(longpos, 'x', sizeof longpos - 1);
    longpos[sizeof longpos - 1] = '\0';
    lerr_init(&err);
    CHECK_EQ_INT(source_offsets_set_pos(&o, "ev", 9, 1, longpos, &err), LERR_INVALID);
    source_offsets_destroy(&o);
    source_offsets_destroy(&p);
    source_offsets_destroy(&q);
}

static void test_config(void)
{
    struct arena a;
    arena_init(&a, 1024, 0);
    struct lerr err;
    lerr_init(&err);
    struct source_kinesis_config cfg;
    json_t *doc = json_pack("{s:s, s:s, s:s}", "type", "kinesis", "stream", "ev", "endpoint",
                            "kinesis.eu-west-1.amazonaws.com");
    json_t *sec = json_pack("{s:s, s:s, s:s}", "type", "aws_access_key", "accessKeyId", "AK",
                            "secretAccessKey", "SK");
    CHECK_EQ_INT(source_kinesis_config_from_json(doc, sec, &cfg, &a, &err), 0);
    CHECK_EQ_STR(cfg.region, "eu-west-1");
    CHECK_EQ_STR(cfg.access_key_id, "AK");
    CHECK_EQ_STR(cfg.secret_access_key, "SK");
    /* a local endpoint names no region */
    json_object_set_new(doc, "endpoint", json_string("http://127.0.0.1:4567"));
    lerr_init(&err);
    CHECK_EQ_INT(source_kinesis_config_from_json(doc, NULL, &cfg, &a, &err), LERR_INVALID);
    CHECK_EQ_STR(err.target, "region");
    json_object_set_new(doc, "region", json_string("us-east-1"));
    CHECK_EQ_INT(source_kinesis_config_from_json(doc, NULL, &cfg, &a, &err), 0);
    CHECK(cfg.access_key_id == NULL);
    char r[64];
    CHECK(source_kinesis_endpoint_region("https://kinesis.ap-south-1.amazonaws.com", r, sizeof r));
    CHECK_EQ_STR(r, "ap-south-1");
    CHECK(source_kinesis_endpoint_region("kinesis-fips.us-gov-west-1.amazonaws.com", r, sizeof r));
    CHECK_EQ_STR(r, "us-gov-west-1");
    CHECK(!source_kinesis_endpoint_region("http://localhost:4567", r, sizeof r));
    CHECK(!source_kinesis_endpoint_region("https://kinesis.example.com", r, sizeof r));
    /* no keys in the connection nor the environment: refused, saying how to give them */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    lerr_init(&err);
    struct source *s = source_open_kinesis(&cfg, &err);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, "AWS_ACCESS_KEY_ID") && strstr(err.msg, "secrets"));
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    lerr_init(&err);
    s = source_open_kinesis(&cfg, &err);
    CHECK_MSG(s != NULL, "open with the environment's keys: %s", err.msg);
    source_close(s);
    json_decref(doc);
    json_decref(sec);
    arena_destroy(&a);
}

/* The catalog's view of a kinesis connection: its checkpoint key and reader settings. */
static void test_spec(void)
{
    struct lerr err;
    lerr_init(&err);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "type", "kinesis", "name", "k", "stream",
                            "clicks", "region", "eu-central-1");
    struct connection_spec cs;
    CHECK_EQ_INT(catalog_connection_spec_parse("k", doc, NULL, &cs, &err), 0);
    CHECK_EQ_INT(cs.type, CATALOG_CONN_KINESIS);
    CHECK_EQ_STR(cs.stream, "kinesis:clicks");
    struct arena a;
    arena_init(&a, 1024, 0);
    struct source_kinesis_config cfg;
    CHECK_EQ_INT(catalog_connection_spec_kinesis(&cs, &cfg, &a, &err), 0);
    CHECK_EQ_STR(cfg.stream, "clicks");
    CHECK_EQ_STR(cfg.region, "eu-central-1");
    CHECK(cfg.endpoint == NULL);
    catalog_connection_spec_destroy(&cs);
    arena_destroy(&a);
    json_decref(doc);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    test_shard_number();
    test_list_shards();
    test_iterator();
    test_records();
    test_errors();
    test_positions();
    test_config();
    test_spec();
    return check_summary();
}
