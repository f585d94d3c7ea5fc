/* The recorder's floor, for scripts/bench-recorder.sh: an LD_PRELOAD library whose malloc and free do
 * only what any trace recorder cannot avoid — interposition (the call reaches this library, which calls
 * glibc's __libc_malloc/__libc_free), one rdtsc and one 8-byte store per call into a fresh MAP_SHARED
 * file mapping (page faults of the mapping included). Each thread writes its own 1 MiB window of the file,
 * claimed with one atomic add; the file is extended with ftruncate when a window lies beyond its end.
 * The store is the timestamp itself, so nothing can be optimised away. The file: $FLOOR_FILE (required).
 * Build: gcc -O2 -shared -fPIC -o libfloor.so floor_preload.c */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

#define WINDOW (1u << 20)
static int fd = -1;
static uint64_t next_window;
static uint64_t file_len;
static __thread uint64_t *cur, *end;

__attribute__((noinline, cold)) static void new_window(void) {
    if (fd < 0) {
        const char *path = getenv("FLOOR_FILE");
        if (!path) abort();
        int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (f < 0) abort();
        int expected = -1;
        if (!__atomic_compare_exchange_n(&fd, &expected, f, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) close(f);
    }
    uint64_t off = __atomic_fetch_add(&next_window, WINDOW, __ATOMIC_RELAXED);
    uint64_t need = off + WINDOW, len = __atomic_load_n(&file_len, __ATOMIC_ACQUIRE);
    while (len < need) {
        uint64_t grown = need * 2;
        if (__atomic_compare_exchange_n(&file_len, &len, grown, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            if (ftruncate(fd, (off_t)grown) != 0) abort();
            break;
        }
    }
    void *p = mmap(NULL, WINDOW, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
    if (p == MAP_FAILED) abort();
    cur = p;
    end = cur + WINDOW / 8;
}

static inline void stamp(void) {
    if (__builtin_expect(cur == end, 0)) new_window();
    *cur++ = __rdtsc();
}

void *malloc(size_t n) {
    void *p = __libc_malloc(n);
    stamp();
    return p;
}

void free(void *p) {
    stamp();
    __libc_free(p);
}
