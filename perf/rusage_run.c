/* xfer-bench-run: runs a program and measures it from outside, for clients
 * that cannot measure themselves (wrk):
 *   xfer-bench-run wrk -t1 -c16 -d5s URL
 * After the program's own output it prints one line,
 *   rusage usr_s=U sys_s=S syscalls=N
 * with its user and system CPU from wait4() (microsecond resolution, all
 * threads; what /usr/bin/time reports, finer) and the system calls of it
 * and its threads from the raw_syscalls:sys_enter tracepoint (-1 when that
 * cannot be counted). Counting starts at execve, so the fork and this
 * wrapper are not in it. */
#include "syscount.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: xfer-bench-run PROGRAM [ARGS...]\n");
    return 2;
  }
  /* The child waits on this pipe until the counter is attached, so that
   * counting can start exactly at its execve. */
  int go[2];
  if (pipe(go) < 0) {
    perror("xfer-bench-run: pipe");
    return 1;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    perror("xfer-bench-run: fork");
    return 1;
  }
  if (pid == 0) {
    close(go[1]);
    char c;
    ssize_t n;
    while ((n = read(go[0], &c, 1)) < 0 && errno == EINTR)
      ;
    close(go[0]);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "xfer-bench-run: %s: %s\n", argv[1], strerror(errno));
    _exit(127);
  }
  close(go[0]);
  const char *why = NULL;
  int fd = syscount_open(pid, 1, &why);
  /* Closing the pipe releases the child. */
  close(go[1]);

  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("xfer-bench-run: wait4");
      return 1;
    }
  }
  long long calls = fd >= 0 ? syscount_read(fd) : -1;
  printf("rusage usr_s=%.6f sys_s=%.6f syscalls=%lld%s%s\n",
         (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, calls, fd < 0 ? " # " : "",
         fd < 0 ? why : "");
  if (fd >= 0)
    close(fd);
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
