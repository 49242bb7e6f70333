/*
 * layercast: a live P2P video streaming peer. This file only parses the
 * command line and hands over to the modules.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: layercast [--help] [--version]\n"
		"\n"
		"layercast is a live peer-to-peer video streaming peer: scalable VP9\n"
		"video, network coded over a WebSocket mesh.\n"
		"\n"
		"options:\n"
		"  -h, --help       show this help and exit\n"
		"  -V, --version    show the version and exit\n"
		"\n"
		"See layercast(1).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("layercast %s\n", LC_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "layercast: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	usage(stdout);
	return 0;
}
