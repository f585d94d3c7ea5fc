/* T threads, each the memo's random-mixed loop (ws slots, sizes min..max); every 16th free hands the block to a
 * shared mailbox instead and frees whatever was there (often another thread's block: a cross-thread free).
 * Prints "mt Mops_per_process_cpu_s". Usage: mt_mailbox T ITERS_PER_THREAD WS (docs/experiments/misuse.md) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static int T; static uint64_t I, WS;
static void *_Atomic box[64];
static void *run(void *arg) {
    uint64_t s = ((uintptr_t)arg * 0x9E3779B97F4A7C15ULL) | 1;
    char **slots = calloc(WS, sizeof *slots);
    for (uint64_t k = 0; k < I; k++) {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27; uint64_t r = s * 0x2545F4914F6CDD1DULL;
        uint64_t i = (r >> 8) % WS; size_t size = 16 + (r >> 32) % 1009;
        if (!slots[i]) { char *p = malloc(size); *p = 1; slots[i] = p; }
        else if ((r & 15) == 0) { void *old = __atomic_exchange_n(&box[(r >> 20) & 63], slots[i], __ATOMIC_ACQ_REL); free(old); slots[i] = 0; }
        else { free(slots[i]); slots[i] = 0; }
    }
    for (uint64_t i = 0; i < WS; i++) free(slots[i]);
    free(slots);
    return 0;
}
int main(int argc, char **argv) {
    T = atoi(argv[1]); I = strtoull(argv[2], 0, 10); WS = strtoull(argv[3], 0, 10);
    pthread_t th[64]; struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int t = 0; t < T; t++) pthread_create(&th[t], 0, run, (void *)(uintptr_t)(t + 1));
    for (int t = 0; t < T; t++) pthread_join(th[t], 0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    for (int i = 0; i < 64; i++) free(box[i]);
    double dt = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    printf("mt %.1f\n", T * I / dt / 1e6);
    return 0;
}
