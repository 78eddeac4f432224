// The send page: both forms side by side (with and without diacritics), the chosen one counted with its cost.
const PRICE = Number(document.getElementById("text").dataset.price);
function update() {
  const t = document.getElementById("text").value.normalize("NFC");
  const a = segments(t), g = segments(fold(t));
  document.getElementById("preview-auto").textContent = t;
  document.getElementById("preview-gsm7").textContent = fold(t);
  document.getElementById("count-auto").textContent = `${a.len} ký tự · ${a.n} tin (${a.enc})`;
  document.getElementById("count-gsm7").textContent = `${g.len} ký tự · ${g.n} tin (${g.enc})`;
  const chosen = document.querySelector("input[name=encoding]:checked").value === "gsm7" ? g : a;
  document.getElementById("counter").textContent =
    `${chosen.len} ký tự · ${chosen.n} tin nhắn mỗi người · ${chosen.n * PRICE} đ mỗi người`;
}
document.getElementById("text").addEventListener("input", update);
document.querySelectorAll("input[name=encoding]").forEach(e => e.addEventListener("change", update));
update();
