// Every page: a form with data-confirm asks before it is sent (cancel, close).
document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// A session that ran out while typing: what was typed comes back after logging in again.
// The text is kept (in this tab only) when a form is sent; if the next page is the login page, it is
// put back into the same form after logging in; any other next page means it arrived, and it is dropped.
const DRAFT = "loa-draft";
const KEPT = "textarea, input[type=text], input[type=tel], input[type=number], input[type=date], select:not([multiple])";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const action = form.getAttribute("action") || "";
  if (event.defaultPrevented || action === "/login" || action === "/logout") return;
  const fields = {};
  for (const el of form.querySelectorAll(KEPT)) {
    if (el.name && el.value.trim()) fields[el.name] = el.value;
  }
  if (Object.keys(fields).length) {
    const method = (form.getAttribute("method") || "get").toLowerCase();
    sessionStorage.setItem(DRAFT, JSON.stringify({ action, method, page: location.pathname, fields, viaLogin: false }));
  }
});
(() => {
  const saved = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
  if (!saved) return;
  if (location.pathname === "/login") {
    saved.viaLogin = true;
    sessionStorage.setItem(DRAFT, JSON.stringify(saved));
    return;
  }
  sessionStorage.removeItem(DRAFT);
  // back on the same page with an error: what was typed is put back beside it (the redirect lost it)
  const refused = document.querySelector(".flash.error");
  if (!(saved.viaLogin || refused) || location.pathname !== saved.page) return;
  const form = [...document.querySelectorAll("form")].find((f) => f.getAttribute("action") === saved.action &&
    (f.getAttribute("method") || "get").toLowerCase() === (saved.method || "post"));
  if (!form) return;
  if (!saved.viaLogin) {
    for (const [name, value] of Object.entries(saved.fields)) {
      const el = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (el && (el.tagName === "SELECT" || !el.value.trim())) {
        el.value = value;
        el.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }
    form.before(refused);  // the error where the form is, not at the top of a long page
    return;
  }
  for (const [name, value] of Object.entries(saved.fields)) {
    const el = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (el && !el.value.trim()) {
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));  // counters update
    }
  }
  const note = document.createElement("p");
  note.className = "flash";
  note.id = "draft-restored";
  note.textContent = "Phiên đăng nhập đã hết khi bạn đang gõ: nội dung đã được giữ lại ở dưới, hãy xem rồi gửi lại.";
  form.before(note);
})();

// A choice of kinds (once, weekly, monthly…): only the chosen kind's fields are shown, and the others'
// are not sent (a field left filled in a hidden part would be refused as not belonging to the choice).
for (const box of document.querySelectorAll("[data-choice]")) {
  const radios = box.querySelectorAll(`input[type=radio][name="${CSS.escape(box.dataset.choice)}"]`);
  const show = () => {
    const chosen = [...radios].find((r) => r.checked)?.value || "";
    for (const part of box.querySelectorAll("[data-when]")) {
      const on = part.dataset.when.split(" ").includes(chosen);
      part.hidden = !on;
      for (const field of part.querySelectorAll("input, select, textarea")) field.disabled = !on;
    }
  };
  radios.forEach((r) => r.addEventListener("change", show));
  show();
}

// After a post the eye goes to its result: the first error, else the confirmation, else the notice,
// scrolled into view and focused (a screen reader reads it; a phone shows it, not the page's top).
window.addEventListener("load", () => {
  const result = [".error, .flash.error", "[data-result]", ".flash"]
    .map((selector) => document.querySelector(selector)).find(Boolean);
  if (!result) return;
  if (!result.hasAttribute("tabindex")) result.setAttribute("tabindex", "-1");
  result.scrollIntoView({ block: "center" });
  result.focus({ preventScroll: true });
});
