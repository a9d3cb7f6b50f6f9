/* Response limits for the fuzz harnesses, set the way a user sets them:
 * through xfer_easy_setopt() on an easy handle, then read back as the
 * transfer reads them (transfer_recv.c builds its xfer__http_limits from the
 * same three option fields). So a harness can never use a limit the public
 * options would refuse. */
#ifndef XFER_TESTS_FUZZ_LIMITS_H
#define XFER_TESTS_FUZZ_LIMITS_H

#include "fuzz.h"
#include "runtime/easy.h"
#include "runtime/http.h"
#include "xfer/xfer.h"

/* Takes 7 bytes of input: a flag byte saying which limits to set, then
 * three 16-bit values. A value the option refuses leaves the default, as it
 * would for a user. Small limits are favoured, so that short inputs reach
 * them. */
static inline struct xfer__http_limits fuzz_limits(struct fuzz_in *in) {
  static xfer_easy *e;
  if (!e) {
    e = xfer_easy_init();
    FUZZ_CHECK(e != NULL, "xfer_easy_init failed");
  }
  xfer_easy_reset(e);
  unsigned which = fuzz_u8(in);
  long head = (long)fuzz_u16(in), line = (long)fuzz_u16(in), count = (long)fuzz_u16(in);
  /* Half the range is each option's own floor and the other half goes a
   * little below it, so the refusal path is taken too. */
  if (which & 1)
    (void)xfer_easy_setopt(e, XFEROPT_MAX_HEAD_SIZE, head * 8 - 1024);
  if (which & 2)
    (void)xfer_easy_setopt(e, XFEROPT_MAX_HEADER_LINE, line - 64);
  if (which & 4)
    (void)xfer_easy_setopt(e, XFEROPT_MAX_HEADER_COUNT, (which & 8) ? count * 16 : count % 64);
  struct xfer__http_limits l = {e->opt.max_head, e->opt.max_line, e->opt.max_headers};
  return l;
}

#endif
