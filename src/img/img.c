/* `hostel img` dispatch (placeholder until the subcommands land). */
#include "img/img.h"

void img_help(FILE *out)
{
    fprintf(out, "usage: hostel img COMMAND [options]\n");
}

int img_main(int argc, char **argv)
{
    fprintf(stderr, "hostel img: not implemented yet\n");
    return 1;
}
