/*
 * Force-included (gcc -include) when liburing and its tests are built to run on the engine.
 *
 * On x86_64 (and aarch64, riscv64) liburing issues io_uring's system calls, and the mmap, munmap and
 * close of its rings, with inline syscall instructions, which no preload library can see. Other
 * architectures make the same calls through the C library. This header stands in for liburing's
 * per-architecture system-call header (it defines that header's include guard, so liburing's own is
 * skipped) with functions of the same names that call the C library, as liburing's generic
 * architecture does, so iouring_preload.so can route them. Nothing else about liburing changes.
 */
#ifndef IOURING_ENGINE_LIBC_SYSCALLS_H
#define IOURING_ENGINE_LIBC_SYSCALLS_H

#define LIBURING_ARCH_X86_SYSCALL_H
#define LIBURING_ARCH_AARCH64_SYSCALL_H
#define LIBURING_ARCH_RISCV64_SYSCALL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct io_uring_params;

static inline int __sys_io_uring_register(unsigned int fd, unsigned int opcode, const void *arg, unsigned int nr_args)
{
	long r = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
	return r < 0 ? -errno : (int)r;
}

static inline int __sys_io_uring_setup(unsigned int entries, struct io_uring_params *p)
{
	long r = syscall(__NR_io_uring_setup, entries, p);
	return r < 0 ? -errno : (int)r;
}

static inline int __sys_io_uring_enter2(unsigned int fd, unsigned int to_submit, unsigned int min_complete, unsigned int flags, void *arg, size_t sz)
{
	long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, sz);
	return r < 0 ? -errno : (int)r;
}

static inline int __sys_io_uring_enter(unsigned int fd, unsigned int to_submit, unsigned int min_complete, unsigned int flags, sigset_t *sig)
{
	return __sys_io_uring_enter2(fd, to_submit, min_complete, flags, sig, _NSIG / 8);
}

static inline int __sys_open(const char *pathname, int flags, mode_t mode)
{
	int r = open(pathname, flags, mode);
	return r < 0 ? -errno : r;
}

static inline ssize_t __sys_read(int fd, void *buffer, size_t size)
{
	ssize_t r = read(fd, buffer, size);
	return r < 0 ? -errno : r;
}

static inline void *__sys_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
	void *r = mmap(addr, length, prot, flags, fd, offset);
	return r == MAP_FAILED ? (void *)(intptr_t)-errno : r;
}

static inline int __sys_munmap(void *addr, size_t length)
{
	return munmap(addr, length) < 0 ? -errno : 0;
}

static inline int __sys_madvise(void *addr, size_t length, int advice)
{
	return madvise(addr, length, advice) < 0 ? -errno : 0;
}

static inline int __sys_getrlimit(int resource, struct rlimit *rlim)
{
	return getrlimit(resource, rlim) < 0 ? -errno : 0;
}

static inline int __sys_setrlimit(int resource, const struct rlimit *rlim)
{
	return setrlimit(resource, rlim) < 0 ? -errno : 0;
}

static inline int __sys_close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

#endif
