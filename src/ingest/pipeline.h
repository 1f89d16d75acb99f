/*
 * pipeline.h — the row pipeline: from records to table rows.
 *
 * The row pipeline (pipeline.c) turns a batch of records into a columnar
 * batch for the target table and tells what happened to every record:
 * parse (format/), filter, mappings (sql/), late/early rejection, coercion
 * into the table's column types. Counters per outcome and reason, and a
 * ring of the last rejected records, are kept per pipeline.
 *
 * Entry points:
 *   pipeline_new() / pipeline_free()   compile a job spec once
 *   pipeline_validate()                the API's check of a spec's expressions
 *   pipeline_process()                 one batch of records, with the batch's tally
 *   pipeline_tally_*()                 counts and rejections: a batch's, or a job's totals
 *
 * Thread-safety: a pipeline is used by one thread at a time (a streaming
 * job's fetcher, a batch job's runner, a preview). It keeps no counts: each
 * batch's outcome comes back in a tally the caller gives, and the job adds
 * it to the totals it owns (and locks) when the batch's rows are appended,
 * so counters saved with a persist never count rows the persist does not
 * hold.
 */
#ifndef LODESTAR_INGEST_PIPELINE_H
#define LODESTAR_INGEST_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/spec.h"
#include "format/format.h"
#include "source/source.h"
#include "sql/sql.h"
#include "util/util.h"

/* ---- outcomes and counters ------------------------------------------------ */

enum pipeline_outcome {
    PIPE_PROCESSED,
    PIPE_PROCESSED_WITH_WARNINGS,
    PIPE_SKIPPED_BY_FILTER,
    PIPE_SKIPPED_BY_ERROR,
};

/* Why a row was filtered or rejected, or warned about. */
#define PIPE_REASON_MAP(X)         \
    X(PIPE_R_NONE, "none")         \
    X(PIPE_R_FILTER, "filter")     \
    X(PIPE_R_LATE, "late")         \
    X(PIPE_R_EARLY, "early")       \
    X(PIPE_R_PARSE, "parse")       \
    X(PIPE_R_TIME, "time")         \
    X(PIPE_R_MAPPING, "mapping")   \
    X(PIPE_R_COERCE, "coercion")   \
    X(PIPE_R_GAP, "gap")           \
    X(PIPE_R_SCHEMA, "schema")     \
    X(PIPE_R_INTERVAL, "interval") \
    X(PIPE_R_CORRUPT, "corrupt")

enum pipeline_reason {
#define PIPE_REASON_ENUM(e, name) e,
    PIPE_REASON_MAP(PIPE_REASON_ENUM)
#undef PIPE_REASON_ENUM
        PIPE_R__COUNT
};
const char *pipeline_reason_name(int reason);
const char *pipeline_outcome_name(int outcome); /* "processed", ... as Druid names them */

struct pipeline_counters {
    uint64_t processed;
    uint64_t processed_with_warnings;
    uint64_t skipped_by_filter;
    uint64_t skipped_by_error;
    uint64_t by_reason[PIPE_R__COUNT];
    int64_t newest_event_ms; /* latest __time ingested, INT64_MIN before any */
};

#define PIPE_RING 100
#define PIPE_RAW_MAX 1024

struct pipeline_rejection {
    int32_t partition;
    int64_t offset;
    uint8_t outcome; /* enum pipeline_outcome */
    uint8_t reason;  /* enum pipeline_reason */
    int64_t at_ms;   /* when it was seen */
    char message[512];
    char raw[PIPE_RAW_MAX + 1]; /* the record, cut at 1 KB */
    bool raw_cut;
    /* a type widening under schema discovery (pipeline_tally_widening): the
     * column and its old and new type (enum sql_type); column[0] == 0: none */
    char column[256];
    uint8_t from_type, to_type;
};

/*
 * Counts by outcome and reason, and the last PIPE_RING rejections (oldest
 * first in a ring): of one batch (pipeline_process fills it), or of a job so
 * far (the sum of its batches' tallies, restored after a restart). Plain
 * data: whoever shares one locks it.
 */
struct pipeline_tally {
    struct pipeline_counters c;
    uint32_t ring_next, ring_count;
    struct pipeline_rejection ring[PIPE_RING];
};

/* Empty: zero counts, newest_event_ms INT64_MIN, no rejections. */
void pipeline_tally_init(struct pipeline_tally *t);
/* Adds from's counts and appends its rejections, in order, to `to`'s ring. */
void pipeline_tally_add(struct pipeline_tally *to, const struct pipeline_tally *from);
/* Adds saved counters (a restarted job continues its totals). */
void pipeline_tally_add_counts(struct pipeline_tally *to, const struct pipeline_counters *c);
/* The last rejections, oldest first, into out[0..cap); returns how many. */
size_t pipeline_tally_rejections(const struct pipeline_tally *t, struct pipeline_rejection *out,
                                 size_t cap);
/* Puts saved rejections (oldest first) back into the ring. */
void pipeline_tally_restore(struct pipeline_tally *t, const struct pipeline_rejection *rej,
                            size_t n);
/* Records an event that is not about one row (an offset gap, a field whose type
 * changed under a column that keeps its own) in the ring. */
void pipeline_tally_note(struct pipeline_tally *t, enum pipeline_reason reason, int32_t partition,
                         int64_t offset, const char *fmt, ...) LS_PRINTF(5, 6);

/* Records a type widening of `column` (from -> to), caused by the record at
 * partition/offset, in the ring: a warning that is not a row's outcome. */
void pipeline_tally_widening(struct pipeline_tally *t, int32_t partition, int64_t offset,
                             const char *column, int from, int to);

/* ---- the pipeline ---------------------------------------------------------- */

struct pipeline;

/* One column of the output batch. */
struct pipeline_column {
    const char *name;
    uint8_t type; /* enum sql_type of the values */
    bool measure;
    /* measures: the column's measure type ("longSum": the table's, or for a
     * new column the one its aggregation gets, sql_agg_measure_default) and
     * that type's stored aggregator (sql_agg_for_measure), whose states the
     * rows carry: storage merges them with the same aggregator */
    const char *measure_type;
    const struct sql_agg_call *agg;
    size_t state_size;
    int storage_col; /* set by the caller (runner); -1 = none yet */
    /* a multi-value string column of the table (type ARRAY): its values are
     * made lists and ordered by mv_handling (enum storage_mv_handling) */
    bool multi_value;
    uint8_t mv_handling;
    /* a typed ARRAY column (type ARRAY): its element type (STRING, LONG or
     * DOUBLE); values are made arrays of it, element by element, with a
     * warning for an element that does not convert; SQL_NULL otherwise */
    uint8_t elem;
    /* an identity column of a discovered field (a new column, or one the
     * table has as "discovered"): only these widen */
    bool discovered;
    /* set when discovery widened the column's type (LONG -> DOUBLE, numbers ->
     * STRING); the runner widens the table's column (catalog first, then
     * storage) before the batch is appended, and clears it */
    bool widened;
    uint8_t widened_from;    /* the type before (set with widened) */
    int32_t widen_partition; /* the record that caused the last widening (-1: none) */
    int64_t widen_offset;
};

/*
 * The most memory one row may take from the batch arena (parsing, the
 * filter, the mappings, its values), or an eighth of the arena's cap when
 * that is smaller. A row that needs more is skippedByError (reason
 * mapping, or parse / coercion by where it ran out) and the memory it took
 * is given back; the batch goes on.
 */
#define PIPE_ROW_MEM_MAX (32u << 20)

/*
 * The table a pipeline writes to, as the catalog describes it (the table
 * document's type, schemaMode and schema); NULL columns = a table that does
 * not exist yet (a preview with createTableIfNotExists).
 */
struct pipeline_table_col {
    const char *name;
    uint8_t type; /* enum sql_type; measures: their result type */
    bool measure;
    const char *measure_type; /* "longSum", ... (measures) */
};
struct pipeline_table {
    bool aggregate;
    bool strict;
    const struct pipeline_table_col *cols;
    size_t ncols;
    /* per column: a multi-value string's (type ARRAY) enum storage_mv_handling;
     * NULL: SORTED_ARRAY for every one */
    const uint8_t *mv_handling;
    /* per column: a typed ARRAY column's element type (ARRAY<LONG>: SQL_LONG),
     * else SQL_NULL; NULL: no typed arrays */
    const uint8_t *elem;
    /* per column: added by schema discovery ("discovered" in the catalog), so
     * discovery may widen its type; NULL: every column was declared */
    const bool *discovered;
    /* per column: a measure's stored aggregator, with a sketch column's
     * parameters (lgK, tgtHllType, size, k); NULL entries (or array): the
     * measure type's defaults */
    const struct sql_agg_call *const *aggs;
};

/*
 * Builds the table description from the catalog's parsed table
 * (catalog/spec.h); the columns array from `mem`, names borrowed from t.
 * NULL t = the table does not exist yet.
 */
int pipeline_table_from_spec(const struct table_spec *t, struct arena *mem,
                             struct pipeline_table *out, struct lerr *err);

struct pipeline_opts {
    const struct job_spec *spec; /* the job's parsed spec; borrowed only by pipeline_new */
    const struct pipeline_table *table;
    int64_t now_ms; /* job start: CURRENT_TIMESTAMP and late/early bounds */
    /* the schema registry client of a format that reads one (avro_stream with a
     * connection: ingest_registry_open()); borrowed, must outlive the pipeline.
     * NULL: such records are skippedByError. */
    struct format_registry *registry;
};

/*
 * Compiles a job spec: the format parser, the filter and every mapping.
 * Errors are LERR_INVALID with err->target naming the field
 * ("mappings[2].expression", "filterExpression", "source.formatSettings")
 * and a message with line and column; LERR_NOMEM.
 */
int pipeline_new(const struct pipeline_opts *o, struct pipeline **out, struct lerr *err);
void pipeline_free(struct pipeline *p);
/* Compiles and frees: what the API calls before it stores a job. */
int pipeline_validate(const struct pipeline_opts *o, struct lerr *err);

/* The output columns now (they grow when discovery finds new fields). */
size_t pipeline_ncolumns(const struct pipeline *p);
/* Whether the job's format reads Kafka headers (source_kafka_config.headers). */
bool pipeline_reads_headers(const struct pipeline *p);
struct pipeline_column *pipeline_column(struct pipeline *p, size_t i);

/*
 * The result of one batch: nrows output rows; time[r] is __time of row r;
 * values[c][r] (dimensions) or states[c] + r * state_size (measures) the
 * value of column c. ncols is the number of columns the batch has (columns
 * added by discovery during the batch are NULL in its earlier rows).
 * Everything lives in the arena given to pipeline_process.
 */
struct pipeline_out {
    uint32_t nrows;
    uint32_t ncols;
    int64_t *time;
    struct sql_value **values;
    uint8_t **states;
    uint32_t cap; /* private */
};

/* Called once per produced or rejected row, when given (previews). */
struct pipeline_row_info {
    const struct record *rec;
    const struct format_row *input; /* NULL when the record did not parse */
    enum pipeline_outcome outcome;
    enum pipeline_reason reason;
    const char *message; /* NULL when processed cleanly */
    int64_t out_row;     /* index in pipeline_out, or -1 */
};
typedef void (*pipeline_observer)(void *ctx, const struct pipeline_row_info *info);

/*
 * Runs records[0..n) through the pipeline into *out (memory from `mem`,
 * which the caller resets per batch), and tells what happened to every
 * record in *batch (emptied first). Each record is one text for the
 * format's splitter (a Kafka message or a pushed line). Bad records are
 * counted and sampled, never stop the batch: a record that cannot be
 * parsed, a row whose mappings need more than PIPE_ROW_MEM_MAX, a record
 * whose discovered fields would take the table past its column limit
 * (STORAGE_MAX_COLUMNS) are each skippedByError. Returns 0, or LERR_NOMEM
 * when `mem` ran out for the batch as a whole (its rows together outgrew
 * the arena's cap, or malloc failed): the batch is then incomplete and
 * nothing of it, its tally included, should be used. LERR_UNAVAILABLE
 * likewise when a record could not be parsed for now (its schema registry
 * did not answer; err says why): nothing of the batch counts, and the same
 * records must be processed again later — none may be skipped.
 */
int pipeline_process(struct pipeline *p, const struct record *records, size_t n, struct arena *mem,
                     struct pipeline_out *out, struct pipeline_tally *batch, pipeline_observer obs,
                     void *obs_ctx, struct lerr *err);

/* The input schema the expressions are bound against (declared, metadata, discovered). */
size_t pipeline_input_schema(const struct pipeline *p, struct sql_field *out, size_t cap);

#endif
