/*
 * ISA-L's region kernels (its own run-time dispatch: SSE, AVX, AVX2,
 * AVX-512) behind our kernel interface. ISA-L wants at least 64 bytes for
 * gf_vect_mad and 32 for gf_vect_dot_prod and finishes a ragged end by
 * redoing an overlapping last vector (of up to 64 bytes), which is wrong when
 * dst is src; there we hand it whole 64-byte vectors and do the rest here.
 */
#include <string.h>

#include <isa-l/erasure_code.h>

#include "nc/internal.h"

static bool isal_supported(void)
{
	return true;
}

static void isal_madd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	if (!c)
		return;
	size_t head = n;
	if (dst == src)
		head &= ~(size_t)63;
	if (head >= 64 && head <= INT32_MAX) {
		gf_vect_mad((int)head, 1, 0, nc__gf_split[c], (unsigned char *)src, dst);
	} else {
		head = 0;
	}
	nc__gf_madd_tail(dst + head, src + head, c, n - head);
}

static void isal_dot(uint8_t *dst, const uint8_t *const *src, const uint8_t *c, size_t nsrc,
		     size_t n)
{
	if (!nsrc) {
		memset(dst, 0, n);
		return;
	}
	size_t first = nsrc < 256 ? nsrc : 256;
	unsigned char tbl[256 * 32];
	for (size_t i = 0; i < first; i++)
		memcpy(tbl + 32 * i, nc__gf_split[c[i]], 32);
	if (n >= 32 && n <= INT32_MAX) {
		gf_vect_dot_prod((int)n, (int)first, tbl, (unsigned char **)src, dst);
	} else {
		nc__gf_mul_tail(dst, src[0], c[0], n);
		for (size_t i = 1; i < first; i++)
			nc__gf_madd_tail(dst, src[i], c[i], n);
	}
	for (size_t i = first; i < nsrc; i++)
		isal_madd(dst, src[i], c[i], n);
}

static void isal_mul(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n)
{
	if (dst != src) {
		isal_dot(dst, &src, &c, 1, n);
		return;
	}
	size_t head = n & ~(size_t)63;
	if (head && head <= INT32_MAX)
		isal_dot(dst, &src, &c, 1, head);
	else
		head = 0;
	nc__gf_mul_tail(dst + head, src + head, c, n - head);
}

const struct nc_gf_kernel nc__gf_kernel_isal = {
	.name = "isal",
	.supported = isal_supported,
	.madd = isal_madd,
	.mul = isal_mul,
	.dot = isal_dot,
};
