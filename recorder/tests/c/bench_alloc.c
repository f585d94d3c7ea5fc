/* The recorder overhead benchmark: THREADS threads each do ITERS rounds of malloc/free of 16..1024
 * bytes (a window of 64 live blocks, xorshift sizes). Prints the wall time in ns and the number of
 * allocator calls. Usage: bench_alloc ITERS THREADS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long iters;

static void *run(void *arg) {
    uint64_t x = 88172645463325252ull ^ (uintptr_t)arg;
    void *slots[64] = {0};
    for (long i = 0; i < iters; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned s = x & 63;
        free(slots[s]);
        slots[s] = malloc(16 + (x >> 8) % 1009);
    }
    for (int s = 0; s < 64; s++) free(slots[s]);
    return NULL;
}

int main(int argc, char **argv) {
    iters = argc > 1 ? atol(argv[1]) : 1000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    struct timespec a, b;
    pthread_t t[64];
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    printf("%ld %ld\n", ns, 2 * iters * threads + 64 * threads);
    return 0;
}
