/*
 * values.c — the catalog's value types: the names of job states, job
 * types and health (catalog.h's X-macro tables), and freeing the documents, jobs and
 * lists the catalog hands out. The bottom of catalog/: the rules (catalog.c) and every
 * implementation (catalog_sqlite.c) call down to it.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"

void catalog_doc_destroy(struct catalog_doc *d)
{
    free(d->doc);
    free(d->secret);
    d->doc = d->secret = NULL;
}

void catalog_doc_list_free(struct catalog_doc_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        catalog_doc_destroy(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void catalog_job_destroy(struct catalog_job *j)
{
    free(j->spec);
    free(j->created_by);
    free(j->modified_by);
    j->spec = j->created_by = j->modified_by = NULL;
}

void catalog_job_list_free(struct catalog_job_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        catalog_job_destroy(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void catalog_segment_list_free(struct catalog_segment_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static const char *const state_names[] = {
#define CATALOG_JOB_STATE_NAME(e, name) [e] = name,
    CATALOG_JOB_STATE_MAP(CATALOG_JOB_STATE_NAME)
#undef CATALOG_JOB_STATE_NAME
};

static const char *const health_names[] = {
#define CATALOG_HEALTH_NAME(e, name) [e] = name,
    CATALOG_HEALTH_MAP(CATALOG_HEALTH_NAME)
#undef CATALOG_HEALTH_NAME
};

static const char *const job_type_names[] = {
#define CATALOG_JOB_TYPE_NAME(e, name) [e] = name,
    CATALOG_JOB_TYPE_MAP(CATALOG_JOB_TYPE_NAME)
#undef CATALOG_JOB_TYPE_NAME
};

static int find_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *catalog_job_state_name(enum catalog_job_state s)
{
    return (unsigned)s < CATALOG_JOB__STATE_COUNT ? state_names[s] : "unknown";
}

int catalog_job_state_parse(const char *name)
{
    return find_name(state_names, CATALOG_JOB__STATE_COUNT, name);
}

const char *catalog_health_name(enum catalog_health h)
{
    return (unsigned)h < CATALOG__HEALTH_COUNT ? health_names[h] : "unknown";
}

int catalog_health_parse(const char *name)
{
    return find_name(health_names, CATALOG__HEALTH_COUNT, name);
}

const char *catalog_job_type_name(enum catalog_job_type t)
{
    return (unsigned)t < CATALOG__JOB_TYPE_COUNT ? job_type_names[t] : "unknown";
}

int catalog_job_type_parse(const char *name)
{
    return find_name(job_type_names, CATALOG__JOB_TYPE_COUNT, name);
}
