// Every page: a form with data-confirm asks before it is sent (cancel, close, send to many).
document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
