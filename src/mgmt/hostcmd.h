/*
 * Running the host's network tools (`ip`, `nft`, `sysctl`-like writes) for
 * hosteld's networks: a tool looked up where a daemon's PATH may not
 * reach (/usr/sbin, /sbin, then /usr/bin, /bin, then PATH), spawned with
 * posix_spawn, optionally fed text on its standard input, its output
 * kept so that a failure is one line: "TOOL ARGS: its last line".
 */
#ifndef HOSTEL_MGMT_HOSTCMD_H
#define HOSTEL_MGMT_HOSTCMD_H

#include <stddef.h>

#include "util/error.h"

#define HOSTCMD_ARGS_MAX 22     /* arguments after the tool's name */
#define HOSTCMD_INPUT_MAX 65536 /* bytes of standard input (a pipe's buffer) */

/* The path of tool ("ip", "nft", "dnsmasq"): the first executable one of the usual dirs, else tool. */
const char *hostcmd_path(const char *tool, char *buf, size_t size);

/*
 * Run `tool ARGS...` (args NULL-terminated, without the tool's name) with
 * input on its standard input (NULL: /dev/null) and wait for it.  Returns
 * 0 when it exits 0, else -1 with err: "cannot run TOOL (PACKAGE)" when it
 * cannot be started (package names the Debian package to install), else
 * "TOOL ARGS: the last line it printed".  When out is not NULL it gets
 * what the tool printed (stdout and stderr; of a long output, the
 * end, cut to size).  With input, the caller must ignore SIGPIPE (hosteld does): a
 * tool that ends before reading it all must not kill the caller.
 */
int hostcmd_run(const char *tool, const char *package, const char *const *args, const char *input,
                char *out, size_t size, Error *err);

#endif
