/*
 * request.c — the Druid SQL request's defaults and result format names. The
 * JSON body of POST /v1/query/sql is read into a struct query_request by the
 * API (api/query_request.c): query/ takes the typed request, never the
 * document.
 *
 * Entry points: query_request_init(), query_format_parse().
 */
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

static const char *const formats[] = {"object", "array", "objectLines", "arrayLines", "csv"};

int query_format_parse(const char *s, size_t n)
{
    for (size_t i = 0; i < LS_ARRAY_LEN(formats); i++)
        if (strlen(formats[i]) == n && strncasecmp(formats[i], s, n) == 0)
            return (int)i;
    return -1;
}

void query_request_init(struct query_request *req)
{
    memset(req, 0, sizeof *req);
    req->format = QUERY_FORMAT_OBJECT;
    req->timeout_ms = QUERY_DEFAULT_TIMEOUT_MS;
    req->max_bytes = 0; /* the default budget: QUERY_DEFAULT_MAX_BYTES or the server's limit */
    req->approx_count_distinct = true;
    req->approx_top_n = true;
}
