/* workq — a multi-threaded work queue of tasks (the shape of a thread-pool server or build tool).
 *
 * Usage: workq [TASKS 200000] [WORKERS 4] [SEED 5]
 *
 * The main thread submits TASKS root tasks to a shared queue (a mutex and a condition variable) served by
 * WORKERS threads. A task is a malloc'd struct carrying a malloc'd text payload; a worker tokenizes the
 * payload into a linked list of malloc'd tokens, builds a malloc'd summary string from them, and either
 * splits the task into two child tasks (new payloads, submitted to the queue and so run by any worker) or
 * posts the summary as a result on a shared list. The main thread frees the results (allocated by the
 * workers) as it collects them; tasks and payloads are freed by whichever worker ran them. The checksum
 * sums the result hashes, so it does not depend on the schedule. */
#include "common.h"
#include <pthread.h>

typedef struct task { struct task *next; char *payload; uint64_t seed; int depth; } task_t;
typedef struct result { struct result *next; char *summary; } result_t;
typedef struct token { struct token *next; char *text; size_t len; } token_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_work = PTHREAD_COND_INITIALIZER, g_done = PTHREAD_COND_INITIALIZER;
static task_t *g_head, *g_tail;
static result_t *g_results;
static uint64_t g_pending; /* tasks submitted and not yet finished */
static int g_stop;

static char *make_payload(uint64_t seed, int depth) {
    rng_t r;
    rng_seed(&r, seed);
    size_t words = (size_t)rng_range(&r, 4, 24 + 8 * (uint64_t)depth), cap = words * 12 + 1, n = 0;
    char *p = xmalloc(cap);
    for (size_t w = 0; w < words; w++) {
        size_t len = (size_t)rng_range(&r, 1, 10);
        for (size_t i = 0; i < len; i++) p[n++] = (char)('a' + rng_below(&r, 26));
        p[n++] = ' ';
    }
    p[n] = 0;
    return p;
}

static void submit(task_t *t) {
    t->next = NULL;
    pthread_mutex_lock(&g_lock);
    if (g_tail) g_tail->next = t; else g_head = t;
    g_tail = t;
    g_pending++;
    pthread_cond_signal(&g_work);
    pthread_mutex_unlock(&g_lock);
}

static task_t *new_task(uint64_t seed, int depth) {
    task_t *t = xmalloc(sizeof *t);
    t->seed = seed;
    t->depth = depth;
    t->payload = make_payload(seed, depth);
    return t;
}

static void run(task_t *t) {
    token_t *list = NULL;
    size_t total = 0, count = 0;
    for (char *p = t->payload; *p;) {
        while (*p == ' ') p++;
        char *s = p;
        while (*p && *p != ' ') p++;
        if (p == s) break;
        token_t *k = xmalloc(sizeof *k);
        k->text = xstrndup(s, (size_t)(p - s));
        k->len = (size_t)(p - s);
        k->next = list;
        list = k;
        total += k->len;
        count++;
    }
    /* Summary: the tokens reversed, upper-cased, joined by '-'. */
    char *sum = xmalloc(total + count + 1), *q = sum;
    for (token_t *k = list, *next; k; k = next) {
        next = k->next;
        for (size_t i = 0; i < k->len; i++) *q++ = (char)(k->text[i] - 32);
        *q++ = '-';
        free(k->text);
        free(k);
    }
    *q = 0;
    uint64_t h = fnv1a(sum, (size_t)(q - sum), t->seed);
    if (t->depth < 3 && (h & 3) == 0) {
        free(sum);
        submit(new_task(mix64(h), t->depth + 1));
        submit(new_task(mix64(h + 1), t->depth + 1));
    } else {
        result_t *r = xmalloc(sizeof *r);
        r->summary = sum;
        pthread_mutex_lock(&g_lock);
        r->next = g_results;
        g_results = r;
        pthread_mutex_unlock(&g_lock);
    }
    free(t->payload);
    free(t);
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&g_lock);
        while (!g_head && !g_stop) pthread_cond_wait(&g_work, &g_lock);
        if (!g_head) { pthread_mutex_unlock(&g_lock); return NULL; }
        task_t *t = g_head;
        g_head = t->next;
        if (!g_head) g_tail = NULL;
        pthread_mutex_unlock(&g_lock);
        run(t);
        pthread_mutex_lock(&g_lock);
        if (--g_pending == 0) pthread_cond_broadcast(&g_done);
        pthread_mutex_unlock(&g_lock);
    }
}

static uint64_t collect(uint64_t *count) {
    pthread_mutex_lock(&g_lock);
    result_t *r = g_results;
    g_results = NULL;
    pthread_mutex_unlock(&g_lock);
    uint64_t sum = 0;
    for (result_t *next; r; r = next) {
        next = r->next;
        sum += mix64(fnv1a(r->summary, strlen(r->summary), 0));
        (*count)++;
        free(r->summary);
        free(r);
    }
    return sum;
}

int main(int argc, char **argv) {
    uint64_t tasks = arg_u64(argc, argv, 1, 200000, 0, 1ULL << 40, "TASKS");
    uint64_t workers = arg_u64(argc, argv, 2, 4, 1, 256, "WORKERS");
    uint64_t seed = arg_u64(argc, argv, 3, 5, 0, UINT64_MAX, "SEED");
    if (argc > 4) die("usage: workq [TASKS] [WORKERS] [SEED]");
    pthread_t *tids = xmalloc(workers * sizeof *tids);
    for (uint64_t w = 0; w < workers; w++)
        if (pthread_create(&tids[w], NULL, worker, NULL)) die("pthread_create failed");
    uint64_t sum = 0, results = 0;
    for (uint64_t i = 0; i < tasks; i++) {
        submit(new_task(mix64(seed * 1000003 + i), 0));
        if (i % 1024 == 1023) sum += collect(&results);
    }
    pthread_mutex_lock(&g_lock);
    while (g_pending) pthread_cond_wait(&g_done, &g_lock);
    g_stop = 1;
    pthread_cond_broadcast(&g_work);
    pthread_mutex_unlock(&g_lock);
    for (uint64_t w = 0; w < workers; w++) pthread_join(tids[w], NULL);
    sum += collect(&results);
    free(tids);
    printf("workq tasks %llu results %llu checksum %016llx\n", (unsigned long long)tasks,
           (unsigned long long)results, (unsigned long long)sum);
    return 0;
}
