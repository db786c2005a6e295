// Small DOM helpers: build elements without innerHTML, show errors, ask questions.

// h('a', {href: '#/x', class: 'y'}, 'text', child...): an element; attributes starting with
// "on" are listeners (a function), never strings; null/false children are skipped.
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false)
            continue;
        if (k.startsWith('on') && typeof v === 'function')
            el.addEventListener(k.slice(2), v);
        else if (k === 'dataset')
            Object.assign(el.dataset, v);
        else
            el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
        if (c === null || c === undefined || c === false)
            continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// A message at the bottom right; errors stay until dismissed, notes go after a while.
export function notify(text, kind = 'error') {
    const box = $('#errors');
    const item = h('div', {class: kind === 'error' ? 'error' : 'error info'}, text,
                   h('button', {type: 'button', class: 'small secondary',
                                onclick: () => item.remove()}, 'dismiss'));
    box.append(item);
    if (kind !== 'error')
        setTimeout(() => item.remove(), 5000);
    while (box.children.length > 6)
        box.firstChild.remove();
    return item;
}

export function showError(err) {
    console.error(err);
    notify(err && err.message ? err.message : String(err), 'error');
}

export function clearErrors() {
    $('#errors').replaceChildren();
}

// Runs fn (async); its error, if any, is shown to the user instead of thrown.
export async function guarded(fn) {
    try {
        return await fn();
    } catch (err) {
        showError(err);
        return undefined;
    }
}

// The modal dialog: resolves to the fields' values (an object) on OK, null on cancel.
// fields: [{name, label, value, type, required}].
export function ask(title, text, fields = [], okLabel = 'OK') {
    const dlg = $('#dialog');
    $('#dialog-title').textContent = title;
    $('#dialog-text').textContent = text || '';
    $('#dialog-ok').textContent = okLabel;
    const box = $('#dialog-fields');
    box.replaceChildren();
    for (const f of fields) {
        const input = h('input', {name: f.name, type: f.type || 'text', required: f.required,
                                  pattern: f.pattern, value: f.type === 'checkbox' ? null : f.value,
                                  checked: f.type === 'checkbox' && f.value});
        box.append(f.type === 'checkbox' ? h('label', {class: 'check'}, input, ' ' + f.label)
                                         : h('label', {}, f.label, input));
    }
    return new Promise(resolve => {
        dlg.addEventListener('close', () => {
            if (dlg.returnValue !== 'ok')
                return resolve(null);
            const out = {};
            for (const f of fields) {
                const input = box.querySelector(`[name="${f.name}"]`);
                out[f.name] = f.type === 'checkbox' ? input.checked : input.value;
            }
            resolve(out);
        }, {once: true});
        dlg.returnValue = '';
        dlg.showModal();
    });
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n) {
    if (n === null || n === undefined || Number.isNaN(n))
        return '–';
    let i = 0;
    while (Math.abs(n) >= 1024 && i < UNITS.length - 1) {
        n /= 1024;
        i++;
    }
    return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${UNITS[i]}`;
}

export function percent(x) {
    return x === null || x === undefined || Number.isNaN(x) ? '–' : `${x.toFixed(x < 10 ? 1 : 0)} %`;
}

export function duration(s) {
    if (s === null || s === undefined)
        return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), hh = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d)
        return `${d} d ${hh} h`;
    if (hh)
        return `${hh} h ${m} min`;
    return m ? `${m} min ${s % 60} s` : `${s} s`;
}
