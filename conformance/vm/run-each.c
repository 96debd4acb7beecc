/*
 * The workload of a reproducer VM: runs every program named on its command line, one at a time, each
 * in its own process group with a deadline, and reports each on the console:
 *
 *   @@IOURING-VM-PROGRAM <name> output <line>      (each line the program printed)
 *   @@IOURING-VM-PROGRAM <name> exit=<code> seconds=<s>
 *
 * exit is the program's exit code, 128 + N when signal N ended it, or "stuck" when it was killed at
 * its deadline and still had not gone 5 s later (a thread spinning in the kernel ignores SIGKILL).
 * Built with gcc -static, like init.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_SECONDS 30

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One write(2) per line, starting on a fresh line: the console interleaves kernel output between writes. */
static void say(const char *line)
{
	char buf[4200];
	int n = snprintf(buf, sizeof buf, "\n%s\n", line);
	if (n > (int)sizeof buf - 1)
		n = (int)sizeof buf - 1;
	for (const char *p = buf; n > 0;) {
		ssize_t w = write(STDOUT_FILENO, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int)w;
	}
}

/* Waits for pid until the deadline; returns its status, or -1 when it is still running. */
static int wait_until(pid_t pid, double deadline)
{
	for (;;) {
		int status;
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			return status;
		if (got < 0 && errno != EINTR)
			return -2;
		if (now() > deadline)
			return -1;
		usleep(10 * 1000);
	}
}

static void report_output(const char *name, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	char line[4000], msg[4100];
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(msg, sizeof msg, "@@IOURING-VM-PROGRAM %s output %s", name, line);
		say(msg);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		char out[256], msg[512];
		snprintf(out, sizeof out, "/tmp/%s.out", name);
		double started = now();
		pid_t pid = fork();
		if (pid == 0) {
			setpgid(0, 0);
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
				close(fd);
			}
			char *child_argv[] = { argv[i], NULL };
			execv(argv[i], child_argv);
			/* Straight to the file: _exit does not flush stdio, and why a program did not start
			 * (ENOEXEC: no 32-bit support; ENOENT: no loader) is the one thing worth reporting. */
			dprintf(STDOUT_FILENO, "execv %s: %s\n", argv[i], strerror(errno));
			_exit(126);
		}
		if (pid < 0) {
			snprintf(msg, sizeof msg, "@@IOURING-VM-PROGRAM %s exit=fork-failed seconds=0", name);
			say(msg);
			continue;
		}
		int status = wait_until(pid, started + DEADLINE_SECONDS);
		if (status == -1) {
			kill(-pid, SIGKILL);
			status = wait_until(pid, now() + 5);
		}
		report_output(name, out);
		if (status < 0)
			snprintf(msg, sizeof msg, "@@IOURING-VM-PROGRAM %s exit=stuck seconds=%.2f", name, now() - started);
		else if (WIFSIGNALED(status))
			snprintf(msg, sizeof msg, "@@IOURING-VM-PROGRAM %s exit=%d seconds=%.2f", name, 128 + WTERMSIG(status), now() - started);
		else
			snprintf(msg, sizeof msg, "@@IOURING-VM-PROGRAM %s exit=%d seconds=%.2f", name, WEXITSTATUS(status), now() - started);
		say(msg);
		/* A program still running at this point keeps its core busy: say so, and go on with the others. */
	}
	return 0;
}
