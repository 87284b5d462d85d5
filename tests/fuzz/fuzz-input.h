/* SPDX-License-Identifier: MIT */
/*
 * Reading a fuzzer's input as a stream of little-endian fields: past the
 * end every field reads as 0, so any input is a valid program.  And a check
 * that stays on whatever NDEBUG says.
 */
#ifndef VDK_FUZZ_INPUT_H
#define VDK_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

struct fuzz_input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);

	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);

	return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

#define FUZZ_CHECK(cond)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n",         \
				__FILE__, __LINE__, #cond);                  \
			abort();                                             \
		}                                                            \
	} while (0)

/*
 * Read every byte of the @n_out readable vectors and rewrite every byte of
 * the @n_in writable ones in place: AddressSanitizer checks that a request
 * the library hands out lies inside driver memory, to the last byte.
 */
static inline void fuzz_touch(const struct iovec *iov, unsigned int n_out,
			      unsigned int n_in)
{
	volatile uint8_t sink = 0;
	unsigned int v;

	for (v = 0; v < n_out + n_in; v++) {
		volatile uint8_t *p = iov[v].iov_base;
		size_t k;

		FUZZ_CHECK(iov[v].iov_len > 0);
		for (k = 0; k < iov[v].iov_len; k++) {
			if (v < n_out)
				sink ^= p[k];
			else
				p[k] = p[k];
		}
	}
	(void)sink;
}

/* Sort @n cut positions and drop repeats, as sim_cut() wants; new count. */
static inline unsigned int fuzz_sort_cuts(uint64_t *cuts, unsigned int n)
{
	unsigned int i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			uint64_t t = cuts[j];

			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	for (i = 0, j = 0; i < n; i++)
		if (j == 0 || cuts[j - 1] != cuts[i])
			cuts[j++] = cuts[i];
	return j;
}

/* The libFuzzer entry point, also called by replay.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* VDK_FUZZ_INPUT_H */
