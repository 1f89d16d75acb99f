/*
 * registry.c — the schema registry client of a job whose format reads its
 * schemas from a `confluent_schema_registry` connection
 * (formatSettings.parseSchemaProvider {"type": "connection"}): the
 * connection's document (urls) and its write-only secrets ({"type":
 * "basic", "username", "password"}) from the catalog, made into a
 * format/registry.h client for the job's parser.
 *
 * Entry point: ingest_registry_open().
 */
#include <string.h>

#include "catalog/catalog.h"
#include "format/registry.h"
#include "ingest/ingest.h"

/* The registry connection a spec's format names, or NULL. */
static const char *registry_name(const struct job_spec *js)
{
    if (!js->has_format)
        return NULL;
    const struct format_settings *fs = &js->format;
    if (fs->kind == FORMAT_KAFKA && fs->value_format)
        fs = fs->value_format;
    return fs->schema_connection;
}

int ingest_registry_open(struct catalog *cat, const struct job_spec *js,
                         struct format_registry **out, struct lerr *err)
{
    *out = NULL;
    const char *name = registry_name(js);
    if (!name)
        return 0;
    struct connection_spec cs;
    struct lerr e;
    lerr_init(&e);
    if (catalog_connection_spec_load(cat, name, &cs, &e)) {
        catalog_connection_spec_destroy(&cs);
        return lerr_set_at(err, e.code == LERR_NOT_FOUND ? LERR_INVALID : e.code,
                           "source.formatSettings.parseSchemaProvider.connectionName",
                           "parseSchemaProvider.connectionName: %s%s",
                           e.code == LERR_NOT_FOUND ? "no connection named " : "",
                           e.code == LERR_NOT_FOUND ? name : e.msg);
    }
    int rc = 0;
    if (cs.type != CATALOG_CONN_SCHEMA_REGISTRY) {
        rc = lerr_set_at(err, LERR_INVALID,
                         "source.formatSettings.parseSchemaProvider.connectionName",
                         "parseSchemaProvider.connectionName: '%s' is a %s connection, not a "
                         "confluent_schema_registry",
                         name, catalog_conn_type_name(cs.type));
        goto out;
    }
    json_t *urls = json_object_get(cs.doc, "urls");
    size_t n = json_array_size(urls);
    const char *list[64];
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++)
        list[i] = json_string_value(json_array_get(urls, i));
    struct format_registry_config cfg = {.urls = list, .nurls = n};
    if (cs.secret) {
        cfg.username = json_string_value(json_object_get(cs.secret, "username"));
        cfg.password = json_string_value(json_object_get(cs.secret, "password"));
    }
    if (!(*out = format_registry_new(&cfg, err)))
        rc = err->code;
out:
    catalog_connection_spec_destroy(&cs);
    return rc;
}
