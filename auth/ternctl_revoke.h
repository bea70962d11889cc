/* ternctl's revocation commands (the stream layout is in revocation_feed.h). */
#ifndef TERN_AUTH_TERNCTL_REVOKE_H
#define TERN_AUTH_TERNCTL_REVOKE_H

#include <stdio.h>

int cmd_revoke(int argc, char **argv);
void revoke_help(FILE *out);
int cmd_revocations(int argc, char **argv);
void revocations_help(FILE *out);

#endif
