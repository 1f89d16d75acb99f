// SOURCES: src/sql/*.c src/sketch/*.c src/util/util.c src/util/civil.c src/util/tz.c src/util/time.c src/util/period.c src/util/joda.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_dml.c — libFuzzer target for the INSERT / REPLACE parser
 * (sql/dml.c): any text is parsed; what it accepts is read through (every
 * string, item and clustering column), and an error must carry a message.
 */
#include <stdint.h>
#include <string.h>

#include "sql/sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const char *text = (const char *)data;
    struct lerr err;
    lerr_init(&err);
    (void)sql_dml_is_dml(text, size);
    struct sql_dml *d = NULL;
    if (sql_dml_parse(text, size, &d, &err) != 0) {
        if (!err.msg[0])
            __builtin_trap(); /* every refusal says why */
        return 0;
    }
    size_t n = strlen(d->table) + strlen(d->select) + strlen(d->partitioned_by);
    for (size_t i = 0; i < d->nitems; i++)
        n += strlen(d->items[i].column) + strlen(d->items[i].expression);
    for (size_t i = 0; i < d->nclustered; i++)
        n += strlen(d->clustered_by[i]);
    if (d->source == SQL_DML_EXTERN)
        n += strlen(d->input_source) + strlen(d->input_format) + strlen(d->signature);
    if (d->select_off + d->select_len > size || n == 0)
        __builtin_trap();
    sql_dml_free(d);
    return 0;
}
