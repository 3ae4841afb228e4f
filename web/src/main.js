// The dashboard's shell: one page per role, chosen by the location's hash (#/wallet, #/dso, #/cpo; a query after "?" is
// the page's input, e.g. #/wallet?awardId=0x...), so the app serves one document.
import { countdown, syncMarketClock } from "./dom.js";
import { cpoPage } from "./cpo.js";
import { stopEvents } from "./live.js";
import { dsoPage } from "./dso.js";
import { walletPage } from "./wallet.js";

const pages = { "#/wallet": walletPage, "#/dso": dsoPage, "#/cpo": cpoPage };

function show() {
  const [route, query = ""] = location.hash.split("?");
  const current = pages[route] ? route : "#/wallet";
  stopEvents();   // the next page listens afresh if it needs the stream
  document.getElementById("page").replaceChildren(pages[current](new URLSearchParams(query)));
  for (const link of document.querySelectorAll("nav a"))
    if (link.getAttribute("href") === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
}

// Every countdown on the page (an element with data-gate) ticks once a second.
setInterval(() => {
  for (const element of document.querySelectorAll("[data-gate]")) element.textContent = countdown(element.dataset.gate);
}, 1000);
addEventListener("hashchange", show);
syncMarketClock().then(show);
