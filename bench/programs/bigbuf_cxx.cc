// bigbuf_cxx — bigbuf with C++'s `new char[n]()` (operator new[] then value-initialisation, i.e. a memset
// of every byte, as std::make_unique<char[]>(n) does) and `delete[]`. The allocator cannot skip the zeroing
// here; it can only make it cheap (memory the kernel gave fresh is already zero, but the program writes it).
// Usage: bigbuf_cxx [ITERS 400] [LIVE 20] [SEED 42]; prints "bigbuf checksum HEX buffers N nonzero 0".
#include "common.h"
#include <new>

static char *alloc_zeroed(size_t n) { return new char[n](); }
#define ALLOC(n) alloc_zeroed(n)
#define RELEASE(p) delete[](p)
#include "bigbuf.h"

int main(int argc, char **argv) { return bigbuf_main(argc, argv, "bigbuf"); }
