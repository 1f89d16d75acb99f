/*
 * functab.c — the function table: every function's and operator's name,
 * argument counts, flags and variant (generated from SQL_FUNC_MAP in
 * sql_int.h), and lookup by name. The parser names call nodes from it, the
 * binder checks calls against it and the binders (func*.c) read a call's
 * name and variant from it; the binder of each function is in
 * sql_func_binders[] (func.c), above all of them, so that this table sits
 * below every file that reads it.
 *
 * Entry points: sql_funcs[], sql_func_find().
 */
#include "sql/sql_int.h"

#include <string.h>
#include <strings.h>

const struct sql_func sql_funcs[F__COUNT] = {
#define SQL_FUNC_ROW(id, name, mn, mx, fl, bind, var) {name, mn, mx, fl, var},
    SQL_FUNC_MAP(SQL_FUNC_ROW)
#undef SQL_FUNC_ROW
};

int sql_func_find(const char *name, size_t n)
{
    for (int i = 0; i < F__COUNT; i++) {
        const struct sql_func *f = &sql_funcs[i];
        if ((f->flags & FF_OP) || strlen(f->name) != n)
            continue;
        if (strncasecmp(f->name, name, n) == 0)
            return i;
    }
    return -1;
}
