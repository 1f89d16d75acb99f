/*
 * wake.c — the runtime's one condition variable: the API and finished
 * runners wake the supervisor (ingest_runtime_notify); the supervisor and
 * the compactor sleep on it, waking early for a shutdown.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "ingest/ingest_int.h"
#include "source/pushreg.h"
#include "storage/db.h"
#include "util/time.h"

/* Sleeps up to ms; wakes early for shutdown, and for the supervisor's kicks
 * when `kick` (then consuming the kick). */
static void wait_rt(struct ingest_runtime *rt, int ms, bool kick)
{
    struct timespec ts;
    util_deadline(CLOCK_REALTIME, ms, &ts);
    pthread_mutex_lock(&rt->mu);
    while (!(kick && rt->kick) && !rt->stopping)
        if (pthread_cond_timedwait(&rt->cv, &rt->mu, &ts) == ETIMEDOUT)
            break;
    if (kick)
        rt->kick = false;
    pthread_mutex_unlock(&rt->mu);
}

void ingest__wait_kick(struct ingest_runtime *rt, int ms) { wait_rt(rt, ms, true); }

/* Sleeps up to ms, waking early only for shutdown (not for the supervisor's kicks). */
void ingest__wait_stop(struct ingest_runtime *rt, int ms) { wait_rt(rt, ms, false); }

void ingest_runtime_notify(struct ingest_runtime *rt)
{
    pthread_mutex_lock(&rt->mu);
    rt->kick = true;
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}
