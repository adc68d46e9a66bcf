// JavaScript runs: hide the buttons that only no-JS users need (htmx does their work).
document.documentElement.classList.add("js");
// Send the CSRF token with every htmx request that changes state.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]');
  if (token) event.detail.headers["X-CSRFToken"] = token.content;
});
// Copy buttons: <button data-copy-target="#id"> copies an element's text,
// <button data-copy-text="..."> the value itself (a full image reference with its digest).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target], [data-copy-text]");
  if (!button || !navigator.clipboard) return;
  let text = button.dataset.copyText;
  if (text === undefined) {
    const source = document.querySelector(button.dataset.copyTarget);
    if (!source) return;
    text = source.textContent;
  }
  navigator.clipboard.writeText(text).then(() => {
    button.textContent = "Copied";
  });
});
// Forms with data-confirm ask first (no inline handlers: the CSP forbids them).
// Capture phase, so a refusal stops htmx's own submit listener on the form too.
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopPropagation();
    }
  },
  true,
);
