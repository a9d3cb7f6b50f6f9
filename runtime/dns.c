/* Name resolution without blocking the loop. See dns.h and
 * docs/internals/dns.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alloc.h"
#include "multi.h"
#include "transfer.h"

void xfer__dns_init(struct xfer__dns *d) {
  memset(d, 0, sizeof *d);
  xfer__queue_init(&d->cache);
}

/* ---- answers at once: numeric hosts, RESOLVE entries, the cache --------- */

static void set_port(struct sockaddr_storage *sa, uint16_t port) {
  if (sa->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)sa)->sin_port = htons(port);
}

static int parse_numeric(const char *host, struct sockaddr_storage *sa) {
  memset(sa, 0, sizeof *sa);
  struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    return 1;
  }
  if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    return 1;
  }
  return 0;
}

static struct xfer__dns_entry *find_entry(struct xfer__dns *d, const char *host, uint16_t port,
                                          int permanent) {
  struct xfer__queue *q;
  xfer__queue_foreach(q, &d->cache) {
    struct xfer__dns_entry *en = xfer__container_of(q, struct xfer__dns_entry, link);
    if (en->permanent == permanent && en->port == port && strcmp(en->host, host) == 0)
      return en;
  }
  return NULL;
}

static void drop_entry(struct xfer__dns_entry *en) {
  xfer__queue_remove(&en->link);
  xfer__free(en->host);
  xfer__free(en);
}

static struct xfer__dns_entry *new_entry(struct xfer__dns *d, const char *host, size_t hlen) {
  struct xfer__dns_entry *en = xfer__calloc(1, sizeof *en);
  if (!en)
    return NULL;
  en->host = xfer__strndup(host, hlen);
  if (!en->host) {
    xfer__free(en);
    return NULL;
  }
  xfer__queue_insert_head(&d->cache, &en->link);
  return en;
}

/* Applies one XFEROPT_RESOLVE line: "[+]HOST:PORT:ADDR[,ADDR...]" adds,
 * "-HOST:PORT" removes. IPv6 addresses go in brackets. Returns 0, or
 * XFER__ESYNTAX / -ENOMEM. */
static int apply_resolve_line(struct xfer__dns *d, const char *line) {
  int remove = line[0] == '-';
  if (line[0] == '-' || line[0] == '+')
    line++;
  const char *c1 = strchr(line, ':');
  if (!c1 || c1 == line)
    return XFER__ESYNTAX;
  char *end;
  unsigned long port = strtoul(c1 + 1, &end, 10);
  if (end == c1 + 1 || port == 0 || port > 65535 || (*end != ':' && !(remove && *end == 0)))
    return XFER__ESYNTAX;
  char host[256];
  size_t hlen = (size_t)(c1 - line);
  if (hlen >= sizeof host)
    return XFER__ESYNTAX;
  memcpy(host, line, hlen);
  host[hlen] = 0;
  for (size_t i = 0; i < hlen; i++)
    if (host[i] >= 'A' && host[i] <= 'Z')
      host[i] = (char)(host[i] - 'A' + 'a');
  struct xfer__dns_entry *en = find_entry(d, host, (uint16_t)port, 1);
  if (remove) {
    if (en)
      drop_entry(en);
    return 0;
  }
  struct sockaddr_storage addrs[XFER__DNS_MAX_ADDRS];
  unsigned n = 0;
  for (const char *p = end + 1; *p && n < XFER__DNS_MAX_ADDRS;) {
    size_t len = strcspn(p, ",");
    const char *next = p[len] ? p + len + 1 : p + len;
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
      p++;
      len -= 2;
    }
    char a[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof a)
      return XFER__ESYNTAX;
    memcpy(a, p, len);
    a[len] = 0;
    if (!parse_numeric(a, &addrs[n]))
      return XFER__ESYNTAX;
    n++;
    p = next;
  }
  if (n == 0)
    return XFER__ESYNTAX;
  if (en && en->naddrs == n && memcmp(en->addrs, addrs, n * sizeof addrs[0]) == 0)
    return 0; /* the same entry again: the common case, no work */
  if (!en) {
    en = new_entry(d, host, hlen);
    if (!en)
      return -ENOMEM;
    en->port = (uint16_t)port;
    en->permanent = 1;
  }
  memcpy(en->addrs, addrs, n * sizeof addrs[0]);
  en->naddrs = n;
  return 0;
}

static void take_addrs(struct xfer_easy *e, const struct sockaddr_storage *a, unsigned n,
                       uint16_t port) {
  if (n > XFER__DNS_MAX_ADDRS)
    n = XFER__DNS_MAX_ADDRS;
  for (unsigned i = 0; i < n; i++) {
    e->x.addrs[i] = a[i];
    set_port(&e->x.addrs[i], port);
  }
  e->x.naddrs = n;
  e->x.next_addr = 0;
}

/* ---- the resolver threads ------------------------------------------------ */

static void shared_unref(struct xfer__dns_shared *s) {
  /* Called with s->lock held; unlocks it. */
  unsigned left = --s->refs;
  pthread_mutex_unlock(&s->lock);
  if (left)
    return;
  while (!xfer__queue_empty(&s->todo) || !xfer__queue_empty(&s->done)) {
    struct xfer__queue *q =
        xfer__queue_empty(&s->todo) ? xfer__queue_head(&s->done) : xfer__queue_head(&s->todo);
    struct xfer__dns_req *r = xfer__container_of(q, struct xfer__dns_req, link);
    xfer__queue_remove(q);
    xfer__free(r->host);
    xfer__free(r);
  }
  close(s->efd);
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->lock);
  xfer__free(s);
}

static void lookup(struct xfer__dns_req *r) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  r->err = getaddrinfo(r->host, NULL, &hints, &res);
  r->naddrs = 0;
  for (struct addrinfo *ai = res; ai && r->naddrs < XFER__DNS_MAX_ADDRS; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof r->addrs[0])
      continue;
    memset(&r->addrs[r->naddrs], 0, sizeof r->addrs[0]);
    memcpy(&r->addrs[r->naddrs], ai->ai_addr, ai->ai_addrlen);
    r->naddrs++;
  }
  if (res)
    freeaddrinfo(res);
}

static void *resolver_main(void *arg) {
  struct xfer__dns_shared *s = arg;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    while (!s->shutdown && xfer__queue_empty(&s->todo)) {
      s->idle_threads++;
      pthread_cond_wait(&s->cond, &s->lock);
      s->idle_threads--;
    }
    if (s->shutdown)
      break;
    struct xfer__queue *q = xfer__queue_head(&s->todo);
    xfer__queue_remove(q);
    struct xfer__dns_req *r = xfer__container_of(q, struct xfer__dns_req, link);
    pthread_mutex_unlock(&s->lock);
    lookup(r);
    pthread_mutex_lock(&s->lock);
    xfer__queue_insert_tail(&s->done, &r->link);
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof one) < 0) {
      /* The counter cannot overflow at one write per answer; nothing to do. */
    }
  }
  s->threads--;
  shared_unref(s);
  return NULL;
}

static int ensure_shared(struct xfer_multi *m) {
  struct xfer__dns *d = &m->dns;
  if (d->shared)
    return 0;
  struct xfer__dns_shared *s = xfer__calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->efd < 0) {
    int err = -errno; /* EMFILE as often as ENOMEM: the cause goes up */
    xfer__free(s);
    return err;
  }
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  xfer__queue_init(&s->todo);
  xfer__queue_init(&s->done);
  s->refs = 1; /* the multi's */
  d->shared = s;
  d->op.kind = XFER__OP_POLL_IN;
  d->op.fd = s->efd;
  d->op.flags = XFER__OPF_INTERNAL;
  d->op.token = (uint64_t)XFER__TOK_DNS << XFER__TOKEN_KIND_SHIFT;
  xfer__multi_submit(m, &d->op);
  return 0;
}

static int start_lookup(struct xfer_multi *m, struct xfer_easy *e) {
  int rc = ensure_shared(m);
  if (rc < 0)
    return rc;
  struct xfer__dns_shared *s = m->dns.shared;
  struct xfer__dns_req *r = xfer__calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->host = xfer__strdup(e->x.url->host);
  if (!r->host) {
    xfer__free(r);
    return -ENOMEM;
  }
  r->owner = e;
  pthread_mutex_lock(&s->lock);
  xfer__queue_insert_tail(&s->todo, &r->link);
  if (s->idle_threads == 0 && s->threads < XFER__DNS_THREADS) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, resolver_main, s) == 0) {
      s->threads++;
      s->refs++;
    }
    pthread_attr_destroy(&attr);
  }
  int no_thread = s->threads == 0;
  if (!no_thread)
    pthread_cond_signal(&s->cond);
  else
    xfer__queue_remove(&r->link);
  pthread_mutex_unlock(&s->lock);
  if (no_thread) {
    xfer__free(r->host);
    xfer__free(r);
    return -ENOMEM;
  }
  e->x.dns = r;
  return 1;
}

int xfer__dns_resolve(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__dns *d = &m->dns;
  const struct xfer__url *u = e->x.url;
  if (e->opt.resolve && (e->resolve_dirty || e->resolve_multi != m->id)) {
    for (const struct xfer_slist *l = e->opt.resolve; l; l = l->next) {
      int rc = apply_resolve_line(d, l->data);
      if (rc < 0) {
        xfer__easy_error(e, "Bad XFEROPT_RESOLVE entry: %s", l->data);
        return rc;
      }
    }
    e->resolve_dirty = 0;
    e->resolve_multi = m->id;
  }
  struct xfer__dns_entry *en = find_entry(d, u->host, u->port, 1);
  if (en) {
    take_addrs(e, en->addrs, en->naddrs, u->port);
    return 0;
  }
  struct sockaddr_storage sa;
  if (parse_numeric(u->host, &sa)) {
    take_addrs(e, &sa, 1, u->port);
    return 0;
  }
  en = find_entry(d, u->host, 0, 0);
  if (en && en->expires > m->now) {
    take_addrs(e, en->addrs, en->naddrs, u->port);
    return 0;
  }
  if (en)
    drop_entry(en);
  int rc = start_lookup(m, e);
  if (rc < 0)
    xfer__easy_error(e, "Could not start resolving %s: %s", u->host, xfer__err_text(rc));
  return rc;
}

void xfer__dns_cancel(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__dns_req *r = e->x.dns;
  if (!r)
    return;
  /* The thread may still be in getaddrinfo(); it will queue the answer to
   * nobody, and xfer__dns_process frees it. */
  pthread_mutex_lock(&m->dns.shared->lock);
  r->owner = NULL;
  pthread_mutex_unlock(&m->dns.shared->lock);
  e->x.dns = NULL;
}

void xfer__dns_process(struct xfer_multi *m) {
  struct xfer__dns *d = &m->dns;
  struct xfer__dns_shared *s = d->shared;
  if (!s)
    return;
  uint64_t cnt;
  if (read(s->efd, &cnt, sizeof cnt) < 0) {
    /* EAGAIN: a previous turn took these answers already. */
  }
  struct xfer__queue done;
  xfer__queue_init(&done);
  pthread_mutex_lock(&s->lock);
  while (!xfer__queue_empty(&s->done)) {
    struct xfer__queue *q = xfer__queue_head(&s->done);
    xfer__queue_remove(q);
    xfer__queue_insert_tail(&done, q);
  }
  pthread_mutex_unlock(&s->lock);
  while (!xfer__queue_empty(&done)) {
    struct xfer__queue *q = xfer__queue_head(&done);
    xfer__queue_remove(q);
    struct xfer__dns_req *r = xfer__container_of(q, struct xfer__dns_req, link);
    struct xfer_easy *e = r->owner;
    if (r->err == 0 && r->naddrs > 0) {
      struct xfer__dns_entry *en = find_entry(d, r->host, 0, 0);
      if (!en)
        en = new_entry(d, r->host, strlen(r->host));
      if (en) {
        memcpy(en->addrs, r->addrs, r->naddrs * sizeof r->addrs[0]);
        en->naddrs = r->naddrs;
        en->expires = m->now + XFER__DNS_TTL_US;
      }
    }
    if (e) {
      e->x.dns = NULL;
      if (r->err == 0 && r->naddrs > 0) {
        take_addrs(e, r->addrs, r->naddrs, e->x.url->port);
        xfer__transfer_resolved(m, e, 0);
      } else {
        xfer__easy_error(e, "Could not resolve host: %s (%s)", r->host,
                         r->err ? gai_strerror(r->err) : "no address");
        xfer__transfer_resolved(m, e, XFER__ENOHOST);
      }
    }
    xfer__free(r->host);
    xfer__free(r);
  }
  xfer__multi_submit(m, &d->op);
}

void xfer__dns_destroy(struct xfer_multi *m) {
  struct xfer__dns *d = &m->dns;
  while (!xfer__queue_empty(&d->cache))
    drop_entry(xfer__container_of(xfer__queue_head(&d->cache), struct xfer__dns_entry, link));
  struct xfer__dns_shared *s = d->shared;
  if (!s)
    return;
  if (d->op.armed)
    xfer__multi_cancel(m, &d->op);
  pthread_mutex_lock(&s->lock);
  s->shutdown = 1;
  pthread_cond_broadcast(&s->cond);
  /* Threads still in getaddrinfo() hold a reference and free the shared
   * part when they finish; cleanup never waits for a slow name server. */
  shared_unref(s);
  d->shared = NULL;
}
