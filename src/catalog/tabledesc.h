/*
 * tabledesc.h — a table as the engine needs it (storage/db.h's describe
 * callback), from the catalog: its id, its schema as storage columns, and the
 * segment files the catalog knows; and the one change the data path makes to
 * a table's description: adding columns (catalog_table_add_columns) and
 * widening a discovered column's type (catalog_table_widen_column).
 */
#ifndef LODESTAR_CATALOG_TABLEDESC_H
#define LODESTAR_CATALOG_TABLEDESC_H

#include "storage/db.h"

struct catalog;
struct sql_agg_call;

/*
 * storage_db_describe_fn over a struct catalog *: LERR_NOT_FOUND for no such
 * table, LERR_CORRUPT for an unreadable entry, LERR_INVALID for a column
 * whose type storage cannot hold (naming it).
 */
int catalog_describe_table(void *cat, const char *name, bool with_segments, struct arena *mem,
                           struct storage_table_desc *out, struct lerr *err);

/*
 * The same for a node of a shared catalog (ctx: a struct catalog_node_desc):
 * the segments other nodes committed are known but deferred
 * (storage_table_desc.known_deferred), so that opening a table downloads
 * only those this node committed (it compacts them); a query reads the
 * others each on the node that serves it. Before the node has an id
 * (node_id answers ""), every segment is deferred.
 */
struct catalog_node_desc {
    struct catalog *cat;
    const char *(*node_id)(const void *arg);
    const void *arg;
};
int catalog_describe_table_node(void *ctx, const char *name, bool with_segments, struct arena *mem,
                                struct storage_table_desc *out, struct lerr *err);

/* A column a job adds to a flexible table (schema discovery, new mappings). */
struct catalog_new_column {
    const char *name;
    const char *data_type; /* "string", "long", ..., or a measure type ("longSum") */
    bool measure;
    /* a measure's stored aggregator: a sketch column's parameters (lgK,
     * tgtHllType, size, k) are written into the schema from it; may be NULL */
    const struct sql_agg_call *agg;
    bool discovered;         /* made by schema discovery: recorded, so that it may widen later */
    const char *mv_handling; /* a multi-value string's multiValueHandling, or NULL */
};

/*
 * Appends columns to a table's schema in one catalog update (the table's
 * writer lock is held by the caller, so no API change races it).
 * LERR_NOT_FOUND, LERR_CORRUPT (an unreadable entry), the catalog's errors.
 */
int catalog_table_add_columns(struct catalog *cat, const char *table,
                              const struct catalog_new_column *cols, size_t n, struct lerr *err);

/* A widening of a discovered column under schema discovery: the new dataType
 * and what caused it (the job, and the record's partition and offset; -1:
 * unknown). */
struct catalog_widening {
    const char *column;
    const char *data_type; /* "double", "string" */
    const char *job_id;    /* NULL: none */
    int32_t partition;
    int64_t offset;
};

/*
 * Changes a discovered column's dataType to w->data_type in one durable
 * catalog update (the table's writer lock is held by the caller), and appends
 * {"from", "to", "jobId", "partition", "offset", "timestamp"} to the column's
 * "typeChanges", so the cause outlives the job's logs. LERR_NOT_FOUND for no
 * such table or column, LERR_INVALID for a column the user declared (not
 * "discovered"), LERR_CORRUPT, the catalog's errors.
 */
int catalog_table_widen_column(struct catalog *cat, const char *table,
                               const struct catalog_widening *w, struct lerr *err);

#endif
