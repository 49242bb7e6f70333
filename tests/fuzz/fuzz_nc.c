/*
 * Fuzz the RLNC decoder with arbitrary coded blocks (coefficient vectors and
 * payloads straight from the input), recoded blocks, duplicates and calls
 * with bad lengths. Checks: the rank only grows by one per accepted block,
 * rank + rejected = valid blocks offered, bad calls change nothing, and at
 * rank k every accepted block is consistent with the decoded source
 * (y = sum_j v_j x_j, checked with the scalar reference).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nc/nc.h"

#define MAXK 24
#define MAXB 160

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned k = 1 + data[0] % MAXK;
	size_t bs = 1 + data[1] % MAXB;
	struct lc_rng rng;
	lc_rng_seed(&rng, data[2]);
	data += 3;
	size -= 3;
	struct nc_dec *d;
	if (nc_dec_new(&d, k, bs, k * bs))
		abort();
	static uint8_t acc_c[MAXK][MAXK], acc_p[MAXK][MAXB];
	uint8_t c[MAXK], p[MAXB];
	unsigned nacc = 0;
	uint64_t offered = 0;
	bool have = false;
	while (size > 0) {
		uint8_t op = *data++;
		size--;
		switch (op % 4) {
		case 0: /* a block from the input, zero-filled when it runs out */
			memset(c, 0, k);
			memset(p, 0, bs);
			for (unsigned i = 0; i < k && size; i++, size--)
				c[i] = *data++;
			for (size_t i = 0; i < bs && size; i++, size--)
				p[i] = *data++;
			have = true;
			break;
		case 1: /* recoded from what the decoder holds */
			if (nc_dec_recode(d, &rng, c, p) == LC_EAGAIN) {
				if (nc_dec_rank(d))
					abort();
				continue;
			}
			have = true;
			break;
		case 2: /* the previous block again (or a zero one) */
			if (!have) {
				memset(c, 0, k);
				memset(p, 0, bs);
				have = true;
			}
			break;
		case 3: { /* bad lengths change nothing */
			unsigned r = nc_dec_rank(d);
			uint64_t rej = nc_dec_rejected(d);
			if (nc_dec_add(d, c, k + 1, p, bs) != LC_EINVAL ||
			    nc_dec_add(d, c, k, p, bs - 1) != LC_EINVAL || nc_dec_rank(d) != r ||
			    nc_dec_rejected(d) != rej)
				abort();
			continue;
		}
		}
		unsigned before = nc_dec_rank(d);
		int rc = nc_dec_add(d, c, k, p, bs);
		offered++;
		if (rc == LC_EDEPENDENT) {
			if (nc_dec_rank(d) != before)
				abort();
		} else if (rc != (int)before + 1 || nc_dec_rank(d) != before + 1) {
			abort();
		} else {
			/* innovative (at most k of them): keep it for the final check */
			memcpy(acc_c[nacc], c, k);
			memcpy(acc_p[nacc], p, bs);
			nacc++;
		}
		if (nc_dec_rank(d) + nc_dec_rejected(d) != offered)
			abort();
	}
	if (nc_dec_complete(d)) {
		for (unsigned a = 0; a < nacc; a++)
			for (size_t j = 0; j < bs; j++) {
				uint8_t y = 0;
				for (unsigned i = 0; i < k; i++)
					y ^= nc_gf_mul(acc_c[a][i], nc_dec_block(d, i)[j]);
				if (y != acc_p[a][j])
					abort();
			}
	} else if (nc_dec_block(d, 0) || nc_dec_copy(d, p, sizeof p) != LC_ESTATE) {
		abort();
	}
	nc_dec_free(d);
	return 0;
}
