/*
 * LD_PRELOAD library: the reference engine as a process's io_uring.
 *
 * A program linked against a libc-calling liburing (configure --use-libc) makes io_uring's system
 * calls through syscall(3) and maps the rings with mmap(3). This library interposes those, and the
 * calls a program makes on a ring descriptor (mmap, munmap, close, poll, read), and sends them to the
 * engine library (libiouring_engine.so, the engine compiled ahead of time); everything else goes to
 * the C library untouched.
 *
 * A ring's descriptor is a real one, an eventfd reserved here, so its number never collides with a
 * file the program opens, and it can be closed, inherited and exhausted like the kernel's. The ring
 * memory belongs to the engine: a program's munmap of a region it was handed is a no-op, and the
 * region goes with the ring on close, as the kernel's pages go with the last reference.
 *
 * While the engine runs (a thread inside an engine call), every call of that thread goes straight to
 * the C library: the engine does its I/O with real system calls, and its runtime maps memory.
 *
 * Environment: IOURING_ENGINE_LIBRARY, the engine library (default: libiouring_engine.so beside this
 * library); the engine's own settings (IOURING_ENGINE_PROFILE, IOURING_ENGINE_LOG) are read by it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif

#define EXIT_ENGINE_MISSING 125
#define MAX_RING_FD 65536
#define MAX_MAPPINGS 4096

typedef int (*setup_fn)(unsigned, void *, int);
typedef int (*enter_fn)(int, unsigned, unsigned, unsigned, void *, size_t);
typedef int (*register_fn)(int, unsigned, void *, unsigned);
typedef intptr_t (*map_fn)(int, uint64_t, size_t);
typedef int (*fd_fn)(int);

static struct {
	setup_fn setup;
	enter_fn enter;
	register_fn reg;
	map_fn map;
	fd_fn poll;
	fd_fn close;
} engine;

static long (*real_syscall)(long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_close)(int);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static ssize_t (*real_read)(int, void *, size_t);

static __thread int in_engine;
static unsigned char is_ring[MAX_RING_FD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

/* Regions handed out by mmap of a ring: munmap of one is answered here, not by the C library. */
static struct {
	void *addr;
	size_t length;
	int fd;
} mappings[MAX_MAPPINGS];

static void resolve_real(void)
{
	if (real_syscall)
		return;
	real_mmap = dlsym(RTLD_NEXT, "mmap");
	real_munmap = dlsym(RTLD_NEXT, "munmap");
	real_close = dlsym(RTLD_NEXT, "close");
	real_poll = dlsym(RTLD_NEXT, "poll");
	real_read = dlsym(RTLD_NEXT, "read");
	real_syscall = dlsym(RTLD_NEXT, "syscall");
}

__attribute__((constructor)) static void preload_init(void)
{
	resolve_real();
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "io_uring preload: error: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	_exit(EXIT_ENGINE_MISSING);
}

static void load_engine(void)
{
	char path[PATH_MAX];
	const char *lib = getenv("IOURING_ENGINE_LIBRARY");
	if (!lib || !*lib) {
		Dl_info info;
		if (!dladdr((void *)load_engine, &info) || !info.dli_fname)
			die("cannot find where this library lives", "set IOURING_ENGINE_LIBRARY to libiouring_engine.so");
		snprintf(path, sizeof(path), "%s", info.dli_fname);
		char *slash = strrchr(path, '/');
		snprintf(slash ? slash + 1 : path, sizeof(path) - (size_t)(slash ? slash + 1 - path : 0), "libiouring_engine.so");
		lib = path;
	}
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		die("cannot load the engine library (set IOURING_ENGINE_LIBRARY, or publish it beside this library)", dlerror());
	engine.setup = (setup_fn)dlsym(h, "iouring_engine_setup");
	engine.enter = (enter_fn)dlsym(h, "iouring_engine_enter");
	engine.reg = (register_fn)dlsym(h, "iouring_engine_register");
	engine.map = (map_fn)dlsym(h, "iouring_engine_map");
	engine.poll = (fd_fn)dlsym(h, "iouring_engine_poll");
	engine.close = (fd_fn)dlsym(h, "iouring_engine_close");
	if (!engine.setup || !engine.enter || !engine.reg || !engine.map || !engine.poll || !engine.close)
		die("the engine library lacks an export", lib);
}

static void enter_engine(void)
{
	in_engine = 1;
	pthread_once(&engine_once, load_engine);
}

static int ring_fd(int fd)
{
	return fd >= 0 && fd < MAX_RING_FD && is_ring[fd];
}

static long result(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* The kernel's fdget for io_uring_enter and io_uring_register: no file -EBADF, not a ring -EOPNOTSUPP. */
static int check_ring_file(int fd)
{
	if (ring_fd(fd))
		return 0;
	return fcntl(fd, F_GETFD) < 0 ? -EBADF : -EOPNOTSUPP;
}

static long uring_setup(unsigned entries, void *params)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fd >= MAX_RING_FD) {
		real_close(fd);
		return -EMFILE;
	}
	enter_engine();
	int r = engine.setup(entries, params, fd);
	in_engine = 0;
	if (r < 0) {
		real_close(fd);
		return r;
	}
	is_ring[fd] = 1;
	return r;
}

static long uring_enter(int fd, unsigned submit, unsigned min, unsigned flags, void *arg, size_t size)
{
	/* IORING_ENTER_REGISTERED_RING: fd is an index into the engine's table, not a descriptor. */
	if (!(flags & (1U << 4))) {
		int bad = check_ring_file(fd);
		if (bad)
			return bad;
	}
	enter_engine();
	int r = engine.enter(fd, submit, min, flags, arg, size);
	in_engine = 0;
	return r;
}

static long uring_register(int fd, unsigned opcode, void *arg, unsigned nr)
{
	/* fd -1 is a registration that needs no ring (the query); IORING_REGISTER_USE_REGISTERED_RING an index. */
	if (fd != -1 && !(opcode & (1U << 31))) {
		int bad = check_ring_file(fd);
		if (bad)
			return bad;
	}
	enter_engine();
	int r = engine.reg(fd, opcode, arg, nr);
	in_engine = 0;
	return r;
}

long syscall(long number, ...)
{
	va_list ap;
	long a[6];
	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	resolve_real();
	if (!in_engine) {
		switch (number) {
		case __NR_io_uring_setup:
			return result(uring_setup((unsigned)a[0], (void *)a[1]));
		case __NR_io_uring_enter:
			return result(uring_enter((int)a[0], (unsigned)a[1], (unsigned)a[2], (unsigned)a[3], (void *)a[4], (size_t)a[5]));
		case __NR_io_uring_register:
			return result(uring_register((int)a[0], (unsigned)a[1], (void *)a[2], (unsigned)a[3]));
		}
	}
	return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	resolve_real();
	if (in_engine || !ring_fd(fd))
		return real_mmap(addr, length, prot, flags, fd, offset);
	enter_engine();
	intptr_t r = engine.map(fd, (uint64_t)offset, length);
	in_engine = 0;
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	pthread_mutex_lock(&lock);
	for (int i = 0; i < MAX_MAPPINGS; i++) {
		if (!mappings[i].addr) {
			mappings[i].addr = (void *)r;
			mappings[i].length = length;
			mappings[i].fd = fd;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return (void *)r;
}

void *mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	return mmap(addr, length, prot, flags, fd, offset);
}

int munmap(void *addr, size_t length)
{
	resolve_real();
	if (!in_engine) {
		int found = 0;
		pthread_mutex_lock(&lock);
		for (int i = 0; i < MAX_MAPPINGS; i++) {
			if (mappings[i].addr == addr && mappings[i].length == length) {
				mappings[i].addr = NULL;
				found = 1;
				break;
			}
		}
		pthread_mutex_unlock(&lock);
		if (found)
			return 0;
	}
	return real_munmap(addr, length);
}

int close(int fd)
{
	resolve_real();
	if (in_engine || !ring_fd(fd))
		return real_close(fd);
	is_ring[fd] = 0;
	enter_engine();
	engine.close(fd);
	in_engine = 0;
	/* The ring's regions went with it: forget them, as their addresses may be mapped again. */
	pthread_mutex_lock(&lock);
	for (int i = 0; i < MAX_MAPPINGS; i++)
		if (mappings[i].addr && mappings[i].fd == fd)
			mappings[i].addr = NULL;
	pthread_mutex_unlock(&lock);
	return real_close(fd);
}

/* io_uring's file has no read operation: read(2) on a ring is -EINVAL. */
ssize_t read(int fd, void *buf, size_t count)
{
	resolve_real();
	if (in_engine || !ring_fd(fd))
		return real_read(fd, buf, count);
	errno = EINVAL;
	return -1;
}

/*
 * A ring is ready when the engine says so. The engine completes everything inside the call that
 * submits it, so a ring that is not ready now never becomes ready while poll waits: the other
 * descriptors are polled by the kernel, with no wait when a ring is ready already.
 */
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	resolve_real();
	int rings = 0;
	if (!in_engine)
		for (nfds_t i = 0; i < n; i++)
			rings += ring_fd(fds[i].fd);
	if (!rings)
		return real_poll(fds, n, timeout);

	int ready = 0;
	int saved[n];
	short ring_revents[n];
	enter_engine();
	for (nfds_t i = 0; i < n; i++) {
		saved[i] = fds[i].fd;
		ring_revents[i] = 0;
		if (ring_fd(fds[i].fd)) {
			int ev = engine.poll(fds[i].fd);
			ring_revents[i] = (short)(ev < 0 ? POLLNVAL : (ev & (fds[i].events | POLLERR | POLLHUP)));
			ready += ring_revents[i] != 0;
			/* A negative descriptor is skipped by the kernel's poll (its revents set to 0). */
			fds[i].fd = -1;
		}
	}
	in_engine = 0;
	int others = real_poll(fds, n, ready ? 0 : timeout);
	for (nfds_t i = 0; i < n; i++) {
		if (saved[i] != fds[i].fd) {
			fds[i].fd = saved[i];
			fds[i].revents = ring_revents[i];
		}
	}
	if (others < 0)
		return -1;
	return ready + others;
}
