"""Server-rendered page shells with the browser-side behaviour the demo's flags rely on.

The demo's pages fetch their data in the browser. On the home page, each ProductCard fetches
its picture with ``x-envoy-fault-delay-request: <imageSlowLoad ms>`` and
``Cache-Control: no-cache``, and Envoy's fault filter then delays it. The script below does
the same in any real browser (headless Chromium in the tests). The flag is read over OFREP
through Envoy's ``/flagservice/`` route, where the demo uses the flagd web provider (Connect).
Every API call carries the baggage ``session.id=<userId>``, as the demo's browser does.
When the page has finished, ``<body>`` gets ``data-images-loaded`` and ``data-image-delay-ms``
so a test can read them from the DOM.
"""

from __future__ import annotations

import html

_SCRIPT = """
<script>
(async () => {
  const session = JSON.parse(localStorage.getItem("session") || "null") ||
    {userId: crypto.randomUUID(), currencyCode: "USD"};
  localStorage.setItem("session", JSON.stringify(session));
  const baggage = {baggage: "session.id=" + session.userId};
  let delay = 0;
  try {
    const r = await fetch("/flagservice/ofrep/v1/evaluate/flags/imageSlowLoad", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({context: {}})});
    if (r.ok) delay = Number((await r.json()).value) || 0;
  } catch (e) { delay = 0; }
  const grid = document.getElementById("products");
  const resp = await fetch("/api/products?currencyCode=" + session.currencyCode,
                           {headers: baggage});
  const products = resp.ok ? await resp.json() : [];
  let loaded = 0;
  const failed = [];
  // at most 6 picture requests at a time: what a browser allows per host over HTTP/1.1
  // anyway; queueing here rather than in the socket pool keeps headless runs deterministic
  const queue = products.slice();
  const loadCard = async (p) => {
    const card = document.createElement("div");
    card.className = "product-card";
    card.dataset.productId = p.id;
    const img = document.createElement("img");
    img.alt = p.name;
    const headers = {"Cache-Control": "no-cache"};
    if (delay > 0) headers["x-envoy-fault-delay-request"] = String(delay);
    try {
      const pic = await fetch("/images/products/" + p.picture, {headers});
      if (pic.ok) { img.src = URL.createObjectURL(await pic.blob()); loaded += 1; }
      else failed.push(p.picture + ":" + pic.status);
    } catch (e) { failed.push(p.picture + ":" + e); }  // the card shows no picture
    card.append(img, document.createTextNode(p.name));
    grid.append(card);
  };
  await Promise.all(Array.from({length: 6}, async () => {
    while (queue.length) await loadCard(queue.shift());
  }));
  document.body.dataset.imageDelayMs = String(delay);
  document.body.dataset.imagesLoaded = String(loaded);
  document.body.dataset.imagesFailed = failed.join(" ");
})();
</script>
"""


def shell(title: str, *, home: bool = False) -> str:
    body = '<div id="products"></div>' + _SCRIPT if home else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} | OTel demo (tracebed reference)</title></head>"
        f"<body><h1>{html.escape(title)}</h1>"
        "<img src='/images/Banner.png' alt='banner'>"
        f"{body}</body></html>"
    )
