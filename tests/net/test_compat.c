/* curl source compatibility: every program under tests/compat/ is written for
 * libcurl and built twice from the same file, once against the system's
 * libcurl and once against xfer's curl/curl.h (include/xfer-curl). Both run
 * with the same arguments against this test's own server; their exit status
 * and everything they print (results, status codes, byte counts, checksums,
 * the order they print in) must be the same. Each test also checks what the
 * output says, so that two identical wrong answers fail too. The xfer build
 * runs on the backend of XFER_BACKEND. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc.h"
#include "testserver.h"

#ifndef XFER_COMPAT_DIR
#error "XFER_COMPAT_DIR must name the directory of the compat programs"
#endif

static struct ts_server *srv;
static int refused_fd = -1;
static unsigned refused_port;

/* A port on 127.0.0.1 that refuses connections for as long as the test
 * runs: bound by us, never listening. */
static void hold_refused_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  refused_fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(refused_fd >= 0);
  cr_assert_eq(bind(refused_fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(getsockname(refused_fd, (struct sockaddr *)&a, &len), 0);
  refused_port = ntohs(a.sin_port);
}

static void setup(void) {
  srv = ts_start();
  cr_assert_not_null(srv);
  hold_refused_port();
}

static void teardown(void) {
  ts_stop(srv);
  close(refused_fd);
}

TestSuite(compat, .init = setup, .fini = teardown);

#define OUTCAP (1u << 20)

struct run {
  int status;
  char *out;
};

static void run_one(const char *prog, const char *flavour, char **args, int nargs, struct run *r) {
  char path[512];
  char *argv[24];
  snprintf(path, sizeof path, "%s/compat_%s_%s", XFER_COMPAT_DIR, prog, flavour);
  cr_assert(nargs < 22);
  argv[0] = path;
  for (int i = 0; i < nargs; i++)
    argv[i + 1] = args[i];
  argv[nargs + 1] = NULL;
  r->out = calloc(1, OUTCAP);
  cr_assert_not_null(r->out);
  /* Under the sanitizer build, the leak checker would judge libcurl and
   * OpenSSL in the reference run: only xfer's run is ours to judge. */
  const char *asan = getenv("ASAN_OPTIONS");
  char *saved = asan ? strdup(asan) : NULL;
  if (strcmp(flavour, "curl") == 0)
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
  r->status = ts_proc_run(argv, NULL, r->out, OUTCAP, 60000);
  if (saved) {
    setenv("ASAN_OPTIONS", saved, 1);
    free(saved);
  } else {
    unsetenv("ASAN_OPTIONS");
  }
}

/* Runs both builds and asserts the same status and output; returns xfer's
 * output (the caller frees it). */
static char *same(const char *prog, char **args, int nargs) {
  struct run c, x;
  run_one(prog, "curl", args, nargs, &c);
  run_one(prog, "xfer", args, nargs, &x);
  cr_assert_eq(x.status, c.status, "%s: exit %d with xfer, %d with libcurl\nxfer:\n%s", prog,
               x.status, c.status, x.out);
  cr_assert_str_eq(x.out, c.out, "%s: outputs differ\n--- libcurl:\n%s\n--- xfer:\n%s", prog, c.out,
                   x.out);
  free(c.out);
  return x.out;
}

static char *url(const char *path) {
  char *u = malloc(256);
  cr_assert_not_null(u);
  snprintf(u, 256, "http://127.0.0.1:%u%s", ts_port(srv), path);
  return u;
}

static void free_args(char **a, int n) {
  for (int i = 0; i < n; i++)
    free(a[i]);
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

Test(compat, perform_and_poll) {
  char *a[8] = {url("/bytes/0"),
                url("/bytes/100000"),
                url("/chunked/70000"),
                url("/status/404"),
                url("/delay/200/13"),
                url("/bytes/1"),
                NULL,
                NULL};
  a[6] = malloc(64);
  snprintf(a[6], 64, "http://127.0.0.1:%u/", refused_port);
  a[7] = url("/close/5000");
  char *out = same("multi_poll", a, 8);
  cr_assert(strstr(out, "done 8 of 8"), "%s", out);
  cr_assert(strstr(out, "3: result=0 code=404"), "%s", out);
  cr_assert(strstr(out, "6: result=7 code=0"), "%s", out);
  cr_assert(strstr(out, "1: result=0 code=200 bytes=100000"), "%s", out);
  free(out);
  free_args(a, 8);
}

Test(compat, fdset_and_select) {
  /* The first body goes to stdout through the default write function: the
   * echo of the request, so the two libraries' request heads are compared
   * too, byte for byte. */
  char *a[3] = {url("/echo"), url("/chunked/5000"), url("/delay/100/77")};
  char *out = same("multi_select", a, 3);
  char head[128];
  snprintf(head, sizeof head, "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n", ts_port(srv));
  cr_assert_eq(strncmp(out, head, strlen(head)), 0, "%s", out);
  cr_assert(strstr(out, "1: result=0 got=5000"), "%s", out);
  cr_assert(strstr(out, "2: result=0 got=77"), "%s", out);
  free(out);
  free_args(a, 3);
}

Test(compat, socket_action_epoll) {
  char *a[12];
  for (int i = 0; i < 12; i++) {
    char p[64];
    snprintf(p, sizeof p, i % 3 ? "/bytes/%d" : "/chunked/%d", i * 4099);
    a[i] = url(p);
  }
  char *out = same("multi_epoll", a, 12);
  cr_assert(strstr(out, "finished 12 of 12"), "%s", out);
  cr_assert_eq(count_of(out, "result=0"), 12, "%s", out);
  cr_assert(strstr(out, "watched after cleanup 0"), "%s", out);
  free(out);
  free_args(a, 12);
}

Test(compat, socket_action_libuv) {
  char *a[10];
  for (int i = 0; i < 10; i++) {
    char p[64];
    snprintf(p, sizeof p, "/bytes/%d", i * 1000 + 1);
    a[i] = url(p);
  }
  char *out = same("multi_uv", a, 10);
  cr_assert_eq(count_of(out, "result=0"), 10, "%s", out);
  cr_assert(strstr(out, "loop ended by itself: yes"), "%s", out);
  free(out);
  free_args(a, 10);
}

Test(compat, easy_perform_loop_and_helpers) {
  char *a[2] = {url("/bytes/13"), strdup("200")};
  char *out = same("easy_loop", a, 2);
  cr_assert(strstr(out, "performs=200 fails=0 bytes=2600 connections=1"), "%s", out);
  cr_assert_eq(count_of(out, ", same"), 4, "%s", out);
  cr_assert(strstr(out, "getdate \"Sun, 06 Nov 1994 08:49:37 GMT\" -> 784111777"), "%s", out);
  free(out);
  free_args(a, 2);
}

Test(compat, four_cleanup_orders) {
  char *a[2] = {url("/bytes/10"), url("/delay/3000/10")};
  char *out = same("cleanup_orders", a, 2);
  cr_assert_eq(count_of(out, "finished: result=0"), 4, "%s", out);
  cr_assert_eq(count_of(out, "running: result=-1"), 4, "%s", out);
  free(out);
  free_args(a, 2);
}
