/*
 * net: libwebsockets 4.1.6 on a foreign libev loop. See net.h for the
 * policy; this file holds the why of the library-specific parts.
 *
 * Library facts this code relies on (measured, see the project notes):
 *  - LWS_SERVER_OPTION_LIBEV + foreign_loops loads the evlib_ev plugin;
 *    without the option the loop is silently ignored.
 *  - The plugin re-arms active libev timers without effect, so lws's own
 *    timers fire late on an idle context. A 100 ms timer of ours calls
 *    lws_cancel_service(), and every timer that matters (redial, pacer,
 *    liveness, shutdown) is ours.
 *  - The server binds the first subprotocol in the client's list that
 *    matches ANY vhost protocol, and protocols[0] when there is no header.
 *    So protocols[0] (HTTP) has a name no client offers, and refuses
 *    WebSocket in FILTER_PROTOCOL_CONNECTION; the 400/403/404 answers are
 *    given earlier, in HTTP_CONFIRM_UPGRADE, where the headers are known.
 *  - The client accepts a 101 without a subprotocol: checked in
 *    CLIENT_FILTER_PRE_ESTABLISH.
 *  - A RECEIVE callback may carry any slice of a message: reassemble.
 *  - Never destroy the context inside an lws callback.
 */
#include <libwebsockets.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/net.h"

#define MOD "net"
#define TICK_S 0.1

/* The frame header lws writes before a payload of len bytes (RFC 6455
 * 5.2): 2 bytes, 2 more for 126..65535, 8 more above; a client's frames
 * also carry a 4-byte masking key. The upload bucket is charged for it. */
static size_t ws_frame_hdr(size_t len, bool client)
{
	size_t h = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
	return client ? h + 4 : h;
}

struct msg {
	struct msg *next;
	size_t len;
	bool last;      /* NET_SEND_LAST: ends its WebSocket message */
	uint8_t buf[]; /* LWS_PRE headroom, then len bytes */
};

enum dial_state { DIAL_IDLE, DIAL_CONNECTING, DIAL_OPEN };

struct net_dial {
	struct net *net;
	struct net_dial *next;
	char *host;
	int port;
	enum dial_state state;
	struct lws *cwsi; /* the attempt under way */
	bool cancelled;
	unsigned failures;
	struct lc_timer *timer;
	struct net_link *link;
};

struct net_link {
	struct net *net;
	struct net_link *prev, *next;
	struct lws *wsi;
	struct net_dial *dial;
	bool dialled;
	void *user;
	/* send queue */
	struct msg *qhead, *qtail;
	size_t qbytes;
	unsigned qmsgs;
	bool waiting_tokens;
	bool in_line;           /* in the upload limit's line */
	struct net_link *line_next;
	bool want_drain;
	/* receive */
	struct lc_buf rx;
	bool rx_active;
	/* close */
	bool closing;          /* we asked to close: write the Close frame */
	int close_code;
	char close_reason[124];
	bool peer_closed;
	int peer_code;
	char peer_reason[124];
	/* liveness */
	bool ping_due;
	int64_t last_rx_us, last_ping_us, open_us;
	int64_t rtt_us, srtt_us;
	/* stats */
	uint64_t bytes_sent, bytes_received, msgs_sent, msgs_received;
	struct lc_rate tx_rate, rx_rate;
	char remote[64];
};

/* Per-session data of the WebSocket protocol. */
struct ws_pss {
	struct net_link *link;
};

/* Per-session data of the HTTP protocol (one request at a time). */
struct http_pss {
	struct lc_buf body; /* LWS_PRE bytes of headroom, then the body */
	size_t sent;
};

/* Marks (as opaque user data) a server wsi that reached the upgrade check. */
static char upgrade_seen;

struct net {
	struct lc_loop *loop;
	struct net_config cfg;
	struct lws_context *ctx;
	void *foreign_loops[1];
	struct lws_protocols protocols[3];
	int port;
	struct net_link *links;
	struct net_dial *dials;
	struct lc_tb tb;
	uint32_t upload_kbps;
	/* Links that found the bucket dry take turns, first come first
	 * served; `turn` is the one woken to write next. */
	struct net_link *line_head, *line_tail, *turn;
	int64_t turn_us;
	struct lc_tb rx_tb;      /* download limit */
	uint32_t download_kbps;
	bool rx_paused;
	struct lc_timer *tick, *pacer, *shutdown_timer, *destroy_timer, *rx_timer;
	struct lc_rng rng;
	struct net_stats st;
	uint8_t *cbuf;           /* LWS_PRE + coalesce_max: messages written as one */
	char **origins;
	bool shutting, down, freeing;
};

static const char *const refusal_names[NET_REF_COUNT] = {
	[NET_REF_SUBPROTOCOL] = "subprotocol",
	[NET_REF_ORIGIN] = "origin",
	[NET_REF_PATH] = "path",
	[NET_REF_HANDSHAKE] = "handshake",
	[NET_REF_OVERSIZE] = "oversize",
	[NET_REF_MALFORMED] = "malformed",
	[NET_REF_TEXT] = "text",
	[NET_REF_ABNORMAL] = "abnormal",
	[NET_REF_TIMEOUT] = "timeout",
	[NET_REF_DIAL_PROTO] = "dial_subprotocol",
};

const char *net_refusal_name(enum net_refusal r)
{
	return (unsigned)r < NET_REF_COUNT ? refusal_names[r] : "?";
}

/* ---- small helpers ------------------------------------------------------ */

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	lc_log(level == LLL_ERR ? LC_LOG_ERR : LC_LOG_WARN, "lws", "%.*s", (int)n, line);
}

static int bprintf(struct lc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bprintf(struct lc_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LC_EINVAL;
	if (lc_buf_reserve(b, b->len + (size_t)n + 1))
		return LC_ENOMEM;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Append s escaped for a JSON string (html=false) or for HTML text. */
static int bescape(struct lc_buf *b, const char *s, bool html)
{
	int err = 0;
	for (; *s && !err; s++) {
		unsigned char c = (unsigned char)*s;
		if (html) {
			if (c == '<')
				err = bprintf(b, "&lt;");
			else if (c == '>')
				err = bprintf(b, "&gt;");
			else if (c == '&')
				err = bprintf(b, "&amp;");
			else if (c == '"')
				err = bprintf(b, "&quot;");
			else
				err = lc_buf_append(b, &c, 1);
		} else {
			if (c == '"' || c == '\\')
				err = bprintf(b, "\\%c", c);
			else if (c < 0x20 || c >= 0x7f)
				err = bprintf(b, "\\u%04x", c);
			else
				err = lc_buf_append(b, &c, 1);
		}
	}
	return err;
}

static double rand_unit(struct net *n)
{
	return (double)(lc_rng_next(&n->rng) >> 11) / 9007199254740992.0;
}

/* ---- links -------------------------------------------------------------- */

static void queue_drop(struct net_link *l)
{
	struct msg *m = l->qhead;
	while (m) {
		struct msg *nx = m->next;
		free(m);
		m = nx;
	}
	l->qhead = l->qtail = NULL;
	l->qbytes = 0;
	l->qmsgs = 0;
}

/* A small receive buffer (about 100 ms of the download limit), so that a
 * paused reader holds the senders back instead of the kernel queueing. */
static void rx_limit_socket(struct net *n, struct lws *wsi)
{
	int sz = (int)((uint64_t)n->download_kbps * 125 / 10);
	if (sz < 16384)
		sz = 16384;
	setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

static void rx_pause_all(struct net *n, bool pause)
{
	int how = LWS_RXFLOW_REASON_USER_BOOL | LWS_RXFLOW_REASON_FLAG_PROCESS_NOW |
		  (pause ? LWS_RXFLOW_REASON_APPLIES_DISABLE : LWS_RXFLOW_REASON_APPLIES_ENABLE);
	n->rx_paused = pause;
	for (struct net_link *l = n->links; l; l = l->next)
		if (l->wsi)
			lws_rx_flow_control(l->wsi, how);
}

static void rx_timer_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	struct net *n = arg;
	if (!n->ctx)
		return;
	int64_t now = lc_now_us();
	if (n->rx_tb.rate && lc_tb_avail(&n->rx_tb, now) <= 0) {
		int64_t us = lc_tb_wait_us(&n->rx_tb, 1, now);
		lc_timer_start(n->rx_timer, (double)(us < 1000 ? 1000 : us) / 1e6, 0);
		return;
	}
	rx_pause_all(n, false);
}

/* Charge received bytes to the download limit; pause reading when dry. */
static void rx_charge(struct net *n, size_t len)
{
	if (!n->rx_tb.rate)
		return;
	int64_t now = lc_now_us();
	lc_tb_charge(&n->rx_tb, len, now);
	if (!n->rx_paused && lc_tb_avail(&n->rx_tb, now) <= 0) {
		rx_pause_all(n, true);
		int64_t us = lc_tb_wait_us(&n->rx_tb, 1, now);
		lc_timer_start(n->rx_timer, (double)(us < 1000 ? 1000 : us) / 1e6, 0);
	}
}

static struct net_link *link_new(struct net *n, struct lws *wsi, struct net_dial *d)
{
	struct net_link *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	int64_t now = lc_now_us();
	l->net = n;
	l->wsi = wsi;
	l->dial = d;
	l->dialled = d != NULL;
	l->open_us = l->last_rx_us = l->last_ping_us = now;
	l->rtt_us = l->srtt_us = -1;
	lc_rate_init(&l->tx_rate, 250000);
	lc_rate_init(&l->rx_rate, 250000);
	lc_buf_init(&l->rx);
	if (d) {
		snprintf(l->remote, sizeof l->remote, "%s:%d", d->host, d->port);
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		char ip[INET6_ADDRSTRLEN] = "?";
		int port = 0;
		if (!getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl)) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *a = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
				port = ntohs(a->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
				port = ntohs(a->sin6_port);
			}
		}
		snprintf(l->remote, sizeof l->remote, "%s:%d", ip, port);
	}
	if (n->download_kbps)
		rx_limit_socket(n, wsi);
	if (n->rx_paused)
		lws_rx_flow_control(wsi, 0);
	l->next = n->links;
	if (n->links)
		n->links->prev = l;
	n->links = l;
	n->st.links_open++;
	n->st.links_opened++;
	if (l->dialled)
		n->st.links_dialled++;
	else
		n->st.links_accepted++;
	return l;
}

/*
 * The upload limit's line. Without it, every link waiting for tokens was
 * woken at once and the first writable callback took them, so the links
 * served first by libwebsockets could starve the others (a newcomer's
 * handshake waited behind another link's blocks for hundreds of ms).
 */
static void line_push(struct net *n, struct net_link *l)
{
	l->waiting_tokens = true;
	if (l->in_line || n->turn == l)
		return;
	l->in_line = true;
	l->line_next = NULL;
	if (n->line_tail)
		n->line_tail->line_next = l;
	else
		n->line_head = l;
	n->line_tail = l;
}

static struct net_link *line_pop(struct net *n)
{
	struct net_link *l = n->line_head;
	if (!l)
		return NULL;
	n->line_head = l->line_next;
	if (!n->line_head)
		n->line_tail = NULL;
	l->in_line = false;
	l->line_next = NULL;
	return l;
}

static void line_remove(struct net *n, struct net_link *l)
{
	struct net_link **pp = &n->line_head, *prev = NULL;
	while (*pp && *pp != l) {
		prev = *pp;
		pp = &(*pp)->line_next;
	}
	if (*pp) {
		*pp = l->line_next;
		if (n->line_tail == l)
			n->line_tail = prev;
	}
	l->in_line = false;
	l->line_next = NULL;
	if (n->turn == l)
		n->turn = NULL;
}

/* Wake the pacer when the bucket has tokens again (at least 1 ms on). */
static void pacer_arm(struct net *n, bool restart)
{
	if (!restart && lc_timer_active(n->pacer))
		return;
	int64_t us = lc_tb_wait_us(&n->tb, 1, lc_now_us());
	if (us < 1000)
		us = 1000;
	lc_timer_start(n->pacer, (double)us / 1e6, 0);
}

static void dial_schedule(struct net_dial *d, bool failed);
static void destroy_soon(struct net *n);

/* The link is over for the user: report, unlink, free. The wsi (if any
 * is still alive) no longer points at it. */
static void link_finish(struct net_link *l, int code, const char *reason)
{
	struct net *n = l->net;
	if (l->wsi) {
		struct ws_pss *p = lws_wsi_user(l->wsi);
		if (p)
			p->link = NULL;
		l->wsi = NULL;
	}
	if (n->cfg.on_close && !n->freeing)
		n->cfg.on_close(l, code, reason ? reason : "", n->cfg.arg);
	if (l->prev)
		l->prev->next = l->next;
	else
		n->links = l->next;
	if (l->next)
		l->next->prev = l->prev;
	n->st.links_open--;
	n->st.links_closed++;
	if (l->dialled)
		n->st.links_dialled--;
	else
		n->st.links_accepted--;
	struct net_dial *d = l->dial;
	bool short_lived = lc_now_us() - l->open_us < 5000000;
	bool had_turn = n->turn == l;
	line_remove(n, l);
	if (had_turn && n->line_head && !n->freeing)
		pacer_arm(n, true);
	queue_drop(l);
	lc_buf_free(&l->rx);
	free(l);
	if (d) {
		d->link = NULL;
		d->state = DIAL_IDLE;
		/* A peer that accepts and hangs up at once must not be redialled
		 * in a tight loop: only a link that lived resets the backoff. */
		if (!short_lived)
			d->failures = 0;
		dial_schedule(d, short_lived);
	}
	if (n->shutting && !n->links)
		destroy_soon(n);
}

static void link_wake(struct net_link *l)
{
	if (l->wsi && !l->waiting_tokens)
		lws_callback_on_writable(l->wsi);
}

int link_send(struct net_link *l, const void *data, size_t len)
{
	return link_send_flags(l, data, len, 0);
}

int link_send_flags(struct net_link *l, const void *data, size_t len, unsigned flags)
{
	struct net *n = l->net;
	if (l->closing || !l->wsi)
		return LC_ECLOSED;
	if (l->qbytes + len > n->cfg.sendq_bytes) {
		n->st.sendq_full++;
		l->want_drain = true;
		return LC_EFULL;
	}
	struct msg *m = malloc(sizeof *m + LWS_PRE + len);
	if (!m)
		return LC_ENOMEM;
	m->next = NULL;
	m->len = len;
	m->last = flags & NET_SEND_LAST;
	if (len)
		memcpy(m->buf + LWS_PRE, data, len);
	if (l->qtail)
		l->qtail->next = m;
	else
		l->qhead = m;
	l->qtail = m;
	l->qbytes += len;
	l->qmsgs++;
	if (l->qbytes > n->cfg.sendq_bytes / 2)
		l->want_drain = true;
	link_wake(l);
	return 0;
}

void link_close(struct net_link *l, int code, const char *reason)
{
	if (l->closing || !l->wsi)
		return;
	if (code < 1000 || code > 4999 || code == 1005 || code == 1006 || code == 1015)
		code = NET_CLOSE_INTERNAL;
	l->closing = true;
	l->close_code = code;
	snprintf(l->close_reason, sizeof l->close_reason, "%s", reason ? reason : "");
	queue_drop(l);
	l->waiting_tokens = false;
	lws_callback_on_writable(l->wsi);
}

/* Close from inside a receive callback: lws sends the Close frame and
 * waits for the answer once we return -1. */
static int link_close_now(struct net_link *l, int code, const char *reason,
			  enum net_refusal why)
{
	l->net->st.refused[why]++;
	l->closing = true;
	l->close_code = code;
	snprintf(l->close_reason, sizeof l->close_reason, "%s", reason);
	queue_drop(l);
	lws_close_reason(l->wsi, (enum lws_close_status)code, (unsigned char *)l->close_reason,
			 strlen(l->close_reason));
	return -1;
}

void link_get_stats(struct net_link *l, struct net_link_stats *st)
{
	int64_t now = lc_now_us();
	memset(st, 0, sizeof *st);
	st->dialled = l->dialled;
	snprintf(st->remote, sizeof st->remote, "%s", l->remote);
	st->bytes_sent = l->bytes_sent;
	st->bytes_received = l->bytes_received;
	st->msgs_sent = l->msgs_sent;
	st->msgs_received = l->msgs_received;
	st->send_Bps = lc_rate_bps(&l->tx_rate, now);
	st->recv_Bps = lc_rate_bps(&l->rx_rate, now);
	st->rtt_us = l->rtt_us;
	st->srtt_us = l->srtt_us;
	st->queue_bytes = l->qbytes;
	st->queue_msgs = l->qmsgs;
	st->open_s = (double)(now - l->open_us) / 1e6;
}

bool link_dialled(const struct net_link *l) { return l->dialled; }
size_t link_queue_bytes(const struct net_link *l) { return l->qbytes; }
const char *link_remote(const struct net_link *l) { return l->remote; }
struct net *link_net(const struct net_link *l) { return l->net; }
void link_set_user(struct net_link *l, void *user) { l->user = user; }
void *link_user(const struct net_link *l) { return l->user; }

/* ---- receive / write ----------------------------------------------------- */

static int deliver(struct net_link *l, const uint8_t *data, size_t len)
{
	struct net *n = l->net;
	int64_t now = lc_now_us();
	l->msgs_received++;
	l->bytes_received += len;
	n->st.msgs_received++;
	n->st.bytes_received += len;
	lc_rate_add(&l->rx_rate, len, now);
	if (!n->cfg.on_message)
		return 0;
	int code = n->cfg.on_message(l, data, len, n->cfg.arg);
	if (code) {
		if (code < 1000 || code > 4999 || code == 1005 || code == 1006 || code == 1015)
			code = NET_CLOSE_PROTOCOL;
		return link_close_now(l, code, "malformed message", NET_REF_MALFORMED);
	}
	return 0;
}

static int on_receive(struct net_link *l, struct lws *wsi, const uint8_t *in, size_t len)
{
	struct net *n = l->net;
	l->last_rx_us = lc_now_us();
	rx_charge(n, len);
	if (l->closing)
		return 0; /* draining until the Close answer */
	bool complete = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	if (!l->rx_active) {
		if (!lws_frame_is_binary(wsi))
			return link_close_now(l, NET_CLOSE_UNSUPPORTED, "binary messages only",
					      NET_REF_TEXT);
		if (complete) {
			/* The whole message in one piece: no copy. */
			if (len > n->cfg.max_message)
				return link_close_now(l, NET_CLOSE_TOO_BIG, "message too big",
						      NET_REF_OVERSIZE);
			return deliver(l, in, len);
		}
		l->rx_active = true;
		lc_buf_reset(&l->rx);
	}
	if (l->rx.len + len > n->cfg.max_message)
		return link_close_now(l, NET_CLOSE_TOO_BIG, "message too big", NET_REF_OVERSIZE);
	if (lc_buf_append(&l->rx, in, len))
		return link_close_now(l, NET_CLOSE_INTERNAL, "out of memory", NET_REF_OVERSIZE);
	if (!complete)
		return 0;
	l->rx_active = false;
	int r = deliver(l, l->rx.data, l->rx.len);
	/* Do not keep a large reassembly buffer around for one big message. */
	if (l->rx.cap > 256 * 1024 && !l->closing) {
		lc_buf_free(&l->rx);
		lc_buf_init(&l->rx);
	}
	return r;
}

static void on_pong(struct net_link *l, const uint8_t *in, size_t len)
{
	int64_t now = lc_now_us();
	l->last_rx_us = now;
	if (len != 8)
		return;
	int64_t sent = (int64_t)lc_get_be64(in);
	int64_t rtt = now - sent;
	if (rtt < 0 || rtt > 60000000)
		return; /* not our ping */
	l->rtt_us = rtt;
	l->srtt_us = l->srtt_us < 0 ? rtt : l->srtt_us + (rtt - l->srtt_us) / 8;
}

#define TURN_US 20000 /* a link woken for its turn that does not write loses it */

/* Wake the link whose turn it is (the head of the line if none is). */
static void line_serve(struct net *n, int64_t now)
{
	if (!n->turn) {
		n->turn = line_pop(n);
		if (!n->turn)
			return;
		n->turn_us = now;
	}
	n->turn->waiting_tokens = false;
	link_wake(n->turn);
	/* Come back if its turn passes unused. */
	lc_timer_start(n->pacer, (double)TURN_US / 1e6, 0);
}

static void pacer_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	struct net *n = arg;
	int64_t now = lc_now_us();
	if (n->turn && now - n->turn_us > TURN_US) {
		/* Its socket is full, say: to the back of the line. */
		struct net_link *l = n->turn;
		n->turn = NULL;
		line_push(n, l);
	}
	line_serve(n, now);
}

static int on_writable(struct net_link *l, struct lws *wsi)
{
	struct net *n = l->net;
	int64_t now = lc_now_us();
	if (l->closing) {
		lws_close_reason(wsi, (enum lws_close_status)l->close_code,
				 (unsigned char *)l->close_reason, strlen(l->close_reason));
		return -1;
	}
	if (l->ping_due) {
		uint8_t buf[LWS_PRE + 8];
		lc_put_be64(buf + LWS_PRE, (uint64_t)now);
		l->ping_due = false;
		size_t wire = 8 + ws_frame_hdr(8, l->dialled);
		if (n->tb.rate)
			lc_tb_charge(&n->tb, wire, now);
		n->st.frame_bytes += wire;
		if (lws_write(wsi, buf + LWS_PRE, 8, LWS_WRITE_PING) < 8)
			return -1;
		if (l->qhead)
			link_wake(l);
		return 0;
	}
	struct msg *m = l->qhead;
	if (l->waiting_tokens)
		return 0;
	if (!m) {
		if (n->turn == l) { /* nothing to write after all: pass the turn */
			n->turn = NULL;
			if (n->line_head)
				pacer_arm(n, true);
		}
		return 0;
	}
	/* The messages that go in this WebSocket message: the head, and
	 * those behind it while they fit in coalesce_max, up to a LAST one. */
	size_t len = m->len;
	unsigned cnt = 1;
	for (struct msg *x = m; n->cbuf && !x->last && x->next &&
				len + x->next->len <= n->cfg.coalesce_max;
	     x = x->next) {
		len += x->next->len;
		cnt++;
	}
	if (n->tb.rate) {
		/* Debt model: write while the balance is positive, charge the
		 * whole message; the long-run rate is exact for any size. Links
		 * waiting in line go first. */
		bool mine = n->turn == l || (!n->turn && !n->line_head);
		if (!mine || lc_tb_avail(&n->tb, now) <= 0) {
			if (n->turn == l) {
				l->waiting_tokens = true;
				pacer_arm(n, true);
			} else {
				line_push(n, l);
				pacer_arm(n, false);
			}
			return 0;
		}
		lc_tb_charge(&n->tb, len + ws_frame_hdr(len, l->dialled), now);
		if (n->turn == l)
			n->turn = NULL;
		if (n->line_head) {
			/* The next in line: now if tokens are left, else when
			 * they come. */
			if (lc_tb_avail(&n->tb, now) > 0)
				line_serve(n, now);
			else
				pacer_arm(n, true);
		}
	}
	uint8_t *out = m->buf + LWS_PRE;
	if (cnt > 1) {
		size_t off = 0;
		for (struct msg *x = m; off < len; x = x->next) {
			memcpy(n->cbuf + LWS_PRE + off, x->buf + LWS_PRE, x->len);
			off += x->len;
		}
		out = n->cbuf + LWS_PRE;
	}
	int w = lws_write(wsi, out, len, LWS_WRITE_BINARY);
	if (w < (int)len)
		return -1;
	for (unsigned i = 0; i < cnt; i++) {
		m = l->qhead;
		l->qhead = m->next;
		l->qbytes -= m->len;
		l->qmsgs--;
		free(m);
	}
	if (!l->qhead)
		l->qtail = NULL;
	l->msgs_sent += cnt;
	l->bytes_sent += len;
	n->st.msgs_sent += cnt;
	n->st.frames_sent++;
	n->st.bytes_sent += len;
	n->st.frame_bytes += ws_frame_hdr(len, l->dialled) + len;
	lc_rate_add(&l->tx_rate, len, now);
	if (l->qhead)
		link_wake(l);
	if (l->want_drain && l->qbytes <= n->cfg.sendq_bytes / 2) {
		l->want_drain = false;
		if (n->cfg.on_drain)
			n->cfg.on_drain(l, n->cfg.arg);
	}
	return 0;
}

/* ---- dialling ------------------------------------------------------------ */

static void dial_now(struct net_dial *d)
{
	struct net *n = d->net;
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = n->ctx;
	ci.address = d->host;
	ci.port = d->port;
	ci.path = NET_PATH;
	ci.host = d->host;
	ci.protocol = NET_SUBPROTOCOL;
	ci.local_protocol_name = NET_SUBPROTOCOL;
	ci.ietf_version_or_minus_one = -1;
	ci.opaque_user_data = d;
	d->state = DIAL_CONNECTING;
	n->st.dial_attempts++;
	d->cwsi = NULL;
	struct lws *w = lws_client_connect_via_info(&ci);
	if (w && d->state == DIAL_CONNECTING)
		d->cwsi = w;
	if (!w && d->state == DIAL_CONNECTING) {
		d->state = DIAL_IDLE;
		n->st.dial_failures++;
		dial_schedule(d, true);
		if (n->cfg.on_dial_failed)
			n->cfg.on_dial_failed(d, n->cfg.arg);
	}
}

static void dial_timer_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	struct net_dial *d = arg;
	if (d->cancelled || d->net->shutting || d->state != DIAL_IDLE)
		return;
	dial_now(d);
}

static void dial_schedule(struct net_dial *d, bool failed)
{
	struct net *n = d->net;
	if (d->cancelled || n->shutting || n->freeing)
		return;
	double delay = n->cfg.dial_backoff_min_s;
	for (unsigned i = 0; i < d->failures && delay < n->cfg.dial_backoff_max_s; i++)
		delay *= 2;
	if (delay > n->cfg.dial_backoff_max_s)
		delay = n->cfg.dial_backoff_max_s;
	delay *= 0.75 + 0.5 * rand_unit(n); /* jitter: peers must not redial in step */
	if (failed && d->failures < 32)
		d->failures++;
	lc_timer_start(d->timer, delay, 0);
}

/* A dial attempt ended without a link. */
static void dial_failed(struct net_dial *d)
{
	if (d->state != DIAL_CONNECTING)
		return;
	d->state = DIAL_IDLE;
	d->cwsi = NULL;
	d->net->st.dial_failures++;
	dial_schedule(d, true);
	if (d->net->cfg.on_dial_failed)
		d->net->cfg.on_dial_failed(d, d->net->cfg.arg);
}

int net_dial(struct net *n, const char *host, int port, struct net_dial **out)
{
	if (!host || port <= 0 || port > 65535)
		return LC_EINVAL;
	if (n->shutting || !n->ctx)
		return LC_ESTATE;
	struct net_dial *d = calloc(1, sizeof *d);
	if (!d)
		return LC_ENOMEM;
	d->host = strdup(host);
	d->timer = lc_timer_new(n->loop, dial_timer_cb, d);
	if (!d->host || !d->timer) {
		free(d->host);
		lc_timer_free(d->timer);
		free(d);
		return LC_ENOMEM;
	}
	d->net = n;
	d->port = port;
	d->next = n->dials;
	n->dials = d;
	if (out)
		*out = d;
	dial_now(d);
	return 0;
}

void net_dial_cancel(struct net_dial *d)
{
	d->cancelled = true;
	lc_timer_stop(d->timer);
}

struct net_link *net_dial_link(const struct net_dial *d) { return d->link; }

/* ---- HTTP routes ------------------------------------------------------------ */

static void stats_json(struct net *n, struct lc_buf *b, int *err)
{
	const struct net_stats *s = &n->st;
	int e = bprintf(b, "{\"net\":{\"port\":%d,\"links_open\":%u,\"links_dialled\":%u,"
			"\"links_accepted\":%u,\"links_opened\":%llu,\"links_closed\":%llu,"
			"\"bytes_sent\":%llu,\"bytes_received\":%llu,\"msgs_sent\":%llu,"
			"\"msgs_received\":%llu,\"frames_sent\":%llu,\"frame_bytes\":%llu,"
			"\"sendq_full\":%llu,\"dial_attempts\":%llu,"
			"\"dial_failures\":%llu,\"http_requests\":%llu,\"upload_kbps\":%u,"
			"\"refused\":{",
			n->port, s->links_open, s->links_dialled, s->links_accepted,
			(unsigned long long)s->links_opened, (unsigned long long)s->links_closed,
			(unsigned long long)s->bytes_sent, (unsigned long long)s->bytes_received,
			(unsigned long long)s->msgs_sent, (unsigned long long)s->msgs_received,
			(unsigned long long)s->frames_sent, (unsigned long long)s->frame_bytes,
			(unsigned long long)s->sendq_full, (unsigned long long)s->dial_attempts,
			(unsigned long long)s->dial_failures, (unsigned long long)s->http_requests,
			n->upload_kbps);
	for (int r = 0; r < NET_REF_COUNT && !e; r++)
		e = bprintf(b, "%s\"%s\":%llu", r ? "," : "", refusal_names[r],
			    (unsigned long long)s->refused[r]);
	if (!e)
		e = bprintf(b, "}},\"links\":[");
	for (struct net_link *l = n->links; l && !e; l = l->next) {
		struct net_link_stats ls;
		link_get_stats(l, &ls);
		e = bprintf(b, "%s{\"remote\":\"", l == n->links ? "" : ",");
		if (!e)
			e = bescape(b, ls.remote, false);
		if (!e)
			e = bprintf(b, "\",\"dialled\":%s,\"bytes_sent\":%llu,\"bytes_received\":%llu,"
				    "\"msgs_sent\":%llu,\"msgs_received\":%llu,\"send_Bps\":%.0f,"
				    "\"recv_Bps\":%.0f,\"rtt_us\":%lld,\"srtt_us\":%lld,"
				    "\"queue_bytes\":%zu,\"queue_msgs\":%u,\"open_s\":%.1f}",
				    ls.dialled ? "true" : "false", (unsigned long long)ls.bytes_sent,
				    (unsigned long long)ls.bytes_received,
				    (unsigned long long)ls.msgs_sent,
				    (unsigned long long)ls.msgs_received, ls.send_Bps, ls.recv_Bps,
				    (long long)ls.rtt_us, (long long)ls.srtt_us, ls.queue_bytes,
				    ls.queue_msgs, ls.open_s);
	}
	if (!e)
		e = bprintf(b, "]");
	if (!e && n->cfg.http_provider) {
		struct lc_buf extra;
		lc_buf_init(&extra);
		e = n->cfg.http_provider(NET_ROUTE_STATS_JSON, &extra, n->cfg.arg);
		if (!e && extra.len) {
			e = bprintf(b, ",");
			if (!e)
				e = lc_buf_append(b, extra.data, extra.len);
		}
		lc_buf_free(&extra);
	}
	if (!e)
		e = bprintf(b, "}\n");
	*err = e;
}

static int metric(struct lc_buf *b, const char *name, const char *type, const char *help)
{
	return bprintf(b, "# HELP layercast_net_%s %s\n# TYPE layercast_net_%s %s\n", name, help,
		       name, type);
}

static void metrics_text(struct net *n, struct lc_buf *b, int *err)
{
	const struct net_stats *s = &n->st;
	int e = metric(b, "links_open", "gauge", "Open peer links by direction.");
	if (!e)
		e = bprintf(b, "layercast_net_links_open{direction=\"dialled\"} %u\n"
			    "layercast_net_links_open{direction=\"accepted\"} %u\n",
			    s->links_dialled, s->links_accepted);
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{ "links_opened_total", "Links opened.", offsetof(struct net_stats, links_opened) },
		{ "links_closed_total", "Links closed.", offsetof(struct net_stats, links_closed) },
		{ "bytes_sent_total", "Message payload bytes sent.", offsetof(struct net_stats, bytes_sent) },
		{ "bytes_received_total", "Message payload bytes received.",
		  offsetof(struct net_stats, bytes_received) },
		{ "messages_sent_total", "Messages sent.", offsetof(struct net_stats, msgs_sent) },
		{ "messages_received_total", "WebSocket messages received.",
		  offsetof(struct net_stats, msgs_received) },
		{ "frames_sent_total", "WebSocket messages written (several messages may share one).",
		  offsetof(struct net_stats, frames_sent) },
		{ "wire_bytes_sent_total", "All bytes written to links: messages, frame headers, pings.",
		  offsetof(struct net_stats, frame_bytes) },
		{ "sendq_full_total", "Sends refused because a link's queue was full.",
		  offsetof(struct net_stats, sendq_full) },
		{ "dial_attempts_total", "Outgoing connection attempts.",
		  offsetof(struct net_stats, dial_attempts) },
		{ "dial_failures_total", "Outgoing attempts that did not open a link.",
		  offsetof(struct net_stats, dial_failures) },
		{ "http_requests_total", "HTTP route requests served.",
		  offsetof(struct net_stats, http_requests) },
	};
	for (size_t i = 0; i < sizeof counters / sizeof counters[0] && !e; i++) {
		e = metric(b, counters[i].name, "counter", counters[i].help);
		if (!e)
			e = bprintf(b, "layercast_net_%s %llu\n", counters[i].name,
				    (unsigned long long)*(const uint64_t *)((const char *)s +
									  counters[i].off));
	}
	if (!e)
		e = metric(b, "refusals_total", "counter",
			   "Connections refused and links closed for a fault, by reason.");
	for (int r = 0; r < NET_REF_COUNT && !e; r++)
		e = bprintf(b, "layercast_net_refusals_total{reason=\"%s\"} %llu\n", refusal_names[r],
			    (unsigned long long)s->refused[r]);
	if (!e)
		e = metric(b, "upload_limit_bytes_per_second", "gauge",
			   "Upload limit shared by all links (0: none).");
	if (!e)
		e = bprintf(b, "layercast_net_upload_limit_bytes_per_second %llu\n",
			    (unsigned long long)n->tb.rate);
	if (!e && n->links)
		e = metric(b, "link_rtt_seconds", "gauge", "Smoothed ping round-trip time per link.");
	for (struct net_link *l = n->links; l && !e; l = l->next) {
		if (l->srtt_us < 0)
			continue;
		e = bprintf(b, "layercast_net_link_rtt_seconds{remote=\"");
		if (!e)
			e = bescape(b, l->remote, false);
		if (!e)
			e = bprintf(b, "\"} %.6f\n", (double)l->srtt_us / 1e6);
	}
	if (!e && n->cfg.http_provider)
		e = n->cfg.http_provider(NET_ROUTE_METRICS, b, n->cfg.arg);
	*err = e;
}

static void index_html(struct net *n, struct lc_buf *b, int *err)
{
	const struct net_stats *s = &n->st;
	int e = bprintf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
			"<title>layercast</title></head><body>\n<h1>layercast peer</h1>\n"
			"<p>Port %d. Links open: %u (dialled %u, accepted %u). Sent %llu messages, "
			"%llu bytes; received %llu messages, %llu bytes.</p>\n"
			"<p><a href=\"/stats.json\">/stats.json</a> "
			"<a href=\"/metrics\">/metrics</a></p>\n"
			"<table border=\"1\"><tr><th>remote</th><th>dir</th><th>sent B/s</th>"
			"<th>recv B/s</th><th>RTT ms</th><th>queue B</th></tr>\n",
			n->port, s->links_open, s->links_dialled, s->links_accepted,
			(unsigned long long)s->msgs_sent, (unsigned long long)s->bytes_sent,
			(unsigned long long)s->msgs_received, (unsigned long long)s->bytes_received);
	for (struct net_link *l = n->links; l && !e; l = l->next) {
		struct net_link_stats ls;
		link_get_stats(l, &ls);
		e = bprintf(b, "<tr><td>");
		if (!e)
			e = bescape(b, ls.remote, true);
		if (!e)
			e = bprintf(b, "</td><td>%s</td><td>%.0f</td><td>%.0f</td><td>%.2f</td>"
				    "<td>%zu</td></tr>\n",
				    ls.dialled ? "out" : "in", ls.send_Bps, ls.recv_Bps,
				    ls.srtt_us < 0 ? -1.0 : (double)ls.srtt_us / 1e3, ls.queue_bytes);
	}
	if (!e)
		e = bprintf(b, "</table>\n");
	if (!e && n->cfg.http_provider)
		e = n->cfg.http_provider(NET_ROUTE_INDEX, b, n->cfg.arg);
	if (!e)
		e = bprintf(b, "</body></html>\n");
	*err = e;
}

static int http_respond(struct lws *wsi, struct http_pss *p, int status, const char *ctype)
{
	uint8_t hdr[LWS_PRE + 1024];
	uint8_t *start = hdr + LWS_PRE, *ptr = start, *end = hdr + sizeof hdr - 1;
	size_t len = p->body.len - LWS_PRE;
	if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &ptr, end))
		return 1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &ptr, end))
		return 1;
	if (lws_finalize_write_http_header(wsi, start, &ptr, end))
		return 1;
	p->sent = 0;
	lws_callback_on_writable(wsi);
	return 0;
}

static int http_request(struct net *n, struct lws *wsi, struct http_pss *p, const char *path)
{
	int err = 0;
	lc_buf_free(&p->body);
	lc_buf_init(&p->body);
	n->st.http_requests++;
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
		if (lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	const char *ctype;
	uint8_t pre[LWS_PRE] = { 0 };
	if (lc_buf_append(&p->body, pre, sizeof pre))
		return -1;
	if (!strcmp(path, "/stats.json")) {
		ctype = "application/json";
		stats_json(n, &p->body, &err);
	} else if (!strcmp(path, "/metrics")) {
		ctype = "text/plain; version=0.0.4; charset=utf-8";
		metrics_text(n, &p->body, &err);
	} else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
		ctype = "text/html; charset=utf-8";
		index_html(n, &p->body, &err);
	} else {
		if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	if (err) {
		LC_WARN(MOD, "route %s: %s", path, lc_strerror(err));
		if (lws_return_http_status(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	return http_respond(wsi, p, HTTP_STATUS_OK, ctype) ? -1 : 0;
}

static int http_writable(struct lws *wsi, struct http_pss *p)
{
	size_t len = p->body.len - LWS_PRE;
	if (!p->body.data || p->sent >= len)
		return 0;
	size_t chunk = len - p->sent;
	if (chunk > 32768)
		chunk = 32768;
	bool last = p->sent + chunk == len;
	/* The LWS_PRE bytes before this chunk were already sent (or are the
	 * headroom): lws may scribble over them. */
	int w = lws_write(wsi, p->body.data + LWS_PRE + p->sent, chunk,
			  last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
	if (w < (int)chunk)
		return -1;
	p->sent += chunk;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	lc_buf_free(&p->body);
	lc_buf_init(&p->body);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static bool has_token(const char *list, const char *tok)
{
	size_t tl = strlen(tok);
	const char *s = list;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		const char *e = s;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - s) == tl && !memcmp(s, tok, tl))
			return true;
		s = e;
	}
	return false;
}

/* The upgrade policy; returns the HTTP status to refuse with, or 0. */
static int upgrade_policy(struct net *n, struct lws *wsi)
{
	char buf[512];
	int len = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_GET_URI);
	if (len <= 0 || strcmp(buf, NET_PATH)) {
		n->st.refused[NET_REF_PATH]++;
		return HTTP_STATUS_NOT_FOUND;
	}
	if (n->cfg.n_origins && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN)) {
		bool ok = false;
		len = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_ORIGIN);
		for (size_t i = 0; len > 0 && i < n->cfg.n_origins && !ok; i++)
			ok = !strcmp(buf, n->origins[i]);
		if (!ok) {
			n->st.refused[NET_REF_ORIGIN]++;
			return HTTP_STATUS_FORBIDDEN;
		}
	}
	len = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL);
	if (len <= 0 || !has_token(buf, NET_SUBPROTOCOL)) {
		n->st.refused[NET_REF_SUBPROTOCOL]++;
		return HTTP_STATUS_BAD_REQUEST;
	}
	return 0;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct net *n = ctx ? lws_context_user(ctx) : NULL;
	struct http_pss *p = user;
	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return n && n->shutting ? 1 : 0;
	case LWS_CALLBACK_HTTP:
		return http_request(n, wsi, p, in ? (const char *)in : "");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writable(wsi, p);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		lws_set_opaque_user_data(wsi, &upgrade_seen);
		if (!in || strcmp((const char *)in, "websocket")) {
			lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
			return 1;
		}
		int status = n->shutting ? HTTP_STATUS_SERVICE_UNAVAILABLE : upgrade_policy(n, wsi);
		if (status) {
			lws_return_http_status(wsi, (unsigned)status, NULL);
			return 1;
		}
		return 0;
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* A WebSocket bound to the HTTP protocol: refused. */
		return 1;
	case LWS_CALLBACK_CLOSED_HTTP:
		/* No session data: no request was ever parsed (not HTTP, or no
		 * bytes at all), unless it was an upgrade we refused. */
		if (!p && n && !n->freeing && lws_get_opaque_user_data(wsi) != &upgrade_seen)
			n->st.refused[NET_REF_HANDSHAKE]++;
		/* fall through */
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (p) {
			lc_buf_free(&p->body);
			lc_buf_init(&p->body);
		}
		break;
	default:
		break;
	}
	(void)len;
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		 size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct net *n = ctx ? lws_context_user(ctx) : NULL;
	struct ws_pss *p = user;
	struct net_link *l = p ? p->link : NULL;
	struct net_dial *d;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (!p)
			return -1;
		l = link_new(n, wsi, NULL);
		if (!l)
			return -1;
		p->link = l;
		if (n->cfg.on_open)
			n->cfg.on_open(l, false, n->cfg.arg);
		return 0;

	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH: {
		char proto[128];
		int plen = lws_hdr_copy(wsi, proto, sizeof proto, WSI_TOKEN_PROTOCOL);
		if (plen <= 0 || strcmp(proto, NET_SUBPROTOCOL)) {
			n->st.refused[NET_REF_DIAL_PROTO]++;
			return 1;
		}
		return 0;
	}

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		d = lws_get_opaque_user_data(wsi);
		if (!p || !d)
			return -1;
		l = link_new(n, wsi, d);
		if (!l)
			return -1;
		p->link = l;
		d->state = DIAL_OPEN;
		d->cwsi = NULL;
		d->link = l;
		if (n->cfg.on_open)
			n->cfg.on_open(l, true, n->cfg.arg);
		return 0;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		d = lws_get_opaque_user_data(wsi);
		if (d && !n->freeing) {
			LC_DEBUG(MOD, "dial %s:%d: %s", d->host, d->port,
				 in ? (const char *)in : "failed");
			dial_failed(d);
		}
		return 0;

	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!l)
			return 0;
		return on_receive(l, wsi, in, len);

	case LWS_CALLBACK_RECEIVE_PONG:
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		if (l)
			on_pong(l, in, len);
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!l)
			return 0;
		return on_writable(l, wsi);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (l) {
			const uint8_t *b = in;
			l->peer_closed = true;
			l->peer_code = len >= 2 ? lc_get_be16(b) : 1005;
			size_t rl = len > 2 ? len - 2 : 0;
			if (rl > sizeof l->peer_reason - 1)
				rl = sizeof l->peer_reason - 1;
			if (rl)
				memcpy(l->peer_reason, b + 2, rl);
			l->peer_reason[rl] = '\0';
			queue_drop(l);
		}
		return 0;

	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (l) {
			int code;
			const char *why;
			if (l->closing) {
				code = l->close_code;
				why = l->close_reason;
			} else if (l->peer_closed) {
				code = l->peer_code;
				why = l->peer_reason;
			} else {
				code = NET_CLOSE_ABNORMAL;
				why = n->freeing || n->shutting ? "shutdown" : "connection lost";
				if (!n->freeing && !n->shutting)
					n->st.refused[NET_REF_ABNORMAL]++;
			}
			link_finish(l, code, why);
		} else if (reason == LWS_CALLBACK_CLIENT_CLOSED && !n->freeing) {
			/* Closed before it opened; a wsi killed after its link was
			 * reported must not fail a later attempt of the same dial. */
			d = lws_get_opaque_user_data(wsi);
			if (d && d->cwsi == wsi)
				dial_failed(d);
		}
		return 0;

	default:
		break;
	}
	return 0;
}

/* ---- timers ------------------------------------------------------------------ */

static void tick_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	struct net *n = arg;
	if (!n->ctx)
		return;
	int64_t now = lc_now_us();
	int64_t ping_us = (int64_t)(n->cfg.ping_interval_s * 1e6);
	int64_t idle_us = (int64_t)(n->cfg.idle_timeout_s * 1e6);
	struct net_link *l = n->links;
	while (l) {
		struct net_link *nx = l->next;
		if (l->wsi && now - l->last_rx_us > idle_us) {
			/* Silent peer (stopped, or the path is gone): report it now
			 * and drop the socket without waiting for a close. */
			struct lws *wsi = l->wsi;
			n->st.refused[NET_REF_TIMEOUT]++;
			link_finish(l, NET_CLOSE_ABNORMAL, "timeout");
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
		} else if (l->wsi && !l->closing && !n->cfg.no_ping &&
			   now - l->last_ping_us >= ping_us) {
			l->last_ping_us = now;
			l->ping_due = true;
			lws_callback_on_writable(l->wsi);
		}
		l = nx;
	}
	/* Workaround for the evlib_ev timer re-arm bug (see the top). */
	if (n->ctx)
		lws_cancel_service(n->ctx);
}

static void destroy_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	struct net *n = arg;
	if (n->down)
		return;
	lc_timer_stop(n->shutdown_timer);
	lc_timer_stop(n->tick);
	lc_timer_stop(n->pacer);
	lc_timer_stop(n->rx_timer);
	if (n->ctx) {
		lws_context_destroy(n->ctx);
		n->ctx = NULL;
	}
	n->down = true;
	if (n->cfg.on_shutdown)
		n->cfg.on_shutdown(n, n->cfg.arg);
}

static void destroy_soon(struct net *n)
{
	if (!n->down && !lc_timer_active(n->destroy_timer))
		lc_timer_start(n->destroy_timer, 0, 0);
}

static void shutdown_timeout_cb(struct lc_timer *t, void *arg)
{
	(void)t;
	destroy_soon(arg);
}

int net_shutdown(struct net *n, double timeout_s)
{
	if (n->shutting)
		return LC_ESTATE;
	n->shutting = true;
	for (struct net_dial *d = n->dials; d; d = d->next)
		lc_timer_stop(d->timer);
	for (struct net_link *l = n->links; l; l = l->next)
		link_close(l, NET_CLOSE_NORMAL, "shutdown");
	if (!n->links)
		destroy_soon(n);
	else
		lc_timer_start(n->shutdown_timer, timeout_s > 0 ? timeout_s : 0.001, 0);
	return 0;
}

bool net_is_down(const struct net *n) { return n->down; }

/* ---- life cycle ----------------------------------------------------------------- */

int net_new(struct lc_loop *loop, const struct net_config *cfg, struct net **out)
{
	int err = LC_ENOMEM;
	if (!loop || !cfg || !out || cfg->port > 65535 || cfg->port < -1)
		return LC_EINVAL;
	struct net *n = calloc(1, sizeof *n);
	if (!n)
		return LC_ENOMEM;
	n->loop = loop;
	n->cfg = *cfg;
	n->port = -1;
	struct net_config *c = &n->cfg;
	if (!c->max_message)
		c->max_message = NET_DEFAULT_MAX_MESSAGE;
	if (!c->sendq_bytes)
		c->sendq_bytes = NET_DEFAULT_SENDQ;
	if (c->ping_interval_s <= 0)
		c->ping_interval_s = 1.0;
	if (c->idle_timeout_s <= 0)
		c->idle_timeout_s = 3.5;
	if (c->dial_backoff_min_s <= 0)
		c->dial_backoff_min_s = 0.25;
	if (c->dial_backoff_max_s < c->dial_backoff_min_s)
		c->dial_backoff_max_s = c->dial_backoff_min_s > 8 ? c->dial_backoff_min_s : 8;
	if (!c->connect_timeout_s)
		c->connect_timeout_s = 5;
	if (c->coalesce_max && !(n->cbuf = malloc(LWS_PRE + c->coalesce_max)))
		goto fail;
	c->listen_host = NULL; /* copied below */
	c->origins = NULL;
	if (cfg->n_origins) {
		n->origins = calloc(cfg->n_origins, sizeof *n->origins);
		if (!n->origins)
			goto fail;
		for (size_t i = 0; i < cfg->n_origins; i++)
			if (!(n->origins[i] = strdup(cfg->origins[i])))
				goto fail;
	}
	lc_rng_seed_os(&n->rng);
	lc_tb_init(&n->tb, 0, 0, lc_now_us());
	lc_tb_init(&n->rx_tb, 0, 0, lc_now_us());
	net_set_upload_kbps(n, cfg->upload_kbps);
	n->tick = lc_timer_new(loop, tick_cb, n);
	n->pacer = lc_timer_new(loop, pacer_cb, n);
	n->shutdown_timer = lc_timer_new(loop, shutdown_timeout_cb, n);
	n->destroy_timer = lc_timer_new(loop, destroy_cb, n);
	n->rx_timer = lc_timer_new(loop, rx_timer_cb, n);
	if (!n->tick || !n->pacer || !n->shutdown_timer || !n->destroy_timer || !n->rx_timer)
		goto fail;

	n->protocols[0] = (struct lws_protocols){
		/* A name no client offers: see the top of the file. */
		.name = "layercast-http",
		.callback = cb_http,
		.per_session_data_size = sizeof(struct http_pss),
		.rx_buffer_size = 0,
	};
	n->protocols[1] = (struct lws_protocols){
		.name = NET_SUBPROTOCOL,
		.callback = cb_ws,
		.per_session_data_size = sizeof(struct ws_pss),
		.rx_buffer_size = 65536,
		.tx_packet_size = 65536,
	};

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = cfg->port < 0 ? CONTEXT_PORT_NO_LISTEN : cfg->port;
	info.iface = cfg->listen_host;
	info.protocols = n->protocols;
	info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
	n->foreign_loops[0] = lc_loop_native(loop);
	info.foreign_loops = n->foreign_loops;
	info.user = n;
	info.pt_serv_buf_size = 65536;
	info.timeout_secs = c->connect_timeout_s;
	info.connect_timeout_secs = c->connect_timeout_s;
	info.fd_limit_per_thread = 4096;
	info.count_threads = 1;
	n->ctx = lws_create_context(&info);
	if (!n->ctx) {
		LC_ERR(MOD, "cannot start libwebsockets on port %d (port taken, or the "
		       "libwebsockets-evlib-ev plugin missing?)", cfg->port);
		err = LC_EIO;
		goto fail;
	}
	if (cfg->port >= 0) {
		struct lws_vhost *vh = lws_get_vhost_by_name(n->ctx, "default");
		n->port = vh ? lws_get_vhost_listen_port(vh) : -1;
		if (n->port <= 0) {
			err = LC_EIO;
			goto fail;
		}
	}
	lc_timer_start(n->tick, TICK_S, TICK_S);
	net_set_download_kbps(n, cfg->download_kbps);
	*out = n;
	return 0;
fail:
	net_free(n);
	return err;
}

void net_free(struct net *n)
{
	if (!n)
		return;
	n->freeing = true;
	if (n->ctx) {
		lws_context_destroy(n->ctx);
		n->ctx = NULL;
	}
	/* Links whose socket lws already dropped are gone; any left were
	 * detached from their wsi and are freed here. */
	while (n->links)
		link_finish(n->links, NET_CLOSE_ABNORMAL, "freed");
	struct net_dial *d = n->dials;
	while (d) {
		struct net_dial *nx = d->next;
		lc_timer_free(d->timer);
		free(d->host);
		free(d);
		d = nx;
	}
	lc_timer_free(n->tick);
	lc_timer_free(n->pacer);
	lc_timer_free(n->shutdown_timer);
	lc_timer_free(n->destroy_timer);
	lc_timer_free(n->rx_timer);
	if (n->origins) {
		for (size_t i = 0; i < n->cfg.n_origins; i++)
			free(n->origins[i]);
		free(n->origins);
	}
	free(n->cbuf);
	free(n);
}

int net_port(const struct net *n) { return n->port; }

void net_set_upload_kbps(struct net *n, uint32_t kbps)
{
	n->upload_kbps = kbps;
	uint64_t rate = (uint64_t)kbps * 1000 / 8;
	/* A burst of 50 ms of traffic (at least one full frame) keeps the cap
	 * tight over any window longer than a fraction of a second. */
	uint64_t burst = rate / 20;
	if (burst < 1500)
		burst = 1500;
	lc_tb_set_rate(&n->tb, rate, burst, lc_now_us());
	if (!rate)
		pacer_cb(NULL, n);
}

void net_set_download_kbps(struct net *n, uint32_t kbps)
{
	n->download_kbps = kbps;
	uint64_t rate = (uint64_t)kbps * 1000 / 8;
	uint64_t burst = rate / 20;
	if (burst < 1500)
		burst = 1500;
	lc_tb_set_rate(&n->rx_tb, rate, burst, lc_now_us());
	if (kbps)
		for (struct net_link *l = n->links; l; l = l->next)
			if (l->wsi)
				rx_limit_socket(n, l->wsi);
	if (!rate && n->rx_paused) {
		lc_timer_stop(n->rx_timer);
		rx_pause_all(n, false);
	}
}

void net_get_stats(const struct net *n, struct net_stats *st) { *st = n->st; }

void net_foreach_link(struct net *n, void (*fn)(struct net_link *l, void *arg), void *arg)
{
	for (struct net_link *l = n->links; l; l = l->next)
		fn(l, arg);
}
