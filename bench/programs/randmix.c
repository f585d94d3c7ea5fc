/* randmix — the memo's random-mixed loop through the C library's malloc/free (so LD_PRELOAD decides).
 *
 * Usage: randmix [ITERS 10000000] [MIN 16] [MAX 1024] [WS 256] [SEED 42]
 *
 * The same loop and generator as allocator/bench/random_mixed.c and `hakmem gen random-mixed`: each step
 * draws a slot in [0, WS) and a size uniform in [MIN, MAX]; an empty slot gets malloc(size) (its first byte
 * written), an occupied one is freed. Prints "randmix checksum HEX allocs N" (a hash of the sizes and slots
 * drawn, which does not depend on the allocator); the throughput goes to stderr. */
#include "common.h"
#include <time.h>

int main(int argc, char **argv) {
    uint64_t iters = arg_u64(argc, argv, 1, 10000000, 0, 1ULL << 40, "ITERS");
    uint64_t min = arg_u64(argc, argv, 2, 16, 1, 1ULL << 30, "MIN");
    uint64_t max = arg_u64(argc, argv, 3, 1024, min, 1ULL << 30, "MAX");
    uint64_t ws = arg_u64(argc, argv, 4, 256, 1, 1ULL << 24, "WS");
    uint64_t seed = arg_u64(argc, argv, 5, 42, 0, UINT64_MAX, "SEED");
    if (argc > 6) die("usage: randmix [ITERS] [MIN] [MAX] [WS] [SEED]");
    rng_t r;
    rng_seed(&r, seed);
    char **slots = xcalloc(ws, sizeof *slots);
    uint64_t span = max - min + 1, sum = 0, allocs = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t k = 0; k < iters; k++) {
        uint64_t i = rng_below(&r, ws);
        size_t size = (size_t)(min + rng_below(&r, span));
        if (!slots[i]) {
            char *p = malloc(size);
            if (!p) die("malloc failed");
            *p = 1;
            slots[i] = p;
            sum += size * 31 + i;
            allocs++;
        } else {
            sum += *slots[i];
            free(slots[i]);
            slots[i] = NULL;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (uint64_t i = 0; i < ws; i++) free(slots[i]);
    free(slots);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "randmix %.1f Mops/s\n", dt > 0 ? (double)iters / dt / 1e6 : 0.0);
    printf("randmix checksum %016llx allocs %llu\n", (unsigned long long)mix64(sum), (unsigned long long)allocs);
    return 0;
}
