/* Probe for a preloaded allocator: exercises malloc, calloc, realloc, posix_memalign, aligned_alloc and free
 * (on two threads, with frees across them) and prints what it observed. Every line but the first depends only
 * on the C semantics of those calls, so its output must be the same under every correct allocator; the first
 * line names the mimalloc version that is interposed, if any (mi_version found through dlsym). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 20000

static void *blocks[N];

static uint64_t fill(unsigned char *p, size_t n, uint64_t seed) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) { p[i] = (unsigned char)(seed + i * 31); sum += p[i]; }
    return sum;
}

static void *producer(void *arg) {
    uint64_t *sum = arg;
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i * 7919) % 2000;
        blocks[i] = malloc(n);
        if (!blocks[i]) { fprintf(stderr, "malloc failed\n"); exit(1); }
        *sum += fill(blocks[i], n, (uint64_t)i);
    }
    return NULL;
}

int main(void) {
    int (*mi_version)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "mi_version");
    if (mi_version) {
        int v = mi_version();
        printf("mi_version %d.%d.%d\n", v / 10000, v / 100 % 100, v % 100);
    } else {
        printf("mi_version none\n");
    }

    /* Blocks allocated on one thread, checked and freed on this one. */
    uint64_t sum = 0, check = 0;
    pthread_t t;
    pthread_create(&t, NULL, producer, &sum);
    pthread_join(t, NULL);
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i * 7919) % 2000;
        for (size_t j = 0; j < n; j++) check += ((unsigned char *)blocks[i])[j];
        free(blocks[i]);
    }
    printf("cross-thread %d blocks sum %llu check %s\n", N, (unsigned long long)sum, sum == check ? "ok" : "BAD");

    /* calloc zeroes. */
    size_t nonzero = 0;
    for (size_t n = 1; n < (1u << 22); n = n * 3 + 1) {
        unsigned char *p = calloc(n, 1);
        for (size_t j = 0; j < n; j++) nonzero += p[j] != 0;
        memset(p, 0xab, n);
        free(p);
    }
    printf("calloc nonzero bytes %zu\n", nonzero);

    /* realloc keeps contents through growth and shrinkage. */
    unsigned char *r = NULL;
    size_t len = 0, lost = 0;
    size_t sizes[] = {8, 24, 100, 1000, 5000, 70000, 300000, 3000000, 512, 16, 9000000, 1};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        unsigned char *q = realloc(r, sizes[k]);
        size_t keep = len < sizes[k] ? len : sizes[k];
        for (size_t j = 0; j < keep; j++) lost += q[j] != (unsigned char)(j * 13);
        for (size_t j = 0; j < sizes[k]; j++) q[j] = (unsigned char)(j * 13);
        r = q;
        len = sizes[k];
    }
    free(r);
    printf("realloc lost bytes %zu\n", lost);

    /* posix_memalign and aligned_alloc honour the alignment. */
    size_t misaligned = 0, failed = 0;
    for (size_t a = sizeof(void *); a <= (1u << 20); a *= 2) {
        for (size_t n = 1; n < 100000; n = n * 5 + 3) {
            void *p = NULL;
            if (posix_memalign(&p, a, n) != 0) { failed++; continue; }
            misaligned += ((uintptr_t)p % a) != 0;
            memset(p, 1, n);
            free(p);
            p = aligned_alloc(a, (n + a - 1) / a * a);
            if (!p) { failed++; continue; }
            misaligned += ((uintptr_t)p % a) != 0;
            free(p);
        }
    }
    printf("aligned misaligned %zu failed %zu\n", misaligned, failed);
    void *bad = NULL;
    printf("posix_memalign bad alignment -> %s\n", posix_memalign(&bad, 3, 16) != 0 ? "error" : "accepted");
    return 0;
}
