/*
 * cluster_cli.c — `lodestar cluster status`: a client of GET /v1/cluster
 * on any node, printing each node with its address, whether it is live,
 * its heartbeat's age, and the jobs, partitions and lag it holds (or the
 * JSON itself with --json).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cluster_cli.h"
#include "util/util.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n) ? size * n : 0;
}

/* The jobs, partitions and summed lag a node published. */
static void holdings(json_t *node, size_t *jobs, size_t *parts, long long *lag)
{
    json_t *arr = json_object_get(node, "jobs"), *j;
    size_t i;
    *jobs = json_array_size(arr);
    *parts = 0;
    *lag = 0;
    json_array_foreach(arr, i, j) {
        *parts += json_array_size(json_object_get(j, "partitions"));
        json_int_t l = json_integer_value(json_object_get(j, "totalLag"));
        if (l > 0)
            *lag += l;
    }
}

int main_cluster_status(const char *base, const char *key, bool as_json)
{
    char url[1024], auth[256];
    size_t bl = strlen(base);
    snprintf(url, sizeof url, "%.*s/v1/cluster", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
             base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "lodestar cluster: cannot start libcurl\n");
        return 1;
    }
    struct curl_slist *h = curl_slist_append(NULL, auth);
    struct buf b;
    buf_init(&b, 64u << 20);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    int rc = 1;
    json_t *doc = NULL;
    if (cc != CURLE_OK) {
        fprintf(stderr, "lodestar cluster: GET %s: %s (is a server running there? --url)\n", url,
                curl_easy_strerror(cc));
    } else if (status != 200) {
        fprintf(stderr, "lodestar cluster: GET %s -> %ld: %s%s\n", url, status, buf_cstr(&b),
                status == 401 ? " (give a key: --api-key, LODESTAR_API_KEY or --data-dir)" : "");
    } else if (!(doc = json_loadb(b.data, b.len, 0, NULL))) {
        fprintf(stderr, "lodestar cluster: GET %s: the answer is not JSON\n", url);
    } else if (as_json) {
        printf("%s\n", buf_cstr(&b));
        rc = 0;
    } else {
        json_t *nodes = json_object_get(doc, "nodes"), *n;
        size_t i;
        printf("%zu node%s, %lld live; answered by %s\n", json_array_size(nodes),
               json_array_size(nodes) == 1 ? "" : "s",
               (long long)json_integer_value(json_object_get(doc, "liveNodes")),
               json_string_value(json_object_get(doc, "self")));
        printf("%-24s %-32s %-5s %-10s %5s %10s %12s %9s %12s\n", "NODE", "ADDRESS", "LIVE",
               "HEARTBEAT", "JOBS", "PARTITIONS", "LAG", "SEGMENTS", "BYTES");
        json_array_foreach(nodes, i, n) {
            size_t jobs, parts;
            long long lag;
            holdings(n, &jobs, &parts, &lag);
            char age[32];
            snprintf(age, sizeof age, "%.1f s",
                     (double)json_integer_value(json_object_get(n, "heartbeatAgeMs")) / 1000);
            json_t *sg = json_object_get(n, "segments");
            printf("%-24s %-32s %-5s %-10s %5zu %10zu %12lld %9lld %12lld\n",
                   json_string_value(json_object_get(n, "id")),
                   json_string_value(json_object_get(n, "advertise")),
                   json_is_true(json_object_get(n, "live")) ? "yes" : "no", age, jobs, parts, lag,
                   (long long)json_integer_value(json_object_get(sg, "count")),
                   (long long)json_integer_value(json_object_get(sg, "bytes")));
        }
        rc = 0;
    }
    json_decref(doc);
    buf_free(&b);
    return rc;
}
