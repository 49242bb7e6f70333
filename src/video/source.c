/*
 * Frame sources: the test scene, Y4M files (4:2:0 8-bit) and V4L2 cameras.
 * Y4M input is untrusted: every header field is checked, lines are bounded,
 * and a frame larger than what is left of a sized stream is rejected before
 * any allocation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "video/internal.h"

#define Y4M_LINE_MAX 1024

struct video_src {
	enum video_src_kind kind;
	int width, height, fps_num, fps_den;
	uint64_t number;
	char err[160];
	/* Y4M */
	FILE *f;
	bool own_file;
	bool loop;
	long data_start;       /* offset of the first FRAME */
	int64_t stream_size;   /* -1 if unknown (pipe) */
	uint64_t frames_in_file;
	size_t frame_size;
	/* V4L2 */
	struct video_v4l2 *cam;
};

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

void video_src_cfg_default(struct video_src_cfg *c)
{
	memset(c, 0, sizeof *c);
	c->kind = VIDEO_SRC_PATTERN;
	c->width = 1280;
	c->height = 720;
	c->fps_num = 30;
	c->fps_den = 1;
	c->loop = true;
}

/* Read one line (without '\n') of at most Y4M_LINE_MAX bytes. Returns its
 * length, -1 at EOF before any byte, -2 at EOF inside the line, -3 if too long. */
static int read_line(FILE *f, char *buf)
{
	int n = 0;
	for (;;) {
		int c = getc(f);
		if (c == EOF)
			return n ? -2 : -1;
		if (c == '\n')
			break;
		if (n >= Y4M_LINE_MAX - 1)
			return -3;
		buf[n++] = (char)c;
	}
	buf[n] = 0;
	return n;
}

static bool parse_uint(const char *s, long max, long *out)
{
	if (!*s)
		return false;
	long v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static bool parse_ratio(const char *s, long *num, long *den)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon - s > 12)
		return false;
	char a[16];
	memcpy(a, s, (size_t)(colon - s));
	a[colon - s] = 0;
	return parse_uint(a, 1000000, num) && parse_uint(colon + 1, 1000000, den);
}

static int y4m_header(struct video_src *s, char *err, size_t errlen)
{
	char line[Y4M_LINE_MAX];
	int n = read_line(s->f, line);
	if (n == -1 || n == -2) {
		seterr(err, errlen, "y4m: empty or truncated header");
		return n == -1 ? LC_ETRUNC : LC_ETRUNC;
	}
	if (n == -3) {
		seterr(err, errlen, "y4m: header line longer than %d bytes", Y4M_LINE_MAX);
		return LC_EPROTO;
	}
	if (strncmp(line, "YUV4MPEG2", 9) || (line[9] != ' ' && line[9] != 0)) {
		seterr(err, errlen, "y4m: bad magic (not a YUV4MPEG2 file)");
		return LC_EPROTO;
	}
	long w = -1, h = -1, fn = 30, fd = 1;
	char *save = NULL;
	for (char *tok = strtok_r(line + 9, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		const char *v = tok + 1;
		switch (tok[0]) {
		case 'W':
			if (!parse_uint(v, VIDEO_MAX_DIM, &w) || w == 0) {
				seterr(err, errlen, "y4m: bad width '%.20s' (1..%d)", v, VIDEO_MAX_DIM);
				return LC_EPROTO;
			}
			break;
		case 'H':
			if (!parse_uint(v, VIDEO_MAX_DIM, &h) || h == 0) {
				seterr(err, errlen, "y4m: bad height '%.20s' (1..%d)", v, VIDEO_MAX_DIM);
				return LC_EPROTO;
			}
			break;
		case 'F':
			if (!parse_ratio(v, &fn, &fd) || !fn || !fd) {
				seterr(err, errlen, "y4m: bad frame rate '%.20s'", v);
				return LC_EPROTO;
			}
			break;
		case 'C':
			if (strcmp(v, "420") && strcmp(v, "420jpeg") && strcmp(v, "420paldv") &&
			    strcmp(v, "420mpeg2")) {
				seterr(err, errlen,
				       "y4m: colour space C%.20s not supported (only 4:2:0 8-bit)", v);
				return LC_ENOTSUP;
			}
			break;
		case 'I':
		case 'A':
		case 'X':
			break; /* interlacing, aspect, extensions: ignored */
		default:
			seterr(err, errlen, "y4m: unknown header field '%.20s'", tok);
			return LC_EPROTO;
		}
	}
	if (w < 0 || h < 0) {
		seterr(err, errlen, "y4m: header lacks %s", w < 0 ? "width (W)" : "height (H)");
		return LC_EPROTO;
	}
	s->width = (int)w;
	s->height = (int)h;
	s->fps_num = (int)fn;
	s->fps_den = (int)fd;
	size_t cw = (size_t)(w + 1) / 2, ch = (size_t)(h + 1) / 2;
	s->frame_size = (size_t)w * (size_t)h + 2 * cw * ch;
	s->data_start = ftell(s->f);
	s->stream_size = -1;
	struct stat st;
	int fd_no = fileno(s->f);
	if (fd_no >= 0 && !fstat(fd_no, &st) && S_ISREG(st.st_mode))
		s->stream_size = st.st_size;
	return 0;
}

static int y4m_open(struct video_src **out, FILE *f, bool own, bool loop, int64_t size,
		    char *err, size_t errlen)
{
	struct video_src *s = calloc(1, sizeof *s);
	if (!s) {
		if (own)
			fclose(f);
		return LC_ENOMEM;
	}
	s->kind = VIDEO_SRC_Y4M;
	s->f = f;
	s->own_file = own;
	s->loop = loop;
	int rc = y4m_header(s, err, errlen);
	if (rc) {
		video_src_close(s);
		return rc;
	}
	if (size >= 0)
		s->stream_size = size;
	*out = s;
	return 0;
}

int video_src_open_y4m_file(struct video_src **out, FILE *f, bool loop, char *err, size_t errlen)
{
	return y4m_open(out, f, false, loop, -1, err, errlen);
}

int video_src_open_y4m_mem(struct video_src **out, const void *data, size_t len, bool loop,
			   char *err, size_t errlen)
{
	if (!len) {
		seterr(err, errlen, "y4m: empty input");
		return LC_ETRUNC;
	}
	FILE *f = fmemopen((void *)data, len, "r");
	if (!f) {
		seterr(err, errlen, "y4m: fmemopen: %s", strerror(errno));
		return LC_EIO;
	}
	return y4m_open(out, f, true, loop, (int64_t)len, err, errlen);
}

int video_src_open(struct video_src **out, const struct video_src_cfg *cfg, char *err, size_t errlen)
{
	*out = NULL;
	switch (cfg->kind) {
	case VIDEO_SRC_PATTERN: {
		if (cfg->width < 2 || cfg->height < 2 || cfg->width > VIDEO_MAX_DIM ||
		    cfg->height > VIDEO_MAX_DIM || cfg->fps_num <= 0 || cfg->fps_den <= 0) {
			seterr(err, errlen, "pattern: bad size %dx%d or rate %d/%d", cfg->width,
			       cfg->height, cfg->fps_num, cfg->fps_den);
			return LC_EINVAL;
		}
		struct video_src *s = calloc(1, sizeof *s);
		if (!s)
			return LC_ENOMEM;
		s->kind = VIDEO_SRC_PATTERN;
		s->width = cfg->width;
		s->height = cfg->height;
		s->fps_num = cfg->fps_num;
		s->fps_den = cfg->fps_den;
		*out = s;
		return 0;
	}
	case VIDEO_SRC_Y4M: {
		if (!cfg->path) {
			seterr(err, errlen, "y4m: no file name");
			return LC_EINVAL;
		}
		FILE *f = fopen(cfg->path, "rb");
		if (!f) {
			seterr(err, errlen, "y4m: %s: %s", cfg->path, strerror(errno));
			return errno == ENOENT ? LC_ENOENT : LC_EIO;
		}
		return y4m_open(out, f, true, cfg->loop, -1, err, errlen);
	}
	case VIDEO_SRC_V4L2: {
		struct video_src *s = calloc(1, sizeof *s);
		if (!s)
			return LC_ENOMEM;
		s->kind = VIDEO_SRC_V4L2;
		int rc = video__v4l2_open(&s->cam, cfg->path ? cfg->path : "/dev/video0", cfg->width,
					  cfg->height, cfg->fps_num, cfg->fps_den, err, errlen);
		if (rc) {
			free(s);
			return rc;
		}
		video__v4l2_info(s->cam, &s->width, &s->height, &s->fps_num, &s->fps_den);
		*out = s;
		return 0;
	}
	}
	seterr(err, errlen, "unknown source kind");
	return LC_EINVAL;
}

static int y4m_read(struct video_src *s, struct video_frame *f)
{
	char line[Y4M_LINE_MAX];
	for (int attempt = 0;; attempt++) {
		int n = read_line(s->f, line);
		if (n == -1) {
			if (!s->loop || attempt > 0 || !s->frames_in_file) {
				seterr(s->err, sizeof s->err, "y4m: end of file");
				return LC_ECLOSED;
			}
			if (fseek(s->f, s->data_start, SEEK_SET)) {
				seterr(s->err, sizeof s->err, "y4m: cannot loop (not seekable)");
				return LC_ECLOSED;
			}
			continue;
		}
		if (n == -2) {
			seterr(s->err, sizeof s->err, "y4m: truncated frame header");
			return LC_ETRUNC;
		}
		if (n == -3 || strncmp(line, "FRAME", 5) || (line[5] != ' ' && line[5] != 0)) {
			seterr(s->err, sizeof s->err, "y4m: bad frame header (expected FRAME)");
			return LC_EPROTO;
		}
		break;
	}
	if (s->stream_size >= 0) {
		long pos = ftell(s->f);
		if (pos < 0 || (uint64_t)(s->stream_size - pos) < s->frame_size) {
			seterr(s->err, sizeof s->err, "y4m: truncated frame %llu (%lld of %zu bytes)",
			       (unsigned long long)s->frames_in_file,
			       (long long)(pos < 0 ? 0 : s->stream_size - pos), s->frame_size);
			return LC_ETRUNC;
		}
	}
	int rc = video_frame_alloc(f, s->width, s->height);
	if (rc)
		return rc;
	/* The frame buffer is exactly the Y4M layout: planes back to back. */
	size_t got = fread(f->plane[0], 1, s->frame_size, s->f);
	if (got != s->frame_size) {
		seterr(s->err, sizeof s->err, "y4m: truncated frame %llu (%zu of %zu bytes)",
		       (unsigned long long)s->frames_in_file, got, s->frame_size);
		return LC_ETRUNC;
	}
	s->frames_in_file++;
	return 0;
}

int video_src_read(struct video_src *s, struct video_frame *f)
{
	int rc = 0;
	int64_t wall = lc_wall_us();
	switch (s->kind) {
	case VIDEO_SRC_PATTERN:
		rc = video_frame_alloc(f, s->width, s->height);
		if (rc)
			return rc;
		video_pattern_draw(f, s->number, s->fps_num, s->fps_den, wall);
		break;
	case VIDEO_SRC_Y4M:
		rc = y4m_read(s, f);
		break;
	case VIDEO_SRC_V4L2:
		rc = video__v4l2_read(s->cam, f, s->err, sizeof s->err);
		break;
	}
	if (rc)
		return rc;
	f->wall_us = wall;
	f->number = s->number;
	f->pts_us = (int64_t)(s->number * 1000000ULL * (uint64_t)s->fps_den / (uint64_t)s->fps_num);
	s->number++;
	return 0;
}

void video_src_info(const struct video_src *s, int *w, int *h, int *fps_num, int *fps_den)
{
	if (w)
		*w = s->width;
	if (h)
		*h = s->height;
	if (fps_num)
		*fps_num = s->fps_num;
	if (fps_den)
		*fps_den = s->fps_den;
}

const char *video_src_error(const struct video_src *s)
{
	return s->err;
}

bool video_src_needs_pacing(const struct video_src *s)
{
	return s->kind != VIDEO_SRC_V4L2;
}

void video_src_close(struct video_src *s)
{
	if (!s)
		return;
	if (s->f && s->own_file)
		fclose(s->f);
	if (s->cam)
		video__v4l2_close(s->cam);
	free(s);
}
