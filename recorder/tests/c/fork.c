/* Fork without exec: the parent allocates 3001-byte blocks, the child 3002-byte blocks, the parent
 * 3003 after the child exits. Prints "parent PID child PID". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    void *a = malloc(3001);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < 10; i++) {
            void *c = malloc(3002);
            free(c);
        }
        free(a);
        exit(0);
    }
    int st;
    waitpid(child, &st, 0);
    void *b = malloc(3003);
    free(b);
    free(a);
    printf("parent %d child %d\n", getpid(), child);
    return 0;
}
