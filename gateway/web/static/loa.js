// Every page: a form with data-confirm asks before it is sent (cancel, close).
document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// A session that ran out while typing: what was typed comes back after logging in again.
// The text is kept (in this tab only) when a form is sent; if the next page is the login page, it is
// put back into the same form after logging in; any other next page means it arrived, and it is dropped.
const DRAFT = "loa-draft";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const action = form.getAttribute("action") || "";
  if (event.defaultPrevented || action === "/login" || action === "/logout") return;
  const fields = {};
  for (const el of form.querySelectorAll("textarea, input[type=text]")) {
    if (el.name && el.value.trim()) fields[el.name] = el.value;
  }
  if (Object.keys(fields).length) {
    sessionStorage.setItem(DRAFT, JSON.stringify({ action, page: location.pathname, fields, viaLogin: false }));
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
  if (!saved.viaLogin || location.pathname !== saved.page) return;
  const form = [...document.querySelectorAll("form")].find((f) => f.getAttribute("action") === saved.action);
  if (!form) return;
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
