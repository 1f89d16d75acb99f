/*
 * quickstart.h — `lodestar quickstart`: the main job end to end (quickstart.c).
 */
#ifndef LODESTAR_QUICKSTART_H
#define LODESTAR_QUICKSTART_H

#include <stdbool.h>
#include <stdint.h>

/* self: the path of this binary (to start `dev-kafka` and `serve`). Returns the exit code. */
int quickstart_main(const char *self, int64_t events, int64_t rate, bool keep);

#endif
