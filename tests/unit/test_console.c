/* Unit tests of the console escape filter (Ctrl-A x / h / Ctrl-A). */
#include <string.h>
#include <unistd.h>

#include "vmm/console.h"
#include "tap.h"

int main(void)
{
    Console c;
    uint8_t out[64];
    size_t n = 0;
    int devnull[2];
    ok(pipe(devnull) == 0, "pipe for help output");
    console_open(&c, devnull[0], devnull[1]);
    ok(!c.raw, "a pipe is not put in raw mode");

    ok(console_filter(&c, (const uint8_t *)"ls\r", 3, out, &n) == CONSOLE_NONE && n == 3 &&
           memcmp(out, "ls\r", 3) == 0,
       "plain bytes pass through");
    ok(console_filter(&c, (const uint8_t *)"a\x01x", 3, out, &n) == CONSOLE_QUIT && n == 1 &&
           out[0] == 'a',
       "Ctrl-A x quits, bytes before it are kept");
    ok(console_filter(&c, (const uint8_t *)"\x01", 1, out, &n) == CONSOLE_NONE && n == 0,
       "a lone Ctrl-A waits for the next byte");
    ok(console_filter(&c, (const uint8_t *)"x", 1, out, &n) == CONSOLE_QUIT,
       "... even across reads");
    ok(console_filter(&c, (const uint8_t *)"\x01\x01z", 3, out, &n) == CONSOLE_NONE && n == 2 &&
           out[0] == 1 && out[1] == 'z',
       "Ctrl-A Ctrl-A sends one Ctrl-A");
    char help[512] = {0};
    ok(console_filter(&c, (const uint8_t *)"\x01h", 2, out, &n) == CONSOLE_NONE && n == 0 &&
           read(devnull[0], help, sizeof(help) - 1) > 0 && strstr(help, "C-a x"),
       "Ctrl-A h prints help to the console output");
    console_close(&c);
    return tap_done();
}
