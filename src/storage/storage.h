/*
 * storage.h — tables on disk (DESIGN.md §5): realtime buffers per time chunk
 * (rollup on arrival for aggregate tables), immutable columnar segment files,
 * persist with a caller-supplied commit, compaction, start-up validation, and
 * the read API the query engine scans.
 *
 * Entry points:
 *   storage_table_open() / storage_table_free()    a table's data directory
 *   storage_table_add_column()                     schema discovery (flexible)
 *   storage_table_widen_column()                   type widening under discovery
 *   storage_table_append()                         a batch from the row pipeline
 *   storage_table_should_persist() + storage_table_persist()
 *   storage_table_compact()                        background merge of a chunk
 *   storage_table_snapshot() + storage_scan_*()    reads
 *   storage_table_status(), storage_table_drop_data()
 *
 * Threads: one writer per table (the job runner) calls append, add_column and
 * persist, never two of them at once; compaction may run at the same time on
 * another thread; any number of readers take snapshots and scan them at any
 * time. A snapshot sees every row whose append returned before it was taken,
 * and nothing of appends that come after. Snapshots are immutable and may be
 * shared by the threads of one query; scans are per thread.
 *
 * Columns: column 0 of every table is `__time` (TIMESTAMP, ms). Dimensions are
 * STRING, LONG, FLOAT, DOUBLE, JSON, TIMESTAMP (stored as a long) or ARRAY: a
 * multi-value string (Druid's multi-value dimension), whose rows each hold a
 * list of strings, stored through the dictionary (storage_mv_* below), or a
 * typed array (Druid's ARRAY<STRING|LONG|DOUBLE>, storage_array_*). Measures
 * (aggregate tables) hold an aggregator state per row, merged on rollup and
 * read either finalized (SUM → its value) or as states (for re-aggregation).
 * A column a segment or an older row does not have reads as NULL.
 *
 * Durability: rows live in memory until persist writes them to segment files
 * and the caller's commit callback records those files (and the job's stream
 * offsets) in the catalog in one transaction. Files the catalog does not know
 * are removed at the next open, so a crash anywhere loses nothing that was
 * committed and keeps nothing that was not.
 */
#ifndef LODESTAR_STORAGE_H
#define LODESTAR_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sql/sql.h"
#include "util/util.h"

/* ---- granularities ------------------------------------------------------ */

/* partitioningGranularity (HOUR..ALL) and timeResolution (MILLISECOND..DAY). */
enum storage_gran {
    STORAGE_GRAN_MILLISECOND,
    STORAGE_GRAN_SECOND,
    STORAGE_GRAN_MINUTE,
    STORAGE_GRAN_FIFTEEN_MINUTE,
    STORAGE_GRAN_HOUR,
    STORAGE_GRAN_DAY,
    STORAGE_GRAN_WEEK, /* ISO weeks: Monday 00:00 UTC */
    STORAGE_GRAN_MONTH,
    STORAGE_GRAN_YEAR,
    STORAGE_GRAN_ALL
};

/* "hour", "fifteen_minute", ... (case-insensitive); -1 when unknown. */
int storage_gran_parse(const char *s, size_t n);
const char *storage_gran_name(enum storage_gran g);
/* Start of the bucket holding t, in UTC (ALL: INT64_MIN). */
int64_t storage_gran_floor(enum storage_gran g, int64_t t);
/* Start of the bucket after the one starting at `start` (ALL: INT64_MAX). */
int64_t storage_gran_next(enum storage_gran g, int64_t start);
/* Whether [start, end) is whole buckets (never for ALL); *cover_* get the
 * smallest whole-bucket interval holding it, to suggest. */
bool storage_gran_aligned(enum storage_gran g, int64_t start, int64_t end, int64_t *cover_start,
                          int64_t *cover_end);

/* ---- schema ------------------------------------------------------------- */

enum storage_table_type { STORAGE_DETAIL, STORAGE_AGGREGATE };
enum storage_col_kind { STORAGE_DIMENSION, STORAGE_MEASURE };

#define STORAGE_MAX_COLUMNS 4096
#define STORAGE_MAX_NAME 255

/*
 * One column. `type` is the SQL type values are read back as: for
 * dimensions STRING, LONG, FLOAT, DOUBLE, JSON, TIMESTAMP or ARRAY; for measures the
 * aggregator's result_type (set by storage from `agg`). `agg` (measures only)
 * describes the aggregator; storage copies it and never evaluates its
 * expressions (args and filter are dropped), so sql_agg_for_measure() or the
 * job's mapping call are both fine.
 */
struct storage_column {
    const char *name; /* NUL-terminated; storage copies it */
    uint8_t type;     /* enum sql_type */
    uint8_t kind;     /* enum storage_col_kind */
    /* ARRAY dimensions: SQL_NULL for a multi-value string, else the element
     * type of a typed ARRAY column (Druid's ARRAY<STRING>, ARRAY<LONG>,
     * ARRAY<DOUBLE>: SQL_STRING, SQL_LONG or SQL_DOUBLE; storage_array_*
     * below). Stored in segments. */
    uint8_t elem;
    struct sql_agg_call agg;
};

/*
 * Multi-value strings. A row's values are one list, kept in the order given
 * (the row pipeline applies the column's multiValueHandling: sorted by
 * default), as one dictionary entry: rollup keys on the whole list, and a
 * filter on one value is the
 * union of the bitmaps of the lists that hold it (evaluated once per
 * dictionary entry, as every string filter is). The entry's bytes are the
 * elements one after another, each a u32 little-endian length (0xffffffff:
 * a NULL element, no bytes) and its bytes. A row with no values ([] or
 * NULL) is the NULL id.
 */
enum storage_mv_handling {
    STORAGE_MV_SORTED_ARRAY, /* Druid's default: sorted, duplicates kept */
    STORAGE_MV_SORTED_SET,   /* sorted, duplicates dropped */
    STORAGE_MV_ARRAY         /* as ingested */
};
#define STORAGE_MV_NULL_ELEM 0xffffffffu
/* Most elements of one row's list, and most bytes of its entry: a longer
 * list is an error of the append (the row pipeline rejects it before). */
#define STORAGE_MV_MAX_ITEMS 65536u
#define STORAGE_MV_MAX_BYTES (1u << 24)

/*
 * The elements of an entry: the count, or -1 when the bytes are not a
 * whole list (a corrupt entry). When items is not NULL, up to cap elements
 * go there as STRING values (NULL elements as NULLs) pointing into p.
 */
int64_t storage_mv_decode(const char *p, size_t n, struct sql_value *items, uint32_t cap);
/*
 * An entry from a value: an ARRAY's elements cast to strings, a scalar as
 * one element; ordered (and de-duplicated) as `handling` says. *out is NULL
 * (n 0) for a NULL or empty value. Bytes from `mem`. LERR_NOMEM, or
 * LERR_INVALID when the list passes STORAGE_MV_MAX_ITEMS/BYTES.
 */
int storage_mv_encode(const struct sql_value *v, int handling, struct arena *mem, const char **out,
                      uint32_t *n, struct lerr *err);
/*
 * Typed ARRAY columns (Druid's ARRAY<STRING>/<LONG>/<DOUBLE>, with ARRAY
 * semantics: order kept, NULL elements kept, a NULL array and an empty one
 * distinct). A row's array is one dictionary entry laid out as a
 * multi-value list is, each element a u32 length and its bytes (LONG and
 * DOUBLE elements: length 8, the value's 8 little-endian bytes; a NULL
 * element: STORAGE_MV_NULL_ELEM, no bytes); the empty array is the empty
 * entry, a NULL array the NULL id. Limits as for multi-value strings.
 */
bool storage_array_elem_ok(int elem); /* SQL_STRING, SQL_LONG or SQL_DOUBLE */
/* The element count, or -1 when the bytes are not a whole array of `elem`
 * elements. When items is not NULL, up to cap elements go there (STRING
 * values pointing into p). */
int64_t storage_array_decode(int elem, const char *p, size_t n, struct sql_value *items,
                             uint32_t cap);
/*
 * An entry from a value: an ARRAY's elements cast to `elem` in their order
 * (an element that does not cast, a nested ARRAY or JSON, is a NULL element:
 * the row pipeline warns of it before), a scalar as a one-element array.
 * *out is NULL for a NULL value; an empty array gives a non-NULL *out with
 * *n 0. Bytes from `mem`. LERR_NOMEM, or LERR_INVALID past the limits.
 */
int storage_array_encode(const struct sql_value *v, int elem, struct arena *mem, const char **out,
                         uint32_t *n, struct lerr *err);
/* "ARRAY<STRING>", "ARRAY<LONG>", "ARRAY<DOUBLE>" (the table API's dataType)
 * and Druid SQL's "VARCHAR ARRAY", "BIGINT ARRAY", "DOUBLE ARRAY". */
const char *storage_array_type_name(int elem);
const char *storage_array_sql_name(int elem);
/* The element type of a dataType "ARRAY<STRING>" (case-insensitive, spaces
 * allowed inside the brackets), or -1. */
int storage_array_type_parse(const char *s, size_t n);

/* The name of a handling ("SORTED_ARRAY", ...), and back (-1 when unknown). */
const char *storage_mv_handling_name(int handling);
int storage_mv_handling_parse(const char *s);

struct storage_schema {
    enum storage_table_type type;
    enum storage_gran partitioning;    /* default DAY */
    enum storage_gran time_resolution; /* aggregate tables; default MILLISECOND */
    /* User columns, in order (not __time: storage adds it as column 0). */
    const struct storage_column *cols;
    size_t ncols;
};

/* ---- the table ---------------------------------------------------------- */

struct storage_table;
struct storage_ahead; /* a REPLACE's rows written ahead (storage_table_write_ahead) */

/* Persist bounds; a zero field takes its default. */
struct storage_limits {
    uint64_t max_rows;  /* realtime rows per table before a persist: 1,000,000 */
    uint64_t max_bytes; /* realtime bytes per table: 256 MB */
    int64_t max_age_ms; /* oldest unpersisted row: 10,000 ms */
};

/* A segment file as the catalog records it. */
struct storage_segment_info {
    const char *name;    /* file name inside the table directory */
    int64_t chunk_start; /* the time chunk [start, end) */
    int64_t chunk_end;
    uint64_t rows;
    uint64_t bytes; /* file size */
    int64_t min_time, max_time;
    /* A new segment: when the store took it (util_boot_ns, after segstore_put); 0 for
     * segments that were there before. With an object store, its commit must follow
     * well within the orphan sweep's grace (ingest__commit_tx). */
    int64_t stored_ns;
};

/*
 * The caller's catalog commit. Persist calls it once per persist with the new
 * segments (nremoved = 0; nadded may be 0 when nothing was buffered: the
 * caller may still advance its offsets). Compaction calls it with the merged
 * segment and the segments it replaces. Return 0 after the transaction
 * committed; anything else (with err set) means nothing was recorded: storage
 * then deletes the new files and keeps its previous state. Called on the
 * thread that called persist / compact, with no storage lock held.
 */
typedef int (*storage_commit_fn)(void *ctx, const struct storage_segment_info *added,
                                 size_t nadded, const struct storage_segment_info *removed,
                                 size_t nremoved, struct lerr *err);

struct segstore; /* storage/segstore.h */

struct storage_open_opts {
    struct storage_limits limits;
    /* Where the segment files live (a reference is taken); NULL: a local
     * store over `dir` (segstore_local_new), as before. */
    struct segstore *store;
    /* Segment file names the catalog knows for this table. Others in the
     * directory are removed (one log line each). */
    const char *const *known;
    size_t nknown;
    /* The time chunk [start, end) of each known segment (2 values each), for
     * naming what a corrupt or missing one leaves out; NULL: unknown. */
    const int64_t *known_chunks;
    /* Per known segment, whether to leave it unopened (NULL: open all): a
     * node of a shared store opens the segments it wrote, and the others are
     * read by the queries that need them (storage_cut_snapshot). */
    const bool *known_deferred;
    /* Leave segments the catalog does not know where they are (other writers
     * share the store: one may be between its upload and its commit); they
     * are counted in one log line instead of removed. */
    bool keep_unknown;
    /* Also decode every block and bitmap at open (every part's checksum and
     * structure are always checked when a segment is opened). */
    bool verify_all;
};

/*
 * Opens (creating `dir` if needed) the data of one table. `name` is used in
 * messages. Known segments are opened and validated; a corrupt or missing one
 * is logged, skipped, and listed by storage_table_corrupt(). Columns found in
 * segments but not in `schema` are added (flexible tables persist discovered
 * columns in their segments). Errors: LERR_INVALID (bad schema: duplicate or
 * reserved name, unsupported type, measure without aggregator), LERR_IO.
 * Not thread-safe with respect to the same directory.
 */
int storage_table_open(const char *dir, const char *name, const struct storage_schema *schema,
                       const struct storage_open_opts *opts, struct storage_table **out,
                       struct lerr *err);
/* Frees the table; unpersisted rows are discarded (persist first at a clean
 * shutdown). No other call on the table (append, persist, compaction,
 * snapshot) may be in flight. Snapshots still held keep what they reference
 * alive until they are freed. */
void storage_table_free(struct storage_table *t);

/*
 * Adds a column while data flows (schema discovery on flexible tables).
 * Returns the new column's index (>= 1) or -1 with err set (LERR_INVALID for
 * a duplicate/reserved name or an unsupported type). Writer thread only.
 */
int storage_table_add_column(struct storage_table *t, const struct storage_column *col,
                             struct lerr *err);
/*
 * Widens dimension column `col` (>= 1) to `type` while data flows (schema
 * discovery: LONG -> DOUBLE, LONG or DOUBLE -> STRING). Rows already stored
 * keep their bytes: the open realtime buffers are sealed (they take no more
 * rows; the next persist writes them as segments of the old type), and
 * readers cast every segment's and buffer's values to the table's type
 * (storage_scan_values). LERR_INVALID for a measure, __time, an ARRAY column
 * or a type that is not wider. Writer thread only.
 */
int storage_table_widen_column(struct storage_table *t, size_t col, int type, struct lerr *err);
/* The current schema: column 0 is __time. Writer thread only (readers use the
 * snapshot's copy). */
size_t storage_table_ncols(const struct storage_table *t);
const struct storage_column *storage_table_column(const struct storage_table *t, size_t i);
/* Index of a column by name, or -1. */
int storage_table_find_column(const struct storage_table *t, const char *name, size_t n);

/* ---- appending ---------------------------------------------------------- */

/* One column of a batch. */
struct storage_batch_col {
    uint32_t col; /* index in the table schema, >= 1 */
    /* Dimensions: nrows values. A value of another type than the column is
     * cast (Druid CAST rules). */
    const struct sql_value *values;
    /* Measures of aggregate tables: nrows states, each
     * sql_agg_state_size(&column.agg) bytes, back to back (built with
     * sql_agg_init + sql_agg_add). Storage merges them into its own memory. */
    const void *states;
};

/*
 * What the row pipeline hands to storage. Columns of the table missing from
 * `cols` are NULL for these rows (measures: an empty state). Everything the
 * batch points to (values' bytes, states and what they point to) is borrowed
 * only until storage_table_append returns.
 */
struct storage_batch {
    uint32_t nrows;
    const int64_t *time; /* __time, ms, per row */
    uint32_t ncols;
    const struct storage_batch_col *cols;
};

/*
 * Adds a batch to the realtime buffers (one per time chunk). Aggregate
 * tables floor __time to timeResolution and roll up rows with the same time
 * and dimension values (NULL equals NULL, NULL differs from ''). Rows are
 * visible to snapshots taken after this returns. Errors: LERR_INVALID (a bad
 * column index, a measure column without states or a dimension without
 * values, NULL time), checked before anything is added; LERR_NOMEM, after
 * which the rows before the failing one may have been added. Writer only.
 */
int storage_table_append(struct storage_table *t, const struct storage_batch *b, struct lerr *err);

/*
 * True when the realtime buffers passed a bound of the limits: rows, bytes, or
 * the age of the oldest unpersisted row against `now_ms`. The caller drives
 * persists: it calls this after each append (and on a timer), and persists at
 * a clean shutdown. Cheap; any thread.
 */
bool storage_table_should_persist(const struct storage_table *t, int64_t now_ms);
/* Realtime rows and bytes (approximate memory) now. Any thread. */
void storage_table_realtime_usage(const struct storage_table *t, uint64_t *rows, uint64_t *bytes);

/*
 * Writes every realtime buffer as a segment (temp file, fsync, rename, fsync
 * the directory), then calls commit once with all of them. On success the
 * segments replace the buffers atomically for new snapshots (older snapshots
 * keep reading the buffers). On failure (write error or commit != 0) the new
 * files are deleted, the buffers are kept, and the error is returned:
 * LERR_IO for a failed write, fsync, close or rename — a full disk says "No
 * space left on device" and names the file and the directory whose disk to
 * free —, LERR_NOMEM, or the commit's own error. Writer thread only.
 */
int storage_table_persist(struct storage_table *t, storage_commit_fn commit, void *ctx,
                          struct lerr *err);

/*
 * Persist in two steps, so that a writer need not wait for the disk:
 * storage_table_seal() (writer thread, cheap) takes every realtime buffer out
 * of the writer's hands — they stay visible to readers, new appends start new
 * buffers — and storage_table_persist_sealed() (any one thread at a time)
 * writes the sealed buffers as segments, calls commit, and replaces them.
 * Sealed sets must be persisted in the order they were sealed. On failure the
 * sealed buffers stay sealed and visible: call persist_sealed again with the
 * same set (storage_table_persist() instead returns them to the writer).
 */
struct storage_sealed;
int storage_table_seal(struct storage_table *t, struct storage_sealed **out, struct lerr *err);
int storage_table_persist_sealed(struct storage_table *t, struct storage_sealed *s,
                                 storage_commit_fn commit, void *ctx, struct lerr *err);
uint64_t storage_sealed_rows(const struct storage_sealed *s);
/* The memory the sealed buffers hold (approximate, as storage_table_realtime_usage). */
uint64_t storage_sealed_bytes(const struct storage_sealed *s);
void storage_sealed_free(struct storage_sealed *s);
/*
 * Throws a sealed set's rows away instead of persisting them: new snapshots no
 * longer see them (older ones keep reading the buffers); free the set after.
 * For rows that must not be committed here (a partition whose lease moved to
 * another node, which reads them again from the committed offsets). Any one
 * thread at a time, as persist_sealed; LERR_NOMEM.
 */
int storage_table_discard_sealed(struct storage_table *t, struct storage_sealed *s,
                                 struct lerr *err);

struct storage_compact_opts {
    /* Merge a chunk's segments while together they hold at most this many
     * rows (default 5,000,000) and there are at least `min_segments` of them
     * (default 2). */
    uint64_t max_rows;
    uint32_t min_segments;
    /* Also try zstd per block and keep it where it is at least 10% smaller. */
    bool zstd;
};

/*
 * Merges the small segments of one time chunk into one (re-rolling aggregate
 * tables) and commits the swap through `commit` (added = the new segment,
 * removed = the old ones). Old files are deleted once no snapshot holds them.
 * *did is set when something was merged: call again until it is false.
 * On failure nothing changes. May run on a background thread concurrently
 * with the writer and readers; at most one compaction per table at a time.
 */
int storage_table_compact(struct storage_table *t, const struct storage_compact_opts *opts,
                          storage_commit_fn commit, void *ctx, bool *did, struct lerr *err);

/*
 * Drops every row (DELETE /tables/{name}): realtime buffers are discarded and
 * segment files deleted once no snapshot holds them. The caller removes the
 * segments from the catalog. The table stays usable (empty). Writer thread.
 */
int storage_table_drop_data(struct storage_table *t, struct lerr *err);

/*
 * Drops the rows of every time chunk lying wholly inside [start, end)
 * (ingestionMode replace with target.intervals): those chunks' segments
 * (deleted once no snapshot holds them) and realtime buffers. The caller
 * removes the segments from the catalog. LERR_CONFLICT while sealed rows
 * wait for their persist. Writer thread.
 */
int storage_table_drop_range(struct storage_table *t, int64_t start, int64_t end,
                             struct lerr *err);

/*
 * REPLACE: the rows of src (a private table with t's schema whose rows were
 * never persisted; NULL: no rows) take the place of t's rows in every time
 * chunk lying wholly inside [start, end) (INT64_MIN, INT64_MAX: all of t).
 * src's buffers are written as segments of t, then commit is called once
 * with them as added and the replaced segments as removed, then one
 * version is published: readers see the old rows or the new, never a mix
 * or neither, and after a crash the catalog holds one or the other. On
 * failure nothing changes (the new files are removed; those of `ahead`, rows
 * written ahead of the swap and committed with src's, are the caller's to
 * discard; NULL: none). LERR_CONFLICT while
 * sealed rows of t wait for their persist; write errors as persist's.
 * t's writer thread; src is left as it was (free it after).
 */
int storage_table_replace(struct storage_table *t, struct storage_table *src,
                          const struct storage_ahead *ahead, int64_t start, int64_t end,
                          storage_commit_fn commit, void *ctx, struct lerr *err);

/*
 * A REPLACE's rows written ahead of its swap, so that a REPLACE of any size
 * holds at most one persist's worth of rows in memory. Each
 * storage_table_write_ahead writes src's realtime rows as segment files in
 * t's store that no catalog commit names yet and adds them to *ahead; src is
 * left as it was (the caller empties it: a fresh staging table).
 * storage_table_replace(t, src, ahead, ...) commits them with src's rows in
 * its one step. Until then they are not table data: a reader never sees
 * them, and were the server to stop first, opening t removes them as files
 * no commit names. After a failed or abandoned REPLACE,
 * storage_ahead_discard removes them; after a committed one,
 * storage_ahead_free only frees the list. Any thread that may write files of t.
 */
struct storage_ahead {
    struct storage_segment_info *infos; /* names are owned (malloc) */
    size_t n, cap;
};
int storage_table_write_ahead(struct storage_table *t, struct storage_table *src,
                              struct storage_ahead *ahead, struct lerr *err);
void storage_ahead_discard(struct storage_table *t, struct storage_ahead *ahead);
void storage_ahead_free(struct storage_ahead *ahead);

/* The persist bounds t was opened with (a staging table takes its target's). */
struct storage_limits storage_table_limits(const struct storage_table *t);

/* ---- status ------------------------------------------------------------- */

struct storage_status {
    uint64_t row_count; /* stored rows (after rollup), segments + realtime */
    uint64_t segment_count;
    uint64_t total_bytes;       /* segment files + realtime memory */
    int64_t min_time, max_time; /* INT64_MAX / INT64_MIN when empty */
    uint64_t realtime_rows;
    uint64_t corrupt_count; /* segments skipped as corrupt */
};

/* Any thread. */
void storage_table_status(struct storage_table *t, struct storage_status *out);
/* The i-th corrupt segment's file name and message (copied into the
 * caller's buffers); false past the end. Any thread. */
bool storage_table_corrupt(struct storage_table *t, size_t i, char *name, size_t name_cap,
                           char *msg, size_t msg_cap);

/* ---- reading ------------------------------------------------------------ */

/* One realtime buffer or one segment, fixed at the time of the snapshot. */
struct storage_view;

/*
 * A consistent, immutable set of views plus the table schema at that time.
 * cols[0] is __time. Views are in no particular order.
 */
struct storage_snapshot {
    size_t ncols;
    const struct storage_column *cols;
    size_t nviews;
    struct storage_view *const *views;
    /* Rows the snapshot cannot read: segments found corrupt or missing, by
     * time chunk. A query whose time range meets one must fail (or, when the
     * user asked for partial results, say what it left out). */
    size_t nmissing;
    const struct storage_missing *missing;
    /* bytes of other nodes' images it holds in memory (storage_cut_snapshot):
     * a query charges them to its memory budget */
    uint64_t image_bytes;
};

struct storage_missing {
    char name[96];                  /* the segment file */
    int64_t chunk_start, chunk_end; /* its time chunk; INT64_MIN, INT64_MAX when unknown */
    char msg[400];
    int code; /* why: LERR_UNAVAILABLE when the store could not be reached */
};

/*
 * A cut: one node's share of a query over several nodes (a shared catalog).
 * storage_table_cut holds the table's current version; its segment names
 * and realtime buffers are what this node shows at that moment. Another
 * node asks for the cut's realtime rows as segment images
 * (storage_cut_realtime_images: each buffer written as one segment file in
 * `tmp_dir`, handed to fn, removed; the table's writer must not append
 * meanwhile: hold its writer lock). The node that takes the query builds
 * its snapshot with storage_cut_snapshot: the segments named in `want`
 * (shared with its cut when the cut holds them, else opened from the
 * table's store; one that cannot be read is listed in the snapshot's
 * missing with its chunk, so the query fails rather than leaving its rows
 * out), its own cut's realtime buffers, and the other nodes' images (each
 * malloc'd: taken by the call, freed with the snapshot or on failure).
 */
struct storage_cut;
struct storage_seg_want {
    const char *name; /* the segment file name */
    int64_t chunk_start, chunk_end;
};
typedef int (*storage_image_fn)(void *ctx, const void *p, size_t n, struct lerr *err);
struct storage_cut *storage_table_cut(struct storage_table *t); /* NULL: no memory */
void storage_cut_free(struct storage_cut *c);
/* Leaves the cut's realtime buffers out of its snapshot (storage_cut_snapshot):
 * segments only. */
void storage_cut_no_realtime(struct storage_cut *c);
size_t storage_cut_nsegs(const struct storage_cut *c);
const char *storage_cut_seg_name(const struct storage_cut *c, size_t i);
int storage_cut_realtime_images(const struct storage_cut *c, const char *tmp_dir,
                                storage_image_fn fn, void *ctx, struct lerr *err);
struct storage_snapshot *storage_cut_snapshot(struct storage_table *t, const struct storage_cut *c,
                                              const struct storage_seg_want *want, size_t nwant,
                                              void **images, const size_t *image_lens,
                                              size_t nimages, struct lerr *err);

/*
 * Rows of a snapshot as segment images: a node's share of a scan another
 * node pushed down to it (api/fanout.c). For view i, the rows in sel[i]
 * (NULL: none of its rows), with __time and the columns c where keep[c]
 * (the others are left out: they read NULL); one image per time chunk,
 * written in tmp_dir, handed to fn and removed, as
 * storage_cut_realtime_images does. Rows are not rolled up again, so an
 * aggregate table's image has the rows the views have. `sel` holds
 * roaring bitmaps (<roaring/roaring.h>).
 */
struct roaring_bitmap_s;
int storage_snapshot_images(const struct storage_snapshot *snap,
                            const struct roaring_bitmap_s *const *sel, const bool *keep,
                            const char *tmp_dir, storage_image_fn fn, void *ctx, struct lerr *err);

/* Takes a snapshot (never fails except for memory: NULL). Any thread. */
struct storage_snapshot *storage_table_snapshot(struct storage_table *t);
void storage_snapshot_free(struct storage_snapshot *s);

uint64_t storage_view_rows(const struct storage_view *v);
/* The rows' __time range, inclusive; an empty view gives min > max. */
void storage_view_time_range(const struct storage_view *v, int64_t *min_time, int64_t *max_time);
/* The time chunk [start, end) the view belongs to. */
void storage_view_chunk(const struct storage_view *v, int64_t *start, int64_t *end);
bool storage_view_is_realtime(const struct storage_view *v);
/* The segment file name, or "realtime <chunk start>". */
const char *storage_view_name(const struct storage_view *v);
/* Whether the view stores this (snapshot) column at all; false = all NULL. */
bool storage_view_has_column(const struct storage_view *v, size_t col);
/* The type the view stores the column as (SQL_NULL when it lacks it). It
 * differs from the snapshot column's type only when a column's type changed
 * between segments: storage_scan_values() casts then, while the typed fast
 * paths (ids, longs, doubles) need the stored class. */
int storage_view_column_type(const struct storage_view *v, size_t col);
/* An ARRAY column's element type: SQL_NULL for a multi-value string (and
 * for any other column), else STRING, LONG or DOUBLE (a typed array). */
int storage_view_column_elem(const struct storage_view *v, size_t col);

/* --- dictionaries of STRING and ARRAY columns: ids are local to a view ---
 * (an ARRAY column's entries are lists, storage_mv_decode; its dictionary
 * is never sorted by value, and storage_view_dict_value gives the entry's
 * raw bytes as a STRING) */

/* Id 0 always stands for NULL; ids 1..size-1 are values. */
#define STORAGE_NULL_ID 0u

/* Number of ids (including the NULL id 0); 1 for a column the view lacks. */
uint32_t storage_view_dict_size(const struct storage_view *v, size_t col);
/* Segments keep dictionaries sorted (UTF-8 byte order); realtime buffers in
 * arrival order. */
bool storage_view_dict_sorted(const struct storage_view *v, size_t col);
/* The value of an id (bytes live as long as the snapshot). */
struct sql_value storage_view_dict_value(const struct storage_view *v, size_t col, uint32_t id);
/* The id of a value, or -1 when the view has no row with it. */
int64_t storage_view_dict_find(const struct storage_view *v, size_t col, const char *p, size_t n);
/* Sorted dictionaries: the ids [*lo, *hi) of values that start with the
 * prefix (an empty range when none). false for an unsorted dictionary
 * (realtime, and every ARRAY column). */
bool storage_view_dict_prefix(const struct storage_view *v, size_t col, const char *p, size_t n,
                              uint32_t *lo, uint32_t *hi);
/* Segments: the bytes of the values of ids [lo, hi) (1 <= lo <= hi <= size)
 * stored end to end in id order, for a search of many values at once (a
 * LIKE '%x%' over the dictionary); false for realtime buffers, whose values
 * are not stored end to end, and columns that are not STRING. */
bool storage_view_dict_span(const struct storage_view *v, size_t col, uint32_t lo, uint32_t hi,
                            const char **p, size_t *n);
/* The id whose value holds the byte at `at`, a pointer into a span of
 * storage_view_dict_span() (a binary search of the offsets). */
uint32_t storage_view_dict_id_at(const struct storage_view *v, size_t col, const char *at);

/* --- bitmap indexes (segments only) --- */

/*
 * The rows (0-based within the view) whose STRING column has dictionary id
 * `id`, as a roaring bitmap (from <roaring/roaring.h>; declared opaque here
 * so that this header does not pull it in). Owned by the view: valid while
 * the snapshot lives; do not modify. Returns NULL with err unset when the view
 * has no bitmap indexes (realtime buffers: scan ids instead), NULL with err
 * set (LERR_CORRUPT) when the part is corrupt. Thread-safe.
 */
struct roaring_bitmap_s;
const struct roaring_bitmap_s *storage_view_bitmap(const struct storage_view *v, size_t col,
                                                   uint32_t id, struct lerr *err);
/* The rows where a column is NULL (any type; for STRING the bitmap of id 0).
 * Same ownership and errors. */
const struct roaring_bitmap_s *storage_view_null_bitmap(const struct storage_view *v, size_t col,
                                                        struct lerr *err);

/* --- scans: decode row ranges --- */

/* Rows per block: decode calls aligned to it do no redundant work. */
#define STORAGE_BLOCK_ROWS 4096u

/*
 * Per-thread decoding state for one view (caches the last decoded block of
 * each column). Borrows the view: free the scan before the snapshot.
 */
struct storage_scan;
struct storage_scan *storage_scan_new(const struct storage_view *v);
void storage_scan_free(struct storage_scan *s);

/*
 * Reads column `col` of n rows into out[0..n): rows row0 .. row0+n-1, or,
 * with a selection vector, rows row0 + sel[k] (sel ascending, offsets within
 * one block of rows keeps it fastest). Reads aligned to STORAGE_BLOCK_ROWS
 * decode each block once. Values are typed as the snapshot column (measures
 * finalized). String bytes of STRING columns live as long as the snapshot;
 * those of JSON and measure columns until the next read of the same column
 * on this scan. Errors: LERR_CORRUPT (a part's checksum or structure is bad:
 * the message names the file, column, part and offset), LERR_INVALID (a row
 * outside the view, a column outside the snapshot), LERR_NOMEM.
 */
int storage_scan_values(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n,
                        const uint32_t *sel, struct sql_value *out, struct lerr *err);
/* __time of rows row0..row0+n-1. Same errors. */
int storage_scan_time(struct storage_scan *s, uint64_t row0, uint32_t n, int64_t *out,
                      struct lerr *err);
/* LONG/TIMESTAMP/DOUBLE/FLOAT dimension columns, raw: values (DOUBLE/FLOAT
 * as double) and null flags (may be NULL) for rows row0..row0+n-1. */
int storage_scan_longs(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n, int64_t *out,
                       bool *nulls, struct lerr *err);
int storage_scan_doubles(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n,
                         double *out, bool *nulls, struct lerr *err);
/* STRING and ARRAY columns: the dictionary ids of rows row0..row0+n-1. */
int storage_scan_ids(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n, uint32_t *out,
                     struct lerr *err);
/*
 * Measure columns: the aggregator states of rows row0..row0+n-1 into out
 * (n * sql_agg_state_size(&col.agg) bytes), for merging across rows/views.
 * Variable data lives in `mem`.
 */
int storage_scan_states(struct storage_scan *s, size_t col, uint64_t row0, uint32_t n, void *out,
                        struct arena *mem, struct lerr *err);

/* ---- segment files (tests, tools, fuzzing) ------------------------------ */

/*
 * Opens one segment file on its own and checks all of it (header, footer and
 * every part): 0, or LERR_CORRUPT / LERR_IO naming the file, part and offset.
 * On success *rows is the row count (may be NULL).
 */
int storage_segment_verify(const char *path, uint64_t *rows, struct lerr *err);
/* Same over bytes in memory (`name` is used in messages). */
int storage_segment_verify_mem(const void *p, size_t n, const char *name, uint64_t *rows,
                               struct lerr *err);

#endif
