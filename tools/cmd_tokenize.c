/*
 * cmd_tokenize.c - `trit tokenize` and `trit detokenize`.
 *
 *   trit tokenize -m PATH [--bos] [--special]
 *       reads all of stdin as one text and prints its ids, space-separated,
 *       on one line (BOS only with --bos; special tokens written in the
 *       text are recognised only with --special).
 *   trit detokenize -m PATH --ids "1 2 3" [--special]
 *       prints the text of the ids exactly (no newline is added); special
 *       tokens are hidden unless --special. The text is streamed: each
 *       token's completed characters are written as they come.
 * PATH is a model directory, a tokenizer.json, a tokenizer.model
 * (SentencePiece or tiktoken) or a directory with GPT-2 vocab + merges.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "text/tokenizer.h"

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

typedef struct {
    const char *model;
    const char *ids;
    int bos, special;
} tok_args;

/* Contract: parses the options of both commands into a; prints a message
 * and returns 0 on an unknown or incomplete option. `with_ids` allows
 * --ids, `with_bos` allows --bos. */
static int parse_args(int argc, char **argv, tok_args *a, int with_ids, int with_bos) {
    memset(a, 0, sizeof *a);
    const char *cmd = argc > 0 ? argv[0] : "tokenize";
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if ((strcmp(s, "-m") == 0 || strcmp(s, "--model") == 0) && i + 1 < argc) {
            a->model = argv[++i];
        } else if (with_ids && strcmp(s, "--ids") == 0 && i + 1 < argc) {
            a->ids = argv[++i];
        } else if (with_bos && strcmp(s, "--bos") == 0) {
            a->bos = 1;
        } else if (strcmp(s, "--special") == 0) {
            a->special = 1;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            if (with_ids)
                printf("usage: trit %s -m PATH --ids \"1 2 3\" [--special]\n", cmd);
            else
                printf("usage: trit %s -m PATH [--bos] [--special] < text\n", cmd);
            exit(0);
        } else {
            fprintf(stderr, "trit %s: unknown or incomplete option \"%s\" (see --help)\n", cmd, s);
            return 0;
        }
    }
    if (!a->model) {
        fprintf(stderr, "trit %s: -m PATH is required (model directory or tokenizer file)\n", cmd);
        return 0;
    }
    if (with_ids && !a->ids) {
        fprintf(stderr, "trit %s: --ids \"...\" is required\n", cmd);
        return 0;
    }
    return 1;
}

/* Contract: loads the tokenizer with the PCRE2 engine; prints the error and
 * returns NULL on failure. */
static tok_tokenizer *load(const char *cmd, const char *path) {
    tok_load_params p = tok_default_load_params();
    p.regex = tok_pcre2_api();
    tok_tokenizer *t = NULL;
    trit_error err;
    if (tok_load(path, &p, &t, &err) != TRIT_OK) {
        fprintf(stderr, "trit %s: %s\n", cmd, err.msg);
        return NULL;
    }
    return t;
}

/* Contract: reads all of stdin into a malloc'ed buffer; NULL on failure. */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            char *p = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* ======================================================================== */
/* Commands                                                                  */
/* ======================================================================== */

/* Contract: see cli.h. */
int cmd_tokenize(int argc, char **argv) {
    tok_args a;
    if (!parse_args(argc, argv, &a, 0, 1)) return 1;
    size_t len = 0;
    char *text = read_stdin(&len);
    if (!text) {
        fprintf(stderr, "trit tokenize: cannot read standard input: %s\n", strerror(errno));
        return 1;
    }
    tok_tokenizer *t = load("tokenize", a.model);
    if (!t) {
        free(text);
        return 1;
    }
    tok_ids ids = {0};
    trit_error err;
    unsigned flags = (a.bos ? TOK_ADD_BOS : 0) | (a.special ? TOK_PARSE_SPECIAL : 0);
    int rc = 0;
    if (tok_encode(t, text, len, flags, &ids, &err) != TRIT_OK) {
        fprintf(stderr, "trit tokenize: %s\n", err.msg);
        rc = 1;
    } else {
        /* one buffered line */
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", (int)ids.ids[i]);
        putchar('\n');
        if (fflush(stdout) != 0) {
            fprintf(stderr, "trit tokenize: cannot write the output: %s\n", strerror(errno));
            rc = 1;
        }
    }
    tok_ids_free(&ids);
    tok_free(t);
    free(text);
    return rc;
}

/* Contract: see cli.h. */
int cmd_detokenize(int argc, char **argv) {
    tok_args a;
    if (!parse_args(argc, argv, &a, 1, 0)) return 1;
    tok_tokenizer *t = load("detokenize", a.model);
    if (!t) return 1;
    tok_decoder d;
    tok_decoder_init(&d, t, a.special ? TOK_DECODE_SPECIAL : 0);
    tok_str out = {0};
    trit_error err;
    int rc = 0;
    const char *s = a.ids;
    for (;;) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n' || *s == '[' || *s == ']') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < INT32_MIN || v > INT32_MAX ||
            !(*end == 0 || *end == ' ' || *end == ',' || *end == '\t' || *end == '\n' || *end == ']')) {
            fprintf(stderr, "trit detokenize: --ids: \"%.20s\" is not an integer id\n", s);
            rc = 1;
            break;
        }
        s = end;
        out.len = 0;
        if (tok_decoder_push(&d, (int32_t)v, &out, &err) != TRIT_OK) {
            fprintf(stderr, "trit detokenize: %s\n", err.msg);
            rc = 1;
            break;
        }
        if (out.len) fwrite(out.s, 1, out.len, stdout);
        fflush(stdout);
    }
    if (rc == 0) {
        out.len = 0;
        tok_decoder_flush(&d, &out, &err);
        if (out.len) fwrite(out.s, 1, out.len, stdout);
        if (fflush(stdout) != 0) {
            fprintf(stderr, "trit detokenize: cannot write the output: %s\n", strerror(errno));
            rc = 1;
        }
    }
    tok_str_free(&out);
    tok_free(t);
    return rc;
}
