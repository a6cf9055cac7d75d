// veil console: a little progressive enhancement; every page works without it.
"use strict";

// Privacy and guardrails: preview a change before it is saved (the server computes it
// from the API and answers an HTML fragment).
for (const form of document.querySelectorAll("form[data-preview]")) {
  const preview = form.querySelector(".preview");
  let asked = 0;
  const refresh = async () => {
    const ticket = ++asked;
    const query = new URLSearchParams(new FormData(form));
    preview.classList.add("loading");
    const response = await fetch(form.dataset.preview + "?" + query, {
      credentials: "same-origin",
    });
    if (ticket !== asked) return; // a newer change is already being previewed
    preview.classList.remove("loading");
    preview.innerHTML = response.ok
      ? await response.text()
      : '<p class="error">The preview is unavailable (' + response.status + ").</p>";
  };
  let timer = null;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
}

// Selects that apply at once (account switcher, filters).
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}

// Confirm before destructive posts (deleting a key).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// Copy a new key's secret.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const text = document.getElementById(button.dataset.copy).textContent;
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  });
}
