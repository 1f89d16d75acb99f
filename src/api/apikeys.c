/*
 * apikeys.c — /v1/projects/{pid}/apikeys (permission ManageApiKeys): API
 * keys managed through the API as well as by `lodestar apikey create`.
 *
 *   POST   {"name", "description"?, "permissions": ["AccessQueries", ...]}
 *          → 201, the key's record with "apiKey": the key itself, shown this
 *          once (only its SHA-256 is stored)
 *   GET    → {"values": [record, ...]} by name; GET /apikeys/{id} → record
 *   DELETE /apikeys/{id} → 204: revoked; the catalog is read on every
 *          request, so the next request with the key is a 401 on every
 *          server of the catalog. The last key with ManageApiKeys cannot be
 *          revoked (409): nobody could manage keys after it.
 *
 * A record: {"id", "name", "description", "permissions": [...],
 * "createdAt", "lastUsedAt"} — lastUsedAt to the minute (auth.c), null
 * for a key never used. The key is never in a record.
 *
 * Entry points: api_apikeys_list(), api_apikeys_get(), api_apikeys_create(),
 * api_apikeys_delete().
 */
#include <string.h>

#include "api/api_int.h"

static json_t *record(const struct catalog_apikey *k)
{
    json_t *perms = json_array();
    for (const char *s = k->permissions; *s;) {
        size_t len = strcspn(s, ",");
        json_array_append_new(perms, json_stringn(s, len));
        s += len + (s[len] == ',');
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", k->id, "name", k->name, "description",
                     k->description, "permissions", perms, "createdAt", api_ts(k->created_ns),
                     "lastUsedAt", api_ts(k->last_used_ns));
}

int api_apikeys_list(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_apikey *v = NULL;
    size_t n = 0;
    if (catalog_apikey_list(r->srv->cat, &v, &n, &err))
        return api_reply_err(r, &err);
    json_t *values = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(values, record(&v[i]));
    free(v);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

int api_apikeys_get(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_apikey k;
    if (catalog_apikey_get(r->srv->cat, r->seg[1], &k, &err))
        return api_reply_err(r, &err);
    api_reply(r, 200, record(&k));
    return 0;
}

int api_apikeys_create(struct api_req *r)
{
    static const char *const allowed[] = {"name", "description", "permissions", NULL};
    struct lerr err;
    lerr_init(&err);
    const char *name = NULL, *desc = "";
    json_t *perms = NULL, *body = api_body_object(r, &err);
    if (!body || api__v_known_keys(body, "", allowed, &err) ||
        api__v_string(body, "name", "", true, 100, &name, &err) ||
        api__v_string(body, "description", "", false, 255, &desc, &err) ||
        api__v_array(body, "permissions", "", true, &perms, &err))
        goto out;
    /* the names as the command line takes them: a comma list, checked there */
    char csv[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < json_array_size(perms); i++) {
        const char *p = json_string_value(json_array_get(perms, i));
        char target[48];
        snprintf(target, sizeof target, "permissions[%zu]", i);
        if (!p || !*p || strchr(p, ',') || strlen(p) > 64) {
            lerr_set_at(&err, LERR_INVALID, target,
                        "permissions[%zu] must be a permission name: ManageTables, ViewTables, "
                        "ManageConnections, ManageIngestionJobs, AccessQueries or ManageApiKeys",
                        i);
            goto out;
        }
        if (util_csv_has(csv, p, strlen(p))) /* a name given twice counts once */
            continue;
        if (used + strlen(p) + 2 > sizeof csv) {
            lerr_set_at(&err, LERR_INVALID, "permissions",
                        "permissions lists more names than there are permissions (six); give each "
                        "once");
            goto out;
        }
        used += (size_t)snprintf(csv + used, sizeof csv - used, "%s%s", used ? "," : "", p);
    }
    char key[48];
    struct catalog_apikey k;
    if (api__apikey_make(r->srv->cat, name, desc, csv, key, &k, &err)) {
        if (err.code == LERR_INVALID && !err.target[0]) /* the field it is about */
            snprintf(err.target, sizeof err.target, "%s",
                     strstr(err.msg, "permission") ? "permissions" : "name");
        goto out;
    }
    json_t *rec = record(&k);
    json_object_set_new(rec, "apiKey", json_string(key));
    api_reply(r, 201, rec);
out:
    json_decref(body);
    return err.code ? api_reply_err(r, &err) : 0;
}

int api_apikeys_delete(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    if (catalog_apikey_delete(r->srv->cat, r->seg[1], &err))
        return api_reply_err(r, &err);
    api_reply(r, 204, NULL);
    return 0;
}
