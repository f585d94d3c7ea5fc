/* bintrees — the binary-trees GC benchmark (Boehm's, as the benchmarks game runs it) with malloc/free:
 * a stretch tree of depth MAX+1, a long-lived tree of depth MAX, then for each depth d = MIN, MIN+2, ..., MAX
 * 2^(MAX-d+MIN) trees of depth d built and freed again. With THREADS > 1 the depths are shared among
 * threads (each builds and frees its own trees).
 *
 * Usage: bintrees [MAX 16] [THREADS 1]
 * Prints the benchmarks-game lines ("stretch tree of depth D check: C", ...), deterministic. */
#include "common.h"
#include <pthread.h>

#define MIN_DEPTH 4

typedef struct node { struct node *left, *right; } node_t;

static node_t *make(int depth) {
    node_t *n = xmalloc(sizeof *n);
    if (depth > 0) {
        n->left = make(depth - 1);
        n->right = make(depth - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

static long check(const node_t *n) { return 1 + (n->left ? check(n->left) + check(n->right) : 0); }

static void release(node_t *n) {
    if (n->left) { release(n->left); release(n->right); }
    free(n);
}

static int g_max, g_threads;
static long *g_checks;

static void *worker(void *arg) {
    long t = (long)arg;
    for (int d = MIN_DEPTH, k = 0; d <= g_max; d += 2, k++) {
        if (k % g_threads != t) continue;
        long iters = 1L << (g_max - d + MIN_DEPTH), sum = 0;
        for (long i = 0; i < iters; i++) {
            node_t *tree = make(d);
            sum += check(tree);
            release(tree);
        }
        g_checks[k] = sum;
    }
    return NULL;
}

int main(int argc, char **argv) {
    g_max = (int)arg_u64(argc, argv, 1, 16, MIN_DEPTH + 2, 26, "MAX");
    g_threads = (int)arg_u64(argc, argv, 2, 1, 1, 64, "THREADS");
    if (argc > 3) die("usage: bintrees [MAX] [THREADS]");

    node_t *stretch = make(g_max + 1);
    printf("stretch tree of depth %d\t check: %ld\n", g_max + 1, check(stretch));
    release(stretch);
    node_t *long_lived = make(g_max);

    int levels = (g_max - MIN_DEPTH) / 2 + 1;
    g_checks = xcalloc((size_t)levels, sizeof *g_checks);
    pthread_t *tids = xmalloc((size_t)g_threads * sizeof *tids);
    for (long t = 0; t < g_threads; t++)
        if (pthread_create(&tids[t], NULL, worker, (void *)t)) die("pthread_create failed");
    for (int t = 0; t < g_threads; t++) pthread_join(tids[t], NULL);
    for (int d = MIN_DEPTH, k = 0; d <= g_max; d += 2, k++)
        printf("%ld\t trees of depth %d\t check: %ld\n", 1L << (g_max - d + MIN_DEPTH), d, g_checks[k]);
    printf("long lived tree of depth %d\t check: %ld\n", g_max, check(long_lived));
    release(long_lived);
    free(g_checks);
    free(tids);
    return 0;
}
