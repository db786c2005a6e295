/*
 * The host's network tools (hostcmd.h), run with posix_spawn.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgmt/hostcmd.h"

extern char **environ;

const char *hostcmd_path(const char *tool, char *buf, size_t size)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        int n = snprintf(buf, size, "%s/%s", dirs[i], tool);
        if (n > 0 && (size_t)n < size && access(buf, X_OK) == 0)
            return buf;
    }
    return tool;
}

/* The last line of text (trailing newlines dropped) into buf. */
static void last_line(const char *text, char *buf, size_t size)
{
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    size_t start = n;
    while (start && text[start - 1] != '\n')
        start--;
    snprintf(buf, size, "%.*s", (int)(n - start), text + start);
}

/* Write all of input to fd (the child reads it all before it answers). */
static void feed(int fd, const char *input)
{
    size_t len = strlen(input), done = 0;
    while (done < len) {
        ssize_t w = write(fd, input + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
}

int hostcmd_run(const char *tool, const char *package, const char *const *args, const char *input,
                char *out, size_t size, Error *err)
{
    char *argv[HOSTCMD_ARGS_MAX + 2], text[2048], path[64];
    int n = 0, outp[2], inp[2] = {-1, -1};
    argv[n++] = (char *)tool;
    for (; args[n - 1] && n <= HOSTCMD_ARGS_MAX; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    if (input && strlen(input) >= HOSTCMD_INPUT_MAX)
        return error_set(err, "%s: the input is too long (%zu bytes)", tool, strlen(input));
    if (pipe2(outp, O_CLOEXEC) < 0 || (input && pipe2(inp, O_CLOEXEC) < 0))
        return error_set_errno(err, errno, "cannot make a pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (input)
        posix_spawn_file_actions_adddup2(&fa, inp[0], 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, hostcmd_path(tool, path, sizeof(path)), &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(outp[1]);
    if (input) {
        close(inp[0]);
        /* a tool that dies early must not kill us with SIGPIPE: the daemon ignores it */
        if (rc == 0)
            feed(inp[1], input);
        close(inp[1]);
    }
    size_t len = 0;
    for (ssize_t r; rc == 0; len += (size_t)r) {
        if (len == sizeof(text) - 1) { /* keep reading (the tool must not block): keep the end */
            memmove(text, text + len / 2, len - len / 2);
            len -= len / 2;
        }
        r = read(outp[0], text + len, sizeof(text) - 1 - len);
        if (r < 0 && errno == EINTR)
            r = 0;
        else if (r <= 0)
            break;
    }
    text[len] = '\0';
    close(outp[0]);
    int status = 0;
    while (rc == 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (out && size)
        snprintf(out, size, "%s", text);
    if (rc != 0)
        return error_set_errno(err, rc, "cannot run %s (%s)", tool, package);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char line[300], cmd[200] = "";
        last_line(text, line, sizeof(line));
        for (int i = 1; argv[i]; i++)
            snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i > 1 ? " " : "",
                     argv[i]);
        return error_set(err, "%s %s: %s", tool, cmd, line[0] ? line : "failed without a word");
    }
    return 0;
}
