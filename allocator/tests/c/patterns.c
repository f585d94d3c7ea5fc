/* Memory patterns of real programs (issue 11), run under LD_PRELOAD=libhakmem.so by tests/preload.rs, which
 * checks the RSS figures printed here (never the time). Usage: patterns MODE
 *   prodcons    a producer allocates 16..1024 B blocks into a bounded queue (backlog 20000), a consumer frees
 *               them: prints the peak RSS growth and the largest possible live bytes.
 *   leaveone    1000 rounds of 2 threads that allocate 1000 blocks, free all but one, exit: prints RSS growth
 *               and the bytes left live.
 *   churn       larson-like: 4 positions, 400 generations of threads each replacing 200 of 2000 blocks and
 *               handing the array to a successor; then the main thread frees everything: prints RSS growth at
 *               the peak, after the frees, and after 600 ms idle.
 *   bigbuf      200 buffers of 5..25 MiB, zeroed, 6 live, freed at random; checks every buffer reads zero and
 *               prints the peak RSS growth and the largest live bytes.
 *   idle        8 buffers of 4 MiB written and freed (kept for reuse), then 500 ms without any allocator call:
 *               prints RSS growth after the frees and after the idle time, the process's threads right after
 *               the frees and glibc's __libc_single_threaded at the end.
 *   idle-threaded  the same after starting and joining one thread of the program's own.
 * Output: one line "MODE key=value ..." with sizes in KiB. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <unistd.h>

static uint64_t rnd(uint64_t *s) { *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27; return *s * 0x2545F4914F6CDD1DULL; }
static uint64_t below(uint64_t *s, uint64_t n) { return (uint64_t)(((unsigned __int128)rnd(s) * n) >> 64); }
static long status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') { v = atol(line + n + 1); break; }
    if (f) fclose(f);
    return v;
}
#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

/* ---- prodcons ---- */
#define CAP 20000
static void *queue[CAP];
static long head, tail, items = 1000000;
static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qne = PTHREAD_COND_INITIALIZER, qnf = PTHREAD_COND_INITIALIZER;
static void *producer(void *a) {
    uint64_t s = 12345;
    (void)a;
    for (long i = 0; i < items; i++) {
        size_t n = 16 + below(&s, 1009);
        unsigned char *p = malloc(n);
        p[0] = (unsigned char)n; p[n - 1] = 7;
        pthread_mutex_lock(&qm);
        while (tail - head == CAP) pthread_cond_wait(&qnf, &qm);
        queue[tail++ % CAP] = p;
        pthread_cond_signal(&qne);
        pthread_mutex_unlock(&qm);
    }
    return NULL;
}
static void *consumer(void *a) {
    (void)a;
    for (long i = 0; i < items; i++) {
        pthread_mutex_lock(&qm);
        while (tail == head) pthread_cond_wait(&qne, &qm);
        unsigned char *p = queue[head++ % CAP];
        pthread_cond_signal(&qnf);
        pthread_mutex_unlock(&qm);
        volatile long sum = 0;
        for (int k = 0; k < 100; k++) sum += k ^ p[0];
        free(p);
    }
    return NULL;
}
static void prodcons(void) {
    long base = status_kb("VmRSS");
    pthread_t p, c;
    pthread_create(&p, NULL, producer, NULL);
    pthread_create(&c, NULL, consumer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    printf("prodcons peak_growth=%ld live_max=%ld\n", status_kb("VmHWM") - base, (long)CAP * 1024 / 1024);
}

/* ---- leaveone ---- */
static void *kept[4000];
static int nkept;
static pthread_mutex_t km = PTHREAD_MUTEX_INITIALIZER;
static void *leaver(void *a) {
    uint64_t s = (uintptr_t)a * 7919 + 1;
    void *v[1000];
    for (int i = 0; i < 1000; i++) { size_t n = 8 + below(&s, 2000); v[i] = malloc(n); memset(v[i], 2, n); }
    int keep = (int)below(&s, 1000);
    for (int i = 0; i < 1000; i++) if (i != keep) free(v[i]);
    pthread_mutex_lock(&km);
    kept[nkept++] = v[keep];
    pthread_mutex_unlock(&km);
    return NULL;
}
static void leaveone(void) {
    long base = status_kb("VmRSS");
    for (int r = 0; r < 1000; r++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, leaver, (void *)(uintptr_t)(r * 2 + i + 1));
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    }
    long now = status_kb("VmRSS");
    printf("leaveone growth=%ld peak_growth=%ld live=%ld\n", now - base, status_kb("VmHWM") - base, (long)nkept * 2008 / 1024);
}

/* ---- churn ---- */
#define POS 4
#define SLOTS 2000
#define GENS 400
struct pos { void **arr; int gen; uint64_t seed; };
static struct pos pos[POS];
static void *churner(void *a_) {
    struct pos *a = a_;
    uint64_t s = a->seed;
    for (int i = 0; i < 200; i++) {
        int k = (int)below(&s, SLOTS);
        size_t n = 8 + below(&s, 993);
        free(a->arr[k]);
        char *p = malloc(n);
        p[0] = 1; p[n - 1] = 2;
        a->arr[k] = p;
    }
    a->seed = rnd(&s);
    if (__atomic_add_fetch(&a->gen, 1, __ATOMIC_ACQ_REL) < GENS) {
        pthread_t t;
        pthread_create(&t, NULL, churner, a);
        pthread_detach(t);
    }
    return NULL;
}
static void churn(void) {
    long base = status_kb("VmRSS");
    uint64_t s = 99;
    for (int p = 0; p < POS; p++) {
        pos[p].arr = calloc(SLOTS, sizeof(void *));
        pos[p].seed = p + 1;
    }
    for (int p = 0; p < POS; p++) {
        pthread_t t;
        pthread_create(&t, NULL, churner, &pos[p]);
        pthread_detach(t);
    }
    for (;;) {
        int done = 0;
        for (int p = 0; p < POS; p++) done += __atomic_load_n(&pos[p].gen, __ATOMIC_ACQUIRE) >= GENS;
        if (done == POS) break;
        usleep(1000);
    }
    usleep(50000); /* the last threads finish exiting */
    (void)s;
    long peak = status_kb("VmHWM") - base;
    for (int p = 0; p < POS; p++) {
        for (int k = 0; k < SLOTS; k++) free(pos[p].arr[k]);
        free(pos[p].arr);
    }
    long after = status_kb("VmRSS") - base;
    usleep(600000);
    long idle = status_kb("VmRSS") - base;
    printf("churn peak_growth=%ld after_free=%ld after_idle=%ld live_max=%ld\n", peak, after, idle,
           (long)POS * SLOTS * 1008 / 1024);
}

/* ---- bigbuf ---- */
static void bigbuf(void) {
    long base = status_kb("VmRSS");
    uint64_t s = 42;
    enum { LIVE = 6 };
    char *v[LIVE] = {0};
    size_t len[LIVE] = {0};
    size_t live_max = 0;
    for (int i = 0; i < 200; i++) {
        int k = (int)below(&s, LIVE);
        free(v[k]);
        size_t n = (5u << 20) + below(&s, 20u << 20);
        v[k] = calloc(n, 1);
        len[k] = n;
        if (!v[k]) FAIL("calloc(%zu) failed", n);
        for (size_t off = 0; off < n; off += 4093)
            if (v[k][off]) FAIL("calloc(%zu): byte %zu is %d", n, off, v[k][off]);
        if (v[k][n - 1]) FAIL("calloc(%zu): last byte is %d", n, v[k][n - 1]);
        memset(v[k], 0x5a, n);
        size_t live = 0;
        for (int j = 0; j < LIVE; j++) live += len[j];
        if (live > live_max) live_max = live;
    }
    for (int k = 0; k < LIVE; k++) free(v[k]);
    printf("bigbuf peak_growth=%ld live_max=%ld\n", status_kb("VmHWM") - base, (long)(live_max >> 10));
}

/* ---- idle ---- */
static void *nothing(void *arg) { return arg; }

/* `threaded`: first start and join a thread of the program's own (glibc leaves single-threaded mode). Prints
 * the process's threads right after the frees and glibc's single-threaded flag at the end. */
static void idle(int threaded) {
    if (threaded) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0) FAIL("pthread");
    }
    long base = status_kb("VmRSS");
    char *v[8];
    for (int i = 0; i < 8; i++) { v[i] = malloc(4u << 20); memset(v[i], 1, 4u << 20); }
    for (int i = 0; i < 8; i++) free(v[i]);
    long after = status_kb("VmRSS") - base;
    long threads = status_kb("Threads");
    usleep(500000);
    printf("idle after_free=%ld after_idle=%ld threads=%ld single=%d\n", after, status_kb("VmRSS") - base,
           threads, (int)__libc_single_threaded);
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "prodcons")) prodcons();
    else if (!strcmp(m, "leaveone")) leaveone();
    else if (!strcmp(m, "churn")) churn();
    else if (!strcmp(m, "bigbuf")) bigbuf();
    else if (!strcmp(m, "idle")) idle(0);
    else if (!strcmp(m, "idle-threaded")) idle(1);
    else FAIL("usage: patterns prodcons|leaveone|churn|bigbuf|idle|idle-threaded");
    return 0;
}
