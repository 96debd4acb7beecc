/*
 * /init of the conformance VM: the first and only process the kernel starts from the initramfs.
 *
 * It mounts what a .NET program needs (proc, sys, devtmpfs, a tmpfs for /tmp), brings the loopback
 * interface up, runs the workload named
 * by /etc/vm/argv (one argument per line) with the environment of /etc/vm/env (one NAME=value per line),
 * waits for it, prints the kernel log records of warning level or worse that appeared while it ran, then a
 * single end marker with the workload's exit code, and powers the machine off.
 *
 * Everything it prints starts with "@@IOURING-VM-" (or "@@KMSG ") at the beginning of a line, so the host
 * can tell init's lines from kernel messages and from the workload's own output. The host treats a run
 * without the EXIT marker as a failure (panic, hang, or an init that never started), so every path that
 * cannot reach the workload prints why before it powers off.
 *
 * Built with `gcc -static`: the initramfs holds no dynamic loader setup for init, and a static init cannot
 * fail on a missing library before it has said anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One write(2) per message: the console interleaves kernel output between writes, never inside one. */
static void say(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    /* Start on a fresh line: a kernel message may have left the cursor mid-line. */
    char out[4100];
    out[0] = '\n';
    memcpy(out + 1, buf, (size_t)n);
    out[n + 1] = '\n';
    ssize_t left = n + 2;
    const char *p = out;
    while (left > 0) {
        ssize_t w = write(STDOUT_FILENO, p, (size_t)left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= w;
    }
}

static double uptime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void power_off(int code)
{
    say("@@IOURING-VM-EXIT code=%d uptime=%.3f", code, uptime());
    sync();
    reboot(RB_POWER_OFF);
    /* Only reached if the kernel refused: say so, and leave the host's watchdog to end the VM. */
    say("@@IOURING-VM-ERROR reboot(RB_POWER_OFF) failed: %s", strerror(errno));
    for (;;)
        pause();
}

static void mount_or_report(const char *source, const char *target, const char *type, const char *data)
{
    mkdir(target, 0755);
    if (mount(source, target, type, 0, data) != 0 && errno != EBUSY)
        say("@@IOURING-VM-ERROR mount %s on %s: %s", type, target, strerror(errno));
}

/*
 * Brings the loopback interface up, as a booted system's network setup would: the workloads talk TCP and
 * UDP over 127.0.0.1 (liburing's socket tests, the engine's socket programs), and a kernel starts with
 * every interface down.
 */
static void bring_up_loopback(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        say("@@IOURING-VM-ERROR socket for the loopback interface: %s", strerror(errno));
        return;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        say("@@IOURING-VM-ERROR reading the flags of lo: %s", strerror(errno));
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
            say("@@IOURING-VM-ERROR bringing lo up: %s", strerror(errno));
    }
    close(fd);
}

/*
 * Reads a file of lines into a NULL-terminated vector sized to the file (a workload of C programs names
 * one per line, hundreds of them); the vector and its buffer stay allocated for the process' life.
 * NULL when the file cannot be read.
 */
static char **read_lines(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (grown == NULL) {
                close(fd);
                return NULL;
            }
            buf = grown;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    char **items = malloc((lines + 1) * sizeof *items);
    if (items == NULL)
        return NULL;
    size_t n = 0;
    for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n"))
        items[n++] = line;
    items[n] = NULL;
    return items;
}

/*
 * Kernel log records of level KERN_WARNING or worse written since `kmsg` was positioned, one line each.
 * The console only shows errors (the command line says quiet), so a WARN_ON or a "BUG:" the workload
 * provoked would otherwise go unseen.
 */
static void report_kernel_log(int kmsg)
{
    if (kmsg < 0)
        return;
    char rec[8192];
    for (;;) {
        ssize_t r = read(kmsg, rec, sizeof rec - 1);
        if (r < 0 && errno == EPIPE)
            continue; /* records were overwritten while we read: skip to the next one */
        if (r <= 0)
            break;
        rec[r] = '\0';
        /* "<prio>,<seq>,<usec>,<flags>;<text>\n[ KEY=value\n]..." */
        int prio = atoi(rec);
        char *text = strchr(rec, ';');
        if (text == NULL || (prio & 7) > 4)
            continue;
        text++;
        char *end = strchr(text, '\n');
        if (end != NULL)
            *end = '\0';
        say("@@KMSG %d %s", prio & 7, text);
    }
    close(kmsg);
}

int main(void)
{
    mount_or_report("devtmpfs", "/dev", "devtmpfs", NULL);
    /* Without /dev/console in the archive the kernel starts init with no descriptors at all. */
    if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
        int fd = open("/dev/console", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
    }
    mount_or_report("proc", "/proc", "proc", NULL);
    mount_or_report("sysfs", "/sys", "sysfs", NULL);
    mount_or_report("tmpfs", "/tmp", "tmpfs", "mode=1777");
    bring_up_loopback();
    say("@@IOURING-VM-INIT uptime=%.3f", uptime());

    char **argv = read_lines("/etc/vm/argv");
    if (argv == NULL || argv[0] == NULL) {
        say("@@IOURING-VM-ERROR /etc/vm/argv is missing or empty: the initramfs names no workload");
        power_off(127);
    }
    static char *no_env[] = { NULL };
    char **envp = read_lines("/etc/vm/env");
    if (envp == NULL)
        envp = no_env;

    /* Position a kernel log reader at the end now, so only what the workload provoked is reported. */
    int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (kmsg >= 0)
        lseek(kmsg, 0, SEEK_END);

    pid_t child = fork();
    if (child < 0) {
        say("@@IOURING-VM-ERROR fork: %s", strerror(errno));
        power_off(127);
    }
    if (child == 0) {
        execve(argv[0], argv, envp);
        say("@@IOURING-VM-ERROR execve %s: %s", argv[0], strerror(errno));
        _exit(127);
    }

    /* As PID 1 init also reaps orphans; only the workload's own status decides the exit code. */
    int code = 127;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) {
            say("@@IOURING-VM-ERROR waitpid: %s", strerror(errno));
            break;
        }
        if (pid != child)
            continue;
        if (WIFEXITED(status)) {
            code = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            code = 128 + WTERMSIG(status);
            say("@@IOURING-VM-ERROR the workload was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        }
        break;
    }

    report_kernel_log(kmsg);
    power_off(code);
    return 0;
}
