/*
 * test_train_data.c - the pieces around the trainer that `trit train` uses:
 * token cache (round trip, rebuilt when stale or corrupt, chunked encoding
 * equal to whole-text encoding), train/validation split, batch RNG
 * determinism and windows, the spike guard, the CSV log, the SVG plot, the
 * checkpoint (save / restore gives a bit-identical continuation; NaN
 * parameters are refused), the split step (prepare + apply == step) and the
 * config JSON round trip.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tt.h"
#include "io/safetensors.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/guard.h"
#include "train/plot.h"
#include "train/runlog.h"
#include "trit_train.h"

#define FX TT_FIXTURES "/train_cli"

static char g_tmp[64];

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Writes len bytes to path; 1 on success. */
static int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* Reads a whole file (malloc'ed, NUL-terminated); NULL on failure. */
static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    *len = (size_t)n;
    return b;
}

/* Loads the fixture tokenizer (PCRE2 regex engine). */
static tok_tokenizer *load_tok(void) {
    tok_load_params p = tok_default_load_params();
    p.regex = tok_pcre2_api();
    tok_tokenizer *t = NULL;
    trit_error err = {0};
    CHECK(tok_load(FX, &p, &t, &err) == TRIT_OK, "%s", err.msg);
    return t;
}

/* A tiny trainer: vocab 48, dim 16, 2 layers, batch 2 x 8. */
static trit_trainer *tiny_trainer(trit_train_config *cfg) {
    trit_train_config c = {48, 16, 32, 2, 2, 1, 8, 10000.0, 1e-5, 1};
    *cfg = c;
    trit_train_params p = trit_train_default_params();
    p.batch = 2;
    p.seq = 8;
    p.lr = 1e-2;
    p.warmup_steps = 2;
    p.total_steps = 20;
    p.schedule = TRIT_SCHED_COSINE;
    p.n_threads = 2;
    trit_trainer *t = NULL;
    trit_error err = {0};
    CHECK(trit_trainer_new(cfg, &p, &t, &err) == TRIT_OK, "%s", err.msg);
    if (t) trit_trainer_init_random(t, 7, 0.05f);
    return t;
}

/* Fills ids (2 x 9) with a deterministic pattern for batch k. */
static void batch_ids(int k, int32_t *ids) {
    for (int i = 0; i < 18; i++) ids[i] = (int32_t)((i * 7 + k * 13 + (i * i) % 5) % 48);
}

/* ======================================================================== */
/* Token cache                                                               */
/* ======================================================================== */

/* Cache: written once, read back identical; rebuilt when corrupt, truncated
 * or stale; bad data files refused. */
static void test_cache_roundtrip(void) {
    tok_tokenizer *tk = load_tok();
    if (!tk) return;
    char f1[128], f2[128], cache[128];
    snprintf(f1, sizeof f1, "%s/a.txt", g_tmp);
    snprintf(f2, sizeof f2, "%s/b.txt", g_tmp);
    snprintf(cache, sizeof cache, "%s/tokens.bin", g_tmp);
    size_t len;
    char *text = read_all(FX "/text.txt", &len);
    CHECK(text != NULL, "fixture text");
    if (!text) { tok_free(tk); return; }
    CHECK(write_file(f1, text, len) && write_file(f2, "The end.\n", 9), "writing inputs");
    const char *files[2] = {f1, f2};
    td_source src = {files, 2, FX, tk, cache, 2, NULL, NULL, NULL};
    td_corpus a, b, c;
    trit_error err = {0};
    CHECK(td_corpus_load(&src, &a, &err) == TRIT_OK, "%s", err.msg);
    CHECK(!a.from_cache && strstr(a.note, "no token cache"), "first load tokenizes (%s)", a.note);
    CHECK(a.n_files == 2 && a.file_tokens[0] + a.file_tokens[1] == a.n_tokens, "file token counts");
    /* each file is one document: its encoding, then EOS */
    tok_ids enc = {0};
    CHECK(tok_encode(tk, text, len, 0, &enc, &err) == TRIT_OK, "%s", err.msg);
    CHECK(a.file_tokens[0] == enc.n + 1, "file 1: %llu tokens, encode gives %zu + EOS",
          (unsigned long long)a.file_tokens[0], enc.n);
    int same = 1;
    for (size_t i = 0; i < enc.n && i < a.n_tokens; i++) same &= a.tokens[i] == (uint32_t)enc.ids[i];
    CHECK(same, "cached tokens equal tok_encode");
    CHECK(a.tokens[a.file_tokens[0] - 1] == (uint32_t)tok_eos_id(tk) && a.tokens[a.n_tokens - 1] == (uint32_t)tok_eos_id(tk),
          "EOS ends every file");
    CHECK(a.max_id < (uint32_t)tok_n_vocab(tk), "max id %u", a.max_id);
    tok_ids_free(&enc);
    /* second load: from the cache, identical */
    CHECK(td_corpus_load(&src, &b, &err) == TRIT_OK, "%s", err.msg);
    CHECK(b.from_cache && b.n_tokens == a.n_tokens && b.checksum == a.checksum &&
          memcmp(a.tokens, b.tokens, a.n_tokens * 4) == 0, "cache round trip");
    td_corpus_free(&b);
    /* a corrupt payload byte: rebuilt */
    size_t cl;
    char *cb = read_all(cache, &cl);
    CHECK(cb && cl == TD_CACHE_HEADER + 16 + 4 * a.n_tokens, "cache size %zu", cl);
    if (cb) {
        cb[cl - 7] ^= 0x55;
        write_file(cache, cb, cl);
        CHECK(td_corpus_load(&src, &c, &err) == TRIT_OK, "%s", err.msg);
        CHECK(!c.from_cache && strstr(c.note, "checksum"), "corrupt cache rebuilt (%s)", c.note);
        CHECK(c.n_tokens == a.n_tokens && memcmp(a.tokens, c.tokens, a.n_tokens * 4) == 0, "same tokens");
        td_corpus_free(&c);
        write_file(cache, cb, cl / 2); /* truncated */
        CHECK(td_corpus_load(&src, &c, &err) == TRIT_OK, "%s", err.msg);
        CHECK(!c.from_cache && strstr(c.note, "truncated"), "truncated cache rebuilt (%s)", c.note);
        td_corpus_free(&c);
        free(cb);
    }
    /* a changed data file changes the source key: rebuilt */
    sleep(0);
    CHECK(write_file(f2, "The end, again.\n", 16), "rewrite");
    CHECK(td_corpus_load(&src, &c, &err) == TRIT_OK, "%s", err.msg);
    CHECK(!c.from_cache && strstr(c.note, "changed"), "stale cache rebuilt (%s)", c.note);
    td_corpus_free(&c);
    /* errors */
    char empty[128];
    snprintf(empty, sizeof empty, "%s/empty.txt", g_tmp);
    write_file(empty, "", 0);
    const char *bad[2] = {f1, empty};
    td_source s2 = {bad, 2, FX, tk, cache, 1, NULL, NULL, NULL};
    CHECK(td_corpus_load(&s2, &c, &err) != TRIT_OK && strstr(err.msg, "empty"), "empty file: %s", err.msg);
    const char *missing[1] = {"/nonexistent/x.txt"};
    td_source s3 = {missing, 1, FX, tk, cache, 1, NULL, NULL, NULL};
    CHECK(td_corpus_load(&s3, &c, &err) == TRIT_ERR_IO && strstr(err.msg, "/nonexistent/x.txt"), "missing: %s",
          err.msg);
    td_corpus_free(&a);
    free(text);
    tok_free(tk);
}

/* Contract of the cancel hook: always asks to stop. */
static int always_cancel(void *user) {
    (void)user;
    return 1;
}

/* A file of several chunks encodes exactly as the whole text; cancelling
 * stops and writes no cache. */
static void test_chunked_encoding(void) {
    tok_tokenizer *tk = load_tok();
    if (!tk) return;
    size_t len;
    char *text = read_all(FX "/text.txt", &len);
    if (!text) { tok_free(tk); return; }
    /* ~1.3 MB: two chunks of encoding work, varied lines */
    size_t cap = 1300000, n = 0;
    char *big = malloc(cap + len + 64);
    for (int k = 0; n < cap; k++) {
        n += (size_t)sprintf(big + n, "Part %d.\n\n", k);
        memcpy(big + n, text, len);
        n += len;
    }
    char path[128], cache[128];
    snprintf(path, sizeof path, "%s/big.txt", g_tmp);
    snprintf(cache, sizeof cache, "%s/big.bin", g_tmp);
    CHECK(write_file(path, big, n), "write");
    const char *files[1] = {path};
    td_source src = {files, 1, FX, tk, cache, 2, NULL, NULL, NULL};
    td_corpus c;
    trit_error err = {0};
    CHECK(td_corpus_load(&src, &c, &err) == TRIT_OK, "%s", err.msg);
    tok_ids enc = {0};
    CHECK(tok_encode(tk, big, n, 0, &enc, &err) == TRIT_OK, "%s", err.msg);
    CHECK(c.n_tokens == enc.n + 1, "chunked %llu tokens vs whole %zu + EOS", (unsigned long long)c.n_tokens, enc.n);
    int same = c.n_tokens == enc.n + 1;
    for (size_t i = 0; same && i < enc.n; i++) same = c.tokens[i] == (uint32_t)enc.ids[i];
    CHECK(same, "chunked encoding equals whole-text encoding");
    td_corpus_free(&c);
    tok_ids_free(&enc);
    /* cancellation stops tokenizing and writes no cache */
    remove(cache);
    td_source s2 = {files, 1, FX, tk, cache, 2, NULL, always_cancel, NULL};
    CHECK(td_corpus_load(&s2, &c, &err) != TRIT_OK && strstr(err.msg, "interrupted"), "cancel: %s", err.msg);
    struct stat st;
    CHECK(stat(cache, &st) != 0, "no cache after cancel");
    free(big);
    free(text);
    tok_free(tk);
}

/* ======================================================================== */
/* Split and batches                                                         */
/* ======================================================================== */

/* Split per file, batch windows and RNG determinism, fixed validation
 * windows. */
static void test_split_and_batches(void) {
    uint32_t toks[150];
    uint64_t ft[2] = {100, 50};
    for (int i = 0; i < 150; i++) toks[i] = (uint32_t)i;
    td_corpus c;
    memset(&c, 0, sizeof c);
    c.tokens = toks;
    c.n_tokens = 150;
    c.file_tokens = ft;
    c.n_files = 2;
    td_split s;
    trit_error err = {0};
    CHECK(td_split_make(&c, 0.1, &s, &err) == TRIT_OK, "%s", err.msg);
    CHECK(s.n_train == 135 && s.n_val == 15, "split %llu / %llu", (unsigned long long)s.n_train,
          (unsigned long long)s.n_val);
    /* train: 0..89 then 100..144; val: 90..99 then 145..149 */
    CHECK(s.train[89] == 89 && s.train[90] == 100 && s.train[134] == 144, "train stream");
    CHECK(s.val[0] == 90 && s.val[9] == 99 && s.val[10] == 145 && s.val[14] == 149, "val stream");
    CHECK(td_split_check(&s, 8, 1, &err) == TRIT_OK, "%s", err.msg);
    CHECK(td_split_check(&s, 15, 1, &err) == TRIT_ERR_ARG && strstr(err.msg, "validation"), "%s", err.msg);
    CHECK(td_split_check(&s, 140, 0, &err) == TRIT_ERR_ARG && strstr(err.msg, "training"), "%s", err.msg);
    td_split_free(&s);
    CHECK(td_split_make(&c, 1.0, &s, &err) == TRIT_ERR_ARG, "val_frac 1 refused");
    CHECK(td_split_make(&c, 0.1, &s, &err) == TRIT_OK, "again");
    /* training batches: windows of the stream, reproducible from the state */
    int32_t b1[3 * 9], b2[3 * 9];
    uint64_t r1 = 42, r2 = 42;
    int windows_ok = 1;
    for (int k = 0; k < 50; k++) {
        td_train_batch(&s, &r1, 3, 8, b1);
        td_train_batch(&s, &r2, 3, 8, b2);
        CHECK(memcmp(b1, b2, sizeof b1) == 0, "same state, same batch");
        for (int b = 0; b < 3; b++) {
            const int32_t *w = b1 + b * 9;
            uint64_t start = 0;
            while (start < s.n_train && s.train[start] != w[0]) start++;
            windows_ok &= start + 9 <= s.n_train && memcmp(w, s.train + start, 9 * sizeof *w) == 0;
        }
    }
    CHECK(windows_ok, "every row is a window of the training stream");
    CHECK(r1 == r2 && r1 != 42, "state advances");
    /* td_rng_below covers its range */
    uint64_t r = 1;
    int seen[7] = {0};
    for (int i = 0; i < 700; i++) seen[td_rng_below(&r, 7)]++;
    int all = 1;
    for (int i = 0; i < 7; i++) all &= seen[i] > 50;
    CHECK(all, "uniform-ish over [0, 7)");
    /* validation batches: fixed, first at 0, last ends at the stream's end */
    int32_t v[2 * 9];
    td_val_batch(&s, 0, 2, 2, 8, v);
    CHECK(v[0] == 90, "first window starts at 0");
    td_val_batch(&s, 1, 2, 2, 8, v);
    CHECK(v[9 + 8] == 149, "last window ends at the end (%d)", v[17]);
    td_split_free(&s);
}

/* ======================================================================== */
/* Guard                                                                     */
/* ======================================================================== */

/* Spike guard verdicts, medians, skip counts and the sliding window. */
static void test_guard(void) {
    tg_guard g;
    tg_init(&g, 10.0);
    float med;
    CHECK(tg_check(&g, NAN, 1.0f, &med) == TG_NONFINITE, "NaN loss");
    CHECK(tg_check(&g, 1.0f, INFINITY, &med) == TG_NONFINITE, "Inf norm");
    CHECK(tg_check(&g, 1000.0f, 1.0f, &med) == TG_ACCEPT, "no spike judgement before history");
    for (int i = 0; i < TG_MIN_HISTORY; i++) tg_accept(&g, 2.0f + 0.1f * (float)i, 1.0f);
    CHECK(tg_check(&g, 30.0f, 1.0f, &med) == TG_LOSS_SPIKE && fabsf(med - 2.35f) < 1e-5f, "loss spike, median %g",
          (double)med);
    CHECK(tg_check(&g, 3.0f, 10.5f, &med) == TG_NORM_SPIKE && med == 1.0f, "norm spike");
    CHECK(tg_check(&g, 3.0f, 9.0f, &med) == TG_ACCEPT, "below the limit");
    tg_reject(&g);
    tg_reject(&g);
    CHECK(g.skipped == 2 && g.consecutive == 2, "skip counts");
    tg_accept(&g, 2.0f, 1.0f);
    CHECK(g.skipped == 2 && g.consecutive == 0, "accept resets the run of skips");
    for (int i = 0; i < 3 * TG_WINDOW; i++) tg_accept(&g, 5.0f, 2.0f);
    CHECK(g.n == TG_WINDOW && tg_check(&g, 49.0f, 19.0f, &med) == TG_ACCEPT &&
          tg_check(&g, 51.0f, 1.0f, &med) == TG_LOSS_SPIKE, "window slides");
    tg_init(&g, 0);
    for (int i = 0; i < 20; i++) tg_accept(&g, 1.0f, 1.0f);
    CHECK(tg_check(&g, 1e9f, 1e9f, &med) == TG_ACCEPT, "factor 0: spikes allowed");
}

/* ======================================================================== */
/* Log and plot                                                              */
/* ======================================================================== */

/* CSV rows round trip; resume truncation keeps the prefix byte for byte;
 * SVG output is well-formed and escaped. */
static void test_runlog_and_plot(void) {
    char path[128], svg[128];
    snprintf(path, sizeof path, "%s/log.csv", g_tmp);
    snprintf(svg, sizeof svg, "%s/loss.svg", g_tmp);
    tl_log log;
    trit_error err = {0};
    CHECK(tl_open(&log, path, -1, &err) == TRIT_OK, "%s", err.msg);
    for (int i = 1; i <= 10; i++) {
        tl_row r = {i, 5.0f / (float)i + 0.123456789f, 0.7f, 1e-3 * i, 1234.5, i % 5 ? NAN : 3.25f, i > 7};
        CHECK(tl_append(&log, &r, &err) == TRIT_OK, "%s", err.msg);
    }
    tl_close(&log);
    /* keep steps <= 6 (a resumed run), byte for byte */
    size_t l0, l1;
    char *before = read_all(path, &l0);
    CHECK(tl_open(&log, path, 6, &err) == TRIT_OK, "%s", err.msg);
    CHECK(log.n == 6 && log.rows[5].step == 6 && log.rows[4].val_loss == 3.25f && isnan(log.rows[3].val_loss),
          "rows kept: %zu", log.n);
    CHECK(log.rows[2].loss == 5.0f / 3.0f + 0.123456789f, "loss round trips exactly");
    tl_close(&log);
    char *after = read_all(path, &l1);
    char *cut = before ? strstr(before, "\n7,") : NULL;
    CHECK(cut && after && l1 == (size_t)(cut - before) + 1 && memcmp(before, after, l1) == 0, "prefix kept");
    free(before);
    free(after);
    tl_row r;
    CHECK(!tl_parse("1,2,3", &r) && !tl_parse("x,1,1,1,1,,,0", &r) && tl_parse("3,1.5,0.001,2,10.0,,,0", &r) &&
          r.step == 3 && isnan(r.val_loss), "parse");
    /* plot */
    double x[4] = {1, 2, 3, 4}, y[4] = {5, NAN, 4, 3.5}, vx[1] = {4}, vy[1] = {3.9};
    tp_series s[2] = {{x, y, 4, "train <loss>", "#123456", 1.5, 0, 1.0}, {vx, vy, 1, "val", "#abcdef", 0, 1, 1.0}};
    CHECK(tp_write_svg(svg, "t & t", "step", "loss", s, 2, &err) == TRIT_OK, "%s", err.msg);
    size_t sl;
    char *text = read_all(svg, &sl);
    CHECK(text && strstr(text, "<svg") && strstr(text, "</svg>\n") && strstr(text, "<polyline") &&
          strstr(text, "<circle") && strstr(text, "t &amp; t") && strstr(text, "train &lt;loss&gt;") &&
          !strstr(text, "nan"), "svg content");
    free(text);
    char *empty = tp_svg("empty", "x", "y", s, 0);
    CHECK(empty && strstr(empty, "</svg>"), "empty plot");
    free(empty);
    CHECK(tp_write_svg("/nonexistent/dir/p.svg", "t", "x", "y", s, 1, &err) == TRIT_ERR_IO, "unwritable");
}

/* ======================================================================== */
/* Trainer state and checkpoints                                             */
/* ======================================================================== */

/* prepare + apply (with an eval in between) equals trit_trainer_step. */
static void test_prepare_apply_equals_step(void) {
    trit_train_config cfg;
    trit_trainer *a = tiny_trainer(&cfg), *b = tiny_trainer(&cfg);
    if (!a || !b) { trit_trainer_free(a); trit_trainer_free(b); return; }
    int32_t ids[18];
    trit_error err = {0};
    for (int k = 0; k < 4; k++) {
        trit_train_stats sa, sb;
        batch_ids(k, ids);
        CHECK(trit_trainer_step(a, ids, &sa, &err) == TRIT_OK, "%s", err.msg);
        CHECK(trit_trainer_prepare(b, ids, &sb, &err) == TRIT_OK, "%s", err.msg);
        float ev;
        CHECK(trit_trainer_eval(b, ids, &ev, &err) == TRIT_OK, "eval in between");
        trit_trainer_apply(b);
        CHECK(sa.loss == sb.loss && sa.grad_norm == sb.grad_norm && sa.lr == sb.lr && sa.step == sb.step, "stats");
    }
    int64_t n;
    const char *name = trit_trainer_tensor_name(a, 2);
    float *pa = trit_trainer_param(a, name, &n), *pb = trit_trainer_param(b, name, NULL);
    CHECK(memcmp(pa, pb, (size_t)n * 4) == 0 && trit_trainer_get_step(b) == 4, "same parameters");
    float *ma = trit_trainer_moment(a, name, 1, NULL), *mb = trit_trainer_moment(b, name, 1, NULL);
    CHECK(ma && mb && memcmp(ma, mb, (size_t)n * 4) == 0, "same moments");
    CHECK(!trit_trainer_moment(a, name, 2, NULL) && !trit_trainer_moment(a, "nope", 0, NULL), "bad moment args");
    trit_trainer_free(a);
    trit_trainer_free(b);
}

/* Save / restore: state round trip and a bit-identical continuation; HF
 * names and shapes; --init from a checkpoint; NaN parameters refused. */
static void test_checkpoint_roundtrip(void) {
    trit_train_config cfg;
    trit_trainer *a = tiny_trainer(&cfg), *b = tiny_trainer(&cfg);
    if (!a || !b) { trit_trainer_free(a); trit_trainer_free(b); return; }
    trit_trainer_init_random(b, 99, 0.05f); /* different start: restore must overwrite it */
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", g_tmp);
    int32_t ids[18];
    trit_error err = {0};
    trit_train_stats s;
    for (int k = 0; k < 3; k++) {
        batch_ids(k, ids);
        CHECK(trit_trainer_step(a, ids, &s, &err) == TRIT_OK, "%s", err.msg);
    }
    tc_state st;
    memset(&st, 0, sizeof st);
    st.step = 3;
    st.rng = 0xFEDCBA9876543210ull;
    st.data_checksum = 77;
    tg_init(&st.guard, 10);
    tg_accept(&st.guard, 1.2345678f, 0.3f);
    tg_reject(&st.guard);
    st.cfg = cfg;
    st.run_json = (char *)"{\"lr\":\"0.01\"}";
    CHECK(tc_save(path, a, &st, &err) == TRIT_OK, "%s", err.msg);
    tc_state rd;
    CHECK(tc_read_state(path, &rd, &err) == TRIT_OK, "%s", err.msg);
    CHECK(rd.step == 3 && rd.rng == st.rng && rd.data_checksum == 77 && rd.guard.n == 1 &&
          rd.guard.loss[0] == 1.2345678f && rd.guard.skipped == 1 && rd.guard.consecutive == 1 &&
          rd.cfg.hidden_size == 16 && rd.cfg.tie_embeddings == 1 && rd.run_json && !strcmp(rd.run_json, st.run_json),
          "state round trip");
    tc_state_free(&rd);
    CHECK(tc_restore(path, b, &err) == TRIT_OK, "%s", err.msg);
    CHECK(trit_trainer_get_step(b) == 3, "step restored");
    /* the continuation is bit-identical */
    trit_train_stats sa, sb;
    batch_ids(3, ids);
    CHECK(trit_trainer_step(a, ids, &sa, &err) == TRIT_OK && trit_trainer_step(b, ids, &sb, &err) == TRIT_OK, "step");
    CHECK(sa.loss == sb.loss && sa.grad_norm == sb.grad_norm, "same step after restore: %.9g vs %.9g",
          (double)sa.loss, (double)sb.loss);
    int same = 1;
    for (size_t i = 0; i < trit_trainer_n_tensors(a); i++) {
        int64_t n;
        const char *name = trit_trainer_tensor_name(a, i);
        float *pa = trit_trainer_param(a, name, &n), *pb = trit_trainer_param(b, name, NULL);
        same &= memcmp(pa, pb, (size_t)n * 4) == 0;
    }
    CHECK(same, "same parameters after restore + 1 step");
    /* the checkpoint has HF names and shapes, and loads as --init */
    st_file *f = NULL;
    CHECK(st_open(path, &f, &err) == TRIT_OK, "%s", err.msg);
    const st_tensor *q = f ? st_find(f, "model.layers.1.self_attn.q_proj.weight") : NULL;
    CHECK(q && q->ndim == 2 && q->shape[0] == 16 && q->shape[1] == 16, "q_proj shape");
    CHECK(f && st_find(f, "optimizer.exp_avg_sq.model.norm.weight") && !strcmp(st_metadata(f, "format"), "pt"),
          "moments and metadata");
    st_close(f);
    trit_train_config ic;
    CHECK(tc_init_config(path, &ic, &err) == TRIT_OK && ic.n_layers == 2, "%s", err.msg);
    CHECK(tc_init_weights(path, b, &err) == TRIT_OK, "%s", err.msg);
    /* NaN parameters are never saved; the file stays */
    size_t l0, l1;
    char *before = read_all(path, &l0);
    int64_t n;
    float *p = trit_trainer_param(a, "model.norm.weight", &n);
    p[3] = NAN;
    CHECK(tc_save(path, a, &st, &err) == TRIT_ERR_VALUE && strstr(err.msg, "NaN"), "%s", err.msg);
    CHECK(!trit_trainer_params_finite(a), "finite check");
    char *after = read_all(path, &l1);
    CHECK(before && after && l0 == l1 && memcmp(before, after, l0) == 0, "checkpoint unchanged");
    free(before);
    free(after);
    /* not a training checkpoint */
    CHECK(tc_read_state(TT_FIXTURES "/models/bitnet_untied/model.safetensors", &rd, &err) == TRIT_ERR_FORMAT &&
          strstr(err.msg, "not a trit training checkpoint"), "%s", err.msg);
    trit_trainer_free(a);
    trit_trainer_free(b);
}

/* Config JSON round trip, HF defaults and refusals. */
static void test_config_json(void) {
    trit_train_config c = {384, 64, 176, 3, 4, 2, 128, 500000.0, 1e-6, 0}, d;
    char *js = trit_train_config_to_json(&c);
    trit_error err = {0};
    CHECK(js && trit_train_config_from_json(js, strlen(js), "x", &d, &err) == TRIT_OK, "%s", err.msg);
    CHECK(c.vocab_size == d.vocab_size && c.hidden_size == d.hidden_size && c.intermediate_size == d.intermediate_size &&
          c.n_layers == d.n_layers && c.n_heads == d.n_heads && c.n_kv_heads == d.n_kv_heads &&
          c.max_position == d.max_position && c.rope_theta == d.rope_theta && c.rms_norm_eps == d.rms_norm_eps &&
          c.tie_embeddings == d.tie_embeddings, "round trip");
    free(js);
    const char *hf = "{\"model_type\":\"bitnet\",\"hidden_size\":64,\"intermediate_size\":176,\"num_hidden_layers\":2,"
                     "\"num_attention_heads\":4,\"rope_parameters\":{\"rope_theta\":1234.0}}";
    CHECK(trit_train_config_from_json(hf, strlen(hf), "x", &d, &err) == TRIT_OK && d.n_kv_heads == 4 &&
          d.rope_theta == 1234.0 && d.vocab_size == 0 && !d.tie_embeddings, "defaults");
    const char *bad = "{\"model_type\":\"llama\",\"hidden_size\":64}";
    CHECK(trit_train_config_from_json(bad, strlen(bad), "x", &d, &err) == TRIT_ERR_UNSUPPORTED, "llama refused");
    const char *miss = "{\"hidden_size\":64}";
    CHECK(trit_train_config_from_json(miss, strlen(miss), "cfg", &d, &err) != TRIT_OK &&
          strstr(err.msg, "intermediate_size"), "%s", err.msg);
}

/* Runs every test in a fresh temporary folder. */
int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/trit_test_train_data_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_cache_roundtrip);
    RUN(test_chunked_encoding);
    RUN(test_split_and_batches);
    RUN(test_guard);
    RUN(test_runlog_and_plot);
    RUN(test_prepare_apply_equals_step);
    RUN(test_checkpoint_roundtrip);
    RUN(test_config_json);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return TT_END();
}
