/*
 * atomic.h - writing a whole file so that readers see either the old file
 * or the complete new one, never a partial one.
 */
#ifndef TRIT_ATOMIC_H
#define TRIT_ATOMIC_H

#include <stddef.h>
#include "trit.h"

/* Writes the concatenation of parts[0..n) (lens[i] bytes each) to path:
 * first to "path.tmp", then (when `durable`) fsync, rename over path, and
 * (when `durable`) fsync of the folder. Readers see the old or the new
 * file either way; `durable` also makes the new file survive a power loss
 * once the call returns (it costs a disk flush: use it for files that
 * cannot be rebuilt). On any failure the temporary file is removed, path is
 * left as it was, and err names the path, the failing operation and the
 * system error (TRIT_ERR_IO). */
trit_status trit_write_atomic(const char *path, const void *const *parts, const size_t *lens, size_t n,
                              int durable, trit_error *err);

/* fsyncs the folder `dir` (best effort): makes renames and new entries in it
 * durable. */
void trit_sync_dir(const char *dir);

/* 1 if `path` is a folder with no entries other than . and .., else 0. */
int trit_dir_is_empty(const char *path);

#endif /* TRIT_ATOMIC_H */
