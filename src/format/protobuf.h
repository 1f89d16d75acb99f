/*
 * protobuf.h — the protobuf format's own pieces, inside src/format/: a
 * FileDescriptorSet read with protobuf-c (through the descriptor of
 * descriptor.proto generated into pbdesc.pb-c.c) and compiled into a schema;
 * the wire decoder driven by that schema (no generated code per user
 * schema), which can write a message as the JSON object of protobuf's JSON
 * mapping; and Confluent's Protobuf framing. A job's rows do not go through
 * that text: format__pb_row() (format_int.h) decodes each top-level field
 * straight into the row's field, with the value the nd-json row path would
 * read from the field's JSON (nested messages, repeated fields and maps are
 * their JSON text), so declared fields, schema discovery and flattenSpec
 * paths read a Protobuf record exactly as they read the same event as JSON
 * (which is what Druid does: it prints a message with protobuf's JsonFormat
 * and flattens the JSON). format_pb_to_json() stays the reference the row
 * is tested against (tests/unit/test_protobuf.c, tests/fuzz/fuzz_protobuf.c).
 *
 * Entry points:
 *   format_pb_schema_new() / format_pb_schema_free()   a FileDescriptorSet
 *   format_pb_schema_from_files()  separate FileDescriptorProtos (a schema
 *                                 registry's schema and its references)
 *   format_pb_find()              a message type by its full name
 *   format_pb_by_index()          a message type by Confluent's message-index list
 *   format_pb_to_json()           one message (wire bytes) → JSON text
 *   (format__pb_row(), format_int.h: one message → a row's fields)
 *   format_pb_confluent_frame()   Confluent's framing: magic byte, schema id,
 *                                 message-index list
 *
 * The JSON (protobuf's JSON mapping, with these choices):
 *   - field names as written in the .proto (JsonFormat's
 *     preservingProtoFieldNames(), as Druid prints them), not lowerCamelCase;
 *   - defaults printed as includingDefaultValueFields() does: a singular
 *     field without presence (proto3's plain fields) that is absent reads as
 *     its default (0, false, "", the enum's value numbered 0), an absent
 *     repeated field as [] and an absent map as {}; fields with presence
 *     (message fields, oneof members, proto3 `optional`, every proto2
 *     optional field) are left out when absent, so they read as NULL;
 *   - 64-bit integers as JSON numbers (the mapping writes them as strings;
 *     numbers keep them LONG columns), uint64 past 2^63-1 too (a long field
 *     then holds NULL with a warning; declare it string or double);
 *   - enums by name (a number the schema does not name: the number);
 *     bytes as base64; NaN and ±infinity as "NaN", "Infinity", "-Infinity";
 *     strings with invalid UTF-8: the bad bytes become U+FFFD;
 *   - google.protobuf.Timestamp as an RFC 3339 string in UTC
 *     ("2024-05-01T12:00:00.250Z", 0, 3, 6 or 9 fraction digits), which
 *     TIME_PARSE reads; the wrappers (google.protobuf.Int64Value, ...) as
 *     their value;
 *   - maps as objects keyed by the key's text; a oneof shows only its member
 *     set last; a singular field written twice keeps the last value (a
 *     message field: both merged, as protobuf parsers do).
 *
 * Errors (LERR_INVALID, lerr.pos the byte offset in the message): a
 * truncated varint, length or fixed-width value, a varint longer than 10
 * bytes, wire types 6 and 7, field number 0, an unmatched group end, a known
 * field written with a wire type its type cannot have (another schema wrote
 * it), nesting deeper than FORMAT_PB_MAX_DEPTH, JSON past the output cap.
 *
 * Thread-safety: a schema is read-only once made and may be shared; each
 * call touches only the objects passed to it.
 */
#ifndef LODESTAR_FORMAT_PROTOBUF_H
#define LODESTAR_FORMAT_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* Deepest JSON nesting a message may decode to (objects and arrays both
 * count; under the nd-json scanner's 128). */
#define FORMAT_PB_MAX_DEPTH 100
/* Longest message-index list in a Confluent frame. */
#define FORMAT_PB_MAX_INDEXES 64

struct format_pb_schema;
struct format_pb_msg;

/*
 * Reads a serialized FileDescriptorSet (as `protoc --include_imports
 * --descriptor_set_out` writes it) and resolves every field's message and
 * enum type. Borrows nothing after it returns. NULL with LERR_INVALID (not a
 * FileDescriptorSet, no files, a field whose type is not in the set — say
 * which file to add with --include_imports —, a bad field number or type)
 * or LERR_NOMEM. Messages name the file, message and field.
 */
struct format_pb_schema *format_pb_schema_new(const void *data, size_t len, struct lerr *err);
void format_pb_schema_free(struct format_pb_schema *s);

/* One serialized FileDescriptorProto (as a schema registry's
 * ?format=serialized gives it, base64-decoded). */
struct format_pb_file {
    const void *data;
    size_t len;
    const char *what; /* how errors name it, e.g. "schema id 7" */
};

/*
 * A schema from files[0..n): the schema's own file last (its messages are
 * what format_pb_by_index() indexes), the files it imports before it in any
 * order. An import that no file answers and that is one of the well-known
 * google/protobuf files (timestamp, duration, wrappers, struct, any, empty,
 * field_mask) is supplied from a built-in copy, as a schema registry does.
 * Borrows nothing after it returns. NULL with LERR_INVALID (a file that is
 * not a FileDescriptorProto, naming it; anything format_pb_schema_new()
 * refuses, plus the imports no file answered) or LERR_NOMEM.
 */
struct format_pb_schema *format_pb_schema_from_files(const struct format_pb_file *files, size_t n,
                                                     struct lerr *err);

/* The message type of full name `name` ("pkg.Outer.Inner"; a leading '.' is
 * allowed), or NULL with LERR_INVALID naming the types that do exist. */
const struct format_pb_msg *format_pb_find(const struct format_pb_schema *s, const char *name,
                                           struct lerr *err);
/* The full name of a message type (no leading '.'). */
const char *format_pb_msg_name(const struct format_pb_msg *m);

/*
 * The message type Confluent's message-index list names in the set's last
 * file (the schema's own file; protoc writes imports before it): idx[0] is
 * the index among the file's top-level messages, idx[1] among that one's
 * nested messages, and so on; an empty list is the first message. NULL
 * with LERR_INVALID when an index is out of range.
 */
const struct format_pb_msg *format_pb_by_index(const struct format_pb_schema *s,
                                               const int32_t *idx, size_t n, struct lerr *err);

/* The decoder's working memory, kept between calls so that a stream of
 * records allocates nothing once it has grown: zero-initialise, and free
 * with format_pb_work_free(). One per thread. (`later`: format__pb_row()'s
 * decoded members, stored in the row once the whole record has decoded.) */
struct format_pb_work {
    void *occ;
    size_t occ_cap;
    uint32_t *links;
    size_t links_cap;
    void *later; /* a row's discovered members, stored once the record proved whole */
    size_t later_cap;
    void *rowplan; /* what the parser's plan makes of an inline schema's message type */
};
void format_pb_work_free(struct format_pb_work *w);

/*
 * Decodes data[0..len) as one message of type m and appends its JSON object
 * to out (see above), with `work` as working memory (NULL: its own, freed on
 * return). Returns 0, or -1 with err set (LERR_INVALID with pos, or
 * LERR_NOMEM). On error out holds a partial text: reset it.
 */
int format_pb_to_json(const struct format_pb_msg *m, const void *data, size_t len, struct buf *out,
                      struct format_pb_work *work, struct lerr *err);

/* Confluent's wire framing of a Protobuf record. */
struct format_pb_frame {
    uint32_t schema_id;
    int32_t indexes[FORMAT_PB_MAX_INDEXES]; /* the message-index list ([0]: the first message) */
    size_t nindexes;
    size_t header_len; /* bytes before the message itself */
};

/*
 * Reads the framing at the start of data[0..len): magic byte 0, the schema
 * id (4 bytes, big-endian), then the message-index list as zigzag varints —
 * a count and that many indexes, where a count of 0 (the single byte 0)
 * stands for the list [0], the file's first message. Returns 0, or -1 with LERR_INVALID and pos (no magic byte, a
 * truncated header, a negative or too long count, a negative index).
 */
int format_pb_confluent_frame(const void *data, size_t len, struct format_pb_frame *out,
                              struct lerr *err);

#endif
