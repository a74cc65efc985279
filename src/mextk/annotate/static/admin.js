// mextk annotate: the admin pages' forms (correct a segment's outcome, move a task).  Each <form class="api"
// data-url="..."> is sent as JSON with the session's CSRF token; the answer is shown next to the form and the
// page reloads on success, so the tables always show what the server holds.
"use strict";

(function () {
  const csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  document.querySelectorAll("form.api").forEach((form) => {
    const out = document.createElement("span");
    out.className = "answer";
    form.append(out);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = Object.fromEntries(new FormData(form).entries());
      try {
        const r = await fetch(form.dataset.url, {
          method: "POST", credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: JSON.stringify(body),
        });
        const data = await r.json();
        if (!r.ok) throw new Error(data.error || r.statusText);
        out.textContent = "saved";
        window.location.reload();
      } catch (err) {
        out.textContent = "not saved: " + err.message;
      }
    });
  });
})();
