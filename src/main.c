/*
 * main.c — the `lodestar` command line. It only parses arguments and wires
 * modules together:
 *
 *   lodestar serve [--data-dir DIR] [--listen HOST:PORT] [--log-format text|json]
 *                  [--catalog postgresql://USER@HOST:PORT/DB]
 *   lodestar apikey create --data-dir DIR|--catalog URI --name NAME --permissions P1,P2
 *   lodestar dev-kafka [--port PORT] [--topic NAME[:PARTITIONS]]...
 *   lodestar version
 *   lodestar help [COMMAND], lodestar COMMAND --help
 *
 * Each command's help (flags and environment) is in helps[].
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "catalog/catalog.h"
#include "cluster_cli.h"
#include "config.h"
#include "query/query.h"
#include "quickstart.h"
#include "source/source.h"
#include "util/time.h"
#include "util/util.h"
#include "util/wikigen.h"

#include <time.h>
#include <unistd.h>

#define LODESTAR_VERSION "0.1.0"

/* Every command: its synopsis, what it does, and its flags and environment. */
static const struct command_help {
    const char *name, *synopsis, *summary, *details;
} helps[] = {
    {"serve",
     "lodestar serve [--data-dir DIR] [--listen HOST:PORT] [--log-format text|json]\n"
     "               [--metrics-listen HOST:PORT] [--catalog postgresql://USER@HOST:PORT/DB]\n"
     "               [--segments s3://BUCKET/PREFIX] [--s3-endpoint URL]\n"
     "               [--segment-cache-size BYTES] [--node-id NAME] [--advertise URL]\n"
     "               [--push-kafka BOOTSTRAP] [--config FILE]",
     "the server (defaults: ./lodestar-data, 127.0.0.1:8088)",
     "  the web console is at http://HOST:PORT/console (it asks for an API key);\n"
     "  GET /health and GET /ready answer without a key\n"
     "  --data-dir DIR        where the catalog, segments, push logs and uploads live\n"
     "                        (created 0700; DIR/admin.key holds the first admin key)\n"
     "  --listen HOST:PORT    the HTTP address (port 0: any free port, logged at start)\n"
     "  --catalog URI         the catalog in PostgreSQL (postgresql://USER@HOST:PORT/DB,\n"
     "                        password from ~/.pgpass or PGPASSWORD) instead of\n"
     "                        DIR/catalog.db (also LODESTAR_CATALOG)\n"
     "  --log-format FORMAT   text (default) or json: one object a line with time, level,\n"
     "                        component, message and the request id (also\n"
     "                        LODESTAR_LOG_FORMAT)\n"
     "  --metrics-listen HOST:PORT  also serve GET /metrics there without a key (for\n"
     "                        Prometheus on a private address; /metrics on --listen\n"
     "                        keeps needing a key)\n"
     "  --segments s3://BUCKET/PREFIX  keep segments in an S3-compatible object store,\n"
     "                        DIR caching them (also LODESTAR_SEGMENTS; credentials:\n"
     "                        AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
     "                        AWS_REGION)\n"
     "  --s3-endpoint URL     the store's endpoint, path-style (also AWS_ENDPOINT_URL;\n"
     "                        default: AWS)\n"
     "  --segment-cache-size BYTES  the local segment cache's bound, with K, M, G or T\n"
     "                        (default 10G; open segments are never evicted)\n"
     "  --node-id NAME        this server among the nodes of its catalog (HOST:PORT)\n"
     "  --advertise URL       its API address for the other nodes (http://HOST:PORT)\n"
     "  --push-kafka BOOTSTRAP  push connections on Kafka: a push is answered once Kafka\n"
     "                        holds it (acks=all), and jobs read its topic\n"
     "  --config FILE         settings as \"name = value\" lines, names the flags above\n"
     "                        without dashes (also LODESTAR_CONFIG); every flag is also\n"
     "                        LODESTAR_<FLAG> (LODESTAR_NODE_ID, ...); the command line\n"
     "                        wins over the environment, which wins over the file\n"
     "  LODESTAR_CLUSTER_SECRET  the same value on every node of a cluster\n"
     "environment (sizes: bytes, or with K, M or G; README \"Configuration\"):\n"
     "  LODESTAR_PERSIST_MAX_ROWS        realtime rows of a table before a persist (500000)\n"
     "  LODESTAR_PERSIST_MAX_BYTES       realtime bytes of a table before a persist (128M)\n"
     "  LODESTAR_PERSIST_MAX_AGE_MS      age of the oldest unpersisted row (10000)\n"
     "  LODESTAR_PUSH_SEGMENT_BYTES      a push log file's size before it rolls (64M)\n"
     "  LODESTAR_PUSH_TRIM_MS            how often read push-log files are deleted (10000)\n"
     "  LODESTAR_COMPACT_MS              how often small segments are merged (30000)\n"
     "  LODESTAR_SHUTDOWN_TIMEOUT_MS     how long SIGTERM retries failing persists (10000)\n"
     "  LODESTAR_QUERY_TOTAL_BYTES       memory all running queries may hold (2G or less)\n"
     "  LODESTAR_QUERY_MAX_BYTES         the most context.maxQueryBytes may ask for\n"
     "  LODESTAR_HTTP_IDLE_TIMEOUT_S     an idle connection is closed after it\n"
     "  LODESTAR_HTTP_REQUEST_TIMEOUT_S  a request's headers and body must arrive in it\n"
     "  LODESTAR_HTTP_MIN_BODY_RATE      body bytes a second that extend that deadline\n"
     "  LODESTAR_HTTP_MAX_CONNECTIONS    open connections in all\n"
     "  LODESTAR_HTTP_MAX_CONNECTIONS_PER_IP  open connections from one address\n"
     "  LODESTAR_LOG_FORMAT              text or json, as --log-format\n"
     "signals: SIGTERM and SIGINT persist what is buffered, then exit (1 if that failed)\n"},
    {"apikey",
     "lodestar apikey create --data-dir DIR|--catalog URI --name NAME --permissions P1,P2",
     "prints a new API key; works while the server runs",
     "  --data-dir DIR        the server's data directory\n"
     "  --catalog URI         or its PostgreSQL catalog, as serve's (also LODESTAR_CATALOG)\n"
     "  --name NAME           a unique name (1-100 characters)\n"
     "  --permissions LIST    comma-separated: ManageTables, ViewTables,\n"
     "                        ManageConnections, ManageIngestionJobs, AccessQueries,\n"
     "                        ManageApiKeys, or * for all\n"
     "the key is printed once; only its SHA-256 is stored. The API manages keys too:\n"
     "POST/GET/DELETE /v1/projects/{id}/apikeys (README \"API keys\")\n"},
    {"dev-kafka", "lodestar dev-kafka [--port PORT] [--topic NAME[:PARTITIONS]]...",
     "a local Kafka-protocol broker for development and tests",
     "  --port PORT           the port (0: any free one; the address is printed)\n"
     "  --topic NAME[:N]      a topic with N partitions (1), repeatable\n"
     "librdkafka's mock cluster: it keeps only ~5 MiB and 100,000 messages per partition\n"
     "and silently drops older data; use more partitions for more data. SIGUSR1 takes it\n"
     "down, SIGUSR2 brings it back\n"},
    {"generate", "lodestar generate --events N [--rate R] [--seed S] [--start ISO-8601]",
     "writes N realistic Wikipedia-edit events as nd-json on stdout",
     "  --events N            how many (required)\n"
     "  --rate R              paced at R events/s and stamped with the wall clock\n"
     "  --seed S              the generator's seed (the same seed, the same events)\n"
     "  --start ISO-8601      without --rate: the first event's time (now), then one\n"
     "                        millisecond apart\n"},
    {"quickstart", "lodestar quickstart [--events N] [--rate R] [--keep]",
     "the main job end to end: a dev broker, a server, a table, a Kafka connection and a "
     "streaming job",
     "  --events N            events to stream (100000)\n"
     "  --rate R              events a second (25000)\n"
     "  --keep                keep the temporary data directory and logs (else removed)\n"
     "prints SQL answers as the rows arrive, then stops cleanly\n"},
    {"cluster", "lodestar cluster status [--url URL] [--api-key KEY | --data-dir DIR] [--json]",
     "the nodes sharing a catalog: address, live or not, heartbeat, jobs, partitions, lag",
     "  --url URL             any node's API (http://127.0.0.1:8088; LODESTAR_URL)\n"
     "  --api-key KEY         a key (LODESTAR_API_KEY); else DIR/admin.key of --data-dir\n"
     "                        (./lodestar-data)\n"
     "  --json                print GET /v1/cluster's answer as is\n"},
    {"version", "lodestar version", "prints the version", ""},
    {"help", "lodestar help [COMMAND]", "this text, or one command's flags and environment", ""},
};

static const struct command_help *find_help(const char *name)
{
    for (size_t i = 0; i < LS_ARRAY_LEN(helps); i++)
        if (strcmp(helps[i].name, name) == 0)
            return &helps[i];
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage:\n", f);
    for (size_t i = 0; i < LS_ARRAY_LEN(helps); i++)
        fprintf(f, "  %s\n      %s\n", helps[i].synopsis, helps[i].summary);
    fputs("`lodestar COMMAND --help` shows a command's flags and environment\n", f);
}

static int command_usage(const char *name)
{
    const struct command_help *h = find_help(name);
    if (!h)
        return 2;
    printf("usage: %s\n%s\n%s", h->synopsis, h->summary, h->details);
    return 0;
}

/* Whether argv holds --help or -h (the command then prints its help). */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* Returns the value of option argv[*i] ("--x VALUE" or "--x=VALUE"), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "lodestar: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

static int cmd_dev_kafka(int argc, char **argv)
{
    struct source_devkafka_topic topics[64];
    char names[64][256];
    struct source_devkafka_opts o = {.port = 0, .topics = topics, .ntopics = 0};
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--port"))) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 0 || p > 65535) {
                fprintf(stderr, "lodestar dev-kafka: --port must be 0..65535, got '%s'\n", v);
                return 2;
            }
            o.port = (int)p;
        } else if ((v = opt_value(argc, argv, &i, "--topic"))) {
            if (o.ntopics == (int)LS_ARRAY_LEN(topics)) {
                fprintf(stderr, "lodestar dev-kafka: at most 64 topics\n");
                return 2;
            }
            const char *colon = strrchr(v, ':');
            size_t nlen = colon ? (size_t)(colon - v) : strlen(v);
            long parts = 1;
            if (colon) {
                char *end;
                parts = strtol(colon + 1, &end, 10);
                if (*end || parts < 1 || parts > 1000) {
                    fprintf(stderr, "lodestar dev-kafka: --topic %s: partitions must be 1..1000\n",
                            v);
                    return 2;
                }
            }
            if (nlen == 0 || nlen >= sizeof names[0]) {
                fprintf(stderr, "lodestar dev-kafka: --topic needs a name (NAME[:PARTITIONS])\n");
                return 2;
            }
            memcpy(names[o.ntopics], v, nlen);
            names[o.ntopics][nlen] = '\0';
            topics[o.ntopics].name = names[o.ntopics];
            topics[o.ntopics].partitions = (int)parts;
            o.ntopics++;
        } else {
            fprintf(stderr, "lodestar dev-kafka: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    struct lerr err;
    lerr_init(&err);
    if (source_devkafka_run(&o, &err)) {
        fprintf(stderr, "lodestar dev-kafka: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* A tuning knob from the environment (documented in the README); 0 when unset. */
static uint64_t env_u64(const char *name)
{
    const char *v = getenv(name);
    char *end;
    unsigned long long x = v ? strtoull(v, &end, 10) : 0;
    return v && *v && !*end ? x : 0;
}

/* BYTES, or with a K, M, G or T suffix (powers of 1024); false when malformed. */
static bool parse_bytes(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || v[0] == '-' || errno)
        return false;
    int shift = 0;
    switch (*end) {
    case 'K':
    case 'k':
        shift = 10;
        end++;
        break;
    case 'M':
    case 'm':
        shift = 20;
        end++;
        break;
    case 'G':
    case 'g':
        shift = 30;
        end++;
        break;
    case 'T':
    case 't':
        shift = 40;
        end++;
        break;
    default: break;
    }
    if (*end || x == 0 || x > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)x << shift;
    return true;
}

/*
 * The data directory holds connection secrets, API key hashes and every
 * event: the server creates it 0700 and everything in it 0600 (umask 077,
 * set in main). One the user made first (mkdir -p, a mounted volume) may let
 * others in: say so, and take group/other permissions off the files inside
 * (written by an older version or under another umask).
 */
static void check_data_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return; /* api_serve creates it, 0700 */
    if (st.st_mode & 077)
        log_msg(LOG_WARN, "server",
                "data directory %s can be entered by other users (mode %04o): it holds "
                "connection secrets, API key hashes and every event; its files are made "
                "private (0600), and `chmod 700 %s` closes the directory itself",
                dir, (unsigned)(st.st_mode & 07777), dir);
    struct lerr err;
    lerr_init(&err);
    int n = util_private_tree(dir, &err);
    if (n > 0)
        log_msg(LOG_WARN, "server", "%s: took group and other permissions off %d file(s)", dir, n);
    else if (n < 0)
        log_msg(LOG_WARN, "server", "%s", err.msg);
}

/* An HTTP limit from the environment (README "HTTP limits"): left as it is when
 * unset; -1 (after saying why) when set to anything but a whole number. */
static int env_limit(const char *name, unsigned *out)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*end || v[0] == '-' || x > 1000000000ul) {
        fprintf(stderr,
                "lodestar serve: %s='%s' is not a whole number of at most 1000000000; "
                "unset it for the default\n",
                name, v);
        return -1;
    }
    *out = (unsigned)x;
    return 0;
}

/*
 * The server's allocation pattern: every persist frees a chunk's realtime
 * pages, dictionaries and segment buffers (tens of MB) and the next chunk
 * allocates as much again. glibc's defaults hand blocks over 128 KiB back
 * with munmap and trim the heap past 128 KiB free, so each chunk faulted
 * its memory in afresh (about a tenth of the server's CPU per ingested row,
 * and librdkafka's fetch buffers too). Here freed memory stays for reuse:
 * blocks up to 32 MiB come from the heap, and a heap keeps up to 64 MiB
 * free at its top (plus 16 MiB of padding per growth) before giving pages
 * back. Bounded, so an idle server still returns what a burst took. A
 * MALLOC_*_ variable (glibc's own tuning) set in the environment wins.
 */
static void tune_malloc(void)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
    static const struct {
        const char *env;
        int param;
        int value;
    } knobs[] = {
        {"MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, 32 << 20},
        {"MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, 64 << 20},
        {"MALLOC_TOP_PAD_", M_TOP_PAD, 16 << 20},
    };
    if (getenv("GLIBC_TUNABLES"))
        return;
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++)
        if (!getenv(knobs[i].env))
            mallopt(knobs[i].param, knobs[i].value);
#endif
}

/* serve's value-taking flags: each also a config-file setting and a LODESTAR_<FLAG> variable */
static const char *const serve_flags[] = {
    "data-dir",  "catalog",    "listen",   "metrics-listen", "log-format",         "node-id",
    "advertise", "push-kafka", "segments", "s3-endpoint",    "segment-cache-size", NULL};

static int cmd_serve(int argc, char **argv)
{
    struct api_opts o = {
        .data_dir = "./lodestar-data", .listen = "127.0.0.1:8088", .http = API_HTTP_OPTS_DEFAULT};
    if (env_limit("LODESTAR_HTTP_IDLE_TIMEOUT_S", &o.http.idle_timeout_s) ||
        env_limit("LODESTAR_HTTP_REQUEST_TIMEOUT_S", &o.http.request_timeout_s) ||
        env_limit("LODESTAR_HTTP_MIN_BODY_RATE", &o.http.min_body_rate) ||
        env_limit("LODESTAR_HTTP_MAX_CONNECTIONS", &o.http.max_connections) ||
        env_limit("LODESTAR_HTTP_MAX_CONNECTIONS_PER_IP", &o.http.max_connections_per_ip))
        return 2;
    o.ingest.persist_max_rows = env_u64("LODESTAR_PERSIST_MAX_ROWS");
    o.ingest.persist_max_bytes = env_u64("LODESTAR_PERSIST_MAX_BYTES");
    o.ingest.persist_max_age_ms = (int64_t)env_u64("LODESTAR_PERSIST_MAX_AGE_MS");
    o.ingest.push_segment_bytes = env_u64("LODESTAR_PUSH_SEGMENT_BYTES");
    o.ingest.trim_period_ms = (int)env_u64("LODESTAR_PUSH_TRIM_MS");
    o.ingest.compact_period_ms = (int)env_u64("LODESTAR_COMPACT_MS");
    o.ingest.orphan_grace_ms = (int64_t)env_u64("LODESTAR_ORPHAN_GRACE_MS");
    o.orphan_sweep_ms = (int64_t)env_u64("LODESTAR_ORPHAN_SWEEP_MS");
    uint64_t shutdown_ms = env_u64("LODESTAR_SHUTDOWN_TIMEOUT_MS");
    o.ingest.shutdown_timeout_ms = shutdown_ms > 3600000 ? 3600000 : (int)shutdown_ms;
    const char *log_format = NULL;
    o.cluster_secret = getenv("LODESTAR_CLUSTER_SECRET");
    o.version = LODESTAR_VERSION;
    /* the settings of a config file and LODESTAR_<FLAG> variables, then the command line */
    char msg[1400];
    if (main_config_args(serve_flags, argc, argv, &argc, &argv, msg, sizeof msg)) {
        fprintf(stderr, "lodestar serve: %s\n", msg);
        return 2;
    }
    const char *cache_size = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--data-dir"))) {
            o.data_dir = v;
        } else if ((v = opt_value(argc, argv, &i, "--catalog"))) {
            o.catalog = v;
        } else if ((v = opt_value(argc, argv, &i, "--segments"))) {
            o.segments = v;
        } else if ((v = opt_value(argc, argv, &i, "--s3-endpoint"))) {
            o.s3_endpoint = v;
        } else if ((v = opt_value(argc, argv, &i, "--segment-cache-size"))) {
            cache_size = v;
        } else if ((v = opt_value(argc, argv, &i, "--listen"))) {
            o.listen = v;
        } else if ((v = opt_value(argc, argv, &i, "--metrics-listen"))) {
            o.metrics_listen = v;
        } else if ((v = opt_value(argc, argv, &i, "--log-format"))) {
            log_format = v;
        } else if ((v = opt_value(argc, argv, &i, "--node-id"))) {
            o.node_id = v;
        } else if ((v = opt_value(argc, argv, &i, "--advertise"))) {
            o.advertise = v;
        } else if ((v = opt_value(argc, argv, &i, "--push-kafka"))) {
            o.push_kafka = v;
        } else {
            fprintf(stderr, "lodestar serve: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            main_config_free(argc, argv);
            return 2;
        }
    }
    if (log_format && *log_format && strcmp(log_format, "text") != 0 &&
        strcmp(log_format, "json") != 0) {
        fprintf(stderr,
                "lodestar serve: the log format must be text or json, not '%s' (--log-format "
                "or LODESTAR_LOG_FORMAT)\n",
                log_format);
        main_config_free(argc, argv);
        return 2;
    }
    log_set_json(log_format && strcmp(log_format, "json") == 0);
    if (cache_size && !parse_bytes(cache_size, &o.segment_cache_bytes)) {
        fprintf(stderr,
                "lodestar serve: --segment-cache-size '%s' is not a size: write bytes, or a "
                "number with K, M, G or T (10G)\n",
                cache_size);
        return 2;
    }
    struct lerr err;
    lerr_init(&err);
    check_data_dir(o.data_dir);
    tune_malloc();
    /* Exit 1 when it could not start, and also when a shutdown left buffered rows
     * unpersisted (a full disk): supervisors then see that the stop was not clean. */
    int rc = 0;
    if (query_limits_from_env(&err) || api_serve(&o, &err)) {
        fprintf(stderr, "lodestar serve: %s\n", err.msg);
        rc = 1;
    }
    main_config_free(argc, argv);
    return rc;
}

static int cmd_cluster(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "status") != 0) {
        fprintf(stderr, "lodestar cluster: expected 'status'\n");
        command_usage("cluster");
        return 2;
    }
    const char *url = getenv("LODESTAR_URL"), *key = getenv("LODESTAR_API_KEY");
    const char *dir = "./lodestar-data";
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--url")))
            url = v;
        else if ((v = opt_value(argc, argv, &i, "--api-key")))
            key = v;
        else if ((v = opt_value(argc, argv, &i, "--data-dir")))
            dir = v;
        else if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else {
            fprintf(stderr, "lodestar cluster status: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char keybuf[128] = "";
    if (!key || !*key) {
        char path[1100];
        snprintf(path, sizeof path, "%s/admin.key", dir);
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr,
                    "lodestar cluster status: no API key: give --api-key or LODESTAR_API_KEY, "
                    "or --data-dir of a node (cannot read %s: %s)\n",
                    path, strerror(errno));
            return 2;
        }
        if (!fgets(keybuf, sizeof keybuf, f))
            keybuf[0] = '\0';
        fclose(f);
        keybuf[strcspn(keybuf, "\r\n")] = '\0';
        key = keybuf;
    }
    return main_cluster_status(url && *url ? url : "http://127.0.0.1:8088", key, as_json);
}

static int cmd_apikey(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "create") != 0) {
        fprintf(stderr, "lodestar apikey: expected 'create'\n");
        usage(stderr);
        return 2;
    }
    const char *dir = NULL, *name = NULL, *perms = NULL, *catalog = getenv("LODESTAR_CATALOG");
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--data-dir")))
            dir = v;
        else if ((v = opt_value(argc, argv, &i, "--catalog")))
            catalog = v;
        else if ((v = opt_value(argc, argv, &i, "--name")))
            name = v;
        else if ((v = opt_value(argc, argv, &i, "--permissions")))
            perms = v;
        else {
            fprintf(stderr, "lodestar apikey create: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (catalog && !*catalog)
        catalog = NULL;
    if ((!dir && !catalog) || !name || !perms) {
        fprintf(stderr, "lodestar apikey create: --data-dir (or --catalog), --name and "
                        "--permissions are required\n");
        return 2;
    }
    char path[4096];
    if (catalog) /* as serve: the catalog wherever it is, DIR/catalog.db otherwise */
        snprintf(path, sizeof path, "%s", catalog);
    else
        snprintf(path, sizeof path, "%s/catalog.db", dir);
    struct lerr err;
    lerr_init(&err);
    struct catalog *cat = NULL;
    char key[48];
    if (catalog_open(path, &cat, &err) || api_apikey_create(cat, name, perms, key, &err)) {
        fprintf(stderr, "lodestar apikey create: %s\n", err.msg);
        catalog_close(cat);
        return 1;
    }
    catalog_close(cat);
    printf("%s\n", key);
    return 0;
}

static int parse_count(const char *flag, const char *v, long long min, long long *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || x < min) {
        fprintf(stderr, "lodestar: %s must be a whole number >= %lld, got '%s'\n", flag, min, v);
        return 2;
    }
    *out = x;
    return 0;
}

static int cmd_generate(int argc, char **argv)
{
    long long events = -1, rate = 0, seed = 1;
    int64_t start = util_now_ms();
    for (int i = 0; i < argc; i++) {
        const char *v;
        int rc = 0;
        if ((v = opt_value(argc, argv, &i, "--events")))
            rc = parse_count("--events", v, 0, &events);
        else if ((v = opt_value(argc, argv, &i, "--rate")))
            rc = parse_count("--rate", v, 1, &rate);
        else if ((v = opt_value(argc, argv, &i, "--seed")))
            rc = parse_count("--seed", v, 0, &seed);
        else if ((v = opt_value(argc, argv, &i, "--start"))) {
            if (!time_parse_iso(v, strlen(v), NULL, &start)) {
                fprintf(stderr,
                        "lodestar generate: --start '%s' is not an ISO-8601 time such "
                        "as 2015-09-12T00:00:00Z\n",
                        v);
                return 2;
            }
        } else {
            fprintf(stderr, "lodestar generate: unknown argument '%s'\n", argv[i]);
            return 2;
        }
        if (rc)
            return rc;
    }
    if (events < 0) {
        fprintf(stderr, "lodestar generate: --events N is required\n");
        return 2;
    }
    struct wikigen *g = wikigen_new((uint64_t)seed);
    struct buf b;
    buf_init(&b, 0);
    if (!g)
        return 1;
    int64_t t0 = util_mono_ns();
    for (long long i = 0; i < events; i++) {
        int64_t t = start + i;
        if (rate) {
            /* Pace to the rate; stamp with the wall clock at emission. */
            int64_t due = t0 + (int64_t)(i * 1000000000LL / rate);
            int64_t now = util_mono_ns();
            if (due > now) {
                fflush(stdout);
                struct timespec ts = {(time_t)((due - now) / 1000000000LL),
                                      (long)((due - now) % 1000000000LL)};
                nanosleep(&ts, NULL);
            }
            t = util_now_ms();
        }
        buf_reset(&b);
        wikigen_next(g, t, &b);
        buf_putc(&b, '\n');
        if (fwrite(b.data, 1, b.len, stdout) != b.len)
            break; /* the reader went away */
    }
    fflush(stdout);
    buf_free(&b);
    wikigen_free(g);
    return 0;
}

static int cmd_quickstart(int argc, char **argv)
{
    long long events = 100000, rate = 25000;
    bool keep = false;
    for (int i = 0; i < argc; i++) {
        const char *v;
        int rc = 0;
        if ((v = opt_value(argc, argv, &i, "--events")))
            rc = parse_count("--events", v, 1, &events);
        else if ((v = opt_value(argc, argv, &i, "--rate")))
            rc = parse_count("--rate", v, 1, &rate);
        else if (strcmp(argv[i], "--keep") == 0)
            keep = true;
        else {
            fprintf(stderr, "lodestar quickstart: unknown argument '%s'\n", argv[i]);
            return 2;
        }
        if (rc)
            return rc;
    }
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "lodestar quickstart: cannot find its own binary\n");
        return 1;
    }
    self[n] = '\0';
    return quickstart_main(self, events, rate, keep);
}

int main(int argc, char **argv)
{
    /* Everything Lodestar writes is private to its user: the catalog (connection secrets,
     * key hashes), push logs, segments, uploads. */
    umask(077);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (find_help(cmd) && wants_help(argc - 2, argv + 2))
        return command_usage(cmd);
    if (strcmp(cmd, "help") == 0 && argc >= 3) {
        if (command_usage(argv[2]) == 0)
            return 0;
        fprintf(stderr, "lodestar help: unknown command '%s'\n", argv[2]);
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "apikey") == 0)
        return cmd_apikey(argc - 2, argv + 2);
    if (strcmp(cmd, "cluster") == 0)
        return cmd_cluster(argc - 2, argv + 2);
    if (strcmp(cmd, "dev-kafka") == 0)
        return cmd_dev_kafka(argc - 2, argv + 2);
    if (strcmp(cmd, "generate") == 0)
        return cmd_generate(argc - 2, argv + 2);
    if (strcmp(cmd, "quickstart") == 0)
        return cmd_quickstart(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("lodestar %s\n", LODESTAR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "lodestar: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
