/*
 * config.h — a command's settings from three places, in rising priority: a
 * config file (--config FILE, or LODESTAR_CONFIG), the environment
 * (LODESTAR_<FLAG>: the flag's name in capitals with '_' for '-', e.g.
 * LODESTAR_NODE_ID for --node-id), and the command line. They are turned
 * into one argument list ("--flag=value" for each setting, then argv) that
 * the command parses as usual; its parser keeps the last value of a flag.
 *
 * The file: one "name = value" a line, name a flag without its dashes;
 * blank lines and lines starting with '#' are skipped; a value may be in
 * double quotes (kept as is inside). An unknown name, a line without '=',
 * or an unreadable file is an error naming the file and line.
 */
#ifndef LODESTAR_CONFIG_H
#define LODESTAR_CONFIG_H

#include <stddef.h>

/*
 * flags: the value-taking flags of the command, without dashes, NULL
 * ended. On success *out_argv (malloc'd with its strings, main_config_free) holds
 * the settings then argv[0..argc) without --config. Returns 0, or 2 with a
 * message in msg (what, where, how to fix).
 */
int main_config_args(const char *const *flags, int argc, char **argv, int *out_argc,
                     char ***out_argv, char *msg, size_t msgcap);
void main_config_free(int argc, char **argv);

#endif
