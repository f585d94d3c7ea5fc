/* bigbuf — buffers of 5-25 MiB allocated zeroed with calloc and freed at random, 20 live.
 * Usage: bigbuf [ITERS 400] [LIVE 20] [SEED 42]; prints "bigbuf checksum HEX buffers N nonzero 0". */
#include "common.h"

static char *alloc_zeroed(size_t n) { return xcalloc(n, 1); }
#define ALLOC(n) alloc_zeroed(n)
#define RELEASE(p) free(p)
#include "bigbuf.h"

int main(int argc, char **argv) { return bigbuf_main(argc, argv, "bigbuf"); }
