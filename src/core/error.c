/*
 * error.c - status codes and error messages.
 */
#include <stdio.h>
#include <string.h>
#include "core/core.h"

/* Returns a short constant description of a status code. */
const char *trit_status_str(trit_status s) {
    switch (s) {
    case TRIT_OK: return "ok";
    case TRIT_ERR_IO: return "i/o error";
    case TRIT_ERR_FORMAT: return "format error";
    case TRIT_ERR_MISMATCH: return "mismatch with config";
    case TRIT_ERR_UNSUPPORTED: return "unsupported";
    case TRIT_ERR_VALUE: return "bad value";
    case TRIT_ERR_ARG: return "invalid argument";
    case TRIT_ERR_NOMEM: return "out of memory";
    case TRIT_ERR_CONTEXT: return "context full";
    }
    return "unknown error";
}

/* Fills err (when not NULL) with code and the formatted message; returns code. */
trit_status trit_fail(trit_error *err, trit_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
