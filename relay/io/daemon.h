/* The daemon: loads the configuration, starts the workers, waits for a
 * signal, stops. The main thread is the control thread of DESIGN.md. */
#ifndef TERN_RELAY_IO_DAEMON_H
#define TERN_RELAY_IO_DAEMON_H

/* Runs until SIGTERM or SIGINT (or the end of a drain); returns the process
 * exit code. With a pidfile path, the pid is written there while running. */
int daemon_run(const char *config_path, const char *pidfile);
/* Loads and validates the configuration only; returns the exit code. */
int daemon_check_config(const char *config_path);

#endif
