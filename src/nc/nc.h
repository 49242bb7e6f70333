/*
 * nc: GF(2^8) arithmetic and random linear network coding (RLNC).
 *
 * The field. GF(2^8) is the set of bytes with + = XOR and * = polynomial
 * multiplication modulo p(x) = x^8 + x^4 + x^3 + x^2 + 1 (0x11D, the
 * polynomial of ISA-L and of most erasure codes). x (the byte 2) generates
 * the multiplicative group, so a*b = exp[log a + log b]: that is the plain C
 * reference. Multiplying by a fixed constant c is linear over GF(2), i.e. an
 * 8x8 bit matrix M_c, which gives the two fast region kernels:
 *   - split tables: c*x = c*(x & 0x0f) ^ c*(x & 0xf0), two 16-entry tables
 *     looked up 32 or 64 bytes at a time with (v)pshufb (AVX2, ISA-L);
 *   - GFNI: gf2p8affineqb applies M_c to 64 bytes in one instruction. (The
 *     GFNI multiply gf2p8mulb is hard-wired to 0x11B and is not usable here.)
 * The region kernels are dst ^= c*src (madd), dst = c*src (mul) and
 * dst = sum_i c_i*src_i (dot, the many-source form that keeps dst in
 * registers). They dispatch at run time (cpuid + xgetbv) to the fastest path
 * the CPU has; every path stays callable through nc_gf_kernels() so tests
 * check each against the reference and the benchmark measures each.
 *
 * The code. A generation is len bytes cut into k blocks x_0..x_{k-1} of B
 * bytes (the last one zero-padded; len is kept). A coded block is a pair
 * (v, y) with a k-byte coefficient vector v and y = sum_j v_j x_j (B bytes);
 * the pair always travels together. The encoder sends the source blocks
 * first (v = unit vectors: systematic) and then dense random combinations.
 * Any linear combination of coded blocks is again a coded block, with the
 * same combination of their vectors: sum_i a_i (v_i, y_i). A relay recodes
 * that way from whatever it holds, before it can decode, and everything it
 * sends is useful to a neighbour whose span does not already contain it.
 *
 * The decoder. It keeps the innovative blocks it received, (V_m, Y_m) in
 * arrival order, and runs Gauss-Jordan elimination progressively on the
 * coefficient side only: the augmented rows [R | T] with R in reduced row
 * echelon form and R = T V. A new vector v is reduced in one step,
 * u = v - sum_i v[p_i] R_i (p_i the pivot of row i; reduced form makes the
 * factors independent of each other); u = 0 means the block adds no rank and
 * it is rejected at once (LC_EDEPENDENT, counted) without touching state;
 * otherwise u is normalised at its first non-zero column and eliminated from
 * the other rows. The rank is known after every block. At rank k, R = I so
 * T = V^-1 and the source is x = T Y: the payload work is done once, as
 * column stripes of many-source dot products, in place. Per generation that
 * costs about k^2 multiply-adds of B bytes (as eager Gauss-Jordan), but
 * with dst in registers and the payload rows hot in cache, and only k^2
 * small operations on 2k-byte coefficient rows on the way. The stored blocks
 * are valid coded blocks, so the decoder is also the recoder's store.
 *
 * No global state apart from the kernel dispatch table; random coefficients
 * come from a caller's struct lc_rng; nothing allocates per block.
 */
#ifndef LC_NC_H
#define LC_NC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---- GF(2^8), polynomial 0x11D -------------------------------------------- */

#define NC_GF_POLY 0x11D

/* Scalar reference arithmetic (log/exp tables). nc_gf_inv(0) is 0. */
uint8_t nc_gf_mul(uint8_t a, uint8_t b);
uint8_t nc_gf_inv(uint8_t a);
/* a / b; b must not be 0. */
uint8_t nc_gf_div(uint8_t a, uint8_t b);

/*
 * Region kernels through the dispatch table. n is any length (0 allowed);
 * there is no alignment requirement. dst and src are either the same region
 * or do not overlap; for dot, dst overlaps no source.
 */
void nc_gf_madd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n); /* dst ^= c*src */
void nc_gf_mul_region(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n); /* dst = c*src */
/* dst = sum_{i<nsrc} c[i]*src[i] (nsrc 0: dst = 0). */
void nc_gf_dot(uint8_t *dst, const uint8_t *const *src, const uint8_t *c, size_t nsrc, size_t n);

/* One implementation of the region kernels. */
struct nc_gf_kernel {
	const char *name;      /* "ref", "isal", "avx2", "gfni-avx2", "gfni-avx512" */
	bool (*supported)(void); /* may this CPU and OS run it? */
	void (*madd)(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n);
	void (*mul)(uint8_t *dst, const uint8_t *src, uint8_t c, size_t n);
	void (*dot)(uint8_t *dst, const uint8_t *const *src, const uint8_t *c, size_t nsrc,
		    size_t n);
};

/*
 * All compiled-in kernels, the C reference first. Call only the entries whose
 * supported() is true. Dispatch prefers gfni-avx512, then isal where the CPU
 * has AVX-512BW, then gfni-avx2, avx2, isal, ref.
 */
const struct nc_gf_kernel *const *nc_gf_kernels(size_t *count);
/* The kernel in use. */
const struct nc_gf_kernel *nc_gf_kernel_active(void);
/*
 * Use the named kernel from now on (NULL: back to the automatic choice).
 * LC_ENOENT for an unknown name, LC_ENOTSUP if this CPU cannot run it. Meant
 * for tests and benchmarks; it is process-wide.
 */
int nc_gf_kernel_use(const char *name);

/* ---- generations ------------------------------------------------------------ */

#define NC_MAX_K 256
#define NC_MAX_BLOCK 65536

/*
 * Blocks needed for len bytes in blocks of B bytes: ceil(len / B). LC_EINVAL
 * if len is 0 or B is 0 or above NC_MAX_BLOCK, LC_ERANGE if it exceeds
 * NC_MAX_K.
 */
int nc_gen_k(size_t len, size_t block_size);

/* ---- encoder ---------------------------------------------------------------- */

struct nc_enc;

/*
 * A source encoder over a copy of data[0..len), k blocks of block_size bytes,
 * 1 <= len <= k*block_size (the rest of the last blocks is zero). LC_EINVAL
 * for bad arguments, LC_ENOMEM.
 */
int nc_enc_new(struct nc_enc **out, unsigned k, size_t block_size, const void *data,
	       size_t len);
void nc_enc_free(struct nc_enc *e);
unsigned nc_enc_k(const struct nc_enc *e);
size_t nc_enc_block_size(const struct nc_enc *e);
size_t nc_enc_len(const struct nc_enc *e);

/*
 * The next block: the k source blocks in order (unit vectors), then dense
 * random combinations (every coefficient non-zero, drawn from rng). coef gets
 * k bytes, payload block_size bytes. Returns 1 for a systematic block, 0 for
 * a coded one.
 */
int nc_enc_next(struct nc_enc *e, struct lc_rng *rng, uint8_t *coef, uint8_t *payload);
/* Source block i with its unit vector. */
int nc_enc_systematic(const struct nc_enc *e, unsigned i, uint8_t *coef, uint8_t *payload);
/* A dense random combination. */
int nc_enc_coded(const struct nc_enc *e, struct lc_rng *rng, uint8_t *coef, uint8_t *payload);
/* The payload for a given coefficient vector (k bytes). */
int nc_enc_combine(const struct nc_enc *e, const uint8_t *coef, uint8_t *payload);

/* ---- decoder and recoder ---------------------------------------------------- */

struct nc_dec;

/*
 * A progressive decoder for one generation (k, block_size, true length len,
 * 1 <= len <= k*block_size). One allocation of about k*(3k + block_size)
 * bytes plus a stripe buffer of at most max(32 KiB, 256*k) bytes.
 */
int nc_dec_new(struct nc_dec **out, unsigned k, size_t block_size, size_t len);
void nc_dec_free(struct nc_dec *d);
/* Start over for another generation of the same k and block_size. */
int nc_dec_reset(struct nc_dec *d, size_t len);

/*
 * Offer one coded block (coef_len must be k, payload_len block_size).
 * Returns the new rank (1..k) if the block was innovative; LC_EDEPENDENT if
 * it adds no rank (including any block after completion; counted, state
 * otherwise unchanged); LC_EINVAL for bad arguments (nothing changed). The
 * block reaching rank k also solves the generation.
 */
int nc_dec_add(struct nc_dec *d, const uint8_t *coef, size_t coef_len, const uint8_t *payload,
	       size_t payload_len);
unsigned nc_dec_rank(const struct nc_dec *d);
bool nc_dec_complete(const struct nc_dec *d);
/* Blocks rejected as non-innovative since creation or the last reset. */
uint64_t nc_dec_rejected(const struct nc_dec *d);
unsigned nc_dec_k(const struct nc_dec *d);
size_t nc_dec_block_size(const struct nc_dec *d);
size_t nc_dec_len(const struct nc_dec *d);
/* Source block i (block_size bytes) once complete, else NULL. */
const uint8_t *nc_dec_block(const struct nc_dec *d, unsigned i);
/* Copy the generation's len source bytes to dst (cap >= len). LC_ESTATE
 * before completion, LC_EINVAL if cap is short. Returns len. */
int nc_dec_copy(const struct nc_dec *d, void *dst, size_t cap);

/*
 * The i-th block held (0 <= i < rank), as it was received: its k-byte
 * coefficient vector and block_size-byte payload, valid until the next call
 * that changes the decoder. Before completion only (LC_ESTATE after it, when
 * nc_dec_block() gives the source); LC_ERANGE for i >= rank. Plain-chunk
 * relays use it to hand on a chunk they hold.
 */
int nc_dec_held(const struct nc_dec *d, unsigned i, const uint8_t **coef, const uint8_t **payload);

/*
 * Recode: a random combination (non-zero coefficients from rng) of the
 * blocks the decoder holds, at any rank >= 1; the coefficient vector is
 * carried through (k bytes to coef, block_size to payload). LC_EAGAIN at
 * rank 0.
 */
int nc_dec_recode(const struct nc_dec *d, struct lc_rng *rng, uint8_t *coef, uint8_t *payload);

/*
 * Stateless recoding of n coded blocks (coefs[i]: k bytes, payloads[i]:
 * block_size bytes; 1 <= n <= NC_MAX_K) into one, with random non-zero
 * weights from rng.
 */
int nc_recode(unsigned k, size_t block_size, unsigned n, const uint8_t *const *coefs,
	      const uint8_t *const *payloads, struct lc_rng *rng, uint8_t *coef,
	      uint8_t *payload);

#endif
