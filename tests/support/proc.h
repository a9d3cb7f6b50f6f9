/*
 * Child processes for the test support code (prefix ts_proc_): the certificate
 * generator (certs.c) and the odd TLS servers (tls_odd.c) run external tools,
 * and they share these helpers so every child is started and stopped the same
 * careful way nginx.c does it.
 *
 * Every child runs in its own process group, gets PR_SET_PDEATHSIG(SIGKILL)
 * (tied to the thread that spawned it, as nginx.h explains), starts with only
 * descriptors 0, 1 and 2 open and default signal handling, and every wait for
 * it is bounded in time.
 */
#ifndef XFER_TESTS_PROC_H
#define XFER_TESTS_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* The full path of an executable: name itself when it contains a '/', else
 * the first match in $PATH. 0 on success, -1 when there is none. */
int ts_proc_which(const char *name, char *out, size_t outlen);

/*
 * fork/exec argv[0], which must be a path (see ts_proc_which()), with
 * in_fd/out_fd/err_fd as its descriptors 0/1/2 (-1 = /dev/null) and, when cwd
 * is not NULL, cwd as its working directory. Returns the pid (which is also
 * the process group id) or -1 with a message on stderr.
 */
pid_t ts_proc_spawn(char *const argv[], const char *cwd, int in_fd, int out_fd, int err_fd);

/* Waits at most timeout_ms for pid to exit and returns its exit code (128+N
 * when killed by signal N). On timeout it kills the whole group, reaps it and
 * returns -1. */
int ts_proc_wait(pid_t pid, int timeout_ms);

/* SIGTERM to the group, at most grace_ms for pid to exit, then SIGKILL to
 * the group, reap, and a final SIGKILL sweep of the group. */
void ts_proc_stop(pid_t pid, int grace_ms);

/*
 * Runs argv like ts_proc_spawn() (stdin /dev/null, stderr inherited), captures
 * at most outlen-1 bytes of its stdout into out (NUL-terminated; the rest is
 * read and dropped so the child never blocks) and returns its exit code, or
 * -1 when it could not run or did not finish within timeout_ms.
 */
int ts_proc_run(char *const argv[], const char *cwd, char *out, size_t outlen, int timeout_ms);

/* The last cap-1 bytes of the file at path into out (NUL-terminated; empty
 * when it cannot be read): the tail of a child's log, for a message. */
void ts_proc_read_tail(const char *path, char *out, size_t cap);

/* Removes dir and everything below it (a private mkdtemp() directory);
 * an empty path is a no-op. */
void ts_proc_rm_tree(const char *dir);

#endif
