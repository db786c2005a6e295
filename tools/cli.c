/* The front ends' shared reports and the global log options (see cli.h). */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

#include "util/log.h"

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hostel%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, " (see 'hostel %s --help')\n", cmd);
    else
        fprintf(stderr, " (see 'hostel help')\n");
    return CLI_EXIT_USAGE;
}

int cli_fail(const Error *err)
{
    fprintf(stderr, "hostel: %s\n", err->msg);
    return CLI_EXIT_FAIL;
}

bool cli_is_help(int argc, char **argv)
{
    return argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
}

void cli_log_options_help(FILE *out)
{
    fprintf(out, "      --log-level LEVEL  messages shown: error, warn, info (default) or debug\n"
                 "      --log-format FMT   text (default: 'hostel[NAME]: warning: ...') or json\n"
                 "                         (one object per line: ts, level, vm, msg)\n");
}

int cli_log_option(const char *cmd, const char *name, const char *value)
{
    if (strcmp(name, "--log-level") == 0) {
        LogLevel level;
        if (!value || !log_level_parse(value, &level))
            return cli_usage(cmd, "--log-level '%s': expected error, warn, info or debug",
                             value ? value : "");
        log_set_level(level);
        return 1;
    }
    if (strcmp(name, "--log-format") == 0) {
        LogFormat format;
        if (!value || !log_format_parse(value, &format))
            return cli_usage(cmd, "--log-format '%s': expected text or json", value ? value : "");
        log_set_format(format);
        return 1;
    }
    return 0;
}
