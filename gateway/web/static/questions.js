// "Dân hỏi": the procedure chosen shows its answer, as the resident will receive it, before it is sent.
for (const select of document.querySelectorAll("select[name=procedure]")) {
  const shown = select.closest("form").querySelector(".procedure-answer");
  const show = () => {
    const option = select.selectedOptions[0];
    shown.textContent = option && option.dataset.answer
      ? `Dân sẽ nhận: “${option.dataset.answer}”`
      : "Chọn một thủ tục để xem câu trả lời dân sẽ nhận.";
  };
  select.addEventListener("change", show);
  show();
}
