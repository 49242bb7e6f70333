#include "core/core.h"

const char *lc_strerror(int err)
{
	switch (err) {
	case LC_OK: return "success";
	case LC_EINVAL: return "invalid argument";
	case LC_ENOMEM: return "out of memory";
	case LC_ERANGE: return "value out of range";
	case LC_ETRUNC: return "truncated input";
	case LC_EPROTO: return "malformed input";
	case LC_EVERSION: return "unsupported version";
	case LC_ETYPE: return "unknown type";
	case LC_EFULL: return "queue full";
	case LC_EAGAIN: return "try again";
	case LC_EIO: return "I/O error";
	case LC_ENOTSUP: return "not supported";
	case LC_EDEPENDENT: return "block adds no rank";
	case LC_ECORRUPT: return "corrupt content";
	case LC_ENOENT: return "not found";
	case LC_ESTATE: return "wrong state";
	case LC_ETIMEDOUT: return "timed out";
	case LC_ECLOSED: return "closed";
	case LC_E2BIG: return "message too large";
	}
	return err >= 0 ? "success" : "unknown error";
}
