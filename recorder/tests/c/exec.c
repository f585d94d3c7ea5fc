/* exec: stage 1 allocates 4001 bytes and execs itself as stage 2, which allocates 4002 bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "stage2") == 0) {
        void *p = malloc(4002);
        free(p);
        printf("stage2 %d\n", getpid());
        return 0;
    }
    void *p = malloc(4001);
    free(p);
    char *args[] = {argv[0], "stage2", NULL};
    execv("/proc/self/exe", args);
    perror("execv");
    return 1;
}
