/*
 * test_s3.c — the S3 client (util/s3.h) and the S3 segment store
 * (storage/segstore.h, segstore_s3.c) against a real S3-compatible store:
 * s3rver (npm, tests/e2e/s3/s3rver.js) on a free loopback port over a
 * temporary directory, started here and stopped at the end.
 *
 * s3rver rejects unknown access key ids but does not check signatures, so
 * the signature itself is checked by tests/e2e/s3/sigv4_proxy.py, a proxy in
 * front of s3rver that verifies every request's SigV4 with the secret and
 * can answer 503 SlowDown on demand: requests through it prove the
 * signatures are right (queries, multipart, metadata), a wrong secret is
 * refused (403, not retried), and 503s are retried.
 *
 * Cases: configuration errors; PUT/GET/HEAD/DELETE with metadata and keys
 * that need encoding; ListObjectsV2 over more than 1000 keys (continuation
 * tokens); multipart above a low threshold; a missing bucket; an unknown
 * access key; retries on 503 then success, and giving up after
 * max_attempts; no retry on 403; a refused connection; the segment store:
 * put, list, open from the cache and after the copy is gone (download), a
 * corrupt object (checksum mismatch: LERR_CORRUPT naming it, the bad copy
 * removed), remove, the LRU bound with open copies kept. The batch source's
 * side (source/s3_objects.c): the glob over keys, s3:// URIs, and a job's
 * selection (objects, prefixes, a pattern under a connection's prefix)
 * listed into URIs, with the errors for a missing key, an empty prefix and
 * a missing bucket naming the connection.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "source/source.h"
#include "storage/segstore.h"
#include "util/s3.h"

extern char **environ;

static char root[] = "/tmp/lodestar-s3-XXXXXX";
static char s3dir[512], cachedir[512];
static pid_t s3pid = -1, proxypid = -1;
static int s3port, proxyport;
static const char *BUCKET = "seg-test";

/* Starts argv with stdout on a pipe and waits for "READY <port>". */
static int spawn_ready(char *const argv[], pid_t *pid)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    int rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return -1;
    }
    char line[128];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t got = read(p[0], line + n, 1);
        if (got <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(p[0]);
    int port = 0;
    if (sscanf(line, "READY %d", &port) != 1)
        return -1;
    return port;
}

static void stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = -1;
    }
}

static char *endpoint(int port)
{
    static char buf[2][64];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "http://127.0.0.1:%d", port);
    return buf[k];
}

static struct s3_client *client(int port, const char *key, const char *secret, int attempts)
{
    struct s3_config cfg = {.endpoint = endpoint(port),
                            .access_key = key,
                            .secret_key = secret,
                            .max_attempts = attempts,
                            .backoff_ms = 10,
                            .multipart_threshold = 64 * 1024,
                            .part_size = 100 * 1024};
    struct s3_client *c = NULL;
    struct lerr err;
    lerr_init(&err);
    if (s3_client_new(&cfg, &c, &err))
        fprintf(stderr, "s3_client_new: %s\n", err.msg);
    return c;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
    if (fd >= 0)
        close(fd);
}

/* The whole file, malloc'd (NULL when absent); *n its size. */
static char *read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    fstat(fd, &st);
    char *p = malloc((size_t)st.st_size + 1);
    *n = (size_t)read(fd, p, (size_t)st.st_size);
    close(fd);
    return p;
}

static long proxy_count(void)
{
    /* the proxy's own counter (GET /__count), read with Python like the proxy itself */
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import urllib.request as u;"
             "print(u.urlopen('http://127.0.0.1:%d/__count').read().decode())\"",
             proxyport);
    FILE *f = popen(cmd, "r");
    long n = -1;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

static void proxy_fail(int n)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import urllib.request as u;"
             "u.urlopen(u.Request('http://127.0.0.1:%d/__fail/%d', method='POST')).read()\"",
             proxyport, n);
    CHECK(system(cmd) == 0);
}

/* ---- the XML reader (no server) ------------------------------------------------- */

struct parsed {
    char keys[4][64];
    uint64_t sizes[4];
    int64_t modified[4];
    size_t n;
};

static int take_key(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    struct parsed *p = ctx;
    if (p->n < 4) {
        snprintf(p->keys[p->n], sizeof p->keys[0], "%s", key);
        p->sizes[p->n] = size;
        p->modified[p->n] = modified_ms;
    }
    p->n++;
    return 0;
}

static int parse(const char *xml, struct parsed *p, bool *more, char *token, struct lerr *err)
{
    memset(p, 0, sizeof *p);
    lerr_init(err);
    return s3_list_parse(xml, strlen(xml), take_key, p, more, token, 32, err);
}

static void test_parse(void)
{
    struct parsed p;
    bool more;
    char token[32];
    struct lerr err;
    CHECK_EQ_INT(parse("<?xml version=\"1.0\"?>\n<ListBucketResult xmlns=\"x\"><IsTruncated>"
                       "true</IsTruncated><NextContinuationToken>a+b/c=</NextContinuationToken>"
                       "<Contents><Key>k&amp;&lt;&#x20AC;&#252;&quot;</Key><Size>12345678901"
                       "</Size><LastModified>2026-12-08T01:02:03.456Z</LastModified></Contents>"
                       "<Contents><Size>0</Size><Key><![CDATA[<raw>&amp;]]>"
                       "</Key></Contents><!-- note --></ListBucketResult>",
                       &p, &more, token, &err),
                 0);
    CHECK_EQ_INT(p.n, 2);
    CHECK_EQ_STR(p.keys[0], "k&<\xe2\x82\xac\xc3\xbc\"");
    CHECK_EQ_INT(p.sizes[0], 12345678901ull);
    CHECK_EQ_INT(p.modified[0], 1796691723456LL);
    CHECK_EQ_STR(p.keys[1], "<raw>&amp;");
    CHECK_EQ_INT(p.modified[1], -1); /* none given */
    CHECK(more);
    CHECK_EQ_STR(token, "a+b/c=");
    CHECK_EQ_INT(parse("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", &p,
                       &more, token, &err),
                 0);
    CHECK(!more && p.n == 0 && token[0] == '\0');
    static const struct {
        const char *xml, *msg;
    } bad[] = {
        {"<ListBucketResult><Contents><Key>a&uuml;</Key></Contents></ListBucketResult>",
         "byte 34: unknown entity"},
        {"<ListBucketResult><Contents><Key>a</Kez></Contents></ListBucketResult>",
         "byte 34: end tag does not match"},
        {"<ListBucketResult><Contents><Key>a</Key>", "document ends inside an element"},
        {"<Error><Code>x</Code></Error>", "root element is <Error>"},
        {"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "no <Key>"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
         "<Size> of the listing is '-1'"},
        {"<ListBucketResult><Contents><Key>a</Key><LastModified>yesterday</LastModified>"
         "</Contents></ListBucketResult>",
         "<LastModified> of the listing is 'yesterday'"},
        {"<ListBucketResult><NextContinuationToken>0123456789012345678901234567890123"
         "</NextContinuationToken></ListBucketResult>",
         "longer than 31 bytes"},
        {"<ListBucketResult><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>",
         "nested deeper than 16"},
        {"<ListBucketResult>&#0;</ListBucketResult>", "U+0000"},
        {"<ListBucketResult></ListBucketResult><x/>", "a second root element"},
        {"", "no root element"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].xml, &p, &more, token, &err);
        CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, bad[i].msg), "bad[%zu]: rc %d, '%s'", i,
                  rc, err.msg);
    }
    char *big = malloc(6000);
    strcpy(big, "<ListBucketResult><Contents><Key>");
    memset(big + strlen(big), 'k', 5000);
    strcpy(big + 33 + 5000, "</Key></Contents></ListBucketResult>");
    CHECK_EQ_INT(parse(big, &p, &more, token, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "longer than 4096") != NULL, "%s", err.msg);
    free(big);
}

/* ---- the client ---------------------------------------------------------------- */

static void test_config(void)
{
    struct s3_client *c = NULL;
    struct lerr err;
    lerr_init(&err);
    struct s3_config none = {.endpoint = "http://127.0.0.1:1"};
    CHECK_EQ_INT(s3_client_new(&none, &c, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "AWS_ACCESS_KEY_ID") != NULL, "%s", err.msg);
    lerr_init(&err);
    struct s3_config bad = {.endpoint = "127.0.0.1:9000", .access_key = "a", .secret_key = "b"};
    CHECK_EQ_INT(s3_client_new(&bad, &c, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "127.0.0.1:9000") && strstr(err.msg, "--s3-endpoint"), "%s",
              err.msg);
    lerr_init(&err);
    struct s3_config aws = {.access_key = "a", .secret_key = "b", .region = "eu-west-3"};
    CHECK_EQ_INT(s3_client_new(&aws, &c, &err), 0);
    if (c)
        CHECK_EQ_STR(s3_client_endpoint(c), "https://s3.eu-west-3.amazonaws.com");
    s3_client_free(c);
}

static void test_objects(struct s3_client *c, const char *label)
{
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/src.bin", root);
    snprintf(dst, sizeof dst, "%s/dst.bin", root);
    const char *body = "hello, object store";
    write_file(src, body, strlen(body));
    /* a key that needs encoding: space, plus, ampersand, UTF-8, nested */
    const char *key = "t/a b+c&d/\xc3\xbc-1.seg";
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(s3_put_file(c, BUCKET, key, src, "abc123", &err) == 0, "%s put: %s", label, err.msg);
    struct s3_object_info info;
    lerr_init(&err);
    CHECK_MSG(s3_head(c, BUCKET, key, &info, &err) == 0, "%s head: %s", label, err.msg);
    CHECK_MSG(info.size == strlen(body), "%s head: size %llu, want %zu", label,
              (unsigned long long)info.size, strlen(body));
    CHECK_EQ_STR(info.sha256, "abc123");
    int fd = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "junk junk junk junk junk junk", 29); /* truncated by the GET */
    lerr_init(&err);
    CHECK_MSG(s3_get_file(c, BUCKET, key, fd, &info, &err) == 0, "%s get: %s", label, err.msg);
    close(fd);
    size_t n = 0;
    char *got = read_file(dst, &n);
    CHECK_MSG(got && n == strlen(body) && memcmp(got, body, n) == 0, "%s: GET gives the bytes",
              label);
    free(got);
    CHECK_EQ_STR(info.sha256, "abc123");
    lerr_init(&err);
    CHECK_EQ_INT(s3_delete(c, BUCKET, key, &err), 0);
    lerr_init(&err);
    CHECK_EQ_INT(s3_head(c, BUCKET, key, &info, &err), LERR_NOT_FOUND);
    lerr_init(&err);
    fd = open(dst, O_RDWR | O_TRUNC);
    CHECK_EQ_INT(s3_get_file(c, BUCKET, key, fd, NULL, &err), LERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "s3://seg-test/t/a b+c&d/") && strstr(err.msg, "no such object"),
              "%s", err.msg);
    close(fd);
    lerr_init(&err);
    CHECK_MSG(s3_delete(c, BUCKET, key, &err) == 0, "delete of a missing key: %s", err.msg);
}

struct keys {
    size_t n;
    uint64_t bytes;
    bool saw_special;
};

static int count_key(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    (void)modified_ms;
    struct keys *k = ctx;
    k->n++;
    k->bytes += size;
    if (strcmp(key, "many/x&<y>\"z'.seg") == 0)
        k->saw_special = true;
    return 0;
}

static void test_list(struct s3_client *direct, struct s3_client *signed_)
{
    char src[600];
    snprintf(src, sizeof src, "%s/small.bin", root);
    write_file(src, "xy", 2);
    struct lerr err;
    lerr_init(&err);
    int bad = 0;
    for (int i = 0; i < 1003 && !bad; i++) {
        char key[64];
        snprintf(key, sizeof key, "many/k%05d.seg", i);
        bad = s3_put_file(direct, BUCKET, key, src, NULL, &err);
    }
    CHECK_MSG(!bad, "1003 puts: %s", err.msg);
    /* entities in the listing: & < > " ' are escaped by the store */
    CHECK_EQ_INT(s3_put_file(direct, BUCKET, "many/x&<y>\"z'.seg", src, NULL, &err), 0);
    CHECK_EQ_INT(s3_put_file(direct, BUCKET, "other/k.seg", src, NULL, &err), 0);
    struct s3_client *cs[2] = {direct, signed_};
    for (int k = 0; k < 2; k++) {
        struct keys got = {0};
        lerr_init(&err);
        CHECK_MSG(s3_list(cs[k], BUCKET, "many/", count_key, &got, &err) == 0, "list: %s",
                  err.msg);
        CHECK_EQ_INT(got.n, 1004); /* two pages: the continuation token was followed */
        CHECK_EQ_INT(got.bytes, 2 * 1004);
        CHECK(got.saw_special);
    }
}

static void test_multipart(struct s3_client *c)
{
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/big.bin", root);
    snprintf(dst, sizeof dst, "%s/big.out", root);
    size_t n = 350 * 1024 + 17; /* 4 parts of 100 KiB at most */
    unsigned char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 2654435761u >> 13);
    write_file(src, p, n);
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(s3_put_file(c, BUCKET, "mp/big.seg", src, "feedbeef", &err) == 0, "multipart: %s",
              err.msg);
    int fd = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct s3_object_info info;
    lerr_init(&err);
    CHECK_MSG(s3_get_file(c, BUCKET, "mp/big.seg", fd, &info, &err) == 0, "get: %s", err.msg);
    close(fd);
    size_t m = 0;
    char *got = read_file(dst, &m);
    CHECK_MSG(got && m == n && memcmp(got, p, n) == 0, "multipart object has the file's bytes");
    CHECK_EQ_STR(info.sha256, "feedbeef");
    free(got);
    free(p);

    /* one PUT of 1.5 MiB (libcurl sends Expect: 100-continue past 1 MiB), signature checked */
    n = 1536 * 1024;
    p = calloc(1, n);
    p[n - 1] = 7;
    write_file(src, p, n);
    struct s3_config cfg = {
        .endpoint = endpoint(proxyport), .access_key = "S3RVER", .secret_key = "S3RVER"};
    struct s3_client *one = NULL;
    CHECK_EQ_INT(s3_client_new(&cfg, &one, &err), 0);
    lerr_init(&err);
    CHECK_MSG(one && s3_put_file(one, BUCKET, "mp/one.seg", src, NULL, &err) == 0, "put: %s",
              err.msg);
    lerr_init(&err);
    CHECK_MSG(one && s3_head(one, BUCKET, "mp/one.seg", &info, &err) == 0 && info.size == n,
              "head: %s", err.msg);
    s3_client_free(one);
    free(p);
}

static void test_errors(void)
{
    char src[600];
    snprintf(src, sizeof src, "%s/small.bin", root);
    struct s3_client *c = client(s3port, "S3RVER", "S3RVER", 3);
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(s3_put_file(c, "no-such-bucket", "k", src, NULL, &err), LERR_IO);
    CHECK_MSG(strstr(err.msg, "PUT s3://no-such-bucket/k") && strstr(err.msg, "HTTP 404") &&
                  strstr(err.msg, "NoSuchBucket") && strstr(err.msg, "create it"),
              "%s", err.msg);
    s3_client_free(c);

    c = client(s3port, "NOBODY", "S3RVER", 3);
    lerr_init(&err);
    CHECK_EQ_INT(s3_put_file(c, BUCKET, "k", src, NULL, &err), LERR_IO);
    CHECK_MSG(strstr(err.msg, "InvalidAccessKeyId") && strstr(err.msg, "AWS_ACCESS_KEY_ID"), "%s",
              err.msg);
    s3_client_free(c);

    /* a wrong secret, seen by the verifying proxy: 403, and not retried */
    c = client(proxyport, "S3RVER", "wrong-secret", 5);
    long before = proxy_count();
    lerr_init(&err);
    CHECK_EQ_INT(s3_put_file(c, BUCKET, "k", src, NULL, &err), LERR_IO);
    CHECK_MSG(strstr(err.msg, "HTTP 403 SignatureDoesNotMatch") &&
                  strstr(err.msg, "AWS_SECRET_ACCESS_KEY"),
              "%s", err.msg);
    CHECK_EQ_INT(proxy_count() - before, 1);
    s3_client_free(c);

    /* 503 twice, then through: retried, and succeeds */
    c = client(proxyport, "S3RVER", "S3RVER", 5);
    proxy_fail(2);
    before = proxy_count();
    lerr_init(&err);
    CHECK_MSG(s3_put_file(c, BUCKET, "retried.seg", src, NULL, &err) == 0, "retried put: %s",
              err.msg);
    CHECK_EQ_INT(proxy_count() - before, 3);
    struct s3_object_info info;
    CHECK_EQ_INT(s3_head(c, BUCKET, "retried.seg", &info, &err), 0);
    s3_client_free(c);

    char dst503[600];
    snprintf(dst503, sizeof dst503, "%s/503.out", root);
    /* 503 for ever: gives up after max_attempts with S3's code and message */
    c = client(proxyport, "S3RVER", "S3RVER", 3);
    proxy_fail(1000);
    before = proxy_count();
    lerr_init(&err);
    int fd503 = open(dst503, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK_EQ_INT(s3_get_file(c, BUCKET, "retried.seg", fd503, &info, &err), LERR_IO);
    close(fd503);
    CHECK_MSG(strstr(err.msg, "GET s3://seg-test/retried.seg") &&
                  strstr(err.msg, "HTTP 503 SlowDown: Please reduce your request rate.") != NULL,
              "%s", err.msg);
    CHECK_EQ_INT(proxy_count() - before, 3);
    proxy_fail(0);
    s3_client_free(c);

    /* nothing listens: connection errors are retried, then named */
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* a port that was free a moment ago */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sl);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    c = client(ntohs(sa.sin_port), "S3RVER", "S3RVER", 3);
    lerr_init(&err);
    CHECK_EQ_INT(s3_head(c, BUCKET, "k", &info, &err), LERR_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "cannot reach") && strstr(err.msg, "after 3 attempts") &&
                  strstr(err.msg, "AWS_ENDPOINT_URL"),
              "%s", err.msg);
    s3_client_free(c);
    /* a caller's deadline (a query's timeout) ends the retries early: 20 attempts of
     * 10, 20, 40, ... ms would wait minutes; 100 ms allows 3 or 4 */
    c = client(ntohs(sa.sin_port), "S3RVER", "S3RVER", 20);
    lerr_init(&err);
    int64_t t0 = util_mono_ns();
    s3_thread_deadline(t0 + 100 * 1000000LL);
    CHECK_EQ_INT(s3_head(c, BUCKET, "k", &info, &err), LERR_UNAVAILABLE);
    s3_thread_deadline(0);
    int64_t took_ms = (util_mono_ns() - t0) / 1000000;
    CHECK_MSG(took_ms < 1000 && strstr(err.msg, "time ran out") && !strstr(err.msg, "after 20"),
              "%lld ms: %s", (long long)took_ms, err.msg);
    s3_client_free(c);
}

/* ---- the segment store ------------------------------------------------------------- */

static struct segstore_s3_base *base_at(int port, uint64_t cache_bytes, struct lerr *err)
{
    struct segstore_s3_opts o = {.url = "s3://seg-test/lake/",
                                 .endpoint = endpoint(port),
                                 .cache_bytes = cache_bytes,
                                 .max_attempts = 2,
                                 .backoff_ms = 10};
    struct segstore_s3_base *b = NULL;
    segstore_s3_base_new(&o, &b, err);
    return b;
}

static int put_seg(struct segstore *s, const char *name, size_t n, char fill)
{
    struct segstore_temp t;
    struct lerr err;
    lerr_init(&err);
    if (segstore_temp_create(s, name, &t, &err))
        return err.code;
    char *p = malloc(n);
    memset(p, fill, n);
    ssize_t w = write(t.fd, p, n);
    free(p);
    if (w != (ssize_t)n) {
        segstore_temp_abort(s, &t);
        return LERR_IO;
    }
    int rc = segstore_put(s, &t, &err);
    if (rc)
        fprintf(stderr, "put %s: %s\n", name, err.msg);
    return rc;
}

static bool exists(const char *dir, const char *name)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static size_t count_temps(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strncmp(de->d_name, SEGSTORE_TMP_PREFIX, strlen(SEGSTORE_TMP_PREFIX)) == 0;
    if (d)
        closedir(d);
    return n;
}

static int add_name(void *ctx, const char *name)
{
    char *out = ctx;
    snprintf(out + strlen(out), 1024 - strlen(out), "%s%s", out[0] ? "," : "", name);
    return 0;
}

static void test_segstore(void)
{
    struct lerr err;
    lerr_init(&err);
    struct segstore_s3_opts bad = {
        .url = "s3://no-such-bucket/x", .endpoint = endpoint(s3port), .max_attempts = 1};
    struct segstore_s3_base *b = NULL;
    CHECK_EQ_INT(segstore_s3_base_new(&bad, &b, &err), LERR_IO);
    CHECK_MSG(strstr(err.msg, "NoSuchBucket") != NULL, "%s", err.msg);
    lerr_init(&err);
    bad.url = "s3://A_B/x";
    CHECK_EQ_INT(segstore_s3_base_new(&bad, &b, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "'A' at character 6") != NULL, "%s", err.msg);

    /* the store through the verifying proxy: every request's signature is checked */
    lerr_init(&err);
    b = base_at(proxyport, 10000, &err);
    CHECK_MSG(b != NULL, "base: %s", err.msg);
    if (!b)
        return;
    struct segstore *s = NULL;
    CHECK_EQ_INT(segstore_s3_new(b, "tbl1", cachedir, &s, &err), 0);
    CHECK_EQ_INT(put_seg(s, "seg-a", 3000, 'a'), 0);
    CHECK_EQ_INT(put_seg(s, "seg-b", 3000, 'b'), 0);
    CHECK_EQ_INT(count_temps(cachedir), 0);
    char names[1024] = "";
    lerr_init(&err);
    CHECK_EQ_INT(segstore_list(s, add_name, names, &err), 0);
    CHECK_MSG(strcmp(names, "seg-a,seg-b") == 0 || strcmp(names, "seg-b,seg-a") == 0, "listed %s",
              names);
    char obj[1100];
    snprintf(obj, sizeof obj, "%s/%s/lake/tbl1/seg-a._S3rver_object", s3dir, BUCKET);
    CHECK_MSG(access(obj, F_OK) == 0, "the object is in the store: %s", obj);

    /* open from the cache, then again after the cached copy is gone (downloaded) */
    struct segstore_map m;
    CHECK_EQ_INT(segstore_open(s, "seg-a", &m, &err), 0);
    CHECK(m.n == 3000 && ((const char *)m.p)[2999] == 'a');
    segstore_close(s, &m);
    char cpath[1100];
    snprintf(cpath, sizeof cpath, "%s/seg-a", cachedir);
    unlink(cpath);
    lerr_init(&err);
    CHECK_MSG(segstore_open(s, "seg-a", &m, &err) == 0, "download: %s", err.msg);
    CHECK(m.n == 3000 && ((const char *)m.p)[0] == 'a');
    segstore_close(s, &m);
    CHECK(exists(cachedir, "seg-a"));

    /* a damaged object: the checksum says so, and no copy stays */
    unlink(cpath);
    char *junk = malloc(3000);
    memset(junk, 'z', 3000);
    write_file(obj, junk, 3000);
    free(junk);
    lerr_init(&err);
    CHECK_EQ_INT(segstore_open(s, "seg-a", &m, &err), LERR_CORRUPT);
    CHECK_MSG(strstr(err.msg, "s3://seg-test/lake/tbl1/seg-a is damaged in the store") &&
                  strstr(err.msg, "checksum mismatch") && strstr(err.msg, "restore the object"),
              "%s", err.msg);
    CHECK(!exists(cachedir, "seg-a"));
    CHECK_EQ_INT(count_temps(cachedir), 0);

    /* a missing object */
    lerr_init(&err);
    CHECK_EQ_INT(segstore_open(s, "nope", &m, &err), LERR_NOT_FOUND);

    /* remove: the object and the copy */
    lerr_init(&err);
    CHECK_EQ_INT(segstore_remove(s, "seg-b", &err), 0);
    CHECK(!exists(cachedir, "seg-b"));
    names[0] = '\0';
    CHECK_EQ_INT(segstore_list(s, add_name, names, &err), 0);
    CHECK_EQ_STR(names, "seg-a");
    CHECK_EQ_INT(segstore_remove(s, "seg-a", &err), 0);

    /* the LRU bound (10000 bytes): an open copy stays, the oldest closed ones go */
    CHECK_EQ_INT(put_seg(s, "l1", 4000, '1'), 0);
    struct segstore_map m1;
    CHECK_EQ_INT(segstore_open(s, "l1", &m1, &err), 0); /* held open throughout */
    CHECK_EQ_INT(put_seg(s, "l2", 4000, '2'), 0);
    CHECK_EQ_INT(put_seg(s, "l3", 4000, '3'), 0); /* 12000 > 10000: l2 (closed, oldest) goes */
    CHECK(exists(cachedir, "l1"));
    CHECK(!exists(cachedir, "l2"));
    CHECK(exists(cachedir, "l3"));
    CHECK_EQ_INT(put_seg(s, "l4", 4000, '4'), 0); /* l3 goes; l1 is open */
    CHECK(exists(cachedir, "l1"));
    CHECK(!exists(cachedir, "l3"));
    CHECK(exists(cachedir, "l4"));
    CHECK(segstore_s3_cache_bytes(b) <= 10000);
    lerr_init(&err);
    CHECK_MSG(segstore_open(s, "l2", &m, &err) == 0, "evicted copy downloads: %s", err.msg);
    CHECK(m.n == 4000 && ((const char *)m.p)[100] == '2');
    /* l1 and l2 open (8000), l4 closed: 12000 > 10000, l4 goes */
    CHECK(!exists(cachedir, "l4"));
    segstore_close(s, &m);
    segstore_close(s, &m1);
    CHECK(segstore_s3_cache_bytes(b) <= 10000);

    /* a second store of another table shares nothing but the cache's bound */
    struct segstore *s2 = NULL;
    CHECK_EQ_INT(segstore_s3_new(b, "tbl2", cachedir, &s2, &err), 0);
    names[0] = '\0';
    CHECK_EQ_INT(segstore_list(s2, add_name, names, &err), 0);
    CHECK_EQ_STR(names, "");
    segstore_unref(s2);
    segstore_unref(s);
    segstore_s3_base_unref(b);
}

/* ---- the batch source's selection (source/s3_objects.c) ------------------------- */

static void test_glob(void)
{
    static const struct {
        const char *pattern, *key;
        bool match;
    } cases[] = {
        {"*.json", "a.json", true},
        {"*.json", "2024/a.json", false}, /* '*' stays inside a folder */
        {"**.json", "2024/01/a.json", true},
        {"**/*.json", "2024/a.json", true},
        {"2024/*.json", "2024/a.json", true},
        {"2024/*.json", "2024/a.json.gz", false},
        {"*.json*", "a.json.gz", true},
        {"?.csv", "a.csv", true},
        {"?.csv", "ab.csv", false},
        {"?", "/", false},
        {"[ab].csv", "b.csv", true},
        {"[ab].csv", "c.csv", false},
        {"[!ab].csv", "c.csv", true},
        {"[a-c]x", "bx", true},
        {"[a-c]x", "dx", false},
        {"a\\*", "a*", true},
        {"a\\*", "ab", false},
        {"[a", "[a", true}, /* an unclosed '[' is itself */
        {"", "", true},
        {"", "a", false},
        {"**", "any/thing/at/all", true},
        {"events/**", "events/", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(source_s3_glob(cases[i].pattern, cases[i].key) == cases[i].match,
                  "glob '%s' over '%s': want %d", cases[i].pattern, cases[i].key, cases[i].match);
    char b[64];
    const char *key;
    CHECK(source_s3_uri_split("s3://bkt/a/b.json", b, sizeof b, &key));
    CHECK_EQ_STR(b, "bkt");
    CHECK_EQ_STR(key, "a/b.json");
    CHECK(source_s3_uri_split("s3://bkt", b, sizeof b, &key) && !*key);
    CHECK(!source_s3_uri_split("s3:///k", b, sizeof b, &key));
    CHECK(!source_s3_uri_split("http://bkt/k", b, sizeof b, &key));
    CHECK(s3_bucket_name_ok("my-bucket.1"));
    CHECK(!s3_bucket_name_ok("ab"));
    CHECK(!s3_bucket_name_ok("My_Bucket"));
    CHECK(!s3_bucket_name_ok("-abc"));
    CHECK(!s3_bucket_name_ok("abc."));
}

/* The URIs a selection lists to (joined by ' '), or the error's message. */
static const char *uris_of(struct s3_client *c, const struct source_s3_config *cfg,
                           const struct source_s3_select *sel, int *code)
{
    static char out[4096];
    char **v = NULL;
    size_t n = 0;
    struct lerr err;
    lerr_init(&err);
    *code = source_s3_uris(c, cfg, sel, &v, &n, &err);
    if (*code) {
        snprintf(out, sizeof out, "%s", err.msg);
        return out;
    }
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%s", i ? " " : "", v[i]);
    source_s3_uris_free(v, n);
    return out;
}

static void test_selection(void)
{
    struct s3_client *c = client(s3port, "S3RVER", "S3RVER", 3);
    struct lerr err;
    lerr_init(&err);
    char path[600];
    snprintf(path, sizeof path, "%s/obj", root);
    write_file(path, "{}\n", 3);
    static const char *const keys[] = {"lake/2024/a.json", "lake/2024/b.json.gz",
                                       "lake/2025/c.json", "lake/2025/",
                                       "lake/x.csv",       "other/y.json"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECK_EQ_INT(s3_put_file(c, BUCKET, keys[i], path, NULL, &err), 0);
    struct source_s3_config cfg = {.bucket = BUCKET, .prefix = "lake/"};
    int code;
    static const char *const objects[] = {"2024/a.json", "x.csv"};
    struct source_s3_select sel = {.objects = objects, .nobjects = 2};
    CHECK_EQ_STR(uris_of(c, &cfg, &sel, &code),
                 "s3://seg-test/lake/2024/a.json s3://seg-test/lake/x.csv");
    static const char *const prefixes[] = {"2025/", "2024/b"};
    sel = (struct source_s3_select){.prefixes = prefixes, .nprefixes = 2};
    CHECK_EQ_STR(uris_of(c, &cfg, &sel, &code), /* the folder marker lake/2025/ left out */
                 "s3://seg-test/lake/2025/c.json s3://seg-test/lake/2024/b.json.gz");
    sel = (struct source_s3_select){.pattern = "**.json"};
    CHECK_EQ_STR(uris_of(c, &cfg, &sel, &code),
                 "s3://seg-test/lake/2024/a.json s3://seg-test/lake/2025/c.json");
    sel = (struct source_s3_select){.pattern = "*.csv"}; /* relative to the prefix */
    CHECK_EQ_STR(uris_of(c, &cfg, &sel, &code), "s3://seg-test/lake/x.csv");
    /* without a connection: s3:// URIs and prefixes */
    struct source_s3_config none = {0};
    static const char *const uris[] = {"s3://seg-test/other/y.json"};
    static const char *const abs[] = {"s3://seg-test/lake/2024/"};
    sel = (struct source_s3_select){.uris = uris, .nuris = 1, .prefixes = abs, .nprefixes = 1};
    CHECK_EQ_STR(uris_of(c, &none, &sel, &code),
                 "s3://seg-test/other/y.json s3://seg-test/lake/2024/a.json "
                 "s3://seg-test/lake/2024/b.json.gz");
    /* errors */
    static const char *const missing[] = {"2024/nope.json"};
    sel = (struct source_s3_select){.objects = missing, .nobjects = 1};
    const char *m = uris_of(c, &cfg, &sel, &code);
    CHECK_EQ_INT(code, LERR_NOT_FOUND);
    CHECK_MSG(strstr(m, "'s3://seg-test/lake/2024/nope.json' does not exist") != NULL, "%s", m);
    static const char *const empty[] = {"1999/"};
    sel = (struct source_s3_select){.prefixes = empty, .nprefixes = 1};
    m = uris_of(c, &cfg, &sel, &code);
    CHECK_EQ_INT(code, LERR_NOT_FOUND);
    CHECK_MSG(strstr(m, "source.prefixes[0]: no object under s3://seg-test/lake/1999/") != NULL,
              "%s", m);
    sel = (struct source_s3_select){.pattern = "*.parquet"};
    m = uris_of(c, &cfg, &sel, &code);
    CHECK_MSG(code == LERR_NOT_FOUND && strstr(m, "matches the pattern '*.parquet'"), "%s", m);
    sel = (struct source_s3_select){.objects = objects, .nobjects = 1};
    m = uris_of(c, &none, &sel, &code);
    CHECK_MSG(code == LERR_INVALID && strstr(m, "needs a connection"), "%s", m);
    static const char *const bad_uri[] = {"s3://seg-test/"};
    sel = (struct source_s3_select){.uris = bad_uri, .nuris = 1};
    m = uris_of(c, &none, &sel, &code);
    CHECK_MSG(code == LERR_INVALID && strstr(m, "is not s3://BUCKET/KEY"), "%s", m);
    /* a missing bucket, through a connection's client: the advice names the connection */
    struct source_s3_config conn = {.bucket = "no-such-bucket",
                                    .prefix = "",
                                    .endpoint = endpoint(s3port),
                                    .access_key_id = "S3RVER",
                                    .secret_access_key = "S3RVER",
                                    .owner = "connection 'lake'"};
    struct s3_client *cc = NULL;
    CHECK_EQ_INT(source_s3_client(&conn, &cc, &err), 0);
    sel = (struct source_s3_select){.objects = objects, .nobjects = 1};
    m = uris_of(cc, &conn, &sel, &code);
    CHECK_MSG(code == LERR_IO && strstr(m, "NoSuchBucket") &&
                  strstr(m, "fix the bucket or the endpoint of connection 'lake'"),
              "%s", m);
    s3_client_free(cc);
    /* refused keys: the advice is the connection's secrets */
    conn.bucket = BUCKET;
    conn.access_key_id = "NOT-A-KEY";
    CHECK_EQ_INT(source_s3_client(&conn, &cc, &err), 0);
    m = uris_of(cc, &conn, &sel, &code);
    CHECK_MSG(code == LERR_IO && strstr(m, "InvalidAccessKeyId") &&
                  strstr(m, "check the secrets") && strstr(m, "connection 'lake'"),
              "%s", m);
    s3_client_free(cc);
    /* no keys at all, from the connection or the environment */
    const char *saved = getenv("AWS_ACCESS_KEY_ID");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", saved ? saved : "");
    unsetenv("AWS_ACCESS_KEY_ID");
    conn.access_key_id = conn.secret_access_key = NULL;
    lerr_init(&err);
    CHECK_EQ_INT(source_s3_client(&conn, &cc, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "connection 'lake': no AWS credentials") != NULL, "%s", err.msg);
    setenv("AWS_ACCESS_KEY_ID", keep, 1);
    s3_client_free(c);
}

int main(void)
{
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(s3dir, sizeof s3dir, "%s/s3", root);
    snprintf(cachedir, sizeof cachedir, "%s/cache", root);
    mkdir(s3dir, 0755);
    mkdir(cachedir, 0755);
    /* the segment store reads its credentials from the environment */
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_ENDPOINT_URL");
    if (access("tests/e2e/s3/node_modules/s3rver", F_OK) != 0) {
        fprintf(stderr, "FAIL: tests/e2e/s3/node_modules/s3rver is missing: run `make deps` "
                        "(npm ci in tests/e2e/s3)\n");
        return 1;
    }
    char *s3argv[] = {
        "node", "--openssl-legacy-provider", "tests/e2e/s3/s3rver.js", s3dir, (char *)BUCKET,
        NULL};
    s3port = spawn_ready(s3argv, &s3pid);
    char up[16];
    snprintf(up, sizeof up, "%d", s3port);
    char *pargv[] = {"python3", "tests/e2e/s3/sigv4_proxy.py", up, "S3RVER", NULL};
    proxyport = s3port > 0 ? spawn_ready(pargv, &proxypid) : -1;
    CHECK_MSG(s3port > 0 && proxyport > 0, "s3rver (%d) and the proxy (%d) start", s3port,
              proxyport);
    test_parse();
    test_glob();
    if (s3port > 0 && proxyport > 0) {
        test_selection();
        test_config();
        struct s3_client *direct = client(s3port, "S3RVER", "S3RVER", 3);
        struct s3_client *signed_ = client(proxyport, "S3RVER", "S3RVER", 3);
        test_objects(direct, "direct");
        test_objects(signed_, "signature checked");
        test_list(direct, signed_);
        test_multipart(signed_);
        test_errors();
        test_segstore();
        s3_client_free(direct);
        s3_client_free(signed_);
    }
    stop(&proxypid);
    stop(&s3pid);
    struct lerr err;
    lerr_init(&err);
    util_remove_tree(root, &err);
    return check_summary();
}
