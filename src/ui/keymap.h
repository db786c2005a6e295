/*
 * X keysyms (what an RFB client sends in a KeyEvent) to Linux evdev key
 * codes (what the virtio-input keyboard sends the guest), for a US PC
 * keyboard: letters, digits, punctuation (shifted or not: the client
 * sends Shift itself), F1-F12, modifiers, the navigation block, the
 * keypad, Enter, Tab, Esc, Backspace.
 */
#ifndef HOSTEL_UI_KEYMAP_H
#define HOSTEL_UI_KEYMAP_H

#include <stdint.h>

/* The evdev code of keysym, or 0 when the keyboard has no such key. */
unsigned ui_keysym_to_evdev(uint32_t keysym);

#endif
