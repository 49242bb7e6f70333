/*
 * lc_net_peer: one net instance in its own process, for the tests that
 * stop or kill a peer. Listens on 127.0.0.1 (-p PORT, default any free
 * port), dials every -d HOST:PORT, sends back every message it receives
 * (-e). Prints "PORT <n>" on stdout once listening. Runs until killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "net/net.h"

static bool echo;

static int on_message(struct net_link *l, const uint8_t *data, size_t len, void *arg)
{
	(void)arg;
	if (echo)
		link_send(l, data, len);
	return 0;
}

int main(int argc, char **argv)
{
	struct net_config c;
	memset(&c, 0, sizeof c);
	c.listen_host = "127.0.0.1";
	c.on_message = on_message;
	c.dial_backoff_min_s = 0.05;
	c.dial_backoff_max_s = 0.5;
	const char *dials[16];
	int nd = 0, opt;
	while ((opt = getopt(argc, argv, "p:d:e")) != -1) {
		if (opt == 'p')
			c.port = atoi(optarg);
		else if (opt == 'd' && nd < 16)
			dials[nd++] = optarg;
		else if (opt == 'e')
			echo = true;
		else {
			fprintf(stderr, "usage: lc_net_peer [-p port] [-d host:port]... [-e]\n");
			return 2;
		}
	}
	struct lc_loop *loop = lc_loop_new();
	struct net *n;
	int err = loop ? net_new(loop, &c, &n) : LC_ENOMEM;
	if (err) {
		fprintf(stderr, "lc_net_peer: %s\n", lc_strerror(err));
		return 1;
	}
	for (int i = 0; i < nd; i++) {
		char host[256];
		const char *colon = strrchr(dials[i], ':');
		if (!colon || (size_t)(colon - dials[i]) >= sizeof host)
			return 2;
		memcpy(host, dials[i], (size_t)(colon - dials[i]));
		host[colon - dials[i]] = '\0';
		if (net_dial(n, host, atoi(colon + 1), NULL))
			return 1;
	}
	printf("PORT %d\n", net_port(n));
	fflush(stdout);
	lc_loop_run(loop);
	net_free(n);
	lc_loop_free(loop);
	return 0;
}
