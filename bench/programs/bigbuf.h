/* bigbuf's loop, shared by the C (calloc) and C++ (new char[n]()) programs: LIVE slots, ITERS times a random
 * slot's buffer is released and replaced by a zeroed buffer of 5-25 MiB (the shape of mimalloc-bench's
 * "malloc-large"). Each new buffer is checked to be zero at sampled offsets (every 64 KiB and its last
 * byte) and then written at those offsets. The checksum mixes every size and the sampled bytes.
 * ALLOC(n) must return n zeroed bytes; RELEASE(p) gives them back. */
#define MIB (1024 * 1024)
#define STRIDE (64 * 1024)

static int bigbuf_main(int argc, char **argv, const char *name) {
    uint64_t iters = arg_u64(argc, argv, 1, 400, 1, 1ULL << 32, "ITERS");
    uint64_t live = arg_u64(argc, argv, 2, 20, 1, 1024, "LIVE");
    uint64_t seed = arg_u64(argc, argv, 3, 42, 0, UINT64_MAX, "SEED");
    if (argc > 4) die("usage: bigbuf [ITERS] [LIVE] [SEED]");
    rng_t r;
    rng_seed(&r, seed);
    char **slots = (char **)xcalloc(live, sizeof *slots);
    size_t *sizes = (size_t *)xcalloc(live, sizeof *sizes);
    uint64_t sum = 0, nonzero = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t k = rng_below(&r, live);
        if (slots[k]) {
            /* What was written is still there. */
            nonzero += slots[k][0] != (char)(sizes[k] & 0x7f) || slots[k][sizes[k] - 1] != 1;
            RELEASE(slots[k]);
        }
        size_t n = (size_t)rng_range(&r, 5 * MIB, 25 * MIB);
        char *p = ALLOC(n);
        for (size_t off = 0; off < n; off += STRIDE) { nonzero += p[off] != 0; p[off] = (char)(off >> 16); }
        nonzero += p[n - 1] != 0;
        p[0] = (char)(n & 0x7f);
        p[n - 1] = 1;
        sum += mix64(n);
        slots[k] = p;
        sizes[k] = n;
    }
    for (uint64_t k = 0; k < live; k++)
        if (slots[k]) RELEASE(slots[k]);
    free(slots);
    free(sizes);
    printf("%s checksum %016llx buffers %llu nonzero %llu\n", name, (unsigned long long)sum, (unsigned long long)iters,
           (unsigned long long)nonzero);
    return nonzero != 0;
}
