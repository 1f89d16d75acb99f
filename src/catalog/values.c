/*
 * values.c — freeing what the catalog hands out (catalog.h's documents, jobs
 * and lists). The bottom of catalog/: the rules (catalog.c) and every
 * implementation (catalog_sqlite.c) call down to it.
 */
#include <stdlib.h>

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
