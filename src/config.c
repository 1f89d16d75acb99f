/*
 * config.c — a command's settings from a config file and the environment,
 * merged ahead of its command line (config.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct args {
    char **v;
    int n, cap;
};

static int push(struct args *a, char *s)
{
    if (!s)
        return -1;
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        char **v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(s);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    return 0;
}

static char *setting(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 4;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "--%s=%s", name, value);
    return s;
}

static bool known(const char *const *flags, const char *name)
{
    for (size_t i = 0; flags[i]; i++)
        if (strcmp(flags[i], name) == 0)
            return true;
    return false;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static void list_flags(const char *const *flags, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; flags[i] && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", flags[i]);
}

/* The file's settings, in order. */
static int read_file(const char *path, const char *const *flags, struct args *a, char *msg,
                     size_t msgcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, msgcap, "cannot read the config file %s: %s (--config or LODESTAR_CONFIG)",
                 path, strerror(errno));
        return 2;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(msg, msgcap, "%s:%d: the line is longer than %zu bytes", path, lineno,
                     sizeof line - 2);
            rc = 2;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(msg, msgcap, "%s:%d: expected \"name = value\", got \"%.80s\"", path, lineno,
                     s);
            rc = 2;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        if (strncmp(name, "--", 2) == 0)
            name += 2;
        if (!known(flags, name)) {
            char names[1024];
            list_flags(flags, names, sizeof names);
            snprintf(msg, msgcap, "%s:%d: unknown setting '%.100s'; the settings are: %s", path,
                     lineno, name, names);
            rc = 2;
            break;
        }
        size_t vn = strlen(value);
        if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
            value[vn - 1] = '\0';
            value++;
        }
        if (push(a, setting(name, value))) {
            snprintf(msg, msgcap, "out of memory reading %s", path);
            rc = 2;
        }
    }
    fclose(f);
    return rc;
}

void main_config_free(int argc, char **argv)
{
    for (int i = 0; argv && i < argc; i++)
        free(argv[i]);
    free(argv);
}

int main_config_args(const char *const *flags, int argc, char **argv, int *out_argc,
                     char ***out_argv, char *msg, size_t msgcap)
{
    struct args a = {0};
    const char *file = getenv("LODESTAR_CONFIG");
    msg[0] = '\0';
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(msg, msgcap, "--config needs a file");
                return 2;
            }
            file = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            file = argv[i] + 9;
        }
    }
    int rc = file && *file ? read_file(file, flags, &a, msg, msgcap) : 0;
    for (size_t k = 0; !rc && flags[k]; k++) {
        char env[128] = "LODESTAR_";
        size_t j = strlen(env);
        for (const char *p = flags[k]; *p && j < sizeof env - 1; p++)
            env[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[j] = '\0';
        const char *v = getenv(env);
        if (v && *v && push(&a, setting(flags[k], v)))
            rc = 2;
    }
    for (int i = 0; !rc && i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0)
            continue;
        if (push(&a, strdup(argv[i])))
            rc = 2;
    }
    if (rc) {
        if (!msg[0])
            snprintf(msg, msgcap, "out of memory reading the settings");
        main_config_free(a.n, a.v);
        return rc;
    }
    *out_argc = a.n;
    *out_argv = a.v;
    return 0;
}
