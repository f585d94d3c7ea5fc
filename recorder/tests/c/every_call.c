/* Calls every hooked function a known number of times with recognisable sizes (1000..1099) and prints
 * one line per call: "name arg... -> result". The test compares these lines with the trace. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = malloc(1000 + i);
        printf("malloc %d %p\n", 1000 + i, p[i]);
    }
    for (int i = 0; i < 8; i++) {
        printf("free %p\n", p[i]);
        free(p[i]);
    }
    void *c = calloc(3, 1010);
    printf("calloc 3 1010 %p\n", c);
    void *r = realloc(c, 1011);
    printf("realloc %p 1011 %p\n", c, r);
    void *ra = reallocarray(r, 2, 1012);
    printf("reallocarray %p 2 1012 %p\n", r, ra);
    volatile size_t huge = SIZE_MAX / 2;
    void *bad = reallocarray(ra, huge, 4);
    printf("reallocarray %p %zu 4 %p\n", ra, (size_t)huge, bad);
    free(ra);
    printf("free %p\n", ra);
    void *pm = NULL;
    int ret = posix_memalign(&pm, 64, 1020);
    printf("posix_memalign 64 1020 %p %d\n", pm, ret);
    void *pm2 = NULL;
    int ret2 = posix_memalign(&pm2, 3, 1021);
    printf("posix_memalign 3 1021 %p %d\n", pm2, ret2);
    void *aa = aligned_alloc(128, 1024);
    printf("aligned_alloc 128 1024 %p\n", aa);
    void *ma = memalign(256, 1030);
    printf("memalign 256 1030 %p\n", ma);
    void *va = valloc(1040);
    printf("valloc 1040 %p\n", va);
    void *pv = pvalloc(1050);
    printf("pvalloc 1050 %p\n", pv);
    printf("usable %d\n", malloc_usable_size(va) >= 1040);
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*fas)(void *, size_t, size_t) = (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (fs && fas) {
        fs(pm, 1020);
        printf("free_sized %p 1020\n", pm);
        fas(aa, 128, 1024);
        printf("free_aligned_sized %p 128 1024\n", aa);
    } else {
        free(pm);
        free(aa);
        printf("no free_sized\n");
    }
    free(ma);
    free(va);
    free(pv);
    free(NULL);
    return 0;
}
