/*
 * The one Check runner: `lc_tests` runs every suite, `lc_tests NAME...` the
 * named ones (CTest runs one suite per test). Exit status is non-zero when
 * any check fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

int main(int argc, char **argv)
{
	const size_t n = sizeof lc_suites / sizeof lc_suites[0];
	SRunner *sr = NULL;
	for (size_t i = 0; i < n; i++) {
		int wanted = argc < 2;
		for (int a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], lc_suites[i].name);
		if (!wanted)
			continue;
		if (!sr)
			sr = srunner_create(lc_suites[i].make());
		else
			srunner_add_suite(sr, lc_suites[i].make());
	}
	if (!sr) {
		fprintf(stderr, "lc_tests: no such suite\n");
		return 2;
	}
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
