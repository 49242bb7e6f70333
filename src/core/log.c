#include <pthread.h>
#include <time.h>

#include "core/core.h"

static enum lc_log_level log_level = LC_LOG_WARN;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void lc_log_set_level(enum lc_log_level level) { log_level = level; }
enum lc_log_level lc_log_get_level(void) { return log_level; }

void lc_log_set_file(FILE *f)
{
	pthread_mutex_lock(&log_lock);
	log_file = f;
	pthread_mutex_unlock(&log_lock);
}

void lc_logv(enum lc_log_level level, const char *module, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	if (level > log_level)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	/* One fprintf per line under a lock, so lines from threads never mix. */
	char line[1024];
	int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s %s: ", tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, names[level], module ? module : "-");
	if (n < 0)
		return;
	if ((size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	pthread_mutex_lock(&log_lock);
	FILE *f = log_file ? log_file : stderr;
	fprintf(f, "%s\n", line);
	fflush(f);
	pthread_mutex_unlock(&log_lock);
}

void lc_log(enum lc_log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lc_logv(level, module, fmt, ap);
	va_end(ap);
}
