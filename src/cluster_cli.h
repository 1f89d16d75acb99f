/*
 * cluster_cli.h — `lodestar cluster status` (cluster_cli.c).
 */
#ifndef LODESTAR_CLUSTER_CLI_H
#define LODESTAR_CLUSTER_CLI_H

#include <stdbool.h>

/* GET base/v1/cluster with key; prints a table (or the JSON). 0, or 1 with a message on stderr. */
int main_cluster_status(const char *base, const char *key, bool as_json);

#endif
