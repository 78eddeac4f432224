// The same counting the gateway does: GSM-7 160/153 a part (some characters count double), UCS-2 70/67.
const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ`¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXT = "^{}\\[~]|€";
const PRICE = Number(document.getElementById("text").dataset.price);
function fold(t) { return t.normalize("NFC").replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "").normalize("NFC"); }
function segments(t) {
  let gsm = true, septets = 0;
  for (const c of t) { if (GSM.includes(c)) septets += 1; else if (EXT.includes(c)) septets += 2; else { gsm = false; break; } }
  // GSM-7 fits 160 a part, 153 when split; one Vietnamese letter outside it makes UCS-2: 70, 67
  if (gsm) return {enc: "bảng chữ không dấu, 160 ký tự một tin", n: septets <= 160 ? 1 : Math.ceil(septets / 153), len: septets};
  const units = t.length;  // UTF-16 units, as the phone counts them
  return {enc: "bảng chữ có dấu, 70 ký tự một tin", n: units <= 70 ? 1 : Math.ceil(units / 67), len: units};
}
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
