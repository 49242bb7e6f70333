/*
 * net: the peer links of layercast — WebSocket (RFC 6455) over
 * libwebsockets, server and client on one port, on the engine's libev loop.
 * This is the only module that includes libwebsockets.h.
 *
 * One listening port serves:
 *   GET /            a small HTML status page
 *   GET /stats.json  counters and the links as JSON
 *   GET /metrics     Prometheus text exposition format
 *   GET /swarm       the WebSocket upgrade, subprotocol "layercast.v7"
 * The bodies of the three routes start with net's own counters; the user
 * may append its own content through a provider callback.
 *
 * Handshake policy (server side): an upgrade that does not offer
 * layercast.v7 gets HTTP 400; when an Origin allow-list is configured, an
 * upgrade whose Origin is not on it gets 403 (no Origin at all is allowed:
 * peers are not browsers); an upgrade on another path gets 404. The dialling
 * side refuses a 101 that did not select layercast.v7. Every refusal is
 * counted by reason (enum net_refusal).
 *
 * Links: once open a link is symmetric, either side sends. One WebSocket
 * binary message carries one message queued with link_send(), or, with
 * coalesce_max set, the messages at the head of the queue that fit in
 * coalesce_max bytes, back to back, up to one sent with NET_SEND_LAST (the
 * user's messages must then delimit themselves, but for a LAST one, which
 * may run to the end); net never looks inside them. A message is
 * reassembled from however many fragments and reads it arrives in, up to
 * max_message bytes (above: close 1009). The user's on_message
 * may return a WebSocket close code (1002, 1007, ...) to reject a malformed
 * message: net closes the link with that code and counts it. Text frames
 * are refused with 1003. Problems on one link never touch another.
 *
 * Flow control: each link has a send queue bounded in bytes; link_send()
 * copies the message in, or returns LC_EFULL when it would not fit (the
 * user decides what to drop). One WebSocket message is written per
 * writable event. An optional upload limit (kbit/s, a token bucket shared
 * by every link) paces the writes with a timer. It is charged every byte
 * written: the messages, their frame headers (2 to 10 bytes, and a 4-byte
 * masking key on the links we dialled) and net's pings; lws's automatic
 * answers to a peer's pings are not seen. The bucket may go into debt by
 * one message, so large messages never stall and the long-run rate is
 * exact.
 * Links that find the bucket dry take turns, first come first served, so a
 * busy link never starves the others (a new link's handshake, say).
 *
 * Liveness: net sends a WebSocket ping with a timestamp every
 * ping_interval (unless no_ping: a user that keeps its links alive itself
 * saves the bytes); the pong gives the RTT. A link on which nothing at all
 * (data, ping or pong) arrived for idle_timeout is dead: on_close is called
 * with 1006 "timeout" at once and the socket dropped. A reset or closed TCP
 * connection is seen at once. Dialled links are redialled with exponential
 * backoff (with jitter) until net_dial_cancel().
 *
 * Threading: everything runs on the loop's thread; no call is thread-safe.
 * A struct net_link is valid from on_open until on_close returns.
 *
 * Shutdown: net_shutdown() stops dialling and accepting, sends Close 1000
 * on every link, waits up to a bound for the replies, then destroys the
 * libwebsockets context from a 0 s timer (never inside a library callback)
 * and calls on_shutdown. net_free() afterwards (or at any time outside a
 * net callback, then without the graceful close).
 */
#ifndef LC_NET_H
#define LC_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define NET_SUBPROTOCOL "layercast.v7" /* = WIRE_SUBPROTOCOL: names the wire format version */
#define NET_PATH "/swarm"

/* WebSocket close codes used by net. */
enum {
	NET_CLOSE_NORMAL = 1000,
	NET_CLOSE_GOING_AWAY = 1001,
	NET_CLOSE_PROTOCOL = 1002,
	NET_CLOSE_UNSUPPORTED = 1003,
	NET_CLOSE_ABNORMAL = 1006,   /* never sent: no close frame was exchanged */
	NET_CLOSE_INVALID = 1007,
	NET_CLOSE_POLICY = 1008,
	NET_CLOSE_TOO_BIG = 1009,
	NET_CLOSE_INTERNAL = 1011,
};

/* Why a connection or a link was refused or ended badly. */
enum net_refusal {
	NET_REF_SUBPROTOCOL, /* upgrade without layercast.v7 (HTTP 400) */
	NET_REF_ORIGIN,      /* Origin not on the allow-list (HTTP 403) */
	NET_REF_PATH,        /* upgrade on another path (HTTP 404) */
	NET_REF_HANDSHAKE,   /* not HTTP at all, or dropped before a request */
	NET_REF_OVERSIZE,    /* message above max_message (close 1009) */
	NET_REF_MALFORMED,   /* on_message rejected it (close 1002/1007/...) */
	NET_REF_TEXT,        /* a text message (close 1003) */
	NET_REF_ABNORMAL,    /* link ended without a close handshake (bad frames, reset) */
	NET_REF_TIMEOUT,     /* peer went silent (idle_timeout) */
	NET_REF_DIAL_PROTO,  /* dialled server did not select layercast.v7 */
	NET_REF_COUNT
};

/* "subprotocol", "origin", ... (the label of the metric). */
const char *net_refusal_name(enum net_refusal r);

enum net_route { NET_ROUTE_INDEX, NET_ROUTE_STATS_JSON, NET_ROUTE_METRICS };

struct net;
struct net_link;
struct net_dial;

struct net_config {
	/* Listening. host NULL: every interface. port 0: any free port
	 * (see net_port()); port -1: do not listen (dial only). */
	const char *listen_host;
	int port;
	/* Origin allow-list; n_origins 0: no check. */
	const char *const *origins;
	size_t n_origins;
	size_t max_message;      /* bytes; 0: NET_DEFAULT_MAX_MESSAGE */
	size_t sendq_bytes;      /* per link; 0: NET_DEFAULT_SENDQ */
	uint32_t upload_kbps;    /* shared by all links; 0: unlimited */
	uint32_t download_kbps;  /* read limit over all links; 0: unlimited */
	double ping_interval_s;  /* 0: 1 s */
	bool no_ping;            /* send no WebSocket pings (idle_timeout still holds) */
	size_t coalesce_max;     /* write queued messages together up to this many
				  * bytes in one WebSocket message; 0: one each */
	double idle_timeout_s;   /* 0: 3.5 s */
	double dial_backoff_min_s; /* 0: 0.25 s */
	double dial_backoff_max_s; /* 0: 8 s */
	unsigned connect_timeout_s; /* TCP connect + handshake; 0: 5 s */

	void *arg; /* passed to every callback */
	/* A link is open (dialled: we dialled it). */
	void (*on_open)(struct net_link *l, bool dialled, void *arg);
	/* One whole message. Return 0, or a close code (>= 1000) to reject it:
	 * the link is then closed with that code and counted as malformed. */
	int (*on_message)(struct net_link *l, const uint8_t *data, size_t len, void *arg);
	/* The link's send queue has become empty (may be NULL). */
	void (*on_drain)(struct net_link *l, void *arg);
	/* The link is gone: code is the close code sent or received, or 1006
	 * (reason "timeout" for a silent peer). l is freed after this returns. */
	void (*on_close)(struct net_link *l, int code, const char *reason, void *arg);
	/* Append to an HTTP route's body (may be NULL). For NET_ROUTE_STATS_JSON
	 * append JSON object members ("name":value, comma separated, no
	 * surrounding braces); for the others plain text / HTML. Return 0 or a
	 * negative LC_E* (the request then gets 500). */
	int (*http_provider)(enum net_route route, struct lc_buf *out, void *arg);
	/* A dial attempt ended without a link (refused, unreachable, timed
	 * out, handshake refused); net redials later unless the dial is
	 * cancelled (may be NULL). May be called from inside net_dial(). */
	void (*on_dial_failed)(struct net_dial *d, void *arg);
	/* net_shutdown() has finished (may be NULL). */
	void (*on_shutdown)(struct net *n, void *arg);
};

#define NET_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define NET_DEFAULT_SENDQ (4 * 1024 * 1024)

struct net_stats {
	unsigned links_open;
	unsigned links_dialled;      /* open links that we dialled */
	unsigned links_accepted;     /* open links that we accepted */
	uint64_t links_opened;       /* ever */
	uint64_t links_closed;       /* ever */
	uint64_t bytes_sent;         /* message payload bytes */
	uint64_t bytes_received;
	uint64_t msgs_sent;
	uint64_t msgs_received;      /* WebSocket messages */
	uint64_t frames_sent;        /* WebSocket messages written (msgs_sent when
				      * nothing is coalesced) */
	uint64_t frame_bytes;        /* all bytes written to links: messages,
				      * frame headers, pings */
	uint64_t sendq_full;         /* link_send() answered LC_EFULL */
	uint64_t dial_attempts;
	uint64_t dial_failures;      /* attempts that never opened */
	uint64_t http_requests;      /* GET routes served (any status) */
	uint64_t refused[NET_REF_COUNT];
};

struct net_link_stats {
	bool dialled;
	char remote[64];             /* "host:port" or the peer address */
	uint64_t bytes_sent, bytes_received;
	uint64_t msgs_sent, msgs_received;
	double send_Bps, recv_Bps;   /* measured over the last ~2 s */
	int64_t rtt_us;              /* last ping RTT, -1 before the first pong */
	int64_t srtt_us;             /* smoothed (1/8), -1 before the first pong */
	size_t queue_bytes;
	unsigned queue_msgs;
	double open_s;               /* seconds since open */
};

/* Create net on the loop (lws context, listening socket). *out on success.
 * Errors: LC_EINVAL (bad config), LC_EIO (libwebsockets could not start,
 * e.g. the port is taken or the libev plugin is missing), LC_ENOMEM. */
int net_new(struct lc_loop *loop, const struct net_config *cfg, struct net **out);
/* Free everything. Must not be called from inside a net callback. */
void net_free(struct net *n);
/* The port actually listened on (after port 0), or -1. */
int net_port(const struct net *n);
/* Change the upload limit at run time (0: unlimited). */
void net_set_upload_kbps(struct net *n, uint32_t kbps);
/* Limit what is read from all links together (kbit/s of message bytes, 0:
 * unlimited): when a token bucket (50 ms burst) runs dry, reading pauses on
 * every link (lws_rx_flow_control) until it refills, and the kernel's
 * receive buffers are kept small (about 100 ms of the limit), so TCP slows
 * the senders down instead of queueing seconds of data. */
void net_set_download_kbps(struct net *n, uint32_t kbps);
void net_get_stats(const struct net *n, struct net_stats *st);
/* Call fn for every open link. fn must not close or free links. */
void net_foreach_link(struct net *n, void (*fn)(struct net_link *l, void *arg), void *arg);

/* Dial host:port (path /swarm) now and again after every failure or close,
 * with backoff, until net_dial_cancel(). *out (may be NULL) is the handle. */
int net_dial(struct net *n, const char *host, int port, struct net_dial **out);
/* Stop redialling; an open link of this dial stays open. */
void net_dial_cancel(struct net_dial *d);
/* The open link of a dial, or NULL. */
struct net_link *net_dial_link(const struct net_dial *d);

/* Begin the graceful shutdown (see the top). timeout_s bounds the wait for
 * the peers' Close replies. Returns LC_ESTATE if already shutting down. */
int net_shutdown(struct net *n, double timeout_s);
bool net_is_down(const struct net *n);

/* Queue one message. 0, LC_EFULL (would exceed the link's queue bound;
 * nothing queued), LC_ECLOSED (the link is closing), LC_ENOMEM. */
int link_send(struct net_link *l, const void *data, size_t len);
enum { NET_SEND_LAST = 0x01 }; /* nothing follows it in its WebSocket message */
/* The same with flags (NET_SEND_*). */
int link_send_flags(struct net_link *l, const void *data, size_t len, unsigned flags);
/* Close with code (1000..4999) and a reason (truncated to 123 bytes). The
 * queued messages are dropped; on_close follows when the peer answers (or
 * the close times out). */
void link_close(struct net_link *l, int code, const char *reason);
void link_get_stats(struct net_link *l, struct net_link_stats *st);
bool link_dialled(const struct net_link *l);
size_t link_queue_bytes(const struct net_link *l);
/* "host:port" as dialled, or the peer's address. */
const char *link_remote(const struct net_link *l);
struct net *link_net(const struct net_link *l);
void link_set_user(struct net_link *l, void *user);
void *link_user(const struct net_link *l);

#endif
