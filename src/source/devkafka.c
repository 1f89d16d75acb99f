/*
 * devkafka.c — `lodestar dev-kafka`: a local Kafka-protocol broker for
 * development, demos and tests, built on librdkafka's mock cluster.
 *
 * Entry point: source_devkafka_run() (declared in source.h).
 *
 * The mock cluster runs its single broker on its own thread and listens on a
 * random loopback port. When the user asks for a fixed port, a small
 * poll-based TCP forwarder on 127.0.0.1:PORT relays bytes to the mock's
 * listener: clients bootstrap through it, and the metadata they receive then
 * points them at the mock broker's own address.
 *
 * Signals are handled in one place: the calling thread blocks SIGTERM,
 * SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 before librdkafka starts its threads
 * (so every thread inherits the mask) and then takes them with
 * sigtimedwait(). No code runs in signal-handler context.
 */
#include "source/source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOD "dev-kafka"

/* The mock cluster's only broker; ids start at 1. */
#define DK_BROKER_ID 1

/*
 * librdkafka's mock partition log (rd_kafka_mock_partition_init in
 * rdkafka_mock.c) keeps at most 5 MiB of record-batch bytes and 100,000
 * record batches per partition; appending past either limit silently frees
 * the oldest batches. Neither limit is configurable through the public API.
 */
#define DK_MOCK_PART_BYTES (5 * 1024 * 1024)
#define DK_MOCK_PART_BATCHES 100000
/*
 * Its Fetch handler (2.0.2) answers with at most one record batch per
 * partition, found by walking the partition's batches from the oldest: a
 * topic of many small batches (a producer's request spread by key over many
 * partitions) is read at a cost that grows with the square of the batches per
 * partition, and the consumer waits on the broker's thread (1M events sent
 * 1,000 a request over 80 partitions were read ~6x slower per event than
 * 200K; bench/protobuf/driver.py). Produce in large batches.
 */

/* ---- the TCP forwarder ------------------------------------------------- */

/* Bytes buffered per direction per connection; a full buffer pauses reading. */
#define FWD_BUF 65536
/* Connections relayed at once; more are closed on accept with a warning. */
#define FWD_MAX_CONNS 256

/* One direction of a relayed connection: bytes read from src, not yet sent to dst. */
struct fwd_dir {
    char *buf;
    size_t off, len; /* pending bytes are buf[off..len) */
    bool eof;        /* src said EOF */
    bool shut;       /* EOF passed on to dst with shutdown(SHUT_WR) */
};

struct fwd_conn {
    int cfd;         /* the client's socket (accepted) */
    int ufd;         /* our socket to the mock broker */
    bool connecting; /* ufd's non-blocking connect() still in progress */
    struct fwd_dir c2u, u2c;
};

struct fwd {
    int lfd;                    /* listening socket on 127.0.0.1:port */
    int wake[2];                /* self-pipe: the main thread writes on stop/down/up */
    struct sockaddr_storage up; /* the mock broker's listener */
    socklen_t uplen;
    atomic_bool stop;
    atomic_bool down;
    atomic_bool failed;       /* the thread hit an unrecoverable error */
    atomic_bool down_applied; /* the thread has acted on `down` */
    bool listening;           /* lfd accepts connections (forwarder thread only) */
    struct fwd_conn *conns[FWD_MAX_CONNS];
    int nconns;
    pthread_t thread;
    bool started;
};

static void fwd_conn_free(struct fwd_conn *c)
{
    if (!c)
        return;
    if (c->cfd >= 0)
        close(c->cfd);
    if (c->ufd >= 0)
        close(c->ufd);
    free(c->c2u.buf);
    free(c->u2c.buf);
    free(c);
}

static void fwd_drop(struct fwd *f, int i)
{
    fwd_conn_free(f->conns[i]);
    f->conns[i] = f->conns[--f->nconns];
    f->conns[f->nconns] = NULL;
}

static void fwd_drop_all(struct fwd *f)
{
    while (f->nconns > 0)
        fwd_drop(f, f->nconns - 1);
}

/* Closes fd with an RST instead of a FIN, so the client sees the broker refuse it. */
static void close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void fwd_accept(struct fwd *f)
{
    for (;;) {
        int cfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_msg(LOG_WARN, MOD, "forwarder: accept failed: %s", strerror(errno));
            return;
        }
        if (atomic_load(&f->down)) {
            /* While down the fixed port must look as unreachable as the broker. */
            close_reset(cfd);
            continue;
        }
        if (f->nconns == FWD_MAX_CONNS) {
            log_msg(LOG_WARN, MOD, "forwarder: %d connections open, closing a new one",
                    FWD_MAX_CONNS);
            close_reset(cfd);
            continue;
        }
        struct fwd_conn *c = calloc(1, sizeof *c);
        if (c) {
            c->cfd = cfd;
            c->ufd = -1;
            c->c2u.buf = malloc(FWD_BUF);
            c->u2c.buf = malloc(FWD_BUF);
        }
        if (!c || !c->c2u.buf || !c->u2c.buf) {
            log_msg(LOG_WARN, MOD, "forwarder: out of memory, closing a new connection");
            if (c)
                c->cfd = -1;
            fwd_conn_free(c);
            close_reset(cfd);
            continue;
        }
        int one = 1;
        (void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->ufd = socket(f->up.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->ufd < 0) {
            log_msg(LOG_WARN, MOD, "forwarder: socket failed: %s", strerror(errno));
            fwd_conn_free(c);
            continue;
        }
        (void)setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->ufd, (const struct sockaddr *)&f->up, f->uplen) == 0) {
            c->connecting = false;
        } else if (errno == EINPROGRESS) {
            c->connecting = true;
        } else {
            /* The client sees its connection closed, as if the broker refused it. */
            fwd_conn_free(c);
            continue;
        }
        f->conns[f->nconns++] = c;
    }
}

/* Reads what fits from src into d. Returns false when the connection must close. */
static bool dir_read(struct fwd_dir *d, int src)
{
    if (d->off == d->len)
        d->off = d->len = 0;
    else if (d->len == FWD_BUF && d->off > 0) {
        memmove(d->buf, d->buf + d->off, d->len - d->off);
        d->len -= d->off;
        d->off = 0;
    }
    if (d->len == FWD_BUF)
        return true;
    ssize_t n = recv(src, d->buf + d->len, FWD_BUF - d->len, 0);
    if (n > 0)
        d->len += (size_t)n;
    else if (n == 0)
        d->eof = true;
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return false;
    return true;
}

/* Sends what it can from d to dst. Returns false when the connection must close. */
static bool dir_write(struct fwd_dir *d, int dst)
{
    if (d->off < d->len) {
        ssize_t n = send(dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
        if (n > 0)
            d->off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
    }
    if (d->off == d->len)
        d->off = d->len = 0;
    /* Pass a half-close on once everything before it went through. */
    if (d->eof && d->len == 0 && !d->shut) {
        (void)shutdown(dst, SHUT_WR);
        d->shut = true;
    }
    return true;
}

static short want_read(const struct fwd_dir *d)
{
    return (!d->eof && !(d->len == FWD_BUF && d->off == 0)) ? POLLIN : 0;
}

static short want_write(const struct fwd_dir *d) { return d->off < d->len ? POLLOUT : 0; }

/* Handles poll results for one connection. Returns false when it must close. */
static bool fwd_conn_step(struct fwd_conn *c, short crev, short urev)
{
    if ((crev | urev) & POLLNVAL)
        return false;
    if (c->connecting) {
        if (urev & (POLLOUT | POLLERR | POLLHUP)) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
                return false;
            c->connecting = false;
        }
        urev = 0;
    }
    if ((crev & POLLERR) || (urev & POLLERR))
        return false;
    if ((crev & (POLLIN | POLLHUP)) && !c->c2u.eof && !dir_read(&c->c2u, c->cfd))
        return false;
    if (!c->connecting) {
        if ((urev & (POLLIN | POLLHUP)) && !c->u2c.eof && !dir_read(&c->u2c, c->ufd))
            return false;
        if (!dir_write(&c->c2u, c->ufd))
            return false;
    }
    if (!dir_write(&c->u2c, c->cfd))
        return false;
    return !(c->c2u.shut && c->u2c.shut);
}

/*
 * Stops or resumes listening without giving up the port. On Linux,
 * shutdown() of a listening socket resets its queued connections and leaves
 * it bound but closed, so clients get "connection refused" exactly as from
 * the mock broker itself while it is down; listen() later reopens it. A
 * close-and-rebind instead would let another process take the port.
 */
static void fwd_set_listening(struct fwd *f, bool on)
{
    if (!on) {
        fwd_drop_all(f); /* clients relayed so far lose the broker too */
        if (shutdown(f->lfd, SHUT_RDWR) != 0)
            log_msg(LOG_WARN, MOD,
                    "forwarder: cannot stop listening: %s (new connections "
                    "will be reset instead)",
                    strerror(errno));
        else
            f->listening = false;
        return;
    }
    if (f->listening)
        return;
    if (listen(f->lfd, 128) != 0) {
        log_msg(LOG_ERROR, MOD, "forwarder: cannot listen again: %s", strerror(errno));
        atomic_store(&f->failed, true);
        return;
    }
    f->listening = true;
}

static void *fwd_main(void *arg)
{
    struct fwd *f = arg;
    /* listener + wake pipe + two sockets per connection */
    static const int npfd_max = 2 + 2 * FWD_MAX_CONNS;
    struct pollfd *pfd = calloc((size_t)npfd_max, sizeof *pfd);
    if (!pfd) {
        log_msg(LOG_ERROR, MOD, "forwarder: out of memory");
        atomic_store(&f->failed, true);
        return NULL;
    }
    bool was_down = false;
    while (!atomic_load(&f->stop)) {
        bool down = atomic_load(&f->down);
        if (down != was_down)
            fwd_set_listening(f, !down);
        was_down = down;
        atomic_store(&f->down_applied, down);

        pfd[0] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
        /* poll() skips negative fds: a non-listening socket would report POLLHUP forever. */
        pfd[1] = (struct pollfd){.fd = f->listening ? f->lfd : -1, .events = POLLIN};
        int n = 2;
        for (int i = 0; i < f->nconns; i++) {
            struct fwd_conn *c = f->conns[i];
            short cev = (short)(want_read(&c->c2u) | want_write(&c->u2c));
            short uev = c->connecting ? POLLOUT
                                      : (short)(want_read(&c->u2c) | want_write(&c->c2u));
            pfd[n++] = (struct pollfd){.fd = c->cfd, .events = cev};
            pfd[n++] = (struct pollfd){.fd = c->ufd, .events = uev};
        }
        int r = poll(pfd, (nfds_t)n, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            log_msg(LOG_ERROR, MOD, "forwarder: poll failed: %s", strerror(errno));
            atomic_store(&f->failed, true);
            break;
        }
        if (pfd[0].revents) {
            char drain[64];
            while (read(f->wake[0], drain, sizeof drain) > 0) {
            }
        }
        /* Walk connections from the end so fwd_drop's swap-with-last is safe. */
        int nc = f->nconns;
        for (int i = nc - 1; i >= 0; i--) {
            short crev = pfd[2 + 2 * i].revents, urev = pfd[3 + 2 * i].revents;
            if (!fwd_conn_step(f->conns[i], crev, urev))
                fwd_drop(f, i);
        }
        if (pfd[1].revents & POLLIN)
            fwd_accept(f);
    }
    fwd_drop_all(f);
    free(pfd);
    return NULL;
}

static void fwd_wake(struct fwd *f)
{
    char b = 1;
    /* A full pipe already holds a wake-up; nothing is lost by ignoring EAGAIN. */
    ssize_t r = write(f->wake[1], &b, 1);
    (void)r;
}

/* Resolves the mock's "host:port" bootstrap into f->up. */
static int fwd_resolve_upstream(struct fwd *f, const char *bootstraps, struct lerr *err)
{
    char hostport[256];
    snprintf(hostport, sizeof hostport, "%s", bootstraps);
    hostport[strcspn(hostport, ",")] = '\0'; /* one broker, but be safe */
    char *colon = strrchr(hostport, ':');
    if (!colon)
        return lerr_set(err, LERR_INTERNAL, "mock cluster bootstrap '%s' has no port", bootstraps);
    *colon = '\0';
    const char *host = hostport, *port = colon + 1;
    /* "[::1]" style brackets are not for getaddrinfo. */
    char bare[256];
    if (host[0] == '[') {
        snprintf(bare, sizeof bare, "%s", host + 1);
        bare[strcspn(bare, "]")] = '\0';
        host = bare;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res)
        return lerr_set(err, LERR_INTERNAL, "cannot resolve mock cluster address '%s': %s",
                        bootstraps, gai_strerror(rc));
    /* Prefer IPv4: the mock binds 127.0.0.1. */
    struct addrinfo *pick = res;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memcpy(&f->up, pick->ai_addr, pick->ai_addrlen);
    f->uplen = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int fwd_start(struct fwd *f, int port, const char *bootstraps, struct lerr *err)
{
    if (fwd_resolve_upstream(f, bootstraps, err))
        return err->code;
    if (pipe2(f->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        return lerr_set(err, LERR_INTERNAL, "pipe: %s", strerror(errno));
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->lfd < 0)
        return lerr_set(err, LERR_INTERNAL, "socket: %s", strerror(errno));
    int one = 1;
    (void)setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(f->lfd, (const struct sockaddr *)&sin, sizeof sin) != 0)
        return lerr_set(err, LERR_UNAVAILABLE,
                        "cannot listen on 127.0.0.1:%d: %s (pick another --port, or 0 for any)",
                        port, strerror(errno));
    if (listen(f->lfd, 128) != 0)
        return lerr_set(err, LERR_UNAVAILABLE, "listen on 127.0.0.1:%d: %s", port,
                        strerror(errno));
    f->listening = true;
    int rc = pthread_create(&f->thread, NULL, fwd_main, f);
    if (rc != 0)
        return lerr_set(err, LERR_INTERNAL, "cannot start the forwarder thread: %s", strerror(rc));
    f->started = true;
    return 0;
}

static void fwd_stop(struct fwd *f)
{
    if (f->started) {
        atomic_store(&f->stop, true);
        fwd_wake(f);
        pthread_join(f->thread, NULL);
        f->started = false;
    }
    if (f->lfd >= 0)
        close(f->lfd);
    for (int i = 0; i < 2; i++)
        if (f->wake[i] >= 0)
            close(f->wake[i]);
    f->lfd = f->wake[0] = f->wake[1] = -1;
}

/* ---- the broker -------------------------------------------------------- */

/* librdkafka's own log lines go through ours, so stderr has one format. */
static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /*
     * Our handle only hosts the mock cluster and never connects anywhere, so
     * librdkafka's "No `bootstrap.servers` configured" warning is noise.
     */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
        return;
    enum log_level lvl = LOG_DEBUG; /* syslog levels: 3 error, 4 warning, 5-6 info */
    if (level <= 3)
        lvl = LOG_ERROR;
    else if (level == 4)
        lvl = LOG_WARN;
    else if (level <= 6)
        lvl = LOG_INFO;
    log_msg(lvl, MOD, "librdkafka %s: %s", fac, buf);
}

/* Kafka's legal topic names: [A-Za-z0-9._-]{1,249}, not "." or "..". */
static bool topic_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int check_opts(const struct source_devkafka_opts *o, struct lerr *err)
{
    if (o->port < 0 || o->port > 65535)
        return lerr_set(err, LERR_INVALID, "--port must be 0..65535, got %d", o->port);
    for (int i = 0; i < o->ntopics; i++) {
        const struct source_devkafka_topic *t = &o->topics[i];
        if (!topic_name_ok(t->name))
            return lerr_set(err, LERR_INVALID,
                            "--topic '%s': a topic name is 1..249 characters of "
                            "[A-Za-z0-9._-] (and not '.' or '..')",
                            t->name);
        if (t->partitions < 1)
            return lerr_set(err, LERR_INVALID, "--topic %s: partitions must be >= 1, got %d",
                            t->name, t->partitions);
        for (int j = 0; j < i; j++)
            if (strcmp(o->topics[j].name, t->name) == 0)
                return lerr_set(err, LERR_INVALID, "--topic %s is given twice", t->name);
    }
    return 0;
}

/* Takes the broker down or up; `fwd` may be NULL (no --port). False if it failed. */
static bool set_broker_state(rd_kafka_mock_cluster_t *mc, struct fwd *fwd, bool down)
{
    rd_kafka_resp_err_t e = down ? rd_kafka_mock_broker_set_down(mc, DK_BROKER_ID)
                                 : rd_kafka_mock_broker_set_up(mc, DK_BROKER_ID);
    if (e) {
        log_msg(LOG_ERROR, MOD, "cannot take the broker %s: %s", down ? "down" : "up",
                rd_kafka_err2str(e));
        return false;
    }
    if (fwd) {
        atomic_store(&fwd->down, down);
        fwd_wake(fwd);
        /*
         * Wait (briefly) until the forwarder has acted, so that once the
         * "down" line is logged, the fixed port refuses connections too.
         */
        for (int i = 0; i < 2000 && atomic_load(&fwd->down_applied) != down; i++) {
            struct timespec ms = {0, 1000 * 1000};
            nanosleep(&ms, NULL);
        }
    }
    return true;
}

int source_devkafka_run(const struct source_devkafka_opts *o, struct lerr *err)
{
    if (check_opts(o, err))
        return err->code;

    /*
     * Block the signals we handle before librdkafka creates its threads, so
     * they inherit the mask and only sigtimedwait() below ever sees them.
     */
    sigset_t sigs, oldmask;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGUSR2);
    int prc = pthread_sigmask(SIG_BLOCK, &sigs, &oldmask);
    if (prc != 0)
        return lerr_set(err, LERR_INTERNAL, "pthread_sigmask: %s", strerror(prc));

    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    struct fwd fwd = {.lfd = -1, .wake = {-1, -1}};
    bool use_fwd = o->port != 0;
    char errstr[512];

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, rk_log_cb);
    if (rd_kafka_conf_set(conf, "client.id", "lodestar-dev-kafka", errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        lerr_set(err, LERR_INTERNAL, "librdkafka config: %s", errstr);
        goto out;
    }
    /* rd_kafka_new takes conf on success only. */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        lerr_set(err, LERR_INTERNAL, "cannot create the librdkafka handle: %s", errstr);
        goto out;
    }
    mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        lerr_set(err, LERR_INTERNAL, "cannot create librdkafka's mock cluster");
        goto out;
    }
    for (int i = 0; i < o->ntopics; i++) {
        const struct source_devkafka_topic *t = &o->topics[i];
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, t->name, t->partitions, 1);
        if (e) {
            lerr_set(err, LERR_INTERNAL, "cannot create topic %s: %s", t->name,
                     rd_kafka_err2str(e));
            goto out;
        }
    }

    const char *mock_addr = rd_kafka_mock_cluster_bootstraps(mc);
    char bootstrap[300];
    if (use_fwd) {
        if (fwd_start(&fwd, o->port, mock_addr, err))
            goto out;
        snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", o->port);
    } else {
        snprintf(bootstrap, sizeof bootstrap, "%s", mock_addr);
    }

    /* The contract: the bootstrap address is the first line on stdout. */
    printf("%s\n", bootstrap);
    fflush(stdout);

    if (use_fwd)
        log_msg(LOG_INFO, MOD, "listening on %s (forwarding to the mock broker at %s)", bootstrap,
                mock_addr);
    else
        log_msg(LOG_INFO, MOD, "listening on %s", bootstrap);
    for (int i = 0; i < o->ntopics; i++)
        log_msg(LOG_INFO, MOD, "created topic %s with %d partition%s", o->topics[i].name,
                o->topics[i].partitions, o->topics[i].partitions == 1 ? "" : "s");
    if (o->ntopics == 0)
        log_msg(LOG_INFO, MOD, "no --topic given");
    /* Seen with librdkafka 2.0.2: Metadata and Produce requests create unknown topics. */
    log_msg(LOG_INFO, MOD,
            "other topics are created on first use with the mock's default partition "
            "count (4 in librdkafka 2.0.2)");
    log_msg(LOG_WARN, MOD,
            "this is librdkafka's mock cluster, in memory only: each partition keeps only "
            "its newest ~%d MiB (and %d record batches) and silently drops older data. "
            "Use more partitions for more data, and produce with kcat's "
            "-X sticky.partitioning.linger.ms=0 so messages spread over them. "
            "A fetch returns at most one record batch per partition: produce in large "
            "batches, or reading many small ones gets slow. "
            "A consumer group's first join takes about 3 s.",
            DK_MOCK_PART_BYTES / (1024 * 1024), DK_MOCK_PART_BATCHES);
    log_msg(LOG_INFO, MOD,
            "SIGUSR1 takes the broker down, SIGUSR2 brings it back, SIGTERM/SIGINT stop it");

    bool down = false;
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 500 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                lerr_set(err, LERR_INTERNAL, "sigtimedwait: %s", strerror(errno));
                break;
            }
            if (use_fwd && atomic_load(&fwd.failed)) {
                lerr_set(err, LERR_INTERNAL, "the port forwarder stopped (see above)");
                break;
            }
            continue;
        }
        if (sig == SIGUSR1) {
            if (down) {
                log_msg(LOG_INFO, MOD, "SIGUSR1: the broker is already down");
                continue;
            }
            if (!set_broker_state(mc, use_fwd ? &fwd : NULL, true))
                continue;
            down = true;
            log_msg(LOG_INFO, MOD,
                    "SIGUSR1: broker down (connections closed and refused; "
                    "data kept)");
        } else if (sig == SIGUSR2) {
            if (!down) {
                log_msg(LOG_INFO, MOD, "SIGUSR2: the broker is already up");
                continue;
            }
            if (!set_broker_state(mc, use_fwd ? &fwd : NULL, false))
                continue;
            down = false;
            log_msg(LOG_INFO, MOD, "SIGUSR2: broker up again");
        } else {
            log_msg(LOG_INFO, MOD, "%s: shutting down",
                    sig == SIGTERM  ? "SIGTERM"
                    : sig == SIGINT ? "SIGINT"
                                    : "SIGHUP");
            break;
        }
    }

out:
    if (use_fwd)
        fwd_stop(&fwd);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    /*
     * Take any signal that arrived during shutdown (a second SIGTERM, say)
     * before unblocking, so it cannot kill the process on its way out.
     */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&sigs, NULL, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    return err->code;
}
