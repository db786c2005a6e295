/*
 * The Prometheus text writer (src/mgmt/prom.c): label values escaped as
 * format 0.0.4 says (backslash, double quote, newline), cut safely when
 * the buffer is short, help texts escaped, family headers and samples laid
 * out as "# HELP", "# TYPE", then name{labels} value, values that read
 * back as written.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt/prom.h"
#include "tap.h"

static void test_escape_label(void)
{
    char out[64];
    ok(prom_escape_label("vm1", out, sizeof(out)) && strcmp(out, "vm1") == 0, "plain value as is");
    ok(prom_escape_label("a\\b\"c\nd", out, sizeof(out)) && strcmp(out, "a\\\\b\\\"c\\nd") == 0,
       "backslash, quote and newline escaped: %s", out);
    ok(prom_escape_label("", out, sizeof(out)) && out[0] == '\0', "empty value");
    ok(prom_escape_label("tab\there", out, sizeof(out)) && strcmp(out, "tab\there") == 0,
       "other bytes (a tab, UTF-8) left alone");
    char small[4];
    ok(!prom_escape_label("ab\"c", small, sizeof(small)) && strcmp(small, "ab") == 0,
       "cut before an escape that does not fit, never half of one: %s", small);
    ok(!prom_escape_label("abcdef", small, sizeof(small)) && strcmp(small, "abc") == 0,
       "cut to the buffer, NUL-terminated");
}

static char *render(void (*fn)(PromText *t))
{
    PromText t;
    if (prom_open(&t) < 0)
        return NULL;
    fn(&t);
    return prom_take(&t);
}

static void write_family(PromText *t)
{
    const char *labels[] = {"vm", "we\"ird\\name\nx", "disk", "vda", NULL};
    prom_family(t, "hostel_vm_disk_read_bytes_total", "counter", "Bytes read\\written\nhere");
    prom_sample(t, "hostel_vm_disk_read_bytes_total", labels, 4096);
    prom_sample(t, "hostel_vm_disk_read_bytes_total", NULL, 0);
}

static void write_values(PromText *t)
{
    prom_sample(t, "a", NULL, 1.5);
    prom_sample(t, "b", NULL, 18446744073709551616.0); /* 2^64: no integer form */
    prom_sample(t, "c", NULL, 123456789012345.0);
    prom_sample(t, "d", NULL, -3);
}

static void test_layout(void)
{
    char *text = render(write_family);
    const char *want = "# HELP hostel_vm_disk_read_bytes_total Bytes read\\\\written\\nhere\n"
                       "# TYPE hostel_vm_disk_read_bytes_total counter\n"
                       "hostel_vm_disk_read_bytes_total{vm=\"we\\\"ird\\\\name\\nx\",disk=\"vda\"} "
                       "4096\n"
                       "hostel_vm_disk_read_bytes_total 0\n";
    ok(text && strcmp(text, want) == 0, "HELP (escaped), TYPE, samples with escaped labels");
    if (text && strcmp(text, want) != 0)
        printf("# got:\n# %s\n", text);
    free(text);
    text = render(write_values);
    ok(text && strcmp(text, "a 1.5\nb 1.8446744073709552e+19\nc 123456789012345\nd -3\n") == 0,
       "values: integers without exponent, others read back the same");
    free(text);
}

int main(void)
{
    test_escape_label();
    test_layout();
    return tap_done();
}
