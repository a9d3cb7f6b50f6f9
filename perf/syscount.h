/* Counting a process's kernel entries with perf_event_open on the
 * raw_syscalls:sys_enter tracepoint: exact counts (not sampled), no ptrace,
 * and cheap enough to leave on during a measurement. */
#ifndef XFER_PERF_SYSCOUNT_H
#define XFER_PERF_SYSCOUNT_H

#include <sys/types.h>

/* A counter of the system calls made by pid (0: the calling thread), or -1
 * when the tracepoint is unavailable (tracefs not mounted, no permission,
 * kernel without tracepoints); *why then says which, for a report label.
 * With on_exec the counter starts at pid's next execve and also counts the
 * threads and children it creates from then on: that is how a separate
 * program (wrk) is measured. */
int syscount_open(pid_t pid, int on_exec, const char **why);

/* The count so far, or -1 on a read error. */
long long syscount_read(int fd);

#endif
