/*
 * `hostel img`: create, inspect, check and convert disk images with
 * qemu-img's vocabulary (src/img/img.c dispatches the subcommands).
 */
#ifndef HOSTEL_IMG_IMG_H
#define HOSTEL_IMG_IMG_H

#include <stdio.h>

/* argv[0] is "img".  Returns the process exit status. */
int img_main(int argc, char **argv);

/* Usage text for `hostel help img`. */
void img_help(FILE *out);

#endif
