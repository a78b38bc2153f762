/*
 * cmd_synth.c - `trit synth`: writes a random-weight checkpoint in the
 * Hugging Face layout (config.json, generation_config.json,
 * model.safetensors) with the exact shape of a published ternary model, so
 * anyone can benchmark trit without downloads.
 *
 * Weights
 *   packed (default): every decoder linear is uint8 [out/4, in] with four
 *     2-bit codes (w + 1) per byte, codes 0/1/2 equally likely (a third of
 *     the weights are zero, code 3 never occurs), plus a bf16 weight_scale of
 *     shape [1] read with the dividing rule y = acc / (act_scale * scale).
 *     The scale is sqrt(2/3 * in) (x 0.85 .. 1.15), which keeps every linear
 *     roughly variance preserving, so activations stay O(1) through any
 *     number of layers and generation never overflows.
 *   binary: the packed layout with codes 0/2 only (weights -1/+1 equally
 *     likely, as `trit export` writes `--quant binary` models), scale
 *     sqrt(in) (x 0.85 .. 1.15); trit runs these linears as 1-bit blocks.
 *   bf16: master weights, normal with std 1 / (0.798 * sqrt(0.69 * in)),
 *     which the online absmean ternarization turns into the same statistics.
 *   Embeddings (and an untied lm_head) are bf16 normal with std 0.02, so the
 *   logits have a std of about 0.02 * sqrt(hidden) ~ 1; norm weights are
 *   bf16 uniform in [0.9, 1.1].
 *
 * Determinism: each tensor is cut into 1 MiB chunks and each chunk draws from
 * its own splitmix64 stream seeded by (seed, tensor name, chunk index), so the
 * bytes depend only on the seed, whatever the thread count.
 *
 * Output is written to DIR.partial-PID next to DIR and renamed to DIR once
 * every file is complete and synced: DIR never holds a partial checkpoint. An
 * existing non-empty DIR is refused (an empty one is replaced).
 * model.safetensors is written as a stream (generation buffer of 16 MiB), so
 * the 8B shape (~3.9 GB) needs no more memory than the tiny one.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "io/atomic.h"
#include "cli.h"
#include "core/core.h"
#include "io/json.h"
#include "io/safetensors.h"

#define SY_CHUNK ((size_t)1 << 20)       /* bytes per independent RNG stream  */
#define SY_BUF_CHUNKS 16                 /* chunks generated per write() batch */
#define SY_DATA_ALIGN 4096               /* data section starts page aligned  */

/* ==== shapes ==== */

typedef struct {
    const char *name, *desc;
    int llama;                  /* 1: LlamaForCausalLM (SiLU, no sub-norms) */
    int64_t hidden, layers, heads, kv_heads, ffn, vocab, max_pos;
    int tied;
    double rope_theta, eps;
    int64_t bos, eos, eos2;     /* eos2: extra EOS in generation_config, -1 none */
    int llama3_rope;            /* factor 8, low 1, high 4, original 8192 */
} sy_shape;

static const sy_shape SY_SHAPES[] = {
    {"2b4t", "microsoft/bitnet-b1.58-2B-4T shape (BitNet, 2.4B params, tied, GQA 20/5)", 0,
     2560, 30, 20, 5, 6912, 128256, 4096, 1, 500000.0, 1e-5, 128000, 128001, 128009, 0},
    {"700m", "bitnet_b1_58-large shape (0.7B; written as model_type bitnet with sub-norms)", 0,
     1536, 24, 16, 16, 4096, 32002, 2048, 0, 10000.0, 1e-5, 1, 2, -1, 0},
    {"3b", "bitnet_b1_58-3B shape (3.3B; written as model_type bitnet with sub-norms)", 0,
     3200, 26, 32, 32, 8640, 32002, 2048, 0, 10000.0, 1e-5, 1, 2, -1, 0},
    {"8b", "HF1BitLLM/Llama3-8B-1.58 shape (Llama, 8B, untied, GQA 32/8, llama3 RoPE)", 1,
     4096, 32, 32, 8, 14336, 128256, 131072, 0, 500000.0, 1e-5, 128000, 128001, 128009, 1},
    {"tiny", "small BitNet for quick tests (hidden 256, 4 layers, vocab 1024, tied)", 0,
     256, 4, 4, 2, 688, 1024, 4096, 1, 500000.0, 1e-5, 1, 2, -1, 0},
};
#define SY_N_SHAPES (sizeof SY_SHAPES / sizeof SY_SHAPES[0])

/* ==== tensors to write ==== */

typedef enum { SY_EMBED, SY_NORM, SY_PACKED, SY_SCALE, SY_MASTER, SY_BINARY } sy_kind;

typedef struct {
    char name[128];
    st_dtype dtype;
    int ndim;
    int64_t shape[2];
    uint64_t nbytes, offset;    /* offset in the data section */
    sy_kind kind;
    float param;                /* std (EMBED, MASTER) or value (SCALE) */
    uint64_t seed;              /* stream seed of this tensor */
} sy_tensor;

typedef struct {
    sy_tensor *t;
    size_t n, cap;
    uint64_t total;             /* bytes of the data section */
} sy_list;

/* splitmix64 step: advances *s and returns 64 well-mixed bits. */
static inline uint64_t sy_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Mixes a and b into a 64-bit seed (order matters). */
static uint64_t sy_mix(uint64_t a, uint64_t b) {
    uint64_t s = a ^ (b * 0xD6E8FEB86659FD93ull);
    sy_next(&s);
    return sy_next(&s);
}

/* FNV-1a hash of a NUL-terminated string. */
static uint64_t sy_hash(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
    return h;
}

/* Uniform float in [0, 1) from 24 random bits. */
static inline float sy_unit(uint64_t r) { return (float)(r >> 40) * (1.0f / 16777216.0f); }

/* Appends a tensor to the list; returns 0 on allocation failure. */
static int sy_add(sy_list *L, uint64_t seed, const char *name, sy_kind kind, st_dtype dt, int ndim, int64_t d0,
                  int64_t d1, float param) {
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        sy_tensor *t = realloc(L->t, cap * sizeof *t);
        if (!t) return 0;
        L->t = t;
        L->cap = cap;
    }
    sy_tensor *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->dtype = dt;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->nbytes = (uint64_t)d0 * (uint64_t)(ndim > 1 ? d1 : 1) * st_dtype_size(dt);
    t->param = param;
    t->seed = sy_mix(seed, sy_hash(name));
    if (kind == SY_SCALE) { /* the value itself is drawn now, from the tensor's stream */
        uint64_t s = t->seed;
        t->param = param * (0.85f + 0.3f * sy_unit(sy_next(&s)));
    }
    return 1;
}

/* Fills L with every tensor of shape S, big tensors first (so each starts on
 * a 64-byte boundary of the page-aligned data section), then the small ones.
 * packed: 0 master weights, 1 packed ternary, 2 packed binary (+-1 codes).
 * Returns 0 on allocation failure. */
static int sy_plan(const sy_shape *S, int packed, uint64_t seed, sy_list *L) {
    static const char *const lin_names[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                             "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    const int64_t D = S->hidden, F = S->ffn, HD = S->hidden, KVD = S->hidden / S->heads * S->kv_heads;
    const int64_t ins[7] = {D, D, D, HD, D, D, F}, outs[7] = {HD, KVD, KVD, D, F, F, D};
    char n[128];
    int ok = sy_add(L, seed, "model.embed_tokens.weight", SY_EMBED, ST_BF16, 2, S->vocab, D, 0.02f);
    if (ok && !S->tied) ok = sy_add(L, seed, "lm_head.weight", SY_EMBED, ST_BF16, 2, S->vocab, D, 0.02f);
    for (int64_t l = 0; ok && l < S->layers; l++)
        for (int j = 0; ok && j < 7; j++) {
            snprintf(n, sizeof n, "model.layers.%lld.%s.weight", (long long)l, lin_names[j]);
            if (packed)
                ok = sy_add(L, seed, n, packed == 2 ? SY_BINARY : SY_PACKED, ST_U8, 2, outs[j] / 4, ins[j], 0);
            else
                ok = sy_add(L, seed, n, SY_MASTER, ST_BF16, 2, outs[j], ins[j],
                            (float)(1.0 / (0.7979 * sqrt(0.69 * (double)ins[j]))));
        }
    for (int64_t l = 0; ok && l < S->layers; l++) {
        static const char *const norms[2] = {"input_layernorm", "post_attention_layernorm"};
        for (int j = 0; ok && j < 2; j++) {
            snprintf(n, sizeof n, "model.layers.%lld.%s.weight", (long long)l, norms[j]);
            ok = sy_add(L, seed, n, SY_NORM, ST_BF16, 1, D, 0, 0);
        }
        if (ok && !S->llama) {
            snprintf(n, sizeof n, "model.layers.%lld.self_attn.attn_sub_norm.weight", (long long)l);
            ok = sy_add(L, seed, n, SY_NORM, ST_BF16, 1, D, 0, 0);
            snprintf(n, sizeof n, "model.layers.%lld.mlp.ffn_sub_norm.weight", (long long)l);
            ok = ok && sy_add(L, seed, n, SY_NORM, ST_BF16, 1, F, 0, 0);
        }
        for (int j = 0; ok && packed && j < 7; j++) {
            snprintf(n, sizeof n, "model.layers.%lld.%s.weight_scale", (long long)l, lin_names[j]);
            ok = sy_add(L, seed, n, SY_SCALE, ST_BF16, 1, 1, 0,
                        (float)sqrt((packed == 2 ? 1.0 : 2.0 / 3.0) * (double)ins[j]));
        }
    }
    ok = ok && sy_add(L, seed, "model.norm.weight", SY_NORM, ST_BF16, 1, D, 0, 0);
    uint64_t off = 0;
    for (size_t i = 0; ok && i < L->n; i++) {
        L->t[i].offset = off;
        off += L->t[i].nbytes;
    }
    L->total = off;
    return ok;
}

/* ==== generation ==== */

/* Writes the bytes [lo, hi) of tensor t (hi - lo <= SY_CHUNK, lo a multiple
 * of SY_CHUNK) into dst. Depends only on t->seed, t->kind, t->param, lo. */
static void sy_fill_chunk(const sy_tensor *t, const uint8_t *tern81, uint64_t lo, uint64_t hi, uint8_t *dst) {
    uint64_t s = sy_mix(t->seed, lo / SY_CHUNK + 1);
    size_t n = (size_t)(hi - lo);
    uint16_t *h = (uint16_t *)(void *)dst;
    switch (t->kind) {
    case SY_PACKED:
        for (size_t i = 0; i < n; i += 2) { /* 4 codes uniform in {0,1,2} per byte */
            uint64_t r = sy_next(&s);
            dst[i] = tern81[((r & 0xFFFFFFFFull) * 81) >> 32];
            if (i + 1 < n) dst[i + 1] = tern81[((r >> 32) * 81) >> 32];
        }
        break;
    case SY_BINARY:
        for (size_t i = 0; i < n; i += 16) { /* 4 codes uniform in {0,2} per byte: 4 random bits each */
            uint64_t r = sy_next(&s);
            for (size_t j = 0; j < 16 && i + j < n; j++, r >>= 4)
                dst[i + j] = (uint8_t)((r & 1) << 1 | (r & 2) << 2 | (r & 4) << 3 | (r & 8) << 4);
        }
        break;
    case SY_EMBED:
    case SY_MASTER: { /* Irwin-Hall(4) of 16-bit uniforms: mean 0, unit variance after scaling */
        const float k = t->param / 37837.23f; /* 65536 * sqrt(4/12) */
        for (size_t i = 0; i < n / 2; i++) {
            uint64_t r = sy_next(&s);
            int32_t sum = (int32_t)(r & 0xFFFF) + (int32_t)((r >> 16) & 0xFFFF) + (int32_t)((r >> 32) & 0xFFFF) +
                          (int32_t)(r >> 48) - 131070;
            h[i] = trit_f32_to_bf16((float)sum * k);
        }
        break;
    }
    case SY_NORM:
        for (size_t i = 0; i < n / 2; i++) h[i] = trit_f32_to_bf16(0.9f + 0.2f * sy_unit(sy_next(&s)));
        break;
    case SY_SCALE:
        for (size_t i = 0; i < n / 2; i++) h[i] = trit_f32_to_bf16(t->param);
        break;
    }
}

typedef struct {
    const sy_tensor *t;
    const uint8_t *tern81;
    uint64_t lo, hi;            /* tensor byte range held in buf */
    uint8_t *buf;
} sy_job;

/* Pool task: thread ith fills chunks ith, ith + nth, ... of the job. */
static void sy_fill_task(void *arg, int ith, int nth) {
    const sy_job *j = arg;
    uint64_t nchunks = (j->hi - j->lo + SY_CHUNK - 1) / SY_CHUNK;
    for (uint64_t c = (uint64_t)ith; c < nchunks; c += (uint64_t)nth) {
        uint64_t lo = j->lo + c * SY_CHUNK, hi = lo + SY_CHUNK < j->hi ? lo + SY_CHUNK : j->hi;
        sy_fill_chunk(j->t, j->tern81, lo, hi, j->buf + (lo - j->lo));
    }
}

/* ==== progress ==== */

typedef struct {
    uint64_t total, done;
    double t0, last;
    int tty;
} sy_progress;

/* Redraws the progress bar (at most 10 times a second, and when final). */
static void sy_progress_show(sy_progress *p, int final) {
    double now = trit_time_s();
    if (!p->tty || (!final && now - p->last < 0.1)) return;
    p->last = now;
    double el = now - p->t0, frac = p->total ? (double)p->done / (double)p->total : 1.0;
    double rate = el > 0 ? (double)p->done / el / 1e6 : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / 1e6 / rate : 0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r  [%s] %5.1f%%  %7.1f / %.1f MB  %6.1f MB/s  ETA %3.0f s ", bar, 100 * frac,
            (double)p->done / 1e6, (double)p->total / 1e6, rate, final ? 0.0 : eta);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

/* ==== files ==== */

/* Writes all of buf to fd, retrying on short writes and EINTR; 1 on success
 * (errno set on failure). */
static int sy_write_all(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* Writes text to dir/name and syncs it; 1 on success, else prints an error. */
static int sy_write_text(const char *dir, const char *name, const char *text) {
    char path[4224];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int ok = fd >= 0 && sy_write_all(fd, text, strlen(text)) && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) { ok = 0; e = errno; }
    if (!ok) cli_error("synth", "cannot write %s: %s", path, strerror(e));
    return ok;
}

/* Builds the safetensors header (JSON, space padded so that 8 + its length is
 * a multiple of SY_DATA_ALIGN) into h; 0 on allocation failure. */
static int sy_header(const sy_list *L, const char *shape, uint64_t seed, const char *format, json_sb *h) {
    int ok = json_sb_printf(h, "{\"__metadata__\":{\"format\":\"pt\",\"trit_synth\":\"random weights: "
                            "shape %s, seed %llu, format %s\"}", shape, (unsigned long long)seed, format);
    for (size_t i = 0; ok && i < L->n; i++) {
        const sy_tensor *t = &L->t[i];
        ok = json_sb_printf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", t->name, st_dtype_name(t->dtype),
                            (long long)t->shape[0]);
        if (ok && t->ndim > 1) ok = json_sb_printf(h, ",%lld", (long long)t->shape[1]);
        ok = ok && json_sb_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)t->offset,
                                  (unsigned long long)(t->offset + t->nbytes));
    }
    ok = ok && json_sb_puts(h, "}");
    while (ok && (h->len + 8) % SY_DATA_ALIGN) ok = json_sb_puts(h, " ");
    return ok;
}

/* Streams model.safetensors into dir: header, then every tensor generated
 * SY_BUF_CHUNKS MiB at a time on the pool. 1 on success, else prints an
 * error. */
static int sy_write_weights(const char *dir, const sy_list *L, const char *shape, uint64_t seed,
                            const char *format, int n_threads) {
    const char *C = "synth";
    char path[4224];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    json_sb h = {0};
    uint8_t *buf = trit_aligned_alloc(SY_CHUNK * SY_BUF_CHUNKS);
    trit_pool *pool = trit_pool_new(n_threads > 0 ? n_threads : trit_cpu_count());
    int fd = -1, ok = 0;
    if (!buf || !pool || !sy_header(L, shape, seed, format, &h)) {
        cli_error(C, "out of memory");
        goto done;
    }
    uint8_t tern81[81];
    for (int v = 0; v < 81; v++) tern81[v] = (uint8_t)(v % 3 | (v / 3 % 3) << 2 | (v / 9 % 3) << 4 | (v / 27) << 6);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_error(C, "cannot create %s: %s", path, strerror(errno));
        goto done;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    sy_progress pg = {8 + h.len + L->total, 0, trit_time_s(), 0, isatty(2)};
    if (!sy_write_all(fd, len8, 8) || !sy_write_all(fd, h.buf, h.len)) goto io_fail;
    pg.done = 8 + h.len;
    for (size_t i = 0; i < L->n; i++) {
        const sy_tensor *t = &L->t[i];
        for (uint64_t lo = 0; lo < t->nbytes; lo += SY_CHUNK * SY_BUF_CHUNKS) {
            uint64_t hi = lo + SY_CHUNK * SY_BUF_CHUNKS < t->nbytes ? lo + SY_CHUNK * SY_BUF_CHUNKS : t->nbytes;
            sy_job job = {t, tern81, lo, hi, buf};
            if (hi - lo > SY_CHUNK) trit_pool_run(pool, sy_fill_task, &job);
            else sy_fill_task(&job, 0, 1);
            if (!sy_write_all(fd, buf, (size_t)(hi - lo))) goto io_fail;
            pg.done += hi - lo;
            sy_progress_show(&pg, 0);
        }
    }
    if (fsync(fd) != 0) goto io_fail;
    sy_progress_show(&pg, 1);
    ok = 1;
    goto done;
io_fail:
    if (pg.tty) fputc('\n', stderr);
    cli_error(C, "writing %s failed: %s (check free disk space)", path, strerror(errno));
done:
    if (fd >= 0 && close(fd) != 0 && ok) {
        cli_error(C, "closing %s failed: %s", path, strerror(errno));
        ok = 0;
    }
    trit_pool_free(pool);
    trit_aligned_free(buf);
    json_sb_free(&h);
    return ok;
}

/* Builds config.json for shape S into b; 0 on allocation failure. */
static int sy_config(const sy_shape *S, int packed, json_sb *b) {
    int ok = json_sb_printf(b,
        "{\n"
        "  \"architectures\": [\"%s\"],\n"
        "  \"model_type\": \"%s\",\n"
        "  \"vocab_size\": %lld,\n"
        "  \"hidden_size\": %lld,\n"
        "  \"intermediate_size\": %lld,\n"
        "  \"num_hidden_layers\": %lld,\n"
        "  \"num_attention_heads\": %lld,\n"
        "  \"num_key_value_heads\": %lld,\n"
        "  \"hidden_act\": \"%s\",\n"
        "  \"max_position_embeddings\": %lld,\n"
        "  \"rms_norm_eps\": %g,\n"
        "  \"rope_theta\": %.1f,\n",
        S->llama ? "LlamaForCausalLM" : "BitNetForCausalLM", S->llama ? "llama" : "bitnet", (long long)S->vocab,
        (long long)S->hidden, (long long)S->ffn, (long long)S->layers, (long long)S->heads, (long long)S->kv_heads,
        S->llama ? "silu" : "relu2", (long long)S->max_pos, S->eps, S->rope_theta);
    if (ok && S->llama3_rope)
        ok = json_sb_puts(b, "  \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
                          "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192},\n");
    if (ok && S->llama) ok = json_sb_puts(b, "  \"mlp_bias\": false,\n  \"pretraining_tp\": 1,\n");
    ok = ok && json_sb_printf(b,
        "  \"attention_bias\": false,\n"
        "  \"attention_dropout\": 0.0,\n"
        "  \"initializer_range\": 0.02,\n"
        "  \"tie_word_embeddings\": %s,\n"
        "  \"bos_token_id\": %lld,\n"
        "  \"eos_token_id\": %lld,\n"
        "  \"use_cache\": true,\n"
        "  \"torch_dtype\": \"bfloat16\",\n"
        "  \"quantization_config\": {\"quant_method\": \"bitnet\", \"linear_class\": \"%s\", "
        "\"quantization_mode\": \"%s\"}\n"
        "}\n",
        S->tied ? "true" : "false", (long long)S->bos, (long long)S->eos, packed ? "bitlinear" : "autobitlinear",
        packed ? "offline" : "online");
    return ok;
}

/* Builds generation_config.json for shape S into b; 0 on allocation failure. */
static int sy_gen_config(const sy_shape *S, json_sb *b) {
    if (S->eos2 >= 0)
        return json_sb_printf(b, "{\n  \"bos_token_id\": %lld,\n  \"eos_token_id\": [%lld, %lld],\n  \"do_sample\": false\n}\n",
                              (long long)S->bos, (long long)S->eos, (long long)S->eos2);
    return json_sb_printf(b, "{\n  \"bos_token_id\": %lld,\n  \"eos_token_id\": %lld,\n  \"do_sample\": false\n}\n",
                          (long long)S->bos, (long long)S->eos);
}

/* Removes the files synth may have created in tmp and tmp itself. */
static void sy_cleanup(const char *tmp) {
    static const char *const files[3] = {"config.json", "generation_config.json", "model.safetensors"};
    char p[4224];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, files[i]);
        unlink(p);
    }
    rmdir(tmp);
}

/* Prints the options of `trit synth` (and the known shapes) to stdout. */
static void usage(void) {
    printf("usage: trit synth --shape NAME -o DIR [--seed S] [--format packed|binary|bf16] [-t N]\n"
           "Writes a random-weight checkpoint in the Hugging Face layout (config.json,\n"
           "generation_config.json, model.safetensors) that trit and transformers load,\n"
           "for benchmarks without downloads. The weights are random: the output is noise.\n"
           "  --shape NAME        one of:\n");
    for (size_t i = 0; i < SY_N_SHAPES; i++) printf("                        %-5s %s\n", SY_SHAPES[i].name, SY_SHAPES[i].desc);
    printf("  -o DIR              output folder; must not exist or be empty. Written as\n"
           "                      DIR.partial-PID and renamed when complete (an interrupted\n"
           "                      run leaves only that folder, which can be deleted)\n"
           "  --seed S            random seed (default 1); equal seeds give equal files\n"
           "  --format F          packed: uint8 ternary weights + weight_scale, quantization_mode\n"
           "                      offline (default, as microsoft/bitnet-b1.58-2B-4T);\n"
           "                      binary: the same layout with weights -1/+1 only (a 1-bit model,\n"
           "                      as `trit export` writes --quant binary; trit runs it 1-bit);\n"
           "                      bf16: master weights, quantization_mode online (~8x larger)\n"
           "  --binary            same as --format binary\n"
           "  --vocab N           override the shape's vocabulary size (e.g. to match a tokenizer)\n"
           "  -t N                generator threads (default: all CPUs)\n");
}

/* `trit synth`: see the file comment and usage(). Returns the exit code: 0
 * once DIR holds the complete checkpoint, 1 after printing an error, in which
 * case DIR is as it was and no DIR.partial-PID folder is left behind. */
int cmd_synth(int argc, char **argv) {
    const char *C = "synth", *shape_s = NULL, *out_s = NULL, *format = "packed";
    int64_t seed = 1, n_threads = 0, vocab = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "--shape")) { shape_s = val; i++; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { out_s = val; i++; }
        else if (!strcmp(a, "--format")) { format = val; i++; }
        else if (!strcmp(a, "--binary")) { format = "binary"; continue; }
        else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) { if (!cli_int(C, a, val, 0, INT64_MAX, &seed)) return 1; i++; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_int(C, a, val, 1, 1024, &n_threads)) return 1; i++; }
        else if (!strcmp(a, "--vocab")) { if (!cli_int(C, a, val, 8, 1 << 21, &vocab)) return 1; i++; }
        else return cli_error(C, "unknown option \"%s\" (see trit synth -h)", a);
        if (!val && strcmp(a, "-h") && strcmp(a, "--help")) return cli_error(C, "%s needs a value", a);
    }
    char names[128] = "";
    for (size_t i = 0; i < SY_N_SHAPES; i++) {
        strcat(names, i ? ", " : "");
        strcat(names, SY_SHAPES[i].name);
    }
    if (!shape_s) return cli_error(C, "no shape given; use --shape NAME (%s)", names);
    const sy_shape *S = NULL;
    for (size_t i = 0; i < SY_N_SHAPES; i++)
        if (!strcmp(shape_s, SY_SHAPES[i].name)) S = &SY_SHAPES[i];
    if (!S) return cli_error(C, "unknown shape \"%s\" (known: %s)", shape_s, names);
    sy_shape custom = *S; /* --vocab: same shape with another vocabulary (to pair with a tokenizer) */
    if (vocab) {
        custom.vocab = vocab;
        S = &custom;
    }
    if (strcmp(format, "packed") && strcmp(format, "binary") && strcmp(format, "bf16"))
        return cli_error(C, "unknown --format \"%s\" (packed, binary or bf16)", format);
    int packed = !strcmp(format, "packed") ? 1 : !strcmp(format, "binary") ? 2 : 0;
    if (!out_s || !*out_s) return cli_error(C, "no output folder given; use -o DIR");

    /* the final name, without trailing slashes */
    char out[4096];
    size_t ol = strlen(out_s);
    while (ol > 1 && out_s[ol - 1] == '/') ol--;
    if (ol >= sizeof out - 64) return cli_error(C, "output path is too long");
    memcpy(out, out_s, ol);
    out[ol] = 0;
    struct stat st;
    if (stat(out, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return cli_error(C, "%s exists and is not a folder; choose another -o", out);
        if (!trit_dir_is_empty(out))
            return cli_error(C, "%s exists and is not empty; synth never overwrites: remove it or choose another -o",
                             out);
    } else if (errno != ENOENT) {
        return cli_error(C, "cannot access %s: %s", out, strerror(errno));
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", out);
    char *slash = strrchr(parent, '/');
    if (!slash) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) parent[1] = 0;
    else *slash = 0;

    sy_list L = {0};
    json_sb cfg = {0}, gcfg = {0};
    int rc = 1, made_tmp = 0;
    char tmp[4160];
    if (!sy_plan(S, packed, (uint64_t)seed, &L) || !sy_config(S, packed, &cfg) || !sy_gen_config(S, &gcfg)) {
        cli_error(C, "out of memory");
        goto done;
    }
    struct statvfs vfs;
    if (statvfs(parent, &vfs) != 0) {
        cli_error(C, "the folder %s (parent of %s) is not accessible: %s", parent, out, strerror(errno));
        goto done;
    }
    double need = (double)L.total + 1e6, avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
    if (avail < need) {
        cli_error(C, "%s has %.1f MB free but the %s checkpoint needs %.1f MB", parent, avail / 1e6, S->name,
                  need / 1e6);
        goto done;
    }
    snprintf(tmp, sizeof tmp, "%s.partial-%ld", out, (long)getpid());
    if (mkdir(tmp, 0777) != 0) {
        cli_error(C, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    made_tmp = 1;
    fprintf(stderr, "trit synth: %s (%s), %s weights, seed %lld: %zu tensors, %.1f MB -> %s\n", S->name, S->desc,
            format, (long long)seed, L.n, (double)L.total / 1e6, out);
    double t0 = trit_time_s();
    if (!sy_write_text(tmp, "config.json", cfg.buf) || !sy_write_text(tmp, "generation_config.json", gcfg.buf) ||
        !sy_write_weights(tmp, &L, S->name, (uint64_t)seed, format, (int)n_threads))
        goto done;
    trit_sync_dir(tmp);
    /* rename replaces DIR only if it is (still) an empty folder */
    if (rename(tmp, out) != 0) {
        cli_error(C, "cannot move the finished checkpoint to %s: %s (%s)", out, strerror(errno),
                  errno == ENOTEMPTY || errno == EEXIST ? "it is no longer empty" : "nothing was written there");
        goto done;
    }
    made_tmp = 0;
    trit_sync_dir(parent);
    double el = trit_time_s() - t0;
    fprintf(stderr, "trit synth: wrote %s in %.1f s (%.0f MB/s)\n", out, el, (double)L.total / 1e6 / (el > 0 ? el : 1e-9));
    rc = 0;
done:
    if (made_tmp) sy_cleanup(tmp);
    free(L.t);
    json_sb_free(&cfg);
    json_sb_free(&gcfg);
    return rc;
}
