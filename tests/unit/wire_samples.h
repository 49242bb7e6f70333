/*
 * Valid wire messages of every type, with their field extremes: the unit
 * test round-trips them and mutates them, and the fuzz target writes them
 * out as its seed corpus (WIRE_WRITE_CORPUS=dir). Header-only, test code.
 */
#ifndef LC_WIRE_SAMPLES_H
#define LC_WIRE_SAMPLES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "wire/wire.h"

/* Backing memory for the BLOCK samples' coefficients and payloads. */
static uint8_t ws_coef[WIRE_K_MAX];
static uint8_t ws_payload[WIRE_B_MAX];

static void ws_init_data(void)
{
	uint32_t x = 0x12345678;
	for (size_t i = 0; i < sizeof ws_payload; i++) {
		x = x * 1103515245u + 12345u;
		ws_payload[i] = (uint8_t)(x >> 16);
	}
	for (size_t i = 0; i < sizeof ws_coef; i++)
		ws_coef[i] = (uint8_t)(i * 7 + 3);
}

/* n characters of a valid string (host: no spaces), NUL-terminated. */
static void ws_str(char *s, size_t n, bool host)
{
	static const char hc[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
	for (size_t i = 0; i < n; i++)
		s[i] = host ? hc[i % (sizeof hc - 1)] : (char)(0x20 + i % 95);
	s[n] = '\0';
}

/*
 * Fill *m with sample number i. Returns false when i is past the last one.
 * Systematic BLOCK samples use their own coefficient vector (*coef_unit,
 * 256 bytes supplied by the caller).
 */
static bool wire_sample(unsigned i, struct wire_msg *m, uint8_t *coef_unit)
{
	memset(m, 0, sizeof *m);
	switch (i) {
	case 0: /* HELLO, all minimal */
		m->type = WIRE_HELLO;
		m->u.hello.proto = 1;
		m->u.hello.role = WIRE_ROLE_PEER;
		m->u.hello.peer_id = 1;
		return true;
	case 1: /* HELLO, all maximal */
		m->type = WIRE_HELLO;
		m->u.hello.proto = 0xffff;
		m->u.hello.role = WIRE_ROLE_SOURCE | WIRE_ROLE_PEER | WIRE_ROLE_TRACKER;
		m->u.hello.peer_id = UINT64_MAX;
		m->u.hello.up_kbps = UINT32_MAX;
		m->u.hello.down_kbps = UINT32_MAX;
		m->u.hello.port = 0xffff;
		ws_str(m->u.hello.host, WIRE_HOST_MAX, true);
		ws_str(m->u.hello.stream, WIRE_STREAM_MAX, false);
		ws_str(m->u.hello.software, WIRE_SOFTWARE_MAX, false);
		return true;
	case 2: /* HELLO, typical (also the golden vector of the test) */
		m->type = WIRE_HELLO;
		m->u.hello.proto = WIRE_PROTO;
		m->u.hello.role = WIRE_ROLE_PEER;
		m->u.hello.peer_id = 0x0102030405060708ULL;
		m->u.hello.up_kbps = 2000;
		m->u.hello.down_kbps = 8000;
		m->u.hello.port = 9000;
		strcpy(m->u.hello.host, "127.0.0.1");
		strcpy(m->u.hello.stream, "demo");
		strcpy(m->u.hello.software, "layercast 0.1.0");
		return true;
	case 3: /* PEERS, empty */
		m->type = WIRE_PEERS;
		return true;
	case 4: /* PEERS, one */
		m->type = WIRE_PEERS;
		m->u.peers.count = 1;
		m->u.peers.peer[0].peer_id = 42;
		m->u.peers.peer[0].port = 1;
		strcpy(m->u.peers.peer[0].host, "::1");
		return true;
	case 5: /* PEERS, full with maximal hosts */
		m->type = WIRE_PEERS;
		m->u.peers.count = WIRE_PEERS_MAX;
		for (unsigned j = 0; j < WIRE_PEERS_MAX; j++) {
			m->u.peers.peer[j].peer_id = UINT64_MAX - j;
			m->u.peers.peer[j].port = (uint16_t)(0xffff - j);
			ws_str(m->u.peers.peer[j].host, WIRE_HOST_MAX - j % 3, true);
		}
		return true;
	case 6: /* HAVE, empty */
		m->type = WIRE_HAVE;
		return true;
	case 7: /* HAVE, one segment with no layers */
		m->type = WIRE_HAVE;
		m->u.have.count = 1;
		m->u.have.seg[0].segment = 0;
		return true;
	case 8: /* HAVE, full, everything done */
		m->type = WIRE_HAVE;
		m->u.have.count = WIRE_HAVE_MAX;
		for (unsigned j = 0; j < WIRE_HAVE_MAX; j++) {
			struct wire_have_seg *s = &m->u.have.seg[j];
			s->segment = UINT32_MAX - j;
			s->nlayers = WIRE_LAYERS_MAX;
			s->done = 0xff;
			for (unsigned l = 0; l < WIRE_LAYERS_MAX; l++)
				s->rank[l] = WIRE_K_MAX;
		}
		return true;
	case 9: /* HAVE, mixed */
		m->type = WIRE_HAVE;
		m->u.have.count = 2;
		m->u.have.seg[0] = (struct wire_have_seg){ .segment = 1000, .nlayers = 3,
			.done = 0x01, .rank = { 16, 5, 0 } };
		m->u.have.seg[1] = (struct wire_have_seg){ .segment = 1001, .nlayers = 4,
			.done = 0x0a, .rank = { 0, 1, 255, 256 } };
		return true;
	case 10: /* PULL, minimal, AQCS pull signal */
		m->type = WIRE_PULL;
		m->u.pull.count = 1;
		return true;
	case 11: /* PULL, maximal, repair */
		m->type = WIRE_PULL;
		m->u.pull.segment = 0xffff;
		m->u.pull.layer = WIRE_LAYERS_MAX - 1;
		m->u.pull.flags = WIRE_PULL_REPAIR;
		m->u.pull.count = WIRE_K_MAX;
		return true;
	case 12: /* BLOCK, k = 1, B = 1, systematic */
		m->type = WIRE_BLOCK;
		memset(coef_unit, 0, WIRE_K_MAX);
		coef_unit[0] = 1;
		m->u.block = (struct wire_block){ .segment = 0, .layer = 0,
			.flags = WIRE_BLOCK_SYSTEMATIC, .k = 1, .block_size = 1, .coef = coef_unit, .payload = ws_payload };
		return true;
	case 13: /* BLOCK, k = 256, B = 65535, the largest message */
		m->type = WIRE_BLOCK;
		m->u.block = (struct wire_block){ .segment = 0xffff,
			.layer = WIRE_LAYERS_MAX - 1, .flags = WIRE_BLOCK_FORWARD,
			.k = WIRE_K_MAX, .block_size = WIRE_B_MAX,
			.coef = ws_coef, .payload = ws_payload };
		return true;
	case 14: /* BLOCK, k = 256, B = 1 */
		m->type = WIRE_BLOCK;
		m->u.block = (struct wire_block){ .segment = 7, .layer = 1,
			.k = WIRE_K_MAX, .block_size = 1,
			.coef = ws_coef, .payload = ws_payload };
		return true;
	case 15: /* BLOCK, k = 1, B = 65535, systematic + forward */
		m->type = WIRE_BLOCK;
		memset(coef_unit, 0, WIRE_K_MAX);
		coef_unit[0] = 1;
		m->u.block = (struct wire_block){ .segment = 9, .layer = 2,
			.flags = WIRE_BLOCK_FORWARD | WIRE_BLOCK_SYSTEMATIC,
			.k = 1, .block_size = WIRE_B_MAX,
			.coef = coef_unit, .payload = ws_payload };
		return true;
	case 16: /* BLOCK, typical: k = 16, B = 1400, systematic block 5 */
		m->type = WIRE_BLOCK;
		memset(coef_unit, 0, WIRE_K_MAX);
		coef_unit[5] = 1;
		m->u.block = (struct wire_block){ .segment = 12345, .layer = 3,
			.flags = WIRE_BLOCK_SYSTEMATIC, .k = 16, .block_size = 1400, .coef = coef_unit, .payload = ws_payload };
		return true;
	case 17: /* BLOCK, typical dense: k = 8, B = 64 */
		m->type = WIRE_BLOCK;
		m->u.block = (struct wire_block){ .segment = 5, .layer = 0,
			.k = 8, .block_size = 64,
			.coef = ws_coef, .payload = ws_payload };
		return true;
	case 18:
		m->type = WIRE_DONE;
		return true;
	case 19:
		m->type = WIRE_DONE;
		m->u.done.segment = 0xffff;
		m->u.done.layer = WIRE_LAYERS_MAX - 1;
		return true;
	case 20:
		m->type = WIRE_SUBSCRIBE;
		return true;
	case 21:
		m->type = WIRE_SUBSCRIBE;
		m->u.subscribe.level = WIRE_LAYERS_MAX - 1;
		m->u.subscribe.cap = WIRE_LAYERS_MAX - 1;
		m->u.subscribe.flags = WIRE_SUB_SOURCE_LINK;
		return true;
	case 22:
		m->type = WIRE_SUBSCRIBE;
		m->u.subscribe.level = WIRE_LEVEL_NONE;
		m->u.subscribe.cap = 3;
		return true;
	case 23: /* SEGMENT, minimal: no FORMAT */
		m->type = WIRE_SEGMENT;
		m->u.segment.capture_us = INT64_MIN;
		m->u.segment.duration_us = 1;
		m->u.segment.nlayers = 1;
		m->u.segment.layer[0] = (struct wire_layer_desc){ .size = 0, .k = 1,
			.block_size = 1 };
		return true;
	case 24: /* SEGMENT, maximal */
		m->type = WIRE_SEGMENT;
		m->u.segment.segment = UINT32_MAX;
		m->u.segment.capture_us = INT64_MAX;
		m->u.segment.duration_us = WIRE_DURATION_MAX;
		m->u.segment.flags = WIRE_SEG_KEYFRAME | WIRE_SEG_FORMAT;
		m->u.segment.nlayers = WIRE_LAYERS_MAX;
		for (unsigned l = 0; l < WIRE_LAYERS_MAX; l++)
			m->u.segment.layer[l] = (struct wire_layer_desc){
				.size = (uint32_t)WIRE_K_MAX * WIRE_B_MAX,
				.k = WIRE_K_MAX, .block_size = WIRE_B_MAX,
				.width = 0xffff, .height = 0xffff,
				.fps_milli = WIRE_FPS_MILLI_MAX, .hash = UINT64_MAX - l };
		return true;
	case 25: /* SEGMENT, typical ladder */
		m->type = WIRE_SEGMENT;
		m->u.segment.segment = 77;
		m->u.segment.capture_us = 1700000000000000LL;
		m->u.segment.duration_us = 1000000;
		m->u.segment.flags = WIRE_SEG_KEYFRAME | WIRE_SEG_FORMAT;
		m->u.segment.nlayers = 4;
		m->u.segment.layer[0] = (struct wire_layer_desc){ 9000, 8, 1400, 320, 180, 7500, 0x1111 };
		m->u.segment.layer[1] = (struct wire_layer_desc){ 4000, 4, 1400, 320, 180, 15000, 0x2222 };
		m->u.segment.layer[2] = (struct wire_layer_desc){ 30000, 22, 1400, 640, 360, 30000, 0x3333 };
		m->u.segment.layer[3] = (struct wire_layer_desc){ 90000, 64, 1420, 1280, 720, 30000, 0x4444 };
		return true;
	case 26:
		m->type = WIRE_PING;
		return true;
	case 27:
		m->type = WIRE_PONG;
		m->u.ping.nonce = UINT32_MAX;
		return true;
	case 28:
		m->type = WIRE_PING;
		m->u.ping.nonce = 0x80000001u;
		m->u.ping.flags = WIRE_PING_ECHO;
		return true;
	case 29: /* BYE, empty reason */
		m->type = WIRE_BYE;
		return true;
	case 30: /* BYE, maximal */
		m->type = WIRE_BYE;
		m->u.bye.code = 0xffff;
		ws_str(m->u.bye.reason, WIRE_REASON_MAX, false);
		return true;
	case 31: /* BYE, typical */
		m->type = WIRE_BYE;
		m->u.bye.code = WIRE_BYE_DUPLICATE;
		strcpy(m->u.bye.reason, "already linked");
		return true;
	case 32: /* WANT, one chunk of one */
		m->type = WIRE_WANT;
		m->u.want.k = 1;
		m->u.want.bitmap[0] = 1;
		return true;
	case 33: /* WANT, all of 256 */
		m->type = WIRE_WANT;
		m->u.want.segment = 0xffff;
		m->u.want.layer = WIRE_LAYERS_MAX - 1;
		m->u.want.k = WIRE_K_MAX;
		memset(m->u.want.bitmap, 0xff, sizeof m->u.want.bitmap);
		return true;
	case 34: /* WANT, the last chunk of 13 */
		m->type = WIRE_WANT;
		m->u.want.segment = 77;
		m->u.want.layer = 2;
		m->u.want.k = 13;
		m->u.want.bitmap[1] = 0x10;
		return true;
	case 35: /* BLOCK, forward to 3 listed peers, systematic 2 of 4 */
		m->type = WIRE_BLOCK;
		memset(coef_unit, 0, WIRE_K_MAX);
		coef_unit[2] = 1;
		m->u.block = (struct wire_block){ .segment = 41, .layer = 0,
			.flags = WIRE_BLOCK_FORWARD | WIRE_BLOCK_SYSTEMATIC | WIRE_BLOCK_DESTS,
			.k = 4, .block_size = 3, .coef = coef_unit,
			.payload = ws_payload, .ndest = 3,
			.dest = { 0x0708, 0, UINT16_MAX } };
		return true;
	case 36: /* BLOCK, dense, forward to the most listed peers */
		m->type = WIRE_BLOCK;
		m->u.block = (struct wire_block){ .segment = 5, .layer = 2,
			.flags = WIRE_BLOCK_FORWARD | WIRE_BLOCK_DESTS, .k = 8,
			.block_size = 64, .coef = ws_coef,
			.payload = ws_payload, .ndest = WIRE_DEST_MAX };
		for (unsigned j = 0; j < WIRE_DEST_MAX; j++)
			m->u.block.dest[j] = (uint16_t)(1000 + j);
		return true;
	case 37: /* SEGMENT, the next of a ladder: the link has its format */
		m->type = WIRE_SEGMENT;
		m->u.segment.segment = 78;
		m->u.segment.capture_us = 1700000001000000LL;
		m->u.segment.duration_us = 1000000;
		m->u.segment.nlayers = 2;
		m->u.segment.layer[0] = (struct wire_layer_desc){ .size = 9000, .k = 8,
			.block_size = 1400, .hash = 0x1111 };
		m->u.segment.layer[1] = (struct wire_layer_desc){ .size = 4000, .k = 4,
			.block_size = 1400, .hash = 0x2222 };
		return true;
	}
	return false;
}

#endif
