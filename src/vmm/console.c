/* Host terminal for the serial console: raw mode and Ctrl-A escapes. */
#include "vmm/console.h"

#include <string.h>
#include <unistd.h>

static const char console_help[] = "\r\nC-a h    print this help\r\n"
                                   "C-a x    exit hostel (the guest is stopped, not shut down)\r\n"
                                   "C-a C-a  send C-a to the guest\r\n";

void console_open(Console *c, int in_fd, int out_fd)
{
    memset(c, 0, sizeof(*c));
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    if (!isatty(in_fd) || tcgetattr(in_fd, &c->saved) < 0)
        return;
    struct termios raw = c->saved;
    cfmakeraw(&raw);
    raw.c_oflag |= OPOST | ONLCR; /* keep "\n" -> "\r\n" on output, as QEMU's stdio */
    if (tcsetattr(in_fd, TCSANOW, &raw) == 0)
        c->raw = true;
}

void console_close(Console *c)
{
    if (c->raw)
        tcsetattr(c->in_fd, TCSANOW, &c->saved);
    c->raw = false;
}

static void say(const Console *c, const char *s)
{
    ssize_t r = write(c->out_fd, s, strlen(s));
    (void)r;
}

ConsoleAction console_filter(Console *c, const uint8_t *in, size_t n, uint8_t *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = in[i];
        if (!c->escape) {
            if (b == CONSOLE_ESCAPE)
                c->escape = true;
            else
                out[o++] = b;
            continue;
        }
        c->escape = false;
        if (b == 'x' || b == 'X') {
            *out_len = o;
            return CONSOLE_QUIT;
        }
        if (b == CONSOLE_ESCAPE)
            out[o++] = b;
        else if (b == 'h' || b == 'H' || b == '?')
            say(c, console_help);
    }
    *out_len = o;
    return CONSOLE_NONE;
}
