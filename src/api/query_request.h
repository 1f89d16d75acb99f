/*
 * query_request.h — the body of POST /v1/query/sql, an API document, read
 * into the query engine's typed request (query/query.h). A header of its
 * own, as multipart.h, so that the unit tests of queries (tests/unit/
 * test_query.c) can read request bodies without the HTTP server.
 *
 * Entry points: api_query_request_parse(), api_query_request_parse_druid().
 */
#ifndef LODESTAR_API_QUERY_REQUEST_H
#define LODESTAR_API_QUERY_REQUEST_H

#include <stddef.h>

#include "query/query.h"
#include "util/util.h"

/*
 * Parses a Druid SQL request body {"query", "resultFormat", "header",
 * "typesHeader", "sqlTypesHeader", "parameters": [{"type","value"}],
 * "context": {"timeout", "sqlTimeZone", "sqlQueryId", "maxQueryBytes",
 * "allowPartialResults", ...}} into *req, which it first resets with
 * query_request_init() (strings and parameter values are allocated from
 * `mem`, which must outlive req). Unknown top-level fields are rejected
 * (API.md); unknown context keys are accepted and ignored, as Druid ignores
 * the ones it does not use. Parameter types are SQL names (VARCHAR, BIGINT,
 * INTEGER, DOUBLE, FLOAT, REAL, DECIMAL, BOOLEAN, TIMESTAMP, DATE); a
 * TIMESTAMP value is "2000-01-02 03:04:05", ISO-8601, or epoch ms. Errors:
 * LERR_INVALID with err->target naming the field ("parameters[1].type"),
 * LERR_NOMEM. Thread-safe (no shared state).
 */
int api_query_request_parse(const char *body, size_t len, struct query_request *req,
                            struct arena *mem, struct lerr *err);

/*
 * The same for POST /druid/v2/sql, which follows Druid where /v1/query/sql
 * does not: context.sqlOuterLimit (a whole number >= 1) caps the rows
 * returned (req->outer_limit); /v1 ignores it as an unknown key.
 */
int api_query_request_parse_druid(const char *body, size_t len, struct query_request *req,
                                  struct arena *mem, struct lerr *err);

#endif
