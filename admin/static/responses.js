// Vertelpaal admin: keyboard shortcuts on the answer page, "tick all" in the inbox, confirmations.
// Loaded as a file (the CSP allows no inline scripts). Every action also works without it.
(function () {
  "use strict";

  var OFF_KEY = "vertelpaal.shortcuts.off";

  function shortcutsOff() {
    try {
      return window.localStorage.getItem(OFF_KEY) === "1";
    } catch (error) {
      return false;
    }
  }

  function typingIn(element) {
    return Boolean(
      element &&
        element.closest &&
        element.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']")
    );
  }

  function click(selector) {
    var target = document.querySelector(selector);
    if (target) {
      target.click();
      return true;
    }
    return false;
  }

  function togglePlayer() {
    var player = document.querySelector("[data-player]");
    if (!player) {
      return false;
    }
    if (player.paused) {
      player.play();
    } else {
      player.pause();
    }
    return true;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || shortcutsOff()) {
      return;
    }
    var target = event.target;
    if (typingIn(target)) {
      if (event.key === "Escape") {
        target.blur();
      }
      return;
    }
    var handled = false;
    switch (event.key) {
      case "j":
        handled = click("[data-shortcut=next]");
        break;
      case "k":
        handled = click("[data-shortcut=previous]");
        break;
      case " ":
        // A focused button, link, summary or the player itself keeps its own meaning of space.
        if (target.closest && target.closest("a, button, summary, video, audio")) {
          return;
        }
        handled = togglePlayer();
        break;
      case "t":
        var input = document.getElementById("tag-input");
        if (input) {
          input.focus();
          handled = true;
        }
        break;
      case "r":
        handled = click("[data-shortcut=reviewed]");
        break;
      case "f":
        handled = click("[data-shortcut=flagged]");
        break;
      default:
        return;
    }
    if (handled) {
      event.preventDefault();
    }
  }

  function setUpShortcutSwitch() {
    var box = document.querySelector("[data-shortcuts-off]");
    if (!box) {
      return;
    }
    box.checked = shortcutsOff();
    box.addEventListener("change", function () {
      try {
        window.localStorage.setItem(OFF_KEY, box.checked ? "1" : "0");
      } catch (error) {
        // Private windows may refuse storage; the switch then lasts for this page only.
      }
    });
  }

  function setUpTickAll() {
    var all = document.querySelector("[data-select-all]");
    if (!all) {
      return;
    }
    var boxes = document.querySelectorAll("input[type=checkbox][name=answer]");
    all.addEventListener("change", function () {
      boxes.forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  function setUpConfirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("DOMContentLoaded", function () {
    setUpShortcutSwitch();
    setUpTickAll();
    setUpConfirmations();
  });
})();
