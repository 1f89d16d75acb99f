/*
 * connections.c — /connections: where events come from. Types: push_streaming,
 * kafka (Apache Kafka, MSK), confluent (Confluent Cloud),
 * confluent_schema_registry, kinesis, s3 (a bucket and prefix that batch
 * jobs read objects from), each with its own fields (API.md).
 * Secrets are write-only: stored apart from the document, never returned,
 * never logged; an update without "secrets" keeps the stored ones.
 */
#include <string.h>

#include "api/api_int.h"
#include "ingest/ingest.h"
#include "source/pushtopic.h"
#include "source/pushreg.h"
#include "util/s3.h"

static const char *const conn_types[] = {CATALOG_CONN_TYPE_MAP(CATALOG_NAME_LIST) NULL};
static const char *const server_fields[] = {"submittedByUser", "submittedOnTimestamp",
                                            "modifiedByUser", "modifiedOnTimestamp", NULL};

/* The fields each type takes besides type, name, description, secrets. */
static const char *const *type_fields(const char *type)
{
    static const char *const push[] = {"type", "name", "description", NULL};
    static const char *const kafka[] = {
        "type",    "name", "description", "bootstrapServers", "topicName", "topicNamePattern",
        "secrets", "ssl",  NULL};
    static const char *const confluent[] = {
        "type", "name", "description", "bootstrapServers", "topicName", "secrets", NULL};
    static const char *const registry[] = {"type", "name", "description", "urls", "secrets", NULL};
    static const char *const kinesis[] = {"type",     "name",   "description",       "stream",
                                          "endpoint", "region", "awsAssumedRoleArn", "secrets",
                                          NULL};
    if (catalog_conn_type_parse(type) == CATALOG_CONN_KAFKA)
        return kafka;
    if (catalog_conn_type_parse(type) == CATALOG_CONN_CONFLUENT)
        return confluent;
    if (catalog_conn_type_parse(type) == CATALOG_CONN_SCHEMA_REGISTRY)
        return registry;
    static const char *const s3[] = {"type",    "name",     "description", "bucket",
                                     "prefix",  "endpoint", "region",      "awsAssumedRoleArn",
                                     "secrets", NULL};
    if (catalog_conn_type_parse(type) == CATALOG_CONN_KINESIS)
        return kinesis;
    if (catalog_conn_type_parse(type) == CATALOG_CONN_S3)
        return s3;
    return push;
}

int api__v_connection_name(const char *name, const char *target, struct lerr *err)
{
    size_t n = strlen(name);
    /* A push connection's name names its log directory: never "." or "..". */
    bool ok = n >= 1 && n <= 64 && util_name_is_path_safe(name);
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: connection name '%.100s' must be 1 to 64 characters of A-Z, "
                           "a-z, 0-9, '.', '_' and '-', and not '.' or '..'",
                           target, name);
    return 0;
}

/* "host:port[,host:port...]" */
static int v_bootstrap(const char *s, struct lerr *err)
{
    char tmp[1024];
    if (strlen(s) >= sizeof tmp)
        return lerr_set_at(err, LERR_INVALID, "bootstrapServers",
                           "bootstrapServers is too long (at most 1023 bytes)");
    snprintf(tmp, sizeof tmp, "%s", s);
    int count = 0;
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        char *colon = strrchr(t, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == t || !end || (*end && *end != ' ') || port < 1 || port > 65535)
            return lerr_set_at(err, LERR_INVALID, "bootstrapServers",
                               "bootstrapServers: '%s' is not HOST:PORT; give a comma-separated "
                               "list such as \"broker1:9092,broker2:9092\"",
                               t);
        count++;
    }
    if (!count)
        return lerr_set_at(err, LERR_INVALID, "bootstrapServers",
                           "bootstrapServers is empty; give e.g. \"localhost:9092\"");
    return 0;
}

/* Validates the secrets object for the connection type; returns a copy to store. */
static json_t *v_secrets(json_t *sec, const char *type, struct lerr *err)
{
    if (!json_is_object(sec)) {
        lerr_set_at(err, LERR_INVALID, "secrets", "secrets must be an object");
        return NULL;
    }
    const char *stype = NULL, *mech = NULL, *user = NULL, *pass = NULL;
    static const char *const kafka_types[] = {"sasl_plain", "sasl_scram", NULL};
    static const char *const plain_only[] = {"sasl_plain", NULL};
    static const char *const basic_only[] = {"basic", NULL};
    static const char *const aws_types[] = {"aws_access_key", "access_key", NULL};
    static const char *const mechs[] = {"SCRAM-SHA-256", "SCRAM-SHA-512", NULL};
    static const char *const sasl_keys[] = {"type", "mechanism", "username", "password", NULL};
    static const char *const basic_keys[] = {"type", "username", "password", NULL};
    static const char *const aws_keys[] = {"type", "accessKeyId", "secretAccessKey", NULL};
    if (catalog_conn_type_parse(type) == CATALOG_CONN_KINESIS ||
        catalog_conn_type_parse(type) == CATALOG_CONN_S3) {
        if (api__v_known_keys(sec, "secrets", aws_keys, err) ||
            api__v_enum(sec, "type", "secrets", true, aws_types, &stype, err) ||
            api__v_string(sec, "accessKeyId", "secrets", true, 256, &user, err) ||
            api__v_string(sec, "secretAccessKey", "secrets", true, 256, &pass, err))
            return NULL;
        return json_deep_copy(sec);
    }
    bool registry = catalog_conn_type_parse(type) == CATALOG_CONN_SCHEMA_REGISTRY;
    const char *const *types = registry ? basic_only
                               : catalog_conn_type_parse(type) == CATALOG_CONN_CONFLUENT
                                   ? plain_only
                                   : kafka_types;
    if (api__v_known_keys(sec, "secrets", registry ? basic_keys : sasl_keys, err) ||
        api__v_enum(sec, "type", "secrets", true, types, &stype, err) ||
        api__v_string(sec, "username", "secrets", true, 1024, &user, err) ||
        api__v_string(sec, "password", "secrets", true, 4096, &pass, err))
        return NULL;
    if (strcmp(stype, "sasl_scram") == 0) {
        if (api__v_enum(sec, "mechanism", "secrets", true, mechs, &mech, err))
            return NULL;
    } else if (json_object_get(sec, "mechanism")) {
        lerr_set_at(err, LERR_INVALID, "secrets.mechanism",
                    "secrets.mechanism applies to \"sasl_scram\" only; remove it");
        return NULL;
    }
    return json_deep_copy(sec);
}

/* A Kinesis stream name: 1..128 of A-Z a-z 0-9 _ . - (AWS's rule). */
static bool kinesis_stream_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/*
 * What the AWS connections (kinesis, s3) share, into doc: endpoint
 * (optional: AWS's endpoint of the region; a bare host is https), region
 * (kinesis: optional when the endpoint is AWS's and names it; s3: optional,
 * the server's AWS_REGION or us-east-1), awsAssumedRoleArn (kept), secrets
 * (optional: without them the server's AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY). `example` is an endpoint for messages.
 */
static int v_aws(json_t *body, json_t *doc, const char *type, json_t *prev, json_t **secrets,
                 const char *example, struct lerr *err)
{
    const char *endpoint = NULL, *role = NULL, *region = NULL;
    bool kinesis = catalog_conn_type_parse(type) == CATALOG_CONN_KINESIS;
    if (api__v_string(body, "endpoint", "", false, 1024, &endpoint, err) ||
        api__v_string(body, "region", "", false, 64, &region, err) ||
        api__v_string(body, "awsAssumedRoleArn", "", false, 2048, &role, err))
        return err->code;
    if (endpoint) {
        const char *h = strstr(endpoint, "://");
        bool scheme_ok = !h || strncmp(endpoint, "http://", 7) == 0 ||
                         strncmp(endpoint, "https://", 8) == 0;
        const char *host = h ? h + 3 : endpoint;
        if (!scheme_ok || !*host || *host == '/' || *host == ':' || strpbrk(endpoint, " \t\r\n"))
            return lerr_set_at(err, LERR_INVALID, "endpoint",
                               "endpoint '%.200s' is not an http:// or https:// URL or a host "
                               "name, e.g. \"%s\" or \"http://localhost:4567\"",
                               endpoint, example);
    }
    char derived[64];
    if (region) {
        bool ok = region[0] != '\0';
        for (const char *c = region; *c && ok; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-';
        if (!ok)
            return lerr_set_at(err, LERR_INVALID, "region",
                               "region '%.64s' is not an AWS region name such as \"us-east-1\"",
                               region);
    } else if (kinesis && !source_kinesis_endpoint_region(endpoint, derived, sizeof derived)) {
        return lerr_set_at(err, LERR_INVALID, "region",
                           endpoint ? "region is required: the endpoint '%.200s' does not name "
                                      "an AWS region; give \"region\", e.g. \"us-east-1\" "
                                      "(requests are signed for it)"
                                    : "region is required%.0s: give \"region\", e.g. "
                                      "\"us-east-1\" (the endpoint is then "
                                      "https://kinesis.<region>.amazonaws.com)",
                           endpoint ? endpoint : "");
    }
    json_t *sec = json_object_get(body, "secrets");
    if (sec && !json_is_null(sec) && !(*secrets = v_secrets(sec, type, err)))
        return err->code;
    bool has_secrets = *secrets || (prev && json_is_true(json_object_get(prev, "hasSecrets")));
    if (endpoint)
        json_object_set_new(doc, "endpoint", json_string(endpoint));
    if (region)
        json_object_set_new(doc, "region", json_string(region));
    if (role)
        json_object_set_new(doc, "awsAssumedRoleArn", json_string(role));
    json_object_set_new(doc, "hasSecrets", json_boolean(has_secrets));
    return 0;
}

/* A kinesis connection's fields into doc: stream, and v_aws's. */
static int v_kinesis(json_t *body, json_t *doc, const char *type, json_t *prev, json_t **secrets,
                     struct lerr *err)
{
    const char *stream = NULL;
    if (api__v_string(body, "stream", "", true, 128, &stream, err))
        return err->code;
    if (!kinesis_stream_ok(stream))
        return lerr_set_at(err, LERR_INVALID, "stream",
                           "stream '%.128s' is not a Kinesis stream name: 1 to 128 characters "
                           "of A-Z, a-z, 0-9, '_', '.' and '-'",
                           stream);
    json_object_set_new(doc, "stream", json_string(stream));
    return v_aws(body, doc, type, prev, secrets, "kinesis.us-east-1.amazonaws.com", err);
}

/*
 * An s3 connection's fields into doc: bucket (S3's naming rules), prefix
 * (optional: the keys batch jobs may read start with it; kept as given, so
 * "events/" is a folder and "events" any key starting so), and v_aws's.
 */
static int v_s3(json_t *body, json_t *doc, const char *type, json_t *prev, json_t **secrets,
                struct lerr *err)
{
    const char *bucket = NULL, *prefix = NULL;
    if (api__v_string(body, "bucket", "", true, 63, &bucket, err) ||
        api__v_string(body, "prefix", "", false, 1024, &prefix, err))
        return err->code;
    if (!s3_bucket_name_ok(bucket))
        return lerr_set_at(err, LERR_INVALID, "bucket",
                           "bucket '%.63s' is not an S3 bucket name: 3 to 63 characters of "
                           "a-z, 0-9, '.' and '-', starting and ending with a letter or digit",
                           bucket);
    if (prefix && prefix[0] == '/')
        return lerr_set_at(err, LERR_INVALID, "prefix",
                           "prefix '%.200s' starts with '/': S3 keys do not; write e.g. "
                           "\"events/\"",
                           prefix);
    json_object_set_new(doc, "bucket", json_string(bucket));
    json_object_set_new(doc, "prefix", json_string(prefix ? prefix : ""));
    return v_aws(body, doc, type, prev, secrets, "s3.us-east-1.amazonaws.com", err);
}

/*
 * Validates a connection body into a document (without secrets) and the
 * secrets to store (NULL when none given). prev is the stored document on
 * update, NULL on create.
 */
static json_t *connection_doc(json_t *body, const char *path_name, json_t *prev, json_t **secrets,
                              struct lerr *err)
{
    const char *type = NULL, *name = NULL, *desc = NULL;
    *secrets = NULL;
    if (api__v_enum(body, "type", "", prev == NULL, conn_types, &type, err))
        return NULL;
    const char *prev_type = prev ? json_string_value(json_object_get(prev, "type")) : NULL;
    if (!type)
        type = prev_type;
    if (prev_type && strcmp(type, prev_type) != 0) {
        lerr_set_at(err, LERR_INVALID, "type",
                    "type: this connection is of type \"%s\"; a connection's type cannot "
                    "change (create a new connection instead)",
                    prev_type);
        return NULL;
    }
    /* A client may send back what it got: ignore the server-set fields. */
    const char *const *fields = type_fields(type);
    const char *allowed[16];
    size_t na = 0;
    for (size_t i = 0; fields[i]; i++)
        allowed[na++] = fields[i];
    if (prev)
        for (size_t i = 0; server_fields[i]; i++)
            allowed[na++] = server_fields[i];
    allowed[na] = NULL;
    if (api__v_known_keys(body, "", allowed, err) ||
        api__v_string(body, "name", "", prev == NULL && !path_name, 0, &name, err) ||
        api__v_string(body, "description", "", false, 4096, &desc, err))
        return NULL;
    if (!name)
        name = path_name;
    if (api__v_connection_name(name, "name", err))
        return NULL;
    if (path_name && strcmp(name, path_name) != 0) {
        lerr_set_at(err, LERR_INVALID, "name",
                    "name: a connection cannot be renamed ('%s' in the body, '%s' in the path)",
                    name, path_name);
        return NULL;
    }
    json_t *doc =
        json_pack("{s:s, s:s, s:s}", "type", type, "name", name, "description", desc ? desc : "");
    if (catalog_conn_type_parse(type) == CATALOG_CONN_KAFKA ||
        catalog_conn_type_parse(type) == CATALOG_CONN_CONFLUENT) {
        const char *bs = NULL, *topic = NULL, *pattern = NULL;
        bool ssl = false;
        if (api__v_string(body, "bootstrapServers", "", true, 0, &bs, err) ||
            v_bootstrap(bs, err) ||
            api__v_string(body, "topicName", "", false, 249, &topic, err) ||
            api__v_string(body, "topicNamePattern", "", false, 1024, &pattern, err))
            goto fail;
        if (!topic == !pattern) {
            lerr_set_at(err, LERR_INVALID, topic ? "topicNamePattern" : "topicName",
                        "give exactly one of topicName (one topic) and topicNamePattern (a "
                        "regular expression over topic names)");
            goto fail;
        }
        json_object_set_new(doc, "bootstrapServers", json_string(bs));
        json_object_set_new(doc, topic ? "topicName" : "topicNamePattern",
                            json_string(topic ? topic : pattern));
        json_t *sec = json_object_get(body, "secrets");
        if (sec && !json_is_null(sec) && !(*secrets = v_secrets(sec, type, err)))
            goto fail;
        bool has_secrets = *secrets || (prev && json_is_true(json_object_get(prev, "hasSecrets")));
        if (catalog_conn_type_parse(type) == CATALOG_CONN_CONFLUENT && !has_secrets) {
            lerr_set_at(err, LERR_INVALID, "secrets",
                        "secrets is required for a confluent connection: {\"type\": "
                        "\"sasl_plain\", \"username\": \"<API key>\", \"password\": \"<API "
                        "secret>\"}");
            goto fail;
        }
        ssl = has_secrets;
        if (catalog_conn_type_parse(type) == CATALOG_CONN_KAFKA &&
            api__v_bool(body, "ssl", "", &ssl, err))
            goto fail;
        if (catalog_conn_type_parse(type) == CATALOG_CONN_KAFKA)
            json_object_set_new(doc, "ssl", json_boolean(ssl));
        json_object_set_new(doc, "hasSecrets", json_boolean(has_secrets));
    } else if (catalog_conn_type_parse(type) == CATALOG_CONN_SCHEMA_REGISTRY) {
        json_t *urls = NULL;
        if (api__v_array(body, "urls", "", true, &urls, err))
            goto fail;
        if (json_array_size(urls) == 0) {
            lerr_set_at(err, LERR_INVALID, "urls",
                        "urls needs at least one schema registry URL, e.g. "
                        "[\"https://psrc-xxxx.confluent.cloud\"]");
            goto fail;
        }
        size_t i;
        json_t *u;
        json_array_foreach(urls, i, u) {
            char t[64];
            api__v_path_idx(t, sizeof t, "urls", i);
            const char *s = json_string_value(u);
            if (!s || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)) {
                lerr_set_at(err, LERR_INVALID, t, "%s must be an http:// or https:// URL", t);
                goto fail;
            }
        }
        json_object_set(doc, "urls", urls);
        json_t *sec = json_object_get(body, "secrets");
        if (sec && !json_is_null(sec) && !(*secrets = v_secrets(sec, type, err)))
            goto fail;
        json_object_set_new(
            doc, "hasSecrets",
            json_boolean(*secrets || (prev && json_is_true(json_object_get(prev, "hasSecrets")))));
    } else if (catalog_conn_type_parse(type) == CATALOG_CONN_KINESIS) {
        if (v_kinesis(body, doc, type, prev, secrets, err))
            goto fail;
    } else if (catalog_conn_type_parse(type) == CATALOG_CONN_S3) {
        if (v_s3(body, doc, type, prev, secrets, err))
            goto fail;
    }
    return doc;
fail:
    json_decref(*secrets);
    *secrets = NULL;
    json_decref(doc);
    return NULL;
}

static json_t *connection_response(const struct catalog_doc *d)
{
    json_t *doc = json_loads(d->doc, 0, NULL);
    if (!doc)
        return json_pack("{s:s, s:s}", "name", d->name, "error", "unreadable catalog entry");
    json_object_set_new(doc, "submittedOnTimestamp", api_ts(d->created_ns));
    json_object_set_new(doc, "modifiedOnTimestamp", api_ts(d->modified_ns));
    return doc;
}

int api_connections_create(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    json_t *secrets = NULL, *doc = NULL;
    json_t *body = api_body_object(r, &err);
    if (!body || !(doc = connection_doc(body, NULL, NULL, &secrets, &err))) {
        json_decref(body);
        return api_reply_err(r, &err);
    }
    json_object_set_new(doc, "submittedByUser", api_caller(r));
    json_object_set_new(doc, "modifiedByUser", api_caller(r));
    struct catalog_doc d = {.created_ns = util_now_ns()};
    d.modified_ns = d.created_ns;
    snprintf(d.name, sizeof d.name, "%s", json_string_value(json_object_get(doc, "name")));
    snprintf(d.kind, sizeof d.kind, "%s", json_string_value(json_object_get(doc, "type")));
    d.doc = json_dumps(doc, JSON_COMPACT);
    d.secret = secrets ? json_dumps(secrets, JSON_COMPACT) : NULL;
    int rc = catalog_doc_insert(r->srv->cat, CATALOG_CONNECTION, &d, &err);
    if (rc == LERR_CONFLICT)
        snprintf(err.target, sizeof err.target, "name");
    if (rc == 0)
        api_reply(r, 201, connection_response(&d));
    else
        api_reply_err(r, &err);
    catalog_doc_destroy(&d);
    json_decref(doc);
    json_decref(secrets);
    json_decref(body);
    return rc;
}

int api_connections_list(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc_list l;
    if (catalog_doc_list(r->srv->cat, CATALOG_CONNECTION, &l, &err))
        return api_reply_err(r, &err);
    json_t *values = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(values, connection_response(&l.items[i]));
    catalog_doc_list_free(&l);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

int api_connections_get(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc d = {0};
    if (catalog_doc_get(r->srv->cat, CATALOG_CONNECTION, r->seg[1], &d, &err))
        return api_reply_err(r, &err);
    api_reply(r, 200, connection_response(&d));
    catalog_doc_destroy(&d);
    return 0;
}

int api_connections_update(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_doc d = {0};
    json_t *body = NULL, *prev = NULL, *doc = NULL, *secrets = NULL;
    if (catalog_doc_get(r->srv->cat, CATALOG_CONNECTION, r->seg[1], &d, &err) ||
        !(body = api_body_object(r, &err)))
        goto out;
    prev = json_loads(d.doc, 0, NULL);
    if (!prev) {
        lerr_set(&err, LERR_CORRUPT, "connection '%s' has an unreadable catalog entry", d.name);
        goto out;
    }
    if (!(doc = connection_doc(body, d.name, prev, &secrets, &err)))
        goto out;
    json_object_set(doc, "submittedByUser", json_object_get(prev, "submittedByUser"));
    json_object_set_new(doc, "modifiedByUser", api_caller(r));
    free(d.doc);
    free(d.secret);
    d.doc = json_dumps(doc, JSON_COMPACT);
    d.secret = secrets ? json_dumps(secrets, JSON_COMPACT) : NULL;
    d.modified_ns = util_now_ns();
    if (catalog_doc_update(r->srv->cat, CATALOG_CONNECTION, &d, &err))
        goto out;
    api_reply(r, 200, connection_response(&d));
out:
    if (err.code)
        api_reply_err(r, &err);
    catalog_doc_destroy(&d);
    json_decref(body);
    json_decref(prev);
    json_decref(doc);
    json_decref(secrets);
    return err.code;
}

int api_connections_delete(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct connection_spec cs;
    if (catalog_connection_spec_load(r->srv->cat, r->seg[1], &cs, &err)) {
        catalog_connection_spec_destroy(&cs);
        return api_reply_err(r, &err);
    }
    bool push = cs.type == CATALOG_CONN_PUSH;
    char stream[300];
    ingest_stream_key(r->srv->rt, &cs, stream);
    catalog_connection_spec_destroy(&cs);
    if (catalog_doc_delete(r->srv->cat, CATALOG_CONNECTION, r->seg[1], &err))
        return api_reply_err(r, &err);
    /* A push connection's events go with it: its log, and the checkpoints of its stream. */
    if (push) {
        if (catalog_checkpoint_drop_stream(r->srv->cat, stream, &err) ||
            (r->srv->pushtopic ? source_pushtopic_drop(r->srv->pushtopic, r->seg[1], &err)
                               : pushreg_drop(r->srv->pushes, r->seg[1], &err)))
            log_msg(LOG_WARN, "api", "connection '%s' deleted, but: %s", r->seg[1], err.msg);
    }
    api_reply(r, 200, NULL);
    return 0;
}
