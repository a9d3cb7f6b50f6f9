/* See peer.h. The listening socket is always made here, in the parent, on
 * 127.0.0.1:0, before the peer is forked: no fixed port can collide with
 * another run, and nginx takes the socket over through the NGINX variable
 * (its binary-upgrade mechanism) instead of binding one itself. */
#include "peer.h"

#include "load.h" /* tools/xfer-load: server_listen(), server_serve() */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NGINX_PATH "/usr/sbin/nginx"

/* Readiness: one probe request every PROBE_GAP_MS, for at most PROBE_TRIES;
 * nginx starts in tens of milliseconds, so 5 s only covers a busy machine. */
#define PROBE_TRIES      50
#define PROBE_GAP_MS     100
#define PROBE_TIMEOUT_MS 500

/* How long a stopped peer gets to exit on SIGTERM before SIGKILL. */
#define STOP_TRIES  200
#define STOP_GAP_MS 10

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static int fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

static int pin_self(int cpu) {
  if (cpu < 0)
    return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set);
}

/* The nginx configuration of tools/nginx-load.sh and the baselines: one
 * worker, no access log, keep-alive without limits, /small answering
 * "Hello, world!". The master stays: nginx 1.22 crashes taking over an
 * inherited socket with master_process off. */
static int write_nginx_conf(const struct xb_peer *p) {
  char path[128];
  snprintf(path, sizeof path, "%s/nginx.conf", p->dir);
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f,
          "daemon off;\n"
          "master_process on;\n"
          "worker_processes 1;\n"
          "%s"
          "pid %s/nginx.pid;\n"
          "error_log %s/error.log;\n"
          "events { worker_connections 4096; }\n"
          "http {\n"
          "  access_log off;\n"
          "  keepalive_requests 1000000;\n"
          "  keepalive_timeout 300s;\n"
          "  tcp_nodelay on;\n"
          "  client_body_temp_path %s/body;\n"
          "  proxy_temp_path %s/proxy;\n"
          "  fastcgi_temp_path %s/fastcgi;\n"
          "  uwsgi_temp_path %s/uwsgi;\n"
          "  scgi_temp_path %s/scgi;\n"
          "  server {\n"
          "    listen 127.0.0.1:%u;\n"
          "    location /small { return 200 \"Hello, world!\"; }\n"
          "  }\n"
          "}\n",
          /* As root, workers would otherwise switch to nobody, who cannot
           * enter the private directory. */
          geteuid() == 0 ? "user root;\n" : "", p->dir, p->dir, p->dir, p->dir, p->dir, p->dir,
          p->dir, (unsigned)p->port);
  return fclose(f) == 0 ? 0 : -1;
}

/* In the child: never returns. */
static void run_peer(const struct xb_peer *p, int lfd, pid_t parent) {
  /* The peer must not outlive the benchmark, even one killed with SIGKILL.
   * The setting survives execve; nginx's master gets SIGTERM, on which it
   * stops its worker too (a worker is not told of a killed master). */
  int builtin = strcmp(p->kind, "builtin") == 0;
  if (prctl(PR_SET_PDEATHSIG, builtin ? SIGKILL : SIGTERM) < 0 || getppid() != parent)
    _exit(1);
  /* Ctrl-C reaches the whole process group; the benchmark decides. */
  signal(SIGINT, SIG_IGN);
  /* nginx's worker inherits the pinning from its master. */
  pin_self(p->peer_cpu);
  if (builtin)
    _exit(server_serve(lfd) == 0 ? 0 : 1);

  int flags = fcntl(lfd, F_GETFD);
  if (flags < 0 || fcntl(lfd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
    _exit(1);
  char inherit[32], conf[128], log[128];
  snprintf(inherit, sizeof inherit, "%d;", lfd);
  snprintf(conf, sizeof conf, "%s/nginx.conf", p->dir);
  snprintf(log, sizeof log, "%s/error.log", p->dir);
  setenv("NGINX", inherit, 1);
  execl(NGINX_PATH, "nginx", "-p", p->dir, "-c", conf, "-e", log, (char *)NULL);
  _exit(127);
}

/* One GET /small; 0 when a 200 came back within PROBE_TIMEOUT_MS. */
static int probe(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = {0, PROBE_TIMEOUT_MS * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  static const char req[] = "GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  char buf[64];
  int ok = -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      buf[n] = '\0';
      ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
    }
  }
  close(fd);
  return ok;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  remove(path);
  return 0;
}

/* The last line of nginx's error log (why it did not start), or "". */
static void error_log_tail(const struct xb_peer *p, char *out, size_t outlen) {
  out[0] = '\0';
  if (!p->dir[0])
    return;
  char path[128], line[512];
  snprintf(path, sizeof path, "%s/error.log", p->dir);
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    snprintf(out, outlen, "%.*s", (int)outlen - 1, line);
  }
  fclose(f);
}

/* Bounded by the number of open descriptors nftw may use. */
#define NFTW_FDS 8

int peer_start(struct xb_peer *p, char *why, size_t whylen) {
  memset(p, 0, sizeof *p);
  p->pid = -1;
  const char *kind = getenv("XFER_BENCH_PEER");
  if (!kind || !*kind || strcmp(kind, "builtin") == 0)
    p->kind = "builtin";
  else if (strcmp(kind, "nginx") == 0)
    p->kind = "nginx";
  else
    return fail(why, whylen, "XFER_BENCH_PEER=%s: want builtin or nginx", kind);
  if (strcmp(p->kind, "nginx") == 0 && access(NGINX_PATH, X_OK) != 0)
    return fail(why, whylen, "%s not found", NGINX_PATH);

  p->peer_cpu = p->client_cpu = -1;
  if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
    const char *cc = getenv("XFER_BENCH_CLIENT_CPU");
    p->peer_cpu = 0;
    p->client_cpu = cc && strcmp(cc, "0") == 0 ? 0 : 1;
  }

  int lfd = server_listen(&p->port);
  if (lfd < 0)
    return fail(why, whylen, "cannot listen on 127.0.0.1: %s", strerror(errno));
  if (strcmp(p->kind, "nginx") == 0) {
    snprintf(p->dir, sizeof p->dir, "/tmp/xfer-bench-nginx.XXXXXX");
    if (!mkdtemp(p->dir) || write_nginx_conf(p) < 0) {
      close(lfd);
      peer_stop(p);
      return fail(why, whylen, "cannot write the nginx configuration");
    }
  }

  pid_t parent = getpid();
  /* Buffered output would otherwise be written by both processes. */
  fflush(stdout);
  fflush(stderr);
  p->pid = fork();
  if (p->pid == 0)
    run_peer(p, lfd, parent);
  close(lfd);
  if (p->pid < 0) {
    peer_stop(p);
    return fail(why, whylen, "fork: %s", strerror(errno));
  }
  if (pin_self(p->client_cpu) < 0) {
    peer_stop(p);
    return fail(why, whylen, "cannot pin to CPU %d: %s", p->client_cpu, strerror(errno));
  }
  for (int i = 0; i < PROBE_TRIES; i++) {
    if (probe(p->port) == 0)
      return 0;
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
      char last[160];
      error_log_tail(p, last, sizeof last);
      p->pid = -1;
      peer_stop(p);
      return fail(why, whylen, "the %s peer exited at start%s%s", p->kind, last[0] ? ": " : "",
                  last);
    }
    sleep_ms(PROBE_GAP_MS);
  }
  peer_stop(p);
  return fail(why, whylen, "the %s peer did not answer within %d ms", p->kind,
              PROBE_TRIES * PROBE_GAP_MS);
}

void peer_stop(struct xb_peer *p) {
  if (p->pid > 0) {
    /* nginx shuts down cleanly on SIGTERM; the built-in server just dies. */
    kill(p->pid, SIGTERM);
    int gone = 0;
    for (int i = 0; i < STOP_TRIES && !gone; i++) {
      pid_t got = waitpid(p->pid, NULL, WNOHANG);
      gone = got == p->pid || (got < 0 && errno == ECHILD);
      if (!gone)
        sleep_ms(STOP_GAP_MS);
    }
    if (!gone) {
      kill(p->pid, SIGKILL);
      while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    }
    p->pid = -1;
  }
  if (p->dir[0]) {
    nftw(p->dir, rm_entry, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
    p->dir[0] = '\0';
  }
}
