/*
 * `hostel img` linked with hostel-block and hostel-util only, no emulator:
 * the block test suite builds it and runs `img_only --help`, so a
 * dependency of the img commands on the emulator breaks the build here.
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return cmd_img.run(argc, argv);
}
