/*
 * protobuf.c — the protobuf format's schema and wire decoder (protobuf.h
 * says what the JSON holds and which errors there are).
 *
 * Entry points: format_pb_schema_new(), format_pb_schema_free(),
 * format_pb_schema_from_files(), format_pb_find(), format_pb_msg_name(),
 * format_pb_by_index(), format_pb_to_json(), format_pb_confluent_frame(),
 * and, module-internal (format_int.h), format__pb_row().
 *
 * The schema: protobuf-c unpacks the FileDescriptorSet with the descriptor
 * generated from pbdesc.proto (a subset of descriptor.proto); every message
 * and enum of every file then becomes a compiled type in one arena, with
 * its fields in declaration order, a field-number index and resolved
 * message/enum types, and protobuf-c's unpacked tree is freed. A schema
 * registry gives a schema as separate FileDescriptorProtos (the schema's
 * and its references'): they are put into one set, with the well-known
 * google/protobuf files they import written here (the registry knows those
 * without references), and read the same way.
 *
 * The decoder reads one message in two steps: it walks the wire once,
 * checking every tag, varint and length, and records each occurrence of a
 * known field (a growable stack shared by the nesting levels, linked per
 * field so unpacked repeated values keep their order); then it writes the
 * fields in declaration order, recursing into nested messages. A message
 * field written more than once is decoded over all its occurrences in turn,
 * which is protobuf's merge.
 *
 * Rows (format__pb_row, for record.c): the same first step on the record,
 * then each top-level field in declaration order goes to its field through
 * member.c as Avro's do: integers, bools, enums and valid strings (pointing
 * into the record) directly; Timestamps, nested messages, repeated fields
 * and maps as the JSON text the second step writes for that field alone;
 * the few scalars whose text decides the value (fractions, bytes, invalid
 * UTF-8, uint64 past int64) by scanning that text. Fields the row does not
 * keep are decoded without output, so a bad record fails as it did with the
 * whole JSON; values are stored only once the record has decoded; a
 * flattenSpec path of member names through single messages reads the
 * decoded fields (the value at its end as a top-level field's), any other
 * path the JSON of the top-level field it starts at. Where each top-level
 * field goes and how each path is read is worked out once per parser and
 * message type (struct rowplan) for an inline schema.
 */
#include "format/format_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "format/pbdesc.pb-c.h"
#include "util/num.h"
#include "util/time.h"

/* FieldDescriptorProto.Type */
enum {
    T_DOUBLE = 1,
    T_FLOAT,
    T_INT64,
    T_UINT64,
    T_INT32,
    T_FIXED64,
    T_FIXED32,
    T_BOOL,
    T_STRING,
    T_GROUP,
    T_MESSAGE,
    T_BYTES,
    T_UINT32,
    T_ENUM,
    T_SFIXED32,
    T_SFIXED64,
    T_SINT32,
    T_SINT64,
};
/* Wire types */
enum { W_VARINT = 0, W_I64 = 1, W_LEN = 2, W_SGROUP = 3, W_EGROUP = 4, W_I32 = 5 };
/* Well-known types the JSON mapping writes specially. */
enum { WKT_NONE, WKT_TIMESTAMP, WKT_WRAPPER };

static const char *const type_names[] = {"?",        "double",   "float",   "int64",  "uint64",
                                         "int32",    "fixed64",  "fixed32", "bool",   "string",
                                         "group",    "message",  "bytes",   "uint32", "enum",
                                         "sfixed32", "sfixed64", "sint32",  "sint64"};
static const char *const wire_names[] = {
    "0 (varint)",    "1 (64-bit)", "2 (length-delimited)", "3 (group start)",
    "4 (group end)", "5 (32-bit)", "6 (invalid)",          "7 (invalid)"};

struct pb_enum_value {
    int32_t number;
    const char *name;
};

struct pb_enum {
    const char *full_name;
    struct pb_enum_value *values;
    size_t nvalues;
    const char *zero_name; /* the value numbered 0 (the default), else the first */
};

struct pb_field {
    const char *name;
    uint32_t name_len;
    const char *type_name; /* message/enum types, as written; resolved below */
    uint32_t number;
    uint8_t type;
    uint8_t wire; /* the wire type the type is written with (wire_of) */
    bool repeated;
    bool presence; /* absent → left out (else absent → the default) */
    int32_t oneof; /* -1: none */
    const struct format_pb_msg *msg;
    const struct pb_enum *en;
};

struct format_pb_msg {
    const char *full_name;
    struct pb_field *fields; /* declaration order */
    size_t nfields;
    uint32_t *by_number; /* field indexes sorted by number */
    uint32_t small[32];  /* field index + 1 of numbers 0..31 (0: none): most lookups */
    uint32_t noneofs;
    bool map_entry;
    uint8_t wkt;
    struct format_pb_msg **nested; /* nested message types, in order */
    size_t nnested;
};

struct format_pb_schema {
    struct arena mem;
    struct format_pb_msg **msgs;
    size_t nmsgs, msgs_cap;
    struct pb_enum **enums;
    size_t nenums, enums_cap;
    struct format_pb_msg **last_file; /* top-level messages of the last file */
    size_t nlast_file;
};

/* ---- the schema ----------------------------------------------------------- */

static bool push_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        void **a = realloc(*arr, c * sizeof *a);
        if (!a)
            return false;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
    return true;
}

static char *join_name(struct arena *mem, const char *scope, const char *name)
{
    return scope[0] ? arena_printf(mem, "%s.%s", scope, name) : arena_strdup(mem, name);
}

static struct pb_enum *add_enum(struct format_pb_schema *s, const char *scope,
                                const Format__Pbdesc__EnumDescriptorProto *e, struct lerr *err)
{
    struct pb_enum *en = arena_zalloc(&s->mem, sizeof *en);
    if (!en || !(en->full_name = join_name(&s->mem, scope, e->name ? e->name : "")) ||
        !(en->values = arena_zalloc(&s->mem, (e->n_value + 1) * sizeof *en->values)) ||
        !push_ptr((void ***)&s->enums, &s->nenums, &s->enums_cap, en)) {
        lerr_set(err, LERR_NOMEM, "out of memory reading the descriptor");
        return NULL;
    }
    for (size_t i = 0; i < e->n_value; i++) {
        const Format__Pbdesc__EnumValueDescriptorProto *v = e->value[i];
        en->values[i].number = v->number;
        if (!(en->values[i].name = arena_strdup(&s->mem, v->name ? v->name : ""))) {
            lerr_set(err, LERR_NOMEM, "out of memory reading the descriptor");
            return NULL;
        }
        if (v->number == 0 && !en->zero_name)
            en->zero_name = en->values[i].name;
    }
    en->nvalues = e->n_value;
    if (!en->zero_name)
        en->zero_name = en->nvalues ? en->values[0].name : "";
    return en;
}

static int cmp_number(const void *a, const void *b, void *ctx)
{
    const struct format_pb_msg *m = ctx;
    uint32_t x = m->fields[*(const uint32_t *)a].number,
             y = m->fields[*(const uint32_t *)b].number;
    return x < y ? -1 : x > y;
}

static struct format_pb_msg *add_msg(struct format_pb_schema *s, const char *scope, bool proto3,
                                     const char *file, const Format__Pbdesc__DescriptorProto *d,
                                     int depth, struct lerr *err)
{
    struct arena *mem = &s->mem;
    if (depth > 64) {
        lerr_set(err, LERR_INVALID,
                 "file '%s': message types nest more than 64 levels deep under '%s'", file, scope);
        return NULL;
    }
    struct format_pb_msg *m = arena_zalloc(mem, sizeof *m);
    if (!m || !(m->full_name = join_name(mem, scope, d->name ? d->name : "")) ||
        !(m->fields = arena_zalloc(mem, (d->n_field + 1) * sizeof *m->fields)) ||
        !(m->by_number = arena_zalloc(mem, (d->n_field + 1) * sizeof *m->by_number)) ||
        !(m->nested = arena_zalloc(mem, (d->n_nested_type + 1) * sizeof *m->nested)) ||
        !push_ptr((void ***)&s->msgs, &s->nmsgs, &s->msgs_cap, m))
        goto nomem;
    m->map_entry = d->options && d->options->has_map_entry && d->options->map_entry;
    m->noneofs = (uint32_t)d->n_oneof_decl;
    if (strcmp(m->full_name, "google.protobuf.Timestamp") == 0)
        m->wkt = WKT_TIMESTAMP;
    else if (strncmp(m->full_name, "google.protobuf.", 16) == 0 && strlen(m->full_name) > 21 &&
             strcmp(m->full_name + strlen(m->full_name) - 5, "Value") == 0 &&
             strcmp(m->full_name, "google.protobuf.Value") != 0 && d->n_field == 1 &&
             d->field[0]->number == 1)
        m->wkt = WKT_WRAPPER; /* DoubleValue ... BytesValue */
    for (size_t i = 0; i < d->n_field; i++) {
        const Format__Pbdesc__FieldDescriptorProto *fd = d->field[i];
        struct pb_field *f = &m->fields[i];
        f->name = arena_strdup(mem, fd->name ? fd->name : "");
        f->type_name = fd->type_name ? arena_strdup(mem, fd->type_name) : NULL;
        if (!f->name || (fd->type_name && !f->type_name))
            goto nomem;
        f->name_len = (uint32_t)strlen(f->name);
        if (!fd->has_number || fd->number < 1 || fd->number > 536870911) {
            lerr_set(err, LERR_INVALID,
                     "file '%s': field '%s' of message '%s' has number %d; field numbers run "
                     "from 1 to 536870911",
                     file, f->name, m->full_name, fd->number);
            return NULL;
        }
        if (!fd->has_type || fd->type < T_DOUBLE || fd->type > T_SINT64) {
            if (fd->type_name && !fd->has_type)
                f->type = 0; /* resolved below: message or enum */
            else {
                lerr_set(err, LERR_INVALID,
                         "file '%s': field '%s' of message '%s' has an unknown type %d", file,
                         f->name, m->full_name, fd->type);
                return NULL;
            }
        } else {
            f->type = (uint8_t)fd->type;
        }
        f->number = (uint32_t)fd->number;
        f->repeated = fd->has_label && fd->label == 3;
        f->oneof = fd->has_oneof_index ? fd->oneof_index : -1;
        if (f->oneof >= 0 && (uint32_t)f->oneof >= m->noneofs) {
            lerr_set(err, LERR_INVALID,
                     "file '%s': field '%s' of message '%s' names oneof %d of %u", file, f->name,
                     m->full_name, f->oneof, m->noneofs);
            return NULL;
        }
        /* proto3 `optional` is a synthetic oneof: presence, but no oneof rules. */
        if (fd->has_proto3_optional && fd->proto3_optional)
            f->oneof = -1;
        f->presence = !f->repeated &&
                      (!proto3 || f->type == T_MESSAGE || f->type == T_GROUP ||
                       fd->has_oneof_index || (fd->has_proto3_optional && fd->proto3_optional));
        m->by_number[i] = (uint32_t)i;
    }
    m->nfields = d->n_field;
    qsort_r(m->by_number, m->nfields, sizeof *m->by_number, cmp_number, m);
    for (size_t i = 0; i < m->nfields; i++)
        if (m->fields[i].number < 32)
            m->small[m->fields[i].number] = (uint32_t)i + 1;
    for (size_t i = 1; i < m->nfields; i++)
        if (m->fields[m->by_number[i]].number == m->fields[m->by_number[i - 1]].number) {
            lerr_set(err, LERR_INVALID,
                     "file '%s': fields '%s' and '%s' of message '%s' share number %u", file,
                     m->fields[m->by_number[i - 1]].name, m->fields[m->by_number[i]].name,
                     m->full_name, m->fields[m->by_number[i]].number);
            return NULL;
        }
    for (size_t i = 0; i < d->n_nested_type; i++)
        if (!(m->nested[i] =
                  add_msg(s, m->full_name, proto3, file, d->nested_type[i], depth + 1, err)))
            return NULL;
    m->nnested = d->n_nested_type;
    for (size_t i = 0; i < d->n_enum_type; i++)
        if (!add_enum(s, m->full_name, d->enum_type[i], err))
            return NULL;
    return m;
nomem:
    lerr_set(err, LERR_NOMEM, "out of memory reading the descriptor");
    return NULL;
}

/* A type named from inside `scope` (a message's full name): a leading '.'
 * is absolute; otherwise the innermost enclosing scope that has it. */
static bool resolve(const struct format_pb_schema *s, const char *scope, const char *name,
                    const struct format_pb_msg **msg, const struct pb_enum **en)
{
    char buf[1024];
    *msg = NULL;
    *en = NULL;
    if (name[0] == '.') {
        name++;
        scope = "";
    }
    size_t sl = strlen(scope);
    for (;;) {
        int n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)sl, scope, sl ? "." : "", name);
        if (n < 0 || (size_t)n >= sizeof buf)
            return false;
        for (size_t i = 0; i < s->nmsgs; i++)
            if (strcmp(s->msgs[i]->full_name, buf) == 0) {
                *msg = s->msgs[i];
                return true;
            }
        for (size_t i = 0; i < s->nenums; i++)
            if (strcmp(s->enums[i]->full_name, buf) == 0) {
                *en = s->enums[i];
                return true;
            }
        if (!sl)
            return false;
        while (sl && scope[sl - 1] != '.')
            sl--;
        if (sl)
            sl--;
    }
}

static uint8_t wire_of(uint8_t type);

/* registry: the files came from a schema registry (the hint for a missing
 * type is a reference there, not protoc's --include_imports). */
static int resolve_all(struct format_pb_schema *s, bool registry, struct lerr *err)
{
    for (size_t i = 0; i < s->nmsgs; i++) {
        struct format_pb_msg *m = s->msgs[i];
        for (size_t k = 0; k < m->nfields; k++) {
            struct pb_field *f = &m->fields[k];
            bool wants = f->type == 0 || f->type == T_MESSAGE || f->type == T_GROUP ||
                         f->type == T_ENUM;
            if (!wants)
                continue;
            if (!f->type_name || !resolve(s, m->full_name, f->type_name, &f->msg, &f->en))
                return lerr_set(err, LERR_INVALID,
                                "field '%s' of message '%s' has type '%s', which is not in the "
                                "descriptor set; %s",
                                f->name, m->full_name, f->type_name ? f->type_name : "(none)",
                                registry ? "register the file that defines it and name it in "
                                           "the schema's references"
                                         : "write the set with protoc --include_imports so "
                                           "that it holds every imported file");
            if (f->type == 0)
                f->type = f->msg ? T_MESSAGE : T_ENUM;
            if ((f->type == T_ENUM) != (f->en != NULL))
                return lerr_set(err, LERR_INVALID,
                                "field '%s' of message '%s' is a %s but '%s' is %s", f->name,
                                m->full_name, type_names[f->type], f->type_name,
                                f->en ? "an enum" : "a message");
            if (f->type == T_MESSAGE && f->msg->map_entry && f->repeated) {
                const struct format_pb_msg *e = f->msg;
                if (e->nfields != 2 || e->fields[0].number != 1 || e->fields[1].number != 2)
                    return lerr_set(err, LERR_INVALID,
                                    "map field '%s' of message '%s': its entry type '%s' must "
                                    "have fields key = 1 and value = 2",
                                    f->name, m->full_name, e->full_name);
            }
        }
    }
    return 0;
}

static struct format_pb_schema *schema_new(const void *data, size_t len, bool registry,
                                           struct lerr *err)
{
    Format__Pbdesc__FileDescriptorSet *set =
        format__pbdesc__file_descriptor_set__unpack(NULL, len, data);
    if (!set) {
        lerr_set(err, LERR_INVALID,
                 "the descriptor (%zu bytes) is not a serialized FileDescriptorSet; write one "
                 "with protoc --include_imports --descriptor_set_out=FILE and base64 it",
                 len);
        return NULL;
    }
    struct format_pb_schema *s = calloc(1, sizeof *s);
    if (!s) {
        format__pbdesc__file_descriptor_set__free_unpacked(set, NULL);
        lerr_set(err, LERR_NOMEM, "out of memory reading the descriptor");
        return NULL;
    }
    arena_init(&s->mem, 16 * 1024, 0);
    if (set->n_file == 0) {
        lerr_set(err, LERR_INVALID,
                 "the descriptor set holds no files; give protoc the .proto file that defines "
                 "the message");
        goto fail;
    }
    for (size_t i = 0; i < set->n_file; i++) {
        const Format__Pbdesc__FileDescriptorProto *f = set->file[i];
        const char *pkg = f->package ? f->package : "";
        const char *fname = f->name ? f->name : "(unnamed)";
        bool proto3 = f->syntax && strcmp(f->syntax, "proto3") == 0;
        if (f->syntax && strcmp(f->syntax, "proto2") != 0 && !proto3) {
            lerr_set(err, LERR_INVALID,
                     "file '%s' has syntax \"%s\"; only proto2 and proto3 files are read", fname,
                     f->syntax);
            goto fail;
        }
        struct format_pb_msg **top = NULL;
        if (i + 1 == set->n_file &&
            !(top = arena_zalloc(&s->mem, (f->n_message_type + 1) * sizeof *top))) {
            lerr_set(err, LERR_NOMEM, "out of memory reading the descriptor");
            goto fail;
        }
        for (size_t k = 0; k < f->n_message_type; k++) {
            struct format_pb_msg *m = add_msg(s, pkg, proto3, fname, f->message_type[k], 0, err);
            if (!m)
                goto fail;
            if (top)
                top[k] = m;
        }
        for (size_t k = 0; k < f->n_enum_type; k++)
            if (!add_enum(s, pkg, f->enum_type[k], err))
                goto fail;
        if (top) {
            s->last_file = top;
            s->nlast_file = f->n_message_type;
        }
    }
    if (resolve_all(s, registry, err))
        goto fail;
    for (size_t i = 0; i < s->nmsgs; i++)
        for (size_t k = 0; k < s->msgs[i]->nfields; k++)
            s->msgs[i]->fields[k].wire = wire_of(s->msgs[i]->fields[k].type);
    format__pbdesc__file_descriptor_set__free_unpacked(set, NULL);
    return s;
fail:
    format__pbdesc__file_descriptor_set__free_unpacked(set, NULL);
    format_pb_schema_free(s);
    return NULL;
}

struct format_pb_schema *format_pb_schema_new(const void *data, size_t len, struct lerr *err)
{
    return schema_new(data, len, false, err);
}

void format_pb_schema_free(struct format_pb_schema *s)
{
    if (!s)
        return;
    free(s->msgs);
    free(s->enums);
    arena_destroy(&s->mem);
    free(s);
}

const struct format_pb_msg *format_pb_find(const struct format_pb_schema *s, const char *name,
                                           struct lerr *err)
{
    const char *n = name[0] == '.' ? name + 1 : name;
    for (size_t i = 0; i < s->nmsgs; i++)
        if (strcmp(s->msgs[i]->full_name, n) == 0)
            return s->msgs[i];
    /* A name without its package or outer message: suggest the full one. */
    size_t nl = strlen(n);
    for (size_t i = 0; i < s->nmsgs; i++) {
        const char *f = s->msgs[i]->full_name;
        size_t fl = strlen(f);
        if (fl > nl && f[fl - nl - 1] == '.' && strcmp(f + fl - nl, n) == 0) {
            lerr_set(err, LERR_INVALID,
                     "message type '%s' is not in the descriptor set; did you mean '%s'? (give "
                     "the full name with the package)",
                     name, f);
            return NULL;
        }
    }
    char known[300];
    size_t k = 0;
    known[0] = 0;
    for (size_t i = 0; i < s->nlast_file && k + 4 < sizeof known; i++) {
        int w = snprintf(known + k, sizeof known - k, "%s'%s'", i ? ", " : "",
                         s->last_file[i]->full_name);
        if (w < 0 || (size_t)w >= sizeof known - k) {
            snprintf(known + k, sizeof known - k, ", ...");
            break;
        }
        k += (size_t)w;
    }
    lerr_set(err, LERR_INVALID,
             "message type '%s' is not in the descriptor set; give the full name with the "
             "package (the set's last file has %s)",
             name, s->nlast_file ? known : "no message types");
    return NULL;
}

const char *format_pb_msg_name(const struct format_pb_msg *m) { return m->full_name; }

const struct format_pb_msg *format_pb_by_index(const struct format_pb_schema *s,
                                               const int32_t *idx, size_t n, struct lerr *err)
{
    struct format_pb_msg *const *level = s->last_file;
    size_t nlevel = s->nlast_file;
    const struct format_pb_msg *m = NULL;
    if (n == 0) {
        static const int32_t first = 0;
        idx = &first;
        n = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (idx[i] < 0 || (size_t)idx[i] >= nlevel) {
            lerr_set(err, LERR_INVALID,
                     "message index %d at position %zu of the message-index list is out of range: "
                     "%s has %zu message types",
                     idx[i], i, m ? m->full_name : "the schema's file", nlevel);
            return NULL;
        }
        m = level[idx[i]];
        level = m->nested;
        nlevel = m->nnested;
    }
    return m;
}

/* ---- a schema from separate files (a schema registry's) ------------------------- */

/* The well-known files a registered schema may import without a reference
 * (Confluent's registry knows them itself), written here as the
 * FileDescriptorProtos protoc would give: only what the decoder reads
 * (messages, fields, oneofs, map entries, enums). */
struct wkt_field {
    const char *name;
    int number, label, type;
    const char *type_name;
    int oneof; /* index in the message's oneofs, or -1 */
};
struct wkt_msg {
    const char *name;
    const struct wkt_field *fields;
    size_t nfields;
    const struct wkt_msg *nested;
    size_t nnested;
    bool map_entry;
    const char *oneof; /* the one oneof's name, or NULL */
};
struct wkt_file {
    const char *name;
    const struct wkt_msg *msgs;
    size_t nmsgs;
    const char *enum_name; /* one enum of one value 0, or NULL */
    const char *enum_value;
};

#define OPT 1
#define REP 3
#define NF(a) (sizeof(a) / sizeof *(a))
static const struct wkt_field f_timestamp[] = {{"seconds", 1, OPT, T_INT64, NULL, -1},
                                               {"nanos", 2, OPT, T_INT32, NULL, -1}};
static const struct wkt_msg m_timestamp[] = {{"Timestamp", f_timestamp, 2, NULL, 0, false, NULL}};
static const struct wkt_msg m_duration[] = {{"Duration", f_timestamp, 2, NULL, 0, false, NULL}};
static const struct wkt_msg m_empty[] = {{"Empty", NULL, 0, NULL, 0, false, NULL}};
static const struct wkt_field f_mask[] = {{"paths", 1, REP, T_STRING, NULL, -1}};
static const struct wkt_msg m_mask[] = {{"FieldMask", f_mask, 1, NULL, 0, false, NULL}};
static const struct wkt_field f_any[] = {{"type_url", 1, OPT, T_STRING, NULL, -1},
                                         {"value", 2, OPT, T_BYTES, NULL, -1}};
static const struct wkt_msg m_any[] = {{"Any", f_any, 2, NULL, 0, false, NULL}};
static const struct wkt_field f_double[] = {{"value", 1, OPT, T_DOUBLE, NULL, -1}};
static const struct wkt_field f_float[] = {{"value", 1, OPT, T_FLOAT, NULL, -1}};
static const struct wkt_field f_int64[] = {{"value", 1, OPT, T_INT64, NULL, -1}};
static const struct wkt_field f_uint64[] = {{"value", 1, OPT, T_UINT64, NULL, -1}};
static const struct wkt_field f_int32[] = {{"value", 1, OPT, T_INT32, NULL, -1}};
static const struct wkt_field f_uint32[] = {{"value", 1, OPT, T_UINT32, NULL, -1}};
static const struct wkt_field f_bool[] = {{"value", 1, OPT, T_BOOL, NULL, -1}};
static const struct wkt_field f_string[] = {{"value", 1, OPT, T_STRING, NULL, -1}};
static const struct wkt_field f_bytes[] = {{"value", 1, OPT, T_BYTES, NULL, -1}};
static const struct wkt_msg m_wrappers[] = {{"DoubleValue", f_double, 1, NULL, 0, false, NULL},
                                            {"FloatValue", f_float, 1, NULL, 0, false, NULL},
                                            {"Int64Value", f_int64, 1, NULL, 0, false, NULL},
                                            {"UInt64Value", f_uint64, 1, NULL, 0, false, NULL},
                                            {"Int32Value", f_int32, 1, NULL, 0, false, NULL},
                                            {"UInt32Value", f_uint32, 1, NULL, 0, false, NULL},
                                            {"BoolValue", f_bool, 1, NULL, 0, false, NULL},
                                            {"StringValue", f_string, 1, NULL, 0, false, NULL},
                                            {"BytesValue", f_bytes, 1, NULL, 0, false, NULL}};
static const struct wkt_field f_entry[] = {
    {"key", 1, OPT, T_STRING, NULL, -1},
    {"value", 2, OPT, T_MESSAGE, ".google.protobuf.Value", -1}};
static const struct wkt_msg m_entry[] = {{"FieldsEntry", f_entry, 2, NULL, 0, true, NULL}};
static const struct wkt_field f_struct[] = {
    {"fields", 1, REP, T_MESSAGE, ".google.protobuf.Struct.FieldsEntry", -1}};
static const struct wkt_field f_value[] = {
    {"null_value", 1, OPT, T_ENUM, ".google.protobuf.NullValue", 0},
    {"number_value", 2, OPT, T_DOUBLE, NULL, 0},
    {"string_value", 3, OPT, T_STRING, NULL, 0},
    {"bool_value", 4, OPT, T_BOOL, NULL, 0},
    {"struct_value", 5, OPT, T_MESSAGE, ".google.protobuf.Struct", 0},
    {"list_value", 6, OPT, T_MESSAGE, ".google.protobuf.ListValue", 0}};
static const struct wkt_field f_list[] = {
    {"values", 1, REP, T_MESSAGE, ".google.protobuf.Value", -1}};
static const struct wkt_msg m_struct[] = {{"Struct", f_struct, 1, m_entry, 1, false, NULL},
                                          {"Value", f_value, NF(f_value), NULL, 0, false, "kind"},
                                          {"ListValue", f_list, 1, NULL, 0, false, NULL}};
static const struct wkt_file wkt_files[] = {
    {"google/protobuf/timestamp.proto", m_timestamp, 1, NULL, NULL},
    {"google/protobuf/duration.proto", m_duration, 1, NULL, NULL},
    {"google/protobuf/empty.proto", m_empty, 1, NULL, NULL},
    {"google/protobuf/field_mask.proto", m_mask, 1, NULL, NULL},
    {"google/protobuf/any.proto", m_any, 1, NULL, NULL},
    {"google/protobuf/wrappers.proto", m_wrappers, NF(m_wrappers), NULL, NULL},
    {"google/protobuf/struct.proto", m_struct, NF(m_struct), "NullValue", "NULL_VALUE"}};

/* Protobuf's wire format, to write the descriptors above. */
static void w_varint(struct buf *b, uint64_t v)
{
    char t[10];
    size_t n = 0;
    do {
        t[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_append(b, t, n);
}
static void w_int(struct buf *b, int field, uint64_t v)
{
    w_varint(b, (uint64_t)field << 3 | W_VARINT);
    w_varint(b, v);
}
static void w_bytes(struct buf *b, int field, const void *p, size_t n)
{
    w_varint(b, (uint64_t)field << 3 | W_LEN);
    w_varint(b, n);
    buf_append(b, p, n);
}
static void w_str(struct buf *b, int field, const char *s) { w_bytes(b, field, s, strlen(s)); }

/* A DescriptorProto's bytes into out. */
static void w_msg(struct buf *out, const struct wkt_msg *m)
{
    struct buf f;
    buf_init(&f, 0);
    w_str(out, 1, m->name);
    for (size_t i = 0; i < m->nfields; i++) {
        const struct wkt_field *wf = &m->fields[i];
        buf_reset(&f);
        w_str(&f, 1, wf->name);
        w_int(&f, 3, (uint64_t)wf->number);
        w_int(&f, 4, (uint64_t)wf->label);
        w_int(&f, 5, (uint64_t)wf->type);
        if (wf->type_name)
            w_str(&f, 6, wf->type_name);
        if (wf->oneof >= 0)
            w_int(&f, 9, (uint64_t)wf->oneof);
        w_bytes(out, 2, f.data, f.len);
    }
    for (size_t i = 0; i < m->nnested; i++) {
        buf_reset(&f);
        w_msg(&f, &m->nested[i]);
        w_bytes(out, 3, f.data, f.len);
    }
    if (m->map_entry)
        w_bytes(out, 7, "\x38\x01", 2); /* MessageOptions.map_entry = true */
    if (m->oneof) {
        buf_reset(&f);
        w_str(&f, 1, m->oneof);
        w_bytes(out, 8, f.data, f.len);
    }
    if (f.failed)
        out->failed = true;
    buf_free(&f);
}

/* A well-known file as a FileDescriptorSet entry appended to set. */
static void w_wkt_file(struct buf *set, const struct wkt_file *wf)
{
    struct buf file, e;
    buf_init(&file, 0);
    buf_init(&e, 0);
    w_str(&file, 1, wf->name);
    w_str(&file, 2, "google.protobuf");
    for (size_t i = 0; i < wf->nmsgs; i++) {
        buf_reset(&e);
        w_msg(&e, &wf->msgs[i]);
        w_bytes(&file, 4, e.data, e.len);
    }
    buf_reset(&e);
    if (wf->enum_name) {
        struct buf v;
        buf_init(&v, 0);
        w_str(&v, 1, wf->enum_value);
        w_int(&v, 2, 0);
        w_str(&e, 1, wf->enum_name);
        w_bytes(&e, 2, v.data, v.len);
        w_bytes(&file, 5, e.data, e.len);
        buf_free(&v);
    }
    w_str(&file, 12, "proto3");
    w_bytes(set, 1, file.data, file.len);
    if (file.failed || e.failed)
        set->failed = true;
    buf_free(&file);
    buf_free(&e);
}

struct format_pb_schema *format_pb_schema_from_files(const struct format_pb_file *files, size_t n,
                                                     struct lerr *err)
{
    struct format_pb_schema *s = NULL;
    Format__Pbdesc__FileDescriptorProto **fd = calloc(n + 1, sizeof *fd);
    struct buf set;
    buf_init(&set, 0);
    if (!fd) {
        lerr_set(err, LERR_NOMEM, "out of memory reading the schema's files");
        goto out;
    }
    if (n == 0) {
        lerr_set(err, LERR_INVALID, "the schema has no file");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (!(fd[i] = format__pbdesc__file_descriptor_proto__unpack(NULL, files[i].len,
                                                                    files[i].data))) {
            lerr_set(err, LERR_INVALID, "%s (%zu bytes) is not a serialized FileDescriptorProto",
                     files[i].what ? files[i].what : "a file", files[i].len);
            goto out;
        }
    /* Imports that no given file answers: a well-known file, or a gap
     * named in the error should a type from it be missing. */
    bool wkt[NF(wkt_files)] = {0};
    char missing[300] = "";
    size_t nm = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < fd[i]->n_dependency; d++) {
            const char *dep = fd[i]->dependency[d] ? fd[i]->dependency[d] : "";
            bool given = false;
            for (size_t j = 0; j < n && !given; j++)
                given = fd[j]->name && strcmp(fd[j]->name, dep) == 0;
            for (size_t k = 0; k < NF(wkt_files) && !given; k++)
                if (strcmp(wkt_files[k].name, dep) == 0)
                    given = wkt[k] = true;
            if (!given && strlen(missing) + strlen(dep) + 8 < sizeof missing &&
                !strstr(missing, dep))
                nm += (size_t)snprintf(missing + nm, sizeof missing - nm, "%s'%s'", nm ? ", " : "",
                                       dep);
        }
    for (size_t k = 0; k < NF(wkt_files); k++)
        if (wkt[k])
            w_wkt_file(&set, &wkt_files[k]);
    for (size_t i = 0; i < n; i++)
        w_bytes(&set, 1, files[i].data, files[i].len);
    if (set.failed) {
        lerr_set(err, LERR_NOMEM, "out of memory assembling the schema's descriptor set");
        goto out;
    }
    struct lerr e;
    lerr_init(&e);
    if (!(s = schema_new(set.data, set.len, true, &e))) {
        if (missing[0])
            lerr_set(err, e.code, "%s (the schema imports %s, which no schema reference names)",
                     e.msg, missing);
        else
            lerr_set(err, e.code, "%s", e.msg);
    }
out:
    for (size_t i = 0; fd && i < n; i++)
        if (fd[i])
            format__pbdesc__file_descriptor_proto__free_unpacked(fd[i], NULL);
    free(fd);
    buf_free(&set);
    return s;
}

/* ---- the wire --------------------------------------------------------------- */

/* One occurrence of a known field in the message being read. */
struct occ {
    uint32_t next; /* the field's next occurrence, or UINT32_MAX */
    uint8_t wt;
    uint64_t v;       /* varint and fixed values */
    const uint8_t *p; /* W_LEN and group contents */
    size_t len;
};

struct dec {
    const uint8_t *base; /* the record, for positions */
    struct buf *out;
    struct lerr *err;
    struct occ *occ;
    size_t nocc, occ_cap;
    uint32_t *links; /* per field of each level: head and tail */
    size_t nlinks, links_cap;
    int depth;
};

static int fail_at(struct dec *d, const uint8_t *at, const char *fmt, ...) LS_PRINTF(3, 4);
static int fail_at(struct dec *d, const uint8_t *at, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t pos = (size_t)(at - d->base);
    lerr_set(d->err, LERR_INVALID, "invalid protobuf at byte %zu: %s", pos, msg);
    d->err->pos = (int64_t)pos;
    return -1;
}

static int read_varint_slow(struct dec *d, const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end)
            return fail_at(d, *pp, "truncated varint (the record ends inside it)");
        uint8_t b = *p++;
        if (i == 9 && b > 1)
            return fail_at(d, *pp, "varint longer than 64 bits");
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return fail_at(d, *pp, "varint longer than 10 bytes");
}

/* Most varints (tags, lengths, small numbers) are one byte. */
static inline int read_varint(struct dec *d, const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    if (*pp < end && **pp < 0x80) {
        *out = *(*pp)++;
        return 0;
    }
    return read_varint_slow(d, pp, end, out);
}

static uint64_t load_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Skips a group's contents to its end tag (number `num`), depth-limited. */
static int skip_group(struct dec *d, const uint8_t **pp, const uint8_t *end, uint32_t num,
                      int depth, const uint8_t **content_end);

/* Reads one field's value after its tag; fills what an occurrence needs. */
static int read_value(struct dec *d, const uint8_t **pp, const uint8_t *end, uint8_t wt,
                      uint32_t num, int depth, struct occ *o)
{
    const uint8_t *p = *pp;
    switch (wt) {
    case W_VARINT:
        if (read_varint(d, &p, end, &o->v))
            return -1;
        break;
    case W_I64:
    case W_I32: {
        int n = wt == W_I64 ? 8 : 4;
        if ((size_t)(end - p) < (size_t)n)
            return fail_at(d, p, "truncated %d-byte value of field %u", n, num);
        o->v = load_le(p, n);
        p += n;
        break;
    }
    case W_LEN: {
        uint64_t n;
        const uint8_t *at = p;
        if (read_varint(d, &p, end, &n))
            return -1;
        if (n > (uint64_t)(end - p))
            return fail_at(d, at,
                           "field %u has length %llu but only %zu bytes are left in its message",
                           num, (unsigned long long)n, (size_t)(end - p));
        o->p = p;
        o->len = (size_t)n;
        p += n;
        break;
    }
    case W_SGROUP: {
        const uint8_t *ce = NULL;
        o->p = p;
        if (skip_group(d, &p, end, num, depth, &ce))
            return -1;
        o->len = (size_t)(ce - o->p);
        break;
    }
    case W_EGROUP: return fail_at(d, p, "group end for field %u without its start", num);
    default: return fail_at(d, p, "wire type %u of field %u does not exist", wt, num);
    }
    *pp = p;
    return 0;
}

static int skip_group(struct dec *d, const uint8_t **pp, const uint8_t *end, uint32_t num,
                      int depth, const uint8_t **content_end)
{
    if (depth >= FORMAT_PB_MAX_DEPTH)
        return fail_at(d, *pp, "groups nest deeper than %d levels", FORMAT_PB_MAX_DEPTH);
    const uint8_t *p = *pp;
    for (;;) {
        const uint8_t *at = p;
        uint64_t tag;
        if (p >= end)
            return fail_at(d, p, "group of field %u has no end", num);
        if (read_varint(d, &p, end, &tag))
            return -1;
        uint32_t fn = (uint32_t)(tag >> 3);
        uint8_t wt = tag & 7;
        if (tag >> 3 > 536870911 || fn == 0)
            return fail_at(d, at, "field number %llu is out of range",
                           (unsigned long long)(tag >> 3));
        if (wt == W_EGROUP) {
            if (fn != num)
                return fail_at(d, at, "group of field %u ends with the end tag of field %u", num,
                               fn);
            *content_end = at;
            *pp = p;
            return 0;
        }
        struct occ o;
        if (read_value(d, &p, end, wt, fn, depth + 1, &o))
            return -1;
    }
}

static const struct pb_field *field_of(const struct format_pb_msg *m, uint32_t num, uint32_t *idx)
{
    if (num < 32) {
        *idx = m->small[num] - 1;
        return m->small[num] ? &m->fields[*idx] : NULL;
    }
    size_t lo = 0, hi = m->nfields;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t k = m->by_number[mid];
        if (m->fields[k].number == num) {
            *idx = k;
            return &m->fields[k];
        }
        if (m->fields[k].number < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static uint8_t wire_of(uint8_t type)
{
    switch (type) {
    case T_DOUBLE:
    case T_FIXED64:
    case T_SFIXED64: return W_I64;
    case T_FLOAT:
    case T_FIXED32:
    case T_SFIXED32: return W_I32;
    case T_STRING:
    case T_BYTES:
    case T_MESSAGE: return W_LEN;
    case T_GROUP: return W_SGROUP;
    default: return W_VARINT;
    }
}

/* ---- JSON output ---------------------------------------------------------------- */

static int out_fail(struct dec *d)
{
    lerr_set(d->err, LERR_INVALID,
             "the message decodes to more than %zu bytes of JSON; split it into smaller records",
             d->out->cap);
    d->err->pos = 0;
    return -1;
}

static int put_slow(struct dec *d, const char *s, size_t n)
{
    if (!d->out)
        return 0; /* only checking the bytes (a field the row does not keep) */
    return buf_append(d->out, s, n) ? 0 : out_fail(d);
}

/* Most appends fit the buffer's allocation: a copy, no call. (Without an
 * output, alloc reads as 0 through `none` and put_slow() drops the text.) */
static inline int put(struct dec *d, const char *s, size_t n)
{
    static struct buf none;
    struct buf *b = d->out ? d->out : &none;
    if (b->len + n + 1 > b->alloc)
        return put_slow(d, s, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int put_u64(struct dec *d, uint64_t v)
{
    if (!d->out)
        return 0;
    char t[24];
    size_t k = sizeof t;
    do {
        t[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put(d, t + k, sizeof t - k);
}

static int put_i64(struct dec *d, int64_t v)
{
    if (!d->out)
        return 0;
    if (v >= 0)
        return put_u64(d, (uint64_t)v);
    char t[24];
    size_t k = sizeof t;
    uint64_t u = 0 - (uint64_t)v;
    do {
        t[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    t[--k] = '-';
    return put(d, t + k, sizeof t - k);
}

static int put_double(struct dec *d, double v, bool is_float)
{
    if (!d->out)
        return 0;
    if (isnan(v))
        return put(d, "\"NaN\"", 5);
    if (isinf(v))
        return v > 0 ? put(d, "\"Infinity\"", 10) : put(d, "\"-Infinity\"", 11);
    /* Whole numbers, and values that 15 (float: 6) significant digits give
     * back exactly, are written at once; the rest get the shortest digits. */
    /* (the range test first: casting a double outside int64 is undefined) */
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v)))
        return put_i64(d, (int64_t)v);
    char fast[40];
    int fn = snprintf(fast, sizeof fast, is_float ? "%.6g" : "%.15g", v);
    if (fn > 0 && (size_t)fn < sizeof fast && !memchr(fast, 'e', (size_t)fn) &&
        (is_float ? (float)strtod(fast, NULL) == (float)v : strtod(fast, NULL) == v))
        return put(d, fast, (size_t)fn);
    char digits[24], t[48];
    int e10;
    bool neg;
    int nd = util_shortest_digits(v, is_float, digits, &e10, &neg);
    size_t k = 0;
    if (neg)
        t[k++] = '-';
    if (e10 >= 0 && e10 < 21) {
        /* digits, then zeros up to the point, then the rest after it */
        for (int i = 0; i <= e10; i++)
            t[k++] = i < nd ? digits[i] : '0';
        if (nd > e10 + 1) {
            t[k++] = '.';
            for (int i = e10 + 1; i < nd; i++)
                t[k++] = digits[i];
        }
    } else if (e10 < 0 && e10 >= -6) {
        t[k++] = '0';
        t[k++] = '.';
        for (int i = -1; i > e10; i--)
            t[k++] = '0';
        for (int i = 0; i < nd; i++)
            t[k++] = digits[i];
    } else {
        t[k++] = digits[0];
        if (nd > 1) {
            t[k++] = '.';
            for (int i = 1; i < nd; i++)
                t[k++] = digits[i];
        }
        k += (size_t)snprintf(t + k, sizeof t - k, "e%d", e10);
    }
    return put(d, t, k);
}

static int put_str(struct dec *d, const void *s, size_t n)
{
    if (!d->out)
        return 0;
    return format_json_write_string(d->out, s, n) ? 0 : out_fail(d);
}

static int put_base64(struct dec *d, const uint8_t *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!d->out)
        return 0;
    if (put(d, "\"", 1))
        return -1;
    char t[256];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        t[k++] = tab[v >> 18 & 63];
        t[k++] = tab[v >> 12 & 63];
        t[k++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        t[k++] = i + 2 < n ? tab[v & 63] : '=';
        if (k + 4 > sizeof t) {
            if (put(d, t, k))
                return -1;
            k = 0;
        }
    }
    if (put(d, t, k))
        return -1;
    return put(d, "\"", 1);
}

static int put_enum(struct dec *d, const struct pb_enum *en, int32_t v)
{
    if (!d->out)
        return 0;
    for (size_t i = 0; i < en->nvalues; i++)
        if (en->values[i].number == v)
            return put_str(d, en->values[i].name, strlen(en->values[i].name));
    return put_i64(d, v);
}

/* A scalar from its wire value (varint or fixed). */
static int put_scalar(struct dec *d, const struct pb_field *f, uint64_t v)
{
    switch (f->type) {
    case T_INT32: return put_i64(d, (int32_t)(uint32_t)v);
    case T_SFIXED32: return put_i64(d, (int32_t)(uint32_t)v);
    case T_INT64:
    case T_SFIXED64: return put_i64(d, (int64_t)v);
    case T_UINT32:
    case T_FIXED32: return put_u64(d, (uint32_t)v);
    case T_UINT64:
    case T_FIXED64: return put_u64(d, v);
    case T_SINT32: {
        uint32_t u = (uint32_t)v;
        return put_i64(d, (int32_t)((u >> 1) ^ (0u - (u & 1))));
    }
    case T_SINT64: return put_i64(d, (int64_t)((v >> 1) ^ (0 - (v & 1))));
    case T_BOOL: return v ? put(d, "true", 4) : put(d, "false", 5);
    case T_ENUM: return put_enum(d, f->en, (int32_t)(uint32_t)v);
    case T_FLOAT: {
        uint32_t u = (uint32_t)v;
        float x;
        memcpy(&x, &u, sizeof x);
        return put_double(d, x, true);
    }
    case T_DOUBLE: {
        double x;
        memcpy(&x, &v, sizeof x);
        return put_double(d, x, false);
    }
    default: return put(d, "null", 4);
    }
}

/* The default of a field without presence. */
static int put_default(struct dec *d, const struct pb_field *f)
{
    switch (f->type) {
    case T_STRING:
    case T_BYTES: return put(d, "\"\"", 2);
    case T_BOOL: return put(d, "false", 5);
    case T_ENUM: return put_str(d, f->en->zero_name, strlen(f->en->zero_name));
    case T_MESSAGE:
    case T_GROUP: return put(d, "null", 4);
    default: return put(d, "0", 1);
    }
}

static int message(struct dec *d, const struct format_pb_msg *m, const struct occ *parts,
                   uint32_t first, uint8_t wt);

/* One value of a field: a scalar occurrence, or one element of a packed run. */
static int put_value(struct dec *d, const struct pb_field *f, const struct occ *o)
{
    switch (f->type) {
    case T_STRING: return put_str(d, o->p, o->len);
    case T_BYTES: return put_base64(d, o->p, o->len);
    case T_MESSAGE:
    case T_GROUP: {
        /* One occurrence, decoded alone. */
        struct occ one = *o;
        one.next = UINT32_MAX;
        return message(d, f->msg, &one, 0, o->wt);
    }
    default: return put_scalar(d, f, o->v);
    }
}

/* Elements of a packed run of field f. */
static int put_packed(struct dec *d, const struct pb_field *f, const struct occ *o, bool *first)
{
    const uint8_t *p = o->p, *end = o->p + o->len;
    uint8_t wt = f->wire;
    while (p < end) {
        uint64_t v;
        if (wt == W_VARINT) {
            if (read_varint(d, &p, end, &v))
                return -1;
        } else {
            int n = wt == W_I64 ? 8 : 4;
            if ((size_t)(end - p) < (size_t)n)
                return fail_at(d, p, "packed field '%s' ends inside a %d-byte value", f->name, n);
            v = load_le(p, n);
            p += n;
        }
        if ((!*first && put(d, ",", 1)) || put_scalar(d, f, v))
            return -1;
        *first = false;
    }
    return 0;
}

/* A map entry's key as object key text. */
static int put_map_key(struct dec *d, const struct pb_field *kf, const struct occ *o)
{
    if (!o)
        return kf->type == T_STRING ? put(d, "\"\"", 2)
               : kf->type == T_BOOL ? put(d, "\"false\"", 7)
                                    : put(d, "\"0\"", 3);
    if (kf->type == T_STRING)
        return put_str(d, o->p, o->len);
    if (put(d, "\"", 1) || put_scalar(d, kf, o->v))
        return -1;
    return put(d, "\"", 1);
}

/* Collects the occurrences of m's known fields in the occurrences `parts`
 * (a chain through .next, each a serialized message or group contents), then
 * writes the object. The level's links live at links[lbase..lbase+2n). */
static int collect(struct dec *d, const struct format_pb_msg *m, const struct occ *parts,
                   uint32_t first, size_t lbase)
{
    for (uint32_t pi = first; pi != UINT32_MAX; pi = parts[pi].next) {
        const uint8_t *p = parts[pi].p, *end = parts[pi].p + parts[pi].len;
        while (p < end) {
            const uint8_t *at = p;
            uint64_t tag;
            if (read_varint(d, &p, end, &tag))
                return -1;
            uint8_t wt = tag & 7;
            if (tag >> 3 > 536870911 || (tag >> 3) == 0)
                return fail_at(d, at, "field number %llu is out of range (1 to 536870911)",
                               (unsigned long long)(tag >> 3));
            uint32_t num = (uint32_t)(tag >> 3);
            if (wt == W_EGROUP)
                return fail_at(d, at, "group end tag of field %u without its start", num);
            if (wt > W_I32)
                return fail_at(d, at, "wire type %u of field %u does not exist", wt, num);
            uint32_t fi = 0; /* set by field_of when it finds the field */
            const struct pb_field *f = field_of(m, num, &fi);
            struct occ o = {UINT32_MAX, wt, 0, NULL, 0};
            if (f) {
                uint8_t want = f->wire;
                bool packed = f->repeated && wt == W_LEN && want != W_LEN && want != W_SGROUP;
                if (wt != want && !packed)
                    return fail_at(d, at,
                                   "field '%s' (number %u) of %s has wire type %s, but a %s "
                                   "field is written with wire type %s; was the record "
                                   "written with another schema?",
                                   f->name, num, m->full_name, wire_names[wt], type_names[f->type],
                                   wire_names[want]);
            }
            /* one-byte varints and lengths inline; the rest (and every
             * error) through read_value() */
            if (wt == W_VARINT && p < end && *p < 0x80) {
                o.v = *p++;
            } else if (wt == W_LEN && p < end && *p < 0x80 && *p < end - p) {
                o.p = p + 1;
                o.len = *p;
                p += 1 + o.len;
            } else if (read_value(d, &p, end, wt, num, d->depth, &o)) {
                return -1;
            }
            if (!f)
                continue; /* unknown field: checked and skipped */
            if (d->nocc == d->occ_cap) {
                size_t c = d->occ_cap ? d->occ_cap * 2 : 64;
                struct occ *a = realloc(d->occ, c * sizeof *a);
                if (!a)
                    return lerr_set(d->err, LERR_NOMEM, "out of memory decoding protobuf"), -1;
                d->occ = a; /* `parts` never lies in d->occ: callers pass copies */
                d->occ_cap = c;
            }
            uint32_t oi = (uint32_t)d->nocc;
            d->occ[d->nocc++] = o;
            uint32_t *head = &d->links[lbase + 2 * fi], *tail = head + 1;
            if (*head == UINT32_MAX)
                *head = oi;
            else
                d->occ[*tail].next = oi;
            *tail = oi;
            /* A oneof keeps the member set last: the others read as absent. */
            if (f->oneof >= 0) {
                for (size_t k = 0; k < m->nfields; k++)
                    if (k != fi && m->fields[k].oneof == f->oneof)
                        d->links[lbase + 2 * k] = UINT32_MAX;
            }
        }
    }
    return 0;
}

static int write_field(struct dec *d, const struct pb_field *f, uint32_t head);

/* Writes the JSON of message m read from the chain `parts` from `first`
 * (copied by the caller out of d->occ, which may move). */
/* v as exactly w decimal digits (zero-padded) at t[*n]. */
static void digits(char *t, size_t *n, uint32_t v, int w)
{
    for (int i = w - 1; i >= 0; i--) {
        t[*n + (size_t)i] = (char)('0' + v % 10);
        v /= 10;
    }
    *n += (size_t)w;
}

/* Opens a level for message m: its links (head and tail per field) at
 * *lbase, filled by collecting the chain `parts` from `first`. On error the
 * level stays open: close_level() it all the same. */
static int open_level(struct dec *d, const struct format_pb_msg *m, const struct occ *parts,
                      uint32_t first, size_t *lbase_out, size_t *occ_mark)
{
    *lbase_out = d->nlinks;
    *occ_mark = d->nocc;
    if (++d->depth > FORMAT_PB_MAX_DEPTH)
        return fail_at(d, parts[first].p, "messages nest deeper than %d levels",
                       FORMAT_PB_MAX_DEPTH);
    size_t lbase = d->nlinks, need = d->nlinks + 2 * m->nfields;
    if (need > d->links_cap) {
        size_t c = d->links_cap ? d->links_cap : 64;
        while (c < need)
            c *= 2;
        uint32_t *a = realloc(d->links, c * sizeof *a);
        if (!a)
            return lerr_set(d->err, LERR_NOMEM, "out of memory decoding protobuf"), -1;
        d->links = a;
        d->links_cap = c;
    }
    for (size_t i = lbase; i < need; i++)
        d->links[i] = UINT32_MAX;
    d->nlinks = need;
    return collect(d, m, parts, first, lbase);
}

static void close_level(struct dec *d, size_t lbase, size_t occ_mark)
{
    d->nocc = occ_mark;
    d->nlinks = lbase;
    d->depth--;
}

/* A field absent from its message, as the JSON mapping prints it (fields
 * with presence are left out instead). */
static int put_absent(struct dec *d, const struct pb_field *f)
{
    if (!f->repeated)
        return put_default(d, f);
    return f->type == T_MESSAGE && f->msg->map_entry ? put(d, "{}", 2) : put(d, "[]", 2);
}

/* The JSON text of a google.protobuf.Timestamp whose level is open (links
 * at lbase): "YYYY-MM-DDTHH:MM:SS[.f]Z" with its quotes, into t; `at` for
 * the error when it is out of the mapping's range. */
#define TIMESTAMP_TEXT 48
static int timestamp_text(struct dec *d, const struct format_pb_msg *m, size_t lbase,
                          const uint8_t *at, char t[TIMESTAMP_TEXT], size_t *len)
{
    /* seconds = 1, nanos = 2 (last occurrence of each) */
    int64_t secs = 0, nanos = 0;
    for (size_t k = 0; k < m->nfields; k++) {
        uint32_t h = d->links[lbase + 2 * k + 1];
        if (d->links[lbase + 2 * k] == UINT32_MAX)
            continue;
        if (m->fields[k].number == 1)
            secs = (int64_t)d->occ[h].v;
        else if (m->fields[k].number == 2)
            nanos = (int32_t)(uint32_t)d->occ[h].v;
    }
    /* RFC 3339 covers years 1 to 9999 (the mapping's range). */
    if (secs < -62135596800LL || secs > 253402300799LL || nanos < 0 || nanos > 999999999)
        return fail_at(d, at,
                       "google.protobuf.Timestamp %lld s %lld ns is out of its range "
                       "(0001-01-01 to 9999-12-31, nanos 0 to 999999999)",
                       (long long)secs, (long long)nanos);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400, y;
    int mo, dd;
    civil_ymd_from_days(days, &y, &mo, &dd);
    /* "YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z", digit by digit (hot: one per event) */
    size_t n = 0;
    t[n++] = '"';
    digits(t, &n, (uint32_t)y, 4);
    t[n++] = '-';
    digits(t, &n, (uint32_t)mo, 2);
    t[n++] = '-';
    digits(t, &n, (uint32_t)dd, 2);
    t[n++] = 'T';
    digits(t, &n, (uint32_t)(sod / 3600), 2);
    t[n++] = ':';
    digits(t, &n, (uint32_t)(sod / 60 % 60), 2);
    t[n++] = ':';
    digits(t, &n, (uint32_t)(sod % 60), 2);
    if (nanos) {
        t[n++] = '.';
        if (nanos % 1000000 == 0)
            digits(t, &n, (uint32_t)(nanos / 1000000), 3);
        else if (nanos % 1000 == 0)
            digits(t, &n, (uint32_t)(nanos / 1000), 6);
        else
            digits(t, &n, (uint32_t)nanos, 9);
    }
    t[n++] = 'Z';
    t[n++] = '"';
    *len = n;
    return 0;
}

static int message(struct dec *d, const struct format_pb_msg *m, const struct occ *parts,
                   uint32_t first, uint8_t wt)
{
    (void)wt;
    size_t lbase, occ_mark;
    int rc = open_level(d, m, parts, first, &lbase, &occ_mark);
    if (rc) {
        close_level(d, lbase, occ_mark);
        return rc;
    }
    if (m->wkt == WKT_TIMESTAMP) {
        char t[TIMESTAMP_TEXT];
        size_t n;
        rc = timestamp_text(d, m, lbase, parts[first].p, t, &n);
        if (!rc)
            rc = put(d, t, n);
    } else if (m->wkt == WKT_WRAPPER) {
        uint32_t h = d->links[lbase];
        rc = h == UINT32_MAX ? put_default(d, &m->fields[0]) : write_field(d, &m->fields[0], h);
    } else {
        rc = put(d, "{", 1);
        bool any = false;
        for (size_t k = 0; k < m->nfields && !rc; k++) {
            const struct pb_field *f = &m->fields[k];
            uint32_t h = d->links[lbase + 2 * k];
            if (h == UINT32_MAX && f->presence)
                continue;
            if ((any && put(d, ",", 1)) || put_str(d, f->name, strlen(f->name)) || put(d, ":", 1))
                return -1;
            any = true;
            rc = h == UINT32_MAX ? put_absent(d, f) : write_field(d, f, h);
        }
        if (!rc)
            rc = put(d, "}", 1);
    }
    close_level(d, lbase, occ_mark);
    return rc;
}

/* A message field's occurrences from `head` on, copied out of d->occ (which
 * the nested level may grow and move) into a chain of their own. */
static int nested(struct dec *d, const struct format_pb_msg *m, uint32_t head, bool all)
{
    size_t n = 0;
    for (uint32_t i = head; i != UINT32_MAX; i = d->occ[i].next) {
        n++;
        if (!all)
            break;
    }
    struct occ small[4] = {{0}}, *parts = n <= 4 ? small : malloc(n * sizeof *parts);
    if (!parts)
        return lerr_set(d->err, LERR_NOMEM, "out of memory decoding protobuf"), -1;
    size_t k = 0;
    for (uint32_t i = head; k < n; i = d->occ[i].next, k++) {
        parts[k] = d->occ[i];
        parts[k].next = k + 1 < n ? (uint32_t)(k + 1) : UINT32_MAX;
    }
    int rc = message(d, m, parts, 0, parts[0].wt);
    if (parts != small)
        free(parts);
    return rc;
}

/* Opens a level for message field occurrences from `head` on, all merged
 * (as nested() reads them); close_level() it whether or not it fails. */
static int open_nested(struct dec *d, const struct format_pb_msg *m, uint32_t head, size_t *lbase,
                       size_t *occ_mark)
{
    size_t n = 0;
    for (uint32_t i = head; i != UINT32_MAX; i = d->occ[i].next)
        n++;
    struct occ small[4] = {{0}}, *parts = n <= 4 ? small : malloc(n * sizeof *parts);
    if (!parts) {
        *lbase = d->nlinks;
        *occ_mark = d->nocc;
        d->depth++;
        return lerr_set(d->err, LERR_NOMEM, "out of memory decoding protobuf"), -1;
    }
    size_t k = 0;
    for (uint32_t i = head; k < n; i = d->occ[i].next, k++) {
        parts[k] = d->occ[i];
        parts[k].next = k + 1 < n ? (uint32_t)(k + 1) : UINT32_MAX;
    }
    int rc = open_level(d, m, parts, 0, lbase, occ_mark);
    if (parts != small)
        free(parts);
    return rc;
}

static int write_field(struct dec *d, const struct pb_field *f, uint32_t head)
{
    bool is_msg = f->type == T_MESSAGE || f->type == T_GROUP;
    if (!f->repeated) {
        if (is_msg)
            return nested(d, f->msg, head, true); /* all occurrences merge */
        uint32_t last = head;
        while (d->occ[last].next != UINT32_MAX)
            last = d->occ[last].next;
        return put_value(d, f, &d->occ[last]);
    }
    if (++d->depth > FORMAT_PB_MAX_DEPTH)
        return fail_at(d, d->occ[head].p ? d->occ[head].p : d->base,
                       "messages nest deeper than %d levels", FORMAT_PB_MAX_DEPTH);
    int rc;
    if (is_msg && f->msg->map_entry) {
        /* {key: value}; an entry's own fields are read with a nested level. */
        rc = put(d, "{", 1);
        bool first = true;
        for (uint32_t i = head; i != UINT32_MAX && !rc; i = d->occ[i].next) {
            struct occ entry = d->occ[i];
            entry.next = UINT32_MAX;
            const struct format_pb_msg *em = f->msg;
            /* Read key and value by collecting the entry at a new level. */
            size_t lbase = d->nlinks, need = lbase + 2 * em->nfields;
            if (need > d->links_cap) {
                size_t c = d->links_cap ? d->links_cap : 64;
                while (c < need)
                    c *= 2;
                uint32_t *a = realloc(d->links, c * sizeof *a);
                if (!a)
                    return lerr_set(d->err, LERR_NOMEM, "out of memory decoding protobuf"), -1;
                d->links = a;
                d->links_cap = c;
            }
            for (size_t j = lbase; j < need; j++)
                d->links[j] = UINT32_MAX;
            d->nlinks = need;
            size_t occ_mark = d->nocc;
            rc = collect(d, em, &entry, 0, lbase);
            uint32_t kt = rc ? UINT32_MAX : d->links[lbase + 1];
            uint32_t vh = rc ? UINT32_MAX : d->links[lbase + 2];
            if (!rc && !first)
                rc = put(d, ",", 1);
            if (!rc)
                rc = put_map_key(d, &em->fields[0], kt == UINT32_MAX ? NULL : &d->occ[kt]);
            if (!rc)
                rc = put(d, ":", 1);
            if (!rc)
                rc = vh == UINT32_MAX
                         ? (em->fields[1].type == T_MESSAGE ? put(d, "{}", 2)
                                                            : put_default(d, &em->fields[1]))
                         : write_field(d, &em->fields[1], vh);
            first = false;
            d->nocc = occ_mark;
            d->nlinks = lbase;
        }
        if (!rc)
            rc = put(d, "}", 1);
    } else {
        rc = put(d, "[", 1);
        bool first = true;
        for (uint32_t i = head; i != UINT32_MAX && !rc; i = d->occ[i].next) {
            struct occ o = d->occ[i];
            if (o.wt == W_LEN && !is_msg && f->type != T_STRING && f->type != T_BYTES) {
                rc = put_packed(d, f, &o, &first);
                continue;
            }
            if (!first)
                rc = put(d, ",", 1);
            if (!rc)
                rc = is_msg ? nested(d, f->msg, i, false) : put_value(d, f, &o);
            first = false;
        }
        if (!rc)
            rc = put(d, "]", 1);
    }
    d->depth--;
    return rc;
}

static void rowplan_free(void *rp);

void format_pb_work_free(struct format_pb_work *w)
{
    rowplan_free(w->rowplan);
    free(w->occ);
    free(w->links);
    free(w->later);
    memset(w, 0, sizeof *w);
}

int format_pb_to_json(const struct format_pb_msg *m, const void *data, size_t len, struct buf *out,
                      struct format_pb_work *work, struct lerr *err)
{
    struct format_pb_work own = {0}, *w = work ? work : &own;
    struct dec d = {.base = data ? data : (const uint8_t *)"",
                    .out = out,
                    .err = err,
                    .occ = w->occ,
                    .occ_cap = w->occ_cap,
                    .links = w->links,
                    .links_cap = w->links_cap};
    struct occ whole = {UINT32_MAX, W_LEN, 0, d.base, data ? len : 0};
    int rc = message(&d, m, &whole, 0, W_LEN);
    w->occ = d.occ;
    w->occ_cap = d.occ_cap;
    w->links = d.links;
    w->links_cap = d.links_cap;
    if (!work)
        format_pb_work_free(&own);
    return rc;
}

/* ---- straight into a row ------------------------------------------------------------ */

/* d->out's text (one value's JSON) kept in the batch arena. */
static const char *keep_out(struct format__ctx *c, const struct buf *b)
{
    char *k = arena_alloc(c->mem, b->len + 1);
    if (!k) {
        c->nomem = true;
        return NULL;
    }
    memcpy(k, b->len ? b->data : "", b->len);
    k[b->len] = '\0';
    return k;
}

/* Field f of the open level (occurrences from `head`, or UINT32_MAX: absent)
 * as its JSON text, kept in the arena. 0, -1 (err), -2 (memory). */
static int field_text(struct format__ctx *c, struct dec *d, const struct pb_field *f,
                      uint32_t head, const char **text, size_t *len)
{
    struct buf *b = &c->p->run.tmp;
    buf_reset(b);
    d->out = b;
    int rc = head == UINT32_MAX ? put_absent(d, f) : write_field(d, f, head);
    d->out = NULL;
    if (rc)
        return -1;
    if (!(*text = keep_out(c, b)))
        return -2;
    *len = b->len;
    if (!format__ensure_scratch(c->p, b->len + 1)) {
        c->nomem = true;
        return -2;
    }
    return 0;
}

/* The generic route: the field's JSON text read as the nd-json scanner reads
 * a member's value, so that the value is the one the JSON mapping gives by
 * construction (wrappers, bytes, fractional numbers, strings with invalid
 * UTF-8); an array or object (repeated fields, maps, messages) is its text,
 * which we wrote, and is scanned only where a field reads its members. */
static int text_value(struct format__ctx *c, struct dec *d, const struct pb_field *f,
                      uint32_t head, struct format_json_value *v)
{
    const char *text;
    size_t len;
    int rc = field_text(c, d, f, head, &text, &len);
    if (rc)
        return rc;
    bool is_msg = f->type == T_MESSAGE || f->type == T_GROUP;
    if (f->repeated || (is_msg && f->msg->wkt == WKT_NONE)) {
        v->kind = f->repeated && !(is_msg && f->msg->map_entry) ? FORMAT_JSON_KIND_ARRAY
                                                                : FORMAT_JSON_KIND_OBJECT;
        v->raw = text;
        v->raw_len = len;
        return 0;
    }
    struct lerr e;
    lerr_init(&e);
    if (format_json_parse_value(text, len, v, c->p->run.scratch, c->p->run.scratch_cap, &e)) {
        lerr_set(c->err, LERR_INTERNAL,
                 "protobuf field '%s' decoded to JSON that did not read: %s", f->name, e.msg);
        return -1;
    }
    return 0;
}

/* A whole number as the nd-json scanner reads its text; the text itself
 * (v->raw) only when the field it goes to may read it (not `numeric`: a
 * declared long, float or double field reads i or d). -2 on memory. */
static int int_value(struct format__ctx *c, int64_t x, bool numeric, struct format_json_value *v)
{
    v->kind = FORMAT_JSON_KIND_NUMBER;
    v->num_flags = FORMAT_JSON_NUM_INT;
    v->i = x;
    v->d = (double)x;
    if (numeric)
        return 0;
    char t[24];
    size_t k = sizeof t;
    uint64_t u = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
    do {
        t[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0)
        t[--k] = '-';
    size_t n = sizeof t - k;
    char *raw = arena_alloc(c->mem, n);
    if (!raw) {
        c->nomem = true;
        return -2;
    }
    memcpy(raw, t + k, n);
    v->raw = raw;
    v->raw_len = n;
    return 0;
}

/* A double or float that put_double() writes as a whole number. */
static bool whole(double x)
{
    return x > -1e15 && x < 1e15 && x == (double)(int64_t)x && !(x == 0 && signbit(x));
}

/*
 * The value of top-level field f (occurrences from `head`, or absent) as
 * the nd-json scanner would read it from the JSON mapping's text: scalars
 * directly (strings pointing into the record), a Timestamp from its text,
 * the rest through text_value(). `target`: the SQL type of the declared
 * field it goes to, else SQL_NULL (discovery: everything is read).
 * 0, -1 (err), -2 (memory).
 */
static int field_value(struct format__ctx *c, struct dec *d, const struct pb_field *f,
                       uint32_t head, uint8_t target, struct format_json_value *v)
{
    memset(v, 0, sizeof *v);
    bool numeric = target == SQL_LONG || target == SQL_DOUBLE || target == SQL_FLOAT;
    if (!f->repeated && f->type == T_MESSAGE && f->msg->wkt == WKT_TIMESTAMP &&
        head != UINT32_MAX) {
        /* "YYYY-MM-DDTHH:MM:SS[.f]Z": a JSON string without escapes,
         * formatted from the decoded level (not through a JSON buffer) */
        char t[TIMESTAMP_TEXT];
        size_t len, lb, mark;
        int rc = open_nested(d, f->msg, head, &lb, &mark);
        if (!rc)
            rc = timestamp_text(d, f->msg, lb, d->occ[head].p, t, &len);
        close_level(d, lb, mark);
        if (rc)
            return -1;
        char *text = arena_alloc(c->mem, len + 1);
        if (!text) {
            c->nomem = true;
            return -2;
        }
        memcpy(text, t, len);
        text[len] = '\0';
        v->kind = FORMAT_JSON_KIND_STRING;
        v->raw = text;
        v->raw_len = len;
        v->str = text + 1;
        v->str_len = len - 2;
        return 0;
    }
    if (f->repeated || f->type == T_MESSAGE || f->type == T_GROUP || f->type == T_BYTES)
        return text_value(c, d, f, head, v);
    if (head == UINT32_MAX) { /* no presence: the default */
        switch (f->type) {
        case T_STRING:
            v->kind = FORMAT_JSON_KIND_STRING;
            v->str = "";
            return 0;
        case T_BOOL:
            v->kind = FORMAT_JSON_KIND_FALSE;
            v->raw = "false";
            v->raw_len = 5;
            return 0;
        case T_ENUM: return text_value(c, d, f, head, v);
        default: return int_value(c, 0, numeric, v);
        }
    }
    uint32_t last = head;
    while (d->occ[last].next != UINT32_MAX)
        last = d->occ[last].next;
    const struct occ *o = &d->occ[last];
    uint64_t x = o->v;
    switch (f->type) {
    case T_STRING:
        if (format__utf8_valid((const char *)o->p, o->len) != o->len)
            return text_value(c, d, f, head, v); /* bad bytes → U+FFFD */
        v->kind = FORMAT_JSON_KIND_STRING;
        v->str = o->len ? (const char *)o->p : "";
        v->str_len = o->len;
        return 0;
    case T_BOOL:
        v->kind = x ? FORMAT_JSON_KIND_TRUE : FORMAT_JSON_KIND_FALSE;
        v->raw = x ? "true" : "false";
        v->raw_len = x ? 4 : 5;
        return 0;
    case T_ENUM:
        for (size_t i = 0; i < f->en->nvalues; i++)
            if (f->en->values[i].number == (int32_t)(uint32_t)x) {
                const char *name = f->en->values[i].name;
                size_t n = strlen(name);
                v->kind = FORMAT_JSON_KIND_STRING;
                /* a registry's schema may be dropped before the row: a copy */
                v->str = name;
                v->str_len = n;
                if (c->pl->pb_registry) {
                    char *k = arena_alloc(c->mem, n + 1);
                    if (!k) {
                        c->nomem = true;
                        return -2;
                    }
                    v->str = memcpy(k, name, n + 1);
                }
                return 0;
            }
        return int_value(c, (int32_t)(uint32_t)x, numeric, v);
    case T_INT32:
    case T_SFIXED32: return int_value(c, (int32_t)(uint32_t)x, numeric, v);
    case T_INT64:
    case T_SFIXED64: return int_value(c, (int64_t)x, numeric, v);
    case T_UINT32:
    case T_FIXED32: return int_value(c, (uint32_t)x, numeric, v);
    case T_UINT64:
    case T_FIXED64:
        return x > INT64_MAX ? text_value(c, d, f, head, v) : int_value(c, (int64_t)x, numeric, v);
    case T_SINT32: {
        uint32_t u = (uint32_t)x;
        return int_value(c, (int32_t)((u >> 1) ^ (0u - (u & 1))), numeric, v);
    }
    case T_SINT64: return int_value(c, (int64_t)((x >> 1) ^ (0 - (x & 1))), numeric, v);
    case T_FLOAT: {
        uint32_t u = (uint32_t)x;
        float fl;
        memcpy(&fl, &u, sizeof fl);
        return whole(fl) ? int_value(c, (int64_t)fl, numeric, v) : text_value(c, d, f, head, v);
    }
    case T_DOUBLE: {
        double db;
        memcpy(&db, &x, sizeof db);
        if (whole(db))
            return int_value(c, (int64_t)db, numeric, v);
        /* A fraction: its text has a point or an exponent and reads back as
         * db (put_double() writes round-trip digits). A declared numeric
         * field reads only d, unless it warns with the text (a float past
         * FLT_MAX, a long past int64). */
        if (isfinite(db) && numeric && !(target == SQL_FLOAT && fabs(db) > FLT_MAX) &&
            !(target == SQL_LONG &&
              !(db >= -9223372036854775808.0 && db < 9223372036854775808.0))) {
            v->kind = FORMAT_JSON_KIND_NUMBER;
            v->d = db;
            return 0;
        }
        return text_value(c, d, f, head, v);
    }
    default: return text_value(c, d, f, head, v);
    }
}

/* flattenSpec paths: one that starts with a member name reads only that
 * top-level field's JSON; the others ("$", "$[0]") read the record's. A
 * path of member names through single (not repeated) messages is read from
 * the decoded fields instead (path_direct): no JSON is written or scanned. */
/* The JSON texts of top-level fields made while reading a record, for the
 * flattenSpec paths that start at them. */
#define FLAT_TEXTS 8
struct flat_texts {
    uint32_t k[FLAT_TEXTS];
    const char *text[FLAT_TEXTS];
    size_t len[FLAT_TEXTS];
    size_t n;
};

/* The field of m named key[0..len), or NULL; *dup: another field has that
 * name too (a descriptor may say so: its JSON then holds the key twice). */
static const struct pb_field *field_named(const struct format_pb_msg *m, const char *key,
                                          size_t len, size_t *idx, bool *dup)
{
    const struct pb_field *found = NULL;
    *dup = false;
    for (size_t k = 0; k < m->nfields; k++)
        if (m->fields[k].name_len == len && memcmp(m->fields[k].name, key, len) == 0) {
            *dup = found != NULL;
            if (!found) {
                found = &m->fields[k];
                *idx = k;
            }
        }
    return found;
}

/* Whether path fl over message m reads as well from the decoded fields as
 * from the JSON text: member names only, through messages written as JSON
 * objects (not repeated, not maps, not well-known types), no name twice in
 * a message, into a field that is not of type json (its string values carry
 * no JSON literal here). The value at the end is then field_value()'s, the
 * one a top-level member of that type gets. */
static bool path_direct(const struct format__ctx *c, const struct format_pb_msg *m,
                        const struct format__flat *fl)
{
    if (!fl->nsteps || (fl->field != REF_NONE && c->p->schema.fields[fl->field].type == SQL_JSON))
        return false;
    for (size_t i = 0; i < fl->nsteps; i++) {
        if (!fl->steps[i].key)
            return false;
        size_t k;
        bool dup;
        const struct pb_field *f =
            field_named(m, fl->steps[i].key, fl->steps[i].key_len, &k, &dup);
        if (dup)
            return false;
        if (!f || i + 1 == fl->nsteps)
            return true; /* not found, or the value */
        if (f->repeated || (f->type != T_MESSAGE && f->type != T_GROUP) || f->msg->wkt != WKT_NONE)
            return false;
        m = f->msg;
    }
    return true;
}

/* Whether a flattenSpec path starts at top-level field f and reads its JSON text. */
static bool flat_root(const struct format__ctx *c, const struct format_pb_msg *m,
                      const struct pb_field *f)
{
    const struct format_plan *pl = c->pl;
    for (size_t i = 0; i < pl->nflat; i++)
        if (pl->flat[i].nsteps && pl->flat[i].steps[0].key &&
            pl->flat[i].steps[0].key_len == f->name_len &&
            memcmp(pl->flat[i].steps[0].key, f->name, f->name_len) == 0 &&
            !path_direct(c, m, &pl->flat[i]))
            return true;
    return false;
}

/* Path fl from its step `step` on, over message m's open level (links at
 * lbase): each message on the way is opened as a level of its own (all its
 * occurrences merged, as the JSON writes it), the value at the end is
 * field_value()'s. A member the JSON leaves out is not found. The fields
 * were checked when the record was read (the top-level field the path
 * starts at is decoded in full whether kept or not), so only memory fails
 * here. 0, -1 (err), -2 (memory). */
static int path_at(struct format__ctx *c, struct dec *d, const struct format_pb_msg *m,
                   size_t lbase, const struct format__flat *fl, const uint32_t *step_k,
                   size_t step)
{
    size_t k = step_k ? step_k[step] : 0;
    bool dup;
    const struct pb_field *f =
        step_k ? (k == UINT32_MAX ? NULL : &m->fields[k])
               : field_named(m, fl->steps[step].key, fl->steps[step].key_len, &k, &dup);
    if (!f)
        return 0;
    uint32_t h = d->links[lbase + 2 * k];
    if (h == UINT32_MAX && f->presence)
        return 0; /* left out of the JSON: not found */
    if (step + 1 == fl->nsteps) {
        uint8_t target = fl->field != REF_NONE ? c->p->schema.fields[fl->field].type : SQL_NULL;
        struct format_json_value v;
        int rc = field_value(c, d, f, h, target, &v);
        if (rc)
            return rc;
        return format__flat_put(c, fl, &v) < 0 ? -2 : 0;
    }
    /* a message (path_direct): present, so h holds its occurrences */
    size_t lb, mark;
    int rc = open_nested(d, f->msg, h, &lb, &mark);
    if (!rc)
        rc = path_at(c, d, f->msg, lb, fl, step_k, step + 1);
    close_level(d, lb, mark);
    return rc;
}

/* What a parser's plan makes of one message type's top-level fields,
 * worked out on its first record instead of per record: where each field
 * goes (format__member_target's answer where it cannot change: a fixed
 * field or excluded; discovery's answers may), which fields flattenSpec
 * paths read as JSON text, which paths read the decoded fields and the
 * field index of each of their steps. Kept for an inline schema only (a
 * registry's message types come and go with its cache). */
#define REF_ASK (UINT32_MAX - 3) /* ask format__member_target per record */
struct rowplan {
    const struct format_plan *pl;
    const struct format_pb_msg *m;
    uint32_t *ref;     /* per field */
    bool *text_root;   /* per field */
    bool *direct;      /* per flattenSpec path */
    uint32_t **step_k; /* per direct path: per step, the field index or UINT32_MAX */
};

static void rowplan_free(void *v)
{
    struct rowplan *rp = v;
    if (!rp)
        return;
    for (size_t i = 0; rp->step_k && i < rp->pl->nflat; i++)
        free(rp->step_k[i]);
    free(rp->step_k);
    free(rp->ref);
    free(rp->text_root);
    free(rp->direct);
    free(rp);
}

/* The plan's rowplan for m, made on first use; NULL: work it out per record
 * (a registry's schema, or out of memory). */
static const struct rowplan *rowplan_for(struct format__ctx *c, const struct format_pb_msg *m)
{
    struct format_pb_work *w = &c->p->run.pb;
    const struct format_plan *pl = c->pl;
    struct rowplan *rp = w->rowplan;
    if (pl->pb_registry)
        return NULL;
    if (rp && rp->pl == pl && rp->m == m)
        return rp;
    rowplan_free(rp);
    w->rowplan = NULL;
    rp = calloc(1, sizeof *rp);
    if (!rp)
        return NULL;
    rp->pl = pl;
    rp->m = m;
    rp->ref = malloc((m->nfields + 1) * sizeof *rp->ref);
    rp->text_root = calloc(m->nfields + 1, sizeof *rp->text_root);
    rp->direct = calloc(pl->nflat + 1, sizeof *rp->direct);
    rp->step_k = calloc(pl->nflat + 1, sizeof *rp->step_k);
    if (!rp->ref || !rp->text_root || !rp->direct || !rp->step_k) {
        rowplan_free(rp);
        return NULL;
    }
    for (size_t k = 0; k < m->nfields; k++) {
        const struct pb_field *f = &m->fields[k];
        struct format_json_member mem = {.key = f->name, .key_len = f->name_len, .index = k};
        uint32_t ref = format__member_target(c, &mem);
        rp->ref[k] = ref < pl->nfixed || ref == REF_EXCLUDED ? ref : REF_ASK;
        rp->text_root[k] = pl->nflat && flat_root(c, m, f);
    }
    for (size_t i = 0; i < pl->nflat; i++) {
        const struct format__flat *fl = &pl->flat[i];
        if (!(rp->direct[i] = path_direct(c, m, fl)))
            continue;
        if (!(rp->step_k[i] = malloc(fl->nsteps * sizeof **rp->step_k))) {
            rowplan_free(rp);
            return NULL;
        }
        const struct format_pb_msg *at = m;
        for (size_t s = 0; s < fl->nsteps; s++) {
            size_t k;
            bool dup;
            const struct pb_field *f =
                at ? field_named(at, fl->steps[s].key, fl->steps[s].key_len, &k, &dup) : NULL;
            rp->step_k[i][s] = f ? (uint32_t)k : UINT32_MAX;
            at = f ? f->msg : NULL;
        }
    }
    w->rowplan = rp;
    return rp;
}

static bool rowplan_direct(const struct rowplan *rp, size_t i, const uint32_t **step_k)
{
    *step_k = rp->step_k[i];
    return rp->direct[i];
}

static int pb_flatten(struct format__ctx *c, struct dec *d, const struct format_pb_msg *m,
                      size_t lbase, const struct rowplan *rp, const struct flat_texts *ft,
                      bool *need_whole)
{
    const struct format_plan *pl = c->pl;
    for (size_t i = 0; i < pl->nflat; i++) {
        const struct format__flat *fl = &pl->flat[i];
        if (!fl->nsteps || !fl->steps[0].key) {
            *need_whole = true;
            continue;
        }
        const uint32_t *step_k = NULL;
        if (rp ? rowplan_direct(rp, i, &step_k) : path_direct(c, m, fl)) {
            int rc = path_at(c, d, m, lbase, fl, step_k, 0);
            if (rc)
                return rc;
            continue;
        }
        size_t k = 0;
        while (k < m->nfields &&
               !(m->fields[k].name_len == fl->steps[0].key_len &&
                 memcmp(m->fields[k].name, fl->steps[0].key, fl->steps[0].key_len) == 0))
            k++;
        if (k == m->nfields)
            continue;
        const struct pb_field *f = &m->fields[k];
        uint32_t h = d->links[lbase + 2 * k];
        if (h == UINT32_MAX && f->presence)
            continue; /* left out of the JSON: not found */
        const char *text = NULL;
        size_t len = 0;
        for (size_t j = 0; j < ft->n && !text; j++)
            if (ft->k[j] == k) {
                text = ft->text[j];
                len = ft->len[j];
            }
        int rc = text ? 0 : field_text(c, d, f, h, &text, &len);
        if (rc)
            return rc;
        if (!format__ensure_scratch(c->p, len + 1)) {
            c->nomem = true;
            return -2;
        }
        struct format_json_value v;
        struct lerr e;
        lerr_init(&e);
        if (format_json_find_path(text, len, fl->steps + 1, fl->nsteps - 1, &v, c->p->run.scratch2,
                                  c->p->run.scratch_cap, &e) == 1 &&
            format__flat_put(c, fl, &v) < 0)
            return -2;
    }
    return 0;
}

/* A top-level member decoded, waiting to be stored (format_pb_work.later). */
struct later {
    struct format_json_member m;
    uint32_t ref;
};

int format__pb_row(struct format__ctx *c, const struct format_pb_msg *m, const char *s, size_t n)
{
    struct format_pb_work *w = &c->p->run.pb;
    struct dec d = {.base = s ? (const uint8_t *)s : (const uint8_t *)"",
                    .err = c->err,
                    .occ = w->occ,
                    .occ_cap = w->occ_cap,
                    .links = w->links,
                    .links_cap = w->links_cap};
    struct occ all = {UINT32_MAX, W_LEN, 0, d.base, s ? n : 0};
    size_t lbase, occ_mark;
    bool need_whole = false;
    struct flat_texts ft;
    ft.n = 0;
    size_t nlater = 0;
    const struct rowplan *rp = rowplan_for(c, m);
    int rc = open_level(&d, m, &all, 0, &lbase, &occ_mark);
    if (!rc && m->wkt != WKT_NONE) {
        lerr_set(c->err, LERR_INVALID,
                 "message type %s is a well-known type that protobuf's JSON mapping writes as "
                 "one value, not as a record of fields; read a message type that holds it",
                 m->full_name);
        c->err->pos = 0;
        rc = -1;
    }
    for (size_t k = 0; k < m->nfields && !rc; k++) {
        const struct pb_field *f = &m->fields[k];
        uint32_t h = d.links[lbase + 2 * k];
        if (h == UINT32_MAX && f->presence)
            continue; /* left out: the member is missing, as in the JSON */
        struct format_json_member mem = {.key = f->name, .key_len = f->name_len, .index = k};
        uint32_t ref = rp && rp->ref[k] != REF_ASK ? rp->ref[k] : format__member_target(c, &mem);
        if (ref == REF_EXCLUDED) {
            /* not kept, but its bytes are checked as the JSON mapping would;
             * a field flattenSpec paths start at is made into its text */
            if (h == UINT32_MAX || !(f->repeated || f->type == T_MESSAGE || f->type == T_GROUP))
                continue;
            if (ft.n < FLAT_TEXTS &&
                (rp ? rp->text_root[k] : c->pl->nflat && flat_root(c, m, f))) {
                ft.k[ft.n] = (uint32_t)k;
                rc = field_text(c, &d, f, h, &ft.text[ft.n], &ft.len[ft.n]);
                ft.n++;
            } else {
                rc = write_field(&d, f, h);
            }
            continue;
        }
        uint8_t target = ref < c->pl->nfixed ? c->p->schema.fields[ref].type : SQL_NULL;
        if ((rc = field_value(c, &d, f, h, target, &mem.v)))
            break;
        /* Values are stored once the whole record has decoded, in order: a
         * record skipped by error must not add or widen a column, and the
         * first warning is the first field's (the JSON route decoded it all
         * first). Text in the scratch is kept meanwhile. */
        if (mem.v.str && !(mem.v.str = format__keep(c, mem.v.str, mem.v.str_len))) {
            rc = -2;
            break;
        }
        if (nlater == w->later_cap) {
            size_t cap = w->later_cap ? 2 * w->later_cap : 16;
            void *a = realloc(w->later, cap * sizeof(struct later));
            if (!a) {
                rc = -2;
                break;
            }
            w->later = a;
            w->later_cap = cap;
        }
        ((struct later *)w->later)[nlater++] = (struct later){mem, ref};
    }
    for (size_t i = 0; i < nlater && !rc; i++) {
        struct later *l = &((struct later *)w->later)[i];
        if (format__member_put(c, &l->m, l->ref) < 0)
            rc = -2;
    }
    if (!rc && c->pl->nflat)
        rc = pb_flatten(c, &d, m, lbase, rp, &ft, &need_whole);
    close_level(&d, lbase, occ_mark);
    if (!rc && need_whole) {
        struct buf *b = &c->p->run.tmp;
        buf_reset(b);
        d.out = b;
        rc = message(&d, m, &all, 0, W_LEN);
        d.out = NULL;
        const char *text = rc ? NULL : keep_out(c, b);
        size_t len = b->len;
        if (!rc && !text)
            rc = -2;
        if (!rc && !format__ensure_scratch(c->p, len + 1)) {
            c->nomem = true;
            rc = -2;
        }
        for (size_t i = 0; !rc && i < c->pl->nflat; i++) {
            const struct format__flat *fl = &c->pl->flat[i];
            if (fl->nsteps && fl->steps[0].key)
                continue;
            struct format_json_value v;
            struct lerr e;
            lerr_init(&e);
            if (format_json_find_path(text, len, fl->steps, fl->nsteps, &v, c->p->run.scratch2,
                                      c->p->run.scratch_cap, &e) == 1 &&
                format__flat_put(c, fl, &v) < 0)
                rc = -2;
        }
    }
    w->occ = d.occ;
    w->occ_cap = d.occ_cap;
    w->links = d.links;
    w->links_cap = d.links_cap;
    if (rc == -2)
        c->nomem = true;
    return rc ? -1 : 0;
}

/* ---- Confluent's framing ---------------------------------------------------------- */

int format_pb_confluent_frame(const void *data, size_t len, struct format_pb_frame *out,
                              struct lerr *err)
{
    const uint8_t *b = data;
    struct dec d = {.base = b, .err = err};
    memset(out, 0, sizeof *out);
    if (len < 5 || b[0] != 0) {
        lerr_set(err, LERR_INVALID,
                 len < 5 ? "the record (%zu bytes) is too short for Confluent's framing "
                           "(magic byte 0, 4-byte schema id, message indexes)"
                         : "the record (%zu bytes) does not start with Confluent's magic byte 0; "
                           "was it written without the schema registry's serializer?",
                 len);
        err->pos = 0;
        return -1;
    }
    out->schema_id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    const uint8_t *p = b + 5, *end = b + len;
    uint64_t v;
    const uint8_t *at = p;
    if (read_varint(&d, &p, end, &v))
        return -1;
    int64_t count = (int64_t)((v >> 1) ^ (0 - (v & 1)));
    if (count == 0) {
        out->nindexes = 1; /* [0]: the first message */
    } else if (count < 0 || count > FORMAT_PB_MAX_INDEXES) {
        return fail_at(&d, at, "the message-index list has %lld entries; 1 to %d are allowed",
                       (long long)count, FORMAT_PB_MAX_INDEXES);
    } else {
        for (int64_t i = 0; i < count; i++) {
            at = p;
            if (read_varint(&d, &p, end, &v))
                return -1;
            int64_t x = (int64_t)((v >> 1) ^ (0 - (v & 1)));
            if (x < 0 || x > INT32_MAX)
                return fail_at(&d, at, "message index %lld at position %lld is out of range",
                               (long long)x, (long long)i);
            out->indexes[i] = (int32_t)x;
        }
        out->nindexes = (size_t)count;
    }
    out->header_len = (size_t)(p - b);
    return 0;
}
