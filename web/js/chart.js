// A small line chart on a canvas: a few series over the last minutes, auto-scaled.

const COLORS = ['#2f6fdb', '#d9822b', '#1f8a4c', '#9b59b6'];

export class LineChart {
    // canvas: the element; series: [{label}]; format(value) for the axis and legend;
    // fixedMax: the top of the scale (e.g. 100 for a percentage), else the data's.
    constructor(canvas, series, {format = v => String(v), fixedMax = null, spanS = 300} = {}) {
        this.canvas = canvas;
        this.series = series;
        this.format = format;
        this.fixedMax = fixedMax;
        this.spanS = spanS;
    }

    // points: [{t (ms), values: [v or null per series]}], oldest first.
    draw(points) {
        const c = this.canvas;
        const dpr = window.devicePixelRatio || 1;
        const w = c.clientWidth || c.width, hgt = c.clientHeight || c.height;
        if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
            c.width = Math.round(w * dpr);
            c.height = Math.round(hgt * dpr);
        }
        const g = c.getContext('2d');
        g.setTransform(dpr, 0, 0, dpr, 0, 0);
        g.clearRect(0, 0, w, hgt);
        const left = 62, right = 8, top = 22, bottom = 16;
        const pw = w - left - right, ph = hgt - top - bottom;
        let max = this.fixedMax;
        if (max === null) {
            max = 0;
            for (const p of points)
                for (const v of p.values)
                    if (v !== null && v > max)
                        max = v;
            max = max > 0 ? max * 1.15 : 1;
        }
        g.font = '11px system-ui, sans-serif';
        g.strokeStyle = '#e3e7ec';
        g.fillStyle = '#5f6b7a';
        g.lineWidth = 1;
        for (let i = 0; i <= 4; i++) {
            const y = top + ph - (ph * i) / 4;
            g.beginPath();
            g.moveTo(left, y);
            g.lineTo(left + pw, y);
            g.stroke();
            g.fillText(this.format((max * i) / 4), 4, y + 4);
        }
        const now = Date.now();
        const x = t => left + pw - ((now - t) / (this.spanS * 1000)) * pw;
        const y = v => top + ph - (Math.min(v, max) / max) * ph;
        this.series.forEach((s, k) => {
            g.strokeStyle = COLORS[k % COLORS.length];
            g.lineWidth = 1.8;
            g.beginPath();
            let pen = false;
            for (const p of points) {
                const v = p.values[k];
                if (v === null || v === undefined || x(p.t) < left) {
                    pen = false;
                    continue;
                }
                if (pen)
                    g.lineTo(x(p.t), y(v));
                else
                    g.moveTo(x(p.t), y(v));
                pen = true;
            }
            g.stroke();
            const last = points.length ? points[points.length - 1].values[k] : null;
            g.fillStyle = COLORS[k % COLORS.length];
            const label = `${s.label} ${last === null || last === undefined ? '–' : this.format(last)}`;
            g.fillText(label, left + 4 + k * 150, 12);
        });
        g.fillStyle = '#5f6b7a';
        g.fillText(`${Math.round(this.spanS / 60)} min`, left, hgt - 3);
        g.fillText('now', left + pw - 20, hgt - 3);
    }
}
