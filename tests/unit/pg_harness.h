/*
 * pg_harness.h — a real PostgreSQL for the unit tests: Debian's postgresql
 * package (make deps), its binaries found by globbing
 * /usr/lib/postgresql/<version>/bin (the highest version), a cluster made
 * with initdb in a temporary directory and started with pg_ctl on a free
 * loopback port (its socket in the same directory), stopped and removed by
 * pgh_stop. initdb refuses to run as root: as root (here and in CI) every
 * PostgreSQL command runs as the `postgres` system user the package
 * creates, the directory chowned to it; otherwise as the current user.
 * Trust authentication for the user `lodestar`, on 127.0.0.1 only.
 *
 *   struct pgh pg;
 *   if (pgh_start(&pg)) ...;                  // prints what failed and how to fix it
 *   pgh_createdb(&pg, "t1", uri, sizeof uri); // postgresql://lodestar@127.0.0.1:PORT/t1
 *   pgh_restart(&pg);                         // pg_ctl restart -m fast: connections drop
 *   pgh_stop(&pg);                            // only in the process that started it
 *
 * Header-only (static functions), like check.h; one cluster per test program.
 */
#ifndef LODESTAR_TESTS_PG_HARNESS_H
#define LODESTAR_TESTS_PG_HARNESS_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct pgh {
    char dir[64];  /* the temporary directory: data/, log, the socket */
    char bin[256]; /* /usr/lib/postgresql/N/bin */
    int port;
    pid_t owner; /* the process that started it (forked children never stop it) */
    uid_t uid;   /* who runs PostgreSQL: postgres when we are root */
    gid_t gid;
    bool running;
};

/* The highest /usr/lib/postgresql/N/bin that has initdb, into out; -1 if none. */
static inline int pgh__find_bin(char *out, size_t cap)
{
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
        return -1;
    int best = -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
        if (v > best) {
            best = v;
            snprintf(out, cap, "%.*s", (int)(strlen(g.gl_pathv[i]) - strlen("/initdb")),
                     g.gl_pathv[i]);
        }
    }
    globfree(&g);
    return best < 0 ? -1 : 0;
}

static inline int pgh__free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/*
 * Runs bin/<prog> with args (NULL-terminated) as PostgreSQL's user, its
 * output appended to dir/cmd.log; 0 when it exits 0, else prints the log's
 * end and returns -1.
 */
static inline int pgh__run(struct pgh *h, const char *prog, ...)
{
    const char *argv[32];
    char path[320];
    snprintf(path, sizeof path, "%s/%s", h->bin, prog);
    argv[0] = path;
    int n = 1;
    va_list ap;
    va_start(ap, prog);
    const char *a;
    while (n < 31 && (a = va_arg(ap, const char *)))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char log[128];
    snprintf(log, sizeof log, "%s/cmd.log", h->dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (null >= 0)
            dup2(null, 0);
        if (getuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(h->gid) != 0 || setuid(h->uid) != 0))
            _exit(126);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    fprintf(stderr, "pg_harness: %s failed (status %d); its output (%s):\n", path, st, log);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "tail -n 20 %s >&2", log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no output)\n");
    return -1;
}

/* Starts a fresh cluster; 0, or -1 after printing what failed and how to fix it. */
static inline int pgh_start(struct pgh *h)
{
    memset(h, 0, sizeof *h);
    if (pgh__find_bin(h->bin, sizeof h->bin)) {
        fprintf(stderr, "pg_harness: no /usr/lib/postgresql/*/bin/initdb: install Debian's "
                        "postgresql package (make deps)\n");
        return -1;
    }
    h->uid = getuid();
    h->gid = getgid();
    if (h->uid == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            fprintf(stderr, "pg_harness: running as root and there is no 'postgres' user to run "
                            "PostgreSQL as (initdb refuses root): install Debian's postgresql "
                            "package, which creates it\n");
            return -1;
        }
        h->uid = pw->pw_uid;
        h->gid = pw->pw_gid;
    }
    snprintf(h->dir, sizeof h->dir, "/tmp/lodestar-pg-XXXXXX");
    if (!mkdtemp(h->dir)) {
        perror("pg_harness: mkdtemp");
        return -1;
    }
    if (getuid() == 0 && chown(h->dir, h->uid, h->gid) != 0) {
        perror("pg_harness: chown");
        return -1;
    }
    h->owner = getpid();
    char data[128], logf[128], opts[300];
    snprintf(data, sizeof data, "%s/data", h->dir);
    snprintf(logf, sizeof logf, "%s/server.log", h->dir);
    if (pgh__run(h, "initdb", "-D", data, "-U", "lodestar", "-A", "trust", "-E", "UTF8",
                 "--locale=C", "-N", NULL))
        return -1;
    /* another program may take the free port first: then try another */
    for (int attempt = 0; attempt < 3; attempt++) {
        h->port = pgh__free_port();
        snprintf(opts, sizeof opts,
                 "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                 "-c full_page_writes=off -c max_connections=60",
                 h->port, h->dir);
        if (h->port > 0 && pgh__run(h, "pg_ctl", "-D", data, "-l", logf, "-o", opts, "-w", "-t",
                                    "60", "start", NULL) == 0) {
            h->running = true;
            return 0;
        }
    }
    return -1;
}

/* Creates database db and writes its URI; 0 or -1. */
static inline int pgh_createdb(struct pgh *h, const char *db, char *uri, size_t cap)
{
    char port[16];
    snprintf(port, sizeof port, "%d", h->port);
    if (pgh__run(h, "createdb", "-h", "127.0.0.1", "-p", port, "-U", "lodestar", db, NULL))
        return -1;
    snprintf(uri, cap, "postgresql://lodestar@127.0.0.1:%d/%s", h->port, db);
    return 0;
}

/* pg_ctl restart -m fast: every connection is dropped; returns once it accepts again. */
static inline int pgh_restart(struct pgh *h)
{
    char data[128], logf[128];
    snprintf(data, sizeof data, "%s/data", h->dir);
    snprintf(logf, sizeof logf, "%s/server.log", h->dir);
    return pgh__run(h, "pg_ctl", "-D", data, "-l", logf, "-m", "fast", "-w", "-t", "60", "restart",
                    NULL);
}

/* Stops the server and removes the directory (in the starting process only). */
static inline void pgh_stop(struct pgh *h)
{
    if (!h->owner || getpid() != h->owner)
        return;
    if (h->running) {
        char data[128];
        snprintf(data, sizeof data, "%s/data", h->dir);
        pgh__run(h, "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL);
        h->running = false;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "pg_harness: could not remove %s\n", h->dir);
    h->owner = 0;
}

#endif
