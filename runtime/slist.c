/* String lists (struct xfer_slist), with libcurl's curl_slist semantics.
 *
 * Every allocation goes through the hooks of runtime/alloc.h, so that the
 * out-of-memory tests can fail any one of them and the allocation counters
 * see them all. */
#include "alloc.h"
#include "xfer/xfer.h"

#include <stddef.h>

struct xfer_slist *xfer_slist_append(struct xfer_slist *list, const char *data) {
  /* libcurl does not check data either; a NULL string is a caller bug, but
   * failing cleanly costs nothing and beats a crash inside strdup. */
  if (data == NULL)
    return NULL;

  /* Allocate both parts before touching the list, so that a failure leaves
   * the caller's list exactly as it was: the caller still owns it and must
   * free it, as with libcurl. */
  struct xfer_slist *node = xfer__malloc(sizeof(*node));
  if (node == NULL)
    return NULL;
  node->data = xfer__strdup(data);
  if (node->data == NULL) {
    xfer__free(node);
    return NULL;
  }
  node->next = NULL;

  if (list == NULL)
    return node;

  /* Appending walks the list, as libcurl does; header lists are short, and
   * keeping no tail pointer keeps the struct identical to curl_slist. */
  struct xfer_slist *last = list;
  while (last->next != NULL)
    last = last->next;
  last->next = node;
  return list;
}

void xfer_slist_free_all(struct xfer_slist *list) {
  while (list != NULL) {
    struct xfer_slist *next = list->next;
    xfer__free(list->data);
    xfer__free(list);
    list = next;
  }
}
