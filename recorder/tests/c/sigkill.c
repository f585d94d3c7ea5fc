/* Allocates and frees N blocks of 5001 bytes, prints N, then kills itself with SIGKILL: the trace must
 * still be readable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    int n = 50000;
    for (int i = 0; i < n; i++) {
        void *p = malloc(5001);
        free(p);
    }
    printf("%d\n", n);
    fflush(stdout);
    kill(getpid(), SIGKILL);
    return 0;
}
