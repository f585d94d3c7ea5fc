/* Shared helpers of the suite's C programs: a seeded PRNG, a 64-bit mixer for checksums, argument parsing
 * that rejects bad input with "error: ..." and exit status 2, and malloc wrappers that stop on failure.
 * The programs call the C library's malloc/free (nothing is linked in), so LD_PRELOAD decides who answers. */
#ifndef HAKMEM_BENCH_COMMON_H
#define HAKMEM_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64* (the memo's generator). */
typedef struct { uint64_t s; } rng_t;
static inline void rng_seed(rng_t *r, uint64_t seed) { r->s = (seed * 0x9E3779B97F4A7C15ULL) | 1; }
static inline uint64_t rng_next(rng_t *r) {
    uint64_t s = r->s;
    s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
    r->s = s;
    return s * 0x2545F4914F6CDD1DULL;
}
/* Uniform in [0, n) (Lemire's multiply-shift). */
static inline uint64_t rng_below(rng_t *r, uint64_t n) { return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64); }
/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) { return lo + rng_below(r, hi - lo + 1); }

/* splitmix64's finalizer: order-independent checksums add mix64(tag) over every item. */
static inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static inline uint64_t fnv1a(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001B3ULL; }
    return h;
}

static inline void die(const char *what) {
    fprintf(stderr, "error: %s\n", what);
    exit(2);
}

/* Positional argument i (1-based) as an integer in [lo, hi], or def when absent. */
static inline uint64_t arg_u64(int argc, char **argv, int i, uint64_t def, uint64_t lo, uint64_t hi, const char *name) {
    if (i >= argc) return def;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (errno || end == argv[i] || *end || argv[i][0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "error: %s must be an integer in [%llu, %llu], got '%s'\n", name, (unsigned long long)lo,
                (unsigned long long)hi, argv[i]);
        exit(2);
    }
    return v;
}

static inline void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) { fprintf(stderr, "error: malloc(%zu) failed\n", n); exit(3); }
    return p;
}
static inline void *xcalloc(size_t n, size_t m) {
    void *p = calloc(n, m);
    if (!p) { fprintf(stderr, "error: calloc(%zu, %zu) failed\n", n, m); exit(3); }
    return p;
}
static inline void *xrealloc(void *q, size_t n) {
    void *p = realloc(q, n);
    if (!p) { fprintf(stderr, "error: realloc(%zu) failed\n", n); exit(3); }
    return p;
}
static inline char *xstrndup(const char *s, size_t n) {
    char *p = (char *)xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

#endif
