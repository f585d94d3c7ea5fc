/* measure — runs one command and reports what it cost, for scripts/suite.py.
 *
 * Usage: measure [--preload SO] OUT -- CMD ARGS...
 *
 * Forks, sets LD_PRELOAD=SO in the child only (when given), execs CMD (searched in PATH), waits for it with
 * wait4 and writes one line to OUT: "wall_ns status utime_us stime_us maxrss_kib minflt majflt", where
 * status is the raw wait status. The child inherits stdin, stdout and stderr.
 *
 * Why a separate process: ru_maxrss survives execve (the kernel keeps the larger of the old and the new
 * image's peak), so a program forked from the Python runner (20+ MB) would report at least the runner's
 * RSS. Forked from this small process instead, the floor is ~1 MB. Exit status: 0 when the command was run
 * and measured (whatever its own status), 2 on bad usage, 127 when it could not be started. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int i = 1;
    const char *preload = NULL;
    if (i + 1 < argc && strcmp(argv[i], "--preload") == 0) { preload = argv[i + 1]; i += 2; }
    if (i + 2 >= argc || strcmp(argv[i + 1], "--") != 0) {
        fprintf(stderr, "error: usage: measure [--preload SO] OUT -- CMD ARGS...\n");
        return 2;
    }
    const char *out = argv[i];
    char **cmd = &argv[i + 2];
    FILE *f = fopen(out, "w");
    if (!f) { fprintf(stderr, "error: cannot write %s: %s\n", out, strerror(errno)); return 2; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { fprintf(stderr, "error: fork: %s\n", strerror(errno)); return 127; }
    if (pid == 0) {
        if (preload && setenv("LD_PRELOAD", preload, 1) != 0) _exit(127);
        if (!preload) unsetenv("LD_PRELOAD");
        execvp(cmd[0], cmd);
        fprintf(stderr, "error: cannot run %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) { fprintf(stderr, "error: wait4: %s\n", strerror(errno)); return 127; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    fprintf(f, "%lld %d %lld %lld %ld %ld %ld\n", wall, status,
            (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss, ru.ru_minflt, ru.ru_majflt);
    if (fclose(f) != 0) { fprintf(stderr, "error: writing %s failed\n", out); return 2; }
    return 0;
}
