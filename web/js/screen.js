// The graphical console tab: noVNC on GET /1.0/vms/NAME/vnc (the VM's VNC server, bridged by
// hosteld), with full screen, Ctrl-Alt-Del and "type this text".

import RFB from '../vendor/novnc/core/rfb.js';
import keysyms from '../vendor/novnc/core/input/keysymdef.js';
import {vmPath} from './api.js';
import {h} from './dom.js';
import {wsUrl} from './events.js';

const XK_SHIFT_L = 0xffe1, XK_RETURN = 0xff0d, XK_TAB = 0xff09;
// Characters typed with Shift on a US keyboard (the VM's keyboard layout, docs/display.md).
const SHIFTED = new Set('~!@#$%^&*()_+{}|:"<>?');

export class ScreenConsole {
    constructor(container, status) {
        this.container = container;
        this.status = status;
        this.rfb = null;
        this.name = null;
    }

    setStatus(text, bad = false, button = null) {
        this.status.replaceChildren(text, button ? ' ' : '', button || '');
        this.status.classList.toggle('bad', bad);
    }

    open(name) {
        if (this.name === name && this.rfb)
            return;
        this.close();
        this.name = name;
        this.setStatus(`connecting to ${name}'s screen…`);
        const rfb = new RFB(this.container, wsUrl(`${vmPath(name)}/vnc`), {wsProtocols: ['binary']});
        rfb.scaleViewport = true;
        rfb.resizeSession = false;
        rfb.focusOnClick = true;
        this.rfb = rfb;
        rfb.addEventListener('connect', () => {
            this.setStatus(`${name}: connected`);
            rfb.focus();
        });
        rfb.addEventListener('disconnect', e => {
            if (this.rfb !== rfb)
                return;
            this.rfb = null;
            const again = h('button', {type: 'button', class: 'small secondary',
                                       onclick: () => this.open(name)}, 'reconnect');
            this.setStatus(e.detail.clean ? `${name}: the screen closed`
                                          : `${name}: cannot reach the screen (is the VM running, with a display?)`,
                           !e.detail.clean, again);
        });
        rfb.addEventListener('credentialsrequired', () => {
            this.setStatus(`${name}: the VNC server asks for a password, which the page does not have`, true);
        });
        rfb.addEventListener('securityfailure', e => {
            this.setStatus(`${name}: VNC security failure: ${e.detail.reason || e.detail.status}`, true);
        });
    }

    close() {
        if (this.rfb) {
            const rfb = this.rfb;
            this.rfb = null;
            rfb.disconnect();
        }
        this.name = null;
    }

    idle(name, why) {
        this.close();
        this.setStatus(`${name}: ${why}`);
    }

    fullscreen() {
        if (this.container.requestFullscreen)
            this.container.requestFullscreen().catch(err => this.setStatus(`full screen refused: ${err.message}`, true));
    }

    ctrlAltDel() {
        if (this.rfb)
            this.rfb.sendCtrlAltDel();
    }

    // Types text on the VM's keyboard, one key press per character (Shift where a US keyboard
    // needs it); a newline is Enter.  Returns the characters it could not type.
    type(text) {
        if (!this.rfb)
            throw new Error('the graphical console is not connected');
        const skipped = [];
        for (const ch of text.replace(/\r\n?/g, '\n')) {
            const u = ch.codePointAt(0);
            let sym;
            if (ch === '\n')
                sym = XK_RETURN;
            else if (ch === '\t')
                sym = XK_TAB;
            else if (u >= 0x20 && u < 0x7f)
                sym = keysyms.lookup(u);
            else {
                skipped.push(ch);
                continue;
            }
            const shift = (ch >= 'A' && ch <= 'Z') || SHIFTED.has(ch);
            if (shift)
                this.rfb.sendKey(XK_SHIFT_L, 'ShiftLeft', true);
            this.rfb.sendKey(sym, null);
            if (shift)
                this.rfb.sendKey(XK_SHIFT_L, 'ShiftLeft', false);
        }
        return skipped;
    }
}
