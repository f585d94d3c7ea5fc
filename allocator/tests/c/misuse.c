/* Heap misuse, one kind per run: `misuse KIND SIZE`. Each kind does one bad thing with blocks of SIZE bytes
 * (8, 4096, 262144 in the tests) and then prints "NOT STOPPED KIND SIZE" and exits 0 — so an allocator that
 * stops the misuse ends the program before the marker (HAKMEM: one "hakmem: …" line on stderr, then abort).
 * The allocation calls go through volatile function pointers so that the compiler cannot elide or reorder them.
 *
 * Kinds (HAKMEM_CHECK=2 ones marked):
 *   double_free           free(p); free(p)
 *   double_free_later     free(p); ten other frees; free(p)
 *   double_free_interleaved free(a); free(b); free(a)
 *   double_free_reused    free(p); q = malloc (gets p back); free(q); free(p)
 *   cross_thread_double   another thread frees p twice
 *   cross_thread_owner    another thread frees p, then the allocating thread frees it again
 *   after_owner_exit      a thread allocates p and a block it keeps, frees p and exits (its heap lets go of
 *                         the memory); then the main thread frees p again
 *   free_sized_double     free_sized(p, n) twice (skipped with status 3 if the C library has no free_sized)
 *   interior_1, interior_8  free(p + 1), free(p + 8)
 *   unaligned             free(p + 12)
 *   before                free(p - 8)
 *   into_freed            free(p); free(p + n/2) (p + 4 for n < 32)
 *   realloc_freed         free(p); realloc(p, 2n)
 *   realloc_interior      realloc(p + 8, 2n)
 *   overflow_1            p[n] = 'x'; free(p)          (level 2)
 *   overflow_nul          p[n] = 0; free(p): a string's terminator one past the end  (level 2)
 *   underflow_1           p[-1] = 'x'; free(p)         (level 2)
 *   underflow_nul         p[-1] = 0; free(p)           (level 2)
 *   write_after_free      free(p); p[n/2] = 'x'; then allocations of n until p comes back  (level 2)
 *   forged_link           another thread frees p (so that p goes on a linked free list at every size); the
 *                         first word of its block (the free-list link) is overwritten with the start of the
 *                         live block keep[0]; then allocations of n; prints "FORGED LINK FOLLOWED" if one of
 *                         them returns keep[0] (a live block handed out twice)  (level 2)
 *   clean                 no misuse: many allocations and frees, then the marker (must never abort)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;
static void *(*volatile do_realloc)(void *, size_t) = realloc;

static char *p_shared;

static void *thread_frees_twice(void *arg) {
    (void)arg;
    do_free(p_shared);
    do_free(p_shared);
    return 0;
}

static void *thread_frees_once(void *arg) {
    (void)arg;
    do_free(p_shared);
    return 0;
}

static char *alloc(size_t n) {
    char *p = do_malloc(n);
    if (!p) { perror("malloc"); exit(1); }
    memset(p, 'a', n);
    return p;
}

static size_t n_shared;

static void *thread_frees_and_exits(void *arg) {
    (void)arg;
    p_shared = alloc(n_shared);
    char *keep = alloc(n_shared); /* keeps the memory mapped after the thread exits */
    (void)keep;
    do_free(p_shared);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: misuse KIND SIZE\n"); return 2; }
    const char *k = argv[1];
    size_t n = strtoul(argv[2], 0, 10);
    /* Some live blocks around, as in a real program. */
    char *keep[16];
    for (int i = 0; i < 16; i++) keep[i] = alloc(n);
    char *p = alloc(n);

    if (!strcmp(k, "double_free")) {
        do_free(p); do_free(p);
    } else if (!strcmp(k, "double_free_later")) {
        char *o[10];
        for (int i = 0; i < 10; i++) o[i] = alloc(n);
        do_free(p);
        for (int i = 0; i < 10; i++) do_free(o[i]);
        do_free(p);
    } else if (!strcmp(k, "double_free_interleaved")) {
        char *b = alloc(n);
        do_free(p); do_free(b); do_free(p);
    } else if (!strcmp(k, "double_free_reused")) {
        do_free(p);
        char *q = alloc(n);
        fprintf(stderr, "reused: %s\n", q == p ? "yes" : "no");
        do_free(q); do_free(p);
    } else if (!strcmp(k, "cross_thread_double") || !strcmp(k, "cross_thread_owner")) {
        int twice = !strcmp(k, "cross_thread_double");
        p_shared = p;
        pthread_t t;
        pthread_create(&t, 0, twice ? thread_frees_twice : thread_frees_once, 0);
        pthread_join(t, 0);
        if (!twice) do_free(p);
    } else if (!strcmp(k, "after_owner_exit")) {
        n_shared = n;
        pthread_t t;
        pthread_create(&t, 0, thread_frees_and_exits, 0);
        pthread_join(t, 0);
        do_free(p_shared);
    } else if (!strcmp(k, "free_sized_double")) {
        void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
        if (!fs) { printf("SKIPPED no free_sized\n"); return 3; }
        void (*volatile vfs)(void *, size_t) = fs;
        vfs(p, n); vfs(p, n);
    } else if (!strcmp(k, "interior_1")) {
        do_free(p + 1);
    } else if (!strcmp(k, "interior_8")) {
        do_free(p + 8);
    } else if (!strcmp(k, "unaligned")) {
        do_free(p + 12);
    } else if (!strcmp(k, "before")) {
        do_free(p - 8);
    } else if (!strcmp(k, "into_freed")) {
        do_free(p);
        do_free(p + (n >= 32 ? n / 2 : 4));
    } else if (!strcmp(k, "realloc_freed")) {
        do_free(p);
        char *q = do_realloc(p, 2 * n);
        (void)q;
    } else if (!strcmp(k, "realloc_interior")) {
        char *q = do_realloc(p + 8, 2 * n);
        (void)q;
    } else if (!strcmp(k, "overflow_1") || !strcmp(k, "overflow_nul")) {
        p[n] = k[9] == 'n' ? 0 : 'x';
        do_free(p);
    } else if (!strcmp(k, "underflow_1") || !strcmp(k, "underflow_nul")) {
        p[-1] = k[10] == 'n' ? 0 : 'x';
        do_free(p);
    } else if (!strcmp(k, "write_after_free")) {
        do_free(p);
        p[n / 2] = 'x';
        /* Hand blocks of this size out until p comes back (or give up). */
        for (int i = 0; i < 4096; i++) {
            char *q = do_malloc(n);
            if (q == p) break;
        }
    } else if (!strcmp(k, "forged_link")) {
        /* At level 2 a block starts 16 bytes before the pointer handed out. */
        const char *level = getenv("HAKMEM_CHECK");
        size_t off = level && !strcmp(level, "2") ? 16 : 0;
        pthread_t t;
        p_shared = p;
        pthread_create(&t, 0, thread_frees_once, 0);
        pthread_join(t, 0);
        *(char **)(p - off) = keep[0] - off;
        *(char **)keep[0] = 0; /* so that a list that hands keep[0] out ends there instead of at 'aaaaaaaa' */
        int tries = n > 4096 ? 16 : 20000;
        for (int i = 0; i < tries; i++) {
            char *q = do_malloc(n);
            if (q == keep[0]) {
                printf("FORGED LINK FOLLOWED %s %zu\n", k, n);
                break;
            }
        }
        keep[0] = alloc(n);
    } else if (!strcmp(k, "clean")) {
        char *v[512] = {0};
        unsigned s = 1;
        int slots = n > 4096 ? 16 : 512, iters = n > 4096 ? 4000 : 200000;
        for (int i = 0; i < iters; i++) {
            s = s * 1103515245u + 12345u;
            int j = (s >> 8) % slots;
            size_t m = 1 + (s >> 4) % (2 * n);
            if (v[j]) { do_free(v[j]); v[j] = 0; }
            else if (s & 1) { v[j] = alloc(m); }
            else if (i & 2) { v[j] = do_realloc(alloc(m / 2 + 1), m); memset(v[j], 'b', m); }
            else { v[j] = alloc(m); }
        }
        for (int j = 0; j < 512; j++) do_free(v[j]);
        do_free(p);
    } else {
        fprintf(stderr, "unknown kind %s\n", k);
        return 2;
    }
    for (int i = 0; i < 16; i++) do_free(keep[i]);
    printf("NOT STOPPED %s %zu\n", k, n);
    return 0;
}
