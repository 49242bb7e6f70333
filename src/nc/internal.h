/* nc internals shared by the kernel files (not part of the public API). */
#ifndef LC_NC_INTERNAL_H
#define LC_NC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nc/nc.h"

/*
 * Per-constant tables, filled once before any kernel runs (gf.c):
 *   nc__gf_split[c]: c * (0..15) then c * (0x00, 0x10, .., 0xf0), the
 *                    split-table layout of ISA-L's gf_vect_mul_init();
 *   nc__gf_affine[c]: the 8x8 bit matrix of x -> c*x for gf2p8affineqb
 *                    (byte 7-i holds the row producing output bit i).
 */
extern uint8_t nc__gf_split[256][32];
extern uint64_t nc__gf_affine[256];

/* Make sure the tables are filled (idempotent, thread-safe). */
void nc__gf_init(void);

/* Scalar fallback on the split tables, for short tails of SIMD kernels. */
static inline void nc__gf_madd_tail(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	const uint8_t *t = nc__gf_split[c];
	for (size_t i = 0; i < n; i++)
		dst[i] ^= (uint8_t)(t[src[i] & 15] ^ t[16 + (src[i] >> 4)]);
}

static inline void nc__gf_mul_tail(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	const uint8_t *t = nc__gf_split[c];
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)(t[src[i] & 15] ^ t[16 + (src[i] >> 4)]);
}

/* CPU features (cpuid with OS support checked through xgetbv). */
bool nc__cpu_avx2(void);
bool nc__cpu_gfni_avx2(void);
bool nc__cpu_gfni_avx512(void);

/* Kernel sets defined in the other files. */
extern const struct nc_gf_kernel nc__gf_kernel_isal;
extern const struct nc_gf_kernel nc__gf_kernel_avx2;
extern const struct nc_gf_kernel nc__gf_kernel_gfni_avx2;
extern const struct nc_gf_kernel nc__gf_kernel_gfni_avx512;

#endif
