// The serial console tab: xterm.js on GET /1.0/vms/NAME/console (a websocket of binary
// messages: the console's history then its live output; what we send are keystrokes).

import {Terminal} from '../vendor/xterm/xterm.mjs';
import {FitAddon} from '../vendor/xterm/addon-fit.mjs';
import {vmPath} from './api.js';
import {h} from './dom.js';
import {wsUrl} from './events.js';

const encoder = new TextEncoder();

export class SerialConsole {
    constructor(container, status) {
        this.container = container;
        this.status = status;
        this.term = null;
        this.fit = null;
        this.ws = null;
        this.name = null;
        this.mode = null;
        this.pending = [];
        this.onResize = () => this.refit();
    }

    setStatus(text, bad = false, button = null) {
        this.status.replaceChildren(text, button ? ' ' : '', button || '');
        this.status.classList.toggle('bad', bad);
    }

    ensureTerminal() {
        if (this.term)
            return;
        this.term = new Terminal({
            convertEol: false, cursorBlink: true, scrollback: 5000,
            fontFamily: '"DejaVu Sans Mono", ui-monospace, monospace', fontSize: 14,
            theme: {background: '#000000', foreground: '#d0d0d0'},
        });
        this.fit = new FitAddon();
        this.term.loadAddon(this.fit);
        this.term.open(this.container);
        this.term.onData(data => {
            if (!this.ws || this.mode !== 'rw')
                return;
            if (this.ws.readyState === WebSocket.OPEN)
                this.ws.send(encoder.encode(data));
            else if (this.ws.readyState === WebSocket.CONNECTING && this.pending.length < 4096)
                this.pending.push(data); // typed while attaching: sent once attached
        });
        window.addEventListener('resize', this.onResize);
    }

    refit() {
        if (this.term && this.container.offsetParent !== null)
            this.fit.fit();
    }

    // Attach to the VM's console (it must run): as its typist, else read-only.
    open(name) {
        if (this.name === name && this.ws)
            return;
        this.close();
        this.ensureTerminal();
        this.term.reset();
        this.name = name;
        this.refit();
        this.connect('rw');
        this.term.focus();
    }

    connect(mode) {
        const name = this.name;
        this.mode = mode;
        if (mode !== 'rw')
            this.pending = [];
        this.setStatus(`connecting to ${name}'s console…`);
        const ws = new WebSocket(wsUrl(`${vmPath(name)}/console?mode=${mode}`));
        ws.binaryType = 'arraybuffer';
        this.ws = ws;
        let opened = false;
        ws.addEventListener('open', () => {
            opened = true;
            for (const data of this.pending.splice(0))
                if (mode === 'rw')
                    ws.send(encoder.encode(data));
            this.setStatus(mode === 'rw'
                ? `${name}: connected; what you type goes to the VM's serial console`
                : `${name}: read-only (another client holds the console's input)`);
        });
        ws.addEventListener('message', m => {
            this.term.write(typeof m.data === 'string' ? m.data : new Uint8Array(m.data));
        });
        ws.addEventListener('close', () => {
            if (this.ws !== ws)
                return;
            this.ws = null;
            if (!opened && mode === 'rw') // the input is held elsewhere (409), or the VM is down
                return this.connect('ro');
            const again = h('button', {type: 'button', class: 'small secondary',
                                       onclick: () => this.open(name)}, 'reconnect');
            this.setStatus(opened ? `${name}: the console closed (the VM stopped, or the daemon went away)`
                                  : `${name}: cannot attach to the console (is the VM running?)`,
                           !opened, again);
        });
    }

    close() {
        this.pending = [];
        if (this.ws) {
            const ws = this.ws;
            this.ws = null;
            ws.close(1000);
        }
        this.name = null;
    }

    // The VM is not running: nothing to attach to.
    idle(name, state) {
        this.close();
        this.setStatus(`${name} is ${state}: start it to use its console.`);
    }

    // The text on screen (for tests and the accessible summary): the buffer's lines.
    text() {
        if (!this.term)
            return '';
        const b = this.term.buffer.active;
        const lines = [];
        for (let i = 0; i < b.length; i++)
            lines.push(b.getLine(i).translateToString(true));
        return lines.join('\n');
    }
}
