/* Exercises the C allocation API as glibc documents it; run with and without LD_PRELOAD=libhakmem.so.
 * Usage: api MODE   (MODE = api | fork | rss | threads-rss | churn)
 * Prints one line per check group and "ok"; exits 1 with a message on the first failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); exit(1); } } while (0)

static void *(*volatile use_reallocarray)(void *, size_t, size_t) = reallocarray;

static void api(void) {
    /* malloc / usable size / alignment */
    for (size_t n = 0; n < 70000; n = n < 64 ? n + 1 : n * 5 / 4) {
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu) returned NULL", n);
        CHECK(((uintptr_t)p & (n >= 16 ? 15 : 7)) == 0, "malloc(%zu) misaligned %p", n, (void *)p);
        CHECK(malloc_usable_size(p) >= n, "usable %zu < %zu", malloc_usable_size(p), n);
        memset(p, 0xab, n);
        free(p);
    }
    free(NULL);
    CHECK(malloc_usable_size(NULL) == 0, "usable(NULL) != 0");
    puts("malloc ok");

    /* calloc: zeroed, overflow -> NULL + ENOMEM */
    for (int i = 0; i < 1000; i++) { char *p = malloc(512); memset(p, 0x5a, 512); free(p); }
    for (size_t n = 1; n < 200000; n *= 3) {
        unsigned char *p = calloc(n, 1);
        CHECK(p != NULL, "calloc(%zu)", n);
        for (size_t i = 0; i < n; i++) CHECK(p[i] == 0, "calloc(%zu)[%zu] = %d", n, i, p[i]);
        memset(p, 0x77, n);
        free(p);
    }
    errno = 0;
    CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "calloc overflow: errno %d", errno);
    puts("calloc ok");

    /* realloc: contents kept, NULL -> malloc, huge -> NULL + ENOMEM with the block intact */
    char *r = realloc(NULL, 10);
    CHECK(r != NULL, "realloc(NULL)");
    strcpy(r, "123456789");
    for (size_t n = 16; n < 3000000; n = n * 3 / 2) {
        r = realloc(r, n);
        CHECK(r != NULL && strcmp(r, "123456789") == 0, "realloc grow to %zu lost contents", n);
    }
    for (size_t n = 3000000; n >= 16; n = n * 2 / 3) {
        r = realloc(r, n);
        CHECK(r != NULL && strcmp(r, "123456789") == 0, "realloc shrink to %zu lost contents", n);
    }
    errno = 0;
    CHECK(realloc(r, SIZE_MAX - 4096) == NULL && errno == ENOMEM, "realloc huge: errno %d", errno);
    CHECK(strcmp(r, "123456789") == 0, "failed realloc damaged the block");
    errno = 0;
    CHECK(use_reallocarray(r, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "reallocarray overflow: errno %d", errno);
    r = use_reallocarray(r, 100, 10);
    CHECK(r != NULL && strcmp(r, "123456789") == 0, "reallocarray lost contents");
    free(r);
    puts("realloc ok");

    /* aligned family */
    void *p = NULL;
    CHECK(posix_memalign(&p, 3, 8) == EINVAL, "posix_memalign(3) not EINVAL");
    CHECK(posix_memalign(&p, 4, 8) == EINVAL, "posix_memalign(4) not EINVAL");
    CHECK(posix_memalign(&p, 64, SIZE_MAX - 100000) == ENOMEM, "posix_memalign huge not ENOMEM");
    for (size_t a = 8; a <= ((size_t)8 << 20); a *= 2) {
        for (size_t n = 1; n < 100000; n = n * 7 + 3) {
            void *q = NULL;
            CHECK(posix_memalign(&q, a, n) == 0 && q != NULL, "posix_memalign(%zu, %zu)", a, n);
            CHECK(((uintptr_t)q & (a - 1)) == 0, "posix_memalign(%zu) misaligned %p", a, q);
            CHECK(malloc_usable_size(q) >= n, "aligned usable");
            memset(q, 1, n);
            void *s = aligned_alloc(a, n);
            CHECK(s && ((uintptr_t)s & (a - 1)) == 0, "aligned_alloc(%zu,%zu)", a, n);
            void *m = memalign(a, n);
            CHECK(m && ((uintptr_t)m & (a - 1)) == 0, "memalign(%zu,%zu)", a, n);
            free(q); free(s); free(m);
        }
    }
    void *m3 = memalign(24, 10);   /* glibc rounds a non-power-of-two alignment up */
    CHECK(m3 && ((uintptr_t)m3 & 31) == 0, "memalign(24) not 32-aligned");
    free(m3);
    void *v = valloc(100);
    CHECK(v && ((uintptr_t)v & 4095) == 0, "valloc");
    void *pv = pvalloc(5000);
    CHECK(pv && ((uintptr_t)pv & 4095) == 0 && malloc_usable_size(pv) >= 8192, "pvalloc");
    free(v); free(pv);
    puts("aligned ok");

    /* large blocks */
    for (size_t n = 40000; n < 64u << 20; n *= 4) {
        unsigned char *q = malloc(n);
        CHECK(q != NULL, "malloc(%zu)", n);
        q[0] = 1; q[n - 1] = 2;
        CHECK(malloc_usable_size(q) >= n, "large usable");
        free(q);
    }
    errno = 0;
    CHECK(malloc(SIZE_MAX - 8192) == NULL && errno == ENOMEM, "malloc huge: errno %d", errno);
    puts("large ok");
}

static void *fork_worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) free(malloc((size_t)(i % 2000) + 1));
    return NULL;
}

static void do_fork(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, fork_worker, NULL);
    char *keep = strdup("parent data");
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            void *ptrs[1000];
            for (int i = 0; i < 1000; i++) ptrs[i] = malloc((size_t)(i * 37 % 3000) + 1);
            for (int i = 0; i < 1000; i++) free(ptrs[i]);
            if (strcmp(keep, "parent data") != 0) _exit(3);
            free(keep);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: status %d", st);
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    free(keep);
    puts("fork ok");
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) { if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0; fclose(f); }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

#define NBLK 200000
static void *blocks[NBLK];

static void *rss_worker(void *arg) {
    long k = (long)arg;
    for (long i = k; i < NBLK; i += 4) { blocks[i] = malloc(1000); memset(blocks[i], 1, 1000); }
    return NULL;
}

/* Allocates ~200 MB in 1000-byte blocks, frees everything, and reports RSS before and after.
 * threads: the blocks are allocated by 4 threads that exit before the main thread frees them. */
static void rss(int threads) {
    long base = rss_kib();
    if (threads) {
        pthread_t t[4];
        for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, rss_worker, (void *)i);
        for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    } else {
        for (long i = 0; i < NBLK; i++) { blocks[i] = malloc(1000); memset(blocks[i], 1, 1000); }
    }
    long peak = rss_kib();
    for (long i = 0; i < NBLK; i++) free(blocks[i]);
    /* A little later activity lets a delayed release run. */
    usleep(300000);
    for (int i = 0; i < 100; i++) free(malloc(64));
    long after = rss_kib();
    printf("rss base %ld peak %ld after %ld\n", base, peak, after);
}

static void *churn_worker(void *arg) {
    void **out = arg;
    for (int i = 0; i < 2000; i++) {
        void *p = malloc((size_t)(i * 13 % 1024) + 1);
        memset(p, i & 0xff, 1);
        if (i % 2) out[i / 2] = p; else free(p);
    }
    return NULL;
}

static void churn(void) {
    static void *kept[200][1000];
    for (int round = 0; round < 200; round++) {
        pthread_t t;
        pthread_create(&t, NULL, churn_worker, kept[round]);
        pthread_join(t, NULL);
        if (round >= 10) for (int i = 0; i < 1000; i++) free(kept[round - 10][i]);
    }
    for (int round = 190; round < 200; round++) for (int i = 0; i < 1000; i++) free(kept[round][i]);
    puts("churn ok");
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "api";
    if (!strcmp(mode, "api")) api();
    else if (!strcmp(mode, "fork")) do_fork();
    else if (!strcmp(mode, "rss")) rss(0);
    else if (!strcmp(mode, "threads-rss")) rss(1);
    else if (!strcmp(mode, "churn")) churn();
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    puts("ok");
    return 0;
}
