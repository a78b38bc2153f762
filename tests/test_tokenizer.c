/*
 * test_tokenizer.c - tokenizers built inside the test (a byte-level
 * tokenizer.json, GPT-2 files, a tiktoken file, a SentencePiece protobuf)
 * with expected ids derived by hand, round trips, streaming decoding, bad
 * input and fuzz-style loops over truncated / mutated files.
 */
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt.h"
#include "io/json.h"
#include "text/tok_impl.h"
#include "text/tokenizer.h"

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

static tok_load_params params(void) {
    tok_load_params p = tok_default_load_params();
    p.regex = tok_pcre2_api();
    return p;
}

/* Loads an in-memory file of `kind`; NULL (and a message) on failure. */
static tok_tokenizer *load_mem2(const char *kind, const char *data, size_t len, const char *data2,
                                size_t len2, const char *cfg) {
    tok_load_params p = params();
    tok_tokenizer *t = NULL;
    trit_error err;
    trit_status st = tok_load_mem(kind, "test-file", data, len, data2, len2, cfg,
                                  cfg ? strlen(cfg) : 0, &p, &t, &err);
    if (st != TRIT_OK) {
        fprintf(stderr, "  load failed: %s\n", err.msg);
        return NULL;
    }
    return t;
}

static tok_tokenizer *load_json(const char *json) {
    return load_mem2("tokenizer.json", json, strlen(json), NULL, 0, NULL);
}

/* Encodes text and compares with the expected ids (-1 terminated). */
static int expect_ids(const tok_tokenizer *t, const char *text, size_t len, unsigned flags,
                      const int *want, const char *what) {
    tok_ids ids = {0};
    trit_error err;
    trit_status st = tok_encode(t, text, len, flags, &ids, &err);
    size_t n = 0;
    while (want[n] >= 0) n++;
    int ok = st == TRIT_OK && ids.n == n;
    for (size_t i = 0; ok && i < n; i++) ok = ids.ids[i] == want[i];
    if (!ok) {
        fprintf(stderr, "  %s: got", what);
        for (size_t i = 0; i < ids.n; i++) fprintf(stderr, " %d", ids.ids[i]);
        fprintf(stderr, " / want");
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "%s%s\n", st ? " / error: " : "", st ? err.msg : "");
    }
    tok_ids_free(&ids);
    return ok;
}
#define EXPECT(t, text, flags, ...) do { static const int w_[] = {__VA_ARGS__, -1}; \
    CHECK(expect_ids(t, text, strlen(text), flags, w_, text), "ids of \"%s\"", text); } while (0)

/* Decodes ids and returns a malloc'ed string (its length in *len). */
static char *decode_n(const tok_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                      size_t *len) {
    tok_str s = {0};
    trit_error err;
    if (tok_decode(t, ids, n, flags, &s, &err) != TRIT_OK) {
        fprintf(stderr, "  decode failed: %s\n", err.msg);
        tok_str_free(&s);
        return NULL;
    }
    *len = s.len;
    return s.s;
}

static char *decode(const tok_tokenizer *t, const int32_t *ids, size_t n, unsigned flags) {
    size_t len;
    return decode_n(t, ids, n, flags, &len);
}

/* decode(encode(text)) == expect (the text itself when expect is NULL). */
static int roundtrip(const tok_tokenizer *t, const char *text, size_t len, const char *expect,
                     size_t elen) {
    tok_ids ids = {0};
    trit_error err;
    if (tok_encode(t, text, len, 0, &ids, &err) != TRIT_OK) return 0;
    size_t slen = 0;
    char *s = decode_n(t, ids.ids, ids.n, 0, &slen);
    if (!expect) {
        expect = text;
        elen = len;
    }
    int ok = s && slen == elen && memcmp(s, expect, elen) == 0;
    if (!ok && s) fprintf(stderr, "  roundtrip: \"%.*s\" -> \"%s\"\n", (int)len, text, s);
    free(s);
    tok_ids_free(&ids);
    return ok;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Writes UTF-8 of cp into o; returns the length. */
static size_t put_utf8(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63));
        o[2] = (char)(0x80 | (cp & 63)); return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63)); return 4;
}

/* Random valid UTF-8 text of about n characters from a mix of ranges. */
static size_t random_text(uint64_t *rng, char *out, size_t n) {
    static const uint32_t ranges[][2] = {{0x20, 0x7E}, {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x24F},
                                         {0x400, 0x4FF}, {0x600, 0x6FF}, {0x900, 0x97F},
                                         {0x3040, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
                                         {0x1F300, 0x1F64F}, {0x200B, 0x200F}, {0x0, 0x1F}};
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t *r = ranges[rng_next(rng) % (sizeof ranges / sizeof ranges[0])];
        uint32_t cp = r[0] + (uint32_t)(rng_next(rng) % (r[1] - r[0] + 1));
        o += put_utf8(cp, out + o);
    }
    return o;
}

/* ======================================================================== */
/* A tiny byte-level tokenizer.json                                          */
/* ======================================================================== */

/* Ids 0..255 are the bytes; the rest are listed with the merges below. */
static const char *const EXTRA[] = {
    "he", "ll", "hell", "hello", " w", "or", " wor", "aa", "bc", "ab", "xyz", "12", "34", "'S"};
/* merges by rank; each pair's concatenation is an EXTRA token */
static const char *const MERGES[][2] = {
    {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {"o", "r"}, {" w", "or"},
    {"a", "a"}, {"b", "c"}, {"a", "b"}, {"1", "2"}, {"3", "4"}, {"'", "S"}};

/* Appends s (raw bytes) written in the GPT-2 byte alphabet, quoted. */
static void sb_bytelevel(json_sb *b, const char *s) {
    char tmp[256];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        o += put_utf8(tok_byte_to_cp(*p), tmp + o);
    json_sb_quote(b, tmp, o);
}

/* Builds the tokenizer.json text. pretok: a JSON pre_tokenizer value;
 * pairs: merges as [a, b] arrays instead of "a b"; extra_model: more keys
 * for the model object (",..." or ""). */
static char *tiny_json(const char *pretok, int pairs, const char *extra_model) {
    json_sb b = {0};
    json_sb_puts(&b, "{\"version\":\"1.0\",\"added_tokens\":["
                     "{\"id\":270,\"content\":\"<|end|>\",\"special\":true},"
                     "{\"id\":271,\"content\":\"[NS]\",\"special\":false}],"
                     "\"normalizer\":null,\"pre_tokenizer\":");
    json_sb_puts(&b, pretok);
    json_sb_puts(&b, ",\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
                     "\"model\":{\"type\":\"BPE\"");
    json_sb_puts(&b, extra_model);
    json_sb_puts(&b, ",\"vocab\":{");
    for (int i = 0; i < 256; i++) {
        char tmp[8];
        size_t o = put_utf8(tok_byte_to_cp((uint8_t)i), tmp);
        json_sb_quote(&b, tmp, o);
        json_sb_printf(&b, ":%d,", i);
    }
    for (size_t i = 0; i < sizeof EXTRA / sizeof EXTRA[0]; i++) {
        sb_bytelevel(&b, EXTRA[i]);
        json_sb_printf(&b, ":%d%s", 256 + (int)i, i + 1 < sizeof EXTRA / sizeof EXTRA[0] ? "," : "");
    }
    json_sb_puts(&b, "},\"merges\":[");
    for (size_t i = 0; i < sizeof MERGES / sizeof MERGES[0]; i++) {
        if (i) json_sb_puts(&b, ",");
        if (pairs) {
            json_sb_puts(&b, "[");
            sb_bytelevel(&b, MERGES[i][0]);
            json_sb_puts(&b, ",");
            sb_bytelevel(&b, MERGES[i][1]);
            json_sb_puts(&b, "]");
        } else {
            json_sb b2 = {0};
            sb_bytelevel(&b2, MERGES[i][0]);
            b2.buf[b2.len - 1] = 0; /* drop the closing quote */
            json_sb_puts(&b, b2.buf);
            json_sb_puts(&b, " ");
            json_sb_free(&b2);
            sb_bytelevel(&b2, MERGES[i][1]);
            json_sb_puts(&b, b2.buf + 1); /* drop the opening quote */
            json_sb_free(&b2);
        }
    }
    json_sb_puts(&b, "]}}");
    return b.buf;
}

#define BYTELEVEL_PT "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}"
#define LLAMA3_PT "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":" \
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}," \
    "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}"

/* ids of EXTRA tokens */
enum { HE = 256, LL, HELL, HELLO, SW, OR, SWOR, AA, BC, AB, XYZ, T12, T34, QS, END = 270, NS = 271 };

static void test_bytelevel_merges(void) {
    for (int pairs = 0; pairs < 2; pairs++) {
        char *js = tiny_json(BYTELEVEL_PT, pairs, "");
        tok_tokenizer *t = load_json(js);
        CHECK(t != NULL, "load (pairs=%d)", pairs);
        if (t) {
            CHECK(strcmp(tok_kind(t), "bpe") == 0, "kind");
            CHECK(tok_n_vocab(t) == 272, "n_vocab %d", tok_n_vocab(t));
            EXPECT(t, "hello world", 0, HELLO, SWOR, 'l', 'd');
            EXPECT(t, "hello", 0, HELLO);
            EXPECT(t, "aaa", 0, AA, 'a');           /* leftmost on ties */
            EXPECT(t, "aaaa", 0, AA, AA);
            EXPECT(t, "abc", 0, 'a', BC);           /* lower rank first */
            EXPECT(t, "xyz", 0, 'x', 'y', 'z');     /* no merges lead to it */
            EXPECT(t, "12345", 0, T12, T34, '5');   /* GPT-2 keeps digit runs */
            EXPECT(t, "IT'S", 0, 'I', 'T', '\'', 'S'); /* 's is case-sensitive */
            EXPECT(t, "", 0, -1);
            /* the heap path (more than 48 symbols) */
            char longa[101];
            memset(longa, 'a', 100);
            longa[100] = 0;
            EXPECT(t, longa, 0, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA,
                   AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA,
                   AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA, AA);
            EXPECT(t, "  hello", 0, ' ', ' ', HELLO); /* \s+(?!\S) leaves one space */
        }
        tok_free(t);
        free(js);
    }
}

static void test_bytelevel_llama3_split(void) {
    char *js = tiny_json(LLAMA3_PT, 1, ",\"ignore_merges\":true");
    tok_tokenizer *t = load_json(js);
    CHECK(t != NULL, "load");
    if (t) {
        EXPECT(t, "12345", 0, T12, '3', '4', '5'); /* \p{N}{1,3}: "123" "45" */
        EXPECT(t, "IT'S", 0, 'I', 'T', QS);         /* (?i:'s) */
        EXPECT(t, "xyz", 0, XYZ);                   /* ignore_merges: whole word */
        EXPECT(t, "hello world", 0, HELLO, SWOR, 'l', 'd');
    }
    tok_free(t);
    free(js);
    /* ByteLevel with add_prefix_space */
    js = tiny_json("{\"type\":\"ByteLevel\",\"add_prefix_space\":true}", 0, "");
    t = load_json(js);
    CHECK(t != NULL, "load prefix");
    if (t) {
        EXPECT(t, "hello", 0, ' ', HELLO);
        EXPECT(t, "wor", 0, SWOR);
    }
    tok_free(t);
    free(js);
}

static void test_added_tokens(void) {
    char *js = tiny_json(BYTELEVEL_PT, 0, "");
    tok_tokenizer *t = load_json(js);
    CHECK(t != NULL, "load");
    if (t) {
        EXPECT(t, "hello<|end|>", TOK_PARSE_SPECIAL, HELLO, END);
        EXPECT(t, "hello<|end|>", 0, HELLO, '<', '|', 'e', 'n', 'd', '|', '>');
        EXPECT(t, "[NS]hello[NS]", 0, NS, HELLO, NS); /* non-special: always */
        EXPECT(t, "<|end|><|end|>", TOK_PARSE_SPECIAL, END, END);
        EXPECT(t, "<|end|", TOK_PARSE_SPECIAL, '<', '|', 'e', 'n', 'd', '|');
        CHECK(tok_find(t, "<|end|>", 7) == END, "find special");
        CHECK(tok_find(t, "hello", 5) == HELLO, "find token");
        CHECK(tok_find(t, "nope", 4) == -1, "find missing");
        CHECK(tok_is_special(t, END) && !tok_is_special(t, NS) && !tok_is_special(t, HELLO),
              "special flags");
        int32_t ids[] = {HELLO, END, SWOR, NS};
        char *s = decode(t, ids, 4, 0);
        CHECK(s && strcmp(s, "hello wor[NS]") == 0, "special hidden: %s", s ? s : "(null)");
        free(s);
        s = decode(t, ids, 4, TOK_DECODE_SPECIAL);
        CHECK(s && strcmp(s, "hello<|end|> wor[NS]") == 0, "special shown: %s", s ? s : "(null)");
        free(s);
        CHECK(tok_bos_id(t) == -1 && !tok_add_bos_default(t), "no BOS");
        tok_ids v = {0};
        trit_error err;
        CHECK(tok_encode(t, "x", 1, TOK_ADD_BOS, &v, &err) == TRIT_OK && v.n == 1, "no BOS added");
        tok_ids_free(&v);
    }
    tok_free(t);
    free(js);
}

static void test_roundtrip_bytelevel(void) {
    char *js = tiny_json(LLAMA3_PT, 0, "");
    tok_tokenizer *t = load_json(js);
    CHECK(t != NULL, "load");
    if (t) {
        static const char *const texts[] = {
            "", " ", "\n\n\t", "hello world", "Ünïcödé façade", "日本語のテキスト", "مرحبا",
            "👨‍👩‍👧‍👦 🏳️‍🌈", "a\0b", "  lots   of    space  ", "DON'T you'LL", "x86_64 0x1F 3.14",
            "\xef\xbb\xbf" "bom", "\r\n\r\n", "<|end|>"};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            size_t len = i == 8 ? 3 : strlen(texts[i]);
            CHECK(roundtrip(t, texts[i], len, NULL, 0), "roundtrip %zu", i);
        }
        uint64_t rng = 0x1234567;
        char buf[4096];
        for (int k = 0; k < 300; k++) {
            size_t n = random_text(&rng, buf, 1 + rng_next(&rng) % 200);
            CHECK(roundtrip(t, buf, n, NULL, 0), "random roundtrip %d", k);
        }
        /* invalid UTF-8 reads as U+FFFD per maximal subpart */
        CHECK(roundtrip(t, "a\xff" "b", 3, "a\xef\xbf\xbd" "b", 5), "lone byte");
        CHECK(roundtrip(t, "\xe4\xbd", 2, "\xef\xbf\xbd", 3), "truncated");
        CHECK(roundtrip(t, "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6), "overlong");
        CHECK(roundtrip(t, "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9), "surrogate");
        CHECK(roundtrip(t, "\xf0\x9f\x98" "A", 4, "\xef\xbf\xbd" "A", 4), "cut emoji");
    }
    tok_free(t);
    free(js);
}

static void test_stream_decode(void) {
    char *js = tiny_json(BYTELEVEL_PT, 0, "");
    tok_tokenizer *t = load_json(js);
    CHECK(t != NULL, "load");
    if (t) {
        tok_decoder d;
        tok_str out = {0};
        trit_error err;
        tok_decoder_init(&d, t, 0);
        /* "é" = C3 A9, "😀" = F0 9F 98 80, one byte per token */
        CHECK(tok_decoder_push(&d, 'a', &out, &err) == TRIT_OK && out.len == 1, "ascii at once");
        tok_decoder_push(&d, 0xC3, &out, &err);
        CHECK(out.len == 1, "half a char waits");
        tok_decoder_push(&d, 0xA9, &out, &err);
        CHECK(out.len == 3 && memcmp(out.s, "a\xc3\xa9", 3) == 0, "char completes");
        static const int emo[] = {0xF0, 0x9F, 0x98, 0x80};
        for (int i = 0; i < 3; i++) {
            tok_decoder_push(&d, emo[i], &out, &err);
            CHECK(out.len == 3, "emoji byte %d waits", i);
        }
        tok_decoder_push(&d, emo[3], &out, &err);
        CHECK(out.len == 7 && memcmp(out.s + 3, "\xf0\x9f\x98\x80", 4) == 0, "emoji completes");
        tok_decoder_push(&d, 0xE6, &out, &err);
        tok_decoder_push(&d, 'x', &out, &err);
        CHECK(out.len == 11 && memcmp(out.s + 7, "\xef\xbf\xbd" "x", 4) == 0, "broken char: U+FFFD");
        tok_decoder_push(&d, 0xE6, &out, &err);
        CHECK(out.len == 11, "pending");
        CHECK(tok_decoder_flush(&d, &out, &err) == TRIT_OK && out.len == 14, "flush: U+FFFD");
        CHECK(tok_decoder_push(&d, 9999, &out, &err) == TRIT_ERR_VALUE, "bad id");
        CHECK(strstr(err.msg, "9999") != NULL, "message names the id: %s", err.msg);
        CHECK(tok_decoder_push(&d, -1, &out, &err) == TRIT_ERR_VALUE, "negative id");
        tok_str_free(&out);
    }
    tok_free(t);
    free(js);
}

/* ======================================================================== */
/* GPT-2 files and tiktoken                                                  */
/* ======================================================================== */

static void test_gpt2_files(void) {
    json_sb v = {0}, m = {0};
    json_sb_puts(&v, "{");
    for (int i = 0; i < 256; i++) {
        char tmp[8];
        size_t o = put_utf8(tok_byte_to_cp((uint8_t)i), tmp);
        json_sb_quote(&v, tmp, o);
        json_sb_printf(&v, ":%d,", i);
    }
    for (size_t i = 0; i < sizeof EXTRA / sizeof EXTRA[0]; i++) {
        sb_bytelevel(&v, EXTRA[i]);
        json_sb_printf(&v, ":%d,", 256 + (int)i);
    }
    json_sb_puts(&v, "\"<|endoftext|>\":270}");
    json_sb_puts(&m, "#version: 0.2\n");
    for (size_t i = 0; i < sizeof MERGES / sizeof MERGES[0]; i++) {
        json_sb a = {0}, b = {0};
        sb_bytelevel(&a, MERGES[i][0]);
        sb_bytelevel(&b, MERGES[i][1]);
        json_sb_printf(&m, "%.*s %.*s\n", (int)a.len - 2, a.buf + 1, (int)b.len - 2, b.buf + 1);
        json_sb_free(&a);
        json_sb_free(&b);
    }
    tok_tokenizer *t = load_mem2("gpt2", v.buf, v.len, m.buf, m.len, NULL);
    CHECK(t != NULL, "load");
    if (t) {
        EXPECT(t, "hello world", 0, HELLO, SWOR, 'l', 'd');
        EXPECT(t, "12345", 0, T12, T34, '5');
        EXPECT(t, "hi<|endoftext|>", TOK_PARSE_SPECIAL, 'h', 'i', 270);
        CHECK(tok_eos_id(t) == 270 && tok_bos_id(t) == 270, "eos/bos = <|endoftext|>");
        CHECK(roundtrip(t, "Grüße, 世界!", strlen("Grüße, 世界!"), NULL, 0), "roundtrip");
    }
    tok_free(t);
    /* fuzz: truncated / mutated merges and vocab never crash */
    uint64_t rng = 99;
    for (size_t cut = 0; cut < m.len; cut += 3) {
        tok_tokenizer *f = NULL;
        tok_load_params p = params();
        trit_error err;
        if (tok_load_mem("gpt2", "f", v.buf, v.len, m.buf, cut, NULL, 0, &p, &f, &err) == TRIT_OK) {
            CHECK(roundtrip(f, "hello world", 11, NULL, 0), "roundtrip after cut %zu", cut);
            tok_free(f);
        }
    }
    for (int k = 0; k < 300; k++) {
        char *c = malloc(v.len);
        memcpy(c, v.buf, v.len);
        c[rng_next(&rng) % v.len] = (char)rng_next(&rng);
        tok_tokenizer *f = NULL;
        tok_load_params p = params();
        trit_error err;
        if (tok_load_mem("gpt2", "f", c, v.len, m.buf, m.len, NULL, 0, &p, &f, &err) == TRIT_OK) {
            tok_ids ids = {0};
            tok_encode(f, "hello world <|endoftext|>", 25, TOK_PARSE_SPECIAL, &ids, &err);
            tok_ids_free(&ids);
            tok_free(f);
        } else {
            CHECK(strstr(err.msg, "f") != NULL, "message names the file");
        }
        free(c);
    }
    json_sb_free(&v);
    json_sb_free(&m);
}

/* Appends a tiktoken line: base64 of s[0..n) and the rank. */
static void tt_line(json_sb *b, const unsigned char *s, size_t n, int rank) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[64];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        out[o++] = A[v >> 18];
        out[o++] = A[v >> 12 & 63];
        out[o++] = i + 1 < n ? A[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? A[v & 63] : '=';
    }
    json_sb_printf(b, "%.*s %d\n", (int)o, out, rank);
}

static void test_tiktoken(void) {
    json_sb b = {0};
    for (int i = 0; i < 256; i++) {
        unsigned char c = (unsigned char)i;
        tt_line(&b, &c, 1, i);
    }
    static const char *const toks[] = {"he", "ll", "hell", "hello", " w", "or", " wor"};
    for (int i = 0; i < 7; i++) tt_line(&b, (const unsigned char *)toks[i], strlen(toks[i]), 256 + i);
    const char *cfg = "{\"added_tokens_decoder\":{\"263\":{\"content\":\"<|eot|>\",\"special\":true}},"
                      "\"bos_token\":\"<|eot|>\"}";
    tok_tokenizer *t = load_mem2("tiktoken", b.buf, b.len, NULL, 0, cfg);
    CHECK(t != NULL, "load");
    if (t) {
        EXPECT(t, "hello world", 0, 259, 262, 'l', 'd');
        EXPECT(t, "hellx", 0, 258, 'x'); /* merges by rank of the concatenation */
        EXPECT(t, "hello<|eot|>", TOK_PARSE_SPECIAL, 259, 263);
        EXPECT(t, "hello", TOK_ADD_BOS, 263, 259);
        CHECK(roundtrip(t, "ok 😀 ok", strlen("ok 😀 ok"), NULL, 0), "roundtrip");
    }
    tok_free(t);
    /* without a config, a vocabulary that is not Llama-3's is refused */
    tok_load_params p = params();
    trit_error err;
    tok_tokenizer *u = NULL;
    CHECK(tok_load_mem("tiktoken", "tk.model", b.buf, b.len, NULL, 0, NULL, 0, &p, &u, &err) ==
              TRIT_ERR_UNSUPPORTED && strstr(err.msg, "tk.model"), "unknown family: %s", err.msg);
    /* bad lines and duplicate ranks */
    static const char *const bad[] = {"aGk= x\n", "aGk=\n", "!!!! 3\n", "aGk= 1\naGk= 1\n",
                                      "aGk= 99999999999\n", "aGk= -1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        u = NULL;
        trit_status st = tok_load_mem("tiktoken", "tk.model", bad[i], strlen(bad[i]), NULL, 0, cfg,
                                      strlen(cfg), &p, &u, &err);
        CHECK(st == TRIT_ERR_FORMAT && u == NULL && strstr(err.msg, "tk.model"), "bad %zu: %s", i,
              err.msg);
    }
    /* fuzz: every truncation and random mutations */
    uint64_t rng = 7;
    for (size_t cut = 0; cut <= b.len; cut += 5) {
        u = NULL;
        if (tok_load_mem("tiktoken", "f", b.buf, cut, NULL, 0, cfg, strlen(cfg), &p, &u, &err) == TRIT_OK) {
            tok_ids ids = {0};
            tok_encode(u, "hello world", 11, 0, &ids, &err);
            tok_ids_free(&ids);
            tok_free(u);
        }
    }
    for (int k = 0; k < 300; k++) {
        char *c = malloc(b.len);
        memcpy(c, b.buf, b.len);
        for (int j = 0; j < 3; j++) c[rng_next(&rng) % b.len] = (char)rng_next(&rng);
        u = NULL;
        if (tok_load_mem("tiktoken", "f", c, b.len, NULL, 0, cfg, strlen(cfg), &p, &u, &err) == TRIT_OK) {
            tok_ids ids = {0};
            tok_encode(u, "hello world", 11, 0, &ids, &err);
            tok_ids_free(&ids);
            tok_free(u);
        }
        free(c);
    }
    json_sb_free(&b);
}

/* ======================================================================== */
/* SentencePiece protobuf                                                    */
/* ======================================================================== */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} pbw;

static void pb_put(pbw *w, const void *s, size_t n) {
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}
static void pb_varint(pbw *w, uint64_t v) {
    unsigned char b[10];
    int n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    pb_put(w, b, (size_t)n);
}
static void pb_bytes(pbw *w, int field, const void *s, size_t n) {
    pb_varint(w, (uint64_t)field << 3 | 2);
    pb_varint(w, n);
    pb_put(w, s, n);
}
static void pb_int(pbw *w, int field, int64_t v) {
    pb_varint(w, (uint64_t)field << 3);
    pb_varint(w, (uint64_t)v);
}
static void pb_piece(pbw *w, const char *piece, float score, int type) {
    pbw s = {0};
    pb_bytes(&s, 1, piece, strlen(piece));
    pb_varint(&s, 2 << 3 | 5);
    pb_put(&s, &score, 4); /* little-endian host */
    pb_int(&s, 3, type);
    pb_bytes(w, 1, s.p, s.n);
    free(s.p);
}

/* Normal pieces of the tiny model, from id 259 (see test_spm for the
 * merges they imply). */
static const struct { const char *p; float s; } SPM_PIECES[] = {
    {"\xe2\x96\x81", -100}, {"h", -101}, {"e", -102}, {"l", -103}, {"o", -104}, {"w", -105},
    {"r", -106}, {"d", -107}, {"ll", -1}, {"\xe2\x96\x81h", -2}, {"\xe2\x96\x81he", -3},
    {"llo", -4}, {"\xe2\x96\x81hello", -5}, {"or", -6}, {"\xe2\x96\x81w", -7},
    {"\xe2\x96\x81wor", -8}, {"ld", -9}};
enum { S_SP = 259, S_H, S_E, S_L, S_O, S_W, S_R, S_D, S_LL, S_SPH, S_SPHE, S_LLO, S_SPHELLO, S_OR,
       S_SPW, S_SPWOR, S_LD };

/* A SentencePiece BPE model: <unk>, <s>, </s>, 256 byte pieces, SPM_PIECES.
 * model_type / byte_fallback / normalizer name are parameters. */
static pbw spm_model(int model_type, int byte_fallback, const char *norm_name) {
    pbw w = {0};
    pb_piece(&w, "<unk>", 0, 2);
    pb_piece(&w, "<s>", 0, 3);
    pb_piece(&w, "</s>", 0, 3);
    for (int i = 0; i < 256; i++) {
        char b[8];
        snprintf(b, sizeof b, "<0x%02X>", i);
        pb_piece(&w, b, 0, 6);
    }
    for (size_t i = 0; i < sizeof SPM_PIECES / sizeof SPM_PIECES[0]; i++)
        pb_piece(&w, SPM_PIECES[i].p, SPM_PIECES[i].s, 1);
    pbw tr = {0};
    pb_int(&tr, 3, model_type);
    pb_int(&tr, 4, 276);
    pb_int(&tr, 35, byte_fallback);
    pb_int(&tr, 40, 0);
    pb_int(&tr, 41, 1);
    pb_int(&tr, 42, 2);
    pb_int(&tr, 43, -1); /* pad_id -1: a 10-byte varint */
    pb_bytes(&w, 2, tr.p, tr.n);
    free(tr.p);
    pbw nm = {0};
    pb_bytes(&nm, 1, norm_name, strlen(norm_name));
    pb_bytes(&nm, 2, strcmp(norm_name, "identity") ? "xx" : "", strcmp(norm_name, "identity") ? 2 : 0);
    pb_int(&nm, 3, 1);
    pb_int(&nm, 4, 0);
    pb_int(&nm, 5, 1);
    pb_bytes(&w, 3, nm.p, nm.n);
    free(nm.p);
    return w;
}

static void test_spm(void) {
    pbw w = spm_model(2, 1, "identity");
    tok_tokenizer *t = load_mem2("spm", (const char *)w.p, w.n, NULL, 0, NULL);
    CHECK(t != NULL, "load");
    if (t) {
        CHECK(strcmp(tok_kind(t), "spm") == 0, "kind");
        CHECK(tok_bos_id(t) == 1 && tok_eos_id(t) == 2 && tok_add_bos_default(t), "bos/eos");
        /* "▁hello": ll, ▁h, ▁he, llo, ▁hello; "▁world": or, ▁w, ▁wor, ld */
        EXPECT(t, "hello world", 0, S_SPHELLO, S_SPWOR, S_LD);
        EXPECT(t, "hello world", TOK_ADD_BOS, 1, S_SPHELLO, S_SPWOR, S_LD);
        EXPECT(t, "h\xc3\xa9", 0, S_SPH, 3 + 0xC3, 3 + 0xA9); /* byte fallback */
        EXPECT(t, " hello", 0, S_SP, S_SPHELLO);                /* dummy prefix kept */
        EXPECT(t, "hello", 0, S_SPHELLO);
        EXPECT(t, "", 0, -1);
        EXPECT(t, "<s>hello", TOK_PARSE_SPECIAL, 1, S_SPHELLO);
        EXPECT(t, "<s>hello", 0, S_SP, 3 + '<', 3 + 's', 3 + '>', S_H, S_E, S_LLO);
        int32_t ids[] = {1, S_SPHELLO, S_SPWOR, S_LD, 2};
        char *s = decode(t, ids, 5, 0);
        CHECK(s && strcmp(s, "hello world") == 0, "decode: %s", s ? s : "(null)");
        free(s);
        s = decode(t, ids, 5, TOK_DECODE_SPECIAL);
        CHECK(s && strcmp(s, "<s> hello world</s>") == 0, "decode special: %s", s ? s : "(null)");
        free(s);
        int32_t ids2[] = {S_SPH, 3 + 0xC3, 3 + 0xA9};
        tok_decoder d;
        tok_str out = {0};
        trit_error err;
        tok_decoder_init(&d, t, 0);
        tok_decoder_push(&d, ids2[0], &out, &err);
        CHECK(out.len == 1 && out.s[0] == 'h', "leading space stripped");
        tok_decoder_push(&d, ids2[1], &out, &err);
        CHECK(out.len == 1, "byte piece waits");
        tok_decoder_push(&d, ids2[2], &out, &err);
        CHECK(out.len == 3 && memcmp(out.s, "h\xc3\xa9", 3) == 0, "completes");
        tok_str_free(&out);
        uint64_t rng = 5;
        char buf[4096];
        for (int k = 0; k < 200; k++) {
            size_t n = random_text(&rng, buf, 1 + rng_next(&rng) % 100);
            /* a leading space survives: the dummy prefix is what decoding drops */
            CHECK(roundtrip(t, buf, n, NULL, 0), "random roundtrip %d", k);
        }
    }
    tok_free(t);
    free(w.p);
    /* without byte fallback: unknown characters become <unk> */
    w = spm_model(2, 0, "identity");
    t = load_mem2("spm", (const char *)w.p, w.n, NULL, 0, NULL);
    CHECK(t != NULL, "load no fallback");
    if (t) {
        EXPECT(t, "h\xc3\xa9", 0, S_SPH, 0);
        int32_t ids[] = {S_SPH, 0};
        char *s = decode(t, ids, 2, TOK_DECODE_SPECIAL);
        CHECK(s && strcmp(s, "h \xe2\x81\x87 ") == 0, "unk surface: %s", s ? s : "(null)");
        free(s);
    }
    tok_free(t);
    free(w.p);
}

static void test_spm_bad(void) {
    tok_load_params p = params();
    trit_error err;
    tok_tokenizer *t = NULL;
    pbw w = spm_model(1, 1, "identity");
    CHECK(tok_load_mem("spm", "sp.model", (const char *)w.p, w.n, NULL, 0, NULL, 0, &p, &t, &err) ==
              TRIT_ERR_UNSUPPORTED && strstr(err.msg, "sp.model"), "unigram: %s", err.msg);
    free(w.p);
    w = spm_model(2, 1, "nmt_nfkc");
    CHECK(tok_load_mem("spm", "sp.model", (const char *)w.p, w.n, NULL, 0, NULL, 0, &p, &t, &err) ==
              TRIT_ERR_UNSUPPORTED && strstr(err.msg, "nmt_nfkc"), "normalizer: %s", err.msg);
    free(w.p);
    w = spm_model(2, 1, "identity");
    /* every truncation: an error or a model, never a crash */
    size_t ok = 0;
    for (size_t cut = 0; cut < w.n; cut++) {
        t = NULL;
        trit_status st = tok_load_mem("spm", "sp.model", (const char *)w.p, cut, NULL, 0, NULL, 0, &p, &t, &err);
        if (st == TRIT_OK) {
            ok++;
            (void)roundtrip(t, "hello world", 11, NULL, 0); /* may differ: a cut model */
            tok_ids ids = {0};
            tok_encode(t, "hello w\xc3\xa9rld", 13, TOK_PARSE_SPECIAL, &ids, &err);
            tok_ids_free(&ids);
            tok_free(t);
        } else {
            CHECK(t == NULL && strstr(err.msg, "sp.model"), "cut %zu: %s", cut, err.msg);
        }
    }
    CHECK(ok < w.n / 2, "most truncations fail (%zu ok)", ok);
    uint64_t rng = 11;
    for (int k = 0; k < 2000; k++) {
        unsigned char *c = malloc(w.n);
        memcpy(c, w.p, w.n);
        int nm = 1 + (int)(rng_next(&rng) % 4);
        for (int j = 0; j < nm; j++) c[rng_next(&rng) % w.n] = (unsigned char)rng_next(&rng);
        t = NULL;
        if (tok_load_mem("spm", "sp.model", (const char *)c, w.n, NULL, 0, NULL, 0, &p, &t, &err) == TRIT_OK) {
            tok_ids ids = {0};
            if (tok_encode(t, "hello w\xc3\xa9rld <s>", 17, TOK_PARSE_SPECIAL, &ids, &err) == TRIT_OK) {
                char *s = decode(t, ids.ids, ids.n, TOK_DECODE_SPECIAL);
                free(s);
            }
            tok_ids_free(&ids);
            tok_free(t);
        }
        free(c);
    }
    free(w.p);
}

/* ======================================================================== */
/* tokenizer.json: SentencePiece style and bad input                         */
/* ======================================================================== */

static void test_json_spm_style(void) {
    /* Llama-2 converted: Prepend + Replace, byte_fallback, merges, Strip */
    const char *js =
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
        "{\"id\":1,\"content\":\"<s>\",\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]},"
        "\"pre_tokenizer\":null,"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},\"content\":\" \"},"
        "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
        "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":true,\"fuse_unk\":true,"
        "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"<0xC3>\":2,\"<0xA9>\":3,\"\\u2581\":4,\"h\":5,\"i\":6,"
        "\"\\u2581h\":7,\"\\u2581hi\":8},"
        "\"merges\":[\"\\u2581 h\",\"\\u2581h i\"]}}";
    tok_tokenizer *t = load_json(js);
    CHECK(t != NULL, "load");
    if (t) {
        CHECK(strcmp(tok_kind(t), "spm") == 0, "kind");
        EXPECT(t, "hi hi", 0, 8, 8);
        EXPECT(t, "hi\xc3\xa9", 0, 8, 2, 3);
        EXPECT(t, "hi", TOK_ADD_BOS, 1, 8);
        EXPECT(t, "<s>hi", TOK_PARSE_SPECIAL, 1, 8); /* each segment gets the prefix */
        EXPECT(t, "x", 0, 4, 0);                     /* no byte piece for 'x': <unk> */
        CHECK(tok_bos_id(t) == 1 && tok_add_bos_default(t), "template BOS");
        int32_t ids[] = {1, 8, 8, 2, 3};
        char *s = decode(t, ids, 5, 0);
        CHECK(s && strcmp(s, "hi hi\xc3\xa9") == 0, "decode: %s", s ? s : "(null)");
        free(s);
    }
    tok_free(t);
    /* Metaspace pre-tokenizer, prepend_scheme first, split */
    const char *js2 =
        "{\"added_tokens\":[{\"id\":9,\"content\":\"<s>\",\"special\":true}],\"normalizer\":null,"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"split\":true},"
        "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"split\":true},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\u2581\":4,\"h\":5,\"i\":6,\"\\u2581h\":7,\"\\u2581hi\":8,\"hi\":0},"
        "\"merges\":[[\"\\u2581\",\"h\"],[\"\\u2581h\",\"i\"],[\"h\",\"i\"]]}}";
    t = load_json(js2);
    CHECK(t != NULL, "load metaspace");
    if (t) {
        EXPECT(t, "hi hi", 0, 8, 8);
        EXPECT(t, "<s>hi", TOK_PARSE_SPECIAL, 9, 0); /* not at the start: no prefix */
        EXPECT(t, " hi", 0, 8);                      /* already starts with one */
        int32_t ids[] = {8, 8};
        char *s = decode(t, ids, 2, 0);
        CHECK(s && strcmp(s, "hi hi") == 0, "decode: %s", s ? s : "(null)");
        free(s);
    }
    tok_free(t);
}

/* Expects loading json to fail with code and a message containing `want`. */
static void expect_bad_json(const char *json, trit_status code, const char *want) {
    tok_load_params p = params();
    tok_tokenizer *t = NULL;
    trit_error err;
    trit_status st = tok_load_mem("tokenizer.json", "bad.json", json, strlen(json), NULL, 0, NULL,
                                  0, &p, &t, &err);
    CHECK(st == code && t == NULL, "status %d (want %d) for %.60s: %s", st, code, json,
          st ? err.msg : "");
    if (st != TRIT_OK) {
        CHECK(strstr(err.msg, "bad.json") != NULL, "message names the file: %s", err.msg);
        CHECK(!want || strstr(err.msg, want) != NULL, "message has \"%s\": %s", want, err.msg);
    }
    tok_free(t);
}

#define MODEL(v, m) "{\"model\":{\"type\":\"BPE\",\"vocab\":" v ",\"merges\":" m "}}"

static void test_json_bad(void) {
    expect_bad_json("{", TRIT_ERR_FORMAT, "malformed JSON");
    expect_bad_json("[]", TRIT_ERR_FORMAT, NULL);
    expect_bad_json("{}", TRIT_ERR_FORMAT, "model");
    expect_bad_json("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", TRIT_ERR_UNSUPPORTED, "Unigram");
    expect_bad_json("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", TRIT_ERR_UNSUPPORTED, "WordPiece");
    expect_bad_json(MODEL("{\"a\":0,\"b\":0}", "[]"), TRIT_ERR_FORMAT, "twice");
    expect_bad_json(MODEL("{\"a\":0,\"a\":1}", "[]"), TRIT_ERR_FORMAT, "same text");
    expect_bad_json(MODEL("{\"a\":-1}", "[]"), TRIT_ERR_FORMAT, "bad id");
    expect_bad_json(MODEL("{\"a\":1.5}", "[]"), TRIT_ERR_FORMAT, "bad id");
    expect_bad_json(MODEL("{\"a\":\"x\"}", "[]"), TRIT_ERR_FORMAT, "bad id");
    expect_bad_json(MODEL("{\"a\":99999999999}", "[]"), TRIT_ERR_FORMAT, "bad id");
    expect_bad_json(MODEL("{\"a\":0,\"b\":1}", "[\"a b\"]"), TRIT_ERR_FORMAT, "missing");
    expect_bad_json(MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[\"ab\"]"), TRIT_ERR_FORMAT, "merge 0");
    expect_bad_json(MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[\"a b c\"]"), TRIT_ERR_FORMAT, "merge 0");
    expect_bad_json(MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[[\"a\"]]"), TRIT_ERR_FORMAT, "merge 0");
    expect_bad_json(MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[7]"), TRIT_ERR_FORMAT, "merge 0");
    expect_bad_json(MODEL("{\"a\":0}", "{}"), TRIT_ERR_FORMAT, "merges");
    expect_bad_json(MODEL("[]", "[]"), TRIT_ERR_FORMAT, "vocab");
    expect_bad_json("{\"added_tokens\":[{\"id\":5,\"content\":\"x\"},{\"id\":5,\"content\":\"y\"}],"
                    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_FORMAT, "duplicate added token id 5");
    expect_bad_json("{\"added_tokens\":[{\"id\":5,\"content\":\"x\"},{\"id\":6,\"content\":\"x\"}],"
                    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_FORMAT, "ids 5 and 6");
    expect_bad_json("{\"added_tokens\":[{\"id\":5}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_FORMAT, "added token 0");
    expect_bad_json("{\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_UNSUPPORTED, "Whitespace");
    expect_bad_json("{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_UNSUPPORTED, "NFKC");
    expect_bad_json("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"},"
                    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_UNSUPPORTED, "regex");
    expect_bad_json("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Contiguous\"},"
                    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_UNSUPPORTED, "Contiguous");
    expect_bad_json("{\"model\":{\"type\":\"BPE\",\"continuing_subword_prefix\":\"##\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                    TRIT_ERR_UNSUPPORTED, "continuing_subword_prefix");
    /* a regex pre-tokenizer without a regex engine */
    tok_load_params p = tok_default_load_params();
    tok_tokenizer *t = NULL;
    trit_error err;
    const char *js = "{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
    CHECK(tok_load_mem("tokenizer.json", "x.json", js, strlen(js), NULL, 0, NULL, 0, &p, &t, &err) ==
              TRIT_ERR_UNSUPPORTED && strstr(err.msg, "regex engine"), "no engine: %s", err.msg);
    /* a malformed tokenizer_config.json */
    char *good = tiny_json(BYTELEVEL_PT, 0, "");
    p = params();
    CHECK(tok_load_mem("tokenizer.json", "x.json", good, strlen(good), NULL, 0, "{oops", 5, &p, &t,
                       &err) == TRIT_ERR_FORMAT && strstr(err.msg, "tokenizer_config.json"),
          "bad config: %s", err.msg);
    free(good);
}

static void test_json_fuzz(void) {
    char *js = tiny_json(LLAMA3_PT, 1, "");
    size_t n = strlen(js);
    tok_load_params p = params();
    trit_error err;
    for (size_t cut = 0; cut < n; cut += 7) {
        tok_tokenizer *t = NULL;
        trit_status st = tok_load_mem("tokenizer.json", "fz.json", js, cut, NULL, 0, NULL, 0, &p, &t, &err);
        CHECK(st != TRIT_OK && t == NULL, "truncated at %zu loads", cut);
    }
    uint64_t rng = 3;
    static const char repl[] = "{}[]\":,0123456789 \\u-eE.ab";
    for (int k = 0; k < 1500; k++) {
        char *c = malloc(n + 1);
        memcpy(c, js, n + 1);
        int nm = 1 + (int)(rng_next(&rng) % 3);
        for (int j = 0; j < nm; j++) c[rng_next(&rng) % n] = repl[rng_next(&rng) % (sizeof repl - 1)];
        tok_tokenizer *t = NULL;
        if (tok_load_mem("tokenizer.json", "fz.json", c, n, NULL, 0, NULL, 0, &p, &t, &err) == TRIT_OK) {
            tok_ids ids = {0};
            if (tok_encode(t, "hello world 12345 IT'S <|end|>", 30, TOK_PARSE_SPECIAL, &ids, &err) == TRIT_OK) {
                char *s = decode(t, ids.ids, ids.n, TOK_DECODE_SPECIAL);
                free(s);
            }
            tok_ids_free(&ids);
            tok_free(t);
        } else {
            CHECK(strstr(err.msg, "fz.json") != NULL, "message names the file: %s", err.msg);
        }
        free(c);
    }
    free(js);
}

/* ======================================================================== */
/* Files on disk                                                             */
/* ======================================================================== */

static void write_file(const char *dir, const char *name, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void test_load_paths(void) {
    char dir[] = "/tmp/trit_tok_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    tok_load_params p = params();
    tok_tokenizer *t = NULL;
    trit_error err;
    char path[512];
    /* empty directory */
    CHECK(tok_load(dir, &p, &t, &err) == TRIT_ERR_IO && strstr(err.msg, dir), "empty dir: %s", err.msg);
    snprintf(path, sizeof path, "%s/missing.json", dir);
    CHECK(tok_load(path, &p, &t, &err) == TRIT_ERR_IO && strstr(err.msg, "missing.json"), "missing: %s", err.msg);
    /* tokenizer.model only (SentencePiece) */
    pbw w = spm_model(2, 1, "identity");
    write_file(dir, "tokenizer.model", w.p, w.n);
    free(w.p);
    CHECK(tok_load(dir, &p, &t, &err) == TRIT_OK && strcmp(tok_kind(t), "spm") == 0, "dir -> spm: %s", err.msg);
    tok_free(t);
    t = NULL;
    /* tokenizer.json wins, and tokenizer_config.json sets BOS */
    char *js = tiny_json(BYTELEVEL_PT, 0, "");
    write_file(dir, "tokenizer.json", js, strlen(js));
    free(js);
    const char *cfg = "{\"add_bos_token\":true,\"bos_token\":{\"content\":\"<|end|>\"},\"eos_token\":\"[NS]\"}";
    write_file(dir, "tokenizer_config.json", cfg, strlen(cfg));
    CHECK(tok_load(dir, &p, &t, &err) == TRIT_OK && strcmp(tok_kind(t), "bpe") == 0, "dir -> json: %s", err.msg);
    if (t) {
        CHECK(tok_bos_id(t) == END && tok_eos_id(t) == NS && tok_add_bos_default(t), "config bos/eos");
        EXPECT(t, "hello", TOK_ADD_BOS, END, HELLO);
    }
    tok_free(t);
    t = NULL;
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    CHECK(tok_load(path, &p, &t, &err) == TRIT_OK && strcmp(tok_kind(t), "spm") == 0, "file -> spm");
    tok_free(t);
    t = NULL;
    /* a .model that is neither format */
    write_file(dir, "tokenizer.model", "hello there\n", 12);
    CHECK(tok_load(path, &p, &t, &err) == TRIT_ERR_FORMAT && strstr(err.msg, path), "junk model: %s", err.msg);
    /* malformed config names its path */
    write_file(dir, "tokenizer_config.json", "{,}", 3);
    CHECK(tok_load(dir, &p, &t, &err) == TRIT_ERR_FORMAT && strstr(err.msg, "tokenizer_config.json") &&
              strstr(err.msg, dir), "bad config: %s", err.msg);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0, "cleanup");
}

int main(void) {
    RUN(test_bytelevel_merges);
    RUN(test_bytelevel_llama3_split);
    RUN(test_added_tokens);
    RUN(test_roundtrip_bytelevel);
    RUN(test_stream_decode);
    RUN(test_gpt2_files);
    RUN(test_tiktoken);
    RUN(test_spm);
    RUN(test_spm_bad);
    RUN(test_json_spm_style);
    RUN(test_json_bad);
    RUN(test_json_fuzz);
    RUN(test_load_paths);
    return TT_END();
}
