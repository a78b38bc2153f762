/*
 * sampling.c - picks the next token from one row of logits.
 *
 * One call of trit_sample runs, in this order:
 *   1. repetition penalty: every distinct token among the last repeat_last_n
 *      accepted tokens is penalised once (logit > 0: divided by the penalty,
 *      logit <= 0: multiplied by it), as in llama.cpp / Hugging Face;
 *   2. clean-up: NaN becomes -inf and -0 becomes +0; when some logits are
 *      +inf, those tokens share all the probability (they become 0 and every
 *      other token -inf); a token at -inf is never chosen, and when every
 *      token is at -inf the result is token 0;
 *   3. temperature <= 0 (or NaN): greedy argmax, lowest id on ties; the
 *      filters below are ignored and the random generator is not used;
 *   4. top-k (0 < k < vocab): keep the k best candidates;
 *   5. softmax with temperature over the remaining candidates;
 *   6. top-p (< 1): keep the smallest prefix, in descending order, whose
 *      probability mass is >= p (always at least one token);
 *   7. min-p (> 0): drop tokens whose probability is < min_p * max prob;
 *   8. renormalise and draw exactly one uniform number from the sampler's
 *      own xoshiro256** generator (seeded by splitmix64 from params.seed).
 *
 * Candidate order: "better" means a higher logit, then a lower id. This is a
 * total order, so the sets kept by top-k and top-p do not depend on the
 * algorithm that finds them, and the same seed with the same sequence of
 * logits always yields the same tokens.
 *
 * Cost for a vocabulary of V tokens:
 *   - every call scans the V logits once (clean-up, argmax);
 *   - top-k keeps a bounded min-heap of k entries while reading the logits
 *     (O(V log k), almost always one comparison per token) and then sorts
 *     only those k;
 *   - top-p without top-k first copies the best TOPP_PROBE candidates out
 *     with the same kind of heap (O(V log TOPP_PROBE)); only when they hold
 *     less than p of the mass (a flat distribution) are all candidates
 *     sorted, by a stable LSD radix sort on the logit bits (O(V), 4 passes),
 *     which keeps the id order of equal logits;
 *   - softmax, min-p and the final draw are linear and need no order.
 *
 * A sampler is not thread-safe: use one per generation stream.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trit.h"

/* Candidates the top-p step sorts before it falls back to a full sort. */
#define TOPP_PROBE 256

/* ======================================================================== */
/* Types                                                                     */
/* ======================================================================== */

typedef struct {
    float logit;   /* cleaned (and penalised) logit, never NaN             */
    float prob;    /* unnormalised probability exp((logit - max) / temp)   */
    int32_t id;
} cand_t;

struct trit_sampler {
    trit_sampler_params p;
    int64_t vocab;
    uint64_t rng[4];      /* xoshiro256** state, never all zero              */

    /* Repetition penalty; hist == NULL when the penalty is off. The history
     * grows linearly up to the window, then becomes a ring (oldest at
     * hist_head). */
    int32_t *hist;        /* the last hist_len (<= hist_window) tokens       */
    int64_t hist_window;  /* repeat_last_n (less after a failed realloc)     */
    int64_t hist_cap;     /* entries allocated, <= hist_window               */
    int64_t hist_len, hist_head;
    uint32_t *seen;       /* seen[t] == epoch: t already penalised this call */
    uint32_t epoch;

    cand_t *cand;         /* vocab entries of scratch: the candidates        */
    cand_t *tmp;          /* vocab entries of scratch: probe, radix buffer   */
};

/* ======================================================================== */
/* Random numbers                                                            */
/* ======================================================================== */

/* splitmix64 step: advances *x and returns the next output. Used only to
 * expand the 64-bit seed into the xoshiro256** state. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Rotates x left by k bits (0 < k < 64). */
static uint64_t rotl64(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

/* Seeds the xoshiro256** state from a 64-bit seed. Four consecutive
 * splitmix64 outputs are distinct, so the state is never all zero. */
static void rng_seed(uint64_t st[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) st[i] = splitmix64(&x);
}

/* Returns the next 64 random bits of xoshiro256** and advances the state. */
static uint64_t rng_next(uint64_t st[4]) {
    uint64_t result = rotl64(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return result;
}

/* Returns a uniform double in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t st[4]) {
    return (double)(rng_next(st) >> 11) * 0x1.0p-53;
}

/* ======================================================================== */
/* Candidate ordering and heap selection                                     */
/* ======================================================================== */

/* 1 if a ranks before b: higher logit, then lower id (a total order, since
 * logits are never NaN here and ids are distinct). */
static int cand_better(const cand_t *a, const cand_t *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Swaps two candidates. */
static void cand_swap(cand_t *a, cand_t *b) {
    cand_t t = *a;
    *a = *b;
    *b = t;
}

/* Restores the heap property below node i of the n-entry heap h, where the
 * root is the WORST entry (each parent ranks after its children). */
static void heap_sift_down(cand_t *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < n && cand_better(&h[w], &h[l])) w = l;
        if (l + 1 < n && cand_better(&h[w], &h[l + 1])) w = l + 1;
        if (w == i) return;
        cand_swap(&h[i], &h[w]);
        i = w;
    }
}

/* Turns h[0..n) into a heap whose root is the worst entry. */
static void heap_make(cand_t *h, size_t n) {
    for (size_t i = n / 2; i-- > 0;) heap_sift_down(h, n, i);
}

/* Offers *c to the full k-entry heap h (k >= 1): when *c ranks before the
 * worst kept entry, the two are swapped, so *c receives the evicted entry. */
static void heap_offer(cand_t *h, size_t k, cand_t *c) {
    if (cand_better(c, &h[0])) {
        cand_swap(c, &h[0]);
        heap_sift_down(h, k, 0);
    }
}

/* Sorts the heap h[0..n) into descending order (best first). */
static void heap_sort_desc(cand_t *h, size_t n) {
    for (size_t end = n; end > 1; end--) {
        cand_swap(&h[0], &h[end - 1]);
        heap_sift_down(h, end - 1, 0);
    }
}

/* Writes the m best entries of src[0..n) to dst[0..m) in descending order,
 * leaving src untouched. Requires 1 <= m <= n. O(n log m), and close to one
 * comparison per entry when most entries lose against the worst kept one. */
static void select_best_copy(const cand_t *src, size_t n, cand_t *dst, size_t m) {
    memcpy(dst, src, m * sizeof *dst);
    heap_make(dst, m);
    for (size_t i = m; i < n; i++) {
        if (cand_better(&src[i], &dst[0])) {
            dst[0] = src[i];
            heap_sift_down(dst, m, 0);
        }
    }
    heap_sort_desc(dst, m);
}

/* Radix key of a logit: unsigned integers in the reverse order of the float
 * values (larger logit -> smaller key). Requires x not NaN and not -0. */
static uint32_t desc_key(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending order */
    return ~u;
}

/* Sorts c[0..n) into descending order of logit with a stable LSD radix sort
 * (8 bits a pass, passes whose byte is the same everywhere are skipped),
 * using tmp[0..n) as the second buffer. Stable: when c is in increasing id
 * order on entry, equal logits stay in increasing id order, which is the
 * order of cand_better. */
static void radix_sort_desc(cand_t *c, cand_t *tmp, size_t n) {
    size_t hist[4][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = desc_key(c[i].logit);
        for (int b = 0; b < 4; b++) hist[b][(k >> (8 * b)) & 0xFF]++;
    }
    cand_t *from = c, *to = tmp;
    for (int b = 0; b < 4; b++) {
        size_t *h = hist[b];
        size_t sum = 0;
        int single = 0;
        for (int v = 0; v < 256; v++) {
            if (h[v] == n) single = 1;
            size_t cnt = h[v];
            h[v] = sum; /* start offset of bucket v */
            sum += cnt;
        }
        if (single) continue;
        for (size_t i = 0; i < n; i++) {
            uint32_t k = desc_key(from[i].logit);
            to[h[(k >> (8 * b)) & 0xFF]++] = from[i];
        }
        cand_t *t = from;
        from = to;
        to = t;
    }
    if (from != c) memcpy(c, from, n * sizeof *c);
}

/* ======================================================================== */
/* Pipeline steps                                                            */
/* ======================================================================== */

/* Applies the repetition penalty in place to the distinct tokens of the
 * history window (each once). No-op when the penalty is off or the history
 * is empty. */
static void apply_repeat_penalty(trit_sampler *s, float *logits) {
    if (!s->hist || s->hist_len == 0) return;
    if (++s->epoch == 0) { /* wrapped: forget every old mark */
        memset(s->seen, 0, (size_t)s->vocab * sizeof *s->seen);
        s->epoch = 1;
    }
    const float pen = s->p.repeat_penalty;
    for (int64_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (s->seen[t] == s->epoch) continue;
        s->seen[t] = s->epoch;
        float x = logits[t];
        logits[t] = x > 0.0f ? x / pen : x * pen; /* NaN stays NaN */
    }
}

/* Cleans logits[0..n) in place (NaN -> -inf, -0 -> +0; when any logit is
 * +inf: +inf -> 0 and everything else -> -inf) and returns the id of the
 * largest one (lowest id on ties) in *argmax and its value in *max; *max is
 * -inf (and *argmax 0) when no token is above -inf. */
static void clean_and_argmax(float *logits, int64_t n, int32_t *argmax, float *max) {
    float best = -INFINITY;
    int32_t arg = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = logits[i];
        if (isnan(x)) x = logits[i] = -INFINITY;
        else if (x == 0.0f) x = logits[i] = 0.0f;
        if (x > best) {
            best = x;
            arg = (int32_t)i;
        }
    }
    if (best == INFINITY) {
        for (int64_t i = 0; i < n; i++)
            logits[i] = logits[i] == INFINITY ? 0.0f : -INFINITY;
        best = 0.0f;
    }
    *argmax = arg;
    *max = best;
}

/* Fills s->cand with the tokens above -inf and returns how many. When top-k
 * is active and more than k tokens qualify, only the k best are kept, sorted
 * in descending order, and *sorted is set to 1; otherwise the candidates
 * are in id order and *sorted is 0. */
static size_t gather_candidates(trit_sampler *s, const float *logits, int *sorted) {
    cand_t *c = s->cand;
    size_t n = 0;
    int top_k = s->p.top_k;
    *sorted = 0;
    if (top_k > 0 && (int64_t)top_k < s->vocab) {
        size_t k = (size_t)top_k;
        for (int64_t i = 0; i < s->vocab; i++) {
            if (logits[i] == -INFINITY) continue;
            cand_t x = {logits[i], 0.0f, (int32_t)i};
            if (n < k) {
                c[n++] = x;
                if (n == k) heap_make(c, k);
            } else {
                heap_offer(c, k, &x);
            }
        }
        if (n == k) {
            heap_sort_desc(c, k);
            *sorted = 1;
        }
        return n;
    }
    for (int64_t i = 0; i < s->vocab; i++) {
        if (logits[i] == -INFINITY) continue;
        c[n].logit = logits[i];
        c[n].prob = 0.0f;
        c[n].id = (int32_t)i;
        n++;
    }
    return n;
}

/* Sets c[i].prob = exp((logit - max) / temp) for the n candidates and
 * returns their sum (>= 1, since the best candidate has logit == max).
 * Division rather than multiplication by 1/temp keeps tiny temperatures free
 * of 0 * inf, and an overflowing difference is 0 even at temp = +inf. */
static double softmax_unnormalised(cand_t *c, size_t n, float max, float temp) {
    double z = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = c[i].logit - max; /* <= 0; -inf when it overflows */
        float p = d == -INFINITY ? 0.0f : expf(d / temp);
        c[i].prob = p;
        z += p;
    }
    return z;
}

/* Top-p over c[0..n) with total mass z: returns the length K of the
 * smallest descending prefix whose mass is >= top_p * z (at least 1) and
 * leaves that prefix, in descending order, in c[0..K). When `sorted` is 0
 * the candidates must be in increasing id order; the best TOPP_PROBE are
 * tried first (copied to s->tmp), and all are sorted only if they do not
 * hold enough mass. */
static size_t apply_top_p(trit_sampler *s, size_t n, int sorted, double z, float top_p) {
    cand_t *c = s->cand;
    const double target = (double)top_p * z;
    if (!sorted && n > TOPP_PROBE) {
        cand_t *probe = s->tmp;
        select_best_copy(c, n, probe, TOPP_PROBE);
        double cum = 0.0;
        for (size_t i = 0; i < TOPP_PROBE; i++) {
            cum += probe[i].prob;
            if (cum >= target) {
                memcpy(c, probe, (i + 1) * sizeof *c);
                return i + 1;
            }
        }
        /* The same prefix is summed again below, in the same order. */
    }
    if (!sorted) radix_sort_desc(c, s->tmp, n);
    double cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += c[i].prob;
        if (cum >= target) return i + 1;
    }
    return n;
}

/* Min-p over c[0..n): keeps, in their order, the candidates whose
 * probability is >= min(min_p, 1) * max probability, and returns how many
 * (at least 1, the most probable token always passes). */
static size_t apply_min_p(cand_t *c, size_t n, float min_p) {
    float pmax = 0.0f;
    for (size_t i = 0; i < n; i++)
        if (c[i].prob > pmax) pmax = c[i].prob;
    const float thr = (min_p < 1.0f ? min_p : 1.0f) * pmax;
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].prob >= thr) c[j++] = c[i];
    return j;
}

/* Draws one token from c[0..n) with weights c[i].prob (not all zero).
 * Consumes exactly one random number. */
static int32_t draw(trit_sampler *s, const cand_t *c, size_t n) {
    double z = 0.0;
    for (size_t i = 0; i < n; i++) z += c[i].prob;
    const double u = rng_uniform(s->rng) * z;
    double cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += c[i].prob;
        if (u < cum) return c[i].id;
    }
    /* Rounding ran past the end: take the last token with weight. */
    for (size_t i = n; i-- > 0;)
        if (c[i].prob > 0.0f) return c[i].id;
    return c[0].id;
}

/* ======================================================================== */
/* Public API                                                                */
/* ======================================================================== */

/* Returns the documented defaults (see trit.h). */
trit_sampler_params trit_sampler_default_params(void) {
    trit_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0xC0FFEE;
    return p;
}

/* Creates a sampler for vocab_size tokens with the parameters *p (NULL:
 * defaults), which are copied; it holds 24 * vocab_size bytes of scratch.
 * The repetition penalty is on only when repeat_last_n > 0 and
 * repeat_penalty is finite, > 0 and != 1; then the sampler also holds
 * 4 * vocab_size bytes of marks and a history that grows with the accepted
 * tokens up to 4 * repeat_last_n bytes. Returns NULL
 * when vocab_size <= 0 or > INT32_MAX, or when memory runs out. */
trit_sampler *trit_sampler_new(const trit_sampler_params *p, int64_t vocab_size) {
    if (vocab_size <= 0 || vocab_size > INT32_MAX) return NULL;
    if ((uint64_t)vocab_size > SIZE_MAX / sizeof(cand_t)) return NULL;
    trit_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p ? *p : trit_sampler_default_params();
    s->vocab = vocab_size;
    rng_seed(s->rng, s->p.seed);
    s->cand = malloc((size_t)vocab_size * sizeof *s->cand);
    s->tmp = malloc((size_t)vocab_size * sizeof *s->tmp);
    if (!s->cand || !s->tmp) goto oom;

    const float pen = s->p.repeat_penalty;
    if (s->p.repeat_last_n > 0 && isfinite(pen) && pen > 0.0f && pen != 1.0f) {
        s->hist_window = s->p.repeat_last_n;
        s->hist_cap = s->hist_window < 64 ? s->hist_window : 64;
        s->hist = malloc((size_t)s->hist_cap * sizeof *s->hist);
        s->seen = calloc((size_t)vocab_size, sizeof *s->seen);
        if (!s->hist || !s->seen) goto oom;
    }
    return s;
oom:
    trit_sampler_free(s);
    return NULL;
}

/* Releases s and everything it holds; NULL is accepted. */
void trit_sampler_free(trit_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->tmp);
    free(s->hist);
    free(s->seen);
    free(s);
}

/* Picks the next token from logits[0..vocab) following the pipeline at the
 * top of this file; logits are modified (penalty, clean-up). Returns an id
 * in [0, vocab): token 0 when every logit is -inf or NaN, and also when s or
 * logits is NULL. Does not record the token: call trit_sampler_accept. */
int32_t trit_sample(trit_sampler *s, float *logits) {
    if (!s || !logits) return 0;
    apply_repeat_penalty(s, logits);

    int32_t argmax;
    float max;
    clean_and_argmax(logits, s->vocab, &argmax, &max);
    if (max == -INFINITY) return 0;
    const float temp = s->p.temperature;
    if (!(temp > 0.0f)) return argmax;

    int sorted;
    size_t n = gather_candidates(s, logits, &sorted);
    cand_t *c = s->cand;
    double z = softmax_unnormalised(c, n, max, temp);
    if (s->p.top_p < 1.0f) n = apply_top_p(s, n, sorted, z, s->p.top_p);
    if (s->p.min_p > 0.0f) n = apply_min_p(c, n, s->p.min_p);
    return draw(s, c, n);
}

/* Records that token was emitted, for the repetition penalty window.
 * Ignored when s is NULL, the penalty is off or token is out of range.
 * The history buffer doubles as needed up to repeat_last_n entries; if that
 * allocation fails the window silently stays at the size already held. */
void trit_sampler_accept(trit_sampler *s, int32_t token) {
    if (!s || !s->hist || token < 0 || (int64_t)token >= s->vocab) return;
    if (s->hist_len < s->hist_window && s->hist_len == s->hist_cap) {
        int64_t cap = s->hist_cap * 2 < s->hist_window ? s->hist_cap * 2 : s->hist_window;
        int32_t *h = realloc(s->hist, (size_t)cap * sizeof *h);
        if (h) {
            s->hist = h;
            s->hist_cap = cap;
        } else {
            s->hist_window = s->hist_cap;
        }
    }
    if (s->hist_len < s->hist_window) { /* still filling: linear, head 0 */
        s->hist[s->hist_len++] = token;
    } else {                            /* full: overwrite the oldest   */
        s->hist[s->hist_head] = token;
        s->hist_head = (s->hist_head + 1) % s->hist_window;
    }
}
