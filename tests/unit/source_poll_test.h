/*
 * source_poll_test.h — poll_src(): source_poll() into one arena that lives as
 * long as the test program, for the source tests (kafka, push log, files).
 * Never reset, so a test may keep a batch's records or gaps across polls;
 * poll_mem_destroy() at the end.
 */
#ifndef LODESTAR_TESTS_SOURCE_POLL_TEST_H
#define LODESTAR_TESTS_SOURCE_POLL_TEST_H

#include "source/source.h"

static struct arena poll_mem_;
static bool poll_mem_ready_;

static int poll_src(struct source *s, size_t max_records, int timeout_ms, struct source_batch *out,
                    struct lerr *err)
{
    if (!poll_mem_ready_) {
        arena_init(&poll_mem_, 1u << 20, 0);
        poll_mem_ready_ = true;
    }
    return source_poll(s, &poll_mem_, max_records, timeout_ms, out, err);
}

static void poll_mem_destroy(void)
{
    if (poll_mem_ready_)
        arena_destroy(&poll_mem_);
    poll_mem_ready_ = false;
}

#endif
