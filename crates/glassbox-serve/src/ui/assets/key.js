// Sends the typed API key to the server, which answers with a cookie; then opens the page again.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("key-form");
  const input = document.getElementById("key");
  const error = document.getElementById("key-error");
  input.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const r = await fetch("/ui/key", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ key: input.value }),
      });
      if (r.ok) {
        window.location.reload();
      } else {
        error.textContent = "That key was refused; try again.";
        input.select();
      }
    } catch (err) {
      error.textContent = "The server could not be reached: " + err.message;
    }
  });
});
