/*
 * cmd_info.c - `trit info`: what a model folder holds and what it needs.
 */
#include <stdio.h>
#include <string.h>
#include "cli.h"

int cmd_info(int argc, char **argv) {
    const char *C = "info", *dir = NULL;
    int64_t n_ctx = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: trit info -m DIR [-c N]\n");
            return 0;
        } else if (!strcmp(argv[i], "-m") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "-c")) { if (!cli_int(C, "-c", i + 1 < argc ? argv[i + 1] : NULL, 1, 1 << 24, &n_ctx)) return 1; i++; }
        else return cli_error(C, "unknown option \"%s\" (see trit info -h)", argv[i]);
    }
    double t0 = trit_time_s();
    trit_model *m = cli_load_model(C, dir);
    if (!m) return 1;
    double t_load = trit_time_s() - t0;
    trit_model_info in;
    trit_model_get_info(m, &in);
    if (!n_ctx) n_ctx = in.max_position < 4096 ? in.max_position : 4096;
    double kv = (double)trit_model_kv_bytes(m, n_ctx, TRIT_KV_F32, TRIT_KV_F32);
    double kv16 = (double)trit_model_kv_bytes(m, n_ctx, TRIT_KV_F16, TRIT_KV_F16);
    printf("model:          %s\n", dir);
    printf("architecture:   %s\n", in.arch);
    printf("weights:        %s\n", in.weight_format);
    printf("parameters:     %lld (%.1f M)\n", (long long)in.n_params, in.n_params / 1e6);
    printf("vocab:          %lld\n", (long long)in.vocab_size);
    printf("hidden:         %lld, ffn %lld, layers %lld\n", (long long)in.hidden_size, (long long)in.intermediate_size,
           (long long)in.n_layers);
    printf("attention:      %lld heads, %lld kv heads, head_dim %lld\n", (long long)in.n_heads,
           (long long)in.n_kv_heads, (long long)in.head_dim);
    printf("rope theta:     %g, rms_norm_eps %g, max positions %lld\n", in.rope_theta, in.rms_norm_eps,
           (long long)in.max_position);
    printf("lm_head:        %s\n", in.lm_head_format);
    printf("embeddings:     %s\n", in.tied_embeddings ? "tied (lm_head = embed_tokens)" : "separate lm_head");
    printf("bos / eos:      %lld /", (long long)in.bos_id);
    for (int i = 0; i < in.n_eos; i++) printf(" %lld", (long long)in.eos_ids[i]);
    printf("\nfiles:          %.2f MiB\n", in.file_bytes / 1048576.0);
    printf("memory:         weights %.2f MiB + KV cache %.2f MiB (%lld positions) = %.2f MiB "
           "(KV cache %.2f MiB with -ctk f16 -ctv f16)\n",
           in.weight_bytes / 1048576.0, kv / 1048576.0, (long long)n_ctx, (in.weight_bytes + kv) / 1048576.0,
           kv16 / 1048576.0);
    printf("kernels:        %s\n", trit_isa_name());
    printf("load time:      %.3f s\n", t_load);
    trit_model_free(m);
    return 0;
}
