/*
 * enospc.c — a disk that fills up on demand, for tests. It wraps the libc
 * calls that write files (open, write, fsync, rename, ...) so that files
 * under one directory, the prefix, fail the way a full filesystem fails
 * them; everything else passes through untouched (the prefix is usually a
 * data directory's tables/, so the catalog and the push logs keep working).
 *
 * Two ways in:
 *   - preloaded into a server (the e2e tests; built as build/tests/libenospc.so):
 *       LD_PRELOAD=build/tests/libenospc.so ENOSPC_PREFIX=/data/tables \
 *       ENOSPC_CONTROL=/tmp/ctl lodestar serve ...
 *     The plan is the content of the control file (missing or empty: pass
 *     through), read again whenever it changes, so a test fills and frees
 *     the "disk" by writing that file. Under ASan also set
 *     ASAN_OPTIONS=verify_asan_link_order=0 (the shim is itself not
 *     instrumented; its calls go on to ASan's interceptors).
 *   - compiled into a unit test (#include "../enospc/enospc.c"): the test's
 *     own definitions of these functions take the place of libc's for the
 *     whole program; enospc_set() sets the prefix and the plan.
 *
 * Plans (one word, optionally "=N"):
 *   full        every write to a file under the prefix fails with ENOSPC
 *   bytes=N     N more bytes fit: the write that crosses is cut short, the
 *               next one fails with ENOSPC (how a real disk fills)
 *   writes=N    N more write calls succeed, then every one fails with ENOSPC
 *   open        creating a file under the prefix fails with ENOSPC
 *   fsync       fsync/fdatasync of a file under the prefix fails with ENOSPC
 *               (delayed allocation, thin volumes, NFS)
 *   dirfsync    fsync of a directory under the prefix fails with EIO
 *   rename      rename onto a name under the prefix fails with ENOSPC
 *   close       close of a written file under the prefix fails with ENOSPC (NFS)
 * enospc_failures() counts the calls failed on purpose; enospc_writes() the
 * write calls made to files under the prefix (to find every failure point).
 */
#undef _FORTIFY_SOURCE /* its inline open() would clash with ours */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define ENOSPC_MAX_FD 65536

// clang-format off
enum enospc_kind { EK_NONE, EK_FULL, EK_BYTES, EK_WRITES, EK_OPEN, EK_FSYNC, EK_DIRFSYNC,
                   EK_RENAME, EK_CLOSE };
// clang-format on

/* What a tracked descriptor is: 1 a file under the prefix, 2 a directory there. */
static _Atomic unsigned char enospc_fds[ENOSPC_MAX_FD];
static char enospc_prefix[1024];
static size_t enospc_prefix_len;
static _Atomic int enospc_kind_now;
static _Atomic long long enospc_left; /* bytes= / writes= budget */
static _Atomic long enospc_failed, enospc_nwrites;
/* the control file as last read (preloaded use) */
static char enospc_ctl_path[1024];
static struct timespec enospc_ctl_mtime;
static off_t enospc_ctl_size = -1;
static ino_t enospc_ctl_ino;
static atomic_flag enospc_ctl_lock = ATOMIC_FLAG_INIT;
static atomic_int enospc_inited;

static void enospc_parse(const char *plan)
{
    char w[32] = "";
    long long n = 0;
    if (sscanf(plan, " %31[a-z] = %lld", w, &n) < 1)
        w[0] = '\0';
    int k = !strcmp(w, "full")       ? EK_FULL
            : !strcmp(w, "bytes")    ? EK_BYTES
            : !strcmp(w, "writes")   ? EK_WRITES
            : !strcmp(w, "open")     ? EK_OPEN
            : !strcmp(w, "fsync")    ? EK_FSYNC
            : !strcmp(w, "dirfsync") ? EK_DIRFSYNC
            : !strcmp(w, "rename")   ? EK_RENAME
            : !strcmp(w, "close")    ? EK_CLOSE
                                     : EK_NONE;
    atomic_store(&enospc_left, n);
    atomic_store(&enospc_kind_now, k);
}

/* Sets the prefix (NULL keeps it) and the plan ("" or NULL: pass through). */
void enospc_set(const char *prefix, const char *plan);
void enospc_set(const char *prefix, const char *plan)
{
    atomic_store(&enospc_inited, 1);
    if (prefix) {
        snprintf(enospc_prefix, sizeof enospc_prefix, "%s", prefix);
        enospc_prefix_len = strlen(enospc_prefix);
        while (enospc_prefix_len > 1 && enospc_prefix[enospc_prefix_len - 1] == '/')
            enospc_prefix[--enospc_prefix_len] = '\0';
    }
    enospc_parse(plan ? plan : "");
}

long enospc_failures(void);
long enospc_failures(void) { return atomic_load(&enospc_failed); }
long enospc_writes(void);
long enospc_writes(void) { return atomic_load(&enospc_nwrites); }

/* Raw system calls: the control file is read without coming back in here. */
static void enospc_read_control(void)
{
    if (!enospc_ctl_path[0] || atomic_flag_test_and_set(&enospc_ctl_lock))
        return;
    struct stat st;
    if (stat(enospc_ctl_path, &st) != 0) {
        if (enospc_ctl_size != -1)
            enospc_parse("");
        enospc_ctl_size = -1;
    } else if (st.st_size != enospc_ctl_size || st.st_ino != enospc_ctl_ino ||
               st.st_mtim.tv_sec != enospc_ctl_mtime.tv_sec ||
               st.st_mtim.tv_nsec != enospc_ctl_mtime.tv_nsec) {
        char plan[128] = "";
        int fd = (int)syscall(SYS_openat, AT_FDCWD, enospc_ctl_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            long n = syscall(SYS_read, fd, plan, sizeof plan - 1);
            plan[n > 0 ? n : 0] = '\0';
            syscall(SYS_close, fd);
        }
        enospc_parse(plan);
        enospc_ctl_size = st.st_size;
        enospc_ctl_ino = st.st_ino;
        enospc_ctl_mtime = st.st_mtim;
    }
    atomic_flag_clear(&enospc_ctl_lock);
}

static int enospc_kind(void)
{
    if (!atomic_load(&enospc_inited)) {
        const char *p = getenv("ENOSPC_PREFIX"), *c = getenv("ENOSPC_CONTROL");
        if (p)
            enospc_set(p, "");
        if (c)
            snprintf(enospc_ctl_path, sizeof enospc_ctl_path, "%s", c);
        atomic_store(&enospc_inited, 1);
    }
    enospc_read_control();
    return atomic_load(&enospc_kind_now);
}

/* Whether path (relative paths are taken from the working directory) lies under the prefix. */
static bool enospc_under(int dirfd, const char *path)
{
    enospc_kind();
    if (!enospc_prefix_len || !path)
        return false;
    char abs[4096];
    if (path[0] != '/' && dirfd == AT_FDCWD) {
        if (!getcwd(abs, sizeof abs - 1))
            return false;
        size_t n = strlen(abs);
        snprintf(abs + n, sizeof abs - n, "/%s", path);
        path = abs;
    } else if (path[0] != '/') {
        return false; /* relative to another directory: not used by the code under test */
    }
    return strncmp(path, enospc_prefix, enospc_prefix_len) == 0 &&
           (path[enospc_prefix_len] == '/' || path[enospc_prefix_len] == '\0');
}

static int enospc_fail(int e)
{
    atomic_fetch_add(&enospc_failed, 1);
    errno = e;
    return -1;
}

static bool enospc_tracked(int fd, unsigned char what)
{
    return fd >= 0 && fd < ENOSPC_MAX_FD && atomic_load(&enospc_fds[fd]) == what;
}

static void *enospc_next(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        static const char msg[] = "enospc: dlsym failed\n";
        ssize_t ignored = (ssize_t)syscall(SYS_write, 2, msg, sizeof msg - 1);
        (void)ignored;
        abort();
    }
    return f;
}

#define ENOSPC_REAL(ret, name, args) \
    static ret(*real_##name) args;   \
    if (!real_##name)                \
        real_##name = (ret(*) args)enospc_next(#name);

static int enospc_opened(int fd, int dirfd, const char *path, int flags)
{
    if (fd >= 0 && fd < ENOSPC_MAX_FD)
        atomic_store(&enospc_fds[fd], !enospc_under(dirfd, path) ? 0
                                      : (flags & O_DIRECTORY)    ? 2
                                                                 : 1);
    return fd;
}

static bool enospc_refuse_create(int dirfd, const char *path, int flags)
{
    return (flags & O_CREAT) && enospc_kind() == EK_OPEN && enospc_under(dirfd, path);
}

int open(const char *path, int flags, ...)
{
    ENOSPC_REAL(int, open, (const char *, int, ...));
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    if (enospc_refuse_create(AT_FDCWD, path, flags))
        return enospc_fail(ENOSPC);
    return enospc_opened(real_open(path, flags, mode), AT_FDCWD, path, flags);
}

int open64(const char *path, int flags, ...)
{
    ENOSPC_REAL(int, open64, (const char *, int, ...));
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    if (enospc_refuse_create(AT_FDCWD, path, flags))
        return enospc_fail(ENOSPC);
    return enospc_opened(real_open64(path, flags, mode), AT_FDCWD, path, flags);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    ENOSPC_REAL(int, openat, (int, const char *, int, ...));
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    if (enospc_refuse_create(dirfd, path, flags))
        return enospc_fail(ENOSPC);
    return enospc_opened(real_openat(dirfd, path, flags, mode), dirfd, path, flags);
}

int creat(const char *path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

int close(int fd)
{
    ENOSPC_REAL(int, close, (int));
    bool fail = enospc_tracked(fd, 1) && enospc_kind() == EK_CLOSE;
    if (fd >= 0 && fd < ENOSPC_MAX_FD)
        atomic_store(&enospc_fds[fd], 0);
    int rc = real_close(fd);
    return fail && rc == 0 ? enospc_fail(ENOSPC) : rc;
}

/* How many of n bytes a write may put on the "disk" now (0: fail it). */
static size_t enospc_room(size_t n)
{
    atomic_fetch_add(&enospc_nwrites, 1);
    switch (enospc_kind()) {
    case EK_FULL: return 0;
    case EK_BYTES: {
        long long left = atomic_load(&enospc_left);
        size_t k = left <= 0 ? 0 : (size_t)left < n ? (size_t)left : n;
        atomic_fetch_sub(&enospc_left, (long long)k);
        return k;
    }
    case EK_WRITES: return atomic_fetch_sub(&enospc_left, 1) > 0 ? n : 0;
    default: return n;
    }
}

ssize_t write(int fd, const void *p, size_t n)
{
    ENOSPC_REAL(ssize_t, write, (int, const void *, size_t));
    if (n && enospc_tracked(fd, 1)) {
        size_t k = enospc_room(n);
        if (!k)
            return enospc_fail(ENOSPC);
        n = k;
    }
    return real_write(fd, p, n);
}

ssize_t pwrite(int fd, const void *p, size_t n, off_t off)
{
    ENOSPC_REAL(ssize_t, pwrite, (int, const void *, size_t, off_t));
    if (n && enospc_tracked(fd, 1)) {
        size_t k = enospc_room(n);
        if (!k)
            return enospc_fail(ENOSPC);
        n = k;
    }
    return real_pwrite(fd, p, n, off);
}

ssize_t pwrite64(int fd, const void *p, size_t n, off_t off) { return pwrite(fd, p, n, off); }

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    ENOSPC_REAL(ssize_t, writev, (int, const struct iovec *, int));
    if (enospc_tracked(fd, 1)) {
        size_t n = 0;
        for (int i = 0; i < iovcnt; i++)
            n += iov[i].iov_len;
        if (n && enospc_room(n) < n)
            return enospc_fail(ENOSPC); /* all or nothing: simpler, and still legal */
    }
    return real_writev(fd, iov, iovcnt);
}

int fsync(int fd)
{
    ENOSPC_REAL(int, fsync, (int));
    if (enospc_tracked(fd, 1) && enospc_kind() == EK_FSYNC)
        return enospc_fail(ENOSPC);
    if (enospc_tracked(fd, 2) && enospc_kind() == EK_DIRFSYNC)
        return enospc_fail(EIO);
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    ENOSPC_REAL(int, fdatasync, (int));
    if (enospc_tracked(fd, 1) && enospc_kind() == EK_FSYNC)
        return enospc_fail(ENOSPC);
    return real_fdatasync(fd);
}

int rename(const char *from, const char *to)
{
    ENOSPC_REAL(int, rename, (const char *, const char *));
    if (enospc_kind() == EK_RENAME && enospc_under(AT_FDCWD, to))
        return enospc_fail(ENOSPC);
    return real_rename(from, to);
}
