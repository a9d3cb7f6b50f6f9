/*
 * Odd TLS servers; see tls_odd.h for the contract and tls_odd.py for the
 * modes.
 *
 * Why a Python script rather than a server in C: the odd behaviours need a
 * TLS stack that can be told to misbehave (TLS 1.1, anonymous suites, a FIN
 * beneath the TLS layer), and linking OpenSSL into the test programs next to
 * the TLS library under test would invite symbol clashes. Python's ssl module
 * is OpenSSL, one process away.
 *
 * Why stdin is a pipe: when the test process dies without ts_odd_stop() (or
 * the spawning thread ends and PR_SET_PDEATHSIG cannot be relied on), the
 * kernel closes our end and the script sees EOF and exits, so no server
 * outlives its test.
 */
#include "tls_odd.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ODD_PORT_MS 5000 /* bound on the wait for the port line */
#define ODD_STOP_MS 5000 /* SIGTERM grace before SIGKILL */

struct ts_odd {
  pid_t pid;
  int stdin_fd; /* our end of the child's stdin */
  uint16_t port;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int find_python(char *out, size_t outlen) {
  const char *e = getenv("XFER_PYTHON");
  if (e && *e)
    return ts_proc_which(e, out, outlen);
  /* Debian's own interpreter first: it is the one tools/deps.sh installs,
     * and a $PATH python3 may be a shim (pyenv) that is slower to start. */
  if (ts_proc_which("/usr/bin/python3", out, outlen) == 0)
    return 0;
  return ts_proc_which("python3", out, outlen);
}

static int find_script(char *out, size_t outlen) {
  const char *e = getenv("XFER_TLS_ODD");
  if (e && *e)
    snprintf(out, outlen, "%s", e);
  else {
#ifdef TS_SUPPORT_DIR
    snprintf(out, outlen, "%s/tls_odd.py", TS_SUPPORT_DIR);
#else
    if (outlen)
      out[0] = '\0';
    return -1;
#endif
  }
  return access(out, R_OK) == 0 ? 0 : -1;
}

int ts_odd_available(void) {
  char py[PATH_MAX], script[PATH_MAX];
  return find_python(py, sizeof py) == 0 && find_script(script, sizeof script) == 0;
}

/* Reads the first line from fd (at most cap-1 bytes, NUL-terminated) within
 * timeout_ms. 0 on a complete line, -2 on timeout, -1 on EOF (the script
 * exited, e.g. after a usage error), an error or an overlong line. Bytes past
 * the newline are dropped: the script writes nothing else. */
static int read_line(int fd, char *out, size_t cap, int timeout_ms) {
  size_t got = 0;
  int64_t deadline = now_ms() + timeout_ms;
  out[0] = '\0';
  while (got < cap - 1) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return -2;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      return -2;
    if (r < 0)
      return -1;
    ssize_t k = read(fd, out + got, cap - 1 - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    got += (size_t)k;
    out[got] = '\0';
    char *nl = strchr(out, '\n');
    if (nl) {
      *nl = '\0';
      return 0;
    }
  }
  return -1;
}

struct ts_odd *ts_odd_start(const char *mode, const char *certdir) {
  char py[PATH_MAX], script[PATH_MAX];
  if (find_python(py, sizeof py) != 0) {
    fprintf(stderr, "ts_odd: no python3 interpreter (install python3 or set XFER_PYTHON)\n");
    return NULL;
  }
  if (find_script(script, sizeof script) != 0) {
    fprintf(stderr, "ts_odd: cannot read the script \"%s\" (TS_SUPPORT_DIR or XFER_TLS_ODD)\n",
            script);
    return NULL;
  }
  struct ts_odd *o = calloc(1, sizeof *o);
  if (!o)
    return NULL;
  o->pid = -1;
  o->stdin_fd = -1;

  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    perror("ts_odd: pipe2");
    goto fail;
  }
  /* -u: unbuffered, so the port line cannot sit in a stdio buffer. */
  char *const argv[] = {py, "-u", script, (char *)mode, (char *)certdir, NULL};
  o->pid = ts_proc_spawn(argv, NULL, in[0], out[1], 2);
  close(in[0]);
  close(out[1]);
  in[0] = out[1] = -1;
  o->stdin_fd = in[1];
  in[1] = -1;
  if (o->pid < 0)
    goto fail;

  char line[64];
  int ok = read_line(out[0], line, sizeof line, ODD_PORT_MS);
  close(out[0]);
  out[0] = -1;
  char *end = NULL;
  long port = ok == 0 ? strtol(line, &end, 10) : 0;
  if (ok != 0 || end == line || *end != '\0' || port <= 0 || port > 65535) {
    if (ok == -2)
      fprintf(stderr, "ts_odd: tls_odd.py %s did not report a port within %d ms\n", mode,
              ODD_PORT_MS);
    else
      fprintf(stderr,
              "ts_odd: tls_odd.py %s ended or failed before reporting a port "
              "(\"%s\"; its stderr is above)\n",
              mode, line);
    goto fail;
  }
  o->port = (uint16_t)port;
  return o;

fail:
  for (int i = 0; i < 2; i++) {
    if (in[i] >= 0)
      close(in[i]);
    if (out[i] >= 0)
      close(out[i]);
  }
  ts_odd_stop(o);
  return NULL;
}

void ts_odd_stop(struct ts_odd *o) {
  if (!o)
    return;
  if (o->stdin_fd >= 0)
    close(o->stdin_fd);
  ts_proc_stop(o->pid, ODD_STOP_MS);
  free(o);
}

uint16_t ts_odd_port(const struct ts_odd *o) { return o->port; }
