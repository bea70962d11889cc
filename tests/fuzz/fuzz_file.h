/* For the fuzz targets whose parser reads a file (config, secrets, the
 * revocation snapshot): one scratch directory per process, in /dev/shm when
 * it exists (tmpfs: no disk I/O per execution), and a helper that writes the
 * input to a file in it with a chosen mode. Header-only on purpose: each
 * target stays one translation unit. */
#ifndef TERN_FUZZ_FILE_H
#define TERN_FUZZ_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir_path[64];

/* At exit: the files the targets write (and revocation_set_write's .tmp), then the directory. */
static void fuzz_dir_remove(void)
{
	static const char *const names[] = { "secrets", "ternd.conf", "snapshot", "snapshot.tmp" };
	char path[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_dir_path, names[i]);
		unlink(path);
	}
	rmdir(fuzz_dir_path);
}

/* The scratch directory, created on first use; aborts if it cannot be. */
static const char *fuzz_dir(void)
{
	if (!fuzz_dir_path[0]) {
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "%s/tern-fuzz-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(fuzz_dir_path))
			abort();
		atexit(fuzz_dir_remove);
	}
	return fuzz_dir_path;
}

/* Writes d[0..size) to <fuzz_dir>/name with mode; returns the path (static). */
static const char *fuzz_write(const char *name, const uint8_t *d, size_t size, mode_t mode)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || (size && write(fd, d, size) != (ssize_t)size) || close(fd) < 0)
		abort();
	return path;
}

#endif
