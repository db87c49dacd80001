// Confirmation before destructive actions: <button data-confirm="question">. No inline scripts (CSP).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// The simulator's chat (<div data-chat-follow>): shows the newest message when one arrives, and
// the composer (<form data-clear-after-send>) empties its text box once a message went out.
function followChat(chat) {
  var messages = chat.querySelectorAll("[data-message-id]");
  var newest = messages.length ? messages[messages.length - 1].getAttribute("data-message-id") : "";
  if (chat.getAttribute("data-newest") !== newest) {
    chat.setAttribute("data-newest", newest);
    chat.scrollTop = chat.scrollHeight;
  }
}
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-chat-follow]").forEach(followChat);
});
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail && event.detail.target;
  if (target && target.hasAttribute && target.hasAttribute("data-chat-follow")) {
    followChat(target);
  }
});
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail && event.detail.elt;
  if (form && form.hasAttribute && form.hasAttribute("data-clear-after-send") && event.detail.successful) {
    form.querySelectorAll("input[name=text]").forEach(function (input) { input.value = ""; });
  }
});

// "Copy link" (<a data-copy-link href=...>): copies the link instead of opening it and says so
// in the status next to it; without script, or where the browser refuses, it stays a link.
function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  return new Promise(function (resolve, reject) {
    var box = document.createElement("textarea");
    box.value = text;
    box.setAttribute("readonly", "");
    box.className = "sr-only";
    document.body.appendChild(box);
    box.select();
    var done = document.execCommand && document.execCommand("copy");
    document.body.removeChild(box);
    if (done) { resolve(); } else { reject(new Error("copy refused")); }
  });
}
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-copy-link]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
    return;
  }
  event.preventDefault();
  var status = link.nextElementSibling;
  copyText(link.href).then(function () {
    if (status && status.classList.contains("copy-status")) {
      status.textContent = link.getAttribute("data-copied") || "";
    }
  }, function () {
    window.location.href = link.href;
  });
});
