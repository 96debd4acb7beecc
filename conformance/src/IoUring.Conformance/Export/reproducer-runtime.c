/*@ section core @*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <linux/io_uring.h>

#define PASS 0
#define FAIL 1
#define SKIP 77

/* The program's file is a memfd of 8 KiB of known bytes; its buffer area 48 KiB of known bytes. */
#define FILE_BYTES 8192
#define AREA_BYTES (48 * 1024)
#define IOVEC_LENGTH 700
#define IOVEC_SLOTS 1100
/* The pipe's and the eventfd's transfer buffer, apart from the area. */
#define STREAM_BYTES (16 * 1024)
/* A msghdr's vectors: up to MSG_VECTORS of MSG_VECTOR_LENGTH bytes from its offset in the stream buffer. */
#define MSG_VECTORS 8
#define MSG_VECTOR_LENGTH 700
#define MSG_SLOTS 64
/* Below mmap_min_addr: nothing is ever mapped there, so a copy faults at issue. */
#define UNMAPPED_ADDRESS 0x1000ULL
/* Above TASK_SIZE: access_ok refuses it when the request is prepared. */
#define KERNEL_ADDRESS 0xffff800000000000ULL
/* A descriptor number nothing has open. */
#define CLOSED_FD 0x3ffffff0

/* The workspace's socket addresses: the listener's, the UDP socket's, 127.0.0.1:0, 127.0.0.1:1, an accept's peer address and its length. */
#define ADDRESS_BYTES 256
#define LISTENER_ADDRESS 0
#define UDP_ADDRESS 16
#define ANY_PORT_ADDRESS 32
#define CLOSED_PORT_ADDRESS 48
#define PEER_ADDRESS 64
#define PEER_ADDRESS_LENGTH 192
/* How long a step waits for completions the kernel should post (they come at once when it does). */
#define SETTLE_TIMEOUT_MS 2000
/* An io_uring_enter that has not returned after this long is stuck: see the watchdog. */
#define WATCHDOG_MS 5000

static const char *step_name = "setup";

static inline int sys_result(long ret)
{
	return ret < 0 ? -errno : (int)ret;
}

static inline long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ring {
	int fd;
	struct io_uring_params p;
	unsigned char *sq_ring, *cq_ring, *sqes, *cqes;
	size_t sq_ring_size, cq_ring_size, sqes_size;
	unsigned *sq_head, *sq_tail, *sq_array, *cq_head, *cq_tail;
	/* SQEs taken since the last flush start at sqe_head; the next free one is sqe_tail. */
	unsigned sqe_head, sqe_tail;
};

static inline unsigned load_acquire(const unsigned *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_release(unsigned *p, unsigned v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline unsigned sq_field(struct ring *r, unsigned offset)
{
	return load_acquire((unsigned *)(r->sq_ring + offset));
}

static inline unsigned cq_field(struct ring *r, unsigned offset)
{
	return load_acquire((unsigned *)(r->cq_ring + offset));
}

static inline int ring_flag(struct ring *r, unsigned flag)
{
	return (r->p.flags & flag) != 0;
}

static inline int cqe32_ring(struct ring *r)
{
	return ring_flag(r, IORING_SETUP_CQE32);
}

static inline int cqe_mixed(struct ring *r)
{
#ifdef IORING_SETUP_CQE_MIXED
	return ring_flag(r, IORING_SETUP_CQE_MIXED);
#else
	(void)r;
	return 0;
#endif
}

static inline int sqe_mixed(struct ring *r)
{
#ifdef IORING_SETUP_SQE_MIXED
	return ring_flag(r, IORING_SETUP_SQE_MIXED);
#else
	(void)r;
	return 0;
#endif
}

static inline int sq_rewind(struct ring *r)
{
#ifdef IORING_SETUP_SQ_REWIND
	return ring_flag(r, IORING_SETUP_SQ_REWIND);
#else
	(void)r;
	return 0;
#endif
}

static inline int no_sq_array(struct ring *r)
{
#ifdef IORING_SETUP_NO_SQARRAY
	return ring_flag(r, IORING_SETUP_NO_SQARRAY);
#else
	(void)r;
	return 0;
#endif
}

/*
 * The watchdog. On some kernels a wait can spin in the kernel, deaf to signals and to its own timeout,
 * until the CQ head moves. If an io_uring_enter has not returned after WATCHDOG_MS, this thread
 * consumes the CQ (moves the head to the tail), which frees the waiter, and the step reports it as a
 * failure. Without it such a kernel would keep a core busy until it is rebooted.
 */
static struct ring *watched_ring;
static long long enter_started_ms;
static int watchdog_fired;

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(50 * 1000);
		long long started = __atomic_load_n(&enter_started_ms, __ATOMIC_ACQUIRE);
		if (started != 0 && now_ms() - started > WATCHDOG_MS) {
			struct ring *r = __atomic_load_n(&watched_ring, __ATOMIC_ACQUIRE);
			__atomic_store_n(&watchdog_fired, 1, __ATOMIC_RELEASE);
			store_release(r->cq_head, load_acquire(r->cq_tail));
		}
	}
	return NULL;
}

static void start_watchdog(void)
{
	pthread_t thread;
	if (pthread_create(&thread, NULL, watchdog, NULL) == 0)
		pthread_detach(thread);
}

static inline int io_uring_register(int fd, unsigned opcode, void *arg, unsigned nr_args)
{
	return sys_result(syscall(__NR_io_uring_register, fd, opcode, arg, nr_args));
}

/* Sets up the ring and maps its three regions, as liburing's io_uring_queue_init_params does. */
static int ring_create(struct ring *r, unsigned entries, unsigned flags, unsigned cq_entries)
{
	memset(r, 0, sizeof *r);
	r->p.flags = flags;
	r->p.cq_entries = cq_entries;
	r->fd = sys_result(syscall(__NR_io_uring_setup, entries, &r->p));
	if (r->fd < 0)
		return r->fd;

	struct io_uring_params *p = &r->p;
	r->sq_ring_size = no_sq_array(r) ? p->sq_off.flags + 4 : p->sq_off.array + p->sq_entries * 4;
	r->cq_ring_size = p->cq_off.cqes + p->cq_entries * (cqe32_ring(r) ? 32 : 16);
	int single = (p->features & IORING_FEAT_SINGLE_MMAP) != 0;
	if (single && r->cq_ring_size > r->sq_ring_size)
		r->sq_ring_size = r->cq_ring_size;
	if (single)
		r->cq_ring_size = r->sq_ring_size;
	int prot = PROT_READ | PROT_WRITE, map = MAP_SHARED | MAP_POPULATE;
	r->sq_ring = mmap(NULL, r->sq_ring_size, prot, map, r->fd, IORING_OFF_SQ_RING);
	if (r->sq_ring == MAP_FAILED)
		goto failed;
	r->cq_ring = single ? r->sq_ring : mmap(NULL, r->cq_ring_size, prot, map, r->fd, IORING_OFF_CQ_RING);
	if (r->cq_ring == MAP_FAILED)
		goto failed;
	r->sqes_size = p->sq_entries * (ring_flag(r, IORING_SETUP_SQE128) ? 128 : 64);
	r->sqes = mmap(NULL, r->sqes_size, prot, map, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		goto failed;
	r->sq_head = (unsigned *)(r->sq_ring + p->sq_off.head);
	r->sq_tail = (unsigned *)(r->sq_ring + p->sq_off.tail);
	r->sq_array = no_sq_array(r) ? NULL : (unsigned *)(r->sq_ring + p->sq_off.array);
	r->cq_head = (unsigned *)(r->cq_ring + p->cq_off.head);
	r->cq_tail = (unsigned *)(r->cq_ring + p->cq_off.tail);
	r->cqes = r->cq_ring + p->cq_off.cqes;
	return 0;

failed:;
	int err = -errno;
	close(r->fd);
	return err;
}

/* SQ entries the kernel has not consumed yet. */
static inline unsigned sq_left(struct ring *r)
{
	return load_acquire(r->sq_tail) - load_acquire(r->sq_head);
}

static inline unsigned cq_ready(struct ring *r)
{
	return load_acquire(r->cq_tail) - load_acquire(r->cq_head);
}

/* One CQE as the program saw it (big: a 32-byte CQE, with its two extra words). */
struct cqe {
	unsigned long long user_data;
	int res;
	unsigned flags;
	int big;
	unsigned long long big0, big1;
};

#define MAX_CQES 4096

/* A msghdr of the process's own layout (the kernel reads a 32-bit process's as a compat msghdr) and its vectors. */
struct msg_slot {
	struct msghdr hdr;
	struct iovec iov[MSG_VECTORS];
};

/* The program's files and memory: a memfd of known bytes, a buffer area of known bytes, iovec arrays,
 * for readiness an empty pipe, an eventfd of count 0 and their transfer buffer, and a connected pair of
 * AF_UNIX stream sockets with msghdrs for their messages. */
struct workspace {
	int fd;
	int pipe_read, pipe_write, eventfd;
	int sock_a, sock_b;
	int listener, udp;
	int spare;
	int *descriptors;
	int epoll;
	struct epoll_event *epoll_events;
	/* Where EPOLL_WAIT writes its events: 8, each 0xab bytes until written (NULL when unused). */
	struct epoll_event *epoll_out;
	unsigned char *addresses;
	unsigned char *area;
	unsigned char *stream;
	struct { void *base; size_t len; } *iovecs;
	struct msg_slot *msgs;
	/* The path calls' scratch directory (its path empty when the program has none), names, open_hows and statx buffer. */
	int dir;
	char dir_path[64];
	unsigned char *names;
	unsigned long long *hows;
	unsigned char *statx;
	/* The futex calls' words (7 and 8), WAITID's siginfo and the futex_waitv arrays (NULL when unused). */
	unsigned char *futex;
	/* The buffer rings' entries: two pages, group 2's the second (NULL when unused). */
	unsigned char *buffer_rings;
	/* The eventfd the program registers with its ring (-1 when unused). */
	int notifier;
	/* The pipes only SPLICE and TEE touch, read end first (-1 when unused). */
	int splice_pipe[2];
	int tee_pipe[2];
};

static void workspace_create(struct workspace *ws)
{
	unsigned char pattern[FILE_BYTES];
	for (int i = 0; i < FILE_BYTES; i++)
		pattern[i] = (unsigned char)(i * 7 + 3);
	ws->fd = memfd_create("io_uring-conformance", 0);
	if (ws->fd < 0 || pwrite(ws->fd, pattern, sizeof pattern, 0) != (ssize_t)sizeof pattern) {
		printf("SKIP: cannot create the program's memfd (%s)\n", strerror(errno));
		exit(SKIP);
	}
	int pipe_fds[2];
	ws->eventfd = eventfd(0, EFD_CLOEXEC);
	if (pipe2(pipe_fds, O_CLOEXEC) != 0 || ws->eventfd < 0) {
		printf("SKIP: cannot create the program's pipe and eventfd (%s)\n", strerror(errno));
		exit(SKIP);
	}
	ws->pipe_read = pipe_fds[0];
	ws->pipe_write = pipe_fds[1];
	int sockets[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
		printf("SKIP: cannot create the program's socket pair (%s)\n", strerror(errno));
		exit(SKIP);
	}
	ws->sock_a = sockets[0];
	ws->sock_b = sockets[1];
	ws->msgs = aligned_alloc(64, MSG_SLOTS * sizeof *ws->msgs);
	ws->area = aligned_alloc(4096, AREA_BYTES);
	ws->stream = aligned_alloc(4096, STREAM_BYTES);
	ws->iovecs = aligned_alloc(64, IOVEC_SLOTS * sizeof *ws->iovecs);
	if (ws->area == NULL || ws->stream == NULL || ws->iovecs == NULL || ws->msgs == NULL) {
		printf("SKIP: out of memory\n");
		exit(SKIP);
	}
	for (int i = 0; i < AREA_BYTES; i++)
		ws->area[i] = (unsigned char)(i * 13);
	for (int i = 0; i < STREAM_BYTES; i++)
		ws->stream[i] = (unsigned char)(i * 29 + 1);
	ws->dir = -1;
	ws->dir_path[0] = '\0';
	ws->statx = NULL;
	ws->futex = NULL;
	ws->buffer_rings = NULL;
	ws->notifier = -1;
	ws->epoll_out = NULL;
	ws->splice_pipe[0] = ws->splice_pipe[1] = ws->tee_pipe[0] = ws->tee_pipe[1] = -1;
}

/* The checks: each compares what the kernel did with what it should have done, and stops at the first difference. */
static void differs(const char *what, const char *got, const char *want)
{
	printf("FAIL %s: %s\n  expected: %s\n  got:      %s\n", step_name, what, want, got);
	exit(FAIL);
}

static void expect_int(const char *what, long long got, long long want)
{
	if (got != want) {
		char g[32], w[32];
		snprintf(g, sizeof g, "%lld", got);
		snprintf(w, sizeof w, "%lld", want);
		differs(what, g, w);
	}
}

/* Setup's result; a kernel that refuses setup flags the recording kernel took lacks a feature: skip. */
static void expect_setup(int got, int want, unsigned flags)
{
	if (want == 0 && got == -EINVAL) {
		printf("SKIP: io_uring_setup refuses flags 0x%x here (-EINVAL): this kernel lacks one of them\n", flags);
		exit(SKIP);
	}
	expect_int("io_uring_setup (0, or -errno)", got, want);
}

/*@ section text @*/
static void expect_text(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		differs(what, got, want);
}

/*@ section params @*/
/* io_uring_params as the kernel filled them in: sizes, features, and every offset. */
static void expect_params(struct ring *r, unsigned want_features, const char *want)
{
	struct io_uring_params *p = &r->p;
	if ((p->features & want_features) != want_features) {
		printf("SKIP: this kernel lacks features 0x%x the program was recorded with\n", want_features & ~p->features);
		exit(SKIP);
	}
	char got[256];
	snprintf(got, sizeof got, "params sq %u cq %u features 0x%x sq_off %u/%u/%u/%u/%u/%u/%u cq_off %u/%u/%u/%u/%u/%u/%u",
		 p->sq_entries, p->cq_entries, p->features, p->sq_off.head, p->sq_off.tail, p->sq_off.ring_mask,
		 p->sq_off.ring_entries, p->sq_off.flags, p->sq_off.dropped, p->sq_off.array, p->cq_off.head,
		 p->cq_off.tail, p->cq_off.ring_mask, p->cq_off.ring_entries, p->cq_off.overflow, p->cq_off.cqes,
		 p->cq_off.flags);
	expect_text("io_uring_params", got, want);
}

/*@ section steps @*/
/* What a CQE carrying a new descriptor (SOCKET, ACCEPT) is compared as: its number is the process's choice. */
#define NEW_DESCRIPTOR 0x40000000
static const unsigned long long *new_descriptor_user_data;
static int new_descriptor_count;

static int io_uring_enter(struct ring *r, unsigned to_submit, unsigned min_complete, unsigned flags, void *arg, size_t argsz)
{
	__atomic_store_n(&watched_ring, r, __ATOMIC_RELEASE);
	__atomic_store_n(&enter_started_ms, now_ms(), __ATOMIC_RELEASE);
	int ret = sys_result(syscall(__NR_io_uring_enter, r->fd, to_submit, min_complete, flags, arg, argsz));
	__atomic_store_n(&enter_started_ms, 0, __ATOMIC_RELEASE);
	if (__atomic_load_n(&watchdog_fired, __ATOMIC_ACQUIRE)) {
		printf("FAIL %s: io_uring_enter(to_submit %u, min_complete %u, flags 0x%x) did not return for %d ms; "
		       "the watchdog freed it by consuming the CQ\n", step_name, to_submit, min_complete, flags, WATCHDOG_MS);
		exit(FAIL);
	}
	return ret;
}

/* Publishes the SQEs taken since the last flush: index array entries, then the tail. */
static void flush(struct ring *r)
{
	if (r->sq_array != NULL)
		for (unsigned i = r->sqe_head; i != r->sqe_tail; i++)
			r->sq_array[i & (r->p.sq_entries - 1)] = i & (r->p.sq_entries - 1);
	store_release(r->sq_tail, r->sqe_tail);
	r->sqe_head = r->sqe_tail;
}

static void cqe_text(const struct cqe *c, char *buf, size_t size)
{
	if (c->big)
		snprintf(buf, size, "%llu:%d:%u:%llu:%llu", c->user_data, c->res, c->flags, c->big0, c->big1);
	else
		snprintf(buf, size, "%llu:%d:%u", c->user_data, c->res, c->flags);
}

/*
 * Reads up to max CQEs and moves the CQ head past them. On a CQE_MIXED ring a filler (F_SKIP) is
 * consumed unseen and a 32-byte CQE (F_32) takes two slots.
 */
static int reap(struct ring *r, struct cqe *out, unsigned max)
{
	int n = 0;
	unsigned shift = cqe32_ring(r) ? 5 : 4;
	while ((unsigned)n < max && n < MAX_CQES) {
		unsigned head = load_acquire(r->cq_head);
		if (head == load_acquire(r->cq_tail))
			break;
		struct io_uring_cqe *cqe = (struct io_uring_cqe *)(r->cqes + ((size_t)(head & (r->p.cq_entries - 1)) << shift));
		unsigned slots = 1;
#ifdef IORING_CQE_F_SKIP
		if (cqe_mixed(r) && (cqe->flags & IORING_CQE_F_SKIP)) {
			store_release(r->cq_head, head + 1);
			continue;
		}
		if (cqe_mixed(r) && (cqe->flags & IORING_CQE_F_32))
			slots = 2;
#endif
		struct cqe *c = &out[n++];
		memset(c, 0, sizeof *c);
		c->user_data = cqe->user_data;
		c->res = cqe->res;
		c->flags = cqe->flags;
		for (int k = 0; k < new_descriptor_count && c->res >= 0; k++) {
			if (new_descriptor_user_data[k] == c->user_data) {
				close(c->res);
				c->res = NEW_DESCRIPTOR;
			}
		}
		if (cqe32_ring(r) || slots == 2) {
			const unsigned long long *extra = (const unsigned long long *)((const unsigned char *)cqe + 16);
			c->big = 1;
			c->big0 = extra[0];
			c->big1 = extra[1];
		}
		store_release(r->cq_head, head + slots);
	}
	return n;
}

/* FNV-1a over 64-bit words, then the bytes left over. */
static unsigned long long digest_bytes(const unsigned char *bytes, size_t n)
{
	unsigned long long h = 14695981039346656037ULL;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		unsigned long long w;
		memcpy(&w, bytes + i, 8);
		h = (h ^ w) * 1099511628211ULL;
	}
	for (; i < n; i++)
		h = (h ^ bytes[i]) * 1099511628211ULL;
	return h;
}

/* An eventfd's count without reading it: the eventfd-count line of its fdinfo (hex). */
static unsigned long long eventfd_count(int fd)
{
	char path[64], line[256];
	unsigned long long count = 0;
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "eventfd-count: %llx", &count) == 1)
			break;
	fclose(f);
	return count;
}

static int name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The scratch directory's entries in byte order of their names, a subdirectory's after its own entry:
 * "name:f" and a regular file's size, "name:d", "name:l>" and a link's target. */
static int list_directory(const char *path, const char *prefix, char *buf, size_t size, int n)
{
	char *entries[64];
	int count = 0;
	DIR *d = opendir(path);
	if (d == NULL)
		return n;
	for (struct dirent *e; (e = readdir(d)) != NULL && count < 64;)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			entries[count++] = strdup(e->d_name);
	closedir(d);
	qsort(entries, (size_t)count, sizeof entries[0], name_order);
	for (int i = 0; i < count; i++) {
		char full[512], target[256];
		struct stat st;
		snprintf(full, sizeof full, "%s/%s", path, entries[i]);
		if (lstat(full, &st) != 0) {
			n += snprintf(buf + n, size - (size_t)n, " %s%s:?", prefix, entries[i]);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t len = readlink(full, target, sizeof target - 1);
			target[len > 0 ? len : 0] = '\0';
			n += snprintf(buf + n, size - (size_t)n, " %s%s:l>%s", prefix, entries[i], target);
		} else if (S_ISDIR(st.st_mode)) {
			char below[256];
			n += snprintf(buf + n, size - (size_t)n, " %s%s:d", prefix, entries[i]);
			snprintf(below, sizeof below, "%s%s/", prefix, entries[i]);
			n = list_directory(full, below, buf, size, n);
		} else {
			n += snprintf(buf + n, size - (size_t)n, " %s%s:f%lld", prefix, entries[i], (long long)st.st_size);
		}
		free(entries[i]);
	}
	return n;
}

/* Once the scratch directory holds anything, " dir" and its entries; once STATX wrote its buffer,
 * " statx" and the type with a regular file's or a link's size and link count (struct statx: mask at 0,
 * nlink at 16, mode at 28, size at 40). */
static void paths_digest(struct workspace *ws, char *buf, size_t size, int n)
{
	if (ws->dir_path[0] != '\0') {
		int before = n;
		n += snprintf(buf + n, size - (size_t)n, " dir");
		int listed = list_directory(ws->dir_path, "", buf, size, n);
		if (listed == n)
			buf[n = before] = '\0';
		else
			n = listed;
	}
	if (ws->statx != NULL && *(unsigned *)ws->statx != 0) {
		unsigned type = *(unsigned short *)(ws->statx + 28) & S_IFMT;
		const char *kind = type == S_IFREG ? "f" : type == S_IFDIR ? "d" : type == S_IFLNK ? "l" : "?";
		if (type == S_IFREG || type == S_IFLNK)
			snprintf(buf + n, size - (size_t)n, " statx %s%llu/%u", kind, *(unsigned long long *)(ws->statx + 40), *(unsigned *)(ws->statx + 16));
		else
			snprintf(buf + n, size - (size_t)n, " statx %s", kind);
	}
}

/* The file's size, a digest of its bytes, its position, and a digest of the buffer area; once the
 * pipe or the eventfd has been used, the bytes in the pipe, the eventfd's count and a digest of their buffer;
 * once a socket holds bytes, how many each holds. */
static void workspace_digest(struct workspace *ws, char *buf, size_t size)
{
	off_t position = lseek(ws->fd, 0, SEEK_CUR);
	off_t length = lseek(ws->fd, 0, SEEK_END);
	unsigned char *content = malloc(length > 0 ? (size_t)length : 1);
	ssize_t got = content == NULL ? -1 : pread(ws->fd, content, (size_t)length, 0);
	lseek(ws->fd, position, SEEK_SET);
	int n = snprintf(buf, size, "file %lld:%016llx pos %lld area %016llx", (long long)length,
			 digest_bytes(content, got > 0 ? (size_t)got : 0), (long long)position, digest_bytes(ws->area, AREA_BYTES));
	free(content);

	unsigned char pattern[STREAM_BYTES];
	for (int i = 0; i < STREAM_BYTES; i++)
		pattern[i] = (unsigned char)(i * 29 + 1);
	int queued = 0;
	ioctl(ws->pipe_read, FIONREAD, &queued);
	unsigned long long count = eventfd_count(ws->eventfd);
	unsigned long long stream = digest_bytes(ws->stream, STREAM_BYTES);
	if (queued != 0 || count != 0 || stream != digest_bytes(pattern, STREAM_BYTES))
		n += snprintf(buf + n, size - (size_t)n, " pipe %d eventfd %llu stream %016llx", queued, count, stream);
	int a = 0, b = 0;
	ioctl(ws->sock_a, FIONREAD, &a);
	ioctl(ws->sock_b, FIONREAD, &b);
	if (a != 0 || b != 0)
		n += snprintf(buf + n, size - (size_t)n, " sockets %d %d", a, b);
	if (ws->epoll_out != NULL) {
		const char *sep = " epoll-out ";
		for (int k = 0; k < 8; k++) {
			if (ws->epoll_out[k].events == 0xababababU && ws->epoll_out[k].data.u64 == 0xababababababababULL)
				continue;
			n += snprintf(buf + n, size - (size_t)n, "%s%x:%llx", sep, ws->epoll_out[k].events,
				      (unsigned long long)ws->epoll_out[k].data.u64);
			sep = ",";
		}
	}
	int spliced = 0, teed = 0;
	if (ws->splice_pipe[0] >= 0) {
		ioctl(ws->splice_pipe[0], FIONREAD, &spliced);
		ioctl(ws->tee_pipe[0], FIONREAD, &teed);
	}
	if (spliced != 0 || teed != 0)
		n += snprintf(buf + n, size - (size_t)n, " splice-pipes %d %d", spliced, teed);
	paths_digest(ws, buf, size, n);

	/* Once WAITID wrote its siginfo (28 bytes of 0xaa at offset 16 of the futex memory until then): its bytes in hex. */
	if (ws->futex != NULL) {
		int written = 0;
		for (int i = 16; i < 44; i++)
			written |= ws->futex[i] != 0xaa;
		if (written) {
			n = (int)strlen(buf);
			n += snprintf(buf + n, size - (size_t)n, " siginfo ");
			for (int i = 16; i < 44; i++)
				n += snprintf(buf + n, size - (size_t)n, "%02x", ws->futex[i]);
		}
	}

	/* Once a buffer ring was registered over the workspace's pages: a digest of them, each entry's
	 * address as its offset from the area (as a 64-bit word, whatever the process's pointers). */
	if (ws->buffer_rings != NULL) {
		int used = 0;
		for (int i = 0; i < 8192; i++)
			used |= ws->buffer_rings[i] != 0;
		if (used) {
			unsigned char *copy = malloc(8192);
			if (copy == NULL) {
				printf("SKIP: out of memory\n");
				exit(SKIP);
			}
			memcpy(copy, ws->buffer_rings, 8192);
			for (int k = 0; k < 8192; k += 16) {
				unsigned long long address;
				memcpy(&address, copy + k, 8);
				if (address != 0)
					address -= (unsigned long long)(uintptr_t)ws->area;
				memcpy(copy + k, &address, 8);
			}
			n = (int)strlen(buf);
			snprintf(buf + n, size - (size_t)n, " rings %016llx", digest_bytes(copy, 8192));
			free(copy);
		}
	}
	/* Once the ring signalled the notification eventfd since the last digest: " notified", and the count read back to 0. */
	if (ws->notifier >= 0) {
		struct pollfd p = { .fd = ws->notifier, .events = POLLIN };
		unsigned long long count;
		if (poll(&p, 1, 0) > 0 && read(ws->notifier, &count, sizeof count) == (ssize_t)sizeof count) {
			n = (int)strlen(buf);
			snprintf(buf + n, size - (size_t)n, " notified");
		}
	}
}

/* The SQEs of one step: where each went in the SQ, and whether the SQ ran out of room. */
struct batch {
	unsigned first_slot, queued, positions[64];
	int full;
	struct io_uring_sqe *last;
};

static void batch_begin(struct batch *b, struct ring *r)
{
	memset(b, 0, sizeof *b);
	b->first_slot = sq_rewind(r) ? 0 : load_acquire(r->sq_tail);
}

/* Ends the step's last chain (a chain left open would go to io-wq), publishes the SQEs, and returns to_submit. */
static unsigned batch_end(struct batch *b, struct ring *r, int bad_index_at)
{
	if (b->last != NULL)
		b->last->flags &= (unsigned char)~(IOSQE_IO_LINK | IOSQE_IO_HARDLINK);
	flush(r);
	if (bad_index_at >= 0 && (unsigned)bad_index_at < b->queued && r->sq_array != NULL)
		r->sq_array[b->positions[bad_index_at] & (r->p.sq_entries - 1)] = r->p.sq_entries + 5;
	return sq_rewind(r) ? b->queued : sq_left(r);
}

/* After an enter, an SQ_REWIND ring takes its next submission from slot 0 again. */
static void batch_done(struct ring *r)
{
	if (sq_rewind(r))
		r->sqe_head = r->sqe_tail = 0;
}

static void cqes_text(const struct cqe *cqes, int n, int timeout, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	if (timeout != 0)
		used += (size_t)snprintf(buf, size, "settle-timeout(%d)", timeout);
	for (int i = 0; i < n && used + 64 < size; i++) {
		char one[128];
		cqe_text(&cqes[i], one, sizeof one);
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used > 0 ? " " : "", one);
	}
}

static void expect_cqes(const char *what, const struct cqe *got, int n, int got_timeout, const struct cqe *want, int count, int want_timeout)
{
	static char g[65536], w[65536];
	cqes_text(got, n, got_timeout, g, sizeof g);
	cqes_text(want, count, want_timeout, w, sizeof w);
	expect_text(what, g, w);
}

/* The SQ and CQ heads and tails, the CQ overflow flag, the overflow and dropped counters. */
static void expect_counters(struct ring *r, const char *want)
{
	char got[160];
	snprintf(got, sizeof got, "sq %u/%u cq %u/%u sqflags 0x%x overflow %u dropped %u",
		 load_acquire(r->sq_head), load_acquire(r->sq_tail), load_acquire(r->cq_head), load_acquire(r->cq_tail),
		 sq_field(r, r->p.sq_off.flags) & IORING_SQ_CQ_OVERFLOW, cq_field(r, r->p.cq_off.overflow),
		 sq_field(r, r->p.sq_off.dropped));
	expect_text("the ring's counters", got, want);
}

static void expect_digest(struct workspace *ws, const char *want)
{
	/* io-wq's workers signal the notification eventfd just after they post: give the signal its time. */
	if (ws->notifier >= 0 && strstr(want, " notified") != NULL) {
		struct pollfd p = { .fd = ws->notifier, .events = POLLIN };
		poll(&p, 1, SETTLE_TIMEOUT_MS);
		usleep(1000);
	}
	char got[2048];
	workspace_digest(ws, got, sizeof got);
	expect_text("the file and the buffer area (size:digest, position, digest)", got, want);
}

/*@ section sqes @*/
/* The next free SQE, zeroed, or NULL when the SQ is full. */
static struct io_uring_sqe *get_sqe(struct ring *r)
{
	if (r->sqe_tail - load_acquire(r->sq_head) >= r->p.sq_entries)
		return NULL;
	unsigned shift = ring_flag(r, IORING_SETUP_SQE128) ? 7 : 6;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)(r->sqes + ((size_t)(r->sqe_tail & (r->p.sq_entries - 1)) << shift));
	memset(sqe, 0, (size_t)1 << shift);
	r->sqe_tail++;
	return sqe;
}

/*
 * A 128-byte SQE: any SQE on an SQE128 ring; two consecutive slots on an SQE_MIXED ring, where it may
 * not start in the last slot, so a NOP that posts nothing pads the wrap first.
 */
static struct io_uring_sqe *get_sqe128(struct ring *r)
{
	if (!sqe_mixed(r))
		return ring_flag(r, IORING_SETUP_SQE128) ? get_sqe(r) : NULL;
	int last = (r->sqe_tail & (r->p.sq_entries - 1)) == r->p.sq_entries - 1;
	if (r->p.sq_entries - (r->sqe_tail - load_acquire(r->sq_head)) < (last ? 3u : 2u))
		return NULL;
	if (last) {
		struct io_uring_sqe *pad = get_sqe(r);
		pad->opcode = IORING_OP_NOP;
		pad->flags = IOSQE_CQE_SKIP_SUCCESS;
	}
	struct io_uring_sqe *sqe = get_sqe(r);
	memset((unsigned char *)sqe + 64, 0, 64);
	r->sqe_tail++;
	return sqe;
}

/* The step's next SQE (a 128-byte one if big), or NULL once the SQ has had no room for one. */
static struct io_uring_sqe *batch_sqe(struct batch *b, struct ring *r, int big)
{
	if (b->full)
		return NULL;
	unsigned before = r->sqe_tail - r->sqe_head;
	struct io_uring_sqe *sqe = big ? get_sqe128(r) : get_sqe(r);
	if (sqe == NULL) {
		b->full = 1;
		return NULL;
	}
	b->positions[b->queued++ % 64] = b->first_slot + before;
	b->last = sqe;
	return sqe;
}

/*@ section drain @*/
/* Reads every CQE, flushing the overflow list into the CQ, until both are empty. */
static int drain(struct ring *r, struct cqe *out)
{
	int n = 0;
	for (int round = 0; round < 64; round++) {
		n += reap(r, out + n, MAX_CQES - n);
		if (!(sq_field(r, r->p.sq_off.flags) & IORING_SQ_CQ_OVERFLOW))
			break;
		io_uring_enter(r, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	}
	return n;
}

/*@ section settle @*/
/*
 * Waits, up to SETTLE_TIMEOUT_MS, until count CQ slots are ready; -ETIME when they are not. With
 * poll_mixed (the recording kernel's wait can spin on a CQE_MIXED ring, see the watchdog) the wait
 * is made of non-waiting GETEVENTS enters, which flush the overflow list, and short sleeps.
 */
static int wait_ready(struct ring *r, unsigned count, int poll_mixed)
{
	if (poll_mixed && cqe_mixed(r)) {
		long long started = now_ms();
		for (;;) {
			int ret = io_uring_enter(r, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
			if (ret < 0 || cq_ready(r) >= count)
				return ret;
			if (now_ms() - started > SETTLE_TIMEOUT_MS)
				return -ETIME;
			usleep(1000);
		}
	}
	struct __kernel_timespec ts = { .tv_sec = SETTLE_TIMEOUT_MS / 1000 };
	struct io_uring_getevents_arg arg = { .ts = (unsigned long long)(uintptr_t)&ts };
	/* min_complete counts every CQE in the CQ, not only new ones. */
	return io_uring_enter(r, 0, count, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
}

static int compare_cqe_text(const void *a, const void *b)
{
	char x[128], y[128];
	cqe_text(a, x, sizeof x);
	cqe_text(b, y, sizeof y);
	return strcmp(x, y);
}

/*
 * Waits until as many CQ slots are ready as the kernel should have filled by now (completions from
 * io-wq come at their own time), then reads them all, sorted by their text (their order is not
 * fixed). *timeout is the wait's error when it ended before they were there, else 0.
 */
static int settle(struct ring *r, unsigned expected_slots, int poll_mixed, struct cqe *out, int *timeout)
{
	*timeout = 0;
	if (cq_ready(r) < expected_slots) {
		int ret = wait_ready(r, expected_slots, poll_mixed);
		if (ret < 0 && cq_ready(r) < expected_slots)
			*timeout = ret;
	}
	int n = reap(r, out, MAX_CQES);
	qsort(out, (size_t)n, sizeof *out, compare_cqe_text);
	return n;
}

/*@ section iovecs @*/
/* count vectors of IOVEC_LENGTH bytes, 1 KiB apart from area_offset; each SQE gets its own slice. */
static unsigned long long iovecs(struct workspace *ws, int slot, int area_offset, int count)
{
	int start = (slot * 8) % (IOVEC_SLOTS - 1030);
	for (int i = 0; i < count && i < IOVEC_SLOTS - start; i++) {
		ws->iovecs[start + i].base = ws->area + (area_offset + i * 1024) % (AREA_BYTES - IOVEC_LENGTH);
		ws->iovecs[start + i].len = IOVEC_LENGTH;
	}
	return (unsigned long long)(uintptr_t)&ws->iovecs[start];
}

/*@ section msghdr @*/
/* A msghdr with no name and no control data: count vectors (at most MSG_VECTORS are filled; more is
 * refused before any is read) of MSG_VECTOR_LENGTH bytes following each other from stream_offset.
 * Its msg_namelen and msg_controllen are given without pointers: a multishot RECVMSG lays out its
 * buffers by these lengths alone. */
static unsigned long long msghdr_of(struct workspace *ws, int slot, int stream_offset, unsigned count, int namelen, unsigned controllen)
{
	struct msg_slot *m = &ws->msgs[slot % MSG_SLOTS];
	memset(m, 0, sizeof *m);
	for (unsigned i = 0; i < count && i < MSG_VECTORS; i++) {
		m->iov[i].iov_base = ws->stream + (stream_offset + (int)i * MSG_VECTOR_LENGTH) % (STREAM_BYTES - MSG_VECTOR_LENGTH);
		m->iov[i].iov_len = MSG_VECTOR_LENGTH;
	}
	m->hdr.msg_iov = m->iov;
	m->hdr.msg_iovlen = count;
	m->hdr.msg_namelen = namelen;
	m->hdr.msg_controllen = controllen;
	return (unsigned long long)(uintptr_t)&m->hdr;
}

/*@ section probe @*/
/* IORING_REGISTER_PROBE for ops entries; dirty sets a reserved byte of the first entry. */
static void register_probe(struct ring *r, unsigned ops, int dirty, char *text, size_t size)
{
	static unsigned char buffer[16 + 300 * 8];
	memset(buffer, 0, sizeof buffer);
	if (dirty)
		buffer[20] = 1;
	int ret = io_uring_register(r->fd, IORING_REGISTER_PROBE, buffer, ops);
	if (ret < 0) {
		snprintf(text, size, "probe %d", ret);
		return;
	}
	struct io_uring_probe *probe = (struct io_uring_probe *)buffer;
	int used = snprintf(text, size, "probe %d last_op %u ops_len %u supported ", ret, probe->last_op, probe->ops_len);
	for (unsigned i = 0; i < probe->ops_len && (size_t)used + 2 < size; i++)
		text[used++] = (probe->ops[i].flags & IO_URING_OP_SUPPORTED) ? '1' : '0';
	text[used] = '\0';
}

/*@ section query @*/
#include <linux/io_uring/query.h>

/* IORING_REGISTER_QUERY (no ring needed) of one opcode with a given result size; dirty sets a reserved word. */
static void register_query(unsigned op, unsigned size_given, int dirty, char *text, size_t size)
{
	unsigned char data[64] = { 0 };
	struct io_uring_query_hdr hdr = { .query_op = op, .query_data = (unsigned long long)(uintptr_t)data, .size = size_given };
	if (dirty)
		hdr.__resv[1] = 1;
	int ret = sys_result(syscall(__NR_io_uring_register, -1, IORING_REGISTER_QUERY, &hdr, 0));
	int used = snprintf(text, size, "query %d result %d size %u data ", ret, hdr.result, hdr.size);
	for (unsigned i = 0; i < hdr.size && i < 64 && (size_t)used + 3 < size; i++)
		used += snprintf(text + used, size - (size_t)used, "%02X", data[i]);
}

/*@ section files @*/
/*
 * IORING_REGISTER_FILES of count descriptors: the file, an empty slot, the file again, ... Variant 1
 * passes no array (a sparse table), 2 puts a closed descriptor among them, 3 an unreadable array.
 */
static void register_files(struct ring *r, struct workspace *ws, unsigned count, int variant, char *text, size_t size)
{
	int fds[8];
	for (int i = 0; i < 8; i++)
		fds[i] = i == 1 ? -1 : ws->fd;
	if (variant == 2) {
		unsigned last = (count > 0 ? count : 1) - 1;
		fds[last < 2 ? last : 2] = CLOSED_FD;
	}
	void *arg = variant == 1 ? NULL : variant == 3 ? (void *)(uintptr_t)UNMAPPED_ADDRESS : fds;
	snprintf(text, size, "files %d", io_uring_register(r->fd, IORING_REGISTER_FILES, arg, count));
}

/*@ section unregister-files @*/
static void unregister_files(struct ring *r, struct workspace *ws, int dirty, char *text, size_t size)
{
	snprintf(text, size, "unregister-files %d", io_uring_register(r->fd, IORING_UNREGISTER_FILES, dirty ? ws->area : NULL, 0));
}

/*@ section files-update @*/
/*
 * IORING_REGISTER_FILES_UPDATE from slot variant % 2: the file, "skip", empty, and the file again (a
 * closed descriptor when dirty). Variant 2 sets the reserved word, 3 points at unreadable memory.
 */
static void update_files(struct ring *r, struct workspace *ws, unsigned count, int variant, int dirty, char *text, size_t size)
{
	int fds[4] = { ws->fd, IORING_REGISTER_FILES_SKIP, -1, dirty ? CLOSED_FD : ws->fd };
	struct io_uring_files_update up = {
		.offset = (unsigned)variant % 2,
		.fds = variant == 3 ? UNMAPPED_ADDRESS : (unsigned long long)(uintptr_t)fds,
		.resv = variant == 2 ? 1 : 0,
	};
	snprintf(text, size, "files-update %d", io_uring_register(r->fd, IORING_REGISTER_FILES_UPDATE, &up, count));
}

/*@ section buffers @*/
/*
 * IORING_REGISTER_BUFFERS of count 8 KiB buffers over the area. Variant 1: the first with a null base;
 * 2: the second a (null, 0) slot; 3: the first in unmapped memory. Dirty: the first 2 GiB long.
 */
static void register_buffers(struct ring *r, struct workspace *ws, unsigned count, int variant, int dirty, char *text, size_t size)
{
	/* struct iovec as the process has it: a 32-bit process's is two 4-byte words, which the kernel reads as compat iovecs. */
	struct { void *base; size_t len; } iovs[4];
	for (int i = 0; i < 4; i++) {
		iovs[i].base = ws->area + i * 8192;
		iovs[i].len = 8192;
	}
	if (variant == 1)
		iovs[0].base = NULL;
	if (variant == 2) {
		iovs[1].base = NULL;
		iovs[1].len = 0;
	}
	if (variant == 3)
		iovs[0].base = (void *)(uintptr_t)UNMAPPED_ADDRESS;
	if (dirty)
		iovs[0].len = (size_t)1 << 31;
	snprintf(text, size, "buffers %d", io_uring_register(r->fd, IORING_REGISTER_BUFFERS, iovs, count));
}

/*@ section unregister-buffers @*/
static void unregister_buffers(struct ring *r, int dirty, char *text, size_t size)
{
	snprintf(text, size, "unregister-buffers %d", io_uring_register(r->fd, IORING_UNREGISTER_BUFFERS, NULL, dirty ? 1 : 0));
}

/*@ section restrictions @*/
/* IORING_REGISTER_RESTRICTIONS: pairs of (restriction opcode, the register op, SQE op or flags it names). */
static void register_restrictions(struct ring *r, const unsigned char (*entries)[2], unsigned count, char *text, size_t size)
{
	struct io_uring_restriction res[8];
	memset(res, 0, sizeof res);
	for (unsigned i = 0; i < count && i < 8; i++) {
		res[i].opcode = entries[i][0];
		res[i].register_op = entries[i][1];
	}
	snprintf(text, size, "restrictions %d", io_uring_register(r->fd, IORING_REGISTER_RESTRICTIONS, res, count));
}

/*@ section sync-cancel @*/
/*
 * IORING_REGISTER_SYNC_CANCEL with a key (user_data, flags, fd, opcode) and a zero timeout, laid out by
 * offset (older headers have no opcode field: their padding is there). Dirty sets a padding byte.
 */
static void sync_cancel(struct ring *r, unsigned count, unsigned long long user_data, unsigned flags, int fd, unsigned char opcode, int dirty, char *text, size_t size)
{
	unsigned char sc[64];
	memset(sc, 0, sizeof sc);
	memcpy(sc, &user_data, 8);
	memcpy(sc + 8, &fd, 4);
	memcpy(sc + 12, &flags, 4);
	sc[32] = opcode;
	if (dirty)
		sc[36] = 1;
	snprintf(text, size, "sync-cancel %d", io_uring_register(r->fd, IORING_REGISTER_SYNC_CANCEL, sc, count));
}

/*@ section enable-rings @*/
static void enable_rings(struct ring *r, int dirty, char *text, size_t size)
{
	snprintf(text, size, "enable-rings %d", io_uring_register(r->fd, IORING_REGISTER_ENABLE_RINGS, NULL, dirty ? 1 : 0));
}

/*@ section mem-region @*/
/*
 * IORING_REGISTER_MEM_REGION. Variant 0: kernel memory, one page; 1: two pages of the program's own
 * memory; 2: the user flag without an address; 3: a size that is not page aligned; 4: a reserved word
 * set; 5: a wait-argument region of kernel memory; 6: an id set; 7: nr_args 2; 8: the area's first two
 * pages as the wait-argument region. A region the kernel allocated is mapped at the offset it gave
 * and must read as zeros and take a write.
 */
static void register_mem_region(struct ring *r, struct workspace *ws, int variant, char *text, size_t size)
{
	struct io_uring_region_desc rd = { .size = variant == 3 ? 100 : 4096 };
	if (variant == 1 || variant == 8) {
		rd.user_addr = (unsigned long long)(uintptr_t)ws->area;
		rd.size = 8192;
		rd.flags = IORING_MEM_REGION_TYPE_USER;
	}
	if (variant == 2)
		rd.flags = IORING_MEM_REGION_TYPE_USER;
	if (variant == 4)
		rd.__resv[2] = 1;
	if (variant == 6)
		rd.id = 3;
	struct io_uring_mem_region_reg mr = {
		.region_uptr = (unsigned long long)(uintptr_t)&rd,
		.flags = variant == 5 || variant == 8 ? IORING_MEM_REGION_REG_WAIT_ARG : 0,
	};
	int ret = io_uring_register(r->fd, IORING_REGISTER_MEM_REGION, &mr, variant == 7 ? 2 : 1);
	int used = snprintf(text, size, "mem-region %d offset 0x%llx", ret, (unsigned long long)rd.mmap_offset);
	if (ret != 0 || rd.mmap_offset == 0)
		return;
	unsigned char *map = mmap(NULL, rd.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, (off_t)rd.mmap_offset);
	if (map == MAP_FAILED) {
		snprintf(text + used, size - (size_t)used, " map %d", -errno);
		return;
	}
	int zeroed = 1;
	for (size_t i = 0; i < rd.size; i++)
		zeroed &= map[i] == 0;
	map[0] = 0x5a;
	snprintf(text + used, size - (size_t)used, " map ok zeroed %s wrote %d", zeroed ? "True" : "False", map[0]);
	munmap(map, rd.size);
}

/*@ section buffer_rings @*/
/* The buffer rings' pages, as the C# workspace has them: two, zeroed. */
static void workspace_buffer_rings(struct workspace *ws)
{
	ws->buffer_rings = aligned_alloc(4096, 8192);
	if (ws->buffer_rings == NULL) {
		printf("SKIP: out of memory\n");
		exit(SKIP);
	}
	memset(ws->buffer_rings, 0, 8192);
}

/*@ section buffer-ring @*/
/* The buffers a ring's entries name are 1 KiB apart from the area's last 8 KiB: 64, 16, 200 and 1000
 * bytes, ids from 40; group 2's entries are in the second page, every other group's in the first. */
#define RING_BUFFER_OFFSET (AREA_BYTES - 8192)

static unsigned char *buffer_ring_page(struct workspace *ws, unsigned group)
{
	return ws->buffer_rings + (group == 2 ? 4096 : 0);
}

/* Up to four entries (fewer for a smaller ring), then the tail after them. */
static void fill_buffer_ring(unsigned char *page, struct workspace *ws, unsigned entries)
{
	static const unsigned lengths[4] = { 64, 16, 200, 1000 };
	unsigned count = entries < 1 ? 1 : entries > 4 ? 4 : entries;
	for (unsigned k = 0; k < count; k++) {
		unsigned long long address = (unsigned long long)(uintptr_t)(ws->area + RING_BUFFER_OFFSET + k * 1024);
		unsigned short id = (unsigned short)(40 + k);
		memcpy(page + k * 16, &address, 8);
		memcpy(page + k * 16 + 8, &lengths[k], 4);
		memcpy(page + k * 16 + 12, &id, 2);
	}
	__atomic_store_n((unsigned short *)(page + 14), (unsigned short)count, __ATOMIC_RELEASE);
}

/*
 * IORING_REGISTER_PBUF_RING (22) of ring_entries entries for a group, its io_uring_buf_reg written by
 * offset (6.1's has a pad for the flags and no min_left). Shape 0: the workspace's page; 1: IOU_PBUF_RING_MMAP
 * (mapped at IORING_OFF_PBUF_RING | group << 16 and filled once taken); 2: IOU_PBUF_RING_INC; 3: INC with
 * min_left 4; 4: an address 8 bytes into the page; 5: address 0; 6: MMAP with an address; 7: flag 0x4;
 * 8: min_left 1 alone. Dirty sets a reserved byte.
 */
static void register_buffer_ring(struct ring *r, struct workspace *ws, unsigned entries, unsigned shape, unsigned group, int dirty, char *text, size_t size)
{
	unsigned char *page = buffer_ring_page(ws, group);
	int mapped = shape == 1 || shape == 6;
	if (!mapped)
		fill_buffer_ring(page, ws, entries);
	unsigned char arg[40];
	memset(arg, 0, sizeof arg);
	unsigned long long address = shape == 1 || shape == 5 ? 0 : (unsigned long long)(uintptr_t)(shape == 4 ? page + 8 : page);
	unsigned short bgid = (unsigned short)group;
	unsigned short flags = mapped ? 1 : shape == 2 || shape == 3 ? 2 : shape == 7 ? 4 : 0;
	unsigned min_left = shape == 3 ? 4 : shape == 8 ? 1 : 0;
	memcpy(arg, &address, 8);
	memcpy(arg + 8, &entries, 4);
	memcpy(arg + 12, &bgid, 2);
	memcpy(arg + 14, &flags, 2);
	memcpy(arg + 16, &min_left, 4);
	if (dirty)
		arg[24] = 1;
	int ret = io_uring_register(r->fd, 22, arg, 1);
	int used = snprintf(text, size, "buffer-ring %d", ret);
	if (ret != 0 || !mapped)
		return;
	/* mmap64: the offset has bit 31 set, which a 32-bit process's off_t cannot hold. */
	unsigned char *map = mmap64(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, (off64_t)(0x80000000ULL | ((unsigned long long)group << 16)));
	if (map == MAP_FAILED) {
		snprintf(text + used, size - (size_t)used, " map %d", -errno);
		return;
	}
	fill_buffer_ring(map, ws, entries);
	munmap(map, 4096);
	snprintf(text + used, size - (size_t)used, " map ok");
}

/*@ section unregister-buffer-ring @*/
/* IORING_UNREGISTER_PBUF_RING (23) of a group; dirty sets the flags. */
static void unregister_buffer_ring(struct ring *r, unsigned group, unsigned count, int dirty, char *text, size_t size)
{
	unsigned char arg[40];
	memset(arg, 0, sizeof arg);
	unsigned short bgid = (unsigned short)group;
	memcpy(arg + 12, &bgid, 2);
	arg[14] = dirty ? 1 : 0;
	snprintf(text, size, "unregister-buffer-ring %d", io_uring_register(r->fd, 23, arg, count));
}

/*@ section buffer-ring-status @*/
/* IORING_REGISTER_PBUF_STATUS (26) of a group: the head it reports; dirty sets a reserved word. */
static void buffer_ring_status(struct ring *r, unsigned group, unsigned count, int dirty, char *text, size_t size)
{
	unsigned arg[10];
	memset(arg, 0, sizeof arg);
	arg[0] = group;
	arg[9] = dirty ? 1 : 0;
	int ret = io_uring_register(r->fd, 26, arg, count);
	if (ret == 0)
		snprintf(text, size, "buffer-ring-status 0 head %u", arg[1]);
	else
		snprintf(text, size, "buffer-ring-status %d", ret);
}

/*@ section notifier @*/
/* The eventfd the program registers with its ring: non-blocking, numbered from 920 up as the C# workspace's. */
static void workspace_notifier(struct workspace *ws)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ws->notifier = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 920);
	close(fd);
	if (ws->notifier < 0) {
		printf("SKIP: cannot create the program's notification eventfd (%s)\n", strerror(errno));
		exit(SKIP);
	}
}

/*@ section splice_pipes @*/
/* The two pipes only SPLICE and TEE touch, their ends numbered from 940 up as the C# workspace's. */
static void workspace_splice_pipes(struct workspace *ws)
{
	int *ends[2] = { ws->splice_pipe, ws->tee_pipe };
	for (int k = 0; k < 2; k++) {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) != 0) {
			printf("SKIP: cannot create the program's splice pipes (%s)\n", strerror(errno));
			exit(SKIP);
		}
		for (int end = 0; end < 2; end++) {
			ends[k][end] = fcntl(fds[end], F_DUPFD_CLOEXEC, 940);
			close(fds[end]);
		}
	}
}

/*@ section eventfd @*/
/* IORING_REGISTER_EVENTFD (variant 1: _ASYNC) of the notifier; 2: the descriptor at an unmapped address;
 * 3: a closed descriptor; 4: the program's file, no eventfd; 5: the ring's own descriptor. */
static void register_eventfd(struct ring *r, struct workspace *ws, unsigned count, int variant, char *text, size_t size)
{
	int fd = variant == 3 ? CLOSED_FD : variant == 4 ? ws->fd : variant == 5 ? r->fd : ws->notifier;
	void *arg = variant == 2 ? (void *)(uintptr_t)UNMAPPED_ADDRESS : &fd;
	snprintf(text, size, "eventfd %d", io_uring_register(r->fd, variant == 1 ? IORING_REGISTER_EVENTFD_ASYNC : IORING_REGISTER_EVENTFD, arg, count));
}

/*@ section unregister-eventfd @*/
/* IORING_UNREGISTER_EVENTFD; dirty passes an argument. */
static void unregister_eventfd(struct ring *r, struct workspace *ws, unsigned count, int dirty, char *text, size_t size)
{
	snprintf(text, size, "unregister-eventfd %d", io_uring_register(r->fd, IORING_UNREGISTER_EVENTFD, dirty ? ws->area : NULL, count));
}

/*@ section eventfd-disabled @*/
/* IORING_CQ_EVENTFD_DISABLED set or cleared in the CQ ring's flags, which the application owns; the flags after. */
static void eventfd_disabled(struct ring *r, int set, char *text, size_t size)
{
	unsigned *flags = (unsigned *)(r->cq_ring + r->p.cq_off.flags);
	store_release(flags, set ? load_acquire(flags) | IORING_CQ_EVENTFD_DISABLED : load_acquire(flags) & ~IORING_CQ_EVENTFD_DISABLED);
	snprintf(text, size, "cq-flags 0x%x", load_acquire(flags));
}

/*@ section registered-wait @*/
/*
 * A wait through a registered wait argument (IORING_ENTER_EXT_ARG_REG): the argument is an offset into
 * the region registered with variant 8. Variant 0: a 1 ms timeout for one more CQE than ready (-ETIME);
 * 1: no timeout, nothing to wait for; 2: a misaligned offset; 3: an offset past the region; 4: unknown
 * wait flags; 5: the wrong argument size. With poll_mixed (the recording kernel's wait can spin on a
 * CQE_MIXED ring) a wait that would find a 32-byte CQE stuck in the overflow list is not made: "skipped".
 */
static void registered_wait(struct ring *r, struct workspace *ws, int variant, int poll_mixed, char *text, size_t size)
{
	unsigned offset = variant == 1 ? 64 : variant == 2 ? 4 : variant == 3 ? 8192 : 0;
	if (offset + sizeof(struct io_uring_reg_wait) <= AREA_BYTES) {
		struct io_uring_reg_wait *w = (struct io_uring_reg_wait *)(ws->area + offset);
		memset(w, 0, sizeof *w);
		w->flags = variant == 0 ? IORING_REG_WAIT_TS : variant == 4 ? 2 : 0;
		w->ts.tv_nsec = 1000000;
	}
	unsigned min = variant == 1 ? 0 : cq_ready(r) + 1;
	if (min > 0 && poll_mixed && cqe_mixed(r) && (sq_field(r, r->p.sq_off.flags) & IORING_SQ_CQ_OVERFLOW)) {
		io_uring_enter(r, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
		if (sq_field(r, r->p.sq_off.flags) & IORING_SQ_CQ_OVERFLOW) {
			snprintf(text, size, "skipped");
			return;
		}
		min = cq_ready(r) + 1;
	}
	unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | IORING_ENTER_EXT_ARG_REG;
	int ret = io_uring_enter(r, 0, min, flags, (void *)(uintptr_t)offset, variant == 5 ? 24 : sizeof(struct io_uring_reg_wait));
	snprintf(text, size, "%d", ret);
}

/*@ section connections @*/
/* A socket of the type bound to 127.0.0.1 on a port the kernel picks (a stream one listening), its sockaddr_in copied to address. */
static int loopback_socket(int type, unsigned char *address)
{
	struct sockaddr_in in;
	socklen_t length = sizeof in;
	memset(&in, 0, sizeof in);
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) != 0 || getsockname(fd, (struct sockaddr *)&in, &length) != 0
	    || (type == SOCK_STREAM && listen(fd, 16) != 0)) {
		printf("SKIP: cannot create the program's loopback sockets (%s): is lo up?\n", strerror(errno));
		exit(SKIP);
	}
	memcpy(address, &in, sizeof in);
	return fd;
}

static void fixed_address(unsigned char *address, int port)
{
	struct sockaddr_in in;
	memset(&in, 0, sizeof in);
	in.sin_family = AF_INET;
	in.sin_port = htons(port);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(address, &in, sizeof in);
}

/* The program's TCP listener and UDP socket on 127.0.0.1 and their addresses, for a program that connects. */
static void workspace_connections(struct workspace *ws)
{
	ws->addresses = calloc(1, ADDRESS_BYTES);
	if (ws->addresses == NULL) {
		printf("SKIP: out of memory\n");
		exit(SKIP);
	}
	ws->listener = loopback_socket(SOCK_STREAM, ws->addresses + LISTENER_ADDRESS);
	ws->udp = loopback_socket(SOCK_DGRAM, ws->addresses + UDP_ADDRESS);
	fixed_address(ws->addresses + ANY_PORT_ADDRESS, 0);
	fixed_address(ws->addresses + CLOSED_PORT_ADDRESS, 1);
}

/*@ section descriptors @*/
/* A duplicate of the program's file that only a CLOSE of the program closes, numbered from 900 up so
 * that no descriptor opened later takes its number; and per SQE slot the four descriptors a
 * FILES_UPDATE reads. */
#define SPARE_FLOOR 900

static void workspace_descriptors(struct workspace *ws)
{
	ws->spare = fcntl(ws->fd, F_DUPFD_CLOEXEC, SPARE_FLOOR);
	ws->descriptors = calloc(MSG_SLOTS * 4, sizeof(int));
	if (ws->spare < 0 || ws->descriptors == NULL) {
		printf("SKIP: cannot make the program's spare descriptor (%s)\n", strerror(errno));
		exit(SKIP);
	}
}

/*@ section descriptor-list @*/
/* Four of [the program's file, -1 (empty the slot), IORING_REGISTER_FILES_SKIP, a closed descriptor,
 * the program's file], from start on, cyclically. */
static unsigned long long descriptor_list(struct workspace *ws, int slot, int start)
{
	const int choices[5] = { ws->fd, -1, IORING_REGISTER_FILES_SKIP, CLOSED_FD, ws->fd };
	int *list = ws->descriptors + (slot % MSG_SLOTS) * 4;
	for (int i = 0; i < 4; i++)
		list[i] = choices[(start + i) % 5];
	return (unsigned long long)(uintptr_t)list;
}

/*@ section paths @*/
/* The path calls' scratch directory under /tmp (its descriptor numbered from 910 up, as the C# runner
 * numbers it), its names by index ("a", "b", "d", "d/a", "s", "", 4096 bytes of 'x', "missing/a",
 * "a/b"), the open_hows OPENAT2 reads (32 bytes each, the last 8 zero) and the statx buffer. The
 * directory is removed at exit. */
/* A copy of the path, which outlives main's workspace for the exit handler. */
static char scratch_directory[64];

static void remove_scratch(void)
{
	char command[128];
	if (strncmp(scratch_directory, "/tmp/io_uring-conformance-", 26) == 0) {
		snprintf(command, sizeof command, "rm -rf '%s'", scratch_directory);
		if (system(command) != 0)
			fprintf(stderr, "could not remove %s\n", scratch_directory);
	}
}

static void workspace_paths(struct workspace *ws)
{
	static const char *const names[] = { "a", "b", "d", "d/a", "s", "", NULL, "missing/a", "a/b" };
	strcpy(ws->dir_path, "/tmp/io_uring-conformance-XXXXXX");
	int opened = mkdtemp(ws->dir_path) == NULL ? -1 : open(ws->dir_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	ws->dir = opened < 0 ? -1 : fcntl(opened, F_DUPFD_CLOEXEC, 910);
	close(opened);
	ws->names = calloc(1, 32 * 9 + 4100);
	ws->hows = calloc(1, 9 * 32); /* a slot of zeros after the last: a size past its slot reads zeros */
	ws->statx = calloc(1, 256);
	if (ws->dir < 0 || ws->names == NULL || ws->hows == NULL || ws->statx == NULL) {
		printf("SKIP: cannot create the program's scratch directory (%s)\n", strerror(errno));
		exit(SKIP);
	}
	strcpy(scratch_directory, ws->dir_path);
	atexit(remove_scratch);
	for (int i = 0; i < 9; i++)
		if (names[i] != NULL)
			strcpy((char *)ws->names + 32 * i, names[i]);
	memset(ws->names + 32 * 9, 'x', 4096);
	const unsigned long long hows[8][3] = {
		{ O_RDONLY, 0, 0 },
		{ O_RDWR | O_CREAT, 0600, 0x08 },
		{ O_RDONLY, 0, 0x04 },
		{ O_RDONLY, 0, 0x18 },
		{ O_RDONLY, 0644, 0 },
		{ 1ULL << 40, 0, 0 },
		{ O_WRONLY | O_CREAT | O_EXCL, 0644, 0 },
		{ O_DIRECTORY, 0, 0x01 },
	};
	for (int i = 0; i < 8; i++)
		memcpy(ws->hows + 4 * i, hows[i], sizeof hows[i]);
}

/*@ section path-name @*/
static unsigned long long path_name(struct workspace *ws, int index)
{
	return (unsigned long long)(uintptr_t)(ws->names + (index == 6 ? 32 * 9 : 32 * index));
}

/*@ section xattr-name @*/
/* The attribute calls' names: trusted.* ones, and one in no namespace. */
static unsigned long long xattr_name(int index)
{
	static const char *const names[] = { "trusted.a", "trusted.b", "nonamespace.a" };
	return (unsigned long long)(uintptr_t)names[index];
}

/*@ section xattr-path @*/
/* GETXATTR's and SETXATTR's paths into the scratch directory, through /proc/self/fd and its descriptor. */
static unsigned long long xattr_path(struct workspace *ws, int index)
{
	static const char *const names[] = { "/a", "/d", "/s", "/missing/a", "" };
	static char paths[5][48];
	snprintf(paths[index], sizeof paths[index], "/proc/self/fd/%d%s", ws->dir, names[index]);
	return (unsigned long long)(uintptr_t)paths[index];
}

/*@ section path-how @*/
static unsigned long long path_how(struct workspace *ws, unsigned long long index)
{
	return (unsigned long long)(uintptr_t)(ws->hows + 4 * index);
}

/*@ section epoll @*/
/* The program's epoll instance, empty at the start, and the two events an EPOLL_CTL reads: EPOLLIN, and
 * EPOLLIN | EPOLLEXCLUSIVE (which EPOLL_CTL_MOD refuses). */
static void workspace_epoll(struct workspace *ws)
{
	ws->epoll = epoll_create1(EPOLL_CLOEXEC);
	ws->epoll_events = calloc(2, sizeof *ws->epoll_events);
	ws->epoll_out = malloc(8 * sizeof *ws->epoll_out);
	if (ws->epoll < 0 || ws->epoll_events == NULL || ws->epoll_out == NULL) {
		printf("SKIP: cannot create the program's epoll instance (%s)\n", strerror(errno));
		exit(SKIP);
	}
	memset(ws->epoll_out, 0xab, 8 * sizeof *ws->epoll_out);
	ws->epoll_events[0].events = EPOLLIN;
	ws->epoll_events[0].data.u64 = 1;
	ws->epoll_events[1].events = EPOLLIN | EPOLLEXCLUSIVE;
	ws->epoll_events[1].data.u64 = 2;
}

/*@ section futex @*/
/* The futex calls' memory, as the C# workspace lays it out: the words 7 and 8 at 0 and 4, WAITID's siginfo
 * at 16 (0xaa until written), and three arrays of struct futex_waitv from 64, 48 bytes apart: both words
 * as they are; the first as it is and the second as 9; one whose reserved word is 1. Every entry private. */
#define FUTEX_SIGINFO 16

static void workspace_futex(struct workspace *ws)
{
	static const struct { unsigned long long value; int word; unsigned reserved; } arrays[3][2] = {
		{ { 7, 0, 0 }, { 8, 4, 0 } }, { { 7, 0, 0 }, { 9, 4, 0 } }, { { 7, 0, 1 }, { 8, 4, 0 } },
	};
	ws->futex = aligned_alloc(64, 256);
	if (ws->futex == NULL) {
		printf("SKIP: out of memory\n");
		exit(SKIP);
	}
	memset(ws->futex, 0, 256);
	memset(ws->futex + FUTEX_SIGINFO, 0xaa, 28);
	((unsigned *)ws->futex)[0] = 7;
	((unsigned *)ws->futex)[1] = 8;
	for (int a = 0; a < 3; a++)
		for (int k = 0; k < 2; k++) {
			unsigned char *entry = ws->futex + 64 + a * 48 + k * 24;
			*(unsigned long long *)entry = arrays[a][k].value;
			*(unsigned long long *)(entry + 8) = (unsigned long long)(uintptr_t)(ws->futex + arrays[a][k].word);
			*(unsigned *)(entry + 16) = 0x82; /* FUTEX2_SIZE_U32 | FUTEX2_PRIVATE */
			*(unsigned *)(entry + 20) = arrays[a][k].reserved;
		}
}

/*@ section futex-waitv @*/
static unsigned long long futex_waitv_array(struct workspace *ws, int index)
{
	return (unsigned long long)(uintptr_t)(ws->futex + 64 + index * 48);
}

/*@ section epoll-event @*/
static unsigned long long epoll_event_of(struct workspace *ws, int choice)
{
	return (unsigned long long)(uintptr_t)&ws->epoll_events[choice & 1];
}
