/* A thread that allocates in its TLS (pthread key) destructor: 7001-byte blocks allocated and freed
 * while the thread is exiting. Prints the thread id. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_key_t key;
static pid_t tid;

static void dtor(void *v) {
    free(v);
    void *p = malloc(7001);
    free(p);
}

static void *run(void *arg) {
    (void)arg;
    tid = gettid();
    pthread_setspecific(key, malloc(7000));
    return NULL;
}

int main(void) {
    pthread_key_create(&key, dtor);
    pthread_t t;
    pthread_create(&t, NULL, run, NULL);
    pthread_join(t, NULL);
    printf("%d\n", tid);
    return 0;
}
