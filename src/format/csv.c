/*
 * csv.c — the CSV family (csv, tsv, delimited) and the splitting of texts
 * (push bodies, files, multi-row messages) into records for every format.
 *
 * Entry points: format_split_init(), format_split_next(), format_is_blank(),
 * and module-internal format__csv_init(), format__csv_free(),
 * format__csv_row(), format__csv_first(), format__is_csv().
 *
 * One field scanner serves both the splitter (lenient: it only has to find
 * where a record ends, and must agree with the row parser on that) and the
 * row parser (strict: it reports what is wrong and where). RFC 4180 rules:
 * a quote opens a quoted field only at the start of a field; inside, a
 * doubled quote is a quote and delimiters and newlines are data; a quote in
 * the middle of an unquoted field is an ordinary character. Fields point
 * into the record unless they hold doubled quotes, which are unescaped into
 * the batch arena.
 *
 * Column state: the column map (name → field) comes from `columns`, the
 * inputSchema order, or the header row of the current text, which the
 * splitter reads into the parser (names in an arena reset per header).
 */
#include "format/format_int.h"
#include "util/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool format__is_csv(enum format_kind k)
{
    return k == FORMAT_CSV || k == FORMAT_TSV || k == FORMAT_DELIMITED;
}

/* ---- the field scanner ------------------------------------------------------ */

enum { F_MORE, F_LAST, F_ERR };

struct csv_field {
    const char *s;
    size_t n;
    bool escaped; /* holds doubled quotes */
};

/* An unquoted field from i: up to a delimiter or a line end. */
static int scan_unquoted(const char *s, size_t n, size_t i, const char *d, size_t dl,
                         struct csv_field *f, size_t *next)
{
    const char d0 = d[0];
    for (size_t k = i; k < n; k++) {
        char ch = s[k];
        if (ch == d0 && n - k >= dl && memcmp(s + k, d, dl) == 0) {
            f->s = s + i;
            f->n = k - i;
            *next = k + dl;
            return F_MORE;
        }
        if (ch == '\n') {
            size_t end = k;
            if (end > i && s[end - 1] == '\r')
                end--;
            f->s = s + i;
            f->n = end - i;
            *next = k + 1;
            return F_LAST;
        }
    }
    size_t end = n;
    if (end > i && s[end - 1] == '\r')
        end--;
    f->s = s + i;
    f->n = end - i;
    *next = n;
    return F_LAST;
}

static void describe(const char *s, size_t n, size_t k, char out[32])
{
    if (k >= n)
        snprintf(out, 32, "end of record");
    else if ((unsigned char)s[k] >= 0x20 && (unsigned char)s[k] < 0x7f)
        snprintf(out, 32, "'%c'", s[k]);
    else
        snprintf(out, 32, "byte 0x%02X", (unsigned char)s[k]);
}

/*
 * The field starting at s[i]. F_MORE: a delimiter followed (next = after it);
 * F_LAST: the record's line ended (next = after the terminator, or n).
 * Strict mode reports an unterminated quote or text after a closing quote
 * as F_ERR (err set, pos = byte offset in s); lenient mode reads past them.
 */
static int scan_field(const char *s, size_t n, size_t i, const char *d, size_t dl, bool strict,
                      struct csv_field *f, size_t *next, struct lerr *err)
{
    f->escaped = false;
    if (i >= n || s[i] != '"')
        return scan_unquoted(s, n, i, d, dl, f, next);
    size_t j = i + 1;
    for (;;) {
        const char *q = j < n ? memchr(s + j, '"', n - j) : NULL;
        if (!q) {
            if (strict) {
                lerr_set(err, LERR_INVALID,
                         "invalid CSV at byte %zu: unterminated quoted field (opened at byte "
                         "%zu); close it with '\"' and write quotes inside as \"\"",
                         n, i);
                err->pos = (int64_t)n;
                return F_ERR;
            }
            f->s = s + i + 1;
            f->n = n - i - 1;
            *next = n;
            return F_LAST;
        }
        j = (size_t)(q - s);
        if (j + 1 < n && s[j + 1] == '"') {
            f->escaped = true;
            j += 2;
            continue;
        }
        break;
    }
    f->s = s + i + 1;
    f->n = j - i - 1;
    size_t k = j + 1;
    if (k >= n) {
        *next = n;
        return F_LAST;
    }
    if (n - k >= dl && memcmp(s + k, d, dl) == 0) {
        *next = k + dl;
        return F_MORE;
    }
    if (s[k] == '\n') {
        *next = k + 1;
        return F_LAST;
    }
    if (s[k] == '\r' && (k + 1 == n || s[k + 1] == '\n')) {
        *next = k + 1 == n ? n : k + 2;
        return F_LAST;
    }
    if (strict) {
        char what[32];
        describe(s, n, k, what);
        lerr_set(err, LERR_INVALID,
                 "invalid CSV at byte %zu: unexpected %s after the closing quote of a field "
                 "(opened at byte %zu); a quoted field ends at a delimiter or the line end, and "
                 "quotes inside it are written \"\"",
                 k, what, i);
        err->pos = (int64_t)k;
        return F_ERR;
    }
    struct csv_field rest;
    return scan_unquoted(s, n, k, d, dl, &rest, next);
}

/* The field's bytes, with doubled quotes made single (into the arena). */
static const char *unescape(struct format__ctx *c, const struct csv_field *f, size_t *len)
{
    if (!f->escaped) {
        *len = f->n;
        return f->s;
    }
    char *d = arena_alloc(c->mem, f->n ? f->n : 1);
    if (!d) {
        c->nomem = true;
        *len = 0;
        return "";
    }
    size_t o = 0;
    for (size_t i = 0; i < f->n; i++) {
        d[o++] = f->s[i];
        if (f->s[i] == '"' && i + 1 < f->n && f->s[i + 1] == '"')
            i++;
    }
    *len = o;
    return d;
}

/* ---- settings and columns ---------------------------------------------------- */

static int copy_delim(char *dst, uint8_t *dlen, size_t cap, const char *d, const char *what,
                      struct lerr *err)
{
    size_t n = d ? strlen(d) : 0;
    if (n == 0 || n >= cap)
        return lerr_set_at(err, LERR_INVALID, what,
                           "formatSettings.%s must be 1 to %zu bytes, e.g. \"|\"", what, cap - 1);
    if (strpbrk(d, "\r\n\""))
        return lerr_set_at(err, LERR_INVALID, what,
                           "formatSettings.%s cannot contain a quote or a line break", what);
    memcpy(dst, d, n);
    *dlen = (uint8_t)n;
    return 0;
}

/* The ref of a column name: a fixed or known field, excluded, to discover,
 * or ignored. */
static uint32_t column_ref(const struct format__schema *sc, bool discovery, const char *name,
                           size_t n)
{
    if (n == 0)
        return REF_NONE;
    uint32_t ref = format__lookup(sc, name, n);
    if (ref == REF_NONE && discovery)
        return REF_UNRESOLVED;
    return ref;
}

/* Appends a column to a column map (the plan's or a parser's). */
static bool add_column(struct format__column **cols, uint32_t *ncols, size_t *cap,
                       const struct format__schema *sc, bool discovery, const char *name, size_t n)
{
    if (*ncols == *cap) {
        struct format__column *c = vec_grow(*cols, cap, (size_t)*ncols + 1, sizeof *c, 32);
        if (!c)
            return false;
        *cols = c;
    }
    struct format__column *col = &(*cols)[(*ncols)++];
    col->name = name;
    col->len = (uint32_t)n;
    col->ref = column_ref(sc, discovery, name, n);
    return true;
}

int format__csv_init(struct format_plan *p, const struct format_settings *fs, struct lerr *err)
{
    struct format__csv *cs = &p->csv;
    const char *d = fs->kind == FORMAT_CSV ? "," : fs->kind == FORMAT_TSV ? "\t" : fs->delimiter;
    if (copy_delim(cs->delim, &cs->delim_len, sizeof cs->delim, d, "delimiter", err))
        return err->code;
    if (fs->list_delimiter && fs->list_delimiter[0] &&
        copy_delim(cs->list, &cs->list_len, sizeof cs->list, fs->list_delimiter, "listDelimiter",
                   err))
        return err->code;
    cs->skip_header_rows = fs->skip_header_rows;
    cs->from_header = fs->find_columns_from_header;
    if (cs->from_header && fs->ncolumns)
        return lerr_set_at(err, LERR_INVALID, "columns",
                           "formatSettings.columns and findColumnsFromHeader: true contradict "
                           "each other; give one");
    if (fs->ncolumns > FORMAT_MAX_COLUMNS)
        return lerr_set_at(err, LERR_INVALID, "columns",
                           "formatSettings.columns lists %zu columns; at most %u are allowed",
                           fs->ncolumns, FORMAT_MAX_COLUMNS);
    for (size_t i = 0; i < fs->ncolumns; i++) {
        const char *name = arena_strdup(&p->mem, fs->columns[i]);
        if (!name || !add_column(&cs->cols, &cs->ncols, &cs->cols_cap, &p->fixed, p->discovery,
                                 name, strlen(name)))
            return lerr_set(err, LERR_NOMEM, "out of memory compiling formatSettings.columns");
    }
    /* The inputSchema order, leaving out the kafka metadata it declares. */
    if (!fs->ncolumns && !cs->from_header)
        for (uint32_t i = 0; i < p->ndeclared; i++)
            if (p->fixed.fields[i].meta == META_NONE &&
                !add_column(&cs->cols, &cs->ncols, &cs->cols_cap, &p->fixed, p->discovery,
                            p->fixed.fields[i].name, p->fixed.fields[i].name_len))
                return lerr_set(err, LERR_NOMEM, "out of memory compiling the columns");
    return 0;
}

void format__csv_free(struct format_plan *p) { free(p->csv.cols); }

bool format__csv_state_init(struct format__csv_state *st, const struct format__csv *cs)
{
    arena_init(&st->header_mem, 4096, 0);
    if (!cs->ncols)
        return true;
    size_t cap = 0;
    st->cols = vec_grow(NULL, &cap, cs->ncols, sizeof *st->cols, 32);
    if (!st->cols)
        return false;
    memcpy(st->cols, cs->cols, cs->ncols * sizeof *st->cols);
    st->ncols = cs->ncols;
    st->cols_cap = cap;
    return true;
}

void format__csv_state_free(struct format__csv_state *st)
{
    free(st->cols);
    arena_destroy(&st->header_mem);
}

/* Reads a header row into the column map. */
static void set_header(struct format_parser *p, const char *s, size_t n)
{
    const struct format__csv *set = &p->plan->csv;
    struct format__csv_state *cs = &p->run.csv;
    arena_reset(&cs->header_mem);
    cs->ncols = 0;
    cs->have_header = true;
    cs->header_bad = false;
    struct lerr e;
    lerr_init(&e);
    size_t i = 0, next;
    struct csv_field f;
    int rc;
    do {
        rc = scan_field(s, n, i, set->delim, set->delim_len, true, &f, &next, &e);
        if (rc == F_ERR)
            break;
        if (cs->ncols >= FORMAT_MAX_COLUMNS) {
            snprintf(cs->header_err, sizeof cs->header_err,
                     "the header row has more than %u columns", FORMAT_MAX_COLUMNS);
            cs->header_bad = true;
            return;
        }
        size_t len = f.n;
        char *name = arena_alloc(&cs->header_mem, len + 1);
        if (!name) {
            snprintf(cs->header_err, sizeof cs->header_err, "out of memory reading the header");
            cs->header_bad = true;
            return;
        }
        size_t o = 0;
        for (size_t k = 0; k < f.n; k++) {
            name[o++] = f.s[k];
            if (f.escaped && f.s[k] == '"' && k + 1 < f.n && f.s[k + 1] == '"')
                k++;
        }
        name[o] = '\0';
        if (format__utf8_valid(name, o) != o) {
            snprintf(cs->header_err, sizeof cs->header_err,
                     "column %u of the header row is not valid UTF-8", cs->ncols + 1);
            cs->header_bad = true;
            return;
        }
        if (!add_column(&cs->cols, &cs->ncols, &cs->cols_cap, &p->schema, p->plan->discovery, name,
                        o)) {
            snprintf(cs->header_err, sizeof cs->header_err, "out of memory reading the header");
            cs->header_bad = true;
            return;
        }
        i = next;
    } while (rc == F_MORE);
    if (rc == F_ERR) {
        snprintf(cs->header_err, sizeof cs->header_err, "the header row is invalid: %s", e.msg);
        cs->header_bad = true;
    }
}

/* ---- rows --------------------------------------------------------------------- */

/* Splits a string value on the list delimiter into an ARRAY of strings. */
static void put_list(struct format__ctx *c, const char *s, size_t n, struct sql_value *out)
{
    const struct format__csv *cs = &c->pl->csv;
    uint32_t count = 1;
    for (size_t k = 0; k + cs->list_len <= n;)
        if (memcmp(s + k, cs->list, cs->list_len) == 0) {
            count++;
            k += cs->list_len;
        } else {
            k++;
        }
    struct sql_value *items = arena_alloc(c->mem, count * sizeof *items);
    if (!items) {
        c->nomem = true;
        *out = sql_null(SQL_ARRAY);
        return;
    }
    uint32_t m = 0;
    size_t start = 0;
    for (size_t k = 0; k + cs->list_len <= n;)
        if (memcmp(s + k, cs->list, cs->list_len) == 0) {
            items[m++] = sql_string(s + start, k - start);
            k += cs->list_len;
            start = k;
        } else {
            k++;
        }
    items[m++] = sql_string(s + start, n - start);
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = items;
    out->v.a.n = m;
}

static bool has_list_delim(const struct format__csv *cs, const char *s, size_t n)
{
    if (!cs->list_len)
        return false;
    for (size_t k = 0; k + cs->list_len <= n; k++)
        if (s[k] == cs->list[0] && memcmp(s + k, cs->list, cs->list_len) == 0)
            return true;
    return false;
}

/* One field's text into its column's field (fixed, or discovered now). */
static void put_field(struct format__ctx *c, struct format__column *col, const char *s, size_t n)
{
    struct format_parser *p = c->p;
    bool list = has_list_delim(&c->pl->csv, s, n);
    struct sql_value *slot;
    uint32_t field = col->ref;
    if (field < c->pl->nfixed) {
        slot = &c->vals[field];
    } else {
        /* Discovery: CSV values are strings (lists: arrays of strings). */
        slot = format__discover(
            c, col->name, col->len, col->ref == REF_UNRESOLVED ? REF_NONE : col->ref,
            list ? SQL_ARRAY : SQL_STRING, list ? SQL_STRING : SQL_NULL, &field);
        if (!slot)
            return; /* not kept (a warning says why) or out of memory */
        col->ref = field;
    }
    uint8_t type = p->schema.fields[field].type;
    if (list && (type == SQL_STRING || type == SQL_ARRAY))
        put_list(c, s, n, slot);
    else
        format__put_text(c, field, s, n, false, slot);
}

int format__csv_row(struct format__ctx *c, const char *s, size_t n)
{
    struct format_parser *p = c->p;
    const struct format__csv *set = &c->pl->csv;
    struct format__csv_state *cs = &p->run.csv;
    size_t i = 0;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    if (format_is_blank(s, n)) {
        lerr_set(c->err, LERR_INVALID, "empty record");
        c->err->pos = 0;
        return -1;
    }
    if (set->from_header && (!cs->have_header || cs->header_bad)) {
        lerr_set(c->err, LERR_INVALID, "%s",
                 cs->header_bad ? cs->header_err
                                : "findColumnsFromHeader is set but no header row was read "
                                  "for this text; each text (push body, Kafka message) must "
                                  "start with its header row");
        c->err->pos = 0;
        return -1;
    }
    uint32_t col = 0;
    size_t next;
    struct csv_field f;
    int rc;
    do {
        rc = scan_field(s, n, i, set->delim, set->delim_len, true, &f, &next, c->err);
        if (rc == F_ERR)
            return -1;
        size_t ok = format__utf8_valid(f.s, f.n);
        if (ok != f.n) {
            size_t pos = (size_t)(f.s - s) + ok;
            lerr_set(c->err, LERR_INVALID, "invalid CSV at byte %zu: invalid UTF-8 byte 0x%02X",
                     pos, (unsigned char)s[pos]);
            c->err->pos = (int64_t)pos;
            return -1;
        }
        if (col < cs->ncols) {
            struct format__column *cm = &cs->cols[col];
            if (cm->ref < p->schema.nfields || cm->ref == REF_UNRESOLVED) {
                size_t len;
                const char *text = unescape(c, &f, &len);
                put_field(c, cm, text, len);
                if (c->nomem)
                    return -1;
            }
        }
        col++;
        i = next;
    } while (rc == F_MORE);
    if (i < n && !format_is_blank(s + i, n - i)) {
        lerr_set(c->err, LERR_INVALID,
                 "invalid CSV at byte %zu: the record holds more than one row; split texts "
                 "into rows (format_split_next) or quote fields that contain line breaks",
                 i);
        c->err->pos = (int64_t)i;
        return -1;
    }
    if (col < cs->ncols)
        format__warn(c,
                     "the row has %u fields but there are %u columns; the missing ones "
                     "are NULL",
                     col, cs->ncols);
    else if (col > cs->ncols)
        format__warn(c,
                     "the row has %u fields but there are only %u columns; the extra ones "
                     "are ignored",
                     col, cs->ncols);
    return 0;
}

int format__csv_first(struct format__ctx *c, const char *delim, size_t dlen, const char *s,
                      size_t n, const char **out, size_t *out_len)
{
    if (n == 0)
        return 0;
    size_t i = n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, next;
    struct csv_field f;
    struct lerr e;
    lerr_init(&e);
    if (scan_field(s, n, i, delim, dlen, true, &f, &next, &e) == F_ERR)
        return -1;
    if (format__utf8_valid(f.s, f.n) != f.n)
        return -1;
    *out = unescape(c, &f, out_len);
    return c->nomem ? -1 : 1;
}

/* ---- splitting ------------------------------------------------------------------ */

bool format_is_blank(const char *p, size_t n)
{
    size_t i = 0;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

/* SPLIT_WHOLE: a binary format's text is one record, returned once (even
 * when empty: an empty protobuf message holds every field's default), and
 * then the splitter is SPLIT_DONE. */
/* (FORMAT__SPLIT_AVRO, avro.c's mode, is 3) */
enum {
    SPLIT_LINES,
    SPLIT_CSV,
    SPLIT_JSON_VALUES,
    SPLIT_WHOLE = FORMAT__SPLIT_AVRO + 1,
    SPLIT_DONE
};

/*
 * Where the JSON value at s[0] ends, without validating it (format_parse
 * does): for an object or array, after its matching close bracket (strings
 * and escapes skipped); anything else, or an unclosed container, runs to
 * the end of the line (or of the text, when a container never closes).
 */
static size_t json_value_end(const char *s, size_t n)
{
    if (s[0] != '{' && s[0] != '[') {
        const char *nl = memchr(s, '\n', n);
        return nl ? (size_t)(nl - s) + 1 : n;
    }
    size_t depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return n;
}

void format_split_init(struct format_splitter *s, struct format_parser *p, const char *text,
                       size_t n)
{
    memset(s, 0, sizeof *s);
    s->p = p;
    s->base = s->cur = text ? text : "";
    s->end = s->base + (text ? n : 0);
    s->line = 1;
    const struct format_plan *pl = p->plan;
    if (format__is_avro(pl->vkind)) { /* binary: no BOM, no lines */
        format__avro_split_init(s);
        return;
    }
    if (pl->vkind == FORMAT_PROTOBUF) {
        s->mode = SPLIT_WHOLE;
        return;
    }
    if (s->end - s->cur >= 3 && memcmp(s->cur, "\xEF\xBB\xBF", 3) == 0)
        s->cur += 3;
    s->mode = format__is_csv(pl->vkind)  ? SPLIT_CSV
              : pl->kind == FORMAT_KAFKA ? SPLIT_JSON_VALUES
                                         : SPLIT_LINES;
    if (s->mode == SPLIT_CSV) {
        s->skip_left = pl->csv.skip_header_rows;
        s->want_header = pl->csv.from_header;
        if (pl->csv.from_header) {
            p->run.csv.have_header = false;
            p->run.csv.header_bad = false;
        }
    }
}

static size_t count_newlines(const char *s, size_t n)
{
    size_t k = 0;
    for (const char *q = s, *e = s + n; (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++)
        k++;
    return k;
}

bool format_split_next(struct format_splitter *s, const char **rec, size_t *len, size_t *line)
{
    if (s->mode == FORMAT__SPLIT_AVRO)
        return format__avro_split_next(s, rec, len, line);
    if (s->mode == SPLIT_WHOLE || s->mode == SPLIT_DONE) {
        if (s->mode == SPLIT_DONE)
            return false;
        s->mode = SPLIT_DONE;
        *rec = s->base;
        *len = (size_t)(s->end - s->base);
        if (line)
            *line = 1;
        return true;
    }
    while (s->cur < s->end) {
        const char *start = s->cur;
        size_t avail = (size_t)(s->end - start), rlen, used;
        if (s->mode == SPLIT_JSON_VALUES) {
            size_t ws = 0;
            while (ws < avail && (start[ws] == ' ' || start[ws] == '\t' || start[ws] == '\r' ||
                                  start[ws] == '\n'))
                ws++;
            s->line += count_newlines(start, ws);
            start += ws;
            avail -= ws;
            if (!avail) {
                s->cur = s->end;
                return false;
            }
            used = rlen = json_value_end(start, avail);
        } else if (s->mode == SPLIT_CSV) {
            const struct format__csv *cs = &s->p->plan->csv;
            size_t i = 0, next;
            struct csv_field f;
            int rc;
            do {
                rc = scan_field(start, avail, i, cs->delim, cs->delim_len, false, &f, &next, NULL);
                i = next;
            } while (rc == F_MORE && i < avail);
            used = i;
            rlen = used;
        } else {
            const char *nl = memchr(start, '\n', avail);
            used = nl ? (size_t)(nl - start) + 1 : avail;
            rlen = used;
        }
        /* Drop the line terminator. */
        if (rlen && start[rlen - 1] == '\n')
            rlen--;
        if (rlen && start[rlen - 1] == '\r')
            rlen--;
        size_t first_line = s->line;
        s->line += count_newlines(start, used);
        s->cur = start + used;
        if (format_is_blank(start, rlen))
            continue;
        if (s->skip_left) {
            s->skip_left--;
            continue;
        }
        if (s->want_header) {
            s->want_header = false;
            set_header(s->p, start, rlen);
            continue;
        }
        *rec = start;
        *len = rlen;
        if (line)
            *line = first_line;
        return true;
    }
    return false;
}
