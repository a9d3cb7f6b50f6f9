/* See syscount.h. */
#include "syscount.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* tracefs is usually mounted at the first path; older systems reach it only
 * through debugfs. perf/run.sh mounts it in a private mount namespace when
 * neither is there, so the machine's own mounts stay as they are. */
static const char *const ID_PATHS[] = {
    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
    "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

static long long tracepoint_id(void) {
  for (size_t i = 0; i < sizeof ID_PATHS / sizeof ID_PATHS[0]; i++) {
    FILE *f = fopen(ID_PATHS[i], "r");
    if (!f)
      continue;
    long long id = -1;
    if (fscanf(f, "%lld", &id) != 1)
      id = -1;
    fclose(f);
    if (id >= 0)
      return id;
  }
  return -1;
}

int syscount_open(pid_t pid, int on_exec, const char **why) {
  long long id = tracepoint_id();
  if (id < 0) {
    *why = "tracefs not mounted";
    return -1;
  }
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = (unsigned long long)id;
  /* Counting only: no samples, so no ring buffer and no wake-ups. */
  attr.sample_period = 0;
  if (on_exec) {
    attr.disabled = 1;
    attr.enable_on_exec = 1;
    attr.inherit = 1;
  }
  /* cpu -1: follow the task on whichever CPU it runs. */
  long fd = syscall(SYS_perf_event_open, &attr, pid, -1, -1, 0UL);
  if (fd < 0) {
    *why = errno == EACCES || errno == EPERM ? "perf_event_open not permitted"
                                             : "perf_event_open failed";
    return -1;
  }
  *why = NULL;
  return (int)fd;
}

long long syscount_read(int fd) {
  unsigned long long v = 0;
  if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
    return -1;
  return (long long)v;
}
