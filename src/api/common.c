/*
 * common.c — what every handler shares: JSON responses and errors, the
 * caller's identity, timestamps, the request body as a JSON object, field
 * validation that names the bad field's JSON path, and the projects
 * endpoints.
 */
#include <string.h>

#include "api/api_int.h"
#include "util/time.h"

void api_reply(struct api_req *r, int status, json_t *body)
{
    json_decref(r->resp);
    r->status = status;
    r->resp = body;
}

int api_reply_err(struct api_req *r, const struct lerr *err)
{
    json_t *e = json_object();
    json_object_set_new(e, "error", json_string(lerr_name(err->code)));
    json_t *msg = json_string(err->msg);
    json_object_set_new(e, "message", msg ? msg : json_string("(the error text was not UTF-8)"));
    if (err->target[0])
        json_object_set_new(e, "target", json_string(err->target));
    if (err->code == LERR_RATE_LIMIT) {
        json_decref(e);
        e = json_pack("{s:s}", "message", "API rate limit exceeded");
    }
    api_reply(r, lerr_http_status(err->code), e);
    return err->code;
}

json_t *api_caller(const struct api_req *r)
{
    char user[160];
    snprintf(user, sizeof user, "api-key-%s", r->key.name);
    return json_pack("{s:s, s:s}", "username", user, "userId", r->key.id);
}

json_t *api_ts(int64_t ns)
{
    if (ns == 0)
        return json_null();
    char out[40];
    util_format_iso_ns(ns, out);
    return json_string(out);
}

/* ---- body and validation --------------------------------------------------- */

json_t *api_body_object(const struct api_req *r, struct lerr *err)
{
    if (!r->body || r->body_len == 0) {
        lerr_set(err, LERR_INVALID, "the request needs a JSON object body");
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        lerr_set(err, LERR_INVALID, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        err->pos = je.position;
        return NULL;
    }
    if (!json_is_object(v)) {
        lerr_set(err, LERR_INVALID, "the request body must be a JSON object ({...}), not %s",
                 json_is_array(v) ? "an array" : "a scalar");
        json_decref(v);
        return NULL;
    }
    return v;
}

void api__v_path(char *out, size_t cap, const char *path, const char *key)
{
    if (path && path[0])
        snprintf(out, cap, "%s.%s", path, key);
    else
        snprintf(out, cap, "%s", key);
}

void api__v_path_idx(char *out, size_t cap, const char *path, size_t idx)
{
    snprintf(out, cap, "%s[%zu]", path, idx);
}

static const char *type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int api__v_known_keys(json_t *obj, const char *path, const char *const *allowed, struct lerr *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], key) == 0)
                ok = true;
        if (ok)
            continue;
        char target[160], list[512] = "";
        size_t used = 0;
        for (size_t i = 0; allowed[i]; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     allowed[i]);
        api__v_path(target, sizeof target, path, key);
        const char *hint = util_closest(key, strlen(key), allowed);
        return lerr_set_at(
            err, LERR_INVALID, target, "unknown field '%s'%s%s%s; the fields allowed here are: %s",
            target, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "", list);
    }
    return 0;
}

/* The value at key, or NULL (missing or null); err when required and absent. */
static json_t *field(json_t *obj, const char *key, const char *path, bool required,
                     const char *what, struct lerr *err)
{
    json_t *v = json_object_get(obj, key);
    if ((!v || json_is_null(v)) && required) {
        char target[160];
        api__v_path(target, sizeof target, path, key);
        lerr_set_at(err, LERR_INVALID, target, "%s is required: give %s", target, what);
    }
    return (v && !json_is_null(v)) ? v : NULL;
}

static int wrong_type(json_t *v, const char *key, const char *path, const char *want,
                      struct lerr *err)
{
    char target[160];
    api__v_path(target, sizeof target, path, key);
    return lerr_set_at(err, LERR_INVALID, target, "%s must be %s, not %s", target, want,
                       type_name(v));
}

int api__v_string(json_t *obj, const char *key, const char *path, bool required, size_t maxlen,
                  const char **out, struct lerr *err)
{
    json_t *v = field(obj, key, path, required, "a string", err);
    if (!v)
        return err && err->code ? err->code : 0;
    if (!json_is_string(v))
        return wrong_type(v, key, path, "a string", err);
    if (maxlen && json_string_length(v) > maxlen) {
        char target[160];
        api__v_path(target, sizeof target, path, key);
        return lerr_set_at(err, LERR_INVALID, target, "%s is %zu bytes long; at most %zu allowed",
                           target, json_string_length(v), maxlen);
    }
    *out = json_string_value(v);
    return 0;
}

int api__v_bool(json_t *obj, const char *key, const char *path, bool *out, struct lerr *err)
{
    json_t *v = field(obj, key, path, false, "true or false", err);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return wrong_type(v, key, path, "true or false", err);
    *out = json_is_true(v);
    return 0;
}

int api__v_enum(json_t *obj, const char *key, const char *path, bool required,
                const char *const *values, const char **out, struct lerr *err)
{
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; values[i]; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s\"%s\"", i ? ", " : "",
                                 values[i]);
    char what[560];
    snprintf(what, sizeof what, "one of %s", list);
    json_t *v = field(obj, key, path, required, what, err);
    if (!v)
        return err && err->code ? err->code : 0;
    if (!json_is_string(v))
        return wrong_type(v, key, path, what, err);
    const char *s = json_string_value(v);
    for (size_t i = 0; values[i]; i++) {
        if (strcmp(values[i], s) == 0) {
            *out = values[i];
            return 0;
        }
    }
    char target[160];
    api__v_path(target, sizeof target, path, key);
    const char *hint = util_closest(s, strlen(s), values);
    return lerr_set_at(err, LERR_INVALID, target, "%s: \"%s\" is not allowed%s%s%s; use %s",
                       target, s, hint ? " (did you mean \"" : "", hint ? hint : "",
                       hint ? "\"?)" : "", what);
}

int api__v_array(json_t *obj, const char *key, const char *path, bool required, json_t **out,
                 struct lerr *err)
{
    json_t *v = field(obj, key, path, required, "an array", err);
    if (!v)
        return err && err->code ? err->code : 0;
    if (!json_is_array(v))
        return wrong_type(v, key, path, "an array", err);
    *out = v;
    return 0;
}

int api__v_object(json_t *obj, const char *key, const char *path, bool required, json_t **out,
                  struct lerr *err)
{
    json_t *v = field(obj, key, path, required, "an object", err);
    if (!v)
        return err && err->code ? err->code : 0;
    if (!json_is_object(v))
        return wrong_type(v, key, path, "an object", err);
    *out = v;
    return 0;
}

int api__v_period(json_t *obj, const char *key, const char *path, bool nullable, const char **out,
                  struct lerr *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (json_is_null(v)) {
        if (nullable) {
            *out = NULL;
            return 0;
        }
        return wrong_type(v, key, path, "an ISO-8601 period such as \"P30D\"", err);
    }
    if (!json_is_string(v))
        return wrong_type(v, key, path, "an ISO-8601 period such as \"P30D\"", err);
    struct period p;
    struct lerr pe;
    lerr_init(&pe);
    if (period_parse(json_string_value(v), json_string_length(v), &p, &pe)) {
        char target[160];
        api__v_path(target, sizeof target, path, key);
        return lerr_set_at(err, LERR_INVALID, target, "%s: %s", target, pe.msg);
    }
    *out = json_string_value(v);
    return 0;
}

/* Valid UTF-8 with no control characters (and no overlongs or surrogates). */
static bool utf8_text_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (!len || c > 0xf4 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
            return false;
        i += len;
    }
    return true;
}

int api__v_column_name(const char *name, const char *target, bool allow_reserved, struct lerr *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: a column name must be 1 to 255 bytes long", target);
    if (!utf8_text_ok((const unsigned char *)name, n))
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: column name '%s' contains a control character or invalid UTF-8",
                           target, name);
    if (!allow_reserved && strncmp(name, "__", 2) == 0 && strcmp(name, "__time") != 0)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: column names starting with '__' are reserved (only __time "
                           "exists); rename '%s'",
                           target, name);
    return 0;
}

/* ---- projects ------------------------------------------------------------- */

static json_t *project_json(const struct api_server *s)
{
    char created[40];
    util_format_iso_ns(s->project.created_ns, created);
    return json_pack("{s:{s:s, s:s, s:s}, s:{s:s}, s:{s:s}}", "metadata", "uid", s->project.id,
                     "name", s->project.name, "createdOnTimestamp", created, "spec", "displayName",
                     s->project.name, "status", "state", "running");
}

int api_projects_list(struct api_req *r)
{
    json_t *arr = json_array();
    json_array_append_new(arr, project_json(r->srv));
    api_reply(r, 200, arr);
    return 0;
}

int api_projects_get(struct api_req *r)
{
    if (strcmp(r->seg[0], r->srv->project.id) != 0) {
        struct lerr err;
        lerr_init(&err);
        lerr_set(&err, LERR_NOT_FOUND, "no project with id '%s'", r->seg[0]);
        return api_reply_err(r, &err);
    }
    api_reply(r, 200, project_json(r->srv));
    return 0;
}
