/*
 * multipart.c — a streaming multipart/form-data reader (multipart.h).
 *
 * The body is read as if it began with CRLF, so the first delimiter
 * ("--boundary" at the very start, or after a preamble line) and every later
 * one ("\r\n--boundary") are the same byte string. States:
 *
 *   PREAMBLE    skip bytes until the first delimiter
 *   AFTER       after a delimiter: "--" ends the body, optional spaces or
 *               tabs then CRLF start a part's headers
 *   HEADERS     collect the header block up to the empty line (capped)
 *   BODY        hand the part's bytes on until the next delimiter
 *   END         after the closing delimiter: the epilogue is ignored
 *
 * Bytes that might be the start of a delimiter are held back between feeds
 * (at most its length minus one), so a part's data is handed on exactly,
 * without the CRLF that belongs to the delimiter.
 */
#include "api/multipart.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MP_PREAMBLE, MP_AFTER, MP_HEADERS, MP_BODY, MP_END };

/* RFC 2046 bcharsnospace, plus space (not last). */
static bool bchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           strchr("'()+_,-./:=? ", c) != NULL;
}

int multipart_boundary(const char *ct, char *out, size_t cap, struct lerr *err)
{
    static const char type[] = "multipart/form-data";
    if (!ct || strncasecmp(ct, type, sizeof type - 1) != 0)
        return lerr_set(err, LERR_UNSUPPORTED_MEDIA,
                        "upload files as multipart/form-data (curl -F 'file=@events.json'); "
                        "the Content-Type was %s",
                        ct ? ct : "missing");
    const char *p = ct + sizeof type - 1;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        size_t nlen = (size_t)(p - name);
        while (nlen && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
            nlen--;
        if (*p != '=') {
            continue;
        }
        p++;
        char val[MULTIPART_BOUNDARY_MAX + 2];
        size_t vn = 0;
        bool quoted = *p == '"', too_long = false;
        if (quoted) {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (vn < sizeof val - 1)
                    val[vn++] = *p;
                else
                    too_long = true;
                p++;
            }
            if (*p != '"')
                return lerr_set(err, LERR_INVALID,
                                "Content-Type: a quoted parameter is not closed: %s", ct);
            p++;
        } else {
            while (*p && *p != ';' && *p != ' ' && *p != '\t') {
                if (vn < sizeof val - 1)
                    val[vn++] = *p;
                else
                    too_long = true;
                p++;
            }
        }
        val[vn] = '\0';
        if (nlen != 8 || strncasecmp(name, "boundary", 8) != 0)
            continue;
        bool ok = vn >= 1 && !too_long && vn <= MULTIPART_BOUNDARY_MAX && vn < cap &&
                  val[vn - 1] != ' ';
        for (size_t i = 0; ok && i < vn; i++)
            ok = bchar((unsigned char)val[i]);
        if (!ok)
            return lerr_set(err, LERR_INVALID,
                            "Content-Type: the multipart boundary must be 1 to %d characters "
                            "that RFC 2046 allows (letters, digits, '()+_,-./:=? ) and not end "
                            "in a space",
                            MULTIPART_BOUNDARY_MAX);
        memcpy(out, val, vn + 1);
        return 0;
    }
    return lerr_set(err, LERR_INVALID,
                    "Content-Type: multipart/form-data needs a boundary parameter "
                    "(multipart/form-data; boundary=...)");
}

void multipart_init(struct multipart *m, const char *boundary, const struct multipart_handler *h)
{
    memset(m, 0, sizeof *m);
    m->h = *h;
    m->dlen = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", boundary);
    m->state = MP_PREAMBLE;
    m->hold = malloc(MULTIPART_HEADERS_MAX + sizeof m->delim);
    m->cap = m->hold ? MULTIPART_HEADERS_MAX + sizeof m->delim : 0;
    /* The body is read as if it began with CRLF (see the top of the file). */
    if (m->hold) {
        memcpy(m->hold, "\r\n", 2);
        m->nhold = 2;
    }
}

void multipart_destroy(struct multipart *m)
{
    free(m->hold);
    m->hold = NULL;
}

static int fail(struct multipart *m, struct lerr *err, const char *fmt, ...) LS_PRINTF(3, 4);
static int fail(struct multipart *m, struct lerr *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    m->failed = true;
    return lerr_set(err, LERR_INVALID, "multipart/form-data body: %s", msg);
}

/* One quoted-string or token parameter value of a header, into out (cap bytes). */
static const char *param_value(const char *p, const char *end, char *out, size_t cap, size_t *outn,
                               bool *nul, bool *too_long)
{
    size_t n = 0;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (*p == '\0')
                *nul = true;
            if (n + 1 < cap)
                out[n++] = *p;
            else
                *too_long = true;
            p++;
        }
        if (p < end)
            p++; /* the closing quote */
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
            if (*p == '\0')
                *nul = true;
            if (n + 1 < cap)
                out[n++] = *p;
            else
                *too_long = true;
            p++;
        }
    }
    out[n] = '\0';
    *outn = n;
    return p;
}

/* Parses a part's header block [p, end) (lines without the final empty one). */
static int parse_headers(struct multipart *m, const char *p, const char *end,
                         struct multipart_part *part, struct lerr *err)
{
    memset(part, 0, sizeof *part);
    bool disposition = false;
    while (p < end) {
        const char *eol = p;
        while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
            eol++;
        if (eol + 1 >= end)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            return fail(m, err, "part %d: a header line without ':'", m->parts);
        size_t nlen = (size_t)(colon - p);
        if (nlen == 19 && strncasecmp(p, "Content-Disposition", 19) == 0) {
            disposition = true;
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if ((size_t)(eol - v) < 9 || strncasecmp(v, "form-data", 9) != 0)
                return fail(m, err, "part %d: Content-Disposition must be form-data", m->parts);
            v += 9;
            while (v < eol) {
                while (v < eol && (*v == ';' || *v == ' ' || *v == '\t'))
                    v++;
                const char *pn = v;
                while (v < eol && *v != '=' && *v != ';')
                    v++;
                size_t pl = (size_t)(v - pn);
                while (pl && (pn[pl - 1] == ' ' || pn[pl - 1] == '\t'))
                    pl--;
                if (v >= eol || *v != '=')
                    continue;
                v++;
                while (v < eol && (*v == ' ' || *v == '\t'))
                    v++;
                bool nul = false, too_long = false;
                char tmp[MULTIPART_NAME_MAX + 1];
                size_t tn = 0;
                v = param_value(v, eol, tmp, sizeof tmp, &tn, &nul, &too_long);
                bool is_file = pl == 8 && strncasecmp(pn, "filename", 8) == 0;
                bool is_name = pl == 4 && strncasecmp(pn, "name", 4) == 0;
                if (!is_file && !is_name)
                    continue;
                if (nul)
                    return fail(m, err, "part %d: its %s holds a NUL byte", m->parts,
                                is_file ? "filename" : "name");
                if (too_long)
                    return fail(m, err, "part %d: its %s is longer than %d bytes", m->parts,
                                is_file ? "filename" : "name", MULTIPART_NAME_MAX);
                if (is_file) {
                    memcpy(part->filename, tmp, tn + 1);
                    part->filename_len = tn;
                    part->has_filename = true;
                } else {
                    memcpy(part->name, tmp, tn + 1);
                }
            }
        }
        p = eol + 2;
    }
    if (!disposition)
        return fail(m, err, "part %d has no Content-Disposition header", m->parts);
    return 0;
}

int multipart_feed(struct multipart *m, const char *in, size_t n, struct lerr *err)
{
    if (m->failed)
        return lerr_set(err, LERR_INVALID, "multipart/form-data body: malformed");
    if (!m->hold)
        return lerr_set(err, LERR_NOMEM, "out of memory reading an upload");
    /* w = the held bytes that may start a delimiter (not a header block: that is
     * collected in hold itself) + the new ones. base: body offset of w[0]. */
    size_t carried = m->state == MP_HEADERS ? 0 : m->nhold;
    size_t wn = carried + n;
    char *w = malloc(wn ? wn : 1);
    if (!w)
        return lerr_set(err, LERR_NOMEM, "out of memory reading an upload");
    memcpy(w, m->hold, carried);
    memcpy(w + carried, in, n);
    if (carried)
        m->nhold = 0;
    uint64_t base = m->offset >= carried ? m->offset - carried : 0;
    m->offset += n;
    int rc = 0;
    size_t i = 0;
    while (i < wn && !rc) {
        switch (m->state) {
        case MP_PREAMBLE:
        case MP_BODY: {
            const char *d = memmem(w + i, wn - i, m->delim, m->dlen);
            size_t stop = d ? (size_t)(d - w) : wn;
            if (!d) {
                /* Hold back the longest suffix that could start a delimiter. */
                size_t keep = wn - i < m->dlen - 1 ? wn - i : m->dlen - 1;
                while (keep > 0 && memcmp(w + wn - keep, m->delim, keep) != 0)
                    keep--;
                stop = wn - keep;
            }
            if (m->state == MP_BODY && stop > i && m->h.data)
                rc = m->h.data(m->h.ctx, w + i, stop - i, err);
            if (rc)
                break;
            if (!d) {
                memcpy(m->hold, w + stop, wn - stop);
                m->nhold = wn - stop;
                i = wn;
                break;
            }
            if (m->state == MP_BODY && m->h.end && (rc = m->h.end(m->h.ctx, err)))
                break;
            i = stop + m->dlen;
            m->state = MP_AFTER;
            break;
        }
        case MP_AFTER: {
            size_t k = i;
            while (k < wn && (w[k] == ' ' || w[k] == '\t'))
                k++;
            if (k - i > 64) {
                rc = fail(m, err, "more than 64 spaces after the boundary at byte %llu",
                          (unsigned long long)(base + i));
                break;
            }
            if (wn - k < 2) {
                memcpy(m->hold, w + i, wn - i); /* wait for the next bytes */
                m->nhold = wn - i;
                i = wn;
                break;
            }
            if (k == i && w[k] == '-' && w[k + 1] == '-') {
                m->state = MP_END;
                i = wn;
            } else if (w[k] == '\r' && w[k + 1] == '\n') {
                m->state = MP_HEADERS;
                m->parts++;
                /* Headers collect from "\r\n" so an empty block ends at the first CRLF. */
                memcpy(m->hold, "\r\n", 2);
                m->nhold = 2;
                i = k + 2;
            } else {
                rc = fail(m, err,
                          "after the boundary at byte %llu: expected a line break or '--' "
                          "(the closing boundary)",
                          (unsigned long long)(base + i));
            }
            break;
        }
        case MP_HEADERS: {
            size_t before = m->nhold;
            size_t from = before >= 3 ? before - 3 : 0;
            size_t take = wn - i;
            if (before + take > MULTIPART_HEADERS_MAX + 2)
                take = MULTIPART_HEADERS_MAX + 2 - before;
            memcpy(m->hold + before, w + i, take);
            m->nhold = before + take;
            const char *end = memmem(m->hold + from, m->nhold - from, "\r\n\r\n", 4);
            if (!end) {
                if (m->nhold >= MULTIPART_HEADERS_MAX + 2)
                    rc = fail(m, err,
                              "part %d: its headers are longer than %d bytes (or never end "
                              "with an empty line)",
                              m->parts, MULTIPART_HEADERS_MAX);
                i = wn;
                break;
            }
            size_t used = (size_t)(end - m->hold) + 4; /* header bytes in hold */
            if (memchr(m->hold, '\0', used)) {
                rc = fail(m, err, "part %d: a NUL byte in its headers", m->parts);
                break;
            }
            struct multipart_part part;
            rc = parse_headers(m, m->hold + 2, end, &part, err);
            if (!rc && m->h.begin)
                rc = m->h.begin(m->h.ctx, &part, err);
            i += used - before; /* the rest of w is the part's data */
            m->nhold = 0;
            m->state = MP_BODY;
            break;
        }
        default: /* MP_END: the epilogue is ignored */ i = wn;
        }
    }
    free(w);
    if (rc)
        m->failed = true;
    return rc;
}

int multipart_finish(struct multipart *m, struct lerr *err)
{
    if (m->failed)
        return lerr_set(err, LERR_INVALID, "multipart/form-data body: malformed");
    if (m->state == MP_END)
        return 0;
    if (m->state == MP_PREAMBLE)
        return fail(m, err,
                    "no boundary line '--%s' found in %llu bytes; is the boundary "
                    "in the Content-Type the one the body uses?",
                    m->delim + 4, (unsigned long long)m->offset);
    return fail(m, err,
                "the body ends at byte %llu inside part %d, before the closing "
                "boundary '--%s--': the upload was cut short; send it again",
                (unsigned long long)m->offset, m->parts, m->delim + 4);
}
