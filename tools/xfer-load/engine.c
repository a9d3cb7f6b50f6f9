/* The load engine: one multi handle and, per connection, one easy handle
 * per URL, driven by the loop a libcurl multi user writes (perform,
 * info_read, poll). A finished request's slot adds its next handle (the
 * next URL in turn, or the same one again), so the connection goes back to
 * the pool and is reused; the handles are set up once and nothing is
 * allocated per request, which keeps the tool's own cost out of the way of
 * the library's. */
#include "load.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <xfer/xfer.h>

#define NS_PER_S UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)

/* The longest single wait: the loop normally wakes on I/O, the deadline or
 * xfer_multi_wakeup(); this only bounds how long a lost wake-up could delay
 * the end of a run. */
#define MAX_POLL_MS 1000

/* One parallel transfer: an easy handle per URL, the one in flight, and
 * when its request started. */
struct load_slot {
  xfer_easy *easy[LOAD_MAX_URLS];
  int next;            /* the handle of the next request */
  xfer_easy *current;  /* the handle in flight */
  struct load_result *result;
  uint64_t started_ns;
};

/* The request headers, one list for every handle (the library reads it at
 * each request and does not copy it). */
static struct xfer_slist *header_list;

/* Set by SIGINT: the run stops early and still reports what it measured.
 * The multi is only read by the handler, and is set before the handler is
 * installed and cleared after it is removed. */
static volatile sig_atomic_t interrupted;
static xfer_multi *signal_multi;

static void on_sigint(int sig)
{
  (void)sig;
  interrupted = 1;
  xfer_multi_wakeup(signal_multi);
}

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static double tv_seconds(struct timeval tv)
{
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Counts the body and throws it away: a load generator only needs to know
 * that it arrived. */
static size_t discard_body(char *data, size_t size, size_t nmemb, void *userdata)
{
  (void)data;
  struct load_slot *slot = userdata;
  slot->result->body_bytes += (uint64_t)size * nmemb;
  return size * nmemb;
}

static int setup_easy(xfer_easy *e, struct load_slot *slot, const struct load_options *o,
                      const char *url)
{
  int head = o->method && strcmp(o->method, "HEAD") == 0;
  struct {
    const char *name;
    xfer_code rc;
  } set[] = {
      {"XFEROPT_URL", xfer_easy_setopt(e, XFEROPT_URL, url)},
      {"XFEROPT_WRITEFUNCTION",
       xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, (xfer_write_callback)discard_body)},
      {"XFEROPT_WRITEDATA", xfer_easy_setopt(e, XFEROPT_WRITEDATA, (void *)slot)},
      {"XFEROPT_PRIVATE", xfer_easy_setopt(e, XFEROPT_PRIVATE, (void *)slot)},
      /* No signals: the tool is single-threaded, but that is what every
       * multi user with threads must set, and the peers' loop sets it too. */
      {"XFEROPT_NOSIGNAL", xfer_easy_setopt(e, XFEROPT_NOSIGNAL, 1L)},
      /* -k turns off both checks, as curl's does. */
      {"XFEROPT_SSL_VERIFYPEER",
       xfer_easy_setopt(e, XFEROPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L)},
      {"XFEROPT_SSL_VERIFYHOST",
       xfer_easy_setopt(e, XFEROPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L)},
      {"XFEROPT_CAINFO", xfer_easy_setopt(e, XFEROPT_CAINFO, o->cacert)},
      {"XFEROPT_HTTPHEADER", xfer_easy_setopt(e, XFEROPT_HTTPHEADER, header_list)},
      {"XFEROPT_TIMEOUT_MS", xfer_easy_setopt(e, XFEROPT_TIMEOUT_MS, o->timeout_ms)},
      /* A body makes the request a POST, with its exact length; the bytes
       * are the tool's and outlive every transfer. */
      {"XFEROPT_POSTFIELDSIZE_LARGE",
       o->body ? xfer_easy_setopt(e, XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)o->body_len)
               : XFERE_OK},
      {"XFEROPT_POSTFIELDS", o->body ? xfer_easy_setopt(e, XFEROPT_POSTFIELDS, o->body) : XFERE_OK},
      /* HEAD is the one method whose answer has no body whatever it says:
       * the library must know, as libcurl's NOBODY tells it. */
      {"XFEROPT_NOBODY", head ? xfer_easy_setopt(e, XFEROPT_NOBODY, 1L) : XFERE_OK},
      {"XFEROPT_CUSTOMREQUEST",
       o->method && !head ? xfer_easy_setopt(e, XFEROPT_CUSTOMREQUEST, o->method) : XFERE_OK},
  };
  for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
    if (set[i].rc != XFERE_OK) {
      fprintf(stderr, "xfer-load: cannot set %s: %s\n", set[i].name,
              xfer_easy_strerror(set[i].rc));
      return -1;
    }
  }
  return 0;
}

static int setup_slot(struct load_slot *slot, const struct load_options *o,
                      const char *const *urls, int nurls, struct load_result *r)
{
  slot->result = r;
  for (int u = 0; u < nurls; u++) {
    slot->easy[u] = xfer_easy_init();
    if (!slot->easy[u]) {
      fprintf(stderr, "xfer-load: xfer_easy_init failed (out of memory)\n");
      return -1;
    }
    if (setup_easy(slot->easy[u], slot, o, urls[u]) < 0)
      return -1;
  }
  return 0;
}

/* Adds the slot's next request: the next URL in turn. */
static xfer_mcode start(xfer_multi *m, struct load_slot *slot, int nurls, uint64_t now)
{
  slot->current = slot->easy[slot->next];
  slot->next = slot->next + 1 == nurls ? 0 : slot->next + 1;
  slot->started_ns = now;
  return xfer_multi_add_handle(m, slot->current);
}

static int setup_multi(xfer_multi *m, const struct load_options *o, long slots)
{
  if (o->backend != XFER_BACKEND_AUTO &&
      xfer_multi_setopt(m, XFERMOPT_BACKEND, o->backend) != XFERM_OK) {
    fprintf(stderr, "xfer-load: backend %s is not available in this build or kernel\n",
            o->backend_name);
    return -1;
  }
  /* Exactly one connection per transfer: the comparison with wrk -cC and
   * h2load -cC only holds when C connections carry the load. */
  xfer_mcode mc = xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, slots);
  if (mc == XFERM_OK)
    mc = xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, slots);
  if (mc != XFERM_OK) {
    fprintf(stderr, "xfer-load: cannot limit the multi to %ld connections: %s\n", slots,
            xfer_multi_strerror(mc));
    return -1;
  }
  /* The pool must keep every idle connection, or a handle re-added a moment
   * later would have to open a new one. The result is not checked: the
   * pool's own default may already be large enough, and the connection
   * count in the report shows whether it was. */
  xfer_multi_setopt(m, XFERMOPT_MAXCONNECTS, slots);
  return 0;
}

/* Books one finished transfer. */
static void account(struct load_result *r, struct load_slot *slot, xfer_code rc, uint64_t t,
                    int *header_info)
{
  long n = 0;
  xfer_easy *e = slot->current;
  if (xfer_easy_getinfo(e, XFERINFO_NUM_CONNECTS, &n) == XFERE_OK && n > 0)
    r->connections += (uint64_t)n;
  struct xfer_tlssessioninfo *ti = NULL;
  if (xfer_easy_getinfo(e, XFERINFO_TLS_SSL_PTR, &ti) == XFERE_OK && ti &&
      ti->backend) {
    r->tls_backend = ti->backend;
    long resumed = 0;
    if (n > 0) {
      r->handshakes += (uint64_t)n;
      if (xfer_easy_getinfo(e, XFERINFO_TLS_SESSION_RESUMED, &resumed) == XFERE_OK &&
          resumed)
        r->resumed++;
    }
  }
  if (rc != XFERE_OK) {
    r->errors++;
    unsigned idx = (unsigned)rc < LOAD_MAX_CODES ? (unsigned)rc : LOAD_MAX_CODES - 1;
    r->errors_by_code[idx]++;
    return;
  }
  r->requests++;
  histogram_record(&r->latency, t - slot->started_ns);
  long status = 0;
  xfer_easy_getinfo(e, XFERINFO_RESPONSE_CODE, &status);
  /* 1xx never ends a transfer, so below 200 means no status at all. */
  if (status < 200 || status >= 400)
    r->bad_status++;
  r->by_status[status >= 100 && status < LOAD_MAX_STATUS ? status : 0]++;
  /* The header size makes the byte count comparable with wrk's, which
   * counts every byte read; it is asked for until the library says it does
   * not have it. */
  if (*header_info) {
    long hs = 0;
    if (xfer_easy_getinfo(e, XFERINFO_HEADER_SIZE, &hs) == XFERE_OK && hs >= 0) {
      r->header_bytes += (uint64_t)hs;
    } else {
      *header_info = 0;
      r->header_bytes = 0;
    }
  }
}

/* The main loop; returns when the run is over, with the handles still in
 * flight left added. A multi error ends the run early, with what was
 * measured until then kept and the error noted in r->aborted. */
static void drive(xfer_multi *m, const struct load_options *o, struct load_slot *slots,
                  long nslots, int nurls, struct load_result *r)
{
  int header_info = 1;
  uint64_t issued = 0;
  long active = 0;
  uint64_t start_ns = now_ns();
  uint64_t deadline = UINT64_MAX;
  if (o->duration_s > 0.0)
    deadline = start_ns + (uint64_t)(o->duration_s * (double)NS_PER_S);

  for (long i = 0; i < nslots; i++) {
    /* Each connection starts at a different URL, so that all of them are
     * asked for from the first round on. */
    slots[i].next = (int)(i % nurls);
    xfer_mcode mc = start(m, &slots[i], nurls, start_ns);
    if (mc != XFERM_OK) {
      r->aborted = xfer_multi_strerror(mc);
      goto done;
    }
    issued++;
    active++;
  }

  uint64_t now = start_ns;
  while (active > 0) {
    int running = 0;
    xfer_mcode mc = xfer_multi_perform(m, &running);
    if (mc != XFERM_OK) {
      r->aborted = xfer_multi_strerror(mc);
      break;
    }
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != XFERMSG_DONE)
        continue;
      /* The message is only valid until the handle is removed, so what it
       * says is taken out first. */
      xfer_easy *e = msg->easy_handle;
      xfer_code rc = msg->data.result;
      char *priv = NULL;
      xfer_easy_getinfo(e, XFERINFO_PRIVATE, &priv);
      struct load_slot *slot = (struct load_slot *)(void *)priv;
      now = now_ns();
      account(r, slot, rc, now, &header_info);
      xfer_multi_remove_handle(m, e);
      active--;
      int more = o->requests ? issued < o->requests : now < deadline;
      if (more && !interrupted) {
        mc = start(m, slot, nurls, now);
        if (mc != XFERM_OK) {
          r->aborted = xfer_multi_strerror(mc);
          goto done;
        }
        issued++;
        active++;
      }
    }
    if (active == 0 || interrupted)
      break;
    now = now_ns();
    if (now >= deadline)
      break;
    int timeout = MAX_POLL_MS;
    if (deadline != UINT64_MAX) {
      /* Rounded up, so the loop does not spin through the last millisecond. */
      uint64_t left_ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
      if (left_ms < (uint64_t)timeout)
        timeout = (int)left_ms;
    }
    mc = xfer_multi_poll(m, NULL, 0, timeout, NULL);
    if (mc != XFERM_OK) {
      r->aborted = xfer_multi_strerror(mc);
      break;
    }
  }
done:
  r->header_bytes_known = header_info;
  r->elapsed_s = (double)(now_ns() - start_ns) / (double)NS_PER_S;
}

int engine_run(const struct load_options *o, const char *const *urls, int nurls,
               struct load_result *r)
{
  memset(r, 0, sizeof *r);
  histogram_init(&r->latency);
  long nslots = o->connections;
  if (o->requests && (uint64_t)nslots > o->requests)
    nslots = (long)o->requests;
  r->slots = nslots;

  xfer_multi *m = xfer_multi_init();
  if (!m) {
    fprintf(stderr, "xfer-load: xfer_multi_init failed\n");
    return 1;
  }
  struct load_slot *slots = calloc((size_t)nslots, sizeof *slots);
  int status = slots ? 0 : 1;
  if (!slots)
    fprintf(stderr, "xfer-load: out of memory for %ld transfers\n", nslots);
  if (status == 0 && setup_multi(m, o, nslots) < 0)
    status = 1;
  if (status == 0 && xfer_multi_backend(m))
    snprintf(r->backend, sizeof r->backend, "%s", xfer_multi_backend(m));
  for (int i = 0; status == 0 && i < o->nheaders; i++) {
    struct xfer_slist *l = xfer_slist_append(header_list, o->headers[i]);
    if (!l) {
      fprintf(stderr, "xfer-load: out of memory for the request headers\n");
      status = 1;
    }
    header_list = l;
  }
  for (long i = 0; status == 0 && i < nslots; i++)
    if (setup_slot(&slots[i], o, urls, nurls, r) < 0)
      status = 1;

  if (status == 0) {
    signal_multi = m;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    /* A second Ctrl-C kills the tool the ordinary way, should the first
     * not stop it. */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old);

    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    drive(m, o, slots, nslots, nurls, r);
    getrusage(RUSAGE_SELF, &after);

    sigaction(SIGINT, &old, NULL);
    signal_multi = NULL;
    r->interrupted = interrupted;
    r->user_s = tv_seconds(after.ru_utime) - tv_seconds(before.ru_utime);
    r->sys_s = tv_seconds(after.ru_stime) - tv_seconds(before.ru_stime);
  }

  /* Cleaning an easy handle removes it from the multi first, which also
   * drops the transfers still in flight when the time ran out. */
  for (long i = 0; slots && i < nslots; i++)
    for (int u = 0; u < nurls; u++)
      xfer_easy_cleanup(slots[i].easy[u]);
  free(slots);
  xfer_multi_cleanup(m);
  xfer_slist_free_all(header_list);
  header_list = NULL;
  return status;
}
