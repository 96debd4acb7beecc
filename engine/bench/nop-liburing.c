/*
 * The peer of the client ring in the NOP round-trip benchmark (engine/bench/IoUring.Ring.Bench): the
 * same loop through liburing as the C# bench runs through Ring. Built by the bench with
 * gcc -O2 against Debian's liburing-dev; not part of the solution's build.
 *
 *   nop-liburing ENTRIES    then, on stdin, one line "BATCH OPS" per sample
 *
 * Sets up one plain ring (no setup flags, as the C# side does) and keeps it for the whole run, as
 * the C# side keeps its rings: a sample is a request on stdin, not a process, so neither side pays
 * for process start, ring setup or teardown (io_uring frees a ring in a kernel worker, after close)
 * inside or next to the other's timed loop. For each line: warm up, then time OPS NOPs in rounds of
 * BATCH: BATCH x (get_sqe, prep_nop), submit_and_wait(BATCH), every CQE checked and the CQ head
 * advanced once. Prints nanoseconds per NOP on one line.
 */
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runs `rounds` submissions of `batch` NOPs; 0, or -1 after printing what went wrong. */
static int run(struct io_uring *ring, unsigned batch, long rounds)
{
	for (long r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < batch; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			if (!sqe) {
				fprintf(stderr, "nop-liburing: submission queue full\n");
				return -1;
			}
			io_uring_prep_nop(sqe);
			sqe->user_data = i;
		}

		int rc = io_uring_submit_and_wait(ring, batch);
		if (rc != (int)batch) {
			fprintf(stderr, "nop-liburing: submit_and_wait returned %d (%s), expected %u\n", rc,
				rc < 0 ? strerror(-rc) : "short", batch);
			return -1;
		}

		unsigned head, seen = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(ring, head, cqe) {
			if (cqe->res != 0) {
				fprintf(stderr, "nop-liburing: NOP completed with %d\n", cqe->res);
				return -1;
			}
			seen++;
		}
		if (seen != batch) {
			fprintf(stderr, "nop-liburing: %u completions, expected %u\n", seen, batch);
			return -1;
		}
		io_uring_cq_advance(ring, seen);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: nop-liburing ENTRIES < lines of \"BATCH OPS\"\n");
		return 2;
	}
	unsigned entries = (unsigned)strtoul(argv[1], NULL, 10);

	struct io_uring ring;
	int rc = io_uring_queue_init(entries, &ring, 0);
	if (rc < 0) {
		fprintf(stderr, "nop-liburing: io_uring_queue_init: %s\n", strerror(-rc));
		return 1;
	}

	unsigned batch;
	long ops;
	while (scanf("%u %ld", &batch, &ops) == 2) {
		if (batch == 0 || batch > entries || ops < (long)batch) {
			fprintf(stderr, "nop-liburing: need 0 < BATCH <= ENTRIES and BATCH <= OPS\n");
			return 2;
		}

		/* The same warm-up share as the C# side: caches, branch predictors, the kernel's request cache. */
		long rounds = ops / batch;
		if (run(&ring, batch, rounds / 10 + 1) < 0)
			return 1;

		long long start = now_ns();
		if (run(&ring, batch, rounds) < 0)
			return 1;
		long long elapsed = now_ns() - start;

		printf("%.3f\n", (double)elapsed / (double)(rounds * batch));
		fflush(stdout);
	}

	io_uring_queue_exit(&ring);
	return 0;
}
