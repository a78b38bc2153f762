/*
 * runlog.h - the training log of `trit train`: RUN_DIR/log.csv, one row per
 * optimizer step, appended (and flushed) as the run goes, and kept in memory
 * for the loss plot. Columns:
 *   step,loss,lr,grad_norm,tok_s,val_loss,val_ppl,skipped
 * val_loss / val_ppl are empty on steps without evaluation; skipped is the
 * number of steps the spike guard has skipped so far.
 */
#ifndef TRIT_TRAIN_RUNLOG_H
#define TRIT_TRAIN_RUNLOG_H

#include <stdint.h>
#include <stdio.h>
#include "trit.h"

#define TL_HEADER "step,loss,lr,grad_norm,tok_s,val_loss,val_ppl,skipped"

typedef struct {
    int64_t step;
    float loss, grad_norm;
    double lr, tok_s;
    float val_loss;       /* NaN when the step was not evaluated */
    int64_t skipped;
} tl_row;

typedef struct {
    tl_row *rows;
    size_t n, cap;
    char *path;
    FILE *f;              /* open for appending */
} tl_log;

/* Opens the log at path. keep_steps < 0 starts a new log (header only);
 * otherwise the rows of the existing log with step <= keep_steps are kept
 * byte for byte and later ones dropped (a resumed run writes them again);
 * the file is rewritten atomically either way. */
trit_status tl_open(tl_log *log, const char *path, int64_t keep_steps, trit_error *err);

/* Appends a row to the file (flushed) and to memory. */
trit_status tl_append(tl_log *log, const tl_row *r, trit_error *err);

void tl_close(tl_log *log);

/* Formats r as a CSV line (no newline) into buf. */
void tl_format(const tl_row *r, char *buf, size_t cap);

/* Parses a CSV line into r; 1 on success. */
int tl_parse(const char *line, tl_row *r);

#endif /* TRIT_TRAIN_RUNLOG_H */
