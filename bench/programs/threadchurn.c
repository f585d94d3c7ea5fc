/* threadchurn — server-style churn (the shape of larson, xmalloc-test and mstress).
 *
 * Usage: threadchurn [THREADS 4] [ROUNDS 400] [STEPS 10000] [SLOTS 4000] [SEED 1]
 *
 * Each round starts THREADS worker threads and joins them; worker i of a round inherits slot array i from
 * worker i of the previous round (blocks allocated by a thread that has exited) and, STEPS times, frees the
 * block in a random slot and allocates a new one there (80% 16-512 B, 15% 513-4096 B, 5% 4097-32768 B).
 * One new block in eight is handed to the other threads: it is exchanged (atomically) with whatever another
 * thread left in a random cell of a shared transfer table, and the block taken out takes the slot, so live
 * threads free each other's blocks too. Every block carries a tag derived from (round, worker, step); the
 * checksum is the sum of mix64(tag) over all blocks, each freed exactly once, so it does not depend on the
 * schedule. Prints "threadchurn checksum HEX blocks N corrupt 0". */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>

#define TRANSFER 1024

/* 12 bytes used, so a 16-byte block has room for the trailer byte at its end. */
typedef struct { uint64_t tag; uint32_t size; } header_t;

static uint64_t g_threads, g_steps, g_slots, g_seed;
static void ***g_slot_arrays;
static _Atomic(void *) g_transfer[TRANSFER];
static _Atomic uint64_t g_sum, g_blocks, g_corrupt;

typedef struct { uint64_t round, index; } job_t;

static void *make(uint64_t tag, size_t size) {
    header_t *h = xmalloc(size);
    h->tag = tag;
    h->size = (uint32_t)size;
    ((unsigned char *)h)[size - 1] = (unsigned char)tag;
    return h;
}

/* Verifies and frees a block; returns mix64 of its tag (0 for NULL). */
static uint64_t consume(void *p, uint64_t *corrupt) {
    if (!p) return 0;
    header_t *h = p;
    uint64_t tag = h->tag;
    if (h->size < 16 || ((unsigned char *)h)[h->size - 1] != (unsigned char)tag) (*corrupt)++;
    free(p);
    return mix64(tag);
}

static void *worker(void *arg) {
    job_t *job = arg;
    rng_t r;
    rng_seed(&r, g_seed ^ mix64(job->round * 1000003 + job->index));
    void **slots = g_slot_arrays[job->index];
    uint64_t sum = 0, blocks = 0, corrupt = 0;
    for (uint64_t step = 0; step < g_steps; step++) {
        uint64_t j = rng_below(&r, g_slots);
        if (slots[j]) { sum += consume(slots[j], &corrupt); blocks++; }
        uint64_t pick = rng_below(&r, 100);
        size_t size = pick < 80 ? rng_range(&r, 16, 512) : pick < 95 ? rng_range(&r, 513, 4096) : rng_range(&r, 4097, 32768);
        void *p = make((job->round << 40) ^ (job->index << 32) ^ step, size);
        if (rng_below(&r, 8) == 0) p = atomic_exchange(&g_transfer[rng_below(&r, TRANSFER)], p);
        slots[j] = p;
    }
    atomic_fetch_add(&g_sum, sum);
    atomic_fetch_add(&g_blocks, blocks);
    atomic_fetch_add(&g_corrupt, corrupt);
    return NULL;
}

int main(int argc, char **argv) {
    g_threads = arg_u64(argc, argv, 1, 4, 1, 256, "THREADS");
    uint64_t rounds = arg_u64(argc, argv, 2, 400, 1, 1000000, "ROUNDS");
    g_steps = arg_u64(argc, argv, 3, 10000, 1, 1ULL << 40, "STEPS");
    g_slots = arg_u64(argc, argv, 4, 4000, 1, 1ULL << 24, "SLOTS");
    g_seed = arg_u64(argc, argv, 5, 1, 0, UINT64_MAX, "SEED");
    if (argc > 6) die("usage: threadchurn [THREADS] [ROUNDS] [STEPS] [SLOTS] [SEED]");

    g_slot_arrays = xcalloc(g_threads, sizeof *g_slot_arrays);
    for (uint64_t i = 0; i < g_threads; i++) g_slot_arrays[i] = xcalloc(g_slots, sizeof(void *));
    pthread_t *tids = xmalloc(g_threads * sizeof *tids);
    job_t *jobs = xmalloc(g_threads * sizeof *jobs);
    for (uint64_t round = 0; round < rounds; round++) {
        for (uint64_t i = 0; i < g_threads; i++) {
            jobs[i] = (job_t){round, i};
            if (pthread_create(&tids[i], NULL, worker, &jobs[i])) die("pthread_create failed");
        }
        for (uint64_t i = 0; i < g_threads; i++) pthread_join(tids[i], NULL);
    }
    uint64_t sum = atomic_load(&g_sum), blocks = atomic_load(&g_blocks), corrupt = atomic_load(&g_corrupt);
    for (uint64_t i = 0; i < g_threads; i++) {
        for (uint64_t j = 0; j < g_slots; j++)
            if (g_slot_arrays[i][j]) { sum += consume(g_slot_arrays[i][j], &corrupt); blocks++; }
        free(g_slot_arrays[i]);
    }
    for (int k = 0; k < TRANSFER; k++) {
        void *p = atomic_load(&g_transfer[k]);
        if (p) { sum += consume(p, &corrupt); blocks++; }
    }
    free(g_slot_arrays);
    free(tids);
    free(jobs);
    printf("threadchurn checksum %016llx blocks %llu corrupt %llu\n", (unsigned long long)sum,
           (unsigned long long)blocks, (unsigned long long)corrupt);
    return corrupt != 0;
}
