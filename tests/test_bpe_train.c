/*
 * test_bpe_train.c - the byte-level BPE trainer (src/text/bpe_train.c):
 * merges worked out by hand (Hugging Face's own BpeTrainer unit test, ties,
 * the per-line reading), vocabulary sizes, the written tokenizer.json loaded
 * back and round-tripped, invalid UTF-8 input and bad parameters.
 * The comparison with Hugging Face tokenizers itself is in
 * tests/cli_tokenizer_train.sh.
 */
#include <stdint.h>

#include "tt.h"
#include "text/bpe_train.h"
#include "text/tokenizer.h"

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Trains on `text` (NULL-ended list of texts, each fed as one file);
 * NULL (and a message) on failure. */
static tok_trainer *train(const char *pattern, int32_t vocab, uint64_t minf, const char *const *special,
                          size_t n_special, const char *const *texts) {
    tok_train_params p = tok_train_default_params();
    p.vocab_size = vocab;
    p.min_frequency = minf;
    p.pattern = pattern;
    p.regex = tok_pcre2_api();
    p.special = special;
    p.n_special = n_special;
    tok_trainer *tr = NULL;
    trit_error err;
    if (tok_trainer_new(&p, &tr, &err) != TRIT_OK) {
        fprintf(stderr, "  tok_trainer_new: %s\n", err.msg);
        return NULL;
    }
    for (; *texts; texts++) {
        if (tok_trainer_feed(tr, *texts, strlen(*texts), &err) != TRIT_OK) {
            fprintf(stderr, "  feed: %s\n", err.msg);
            tok_trainer_free(tr);
            return NULL;
        }
    }
    if (tok_trainer_train(tr, &err) != TRIT_OK) {
        fprintf(stderr, "  train: %s\n", err.msg);
        tok_trainer_free(tr);
        return NULL;
    }
    return tr;
}

/* The tokenizer.json text of a trained trainer (caller frees .s). */
static tok_str json_of(const tok_trainer *tr) {
    tok_str s = {0};
    trit_error err;
    if (tok_trainer_json(tr, &s, &err) != TRIT_OK) fprintf(stderr, "  json: %s\n", err.msg);
    return s;
}

/* Loads the trained tokenizer (with its tokenizer_config.json). */
static tok_tokenizer *load_trained(const tok_trainer *tr) {
    tok_str js = json_of(tr), cfg = {0};
    trit_error err;
    tok_tokenizer *t = NULL;
    tok_load_params lp = tok_default_load_params();
    lp.regex = tok_pcre2_api();
    if (tok_trainer_config_json(tr, &cfg, &err) != TRIT_OK ||
        tok_load_mem("tokenizer.json", "trained", js.s, js.len, NULL, 0, cfg.s, cfg.len, &lp, &t, &err) != TRIT_OK)
        fprintf(stderr, "  load: %s\n", err.msg);
    tok_str_free(&js);
    tok_str_free(&cfg);
    return t;
}

/* 1 when the merges list of json starts with the given "a b" pairs, in order,
 * and has exactly n of them. */
static int merges_are(const char *json, const char *const *want, size_t n) {
    const char *m = strstr(json, "\"merges\": [");
    if (!m) return 0;
    m += strlen("\"merges\": [");
    for (size_t i = 0; i < n; i++) {
        char a[64], b[64], exp[160];
        sscanf(want[i], "%63s %63s", a, b);
        snprintf(exp, sizeof exp, "[\"%s\", \"%s\"]", a, b);
        const char *p = strstr(m, exp);
        if (!p || strchr(m, '[') != p) return 0; /* must be the next entry */
        m = p + strlen(exp);
    }
    return strchr(m, '[') == NULL;
}

/* ======================================================================== */
/* Tests                                                                     */
/* ======================================================================== */

/* Hugging Face's BpeTrainer unit test (tokenizers/src/models/bpe/trainer.rs):
 * these word counts with min_frequency 2 give exactly "re", "are", "is"
 * ("are" before "is": both occur twice, and (a, re) < (i, s) by ids). */
static void test_hf_trainer_example(void) {
    const char *texts[] = {"roses are are red voilets blue BERT is is big and so GPT-2", NULL};
    tok_trainer *tr = train("\\S+", 1000, 2, NULL, 0, texts);
    CHECK(tr != NULL, "training failed");
    if (!tr) return;
    CHECK(tok_trainer_n_merges(tr) == 3, "%zu merges", tok_trainer_n_merges(tr));
    CHECK(tok_trainer_vocab_size(tr) == 259, "%d ids", (int)tok_trainer_vocab_size(tr));
    tok_str js = json_of(tr);
    static const char *const want[] = {"r e", "a re", "i s"};
    CHECK(js.s && merges_are(js.s, want, 3), "merges: %s", js.s ? strstr(js.s, "\"merges\"") : "(none)");
    tok_str_free(&js);
    tok_trainer_free(tr);
}

/* Equal counts go to the smaller (left id, right id): byte ids follow the
 * code points, so "a b" (97, 98) comes before "b a" and "c d". */
static void test_ties_by_pair_ids(void) {
    const char *texts[] = {"cd ba ab", NULL};
    tok_trainer *tr = train("\\S+", 1000, 0, NULL, 0, texts);
    CHECK(tr != NULL, "training failed");
    if (!tr) return;
    tok_str js = json_of(tr);
    static const char *const want[] = {"a b", "b a", "c d"};
    CHECK(js.s && merges_are(js.s, want, 3), "merges: %s", js.s ? strstr(js.s, "\"merges\"") : "(none)");
    tok_str_free(&js);
    tok_trainer_free(tr);
}

/* Counting follows the words' multiplicities and overlapping runs: in
 * "aaaa" x 3 and "aaa" x 1 the pair (a, a) is seen 3*3 + 2 times. The
 * merge "a a" turns "aaaa" into "aa aa" and "aaa" into "aa a", so the next
 * merge is "aa aa" (3) before "aa a" (1). */
static void test_overlapping_runs(void) {
    const char *texts[] = {"aaaa aaaa aaaa aaa", NULL};
    tok_trainer *tr = train("\\S+", 1000, 0, NULL, 0, texts);
    CHECK(tr != NULL, "training failed");
    if (!tr) return;
    tok_str js = json_of(tr);
    static const char *const want[] = {"a a", "aa aa", "aa a"};
    CHECK(js.s && merges_are(js.s, want, 3), "merges: %s", js.s ? strstr(js.s, "\"merges\"") : "(none)");
    tok_str_free(&js);
    tok_trainer_free(tr);
}

/* Lines are pre-tokenized one by one (as HF reads training files), so a run
 * of newlines is never one word and nothing merges here; fed as one line
 * the run "\n\n\n\n\n\n" would be a single llama3 piece with pairs. */
static void test_lines_read_apart(void) {
    const char *texts[] = {"a\n\n\n\n\n\n", NULL};
    tok_trainer *tr = train(tok_train_pattern("llama3"), 1000, 0, NULL, 0, texts);
    CHECK(tr != NULL, "training failed");
    if (!tr) return;
    CHECK(tok_trainer_n_merges(tr) == 0, "%zu merges", tok_trainer_n_merges(tr));
    uint64_t total;
    CHECK(tok_trainer_n_words(tr, &total) == 2 && total == 7, "%zu distinct, %llu words",
          tok_trainer_n_words(tr, NULL), (unsigned long long)total);
    tok_trainer_free(tr);
}

/* The vocabulary stops at vocab_size ids, specials included (ids 0, 1),
 * and the result loads, encodes and decodes back. */
static void test_vocab_size_and_roundtrip(void) {
    const char *text =
        "It's a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife. 12345 67890 -- naïve café, 東京 🙂\n"
        "However little known the feelings or views of such a man may be on his first "
        "entering a neighbourhood, this truth is so well fixed in the minds of the "
        "surrounding families.\r\n";
    const char *texts[] = {text, text, NULL};
    const char *const specials[] = {"<|endoftext|>", "<|pad|>", "<|endoftext|>"};
    tok_trainer *tr = train(tok_train_pattern("gpt2"), 300, 0, specials, 3, texts);
    CHECK(tr != NULL, "training failed");
    if (!tr) return;
    CHECK(tok_trainer_vocab_size(tr) == 300, "%d ids", (int)tok_trainer_vocab_size(tr));
    CHECK(tok_trainer_n_merges(tr) == 300 - 2 - 256, "%zu merges", tok_trainer_n_merges(tr));
    tok_tokenizer *t = load_trained(tr);
    CHECK(t != NULL, "the trained tokenizer does not load");
    if (t) {
        CHECK(tok_n_vocab(t) == 300, "%d ids loaded", (int)tok_n_vocab(t));
        CHECK(tok_find(t, "<|endoftext|>", 13) == 0 && tok_find(t, "<|pad|>", 7) == 1, "special ids");
        CHECK(tok_is_special(t, 0) && tok_is_special(t, 1) && !tok_is_special(t, 2), "special flags");
        CHECK(tok_eos_id(t) == 0, "eos %d", (int)tok_eos_id(t));
        tok_ids ids = {0};
        tok_str back = {0};
        trit_error err;
        const char *s = "a single man\x01 in want <|pad|> \xff!";
        CHECK(tok_encode(t, s, strlen(s), TOK_PARSE_SPECIAL, &ids, &err) == TRIT_OK, "%s", err.msg);
        CHECK(ids.n < strlen(s), "%zu ids for %zu bytes", ids.n, strlen(s));
        CHECK(tok_decode(t, ids.ids, ids.n, TOK_DECODE_SPECIAL, &back, &err) == TRIT_OK, "%s", err.msg);
        CHECK(back.len > 0 && strcmp(back.s, "a single man\x01 in want <|pad|> \xEF\xBF\xBD!") == 0,
              "decoded [%s]", back.s ? back.s : "");
        tok_ids_free(&ids);
        tok_str_free(&back);
        tok_free(t);
    }
    tok_trainer_free(tr);
}

/* Invalid UTF-8 is read as U+FFFD (EF BF BD, in the byte alphabet "ï¿½")
 * per maximal subpart: "\xE2\x82" is one replacement, "\xFF\xFE" two. The
 * words are "\uFFFD\uFFFD" x 2 and "x\uFFFD"; (BF, BD) and (EF, BF) are
 * both seen 5 times and "¿" has the smaller id, then "ï" + "¿½" (5), then
 * the doubled replacement (2); "x" + it is seen once, under min_frequency. */
static void test_invalid_utf8_input(void) {
    const char *texts[] = {"\xFF\xFE \xFF\xFE x\xE2\x82", NULL};
    tok_trainer *tr = train("\\S+", 1000, 2, NULL, 0, texts);
    CHECK(tr != NULL, "training failed");
    if (!tr) return;
    tok_str js = json_of(tr);
    static const char *const want[] = {"\xC2\xBF \xC2\xBD", "\xC3\xAF \xC2\xBF\xC2\xBD",
                                       "\xC3\xAF\xC2\xBF\xC2\xBD \xC3\xAF\xC2\xBF\xC2\xBD"};
    CHECK(js.s && merges_are(js.s, want, 3), "merges: %s", js.s ? strstr(js.s, "\"merges\"") : "(none)");
    tok_str_free(&js);
    tok_tokenizer *t = load_trained(tr);
    CHECK(t != NULL, "does not load");
    tok_free(t);
    tok_trainer_free(tr);
}

/* A reusable tok_encoder gives the ids of tok_encode, call after call (its
 * word cache carries over), flags and invalid UTF-8 included. */
static void test_encoder_matches_encode(void) {
    const char *texts[] = {"the cat sat on the mat; the cat ate the rat. 1234567 cats!\n", NULL};
    const char *const specials[] = {"<|endoftext|>"};
    tok_trainer *tr = train(tok_train_pattern("llama3"), 290, 0, specials, 1, texts);
    tok_tokenizer *t = tr ? load_trained(tr) : NULL;
    CHECK(t != NULL, "no tokenizer");
    tok_encoder *x = t ? tok_encoder_new(t) : NULL;
    CHECK(!t || x, "tok_encoder_new failed");
    static const char *const inputs[] = {
        "the cat", "the cat sat on the mat", " the  cat\n\n", "<|endoftext|>the rat",
        "\xFF the \xE2\x82 mat", "", "cats cats cats cats cats cats cats cats cats cats cats cats "
        "cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats "
        "cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats "
        "cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats "
        "cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats "
        "cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats cats!",
        "the cat"};
    for (int round = 0; x && round < 2; round++) {
        for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
            unsigned flags = (i & 1) ? TOK_PARSE_SPECIAL : 0;
            tok_ids a = {0}, b = {0};
            trit_error err;
            CHECK(tok_encode(t, inputs[i], strlen(inputs[i]), flags, &a, &err) == TRIT_OK, "%s", err.msg);
            CHECK(tok_encoder_encode(x, inputs[i], strlen(inputs[i]), flags, &b, &err) == TRIT_OK, "%s",
                  err.msg);
            CHECK(a.n == b.n && (a.n == 0 || memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0),
                  "input %zu round %d: %zu vs %zu ids", i, round, a.n, b.n);
            tok_ids_free(&a);
            tok_ids_free(&b);
        }
    }
    trit_error err;
    CHECK(tok_encoder_encode(NULL, "x", 1, 0, NULL, &err) == TRIT_ERR_ARG, "NULL encoder");
    CHECK(tok_encoder_new(NULL) == NULL, "NULL tokenizer");
    tok_encoder_free(x);
    tok_encoder_free(NULL);
    tok_free(t);
    tok_trainer_free(tr);
}

/* Bad parameters and misuse give errors, not crashes. */
static void test_errors(void) {
    tok_train_params p = tok_train_default_params();
    tok_trainer *tr = (tok_trainer *)&p;
    trit_error err;
    CHECK(tok_trainer_new(&p, &tr, &err) == TRIT_ERR_ARG && tr == NULL, "no regex engine");
    p.regex = tok_pcre2_api();
    p.vocab_size = 255;
    CHECK(tok_trainer_new(&p, &tr, &err) == TRIT_ERR_ARG, "vocab below 256");
    p.vocab_size = 300;
    p.pattern = "(unclosed";
    CHECK(tok_trainer_new(&p, &tr, &err) == TRIT_ERR_ARG && strstr(err.msg, "pattern"), "%s", err.msg);
    p.pattern = tok_train_pattern("llama3");
    const char *bad[] = {"ok", "\xC3"};
    p.special = bad;
    p.n_special = 2;
    CHECK(tok_trainer_new(&p, &tr, &err) == TRIT_ERR_ARG && strstr(err.msg, "special"), "%s", err.msg);
    const char *empty[] = {""};
    p.special = empty;
    p.n_special = 1;
    CHECK(tok_trainer_new(&p, &tr, &err) == TRIT_ERR_ARG, "empty special");
    p.n_special = 0;
    CHECK(tok_train_pattern("nope") == NULL && tok_train_pattern("gpt2") != NULL, "patterns");
    CHECK(tok_trainer_new(&p, &tr, &err) == TRIT_OK, "%s", err.msg);
    tok_str s = {0};
    CHECK(tok_trainer_json(tr, &s, &err) == TRIT_ERR_ARG, "json before training");
    CHECK(tok_trainer_train(tr, &err) == TRIT_OK, "training nothing: %s", err.msg);
    CHECK(tok_trainer_vocab_size(tr) == 256 && tok_trainer_n_merges(tr) == 0, "empty training");
    CHECK(tok_trainer_feed(tr, "x", 1, &err) == TRIT_ERR_ARG, "feed after training");
    CHECK(tok_trainer_train(tr, &err) == TRIT_ERR_ARG, "training twice");
    CHECK(tok_trainer_json(tr, &s, &err) == TRIT_OK && s.len > 0, "json of an empty training");
    tok_str_free(&s);
    tok_trainer_free(tr);
    tok_trainer_free(NULL);
}

/* Contract: runs every test; non-zero exit when one failed. */
int main(void) {
    RUN(test_hf_trainer_example);
    RUN(test_ties_by_pair_ids);
    RUN(test_overlapping_runs);
    RUN(test_lines_read_apart);
    RUN(test_vocab_size_and_roundtrip);
    RUN(test_invalid_utf8_input);
    RUN(test_encoder_matches_encode);
    RUN(test_errors);
    return TT_END();
}
