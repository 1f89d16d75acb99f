/*
 * intervals.c — ingest_check_intervals(): a replace job's target.intervals
 * against a table's partitioningGranularity. Called by the pipeline (their
 * syntax), the API (before storing a job) and batch jobs (before replacing).
 */
#include <jansson.h>
#include <stdio.h>

#include "ingest/ingest.h"
#include "storage/storage.h"
#include "util/time.h"

int ingest_check_intervals(struct json_t *intervals, int gran, int64_t *out, struct lerr *err)
{
    enum storage_gran g = (enum storage_gran)gran;
    for (size_t i = 0; i < json_array_size(intervals); i++) {
        json_t *e = json_array_get(intervals, i);
        char t[64];
        snprintf(t, sizeof t, "target.intervals[%zu]", i);
        int64_t a, b, ca, cb;
        struct lerr ie;
        lerr_init(&ie);
        if (!json_is_string(e) ||
            time_interval_parse(json_string_value(e), json_string_length(e), &a, &b, &ie))
            return lerr_set_at(err, LERR_INVALID, t, "%s: %s", t,
                               ie.code ? ie.msg : "expected a string \"start/end\"");
        if (gran >= 0 && g == STORAGE_GRAN_ALL)
            return lerr_set_at(err, LERR_INVALID, t,
                               "%s: the table's partitioningGranularity is 'all', one chunk "
                               "for all time; omit intervals to replace the whole table",
                               t);
        if (gran >= 0 && !storage_gran_aligned(g, a, b, &ca, &cb)) {
            char fa[32], fb[32];
            util_format_iso_ms(ca, fa);
            util_format_iso_ms(cb, fb);
            return lerr_set_at(err, LERR_INVALID, t,
                               "%s: '%s' does not cover whole %s time chunks (the table's "
                               "partitioningGranularity); use e.g. '%s/%s'",
                               t, json_string_value(e), storage_gran_name(g), fa, fb);
        }
        if (out) {
            out[2 * i] = a;
            out[2 * i + 1] = b;
        }
    }
    return 0;
}
