/*
 * registry.h — a client of a Confluent Schema Registry (a
 * `confluent_schema_registry` connection): fetches a schema's text by its id
 * (GET {url}/schemas/ids/{id}) over libcurl (http or https, TLS verified
 * against the system's CA store; HTTP basic auth when the connection has
 * secrets) and caches it for the life of the client. Formats that read
 * records framed the Confluent way (magic byte 0, 4-byte big-endian schema
 * id) use it: avro_stream (format/avro.c) and protobuf (format/record.c,
 * whose framing adds a message-index list: protobuf.h).
 *
 * Entry points:
 *   format_registry_new() / format_registry_free()
 *   format_registry_schema()      the schema of an id (cached)
 *   format_registry_serialized()  the same, ?format=serialized (Protobuf: a
 *                                 base64 FileDescriptorProto)
 *   format_registry_version()     a subject's version, serialized (what a
 *                                 schema reference names)
 *   format_registry_protobuf()    the compiled Protobuf schema of an id, its
 *                                 references resolved (cached)
 *   format_registry_frame()       reads the 5-byte Confluent header
 *
 * URLs are tried in turn; the first that answers wins for that request. An
 * id the registry does not know is remembered for FORMAT_REGISTRY_MISS_MS
 * so that a topic full of records with an unknown id does not send one
 * request per record.
 *
 * Thread-safety: a client may be shared by any number of threads (one lock
 * around the cache; requests run outside it). Cached schemas are never
 * evicted, so what format_registry_schema() (and the others) return stays
 * valid until format_registry_free().
 */
#ifndef LODESTAR_FORMAT_REGISTRY_H
#define LODESTAR_FORMAT_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* How long an unknown id is answered from the cache before asking again. */
#define FORMAT_REGISTRY_MISS_MS 10000
/* Largest registry answer read (bytes). */
#define FORMAT_REGISTRY_MAX_BODY (4u << 20)
/* Most references one schema document may list, files one Protobuf schema
 * may have with all its references, and how deep references may nest. */
#define FORMAT_REGISTRY_MAX_REFS 256
#define FORMAT_REGISTRY_MAX_FILES 64
#define FORMAT_REGISTRY_MAX_DEPTH 16

struct format_registry_config {
    const char *const *urls; /* nurls base URLs, e.g. "https://psrc-x.confluent.cloud" */
    size_t nurls;
    const char *username; /* NULL: no authentication */
    const char *password;
    long timeout_ms; /* per request; 0 = 10000 */
};

struct format_registry;

/* A client (copies what it needs from cfg). NULL with LERR_INVALID (no URL)
 * or LERR_NOMEM. Makes no request. */
struct format_registry *format_registry_new(const struct format_registry_config *cfg,
                                            struct lerr *err);
void format_registry_free(struct format_registry *r);

/* A schema reference: the import `name` is answered by `subject`'s `version`. */
struct format_registry_ref {
    const char *name, *subject;
    int version;
};

/* A schema as the registry stores it. */
struct format_registry_schema {
    uint32_t id;
    const char *text; /* the "schema" member: the schema's own text (or its serialized
                       * form: base64), NUL-terminated */
    size_t len;
    const char *type; /* "schemaType": "AVRO" (the registry's default), "PROTOBUF", "JSON" */
    const struct format_registry_ref *refs; /* "references" of the serialized forms
                                             * (none, and always for
                                             * format_registry_schema(): NULL, 0) */
    size_t nrefs;
};

/*
 * The schema registered under `id`, from the cache or the registry. *out
 * points into the client's cache (valid until format_registry_free()).
 * Errors: LERR_NOT_FOUND (the registry answered that it has no such id),
 * LERR_UNAVAILABLE (no URL answered, or each answered with a server or
 * authentication error: the message names every URL and what it said;
 * retry later), LERR_INVALID (the answer is not a schema document),
 * LERR_NOMEM.
 */
int format_registry_schema(struct format_registry *r, uint32_t id,
                           const struct format_registry_schema **out, struct lerr *err);

/*
 * As format_registry_schema(), asking GET /schemas/ids/{id}?format=serialized
 * (for a Protobuf schema, text is then a base64 FileDescriptorProto).
 * Cached apart from the plain form. Same errors.
 */
int format_registry_serialized(struct format_registry *r, uint32_t id,
                               const struct format_registry_schema **out, struct lerr *err);

/*
 * Version `version` of `subject`, serialized (GET /subjects/{subject}/
 * versions/{version}?format=serialized, the subject URL-escaped), with its
 * id in (*out)->id: what a schema reference names. Cached by (subject,
 * version). Errors as format_registry_schema() (LERR_NOT_FOUND: no such
 * subject or version).
 */
int format_registry_version(struct format_registry *r, const char *subject, int version,
                            const struct format_registry_schema **out, struct lerr *err);

/*
 * The Protobuf schema registered under `id`, compiled (protobuf.h): its
 * serialized file and those of its references, recursively (each import
 * name once; the well-known google/protobuf files need no reference), made
 * into one descriptor set. *out stays valid until format_registry_free()
 * and may be shared by threads (read-only). Compiled once per id: a schema
 * that does not compile (not a Protobuf schema, a bad descriptor, more than
 * FORMAT_REGISTRY_MAX_FILES files or references nested deeper than
 * FORMAT_REGISTRY_MAX_DEPTH) is LERR_INVALID from then on, naming the id
 * and the reason; LERR_NOT_FOUND (the id or a reference's subject/version
 * is unknown), LERR_UNAVAILABLE and LERR_NOMEM are not remembered (the
 * registry's own miss cache spaces the requests).
 */
struct format_pb_schema;
int format_registry_protobuf(struct format_registry *r, uint32_t id,
                             const struct format_pb_schema **out, struct lerr *err);

/*
 * Reads Confluent's wire-format header of a record: magic byte 0 and a
 * 4-byte big-endian schema id. 0 with *id, or LERR_INVALID saying what is
 * wrong (too short, another magic byte) and how to produce such records.
 */
int format_registry_frame(const char *data, size_t len, uint32_t *id, struct lerr *err);

#endif
