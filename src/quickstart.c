/*
 * quickstart.c — `lodestar quickstart`, the main job end to end on embedded
 * defaults (DESIGN §3): a dev broker and a server in a temporary directory,
 * a table, a Kafka connection and a streaming job created through the
 * public API, a generated stream of realistic wiki-edit events produced into
 * the topic with a live progress line, three SQL answers printed as tables,
 * and a clean stop. It drives the product from outside, as a user would:
 * child processes, HTTP (libcurl) and the Kafka protocol.
 *
 * Entry point: quickstart_main().
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quickstart.h"
#include "source/produce.h"
#include "util/util.h"
#include "util/wikigen.h"

extern char **environ;

struct qs {
    char dir[256];
    char self[1024];
    pid_t broker, server;
    char bootstrap[128];
    int port;
    char key[64];
    CURL *curl;
};

static void say(const char *fmt, ...) LS_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static pid_t spawn(struct qs *q, char *const argv[], int out_fd, int err_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    pid_t pid = -1;
    if (posix_spawn(&pid, q->self, &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n) ? size * n : 0;
}

/* One API call; returns the HTTP status (0 = no answer) and the parsed body. */
static long api(struct qs *q, const char *method, const char *path, const char *body, json_t **out)
{
    char url[512], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", q->port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->key);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    struct buf b;
    buf_init(&b, 64u << 20);
    curl_easy_reset(q->curl);
    curl_easy_setopt(q->curl, CURLOPT_URL, url);
    curl_easy_setopt(q->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(q->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(q->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(q->curl, CURLOPT_TIMEOUT, 30L);
    if (body)
        curl_easy_setopt(q->curl, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(q->curl) == CURLE_OK)
        curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &status);
    if (out)
        *out = b.len ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    if (status >= 400)
        fprintf(stderr, "quickstart: %s %s -> %ld: %s\n", method, path, status, buf_cstr(&b));
    buf_free(&b);
    curl_slist_free_all(h);
    return status;
}

static int start_broker(struct qs *q)
{
    int fds[2];
    char log[300];
    snprintf(log, sizeof log, "%s/dev-kafka.log", q->dir);
    int err_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (pipe(fds) != 0 || err_fd < 0)
        return -1;
    char *argv[] = {"lodestar", "dev-kafka", "--topic", "wikipedia:8", NULL};
    q->broker = spawn(q, argv, fds[1], err_fd);
    close(fds[1]);
    close(err_fd);
    if (q->broker < 0) {
        close(fds[0]);
        return -1;
    }
    FILE *f = fdopen(fds[0], "r");
    bool ok = f && fgets(q->bootstrap, sizeof q->bootstrap, f);
    if (f)
        fclose(f);
    q->bootstrap[strcspn(q->bootstrap, "\r\n")] = '\0';
    return ok && q->bootstrap[0] ? 0 : -1;
}

static int start_server(struct qs *q)
{
    char log[300], listen[64];
    snprintf(log, sizeof log, "%s/server.log", q->dir);
    int err_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    q->port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", q->port);
    char data[300];
    snprintf(data, sizeof data, "%s/data", q->dir);
    char *argv[] = {"lodestar", "serve", "--data-dir", data, "--listen", listen, NULL};
    q->server = spawn(q, argv, -1, err_fd);
    close(err_fd);
    if (q->server < 0 || q->port < 0)
        return -1;
    char keypath[320];
    snprintf(keypath, sizeof keypath, "%s/admin.key", data);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(keypath, "r");
        if (f) {
            bool ok = fgets(q->key, sizeof q->key, f) != NULL;
            fclose(f);
            q->key[strcspn(q->key, "\r\n")] = '\0';
            if (ok && api(q, "GET", "/v1/projects", NULL, NULL) == 200)
                return 0;
        }
        sleep_ms(50);
    }
    return -1;
}

static void stop_child(pid_t pid, const char *what)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        sleep_ms(50);
    }
    fprintf(stderr, "quickstart: %s did not stop in 5 s; killing it\n", what);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static const char *JOB =
    "{\"type\": \"streaming\", \"target\": {\"type\": \"table\", \"tableName\": \"wikipedia\"},"
    " \"source\": {\"type\": \"connection\", \"connectionName\": \"wikipedia-kafka\","
    "  \"formatSettings\": {\"format\": \"nd-json\"},"
    "  \"inputSchema\": [{\"name\": \"time\", \"dataType\": \"string\"},"
    "   {\"name\": \"channel\", \"dataType\": \"string\"}, {\"name\": \"page\", \"dataType\": \"string\"},"
    "   {\"name\": \"user\", \"dataType\": \"string\"}, {\"name\": \"countryName\", \"dataType\": \"string\"},"
    "   {\"name\": \"isRobot\", \"dataType\": \"string\"}, {\"name\": \"added\", \"dataType\": \"long\"},"
    "   {\"name\": \"deleted\", \"dataType\": \"long\"}, {\"name\": \"delta\", \"dataType\": \"long\"}]},"
    " \"mappings\": ["
    "  {\"columnName\": \"__time\", \"expression\": \"TIME_PARSE(\\\"time\\\")\"},"
    "  {\"columnName\": \"channel\", \"expression\": \"channel\"},"
    "  {\"columnName\": \"page\", \"expression\": \"page\"},"
    "  {\"columnName\": \"user\", \"expression\": \"\\\"user\\\"\"},"
    "  {\"columnName\": \"country\", \"expression\": \"\\\"countryName\\\"\"},"
    "  {\"columnName\": \"isRobot\", \"expression\": \"CASE WHEN \\\"isRobot\\\" = 'true' THEN 1 ELSE 0 END\"},"
    "  {\"columnName\": \"added\", \"expression\": \"added\"},"
    "  {\"columnName\": \"deleted\", \"expression\": \"deleted\"},"
    "  {\"columnName\": \"delta\", \"expression\": \"delta\"}],"
    " \"readFromPoint\": \"earliest\"}";

/* Prints a query answer (resultFormat array with a header row) as a table. */
static int print_table(struct qs *q, const char *title, const char *sql)
{
    json_t *req = json_pack("{s:s, s:s, s:b}", "query", sql, "resultFormat", "array", "header", 1);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *rows = NULL;
    long st = api(q, "POST", "/v1/query/sql", body, &rows);
    free(body);
    if (st != 200 || !json_is_array(rows) || json_array_size(rows) == 0) {
        json_decref(rows);
        return -1;
    }
    say("\n%s\n  %s\n\n", title, sql);
    size_t ncol = json_array_size(json_array_get(rows, 0)), nrow = json_array_size(rows);
    char cells[64][8][96];
    size_t width[8] = {0};
    for (size_t r = 0; r < nrow && r < 64; r++) {
        for (size_t c = 0; c < ncol && c < 8; c++) {
            json_t *v = json_array_get(json_array_get(rows, r), c);
            if (json_is_string(v))
                snprintf(cells[r][c], sizeof cells[r][c], "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(cells[r][c], sizeof cells[r][c], "%lld",
                         (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(cells[r][c], sizeof cells[r][c], "%.2f", json_real_value(v));
            else
                snprintf(cells[r][c], sizeof cells[r][c], "null");
            size_t w = 0; /* display width: count UTF-8 lead bytes */
            for (const char *p = cells[r][c]; *p; p++)
                w += ((unsigned char)*p & 0xc0) != 0x80;
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t r = 0; r < nrow && r < 64; r++) {
        say("  ");
        for (size_t c = 0; c < ncol && c < 8; c++) {
            size_t w = 0;
            for (const char *p = cells[r][c]; *p; p++)
                w += ((unsigned char)*p & 0xc0) != 0x80;
            bool num = r > 0 &&
                       (isdigit((unsigned char)cells[r][c][0]) ||
                        (cells[r][c][0] == '-' && isdigit((unsigned char)cells[r][c][1])));
            if (num) /* numbers right-aligned, text left-aligned */
                say("%*s%s  ", (int)(width[c] - w), "", cells[r][c]);
            else
                say("%s%*s  ", cells[r][c], (int)(width[c] - w), "");
        }
        say("\n");
        if (r == 0) {
            say("  ");
            for (size_t c = 0; c < ncol && c < 8; c++) {
                for (size_t k = 0; k < width[c]; k++)
                    say("-");
                say("  ");
            }
            say("\n");
        }
    }
    json_decref(rows);
    return 0;
}

static int64_t job_processed(struct qs *q, const char *job, int64_t *lag)
{
    char path[128];
    snprintf(path, sizeof path, "/v2/jobs/%s/metrics", job);
    json_t *m = NULL;
    int64_t n = -1;
    if (api(q, "GET", path, NULL, &m) == 200) {
        json_t *t = json_object_get(m, "totals");
        n = json_integer_value(json_object_get(t, "numRowsProcessed")) +
            json_integer_value(json_object_get(t, "numRowsSkippedByError")) +
            json_integer_value(json_object_get(t, "numRowsSkippedByFilter"));
        *lag = json_integer_value(json_object_get(m, "totalLag"));
    }
    json_decref(m);
    return n;
}

static int64_t table_rows(struct qs *q)
{
    json_t *rows = NULL;
    int64_t n = -1;
    if (api(q, "POST", "/v1/query/sql",
            "{\"query\": \"SELECT COUNT(*) FROM wikipedia\", \"resultFormat\": \"array\"}",
            &rows) == 200)
        n = json_integer_value(json_array_get(json_array_get(rows, 0), 0));
    json_decref(rows);
    return n;
}

static int run(struct qs *q, int64_t events, int64_t rate)
{
    say("Lodestar quickstart: streaming %lld wiki-edit events into a table through Kafka.\n",
        (long long)events);
    if (start_broker(q)) {
        fprintf(stderr, "quickstart: the dev broker did not start (see %s/dev-kafka.log)\n",
                q->dir);
        return 1;
    }
    say("  dev broker      %s (topic wikipedia, 8 partitions)\n", q->bootstrap);
    if (start_server(q)) {
        fprintf(stderr, "quickstart: the server did not start (see %s/server.log)\n", q->dir);
        return 1;
    }
    say("  server          http://127.0.0.1:%d (data in %s/data)\n", q->port, q->dir);
    char conn[512];
    snprintf(conn, sizeof conn,
             "{\"type\": \"kafka\", \"name\": \"wikipedia-kafka\", \"bootstrapServers\": \"%s\","
             " \"topicName\": \"wikipedia\"}",
             q->bootstrap);
    json_t *job = NULL;
    if (api(q, "POST", "/v2/tables",
            "{\"name\": \"wikipedia\", \"type\": \"detail\", \"partitioningGranularity\": "
            "\"hour\"}",
            NULL) != 201 ||
        api(q, "POST", "/v2/connections", conn, NULL) != 201 ||
        api(q, "POST", "/v2/jobs", JOB, &job) != 201) {
        json_decref(job);
        return 1;
    }
    char job_id[40];
    snprintf(job_id, sizeof job_id, "%s", json_string_value(json_object_get(job, "id")));
    json_decref(job);
    say("  table, connection and job created: POST /v2/tables, /v2/connections, /v2/jobs\n\n");

    struct lerr err;
    lerr_init(&err);
    struct source_producer *p = source_producer_new(q->bootstrap, "wikipedia", &err);
    struct wikigen *g = wikigen_new(42);
    struct buf b;
    buf_init(&b, 0);
    if (!p || !g) {
        fprintf(stderr, "quickstart: %s\n", err.msg);
        wikigen_free(g);
        source_producer_free(p);
        return 1;
    }
    int64_t t0 = util_mono_ns(), last_print = 0, lag = 0, ingested = 0;
    for (int64_t i = 0; i < events; i++) {
        int64_t due = t0 + i * 1000000000LL / rate;
        while (util_mono_ns() < due)
            sleep_ms(1);
        buf_reset(&b);
        wikigen_next(g, util_now_ms(), &b);
        if (source_produce(p, b.data, b.len, &err)) {
            fprintf(stderr, "quickstart: %s\n", err.msg);
            break;
        }
        if (util_mono_ns() - last_print > 250000000LL) {
            last_print = util_mono_ns();
            ingested = job_processed(q, job_id, &lag);
            say("\r  produced %8lld   ingested %8lld   lag %7lld   ", (long long)i + 1,
                (long long)(ingested < 0 ? 0 : ingested), (long long)(lag < 0 ? 0 : lag));
        }
    }
    int64_t produced = source_producer_flush(p, 10000);
    source_producer_free(p);
    wikigen_free(g);
    buf_free(&b);
    int64_t deadline = util_mono_ns() + 30000000000LL;
    int64_t visible = -1;
    while (util_mono_ns() < deadline) {
        ingested = job_processed(q, job_id, &lag);
        visible = table_rows(q);
        say("\r  produced %8lld   ingested %8lld   lag %7lld   ", (long long)produced,
            (long long)ingested, (long long)(lag < 0 ? 0 : lag));
        if (visible == produced)
            break;
        sleep_ms(200);
    }
    double secs = (double)(util_mono_ns() - t0) / 1e9;
    say("\n\n  %lld of %lld events queryable %.1f s after the first was produced.\n",
        (long long)visible, (long long)produced, secs);
    if (visible != produced) {
        fprintf(stderr, "quickstart: not every event became queryable in time\n");
        return 1;
    }
    int bad = print_table(q, "Edits and characters added per channel",
                          "SELECT channel, COUNT(*) AS edits, SUM(added) AS added FROM wikipedia "
                          "GROUP BY channel ORDER BY edits DESC LIMIT 5");
    bad |= print_table(q, "Most edited pages by people (not robots)",
                       "SELECT page, COUNT(*) AS edits FROM wikipedia WHERE isRobot = 0 "
                       "GROUP BY page ORDER BY edits DESC, page LIMIT 5");
    bad |= print_table(q, "Anonymous edits by country",
                       "SELECT country, COUNT(*) AS edits, SUM(delta) AS net_delta "
                       "FROM wikipedia WHERE country IS NOT NULL GROUP BY country "
                       "ORDER BY edits DESC LIMIT 5");
    if (bad) {
        fprintf(stderr, "quickstart: a query failed (see %s/server.log)\n", q->dir);
        return 1;
    }
    say("\nNext: run `lodestar serve` and follow the curl walk-through in the README.\n");
    return 0;
}

int quickstart_main(const char *self, int64_t events, int64_t rate, bool keep)
{
    struct qs q = {0};
    snprintf(q.self, sizeof q.self, "%s", self);
    snprintf(q.dir, sizeof q.dir, "/tmp/lodestar-quickstart-XXXXXX");
    if (!mkdtemp(q.dir)) {
        fprintf(stderr, "quickstart: cannot make a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    q.curl = curl_easy_init();
    signal(SIGPIPE, SIG_IGN);
    int rc = q.curl ? run(&q, events, rate) : 1;
    say("\nStopping: ");
    stop_child(q.server, "the server");
    say("server stopped, ");
    stop_child(q.broker, "the dev broker");
    say("broker stopped.\n");
    curl_easy_cleanup(q.curl);
    curl_global_cleanup();
    if (!keep && rc == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", q.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "quickstart: could not remove %s\n", q.dir);
    } else {
        say("Logs and data kept in %s\n", q.dir);
    }
    return rc;
}
