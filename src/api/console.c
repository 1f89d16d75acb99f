/*
 * console.c — the web console at /console: the files of web/console/,
 * embedded in the binary at build time (scripts/embed_console.py writes
 * them into build/gen/api/console_assets.c as api__console_assets), served
 * without a key. The page itself holds no data: every call it makes goes to
 * the public REST API with the user's key (README "Web console").
 *
 *   GET /console, /console/   index.html
 *   GET /console/<path>       the file web/console/<path>; 404 otherwise
 *   HEAD                      the same headers, no body
 *   other methods             405
 *
 * Caching: files under vendor/ carry their version in their name and are
 * cached for a year; the others are revalidated on each load (no-cache)
 * against a strong ETag (their SHA-256), answered 304 when unchanged. Every
 * answer forbids MIME sniffing and framing; HTML pages also carry a Content
 * Security Policy that allows only this origin (no inline script, no
 * network other than the API).
 *
 * Entry point: api__console_serve() (called by server.c's dispatch before
 * authentication, as the /health and /ready probes are).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

#define PREFIX "/console"

/* What the console's own page may load and where it may connect: this origin
 * only. style-src allows inline styles because uPlot and CodeMirror position
 * their elements with style attributes. */
static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static const struct api__console_asset *find(const char *path)
{
    for (size_t i = 0; i < api__console_nassets; i++)
        if (strcmp(api__console_assets[i].path, path) == 0)
            return &api__console_assets[i];
    return NULL;
}

static void header(struct api_req *r, const char *name, const char *value)
{
    for (size_t i = 0; i < LS_ARRAY_LEN(r->headers); i++)
        if (!r->headers[i].name) {
            r->headers[i].name = name;
            snprintf(r->headers[i].value, sizeof r->headers[i].value, "%s", value);
            return;
        }
}

/* A plain-text answer (the page's own errors are for a person at a browser). */
static void text(struct api_req *r, int status, const char *msg)
{
    size_t n = strlen(msg);
    r->text = malloc(n + 1);
    if (!r->text) {
        r->status = 500;
        return;
    }
    memcpy(r->text, msg, n + 1);
    r->text_len = n;
    r->content_type = "text/plain; charset=utf-8";
    r->status = status;
}

/* True when the If-None-Match list names etag (or is "*"). */
static bool etag_matches(const char *list, const char *etag)
{
    if (!list)
        return false;
    size_t n = strlen(etag);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2; /* a weak comparison is what If-None-Match asks for */
        if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

bool api__console_serve(struct api_req *r)
{
    size_t plen = strlen(PREFIX);
    if (strncmp(r->url, PREFIX, plen) != 0 || (r->url[plen] != '\0' && r->url[plen] != '/'))
        return false;
    header(r, "X-Content-Type-Options", "nosniff");
    header(r, "X-Frame-Options", "DENY");
    header(r, "Referrer-Policy", "no-referrer");
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        header(r, "Allow", "GET, HEAD");
        text(r, 405, "the console's files are read with GET\n");
        return true;
    }
    const char *path = r->url + plen;
    if (*path == '/')
        path++;
    if (*path == '\0')
        path = "index.html";
    const struct api__console_asset *a = find(path);
    if (!a) {
        char msg[600];
        snprintf(msg, sizeof msg, "no console file %.400s; the console starts at " PREFIX "/\n",
                 r->url);
        text(r, 404, msg);
        return true;
    }
    header(r, "Cache-Control", a->versioned ? "public, max-age=31536000, immutable" : "no-cache");
    header(r, "ETag", a->etag);
    if (strncmp(a->content_type, "text/html", 9) == 0)
        header(r, "Content-Security-Policy", csp);
    if (etag_matches(r->if_none_match, a->etag)) {
        text(r, 304, "");
        return true;
    }
    r->text = malloc(a->len ? a->len : 1);
    if (!r->text) {
        r->status = 500;
        return true;
    }
    memcpy(r->text, a->data, a->len);
    r->text_len = a->len;
    r->content_type = a->content_type;
    r->status = 200;
    return true;
}
