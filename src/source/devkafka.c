/* devkafka.c — placeholder until the dev broker lands (being written now). */
#include "source/source.h"

int source_devkafka_run(const struct source_devkafka_opts *o, struct lerr *err)
{
    (void)o;
    return lerr_set(err, LERR_INTERNAL, "dev-kafka is not built yet");
}
