#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "video/internal.h"
#include "video/video.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];

static void tmp_setup(void)
{
	strcpy(tmpdir, "/tmp/lc_video_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write a Y4M file of n frames whose bytes are a known function of position. */
static void write_y4m(const char *path, const char *header, int w, int h, int n, size_t cut)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fputs(header, f);
	size_t fs = (size_t)w * h + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
	for (int i = 0; i < n; i++) {
		fputs("FRAME\n", f);
		for (size_t b = 0; b < fs; b++)
			fputc((int)((b * 7 + (size_t)i * 13) & 0xff), f);
	}
	fclose(f);
	if (cut)
		ck_assert_int_eq(truncate(path, (off_t)cut), 0);
}

static int open_y4m(const char *path, struct video_src **s, char *err, size_t errlen)
{
	struct video_src_cfg c;
	video_src_cfg_default(&c);
	c.kind = VIDEO_SRC_Y4M;
	c.path = path;
	c.loop = false;
	return video_src_open(s, &c, err, errlen);
}

/* ---- sources ------------------------------------------------------------ */

START_TEST(test_y4m_valid_sizes)
{
	static const int sizes[][2] = { { 16, 16 }, { 320, 180 }, { 33, 17 }, { 1, 1 }, { 640, 360 } };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		int w = sizes[k][0], h = sizes[k][1];
		char path[128], hdr[128];
		snprintf(path, sizeof path, "%s/v%zu.y4m", tmpdir, k);
		snprintf(hdr, sizeof hdr, "YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n", w, h);
		write_y4m(path, hdr, w, h, 3, 0);
		struct video_src *s = NULL;
		char err[160] = "";
		ck_assert_msg(open_y4m(path, &s, err, sizeof err) == 0, "%dx%d: %s", w, h, err);
		int sw, sh, fn, fd;
		video_src_info(s, &sw, &sh, &fn, &fd);
		ck_assert_int_eq(sw, w);
		ck_assert_int_eq(sh, h);
		ck_assert_int_eq(fn, 25);
		ck_assert_int_eq(fd, 1);
		struct video_frame f = { 0 };
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(video_src_read(s, &f), 0);
			ck_assert_int_eq(f.width, w);
			ck_assert_uint_eq(f.number, (uint64_t)i);
			ck_assert_int_eq(f.pts_us, i * 40000);
			/* first luma byte and last V byte as written */
			size_t fs = (size_t)w * h + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
			ck_assert_uint_eq(f.plane[0][0], (uint8_t)(i * 13));
			uint8_t last = f.plane[2][(size_t)((w + 1) / 2) * ((h + 1) / 2) - 1];
			ck_assert_uint_eq(last, (uint8_t)(((fs - 1) * 7 + (size_t)i * 13) & 0xff));
		}
		ck_assert_int_eq(video_src_read(s, &f), LC_ECLOSED);
		video_src_close(s);

		/* Looping starts again at frame 0 of the file. */
		struct video_src_cfg c;
		video_src_cfg_default(&c);
		c.kind = VIDEO_SRC_Y4M;
		c.path = path;
		c.loop = true;
		ck_assert_int_eq(video_src_open(&s, &c, err, sizeof err), 0);
		for (int i = 0; i < 7; i++) {
			ck_assert_int_eq(video_src_read(s, &f), 0);
			ck_assert_uint_eq(f.plane[0][0], (uint8_t)((i % 3) * 13));
			ck_assert_uint_eq(f.number, (uint64_t)i);
		}
		video_src_close(s);
		video_frame_free(&f);
	}
	/* No C field means 4:2:0; no F field means 30 fps. */
	char path[128];
	snprintf(path, sizeof path, "%s/plain.y4m", tmpdir);
	write_y4m(path, "YUV4MPEG2 W8 H6\n", 8, 6, 1, 0);
	struct video_src *s = NULL;
	ck_assert_int_eq(open_y4m(path, &s, NULL, 0), 0);
	int fn;
	video_src_info(s, NULL, NULL, &fn, NULL);
	ck_assert_int_eq(fn, 30);
	video_src_close(s);
}
END_TEST

START_TEST(test_y4m_rejects)
{
	static const struct {
		const char *hdr;
		int rc;
		const char *msg;
	} bad[] = {
		{ "YUV4MPEG W16 H16\n", LC_EPROTO, "bad magic" },
		{ "RIFF1234 W16 H16\n", LC_EPROTO, "bad magic" },
		{ "YUV4MPEG2 H16 F30:1\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W16 F30:1\n", LC_EPROTO, "height" },
		{ "YUV4MPEG2 W0 H16\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W16x H16\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W99999 H16\n", LC_EPROTO, "width" },
		{ "YUV4MPEG2 W16 H16 C444\n", LC_ENOTSUP, "C444" },
		{ "YUV4MPEG2 W16 H16 C422\n", LC_ENOTSUP, "C422" },
		{ "YUV4MPEG2 W16 H16 C420p10\n", LC_ENOTSUP, "C420p10" },
		{ "YUV4MPEG2 W16 H16 Cmono\n", LC_ENOTSUP, "Cmono" },
		{ "YUV4MPEG2 W16 H16 F30:0\n", LC_EPROTO, "frame rate" },
		{ "YUV4MPEG2 W16 H16 Z9\n", LC_EPROTO, "unknown" },
		{ "YUV4MPEG2 W16 H16", LC_ETRUNC, "truncated" },
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		char path[128];
		snprintf(path, sizeof path, "%s/bad%zu.y4m", tmpdir, k);
		FILE *f = fopen(path, "wb");
		fputs(bad[k].hdr, f);
		fclose(f);
		struct video_src *s = NULL;
		char err[160] = "";
		int rc = open_y4m(path, &s, err, sizeof err);
		ck_assert_msg(rc == bad[k].rc, "case %zu: rc %d (%s)", k, rc, err);
		ck_assert_msg(strstr(err, bad[k].msg), "case %zu: message '%s'", k, err);
		ck_assert_ptr_null(s);
	}
	/* Missing file. */
	struct video_src *s = NULL;
	char err[160] = "";
	ck_assert_int_eq(open_y4m("/nonexistent/x.y4m", &s, err, sizeof err), LC_ENOENT);

	/* A truncated frame: two whole frames, then half of one. */
	char path[128];
	snprintf(path, sizeof path, "%s/trunc.y4m", tmpdir);
	const char *hdr = "YUV4MPEG2 W32 H16 F30:1 C420\n";
	size_t fs = 32 * 16 * 3 / 2;
	write_y4m(path, hdr, 32, 16, 3, strlen(hdr) + 2 * (6 + fs) + 6 + fs / 2);
	ck_assert_int_eq(open_y4m(path, &s, err, sizeof err), 0);
	struct video_frame fr = { 0 };
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ETRUNC);
	ck_assert_ptr_nonnull(strstr(video_src_error(s), "truncated frame"));
	video_src_close(s);
	/* The same through a FILE * that is a pipe (size unknown: fread notices). */
	char cmd[200];
	snprintf(cmd, sizeof cmd, "cat '%s'", path);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(video_src_open_y4m_file(&s, p, true, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ETRUNC);
	video_src_close(s);
	pclose(p);
	/* A bad frame marker. */
	const char junk[] = "YUV4MPEG2 W2 H2\nFRAMX\n012345";
	ck_assert_int_eq(video_src_open_y4m_mem(&s, junk, sizeof junk - 1, false, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_EPROTO);
	video_src_close(s);
	/* Huge declared size, tiny input: refused before allocating. */
	const char huge[] = "YUV4MPEG2 W16384 H16384\nFRAME\n0123";
	ck_assert_int_eq(video_src_open_y4m_mem(&s, huge, sizeof huge - 1, true, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ETRUNC);
	video_src_close(s);
	/* Looping over a file with no frames ends instead of spinning. */
	const char none[] = "YUV4MPEG2 W2 H2\n";
	ck_assert_int_eq(video_src_open_y4m_mem(&s, none, sizeof none - 1, true, err, sizeof err), 0);
	ck_assert_int_eq(video_src_read(s, &fr), LC_ECLOSED);
	video_src_close(s);
	video_frame_free(&fr);
}
END_TEST

START_TEST(test_pattern)
{
	static const int sizes[][2] = { { 1280, 720 }, { 320, 180 }, { 17, 9 }, { 2, 2 } };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		struct video_src_cfg c;
		video_src_cfg_default(&c);
		c.width = sizes[k][0];
		c.height = sizes[k][1];
		c.fps_num = 25;
		struct video_src *s = NULL;
		ck_assert_int_eq(video_src_open(&s, &c, NULL, 0), 0);
		struct video_frame a = { 0 }, b = { 0 };
		ck_assert_int_eq(video_src_read(s, &a), 0);
		ck_assert_int_eq(video_src_read(s, &b), 0);
		ck_assert_int_eq(a.width, c.width);
		ck_assert_int_eq(b.pts_us, 40000);
		ck_assert_uint_eq(b.number, 1);
		ck_assert_int_ge(b.wall_us, a.wall_us);
		/* The scene moves: consecutive frames differ. */
		if (c.width >= 64)
			ck_assert(!video_frame_equal(&a, &b));
		/* Deterministic for the same number and time. */
		video_pattern_draw(&a, 5, 25, 1, 1700000000000000LL);
		video_pattern_draw(&b, 5, 25, 1, 1700000000000000LL);
		ck_assert(video_frame_equal(&a, &b));
		video_pattern_draw(&b, 5, 25, 1, 1700000001000000LL);
		if (c.width >= 320)
			ck_assert(!video_frame_equal(&a, &b)); /* the clock shows */
		video_frame_free(&a);
		video_frame_free(&b);
		video_src_close(s);
	}
	struct video_src_cfg c;
	video_src_cfg_default(&c);
	c.width = 0;
	struct video_src *s = NULL;
	ck_assert_int_eq(video_src_open(&s, &c, NULL, 0), LC_EINVAL);
}
END_TEST

START_TEST(test_text_glyphs)
{
	struct video_frame f = { 0 };
	ck_assert_int_eq(video_frame_alloc(&f, 64, 16), 0);
	memset(f.plane[0], 0, 64 * 16);
	video_draw_text(&f, 0, 0, 1, 255, "1");
	/* '1' is 0x04,0x0C,...,0x0E: row 0 has only column 2 set. */
	ck_assert_uint_eq(f.plane[0][2], 255);
	ck_assert_uint_eq(f.plane[0][1], 0);
	ck_assert_uint_eq(f.plane[0][6 * 64 + 1], 255);
	ck_assert_uint_eq(f.plane[0][6 * 64 + 3], 255);
	/* Off-frame text is clipped, not written out of bounds. */
	video_draw_text(&f, 60, 12, 3, 255, "WWW");
	video_draw_text(&f, -10, -5, 2, 255, "abc");
	video_frame_free(&f);
}
END_TEST

START_TEST(test_v4l2_missing)
{
	struct video_src_cfg c;
	video_src_cfg_default(&c);
	c.kind = VIDEO_SRC_V4L2;
	c.path = "/dev/video-does-not-exist";
	struct video_src *s = NULL;
	char err[160] = "";
	ck_assert_int_eq(video_src_open(&s, &c, err, sizeof err), LC_ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "video-does-not-exist"));
	/* A device that is not V4L2. */
	c.path = "/dev/null";
	ck_assert_int_eq(video_src_open(&s, &c, err, sizeof err), LC_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(err, "not a V4L2 device"));
}
END_TEST

START_TEST(test_yuyv)
{
	/* 4x2 YUYV: Y0 U Y1 V per pixel pair; chroma of the two rows averaged. */
	const uint8_t src[2][8] = { { 10, 100, 20, 200, 30, 50, 40, 60 },
				    { 11, 110, 21, 210, 31, 51, 41, 61 } };
	struct video_frame f = { 0 };
	ck_assert_int_eq(video_frame_alloc(&f, 4, 2), 0);
	video__yuyv_to_i420(&f, &src[0][0], 8);
	static const uint8_t y[8] = { 10, 20, 30, 40, 11, 21, 31, 41 };
	ck_assert_int_eq(memcmp(f.plane[0], y, 8), 0);
	ck_assert_uint_eq(f.plane[1][0], 105);
	ck_assert_uint_eq(f.plane[2][0], 205);
	ck_assert_uint_eq(f.plane[1][1], 51);
	ck_assert_uint_eq(f.plane[2][1], 61);
	video_frame_free(&f);
}
END_TEST

START_TEST(test_scale_psnr)
{
	struct video_frame a = { 0 }, small = { 0 }, back = { 0 };
	ck_assert_int_eq(video_frame_alloc(&a, 64, 32), 0);
	video_pattern_draw(&a, 0, 30, 1, 0);
	ck_assert_int_eq(video_frame_alloc(&small, 16, 8), 0);
	video_frame_scale(&small, &a);
	/* 4:1 box filter: the mean of each 4x4 block. */
	unsigned sum = 0;
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++)
			sum += a.plane[0][y * 64 + 4 + x];
	ck_assert_uint_eq(small.plane[0][1], (sum + 8) / 16);
	ck_assert_int_eq(video_frame_alloc(&back, 64, 32), 0);
	video_frame_scale(&back, &small);
	double p = video_psnr_y(&a, &back);
	ck_assert(p > 5 && p < 60);
	ck_assert(video_psnr_y(&a, &a) == 99.0);
	/* Flat frames upscale exactly. */
	memset(small.plane[0], 77, 16 * 8);
	video_frame_scale(&back, &small);
	ck_assert_uint_eq(back.plane[0][0], 77);
	ck_assert_uint_eq(back.plane[0][64 * 32 - 1], 77);
	/* A known error: every luma sample off by 1 => MSE 1 => 48.13 dB. */
	struct video_frame c = { 0 };
	ck_assert_int_eq(video_frame_copy(&c, &a), 0);
	for (int i = 0; i < 64 * 32; i++)
		c.plane[0][i] ^= 1;
	ck_assert(video_psnr_y(&a, &c) > 48.1 && video_psnr_y(&a, &c) < 48.2);
	video_frame_free(&a);
	video_frame_free(&c);
	video_frame_free(&small);
	video_frame_free(&back);
}
END_TEST

/* ---- wire forms --------------------------------------------------------- */

START_TEST(test_ladder)
{
	struct video_ladder l;
	video_ladder_default(&l, 3, 3);
	ck_assert_int_eq(l.n, 4);
	ck_assert_int_eq(l.op[0].s, 0);
	ck_assert_int_eq(l.op[0].t, 1);
	ck_assert_int_eq(l.op[1].t, 2);
	ck_assert_int_eq(l.op[3].s, 2);
	ck_assert_int_eq(video_ladder_check(&l, 3, 3), 0);
	ck_assert_int_eq(video_ladder_layer_of(&l, 0, 0), 0);
	ck_assert_int_eq(video_ladder_layer_of(&l, 0, 1), 0);
	ck_assert_int_eq(video_ladder_layer_of(&l, 0, 2), 1);
	ck_assert_int_eq(video_ladder_layer_of(&l, 1, 0), 2);
	ck_assert_int_eq(video_ladder_layer_of(&l, 2, 2), 3);
	ck_assert_int_eq(video_ladder_check(&l, 2, 3), LC_ERANGE);
	ck_assert_int_eq(video_ladder_parse(&l, "S0T0,S0T1,S0T2,S1T2,S2T2"), 0);
	ck_assert_int_eq(l.n, 5);
	ck_assert_int_eq(video_ladder_layer_of(&l, 1, 1), 3);
	ck_assert_int_eq(video_ladder_parse(&l, "S0T2"), 0);
	ck_assert_int_eq(video_ladder_layer_of(&l, 1, 0), -1);
	ck_assert_int_eq(video_ladder_parse(&l, "S1T1,S0T2"), LC_EINVAL);  /* not nested */
	ck_assert_int_eq(video_ladder_parse(&l, "S0T1,S0T1"), LC_EINVAL);  /* no growth */
	ck_assert_int_eq(video_ladder_parse(&l, "S0T1;S1T1"), LC_EINVAL);
	ck_assert_int_eq(video_ladder_parse(&l, "S5T1"), LC_ERANGE);
	ck_assert_int_eq(video_ladder_parse(&l, ""), LC_ERANGE);
	video_ladder_default(&l, 1, 1);
	ck_assert_int_eq(l.n, 1);
}
END_TEST

START_TEST(test_payload_wire)
{
	uint8_t a[300], b[5], c[70000];
	memset(a, 0xa1, sizeof a);
	memset(b, 0xb2, sizeof b);
	memset(c, 0xc3, sizeof c);
	struct video_frame_ref rec[3] = {
		{ .index = 0, .s = 1, .t = 0, .len = sizeof a, .data = a },
		{ .index = 0, .s = 2, .t = 0, .len = sizeof b, .data = b },
		{ .index = 7, .s = 1, .t = 2, .len = sizeof c, .data = c },
	};
	struct lc_buf buf;
	lc_buf_init(&buf);
	ck_assert_int_eq(video_payload_write(&buf, 2, rec, 3), 0);
	ck_assert_uint_eq(buf.len, 4 + 3 * 8 + sizeof a + sizeof b + sizeof c);
	struct video_payload pl;
	ck_assert_int_eq(video_payload_parse(&pl, buf.data, buf.len), 0);
	ck_assert_int_eq(pl.layer, 2);
	ck_assert_uint_eq(pl.n, 3);
	ck_assert_uint_eq(pl.rec[2].index, 7);
	ck_assert_uint_eq(pl.rec[2].t, 2);
	ck_assert_uint_eq(pl.rec[2].len, sizeof c);
	ck_assert_int_eq(memcmp(pl.rec[1].data, b, sizeof b), 0);
	video_payload_free(&pl);

	/* Every truncation is refused. */
	for (size_t n = 0; n < buf.len; n += (n < 400 ? 1 : 997))
		ck_assert_int_ne(video_payload_parse(&pl, buf.data, n), 0);
	ck_assert_int_eq(video_payload_parse(&pl, buf.data, 3), LC_ETRUNC);
	/* Trailing byte. */
	uint8_t *x = malloc(buf.len + 1);
	memcpy(x, buf.data, buf.len);
	x[buf.len] = 0;
	ck_assert_int_eq(video_payload_parse(&pl, x, buf.len + 1), LC_EPROTO);
	/* Version, layer, ids, zero length, order, record count. */
	x[0] = 2;
	ck_assert_int_eq(video_payload_parse(&pl, x, buf.len), LC_EVERSION);
	x[0] = 1;
	x[1] = VIDEO_MAX_LAYERS;
	ck_assert_int_eq(video_payload_parse(&pl, x, buf.len), LC_ERANGE);
	x[1] = 2;
	x[4 + 2] = 3; /* spatial id 3 */
	ck_assert_int_eq(video_payload_parse(&pl, x, buf.len), LC_ERANGE);
	x[4 + 2] = 2; /* now (0,2) then (0,2): not increasing */
	ck_assert_int_eq(video_payload_parse(&pl, x, buf.len), LC_EPROTO);
	x[4 + 2] = 1;
	x[2] = 0xff; /* record count far beyond the input */
	ck_assert_int_eq(video_payload_parse(&pl, x, buf.len), LC_ETRUNC);
	x[2] = 0;
	x[3] = 2; /* fewer records than present: trailing bytes */
	ck_assert_int_eq(video_payload_parse(&pl, x, buf.len), LC_EPROTO);
	free(x);
	uint8_t zero[4 + 8 + 1] = { 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9 };
	ck_assert_int_eq(video_payload_parse(&pl, zero, sizeof zero), LC_EPROTO);
	uint8_t empty[4] = { 1, 3, 0, 0 };
	ck_assert_int_eq(video_payload_parse(&pl, empty, 4), 0);
	ck_assert_uint_eq(pl.n, 0);
	video_payload_free(&pl);
	lc_buf_free(&buf);

	/* FNV-1a 64 test vectors. */
	ck_assert(video_hash64("", 0) == 0xcbf29ce484222325ULL);
	ck_assert(video_hash64("a", 1) == 0xaf63dc4c8601ec8cULL);
	ck_assert(video_hash64("foobar", 6) == 0x85944171f73967e8ULL);
}
END_TEST

START_TEST(test_desc_wire)
{
	struct video_seg_desc d = { .seq = 0x123456789aULL, .pts_us = 5000000, .wall_us = 1700000000123456LL,
				    .duration_us = 1000000, .n_frames = 30, .key = true, .n_layers = 4 };
	static const uint8_t st[4][2] = { { 0, 1 }, { 0, 2 }, { 1, 2 }, { 2, 2 } };
	for (int l = 0; l < 4; l++) {
		d.layer[l] = (struct video_seg_layer){ .size = 1000u * (l + 1), .hash = 0xfeedULL << l,
						       .width = (uint16_t)(320 << st[l][0]),
						       .height = (uint16_t)(180 << st[l][0]),
						       .fps_num = 30, .fps_den = l ? 1 : 2,
						       .s = st[l][0], .t = st[l][1] };
	}
	uint8_t buf[VIDEO_DESC_MAX];
	int n = video_desc_write(&d, buf, sizeof buf);
	ck_assert_int_eq(n, 36 + 28 * 4);
	struct video_seg_desc e;
	ck_assert_int_eq(video_desc_parse(&e, buf, (size_t)n), 0);
	ck_assert(e.seq == d.seq && e.pts_us == d.pts_us && e.wall_us == d.wall_us);
	ck_assert(e.key && e.n_frames == 30 && e.n_layers == 4 && e.duration_us == 1000000);
	for (int l = 0; l < 4; l++)
		ck_assert_int_eq(memcmp(&e.layer[l], &d.layer[l], sizeof e.layer[l]), 0);
	ck_assert_int_eq(video_desc_write(&d, buf, 50), LC_EFULL);
	for (int k = 0; k < n; k++)
		ck_assert_int_ne(video_desc_parse(&e, buf, (size_t)k), 0);
	uint8_t big[VIDEO_DESC_MAX + 1];
	memcpy(big, buf, (size_t)n);
	ck_assert_int_eq(video_desc_parse(&e, big, (size_t)n + 1), LC_EPROTO);
	buf[0] = 9;
	ck_assert_int_eq(video_desc_parse(&e, buf, (size_t)n), LC_EVERSION);
	buf[0] = 1;
	buf[2] = 0;
	ck_assert_int_eq(video_desc_parse(&e, buf, (size_t)n), LC_ERANGE);
	buf[2] = 4;
	buf[36 + 28 * 3 + 24] = 0; /* layer 3 = S0T2 again: not nested */
	ck_assert_int_eq(video_desc_parse(&e, buf, (size_t)n), LC_EPROTO);
	buf[36 + 28 * 3 + 24] = 2;
	buf[36 + 12] = buf[36 + 13] = 0; /* width 0 */
	ck_assert_int_eq(video_desc_parse(&e, buf, (size_t)n), LC_ERANGE);
}
END_TEST

START_TEST(test_superframe)
{
	uint8_t f0[200], f1[300], f2[70000];
	memset(f0, 0x80, sizeof f0);
	memset(f1, 0x81, sizeof f1);
	memset(f2, 0x82, sizeof f2);
	const uint8_t *frames[3] = { f0, f1, f2 };
	size_t sizes[3] = { sizeof f0, sizeof f1, sizeof f2 };
	struct lc_buf b;
	lc_buf_init(&b);
	for (int n = 1; n <= 3; n++) {
		ck_assert_int_eq(video_superframe_build(&b, frames, sizes, n), 0);
		const uint8_t *got[8];
		size_t gs[8];
		ck_assert_int_eq(video_superframe_split(b.data, b.len, got, gs, 8), n);
		for (int i = 0; i < n; i++) {
			ck_assert_uint_eq(gs[i], sizes[i]);
			ck_assert_int_eq(memcmp(got[i], frames[i], gs[i]), 0);
		}
	}
	/* Index sizes: 1 byte for small frames, 3 for 70000. */
	ck_assert_int_eq(video_superframe_build(&b, frames, sizes, 2), 0);
	ck_assert_uint_eq(b.len, 200 + 300 + 2 + 2 * 2);
	ck_assert_uint_eq(b.data[b.len - 1], 0xc0 | (1 << 3) | 1);
	ck_assert_int_eq(video_superframe_build(&b, frames, sizes, 3), 0);
	ck_assert_uint_eq(b.data[b.len - 1], 0xc0 | (2 << 3) | 2);
	/* A lone frame ending in a marker-like byte gets an index. */
	f0[sizeof f0 - 1] = 0xc1;
	ck_assert_int_eq(video_superframe_build(&b, frames, sizes, 1), 0);
	ck_assert_uint_eq(b.len, 200 + 3);
	/* A bad index (sizes beyond the data) is refused. */
	uint8_t bad[] = { 1, 2, 3, 0xc1, 9, 9, 0xc1 };
	const uint8_t *got[8];
	size_t gs[8];
	ck_assert_int_eq(video_superframe_split(bad, sizeof bad, got, gs, 8), LC_EPROTO);
	lc_buf_free(&b);
}
END_TEST

/* ---- encode, segment, decode -------------------------------------------- */

/* The encoder's superframes, kept as the reference for bit-exactness. */
struct pkt_log {
	size_t n;
	struct { uint8_t *data; size_t size; int t; bool key; } p[200];
};

static void log_packet(const struct video_packet *p, void *arg)
{
	struct pkt_log *lg = arg;
	ck_assert_uint_lt(lg->n, 200);
	lg->p[lg->n].data = malloc(p->size);
	memcpy(lg->p[lg->n].data, p->data, p->size);
	lg->p[lg->n].size = p->size;
	lg->p[lg->n].t = p->temporal;
	lg->p[lg->n].key = p->key;
	lg->n++;
}

static void pkt_log_free(struct pkt_log *lg)
{
	for (size_t i = 0; i < lg->n; i++)
		free(lg->p[i].data);
	lg->n = 0;
}

/* Encode `frames` frames of the test scene; segments into segs[]. */
static int encode_scene(const struct video_enc_cfg *cfg, int frames, struct video_segment **segs,
			int max_segs, struct pkt_log *lg)
{
	struct video_enc *e = NULL;
	ck_assert_int_eq(video_enc_new(&e, cfg), 0);
	if (lg)
		video_enc_set_packet_cb(e, log_packet, lg);
	struct video_frame f = { 0 };
	ck_assert_int_eq(video_frame_alloc(&f, cfg->width, cfg->height), 0);
	int n = 0;
	for (int i = 0; i < frames; i++) {
		video_pattern_draw(&f, (uint64_t)i, cfg->fps_num, cfg->fps_den, 1700000000000000LL + i * 33333);
		f.number = (uint64_t)i;
		f.pts_us = (int64_t)i * 1000000 * cfg->fps_den / cfg->fps_num;
		f.wall_us = 1700000000000000LL + f.pts_us;
		struct video_segment *seg = NULL;
		int rc = video_enc_push(e, &f, &seg);
		ck_assert_int_ge(rc, 0);
		if (rc == 1) {
			ck_assert_int_lt(n, max_segs);
			segs[n++] = seg;
		}
	}
	struct video_segment *seg = NULL;
	if (video_enc_flush(e, &seg) == 1) {
		ck_assert_int_lt(n, max_segs);
		segs[n++] = seg;
	}
	video_frame_free(&f);
	video_enc_free(e);
	return n;
}

/* Decoded frames, reduced to (segment, index, size, pixel hash). */
struct frame_log {
	size_t n;
	struct { uint64_t seg; int index, w, h, layer; uint64_t hash; } f[400];
};

static uint64_t frame_hash(const struct video_frame *f)
{
	uint64_t h = 0;
	for (int p = 0; p < 3; p++) {
		int w = p ? (f->width + 1) / 2 : f->width, hh = p ? (f->height + 1) / 2 : f->height;
		for (int y = 0; y < hh; y++)
			h = h * 31 + video_hash64(f->plane[p] + (size_t)y * f->stride[p], (size_t)w);
	}
	return h;
}

static void log_frame(const struct video_frame *f, void *arg)
{
	struct frame_log *lg = arg;
	ck_assert_uint_lt(lg->n, 400);
	lg->f[lg->n].seg = f->segment;
	lg->f[lg->n].index = f->index;
	lg->f[lg->n].w = f->width;
	lg->f[lg->n].h = f->height;
	lg->f[lg->n].layer = f->layer;
	lg->f[lg->n].hash = frame_hash(f);
	lg->n++;
}

/* Reference: the encoder's full superframes, temporal ids above t dropped,
 * decoded with VP9_DECODE_SVC_SPATIAL_LAYER = s. */
static void reference_decode(const struct pkt_log *pk, int seg_frames, int s, int t, struct frame_log *out)
{
	struct video_dec *d = NULL;
	ck_assert_int_eq(video_dec_new(&d, 1), 0);
	ck_assert_int_eq(video_dec_set_spatial(d, s), 0);
	out->n = 0;
	for (size_t i = 0; i < pk->n; i++) {
		if (pk->p[i].t > t)
			continue;
		size_t before = out->n;
		ck_assert_int_eq(video_dec_frame(d, pk->p[i].data, pk->p[i].size, log_frame, out), 0);
		ck_assert_uint_eq(out->n, before + 1);
		out->f[before].seg = i / (size_t)seg_frames;
		out->f[before].index = (int)(i % (size_t)seg_frames);
	}
	video_dec_free(d);
}

static void seg_ptrs(struct video_segment *seg, const uint8_t **p, size_t *len)
{
	for (int l = 0; l < VIDEO_MAX_LAYERS; l++) {
		p[l] = seg->payload[l].data;
		len[l] = seg->payload[l].len;
	}
}

static void small_cfg(struct video_enc_cfg *c)
{
	video_enc_cfg_default(c, 640, 360, 30, 1);
}

START_TEST(test_encode_segments)
{
	struct video_enc_cfg cfg;
	small_cfg(&cfg);
	ck_assert_int_eq(cfg.spatial, 3);
	ck_assert_int_eq(cfg.temporal, 3);
	ck_assert_int_eq(cfg.seg_frames, 30);
	struct video_segment *segs[8];
	static struct pkt_log pk;
	int n = encode_scene(&cfg, 90, segs, 8, &pk);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(pk.n, 90);
	double bytes[VIDEO_MAX_LAYERS] = { 0 };
	for (int i = 0; i < n; i++) {
		struct video_seg_desc *d = &segs[i]->desc;
		ck_assert_uint_eq(d->seq, (uint64_t)i);
		ck_assert(d->key);
		ck_assert_uint_eq(d->n_frames, 30);
		ck_assert_uint_eq(d->duration_us, 1000000);
		ck_assert_int_eq(d->pts_us, i * 1000000);
		ck_assert_int_eq(d->n_layers, 4);
		/* the encoder's own flags: key exactly at segment starts, 0212 */
		for (int k = 0; k < 30; k++) {
			ck_assert(pk.p[i * 30 + k].key == (k == 0));
			static const int tp[4] = { 0, 2, 1, 2 };
			ck_assert_int_eq(pk.p[i * 30 + k].t, tp[k % 4]);
		}
		/* descriptor round trip, payload sizes, hashes, framing */
		uint8_t wire[VIDEO_DESC_MAX];
		int wl = video_desc_write(d, wire, sizeof wire);
		ck_assert_int_gt(wl, 0);
		struct video_seg_desc e;
		ck_assert_int_eq(video_desc_parse(&e, wire, (size_t)wl), 0);
		ck_assert_int_eq(memcmp(&e, d, sizeof e), 0);
		static const int lw[4] = { 160, 160, 320, 640 }, lf[4] = { 2, 1, 1, 1 };
		for (int l = 0; l < 4; l++) {
			ck_assert_uint_eq(d->layer[l].size, segs[i]->payload[l].len);
			ck_assert(d->layer[l].hash == video_hash64(segs[i]->payload[l].data, segs[i]->payload[l].len));
			ck_assert_uint_eq(d->layer[l].width, lw[l]);
			ck_assert_uint_eq(d->layer[l].height, lw[l] * 9 / 16);
			ck_assert_uint_eq(d->layer[l].fps_num, 30);
			ck_assert_uint_eq(d->layer[l].fps_den, lf[l]);
			struct video_payload pl;
			ck_assert_int_eq(video_payload_parse(&pl, segs[i]->payload[l].data, segs[i]->payload[l].len), 0);
			/* L0: S0 of T0/T1 = 15 frames; L1: S0 of T2 = 15; L2, L3: 30 */
			ck_assert_uint_eq(pl.n, l < 2 ? 15 : 30);
			video_payload_free(&pl);
			bytes[l] += (double)d->layer[l].size;
		}
	}
	/* Layer bitrates against their targets (the ladder layer's share). */
	double prev = 0;
	bool ok = true;
	for (int l = 0; l < 4; l++) {
		double op = video_enc_op_kbps(&cfg, cfg.ladder.op[l].s, cfg.ladder.op[l].t);
		double target = op - prev;
		prev = op;
		double kbps = bytes[l] * 8 / 3 / 1000;
		fprintf(stderr, "video: layer %d: %.0f kbps (target %.0f)\n", l, kbps, target);
		ok &= kbps > 0.8 * target && kbps < 1.2 * target;
	}
	ck_assert_msg(ok, "a layer bitrate is more than 20%% off its target");
	for (int i = 0; i < n; i++)
		video_segment_free(segs[i]);
	pkt_log_free(&pk);
}
END_TEST

/* Every layer prefix of every segment decodes to exactly the frames of the
 * same operating point of a full decode; then one decoder switching layers
 * from segment to segment gives the same frames. */
START_TEST(test_prefix_bitexact)
{
	struct video_enc_cfg cfg;
	small_cfg(&cfg);
	struct video_segment *segs[8];
	static struct pkt_log pk;
	int n = encode_scene(&cfg, 90, segs, 8, &pk);
	ck_assert_int_eq(n, 3);
	static struct frame_log ref[VIDEO_MAX_LAYERS], got;
	for (int l = 0; l < cfg.ladder.n; l++) {
		int s = cfg.ladder.op[l].s, t = cfg.ladder.op[l].t;
		reference_decode(&pk, 30, s, t, &ref[l]);
		struct video_dec *d = NULL;
		ck_assert_int_eq(video_dec_new(&d, 1), 0);
		got.n = 0;
		for (int i = 0; i < n; i++) {
			const uint8_t *p[VIDEO_MAX_LAYERS];
			size_t len[VIDEO_MAX_LAYERS];
			seg_ptrs(segs[i], p, len);
			int used = -2;
			ck_assert_int_eq(video_dec_segment(d, &segs[i]->desc, p, len, l, log_frame, &got, &used), 0);
			ck_assert_int_eq(used, l);
		}
		video_dec_free(d);
		/* 7.5 / 15 / 30 fps: frames per 3 s */
		size_t want = (size_t)(90 >> (cfg.temporal - 1 - t));
		ck_assert_uint_eq(ref[l].n, want);
		ck_assert_uint_eq(got.n, want);
		for (size_t k = 0; k < got.n; k++) {
			ck_assert_uint_eq(got.f[k].seg, ref[l].f[k].seg);
			ck_assert_int_eq(got.f[k].index, ref[l].f[k].index);
			ck_assert_int_eq(got.f[k].w, segs[0]->desc.layer[l].width);
			ck_assert_int_eq(got.f[k].h, segs[0]->desc.layer[l].height);
			ck_assert_int_eq(got.f[k].w, ref[l].f[k].w);
			ck_assert_int_eq(got.f[k].layer, l);
			ck_assert_msg(got.f[k].hash == ref[l].f[k].hash, "layer %d frame %zu differs", l, k);
		}
	}
	/* Layer switching at segment boundaries (up and down), one decoder. */
	static const int plan[3] = { 3, 0, 2 };
	struct video_dec *d = NULL;
	ck_assert_int_eq(video_dec_new(&d, 2), 0);
	got.n = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *p[VIDEO_MAX_LAYERS];
		size_t len[VIDEO_MAX_LAYERS];
		seg_ptrs(segs[i], p, len);
		int used;
		ck_assert_int_eq(video_dec_segment(d, &segs[i]->desc, p, len, plan[i], log_frame, &got, &used), 0);
	}
	video_dec_free(d);
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		const struct frame_log *r = &ref[plan[i]];
		for (size_t j = 0; j < r->n; j++) {
			if (r->f[j].seg != (uint64_t)i)
				continue;
			ck_assert_uint_lt(k, got.n);
			ck_assert(got.f[k].hash == r->f[j].hash);
			k++;
		}
	}
	ck_assert_uint_eq(k, got.n);
	for (int i = 0; i < n; i++)
		video_segment_free(segs[i]);
	pkt_log_free(&pk);
}
END_TEST

/* Flip one byte of layer l's payload and, when `rehash`, fix the descriptor
 * so that only the decoder can notice. */
static void corrupt(struct video_segment *seg, int l, size_t at, bool rehash)
{
	seg->payload[l].data[at] ^= 0xff;
	if (rehash)
		seg->desc.layer[l].hash = video_hash64(seg->payload[l].data, seg->payload[l].len);
}

START_TEST(test_fallback)
{
	struct video_enc_cfg cfg;
	small_cfg(&cfg);
	struct video_segment *segs[2];
	static struct pkt_log pk;
	int n = encode_scene(&cfg, 30, segs, 2, &pk);
	ck_assert_int_eq(n, 1);
	static struct frame_log ref[VIDEO_MAX_LAYERS], got;
	for (int l = 0; l < cfg.ladder.n; l++)
		reference_decode(&pk, 30, cfg.ladder.op[l].s, cfg.ladder.op[l].t, &ref[l]);
	struct video_segment *seg = segs[0];
	const uint8_t *p[VIDEO_MAX_LAYERS];
	size_t len[VIDEO_MAX_LAYERS];
	struct video_dec *d = NULL;
	ck_assert_int_eq(video_dec_new(&d, 1), 0);
	int used;

	/* Missing layer 2: layers 0-1 decode, the error says why. */
	seg_ptrs(seg, p, len);
	p[2] = NULL;
	len[2] = 0;
	got.n = 0;
	ck_assert_int_eq(video_dec_segment(d, &seg->desc, p, len, 3, log_frame, &got, &used), LC_ENOENT);
	ck_assert_int_eq(used, 1);
	ck_assert_uint_eq(got.n, ref[1].n);
	for (size_t k = 0; k < got.n; k++)
		ck_assert(got.f[k].hash == ref[1].f[k].hash && got.f[k].layer == 1);

	/* Corrupt layer 3 (hash mismatch): layer 2. */
	corrupt(seg, 3, 100, false);
	seg_ptrs(seg, p, len);
	got.n = 0;
	ck_assert_int_eq(video_dec_segment(d, &seg->desc, p, len, 3, log_frame, &got, &used), LC_ECORRUPT);
	ck_assert_int_eq(used, 2);
	ck_assert_uint_eq(got.n, 30);
	for (size_t k = 0; k < got.n; k++)
		ck_assert(got.f[k].hash == ref[2].f[k].hash);
	corrupt(seg, 3, 100, false);

	/* Wrong size. */
	len[3] -= 1;
	ck_assert_int_eq(video_dec_segment(d, &seg->desc, p, len, 3, NULL, NULL, &used), LC_ECORRUPT);
	ck_assert_int_eq(used, 2);
	len[3] += 1;

	/* Corrupt base layer: nothing decodes, and no crash. */
	corrupt(seg, 0, 4, false);
	got.n = 0;
	ck_assert_int_eq(video_dec_segment(d, &seg->desc, p, len, 3, log_frame, &got, &used), LC_ECORRUPT);
	ck_assert_int_eq(used, -1);
	ck_assert_uint_eq(got.n, 0);
	corrupt(seg, 0, 4, false);

	/* A consistent-looking but broken frame in layer 3 (the hash is fixed up):
	 * the VP9 decoder fails on frame 5; frames 0-4 were given at layer 3, the
	 * rest come from layer 2, each index once. */
	struct video_payload pl;
	ck_assert_int_eq(video_payload_parse(&pl, seg->payload[3].data, seg->payload[3].len), 0);
	ck_assert_int_eq(pl.rec[5].index, 5);
	size_t at = (size_t)(pl.rec[5].data - seg->payload[3].data);
	video_payload_free(&pl);
	/* frame marker bits and profile: the first byte of a VP9 frame */
	seg->payload[3].data[at] = 0x00;
	seg->desc.layer[3].hash = video_hash64(seg->payload[3].data, seg->payload[3].len);
	got.n = 0;
	ck_assert_int_eq(video_dec_segment(d, &seg->desc, p, len, 3, log_frame, &got, &used), LC_ECORRUPT);
	ck_assert_int_eq(used, 2);
	ck_assert_uint_eq(got.n, 30);
	for (size_t k = 0; k < got.n; k++) {
		ck_assert_int_eq(got.f[k].index, (int)k);
		ck_assert_int_eq(got.f[k].layer, k < 5 ? 3 : 2);
		ck_assert(got.f[k].hash == (k < 5 ? ref[3] : ref[2]).f[k].hash);
	}
	/* The decoder is usable afterwards: layer 1 exactly. */
	got.n = 0;
	ck_assert_int_eq(video_dec_segment(d, &seg->desc, p, len, 1, log_frame, &got, &used), 0);
	ck_assert_uint_eq(got.n, ref[1].n);
	for (size_t k = 0; k < got.n; k++)
		ck_assert(got.f[k].hash == ref[1].f[k].hash);

	/* A record filed under the wrong layer is refused by the ladder check. */
	struct lc_buf moved;
	lc_buf_init(&moved);
	ck_assert_int_eq(video_payload_parse(&pl, seg->payload[2].data, seg->payload[2].len), 0);
	ck_assert_int_eq(video_payload_write(&moved, 1, pl.rec, pl.n), 0); /* S1 frames as layer 1 */
	video_payload_free(&pl);
	struct video_seg_desc dd = seg->desc;
	dd.layer[1].size = (uint32_t)moved.len;
	dd.layer[1].hash = video_hash64(moved.data, moved.len);
	p[1] = moved.data;
	len[1] = moved.len;
	ck_assert_int_eq(video_dec_segment(d, &dd, p, len, 3, NULL, NULL, &used), LC_EPROTO);
	ck_assert_int_eq(used, 0);
	lc_buf_free(&moved);
	/* Out of range requests. */
	ck_assert_int_eq(video_dec_segment(d, &seg->desc, p, len, 4, NULL, NULL, &used), LC_ERANGE);
	ck_assert_int_eq(used, -1);

	video_dec_free(d);
	video_segment_free(seg);
	pkt_log_free(&pk);
}
END_TEST

/* ---- threads ------------------------------------------------------------ */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int calls;
};

static void notify(void *arg)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->mu);
	w->calls++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

/* Source thread -> segments -> decoder thread -> frames, as the engine and
 * the window will use them. */
START_TEST(test_threads)
{
	struct waiter ws = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	struct waiter wd = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	struct video_pipe_cfg pc;
	memset(&pc, 0, sizeof pc);
	video_src_cfg_default(&pc.src);
	pc.src.width = 320;
	pc.src.height = 180;
	pc.realtime = false;
	pc.max_frames = 75; /* 2.5 segments: the last one is flushed short */
	pc.queue = 8;
	pc.notify = notify;
	pc.notify_arg = &ws;
	struct video_pipe *pipe = NULL;
	char err[160];
	ck_assert_int_eq(video_pipe_start(&pipe, &pc, err, sizeof err), 0);

	struct video_player_cfg qc = { .threads = 1, .in_queue = 4, .out_queue = 128,
				       .notify = notify, .notify_arg = &wd };
	struct video_player *pl = NULL;
	ck_assert_int_eq(video_player_new(&pl, &qc), 0);
	int segs = 0;
	uint64_t next_seq = 0;
	for (;;) {
		struct video_segment *seg = video_pipe_pop(pipe);
		if (!seg) {
			int st = video_pipe_status(pipe);
			ck_assert_int_ge(st, 0);
			if (st == 1 && !(seg = video_pipe_pop(pipe)))
				break;
			if (!seg) {
				/* wait for the next notify instead of sleeping */
				pthread_mutex_lock(&ws.mu);
				int c = ws.calls;
				while (ws.calls == c && video_pipe_status(pipe) == 0 && !(seg = video_pipe_pop(pipe)))
					pthread_cond_wait(&ws.cond, &ws.mu);
				pthread_mutex_unlock(&ws.mu);
				if (!seg)
					continue;
			}
		}
		ck_assert_uint_eq(seg->desc.seq, next_seq++);
		ck_assert(seg->desc.key);
		const uint8_t *p[VIDEO_MAX_LAYERS];
		size_t len[VIDEO_MAX_LAYERS];
		seg_ptrs(seg, p, len);
		int want = seg->desc.n_layers - 1;
		int rc;
		while ((rc = video_player_submit(pl, &seg->desc, p, len, want)) == LC_EFULL)
			video_player_drain(pl);
		ck_assert_int_eq(rc, 0);
		video_segment_free(seg);
		segs++;
	}
	ck_assert_int_eq(video_pipe_wait(pipe), 1);
	struct video_pipe_stats ps;
	video_pipe_get_stats(pipe, &ps);
	ck_assert_uint_eq(ps.frames, 75);
	ck_assert_uint_eq(ps.segments, 3);
	ck_assert_uint_eq(ps.dropped_segments, 0);
	ck_assert(ps.enc_cpu_s > 0);
	ck_assert_int_eq(segs, 3);
	pthread_mutex_lock(&ws.mu);
	ck_assert_int_ge(ws.calls, 3);
	pthread_mutex_unlock(&ws.mu);
	video_pipe_free(pipe);

	video_player_drain(pl);
	struct video_frame f = { 0 };
	int frames = 0;
	while (video_player_pop(pl, &f) == 0) {
		ck_assert_int_eq(f.width, 320);
		ck_assert_int_eq(f.height, 180);
		ck_assert_int_eq(f.index, frames % 30);
		ck_assert_uint_eq(f.segment, (uint64_t)(frames / 30));
		frames++;
	}
	ck_assert_int_eq(frames, 75);
	ck_assert_int_eq(video_player_pop(pl, &f), LC_EAGAIN);
	video_frame_free(&f);
	struct video_player_stats st;
	video_player_get_stats(pl, &st);
	ck_assert_uint_eq(st.segments, 3);
	ck_assert_uint_eq(st.frames, 75);
	ck_assert_uint_eq(st.errors, 0);
	pthread_mutex_lock(&wd.mu);
	ck_assert_int_ge(wd.calls, 75);
	pthread_mutex_unlock(&wd.mu);
	video_player_free(pl);
}
END_TEST

/* A realtime source is stopped promptly, and a small frame queue drops the
 * oldest frames instead of blocking the decoder. */
START_TEST(test_threads_stop_and_drop)
{
	struct video_pipe_cfg pc;
	memset(&pc, 0, sizeof pc);
	video_src_cfg_default(&pc.src);
	pc.src.width = 160;
	pc.src.height = 96;
	pc.src.fps_num = 1;
	pc.src.fps_den = 4; /* 4 s a frame: stopping must not wait for the next one */
	pc.realtime = true;
	struct video_pipe *pipe = NULL;
	ck_assert_int_eq(video_pipe_start(&pipe, &pc, NULL, 0), 0);
	ck_assert_int_eq(video_pipe_status(pipe), 0);
	int64_t t0 = lc_now_us();
	video_pipe_free(pipe);
	ck_assert_int_lt(lc_now_us() - t0, 2000000);

	/* Bad source: the error comes back from start. */
	pc.src.kind = VIDEO_SRC_Y4M;
	pc.src.path = "/nonexistent.y4m";
	char err[160] = "";
	ck_assert_int_eq(video_pipe_start(&pipe, &pc, err, sizeof err), LC_ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "nonexistent"));

	struct video_enc_cfg cfg;
	video_enc_cfg_default(&cfg, 160, 96, 30, 1);
	struct video_segment *segs[2];
	int n = encode_scene(&cfg, 30, segs, 2, NULL);
	ck_assert_int_eq(n, 1);
	struct video_player_cfg qc = { .threads = 1, .in_queue = 1, .out_queue = 4 };
	struct video_player *pl = NULL;
	ck_assert_int_eq(video_player_new(&pl, &qc), 0);
	const uint8_t *p[VIDEO_MAX_LAYERS];
	size_t len[VIDEO_MAX_LAYERS];
	seg_ptrs(segs[0], p, len);
	int top = segs[0]->desc.n_layers - 1;
	ck_assert_int_eq(video_player_submit(pl, &segs[0]->desc, p, len, top + 1), LC_ERANGE);
	ck_assert_int_eq(video_player_submit(pl, &segs[0]->desc, p, len, top), 0);
	video_player_drain(pl);
	struct video_player_stats st;
	video_player_get_stats(pl, &st);
	ck_assert_uint_eq(st.frames, 30);
	ck_assert_uint_eq(st.dropped_frames, 26);
	struct video_frame f = { 0 };
	ck_assert_int_eq(video_player_pop(pl, &f), 0);
	ck_assert_int_eq(f.index, 26); /* the newest four are kept */
	video_frame_free(&f);
	/* A missing layer: fallback counted, frames still come. */
	p[top] = NULL;
	len[top] = 0;
	ck_assert_int_eq(video_player_submit(pl, &segs[0]->desc, p, len, top), 0);
	video_player_drain(pl);
	video_player_get_stats(pl, &st);
	ck_assert_uint_eq(st.errors, 1);
	ck_assert_uint_eq(st.fallbacks, 1);
	ck_assert_int_eq(st.last_error, LC_ENOENT);
	ck_assert_int_eq(st.last_layer, top - 1);
	ck_assert_uint_eq(st.frames, 30 + 15); /* S0 T0-T1 only: 15 fps */
	/* Freed with frames and maybe jobs still queued. */
	ck_assert_int_eq(video_player_submit(pl, &segs[0]->desc, p, len, 0), 0);
	video_player_free(pl);
	video_segment_free(segs[0]);
}
END_TEST

/* One 720p segment: the default 3x3 ladder sizes, decoded at every layer. */
START_TEST(test_720p)
{
	struct video_enc_cfg cfg;
	video_enc_cfg_default(&cfg, 1280, 720, 30, 1);
	ck_assert_int_eq(cfg.kbps[0], 300);
	ck_assert_int_eq(cfg.kbps[1], 900);
	ck_assert_int_eq(cfg.kbps[2], 2500);
	struct video_segment *segs[2];
	int n = encode_scene(&cfg, 30, segs, 2, NULL);
	ck_assert_int_eq(n, 1);
	static const int w[4] = { 320, 320, 640, 1280 }, h[4] = { 180, 180, 360, 720 };
	for (int l = 0; l < 4; l++) {
		ck_assert_int_eq(segs[0]->desc.layer[l].width, w[l]);
		ck_assert_int_eq(segs[0]->desc.layer[l].height, h[l]);
		struct video_dec *d = NULL;
		ck_assert_int_eq(video_dec_new(&d, 1), 0);
		const uint8_t *p[VIDEO_MAX_LAYERS];
		size_t len[VIDEO_MAX_LAYERS];
		seg_ptrs(segs[0], p, len);
		static struct frame_log got;
		got.n = 0;
		int used;
		ck_assert_int_eq(video_dec_segment(d, &segs[0]->desc, p, len, l, log_frame, &got, &used), 0);
		ck_assert_uint_eq(got.n, l ? 30 : 15);
		ck_assert_int_eq(got.f[0].w, w[l]);
		ck_assert_int_eq(got.f[0].h, h[l]);
		video_dec_free(d);
	}
	video_segment_free(segs[0]);
}
END_TEST

/* The quality meter: upper layers are better at full size, the top layer
 * is a sound encode, and bitrates add up. */
START_TEST(test_eval)
{
	struct video_enc_cfg cfg;
	video_enc_cfg_default(&cfg, 320, 180, 30, 1);
	ck_assert_int_eq(cfg.spatial, 2);
	struct video_enc *e = NULL;
	ck_assert_int_eq(video_enc_new(&e, &cfg), 0);
	struct video_eval *ev = NULL;
	ck_assert_int_eq(video_eval_new(&ev, cfg.ladder.n), 0);
	static struct video_frame src[30];
	for (int k = 0; k < 2; k++) {
		struct video_segment *seg = NULL;
		for (int i = 0; i < 30; i++) {
			ck_assert_int_eq(video_frame_alloc(&src[i], 320, 180), 0);
			video_pattern_draw(&src[i], (uint64_t)(k * 30 + i), 30, 1, 0);
			ck_assert_int_eq(video_enc_push(e, &src[i], &seg), i == 29);
		}
		ck_assert_int_eq(video_eval_segment(ev, seg, src, 30), 0);
		video_segment_free(seg);
	}
	double prev_full = 0, prev_kbps = 0;
	for (int l = 0; l < cfg.ladder.n; l++) {
		struct video_eval_layer r;
		ck_assert_int_eq(video_eval_result(ev, l, &r), 0);
		ck_assert_int_eq(r.errors, 0);
		ck_assert_uint_eq(r.frames, l ? 60 : 30);
		ck_assert_uint_eq(r.full.frames, 60);
		double full = video_sse_psnr(&r.full, 0);
		ck_assert(full >= prev_full - 0.2);
		ck_assert(r.kbps > prev_kbps);
		prev_full = full;
		prev_kbps = r.kbps;
		if (l == cfg.ladder.n - 1) {
			ck_assert(video_sse_psnr(&r.native, 0) > 28);
			ck_assert(video_sse_psnr(&r.native, 0) == full); /* same size */
		}
	}
	ck_assert_int_eq(video_eval_result(ev, cfg.ladder.n, &(struct video_eval_layer){ 0 }), LC_ERANGE);
	for (int i = 0; i < 30; i++)
		video_frame_free(&src[i]);
	video_eval_free(ev);
	video_enc_free(e);
}
END_TEST

Suite *suite_video(void)
{
	Suite *s = suite_create("video");
	TCase *tc = tcase_create("sources");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_y4m_valid_sizes);
	tcase_add_test(tc, test_y4m_rejects);
	tcase_add_test(tc, test_pattern);
	tcase_add_test(tc, test_text_glyphs);
	tcase_add_test(tc, test_v4l2_missing);
	tcase_add_test(tc, test_scale_psnr);
	tcase_add_test(tc, test_yuyv);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_add_test(tc, test_ladder);
	tcase_add_test(tc, test_payload_wire);
	tcase_add_test(tc, test_desc_wire);
	tcase_add_test(tc, test_superframe);
	suite_add_tcase(s, tc);

	tc = tcase_create("codec");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_encode_segments);
	tcase_add_test(tc, test_prefix_bitexact);
	tcase_add_test(tc, test_fallback);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_threads_stop_and_drop);
	tcase_add_test(tc, test_720p);
	tcase_add_test(tc, test_eval);
	suite_add_tcase(s, tc);
	return s;
}
