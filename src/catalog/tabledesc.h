/*
 * tabledesc.h — a table as the engine needs it (storage/db.h's describe
 * callback), from the catalog: its id, its schema as storage columns, and the
 * segment files the catalog knows; and the one change the data path makes to
 * a table's description, adding columns (catalog_table_add_columns).
 */
#ifndef LODESTAR_CATALOG_TABLEDESC_H
#define LODESTAR_CATALOG_TABLEDESC_H

#include "storage/db.h"

struct catalog;

/*
 * storage_db_describe_fn over a struct catalog *: LERR_NOT_FOUND for no such
 * table, LERR_CORRUPT for an unreadable entry, LERR_INVALID for a column
 * whose type storage cannot hold (naming it).
 */
int catalog_describe_table(void *cat, const char *name, bool with_segments, struct arena *mem,
                           struct storage_table_desc *out, struct lerr *err);

/* A column a job adds to a flexible table (schema discovery, new mappings). */
struct catalog_new_column {
    const char *name;
    const char *data_type; /* "string", "long", ..., or a measure type ("longSum") */
    bool measure;
    const char *mv_handling; /* a multi-value string's multiValueHandling, or NULL */
};

/*
 * Appends columns to a table's schema in one catalog update (the table's
 * writer lock is held by the caller, so no API change races it).
 * LERR_NOT_FOUND, LERR_CORRUPT (an unreadable entry), the catalog's errors.
 */
int catalog_table_add_columns(struct catalog *cat, const char *table,
                              const struct catalog_new_column *cols, size_t n, struct lerr *err);

#endif
