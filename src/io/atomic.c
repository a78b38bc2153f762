/*
 * atomic.c - whole-file atomic writes (temp file + fsync + rename).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "io/atomic.h"

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Writes buf[0..n) to fd, retrying short writes and EINTR; 1 on success,
 * 0 with errno set. */
static int put_all(int fd, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        if (w == 0) {
            errno = EIO;
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* See atomic.h. */
void trit_sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* See atomic.h. */
int trit_dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    int empty = 1;
    struct dirent *e;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

/* Best effort: fsyncs the folder holding path, so that a rename is durable. */
static void sync_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!dir) return;
    trit_sync_dir(dir);
    free(dir);
}

/* ======================================================================== */
/* Writing                                                                   */
/* ======================================================================== */

/* See atomic.h. */
trit_status trit_write_atomic(const char *path, const void *const *parts, const size_t *lens, size_t n,
                              int durable, trit_error *err) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        trit_status st = trit_fail(err, TRIT_ERR_IO, "cannot create %s: %s; %s was left unchanged (check that "
                                   "the folder exists and is writable)", tmp, strerror(errno), path);
        free(tmp);
        return st;
    }
    const char *what = "write";
    int ok = 1;
    for (size_t i = 0; ok && i < n; i++)
        if (lens[i]) ok = put_all(fd, parts[i], lens[i]);
    if (ok && durable && fsync(fd) != 0) {
        ok = 0;
        what = "fsync";
    }
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        what = "close";
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        what = "rename";
        e = errno;
    }
    trit_status st = TRIT_OK;
    if (!ok) {
        unlink(tmp);
        st = trit_fail(err, TRIT_ERR_IO, "%s: %s failed: %s; the previous file was left unchanged (check free "
                       "disk space and permissions)", path, what, strerror(e));
    } else if (durable) {
        sync_dir_of(path);
    }
    free(tmp);
    return st;
}
