/* SPDX-License-Identifier: MIT */
/*
 * Minimal helpers for vdk's test programs.  Each test is a standalone
 * program that exits 0 (pass), 1 (fail) or 77 (skip), as liburing's.
 */
#ifndef VDK_TEST_H
#define VDK_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

/* Fail the whole program, naming the place and the condition. */
#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n",     \
				__FILE__, __LINE__, __func__, #cond);        \
			exit(T_EXIT_FAIL);                                   \
		}                                                            \
	} while (0)

/* Same, for integers, printing both sides. */
#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);          \
		if (a_ != b_) {                                              \
			fprintf(stderr, "%s:%d: %s: %s == %s: %lld != %lld\n", \
				__FILE__, __LINE__, __func__, #a, #b, a_, b_); \
			exit(T_EXIT_FAIL);                                   \
		}                                                            \
	} while (0)

#endif /* VDK_TEST_H */
