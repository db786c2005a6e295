// The daemon's events stream (GET /1.0/events as a websocket, docs/mgmt.md "Events"):
// reconnects by itself, and asks for what it missed (?since=) when it does.

export function wsUrl(path) {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

export class EventStream {
    // onEvent(event) for each event; onStatus(true|false) when the stream is up or down;
    // onGap() when the stream was down and the page should read everything again.
    constructor({onEvent, onStatus, onGap}) {
        this.onEvent = onEvent;
        this.onStatus = onStatus || (() => {});
        this.onGap = onGap || (() => {});
        this.lastId = null;
        this.ws = null;
        this.stopped = true;
        this.backoff = 1000;
        this.timer = null;
    }

    start() {
        this.stopped = false;
        this.connect();
    }

    stop() {
        this.stopped = true;
        clearTimeout(this.timer);
        if (this.ws)
            this.ws.close(1000);
        this.ws = null;
    }

    connect() {
        const since = this.lastId === null ? '' : `&since=${this.lastId}`;
        const ws = new WebSocket(wsUrl(`/1.0/events?type=lifecycle,operation${since}`));
        this.ws = ws;
        let opened = false;
        ws.addEventListener('open', () => {
            opened = true;
            this.backoff = 1000;
            this.onStatus(true);
        });
        ws.addEventListener('message', m => {
            let ev;
            try {
                ev = JSON.parse(m.data);
            } catch (_) {
                return;
            }
            if (typeof ev.id === 'number')
                this.lastId = ev.id;
            this.onEvent(ev);
        });
        ws.addEventListener('close', () => {
            if (this.ws !== ws)
                return;
            this.ws = null;
            this.onStatus(false);
            if (this.stopped)
                return;
            // the events kept by the daemon fill the gap; a daemon restart starts ids again
            if (!opened)
                this.lastId = null;
            this.onGap();
            this.timer = setTimeout(() => this.connect(), this.backoff);
            this.backoff = Math.min(this.backoff * 2, 30000);
        });
    }
}
