/*
 * The host side of the guest's serial console: puts the terminal in raw
 * mode (restored on exit) and interprets QEMU's escape sequences typed by
 * the user, so Ctrl-A x quits and Ctrl-A h prints help, while every other
 * byte goes to the guest.
 */
#ifndef HOSTEL_VMM_CONSOLE_H
#define HOSTEL_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

typedef enum ConsoleAction {
    CONSOLE_NONE,
    CONSOLE_QUIT, /* Ctrl-A x */
} ConsoleAction;

typedef struct Console {
    int in_fd;
    int out_fd;
    bool raw;             /* the terminal was switched to raw mode */
    bool escape;          /* the last byte was Ctrl-A */
    struct termios saved; /* terminal settings to restore */
} Console;

/* Attach to in_fd/out_fd; raw mode only if in_fd is a terminal. */
void console_open(Console *c, int in_fd, int out_fd);
/* Restore the terminal. Safe to call twice. */
void console_close(Console *c);

/*
 * Filter n typed bytes: bytes for the guest are copied to out (at most n)
 * and counted in *out_len; escape commands act (help goes to out_fd) or
 * are returned (CONSOLE_QUIT: stop at once, the rest is dropped).
 */
ConsoleAction console_filter(Console *c, const uint8_t *in, size_t n, uint8_t *out,
                             size_t *out_len);

#endif
