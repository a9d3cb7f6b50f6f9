/* See fault.h. */
#include "fault.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testserver.h"

void ft_req_init(struct ft_req *t, struct ts_server *srv, const char *path) {
  char url[256];
  if (srv)
    ts_url(srv, path, url, sizeof url);
  else
    snprintf(url, sizeof url, "%s", path);
  xt_req_init(&t->r, url);
  t->added = 0;
  t->elapsed = UINT64_MAX;
}

void ft_add(xfer_multi *m, struct ft_req *t) {
  t->added = xt_now_ms();
  cr_assert_eq(xfer_multi_add_handle(m, t->r.e), XFERM_OK);
}

void ft_free(xfer_multi *m, struct ft_req *t) {
  xfer_multi_remove_handle(m, t->r.e);
  xt_req_free(&t->r);
}

void ft_drive(xfer_multi *m, int max_ms) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  for (;;) {
    int running = 0;
    cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left))) {
      cr_assert_eq(msg->msg, XFERMSG_DONE);
      struct xt_req *r = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &r);
      cr_assert(r);
      struct ft_req *t = (struct ft_req *)r;
      t->elapsed = xt_now_ms() - t->added;
      r->done = 1;
      r->result = msg->data.result;
    }
    if (running == 0)
      return;
    cr_assert(xt_now_ms() < end, "transfers still running after %d ms", max_ms);
    cr_assert_eq(xfer_multi_poll(m, NULL, 0, 100, NULL), XFERM_OK);
  }
}

void ft_sibs_add(xfer_multi *m, struct ft_sibs *s, struct ts_server *same,
                 struct ts_server *other) {
  char path[64];
  memset(s, 0, sizeof *s);
  if (same) {
    snprintf(path, sizeof path, "/chunked/%u", FT_SIB_SAME_BYTES);
    ft_req_init(&s->same, same, path);
    ft_add(m, &s->same);
    s->has_same = 1;
  }
  if (other) {
    /* 150 ms before the answer: long enough to overlap the fault. */
    snprintf(path, sizeof path, "/delay/150/%u", FT_SIB_OTHER_BYTES);
    ft_req_init(&s->other, other, path);
    ft_add(m, &s->other);
    s->has_other = 1;
  }
}

static void check_sib(xfer_multi *m, struct ft_req *t, const char *which, size_t n) {
  cr_assert(t->r.done, "the %s sibling never finished", which);
  cr_assert_eq(t->r.result, XFERE_OK, "the %s sibling: code %d (%s)", which, t->r.result, t->r.err);
  xt_assert_pattern(&t->r.body, n);
  ft_free(m, t);
}

void ft_sibs_check(xfer_multi *m, struct ft_sibs *s) {
  if (s->has_same)
    check_sib(m, &s->same, "same-origin", FT_SIB_SAME_BYTES);
  if (s->has_other)
    check_sib(m, &s->other, "other-origin", FT_SIB_OTHER_BYTES);
  s->has_same = s->has_other = 0;
}

void ft_assert_code(const struct ft_req *t, xfer_code code, const char *word) {
  const char *err = t->r.err;
  cr_assert(t->r.done, "the transfer never finished");
  cr_assert_eq(t->r.result, code, "code %d, expected %d (error buffer: \"%s\")", t->r.result, code,
               err);
  size_t len = strlen(err);
  cr_assert(len >= 8 && err[0] >= 'A' && err[0] <= 'Z' && strchr(err, ' ') && err[len - 1] != '\n',
            "not a sentence in the error buffer: \"%s\"", err);
  if (word)
    cr_assert(xt_contains_nocase(err, word), "\"%s\" does not mention \"%s\"", err, word);
}

void ft_assert_ok(const struct ft_req *t, long status, const char *body, size_t len) {
  cr_assert(t->r.done, "the transfer never finished");
  cr_assert_eq(t->r.result, XFERE_OK, "code %d (%s)", t->r.result, t->r.err);
  cr_assert_eq(t->r.err[0], '\0', "error buffer set on success: \"%s\"", t->r.err);
  long got = 0;
  xfer_easy_getinfo(t->r.e, XFERINFO_RESPONSE_CODE, &got);
  cr_assert_eq(got, status, "status %ld, expected %ld", got, status);
  cr_assert_eq(t->r.body.len, len, "body is %zu bytes, expected %zu", t->r.body.len, len);
  cr_assert(len == 0 || memcmp(t->r.body.data, body, len) == 0, "the body differs");
}

void ft_assert_pattern_prefix(const struct ft_req *t, size_t n) {
  cr_assert_leq(t->r.body.len, n, "body is %zu bytes, more than the %zu sent", t->r.body.len, n);
  cr_assert(t->r.body.len == 0 || ts_pattern_check(0, t->r.body.data, t->r.body.len),
            "the %zu bytes delivered are not the start of the body", t->r.body.len);
  xfer_off_t got = -1;
  xfer_easy_getinfo(t->r.e, XFERINFO_SIZE_DOWNLOAD_T, &got);
  cr_assert_eq((size_t)got, t->r.body.len, "SIZE_DOWNLOAD %lld for %zu bytes delivered",
               (long long)got, t->r.body.len);
}

char *ft_response(const char *head, size_t n, size_t *len) {
  size_t hl = strlen(head);
  char *p = malloc(hl + n + 1);
  cr_assert(p, "out of memory building a response");
  memcpy(p, head, hl);
  ts_pattern(0, p + hl, n);
  *len = hl + n;
  return p;
}

int ft_fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  cr_assert(d, "cannot list /proc/self/fd");
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;
}

int ft_wait_fds(xfer_multi *m, int want, int max_ms) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  int n = ft_fd_count();
  while (n > want && xt_now_ms() < end) {
    int running = 0;
    if (m) {
      cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
      cr_assert_eq(xfer_multi_poll(m, NULL, 0, 10, NULL), XFERM_OK);
    } else {
      usleep(10000);
    }
    n = ft_fd_count();
  }
  return n;
}

void ft_env_up(struct ts_server **srv, struct ts_server **other, xfer_multi **m) {
  *srv = ts_start();
  cr_assert(*srv, "the test server did not start");
  *other = ts_start();
  cr_assert(*other, "the second test server did not start");
  *m = xt_multi();
}

void ft_env_down(struct ts_server *srv, struct ts_server *other, xfer_multi *m) {
  xfer_multi_cleanup(m);
  ts_stop(srv);
  ts_stop(other);
}

uint16_t ft_closed_port(void) {
  /* Bound to get a port from the kernel, then closed: nothing listens. */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t len = sizeof sa;
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  return ntohs(sa.sin_port);
}
