/*
 * cmd_export.c - `trit export`: writes a trained model as a Hugging Face
 * checkpoint folder (trit_trainer_export in include/trit_train.h) that trit
 * and transformers load.
 *
 * Sources (--checkpoint SRC):
 *   - a `trit train` run folder (SRC/checkpoint.safetensors) or such a
 *     checkpoint file: parameters under Hugging Face names (optimizer
 *     tensors are ignored), the model config from its "trit.config"
 *     metadata and the quantizer from "trit.run" ({"quant": ...});
 *   - any safetensors file of fp32/fp16/bf16 parameters with Hugging Face
 *     names plus --config config.json;
 *   - a Hugging Face folder with full-precision weights (config.json +
 *     model.safetensors, e.g. an exported master-weight folder).
 * --config and --quant override what the source says; without either the
 * quantizer is absmean.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "core/core.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "text/tokenizer.h"
#include "trit_train.h"

/* Prints the options of `trit export` to stdout. */
static void usage(void) {
    printf("usage: trit export --checkpoint SRC -o OUT_DIR [--format packed|bf16|both] [--dtype bf16|f32]\n"
           "                   [--tokenizer PATH] [--config FILE] [--quant Q] [-t N]\n"
           "Writes a Hugging Face checkpoint (config.json, generation_config.json,\n"
           "model.safetensors, tokenizer files) that trit and transformers load.\n"
           "  --checkpoint SRC    a `trit train` run folder or checkpoint.safetensors, a\n"
           "                      safetensors file of parameters (with --config), or a\n"
           "                      full-precision Hugging Face folder\n"
           "  -o OUT_DIR          output folder; must not exist or be empty (written as\n"
           "                      OUT_DIR.partial-PID, renamed when complete)\n"
           "  --format F          packed: uint8 ternary codes + weight_scale, quantization_mode\n"
           "                      offline (default); bf16: master weights, quantization_mode\n"
           "                      online (absmean models only); both: packed in OUT_DIR and the\n"
           "                      master weights in OUT_DIR/bf16\n"
           "  --dtype D           bf16 (default) or f32 for embeddings, norms, lm_head and master\n"
           "                      weights (f32 keeps the trained values exactly)\n"
           "  --tokenizer PATH    tokenizer.json or a folder holding it: copied (with\n"
           "                      tokenizer_config.json), BOS/EOS ids go to config.json\n"
           "  --config FILE       model config (Hugging Face config.json keys)\n"
           "  --quant Q           absmean, absmedian, binary or none (default: the run's)\n"
           "  -t N                threads (default: all CPUs)\n");
}

/* 1 if path is a regular file / a folder. */
static int is_file(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}
static int is_dir(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

/* Parses a quantizer name; -1 if unknown. */
static int parse_quant(const char *q) {
    static const char *const names[4] = {"absmean", "absmedian", "binary", "none"};
    for (int i = 0; i < 4; i++)
        if (q && !strcmp(q, names[i])) return i;
    return -1;
}

/* Reads a config.json file into cfg; 1 on success, else prints an error. */
static int read_config_file(const char *C, const char *path, trit_train_config *cfg) {
    char eb[256];
    size_t len;
    char *text = json_read_file(path, &len, eb, sizeof eb);
    if (!text) return cli_error(C, "--config: %s", eb), 0;
    trit_error err = {0};
    trit_status st = trit_train_config_from_json(text, len, path, cfg, &err);
    free(text);
    if (st != TRIT_OK) return cli_error(C, "%s", err.msg), 0;
    return 1;
}

/* Copies every parameter of t from the tensors of f (a file) or s (a
 * folder), converting to fp32; extra tensors are ignored. 1 on success. */
static int load_params(const char *C, trit_trainer *t, const st_file *f, const st_set *s, const char *src) {
    for (size_t i = 0; i < trit_trainer_n_tensors(t); i++) {
        const char *nm = trit_trainer_tensor_name(t, i);
        int64_t numel;
        float *dst = trit_trainer_param(t, nm, &numel);
        const st_tensor *x = f ? st_find(f, nm) : st_set_find(s, nm);
        if (!x)
            return cli_error(C, "%s: tensor %s is missing (check the config: num_hidden_layers, "
                             "tie_word_embeddings)", src, nm), 0;
        if (x->dtype != ST_F32 && x->dtype != ST_F16 && x->dtype != ST_BF16)
            return cli_error(C, "%s: tensor %s is %s; export reads full-precision parameters (F32, F16, BF16), "
                             "not an already packed checkpoint", src, nm, st_dtype_name(x->dtype)), 0;
        if (x->numel != numel)
            return cli_error(C, "%s: tensor %s has %lld values, the config needs %lld", src, nm,
                             (long long)x->numel, (long long)numel), 0;
        st_to_f32(x, dst);
        for (int64_t j = 0; j < numel; j++)
            if (!(dst[j] - dst[j] == 0.0f))
                return cli_error(C, "%s: tensor %s holds NaN or Inf (element %lld)", src, nm, (long long)j), 0;
    }
    return 1;
}

/* `trit export`: see the file comment and usage(). Returns the exit code. */
int cmd_export(int argc, char **argv) {
    const char *C = "export", *src = NULL, *out = NULL, *format = "packed", *dtype = "bf16", *tok = NULL;
    const char *config = NULL, *quant_s = NULL;
    int64_t n_threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (!val) return cli_error(C, "%s needs a value (see trit export -h)", a);
        i++;
        if (!strcmp(a, "--checkpoint") || !strcmp(a, "-c")) src = val;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = val;
        else if (!strcmp(a, "--format")) format = val;
        else if (!strcmp(a, "--dtype")) dtype = val;
        else if (!strcmp(a, "--tokenizer")) tok = val;
        else if (!strcmp(a, "--config")) config = val;
        else if (!strcmp(a, "--quant")) quant_s = val;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_int(C, a, val, 1, 1024, &n_threads)) return 1;
        } else return cli_error(C, "unknown option \"%s\" (see trit export -h)", a);
    }
    if (!src) return cli_error(C, "no checkpoint given; use --checkpoint RUN_DIR or FILE");
    if (!out) return cli_error(C, "no output folder given; use -o OUT_DIR");
    trit_export_params ep = trit_export_default_params();
    if (!strcmp(format, "packed")) ep.format = TRIT_EXPORT_PACKED;
    else if (!strcmp(format, "bf16")) ep.format = TRIT_EXPORT_MASTER;
    else if (!strcmp(format, "both")) ep.format = TRIT_EXPORT_BOTH;
    else return cli_error(C, "unknown --format \"%s\" (packed, bf16 or both)", format);
    if (strcmp(dtype, "bf16") && strcmp(dtype, "f32")) return cli_error(C, "unknown --dtype \"%s\" (bf16 or f32)", dtype);
    ep.f32 = !strcmp(dtype, "f32");
    if (quant_s && parse_quant(quant_s) < 0)
        return cli_error(C, "unknown --quant \"%s\" (absmean, absmedian, binary or none)", quant_s);

    /* the source: a checkpoint file, or a Hugging Face folder */
    char ck[4300] = "", path[4200];
    if (is_file(src)) snprintf(ck, sizeof ck, "%s", src);
    else if (is_dir(src)) {
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", src);
        if (is_file(path)) snprintf(ck, sizeof ck, "%s", path);
        else {
            snprintf(path, sizeof path, "%s/config.json", src);
            if (!is_file(path))
                return cli_error(C, "%s holds neither checkpoint.safetensors (a `trit train` run) nor config.json "
                                 "(a Hugging Face folder)", src);
        }
    } else return cli_error(C, "cannot read %s: %s", src, strerror(errno));

    trit_error err = {0};
    st_file *f = NULL;
    st_set *set = NULL;
    trit_train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int quant = quant_s ? parse_quant(quant_s) : -1, rc = 1;
    trit_trainer *t = NULL;
    tok_tokenizer *tk = NULL;
    if (ck[0]) {
        if (st_open(ck, &f, &err) != TRIT_OK) {
            cli_error(C, "%s", err.msg);
            goto done;
        }
        const char *mc = st_metadata(f, "trit.config"), *run = st_metadata(f, "trit.run");
        if (config) {
            if (!read_config_file(C, config, &cfg)) goto done;
        } else if (mc) {
            if (trit_train_config_from_json(mc, strlen(mc), ck, &cfg, &err) != TRIT_OK) {
                cli_error(C, "%s (trit.config metadata)", err.msg);
                goto done;
            }
        } else {
            cli_error(C, "%s has no model config in its metadata (not a `trit train` checkpoint); pass the model's "
                      "config.json with --config", ck);
            goto done;
        }
        if (quant < 0 && run) {
            char eb[256];
            json_doc *d = json_parse(run, strlen(run), eb, sizeof eb);
            const char *q = d ? json_get_str(json_root(d), "quant", NULL) : NULL;
            if (q && parse_quant(q) < 0) {
                cli_error(C, "%s: the run's quantizer \"%s\" is unknown; pass --quant", ck, q);
                json_free(d);
                goto done;
            }
            if (q) quant = parse_quant(q);
            json_free(d);
        }
    } else {
        if (!read_config_file(C, config ? config : path, &cfg)) goto done;
        if (st_set_open(src, &set, &err) != TRIT_OK) {
            cli_error(C, "%s", err.msg);
            goto done;
        }
    }
    if (quant < 0) quant = 0; /* absmean */
    if (cfg.vocab_size <= 0) {
        cli_error(C, "the model config has no vocab_size");
        goto done;
    }

    if (tok) { /* BOS / EOS ids and a vocabulary check */
        tok_load_params tp = tok_default_load_params();
        tp.regex = tok_pcre2_api();
        if (tok_load(tok, &tp, &tk, &err) != TRIT_OK) {
            cli_error(C, "--tokenizer: %s", err.msg);
            goto done;
        }
        if (tok_n_vocab(tk) > cfg.vocab_size) {
            cli_error(C, "the tokenizer %s has %d ids but the model only %lld; they do not belong together", tok,
                      (int)tok_n_vocab(tk), (long long)cfg.vocab_size);
            goto done;
        }
        ep.tokenizer = tok;
        ep.bos_id = tok_bos_id(tk);
        ep.eos_id = tok_eos_id(tk);
    }
    ep.max_position = cfg.max_position;

    trit_train_params p = trit_train_default_params();
    p.quant = (trit_quant)quant;
    p.batch = 1;
    p.seq = 1;
    p.n_threads = (int)n_threads;
    if (trit_trainer_new(&cfg, &p, &t, &err) != TRIT_OK) {
        cli_error(C, "%s", err.msg);
        goto done;
    }
    if (!load_params(C, t, f, set, ck[0] ? ck : src)) goto done;
    const char *step = f ? st_metadata(f, "trit.step") : NULL; /* recorded in the export's metadata */
    if (step) trit_trainer_set_step(t, strtoll(step, NULL, 10));
    static const char *const qnames[4] = {"absmean", "absmedian", "binary", "none"};
    double t0 = trit_time_s();
    if (trit_trainer_export(t, out, &ep, &err) != TRIT_OK) {
        cli_error(C, "%s", err.msg);
        goto done;
    }
    fprintf(stderr, "trit export: wrote %s in %.2f s: %.2fM parameters, quantizer %s, %s%s, %s tensors%s%s\n", out,
            trit_time_s() - t0, (double)trit_trainer_n_params(t) / 1e6, qnames[quant],
            quant == 3 ? "dense (no quantization_config)"
            : ep.format == TRIT_EXPORT_MASTER ? "master weights (quantization_mode online)"
                                              : "packed ternary weights (quantization_mode offline)",
            ep.format == TRIT_EXPORT_BOTH ? (ep.f32 ? " + master weights in f32/" : " + master weights in bf16/") : "",
            ep.f32 ? "f32" : "bf16", tok ? ", tokenizer from " : "", tok ? tok : "");
    rc = 0;
done:
    trit_trainer_free(t);
    tok_free(tk);
    st_close(f);
    st_set_close(set);
    return rc;
}
