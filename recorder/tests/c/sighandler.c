/* A signal handler that allocates: a profiling timer interrupts a loop of free(NULL) calls (which take
 * no allocator lock, so the handler's malloc cannot deadlock in the C library) and most interrupts land
 * inside the recorder's hook. Prints "loops handler_calls". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

static volatile long handled = 0;

static void on_prof(int sig) {
    (void)sig;
    void *p = malloc(6001);
    free(p);
    handled++;
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_prof;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_PROF, &it, NULL);
    long loops = 0;
    while (handled < 300) {
        for (int i = 0; i < 1000; i++) {
            free(NULL);
        }
        loops += 1000;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    printf("%ld %ld\n", loops, handled);
    return 0;
}
