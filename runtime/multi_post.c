/* Cross-thread submission: xfer_multi_post() hands an easy handle to a multi
 * that another thread drives, with no lock (docs/internals/cross-thread.md).
 *
 * Producers push the handle on the multi's MPSC queue (mpsc.h) and wake the
 * multi with its eventfd; the owner thread takes the queue up at the start of
 * its next perform, poll or socket_action and adds each handle as
 * xfer_multi_add_handle() would have, in the order they were pushed. From the
 * push on, the handle is the owner's: its message, its removal and what
 * happens to it next are decided on the owner's thread. */
#include <stdatomic.h>

#include "multi.h"
#include "transfer.h"

xfer_mcode xfer_multi_post(xfer_multi *m, xfer_easy *e) {
  /* Both magics were written before the handles were shared with this
   * thread; racing xfer_multi_cleanup() is the caller's bug, as with
   * xfer_multi_wakeup(). */
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (!xfer__easy_valid(e))
    return XFERM_BAD_EASY_HANDLE;
  /* Claimed once: a second post of a handle already on its way is refused
   * rather than linked twice into the queue. */
  uint8_t idle = 0;
  if (!atomic_compare_exchange_strong_explicit(&e->posted, &idle, 1, memory_order_acq_rel,
                                               memory_order_relaxed))
    return XFERM_ADDED_ALREADY;
  xfer__mpsc_push(&m->posts, &e->post_node);
  /* After the push, so that the owner, once woken, finds the handle (or a
   * push half done, which this very wakeup will bring it back for). */
  return xfer_multi_wakeup(m) == XFERM_OK ? XFERM_OK : XFERM_WAKEUP_FAILURE;
}

void xfer__multi_take_posts_slow(struct xfer_multi *m) {
  /* Bounded per call, so that producers that never stop cannot keep the
   * owner from its transfers; the rest wait for the next call, which the
   * wakeup each of them sent guarantees. */
  for (unsigned n = 0; n < 4096; n++) {
    struct xfer__mpsc_node *node = xfer__mpsc_pop(&m->posts);
    if (!node)
      return;
    struct xfer_easy *e = xfer__container_of(node, struct xfer_easy, post_node);
    atomic_store_explicit(&e->posted, 0, memory_order_relaxed);
    if (xfer__multi_add(m, e) == XFERM_OUT_OF_MEMORY) {
      /* No one to return the code to: the transfer is added and fails at
       * once, so its producer's protocol (a message per post) still holds. */
      e->multi = m;
      xfer__queue_insert_tail(&m->easies, &e->multi_link);
      m->nadded++;
      e->msg_queued = 0;
      xfer__transfer_start(m, e);
      xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY,
                          "Out of memory taking up a transfer posted from another thread");
    }
    /* XFERM_ADDED_ALREADY: the handle was also added by hand, which the
     * ownership rules forbid; it runs once, in the multi that has it. */
  }
}
