/* ternctl's commands that signal the running daemon (reload, drain). */
#ifndef TERN_AUTH_TERNCTL_SIGNAL_H
#define TERN_AUTH_TERNCTL_SIGNAL_H

#include <stdio.h>

/* Parses [--pidfile FILE] and sends sig; returns the exit code. */
int signal_daemon(int argc, char **argv, int sig, void (*help)(FILE *));
void signal_help(FILE *out, const char *cmd, const char *what);

#endif
