/* Two threads: the producer allocates N blocks of 2001 bytes, the consumer frees them (cross-thread
 * frees). Prints the thread ids. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N 20000
static void *blocks[N];
static volatile int produced = 0;
static pid_t tids[2];

static void *producer(void *arg) {
    (void)arg;
    tids[0] = gettid();
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(2001);
        __atomic_store_n(&produced, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    tids[1] = gettid();
    for (int i = 0; i < N; i++) {
        while (__atomic_load_n(&produced, __ATOMIC_ACQUIRE) <= i) {
        }
        free(blocks[i]);
    }
    return NULL;
}

int main(void) {
    pthread_t a, b;
    pthread_create(&b, NULL, consumer, NULL);
    pthread_create(&a, NULL, producer, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%d %d %d\n", N, tids[0], tids[1]);
    return 0;
}
