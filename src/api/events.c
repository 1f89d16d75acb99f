/*
 * events.c — POST /v1/events/{connection}: push events into a push_streaming
 * connection. The body is newline-delimited JSON (optionally gzip, one or
 * more members), at most 1 MB as sent. Each line is checked as one JSON
 * object; malformed lines are reported with their line number and not
 * stored, the rest are appended to the connection's durable log as one unit
 * — after a crash the log holds all of them or none — and the answer comes
 * only after they are on disk (group commit with fsync). Also GET /metrics
 * (Prometheus text).
 */
#include <string.h>
#include <zlib.h>

#include "api/api_int.h"
#include "source/pushtopic.h"
#include "format/json.h"
#include "ingest/ingest.h"
#include "source/pushreg.h"

#define PUSH_MAX_BODY (1024u * 1024u)           /* as sent */
#define PUSH_MAX_INFLATED (64u * 1024u * 1024u) /* after gunzip */
#define PUSH_KAFKA_WAIT_MS 15000                /* for Kafka's acknowledgement (--push-kafka) */
#define PUSH_MAX_REPORTED 100                   /* rejected lines listed in the answer */

/*
 * Inflates a gzip body into out (capped). A body may hold several gzip
 * members one after another (`cat a.gz b.gz`, as many gzip writers produce):
 * every member is read, as zcat does; bytes after the last member that do
 * not start another one are refused with their byte offset.
 */
static int gunzip(const char *p, size_t n, struct buf *out, struct lerr *err)
{
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 32) != Z_OK)
        return lerr_set(err, LERR_INTERNAL, "zlib: cannot start inflating");
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    char chunk[65536];
    int members = 1, rc = 0;
    for (;;) {
        z.next_out = (Bytef *)chunk;
        z.avail_out = sizeof chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            rc = lerr_set(err, LERR_INVALID,
                          "the body is not valid gzip (Content-Encoding: gzip): %s in member %d "
                          "at byte %zu",
                          z.msg ? z.msg : "corrupt data", members, n - z.avail_in);
            break;
        }
        if (!buf_append(out, chunk, sizeof chunk - z.avail_out)) {
            rc = lerr_set(err, LERR_TOO_LARGE,
                          "the gzip body inflates past %u bytes; send smaller requests",
                          PUSH_MAX_INFLATED);
            break;
        }
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0)
                break; /* the last member */
            const unsigned char *next = z.next_in;
            if (z.avail_in < 2 || next[0] != 0x1f || next[1] != 0x8b) {
                rc = lerr_set(err, LERR_INVALID,
                              "the gzip body has %u bytes after its last gzip member, from byte "
                              "%zu, that are not another gzip member; send only gzip data",
                              (unsigned)z.avail_in, n - z.avail_in);
                break;
            }
            inflateReset(&z); /* the next member */
            members++;
            continue;
        }
        /* Input used up with room left in the output: inflate wants more. */
        if (zr == Z_BUF_ERROR || (z.avail_in == 0 && z.avail_out != 0)) {
            rc = lerr_set(err, LERR_INVALID,
                          "the gzip body is truncated (member %d ends early); send the whole file",
                          members);
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

/* Checks one line as a JSON object with the record scanner (no allocation). */
static bool line_ok(const char *p, size_t n, char *scratch, struct lerr *err)
{
    struct format_json_iter it;
    if (format_json_iter_init(&it, p, n, scratch, n + 1, err))
        return false;
    struct format_json_member m;
    int rc;
    while ((rc = format_json_iter_next(&it, &m, err)) == 1)
        ;
    return rc == 0;
}

int api_events_push(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    const char *name = r->seg[1];
    struct catalog_doc cd = {0};
    struct buf inflated;
    buf_init(&inflated, PUSH_MAX_INFLATED);
    struct source_pushlog_entry *entries = NULL;
    json_t *rejected = json_array();
    char *scratch = NULL;
    if (catalog_doc_get(r->srv->cat, CATALOG_CONNECTION, name, &cd, &err))
        goto out;
    if (catalog_conn_type_parse(cd.kind) != CATALOG_CONN_PUSH) {
        lerr_set(&err, LERR_INVALID,
                 "connection '%s' is a %s connection; events can only be pushed to a "
                 "push_streaming connection",
                 name, cd.kind);
        goto out;
    }
    if (catalog_is_shared(r->srv->cat) && !r->srv->pushtopic) {
        api__push_local_refused(&err, "", name);
        goto out;
    }
    if (r->body_len > PUSH_MAX_BODY) {
        lerr_set(&err, LERR_TOO_LARGE,
                 "the request body is %zu bytes; a push request takes at most 1 MB (1048576 "
                 "bytes): split it",
                 r->body_len);
        goto out;
    }
    const char *body = r->body ? r->body : "";
    size_t len = r->body_len;
    if (r->content_encoding && strcasecmp(r->content_encoding, "gzip") == 0) {
        if (gunzip(body, len, &inflated, &err))
            goto out;
        body = inflated.data ? inflated.data : "";
        len = inflated.len;
    } else if (r->content_encoding && strcasecmp(r->content_encoding, "identity") != 0) {
        lerr_set(&err, LERR_UNSUPPORTED_MEDIA,
                 "Content-Encoding '%s' is not supported; send gzip or no encoding",
                 r->content_encoding);
        goto out;
    }
    size_t cap = 64, n = 0, line = 0, nrejected = 0;
    entries = malloc(cap * sizeof *entries);
    scratch = malloc(len + 1);
    if (!entries || !scratch) {
        lerr_set(&err, LERR_NOMEM, "out of memory");
        goto out;
    }
    int64_t now = util_now_ms();
    for (const char *p = body, *end = body + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t l = (size_t)(stop - p);
        if (l && p[l - 1] == '\r')
            l--;
        line++;
        struct lerr le;
        lerr_init(&le);
        bool blank = true;
        for (size_t k = 0; k < l && blank; k++)
            blank = p[k] == ' ' || p[k] == '\t';
        if (!blank && !line_ok(p, l, scratch, &le)) {
            nrejected++;
            if (json_array_size(rejected) < PUSH_MAX_REPORTED)
                json_array_append_new(rejected, json_pack("{s:I, s:s}", "line", (json_int_t)line,
                                                          "message", le.msg));
        } else if (!blank) {
            if (n == cap) {
                cap *= 2;
                struct source_pushlog_entry *ne = realloc(entries, cap * sizeof *ne);
                if (!ne) {
                    lerr_set(&err, LERR_NOMEM, "out of memory");
                    goto out;
                }
                entries = ne;
            }
            entries[n++] = (struct source_pushlog_entry){p, l, now};
        }
        p = stop + 1;
    }
    if (n && r->srv->pushtopic) {
        /* on Kafka: the accepted lines as one message, answered once acks=all holds it */
        struct buf msg;
        buf_init(&msg, SOURCE_PUSHTOPIC_MAX_MESSAGE + 1);
        for (size_t i = 0; i < n && !err.code; i++)
            if (!buf_append(&msg, entries[i].p, entries[i].len) || !buf_append(&msg, "\n", 1))
                lerr_set(&err, LERR_TOO_LARGE,
                         "the request holds more than %u bytes of events; with --push-kafka a "
                         "request holds at most that (one Kafka message): split it",
                         SOURCE_PUSHTOPIC_MAX_MESSAGE);
        if (!err.code)
            source_pushtopic_append(r->srv->pushtopic, name, msg.data, msg.len, PUSH_KAFKA_WAIT_MS,
                                    &err);
        buf_free(&msg);
        if (err.code)
            goto out;
    } else if (n && pushreg_append(r->srv->pushes, name, entries, n, NULL, &err)) {
        goto out;
    }
    json_t *ans = json_pack("{s:I, s:o}", "accepted", (json_int_t)n, "rejected", rejected);
    rejected = NULL;
    if (nrejected > PUSH_MAX_REPORTED)
        json_object_set_new(ans, "rejectedCount", json_integer((json_int_t)nrejected));
    api_reply(r, 200, ans);
out:
    if (err.code)
        api_reply_err(r, &err);
    json_decref(rejected);
    free(entries);
    free(scratch);
    buf_free(&inflated);
    catalog_doc_destroy(&cd);
    return err.code;
}

int api_metrics(struct api_req *r)
{
    struct buf b;
    buf_init(&b, 16u << 20);
    ingest_metrics_prometheus(r->srv->rt, &b);
    api_query_metrics(&b);
    r->status = 200;
    json_decref(r->resp);
    r->resp = NULL;
    r->text = buf_steal(&b, &r->text_len);
    r->content_type = "text/plain; version=0.0.4";
    return 0;
}
