// The account wizard: a copy button for the generated password, and one submit per click.
// The pages work without this file (the password can be selected and copied by hand).
"use strict";

document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value);
      button.textContent = "Copied";
    } catch {
      source.select();
      button.textContent = "Press Ctrl+C";
    }
    window.setTimeout(() => { button.textContent = label; }, 2000);
  });
  source.addEventListener("focus", () => source.select());
});

// The server never creates two accounts anyway; this only spares a second round trip.
document.querySelectorAll("form[data-submit-once]").forEach((form) => {
  form.addEventListener("submit", () => {
    window.setTimeout(() => {
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
    });
  });
});
