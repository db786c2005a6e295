// The REST API of hosteld (docs/api.md) as the page uses it: JSON in and out, the session's
// CSRF token on every mutating request, operations waited for, errors as ApiError.

let csrfToken = null;
let onUnauthorized = () => {};

export class ApiError extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

export function setCsrf(token) {
    csrfToken = token;
}

// fn() is called when a request is answered 401 (the session ended: expired, logged out,
// or the daemon restarted).
export function whenUnauthorized(fn) {
    onUnauthorized = fn;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// One request.  Resolves to the parsed JSON body (or the text with {text: true}); rejects with
// an ApiError carrying the API's own message ({"error": {"code", "message"}}).
export async function api(method, path, body, opts = {}) {
    const headers = {Accept: opts.text ? 'text/plain' : 'application/json'};
    const init = {method, headers, credentials: 'same-origin', cache: 'no-store'};
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    if (MUTATING.has(method) && csrfToken)
        headers['X-Hostel-CSRF'] = csrfToken;
    let res;
    try {
        res = await fetch(path, init);
    } catch (err) {
        throw new ApiError(0, `${method} ${path}: the daemon does not answer (${err.message})`);
    }
    const text = await res.text();
    if (!res.ok) {
        let message = `${res.status} ${res.statusText}`;
        try {
            const j = JSON.parse(text);
            if (j && j.error && j.error.message)
                message = j.error.message;
        } catch (_) { /* not JSON: keep the status line */ }
        if (res.status === 401 && !opts.quiet401)
            onUnauthorized();
        throw new ApiError(res.status, message);
    }
    if (opts.text)
        return text;
    return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => api('GET', path, undefined, opts);

const isOperation = x => x && typeof x === 'object' && typeof x.id === 'string' &&
                         typeof x.status === 'string' && 'may_cancel' in x;

// Waits for an operation (docs/api.md "Long work is an operation") to end; resolves to it when
// it succeeded, rejects with its error otherwise.
export async function waitOperation(op, timeoutS = 300) {
    const deadline = Date.now() + timeoutS * 1000;
    while (op.status === 'running' || op.status === 'pending') {
        if (Date.now() > deadline)
            throw new ApiError(0, `${op.description}: still running after ${timeoutS} s`);
        op = await get(`/1.0/operations/${encodeURIComponent(op.id)}/wait?timeout=20`);
    }
    if (op.status !== 'success')
        throw new ApiError(0, `${op.description}: ${op.err || op.status}`);
    return op;
}

// A mutating request whose answer may be an operation: resolves once the work is done.
export async function act(method, path, body) {
    const reply = await api(method, path, body);
    return isOperation(reply) ? waitOperation(reply) : reply;
}

export const vmPath = name => `/1.0/vms/${encodeURIComponent(name)}`;
