// Live updates from the app's event stream (GET /v1/events: server-sent events of the signed-in participant's events).
// EventSource cannot send the X-Api-Key header and the key never goes into a URL, so the stream is read with fetch.
// One stream per page: it reconnects with backoff (1 s doubling to 30 s, or the server's Retry-After; at once when the
// browser comes back online) and resumes after the last event it saw (Last-Event-ID). Listeners hear every event and whether the stream is up, so a view polls only
// while it is down, and reads once again when it comes back (it may have missed an event meanwhile).
import { apiKey } from "./dom.js";

const listeners = new Set();
let controller = null;
let up = false;
let lastEventId = "";

/**
 * Calls `listener` with each event ({ id, type, requestId, data }, the JSON a webhook receives) and with
 * { type: "stream.up" } / { type: "stream.down", retryInMs } when the stream connects or breaks; starts the stream
 * when it is not running. Returns a function that stops listening.
 */
export function listen(listener) {
  listeners.add(listener);
  controller ??= connect();
  return () => listeners.delete(listener);
}

/** As listen, for as long as `element` is in the document (the listener is dropped at the first event after it left). */
export function listenWhile(element, listener) {
  const stop = listen((event) => (element.isConnected ? listener(event) : stop()));
  return stop;
}

/** Whether the stream is connected now. */
export function isLive() {
  return up;
}

/** Ends the stream and forgets every listener (a page change or sign-out); the next listen starts afresh. */
export function stopEvents() {
  listeners.clear();
  controller?.abort();
  controller = null;
  up = false;
  lastEventId = "";
}

function emit(event) {
  for (const listener of [...listeners]) listener(event);
}

function connect() {
  const abort = new AbortController();
  (async () => {
    let delay = 1000;
    while (!abort.signal.aborted) {
      let retryAfter = 0;
      // One attempt's connection, dropped at once when the browser says it went offline (TCP may take minutes to notice).
      const attempt = new AbortController();
      const drop = () => attempt.abort();
      abort.signal.addEventListener("abort", drop);
      addEventListener("offline", drop);
      try {
        const response = await fetch("/v1/events", {
          headers: { Accept: "text/event-stream", "X-Api-Key": apiKey() ?? "", ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) },
          cache: "no-store", signal: attempt.signal,
        });
        if (response.status === 401 || response.status === 403) return;   // signed out or key revoked: nothing to resume
        if (response.status === 400) lastEventId = "";                       // an id the server no longer knows: start from now
        if (!response.ok || !response.body) {
          retryAfter = Number(response.headers.get("Retry-After") ?? 0) * 1000;
          throw new Error(`event stream: HTTP ${response.status}`);
        }
        up = true;
        delay = 1000;
        emit({ type: "stream.up" });
        await read(response.body, attempt.signal);
      } catch {
        if (abort.signal.aborted) return;
      } finally {
        removeEventListener("offline", drop);
        abort.signal.removeEventListener("abort", drop);
      }
      up = false;
      const wait = Math.max(delay, retryAfter || 0);   // delay is back at 1 s when the stream had connected
      emit({ type: "stream.down", retryInMs: wait });
      await pause(wait);
      delay = Math.min(delay * 2, 30_000);
    }
  })();
  return abort;
}

/** Waits `ms`, or less when the browser comes back online. */
function pause(ms) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); removeEventListener("online", done); resolve(); };
    const timer = setTimeout(done, ms);
    addEventListener("online", done);
  });
}

/** Reads server-sent events until the stream ends: blocks of "field: value" lines separated by a blank line. */
async function read(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}));
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;   // a comment (": stream open")
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        fields[name] = (fields[name] ? fields[name] + "\n" : "") + (colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, ""));
      }
      if (fields.id) lastEventId = fields.id;
      if (fields.data === undefined) continue;
      try {
        const event = JSON.parse(fields.data);
        emit({ id: fields.id, type: fields.event ?? event.type, requestId: event.requestId, data: event.data });
      } catch { /* not JSON: not one of the app's events */ }
    }
  }
}
