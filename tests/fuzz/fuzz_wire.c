/*
 * libFuzzer target for src/wire: decode arbitrary bytes; whatever decodes
 * must re-encode to the very same bytes, and every refusal must be one of
 * the documented errors. The bytes are also read as a WebSocket message of
 * messages back to back (wire_decode_next), which must agree with
 * wire_decode on each message it finds.
 *
 * Seed corpus: WIRE_WRITE_CORPUS=<dir> ./fuzz_wire writes one file per
 * sample message of tests/unit/wire_samples.h into <dir>, and one per pair
 * of neighbouring samples back to back, and exits.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "wire/wire.h"
#include "../unit/wire_samples.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wire_msg msg;
static uint8_t out[WIRE_MAX_MSG];

static int write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}

static int write_corpus(const char *dir)
{
	static uint8_t unit[WIRE_K_MAX];
	ws_init_data();
	static uint8_t pair[2 * WIRE_MAX_MSG];
	size_t prev = 0;
	for (unsigned i = 0; wire_sample(i, &msg, unit); i++) {
		char name[64];
		int n = wire_encode(&msg, out, sizeof out);
		if (n < 0) {
			fprintf(stderr, "sample %u: %s\n", i, lc_strerror(n));
			return 1;
		}
		snprintf(name, sizeof name, "seed-%02u-%s", i, wire_type_name(msg.type));
		if (write_file(dir, name, out, (size_t)n))
			return 1;
		memcpy(pair + prev, out, (size_t)n);
		snprintf(name, sizeof name, "pair-%02u", i);
		if (prev && prev + (size_t)n <= WIRE_MAX_MSG && write_file(dir, name, pair, prev + (size_t)n))
			return 1;
		memmove(pair, out, (size_t)n);
		prev = (size_t)n;
	}
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *dir = getenv("WIRE_WRITE_CORPUS");
	if (dir)
		exit(write_corpus(dir));
	return 0;
}

/* Messages back to back: each one found decodes alone to the same length,
 * a single whole message is found whole, and the walk ends at the end or
 * at a documented error. */
static void walk(const uint8_t *data, size_t size, int rc_whole)
{
	size_t pos = 0, used;
	unsigned found = 0;
	while (pos < size) {
		int rc = wire_decode_next(data + pos, size - pos, &msg, &used);
		if (rc) {
			if (wire_close_code(rc) == 1000 || wire_close_code(rc) == 1011)
				abort();
			break;
		}
		if (used < WIRE_HDR_LEN || used > size - pos)
			abort();
		if (wire_decode(data + pos, used, &msg) != 0)
			abort();
		if (pos == 0 && rc_whole == 0 && used != size)
			abort();
		pos += used;
		found++;
	}
	if (rc_whole == 0 && (found != 1 || pos != size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk(data, size, wire_decode(data, size, &msg));
	enum wire_type type;
	int rc = wire_decode(data, size, &msg);
	int prc = wire_peek(data, size, &type);

	if (rc == 0) {
		if (prc != 0 || type != msg.type)
			abort();
		if (wire_encoded_size(&msg) != (int)size)
			abort();
		int n = wire_encode(&msg, out, sizeof out);
		if (n != (int)size || memcmp(out, data, size) != 0)
			abort();
		if (msg.type == WIRE_BLOCK) {
			/* Zero copy both ways: pointers into the input on decode
			 * (a systematic block's coefficients are its 1-byte
			 * index: a unit vector with the 1 there; a relay list sits
			 * before the payload), and the head
			 * alone encodes the same prefix. */
			const struct wire_block *b = &msg.u.block;
			bool sys = b->flags & WIRE_BLOCK_SYSTEMATIC;
			size_t c = sys ? 1 : b->k;
			size_t d = b->flags & WIRE_BLOCK_DESTS ? 1 + 2 * (size_t)b->ndest : 0;
			if (b->payload != data + WIRE_HDR_LEN + WIRE_BLOCK_HEAD + c + d)
				abort();
			if (!sys && b->coef != data + WIRE_HDR_LEN + WIRE_BLOCK_HEAD)
				abort();
			if (sys) {
				unsigned idx = data[WIRE_HDR_LEN + WIRE_BLOCK_HEAD];
				for (unsigned i = 0; i < b->k; i++)
					if (b->coef[i] != (i == idx))
						abort();
			}
			int h = wire_encode_block_head(b, out, sizeof out);
			if (h != (int)(WIRE_HDR_LEN + WIRE_BLOCK_HEAD + c + d) || memcmp(out, data, (size_t)h) != 0)
				abort();
		}
		return 0;
	}
	switch (rc) {
	case LC_ETRUNC:
	case LC_EPROTO:
	case LC_ETYPE:
	case LC_ERANGE:
	case LC_E2BIG:
		break;
	default:
		abort();
	}
	if (wire_close_code(rc) == 1000 || wire_close_code(rc) == 1011)
		abort();
	/* A header refusal is the same from peek and decode. */
	if (prc != 0 && prc != rc)
		abort();
	return 0;
}
