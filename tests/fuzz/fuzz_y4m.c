/* libFuzzer target: the Y4M reader on bytes from memory (header, frame
 * headers, truncation), reading a few frames with looping on. */
#include <stddef.h>
#include <stdint.h>

#include "video/video.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct video_src *s = NULL;
	char err[160];
	if (video_src_open_y4m_mem(&s, data, size, true, err, sizeof err))
		return 0;
	struct video_frame f = { 0 };
	for (int i = 0; i < 4; i++)
		if (video_src_read(s, &f))
			break;
	video_frame_free(&f);
	video_src_close(s);
	return 0;
}
