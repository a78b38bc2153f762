/*
 * load.c - builds a trit_model from a Hugging Face folder: config.json +
 * (sharded) safetensors. Every tensor's presence, dtype and shape is checked
 * against the config before use; float weights are checked for NaN/Inf and
 * packed ternary weights for the invalid code 3.
 */
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "models/model.h"
#include "nn/ops.h"
#include "quant/ternary.h"

/* ==== tensor lookup and checks ==== */

typedef struct {
    trit_model *m;
    trit_error *err;
    char name[256];
} loader;

static const char *dims_str(const st_tensor *t, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

/* Finds tensor `name`; when absent returns NULL and, if required, fails. */
static const st_tensor *find(loader *L, const char *name, int required) {
    const st_tensor *t = st_set_find(L->m->st, name);
    if (!t && required)
        trit_fail(L->err, TRIT_ERR_MISMATCH,
                  "%s: tensor '%s' is missing from the safetensors files; the checkpoint does not match "
                  "its config.json (model_type / num_hidden_layers / tie_word_embeddings)", L->m->dir, name);
    return t;
}

/* Checks a tensor has exactly the given 1-D or 2-D shape. */
static int check_shape(loader *L, const st_tensor *t, int ndim, int64_t d0, int64_t d1) {
    int ok = t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
    if (!ok) {
        char b[128];
        if (ndim == 1)
            trit_fail(L->err, TRIT_ERR_MISMATCH, "%s: tensor '%s' has shape %s but config.json implies [%lld]",
                      t->file, t->name, dims_str(t, b, sizeof b), (long long)d0);
        else
            trit_fail(L->err, TRIT_ERR_MISMATCH,
                      "%s: tensor '%s' has shape %s but config.json implies [%lld, %lld]", t->file, t->name,
                      dims_str(t, b, sizeof b), (long long)d0, (long long)d1);
    }
    return ok;
}

static int is_float(st_dtype d) { return d == ST_F32 || d == ST_F16 || d == ST_BF16; }

/* Index of the first NaN/Inf among n values of a float dtype, or -1. Scans
 * chunks with a branch-free exponent test (vectorizable); only a flagged
 * chunk is searched element by element. */
static int64_t first_nonfinite(const uint8_t *data, st_dtype dt, int64_t n) {
    const int64_t CH = 4096;
    for (int64_t c0 = 0; c0 < n; c0 += CH) {
        int64_t c1 = c0 + CH < n ? c0 + CH : n;
        unsigned flag = 0;
        if (dt == ST_F32) {
            for (int64_t i = c0; i < c1; i++) {
                uint32_t u;
                memcpy(&u, data + 4 * i, 4);
                flag |= (u & 0x7f800000u) == 0x7f800000u;
            }
        } else {
            uint16_t mask = dt == ST_BF16 ? 0x7f80 : 0x7c00;
            for (int64_t i = c0; i < c1; i++) {
                uint16_t h;
                memcpy(&h, data + 2 * i, 2);
                flag |= (h & mask) == mask;
            }
        }
        if (!flag) continue;
        for (int64_t i = c0; i < c1; i++) {
            float v;
            if (dt == ST_F32) memcpy(&v, data + 4 * i, 4);
            else {
                uint16_t h;
                memcpy(&h, data + 2 * i, 2);
                v = dt == ST_BF16 ? trit_bf16_to_f32(h) : trit_fp16_to_f32(h);
            }
            if (!isfinite(v)) return i;
        }
    }
    return -1;
}

/* Fails if any value of a float tensor is NaN or infinite. */
static int check_finite(loader *L, const st_tensor *t) {
    if (!L->m->params.check_values) return 1;
    int64_t i = first_nonfinite(t->data, t->dtype, t->numel);
    if (i >= 0) {
        float v;
        if (t->dtype == ST_F32) memcpy(&v, t->data + 4 * i, 4);
        else {
            uint16_t h;
            memcpy(&h, t->data + 2 * i, 2);
            v = t->dtype == ST_BF16 ? trit_bf16_to_f32(h) : trit_fp16_to_f32(h);
        }
        trit_fail(L->err, TRIT_ERR_VALUE,
                  "%s: tensor '%s' holds a non-finite value (%s) at element %lld; the checkpoint is "
                  "corrupt or was saved from a diverged run", t->file, t->name, isnan(v) ? "NaN" : "Inf",
                  (long long)i);
        return 0;
    }
    return 1;
}

/* Loads a 1-D float vector of length n into an owned f32 array. */
static float *load_vec(loader *L, const char *name, int64_t n) {
    const st_tensor *t = find(L, name, 1);
    if (!t) return NULL;
    if (!is_float(t->dtype)) {
        trit_fail(L->err, TRIT_ERR_MISMATCH, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16",
                  t->file, name, st_dtype_name(t->dtype));
        return NULL;
    }
    if (!check_shape(L, t, 1, n, 0) || !check_finite(L, t)) return NULL;
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) {
        trit_fail(L->err, TRIT_ERR_NOMEM, "out of memory loading '%s'", name);
        return NULL;
    }
    st_to_f32(t, v);
    L->m->n_params += n;
    return v;
}

/* Does the config ask to keep module `mod` (e.g. "model.layers.0.mlp.up_proj")
 * in full precision? Same test as transformers: a listed pattern occurs in
 * the module name. */
static int skipped(const trit_config *c, const char *mod) {
    for (int i = 0; i < c->n_skip; i++)
        if (strstr(mod, c->skip_modules[i])) return 1;
    return 0;
}

/* ==== linear layers ==== */

/* Loads module `mod` (without ".weight") as a [out x in] linear layer. */
static int load_linear(loader *L, const char *mod, int64_t in, int64_t out, int has_bias, trit_linear *lin) {
    trit_model *m = L->m;
    const trit_config *c = &m->cfg;
    char name[300], sname[300];
    memset(lin, 0, sizeof *lin);
    lin->in = in;
    lin->out = out;
    snprintf(name, sizeof name, "%s.weight", mod);
    const st_tensor *w = find(L, name, 1);
    if (!w) return 0;
    int quantized = c->wfmt != WFMT_DENSE && !skipped(c, mod);
    if (quantized && c->wfmt == WFMT_PACKED_OFFLINE) {
        if (w->dtype != ST_U8 && w->dtype != ST_I8) { /* int8: same bits, as transformers' .to(uint8) */
            trit_fail(L->err, TRIT_ERR_MISMATCH,
                      "%s: tensor '%s' has dtype %s, but quantization_mode \"offline\" expects packed uint8 "
                      "ternary weights [out/4, in]", w->file, name, st_dtype_name(w->dtype));
            return 0;
        }
        if (out % 4 != 0 || !check_shape(L, w, 2, out / 4, in)) {
            if (out % 4 == 0 && L->err) {
                size_t l = strlen(L->err->msg);
                snprintf(L->err->msg + l, sizeof L->err->msg - l,
                         " (packed ternary weights: 4 rows per byte, [out/4, in] for out=%lld, in=%lld)",
                         (long long)out, (long long)in);
            }
            if (out % 4 != 0)
                trit_fail(L->err, TRIT_ERR_MISMATCH, "%s: '%s' has %lld output rows, not a multiple of 4 as "
                          "packed ternary weights need", w->file, name, (long long)out);
            return 0;
        }
        int64_t bad = L->m->params.check_values ? trit_count_bad_codes(w->data, w->numel) : 0;
        if (bad) {
            trit_fail(L->err, TRIT_ERR_VALUE, "%s: tensor '%s' has %lld bytes with the 2-bit code 3, which is "
                      "not a ternary value (codes are w+1 in {0,1,2}); the file is corrupt", w->file, name,
                      (long long)bad);
            return 0;
        }
        snprintf(sname, sizeof sname, "%s.weight_scale", mod);
        const st_tensor *s = find(L, sname, 1);
        if (!s) return 0;
        if (!is_float(s->dtype) || s->numel != 1) {
            char b[128];
            trit_fail(L->err, TRIT_ERR_MISMATCH, "%s: tensor '%s' (%s %s) must be a single float per tensor",
                      s->file, sname, st_dtype_name(s->dtype), dims_str(s, b, sizeof b));
            return 0;
        }
        float sc;
        st_to_f32(s, &sc);
        if (!isfinite(sc) || sc == 0.0f) {
            trit_fail(L->err, TRIT_ERR_VALUE, "%s: tensor '%s' is %g; a weight scale must be finite and non-zero",
                      s->file, sname, sc);
            return 0;
        }
        lin->kind = LIN_TERNARY;
        lin->t = (trit_tmat){out, in, out / 4, w->data};
        /* The packed scale divides (transformers' BitLinear, llama.cpp's
         * converter), also when config.json says autobitlinear. */
        lin->wdiv = m->params.weight_scale_multiply ? 1.0f / sc : sc;
        m->weight_bytes += (int64_t)w->nbytes;
        if (trit_linear_to_binary(m, lin, w, L->err) != TRIT_OK) return 0; /* +-1 codes -> 1-bit blocks */
    } else {
        if (!is_float(w->dtype)) {
            trit_fail(L->err, TRIT_ERR_MISMATCH, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16 %s",
                      w->file, name, st_dtype_name(w->dtype),
                      c->wfmt == WFMT_DENSE ? "(config.json has no bitnet quantization_config)" : "weights");
            return 0;
        }
        if (!check_shape(L, w, 2, out, in) || !check_finite(L, w)) return 0;
        trit_dmat d = {out, in, w->dtype, w->data};
        if (quantized) { /* online: ternarize now, exactly as transformers */
            int64_t Q = (out + 3) / 4;
            lin->owned = trit_aligned_alloc((size_t)(Q * in));
            if (!lin->owned) {
                trit_fail(L->err, TRIT_ERR_NOMEM, "out of memory ternarizing '%s'", name);
                return 0;
            }
            lin->kind = LIN_TERNARY;
            lin->wdiv = trit_ternarize_pack(&d, lin->owned);
            lin->t = (trit_tmat){out, in, Q, lin->owned};
            m->weight_bytes += Q * in;
        } else {
            lin->kind = LIN_DENSE;
            lin->d = d;
            m->weight_bytes += (int64_t)w->nbytes;
        }
    }
    m->n_params += in * out;
    if (has_bias) {
        snprintf(name, sizeof name, "%s.bias", mod);
        if (!(lin->bias = load_vec(L, name, out))) return 0;
    }
    return 1;
}

/* ==== model ==== */

static void head_free(trit_linear *h);

trit_model_params trit_model_default_params(void) {
    trit_model_params p = {1, 0, TRIT_HEAD_AS_STORED, TRIT_WEIGHTS_AUTO, TRIT_BINARY_AUTO, 0};
    return p;
}

void trit_model_free(trit_model *m) {
    if (!m) return;
    if (m->embed_fd >= 0) close(m->embed_fd);
    if (m->layers) {
        for (int64_t i = 0; i < m->cfg.n_layers; i++) {
            trit_layer *l = &m->layers[i];
            free(l->attn_norm);
            free(l->attn_sub_norm);
            free(l->ffn_norm);
            free(l->ffn_sub_norm);
            trit_linear *ls[7] = {&l->q, &l->k, &l->v, &l->o, &l->gate, &l->up, &l->down};
            for (int j = 0; j < 7; j++) {
                trit_aligned_free(ls[j]->owned);
                free(ls[j]->bias);
            }
        }
        free(m->layers);
    }
    free(m->final_norm);
    free(m->inv_freq);
    free(m->lm_head.bias);
    head_free(&m->lm_head);
    trit_config_free(&m->cfg);
    st_set_close(m->st);
    if (m->tp_buf) munmap(m->tp_buf, m->tp_bytes);
    free(m->dir);
    free(m);
}

static int load_layer(loader *L, int64_t i) {
    trit_model *m = L->m;
    const trit_config *c = &m->cfg;
    trit_layer *l = &m->layers[i];
    char p[160], n[200];
    int64_t D = c->dim, F = c->ffn, HD = c->n_heads * c->head_dim, KVD = c->n_kv_heads * c->head_dim;
    snprintf(p, sizeof p, "model.layers.%lld", (long long)i);
#define VEC(dst, suffix, len) do { snprintf(n, sizeof n, "%s.%s", p, suffix); \
        if (!((dst) = load_vec(L, n, len))) return 0; } while (0)
#define LIN(dst, suffix, in, out, bias) do { snprintf(n, sizeof n, "%s.%s", p, suffix); \
        if (!load_linear(L, n, in, out, bias, &(dst))) return 0; } while (0)
    VEC(l->attn_norm, "input_layernorm.weight", D);
    VEC(l->ffn_norm, "post_attention_layernorm.weight", D);
    LIN(l->q, "self_attn.q_proj", D, HD, c->attn_bias);
    LIN(l->k, "self_attn.k_proj", D, KVD, c->attn_bias);
    LIN(l->v, "self_attn.v_proj", D, KVD, c->attn_bias);
    LIN(l->o, "self_attn.o_proj", HD, D, c->attn_bias);
    LIN(l->gate, "mlp.gate_proj", D, F, c->mlp_bias);
    LIN(l->up, "mlp.up_proj", D, F, c->mlp_bias);
    LIN(l->down, "mlp.down_proj", F, D, c->mlp_bias);
    if (c->arch == ARCH_BITNET) {
        /* transformers' BitNet builds attn_sub_norm with hidden_size */
        VEC(l->attn_sub_norm, "self_attn.attn_sub_norm.weight", D);
        VEC(l->ffn_sub_norm, "mlp.ffn_sub_norm.weight", F);
    }
#undef VEC
#undef LIN
    return 1;
}

/* ==== block-quantized lm_head ==== */

/* Shared state of the load-time conversion: threads take chunks of row
 * groups in order from `next`. */
typedef struct {
    const trit_dmat *src;
    trit_hq_fmt fmt;
    void *tiles;
    int64_t n_groups, chunk; /* row groups, and row groups per chunk */
    int check;               /* fail on NaN/Inf (the conversion is the tensor's only scan) */
    _Atomic int64_t next;
    _Atomic int64_t bad;     /* smallest index of a non-finite value seen, or INT64_MAX */
} hq_job;

/* Pool task: quantizes chunks until none is left; after each chunk, lets the
 * kernel drop the stored pages just read (the embedding rows of a tied head
 * fault back in from the page cache when looked up), so peak memory stays
 * near the quantized size. */
static void hq_task(void *arg, int ith, int nth) {
    hq_job *j = arg;
    const trit_dmat *w = j->src;
    const size_t es = w->dtype == ST_F32 ? 4 : 2, row = (size_t)w->K * es;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    (void)ith, (void)nth;
    for (;;) {
        int64_t g0 = atomic_fetch_add(&j->next, j->chunk);
        if (g0 >= j->n_groups) break;
        int64_t r0 = g0 * TRIT_HQ_ROWS, r1 = (g0 + j->chunk) * TRIT_HQ_ROWS;
        if (r1 > w->N) r1 = w->N;
        int64_t i = trit_hq_quantize_rows(j->fmt, w, r0, r1, j->tiles), cur = atomic_load(&j->bad);
        while (j->check && i >= 0 && i < cur && !atomic_compare_exchange_weak(&j->bad, &cur, i)) {}
        uintptr_t a = ((uintptr_t)w->data + (uintptr_t)r0 * row + pg - 1) & ~(pg - 1);
        uintptr_t e = ((uintptr_t)w->data + (uintptr_t)r1 * row) & ~(pg - 1);
        if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
    }
}

/* Frees a head made by head_quantize. */
static void head_free(trit_linear *h) {
    if (h->hq_owned) munmap(h->hq_owned, h->hq_bytes);
    h->hq_owned = NULL;
}

/* Replaces the dense lm_head (stored as tensor t) by a block-quantized copy
 * (trit_hq_fmt fmt), converted on a pool of params.n_threads threads; the
 * conversion also does t's NaN/Inf check (t is read once). The tiles live
 * in their own mapping with transparent huge pages requested (fewer page
 * faults while converting, fewer TLB misses while streaming it per token). */
static trit_status head_quantize(trit_model *m, trit_hq_fmt fmt, const st_tensor *t, trit_error *err) {
    trit_linear *h = &m->lm_head;
    const int64_t N = h->out, K = h->in;
    const char *name = m->cfg.tied ? "model.embed_tokens.weight (tied lm_head)" : "lm_head.weight";
    if (K % TRIT_HQ_BLOCK != 0)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: --lm-head %s quantizes %s in blocks of %d, so hidden_size must be a multiple of %d "
                         "(it is %lld); use --lm-head stored", m->dir, trit_hq_name(fmt), name, TRIT_HQ_BLOCK,
                         TRIT_HQ_BLOCK, (long long)K);
    const size_t bytes = trit_hq_bytes(fmt, N, K), huge = (size_t)2 << 20;
    const size_t map = (bytes + huge - 1) / huge * huge;
    void *buf = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory for the %s lm_head (%.0f MiB)", trit_hq_name(fmt),
                         (double)bytes / 1048576.0);
#ifdef MADV_HUGEPAGE
    madvise(buf, map, MADV_HUGEPAGE);
#endif
    trit_pool *pool = trit_pool_new(m->params.n_threads > 0 ? m->params.n_threads : trit_n_cpus());
    if (!pool) {
        munmap(buf, map);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory starting the threads that convert the lm_head");
    }
    const int64_t groups = (N + TRIT_HQ_ROWS - 1) / TRIT_HQ_ROWS;
    /* chunks of 64 groups: 1024 rows, 5 MB of bf16 at K=2560 */
    hq_job j = {&h->d, fmt, buf, groups, 64, m->params.check_values, 0, INT64_MAX};
    trit_pool_run(pool, hq_task, &j);
    trit_pool_free(pool);
    int64_t bad = atomic_load(&j.bad);
    if (bad != INT64_MAX) {
        munmap(buf, map);
        float v;
        if (t->dtype == ST_F32) memcpy(&v, t->data + 4 * bad, 4);
        else {
            uint16_t x;
            memcpy(&x, t->data + 2 * bad, 2);
            v = t->dtype == ST_BF16 ? trit_bf16_to_f32(x) : trit_fp16_to_f32(x);
        }
        return trit_fail(err, TRIT_ERR_VALUE,
                         "%s: tensor '%s' holds a non-finite value (%s) at element %lld; the checkpoint is "
                         "corrupt or was saved from a diverged run", t->file, t->name, isnan(v) ? "NaN" : "Inf",
                         (long long)bad);
    }
    m->weight_bytes += (int64_t)bytes - (int64_t)(N * K) * (h->d.dtype == ST_F32 ? 4 : 2); /* head read per token */
    m->embed_drop = m->cfg.tied; /* the stored table now serves only lookups */
    if (m->embed_drop) {
        m->embed_fd = open(t->file, O_RDONLY | O_CLOEXEC); /* -1: lookups fall back to the mapping */
        m->embed_offset = t->file_offset;
    }
    h->kind = LIN_HQ;
    h->hq = (trit_hmat){fmt, N, K, buf};
    h->hq_owned = buf;
    h->hq_bytes = map;
    return TRIT_OK;
}

/* See trit.h. */
trit_status trit_model_load(const char *dir, const trit_model_params *params, trit_model **out,
                            trit_error *err) {
    *out = NULL;
    if (!dir) return trit_fail(err, TRIT_ERR_ARG, "no model directory given");
    trit_model *m = calloc(1, sizeof *m);
    if (!m) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    m->embed_fd = -1;
    m->params = params ? *params : trit_model_default_params();
    m->dir = strdup(dir);
    trit_status st = trit_config_load(dir, &m->cfg, err);
    if (st != TRIT_OK) goto fail;
    trit_config *c = &m->cfg;
    if (c->arch == ARCH_BITNET && c->n_heads * c->head_dim != c->dim) {
        st = trit_fail(err, TRIT_ERR_UNSUPPORTED,
                       "%s/config.json: bitnet needs num_attention_heads * head_dim == hidden_size "
                       "(attn_sub_norm has hidden_size weights)", dir);
        goto fail;
    }
    if ((st = st_set_open(dir, &m->st, err)) != TRIT_OK) goto fail;
    loader L = {m, err, {0}};

    const st_tensor *e = find(&L, "model.embed_tokens.weight", 1);
    if (!e) { st = err->code; goto fail; }
    if (!is_float(e->dtype)) {
        st = trit_fail(err, TRIT_ERR_MISMATCH, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16",
                       e->file, e->name, st_dtype_name(e->dtype));
        goto fail;
    }
    /* a tied head that gets quantized is checked while it is converted (one pass) */
    const int head_q = m->params.lm_head_format != TRIT_HEAD_AS_STORED;
    if (!check_shape(&L, e, 2, c->vocab, c->dim) || (!(c->tied && head_q) && !check_finite(&L, e))) {
        st = err->code;
        goto fail;
    }
    m->embed = (trit_dmat){c->vocab, c->dim, e->dtype, e->data};
    m->n_params += c->vocab * c->dim;
    m->weight_bytes += (int64_t)e->nbytes;

    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) { st = trit_fail(err, TRIT_ERR_NOMEM, "out of memory"); goto fail; }
    for (int64_t i = 0; i < c->n_layers; i++)
        if (!load_layer(&L, i)) { st = err->code; goto fail; }
    if (!(m->final_norm = load_vec(&L, "model.norm.weight", c->dim))) { st = err->code; goto fail; }
    if ((st = trit_model_check_binary(m, err)) != TRIT_OK) goto fail;
    {
        /* auto: the 2-bit bands where their kernel beats the stored layout
         * (AVX-512: measured +10% generation, same prompt speed; the copy
         * also lives in 2 MiB pages whatever the page cache holds), else the
         * stored layout in place (AVX2: its kernel is faster; NEON and
         * scalar have no band kernels). */
        if (m->params.weights_format == TRIT_WEIGHTS_AUTO)
            m->params.weights_format = trit_cpu_isa() == TRIT_ISA_AVX512 ? TRIT_WEIGHTS_2BIT : TRIT_WEIGHTS_STORED;
        const int wf = m->params.weights_format;
        const int fmt = wf == TRIT_WEIGHTS_2BIT ? TRIT_TPK_I2 : wf == TRIT_WEIGHTS_1P6BIT ? TRIT_TPK_T1
                      : wf == TRIT_WEIGHTS_LUT ? TRIT_TPK_TL : 0;
        if (wf != TRIT_WEIGHTS_STORED && !fmt) {
            st = trit_fail(err, TRIT_ERR_ARG, "unknown weights_format %d", wf);
            goto fail;
        }
        if (fmt && (st = trit_model_repack(m, fmt, err)) != TRIT_OK) goto fail;
    }

    /* lm_head: never quantized by transformers (modules_to_not_convert) */
    if (c->tied) {
        m->lm_head.kind = LIN_DENSE;
        m->lm_head.in = c->dim;
        m->lm_head.out = c->vocab;
        m->lm_head.d = m->embed;
    } else {
        const st_tensor *h = find(&L, "lm_head.weight", 1);
        if (!h) { st = err->code; goto fail; }
        if (!is_float(h->dtype)) {
            st = trit_fail(err, TRIT_ERR_MISMATCH, "%s: tensor 'lm_head.weight' has dtype %s; expected a float type",
                           h->file, st_dtype_name(h->dtype));
            goto fail;
        }
        if (!check_shape(&L, h, 2, c->vocab, c->dim) || (!head_q && !check_finite(&L, h))) { st = err->code; goto fail; }
        m->lm_head.kind = LIN_DENSE;
        m->lm_head.in = c->dim;
        m->lm_head.out = c->vocab;
        m->lm_head.d = (trit_dmat){c->vocab, c->dim, h->dtype, h->data};
        m->n_params += c->vocab * c->dim;
        m->weight_bytes += (int64_t)h->nbytes;
    }
    if (m->params.lm_head_format != TRIT_HEAD_AS_STORED) {
        int f = m->params.lm_head_format;
        if (f != TRIT_HEAD_Q8 && f != TRIT_HEAD_Q6 && f != TRIT_HEAD_Q4) {
            st = trit_fail(err, TRIT_ERR_ARG, "unknown lm_head_format %d (TRIT_HEAD_AS_STORED, _Q8, _Q6 or _Q4)", f);
            goto fail;
        }
        trit_hq_fmt fmt = f == TRIT_HEAD_Q8 ? TRIT_HQ_Q8 : f == TRIT_HEAD_Q6 ? TRIT_HQ_Q6 : TRIT_HQ_Q4;
        const st_tensor *ht = c->tied ? e : find(&L, "lm_head.weight", 1);
        if ((st = head_quantize(m, fmt, ht, err)) != TRIT_OK) goto fail;
    }
    m->inv_freq = malloc((size_t)(c->head_dim / 2) * sizeof(float));
    if (!m->inv_freq) { st = trit_fail(err, TRIT_ERR_NOMEM, "out of memory"); goto fail; }
    trit_rope_inv_freq(c, m->inv_freq);
    *out = m;
    return TRIT_OK;
fail:
    trit_model_free(m);
    return st;
}

/* See model.h. Reading the mapped table would map a whole page-cache folio
 * (hundreds of KB, up to 2 MiB) per new region touched, growing the resident
 * set until the whole table is mapped; so the row is read with pread into
 * out (2-byte values into its upper half, then widened in place, front to
 * back: element k is read before out[k] overwrites anything unread). If
 * that fails, the mapped row is used and its pages are unmapped again. */
void trit_model_embed_row(const trit_model *m, int32_t tok, float *out) {
    if (m->embed_drop && m->embed_fd >= 0) {
        const int64_t K = m->embed.K;
        const size_t es = m->embed.dtype == ST_F32 ? 4 : 2, row = (size_t)K * es;
        void *dst = es == 4 ? (void *)out : (void *)((uint16_t *)out + K);
        if (pread(m->embed_fd, dst, row, (off_t)(m->embed_offset + (uint64_t)tok * row)) == (ssize_t)row) {
            if (es == 2) {
                const uint16_t *raw = dst;
                for (int64_t k = 0; k < K; k++) {
                    const uint16_t h = raw[k];
                    if (m->embed.dtype == ST_BF16) {
                        const uint32_t u = (uint32_t)h << 16;
                        memcpy(&out[k], &u, 4);
                    } else {
                        out[k] = trit_fp16_to_f32(h);
                    }
                }
            }
            return;
        }
    }
    trit_dmat_row(&m->embed, tok, out);
    if (!m->embed_drop) return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const size_t row = (size_t)m->embed.K * (m->embed.dtype == ST_F32 ? 4 : 2);
    uintptr_t a = ((uintptr_t)m->embed.data + (uintptr_t)tok * row) & ~(pg - 1);
    uintptr_t e = ((uintptr_t)m->embed.data + (uintptr_t)(tok + 1) * row + pg - 1) & ~(pg - 1);
    madvise((void *)a, e - a, MADV_DONTNEED);
}

/* ==== info ==== */

void trit_model_get_info(const trit_model *m, trit_model_info *info) {
    const trit_config *c = &m->cfg;
    memset(info, 0, sizeof *info);
    info->arch = c->arch == ARCH_BITNET ? "bitnet" : "llama";
    static const char *hq_names[] = {"q8 (8-bit, bf16 scale per 32: 8.5 bits/weight)",
                                     "q6 (6-bit, bf16 scale per 32: 6.5 bits/weight)",
                                     "q4 (4-bit, bf16 scale per 32: 4.5 bits/weight)"};
    info->lm_head_format = m->lm_head.kind == LIN_HQ ? hq_names[m->lm_head.hq.fmt]
                         : m->lm_head.d.dtype == ST_BF16 ? "bf16" : m->lm_head.d.dtype == ST_F16 ? "f16" : "f32";
    static const char *const fmts[2][4] = {
        {"ternary, packed 2-bit (offline)", "ternary, packed 2-bit (offline), repacked 2-bit bands",
         "ternary, packed 2-bit (offline), repacked 1.6-bit", "ternary, packed 2-bit (offline), repacked lookup-table"},
        {"ternary from master weights (online)", "ternary from master weights (online), 2-bit bands",
         "ternary from master weights (online), 1.6-bit", "ternary from master weights (online), lookup-table"}};
    const int tf = m->tp_buf ? m->params.weights_format == TRIT_WEIGHTS_2BIT ? 1
                 : m->params.weights_format == TRIT_WEIGHTS_1P6BIT ? 2 : 3 : 0;
    info->weight_format = m->n_binary_lin && m->n_binary_lin == m->n_packed_lin
                        ? "binary, 1-bit + f16 scale per 128 (repacked at load from packed +-1 codes)"
                        : m->n_binary_lin ? "mixed: packed 2-bit ternary and 1-bit binary linears"
                        : c->wfmt == WFMT_PACKED_OFFLINE ? fmts[0][tf]
                        : c->wfmt == WFMT_ONLINE ? fmts[1][tf] : "dense float";
    info->vocab_size = c->vocab;
    info->hidden_size = c->dim;
    info->intermediate_size = c->ffn;
    info->n_layers = c->n_layers;
    info->n_heads = c->n_heads;
    info->n_kv_heads = c->n_kv_heads;
    info->head_dim = c->head_dim;
    info->max_position = c->max_pos;
    info->rope_theta = c->rope_theta;
    info->rms_norm_eps = c->eps;
    info->tied_embeddings = c->tied;
    info->n_params = m->n_params;
    info->file_bytes = st_set_bytes(m->st);
    info->weight_bytes = m->weight_bytes;
    info->bos_id = c->bos_id;
    info->n_eos = c->n_eos;
    for (int i = 0; i < c->n_eos; i++) info->eos_ids[i] = c->eos_ids[i];
}

int64_t trit_model_kv_bytes(const trit_model *m, int64_t n_ctx, int type_k, int type_v) {
    const trit_config *c = &m->cfg;
    const int64_t per = c->n_layers * n_ctx * c->n_kv_heads * c->head_dim;
    return per * (type_k == TRIT_KV_F16 ? 2 : 4) + per * (type_v == TRIT_KV_F16 ? 2 : 4);
}
