/* `ternctl audit verify FILE`: recomputes an audit trail's hash chain. */
#ifndef TERN_AUTH_TERNCTL_AUDIT_H
#define TERN_AUTH_TERNCTL_AUDIT_H

#include <stdio.h>

int cmd_audit(int argc, char **argv);
void audit_help(FILE *out);

#endif
