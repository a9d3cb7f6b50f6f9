/* The io_uring backend's op table: what it must remember about an op in
 * flight without touching the op (see uring_int.h). */
#ifdef XFER_HAVE_URING

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "uring_int.h"
#include "../runtime/alloc.h"

/* 64 entries to start: a multi with a few connections has two ops per
 * connection plus its wakeup and DNS watches, so a smaller start would only
 * buy reallocations at the first connections. It then doubles. */
#define FIRST_CAP 64u
/* Per-fd heads start at 64 fds for the same reason as readiness.c's slots. */
#define FIRST_NFD 64

void xfer__uring_table_init(struct xfer__uring_table *t) {
  memset(t, 0, sizeof *t);
  t->free_head = XFER__URING_NIL;
}

void xfer__uring_table_free(struct xfer__uring_table *t) {
  xfer__free(t->ents);
  xfer__free(t->fd_head);
  xfer__uring_table_init(t);
}

static int grow_entries(struct xfer__uring_table *t) {
  uint32_t ncap = t->cap ? t->cap * 2 : FIRST_CAP;
  struct xfer__uring_ent *ents;

  if (t->cap >= (UINT32_MAX >> 2))
    return -ENOMEM;
  ents = xfer__realloc(t->ents, (size_t)ncap * sizeof *ents);
  if (ents == NULL)
    return -ENOMEM;
  t->ents = ents;
  /* New entries go on the free list in index order, after the old ones. */
  for (uint32_t i = t->cap; i < ncap; i++) {
    memset(&ents[i], 0, sizeof ents[i]);
    ents[i].fnext = i + 1 < ncap ? i + 1 : t->free_head;
  }
  t->free_head = t->cap;
  t->cap = ncap;
  return 0;
}

static int grow_fds(struct xfer__uring_table *t, int fd) {
  int n = t->nfd ? t->nfd : FIRST_NFD;
  uint32_t *heads;

  while (n <= fd)
    n = n > INT_MAX / 2 ? fd + 1 : n * 2;
  heads = xfer__realloc(t->fd_head, (size_t)n * sizeof *heads);
  if (heads == NULL)
    return -ENOMEM;
  for (int i = t->nfd; i < n; i++)
    heads[i] = XFER__URING_NIL;
  t->fd_head = heads;
  t->nfd = n;
  return 0;
}

uint32_t xfer__uring_table_add(struct xfer__uring_table *t, uint64_t token, int fd) {
  struct xfer__uring_ent *e;
  uint32_t i, gen;

  if (fd >= t->nfd && grow_fds(t, fd) != 0)
    return XFER__URING_NIL;
  if (t->free_head == XFER__URING_NIL && grow_entries(t) != 0)
    return XFER__URING_NIL;
  i = t->free_head;
  e = &t->ents[i];
  t->free_head = e->fnext;
  /* A new generation, so that completions of the entry's earlier use (a
   * closed fd's op awaiting its drop) no longer find it. 31 bits: see
   * xfer__uring_key(). Wrapping would take 2^31 reuses of one entry while
   * a completion of the first one is still on its way. */
  gen = (e->gen + 1) & 0x7fffffffu;
  memset(e, 0, sizeof *e);
  e->gen = gen;
  e->token = token;
  e->fd = fd;
  e->state = XFER__URING_LIVE;
  e->fnext = t->fd_head[fd];
  t->fd_head[fd] = i;
  e->on_fd = 1;
  t->used++;
  return i;
}

void xfer__uring_table_unlink_fd(struct xfer__uring_table *t, uint32_t i) {
  struct xfer__uring_ent *e = &t->ents[i];
  uint32_t *p;

  if (!e->on_fd)
    return;
  /* An fd's list holds its read-side and write-side op and, briefly, one
   * that was cancelled and awaits its completion: a walk of two or three. */
  for (p = &t->fd_head[e->fd]; *p != XFER__URING_NIL; p = &t->ents[*p].fnext) {
    if (*p == i) {
      *p = e->fnext;
      break;
    }
  }
  e->on_fd = 0;
  e->fnext = XFER__URING_NIL;
}

void xfer__uring_table_remove(struct xfer__uring_table *t, uint32_t i) {
  struct xfer__uring_ent *e = &t->ents[i];

  xfer__uring_table_unlink_fd(t, i);
  e->state = XFER__URING_FREE;
  e->fnext = t->free_head;
  t->free_head = i;
  t->used--;
}

uint32_t xfer__uring_table_fd_first(const struct xfer__uring_table *t, int fd) {
  if (fd < 0 || fd >= t->nfd)
    return XFER__URING_NIL;
  return t->fd_head[fd];
}

#else
/* ISO C forbids an empty translation unit. */
typedef int xfer_uring_table_unused;
#endif /* XFER_HAVE_URING */
