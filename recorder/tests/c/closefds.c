/* A program that closes every descriptor it did not open (as daemons do) and reuses the numbers for
 * its own file, then allocates enough to make the recorder grow its trace. The program's file must be
 * left alone and the trace complete. Usage: closefds FILE; prints N and the size of FILE. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int fd = 3; fd < 1024; fd++) close(fd);
    int own = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    int n = 200000;
    for (int i = 0; i < n; i++) {
        void *p = malloc(9001);
        free(p);
    }
    if (write(own, "hello", 5) != 5) return 1;
    struct stat st;
    fstat(own, &st);
    printf("%d %lld %d\n", n, (long long)st.st_size, own);
    return 0;
}
