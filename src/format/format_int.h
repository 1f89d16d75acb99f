/*
 * format_int.h — private to src/format/: the plan (read-only once built),
 * the per-job schema and the per-thread scratch that make a parser, and the helpers
 * its files share (record.c: parser, nd-json, protobuf and kafka rows; csv.c: the CSV
 * family and splitting; coerce.c: text/JSON → typed values; discover.c: the
 * field-name table and schema discovery; settings.c: JSON settings; avro.c:
 * the Avro formats; protobuf.c: the protobuf format; member.c: what the
 * nd-json, Avro and Protobuf rows share).
 * Internal cross-file names use the `format__` prefix.
 */
#ifndef LODESTAR_FORMAT_INT_H
#define LODESTAR_FORMAT_INT_H

#include <locale.h>

#include "format/format.h"
#include "format/protobuf.h"
#include "util/map.h"

/* Which record metadata feeds a field (format_field.meta). */
enum { META_NONE, META_TIMESTAMP, META_KEY, META_TOPIC, META_HEADER };

/* References in the name table and column maps. */
#define REF_NONE UINT32_MAX             /* not a field: ignore */
#define REF_EXCLUDED (UINT32_MAX - 1)   /* in dimensionExclusions */
#define REF_UNRESOLVED (UINT32_MAX - 2) /* CSV column to discover on first use */

/* The predicted name at one member position of an nd-json record: records
 * of a stream mostly repeat their key order, so one memcmp usually replaces
 * a hash lookup. Unknown keys are remembered too (short ones, inline). */
#define PRED_POSITIONS 64
#define PRED_KEY 40
struct format__pred {
    const char *name; /* NULL = no prediction */
    uint32_t len;
    uint32_t ref;       /* field index, REF_NONE or REF_EXCLUDED */
    char own[PRED_KEY]; /* storage for remembered unknown keys */
};

/* A CSV column: its name (for messages and discovery) and field. */
struct format__column {
    const char *name;
    uint32_t len;
    uint32_t ref; /* field index, REF_NONE, REF_EXCLUDED or REF_UNRESOLVED */
};

/* A compiled flattenSpec path (path, jq or tree). */
struct format__flat {
    uint32_t field;   /* declared field it feeds, or REF_NONE: discovered by name */
    const char *name; /* the field's name */
    size_t name_len;
    size_t nsteps;
    struct format_json_path_step *steps;
};

/* The CSV family's compiled settings (part of the plan). */
struct format__csv {
    char delim[16];
    uint8_t delim_len;
    char list[16];
    uint8_t list_len; /* 0 = no multi-value splitting */
    uint32_t skip_header_rows;
    bool from_header;
    /* The column map a text starts with: configured columns or the
     * inputSchema order (none with from_header). */
    struct format__column *cols;
    uint32_t ncols;
    size_t cols_cap;
};

/* The CSV family's per-parser state (part of the scratch). */
struct format__csv_state {
    /* Current column map: a copy of the plan's, or the header of the
     * current text; REF_UNRESOLVED entries are resolved here on first use. */
    struct format__column *cols;
    uint32_t ncols;
    size_t cols_cap;
    bool have_header; /* from_header: a header was read */
    bool header_bad;
    char header_err[300];
    struct arena header_mem; /* header names; reset per header */
};

/*
 * A field table with its name table (name → field index or REF_EXCLUDED).
 * The plan holds one with the fixed fields and the exclusions; each parser
 * holds a copy that discovery appends to (names of added fields in `mem`).
 */
struct format__schema {
    struct format_field *fields;
    uint32_t nfields;
    size_t fields_cap;
    struct map names;
    struct arena mem; /* names of fields added to this table */
    /* Discovery (parser's copy only). */
    uint64_t gen;
    uint32_t ndiscovered, max_discovered;
};

/* The compiled plan: written only by format_plan_new(), then read-only. */
struct format_plan {
    enum format_kind kind;  /* top level */
    enum format_kind vkind; /* value format (kind unless kafka) */
    bool discovery;
    struct arena mem; /* names and compiled settings */
    locale_t c_locale;

    /* Fixed fields (declared, then metadata) and the exclusions. */
    struct format__schema fixed;
    uint32_t ndeclared, nfixed;
    struct sql_value *null_row; /* typed NULLs of the fixed fields */

    /* CSV family (value or only format). */
    struct format__csv csv;
    /* nd-json flattenSpec paths. */
    struct format__flat *flat;
    size_t nflat;
    /* Which record members are read (flattenSpec): member_ok says it per
     * declared field (NULL: all are); a path field's name is never read from
     * the root member of that name. With useFieldDiscovery false
     * (root_filter) only the root fields of the flattenSpec are, and
     * discovery may add only `names` (root field names); otherwise it may
     * add any member but `names` (path field names). */
    bool member_filter;
    bool root_filter;
    bool *member_ok;
    const char **names;
    size_t nnames;

    /* kafka */
    uint32_t meta_ts, meta_key, meta_topic; /* field indexes */
    const char *header_prefix;
    uint32_t header_prefix_len;
    uint32_t *header_fields; /* declared header fields */
    uint32_t nheader_fields;
    int key_kind; /* -1 raw, else FORMAT_NDJSON or a CSV kind */
    char key_delim[16];
    uint8_t key_delim_len;

    /* avro_stream: the inline schema, or avro_registry (schemas by id) */
    struct format__avro_schema *avro;
    bool avro_registry;
    /* protobuf (protobuf.h): the descriptor set and the message type read,
     * or pb_registry (schemas by the id in each record's framing) */
    struct format_pb_schema *pb;
    const struct format_pb_msg *pb_msg;
    bool pb_registry;
};

/* One parser's scratch: what format_parse() writes besides the schema. */
struct format__scratch {
    struct format__pred pred[PRED_POSITIONS];

    /* Per discovered field: record serial seen, and its position in the
     * extras. */
    uint32_t *disc_stamp;
    uint32_t *disc_slot;
    size_t disc_cap;
    uint32_t serial;

    /* Extras of the record being parsed. */
    uint32_t *x_index;
    struct sql_value *x_val;
    uint32_t x_n;
    size_t x_cap;

    /* CSV header state of the current text. */
    struct format__csv_state csv;

    /* Avro: registry schemas by id, the OCF file being split (avro.c). */
    struct format__avro_state *avro;
    /* protobuf: the decoder's working memory */
    struct format_pb_work pb;

    /* Scratch for decoding (grown to the largest record). */
    char *scratch, *scratch2;
    size_t scratch_cap;
    struct buf tmp;
};

/* A parser: a plan (borrowed, or owned when made by format_parser_new()),
 * the job's schema, and the scratch. */
struct format_parser {
    const struct format_plan *plan;
    struct format_plan *owned_plan; /* freed with the parser; NULL = borrowed */
    struct format__schema schema;
    struct format__scratch run;
    struct format_registry *registry; /* borrowed (format_parser_set_registry) */
};

/* The state of one format_parse() call. */
struct format__ctx {
    struct format_parser *p;
    const struct format_plan *pl; /* p->plan */
    struct arena *mem;
    struct sql_value *vals; /* fixed fields */
    struct lerr *err;
    struct lerr warn; /* first warning; valid when warned */
    bool warned;
    bool nomem;
    bool changed;
};

/* ---- member.c ------------------------------------------------------------ */

/* The field of a member key (or REF_NONE / REF_EXCLUDED), through the
 * per-position prediction. */
uint32_t format__member_ref(struct format_parser *p, const struct format_json_member *m);
/* flattenSpec paths over a record's JSON text s[0..n) (which must live as
 * long as the row): a path's field gets what it finds (discovered by name
 * when undeclared). 0, or -1 when memory ran out (c->nomem). */
int format__flatten(struct format__ctx *c, const char *s, size_t n);
/* Whether discovery may add member `key` under the flattenSpec's filter
 * (plan->member_filter set). */
bool format__discoverable(const struct format_plan *pl, const char *key, size_t len);
/* Discovers field `key` from JSON value v and stores v in it; `index` is the
 * member's position for the key-order prediction (PRED_POSITIONS: none).
 * 0, or -1 when memory ran out. */
int format__discover_json(struct format__ctx *c, const char *key, size_t len, uint32_t ref,
                          const struct format_json_value *v, size_t index);
/* For formats that decode values themselves (Avro, Protobuf): where member m
 * (key and index set) goes — its fixed field (< nfixed), a discovery
 * candidate (REF_NONE or a discovered field), or REF_EXCLUDED: not stored
 * (the format still checks its bytes). */
uint32_t format__member_target(struct format__ctx *c, const struct format_json_member *m);
/* Stores m->v, decoded by the format (a string may lack its raw literal:
 * made here when a json field needs it), into target `ref` from
 * format__member_target(). 0, or -1 when memory ran out (c->nomem). */
int format__member_put(struct format__ctx *c, struct format_json_member *m, uint32_t ref);
/* A flattenSpec path's found value v into its field (discovered by name
 * when undeclared). 0, or -1 when memory ran out. */
int format__flat_put(struct format__ctx *c, const struct format__flat *fl,
                     const struct format_json_value *v);
/* Grows the parser's two scratch areas to at least `need` bytes (moving
 * them: nothing may point into them across the call). false on OOM. */
bool format__ensure_scratch(struct format_parser *p, size_t need);

/* ---- avro.c -------------------------------------------------------------- */

struct format__avro_schema;
struct format__avro_state;
/* The splitter mode of the Avro formats (beside csv.c's). */
#define FORMAT__SPLIT_AVRO 3
bool format__is_avro(enum format_kind k);
/* Compiles an avro_stream plan's inline schema (or notes the registry). */
int format__avro_init(struct format_plan *pl, const struct format_settings *fs, struct lerr *err);
void format__avro_free(struct format_plan *pl);
void format__avro_state_free(struct format_parser *p);
/* One Avro record into the context's row. 0 or -1 (err set; c->nomem). */
int format__avro_row(struct format__ctx *c, const char *s, size_t n);
/* Splitting: avro_stream texts are one record; avro_ocf texts are files. */
void format__avro_split_init(struct format_splitter *s);
bool format__avro_split_next(struct format_splitter *s, const char **rec, size_t *len,
                             size_t *line);

/* ---- protobuf.c ---------------------------------------------------------- */

/* One message of type m (wire bytes s[0..n), without any framing) into the
 * context's row: each top-level field straight into its field, nested
 * values as JSON text (see protobuf.h). 0 or -1 (err set, pos within
 * s; c->nomem). */
int format__pb_row(struct format__ctx *c, const struct format_pb_msg *m, const char *s, size_t n);

/* ---- coerce.c ------------------------------------------------------------ */

/* Records a warning (the first one is kept). */
void format__warn(struct format__ctx *c, const char *fmt, ...) LS_PRINTF(2, 3);
/* Bytes kept in the row: copies s into the arena when it lies in the
 * parser's scratch, else returns it. NULL on arena exhaustion (c->nomem). */
const char *format__keep(struct format__ctx *c, const char *s, size_t n);
/* Length of the valid UTF-8 prefix of s[0..n). */
size_t format__utf8_valid(const char *s, size_t n);
/* Text → field's type (see format.h). `copy`: s must be copied to be kept. */
void format__put_text(struct format__ctx *c, uint32_t field, const char *s, size_t n, bool copy,
                      struct sql_value *out);
/* Text that may hold invalid UTF-8 (kafka keys, headers): invalid bytes
 * become U+FFFD with a warning. */
void format__put_text_lossy(struct format__ctx *c, uint32_t field, const char *s, size_t n,
                            struct sql_value *out);
/* JSON value → field's type; the array form for ARRAY fields. */
void format__put_json(struct format__ctx *c, uint32_t field, const struct format_json_value *v,
                      struct sql_value *out);
/* A whole number → field's type (kafka timestamp). */
void format__put_long(struct format__ctx *c, uint32_t field, int64_t x, struct sql_value *out);
/* Parses text as a number. 1 = ok, 0 = empty, -1 = not a number;
 * format__text_long: -2 = a number outside int64. */
int format__text_double(const struct format_plan *pl, const char *s, size_t n, double *out);
int format__text_long(const struct format_plan *pl, const char *s, size_t n, int64_t *out);

/* ---- discover.c ---------------------------------------------------------- */

/* An empty table (arena and map ready). */
void format__schema_init(struct format__schema *sc);
/* dst = a copy of src's fields and names (names of src's fields must outlive
 * dst). false on OOM. */
bool format__schema_copy(struct format__schema *dst, const struct format__schema *src);
void format__schema_free(struct format__schema *sc);

/* The ref of a name: field index, REF_EXCLUDED or REF_NONE. */
uint32_t format__lookup(const struct format__schema *sc, const char *s, size_t n);
/* Adds a name → ref (the table keeps a copy; a name already there keeps its
 * first ref); false on OOM. */
bool format__insert(struct format__schema *sc, const char *s, size_t n, uint32_t ref);
/* Appends a field (name copied into sc->mem). UINT32_MAX on OOM. */
uint32_t format__add_field(struct format__schema *sc, const char *name, size_t n, uint8_t type,
                           uint8_t origin, struct lerr *err);
/*
 * Discovery of one value of an undeclared field: adds the field (when under
 * the cap) or widens its type by the type observed for this value, and
 * returns where its value goes (an extras slot), or NULL when the field is
 * not kept (excluded; cap or long name: a warning) or memory ran out
 * (c->nomem). *field gets the field index; ref is the field's index as the
 * caller knows it, or REF_NONE (looked up again).
 */
struct sql_value *format__discover(struct format__ctx *c, const char *name, size_t n, uint32_t ref,
                                   uint8_t type, uint8_t elem, uint32_t *field);
/* Whether discovered field `ref` already has a value in this record. */
bool format__discovered_seen(const struct format_parser *p, uint32_t ref);
/* The discovery type of a JSON value: false for null (nothing learnt). */
bool format__observe_json(struct format_parser *p, const struct format_json_value *v,
                          uint8_t *type, uint8_t *elem);
/* Combines two observed types by Druid's rules. */
void format__widen(uint8_t *type, uint8_t *elem, uint8_t t2, uint8_t e2);

/* ---- csv.c --------------------------------------------------------------- */

bool format__is_csv(enum format_kind k);
/* Compiles the CSV part of the plan from settings. */
int format__csv_init(struct format_plan *pl, const struct format_settings *fs, struct lerr *err);
void format__csv_free(struct format_plan *pl);
/* A parser's CSV state over its plan. false on OOM. */
bool format__csv_state_init(struct format__csv_state *st, const struct format__csv *cs);
void format__csv_state_free(struct format__csv_state *st);
/* Parses one CSV record into the context's row. 0 or -1 (err set). */
int format__csv_row(struct format__ctx *c, const char *s, size_t n);
/* The first field of a CSV text (kafka keys): 1 found, 0 none, -1 invalid.
 * The field is unescaped into the arena when it holds doubled quotes. */
int format__csv_first(struct format__ctx *c, const char *delim, size_t dlen, const char *s,
                      size_t n, const char **out, size_t *out_len);

#endif
