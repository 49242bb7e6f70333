/*
 * The built-in test scene: gradients, a scrolling texture, moving shapes,
 * a scrolling text line, a large frame counter and the wall-clock time, so
 * that motion, detail and lag can be judged by eye. Everything is a pure
 * function of (frame number, wall time), so it is repeatable.
 */
#include <string.h>
#include <time.h>

#include "video/video.h"

/* 5x7 glyphs, one byte per row, bit 4 = leftmost column. */
static const struct glyph {
	char c;
	uint8_t row[7];
} font[] = {
	{ ' ', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 } },
	{ '0', { 0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E } },
	{ '1', { 0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E } },
	{ '2', { 0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F } },
	{ '3', { 0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E } },
	{ '4', { 0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02 } },
	{ '5', { 0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E } },
	{ '6', { 0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E } },
	{ '7', { 0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 } },
	{ '8', { 0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E } },
	{ '9', { 0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C } },
	{ ':', { 0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00 } },
	{ '.', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C } },
	{ ',', { 0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08 } },
	{ '-', { 0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00 } },
	{ '+', { 0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00 } },
	{ '=', { 0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00 } },
	{ '/', { 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00 } },
	{ '_', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F } },
	{ '!', { 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04 } },
	{ '?', { 0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04 } },
	{ '(', { 0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02 } },
	{ ')', { 0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08 } },
	{ '%', { 0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03 } },
	{ '^', { 0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00 } },
	{ '#', { 0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A } },
	{ 'A', { 0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11 } },
	{ 'B', { 0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E } },
	{ 'C', { 0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E } },
	{ 'D', { 0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C } },
	{ 'E', { 0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F } },
	{ 'F', { 0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10 } },
	{ 'G', { 0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F } },
	{ 'H', { 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11 } },
	{ 'I', { 0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E } },
	{ 'J', { 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C } },
	{ 'K', { 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 } },
	{ 'L', { 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F } },
	{ 'M', { 0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11 } },
	{ 'N', { 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 } },
	{ 'O', { 0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E } },
	{ 'P', { 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10 } },
	{ 'Q', { 0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D } },
	{ 'R', { 0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11 } },
	{ 'S', { 0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E } },
	{ 'T', { 0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 } },
	{ 'U', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E } },
	{ 'V', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04 } },
	{ 'W', { 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A } },
	{ 'X', { 0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11 } },
	{ 'Y', { 0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04 } },
	{ 'Z', { 0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F } },
};

const uint8_t *video_glyph(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
		if (font[i].c == c)
			return font[i].row;
	return video_glyph('?');
}

static void fill_rect(struct video_frame *f, int x, int y, int w, int h, uint8_t luma)
{
	int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
	int x1 = x + w > f->width ? f->width : x + w;
	int y1 = y + h > f->height ? f->height : y + h;
	for (int yy = y0; yy < y1; yy++)
		if (x1 > x0)
			memset(f->plane[0] + (size_t)yy * f->stride[0] + x0, luma, (size_t)(x1 - x0));
}

static void fill_rect_chroma(struct video_frame *f, int x, int y, int w, int h, uint8_t u, uint8_t v)
{
	int cw = (f->width + 1) / 2, ch = (f->height + 1) / 2;
	int x0 = x / 2, y0 = y / 2, x1 = (x + w + 1) / 2, y1 = (y + h + 1) / 2;
	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > cw)
		x1 = cw;
	if (y1 > ch)
		y1 = ch;
	for (int yy = y0; yy < y1; yy++) {
		if (x1 <= x0)
			continue;
		memset(f->plane[1] + (size_t)yy * f->stride[1] + x0, u, (size_t)(x1 - x0));
		memset(f->plane[2] + (size_t)yy * f->stride[2] + x0, v, (size_t)(x1 - x0));
	}
}

void video_draw_text(struct video_frame *f, int x, int y, int scale, uint8_t luma, const char *text)
{
	if (scale < 1)
		scale = 1;
	for (; *text; text++, x += 6 * scale) {
		if (x >= f->width)
			break;
		const uint8_t *rows = video_glyph(*text);
		for (int r = 0; r < 7; r++)
			for (int c = 0; c < 5; c++)
				if (rows[r] & (0x10 >> c))
					fill_rect(f, x + c * scale, y + r * scale, scale, scale, luma);
	}
}

/* A small integer hash for the texture. */
static inline uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

static int tri(int64_t v, int period)
{
	/* triangle wave 0..period..0 */
	if (period <= 0)
		return 0;
	int64_t m = v % (2 * period);
	if (m < 0)
		m += 2 * period;
	return (int)(m < period ? m : 2 * period - m);
}

void video_pattern_draw(struct video_frame *f, uint64_t number, int fps_num, int fps_den, int64_t wall_us)
{
	const int w = f->width, h = f->height;
	const int cw = (w + 1) / 2, ch = (h + 1) / 2;
	/* Everything scales with the frame: one unit is 4 px at 720p. */
	const int unit = (w < h ? w : h) / 180 > 0 ? (w < h ? w : h) / 180 : 1;
	const int n = (int)(number % 1000000);

	/* Background: a diagonal luma gradient drifting right, chroma ramps. */
	for (int y = 0; y < h; y++) {
		uint8_t *row = f->plane[0] + (size_t)y * f->stride[0];
		for (int x = 0; x < w; x++)
			row[x] = (uint8_t)(40 + ((x + y + 2 * n) * 160 / (w + h)) % 160);
	}
	for (int y = 0; y < ch; y++) {
		uint8_t *u = f->plane[1] + (size_t)y * f->stride[1];
		uint8_t *v = f->plane[2] + (size_t)y * f->stride[2];
		for (int x = 0; x < cw; x++) {
			u[x] = (uint8_t)(64 + x * 128 / cw);
			v[x] = (uint8_t)(192 - y * 128 / ch);
		}
	}

	/* Texture: a band of noise blocks (2 units) scrolling left a unit a
	 * frame, and beside it stripes of 4 units that only the upper spatial
	 * layers resolve. */
	int ty0 = h / 8, th = h / 6, blk = 2 * unit;
	for (int y = ty0; y < ty0 + th && y < h; y++) {
		uint8_t *row = f->plane[0] + (size_t)y * f->stride[0];
		for (int x = 0; x < w / 2; x++) {
			uint32_t r = mix((uint32_t)((x + unit * n) / blk) * 2654435761U ^ (uint32_t)(y / blk) * 40503U);
			row[x] = (uint8_t)(60 + (r & 0xff) * 130 / 255);
		}
	}
	for (int y = ty0; y < ty0 + th && y < h; y++) {
		uint8_t *row = f->plane[0] + (size_t)y * f->stride[0];
		for (int x = w / 2; x < w; x++)
			row[x] = ((x + unit * n) / (2 * unit)) % 2 ? 200 : 50;
	}

	/* Moving shapes: a bouncing disc and a sliding bar. */
	int r = 10 * unit;
	int cx = r + tri((int64_t)n * 4 * unit / 2, w - 2 * r > 1 ? w - 2 * r : 1);
	int cy = h * 19 / 32 + tri((int64_t)n * unit, h / 16 > 1 ? h / 16 : 1) - h / 32;
	for (int y = cy - r; y <= cy + r; y++) {
		if (y < 0 || y >= h)
			continue;
		for (int x = cx - r; x <= cx + r; x++) {
			if (x < 0 || x >= w)
				continue;
			int dx = x - cx, dy = y - cy;
			if (dx * dx + dy * dy <= r * r)
				f->plane[0][(size_t)y * f->stride[0] + x] = 235;
		}
	}
	fill_rect_chroma(f, cx - r / 2, cy - r / 2, r, r, 90, 240);
	int bw = 24 * unit, bh = 6 * unit;
	int bx = w - bw - tri((int64_t)n * 5 * unit / 2, w - bw > 1 ? w - bw : 1);
	int by = h * 5 / 8;
	fill_rect(f, bx, by, bw, bh, 16);
	fill_rect_chroma(f, bx, by, bw, bh, 200, 60);

	/* Large frame counter and the wall-clock time (UTC, ms). */
	char text[64];
	snprintf(text, sizeof text, "FRAME %06d", n);
	/* as large as fits in 90% of the width, at most 6 units a dot */
	int big = w * 9 / 10 / ((int)strlen(text) * 6);
	if (big > 6 * unit)
		big = 6 * unit;
	if (big < 1)
		big = 1;
	fill_rect(f, 2 * unit, h * 5 / 16 - unit, (int)strlen(text) * 6 * big + 2 * unit, 9 * big, 16);
	video_draw_text(f, 3 * unit, h * 5 / 16, big, 235, text);

	time_t secs = (time_t)(wall_us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(text, sizeof text, "%02d:%02d:%02d.%03d UTC", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(wall_us / 1000 % 1000));
	int mid = big * 2 / 3 > 0 ? big * 2 / 3 : 1;
	fill_rect(f, 2 * unit, h * 3 / 4 - unit, (int)strlen(text) * 6 * mid + 2 * unit, 9 * mid, 16);
	video_draw_text(f, 3 * unit, h * 3 / 4, mid, 235, text);

	/* Scrolling text line at the bottom. */
	static const char marquee[] =
		"LAYERCAST TEST SCENE - VP9 SVC 3 SPATIAL X 3 TEMPORAL LAYERS - "
		"RLNC OVER GF(2^8) - ";
	int ms = 2 * unit;
	int len = (int)strlen(marquee) * 6 * ms;
	int off = (int)(((int64_t)n * 2 * ms) % len);
	fill_rect(f, 0, h - 9 * ms, w, 9 * ms, 16);
	for (int x0 = -off; x0 < w; x0 += len)
		video_draw_text(f, x0, h - 8 * ms, ms, 200, marquee);

	snprintf(text, sizeof text, "%dX%d %d/%d FPS", w, h, fps_num, fps_den);
	video_draw_text(f, w - ((int)strlen(text) + 1) * 6 * unit, unit, unit, 235, text);
}
