/* Flush-to-zero for a whole process, for benchmarking only: LD_PRELOAD this library and its
 * constructor sets MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) bits on the
 * main thread before main runs; threads created later (OpenBLAS's) inherit them. bench.sh
 * builds it (cc -O2 -shared -fPIC) into target/ and runs numpy's loop once under it, to
 * compare cinerec with numpy when both are spared subnormal arithmetic. x86-64 only. */
#include <xmmintrin.h>

__attribute__((constructor)) static void flush_subnormals_to_zero(void) {
    _mm_setcsr(_mm_getcsr() | 0x8040);
}
