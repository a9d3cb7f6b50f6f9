/* xfer-load: a load generator for HTTP/1.1 servers built on xfer's multi
 * interface, measured the way wrk and h2load are (see docs/xfer-load.md). */
#include "load.h"

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <xfer/xfer.h>

/* Descriptors beyond one per connection: stdio, the multi's own (epoll or
 * io_uring, its wake-up eventfd), the listen socket, resolver sockets. */
#define FD_SLACK 64

/* Room for "http://127.0.0.1:65535/". */
#define URL_TEXT 32

/* The descriptor limit must cover every connection; the soft limit is raised
 * as far as needed (and allowed), for the client and, by inheritance, for
 * the built-in server. */
static int ensure_fd_limit(long connections) {
  struct rlimit rl;
  rlim_t need = (rlim_t)connections + FD_SLACK;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
    return 0;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    fprintf(stderr,
            "xfer-load: %ld connections need %llu open files, but the limit is %llu "
            "(see ulimit -n)\n",
            connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
    return -1;
  }
  rl.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
    perror("xfer-load: setrlimit");
    return -1;
  }
  return 0;
}

static int serve_only(void) {
  uint16_t port;
  int lfd = server_listen(&port);
  if (lfd < 0)
    return 1;
  printf("http://127.0.0.1:%u/\n", (unsigned)port);
  fflush(stdout);
  return server_serve(lfd) == 0 ? 0 : 1;
}

/* Kept out of main's frame: the histogram alone is some 24 KiB. */
static struct load_result result;

/* Failed requests and non-2xx/3xx answers fail a run past --max-errors (0
 * by default), so that it can gate a pipeline. */
static int exit_status(const struct load_result *r, uint64_t max_errors) {
  return r->errors + r->bad_status > max_errors || r->aborted ? 1 : 0;
}

/* xfer-load merge FILE...: the combined report of runs written with --json,
 * for one load spread over several machines or processes. */
static int merge(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: xfer-load merge RESULT.json...\n");
    return 2;
  }
  histogram_init(&result.latency);
  for (int i = 2; i < argc; i++)
    if (json_merge_file(argv[i], &result) < 0)
      return 2;
  report_print(stdout, NULL, (const char *const *)(argv + 2), argc - 2, 0, &result);
  return exit_status(&result, 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "merge") == 0)
    return merge(argc, argv);
  struct load_options o;
  int rc = options_parse(argc, argv, &o);
  if (rc != 0) {
    options_free(&o);
    return rc > 0 ? 0 : 2;
  }
  if (ensure_fd_limit(o.connections) < 0)
    return 1;
  /* A peer that closes early must fail one transfer, not kill the tool. */
  signal(SIGPIPE, SIG_IGN);
  if (o.serve_only)
    return serve_only();

  char url_buf[URL_TEXT];
  const char *const *urls = o.urls;
  int nurls = o.nurls;
  const char *builtin_url[1] = {url_buf};
  pid_t server = -1;
  if (!nurls) {
    uint16_t port;
    int lfd = server_listen(&port);
    if (lfd < 0)
      return 1;
    snprintf(url_buf, sizeof url_buf, "http://127.0.0.1:%u/", (unsigned)port);
    urls = builtin_url;
    nurls = 1;
    /* Forked before the library is initialised, so the child holds none of
     * its state; the socket already listens, so no connect can race it. */
    server = server_spawn(lfd);
    if (server < 0)
      return 1;
  }

  xfer_code init = xfer_global_init(XFER_GLOBAL_DEFAULT);
  if (init != XFERE_OK) {
    fprintf(stderr, "xfer-load: xfer_global_init failed: %s\n", xfer_easy_strerror(init));
    if (server > 0)
      server_stop(server);
    return 1;
  }
  int status = engine_run(&o, urls, nurls, &result);
  if (server > 0)
    server_stop(server);
  xfer_global_cleanup();
  result.runs = 1;
  /* With --json -, stdout is the JSON's alone. */
  if (status == 0 && !(o.json && strcmp(o.json, "-") == 0))
    report_print(stdout, &o, urls, nurls, server > 0, &result);
  if (status == 0 && o.json && json_write(o.json, urls, nurls, &result) < 0)
    status = 1;
  options_free(&o);
  if (status != 0)
    return status;
  return exit_status(&result, o.max_errors);
}
