/* The log prefix: "hostel", or "hostel[NAME]" once the VM is named (--name). */
#include "util/log.h"

#include <stdio.h>

static char log_prefix_buf[96] = "hostel";

void log_set_name(const char *name)
{
    snprintf(log_prefix_buf, sizeof(log_prefix_buf), "hostel[%s]", name);
}

const char *log_prefix(void)
{
    return log_prefix_buf;
}
