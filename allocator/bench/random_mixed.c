/* The memo's random-mixed loop in C, for measuring an allocator through LD_PRELOAD (malloc/free resolved
 * through the PLT, as any C program calls them). Same loop and PRNG as
 * allocator/examples/bench_random_mixed.rs, so the two figures compare.
 * Usage: random_mixed ITERS WS SEED [MIN MAX]; prints "c-preload Mops/s maxrss_kib" (per thread-CPU second). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t s;
static inline uint64_t next(void) { s ^= s >> 12; s ^= s << 25; s ^= s >> 27; return s * 0x2545F4914F6CDD1DULL; }
static inline uint64_t below(uint64_t n) { return (uint64_t)(((unsigned __int128)next() * n) >> 64); }
static double cpu_now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: random_mixed ITERS WS SEED [MIN MAX]\n"); return 2; }
    uint64_t iters = strtoull(argv[1], 0, 10), ws = strtoull(argv[2], 0, 10), seed = strtoull(argv[3], 0, 10);
    uint64_t min = argc > 4 ? strtoull(argv[4], 0, 10) : 16, max = argc > 5 ? strtoull(argv[5], 0, 10) : 1024;
    s = (seed * 0x9E3779B97F4A7C15ULL) | 1;
    char **slots = calloc(ws, sizeof *slots);
    uint64_t span = max - min + 1;
    double t0 = cpu_now();
    for (uint64_t k = 0; k < iters; k++) {
        uint64_t i = below(ws);
        size_t size = (size_t)(min + below(span));
        if (!slots[i]) { char *p = malloc(size); *p = 1; slots[i] = p; }
        else { free(slots[i]); slots[i] = 0; }
    }
    double dt = cpu_now() - t0;
    for (uint64_t i = 0; i < ws; i++) free(slots[i]);
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    printf("c-preload %.1f %ld\n", iters / dt / 1e6, ru.ru_maxrss);
    return 0;
}
