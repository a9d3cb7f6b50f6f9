/* The plain-program driver of a fuzz harness: runs every file named on the
 * command line, and every regular file of every directory named, through
 * LLVMFuzzerTestOneInput(), each in an allocation of exactly its size. It
 * is what the normal test suite runs (any compiler, any build type), so the
 * corpus is replayed on every test run; the libFuzzer build links
 * libFuzzer's own main instead. Exit status 0 when every input passed; a
 * failing check aborts. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Corpus files are small seeds; a larger file is a mistake in the corpus
 * directory, refused rather than read into memory. */
#define REPLAY_MAX_BYTES (16u << 20)

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct fuzz_buf b = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    fuzz_buf_put(&b, chunk, n);
    if (b.len > REPLAY_MAX_BYTES) {
      fprintf(stderr, "replay: %s: larger than %u bytes\n", path, REPLAY_MAX_BYTES);
      fclose(f);
      free(b.p);
      return -1;
    }
  }
  fclose(f);
  uint8_t *exact = (uint8_t *)fuzz_exact_copy(b.p, b.len);
  free(b.p);
  LLVMFuzzerTestOneInput(exact, b.len);
  free(exact);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs a directory's files in name order, so that a failure is
 * reproducible from the log alone. Returns the number run, or -1. */
static long run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t count = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if (count == cap) {
      cap = cap ? cap * 2 : 64;
      names = fuzz_xrealloc(names, cap * sizeof *names);
    }
    size_t len = strlen(dir) + strlen(de->d_name) + 2;
    names[count] = fuzz_xmalloc(len);
    snprintf(names[count], len, "%s/%s", dir, de->d_name);
    count++;
  }
  closedir(d);
  qsort(names, count, sizeof *names, cmp_names);
  long ran = 0;
  for (size_t i = 0; i < count; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(names[i]) < 0)
        ran = -1;
      else if (ran >= 0)
        ran++;
    }
    free(names[i]);
  }
  free(names);
  return ran;
}

int main(int argc, char **argv) {
  long total = 0;
  int failed = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      failed = 1;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      long n = run_dir(argv[i]);
      if (n < 0)
        failed = 1;
      else
        total += n;
    } else if (run_file(argv[i]) < 0) {
      failed = 1;
    } else {
      total++;
    }
  }
  /* An empty corpus proves nothing: a missing seed generator must fail. */
  if (total == 0) {
    fprintf(stderr, "replay: no input found\n");
    return 1;
  }
  printf("replay: %ld inputs passed\n", total);
  return failed;
}
