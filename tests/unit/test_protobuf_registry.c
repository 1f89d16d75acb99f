/*
 * test_protobuf_registry.c — Protobuf schemas from a schema registry
 * (format_registry_protobuf(), registry.h) against a small fake registry
 * served here over HTTP on a loopback port: a schema whose references form a
 * diamond (each file fetched and given once, subjects with a slash escaped),
 * a well-known import with no reference, the compiled schema cached by id,
 * and each way the registry can fail — an unknown id (remembered), a
 * reference to an unknown subject, an answer that is not serialized, a
 * non-Protobuf schema, a server error and no server at all.
 *
 * The files are FileDescriptorProtos written here with a small encoder, so
 * every byte the registry answers is visible in the test.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "format/protobuf.h"
#include "format/registry.h"
#include "util/util.h"

/* ---- FileDescriptorProtos -------------------------------------------------------- */

static void w_varint(struct buf *b, uint64_t v)
{
    do {
        char c = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        buf_append(b, &c, 1);
        v >>= 7;
    } while (v);
}
static void w_bytes(struct buf *b, int field, const void *p, size_t n)
{
    w_varint(b, (uint64_t)field << 3 | 2);
    w_varint(b, n);
    buf_append(b, p, n);
}
static void w_str(struct buf *b, int field, const char *s) { w_bytes(b, field, s, strlen(s)); }
static void w_int(struct buf *b, int field, uint64_t v)
{
    w_varint(b, (uint64_t)field << 3);
    w_varint(b, v);
}

/* A file of one proto3 message `msg` whose fields are message-typed: names[i]
 * of type types[i], numbered from 1; deps: its imports. Base64 into out. */
static void file_b64(const char *name, const char *pkg, const char *const *deps, size_t ndeps,
                     const char *msg, const char *const *names, const char *const *types,
                     size_t nfields, char *out, size_t cap)
{
    struct buf f, m, fd;
    buf_init(&f, 0);
    buf_init(&m, 0);
    buf_init(&fd, 0);
    w_str(&f, 1, name);
    w_str(&f, 2, pkg);
    for (size_t i = 0; i < ndeps; i++)
        w_str(&f, 3, deps[i]);
    w_str(&m, 1, msg);
    for (size_t i = 0; i < nfields; i++) {
        buf_reset(&fd);
        w_str(&fd, 1, names[i]);
        w_int(&fd, 3, i + 1);
        w_int(&fd, 4, 1);                 /* optional */
        w_int(&fd, 5, types[i] ? 11 : 5); /* message, or int32 */
        if (types[i])
            w_str(&fd, 6, types[i]);
        w_bytes(&m, 2, fd.data, fd.len);
    }
    w_bytes(&f, 4, m.data, m.len);
    w_str(&f, 12, "proto3");
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)f.data;
    size_t n = f.len, k = 0;
    for (size_t i = 0; i < n && k + 5 < cap; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[k++] = t[v >> 18 & 63];
        out[k++] = t[v >> 12 & 63];
        out[k++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[k++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[k] = 0;
    buf_free(&f);
    buf_free(&m);
    buf_free(&fd);
}

/* ---- the fake registry ------------------------------------------------------------- */

struct route {
    const char *path; /* request target, exactly */
    int status;
    char body[2048];
};

static struct route routes[16];
static size_t nroutes;
static int listen_fd = -1;
static volatile int stopping;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char seen[256][128]; /* every request target, in order */
static size_t nseen;

static void route(const char *path, int status, const char *body)
{
    struct route *r = &routes[nroutes++];
    r->path = path;
    r->status = status;
    snprintf(r->body, sizeof r->body, "%s", body);
}

/* How many requests asked for path. */
static int hits(const char *path)
{
    pthread_mutex_lock(&mu);
    int n = 0;
    for (size_t i = 0; i < nseen; i++)
        n += strcmp(seen[i], path) == 0;
    pthread_mutex_unlock(&mu);
    return n;
}

static void *serve(void *arg)
{
    (void)arg;
    while (!stopping) {
        struct pollfd pf = {.fd = listen_fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        int c = accept(listen_fd, NULL, NULL);
        if (c < 0)
            continue;
        char req[4096] = "";
        size_t n = 0;
        while (n + 1 < sizeof req && !strstr(req, "\r\n\r\n")) {
            ssize_t got = read(c, req + n, sizeof req - 1 - n);
            if (got <= 0)
                break;
            n += (size_t)got;
            req[n] = 0;
        }
        req[n] = 0;
        char path[1024] = "";
        sscanf(req, "GET %1023s", path);
        int status = 404;
        const char *body = "{\"error_code\": 40403, \"message\": \"Schema not found\"}";
        pthread_mutex_lock(&mu);
        if (nseen < 256)
            snprintf(seen[nseen++], sizeof seen[0], "%s", path);
        for (size_t i = 0; i < nroutes; i++)
            if (strcmp(routes[i].path, path) == 0) {
                status = routes[i].status;
                body = routes[i].body;
                break;
            }
        pthread_mutex_unlock(&mu);
        char head[256];
        int hn = snprintf(head, sizeof head,
                          "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
                          "%zu\r\nConnection: close\r\n\r\n",
                          status, strlen(body));
        if (write(c, head, (size_t)hn) < 0 || write(c, body, strlen(body)) < 0)
            perror("fake registry write");
        close(c);
    }
    return NULL;
}

/* ---- the tests ----------------------------------------------------------------------- */

static char json_doc[4096];

/* {"schemaType": "PROTOBUF", "schema": b64, "references": refs (JSON), [id]} */
static const char *doc(const char *b64, const char *refs, int id)
{
    char idp[32] = "";
    if (id)
        snprintf(idp, sizeof idp, ", \"id\": %d", id);
    snprintf(json_doc, sizeof json_doc,
             "{\"schemaType\": \"PROTOBUF\", \"schema\": \"%s\", \"references\": %s%s}", b64, refs,
             idp);
    return json_doc;
}

int main(void)
{
    /* c.proto <- a.proto, b/x.proto <- r.proto (and Timestamp, no reference) */
    static char c64[512], a64[512], b64[512], r64[1024];
    const char *none[] = {NULL}, *cdep[] = {"c.proto"};
    const char *rdeps[] = {"a.proto", "b/x.proto", "google/protobuf/timestamp.proto"};
    const char *cn[] = {"v"}, *an[] = {"c"}, *at[] = {".c.C"};
    const char *rn[] = {"a", "b", "ts"}, *rt[] = {".a.A", ".b.B", ".google.protobuf.Timestamp"};
    file_b64("c.proto", "c", NULL, 0, "C", cn, none, 1, c64, sizeof c64);
    file_b64("a.proto", "a", cdep, 1, "A", an, at, 1, a64, sizeof a64);
    file_b64("b/x.proto", "b", cdep, 1, "B", an, at, 1, b64, sizeof b64);
    file_b64("r.proto", "r", rdeps, 3, "R", rn, rt, 3, r64, sizeof r64);
    const char *cref = "[{\"name\": \"c.proto\", \"subject\": \"c\", \"version\": 1}]";
    route("/schemas/ids/10?format=serialized", 200,
          doc(r64,
              "[{\"name\": \"a.proto\", \"subject\": \"a\", \"version\": 1}, "
              "{\"name\": \"b/x.proto\", \"subject\": \"b/x\", \"version\": 2}]",
              0));
    route("/subjects/a/versions/1?format=serialized", 200, doc(a64, cref, 11));
    route("/subjects/b%2Fx/versions/2?format=serialized", 200, doc(b64, cref, 12));
    route("/subjects/c/versions/1?format=serialized", 200, doc(c64, "[]", 13));
    route("/schemas/ids/20?format=serialized", 200,
          doc(r64, "[{\"name\": \"a.proto\", \"subject\": \"gone\", \"version\": 3}]", 0));
    route("/schemas/ids/30?format=serialized", 200,
          "{\"schemaType\": \"PROTOBUF\", \"schema\": \"syntax = \\\"proto3\\\"; message M {}\"}");
    route("/schemas/ids/40?format=serialized", 200, "{\"schema\": \"\\\"string\\\"\"}");
    route("/schemas/ids/50?format=serialized", 503, "{\"error_code\": 50003}");
    route("/schemas/ids/60?format=serialized", 200, "{\"id\": 60}");

    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) ||
        listen(listen_fd, 16) || getsockname(listen_fd, (struct sockaddr *)&sa, &sl)) {
        perror("fake registry");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    pthread_t th;
    pthread_create(&th, NULL, serve, NULL);

    const char *urls[] = {url};
    struct format_registry_config cfg = {.urls = urls, .nurls = 1, .timeout_ms = 5000};
    struct lerr err;
    lerr_init(&err);
    struct format_registry *reg = format_registry_new(&cfg, &err);
    CHECK(reg != NULL);
    if (!reg)
        return check_summary();

    /* The diamond: c.proto reached twice, fetched once and given once. */
    const struct format_pb_schema *s = NULL, *again = NULL;
    CHECK_EQ_INT(format_registry_protobuf(reg, 10, &s, &err), 0);
    CHECK_MSG(s != NULL, "schema 10: %s", err.msg);
    if (s) {
        const struct format_pb_msg *m = format_pb_by_index(s, NULL, 0, &err);
        CHECK_EQ_STR(m ? format_pb_msg_name(m) : err.msg, "r.R");
        /* R {a {c {v 1}} b {c {v 2}} ts {seconds 1714564800}} */
        static const unsigned char rec[] = {0x0a, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x12,
                                            0x04, 0x0a, 0x02, 0x08, 0x02, 0x1a, 0x06,
                                            0x08, 0xc0, 0xdd, 0xc8, 0xb1, 0x06};
        struct buf out;
        buf_init(&out, 0);
        CHECK_EQ_INT(m ? format_pb_to_json(m, rec, sizeof rec, &out, NULL, &err) : -1, 0);
        CHECK_EQ_STR(
            buf_cstr(&out),
            "{\"a\":{\"c\":{\"v\":1}},\"b\":{\"c\":{\"v\":2}},\"ts\":\"2024-05-01T12:00:00Z\"}");
        buf_free(&out);
    }
    CHECK_EQ_INT(hits("/subjects/c/versions/1?format=serialized"), 1);
    CHECK_EQ_INT(hits("/subjects/b%2Fx/versions/2?format=serialized"), 1);
    /* Compiled once: the second call asks nothing. */
    CHECK_EQ_INT(format_registry_protobuf(reg, 10, &again, &err), 0);
    CHECK(again == s);
    CHECK_EQ_INT(hits("/schemas/ids/10?format=serialized"), 1);

    /* An unknown id: LERR_NOT_FOUND, remembered for a while (no second request). */
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 99, &s, &err), LERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "schema id 99 is not in the schema registry"), "%s", err.msg);
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 99, &s, &err), LERR_NOT_FOUND);
    CHECK_EQ_INT(hits("/schemas/ids/99?format=serialized"), 1);

    /* A reference to a subject version the registry lacks. */
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 20, &s, &err), LERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "schema id 20: its reference 'a.proto': subject 'gone' version 3 "
                              "is not in the schema registry"),
              "%s", err.msg);

    /* .proto text where the serialized form was asked for: refused for good. */
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 30, &s, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "schema id 30: the registry's serialized form is not base64"), "%s",
              err.msg);
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 30, &s, &err), LERR_INVALID);
    CHECK_EQ_INT(hits("/schemas/ids/30?format=serialized"), 1);

    /* An Avro schema (no schemaType), a document without a schema, a 503. */
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 40, &s, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "schema id 40 is an AVRO schema in the registry"), "%s", err.msg);
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 60, &s, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "has no \"schema\" string"), "%s", err.msg);
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 50, &s, &err), LERR_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "HTTP 503"), "%s", err.msg);
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 50, &s, &err), LERR_UNAVAILABLE);
    CHECK_EQ_INT(hits("/schemas/ids/50?format=serialized"), 2); /* asked again: not remembered */

    /* No server at all: unavailable, naming the URL. */
    stopping = 1;
    pthread_join(th, NULL);
    close(listen_fd);
    lerr_init(&err);
    CHECK_EQ_INT(format_registry_protobuf(reg, 70, &s, &err), LERR_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "the schema registry is unreachable (schema id 70)"), "%s", err.msg);
    format_registry_free(reg);
    return check_summary();
}
