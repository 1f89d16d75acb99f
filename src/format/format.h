/*
 * format.h — input formats: turns one record (Kafka message or push line,
 * plus its metadata) into an "input row" of SQL values, one per input field,
 * for the row pipeline (filter and mappings) to evaluate. Formats: nd-json,
 * csv, tsv, delimited, avro_stream and avro_ocf (avro.c; schemas inline, in
 * the file, or from a schema registry: registry.h), protobuf (a message decoded
 * with a FileDescriptorSet, inline or from a schema registry, read as
 * protobuf's JSON mapping: protobuf.h), and
 * kafka (key, headers, timestamp and topic around a value format). With schema discovery it also types every undeclared field
 * by Druid's rules and keeps a per-job discovered schema. The nd-json record
 * scanner under it is json.h.
 *
 * Entry points:
 *   format_settings_from_json()   the API's normalised formatSettings (parsed) → C struct
 *   format_input_schema_from_json()  the inputSchema array → sql_schema
 *   format_plan_new() / format_plan_free()   compile a spec once (a plan)
 *   format_parser_open()          a parser over a plan (schema + scratch)
 *   format_parser_new() / format_parser_free()   both at once: a parser that
 *                                 owns its plan (one job, one thread)
 *   format_parser_schema()        the full input schema (declared + kafka
 *                                 metadata + discovered) for the SQL compiler
 *   format_parser_reads_headers() whether records need their headers
 *   format_parser_set_registry()  the schema registry client of a format that
 *                                 reads one (format_plan_uses_registry())
 *   format_split_init() / format_split_next()   split a body or a message into
 *                                 records (quoted CSV newlines, blank lines,
 *                                 BOM, header rows)
 *   format_parse()                one record → one input row
 *   format_discovered_fields() / format_parser_generation()   discovery
 *   format_is_blank()
 *
 * Typical caller loop, per Kafka message or push body:
 *
 *   struct format_splitter s;
 *   struct record r = msg;            // the message and its metadata
 *   format_split_init(&s, parser, msg.data, msg.len);
 *   while (format_split_next(&s, &r.data, &r.len, &line)) {
 *       lerr_init(&err);
 *       switch (format_parse(parser, &r, batch_arena, &row, &err)) { ... }
 *   }
 *
 * Semantics (Druid's unless said otherwise):
 *   - A missing field is NULL, never a warning. A value that cannot be
 *     converted to the declared dataType is NULL and the record is
 *     FORMAT_OK_WITH_WARNINGS (Druid's processedWithError) with a message
 *     naming the field and the value.
 *   - Conversions, JSON value → declared type:
 *       string: strings as decoded; numbers as written ("1.50" stays "1.50");
 *               true/false → "true"/"false"; objects and arrays → their JSON
 *               text as written (Druid would make a multi-value dimension of
 *               an array of primitives and Java's Map.toString() of an
 *               object; JSON text keeps the data and can be read back with
 *               JSON_VALUE/PARSE_JSON).
 *       long:   integers exact; other numbers truncate toward zero (Java's
 *               Number.longValue(): 12.7 → 12, -12.7 → -12); numbers outside
 *               int64 → NULL + warning; strings holding a number convert the
 *               same way ("12" → 12, " 12.7 " → 12); "" → NULL without a
 *               warning; other strings → NULL + warning; true/false → 1/0;
 *               objects and arrays → NULL + warning.
 *       double: numbers (-0 keeps its sign); a number that overflows a double
 *               (1e400) → NULL + warning, one that underflows → ±0; strings
 *               as for long (no NaN/Infinity: NULL + warning); booleans 1/0.
 *       float:  as double, then rounded to float; past float's range → NULL
 *               + warning.
 *       json:   the value's JSON text as written (SQL_JSON); JSON null → NULL.
 *   - Text (CSV fields, Kafka keys/headers/topic) → declared type: string as
 *     is (with listDelimiter and a delimiter present: an SQL_ARRAY of
 *     strings); numbers as for JSON strings above, with an empty field NULL
 *     (no warning) and '' kept for strings (SQL-compatible null handling);
 *     json: the text as a JSON string literal (Druid stores CSV values as
 *     strings; use PARSE_JSON in a mapping to parse JSON held in a field).
 *   - Numbers in text: optional surrounding spaces/tabs, optional sign,
 *     digits with an optional fraction and exponent (".5" and "5." allowed).
 *   - protobuf: the message is read as the JSON object of protobuf's JSON
 *     mapping (protobuf.h lists the choices), so all of the above applies
 *     to it as to that JSON; a message that does not decode is
 *     FORMAT_ERROR with the byte offset in the message.
 *   - Records: invalid JSON, invalid UTF-8, trailing garbage, nesting past
 *     128, a value that is not an object, an empty Kafka message, an
 *     unterminated CSV quote, or a CSV record holding more than one row are
 *     FORMAT_ERROR with the reason and err->pos = the byte offset in the
 *     record. Duplicate JSON keys: the last one wins.
 *   - CSV family (RFC 4180): fields may be quoted with '"'; inside quotes a
 *     doubled quote is one quote and delimiters and newlines are data; a
 *     quote inside an unquoted field is kept as a literal character; text
 *     after a closing quote other than a delimiter is an error. Fields are
 *     not trimmed. Rows with fewer fields than columns get NULL for the rest
 *     and a warning; rows with more get a warning and the extras are
 *     ignored. Blank lines are skipped. CRLF, LF and a leading BOM are fine.
 *   - Header rows: a "stream" is one text given to format_split_init() (a
 *     push body, a file, one Kafka message), as in Druid, where each Kafka
 *     message is its own input entity: skipHeaderRows rows are skipped at the
 *     start of each text, and with findColumnsFromHeader the next row names
 *     the columns for the rest of that text. Column names: `columns`, else
 *     the header, else the inputSchema order (declared fields only).
 *   - kafka: the value is parsed by valueFormat; input fields
 *     timestampColumnName (default "kafka.timestamp", LONG epoch ms),
 *     topicColumnName ("kafka.topic", STRING), keyColumnName ("kafka.key",
 *     STRING: the raw key as UTF-8 text, or with keyFormat the first field of
 *     the parsed key) and headerLabelPrefix + header name ("kafka.header.",
 *     STRING, UTF-8; the last of repeated headers wins) are added. The
 *     timestamp, topic and key fields are always in the schema (declared
 *     ones keep their place and dataType, others follow the declared
 *     fields); header fields exist when declared, or when discovered. When
 *     the value itself has a non-null field of the same name, the value wins
 *     (Druid's blended row). Invalid UTF-8 in a key or header becomes U+FFFD
 *     with a warning.
 *
 * Memory: a parser owns its memory. format_parse() puts the row into the
 * caller's arena (reset per batch); string values point into the record's
 * bytes (value, key, headers, topic) or into that arena, so keep both until
 * the row is consumed. Nothing is allocated from the heap per value; the
 * parser grows its own scratch to the largest record seen.
 *
 * Objects and ownership (as query/ separates its plan from a run's state):
 *   - struct format_plan: what a spec compiles to (settings, fixed fields
 *     (declared + kafka metadata) and their name table with the exclusions,
 *     CSV columns, flattenSpec paths, kafka metadata and key format, the
 *     row of typed NULLs). Written only by format_plan_new(); read-only
 *     after it returns, so any number of threads may read it at once. It
 *     must outlive every parser opened on it; whoever made it frees it
 *     (format_parser_new()'s plan is owned and freed by its parser).
 *   - the discovered schema (inside a parser; format__schema in
 *     format_int.h): a copy of the plan's fixed fields and names, to which
 *     schema discovery appends fields and widens types, with its
 *     generation. Per job: written by format_parse() on the thread that
 *     owns the parser, read through format_parser_schema() /
 *     format_discovered_fields() by that same thread (others must be
 *     handed a copy).
 *   - the scratch (inside a parser; format__scratch): the key-prediction
 *     cache, per-record extras and their stamps, the record serial, the CSV
 *     header state of the current text, decoding buffers. Per thread:
 *     written by every format_parse() / format_split_next().
 *   A struct format_parser is one schema + one scratch over one plan: it
 *   belongs to one thread at a time; parsers are independent of each other
 *   even when they share a plan.
 */
#ifndef LODESTAR_FORMAT_H
#define LODESTAR_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/json.h"
#include "sql/sql.h"
#include "util/record.h"
#include "util/util.h"

/* Records larger than this are rejected (sql_value strings are 32-bit). */
#define FORMAT_MAX_RECORD (64u * 1024 * 1024)
/* Default cap on fields discovered per job. */
#define FORMAT_MAX_DISCOVERED 10000u
/* Longest field name that discovery adds (bytes); longer ones are skipped. */
#define FORMAT_MAX_NAME 255u
/* Most CSV columns (configured or from a header). */
#define FORMAT_MAX_COLUMNS 10000u

/* ---- settings --------------------------------------------------------- */

enum format_kind {
    FORMAT_NDJSON,
    FORMAT_CSV,
    FORMAT_TSV,
    FORMAT_DELIMITED,
    FORMAT_KAFKA,
    FORMAT_AVRO_STREAM, /* one Avro datum per record (format/avro.c) */
    FORMAT_AVRO_OCF,    /* Avro object container files (batch) */
    FORMAT_PROTOBUF,    /* binary: a record is one message, never split */
};

/* One flattenSpec field: {"type": "root"|"path"|"jq"|"tree", "name", "expr"
 * | "nodes"}, as Druid's JSON flattenSpec. */
enum format_flatten_type {
    FORMAT_FLATTEN_ROOT,
    FORMAT_FLATTEN_PATH,
    FORMAT_FLATTEN_JQ,
    FORMAT_FLATTEN_TREE
};
struct format_flatten_field {
    enum format_flatten_type type;
    const char *name; /* the input field it defines */
    /* path: "$.a.b", "$.a[0]", "$['a b']"; jq: ".a.b", ".a[0]", ".a[\"b\"]";
     * root and tree: NULL */
    const char *expr;
    const char *const *nodes; /* tree: the member names from the root */
    size_t nnodes;
};

/*
 * formatSettings as a C struct. Strings are NUL-terminated and borrowed:
 * format_parser_new() copies what it needs. Zero-initialise and set what
 * applies; NULL strings mean the defaults.
 */
struct format_settings {
    enum format_kind kind;
    /* csv, tsv, delimited */
    const char *delimiter;      /* delimited: 1+ bytes (at most 15); csv ","; tsv "\t" */
    const char *list_delimiter; /* NULL = no multi-value splitting */
    const char *const *columns; /* names in order; ncolumns == 0: header or inputSchema */
    size_t ncolumns;
    uint32_t skip_header_rows;
    bool find_columns_from_header;
    /* nd-json, protobuf */
    const struct format_flatten_field *flatten;
    size_t nflatten;
    /* flattenSpec.useFieldDiscovery false: only the flattenSpec fields are
     * read, no other member of the record (Druid's default is true). */
    bool no_field_discovery;
    /* kafka */
    const struct format_settings *value_format; /* required; not kafka */
    const struct format_settings *key_format;   /* NULL = the raw key bytes */
    const char *key_column;                     /* default "kafka.key" */
    const char *timestamp_column;               /* default "kafka.timestamp" */
    const char *header_prefix;                  /* default "kafka.header." */
    const char *topic_column;                   /* default "kafka.topic" */
    /* The kinesis wrapper ({"format": "kinesis"}): kind is FORMAT_KAFKA, the key is
     * the partition key (key_column, default "kinesis.partitionKey"), the timestamp
     * the arrival time ("kinesis.timestamp"); no topic, headers or keyFormat. */
    bool kinesis;
    /* avro_stream and protobuf: parseSchemaProvider, inline or a connection */
    const char *avro_schema;       /* "inline-avro": the schema's JSON text */
    const char *schema_connection; /* "connection": a confluent_schema_registry
                                    * connection's name; the caller gives the parser
                                    * its client (format_parser_set_registry) */
    /* protobuf (parseSchemaProvider "inline-protobuf") */
    const char *pb_descriptor;   /* base64 of a serialized FileDescriptorSet */
    const char *pb_message_type; /* full name, e.g. "shop.Order" */
};

/*
 * Builds settings from the normalised formatSettings JSON the API stores
 * (unknown keys are ignored, missing ones take their defaults). Everything
 * is allocated from `mem` and lives as long as it. LERR_INVALID naming the
 * bad key (e.g. "formatSettings.valueFormat.delimiter must ..."), or
 * LERR_NOMEM.
 */
struct json_t; /* jansson's document: the caller parsed it (catalog/spec.c) */
int format_settings_from_json(const struct json_t *json, struct arena *mem,
                              struct format_settings *out, struct lerr *err);

/*
 * Builds an input schema from an inputSchema JSON array
 * ([{"name": "x", "dataType": "long"}, ...]; dataType string, long, float,
 * double or json). Fields and names come from `mem`. LERR_INVALID with the
 * index of the bad entry, or LERR_NOMEM.
 */
int format_input_schema_from_json(const struct json_t *json, struct arena *mem,
                                  struct sql_schema *out, struct lerr *err);

/* ---- plan and parser ---------------------------------------------------- */

struct format_plan;
struct format_parser;

/*
 * Compiles a plan for one spec: `input` is the job's inputSchema (types
 * SQL_STRING, SQL_LONG, SQL_FLOAT, SQL_DOUBLE, SQL_JSON; names unique),
 * `discovery` is useSchemaDiscovery and exclusions[0..nexclusions) its
 * dimensionExclusions (NUL-terminated names). Borrows nothing after it
 * returns. NULL with LERR_INVALID (bad settings or schema: a message naming
 * the setting and how to fix it) or LERR_NOMEM. Read-only once made.
 */
struct format_plan *format_plan_new(const struct format_settings *fs,
                                    const struct sql_schema *input, bool discovery,
                                    const char *const *exclusions, size_t nexclusions,
                                    struct lerr *err);
/* Frees a plan; no parser may be open on it any more. NULL is fine. */
void format_plan_free(struct format_plan *plan);
/* Declared + metadata fields (= format_parser_nfixed() of its parsers). */
size_t format_plan_nfixed(const struct format_plan *plan);

/*
 * A parser over `plan` (borrowed: it must outlive the parser) with its own
 * schema (the plan's fixed fields; discovery adds to it) and scratch.
 * NULL with LERR_NOMEM.
 */
struct format_parser *format_parser_open(const struct format_plan *plan, struct lerr *err);
/* The plan a parser reads. */
const struct format_plan *format_parser_plan(const struct format_parser *p);

/*
 * format_plan_new() + format_parser_open(): a parser that owns its plan
 * (freed with it). Same arguments and errors as format_plan_new().
 */
struct format_parser *format_parser_new(const struct format_settings *fs,
                                        const struct sql_schema *input, bool discovery,
                                        const char *const *exclusions, size_t nexclusions,
                                        struct lerr *err);
void format_parser_free(struct format_parser *p);

/*
 * The schema registry client of a parser whose format reads schemas from a
 * registry connection (format_settings.schema_connection): borrowed, it must
 * outlive the parser; thread-safe, so parsers may share one. Without it such
 * records are FORMAT_ERROR.
 */
struct format_registry;
void format_parser_set_registry(struct format_parser *p, struct format_registry *r);
/* Whether the parser's format reads schemas from a registry connection. */
bool format_plan_uses_registry(const struct format_plan *plan);

/* Changes the cap on discovered fields (default FORMAT_MAX_DISCOVERED). */
void format_parser_set_max_discovered(struct format_parser *p, uint32_t max);

/* Where a field of the input schema comes from. */
enum format_origin {
    FORMAT_ORIGIN_DECLARED,   /* inputSchema (kafka metadata declared there too) */
    FORMAT_ORIGIN_METADATA,   /* kafka timestamp/key/topic not declared */
    FORMAT_ORIGIN_DISCOVERED, /* schema discovery */
};

/*
 * One input field. For discovered fields `type` is the type discovered so
 * far (SQL_STRING, SQL_LONG, SQL_DOUBLE, SQL_JSON or SQL_ARRAY with
 * `elem_type` SQL_LONG, SQL_DOUBLE or SQL_STRING); `added` and `changed` are
 * the generations at which it appeared and last changed type (0 for fields
 * known from the start).
 */
struct format_field {
    const char *name; /* NUL-terminated, lives as long as the parser */
    size_t name_len;
    uint8_t type;      /* enum sql_type */
    uint8_t elem_type; /* SQL_ARRAY: element type; else SQL_NULL */
    uint8_t origin;    /* enum format_origin */
    uint8_t meta;      /* internal: which kafka metadata feeds it */
    uint64_t added, changed;
};

/*
 * The full input schema as (name, type) pairs for the SQL compiler: declared
 * fields in inputSchema order, then undeclared kafka metadata fields, then
 * discovered fields in the order they appeared (indexes never change once
 * assigned). Fills out[0..min(cap, n)) and returns n. Names live as long as
 * the parser.
 */
size_t format_parser_schema(const struct format_parser *p, struct sql_field *out, size_t cap);
/* Declared + metadata fields: the length of format_row.values. */
size_t format_parser_nfixed(const struct format_parser *p);
/* Whether format_parse() reads record headers (a kafka format with header fields
 * declared, or with discovery): a source need not fill them otherwise. */
bool format_parser_reads_headers(const struct format_parser *p);

/*
 * Every field (the same order as format_parser_schema()) with its details.
 * The array is valid until the next format_parse(). *gen (when not NULL)
 * gets the current generation: the fields with `changed` > N are those added
 * or widened since the caller last saw generation N.
 */
size_t format_discovered_fields(const struct format_parser *p, const struct format_field **fields,
                                uint64_t *gen);
/* Bumped once per discovered field added and per type widening. */
uint64_t format_parser_generation(const struct format_parser *p);

/* ---- records and rows ---------------------------------------------------- */

/* Records are util/record.h's struct record: the bytes and their metadata
 * (partition, offset, key, headers, timestamp, topic), read directly. */

/*
 * An input row. values[i] is fixed field i (declared + metadata, schema
 * order); NULLs carry the field's type. Discovered fields present in the
 * record follow sparsely: extra[k] is the value of schema field
 * extra_index[k] (>= nvalues), typed by the field's discovered type at the
 * time of parsing (a field widened later has narrower values in earlier
 * rows). schema_changed says this record added or widened a field.
 */
struct format_row {
    struct sql_value *values;
    uint32_t nvalues;
    uint32_t nextra;
    const uint32_t *extra_index;
    struct sql_value *extra;
    bool schema_changed;
};

enum format_outcome {
    FORMAT_OK,               /* processed */
    FORMAT_OK_WITH_WARNINGS, /* processedWithWarnings: err holds the first warning */
    FORMAT_ERROR,            /* skippedByError: err holds why, pos the byte offset;
                              * but LERR_UNAVAILABLE (a schema registry that did not
                              * answer) means "not now": the record must be parsed
                              * again later, neither counted nor skipped */
};

/*
 * Parses one record into *row (memory from `mem`). On FORMAT_ERROR, code
 * LERR_INVALID means the record is bad; LERR_NOMEM means `mem` is full (its
 * cap): end the batch, reset the arena and parse the record again. err must
 * be clear (lerr_init) on entry. For CSV, the record is one row (a final
 * line terminator is allowed); split texts with format_split_next().
 */
enum format_outcome format_parse(struct format_parser *p, const struct record *rec,
                                 struct arena *mem, struct format_row *row, struct lerr *err);

/* True when p[0..n) holds nothing but a BOM and whitespace. */
bool format_is_blank(const char *p, size_t n);

/* ---- splitting texts into records ---------------------------------------- */

/* Fields are private. */
struct format_splitter {
    struct format_parser *p;
    const char *base, *cur, *end;
    size_t line; /* physical line of cur, 1-based */
    uint32_t skip_left;
    bool want_header;
    uint8_t mode; /* lines, CSV rows, or JSON values (kafka) */
};

/*
 * Starts splitting text[0..n) for parser p (the parser's value format
 * decides the rules). A CSV text resets the parser's header state when
 * findColumnsFromHeader is set. Borrows text while splitting.
 */
void format_split_init(struct format_splitter *s, struct format_parser *p, const char *text,
                       size_t n);
/*
 * The next record: *rec and *len without its line terminator, *line the 1-based
 * line it starts on. Skips blank lines, a leading BOM, skipHeaderRows rows,
 * and reads the header row (findColumnsFromHeader) into the parser: a bad
 * header makes each following row of the text an error that says so.
 * Returns false at the end. Records are: CSV rows (quoted line breaks kept);
 * for nd-json, lines (push bodies: one bad line never swallows the next);
 * for a kafka message with nd-json values, top-level JSON values, so a
 * message may hold one pretty-printed object or several objects, as Druid
 * reads them (text that is not an object or array runs to the line end);
 * for protobuf, the whole text, once, even when empty (an empty message
 * holds every field's default).
 */
bool format_split_next(struct format_splitter *s, const char **rec, size_t *len, size_t *line);

#endif
