/*
 * fanout.c — a query over every node of a shared catalog (catalog_is_shared:
 * PostgreSQL). Each node holds the realtime rows of the stream partitions it
 * leases; committed segments are in the catalog, their files in the shared
 * segment store (S3). The node that takes a query builds one snapshot of the
 * whole table (api__fanout_snapshot) that reads every row exactly once:
 *
 *  1. a consistent cut of the catalog's segments: the list and the number of
 *     the last commit c0 (catalog_segment_cut);
 *  2. from every live node, itself included, one cut of its table taken at
 *     one moment under the table's writer lock (storage_table_cut): the names
 *     of the segments it shows, its realtime rows (from other nodes as
 *     segment images, GET /internal/v1/cut/{table}), and the leases it read
 *     them under (ingest_table_leases);
 *  3. the segments: those of the cut in 1, plus each segment a node's own
 *     streaming commit added after c0 (seq > c0, writer = that node) that
 *     the node's cut shows — its rows were realtime in no cut, since the node
 *     had committed them; one committed after its cut is left out, as its
 *     rows were in the node's realtime image;
 *  4. the leases checked in the catalog after the answers: a node's
 *     realtime rows count only if every lease it reported is still its own
 *     at the same epoch (else another node may have read the same offsets
 *     again), and every held lease of the table must be of a node that
 *     answered (else its realtime rows are missing). Either failure is
 *     retried every FANOUT_RETRY_MS until the query's timeout, then answered
 *     503 naming the node and partitions: a query never leaves rows out
 *     silently. A segment that no longer reads (removed by a compaction
 *     committed after c0) is retried the same way; one that never reads (a
 *     store that is not shared) is left to the engine's missing-segment
 *     error, which names its interval.
 *
 * Requests between nodes are signed: "X-Lodestar-Node: <node> <unix ms>
 * <hex HMAC-SHA256(secret, node \n ms \n path)>", checked within
 * FANOUT_SKEW_MS, with the cluster secret (LODESTAR_CLUSTER_SECRET).
 *
 * That whole snapshot serves EXPLAIN and allowPartialResults. A block the
 * nodes can split asks every node for its part instead (partial plans:
 * POST /internal/v1/part/{table}), and every other block over a table for
 * the rows it may need of each node's share (scans pushed down: POST
 * /internal/v1/scan/{table}, answered with segment images); both assign the
 * catalog's segments to the live nodes by rendezvous hashing and check the
 * leases as in 4.
 *
 * Entry points: api__fanout_serve (the node's side, before routing),
 * api__fanout_snapshot (the query's side, query.c's open_table),
 * api__fanout_schema, api__fanout_partials and api__fanout_scan
 * (query_env's open_schema, partials and open_scan).
 * The nodes are asked at once (one libcurl multi handle per try).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/query_request.h"
#include "catalog/tabledesc.h"
#include "ingest/ingest.h"
#include "storage/db.h"
#include "util/s3.h"

#define FANOUT_HEADER "X-Lodestar-Node"
#define FANOUT_PREFIX "/internal/v1/cut/"
#define PART_PREFIX "/internal/v1/part/"
#define SCAN_PREFIX "/internal/v1/scan/"
#define FANOUT_SKEW_MS 300000
#define FANOUT_RETRY_MS 250
#define FANOUT_DEFAULT_TIMEOUT_MS 60000
#define FANOUT_SLOT_WAIT_MS 200

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The signature of a request: node, time and path, and a POST's body after them. */
static void sign(const char *secret, const char *node, long long ms, const char *path,
                 const void *body, size_t blen, char out[65])
{
    struct buf m;
    buf_init(&m, 0);
    buf_printf(&m, "%s\n%lld\n%s", node, ms, path);
    if (body) {
        buf_puts(&m, "\n");
        buf_append(&m, body, blen);
    }
    /* out of memory: a signature no node accepts */
    api__hmac_hex(secret, m.failed || !m.data ? "" : m.data, m.failed ? 0 : m.len, out);
    buf_free(&m);
}

static int serve_part(struct api_req *r, const char *table, bool scan);

/* ---- the node's side ------------------------------------------------------ */

struct images {
    struct buf data;
    json_t *lens;
};

static int add_image(void *ctx, const void *p, size_t n, struct lerr *err)
{
    struct images *im = ctx;
    if (!buf_append(&im->data, p, n))
        return lerr_set(err, LERR_NOMEM, "out of memory sending a realtime image");
    json_array_append_new(im->lens, json_integer((json_int_t)n));
    return 0;
}

/* A directory of its own under the data directory for images being written. */
static int make_tmp(struct api_server *srv, char tmp[1100], struct lerr *err)
{
    snprintf(tmp, 1100, "%s/fanout-XXXXXX", srv->data_dir);
    if (mkdtemp(tmp))
        return 0;
    tmp[0] = '\0';
    return lerr_set(err, LERR_IO, "cannot make a directory under %s: %s", srv->data_dir,
                    strerror(errno));
}

static json_t *leases_json(const struct ingest_lease_info *l, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:b, s:I, s:I}", "stream", l[i].stream,
                                           "part", l[i].part, "epoch", (json_int_t)l[i].epoch,
                                           "behind", l[i].behind, "at", (json_int_t)l[i].at,
                                           "target", (json_int_t)l[i].target));
    return a;
}

/* Checks the signature header; 0 or LERR_UNAUTHORIZED with why. */
static int check_signature(struct api_server *srv, const char *url, const char *hdr,
                           const void *body, size_t blen, struct lerr *err)
{
    char node[129], mac[65];
    long long ms;
    if (!hdr || sscanf(hdr, "%128s %lld %64s", node, &ms, mac) != 3)
        return lerr_set(err, LERR_UNAUTHORIZED,
                        "a request between nodes needs the " FANOUT_HEADER " header");
    long long now = (long long)util_now_ms();
    if (ms < now - FANOUT_SKEW_MS || ms > now + FANOUT_SKEW_MS)
        return lerr_set(err, LERR_UNAUTHORIZED,
                        "the request of node '%s' is signed %lld ms away from this node's clock "
                        "(at most %d): synchronise the nodes' clocks",
                        node, now - ms, FANOUT_SKEW_MS);
    char want[65];
    sign(api__cluster_secret(srv), node, ms, url, body, blen, want);
    if (strlen(mac) != 64 || CRYPTO_memcmp(want, mac, 64) != 0)
        return lerr_set(err, LERR_UNAUTHORIZED,
                        "the request of node '%s' is not signed with this cluster's secret: give "
                        "every node the same LODESTAR_CLUSTER_SECRET",
                        node);
    return 0;
}

/* Answers 200 with one line of JSON (head, taken) and then the bytes; a
 * failure of head's making or of memory answers 500. */
static int reply_head_bytes(struct api_req *r, json_t *head, const struct buf *bytes)
{
    char *line = head && !bytes->failed ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    size_t ll = line ? strlen(line) : 0;
    char *body = line ? malloc(ll + 1 + bytes->len) : NULL;
    if (!body) {
        free(line);
        struct lerr err;
        lerr_init(&err);
        lerr_set(&err, LERR_NOMEM, "out of memory answering another node");
        return api_reply_err(r, &err);
    }
    memcpy(body, line, ll);
    body[ll] = '\n';
    if (bytes->len)
        memcpy(body + ll + 1, bytes->data, bytes->len);
    free(line);
    r->text = body;
    r->text_len = ll + 1 + bytes->len;
    r->content_type = "application/octet-stream";
    r->status = 200;
    return 0;
}

/*
 * GET /internal/v1/cut/{table}: this node's cut of the table. The body is
 * one line of JSON ({"node", "segments": [names], "leased", "leases":
 * [{"stream", "part", "epoch"}], "images": [byte counts]}) and then the
 * images, one after another.
 */
static int serve_cut(struct api_req *r, const char *table)
{
    struct api_server *srv = r->srv;
    struct lerr err;
    lerr_init(&err);
    struct images im = {.lens = json_array()};
    buf_init(&im.data, 0);
    json_t *segs = json_array();
    struct ingest_lease_info *leases = NULL;
    size_t nleases = 0;
    bool leased = false, unleased = false;
    char tmp[1100] = "";
    struct storage_db_table *t = storage_db_get_open(srv->db, table);
    if (t) {
        make_tmp(srv, tmp, &err);
        storage_db_table_lock(t);
        struct storage_cut *cut = err.code ? NULL : storage_table_cut(t->st);
        if (!err.code && !cut)
            lerr_set(&err, LERR_NOMEM, "out of memory");
        if (!err.code &&
            ingest_table_leases(srv->rt, table, &leases, &nleases, &leased, &unleased))
            lerr_set(&err, LERR_NOMEM, "out of memory");
        if (!err.code)
            storage_cut_realtime_images(cut, tmp, add_image, &im, &err);
        storage_db_table_unlock(t);
        for (size_t i = 0; cut && !err.code && i < storage_cut_nsegs(cut); i++)
            json_array_append_new(segs, json_string(storage_cut_seg_name(cut, i)));
        storage_cut_free(cut);
        storage_db_put(srv->db, t);
        if (tmp[0])
            rmdir(tmp);
    } else if (ingest_table_leases(srv->rt, table, &leases, &nleases, &leased, &unleased)) {
        lerr_set(&err, LERR_NOMEM, "out of memory");
    }
    if (err.code) {
        free(leases);
        json_decref(segs);
        json_decref(im.lens);
        buf_free(&im.data);
        return api_reply_err(r, &err);
    }
    json_t *head = json_pack("{s:s, s:o, s:b, s:b, s:o, s:o}", "node", api__cluster_node_id(srv),
                             "segments", segs, "leased", leased, "unleased", unleased, "leases",
                             leases_json(leases, nleases), "images", im.lens);
    free(leases);
    int rc = reply_head_bytes(r, head, &im.data);
    buf_free(&im.data);
    return rc;
}

bool api__fanout_serve(struct api_req *r, const char *node_header)
{
    if (strncmp(r->url, "/internal/", 10) != 0)
        return false;
    struct lerr err;
    lerr_init(&err);
    bool cut = strncmp(r->url, FANOUT_PREFIX, strlen(FANOUT_PREFIX)) == 0,
         scan = strncmp(r->url, SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0,
         part = scan || strncmp(r->url, PART_PREFIX, strlen(PART_PREFIX)) == 0;
    const char *table = cut    ? r->url + strlen(FANOUT_PREFIX)
                        : part ? r->url + strlen(scan ? SCAN_PREFIX : PART_PREFIX)
                               : "";
    const char *method = part ? "POST" : "GET";
    if (!*table || strchr(table, '/'))
        lerr_set(&err, LERR_NOT_FOUND, "no such path: %s", r->url);
    else if (strcmp(r->method, method) != 0)
        lerr_set(&err, LERR_METHOD, "%s is not allowed on %s; use %s", r->method, r->url, method);
    else if (!r->srv->cluster)
        lerr_set(&err, LERR_UNAVAILABLE, "this server has not joined its catalog's nodes yet");
    else
        check_signature(r->srv, r->url, node_header, part ? (r->body ? r->body : "") : NULL,
                        part ? r->body_len : 0, &err);
    if (err.code)
        api_reply_err(r, &err);
    else if (cut)
        serve_cut(r, table);
    else
        serve_part(r, table, scan);
    return true;
}

/* ---- the query's side ----------------------------------------------------- */

/* One node's answer. */
struct answer {
    const struct catalog_node *node;
    bool ok;
    bool cut_short; /* asked with less than a full wait left, and it did not answer in time */
    bool unleased;  /* a runner of the table reads a source not spread over nodes */
    char why[300];  /* why it did not answer */
    char msg[512];  /* the message of its error answer, whole */
    char **segs;    /* the names its cut shows */
    size_t nsegs;
    struct ingest_lease_info *leases;
    size_t nleases;
    void **images;
    size_t *lens;
    size_t nimages;
    /* partial plans and scans: the path asked with a POST (PART_PREFIX,
     * SCAN_PREFIX; NULL: a cut's GET), its body, its answer's status, its
     * part (or the images of a scan), and a segment it could not read ("" when none) */
    const char *post;
    char *req_body;
    size_t req_len;
    long status;
    struct buf part;
    char missing[96];      /* its name */
    char missing_why[400]; /* why it did not read */
    int missing_code;      /* storage_missing.code: LERR_UNAVAILABLE, the store did not
                            * answer; LERR_CORRUPT, the object is damaged; else perhaps
                            * removed by a compaction since the cut */
};

static void answer_free(struct answer *a)
{
    for (size_t i = 0; i < a->nsegs; i++)
        free(a->segs[i]);
    free(a->segs);
    free(a->leases);
    for (size_t i = 0; i < a->nimages; i++)
        free(a->images ? a->images[i] : NULL);
    free(a->images);
    free(a->lens);
    free(a->req_body);
    buf_free(&a->part);
    memset(a, 0, sizeof *a);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    return buf_append(ctx, p, size * n) ? size * n : 0;
}

/* The leases of a node's answer into a->leases (allocated); false when they do not read. */
static bool parse_leases(struct answer *a, const json_t *leases)
{
    bool ok = true;
    for (size_t i = 0; ok && i < json_array_size(leases); i++) {
        json_t *l = json_array_get(leases, i);
        struct ingest_lease_info *x = &a->leases[a->nleases++];
        const char *st = json_string_value(json_object_get(l, "stream")),
                   *pt = json_string_value(json_object_get(l, "part"));
        ok = st && pt && json_is_integer(json_object_get(l, "epoch"));
        if (ok) {
            snprintf(x->stream, sizeof x->stream, "%s", st);
            snprintf(x->part, sizeof x->part, "%s", pt);
            x->epoch = json_integer_value(json_object_get(l, "epoch"));
            x->behind = json_is_true(json_object_get(l, "behind"));
            x->at = json_integer_value(json_object_get(l, "at"));
            x->target = json_integer_value(json_object_get(l, "target"));
        }
    }
    return ok;
}

/* The images after a node's part: their byte counts in `lens`, their bytes
 * from p on (n bytes); false when they do not add up. */
static bool take_images(struct answer *a, const json_t *lens, const char *p, size_t n)
{
    size_t k = json_array_size(lens), off = 0;
    if (!k)
        return n == 0;
    if (!(a->images = calloc(k, sizeof *a->images)) || !(a->lens = calloc(k, sizeof *a->lens)))
        return false;
    for (size_t i = 0; i < k; i++) {
        json_int_t len = json_integer_value(json_array_get(lens, i));
        if (len <= 0 || (size_t)len > n - off || !(a->images[i] = malloc((size_t)len)))
            return false;
        memcpy(a->images[i], p + off, (size_t)len);
        a->lens[i] = (size_t)len;
        a->nimages = i + 1;
        off += (size_t)len;
    }
    return off == n;
}

/* Parses a node's part or scan (serve_part's body) into a; false with a->why. */
static bool parse_part_answer(struct answer *a, const char *p, size_t n)
{
    const char *nl = memchr(p, '\n', n);
    json_error_t je;
    json_t *h = nl ? json_loadb(p, (size_t)(nl - p), 0, &je) : NULL;
    json_t *leases = json_object_get(h, "leases"), *len = json_object_get(h, "part"),
           *images = json_object_get(h, "images");
    const char *missing = json_string_value(json_object_get(h, "missing"));
    size_t off = nl ? (size_t)(nl - p) + 1 : 0;
    bool ok = json_is_array(leases) && json_is_integer(len) && json_integer_value(len) >= 0 &&
              (size_t)json_integer_value(len) <= n - off && json_is_array(images);
    a->unleased = json_is_true(json_object_get(h, "unleased"));
    if (ok)
        ok = (a->leases = calloc(json_array_size(leases) + 1, sizeof *a->leases)) &&
             parse_leases(a, leases);
    if (ok && missing)
        snprintf(a->missing, sizeof a->missing, "%s", missing);
    const char *why = json_string_value(json_object_get(h, "missingWhy"));
    if (ok && missing)
        snprintf(a->missing_why, sizeof a->missing_why, "%s", why ? why : "");
    a->missing_code = (int)json_integer_value(json_object_get(h, "missingCode"));
    size_t plen = ok ? (size_t)json_integer_value(len) : 0;
    if (ok && plen)
        ok = buf_append(&a->part, p + off, plen);
    if (ok)
        ok = take_images(a, images, p + off + plen, n - off - plen);
    json_decref(h);
    if (!ok)
        snprintf(a->why, sizeof a->why, "its part does not read (a node of another version?)");
    return ok;
}

/* Parses a node's body into a; false with a->why. */
static bool parse_answer(struct answer *a, const char *p, size_t n)
{
    const char *nl = memchr(p, '\n', n);
    json_error_t je;
    json_t *h = nl ? json_loadb(p, (size_t)(nl - p), 0, &je) : NULL;
    json_t *segs = json_object_get(h, "segments"), *leases = json_object_get(h, "leases"),
           *images = json_object_get(h, "images");
    if (!json_is_array(segs) || !json_is_array(leases) || !json_is_array(images)) {
        json_decref(h);
        snprintf(a->why, sizeof a->why, "its answer does not read (a node of another version?)");
        return false;
    }
    size_t off = (size_t)(nl - p) + 1;
    bool ok = true;
    a->unleased = json_is_true(json_object_get(h, "unleased"));
    a->segs = calloc(json_array_size(segs) + 1, sizeof *a->segs);
    a->leases = calloc(json_array_size(leases) + 1, sizeof *a->leases);
    a->images = calloc(json_array_size(images) + 1, sizeof *a->images);
    a->lens = calloc(json_array_size(images) + 1, sizeof *a->lens);
    if (!a->segs || !a->leases || !a->images || !a->lens)
        ok = false;
    for (size_t i = 0; ok && i < json_array_size(segs); i++) {
        const char *s = json_string_value(json_array_get(segs, i));
        ok = s && (a->segs[a->nsegs++] = strdup(s));
    }
    ok = ok && parse_leases(a, leases);
    for (size_t i = 0; ok && i < json_array_size(images); i++) {
        json_int_t len = json_integer_value(json_array_get(images, i));
        ok = len > 0 && (size_t)len <= n - off && (a->images[i] = malloc((size_t)len));
        if (ok) {
            memcpy(a->images[i], p + off, (size_t)len);
            a->lens[i] = (size_t)len;
            a->nimages = i + 1;
            off += (size_t)len;
        }
    }
    json_decref(h);
    if (!ok)
        snprintf(a->why, sizeof a->why, "its answer is incomplete or does not read");
    return ok;
}

/* One request to a node: its handle and what it gathers. */
struct request {
    struct answer *a;
    CURL *h;
    struct curl_slist *hdrs;
    struct buf body;
    char errbuf[CURL_ERROR_SIZE];
};

/* Sets up the signed GET of a node's cut; false when out of memory. */
static bool request_init(struct api_server *srv, const char *table, int64_t timeout_ms,
                         struct request *q)
{
    buf_init(&q->body, 0);
    if (!(q->h = curl_easy_init()))
        return false;
    char *esc = curl_easy_escape(q->h, table, 0);
    char url[1400], hdr[400], mac[65], signed_path[1024];
    const char *prefix = q->a->post ? q->a->post : FANOUT_PREFIX;
    snprintf(url, sizeof url, "%s%s%s", q->a->node->advertise, prefix, esc ? esc : table);
    curl_free(esc);
    /* the node's side checks the decoded path */
    snprintf(signed_path, sizeof signed_path, "%s%s", prefix, table);
    long long ms = (long long)util_now_ms();
    const char *self = api__cluster_node_id(srv);
    sign(api__cluster_secret(srv), self, ms, signed_path, q->a->post ? q->a->req_body : NULL,
         q->a->req_len, mac);
    snprintf(hdr, sizeof hdr, FANOUT_HEADER ": %s %lld %s", self, ms, mac);
    if (!(q->hdrs = curl_slist_append(NULL, hdr)))
        return false;
    if (q->a->post) {
        struct curl_slist *more = curl_slist_append(q->hdrs, "Content-Type: application/json");
        if (!more)
            return false;
        q->hdrs = more;
        curl_easy_setopt(q->h, CURLOPT_POSTFIELDS, q->a->req_body);
        curl_easy_setopt(q->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->a->req_len);
    }
    curl_easy_setopt(q->h, CURLOPT_URL, url);
    curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, q->hdrs);
    curl_easy_setopt(q->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(q->h, CURLOPT_WRITEDATA, &q->body);
    curl_easy_setopt(q->h, CURLOPT_ERRORBUFFER, q->errbuf);
    curl_easy_setopt(q->h, CURLOPT_PRIVATE, q);
    /* at least a second: a node asked with a sliver of time left would be blamed for it */
    curl_easy_setopt(q->h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 1000 ? timeout_ms : 1000));
    curl_easy_setopt(q->h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(q->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(q->h, CURLOPT_PROTOCOLS_STR, "http,https");
    q->a->cut_short = timeout_ms < 1000; /* kept only if it times out */
    return true;
}

static void request_done(struct request *q, CURLcode rc)
{
    struct answer *a = q->a;
    long status = 0;
    curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &status);
    a->cut_short = a->cut_short && rc == CURLE_OPERATION_TIMEDOUT;
    a->status = rc == CURLE_OK ? status : 0;
    if (rc != CURLE_OK) {
        snprintf(a->why, sizeof a->why, "%s", q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc));
    } else if (status != 200) {
        /* the error's own message, when it is one of ours */
        json_error_t je;
        json_t *e = json_loadb(q->body.data ? q->body.data : "", q->body.len, 0, &je);
        const char *msg = json_string_value(json_object_get(e, "message"));
        snprintf(a->msg, sizeof a->msg, "%s", msg ? msg : "");
        snprintf(a->why, sizeof a->why, "it answered HTTP %ld: %.200s", status,
                 msg            ? msg
                 : q->body.data ? q->body.data
                                : "");
        json_decref(e);
    } else if (a->post) {
        a->ok = parse_part_answer(a, q->body.data ? q->body.data : "", q->body.len);
    } else {
        a->ok = parse_answer(a, q->body.data ? q->body.data : "", q->body.len);
    }
}

/* Asks the nodes of `asked` for their cuts of `table` at once, waiting at most timeout_ms. */
static void ask_all(struct api_server *srv, const char *table, int64_t timeout_ms,
                    struct answer **asked, size_t n)
{
    if (!n)
        return;
    pthread_once(&curl_once, curl_init);
    CURLM *m = curl_multi_init();
    struct request *qs = calloc(n, sizeof *qs);
    for (size_t i = 0; i < n; i++) {
        if (qs)
            qs[i].a = asked[i];
        if (!m || !qs || !request_init(srv, table, timeout_ms, &qs[i]) ||
            curl_multi_add_handle(m, qs[i].h) != CURLM_OK)
            snprintf(asked[i]->why, sizeof asked[i]->why, "out of memory asking it");
    }
    int running = m && qs ? 1 : 0;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int left;
    while (m && (msg = curl_multi_info_read(m, &left))) {
        struct request *q = NULL;
        if (msg->msg == CURLMSG_DONE &&
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q) == CURLE_OK && q)
            request_done(q, msg->data.result);
    }
    for (size_t i = 0; qs && i < n; i++) {
        if (qs[i].h) {
            if (m)
                curl_multi_remove_handle(m, qs[i].h);
            curl_easy_cleanup(qs[i].h);
        }
        curl_slist_free_all(qs[i].hdrs);
        buf_free(&qs[i].body);
    }
    free(qs);
    if (m)
        curl_multi_cleanup(m);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool has_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* Whether a running job writes into the table (a lease of a dead node will move). */
static bool table_has_running_job(struct api_server *srv, const char *table)
{
    struct lerr e;
    lerr_init(&e);
    struct catalog_job_list jobs;
    if (catalog_job_list_active(srv->qcat, &jobs, &e))
        return true; /* cannot tell: wait */
    bool any = false;
    for (size_t i = 0; i < jobs.n && !any; i++)
        any = strcmp(jobs.items[i].table_name, table) == 0 &&
              jobs.items[i].desired == CATALOG_JOB_RUNNING;
    catalog_job_list_free(&jobs);
    return any;
}

/*
 * The catalog's leases against the answers: 0 when every realtime row is
 * in exactly one answer; LERR_UNAVAILABLE (retried) with what is wrong.
 */
/* A lease as messages name it: a partition, or a stream one node reads whole. */
static const char *lease_what(const char *part, char out[300])
{
    if (strcmp(part, "stream") == 0)
        snprintf(out, 300, "the stream (read whole by one node)");
    else
        snprintf(out, 300, "partition %s", part);
    return out;
}

static int check_leases(struct api_server *srv, const char *table, const struct answer *ans,
                        size_t nans, struct lerr *err)
{
    struct catalog_lease *cl = NULL;
    size_t ncl = 0;
    if (catalog_lease_list(srv->qcat, table, NULL, &cl, &ncl, err))
        return err->code;
    int64_t now = util_now_ns();
    int rc = 0;
    char what[300];
    for (size_t i = 0; i < nans && !rc; i++) {
        const struct answer *a = &ans[i];
        if (!a->ok)
            continue;
        for (size_t k = 0; k < a->nleases && !rc; k++) {
            const struct ingest_lease_info *l = &a->leases[k];
            const struct catalog_lease *c = NULL;
            if (l->behind) {
                char where[80] = "its end is not known yet";
                if (l->target >= 0)
                    snprintf(where, sizeof where, "at offset %" PRId64 " of %" PRId64,
                             l->at < 0 ? 0 : l->at, l->target);
                rc = lerr_set(err, LERR_UNAVAILABLE,
                              "%s of table '%s' was taken over by node '%s' from a "
                              "node that stopped without committing all it had read; the rows "
                              "it had not committed are being read again (%s), and are "
                              "unavailable until then",
                              lease_what(l->part, what), table, a->node->id, where);
                break;
            }
            for (size_t j = 0; j < ncl && !c; j++)
                if (strcmp(cl[j].stream, l->stream) == 0 && strcmp(cl[j].part, l->part) == 0)
                    c = &cl[j];
            if (!c || strcmp(c->node_id, a->node->id) != 0 || c->epoch != l->epoch)
                rc = lerr_set(err, LERR_UNAVAILABLE,
                              "%s of table '%s' is moving from node '%s' (epoch %" PRId64
                              ") to %s%s%s; its realtime rows are unavailable until it settles",
                              lease_what(l->part, what), table, a->node->id, l->epoch,
                              c && c->node_id[0] ? "node '" : "another node",
                              c && c->node_id[0] ? c->node_id : "", c && c->node_id[0] ? "'" : "");
        }
    }
    int running = -1;
    for (size_t j = 0; j < ncl && !rc; j++) {
        const struct catalog_lease *c = &cl[j];
        if (!c->node_id[0] || (strncmp(c->stream, "job:", 4) == 0 && strcmp(c->part, "stream")))
            continue; /* free (released after its rows were committed), or a batch job's run */
        const struct answer *a = NULL;
        for (size_t i = 0; i < nans && !a; i++)
            if (strcmp(ans[i].node->id, c->node_id) == 0)
                a = &ans[i];
        if (a && a->ok) {
            bool reported = false;
            for (size_t k = 0; k < a->nleases && !reported; k++)
                reported = strcmp(a->leases[k].stream, c->stream) == 0 &&
                           strcmp(a->leases[k].part, c->part) == 0;
            if (reported)
                continue;
            /* taken since its cut: what it reads of it is not in the answer yet */
            rc = lerr_set(err, LERR_UNAVAILABLE,
                          "%s of table '%s' moved to node '%s' while the query "
                          "asked the nodes; its realtime rows are unavailable until it settles",
                          lease_what(c->part, what), table, c->node_id);
            break;
        }
        if (c->expires_ns <= now) {
            if (running < 0)
                running = table_has_running_job(srv, table);
            if (!running)
                continue; /* nobody reads that stream: its unsaved rows are gone, not late */
        }
        rc = lerr_set(err, LERR_UNAVAILABLE,
                      "%s of table '%s' is held by node '%s', which does not answer "
                      "(%s); its realtime rows are unavailable until another node takes it over "
                      "(within %lld s of its last heartbeat)",
                      lease_what(c->part, what), table, c->node_id, a ? a->why : "not a live node",
                      (long long)(CATALOG_LEASE_TTL_NS / 1000000000LL));
    }
    free(cl);
    return rc;
}

/*
 * A segment that did not read on a node, by storage_missing.code: the store
 * did not give it in time (503, not retried: the store is down), its object
 * is damaged (500, final: the bytes will not change), or else it may have been
 * removed by a compaction committed since the cut (*again: a newer cut).
 * Never an answer without its rows.
 */
static int unreadable(struct lerr *err, int code, const char *seg, const char *table,
                      const char *node, const char *why, bool *again)
{
    if (code == LERR_UNAVAILABLE)
        return lerr_set(err, LERR_UNAVAILABLE,
                        "the segment store does not answer: segment %s of table '%s' cannot be "
                        "read on node '%s', and the query fails rather than leave its rows out; "
                        "retry when the store is back (%.200s)",
                        seg, table, node, why);
    if (code == LERR_CORRUPT)
        return lerr_set(err, LERR_CORRUPT,
                        "segment %s of table '%s', read on node '%s': %.300s; the query fails "
                        "rather than answer without its rows (\"allowPartialResults\": true "
                        "answers without them)",
                        seg, table, node, why);
    *again = true;
    return lerr_set(err, LERR_UNAVAILABLE,
                    "segment %s of table '%s' cannot be read on node '%s': %s", seg, table, node,
                    why);
}

/* 400 when more than one node reads a source of the table whole (not spread over the nodes). */
static int check_unleased(const char *table, const struct answer *ans, size_t n, struct lerr *err)
{
    size_t nunleased = 0;
    for (size_t k = 0; k < n; k++)
        nunleased += ans[k].ok && ans[k].unleased;
    if (nunleased <= 1)
        return 0;
    return lerr_set(err, LERR_INVALID,
                    "table '%s' is fed by a job whose source is not spread over the nodes, and "
                    "%zu nodes each read all of it (a job made before its kind was read by one "
                    "node under a run lease: a push connection without --push-kafka), so a "
                    "query over the nodes would count its rows more than once; cancel the job "
                    "and push through --push-kafka",
                    table, nunleased);
}

/* One try; *again when a retry may succeed; *missing when the snapshot is
 * made but lacks a segment (then *out is set too). */
static int attempt(struct api_server *srv, struct storage_db_table *t, const char *table,
                   int64_t remain_ms, struct storage_snapshot **out, bool *again, bool *missing,
                   bool *cut_short, struct lerr *err)
{
    *again = false;
    *missing = false;
    *cut_short = false;
    struct catalog_segment_list l0 = {0}, l1 = {0};
    struct catalog_node *nodes = NULL;
    size_t nn = 0, nans = 0, nwant = 0, nimg = 0;
    struct answer *ans = NULL, **asked = NULL;
    size_t nasked = 0;
    struct storage_cut *cut = NULL;
    struct storage_seg_want *want = NULL;
    void **imgs = NULL;
    size_t *lens = NULL;
    int rc = 0;
    if (catalog_segment_cut(srv->qcat, table, &l0, err) ||
        catalog_node_list(srv->qcat, &nodes, &nn, err))
        goto out;
    if (!(ans = calloc(nn + 1, sizeof *ans)) || !(asked = calloc(nn + 1, sizeof *asked)))
        goto oom;
    const char *self = api__cluster_node_id(srv);
    int64_t now = util_now_ns();
    for (size_t i = 0; i < nn; i++) {
        struct answer *a = &ans[nans++];
        a->node = &nodes[i];
        if (strcmp(nodes[i].id, self) == 0) {
            bool leased;
            storage_db_table_lock(t);
            cut = storage_table_cut(t->st);
            int lr = ingest_table_leases(srv->rt, table, &a->leases, &a->nleases, &leased,
                                         &a->unleased);
            storage_db_table_unlock(t);
            if (!cut || lr)
                goto oom;
            a->ok = true;
            if (!(a->segs = calloc(storage_cut_nsegs(cut) + 1, sizeof *a->segs)))
                goto oom;
            for (size_t k = 0; k < storage_cut_nsegs(cut); k++)
                if (!(a->segs[a->nsegs++] = strdup(storage_cut_seg_name(cut, k))))
                    goto oom;
        } else if (now - nodes[i].heartbeat_ns > CATALOG_NODE_EXPIRY_NS) {
            snprintf(a->why, sizeof a->why, "no heartbeat for %lld s",
                     (long long)((now - nodes[i].heartbeat_ns) / 1000000000LL));
        } else {
            asked[nasked++] = a;
        }
    }
    ask_all(srv, table, remain_ms, asked, nasked);
    if (!cut) { /* this node is not in the list yet */
        *again = true;
        rc = lerr_set(err, LERR_UNAVAILABLE, "this node has not joined its catalog's nodes yet");
        goto out;
    }
    for (size_t k = 0; k < nans; k++)
        *cut_short |= ans[k].cut_short;
    if ((rc = check_unleased(table, ans, nans, err)))
        goto out;
    if (catalog_segment_list(srv->qcat, table, &l1, err))
        goto out;
    if (check_leases(srv, table, ans, nans, err)) {
        *again = err->code == LERR_UNAVAILABLE;
        goto out;
    }
    if (!(want = calloc(l0.n + l1.n + 1, sizeof *want)))
        goto oom;
    for (size_t i = 0; i < l0.n; i++)
        want[nwant++] = (struct storage_seg_want){base_name(l0.items[i].path),
                                                  l0.items[i].chunk_start, l0.items[i].chunk_end};
    for (size_t i = 0; i < l1.n; i++) {
        const struct catalog_segment *g = &l1.items[i];
        if (g->seq <= l0.seq || !g->writer[0])
            continue;
        for (size_t k = 0; k < nans; k++)
            if (ans[k].ok && strcmp(ans[k].node->id, g->writer) == 0 &&
                has_name(ans[k].segs, ans[k].nsegs, base_name(g->path)))
                want[nwant++] =
                    (struct storage_seg_want){base_name(g->path), g->chunk_start, g->chunk_end};
    }
    for (size_t k = 0; k < nans; k++)
        nimg += ans[k].nimages;
    imgs = calloc(nimg + 1, sizeof *imgs);
    lens = calloc(nimg + 1, sizeof *lens);
    if (!imgs || !lens)
        goto oom;
    nimg = 0;
    for (size_t k = 0; k < nans; k++)
        for (size_t i = 0; i < ans[k].nimages; i++) {
            imgs[nimg] = ans[k].images[i];
            lens[nimg++] = ans[k].lens[i];
            ans[k].images[i] = NULL;
        }
    /* a store that does not answer is waited for no longer than the query */
    s3_thread_deadline(util_mono_ns() + (remain_ms > 0 ? remain_ms : 1) * 1000000);
    *out = storage_cut_snapshot(t->st, cut, want, nwant, imgs, lens, nimg, err);
    s3_thread_deadline(0);
    if (!*out) {
        rc = err->code;
        goto out;
    }
    if ((*out)->nmissing) {
        const struct storage_missing *m = &(*out)->missing[0];
        rc = unreadable(err, m->code, m->name, table, self, m->msg, again);
        /* a damaged or vanished segment is left to the engine once final: it answers
         * without it under allowPartialResults, else names it */
        *missing = m->code != LERR_UNAVAILABLE;
    }
    goto out;
oom:
    rc = lerr_set(err, LERR_NOMEM, "out of memory planning a query over the nodes");
out:
    if (!rc)
        rc = err->code;
    for (size_t k = 0; k < nans; k++)
        answer_free(&ans[k]);
    free(ans);
    free(asked);
    free(imgs);
    free(lens);
    free(want);
    storage_cut_free(cut);
    catalog_node_list_free(nodes, nn);
    catalog_segment_list_free(&l0);
    catalog_segment_list_free(&l1);
    return rc;
}

/*
 * The table as the catalog has it now, read on the queries' own catalog
 * connection: the one of its name made again by another node after a drop
 * (storage_db_refresh; NULL, LERR_NOT_FOUND, when it was dropped), with the
 * columns another node's job discovered (the catalog has them first; the
 * table's writer lock is taken only when one is missing here). Takes the
 * caller's reference to t and gives back the one to the table returned.
 */
static struct storage_db_table *sync_table(struct api_server *srv, struct storage_db_table *t,
                                           const char *table, struct lerr *err)
{
    struct arena mem;
    arena_init(&mem, 16 * 1024, 0);
    struct storage_table_desc d = {0};
    struct lerr e;
    lerr_init(&e);
    int rc = catalog_describe_table(srv->qcat, table, false, &mem, &d, &e);
    if ((rc == 0 || rc == LERR_NOT_FOUND) &&
        storage_db_refresh(srv->db, &t, rc ? NULL : d.id, err)) {
        arena_destroy(&mem);
        return NULL;
    }
    struct storage_snapshot *snap = rc ? NULL : storage_table_snapshot(t->st);
    bool missing = false;
    for (size_t i = 0; snap && i < d.schema.ncols && !missing; i++) {
        bool have = false;
        for (size_t k = 0; k < snap->ncols && !have; k++)
            have = strcmp(snap->cols[k].name, d.schema.cols[i].name) == 0;
        missing = !have;
    }
    storage_snapshot_free(snap);
    if (missing) {
        storage_db_table_lock(t);
        for (size_t i = 0; i < d.schema.ncols; i++) {
            const struct storage_column *c = &d.schema.cols[i];
            if (storage_table_find_column(t->st, c->name, strlen(c->name)) < 0 &&
                storage_table_add_column(t->st, c, &e) < 0)
                log_msg(LOG_WARN, "cluster", "table '%s': %s", table, e.msg);
        }
        storage_db_table_unlock(t);
    }
    arena_destroy(&mem);
    return t;
}

/* storage_db_get of the table as the catalog has it now (sync_table). */
static struct storage_db_table *current_table(struct api_server *srv, const char *table,
                                              struct lerr *err)
{
    struct storage_db_table *t = storage_db_get(srv->db, table, err);
    return t ? sync_table(srv, t, table, err) : NULL;
}

/* One try of a query over the nodes: 0, or the error, with *again when a
 * later try may succeed, *missing when a segment did not read, *cut_short
 * when a node was asked with less than a full wait left. */
typedef int (*try_fn)(void *ctx, int64_t remain_ms, bool *again, bool *missing, bool *cut_short,
                      struct lerr *err);

/*
 * Tries until one succeeds, one fails for good, or the query's wait is up
 * (answering 503 a little before the query's own timeout would answer 504).
 * A segment still unreadable after newer cuts (a store this node cannot
 * read) is final: *missing_final, with that try's error.
 */
static int with_retries(int64_t timeout_ms, try_fn fn, void *ctx, bool *missing_final,
                        struct lerr *err)
{
    *missing_final = false;
    int64_t budget = timeout_ms > 0 ? timeout_ms : FANOUT_DEFAULT_TIMEOUT_MS;
    int64_t deadline = util_now_ms() + budget - (budget / 4 < 500 ? budget / 4 : 500);
    struct lerr prev; /* the last try's error, when the one after it was cut short */
    lerr_init(&prev);
    for (int tries = 1;; tries++) {
        struct lerr e;
        lerr_init(&e);
        bool again = false, missing = false, cut_short = false;
        int64_t remain = deadline - (int64_t)util_now_ms();
        int rc = fn(ctx, remain, &again, &missing, &cut_short, &e);
        /* no try starts with less than a pause left: a node asked then is given at least a
         * second (request_init), which would carry the answer past the query's timeout */
        bool last = !again || deadline - (int64_t)util_now_ms() <= 2 * FANOUT_RETRY_MS;
        if (!rc)
            return 0;
        if (missing && (last || tries >= 3)) {
            *missing_final = true;
            *err = e;
            return e.code;
        }
        if (last && cut_short && prev.code) /* a node given only the end of the wait */
            e = prev;
        prev = e;
        if (last)
            return lerr_set(err, e.code, "%s%s", e.msg,
                            again ? " (the query waited for it until its timeout; raise "
                                    "context.timeout to wait longer)"
                                  : "");
        struct timespec ts = {0, FANOUT_RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*
 * A query over the nodes waits on its HTTP thread for the others' answers,
 * and their requests need a free thread here: left unbounded, queries on
 * every node could take every thread and wait on each other until their
 * timeouts. A query takes one of the node's slots (api_server.fanout_free,
 * the threads less two) first, waiting for one at most FANOUT_SLOT_WAIT_MS
 * (a thread waiting for a slot is a thread the others' requests cannot
 * have), then answers 503.
 */
static int slot_take(struct api_server *srv, int64_t timeout_ms, struct lerr *err)
{
    int64_t wait = timeout_ms > 0 && timeout_ms < FANOUT_SLOT_WAIT_MS ? timeout_ms
                                                                      : FANOUT_SLOT_WAIT_MS;
    int64_t until = util_now_ms() + wait;
    for (;;) {
        int n = atomic_load(&srv->fanout_free);
        while (n > 0)
            if (atomic_compare_exchange_weak(&srv->fanout_free, &n, n - 1))
                return 0;
        if ((int64_t)util_now_ms() >= until)
            return lerr_set(err, LERR_UNAVAILABLE,
                            "node '%s' has as many queries over the nodes waiting on the others "
                            "as it has HTTP threads to spare; retry, or ask another node",
                            api__cluster_node_id(srv));
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void slot_give(struct api_server *srv) { atomic_fetch_add(&srv->fanout_free, 1); }

struct snapshot_try {
    struct api_server *srv;
    struct storage_db_table *t;
    const char *table;
    struct storage_snapshot *snap; /* the last try's */
};

static int snapshot_try(void *ctx, int64_t remain_ms, bool *again, bool *missing, bool *cut_short,
                        struct lerr *err)
{
    struct snapshot_try *st = ctx;
    storage_snapshot_free(st->snap);
    st->snap = NULL;
    return attempt(st->srv, st->t, st->table, remain_ms, &st->snap, again, missing, cut_short,
                   err);
}

int api__fanout_snapshot(struct api_server *srv, const char *table, int64_t timeout_ms,
                         struct storage_snapshot **out, struct lerr *err)
{
    *out = NULL;
    struct storage_db_table *t = current_table(srv, table, err);
    if (!t)
        return err->code;
    struct snapshot_try st = {srv, t, table, NULL};
    bool missing_final = false;
    int rc = slot_take(srv, timeout_ms, err);
    if (!rc) {
        rc = with_retries(timeout_ms, snapshot_try, &st, &missing_final, err);
        slot_give(srv);
    }
    if (!rc || missing_final) {
        /* still unreadable after newer cuts: the engine fails a query over its
         * interval, naming it */
        lerr_init(err);
        *out = st.snap;
        rc = 0;
    } else {
        storage_snapshot_free(st.snap);
    }
    storage_db_put(srv->db, t);
    return rc;
}

int api__fanout_open_table(void *ctx, const char *name, struct storage_snapshot **snap,
                           struct lerr *err)
{
    return api__fanout_snapshot(ctx, name, 0, snap, err);
}

/* ---- partial plans -------------------------------------------------------- */

static atomic_llong split_queries, parts_served, parts_taken_over, scans_pushed, scans_served;

void api__fanout_metrics(struct buf *out)
{
    buf_printf(out,
               "# HELP lodestar_query_split_total Queries this node split into the nodes' "
               "parts.\n# TYPE lodestar_query_split_total counter\n"
               "lodestar_query_split_total %lld\n"
               "# HELP lodestar_query_parts_served_total Parts of queries this node ran for "
               "other nodes.\n# TYPE lodestar_query_parts_served_total counter\n"
               "lodestar_query_parts_served_total %lld\n"
               "# HELP lodestar_query_parts_taken_over_total Parts this node ran over the "
               "segments of a node that did not answer.\n"
               "# TYPE lodestar_query_parts_taken_over_total counter\n"
               "lodestar_query_parts_taken_over_total %lld\n"
               "# HELP lodestar_query_scans_pushed_total Scans of blocks not split that this "
               "node pushed down to the nodes.\n# TYPE lodestar_query_scans_pushed_total counter\n"
               "lodestar_query_scans_pushed_total %lld\n"
               "# HELP lodestar_query_scans_served_total Shares of scans this node sent other "
               "nodes as images.\n# TYPE lodestar_query_scans_served_total counter\n"
               "lodestar_query_scans_served_total %lld\n",
               (long long)atomic_load(&split_queries), (long long)atomic_load(&parts_served),
               (long long)atomic_load(&parts_taken_over), (long long)atomic_load(&scans_pushed),
               (long long)atomic_load(&scans_served));
}

int api__fanout_schema(void *ctx, const char *name, struct storage_snapshot **snap,
                       struct lerr *err)
{
    struct api_query_ctx *qc = ctx;
    struct storage_db_table *t = current_table(qc->srv, name, err);
    if (!t)
        return err->code;
    *snap = storage_table_snapshot(t->st);
    storage_db_put(qc->srv->db, t);
    return *snap ? 0 : lerr_set(err, LERR_NOMEM, "out of memory opening table '%s'", name);
}

/* What one node runs for a query's part. */
struct part_spec {
    const char *request; /* the query's JSON body */
    size_t request_len;
    bool druid; /* read as /druid/v2/sql reads it */
    int64_t now_ms;
    const char *fp; /* the asking node's plan */
    int64_t c0;     /* the catalog's cut */
    const struct storage_seg_want *segs;
    size_t nsegs;
    /* the node's own realtime rows and the segments its streaming commits
     * added after c0 too, with the leases it read them under; else the
     * segments alone (those of a node that did not answer) */
    bool realtime;
    int64_t deadline_ns; /* the store is waited for until then (util_mono_ns; 0: its retries) */
    /* a scan pushed down: the rows it needs written as images into `images`
     * instead of the query run */
    const struct query_scan *scan;
    struct images *images;
};

/* The query's environment on a node running a part: the one table is the part's snapshot. */
struct part_env {
    struct api_query_ctx qc; /* first: the lookups read it as their context */
    const char *table;
    struct storage_snapshot *snap;
};

static int part_open(void *ctx, const char *name, struct storage_snapshot **snap, struct lerr *err)
{
    struct part_env *pe = ctx;
    if (strcmp(name, pe->table) != 0)
        return lerr_set(err, LERR_INVALID, "a part of a query reads table '%s' only", pe->table);
    *snap = pe->snap;
    return 0;
}

static void part_close(void *ctx, struct storage_snapshot *snap)
{
    (void)ctx; /* part_run frees it */
    (void)snap;
}

static bool cut_has(const struct storage_cut *cut, const char *name)
{
    for (size_t k = 0; k < storage_cut_nsegs(cut); k++)
        if (strcmp(storage_cut_seg_name(cut, k), name) == 0)
            return true;
    return false;
}

/* This node's cut of the table, taken under its writer lock with the leases
 * its realtime rows were read under (a->leases), or without realtime rows;
 * NULL when out of memory. */
static struct storage_cut *take_cut(struct api_server *srv, struct storage_db_table *t,
                                    const char *table, bool realtime, struct answer *a)
{
    bool leased = false;
    storage_db_table_lock(t);
    struct storage_cut *cut = storage_table_cut(t->st);
    bool ok = cut && (!realtime || !ingest_table_leases(srv->rt, table, &a->leases, &a->nleases,
                                                        &leased, &a->unleased));
    storage_db_table_unlock(t);
    if (!ok) {
        storage_cut_free(cut);
        return NULL;
    }
    if (!realtime)
        storage_cut_no_realtime(cut);
    return cut;
}

/* The segments a node reads with its cut: segs, and with `own` this node's
 * streaming commits after the catalog's cut c0 that its cut shows (their
 * rows were realtime in no cut). The names point into segs and *l1. */
static int cut_wants(struct api_server *srv, const char *table, int64_t c0,
                     const struct storage_cut *cut, const struct storage_seg_want *segs,
                     size_t nsegs, bool own, struct catalog_segment_list *l1,
                     struct storage_seg_want **want, size_t *nwant, struct lerr *err)
{
    *nwant = 0;
    if (own && catalog_segment_list(srv->qcat, table, l1, err))
        return err->code;
    if (!(*want = calloc(nsegs + l1->n + 1, sizeof **want)))
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nsegs; i++)
        (*want)[(*nwant)++] = segs[i];
    const char *self = api__cluster_node_id(srv);
    for (size_t i = 0; own && i < l1->n; i++) {
        const struct catalog_segment *g = &l1->items[i];
        if (g->seq > c0 && strcmp(g->writer, self) == 0 && cut_has(cut, base_name(g->path)))
            (*want)[(*nwant)++] =
                (struct storage_seg_want){base_name(g->path), g->chunk_start, g->chunk_end};
    }
    return 0;
}

/* The rows of snap a scan needs, as images into im. */
static int scan_images(struct api_server *srv, const struct storage_snapshot *snap,
                       const struct query_scan *scan, struct images *im, struct lerr *err)
{
    char tmp[1100];
    if (make_tmp(srv, tmp, err))
        return err->code;
    int rc = query_scan_images(snap, scan, tmp, add_image, im, err);
    rmdir(tmp);
    return rc;
}

/*
 * Runs a part on this node into a: the part's bytes (a->part) or a scan's
 * images (ps->images), or the first segment that did not read (a->missing),
 * and with ps->realtime the leases (a->leases). 0, or the query's own error.
 */
static int part_run(struct api_server *srv, const char *table, const struct part_spec *ps,
                    struct answer *a, struct lerr *err)
{
    struct storage_db_table *t = current_table(srv, table, err);
    if (!t)
        return err->code;
    struct catalog_segment_list l1 = {0};
    struct storage_seg_want *want = NULL;
    struct storage_snapshot *snap = NULL;
    size_t nwant = 0;
    int rc = 0;
    struct storage_cut *cut = take_cut(srv, t, table, ps->realtime, a);
    if (!cut)
        rc = lerr_set(err, LERR_NOMEM, "out of memory");
    if (!rc)
        rc = cut_wants(srv, table, ps->c0, cut, ps->segs, ps->nsegs, ps->realtime, &l1, &want,
                       &nwant, err);
    s3_thread_deadline(ps->deadline_ns);
    if (!rc && !(snap = storage_cut_snapshot(t->st, cut, want, nwant, NULL, NULL, 0, err)))
        rc = err->code;
    s3_thread_deadline(0);
    if (!rc && snap->nmissing) {
        snprintf(a->missing, sizeof a->missing, "%s", snap->missing[0].name);
        snprintf(a->missing_why, sizeof a->missing_why, "%s", snap->missing[0].msg);
        a->missing_code = snap->missing[0].code;
    } else if (!rc && ps->scan) {
        rc = scan_images(srv, snap, ps->scan, ps->images, err);
    } else if (!rc) {
        struct arena mem;
        arena_init(&mem, 16 * 1024, 64u << 20);
        struct query_request req;
        rc = (ps->druid ? api_query_request_parse_druid
                        : api_query_request_parse)(ps->request, ps->request_len, &req, &mem, err);
        if (!rc) {
            req.now_ms = ps->now_ms;
            req.partial_out = &a->part;
            req.partial_fp = ps->fp;
            req.outer_limit = 0;
            struct part_env pe = {{srv, req.timeout_ms, NULL, 0, false, ps->now_ms}, table, snap};
            struct query_env env;
            struct sql_lookups lk;
            api__query_env_local(&pe.qc, &env, &lk);
            env.ctx = &pe;
            env.open_table = part_open;
            env.close_table = part_close;
            lk.ctx = &pe;
            struct buf none;
            buf_init(&none, 0);
            rc = query_execute(&req, &env, &none, NULL, err);
            buf_free(&none);
        }
        arena_destroy(&mem);
    }
    a->ok = rc == 0;
    storage_snapshot_free(snap);
    storage_cut_free(cut);
    free(want);
    catalog_segment_list_free(&l1);
    storage_db_put(srv->db, t);
    return rc;
}

/* A scan's request ({"where": SQL or null, "cols": [names], "limit": n,
 * "orderTime": -1, 0 or 1}) into qs, its names in *cols (allocated); false
 * when it does not read. */
static bool read_scan(const json_t *sc, struct query_scan *qs, const char ***cols)
{
    const json_t *w = json_object_get(sc, "where"), *cl = json_object_get(sc, "cols"),
                 *lim = json_object_get(sc, "limit"), *ot = json_object_get(sc, "orderTime");
    json_int_t order = json_integer_value(ot);
    if (!json_is_object(sc) || !(json_is_null(w) || json_is_string(w)) || !json_is_array(cl) ||
        !json_is_integer(lim) || (ot && !json_is_integer(ot)) || order < -1 || order > 1 ||
        !(*cols = calloc(json_array_size(cl) + 1, sizeof **cols)))
        return false;
    *qs = (struct query_scan){json_string_value(w), *cols, 0, json_integer_value(lim), (int)order};
    for (size_t i = 0; i < json_array_size(cl); i++)
        if (!((*cols)[qs->ncols++] = json_string_value(json_array_get(cl, i))))
            return false;
    return true;
}

/*
 * POST /internal/v1/part/{table}: this node's part of a query. The body:
 * {"request": the query's JSON body, "druid": bool, "nowMs", "fp": the
 * asking node's plan, "c0": the catalog's cut, "segments": [[name, chunk
 * start, chunk end], ...] assigned to this node}. The answer is one line of
 * JSON ({"node", "unleased", "leases", "missing": a segment that did not
 * read or null, "part": its byte count, "images": []}) and then the part's
 * bytes.
 *
 * POST /internal/v1/scan/{table}: this node's share of a scan pushed down:
 * {"c0", "segments", "remainMs" as above, "scan": {"where": SQL or null,
 * "cols": [names], "limit": n, "orderTime": -1, 0 or 1}} (query_scan); the
 * answer's "part" is 0 and
 * "images" the byte counts of the images that follow: the rows of its
 * segments and realtime rows the scan needs (query_scan_images).
 */
static int serve_part(struct api_req *r, const char *table, bool scan)
{
    struct api_server *srv = r->srv;
    struct lerr err;
    lerr_init(&err);
    json_error_t je;
    json_t *b = json_loadb(r->body ? r->body : "", r->body_len, 0, &je);
    json_t *segs = json_object_get(b, "segments"), *c0 = json_object_get(b, "c0"),
           *now = json_object_get(b, "nowMs");
    struct part_spec ps = {
        .request = json_string_value(json_object_get(b, "request")),
        .request_len = json_string_length(json_object_get(b, "request")),
        .druid = json_is_true(json_object_get(b, "druid")),
        .now_ms = json_integer_value(now),
        .fp = json_string_value(json_object_get(b, "fp")),
        .c0 = json_integer_value(c0),
        .realtime = true,
    };
    json_int_t remain = json_integer_value(json_object_get(b, "remainMs"));
    if (remain > 0)
        ps.deadline_ns = util_mono_ns() + (int64_t)remain * 1000000;
    struct query_scan qs;
    const char **cols = NULL;
    struct images im = {.lens = json_array()};
    buf_init(&im.data, 0);
    struct storage_seg_want *want = calloc(json_array_size(segs) + 1, sizeof *want);
    if (!want || !im.lens)
        lerr_set(&err, LERR_NOMEM, "out of memory");
    else if (scan && (!json_is_integer(c0) || !json_is_array(segs) ||
                      !read_scan(json_object_get(b, "scan"), &qs, &cols)))
        lerr_set(&err, LERR_INVALID,
                 "a scan's request is JSON {\"c0\", \"segments\": [[name, chunk start, chunk "
                 "end], ...], \"scan\": {\"where\": SQL or null, \"cols\": [names], \"limit\", "
                 "\"orderTime\": -1, 0 or 1}}");
    else if (!scan && (!ps.request || !ps.fp || !json_is_integer(c0) || !json_is_integer(now) ||
                       !json_is_array(segs)))
        lerr_set(&err, LERR_INVALID,
                 "a part's request is JSON {\"request\", \"druid\", \"nowMs\", \"fp\", \"c0\", "
                 "\"segments\": [[name, chunk start, chunk end], ...]}");
    for (size_t i = 0; !err.code && i < json_array_size(segs); i++) {
        json_t *g = json_array_get(segs, i);
        const char *name = json_string_value(json_array_get(g, 0));
        if (!name || strchr(name, '/') || !json_is_integer(json_array_get(g, 1)) ||
            !json_is_integer(json_array_get(g, 2)))
            lerr_set(&err, LERR_INVALID,
                     "segments[%zu] of a part's request is not [name, chunk start, chunk end]", i);
        else
            want[ps.nsegs++] = (struct storage_seg_want){name,
                                                         json_integer_value(json_array_get(g, 1)),
                                                         json_integer_value(json_array_get(g, 2))};
    }
    struct answer a;
    memset(&a, 0, sizeof a);
    buf_init(&a.part, 0);
    if (!err.code) {
        ps.segs = want;
        ps.scan = scan ? &qs : NULL;
        ps.images = scan ? &im : NULL;
        part_run(srv, table, &ps, &a, &err);
    }
    free(want);
    free(cols);
    json_decref(b);
    int rc;
    if (err.code) {
        json_decref(im.lens);
        rc = api_reply_err(r, &err);
    } else {
        json_t *head = json_pack(
            "{s:s, s:b, s:o, s:s?, s:s, s:i, s:I, s:o}", "node", api__cluster_node_id(srv),
            "unleased", a.unleased, "leases", leases_json(a.leases, a.nleases), "missing",
            a.missing[0] ? a.missing : NULL, "missingWhy", a.missing_why, "missingCode",
            a.missing_code, "part", (json_int_t)a.part.len, "images", im.lens);
        rc = reply_head_bytes(r, head, scan ? &im.data : &a.part);
        atomic_fetch_add(scan ? &scans_served : &parts_served, rc == 0);
    }
    buf_free(&im.data);
    answer_free(&a);
    return rc;
}

/* The asking node's side: one try's answers. */
struct parts_try {
    struct api_server *srv;
    const struct api_query_ctx *qc;
    const char *table, *fp;
    /* a scan pushed down (fp unused): the table, and the snapshot of the
     * try: this node's rows and the other nodes' images */
    const struct query_scan *scan;
    struct storage_db_table *t;
    struct storage_snapshot *snap;
    struct catalog_node *nodes;
    size_t nn;
    struct answer *ans;   /* one per node */
    struct answer *extra; /* per node: its segments read here when it did not answer */
};

static void parts_try_clear(struct parts_try *pt)
{
    for (size_t i = 0; i < pt->nn; i++) {
        if (pt->ans)
            answer_free(&pt->ans[i]);
        if (pt->extra)
            answer_free(&pt->extra[i]);
    }
    free(pt->ans);
    free(pt->extra);
    catalog_node_list_free(pt->nodes, pt->nn);
    storage_snapshot_free(pt->snap);
    pt->snap = NULL;
    pt->ans = pt->extra = NULL;
    pt->nodes = NULL;
    pt->nn = 0;
}

struct ask_job {
    struct api_server *srv;
    const char *table;
    int64_t remain_ms;
    struct answer **asked;
    size_t n;
};

static void *ask_thread(void *arg)
{
    struct ask_job *j = arg;
    ask_all(j->srv, j->table, j->remain_ms, j->asked, j->n);
    return NULL;
}

/* How long a node asked for its part may wait for the store: less than the asking node
 * waits for its answer, so that a node whose download failed says so in time. */
static int64_t answer_within(int64_t remain_ms)
{
    int64_t margin = remain_ms / 5 > 200 ? remain_ms / 5 : 200;
    return remain_ms - margin > 1 ? remain_ms - margin : 1;
}

/* The JSON body asking a node for its part, or its share of a scan. */
static char *part_body(const struct parts_try *pt, int64_t c0, int64_t remain_ms,
                       const struct storage_seg_want *segs, size_t n, size_t *len)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a,
                              json_pack("[s, I, I]", segs[i].name, (json_int_t)segs[i].chunk_start,
                                        (json_int_t)segs[i].chunk_end));
    json_t *b;
    if (pt->scan) {
        json_t *cols = json_array();
        for (size_t i = 0; i < pt->scan->ncols; i++)
            json_array_append_new(cols, json_string(pt->scan->cols[i]));
        b = json_pack("{s:I, s:I, s:o, s:{s:s?, s:o, s:I, s:i}}", "c0", (json_int_t)c0, "remainMs",
                      (json_int_t)answer_within(remain_ms), "segments", a, "scan", "where",
                      pt->scan->where, "cols", cols, "limit", (json_int_t)pt->scan->limit,
                      "orderTime", pt->scan->order_time);
    } else {
        b = json_pack("{s:s%, s:b, s:I, s:s, s:I, s:I, s:o}", "request", pt->qc->body,
                      pt->qc->body_len, "druid", pt->qc->druid, "nowMs",
                      (json_int_t)pt->qc->now_ms, "fp", pt->fp, "c0", (json_int_t)c0, "remainMs",
                      (json_int_t)answer_within(remain_ms), "segments", a);
    }
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    *len = s ? strlen(s) : 0;
    return s;
}

/* The first snapshot's missing segment as unreadable() says it (0: none). */
static int first_missing(struct parts_try *pt, const struct storage_snapshot *snap, bool *again,
                         bool *missing, struct lerr *err)
{
    if (!snap->nmissing)
        return 0;
    const struct storage_missing *m = &snap->missing[0];
    bool newer_cut = false;
    int rc = unreadable(err, m->code, m->name, pt->table, api__cluster_node_id(pt->srv), m->msg,
                        &newer_cut);
    *again = *missing = newer_cut;
    return rc;
}

/*
 * A scan's snapshot (pt->snap): this node's cut with its segments, those of
 * the nodes that did not answer (and hold no lease the query needs) and its
 * own commits after c0, and every answer's images. A segment that does not
 * read is unreadable() here as on any node. For a top-N by time this node's
 * share goes through the same trim as the others' (query_scan_images), so
 * the engine orders only their first rows.
 */
static int scan_snapshot(struct parts_try *pt, struct storage_cut *cut, int64_t c0,
                         struct storage_seg_want *const *segs, const size_t *nsegs, size_t self,
                         int64_t deadline_ns, bool *again, bool *missing, struct lerr *err)
{
    struct api_server *srv = pt->srv;
    size_t n = 0, nimg = 0, nwant = 0;
    for (size_t i = 0; i < pt->nn; i++)
        n += i == self || !pt->ans[i].ok ? nsegs[i] : 0;
    struct storage_seg_want *mine = calloc(n + 1, sizeof *mine), *want = NULL;
    struct catalog_segment_list l1 = {0};
    int rc = mine ? 0 : lerr_set(err, LERR_NOMEM, "out of memory planning a query over the nodes");
    n = 0;
    for (size_t i = 0; !rc && i < pt->nn; i++) {
        if (i != self && !pt->ans[i].ok)
            atomic_fetch_add(&parts_taken_over, nsegs[i] != 0);
        else if (i != self)
            continue;
        for (size_t k = 0; k < nsegs[i]; k++)
            mine[n++] = segs[i][k];
    }
    if (!rc)
        rc = cut_wants(srv, pt->table, c0, cut, mine, n, true, &l1, &want, &nwant, err);
    s3_thread_deadline(deadline_ns);
    if (!rc && pt->scan->order_time) { /* this node's share as its own images */
        struct storage_snapshot *share =
            storage_cut_snapshot(pt->t->st, cut, want, nwant, NULL, NULL, 0, err);
        struct images im = {.lens = json_array()};
        buf_init(&im.data, 0);
        if (!share || (rc = first_missing(pt, share, again, missing, err)))
            rc = rc ? rc : err->code;
        else if (!(rc = scan_images(srv, share, pt->scan, &im, err)) &&
                 !take_images(&pt->ans[self], im.lens, im.data.data, im.data.len))
            rc = lerr_set(err, LERR_NOMEM, "out of memory reading this node's share");
        json_decref(im.lens);
        buf_free(&im.data);
        storage_snapshot_free(share);
        storage_cut_no_realtime(cut); /* its rows are in the images now */
        nwant = 0;
    }
    for (size_t i = 0; i < pt->nn; i++)
        nimg += pt->ans[i].ok ? pt->ans[i].nimages : 0;
    void **imgs = calloc(nimg + 1, sizeof *imgs);
    size_t *lens = calloc(nimg + 1, sizeof *lens);
    if (!rc && (!imgs || !lens))
        rc = lerr_set(err, LERR_NOMEM, "out of memory planning a query over the nodes");
    nimg = 0;
    for (size_t i = 0; !rc && i < pt->nn; i++)
        for (size_t k = 0; pt->ans[i].ok && k < pt->ans[i].nimages; k++) {
            imgs[nimg] = pt->ans[i].images[k];
            lens[nimg++] = pt->ans[i].lens[k];
            pt->ans[i].images[k] = NULL; /* taken by the snapshot */
        }
    if (!rc &&
        !(pt->snap = storage_cut_snapshot(pt->t->st, cut, want, nwant, imgs, lens, nimg, err)))
        rc = err->code;
    s3_thread_deadline(0);
    if (!rc)
        rc = first_missing(pt, pt->snap, again, missing, err);
    for (size_t i = 0; imgs && i < nimg; i++)
        free(imgs[i]); /* left when no snapshot was tried (it takes them, made or not) */
    free(mine);
    free(want);
    free(imgs);
    free(lens);
    catalog_segment_list_free(&l1);
    return rc;
}

static int parts_try(void *ctx, int64_t remain_ms, bool *again, bool *missing, bool *cut_short,
                     struct lerr *err)
{
    struct parts_try *pt = ctx;
    struct api_server *srv = pt->srv;
    parts_try_clear(pt);
    struct catalog_segment_list l0 = {0};
    struct storage_seg_want **segs = NULL; /* per node: the segments it is assigned */
    size_t *nsegs = NULL, nasked = 0, self = SIZE_MAX;
    struct answer **asked = NULL;
    struct storage_cut *cut = NULL; /* a scan's: this node's */
    int rc = 0;
    if (catalog_segment_cut(srv->qcat, pt->table, &l0, err) ||
        catalog_node_list(srv->qcat, &pt->nodes, &pt->nn, err))
        goto out;
    size_t nn = pt->nn;
    pt->ans = calloc(nn + 1, sizeof *pt->ans);
    pt->extra = calloc(nn + 1, sizeof *pt->extra);
    segs = calloc(nn + 1, sizeof *segs);
    nsegs = calloc(nn + 1, sizeof *nsegs);
    asked = calloc(nn + 1, sizeof *asked);
    if (!pt->ans || !pt->extra || !segs || !nsegs || !asked)
        goto oom;
    const char *me = api__cluster_node_id(srv);
    int64_t now = util_now_ns();
    bool *live = calloc(nn + 1, sizeof *live);
    if (!live)
        goto oom;
    for (size_t i = 0; i < nn; i++) {
        struct answer *a = &pt->ans[i];
        a->node = &pt->nodes[i];
        buf_init(&a->part, 0);
        buf_init(&pt->extra[i].part, 0);
        pt->extra[i].node = &pt->nodes[i];
        if (strcmp(pt->nodes[i].id, me) == 0)
            live[self = i] = true;
        else if (now - pt->nodes[i].heartbeat_ns > CATALOG_NODE_EXPIRY_NS)
            snprintf(a->why, sizeof a->why, "no heartbeat for %lld s",
                     (long long)((now - pt->nodes[i].heartbeat_ns) / 1000000000LL));
        else
            live[i] = true;
    }
    if (self == SIZE_MAX) {
        free(live);
        *again = true;
        rc = lerr_set(err, LERR_UNAVAILABLE, "this node has not joined its catalog's nodes yet");
        goto out;
    }
    for (size_t i = 0; i < nn; i++)
        if (!(segs[i] = calloc(l0.n + 1, sizeof **segs))) {
            free(live);
            goto oom;
        }
    for (size_t j = 0; j < l0.n; j++) {
        const char *name = base_name(l0.items[j].path);
        size_t best = api__segment_server(pt->nodes, live, nn, name); /* self is live */
        segs[best][nsegs[best]++] =
            (struct storage_seg_want){name, l0.items[j].chunk_start, l0.items[j].chunk_end};
    }
    for (size_t i = 0; i < nn; i++) {
        if (!live[i] || i == self)
            continue;
        struct answer *a = &pt->ans[i];
        a->post = pt->scan ? SCAN_PREFIX : PART_PREFIX;
        if (!(a->req_body = part_body(pt, l0.seq, remain_ms, segs[i], nsegs[i], &a->req_len))) {
            free(live);
            goto oom;
        }
        asked[nasked++] = a;
    }
    free(live);
    /* the other nodes on a thread, this node's own part meanwhile */
    struct ask_job job = {srv, pt->table, remain_ms, asked, nasked};
    pthread_t th;
    bool started = nasked && pthread_create(&th, NULL, ask_thread, &job) == 0;
    if (nasked && !started)
        ask_thread(&job);
    int64_t deadline = util_mono_ns() + (remain_ms > 0 ? remain_ms : 1) * 1000000;
    struct part_spec ps = {.request = pt->qc->body,
                           .request_len = pt->qc->body_len,
                           .druid = pt->qc->druid,
                           .now_ms = pt->qc->now_ms,
                           .fp = pt->fp,
                           .c0 = l0.seq,
                           .segs = segs[self],
                           .nsegs = nsegs[self],
                           .realtime = true,
                           .deadline_ns = deadline};
    if (pt->scan) { /* this node's rows are read here: its cut now, its segments below */
        pt->ans[self].ok = (cut = take_cut(srv, pt->t, pt->table, true, &pt->ans[self])) != NULL;
        if (!cut)
            rc = lerr_set(err, LERR_NOMEM, "out of memory");
    } else {
        rc = part_run(srv, pt->table, &ps, &pt->ans[self], err);
    }
    if (started)
        pthread_join(th, NULL);
    if (rc)
        goto out; /* the query's own error (the other nodes would give it too) */
    for (size_t i = 0; i < nn && !rc; i++) {
        struct answer *a = &pt->ans[i];
        *cut_short |= a->cut_short;
        /* the query's own error on a node's rows (not a node in trouble) is the query's:
         * an invalid query the one a single server would give, word for word */
        if (!a->ok && a->status == 400 && a->msg[0])
            rc = lerr_set(err, LERR_INVALID, "%s", a->msg);
        else if (!a->ok && (a->status == 400 || a->status == 504))
            rc = lerr_set(err, a->status == 400 ? LERR_INVALID : LERR_TIMEOUT,
                          "node '%s' failed its part of the query: %s", a->node->id, a->why);
    }
    if (rc)
        goto out;
    if ((rc = check_unleased(pt->table, pt->ans, nn, err)))
        goto out;
    if (check_leases(srv, pt->table, pt->ans, nn, err)) {
        *again = err->code == LERR_UNAVAILABLE;
        rc = err->code;
        goto out;
    }
    /* the segments of a node that did not answer (and holds no lease the
     * query needs: checked above) are read here */
    for (size_t i = 0; i < nn && !rc; i++) {
        if (pt->ans[i].ok || !nsegs[i] || pt->scan)
            continue;
        struct part_spec ps2 = ps;
        ps2.segs = segs[i];
        ps2.nsegs = nsegs[i];
        ps2.realtime = false;
        rc = part_run(srv, pt->table, &ps2, &pt->extra[i], err);
        atomic_fetch_add(&parts_taken_over, 1);
    }
    if (rc)
        goto out;
    for (size_t k = 0; k < 2 * nn && !rc; k++) {
        const struct answer *a = k < nn ? &pt->ans[k] : &pt->extra[k - nn];
        if (a->ok && a->missing[0]) {
            bool newer_cut = false;
            rc = unreadable(err, a->missing_code, a->missing, pt->table, a->node->id,
                            a->missing_why, &newer_cut);
            *again = *missing = newer_cut;
        }
    }
    if (!rc && pt->scan)
        rc = scan_snapshot(pt, cut, l0.seq, segs, nsegs, self, deadline, again, missing, err);
    goto out;
oom:
    rc = lerr_set(err, LERR_NOMEM, "out of memory planning a query over the nodes");
out:
    if (!rc)
        rc = err->code;
    for (size_t i = 0; segs && i < pt->nn; i++)
        free(segs[i]);
    free(segs);
    free(nsegs);
    free(asked);
    storage_cut_free(cut);
    catalog_segment_list_free(&l0);
    return rc;
}

/* A segment still unreadable after newer cuts: the error the engine gives for one. */
static int missing_error(struct lerr *err)
{
    struct lerr e = *err;
    lerr_init(err);
    return lerr_set(err, LERR_CORRUPT,
                    "%s, so the answer would be missing its rows. Restore the segment file (a "
                    "cluster that queries needs a shared store: --segments s3://...), or set "
                    "\"allowPartialResults\": true in the query context to answer without it",
                    e.msg);
}

/* The tries of a query's parts or scan, in one of the node's slots. */
static int parts_tries(struct parts_try *pt, struct lerr *err)
{
    bool missing_final = false;
    int rc = slot_take(pt->srv, pt->qc->timeout_ms, err);
    if (!rc) {
        rc = with_retries(pt->qc->timeout_ms, parts_try, pt, &missing_final, err);
        slot_give(pt->srv);
    }
    return rc && missing_final ? missing_error(err) : rc;
}

int api__fanout_partials(void *ctx, const char *table, const char *fingerprint,
                         int (*fn)(void *arg, const void *part, size_t n, struct lerr *err),
                         void *arg, struct lerr *err)
{
    const struct api_query_ctx *qc = ctx;
    struct parts_try pt = {.srv = qc->srv, .qc = qc, .table = table, .fp = fingerprint};
    int rc = parts_tries(&pt, err);
    for (size_t k = 0; !rc && k < 2 * pt.nn; k++) {
        const struct answer *a = k < pt.nn ? &pt.ans[k] : &pt.extra[k - pt.nn];
        if (a->ok && a->part.len)
            rc = fn(arg, a->part.data, a->part.len, err);
    }
    if (!rc)
        atomic_fetch_add(&split_queries, 1);
    parts_try_clear(&pt);
    return rc;
}

int api__fanout_scan(void *ctx, const char *table, const struct query_scan *scan,
                     struct storage_snapshot **snap, struct lerr *err)
{
    const struct api_query_ctx *qc = ctx;
    *snap = NULL;
    struct storage_db_table *t = current_table(qc->srv, table, err);
    if (!t)
        return err->code;
    struct parts_try pt = {.srv = qc->srv, .qc = qc, .table = table, .scan = scan, .t = t};
    int rc = parts_tries(&pt, err);
    if (!rc) {
        *snap = pt.snap;
        pt.snap = NULL;
        atomic_fetch_add(&scans_pushed, 1);
    }
    parts_try_clear(&pt);
    storage_db_put(qc->srv->db, t);
    return rc;
}

static int cluster_open(void *ctx, const char *name, struct storage_snapshot **snap,
                        struct lerr *err)
{
    const struct api_query_ctx *qc = ctx;
    return api__fanout_snapshot(qc->srv, name, qc->timeout_ms, snap, err);
}

void api__query_env(struct api_query_ctx *qc, struct query_env *env, struct sql_lookups *lk)
{
    api__query_env_local(qc, env, lk);
    if (!catalog_is_shared(qc->srv->cat))
        return;
    env->open_table = cluster_open; /* every node's rows */
    env->open_schema = api__fanout_schema;
    env->open_scan = api__fanout_scan; /* the rows a block needs of each node */
    if (qc->body)                      /* partial plans: the other nodes read the body again */
        env->partials = api__fanout_partials;
}
