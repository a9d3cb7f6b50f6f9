/* The built-in server's socket, process and event loop. It is a single
 * epoll thread, as nginx with one worker is in the performance baselines, so
 * the client sees a comparable server. */
#include "load.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Events taken per epoll_wait; more only means longer batches, fewer means
 * more system calls under load. */
#define MAX_EVENTS 256

/* Connections accepted per readiness of the listen socket, so that a burst
 * of connects cannot starve the connections already served. */
#define ACCEPT_BATCH 64

/* A hard cap on open connections, well above any -c in use, that bounds the
 * server's memory (24 KiB each) at about 1.5 GiB in the worst case. */
#define MAX_CONNS 65536

/* Descriptors kept back from the connection budget for the epoll and listen
 * sockets and stdio. */
#define RESERVED_FDS 16

/* A pending-connection queue long enough for a load tool that opens all its
 * connections at once. */
#define LISTEN_BACKLOG 4096

int server_listen(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("xfer-load: socket");
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
    perror("xfer-load: built-in server");
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

/* The listen socket's epoll tag: connections carry their struct pointer,
 * the listen socket this address, which no connection can have. */
static char listen_tag;

/* The number of connections the descriptor limit leaves room for. */
static long conn_budget(void) {
  struct rlimit rl;
  long budget = MAX_CONNS;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (long)rl.rlim_cur - RESERVED_FDS < budget)
    budget = (long)rl.rlim_cur - RESERVED_FDS;
  return budget > 1 ? budget : 1;
}

static int set_listen_events(int ep, int lfd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = &listen_tag};
  return epoll_ctl(ep, EPOLL_CTL_MOD, lfd, &ev);
}

/* Accepts up to a batch of connections. Returns 1 when the server must stop
 * accepting for now (out of descriptors or at the cap), else 0. */
static int accept_batch(int ep, int lfd, long *open_conns, long budget) {
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    if (*open_conns >= budget)
      return 1;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        return 1;
      return 0;
    }
    /* Answers are small and written whole; Nagle would only hold back the
     * second of two pipelined answers until the first is acknowledged. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct server_conn *c = malloc(sizeof *c);
    if (!c) {
      close(fd);
      return 1;
    }
    conn_init(c, fd);
    c->events = EPOLLIN;
    struct epoll_event ev = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
      close(fd);
      free(c);
      continue;
    }
    (*open_conns)++;
  }
  return 0;
}

int server_serve(int lfd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    perror("xfer-load: epoll_create1");
    return -1;
  }
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listen_tag};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
    perror("xfer-load: epoll_ctl");
    close(ep);
    return -1;
  }
  long budget = conn_budget();
  long open_conns = 0;
  int accept_paused = 0;
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      perror("xfer-load: epoll_wait");
      close(ep);
      return -1;
    }
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == &listen_tag) {
        /* A full descriptor table would leave the listen socket readable
         * forever; it is taken out of the set until a connection closes. */
        if (accept_batch(ep, lfd, &open_conns, budget) && set_listen_events(ep, lfd, 0) == 0)
          accept_paused = 1;
        continue;
      }
      struct server_conn *c = evs[i].data.ptr;
      uint32_t got = evs[i].events;
      int rc = 0;
      if (got & (EPOLLIN | EPOLLERR | EPOLLHUP))
        rc = conn_on_readable(c);
      if (rc == 0 && (got & EPOLLOUT))
        rc = conn_on_writable(c);
      if (rc == 0) {
        uint32_t want = conn_wanted_events(c);
        if (want != c->events) {
          struct epoll_event ev = {.events = want, .data.ptr = c};
          if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
            c->events = want;
          else
            rc = -1;
        }
      }
      if (rc < 0) {
        /* Closing the descriptor also takes it out of the epoll set. */
        close(c->fd);
        free(c);
        open_conns--;
        if (accept_paused && set_listen_events(ep, lfd, EPOLLIN) == 0)
          accept_paused = 0;
      }
    }
  }
}

pid_t server_spawn(int lfd) {
  pid_t parent = getpid();
  /* Buffered output would otherwise be written twice, once by each process. */
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("xfer-load: fork");
    close(lfd);
    return -1;
  }
  if (pid == 0) {
    /* The server must not outlive the client, even one killed with SIGKILL;
     * if the parent died before the request took effect, stop at once. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
      _exit(1);
    /* Ctrl-C goes to the whole process group. The client stops on it and
     * still reports; were the server to die first, the last requests would
     * be counted as connection errors that the run never really had. */
    signal(SIGINT, SIG_IGN);
    _exit(server_serve(lfd) == 0 ? 0 : 1);
  }
  /* The child owns the socket now; the parent's copy would only keep the
   * port open should the child die. */
  close(lfd);
  return pid;
}

void server_stop(pid_t pid) {
  int status;
  pid_t got;
  while ((got = waitpid(pid, &status, WNOHANG)) < 0 && errno == EINTR)
    ;
  if (got == pid) {
    fprintf(stderr, "xfer-load: warning: the built-in server exited early (status %d)\n",
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return;
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
}
