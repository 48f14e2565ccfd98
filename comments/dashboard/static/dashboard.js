// The dashboard's keyboard shortcuts, undo timers and bulk selection. Plain JS, no build step;
// loaded as a file so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";

  var ITEMS = "[data-card], [data-decided]";
  var pendingFocus = null;

  function items() { return Array.prototype.slice.call(document.querySelectorAll(ITEMS)); }

  function currentItem() {
    var active = document.activeElement;
    return active && active.closest ? active.closest(ITEMS) : null;
  }

  function focusItem(el) {
    if (!el) { return; }
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var list = items();
    if (!list.length) { return; }
    var i = list.indexOf(currentItem());
    if (i === -1) { focusItem(list[step > 0 ? 0 : list.length - 1]); return; }
    focusItem(list[Math.max(0, Math.min(list.length - 1, i + step))]);
  }

  function nextCardAfter(el) {
    var list = items();
    var i = list.indexOf(el);
    for (var j = i + 1; j < list.length; j++) { if (list[j].hasAttribute("data-card")) { return list[j]; } }
    for (var k = i - 1; k >= 0; k--) { if (list[k].hasAttribute("data-card")) { return list[k]; } }
    return null;
  }

  function cardForAction() {
    var here = currentItem();
    if (here && here.hasAttribute("data-card")) { return here; }
    if (!here) {
      var first = document.querySelector("[data-card]");
      if (first) { focusItem(first); }
    }
    return null;
  }

  function clickIn(el, selector) {
    var target = el && el.querySelector(selector);
    if (target) { target.click(); return true; }
    return false;
  }

  function updateSelectedCount() {
    var n = document.querySelectorAll("[data-select]:checked").length;
    document.querySelectorAll("[data-selected-count]").forEach(function (out) {
      out.textContent = n + " selected";
    });
    var all = document.querySelector("[data-select-all]");
    if (all) {
      var boxes = document.querySelectorAll("[data-select]");
      all.checked = boxes.length > 0 && n === boxes.length;
    }
  }

  // The author panel the keys act on: the drawer's when it is open, else the author's own page.
  function activePanel() {
    var drawer = document.getElementById("author-drawer");
    if (drawer && drawer.open) { return drawer.querySelector("[data-author-panel]"); }
    var shortcuts = document.getElementById("shortcuts");
    if (shortcuts && shortcuts.open) { return null; }
    return document.querySelector("main [data-author-panel]");
  }

  var PANEL_KEYS = { a: "[data-status-key=a]", p: "[data-status-key=p]", s: "[data-status-key=s]",
    b: "[data-status-key=b]", q: "[data-author-queue]", m: "[data-author-more]" };

  function openDrawer() {
    var drawer = document.getElementById("author-drawer");
    if (!drawer) { return; }
    if (!drawer.open) { drawer.showModal(); }
    focusPanel();
  }

  function focusPanel() {
    var panel = activePanel();
    if (!panel) { return; }
    panel.setAttribute("tabindex", "-1");
    panel.focus({ preventScroll: true });
  }

  // After a status change, every card of that author on the page shows the new status.
  function spreadAuthorState(panel) {
    var source = panel && panel.querySelector("template[data-author-state-template]");
    if (!source) { return; }
    var id = source.getAttribute("data-author-state-template");
    document.querySelectorAll("[data-author-state]").forEach(function (el) {
      if (el.getAttribute("data-author-state") !== id || el.closest("[data-author-panel]")) { return; }
      el.replaceWith(source.content.firstElementChild.cloneNode(true));
    });
  }

  function toggleShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) { return; }
    if (dialog.open) { dialog.close(); } else { dialog.showModal(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) { return; }
    var t = event.target;
    if (t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName))) { return; }
    var panel = activePanel();
    if (panel && event.key !== "?") {
      if (!PANEL_KEYS[event.key] || !clickIn(panel, PANEL_KEYS[event.key])) { return; }
      event.preventDefault();
      return;
    }
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open && event.key !== "?") { return; }
    var card;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "?": toggleShortcuts(); break;
      case "a": card = cardForAction(); if (!clickIn(card, "[data-action=approve]")) { return; } break;
      case "r": card = cardForAction(); if (!clickIn(card, "[data-action=reject]")) { return; } break;
      case "b": card = cardForAction(); if (!clickIn(card, "[data-action=ban]")) { return; } break;
      case "f": card = cardForAction(); if (!clickIn(card, "[data-action=fine]")) { return; } break;
      case "h": card = cardForAction(); if (!clickIn(card, "[data-action=held]")) { return; } break;
      case "x":
        card = cardForAction();
        if (clickIn(card, "[data-action=remove]")) { break; }  // a spot check: held, and removed
        var box = card && card.querySelector("[data-select]");
        if (!box) { return; }
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
        break;
      case "u":
        var here = currentItem();
        var undo = (here && here.querySelector("[data-undo]")) || document.querySelector("[data-undo]");
        if (!undo) { return; }
        undo.click();
        break;
      case "o":
        card = currentItem();
        if (!clickIn(card, "[data-open]")) { return; }
        break;
      case "i":
        card = currentItem();
        if (!clickIn(card, "[data-open-author]")) { return; }
        break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-show-shortcuts]");
    if (opener) { toggleShortcuts(); }
  });

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t.matches && t.matches("[data-select-all]")) {
      document.querySelectorAll("[data-select]").forEach(function (box) { box.checked = t.checked; });
    }
    if (t.matches && (t.matches("[data-select]") || t.matches("[data-select-all]"))) { updateSelectedCount(); }
  });

  // A decided card steps aside for a few seconds (with its Undo), then leaves the queue.
  function armTimers(root) {
    (root || document).querySelectorAll("[data-expires]:not([data-armed])").forEach(function (el) {
      el.setAttribute("data-armed", "");
      var seconds = parseInt(el.getAttribute("data-expires"), 10) || 8;
      window.setTimeout(function () {
        if (!el.isConnected) { return; }
        var hadFocus = el.contains(document.activeElement);
        var next = hadFocus ? nextCardAfter(el) : null;
        el.remove();
        if (hadFocus) { focusItem(next || document.getElementById("main")); }
        updateSelectedCount();
        showEmptyQueue();
      }, seconds * 1000);
    });
  }

  function showEmptyQueue() {
    var cards = document.getElementById("cards");
    if (!cards || cards.querySelector(ITEMS + ", .empty, #load-more")) { return; }
    var empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = "Nothing left on this page. ";
    var reload = document.createElement("a");
    reload.href = window.location.pathname + window.location.search;
    reload.textContent = "Look again";
    empty.appendChild(reload);
    cards.appendChild(empty);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    // Only a decision moves the focus; the counts' polling must not cancel one under way.
    // Opening the author's panel from a card is not one: the focus goes to the drawer.
    if (event.target.hasAttribute && event.target.hasAttribute("data-open-author")) { return; }
    var card = event.target.closest && event.target.closest("[data-card]");
    if (card) { pendingFocus = card.id; }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "author-drawer-body") { openDrawer(); }
    if (target && target.id === "author-panel") {
      // The panel was swapped whole (a status change): read the new one, not the target.
      spreadAuthorState(document.getElementById("author-panel"));
      focusPanel();
    }
    armTimers(document);
    updateSelectedCount();
    if (pendingFocus) {
      var el = document.getElementById(pendingFocus);
      pendingFocus = null;
      if (el && el.hasAttribute("data-decided")) {
        focusItem(nextCardAfter(el) || el);
      } else if (el) {
        focusItem(el);
      }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    armTimers(document);
    updateSelectedCount();
  });
})();
