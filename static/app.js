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
