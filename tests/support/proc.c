/*
 * Child processes for the test support code; see proc.h for the contract.
 *
 * Why fork/exec by hand rather than system() or posix_spawn(): as in nginx.c,
 * the child must get its own process group (so a stop can sweep everything
 * it started, e.g. every stage of a shell pipeline), PR_SET_PDEATHSIG, and
 * none of the parent's descriptors (Criterion's IPC sockets must not outlive
 * the test inside a child). Everything is prepared before fork(), because
 * between fork() and exec in a threaded process only async-signal-safe calls
 * are allowed.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void msleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

int ts_proc_which(const char *name, char *out, size_t outlen) {
  if (strchr(name, '/')) {
    if (access(name, X_OK) != 0)
      return -1;
    snprintf(out, outlen, "%s", name);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path; *p;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    /* An empty $PATH element means the current directory; a test helper
         * has no business running tools from there. */
    if (len > 0) {
      int k = snprintf(out, outlen, "%.*s/%s", (int)len, p, name);
      if (k > 0 && (size_t)k < outlen && access(out, X_OK) == 0)
        return 0;
    }
    if (!end)
      break;
    p = end + 1;
  }
  if (outlen)
    out[0] = '\0';
  return -1;
}

pid_t ts_proc_spawn(char *const argv[], const char *cwd, int in_fd, int out_fd, int err_fd) {
  /* Opened before fork() so the child only has to dup2(). */
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    perror("ts_proc: open /dev/null");
    return -1;
  }
  if (in_fd < 0)
    in_fd = null_fd;
  if (out_fd < 0)
    out_fd = null_fd;
  if (err_fd < 0)
    err_fd = null_fd;
  pid_t parent = getpid();

  fflush(NULL); /* so stdio buffers are not written twice */
  pid_t pid = fork();
  if (pid < 0) {
    perror("ts_proc: fork");
    close(null_fd);
    return -1;
  }
  if (pid == 0) {
    /* Child: async-signal-safe calls only. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(126); /* parent already gone */
    /* Move the three descriptors above 2 first, so that dup2() onto
         * 0/1/2 cannot overwrite one that is still to be moved (a caller's
         * descriptor may itself be 0, 1 or 2). */
    int a = fcntl(in_fd, F_DUPFD, 10);
    int b = fcntl(out_fd, F_DUPFD, 10);
    int c = fcntl(err_fd, F_DUPFD, 10);
    if (a < 0 || b < 0 || c < 0)
      _exit(125);
    if (dup2(a, 0) < 0 || dup2(b, 1) < 0 || dup2(c, 2) < 0)
      _exit(125);
    close_range(3, ~0u, 0);
    if (cwd && chdir(cwd) != 0)
      _exit(124);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv);
    _exit(127);
  }
  close(null_fd);
  /* Also from the parent, so a signal sent before the child ran setpgid()
     * still finds the group (EACCES after exec is harmless). */
  setpgid(pid, pid);
  return pid;
}

static int exit_code(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return -1;
}

/* Polls waitpid() until pid exits or deadline passes: 1 and *st when it was
 * reaped, 0 on timeout. ECHILD counts as reaped (status unknown: 0). */
static int wait_until(pid_t pid, int64_t deadline, int *st) {
  *st = 0;
  for (int turn = 0; turn < 1000000; turn++) {
    pid_t w = waitpid(pid, st, WNOHANG);
    if (w == pid)
      return 1;
    if (w < 0 && errno != EINTR) {
      *st = 0;
      return 1;
    }
    if (now_ms() >= deadline)
      return 0;
    msleep(turn < 20 ? 1 : 5);
  }
  return 0;
}

static void kill_and_reap(pid_t pid) {
  kill(-pid, SIGKILL);
  /* SIGKILL cannot be ignored, so this wait ends. */
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  /* The group id stays reserved while any member lives, so this sweep
     * cannot hit a stranger; it catches grandchildren left behind. */
  kill(-pid, SIGKILL);
}

int ts_proc_wait(pid_t pid, int timeout_ms) {
  if (pid <= 0)
    return -1;
  int st;
  if (wait_until(pid, now_ms() + timeout_ms, &st)) {
    kill(-pid, SIGKILL);
    return exit_code(st);
  }
  kill_and_reap(pid);
  return -1;
}

void ts_proc_stop(pid_t pid, int grace_ms) {
  if (pid <= 0)
    return;
  kill(-pid, SIGTERM);
  kill(pid, SIGTERM);
  int st;
  if (wait_until(pid, now_ms() + grace_ms, &st)) {
    kill(-pid, SIGKILL);
    return;
  }
  kill_and_reap(pid);
}

int ts_proc_run(char *const argv[], const char *cwd, char *out, size_t outlen, int timeout_ms) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    perror("ts_proc: pipe2");
    return -1;
  }
  pid_t pid = ts_proc_spawn(argv, cwd, -1, pfd[1], 2);
  close(pfd[1]);
  if (pid < 0) {
    close(pfd[0]);
    return -1;
  }
  size_t got = 0;
  bool timed_out = false;
  int64_t deadline = now_ms() + timeout_ms;
  /* Read until EOF (every writer exited) or the deadline. */
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {pfd[0], POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    char buf[4096];
    ssize_t k = read(pfd[0], buf, sizeof buf);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    if (outlen > 0 && got < outlen - 1) {
      size_t take = (size_t)k < outlen - 1 - got ? (size_t)k : outlen - 1 - got;
      memcpy(out + got, buf, take);
      got += take;
    }
  }
  close(pfd[0]);
  if (outlen > 0)
    out[got] = '\0';
  if (timed_out) {
    kill_and_reap(pid);
    return -1;
  }
  int64_t left = deadline - now_ms();
  return ts_proc_wait(pid, left > 0 ? (int)left : 0);
}

void ts_proc_read_tail(const char *path, char *out, size_t cap) {
  out[0] = '\0';
  FILE *f = fopen(path, "rbe");
  if (!f)
    return;
  if (fseek(f, 0, SEEK_END) == 0) {
    long sz = ftell(f);
    long from = sz > (long)cap - 1 ? sz - ((long)cap - 1) : 0;
    if (fseek(f, from, SEEK_SET) == 0) {
      size_t n = fread(out, 1, cap - 1, f);
      out[n] = '\0';
    }
  }
  fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void ts_proc_rm_tree(const char *dir) {
  if (dir[0])
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
