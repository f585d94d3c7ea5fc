/* leaveone — threads that each leave one small long-lived object behind and exit, repeated (the shape of
 * glibc-bench-thread's rptest / alloc-test).
 *
 * Usage: leaveone [ROUNDS 2000] [THREADS 4] [OBJS 1000] [SEED 1]
 *
 * Each round starts THREADS threads and joins them. A thread allocates OBJS blocks of 16-512 bytes (writing
 * each), frees all of them but one chosen at random, and exits; the survivor stays alive until the end of
 * the program, so every dead thread leaves exactly one small block in its heap. The live set at the end is
 * ROUNDS * THREADS blocks (~8000 × ~260 B = ~2 MB by default); an allocator that keeps a dead thread's
 * pages for its one survivor holds far more. Prints "leaveone checksum HEX survivors N corrupt 0". */
#include "common.h"
#include <pthread.h>

typedef struct { uint64_t tag; uint32_t size; } header_t;

static uint64_t g_threads, g_objs, g_seed;
static header_t **g_survivors;

typedef struct { uint64_t round, index; uint64_t sum, corrupt; } job_t;

static void *worker(void *arg) {
    job_t *job = arg;
    rng_t r;
    rng_seed(&r, g_seed ^ mix64(job->round * 7919 + job->index));
    header_t **blocks = xmalloc(g_objs * sizeof *blocks);
    uint64_t sum = 0;
    for (uint64_t k = 0; k < g_objs; k++) {
        size_t size = rng_range(&r, 16, 512);
        header_t *h = xmalloc(size);
        h->tag = (job->round << 32) ^ (job->index << 20) ^ k;
        h->size = (uint32_t)size;
        memset(h + 1, (int)(h->tag & 0xff), size - sizeof *h);
        blocks[k] = h;
    }
    uint64_t keep = rng_below(&r, g_objs);
    uint64_t corrupt = 0;
    for (uint64_t k = 0; k < g_objs; k++) {
        if (k == keep) continue;
        header_t *h = blocks[k];
        unsigned char *last = (unsigned char *)h + h->size - 1;
        corrupt += h->size > sizeof *h && *last != (unsigned char)(h->tag & 0xff);
        sum += mix64(h->tag ^ ((uint64_t)h->size << 48));
        free(h);
    }
    g_survivors[job->round * g_threads + job->index] = blocks[keep];
    free(blocks);
    job->sum = sum;
    job->corrupt = corrupt;
    return NULL;
}

int main(int argc, char **argv) {
    uint64_t rounds = arg_u64(argc, argv, 1, 2000, 1, 100000000, "ROUNDS");
    g_threads = arg_u64(argc, argv, 2, 4, 1, 256, "THREADS");
    g_objs = arg_u64(argc, argv, 3, 1000, 1, 1ULL << 32, "OBJS");
    g_seed = arg_u64(argc, argv, 4, 1, 0, UINT64_MAX, "SEED");
    if (argc > 5) die("usage: leaveone [ROUNDS] [THREADS] [OBJS] [SEED]");

    g_survivors = xcalloc(rounds * g_threads, sizeof *g_survivors);
    pthread_t *tids = xmalloc(g_threads * sizeof *tids);
    job_t *jobs = xmalloc(g_threads * sizeof *jobs);
    uint64_t sum = 0, corrupt = 0;
    for (uint64_t round = 0; round < rounds; round++) {
        for (uint64_t i = 0; i < g_threads; i++) {
            jobs[i] = (job_t){round, i, 0, 0};
            if (pthread_create(&tids[i], NULL, worker, &jobs[i])) die("pthread_create failed");
        }
        for (uint64_t i = 0; i < g_threads; i++) {
            pthread_join(tids[i], NULL);
            sum += jobs[i].sum;
            corrupt += jobs[i].corrupt;
        }
    }
    uint64_t n = rounds * g_threads;
    for (uint64_t k = 0; k < n; k++) {
        header_t *h = g_survivors[k];
        unsigned char want = (unsigned char)(h->tag & 0xff);
        for (size_t b = sizeof *h; b < h->size; b++) corrupt += ((unsigned char *)h)[b] != want;
        sum += mix64(h->tag);
        free(h);
    }
    free(g_survivors);
    free(tids);
    free(jobs);
    printf("leaveone checksum %016llx survivors %llu corrupt %llu\n", (unsigned long long)sum,
           (unsigned long long)n, (unsigned long long)corrupt);
    return corrupt != 0;
}
