/* The control-socket subcommands of `hostel`: ctl, pause, resume (argv[0] is the subcommand). */
#ifndef HOSTEL_CONTROL_CTL_H
#define HOSTEL_CONTROL_CTL_H

#include <stdio.h>

/* Each returns the process exit status: 0, 1 (the VM said no or is absent), 2 (usage). */
int ctl_main(int argc, char **argv);
int ctl_pause_main(int argc, char **argv);
int ctl_resume_main(int argc, char **argv);

void ctl_help(FILE *out);
void ctl_pause_help(FILE *out);
void ctl_resume_help(FILE *out);

#endif
