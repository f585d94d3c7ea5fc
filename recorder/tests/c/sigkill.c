/* Allocates and frees N blocks of 5001 bytes, prints N, then kills itself with SIGKILL (or, with the
 * argument "segv", crashes with SIGSEGV): the trace must still be readable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = 50000;
    for (int i = 0; i < n; i++) {
        void *p = malloc(5001);
        free(p);
    }
    printf("%d\n", n);
    fflush(stdout);
    if (argc > 1) {
        *(volatile int *)argv[argc] = 1; /* argv[argc] is NULL: SIGSEGV */
    }
    kill(getpid(), SIGKILL);
    return 0;
}
