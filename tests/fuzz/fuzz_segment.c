/* libFuzzer target: the parsers of segment bytes from the network. The
 * first byte picks the parser: the per-layer payload, the descriptor, or
 * a descriptor followed by payloads rebuilt into an operating point. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "video/video.h"

static struct video_op op;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 3;
	data++;
	size--;
	if (mode == 0) {
		struct video_payload pl;
		if (!video_payload_parse(&pl, data, size)) {
			size_t total = 0;
			for (size_t i = 0; i < pl.n; i++)
				total += pl.rec[i].len + (pl.rec[i].data[0] & 1);
			(void)total;
			video_payload_free(&pl);
		}
		return 0;
	}
	if (mode == 1) {
		struct video_seg_desc d;
		if (!video_desc_parse(&d, data, size)) {
			uint8_t back[VIDEO_DESC_MAX];
			int n = video_desc_write(&d, back, sizeof back);
			if (n != (int)size || memcmp(back, data, size))
				__builtin_trap(); /* parse and write must agree */
		}
		return 0;
	}
	/* mode 2: u16 descriptor length, descriptor, then payloads each
	 * preceded by a u32 length; the descriptor's hashes are recomputed so
	 * that the fuzzer reaches the merge. */
	if (size < 2)
		return 0;
	size_t dl = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	if (dl > size)
		return 0;
	struct video_seg_desc d;
	if (video_desc_parse(&d, data, dl))
		return 0;
	data += dl;
	size -= dl;
	const uint8_t *p[VIDEO_MAX_LAYERS] = { 0 };
	size_t len[VIDEO_MAX_LAYERS] = { 0 };
	for (int l = 0; l < d.n_layers && size >= 4; l++) {
		size_t n = (size_t)data[0] << 24 | (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3];
		data += 4;
		size -= 4;
		if (n > size)
			n = size;
		p[l] = data;
		len[l] = n;
		d.layer[l].size = (uint32_t)n;
		d.layer[l].hash = video_hash64(data, n);
		data += n;
		size -= n;
	}
	if (!op.data.cap)
		video_op_init(&op);
	video_op_build(&op, &d, p, len, d.n_layers - 1);
	for (size_t i = 0; i < op.n; i++) {
		const uint8_t *fr[8];
		size_t sz[8];
		if (op.frame[i].off + op.frame[i].len > op.data.len)
			__builtin_trap();
		video_superframe_split(op.data.data + op.frame[i].off, op.frame[i].len, fr, sz, 8);
	}
	return 0;
}
