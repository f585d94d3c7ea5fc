/* prodcons — producer/consumer with a backlog (the shape of xmalloc-test).
 *
 * Usage: prodcons [ITEMS 3000000] [QUEUE 100000] [PAIRS 1] [WORK 24] [SEED 1]
 *
 * PAIRS independent pairs of threads. In each, the producer allocates ITEMS blocks of 16-1024 bytes, fills
 * their first 64 bytes, and pushes them into a bounded single-producer/single-consumer ring of QUEUE slots;
 * the consumer pops each block, checks and hashes what was written, does WORK rounds of arithmetic on it (so
 * it is slower than the producer and the ring runs full: a backlog of QUEUE blocks owned by the producer's
 * heap, freed by another thread), and frees it. Every free
 * is a cross-thread free. The checksum is the sum over blocks of mix64 of their tag and content hash.
 * Prints "prodcons checksum HEX items N corrupt 0". */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

typedef struct {
    void **ring;
    uint64_t cap;
    _Alignas(64) _Atomic uint64_t head; /* next slot the consumer reads */
    _Alignas(64) _Atomic uint64_t tail; /* next slot the producer writes */
    _Alignas(64) uint64_t seed, sum, corrupt;
} pair_t;

static uint64_t g_items, g_work;

typedef struct { uint64_t tag; uint32_t size; uint32_t fill; } header_t;

/* Bytes after the header that the producer fills and the consumer checks. */
static size_t payload(const header_t *h) { return (h->size < 64 ? h->size : 64) - sizeof *h; }

static void *producer(void *arg) {
    pair_t *q = arg;
    rng_t r;
    rng_seed(&r, q->seed);
    uint64_t head_seen = 0;
    for (uint64_t i = 0; i < g_items; i++) {
        size_t size = rng_range(&r, 16, 1024);
        header_t *h = xmalloc(size);
        h->tag = q->seed ^ (i << 8);
        h->size = (uint32_t)size;
        h->fill = (uint32_t)(i & 0xff);
        memset((char *)h + sizeof *h, (int)h->fill, payload(h));
        /* The consumer's position is re-read only when the ring looks full (one shared line per lap). */
        uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        while (t - head_seen >= q->cap) {
            head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
            if (t - head_seen >= q->cap) sched_yield();
        }
        q->ring[t % q->cap] = h;
        atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg) {
    pair_t *q = arg;
    uint64_t sum = 0, corrupt = 0, tail_seen = 0;
    for (uint64_t i = 0; i < g_items; i++) {
        uint64_t h0 = atomic_load_explicit(&q->head, memory_order_relaxed);
        while (tail_seen == h0) {
            tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
            if (tail_seen == h0) sched_yield();
        }
        header_t *h = q->ring[h0 % q->cap];
        atomic_store_explicit(&q->head, h0 + 1, memory_order_release);
        uint64_t hash = fnv1a((char *)h + sizeof *h, payload(h), h->size);
        for (uint64_t w = 0; w < g_work; w++) hash = mix64(hash + w);
        for (size_t k = 0; k < payload(h); k++) corrupt += ((unsigned char *)(h + 1))[k] != (unsigned char)h->fill;
        sum += mix64(h->tag ^ hash);
        free(h);
    }
    q->sum = sum;
    q->corrupt = corrupt;
    return NULL;
}

int main(int argc, char **argv) {
    g_items = arg_u64(argc, argv, 1, 3000000, 1, 1ULL << 40, "ITEMS");
    uint64_t cap = arg_u64(argc, argv, 2, 100000, 1, 1ULL << 30, "QUEUE");
    uint64_t pairs = arg_u64(argc, argv, 3, 1, 1, 64, "PAIRS");
    g_work = arg_u64(argc, argv, 4, 24, 0, 1000000, "WORK");
    uint64_t seed = arg_u64(argc, argv, 5, 1, 0, UINT64_MAX, "SEED");
    if (argc > 6) die("usage: prodcons [ITEMS] [QUEUE] [PAIRS] [WORK] [SEED]");

    pair_t *q = aligned_alloc(64, pairs * sizeof *q);
    if (!q) die("aligned_alloc failed");
    pthread_t *tids = xmalloc(2 * pairs * sizeof *tids);
    for (uint64_t p = 0; p < pairs; p++) {
        memset(&q[p], 0, sizeof q[p]);
        q[p].ring = xcalloc(cap, sizeof(void *));
        q[p].cap = cap;
        q[p].seed = mix64(seed * 1000 + p);
        if (pthread_create(&tids[2 * p], NULL, producer, &q[p]) ||
            pthread_create(&tids[2 * p + 1], NULL, consumer, &q[p]))
            die("pthread_create failed");
    }
    uint64_t sum = 0, corrupt = 0;
    for (uint64_t p = 0; p < pairs; p++) {
        pthread_join(tids[2 * p], NULL);
        pthread_join(tids[2 * p + 1], NULL);
        sum += q[p].sum;
        corrupt += q[p].corrupt;
        free(q[p].ring);
    }
    free(q);
    free(tids);
    printf("prodcons checksum %016llx items %llu corrupt %llu\n", (unsigned long long)sum,
           (unsigned long long)(g_items * pairs), (unsigned long long)corrupt);
    return corrupt != 0;
}
