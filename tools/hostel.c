/*
 * hostel: the command-line front end.  main() takes the global options
 * (--log-level, --log-format), then hands the rest to one row of the
 * command table; each family of subcommands lives in its own file
 * (cmd_run.c, cmd_ctl.c, cmd_state.c, img/img.c), a thin handler over the
 * libraries.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util/compiler.h"

static int cmd_help_run(int argc, char **argv);

static void cmd_help_help(FILE *out)
{
    fprintf(out, "usage: hostel help [COMMAND]\n\nShow help for hostel or for one command.\n");
}

static const Command cmd_help = {
    .name = "help",
    .run = cmd_help_run,
    .help = cmd_help_help,
    .summary = "show help for hostel or one command",
};

static const Command *const commands[] = {
    &cmd_run,      &cmd_img,     &cmd_ctl,    &cmd_pause,  &cmd_resume,    &cmd_suspend,
    &cmd_snapshot, &cmd_migrate, &cmd_state,  &cmd_clone,  &cmd_create,    &cmd_list,
    &cmd_info,     &cmd_delete,  &cmd_start,  &cmd_stop,   &cmd_reboot,    &cmd_console,
    &cmd_logs,     &cmd_edit,    &cmd_stats,  &cmd_volume, &cmd_pool,      &cmd_network,
    &cmd_remote,   &cmd_trust,   &cmd_events, &cmd_switch, &cmd_web_login, &cmd_image,
    &cmd_help,
};

static void main_help(FILE *out)
{
    fprintf(out, "usage: hostel [GLOBAL-OPTIONS] COMMAND [options]\n"
                 "       hostel --version\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\nglobal options (also accepted by 'hostel run'):\n");
    cli_log_options_help(out);
    fprintf(out, "      --socket PATH      hosteld's socket for the verbs that talk to it\n"
                 "                         (also $HOSTEL_SOCKET)\n"
                 "      --remote NAME      talk to the remote hosteld NAME ('hostel remote');\n"
                 "                         VM verbs also take REMOTE:VM (also $HOSTEL_REMOTE)\n");
    fprintf(out, "\nRun 'hostel COMMAND --help' for a command's options.\n");
}

static const Command *find_command(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    }
    return NULL;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "hostel: unknown %s '%s' (see 'hostel help')\n",
            name[0] == '-' ? "option" : "command", name);
    return CLI_EXIT_USAGE;
}

static int cmd_help_run(int argc, char **argv)
{
    if (argc < 2) {
        main_help(stdout);
        return 0;
    }
    const Command *cmd = find_command(argv[1]);
    if (!cmd)
        return unknown_command(argv[1]);
    cmd->help(stdout);
    return 0;
}

/*
 * --socket PATH or --remote NAME before the command: hosteld's socket, or
 * the remote, for the management verbs, passed to them as HOSTEL_SOCKET
 * or HOSTEL_REMOTE (the variables they read).  Returns how many arguments
 * it took (0: argv[i] is neither), or -status.
 */
static int main_socket_option(int argc, char **argv, int i)
{
    static const struct {
        const char *opt, *var, *what;
    } opts[] = {{"--socket", "HOSTEL_SOCKET", "a path"}, {"--remote", "HOSTEL_REMOTE", "a name"}};
    for (size_t k = 0; k < ARRAY_SIZE(opts); k++) {
        const char *arg = argv[i];
        size_t n = strlen(opts[k].opt);
        bool eq = strncmp(arg, opts[k].opt, n) == 0 && arg[n] == '=';
        if (!eq && strcmp(arg, opts[k].opt) != 0)
            continue;
        const char *value = eq ? arg + n + 1 : argv[i + 1]; /* argv[argc] is NULL */
        if (!value || !*value)
            return -cli_usage(NULL, "%s needs %s", opts[k].opt, opts[k].what);
        setenv(opts[k].var, value, 1);
        return eq ? 1 : 2;
    }
    return 0;
}

/*
 * Take the global options before the command ("--log-level debug" or
 * "--log-level=debug", "--socket PATH").  Returns the index of the
 * command's name, or -status for a bad option.
 */
static int main_global_options(int argc, char **argv)
{
    int i = 1;
    for (int n; i < argc && (n = main_socket_option(argc, argv, i)) != 0;) {
        if (n < 0)
            return n;
        i += n;
    }
    while (i < argc && strncmp(argv[i], "--log-", 6) == 0) {
        char name[32];
        /* argv[argc] is NULL: a missing value reads as NULL */
        const char *eq = strchr(argv[i], '='), *value = eq ? eq + 1 : argv[i + 1];
        snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - argv[i]) : (int)strlen(argv[i]),
                 argv[i]);
        int r = cli_log_option(NULL, name, value);
        if (r == 0)
            return -unknown_command(argv[i]);
        if (r != 1)
            return -r;
        i += eq ? 1 : 2;
    }
    return i;
}

int main(int argc, char **argv)
{
    int i = main_global_options(argc, argv);
    if (i < 0)
        return -i;
    if (i >= argc) {
        main_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("hostel %s\n", HOSTEL_VERSION);
        return 0;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return cmd_help_run(1, argv);
    const Command *cmd = find_command(name);
    if (!cmd)
        return unknown_command(name);
    return cmd->run(argc - i, argv + i);
}
