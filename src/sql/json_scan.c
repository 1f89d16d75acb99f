/*
 * json_scan.c — the small validating JSON scanner under the JSON functions
 * (func_json.c) and the JSON text of values (value.c): skip blanks, find
 * where a string or a value ends (validating it), check a whole text, and
 * decode a string token. It reads text in place and allocates nothing.
 *
 * Entry points: sql_json_valid(), sql_json_ws(), sql_json_scan_string(),
 * sql_json_scan_value(), sql_json_unescape().
 */
#include "sql/sql_int.h"

#include <string.h>

#define MAX_DEPTH 256

/* ---- scanner --------------------------------------------------------------------- */

const char *sql_json_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexv(char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
        return h - 'A' + 10;
    return -1;
}

/* p at '"': returns the end (after the closing quote) or NULL. */
const char *sql_json_scan_string(const char *p, const char *e, bool *escaped)
{
    p++;
    while (p < e) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"')
            return p + 1;
        if (ch < 0x20)
            return NULL;
        if (ch == '\\') {
            if (escaped)
                *escaped = true;
            if (p + 1 >= e)
                return NULL;
            char x = p[1];
            if (x == 'u') {
                if (p + 5 >= e)
                    return NULL;
                for (int i = 2; i < 6; i++)
                    if (hexv(p[i]) < 0)
                        return NULL;
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", x))
                return NULL;
            p += 2;
            continue;
        }
        p++;
    }
    return NULL;
}

static const char *scan_number(const char *p, const char *e)
{
    if (p < e && *p == '-')
        p++;
    if (p >= e)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

/* p at a value (no leading blanks): returns its end, or NULL if invalid. */
const char *sql_json_scan_value(const char *p, const char *e, int depth)
{
    if (p >= e || depth > MAX_DEPTH)
        return NULL;
    switch (*p) {
    case '"': return sql_json_scan_string(p, e, NULL);
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = sql_json_ws(p + 1, e);
        if (p < e && *p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                if (p >= e || *p != '"' || !(p = sql_json_scan_string(p, e, NULL)))
                    return NULL;
                p = sql_json_ws(p, e);
                if (p >= e || *p != ':')
                    return NULL;
                p = sql_json_ws(p + 1, e);
            }
            if (!(p = sql_json_scan_value(p, e, depth + 1)))
                return NULL;
            p = sql_json_ws(p, e);
            if (p < e && *p == ',') {
                p = sql_json_ws(p + 1, e);
                continue;
            }
            if (p < e && *p == close)
                return p + 1;
            return NULL;
        }
    }
    case 't': return e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return scan_number(p, e);
    }
}

bool sql_json_valid(const char *p, size_t n)
{
    const char *e = p + n;
    const char *q = sql_json_ws(p, e);
    q = sql_json_scan_value(q, e, 0);
    return q && sql_json_ws(q, e) == e;
}

/* Decodes a JSON string token [p, end) into o (capacity >= token length);
 * returns the length. */
size_t sql_json_unescape(const char *p, const char *end, char *o)
{
    size_t k = 0;
    for (p++, end--; p < end; p++) {
        if (*p != '\\') {
            o[k++] = *p;
            continue;
        }
        char x = *++p;
        switch (x) {
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            uint32_t cp = 0;
            for (int i = 1; i <= 4; i++)
                cp = cp * 16 + (uint32_t)hexv(p[i]);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 7 && p[1] == '\\' && p[2] == 'u') {
                uint32_t lo = 0;
                for (int i = 3; i <= 6; i++)
                    lo = lo * 16 + (uint32_t)(hexv(p[i]) < 0 ? 0 : hexv(p[i]));
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp < 0x80) {
                o[k++] = (char)cp;
            } else if (cp < 0x800) {
                o[k++] = (char)(0xC0 | (cp >> 6));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                o[k++] = (char)(0xE0 | (cp >> 12));
                o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            } else {
                o[k++] = (char)(0xF0 | (cp >> 18));
                o[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: o[k++] = x; break;
        }
    }
    return k;
}
