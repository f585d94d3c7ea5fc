/* vfork + exec: the child shares the parent's memory (and the recorder's state) until it execs; the
 * parent's trace must not be ended by the child's exec. Allocates 8001 bytes before and 8002 after. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    void *a = malloc(8001);
    free(a);
    pid_t child = vfork();
    if (child == 0) {
        char *args[] = {"sh", "-c", "exit 0", NULL};
        execv("/bin/sh", args);
        _exit(127);
    }
    int st;
    waitpid(child, &st, 0);
    void *b = malloc(8002);
    free(b);
    printf("%d %d\n", getpid(), child);
    return 0;
}
