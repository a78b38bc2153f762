/*
 * checkpoint.h - the checkpoint of `trit train`: one safetensors file that
 * holds everything a resumed run needs to continue exactly as the
 * uninterrupted run would have, written atomically (st_write: temp file,
 * fsync, rename), and the loading of start weights for continual QAT.
 *
 * Tensors, all F32:
 *   <HF name>                        every parameter (fp32 latent weights)
 *   optimizer.exp_avg.<HF name>      AdamW first moment
 *   optimizer.exp_avg_sq.<HF name>   AdamW second moment
 * "__metadata__" (string values):
 *   format             "pt"
 *   trit.kind          "train-checkpoint"
 *   trit.version       "1"
 *   trit.step          optimizer steps taken (decimal)
 *   trit.rng           batch sampler state (16 hex digits)
 *   trit.data_checksum token cache payload checksum (16 hex digits)
 *   trit.guard         spike guard state, JSON {"n","pos","skipped",
 *                      "consecutive","loss":[...],"norm":[...]} (floats %.9g)
 *   trit.config        model config, Hugging Face config.json keys
 *   trit.run           the run's options: a JSON object owned by the caller
 */
#ifndef TRIT_TRAIN_CHECKPOINT_H
#define TRIT_TRAIN_CHECKPOINT_H

#include <stdint.h>
#include "train/guard.h"
#include "trit.h"
#include "trit_train.h"

#define TC_KIND "train-checkpoint"
#define TC_VERSION "1"

/* The loop state saved beside the trainer's tensors. */
typedef struct {
    int64_t step;              /* optimizer steps taken                       */
    uint64_t rng;              /* batch sampler state after the last batch    */
    uint64_t data_checksum;    /* token payload the run trained on            */
    tg_guard guard;            /* factor is not saved (the run's option)      */
    trit_train_config cfg;     /* model config                                */
    char *run_json;            /* run options; malloc'ed by tc_read_state     */
} tc_state;

/* Writes the trainer (parameters, moments, step from s->step) and s to path
 * atomically. Refuses (TRIT_ERR_VALUE) to save non-finite parameters. On
 * failure the previous file at path is unchanged. */
trit_status tc_save(const char *path, trit_trainer *t, const tc_state *s, trit_error *err);

/* Reads the loop state and config of the checkpoint at path (no tensors);
 * free s->run_json with tc_state_free. Errors say when path is not a trit
 * training checkpoint. */
trit_status tc_read_state(const char *path, tc_state *s, trit_error *err);
void tc_state_free(tc_state *s);

/* Loads parameters, moments and the step of the checkpoint at path into t
 * (created with the checkpoint's config). */
trit_status tc_restore(const char *path, trit_trainer *t, trit_error *err);

/* ---- start weights (--init) ---- */

/* Model config of an --init source: a Hugging Face folder (config.json +
 * model.safetensors or a sharded index), a `trit train` run folder (holding
 * checkpoint.safetensors) or a checkpoint file. */
trit_status tc_init_config(const char *src, trit_train_config *cfg, trit_error *err);

/* Loads the parameters of the --init source into t (moments stay zero).
 * Weights must be full precision (F32, F16, BF16) and finite; packed
 * ternary checkpoints are refused with a message saying so. Extra tensors
 * (a tied lm_head copy, optimizer moments) are ignored. */
trit_status tc_init_weights(const char *src, trit_trainer *t, trit_error *err);

#endif /* TRIT_TRAIN_CHECKPOINT_H */
