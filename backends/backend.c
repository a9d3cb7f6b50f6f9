/* The backend registry: which backends this build has, in which order AUTO
 * tries them, and the XFER_BACKEND environment override.
 *
 * An explicit choice is honoured or refused, never replaced: a user who asks
 * for io_uring and silently gets epoll would benchmark the wrong thing, and a
 * test suite run "on every backend" would test one backend twice. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "uring.h"

/* Preference order for XFER__BACKEND_AUTO: the first that initialises wins.
 * Completion-based backends come first because they need no emulation and
 * fewer syscalls per request; poll is last, the portable fallback that is
 * O(fds) per wait. */
static const struct xfer__backend_vtable *const registry[] = {
#ifdef XFER_HAVE_URING
    /* First: its init fails with -errno when the kernel or a seccomp policy
   * refuses it (or lacks the buffer ring), and AUTO moves on to epoll. */
    &xfer__backend_io_uring,
#endif
    &xfer__backend_epoll,
    &xfer__backend_poll,
};

#define NREGISTRY (sizeof registry / sizeof registry[0])

/* Every name a backend can have, built in or not, indexed by id: a name that
 * is known but not built in is an answer ("not provided here"), not a typo. */
static const char *const names[] = {
    [XFER__BACKEND_AUTO] = "auto",
    [XFER__BACKEND_POLL] = "poll",
    [XFER__BACKEND_EPOLL] = "epoll",
    [XFER__BACKEND_IO_URING] = "io_uring",
};

#define NNAMES (sizeof names / sizeof names[0])

static const struct xfer__backend_vtable *find(enum xfer__backend_id id) {
  for (size_t i = 0; i < NREGISTRY; i++)
    if (registry[i]->id == id)
      return registry[i];
  return NULL;
}

int xfer__backend_create(enum xfer__backend_id want, xfer__complete_fn complete, void *ctx,
                         struct xfer__backend **out) {
  const struct xfer__backend_vtable *vt;
  int rc = -ENOTSUP;

  *out = NULL;
  if (want == XFER__BACKEND_AUTO) {
    for (size_t i = 0; i < NREGISTRY; i++) {
      rc = registry[i]->init(out, complete, ctx);
      if (rc == 0)
        return 0;
    }
    /* Every backend refused: the last one's reason is the most basic. */
    return rc;
  }
  if ((unsigned)want >= NNAMES)
    return -EINVAL;
  vt = find(want);
  if (vt == NULL)
    return -ENOTSUP;
  return vt->init(out, complete, ctx);
}

int xfer__backend_from_env(void) {
  /* Read once, when a multi chooses its backend; never on a hot path. */
  const char *v = getenv("XFER_BACKEND");

  if (v == NULL || *v == '\0')
    return XFER__BACKEND_AUTO;
  for (size_t id = 0; id < NNAMES; id++)
    if (strcmp(v, names[id]) == 0)
      return (int)id;
  return -EINVAL;
}

int xfer__backend_built_in(enum xfer__backend_id id) { return find(id) != NULL; }

const char *xfer__backend_name(enum xfer__backend_id id) {
  if ((unsigned)id >= NNAMES)
    return "unknown";
  return names[id];
}

const char *xfer__backend_list(void) {
  /* Spelled out rather than joined at run time, so that it is a constant
   * any thread may read without a once-guard. It lists the registry in its
   * order; test_backend.c checks that the two agree. */
#ifdef XFER_HAVE_URING
  return "io_uring,epoll,poll";
#else
  return "epoll,poll";
#endif
}
