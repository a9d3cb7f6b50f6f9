/*
 * nginx as a real peer for network tests; see nginx.h for the contract.
 *
 * Why fork/exec by hand rather than system()/posix_spawn: we need the
 * child's pid (to signal and reap exactly that process), its own process
 * group (so the worker can be swept too), PR_SET_PDEATHSIG, and every
 * inherited descriptor closed (Criterion's IPC sockets must not outlive the
 * test inside an nginx process). Everything the child needs is prepared
 * before fork(), because after fork() in a threaded process only
 * async-signal-safe calls are allowed until exec.
 */
#include "nginx.h"
#include "proc.h"
#include "testserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NGX_READY_MS 5000 /* per start attempt */
#define NGX_STOP_MS  5000 /* SIGTERM grace before SIGKILL */
#define NGX_ATTEMPTS 8    /* new port after a lost bind race */

struct ts_nginx {
  pid_t pid;
  uint16_t port;
  /* Where the readiness probe goes: port itself for plain HTTP, a second
     * plain listener of the same nginx for TLS (see write_conf()). */
  uint16_t probe_port;
  bool tls;
  char dir[PATH_MAX];
  char cert[PATH_MAX];
  char key[PATH_MAX];
};

static const char *nginx_bin(void) {
  const char *e = getenv("XFER_NGINX");
  return e && *e ? e : "/usr/sbin/nginx";
}

int ts_nginx_available(void) { return access(nginx_bin(), X_OK) == 0; }

static void msleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask the kernel for a free ephemeral port on 127.0.0.1. It is released
 * before nginx binds it, so another process may win the race: the caller
 * retries with a new port when nginx reports EADDRINUSE. */
static uint16_t pick_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  uint16_t port = 0;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

static int write_file(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wbe");
  if (!f)
    return -1;
  size_t w = fwrite(data, 1, len, f);
  int rc = (w == len) ? 0 : -1;
  if (fclose(f) != 0)
    rc = -1;
  return rc;
}

static int write_pattern_file(const char *path, size_t len) {
  char *buf = malloc(len ? len : 1);
  if (!buf)
    return -1;
  ts_pattern(0, buf, len);
  int rc = write_file(path, buf, len);
  free(buf);
  return rc;
}

static int write_conf(const struct ts_nginx *n, const char *token, const char *extra) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/nginx.conf", n->dir);
  FILE *f = fopen(path, "we");
  if (!f)
    return -1;

  /* Enough descriptors for pool tests with many parallel connections,
     * without asking for more than the hard limit allows. */
  struct rlimit rl;
  long nofile = 8192;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
      (long)rl.rlim_max < nofile)
    nofile = (long)rl.rlim_max;
  long wconn = nofile / 2 > 64 ? nofile / 2 : 64;

  const char *d = n->dir;
  fprintf(f,
          "# Private config written by tests/support/nginx.c; never the system one.\n"
          "daemon off;\n"
          "master_process on;\n"
          "worker_processes 1;\n"
          "%s"
          "pid %s/nginx.pid;\n"
          "error_log %s/error.log warn;\n"
          "worker_rlimit_nofile %ld;\n"
          "events { worker_connections %ld; }\n"
          "http {\n"
          "  access_log off;\n"
          "  default_type application/octet-stream;\n"
          "  client_body_temp_path %s/tmp/client_body;\n"
          "  proxy_temp_path %s/tmp/proxy;\n"
          "  fastcgi_temp_path %s/tmp/fastcgi;\n"
          "  uwsgi_temp_path %s/tmp/uwsgi;\n"
          "  scgi_temp_path %s/tmp/scgi;\n"
          "  keepalive_requests 1000000;\n"
          "  keepalive_timeout 300s;\n"
          "  tcp_nodelay on;\n"
          "  server {\n"
          "    listen 127.0.0.1:%u%s;\n"
          "    server_name localhost;\n"
          "    root %s/www;\n"
          "    location = /small { default_type text/plain; return 200 \"Hello, world!\"; }\n"
          "    location /echo_status/ { return 204; }\n",
          /* The mkdtemp() dir is 0700: a worker that dropped to nobody or
             * www-data could not read www/ nor write tmp/. */
          geteuid() == 0 ? "user root;\n" : "", d, d, nofile, wconn, d, d, d, d, d,
          (unsigned)n->port, n->tls ? " ssl" : "", d);
  if (!n->tls) {
    fprintf(f, "    location = /__ts_ready { return 200 \"%s\"; }\n", token);
  } else {
    /* Paths were checked by the caller: no quote, backslash, '$' (nginx
         * would expand a variable) or control character. */
    fprintf(
        f,
        "    ssl_certificate \"%s\";\n"
        "    ssl_certificate_key \"%s\";\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    ssl_session_cache shared:SSL:1m;\n"
        "    ssl_session_tickets on;\n"
        "    location = /reused { default_type text/plain; return 200 \"$ssl_session_reused\"; }\n"
        "    location = /proto { default_type text/plain; return 200 \"$ssl_protocol "
        "$ssl_cipher\"; }\n",
        n->cert, n->key);
  }
  fprintf(f, "    %s\n  }\n", extra ? extra : "");
  if (n->tls) {
    /* The readiness URL lives on a second, plain server, so the probe
         * stays a few lines of socket code. nginx binds every listen socket
         * before it serves anything (or fails as a whole), so an answer here
         * also means the TLS port is bound. */
    fprintf(f,
            "  server {\n"
            "    listen 127.0.0.1:%u;\n"
            "    server_name localhost;\n"
            "    location = /__ts_ready { return 200 \"%s\"; }\n"
            "    location / { return 404; }\n"
            "  }\n",
            (unsigned)n->probe_port, token);
  }
  fprintf(f, "}\n");
  return fclose(f) == 0 ? 0 : -1;
}

/* GET the readiness URL; 1 if the body is our token (so we are talking to
 * our nginx, not to whoever else might hold the port), else 0. */
static int probe(uint16_t port, const char *token) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  int ok = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
    const char req[] = "GET /__ts_ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
      char buf[2048];
      size_t got = 0;
      /* Bounded: at most sizeof buf bytes, each recv bounded by 1 s. */
      for (int i = 0; i < 64 && got < sizeof buf - 1; i++) {
        ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (k <= 0)
          break;
        got += (size_t)k;
      }
      buf[got] = '\0';
      const char *body = strstr(buf, "\r\n\r\n");
      ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 && body && strcmp(body + 4, token) == 0;
    }
  }
  close(fd);
  return ok;
}

/* fork/exec nginx. Returns the pid or -1. */
static pid_t spawn(const struct ts_nginx *n) {
  char errlog[PATH_MAX + 32], prefix[PATH_MAX + 32], conf[PATH_MAX + 32], out[PATH_MAX + 32];
  snprintf(errlog, sizeof errlog, "%s/error.log", n->dir);
  snprintf(prefix, sizeof prefix, "%s/", n->dir);
  snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
  snprintf(out, sizeof out, "%s/nginx.out", n->dir);
  const char *bin = nginx_bin();
  char *const argv[] = {(char *)bin, "-e", errlog, "-p", prefix, "-c", conf, NULL};
  int o = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (o < 0) {
    perror("ts_nginx: open nginx.out");
    return -1;
  }
  pid_t pid = ts_proc_spawn(argv, NULL, -1, o, o);
  close(o);
  return pid;
}

/* Stop pid: SIGTERM, bounded wait, SIGKILL to the group, sweep the group
 * (a worker whose master died would keep serving). */
static void kill_child(pid_t pid) { ts_proc_stop(pid, NGX_STOP_MS); }

/* A path nginx.conf can carry in double quotes as it is: nginx would expand
 * '$' as a variable in ssl_certificate, and a quote, backslash or control
 * character would change the config's syntax. */
static int conf_safe_path(const char *p) {
  if (!p || !*p || strlen(p) >= PATH_MAX)
    return 0;
  for (const unsigned char *c = (const unsigned char *)p; *c; c++)
    if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\' || *c == '$')
      return 0;
  return 1;
}

static struct ts_nginx *start(const char *cert_pem, const char *key_pem, const char *extra,
                              unsigned flags) {
  if (!ts_nginx_available()) {
    fprintf(stderr, "ts_nginx: %s is not executable\n", nginx_bin());
    return NULL;
  }
  if (cert_pem || key_pem) {
    if (!conf_safe_path(cert_pem) || !conf_safe_path(key_pem)) {
      fprintf(stderr, "ts_nginx: TLS needs both a certificate and a key path, without "
                      "quotes, backslashes, '$' or control characters\n");
      return NULL;
    }
    if (access(cert_pem, R_OK) != 0 || access(key_pem, R_OK) != 0) {
      fprintf(stderr, "ts_nginx: cannot read %s or %s\n", cert_pem, key_pem);
      return NULL;
    }
  }
  struct ts_nginx *n = calloc(1, sizeof *n);
  if (!n)
    return NULL;
  n->pid = -1;
  if (cert_pem) {
    n->tls = true;
    snprintf(n->cert, sizeof n->cert, "%s", cert_pem);
    snprintf(n->key, sizeof n->key, "%s", key_pem);
  }

  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp)
    tmp = "/tmp";
  snprintf(n->dir, sizeof n->dir, "%s/xfer-nginx-XXXXXX", tmp);
  if (!mkdtemp(n->dir)) {
    fprintf(stderr, "ts_nginx: mkdtemp %s: %s\n", n->dir, strerror(errno));
    free(n);
    return NULL;
  }
  /* The mkdtemp() suffix is unique per instance: a good readiness token. */
  char token[64];
  snprintf(token, sizeof token, "ready-%s", strrchr(n->dir, '-') + 1);

  char p[PATH_MAX + 64];
  static const char *const subdirs[] = {"www",         "tmp",       "tmp/client_body", "tmp/proxy",
                                        "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi",        "logs"};
  for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", n->dir, subdirs[i]);
    if (mkdir(p, 0700) != 0) {
      fprintf(stderr, "ts_nginx: mkdir %s: %s\n", p, strerror(errno));
      goto fail;
    }
  }
  static const struct {
    const char *name;
    size_t size;
  } files[] = {{"1k", 1024}, {"64k", 65536}, {"1m", 1048576}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, sizeof p, "%s/www/%s", n->dir, files[i].name);
    if (write_pattern_file(p, files[i].size) != 0) {
      fprintf(stderr, "ts_nginx: cannot write %s\n", p);
      goto fail;
    }
  }
  /* Only on request: 16 MiB of writing would slow down every other start. */
  if (flags & TS_NGINX_16M) {
    snprintf(p, sizeof p, "%s/www/16m", n->dir);
    if (write_pattern_file(p, (size_t)16 << 20) != 0) {
      fprintf(stderr, "ts_nginx: cannot write %s\n", p);
      goto fail;
    }
  }

  char errlog[PATH_MAX + 32];
  snprintf(errlog, sizeof errlog, "%s/error.log", n->dir);
  for (int attempt = 0; attempt < NGX_ATTEMPTS; attempt++) {
    n->port = pick_port();
    n->probe_port = n->port;
    /* Released ports are handed out again soon: make sure the two
         * differ, or nginx would refuse the duplicate listen. */
    for (int k = 0; n->tls && k < 16 && n->probe_port == n->port; k++)
      n->probe_port = pick_port();
    if (n->port == 0 || n->probe_port == 0 || (n->tls && n->probe_port == n->port) ||
        write_conf(n, token, extra) != 0) {
      fprintf(stderr, "ts_nginx: cannot pick a port or write the config\n");
      goto fail;
    }
    n->pid = spawn(n);
    if (n->pid < 0)
      goto fail;

    bool lost_race = false;
    int64_t deadline = now_ms() + NGX_READY_MS;
    /* Bounded poll for the condition "nginx answers our token". */
    for (int turn = 0; turn < 100000 && now_ms() < deadline; turn++) {
      int st;
      pid_t w = waitpid(n->pid, &st, WNOHANG);
      if (w == n->pid) {
        char tail[2048];
        ts_proc_read_tail(errlog, tail, sizeof tail);
        n->pid = -1;
        if (strstr(tail, "Address already in use")) {
          lost_race = true;
          break;
        }
        char out[1024], outp[PATH_MAX + 32];
        snprintf(outp, sizeof outp, "%s/nginx.out", n->dir);
        ts_proc_read_tail(outp, out, sizeof out);
        fprintf(stderr, "ts_nginx: nginx exited (status %d) during start\n%s%s\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, tail, out);
        goto fail;
      }
      if (probe(n->probe_port, token))
        return n;
      msleep(10);
    }
    if (lost_race) {
      /* Remove the log so the next attempt's failure is judged on its
             * own lines only. */
      unlink(errlog);
      continue;
    }
    char tail[2048];
    ts_proc_read_tail(errlog, tail, sizeof tail);
    fprintf(stderr, "ts_nginx: nginx did not answer on 127.0.0.1:%u within %d ms\n%s\n",
            (unsigned)n->port, NGX_READY_MS, tail);
    goto fail;
  }
  fprintf(stderr, "ts_nginx: lost the port race %d times\n", NGX_ATTEMPTS);

fail:
  kill_child(n->pid);
  ts_proc_rm_tree(n->dir);
  free(n);
  return NULL;
}

struct ts_nginx *ts_nginx_start_ex(const char *extra) {
  return start(NULL, NULL, extra, 0);
}

struct ts_nginx *ts_nginx_start(void) {
  return ts_nginx_start_ex(NULL);
}

struct ts_nginx *ts_nginx_start_tls(const char *cert_pem, const char *key_pem, const char *extra) {
  return ts_nginx_start_tls_ex(cert_pem, key_pem, extra, 0);
}

struct ts_nginx *ts_nginx_start_tls_ex(const char *cert_pem, const char *key_pem, const char *extra,
                                       unsigned flags) {
  return start(cert_pem, key_pem, extra, flags);
}

void ts_nginx_stop(struct ts_nginx *n) {
  if (!n)
    return;
  kill_child(n->pid);
  ts_proc_rm_tree(n->dir);
  free(n);
}

uint16_t ts_nginx_port(const struct ts_nginx *n) { return n->port; }

void ts_nginx_url(const struct ts_nginx *n, const char *path, char *out, size_t outlen) {
  ts_nginx_url_host(n, "127.0.0.1", path, out, outlen);
}

void ts_nginx_url_host(const struct ts_nginx *n, const char *host, const char *path, char *out,
                       size_t outlen) {
  if (!host)
    host = "127.0.0.1";
  if (!path)
    path = "/";
  snprintf(out, outlen, "%s://%s:%u%s%s", n->tls ? "https" : "http", host, (unsigned)n->port,
           path[0] == '/' ? "" : "/", path);
}

int ts_nginx_is_tls(const struct ts_nginx *n) { return n->tls; }

pid_t ts_nginx_pid(const struct ts_nginx *n) { return n->pid; }

const char *ts_nginx_dir(const struct ts_nginx *n) { return n->dir; }
