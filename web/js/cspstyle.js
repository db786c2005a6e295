// xterm.js's DOM renderer writes its per-terminal CSS (theme colours, cell sizes, scroll bar)
// into <style> elements it adds to the terminal.  The page's Content-Security-Policy
// (style-src 'self', no 'unsafe-inline') rightly refuses to apply them.  Rather than widen the
// policy for the whole page, this copies the text of those elements, which our own code
// (xterm.js, loaded from 'self') wrote, into constructed style sheets
// (document.adoptedStyleSheets): CSSOM, like setting el.style, which the policy allows.
// Only <style> elements inside a `.xterm` element are copied; anything else stays refused.

const sheets = new Map();   // <style> element -> its CSSStyleSheet

function sync(el) {
    let sheet = sheets.get(el);
    if (!sheet) {
        sheet = new CSSStyleSheet();
        sheets.set(el, sheet);
        document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
    sheet.replaceSync(el.textContent || '');
}

function drop(el) {
    const sheet = sheets.get(el);
    if (!sheet)
        return;
    sheets.delete(el);
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter(s => s !== sheet);
}

const ours = el => el instanceof HTMLStyleElement && el.closest('.xterm') !== null;

new MutationObserver(records => {
    for (const r of records) {
        if (r.type === 'characterData' || r.type === 'childList') {
            const target = r.target.nodeType === Node.TEXT_NODE ? r.target.parentNode : r.target;
            if (target instanceof HTMLStyleElement && sheets.has(target) && target.isConnected)
                sync(target);
        }
        for (const n of r.addedNodes || [])
            if (n instanceof Element)
                for (const el of [n, ...n.querySelectorAll('style')])
                    if (ours(el))
                        sync(el);
        for (const n of r.removedNodes || [])
            if (n instanceof Element)
                for (const el of [n, ...n.querySelectorAll('style')])
                    drop(el);
    }
}).observe(document.documentElement, {childList: true, subtree: true, characterData: true});

// What the policy refused, for tests and for a curious user's console: each refusal as
// {directive, blocked, source, line, inXterm}.
window.hostelCspViolations = [];
document.addEventListener('securitypolicyviolation', e => {
    window.hostelCspViolations.push({directive: e.effectiveDirective, blocked: e.blockedURI,
                                     source: e.sourceFile, line: e.lineNumber,
                                     inXterm: e.target instanceof Element && e.target.closest('.xterm') !== null});
});
