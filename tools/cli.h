/*
 * cli.h - helpers shared by the trit subcommands.
 */
#ifndef TRIT_CLI_H
#define TRIT_CLI_H
#include <stdint.h>
#include "trit.h"

/* Subcommands: each returns the process exit code. */
int cmd_generate(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_synth(int argc, char **argv);  /* tools/cmd_synth.c: random-weight checkpoints */
int cmd_bench(int argc, char **argv);  /* tools/cmd_bench.c: pp/tg tokens/s, like llama-bench */
int cmd_chat(int argc, char **argv);   /* tools/cmd_chat.c: interactive chat with the model's chat template */
int cmd_export(int argc, char **argv); /* tools/cmd_export.c: trained model -> Hugging Face folder */
int cmd_tokenizer(int argc, char **argv); /* tools/cmd_tokenizer_train.c: `trit tokenizer train` */
int cmd_train(int argc, char **argv);     /* tools/cmd_train.c: `trit train` (quantization-aware training) */
int cmd_perplexity(int argc, char **argv); /* tools/cmd_perplexity.c: `trit perplexity` over a text file */

/* Prints "trit <cmd>: error: <msg>" to stderr; returns 1. */
int cli_error(const char *cmd, const char *fmt, ...);

/* Parses "1 2 3" / "1,2,3" into a malloc'ed array; returns count or -1 on
 * a malformed list (message in errbuf). */
int64_t cli_parse_ids(const char *s, int32_t **out, char *errbuf, size_t errlen);

/* Parses an integer / float option value; returns 0 and prints an error on
 * malformed input. */
int cli_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_float(const char *cmd, const char *opt, const char *s, double *out);

/* Loads a model, printing a clear error on failure. NULL on failure. */
trit_model *cli_load_model(const char *cmd, const char *dir);
/* Same, with the --lm-head choice: NULL / "stored" (as in the file), "q8", "q6" or "q4". */
trit_model *cli_load_model_head(const char *cmd, const char *dir, const char *lm_head);
/* The load-time choices shared by the model commands, as given on the command
 * line (NULL: the default): --lm-head, --weights-format, --binary. */
typedef struct {
    const char *lm_head; /* stored | q8 | q6 | q4                           */
    const char *weights; /* auto | 2bit | 1.6bit | lut | stored             */
    const char *binary;  /* auto | off | force (NULL: $TRIT_BINARY, else auto) */
    const char *cache_k, *cache_v; /* KV cache types: f32 | f16 (context options) */
} cli_model_opts;

/* If option a is one of the cli_model_opts flags, stores its value val in
 * *o (NULL, a missing value, as "") and returns 1 (the caller then skips
 * val); returns 0 otherwise. */
int cli_model_opt(const char *a, const char *val, cli_model_opts *o);

/* The help lines of those flags, for the commands' usage texts. */
#define CLI_MODEL_OPTS_HELP \
    "  --lm-head F         " CLI_LM_HEAD_HELP "\n" \
    "  --weights-format F  ternary weights: auto (default: 2bit on AVX-512, else stored), stored\n" \
    "                      (the checkpoint's 2-bit layout in place), 2bit (repacked row bands),\n" \
    "                      1.6bit (5 trits per byte: fewest bytes) or lut (lookup-table kernel);\n" \
    "                      1.6bit and lut are fast on AVX-512 only\n" \
    "  --binary B          linears with only +-1 weights: auto (default: run as 1-bit blocks),\n" \
    "                      off (keep 2-bit codes) or force (fail unless every packed linear is binary)\n" \
    "  -ctk, --cache-type-k T, -ctv, --cache-type-v T\n" \
    "                      KV cache types: f32 (default, exact) or f16 (half the memory and bytes\n" \
    "                      read per token at long contexts; keys/values rounded to f16)\n"

/* Sets cp's KV cache types from o (-ctk / -ctv); prints an error and
 * returns 0 on a bad value. */
int cli_ctx_opts(const char *cmd, const cli_model_opts *o, trit_ctx_params *cp);

/* As cli_load_model_head, with all the options of o (values checked here;
 * prints an error and returns NULL on a bad value or a failed load). */
trit_model *cli_load_model_opts(const char *cmd, const char *dir, const cli_model_opts *o);

/* Help line of --lm-head, shared by the commands that take it. */
#define CLI_LM_HEAD_HELP "stored (default, exact), q8, q6 or q4: lm_head quantized at load (8.5 / 6.5 / 4.5 bits per weight)"

/* Peak resident set size in MiB (from /proc/self/status VmHWM), or -1. */
double cli_peak_rss_mib(void);

/* Share (0..1) of the process's resident memory mapped with 2 MiB pages
 * (anonymous transparent huge pages + page-cache folios mapped whole), from
 * /proc/self/smaps_rollup; -1 where that file is missing. Weights streamed
 * every token run measurably faster from 2 MiB pages (docs/PERF.md). */
double cli_huge_page_share(void);

#endif
