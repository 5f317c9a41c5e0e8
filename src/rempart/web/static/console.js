// Rempart's few page behaviours, served from /static so the CSP can forbid inline script.

// The appeal link carries its code after "#", so it never reaches a server log.
(function fillAppealSecret() {
  const secret = document.getElementById("secret");
  if (secret && location.hash.length > 1 && !secret.value) {
    secret.value = decodeURIComponent(location.hash.slice(1));
  }
})();

// On a moderation item, keyboard shortcuts pick the action; typing in a field is left alone.
document.addEventListener("keydown", (event) => {
  if (["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) return;
  const choice = document.querySelector(`input[data-key="${event.key}"]`);
  if (choice) {
    choice.checked = true;
    document.getElementById("explanation").focus();
    event.preventDefault();
  }
});

// Choosing a statement-of-reasons preset writes its text into the statement, unless the
// moderator has written something of their own there since.
document.querySelectorAll("select.preset").forEach((select) => {
  const statement = document.querySelector(`textarea[data-preset="${select.id}"]`);
  if (!statement) return;
  let placed = "";
  select.addEventListener("change", () => {
    const chosen = select.selectedOptions[0];
    const text = chosen ? chosen.dataset.text || "" : "";
    if (statement.value.trim() === "" || statement.value === placed) {
      statement.value = text;
      placed = text;
    }
  });
});
