// SOURCES: src/source/kinesis_json.c src/util/util.c src/util/vec.c
/*
 * fuzz_kinesis.c — libFuzzer target for the Kinesis JSON API's responses
 * (src/source/kinesis_json.c), what a Kinesis endpoint sends back over the
 * network. The first byte picks the parser (GetRecords, ListShards,
 * GetShardIterator, an error body); the rest is the body. A parse either
 * fails with LERR_INVALID or LERR_NOMEM leaving nothing to free, or gives
 * records whose bytes lie in the arena, sequence numbers of decimal digits,
 * arrival times -1 or >= 0, and shards with partitions >= 0.
 */
#include "source/kinesis_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *why)
{
    fprintf(stderr, "fuzz_kinesis: %s\n", why);
    abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct lerr err;
    lerr_init(&err);
    switch (data[0] % 4) {
    case 0: {
        struct arena mem;
        arena_init(&mem, 1024, 1u << 20);
        struct source__kin_records r;
        int rc = source__kin_parse_records(body, len, &mem, &r, &err);
        if (rc && (r.recs || r.next_iterator || (rc != LERR_INVALID && rc != LERR_NOMEM)))
            die("a failed GetRecords parse left something behind");
        for (size_t i = 0; !rc && i < r.n; i++) {
            const struct source__kin_record *k = &r.recs[i];
            if (!k->data || k->len > len || k->ts_ms < -1 || !k->seq[0])
                die("a record out of bounds");
            for (const char *c = k->seq; *c; c++)
                if (*c < '0' || *c > '9')
                    die("a sequence number that is not digits");
        }
        source__kin_records_free(&r);
        arena_destroy(&mem);
        break;
    }
    case 1: {
        struct source__kin_shard *sh = NULL;
        size_t n = 0, alloc = 0;
        char tok[64];
        int rc = source__kin_parse_shards(body, len, &sh, &n, &alloc, tok, sizeof tok, &err);
        if (rc && rc != LERR_INVALID && rc != LERR_NOMEM)
            die("an unexpected ListShards error");
        for (size_t i = 0; !rc && i < n; i++)
            if (sh[i].partition < 0 || sh[i].parent < -1 || sh[i].adjacent < -1)
                die("a shard out of range");
        if (strlen(tok) >= sizeof tok)
            die("a token past its buffer");
        free(sh);
        break;
    }
    case 2: {
        char *it = NULL;
        int rc = source__kin_parse_iterator(body, len, &it, &err);
        if (rc ? it != NULL : (!it || !it[0]))
            die("GetShardIterator: an iterator and an error disagree");
        free(it);
        break;
    }
    default: {
        char msg[300];
        enum source__kin_fail k = source__kin_parse_error(400, body, len, msg, sizeof msg);
        if ((int)k < KIN_F_RETRY || k > KIN_F_OTHER || strlen(msg) >= sizeof msg)
            die("an error body out of range");
        break;
    }
    }
    return 0;
}
