// The alerts page keeps itself current: the boards are fetched again every 15 s (the form is left alone).
const boards = document.getElementById("boards");
async function refresh() {
  try {
    const response = await fetch("/alerts/boards", { credentials: "same-origin" });
    if (response.ok && response.url.endsWith("/alerts/boards")) {
      boards.innerHTML = await response.text();
      document.getElementById("refreshed").textContent =
        "Trang tự cập nhật mỗi 15 giây · lần cuối " + new Date().toLocaleTimeString("vi-VN");
    }
  } catch (e) {
    // the Pi out of reach for a moment: try again at the next tick
  }
}
setInterval(refresh, 15000);
