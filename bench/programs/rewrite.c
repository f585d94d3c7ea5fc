/* rewrite — a small term rewriter: symbolic differentiation and simplification of random polynomials in x
 * (the shape of the Lisp "deriv" benchmarks: every rule builds fresh nodes, old terms are freed).
 *
 * Usage: rewrite [TERMS 5000] [DEPTH 9] [SEED 7]
 *
 * For each of TERMS random expressions of depth up to DEPTH over + - * ^ with integer constants: d/dx,
 * simplify (constant folding, neutral and absorbing elements, nested constant factors), d/dx again,
 * simplify again. Terms are trees of malloc'd nodes; derivative rules copy the subterms they reuse, and
 * simplification builds a new tree and frees the old one. Arithmetic is mod 2^64, so every rewrite must keep
 * the value at x = 3 exactly: each step is checked ("mismatch" counts violations). Prints the number of
 * nodes built, a checksum of the values and sizes, and "mismatch 0". */
#include "common.h"

enum kind { NUM, VAR, ADD, SUB, MUL, POW };
typedef struct term { enum kind k; int64_t n; struct term *a, *b; } term_t;

static uint64_t g_built;

static term_t *node(enum kind k, int64_t n, term_t *a, term_t *b) {
    term_t *t = xmalloc(sizeof *t);
    t->k = k; t->n = n; t->a = a; t->b = b;
    g_built++;
    return t;
}
static term_t *num(int64_t n) { return node(NUM, n, NULL, NULL); }

static void release(term_t *t) {
    if (!t) return;
    release(t->a);
    release(t->b);
    free(t);
}

static term_t *copy(const term_t *t) { return t ? node(t->k, t->n, copy(t->a), copy(t->b)) : NULL; }

static uint64_t eval(const term_t *t, uint64_t x) {
    switch (t->k) {
    case NUM: return (uint64_t)t->n;
    case VAR: return x;
    case ADD: return eval(t->a, x) + eval(t->b, x);
    case SUB: return eval(t->a, x) - eval(t->b, x);
    case MUL: return eval(t->a, x) * eval(t->b, x);
    case POW: { uint64_t b = eval(t->a, x), r = 1; for (int64_t i = 0; i < t->n; i++) r *= b; return r; }
    }
    return 0;
}

static uint64_t size(const term_t *t) { return t ? 1 + size(t->a) + size(t->b) : 0; }

static term_t *random_term(rng_t *r, int depth) {
    if (depth == 0 || rng_below(r, 8) == 0) return rng_below(r, 2) ? node(VAR, 0, NULL, NULL) : num((int64_t)rng_range(r, 1, 9));
    switch (rng_below(r, 4)) {
    case 0: return node(ADD, 0, random_term(r, depth - 1), random_term(r, depth - 1));
    case 1: return node(SUB, 0, random_term(r, depth - 1), random_term(r, depth - 1));
    case 2: return node(MUL, 0, random_term(r, depth - 1), random_term(r, depth - 1));
    default: return node(POW, (int64_t)rng_range(r, 2, 4), random_term(r, depth - 1), NULL);
    }
}

/* d/dx t; t is left intact (reused subterms are copied). */
static term_t *deriv(const term_t *t) {
    switch (t->k) {
    case NUM: return num(0);
    case VAR: return num(1);
    case ADD: return node(ADD, 0, deriv(t->a), deriv(t->b));
    case SUB: return node(SUB, 0, deriv(t->a), deriv(t->b));
    case MUL: return node(ADD, 0, node(MUL, 0, deriv(t->a), copy(t->b)), node(MUL, 0, copy(t->a), deriv(t->b)));
    case POW: return node(MUL, 0, node(MUL, 0, num(t->n), node(POW, t->n - 1, copy(t->a), NULL)), deriv(t->a));
    }
    return NULL;
}

static int is_num(const term_t *t, int64_t n) { return t->k == NUM && t->n == n; }

/* Simplifies t, consuming it: returns a new tree (or a subtree of t) and frees what it does not keep. */
static term_t *simplify(term_t *t) {
    if (t->k == NUM || t->k == VAR) return t;
    term_t *a = simplify(t->a), *b = t->b ? simplify(t->b) : NULL;
    enum kind k = t->k;
    int64_t n = t->n;
    free(t);
    switch (k) {
    case ADD:
        if (a->k == NUM && b->k == NUM) { int64_t v = (int64_t)((uint64_t)a->n + (uint64_t)b->n); free(a); free(b); return num(v); }
        if (is_num(a, 0)) { free(a); return b; }
        if (is_num(b, 0)) { free(b); return a; }
        return node(ADD, 0, a, b);
    case SUB:
        if (a->k == NUM && b->k == NUM) { int64_t v = (int64_t)((uint64_t)a->n - (uint64_t)b->n); free(a); free(b); return num(v); }
        if (is_num(b, 0)) { free(b); return a; }
        return node(SUB, 0, a, b);
    case MUL:
        if (a->k == NUM && b->k == NUM) { int64_t v = (int64_t)((uint64_t)a->n * (uint64_t)b->n); free(a); free(b); return num(v); }
        if (is_num(a, 0) || is_num(b, 0)) { release(a); release(b); return num(0); }
        if (is_num(a, 1)) { free(a); return b; }
        if (is_num(b, 1)) { free(b); return a; }
        if (b->k == NUM) { term_t *s = a; a = b; b = s; }
        /* c1 * (c2 * u) -> (c1 c2) * u */
        if (a->k == NUM && b->k == MUL && b->a->k == NUM) {
            int64_t v = (int64_t)((uint64_t)a->n * (uint64_t)b->a->n);
            term_t *u = b->b;
            free(b->a); free(b); free(a);
            return node(MUL, 0, num(v), u);
        }
        return node(MUL, 0, a, b);
    case POW:
        if (n == 0) { release(a); return num(1); }
        if (n == 1) return a;
        if (a->k == NUM) { uint64_t r = 1; for (int64_t i = 0; i < n; i++) r *= (uint64_t)a->n; free(a); return num((int64_t)r); }
        return node(POW, n, a, NULL);
    default: break;
    }
    return NULL;
}

int main(int argc, char **argv) {
    uint64_t terms = arg_u64(argc, argv, 1, 5000, 0, 1ULL << 40, "TERMS");
    int depth = (int)arg_u64(argc, argv, 2, 9, 1, 20, "DEPTH");
    uint64_t seed = arg_u64(argc, argv, 3, 7, 0, UINT64_MAX, "SEED");
    if (argc > 4) die("usage: rewrite [TERMS] [DEPTH] [SEED]");
    rng_t r;
    rng_seed(&r, seed);
    uint64_t sum = 0, mismatch = 0;
    for (uint64_t i = 0; i < terms; i++) {
        term_t *e = random_term(&r, depth);
        term_t *d = deriv(e);
        uint64_t dv = eval(d, 3);
        term_t *s = simplify(d);
        mismatch += eval(s, 3) != dv;
        term_t *d2 = deriv(s);
        uint64_t d2v = eval(d2, 3);
        term_t *s2 = simplify(d2);
        mismatch += eval(s2, 3) != d2v;
        sum += mix64(eval(e, 3) ^ dv) + mix64(d2v + size(s) * 1000003 + size(s2));
        release(e);
        release(s);
        release(s2);
    }
    printf("rewrite terms %llu nodes %llu checksum %016llx mismatch %llu\n", (unsigned long long)terms,
           (unsigned long long)g_built, (unsigned long long)sum, (unsigned long long)mismatch);
    return mismatch != 0;
}
