/* libcurl style, as the ephiperfifo.c example: the event interface on raw
 * epoll and a timerfd (0 ms becomes 1 ns, since 0 disarms a timerfd), at
 * most 4 transfers at a time, each finished one removed and the next added
 * from inside the loop, as 10-at-a-time.c does. The loop ends when every
 * URL is done. Prints one line per transfer in argv order, then how many
 * sockets were still watched and whether the timer was still set: both 0,
 * or a loop that ends when empty would never end. */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <curl/curl.h>

#define MAXN    64
#define AT_ONCE 4

static CURLM *m;
static int ep, tfd, watched, timer_set;
static char **urls;
static int nurls, added, finished;
static int result[MAXN];
static size_t got[MAXN];

static size_t count(char *ptr, size_t size, size_t nmemb, void *userp) {
  (void)ptr;
  *(size_t *)userp += size * nmemb;
  return size * nmemb;
}

static void add_next(void) {
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, urls[added]);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &got[added]);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)&result[added]);
  curl_multi_add_handle(m, e);
  added++;
}

static void check_multi_info(void) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m, &left))) {
    if (msg->msg == CURLMSG_DONE) {
      CURL *e = msg->easy_handle;
      int *slot;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&slot);
      *slot = (int)msg->data.result;
      curl_multi_remove_handle(m, e);
      curl_easy_cleanup(e);
      finished++;
      if (added < nurls)
        add_next();
    }
  }
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  struct itimerspec its;
  (void)multi;
  (void)userp;
  memset(&its, 0, sizeof its);
  if (timeout_ms > 0) {
    its.it_value.tv_sec = timeout_ms / 1000;
    its.it_value.tv_nsec = (timeout_ms % 1000) * 1000000;
  } else if (timeout_ms == 0) {
    its.it_value.tv_nsec = 1;
  }
  timerfd_settime(tfd, 0, &its, NULL);
  timer_set = timeout_ms >= 0;
  return 0;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *cbp, void *sockp) {
  struct epoll_event ev;
  (void)e;
  (void)cbp;
  if (what == CURL_POLL_REMOVE) {
    if (sockp) {
      epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
      watched--;
    }
    curl_multi_assign(m, s, NULL);
    return 0;
  }
  memset(&ev, 0, sizeof ev);
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  ev.data.fd = s;
  if (!sockp) {
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0)
      return -1;
    watched++;
    curl_multi_assign(m, s, &watched);
  } else if (epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) != 0) {
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct epoll_event ev, evs[16];
  int running, i, rounds = 0;

  nurls = argc - 1;
  urls = argv + 1;
  if (nurls < 1 || nurls > MAXN)
    return 2;
  ep = epoll_create1(0);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = tfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_cb);
  for (i = 0; i < nurls && i < AT_ONCE; i++)
    add_next();
  /* Bounded: 100 ms per wait, 300 waits at most. */
  while (finished < nurls && rounds++ < 300) {
    int n = epoll_wait(ep, evs, 16, 100);
    for (i = 0; i < n; i++) {
      if (evs[i].data.fd == tfd) {
        unsigned long long x;
        if (read(tfd, &x, sizeof x) < 0) {
          /* re-armed meanwhile */
        }
        curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
      } else {
        int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(m, evs[i].data.fd, mask, &running);
      }
      check_multi_info();
    }
  }
  for (i = 0; i < nurls; i++)
    printf("%d: result=%d got=%zu\n", i, result[i], got[i]);
  printf("finished %d of %d\n", finished, nurls);
  curl_multi_cleanup(m);
  printf("watched after cleanup %d\n", watched);
  close(ep);
  close(tfd);
  return finished == nurls ? 0 : 1;
}
