// Sign-in with a participant's API key (kept in sessionStorage only) for the role's page.
import { h, field, signIn, signOut, currentParticipant } from "./dom.js";
import { isLive, listenWhile, stopEvents } from "./live.js";

/**
 * The role's page: a sign-in form until a participant of `role` is signed in, then `render(participant, container)`
 * below a line naming the participant with a sign-out button.
 */
export function rolePage(role, title, render) {
  const page = h("div", { class: "page" }, h("h1", {}, title));
  const body = h("div");
  page.append(body);

  const showSignIn = (message) => {
    const key = h("input", { type: "password", name: "apiKey", autocomplete: "off", required: true });
    const status = h("p", { class: "status error", role: "alert" }, message ?? "");
    const form = h("form", { class: "card", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const me = await signIn(key.value.trim());
        if (me.role !== role) { signOut(); status.textContent = `This key belongs to a ${me.role}, not a ${role}.`; return; }
        show(me);
      } catch (error) {
        status.textContent = `Sign-in refused: ${error.describe?.() ?? error.message}`;
      }
    } }, field("API key", key, "Kept in this tab only (sessionStorage) and sent to FlexChain's API alone."), h("button", { type: "submit" }, "Sign in"), status);
    body.replaceChildren(form);
  };

  const show = (me) => {
    const live = h("span", { class: "live" }, isLive() ? "Live updates: connected." : "Live updates: connecting ...");
    const bar = h("p", { class: "signed-in" }, `Signed in as ${me.legalName} (${me.id}). `, live, " ",
      h("button", { type: "button", class: "link", onclick: () => { stopEvents(); signOut(); showSignIn(); } }, "Sign out"));
    listenWhile(live, (event) => {
      if (event.type === "stream.up") live.textContent = "Live updates: connected.";
      else if (event.type === "stream.down") live.textContent = `Live updates: reconnecting in ${Math.round(event.retryInMs / 1000)} s (polling meanwhile).`;
    });
    const content = h("div");
    body.replaceChildren(bar, content);
    render(me, content);
  };

  currentParticipant().then((me) => (me?.role === role ? show(me) : showSignIn()));
  return page;
}
