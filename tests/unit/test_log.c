/*
 * Unit tests of the log (util/log.h): the level threshold (a dropped
 * message is not even formatted), both record formats, the VM's name and
 * the sink a daemon installs.
 */
#include <jansson.h>
#include <regex.h>
#include <string.h>

#include "tap.h"
#include "util/log.h"

typedef struct Captured {
    char line[4096];
    LogLevel level;
    int records;
} Captured;

static void capture(void *opaque, LogLevel level, const char *line, size_t len)
{
    Captured *c = opaque;
    snprintf(c->line, sizeof(c->line), "%.*s", (int)len, line);
    c->level = level;
    c->records++;
}

static int formatted; /* how many times counted() ran: arguments are evaluated once per record */

static int counted(void)
{
    return ++formatted;
}

static void test_levels(Captured *c)
{
    log_set_level(LOG_WARN);
    log_info("not shown %d", counted());
    log_debug("not shown %d", counted());
    ok(c->records == 0 && formatted == 0, "below the threshold: no record, no formatting");
    log_warn("shown %d", counted());
    log_error("shown too");
    ok(c->records == 2 && formatted == 1 && c->level == LOG_ERROR, "warn and error pass at warn");
    log_set_level(LOG_DEBUG);
    log_debug("deep");
    ok(c->records == 3 && c->level == LOG_DEBUG, "debug passes at debug");
    log_set_level(LOG_INFO);
}

static void test_text(Captured *c)
{
    log_warn("HTIF: %s 0x%x ignored", "command", 5);
    ok(strcmp(c->line, "hostel: warning: HTIF: command 0x5 ignored\n") == 0,
       "text: the warning line tests grep for");
    log_set_name("vm-1.test");
    log_info("hello");
    ok(strcmp(c->line, "hostel[vm-1.test]: info: hello\n") == 0, "text: the VM's name");
    ok(strcmp(log_prefix(), "hostel[vm-1.test]") == 0, "log_prefix names the VM");
}

static void test_json(Captured *c)
{
    log_set_format(LOG_FORMAT_JSON);
    log_warn("a \"quoted\"\nline \xff");
    size_t len = strlen(c->line);
    ok(len > 0 && strchr(c->line, '\n') == c->line + len - 1, "json: one record, one line");
    json_error_t je;
    json_t *rec = json_loads(c->line, 0, &je);
    ok(rec != NULL, "json: the record parses (%s)", rec ? "ok" : je.text);
    const char *keys[] = {"{\"ts\": ", ", \"level\": ", ", \"vm\": ", ", \"msg\": "};
    const char *at = c->line;
    for (size_t i = 0; i < 4; i++) {
        const char *k = strstr(c->line, keys[i]);
        ok(k && k >= at, "json: key %zu in order: %s", i, keys[i]);
        at = k ? k : at;
    }
    ok(json_object_size(rec) == 4, "json: four keys");
    ok(strcmp(json_string_value(json_object_get(rec, "level")), "warn") == 0, "json: level");
    ok(strcmp(json_string_value(json_object_get(rec, "vm")), "vm-1.test") == 0, "json: vm");
    ok(strcmp(json_string_value(json_object_get(rec, "msg")), "a \"quoted\"\nline ?") == 0,
       "json: msg, escaped, bytes that are not UTF-8 shown as '?'");
    regex_t re;
    regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
            REG_EXTENDED | REG_NOSUB);
    const char *ts = json_string_value(json_object_get(rec, "ts"));
    ok(ts && regexec(&re, ts, 0, NULL, 0) == 0, "json: ts is ISO 8601 UTC with ms (%s)",
       ts ? ts : "none");
    regfree(&re);
    json_decref(rec);
    log_set_format(LOG_FORMAT_TEXT);
}

static void test_parse(void)
{
    LogLevel l = LOG_INFO;
    LogFormat f = LOG_FORMAT_TEXT;
    ok(log_level_parse("debug", &l) && l == LOG_DEBUG, "parse: debug");
    ok(log_level_parse("error", &l) && l == LOG_ERROR, "parse: error");
    ok(!log_level_parse("warning", &l) && l == LOG_ERROR, "parse: 'warning' is not a level");
    ok(log_format_parse("json", &f) && f == LOG_FORMAT_JSON, "parse: json");
    ok(!log_format_parse("xml", &f), "parse: xml is not a format");
}

int main(void)
{
    Captured c = {.records = 0};
    log_set_sink(capture, &c);
    test_levels(&c);
    test_text(&c);
    test_json(&c);
    test_parse();
    log_set_sink(NULL, NULL);
    return tap_done();
}
